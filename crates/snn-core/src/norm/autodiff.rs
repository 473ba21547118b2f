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

/// The backward step of the training-mode normalisation (pooled by `k` when `k > 1`).
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
        } = B::batch_norm_train_backward(x, weight, mean, var, epsilon, k, grad);
        for (node, g) in ops.parents.iter().zip([input, weight, bias]) {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: BatchNormBackend, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
        pool: usize,
    ) -> BatchNormTrain<Self> {
        let out = B::batch_norm_train(
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.primitive.clone(),
            epsilon,
            pool,
        );
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
                    pool,
                ),
                out.output,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out.output),
        };
        BatchNormTrain {
            output,
            mean: Self::from_inner(out.mean),
            var: Self::from_inner(out.var),
        }
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
        // Second-order use is not supported: computed on the inner backend, untracked.
        let g = B::batch_norm_train_backward(
            x.primitive,
            weight.primitive,
            mean.primitive,
            var.primitive,
            epsilon,
            pool,
            grad_output.primitive,
        );
        BatchNormGrads {
            input: Self::from_inner(g.input),
            weight: Self::from_inner(g.weight),
            bias: Self::from_inner(g.bias),
        }
    }
}
