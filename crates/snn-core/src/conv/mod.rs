//! Event-driven (spike-driven) 2-D convolution: the cost follows the number of non-zero inputs,
//! not the size of the input.
//!
//! Every conv layer after the first receives binary spikes at a few to 40 percent density, and
//! the first receives event counts that are sparser still. A dense convolution multiplies every
//! zero; this one sums, for each output, the weight columns of the non-zero inputs that reach
//! it (`out[:, oy, ox] = sum of v * w[:, ci, ky, kx]` over the non-zero `x[ci, oy + ky - p,
//! ox + kx - p] = v`; for `v = 1`, a spike, an addition with no multiply). The weight gradient
//! also walks only the non-zero inputs. The input gradient is dense (the output gradient is
//! dense): a forward convolution of the backend with swapped, flipped weights.
//!
//! It is a burn backend extension, [`EventConvBackend`], like [`crate::LifBackend`]:
//! - the default methods are the backend's dense `conv2d` and its backward;
//! - burn's CubeCL backends (`Cuda`, `Wgpu`) run dense kernels (burn-cubecl's, cubek's implicit
//!   GEMMs) chosen per op at run time ([`CubeConvPlan`]: burn's own choice, direct, one of the
//!   implicit GEMMs, or split-K for the weight gradient);
//! - `Flex` (the CPU backend) runs the event-driven kernels of [`cpu`] for f32 and f64 inputs
//!   with stride 1, no dilation and one group; the forward pass falls back to the dense
//!   convolution when the input is too dense for the event kernel to win
//!   ([`cpu::DENSE_ABOVE`], measured by `cargo xtask bench conv`);
//! - `Autodiff<B>` records one graph node whose backward step calls the inner backend's
//!   weight-gradient kernel ([`autodiff`]).
//!
//! The result equals the dense convolution up to the order of floating-point additions
//! (`tests/event_conv.rs` compares them in f64).

pub mod algorithm;
pub mod autodiff;
pub mod cpu;
#[cfg(feature = "cubecl")]
mod cube;
pub mod im2col;
pub mod precision;
pub mod split_k;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{DType, Tensor};

use crate::tensor::{unwrap, wrap};

pub use algorithm::{
    cube_conv_fallbacks, cube_conv_last_fallback, cube_conv_plan, set_cube_conv_algorithm,
    set_cube_conv_plan, ConvKernel, CubeConvAlgorithm, CubeConvPlan, GemmRoutine, GemmTile,
};
pub use precision::{conv_precision, set_conv_precision, ConvPrecision, ConvPrecisionScope};

/// A backend that can run a convolution whose cost follows the input's non-zeros.
pub trait EventConvBackend: Backend {
    /// `conv2d` of `x` (`[N, C_in, H, W]`) with `weight` (`[C_out, C_in, KH, KW]`) and an
    /// optional `bias` (`[C_out]`).
    fn event_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, bias, options)
    }

    /// The gradient of [`event_conv2d`](Self::event_conv2d) with respect to the weight.
    fn event_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// The gradient of [`event_conv2d`](Self::event_conv2d) with respect to its input (dense:
    /// the output gradient is dense).
    fn event_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// Evaluation-mode conv block in one pass: `event_conv2d`, then the per-channel affine map
    /// `y * scale[c] + shift[c]` (batch normalisation with running statistics), then the
    /// average over non-overlapping `pool x pool` windows. Returns `[N, C_out, OH / pool,
    /// OW / pool]`. The default composes the three operations (and is differentiable).
    #[allow(clippy::too_many_arguments)]
    fn event_conv2d_affine_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        options: ConvOptions<2>,
        pool: usize,
    ) -> FloatTensor<Self> {
        composed_affine_pool::<Self>(x, weight, bias, scale, shift, options, pool)
    }

    /// The gradient of [`event_conv2d`](Self::event_conv2d) with respect to the bias: the
    /// output gradient summed over every axis but the channel axis.
    fn event_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_bias_backward(x, bias, output_grad)
    }
}

impl EventConvBackend for burn_flex::Flex {
    fn event_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cpu::flex_conv2d(x, weight, bias, options)
    }

    fn event_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cpu::flex_conv2d_weight_backward(x, weight, output_grad, options)
    }

    fn event_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        cpu::flex_conv2d_bias_backward(x, bias, output_grad)
    }

    fn event_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cpu::flex_conv2d_x_backward(x, weight, output_grad, options)
    }

    fn event_conv2d_affine_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        options: ConvOptions<2>,
        pool: usize,
    ) -> FloatTensor<Self> {
        cpu::flex_conv2d_affine_pool(x, weight, bias, scale, shift, options, pool)
    }
}

/// burn's CubeCL backends run dense kernels, each op with the kernel of [`cube_conv_plan`]
/// (burn-cubecl's implicit GEMM by default).
#[cfg(feature = "cubecl")]
impl<R, F, I, BT> EventConvBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn event_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cube::conv2d::<R, F, I, BT>(x, weight, bias, options)
    }

    fn event_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cube::weight_backward::<R, F, I, BT>(x, weight, output_grad, options)
    }

    fn event_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        cube::x_backward::<R, F, I, BT>(x, weight, output_grad, options)
    }
}

/// `avg_pool(event_conv2d(x) * scale + shift)` from separate operations: the default of
/// [`EventConvBackend::event_conv2d_affine_pool`] and the fallback of the event kernel.
pub(crate) fn composed_affine_pool<B: EventConvBackend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
    options: ConvOptions<2>,
    pool: usize,
) -> FloatTensor<B> {
    let y: Tensor<B, 4> = wrap(B::event_conv2d(x, weight, bias, options));
    unwrap(affine_avg_pool(y, wrap(scale), wrap(shift), pool))
}

/// `avg_pool(y * scale[c] + shift[c])` over non-overlapping `pool x pool` windows (trailing rows
/// and columns dropped, as by `avg_pool2d`), from separate tensor operations.
fn affine_avg_pool<B: Backend>(
    y: Tensor<B, 4>,
    scale: Tensor<B, 1>,
    shift: Tensor<B, 1>,
    pool: usize,
) -> Tensor<B, 4> {
    let c = y.dims()[1];
    let y = y * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1]);
    if pool > 1 {
        burn::tensor::module::avg_pool2d(y, [pool; 2], [pool; 2], [0, 0], true, false)
    } else {
        y
    }
}

/// The evaluation-mode conv block `avg_pool(conv(x) * scale + shift)` in one pass on backends
/// with an event kernel ([`EventConvBackend::event_conv2d_affine_pool`]).
///
/// `pool` should divide the output height and width (the event network checks this when it is
/// built); otherwise the trailing rows and columns are dropped, as by `avg_pool2d`, through the
/// composed path. `pool` must be at least 1.
pub fn event_conv2d_affine_pool<B: EventConvBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    (scale, shift): (Tensor<B, 1>, Tensor<B, 1>),
    options: ConvOptions<2>,
    pool: usize,
) -> Tensor<B, 4> {
    if conv_precision() == ConvPrecision::Bf16 {
        // The fused kernels work in one dtype; in mixed precision only the convolution is
        // rounded, and the affine map and the pooling run on its output in full precision.
        return affine_avg_pool(event_conv2d(x, weight, bias, options), scale, shift, pool);
    }
    wrap(B::event_conv2d_affine_pool(
        unwrap(x),
        unwrap(weight),
        bias.map(unwrap),
        unwrap(scale),
        unwrap(shift),
        options,
        pool,
    ))
}

/// Convolves `x` (`[N, C_in, H, W]`) with `weight` (`[C_out, C_in, KH, KW]`) and `bias`, at a
/// cost that follows the number of non-zero elements of `x` on backends with an event kernel.
///
/// In [`ConvPrecision::Bf16`] (this thread's [`conv_precision`]), `x` and `weight` are rounded
/// to bfloat16 for the convolution, its output is cast back to `x`'s dtype and the bias is added
/// after that ([`precision`]).
///
/// Differentiable with respect to all three inputs.
pub fn event_conv2d<B: EventConvBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let conv = |x: Tensor<B, 4>, weight: Tensor<B, 4>, bias: Option<Tensor<B, 1>>| {
        wrap(B::event_conv2d(
            unwrap(x),
            unwrap(weight),
            bias.map(unwrap),
            options,
        ))
    };
    match conv_precision() {
        ConvPrecision::Full => conv(x, weight, bias),
        ConvPrecision::Bf16 => {
            let dtype = x.dtype();
            let y: Tensor<B, 4> =
                conv(x.cast(DType::BF16), weight.cast(DType::BF16), None).cast(dtype);
            match bias {
                Some(bias) => {
                    let c = y.dims()[1];
                    y + bias.reshape([1, c, 1, 1])
                }
                None => y,
            }
        }
    }
}
