//! [`PoolBackend`](super::PoolBackend)'s squeeze from burn tensor ops, for any backend: the default methods and the
//! reference the CPU and CubeCL kernels are tested against. (The pooling's default is burn's
//! own `avg_pool2d`, called in the trait.)

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::Tensor;

use super::MeanMax;
use crate::tensor::{unwrap, wrap};

/// [`PoolBackend::mean_max`](super::PoolBackend::mean_max) from burn's `mean_dim` and `max_dim`: the default, and the
/// reference the CPU kernel is tested against.
pub fn generic_mean_max<B: Backend>(x: FloatTensor<B>) -> MeanMax<B> {
    let x: Tensor<B, 3> = wrap(x);
    let [a, _, l] = x.dims();
    MeanMax {
        mean: unwrap(x.clone().mean_dim(1).reshape([a, l])),
        max: unwrap(x.max_dim(1).reshape([a, l])),
    }
}

/// [`PoolBackend::mean_max_backward`](super::PoolBackend::mean_max_backward) from burn's ops: `argmax` finds the first maximum (so
/// the forward maximum is not needed) and `scatter` places its gradient.
pub fn generic_mean_max_backward<B: Backend>(
    x: FloatTensor<B>,
    _max: FloatTensor<B>,
    grad_mean: Option<FloatTensor<B>>,
    grad_max: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let x: Tensor<B, 3> = wrap(x);
    let [a, r, l] = x.dims();
    let column = |g: FloatTensor<B>| wrap::<B, 2>(g).reshape([a, 1, l]);
    let mut grad = x.zeros_like();
    if let Some(g) = grad_mean {
        grad = grad + column(g).div_scalar(r as f64).expand([a, r, l]);
    }
    if let Some(g) = grad_max {
        let first = x.argmax(1);
        grad = grad.scatter(1, first, column(g), burn::tensor::IndexingUpdateOp::Add);
    }
    unwrap(grad)
}
