//! # ma-attention
//!
//! The multi-dimensional attention kit of MA-SNN (Yao et al., TPAMI 2023): temporal (TA),
//! channel (CA) and spatial (SA) attention and every combination (TCA, TSA, CSA, TCSA), applied
//! in the order T, C, S, each multiplying the output of the previous one.
//!
//! - [`AttentionConfig`] picks the variant ([`AttentionKind`]), sizes (`T`, `C`, `r_t`, `r_c`,
//!   SA kernel), the trailing ReLU and the [`AttentionForm`]: the official code's
//!   sequence-level form (default; what official checkpoints use) or the paper's per-step form.
//! - [`MultiDimAttention`] is one layer's block; [`AttentionLif`] plugs attention and a LIF
//!   neuron in between a layer's conv/BN/pool output and the next layer.
//! - Weights can be returned for inspection ([`AttentionWeights`]).
//!
//! Tensors are time-first, `[T, B, C, H, W]` (or `[T, B, F]` for FC layers, TA only).
//! Parameter counts follow the official code: TA `2 T floor(T/r_t)`, CA `2 C floor(C/r_c)`,
//! SA `2 k^2` ([`AttentionConfig::param_count`]).

#![warn(missing_docs)]

pub mod block;
pub mod channel;
pub mod config;
pub mod error;
pub mod mlp;
pub mod plugin;
pub mod spatial;
pub mod temporal;

pub use block::{AttentionWeights, MultiDimAttention};
pub use channel::ChannelAttention;
pub use config::{AttentionConfig, AttentionForm, AttentionKind};
pub use error::{AttentionError, InputMismatch};
pub use mlp::SharedMlp;
pub use plugin::{AttentionLif, AttentionLifConfig};
pub use spatial::SpatialAttention;
pub use temporal::TemporalAttention;
