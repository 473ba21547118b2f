//! # snn-core
//!
//! Spiking neurons for [burn](https://burn.dev): the LIF family in one configurable neuron,
//! multi-step execution over time-first `[T, B, ...]` sequences, a single-step API for
//! streaming, a fused forward/backward kernel, and firing statistics.
//!
//! - [`LifConfig`] describes a neuron (decay, threshold, spike test, reset, surrogate); the
//!   presets [`LifConfig::ma_snn_event`] and [`LifConfig::ms_resnet`] match the official MA-SNN
//!   code exactly.
//! - [`Lif`] is the layer: [`Lif::forward`] runs the whole sequence as one fused autodiff
//!   operation ([`fused`]), [`Lif::forward_reference`] runs the same dynamics from plain tensor
//!   ops ([`reference`]), [`Lif::step`] advances one step with explicit state.
//! - [`FiringStats`] / [`FiringMonitor`] give per-layer spike counts and rates.
//!
//! Everything is generic over the burn backend; the fused kernel is specialised for `Flex`
//! (CPU) and burn's CubeCL backends (`Cuda`), and runs a generic tensor-op path elsewhere (see
//! [`fused::LifBackend`]).

#![warn(missing_docs)]

pub mod config;
pub mod conv;
#[cfg(feature = "cubecl")]
mod cube_util;
pub mod error;
pub mod fused;
pub mod neuron;
pub mod norm;
pub mod pool;
pub mod reference;
pub mod scale;
pub mod stats;

pub use config::{FireTest, FiringRule, LifConfig, Reset, Surrogate};
pub use conv::{
    conv_precision, cube_conv_fallbacks, cube_conv_plan, event_conv2d, event_conv2d_affine_pool,
    set_conv_precision, set_cube_conv_algorithm, set_cube_conv_plan, ConvKernel, ConvPrecision,
    ConvPrecisionScope, CubeConvAlgorithm, CubeConvPlan, EventConvBackend,
};
pub use error::{ConfigError, ShapeError};
pub use fused::{LifBackend, MultiStep};
pub use neuron::{Lif, LifState};
pub use norm::{batch_norm_pool_train, batch_norm_train, channel_affine, BatchNormBackend};
pub use pool::{block_avg_pool2d, mean_max, PoolBackend};
pub use scale::{attention_scale, scaled_mean_max, ScaleBackend};
pub use stats::{FiringMonitor, FiringStats};

/// Every kernel extension the network layers use: the fused neuron, the event-driven
/// convolution, the fused batch normalisation, block average pooling with the attention's
/// squeeze, and the attention's rescaling. Implemented for every backend that has them all
/// (`Flex`, `Autodiff<B>` of one, and burn's CubeCL backends with the `cuda` feature).
pub trait SnnBackend:
    LifBackend + EventConvBackend + BatchNormBackend + PoolBackend + ScaleBackend
{
}

impl<B: LifBackend + EventConvBackend + BatchNormBackend + PoolBackend + ScaleBackend> SnnBackend
    for B
{
}
