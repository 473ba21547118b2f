//! `Autodiff<B>`: the fused batch normalisation runs on the inner backend; its output gets one
//! graph node whose backward step is the inner backend's fused backward. The batch statistics
//! are returned detached.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::{BatchNormBackend, BatchNormGrads, BatchNormTrain};

/// The backward step of the training-mode normalisation, pooled by `k` (`k = 1`: the plain
/// [`BatchNormBackend::batch_norm_train`]).
#[derive(Debug)]
struct BatchNormBackward;

impl<B: BatchNormBackend> Backward<B, 3> for BatchNormBackward {
    /// Input, weight, batch mean, batch variance, epsilon, pooling factor.
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
        usize,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, mean, var, epsilon, k) = ops.state;
        let BatchNormGrads {
            input,
            weight,
            bias,
        } = if k == 1 {
            B::batch_norm_train_backward(x, weight, mean, var, epsilon, grad)
        } else {
            B::batch_norm_pool_train_backward(x, weight, mean, var, epsilon, k, grad)
        };
        for (node, g) in ops.parents.iter().zip([input, weight, bias]) {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// Runs the inner forward (pooled by `k`, `k = 1`: plain) and records its graph node.
fn train<B: BatchNormBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    epsilon: f64,
    k: usize,
) -> BatchNormTrain<Autodiff<B, C>> {
    let (xp, wp, bp) = (
        x.primitive.clone(),
        weight.primitive.clone(),
        bias.primitive.clone(),
    );
    let out = if k == 1 {
        B::batch_norm_train(xp, wp, bp, epsilon)
    } else {
        B::batch_norm_pool_train(xp, wp, bp, epsilon, k)
    };
    let output = match BatchNormBackward
        .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            (
                x.primitive.clone(),
                weight.primitive.clone(),
                out.mean.clone(),
                out.var.clone(),
                epsilon,
                k,
            ),
            out.output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out.output),
    };
    BatchNormTrain {
        output,
        mean: Autodiff::<B, C>::from_inner(out.mean),
        var: Autodiff::<B, C>::from_inner(out.var),
    }
}

impl<B: BatchNormBackend, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
    ) -> BatchNormTrain<Self> {
        train(x, weight, bias, epsilon, 1)
    }

    fn batch_norm_pool_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
        k: usize,
    ) -> BatchNormTrain<Self> {
        train(x, weight, bias, epsilon, k)
    }

    fn batch_norm_pool_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        k: usize,
        grad_output: FloatTensor<Self>,
    ) -> BatchNormGrads<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        let g = B::batch_norm_pool_train_backward(
            x.primitive,
            weight.primitive,
            mean.primitive,
            var.primitive,
            epsilon,
            k,
            grad_output.primitive,
        );
        BatchNormGrads {
            input: Self::from_inner(g.input),
            weight: Self::from_inner(g.weight),
            bias: Self::from_inner(g.bias),
        }
    }

    fn batch_norm_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        grad_output: FloatTensor<Self>,
    ) -> BatchNormGrads<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        let g = B::batch_norm_train_backward(
            x.primitive,
            weight.primitive,
            mean.primitive,
            var.primitive,
            epsilon,
            grad_output.primitive,
        );
        BatchNormGrads {
            input: Self::from_inner(g.input),
            weight: Self::from_inner(g.weight),
            bias: Self::from_inner(g.bias),
        }
    }
}
