//! Small helpers shared by the networks: frame-wise application of 2D layers to time-first
//! sequences, and optional attention.

use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use ma_attention::MultiDimAttention;
use snn_core::{block_avg_pool2d, event_conv2d, event_conv2d_affine_pool, SnnBackend};

/// The options of `conv` for the event kernels, when its padding is symmetric (explicit) or
/// `Valid`.
fn event_options<B: Backend>(conv: &Conv2d<B>) -> Option<ConvOptions<2>> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    Some(ConvOptions::new(
        conv.stride,
        padding,
        conv.dilation,
        conv.groups,
    ))
}

/// `conv.forward(x)` through the event-driven convolution ([`snn_core::conv`]), whose cost
/// follows the non-zeros of `x`: the spikes a conv layer receives, or sparse event frames.
/// Same result as `conv.forward(x)`; a padding other than a symmetric explicit one or `Valid`
/// runs burn's convolution.
pub fn event_conv<B: SnnBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    match event_options(conv) {
        Some(options) => event_conv2d(
            x,
            conv.weight.val(),
            conv.bias.as_ref().map(|b| b.val()),
            options,
        ),
        None => conv.forward(x),
    }
}

/// The evaluation-mode conv block `avg_pool(bn_eval(conv(x)))` in one pass
/// ([`snn_core::event_conv2d_affine_pool`]); `affine` is the normalisation's `(scale, shift)`.
pub fn event_conv_affine_pool<B: SnnBackend>(
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
    affine: (Tensor<B, 1>, Tensor<B, 1>),
    pool: usize,
) -> Tensor<B, 4> {
    match event_options(conv) {
        Some(options) => event_conv2d_affine_pool(
            x,
            conv.weight.val(),
            conv.bias.as_ref().map(|b| b.val()),
            affine,
            options,
            pool,
        ),
        None => {
            let y = conv.forward(x);
            let c = y.dims()[1];
            let (scale, shift) = affine;
            let y = y * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1]);
            block_avg_pool2d(y, pool)
        }
    }
}

/// Applies a per-frame operation to a `[T, B, C, H, W]` sequence, viewed as `[T*B, C, H, W]`.
pub fn frame_wise<B: Backend>(
    x: Tensor<B, 5>,
    f: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 5> {
    let [t, b, c, h, w] = x.dims();
    let y = f(x.reshape([t * b, c, h, w]));
    let [_, c, h, w] = y.dims();
    y.reshape([t, b, c, h, w])
}

/// Applies a per-step operation to a `[T, B, F]` sequence, viewed as `[T*B, F]`.
pub fn step_wise<B: Backend>(
    x: Tensor<B, 3>,
    f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [t, b, f_in] = x.dims();
    let y = f(x.reshape([t * b, f_in]));
    let f_out = y.dims()[1];
    y.reshape([t, b, f_out])
}

/// The attention block's output, or `x` unchanged when the layer has none.
pub fn attend<B: SnnBackend, const D: usize>(
    attention: &Option<MultiDimAttention<B>>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match attention {
        Some(att) => att.forward(x),
        None => x,
    }
}
