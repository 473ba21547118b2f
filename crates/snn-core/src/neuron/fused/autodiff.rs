//! `Autodiff<B>`: the fused forward runs on the inner backend, and each output (spikes,
//! membrane) gets one graph node whose backward step is the inner backend's fused BPTT.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::{LifBackend, LifForward, LifGrads};
use crate::neuron::config::FiringRule;

/// Which output of the fused forward a graph node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Spikes,
    Membrane,
}

/// The backward step of one output. The state is everything BPTT needs: the forward membrane
/// (spikes are recomputed from it), the decay value and the rule.
#[derive(Debug)]
struct LifBackward;

impl<B: LifBackend> Backward<B, 2> for LifBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FiringRule, Output);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [input_node, decay_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (membrane, decay, rule, output) = ops.state;
        let (grad_spikes, grad_membrane) = match output {
            Output::Spikes => (Some(grad), None),
            Output::Membrane => (None, Some(grad)),
        };
        let LifGrads { input, decay } = B::lif_backward(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            &rule,
            decay_node.is_some(),
        );
        if let Some(node) = input_node {
            grads.register::<B>(node.id, input);
        }
        if let (Some(node), Some(grad_decay)) = (decay_node, decay) {
            grads.register::<B>(node.id, grad_decay);
        }
    }
}

fn track<B: LifBackend, C: CheckpointStrategy>(
    output: Output,
    value: FloatTensor<B>,
    input: &FloatTensor<Autodiff<B, C>>,
    decay: &FloatTensor<Autodiff<B, C>>,
    membrane: &FloatTensor<B>,
    rule: &FiringRule,
) -> FloatTensor<Autodiff<B, C>> {
    match LifBackward
        .prepare::<C>([input.node.clone(), decay.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            (membrane.clone(), decay.primitive.clone(), *rule, output),
            value,
        ),
        OpsKind::UnTracked(prep) => prep.finish(value),
    }
}

impl<B: LifBackend, C: CheckpointStrategy> LifBackend for Autodiff<B, C> {
    fn lif_forward(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifForward<Self> {
        let out = B::lif_forward(input.primitive.clone(), decay.primitive.clone(), rule);
        let spikes = track::<B, C>(
            Output::Spikes,
            out.spikes,
            &input,
            &decay,
            &out.membrane,
            rule,
        );
        let membrane = track::<B, C>(
            Output::Membrane,
            out.membrane.clone(),
            &input,
            &decay,
            &out.membrane,
            rule,
        );
        LifForward {
            spikes,
            membrane,
            spike_count: Self::from_inner(out.spike_count),
        }
    }

    fn lif_backward(
        membrane: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        grad_spikes: Option<FloatTensor<Self>>,
        grad_membrane: Option<FloatTensor<Self>>,
        rule: &FiringRule,
        want_decay_grad: bool,
    ) -> LifGrads<Self> {
        // Second-order use (differentiating the backward pass) is not supported: the result is
        // computed on the inner backend and returned untracked.
        let grads = B::lif_backward(
            membrane.primitive,
            decay.primitive,
            grad_spikes.map(|g| g.primitive),
            grad_membrane.map(|g| g.primitive),
            rule,
            want_decay_grad,
        );
        LifGrads {
            input: Self::from_inner(grads.input),
            decay: grads.decay.map(Self::from_inner),
        }
    }
}
