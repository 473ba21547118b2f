//! Batch normalisation from burn tensor ops, for any backend: the default of
//! [`super::BatchNormBackend`] and the reference the CPU kernels are tested against.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata};

use super::{BatchNormGrads, BatchNormTrain};
use crate::tensor::{unwrap, wrap};

/// Per-channel mean over axes 0 and 2 of `[N, C, S]`, as `[1, C, 1]`.
fn channel_mean<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [n, _, s] = x.dims();
    x.sum_dim(2).sum_dim(0).div_scalar((n * s) as f64)
}

fn per_channel<B: Backend>(t: Tensor<B, 1>) -> Tensor<B, 3> {
    let c = t.dims()[0];
    t.reshape([1, c, 1])
}

/// `[N, C, S]`, every axis after the channel axis folded into `S`.
fn flat<B: Backend>(x: FloatTensor<B>) -> Tensor<B, 3> {
    let shape = x.shape();
    let [n, c] = [shape[0], shape[1]];
    let s = shape.num_elements() / (n * c).max(1);
    wrap(B::float_reshape(x, Shape::new([n, c, s])))
}

/// Training-mode forward pass, then `pool x pool` average pooling of `[N, C, H, W]` when
/// `pool > 1` (burn's `avg_pool2d` of the full-resolution output).
pub fn train_forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    epsilon: f64,
    pool: usize,
) -> BatchNormTrain<B> {
    let shape = x.shape();
    let x = flat::<B>(x);
    let c = x.dims()[1];
    let mean = channel_mean(x.clone());
    let centred = x - mean.clone();
    let var = channel_mean(centred.clone().square());
    let inv_std = var.clone().add_scalar(epsilon).sqrt().recip();
    let output = centred * inv_std * per_channel(wrap(weight)) + per_channel(wrap(bias));
    let output = B::float_reshape(unwrap(output), shape);
    let output = if pool > 1 {
        unwrap(burn::tensor::module::avg_pool2d(
            wrap::<B, 4>(output),
            [pool, pool],
            [pool, pool],
            [0, 0],
            true,
            false,
        ))
    } else {
        output
    };
    BatchNormTrain {
        output,
        mean: unwrap(mean.reshape([c])),
        var: unwrap(var.reshape([c])),
    }
}

/// Training-mode backward pass:
/// `dx = gamma / sigma * (g - mean(g) - x_hat * mean(g * x_hat))`, `dgamma = sum(g * x_hat)`,
/// `dbeta = sum(g)`, where `g` is the output gradient, spread evenly over each `pool x pool`
/// block when the forward pass pooled.
#[allow(clippy::too_many_arguments)]
pub fn train_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    epsilon: f64,
    pool: usize,
    grad_output: FloatTensor<B>,
) -> BatchNormGrads<B> {
    let shape = x.shape();
    let g = if pool > 1 {
        let [n, c, oh, ow] = grad_output.shape().dims::<4>();
        let k = pool;
        wrap::<B, 4>(grad_output)
            .reshape([n, c, oh, 1, ow, 1])
            .expand([n, c, oh, k, ow, k])
            .reshape([n, c, oh * k * ow * k])
            .div_scalar((k * k) as f64)
    } else {
        flat::<B>(grad_output)
    };
    let x = flat::<B>(x);
    let c = x.dims()[1];
    let inv_std = per_channel(wrap::<B, 1>(var).add_scalar(epsilon).sqrt().recip());
    let x_hat = (x - per_channel(wrap(mean))) * inv_std.clone();
    let mean_g = channel_mean(g.clone());
    let mean_gx = channel_mean(g.clone() * x_hat.clone());
    let [n, _, s] = g.dims();
    let count = (n * s) as f64;
    let input =
        (g - mean_g.clone() - x_hat * mean_gx.clone()) * (inv_std * per_channel(wrap(weight)));
    BatchNormGrads {
        input: B::float_reshape(unwrap(input), shape),
        weight: unwrap(mean_gx.mul_scalar(count).reshape([c])),
        bias: unwrap(mean_g.mul_scalar(count).reshape([c])),
    }
}

/// `x * scale[c] + shift[c]`.
pub fn channel_affine<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
) -> FloatTensor<B> {
    let x: Tensor<B, 3> = wrap(x);
    unwrap(x * per_channel(wrap(scale)) + per_channel(wrap(shift)))
}
