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
    #[error("attention input: {0}")]
    Shape(String),
    /// The neuron configuration is invalid.
    #[error(transparent)]
    Neuron(#[from] snn_core::ConfigError),
}
