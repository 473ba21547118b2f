//! Small helpers shared by the networks: frame-wise application of 2D layers to time-first
//! sequences, and optional attention.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use ma_attention::MultiDimAttention;

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
pub fn attend<B: Backend, const D: usize>(
    attention: &Option<MultiDimAttention<B>>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match attention {
        Some(att) => att.forward(x),
        None => x,
    }
}
