//! Losses: the official event-model loss (MSE between output firing rates and one-hot targets)
//! and cross-entropy with label smoothing.
//!
//! They are defined in [`snn_models::loss`], so that the golden verification against the
//! official code (in `snn-models`, which cannot depend on this crate) scores its training step
//! with the very functions training uses; this module re-exports them under the training
//! crate's name.

pub use snn_models::loss::{cross_entropy, mse, mse_rate, one_hot};
