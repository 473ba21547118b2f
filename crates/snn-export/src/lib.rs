//! # snn-export
//!
//! Export of trained networks to other runtimes.
//!
//! - [`onnx`]: the event network (every attention variant) as an ONNX model (opset 17,
//!   standard operators, unrolled over T, BatchNorm folded), checked in tests by running it in
//!   tract and comparing with our own inference.
//! - [`graph`]: the small ONNX graph builder the exports use.
//!
//! Still to come (see the export issue): Res-SNN export, NIR, `cargo xtask export`.

pub mod graph;
pub mod onnx;

use thiserror::Error;

/// Why an export failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The network uses something the format cannot express (yet).
    #[error("cannot export: {0}")]
    Unsupported(String),
    /// Protobuf encoding failed.
    #[error("encoding the model: {0}")]
    Encode(String),
}
