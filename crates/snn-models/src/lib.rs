//! # snn-models
//!
//! The MA-SNN networks, built from `snn-core` neurons and `ma-attention` blocks:
//!
//! - [`EventNet`]: the official 3-layer event network (DVS128 Gesture / Gait), any attention
//!   variant, configurable widths, input size and T.
//! - [`EventNetConfig::gait`]: the official Gait network (5 conv blocks on 128x128).
//! - [`PlifNet`]: the paper's 5-layer PLIF-style network.
//! - [`ResSnn`]: Res-SNN-18/34/104 in the MS-ResNet style of the official code (optionally
//!   with the original MS-ResNet-104 deep stem).
//! - [`ModelSummary`]: per-layer output shape, parameters, neurons and MACs.
//! - [`StreamingEventNet`]: attention-free event networks one time step at a time, with the
//!   neuron state carried between calls (event-driven deployment).
//! - Official checkpoints: [`StateDict`] reads/writes safetensors (f64, f32, f16, bf16);
//!   [`load_official`] / [`save_official`] map official `state_dict` names and shapes onto our
//!   modules, listing every missing, unexpected or mis-shaped tensor.
//! - [`loss`]: the training losses (rate MSE, cross-entropy with label smoothing), shared by
//!   training and the golden verification.
//! - [`official::verify_fixture`]: golden equivalence with the official PyTorch code.
//!
//! Sequences are time-first, `[T, B, ...]`; the official code's `[B, T, ...]` is transposed at
//! the boundary (see `official.rs`).

#![warn(missing_docs)]

pub mod error;
pub mod event;
pub mod layers;
pub mod loss;
pub mod norm;
pub mod official;
pub mod plif;
pub mod resnet;
pub mod state;
pub mod stream;
pub mod summary;

pub use error::ModelError;
pub use event::{EventNet, EventNetConfig, EventOutput};
pub use norm::BatchNorm;
pub use plif::{PlifNet, PlifNetConfig};
pub use resnet::{ResOutput, ResSnn, ResSnnConfig};
pub use state::{load_official, save_official, OfficialSlots, StateDict};
pub use stream::{StreamError, StreamingEventNet};
pub use summary::{LayerSummary, ModelSummary};

/// Whether a forward pass trains (BatchNorm uses and updates batch statistics, dropout is on)
/// or evaluates (running statistics, no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training.
    Train,
    /// Evaluation.
    Eval,
}
