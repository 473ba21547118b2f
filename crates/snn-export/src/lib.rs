//! # snn-export
//!
//! Export of trained networks to other runtimes.
//!
//! - [`onnx`]: the event network (every attention variant) as an ONNX model (opset 17,
//!   standard operators, unrolled over T, BatchNorm folded), checked in tests by running it in
//!   tract and comparing with our own inference;
//!   Res-SNN too ([`onnx::export_res_snn`]).
//! - [`stream`]: streaming single-step inference with the state carried between calls, for
//!   event-driven deployment of attention-free networks.
//! - [`graph`]: the small ONNX graph builder the exports use.
//!
//! Not yet: NIR (HDF5) export (see the export issue).

pub mod graph;
pub mod nir;
pub mod onnx;
pub mod stream;

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
    /// Protobuf encoding failed.
    #[error("encoding the model: {0}")]
    Encode(String),
}
