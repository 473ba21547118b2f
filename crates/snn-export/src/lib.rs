//! # snn-export
//!
//! Export of trained networks to other runtimes.
//!
//! - [`onnx`]: the event network, the 5-layer PLIF-style network and Res-SNN, every attention
//!   variant, as ONNX models (opset 17, standard operators, unrolled over T, BatchNorm folded),
//!   checked in tests by running them in tract against our own inference.
//! - [`nir`]: attention-free event networks as NIR graphs (HDF5), for neuromorphic toolchains;
//!   what NIR cannot express is refused layer by layer.
//! - [`graph`]: the small ONNX graph builder the exports use.

#![warn(missing_docs)]

pub mod graph;
pub mod nir;
pub mod onnx;
mod weights;

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why an export failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// A layer uses something the format cannot express (yet).
    #[error("cannot export {layer}: {feature}")]
    Unsupported {
        /// The layer (`conv0`, `stage1.block0`, or the network's name).
        layer: String,
        /// What it uses (`grouped or dilated convolutions`).
        feature: String,
    },
    /// The format refuses several layers; every one is listed with its reason.
    #[error(
        "{format} cannot express these layers: {}",
        layers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Refused {
        /// The format (`NIR`).
        format: &'static str,
        /// The refused layers.
        layers: Vec<Refusal>,
    },
    /// The input size the export was asked for does not fit the network.
    #[error("cannot export {layer}: input size {}x{} ({reason})", input[0], input[1])]
    InputSize {
        /// The layer the size fails at (`stem`, `conv0`, or the network's name).
        layer: String,
        /// The input size `[height, width]` at that layer.
        input: [usize; 2],
        /// Why it does not fit.
        reason: String,
    },
    /// Two branches that are added together have different spatial sizes.
    #[error(
        "cannot export {layer}: shortcut size {}x{} differs from the block's {}x{}",
        found[0], found[1], expected[0], expected[1]
    )]
    BranchSize {
        /// The block.
        layer: String,
        /// The residual branch's output size `[height, width]`.
        expected: [usize; 2],
        /// The shortcut's output size.
        found: [usize; 2],
    },
    /// Writing the exported file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// Encoding the model failed.
    #[error("encoding the {format} model: {message}")]
    Encode {
        /// The encoding (`ONNX protobuf`, `NIR HDF5`).
        format: &'static str,
        /// The encoder's message.
        message: String,
    },
}

/// One layer a format refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The layer (`conv0`, `fc1.lif`).
    pub layer: String,
    /// Why (`TCSA attention`, `subtract reset`).
    pub reason: String,
}

impl Refusal {
    /// `layer` refused because of `reason`.
    pub fn new(layer: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            layer: layer.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.layer, self.reason)
    }
}

/// Writes an exported file atomically ([`snn_fs::write_file_atomic`]: a unique temporary file
/// in the same folder, fsync, rename), so a reader never sees a half-written model.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    snn_fs::write_file_atomic(path, bytes).map_err(|e| ExportError::Io {
        path: e.path,
        source: e.source,
    })
}
