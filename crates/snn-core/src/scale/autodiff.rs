//! `Autodiff<B>` for [`ScaleBackend`]: one graph node per op with the input and the gains as
//! parents, whose backward step calls the inner backend's backward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::{ScaleBackend, ScaleGains, ScaleGrads};
use crate::pool::{split_pair, stack_pair, MeanMax};

#[derive(Debug)]
struct ScaleBackward;

impl<B: ScaleBackend> Backward<B, 4> for ScaleBackward {
    /// The input, the gains and the ReLU flag.
    type State = (FloatTensor<B>, ScaleGains<B>, bool);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gains, relu) = ops.state;
        let wants = [0, 1, 2, 3].map(|i| ops.parents[i].is_some());
        let out = B::attention_scale_backward(x, gains, relu, grad, wants);
        let [px, pt, pc, ps] = ops.parents;
        for (parent, g) in [
            (px, out.x),
            (pt, out.temporal),
            (pc, out.channel),
            (ps, out.spatial),
        ] {
            if let (Some(node), Some(g)) = (parent, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

#[derive(Debug)]
struct ScaledMeanMaxBackward;

impl<B: ScaleBackend> Backward<B, 3> for ScaledMeanMaxBackward {
    /// The input, the gains and the forward maximum.
    type State = (FloatTensor<B>, ScaleGains<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let pair = split_pair::<B>(grads.consume::<B>(&ops.node));
        let (x, gains, max) = ops.state;
        let wants = [0, 1, 2].map(|i| ops.parents[i].is_some());
        let out =
            B::scaled_mean_max_backward(x, gains, max, Some(pair.mean), Some(pair.max), wants);
        let [px, pt, pc] = ops.parents;
        for (parent, g) in [(px, out.x), (pt, out.temporal), (pc, out.channel)] {
            if let (Some(node), Some(g)) = (parent, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: ScaleBackend, C: CheckpointStrategy> ScaleBackend for Autodiff<B, C> {
    fn attention_scale(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let inner = inner_gains::<B, C>(&gains);
        let out = B::attention_scale(x.primitive.clone(), inner.clone(), relu);
        match ScaleBackward
            .prepare::<C>([
                x.node.clone(),
                gains.temporal.node.clone(),
                gains.channel.node.clone(),
                gains.spatial.node.clone(),
            ])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive, inner, relu), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn attention_scale_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
        grad: FloatTensor<Self>,
        wants: [bool; 4],
    ) -> ScaleGrads<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        let inner = inner_gains::<B, C>(&gains);
        let out = B::attention_scale_backward(x.primitive, inner, relu, grad.primitive, wants);
        lift_grads::<B, C>(out)
    }

    fn scaled_mean_max(x: FloatTensor<Self>, gains: ScaleGains<Self>) -> MeanMax<Self> {
        let inner = inner_gains::<B, C>(&gains);
        let out = B::scaled_mean_max(x.primitive.clone(), inner.clone());
        let stacked = stack_pair::<B>(&out);
        let tracked = match ScaledMeanMaxBackward
            .prepare::<C>([
                x.node.clone(),
                gains.temporal.node.clone(),
                gains.channel.node.clone(),
            ])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive, inner, out.max), stacked),
            OpsKind::UnTracked(prep) => prep.finish(stacked),
        };
        split_pair::<Self>(tracked)
    }

    fn scaled_mean_max_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
        wants: [bool; 3],
    ) -> ScaleGrads<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        let inner = inner_gains::<B, C>(&gains);
        lift_grads::<B, C>(B::scaled_mean_max_backward(
            x.primitive,
            inner,
            max.primitive,
            grad_mean.map(|g| g.primitive),
            grad_max.map(|g| g.primitive),
            wants,
        ))
    }
}

/// The inner backend's view of autodiff gains.
fn inner_gains<B: ScaleBackend, C: CheckpointStrategy>(
    gains: &ScaleGains<Autodiff<B, C>>,
) -> ScaleGains<B> {
    ScaleGains {
        temporal: gains.temporal.primitive.clone(),
        channel: gains.channel.primitive.clone(),
        spatial: gains.spatial.primitive.clone(),
    }
}

/// Inner-backend gradients as (untracked) autodiff tensors.
fn lift_grads<B: ScaleBackend, C: CheckpointStrategy>(
    out: ScaleGrads<B>,
) -> ScaleGrads<Autodiff<B, C>> {
    let lift = <Autodiff<B, C> as AutodiffBackend>::from_inner;
    ScaleGrads {
        x: out.x.map(lift),
        temporal: out.temporal.map(lift),
        channel: out.channel.map(lift),
        spatial: out.spatial.map(lift),
    }
}
