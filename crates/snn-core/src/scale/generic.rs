//! [`ScaleBackend`]'s ops from burn tensor ops, for any backend: the default methods and the
//! reference the CPU and CubeCL kernels are tested against.

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata};

use super::{ScaleBackend, ScaleGains, ScaleGrads};
use crate::pool::MeanMax;
use crate::tensor::{unwrap, wrap};

/// The gains as `[T, B, 1, 1]`, `[1, B, C, 1]` and `[1, B, 1, S]` tensors for broadcasting.
fn broadcast_gains<B: Backend>(
    gains: ScaleGains<B>,
    [t, b, c, s]: [usize; 4],
) -> [Tensor<B, 4>; 3] {
    [
        wrap::<B, 2>(gains.temporal).reshape([t, b, 1, 1]),
        wrap::<B, 2>(gains.channel).reshape([1, b, c, 1]),
        wrap::<B, 2>(gains.spatial).reshape([1, b, 1, s]),
    ]
}

/// [`ScaleBackend::attention_scale`] from burn's ops: the default, and the reference the CPU
/// kernel is tested against.
pub fn generic_attention_scale<B: Backend>(
    x: FloatTensor<B>,
    gains: ScaleGains<B>,
    apply_relu: bool,
) -> FloatTensor<B> {
    let x = wrap::<B, 4>(x);
    let [gt, gc, gs] = broadcast_gains(gains, x.dims());
    let y = x * gt * gc * gs;
    let y = if apply_relu { relu(y) } else { y };
    unwrap(y)
}

/// [`ScaleBackend::attention_scale_backward`] from burn's ops.
pub fn generic_attention_scale_backward<B: Backend>(
    x: FloatTensor<B>,
    gains: ScaleGains<B>,
    apply_relu: bool,
    grad: FloatTensor<B>,
    wants: [bool; 4],
) -> ScaleGrads<B> {
    let x = wrap::<B, 4>(x);
    let dims = x.dims();
    let [t, b, c, s] = dims;
    let [gt, gc, gs] = broadcast_gains(gains, dims);
    let mut e = wrap::<B, 4>(grad);
    if apply_relu {
        let y = x.clone() * gt.clone() * gc.clone() * gs.clone();
        e = e.mask_fill(y.lower_equal_elem(0.0), 0.0);
    }
    let ex = e.clone() * x;
    let prim = unwrap::<B, 2>;
    ScaleGrads {
        x: wants[0].then(|| unwrap(e * gs.clone() * gc.clone() * gt.clone())),
        temporal: wants[1].then(|| {
            prim(
                (ex.clone() * gc.clone() * gs.clone())
                    .sum_dim(3)
                    .sum_dim(2)
                    .reshape([t, b]),
            )
        }),
        channel: wants[2].then(|| {
            prim(
                (ex.clone() * gt.clone() * gs)
                    .sum_dim(3)
                    .sum_dim(0)
                    .reshape([b, c]),
            )
        }),
        spatial: wants[3].then(|| prim((ex * gt * gc).sum_dim(2).sum_dim(0).reshape([b, s]))),
    }
}

/// [`ScaleBackend::scaled_mean_max`] as the rescaling `(x * temporal) * channel` from burn's
/// broadcast products, then [`PoolBackend::mean_max`] over `C`: the default, and the reference
/// the CPU kernel is tested against.
pub fn generic_scaled_mean_max<B: ScaleBackend>(
    x: FloatTensor<B>,
    gains: ScaleGains<B>,
) -> MeanMax<B> {
    let x = wrap::<B, 4>(x);
    let [t, b, c, s] = x.dims();
    let [gt, gc, _] = broadcast_gains(gains, [t, b, c, s]);
    let scaled = (x * gt * gc).reshape([t * b, c, s]);
    B::mean_max(unwrap(scaled))
}

/// [`ScaleBackend::scaled_mean_max_backward`] composed from the backward passes of
/// [`PoolBackend::mean_max`] and [`ScaleBackend::attention_scale`].
pub fn generic_scaled_mean_max_backward<B: ScaleBackend>(
    x: FloatTensor<B>,
    gains: ScaleGains<B>,
    max: FloatTensor<B>,
    grad_mean: Option<FloatTensor<B>>,
    grad_max: Option<FloatTensor<B>>,
    wants: [bool; 3],
) -> ScaleGrads<B> {
    let shape = x.shape();
    let [t, b, c, s] = shape.dims::<4>();
    let gains = unit_spatial::<B>(gains, b, s);
    let scaled = B::attention_scale(x.clone(), gains.clone(), false);
    let scaled = B::float_reshape(scaled, Shape::new([t * b, c, s]));
    let grad = B::mean_max_backward(scaled, max, grad_mean, grad_max);
    let grad = B::float_reshape(grad, shape);
    let [wx, wt, wc] = wants;
    let mut out = B::attention_scale_backward(x, gains, false, grad, [wx, wt, wc, false]);
    out.spatial = None;
    out
}

/// The gains with the spatial one replaced by ones `[B, S]`.
pub(crate) fn unit_spatial<B: Backend>(gains: ScaleGains<B>, b: usize, s: usize) -> ScaleGains<B> {
    let device = B::float_device(&gains.temporal);
    let dtype = gains.temporal.dtype();
    ScaleGains {
        spatial: B::float_ones(Shape::new([b, s]), &device, dtype.into()),
        ..gains
    }
}
