//! `Autodiff<B>` for [`PoolBackend`]: one graph node per op, whose backward step calls the
//! inner backend's backward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata};

use super::{MeanMax, PoolBackend};
use crate::tensor::{unwrap, wrap};

#[derive(Debug)]
struct PoolBackward;

impl<B: PoolBackend> Backward<B, 1> for PoolBackward {
    /// Input shape and window.
    type State = (Shape, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (shape, k) = ops.state;
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::block_avg_pool2d_backward(grad, shape, k));
        }
    }
}

/// The two outputs of a mean-and-maximum op ([`PoolBackend::mean_max`],
/// [`crate::ScaleBackend::scaled_mean_max`]) stacked as `[2, A, L]`, so the op is one graph
/// node whose backward runs once with both gradients (two nodes ran it twice, each pass over
/// the whole input).
pub(crate) fn stack_pair<B: Backend>(out: &MeanMax<B>) -> FloatTensor<B> {
    // The backend's reshape: `Tensor::reshape` reads a 0 as "keep this axis", which breaks
    // empty inputs.
    let part = |t: &FloatTensor<B>| {
        let [a, l] = t.shape().dims::<2>();
        B::float_reshape(t.clone(), Shape::new([1, a, l]))
    };
    B::float_cat(vec![part(&out.mean), part(&out.max)], 0)
}

/// The mean and maximum of a [`stack_pair`] (each `[A, L]`); on an autodiff backend each is a
/// differentiable slice of it.
pub(crate) fn split_pair<B: Backend>(stacked: FloatTensor<B>) -> MeanMax<B> {
    let [_, a, l] = stacked.shape().dims::<3>();
    let t: Tensor<B, 3> = wrap(stacked);
    let part = |i: usize| {
        let slice = unwrap(t.clone().narrow(0, i, 1));
        B::float_reshape(slice, Shape::new([a, l]))
    };
    MeanMax {
        mean: part(0),
        max: part(1),
    }
}

#[derive(Debug)]
struct MeanMaxBackward;

impl<B: PoolBackend> Backward<B, 1> for MeanMaxBackward {
    /// The input and the forward maximum.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grads_pair = split_pair::<B>(grads.consume::<B>(&ops.node));
        let (x, max_value) = ops.state;
        if let [Some(node)] = ops.parents {
            let grad =
                B::mean_max_backward(x, max_value, Some(grads_pair.mean), Some(grads_pair.max));
            grads.register::<B>(node.id, grad);
        }
    }
}

impl<B: PoolBackend, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        let out = B::mean_max(x.primitive.clone());
        let stacked = stack_pair::<B>(&out);
        let tracked = match MeanMaxBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive, out.max), stacked),
            OpsKind::UnTracked(prep) => prep.finish(stacked),
        };
        split_pair::<Self>(tracked)
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        Self::from_inner(B::mean_max_backward(
            x.primitive,
            max.primitive,
            grad_mean.map(|g| g.primitive),
            grad_max.map(|g| g.primitive),
        ))
    }

    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        let out = B::block_avg_pool2d(x.primitive.clone(), k);
        match PoolBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive.shape(), k), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        Self::from_inner(B::block_avg_pool2d_backward(grad.primitive, x_shape, k))
    }
}
