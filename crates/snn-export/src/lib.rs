//! # snn-export
//!
//! Export of trained networks to other runtimes.
//!
//! - [`onnx`]: the event network, the 5-layer PLIF-style network and Res-SNN, every attention
//!   variant, as ONNX models (opset 17, standard operators, unrolled over T, BatchNorm folded),
//!   checked in tests by running them in tract against our own inference.
//! - [`nir`]: attention-free event networks as NIR graphs (HDF5), for neuromorphic toolchains;
//!   what NIR cannot express is refused layer by layer.
//! - [`stream`]: streaming single-step inference with the state carried between calls, for
//!   event-driven deployment of attention-free networks.
//! - [`graph`]: the small ONNX graph builder the exports use.

#![warn(missing_docs)]

pub mod graph;
pub mod nir;
pub mod onnx;
pub mod stream;

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why an export failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The network uses something the format cannot express (yet).
    #[error("cannot export: {0}")]
    Unsupported(String),
    /// A streaming step got input it cannot continue from.
    #[error("streaming: {0}")]
    Stream(String),
    /// Writing the exported file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// Protobuf encoding failed.
    #[error("encoding the model: {0}")]
    Encode(String),
}

/// Writes an exported file through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written model.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Io { path, source }
    };
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
