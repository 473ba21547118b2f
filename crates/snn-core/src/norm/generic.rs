//! Batch normalisation from burn tensor ops, for any backend: the default of
//! [`super::BatchNormBackend`] and the reference the CPU kernels are tested against.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use super::{BatchNormGrads, BatchNormTrain};

fn wrap<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn unwrap<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// Per-channel mean over axes 0 and 2 of `[N, C, S]`, as `[1, C, 1]`.
fn channel_mean<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [n, _, s] = x.dims();
    x.sum_dim(2).sum_dim(0).div_scalar((n * s) as f64)
}

fn per_channel<B: Backend>(t: Tensor<B, 1>) -> Tensor<B, 3> {
    let c = t.dims()[0];
    t.reshape([1, c, 1])
}

/// Training-mode forward pass.
pub fn train_forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    epsilon: f64,
) -> BatchNormTrain<B> {
    let x: Tensor<B, 3> = wrap(x);
    let c = x.dims()[1];
    let mean = channel_mean(x.clone());
    let centred = x - mean.clone();
    let var = channel_mean(centred.clone().square());
    let inv_std = var.clone().add_scalar(epsilon).sqrt().recip();
    let output = centred * inv_std * per_channel(wrap(weight)) + per_channel(wrap(bias));
    BatchNormTrain {
        output: unwrap(output),
        mean: unwrap(mean.reshape([c])),
        var: unwrap(var.reshape([c])),
    }
}

/// Training-mode backward pass:
/// `dx = gamma / sigma * (g - mean(g) - x_hat * mean(g * x_hat))`, `dgamma = sum(g * x_hat)`,
/// `dbeta = sum(g)`.
pub fn train_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    epsilon: f64,
    grad_output: FloatTensor<B>,
) -> BatchNormGrads<B> {
    let x: Tensor<B, 3> = wrap(x);
    let g: Tensor<B, 3> = wrap(grad_output);
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
        input: unwrap(input),
        weight: unwrap(mean_gx.mul_scalar(count).reshape([c])),
        bias: unwrap(mean_g.mul_scalar(count).reshape([c])),
    }
}

/// Training-mode forward pass of `[N, C, H, W]` followed by `k x k` average pooling:
/// [`train_forward`] on the full resolution, then burn's `avg_pool2d`.
pub fn train_pool_forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    epsilon: f64,
    k: usize,
) -> BatchNormTrain<B> {
    let x: Tensor<B, 4> = wrap(x);
    let [n, c, h, w] = x.dims();
    let out = train_forward::<B>(unwrap(x.reshape([n, c, h * w])), weight, bias, epsilon);
    let y: Tensor<B, 4> = wrap::<B, 3>(out.output).reshape([n, c, h, w]);
    let pooled = burn::tensor::module::avg_pool2d(y, [k, k], [k, k], [0, 0], true, false);
    BatchNormTrain {
        output: unwrap(pooled),
        ..out
    }
}

/// The backward pass of [`train_pool_forward`]: the pooled gradient spread evenly over each
/// `k x k` block, then [`train_backward`].
#[allow(clippy::too_many_arguments)]
pub fn train_pool_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    epsilon: f64,
    k: usize,
    grad_output: FloatTensor<B>,
) -> BatchNormGrads<B> {
    let x: Tensor<B, 4> = wrap(x);
    let [n, c, h, w] = x.dims();
    let g: Tensor<B, 4> = wrap(grad_output);
    let (oh, ow) = (h / k, w / k);
    let spread = g
        .reshape([n, c, oh, 1, ow, 1])
        .expand([n, c, oh, k, ow, k])
        .reshape([n, c, h * w])
        .div_scalar((k * k) as f64);
    let grads = train_backward::<B>(
        unwrap(x.reshape([n, c, h * w])),
        weight,
        mean,
        var,
        epsilon,
        unwrap(spread),
    );
    BatchNormGrads {
        input: unwrap(wrap::<B, 3>(grads.input).reshape([n, c, h, w])),
        ..grads
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
