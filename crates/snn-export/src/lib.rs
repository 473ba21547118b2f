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

/// Writes an exported file atomically ([`snn_fs::write_file_atomic`]: a unique temporary file
/// in the same folder, fsync, rename), so a reader never sees a half-written model.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    snn_fs::write_file_atomic(path, bytes).map_err(|e| ExportError::Io {
        path: e.path,
        source: e.source,
    })
}
