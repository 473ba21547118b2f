//! Batch normalisation as one fused operation: training-mode forward (batch statistics and the
//! normalised output, optionally average-pooled, in two passes over the data) and its backward
//! (two passes), plus the per-channel affine map that evaluation mode applies.
//!
//! Composed from burn's tensor ops, training-mode BatchNorm is a dozen graph nodes over the
//! whole activation tensor (a transposed copy, broadcast subtractions and products, their
//! gradients), and on the CPU it took more than half of a conv + BN + LIF step. Fused, it reads
//! the activation twice forward and twice backward.
//!
//! A burn backend extension like [`crate::LifBackend`]:
//! - the default methods compose burn tensor ops ([`generic`]);
//! - burn's CubeCL backends (`Cuda`, `Wgpu`) run the kernels of `cube` (feature `cuda` or
//!   `vulkan`) for training; evaluation's affine map stays composed;
//! - `Flex` runs the CPU kernels of [`cpu`] for f32 and f64, in parallel over `(frame,
//!   channel)` planes, with the per-plane sums combined per channel in f64;
//! - `Autodiff<B>` records one graph node for the output ([`autodiff`]); the batch mean and
//!   variance come back detached (they only feed the running statistics).

pub mod autodiff;
pub mod cpu;
#[cfg(feature = "cubecl")]
pub mod cube;
pub mod generic;

use crate::tensor::{unwrap, wrap};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::Tensor;

/// Outputs of the training-mode forward pass.
#[derive(Debug)]
pub struct BatchNormTrain<B: Backend> {
    /// The normalised output: the input's shape, or `[N, C, H / pool, W / pool]` when pooled.
    pub output: FloatTensor<B>,
    /// Batch mean per channel, `[C]`, detached.
    pub mean: FloatTensor<B>,
    /// Biased batch variance per channel, `[C]`, detached.
    pub var: FloatTensor<B>,
}

/// Gradients of the training-mode forward pass.
#[derive(Debug)]
pub struct BatchNormGrads<B: Backend> {
    /// With respect to the input, `[N, C, S]`.
    pub input: FloatTensor<B>,
    /// With respect to the scale `gamma`, `[C]`.
    pub weight: FloatTensor<B>,
    /// With respect to the shift `beta`, `[C]`.
    pub bias: FloatTensor<B>,
}

/// A backend that can run batch normalisation as fused operations.
///
/// Shapes: `x` is `[N, C, S]` (every axis but the channel axis folded into `N` and `S`) or,
/// when the output is average-pooled (`pool > 1`), `[N, C, H, W]`; per-channel tensors are
/// `[C]`.
pub trait BatchNormBackend: Backend {
    /// `y = (x - mean) / sqrt(var + epsilon) * weight + bias` with the batch mean and biased
    /// variance of each channel over all its values, then, when `pool > 1`, the average over
    /// non-overlapping `pool x pool` blocks of `[N, C, H, W]` (`H` and `W` multiples of
    /// `pool`; the output is `[N, C, H / pool, W / pool]`, the statistics are still those of
    /// the full-resolution `x`).
    fn batch_norm_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
    ) -> BatchNormTrain<Self> {
        generic::train_forward::<Self>(x, weight, bias, epsilon, pool)
    }

    /// The gradients of [`batch_norm_train`](Self::batch_norm_train), given the forward
    /// pass's input and statistics, its pooling factor and the (pooled) output's gradient.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
        grad_output: FloatTensor<Self>,
    ) -> BatchNormGrads<Self> {
        generic::train_backward::<Self>(x, weight, mean, var, epsilon, pool, grad_output)
    }

    /// `y = x * scale[c] + shift[c]`: evaluation-mode normalisation with folded statistics.
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::channel_affine::<Self>(x, scale, shift)
    }
}

impl BatchNormBackend for burn_flex::Flex {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
    ) -> BatchNormTrain<Self> {
        cpu::flex_train_forward(x, weight, bias, epsilon, pool)
    }

    fn batch_norm_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
        grad_output: FloatTensor<Self>,
    ) -> BatchNormGrads<Self> {
        cpu::flex_train_backward(x, weight, mean, var, epsilon, pool, grad_output)
    }

    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        cpu::flex_channel_affine(x, scale, shift)
    }
}

#[cfg(feature = "cubecl")]
impl<R, F, I, BT> BatchNormBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn batch_norm_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
    ) -> BatchNormTrain<Self> {
        cube::train_forward::<R, F, I, BT>(x, weight, bias, epsilon, pool)
    }

    fn batch_norm_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
        grad_output: FloatTensor<Self>,
    ) -> BatchNormGrads<Self> {
        cube::train_backward::<R, F, I, BT>(x, weight, mean, var, epsilon, pool, grad_output)
    }
}

/// Output of [`batch_norm_train`] (`D = 3`) and [`batch_norm_pool_train`] (`D = 4`).
#[derive(Debug, Clone)]
pub struct BatchNormOutput<B: Backend, const D: usize = 3> {
    /// Normalised `[N, C, S]` (or pooled `[N, C, H / k, W / k]`), differentiable with respect
    /// to the input, weight and bias.
    pub output: Tensor<B, D>,
    /// Batch mean per channel, detached.
    pub mean: Tensor<B, 1>,
    /// Biased batch variance per channel, detached.
    pub var: Tensor<B, 1>,
}

/// Training-mode batch normalisation of `x` (`[N, C, S]`) as one fused operation.
pub fn batch_norm_train<B: BatchNormBackend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    epsilon: f64,
) -> BatchNormOutput<B> {
    train(x, weight, bias, epsilon, 1)
}

/// Training-mode batch normalisation of `x` (`[N, C, H, W]`) followed by `k x k` block
/// average pooling, as one fused operation: `[N, C, H / k, W / k]` out, with the statistics of
/// the full-resolution input. Equal to [`batch_norm_train`] then average pooling, without
/// writing the full-resolution normalised tensor.
///
/// # Panics
/// If `k` is 0 or does not divide `H` and `W`.
pub fn batch_norm_pool_train<B: BatchNormBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    epsilon: f64,
    k: usize,
) -> BatchNormOutput<B, 4> {
    let [_, _, h, w] = x.dims();
    assert!(
        k >= 1 && h % k == 0 && w % k == 0,
        "batch_norm_pool_train: pooling {k} does not tile {h}x{w}"
    );
    train(x, weight, bias, epsilon, k)
}

fn train<B: BatchNormBackend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    epsilon: f64,
    pool: usize,
) -> BatchNormOutput<B, D> {
    let out = B::batch_norm_train(unwrap(x), unwrap(weight), unwrap(bias), epsilon, pool);
    BatchNormOutput {
        output: wrap(out.output),
        mean: wrap(out.mean),
        var: wrap(out.var),
    }
}

/// `x * scale[c] + shift[c]` for `x` `[N, C, S]`.
pub fn channel_affine<B: BatchNormBackend>(
    x: Tensor<B, 3>,
    scale: Tensor<B, 1>,
    shift: Tensor<B, 1>,
) -> Tensor<B, 3> {
    wrap(B::channel_affine(unwrap(x), unwrap(scale), unwrap(shift)))
}
