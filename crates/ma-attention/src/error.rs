//! Errors of the attention kit.

use thiserror::Error;

/// A configuration or input the attention kit cannot use.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AttentionError {
    /// Not one of `no`, `TA`, `CA`, `SA`, `TCA`, `TSA`, `CSA`, `TCSA`.
    #[error("unknown attention variant `{0}` (expected no, TA, CA, SA, TCA, TSA, CSA or TCSA)")]
    UnknownKind(String),
    /// `floor(size / ratio)` is 0, so the shared MLP would have no hidden unit.
    #[error("{dimension} attention: hidden size floor({size} / {ratio}) is 0; lower the ratio")]
    EmptyHidden {
        /// `temporal` or `channel`.
        dimension: &'static str,
        /// `T` or `C`.
        size: usize,
        /// `r_t` or `r_c`.
        ratio: usize,
    },
    /// The official code allows only 3 and 7.
    #[error("spatial attention kernel must be 3 or 7, got {0}")]
    SpatialKernel(usize),
    /// The paper form rescales the membrane; a ReLU there has no basis in paper or code.
    #[error("the paper form has no trailing ReLU (it rescales the membrane potential); set trailing_relu = false")]
    PaperFormRelu,
    /// The input's shape does not fit the configured block.
    #[error("attention input {dims:?}: {mismatch}")]
    Shape {
        /// The input's shape.
        dims: Vec<usize>,
        /// What does not fit.
        mismatch: InputMismatch,
    },
    /// The neuron configuration is invalid.
    #[error(transparent)]
    Neuron(#[from] snn_core::ConfigError),
}

/// How an input's shape fails to fit an attention block ([`AttentionError::Shape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InputMismatch {
    /// Fewer than 3 axes: every input is `[T, B, ...]`.
    #[error("expected [T, B, ...] of rank >= 3")]
    Rank,
    /// The first axis is not the `T` temporal attention was built for.
    #[error("temporal attention was built for T = {expected}")]
    Steps {
        /// The configured `T`.
        expected: usize,
    },
    /// Channel and spatial attention need a `[T, B, C, H, W]` input.
    #[error("channel/spatial attention need [T, B, C, H, W]")]
    Layout,
    /// The third axis is not the `C` channel attention was built for.
    #[error("channel attention was built for C = {expected}")]
    Channels {
        /// The configured `C`.
        expected: usize,
    },
}
