//! # snn-core
//!
//! Spiking neurons for [burn](https://burn.dev), and the fused ops that make spiking networks
//! fast: the LIF family in one configurable neuron, run over time-first `[T, B, ...]`
//! sequences as one fused operation (or one step at a time for streaming), firing statistics,
//! and the layers' other hot ops as backend extensions.
//!
//! Laid out by concept:
//! - [`neuron`]: the neuron. [`LifConfig`] describes it (decay, threshold, spike test, reset,
//!   surrogate; the presets [`LifConfig::ma_snn_event`] and [`LifConfig::ms_resnet`] match the
//!   official MA-SNN code exactly), [`neuron::rule`] writes each of its rules once, [`Lif`] is
//!   the layer ([`Lif::forward`] fused, [`Lif::forward_reference`] from plain tensor ops,
//!   [`Lif::step`] with explicit state), [`FiringStats`] / [`FiringMonitor`] count spikes.
//! - The ops, one folder each with the same files for the same roles: [`conv`] (event-driven
//!   convolution), [`norm`] (batch normalisation), [`pool`] (block average pooling, the
//!   attention's squeeze), [`scale`] (the attention's rescaling), and the neuron's own
//!   [`neuron::fused`]. In each, `mod.rs` holds the backend trait and the public functions,
//!   `generic.rs` the tensor-op default every backend gets, `autodiff.rs` the one-node
//!   `Autodiff<B>` wrapper, `cpu.rs` the `Flex` kernels and `cube.rs` the CubeCL kernels
//!   (features `cuda`, `vulkan`).
//! - [`flex_util`] and `cube_util`: what the CPU and the CubeCL kernels of every op share.
//!
//! Everything is generic over the burn backend: the kernels are specialised for `Flex` (CPU)
//! and burn's CubeCL backends (`Cuda`, `Wgpu`); other backends run the generic tensor-op paths
//! with the same numbers.

#![warn(missing_docs)]

pub mod conv;
#[cfg(feature = "cubecl")]
mod cube_util;
pub mod error;
pub mod flex_util;
pub mod neuron;
pub mod norm;
pub mod pool;
pub mod scale;
mod tensor;

pub use conv::{
    conv_precision, cube_conv_fallbacks, cube_conv_last_fallback, cube_conv_plan, event_conv2d,
    event_conv2d_affine_pool, set_conv_precision, set_cube_conv_algorithm, set_cube_conv_plan,
    ConvKernel, ConvPrecision, ConvPrecisionScope, CubeConvAlgorithm, CubeConvPlan,
    EventConvBackend,
};
pub use error::{ConfigError, ShapeError};
pub use neuron::{
    Compare, Elementwise, FireTest, FiringMonitor, FiringRule, FiringStats, Lif, LifBackend,
    LifConfig, LifState, MultiStep, Reset, Surrogate,
};
pub use norm::{batch_norm_pool_train, batch_norm_train, channel_affine, BatchNormBackend};
pub use pool::{block_avg_pool2d, mean_max, PoolBackend};
pub use scale::{attention_scale, scaled_mean_max, ScaleBackend};

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
