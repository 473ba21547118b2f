//! Non-overlapping average pooling (`kernel = stride = k`, no padding), the pooling of the
//! event networks, as one operation forward and one backward.
//!
//! burn-flex 0.21 implements 2-D average pooling through its general 3-D pooling, which took
//! about 8% of an event-network training step; this is one pass over the input in each
//! direction.
//!
//! Also the attention's squeeze: the mean and the maximum over the middle axis of `[A, R, L]`
//! in one pass, with a one-pass backward (burn's `mean_dim` and `max_dim` gradients each
//! materialise full-size intermediates; together they were 12% of a TCSA training step).
//!
//! A burn backend extension like [`crate::LifBackend`]: the default methods are burn's ops;
//! `Flex` runs [`cpu`] for f32 and f64; burn's CubeCL backends (`Cuda`, `Wgpu`) run the mean
//! and maximum as CubeCL kernels (`cube`; the pooling keeps burn's op); `Autodiff<B>` records
//! one node per output whose backward calls the inner backend's backward.

pub mod autodiff;
pub mod cpu;
#[cfg(feature = "cubecl")]
pub(crate) mod cube;
pub mod generic;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata};

use crate::tensor::{unwrap, wrap};
pub(crate) use autodiff::{split_pair, stack_pair};
pub use generic::{generic_mean_max, generic_mean_max_backward};

/// Mean and maximum over the middle axis, both `[A, L]`.
#[derive(Debug)]
pub struct MeanMax<B: Backend> {
    /// Mean over `R`.
    pub mean: FloatTensor<B>,
    /// Maximum over `R`.
    pub max: FloatTensor<B>,
}

/// A backend that can average-pool `[N, C, H, W]` over non-overlapping `k x k` windows, and
/// pool `[A, R, L]` to its mean and maximum over `R`.
pub trait PoolBackend: Backend {
    /// Mean and maximum of `x` (`[A, R, L]`) over `R`.
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        generic_mean_max::<Self>(x)
    }

    /// The gradient of [`mean_max`](Self::mean_max) with respect to `x`, given the forward
    /// pass's maximum and the output gradients (at least one): `grad_mean / R` everywhere plus
    /// `grad_max` at the first maximum along `R` (the rule of burn's and PyTorch's `max`).
    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        generic_mean_max_backward::<Self>(x, max, grad_mean, grad_max)
    }

    /// Average of each `k x k` window; `H` and `W` must be multiples of `k`.
    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        Self::avg_pool2d(x, [k, k], [k, k], [0, 0], true, false)
    }

    /// The gradient of [`block_avg_pool2d`](Self::block_avg_pool2d): `grad[y / k, x / k] / k^2`,
    /// shaped like the input `x_shape`.
    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        let x = Self::float_zeros(x_shape, &Self::float_device(&grad), grad.dtype().into());
        Self::avg_pool2d_backward(x, grad, [k, k], [k, k], [0, 0], true, false)
    }
}

impl PoolBackend for burn_flex::Flex {
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        cpu::flex_mean_max(x)
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        cpu::flex_mean_max_backward(x, max, grad_mean, grad_max)
    }

    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        cpu::flex_forward(x, k)
    }

    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        cpu::flex_backward(grad, x_shape, k)
    }
}

#[cfg(feature = "cubecl")]
impl<R, F, I, BT> PoolBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        let squeeze = cube::Squeeze::plain(&x);
        if !cube::fits(&x, squeeze.reduced()) {
            return generic_mean_max::<Self>(x);
        }
        let (mean, max) = cube::forward(x, &squeeze);
        MeanMax { mean, max }
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let squeeze = cube::Squeeze::plain(&x);
        if !cube::fits(&x, squeeze.reduced()) {
            return generic_mean_max_backward::<Self>(x, max, grad_mean, grad_max);
        }
        cube::backward(x, &squeeze, max, grad_mean, grad_max)
    }
}

/// Averages `x` (`[N, C, H, W]`) over non-overlapping `k x k` windows (`k = 1` returns `x`).
///
/// # Panics
/// If `H` or `W` is not a multiple of `k`, or `k` is 0.
pub fn block_avg_pool2d<B: PoolBackend>(x: Tensor<B, 4>, k: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    assert!(
        k > 0 && h % k == 0 && w % k == 0,
        "block_avg_pool2d: {h}x{w} is not a multiple of the window {k}"
    );
    if k == 1 {
        return x;
    }
    wrap(B::block_avg_pool2d(unwrap(x), k))
}

/// Mean and maximum of `x` (`[A, R, L]`) over `R`, each `[A, L]`, both differentiable (the
/// maximum's gradient goes to the first maximum along `R`).
pub fn mean_max<B: PoolBackend>(x: Tensor<B, 3>) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let out = B::mean_max(unwrap(x));
    (wrap(out.mean), wrap(out.max))
}
