//! `Autodiff<B>`: the event-driven convolution runs on the inner backend and gets one graph node.
//! Its backward step computes the input gradient with the inner backend's
//! [`EventConvBackend::event_conv2d_x_backward`] (dense: the output gradient is dense), the weight gradient with the inner backend's
//! [`EventConvBackend::event_conv2d_weight_backward`] and the bias gradient as a sum.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::{ConvOptions, FloatTensor};

use super::EventConvBackend;

/// What the backward step needs: the input, the weight, the bias (for its shape) and the options.
type State<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
    ConvOptions<2>,
);

/// The gradients of the parents that require one, in parent order (input, weight, bias).
fn gradients<B: EventConvBackend>(
    wanted: [bool; 3],
    (x, weight, bias, options): State<B>,
    grad: FloatTensor<B>,
) -> [Option<FloatTensor<B>>; 3] {
    let grad_x = wanted[0].then(|| {
        B::event_conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
    });
    let grad_bias = match (&bias, wanted[2]) {
        (Some(bias), true) => Some(B::event_conv2d_bias_backward(
            x.clone(),
            bias.clone(),
            grad.clone(),
        )),
        _ => None,
    };
    let grad_weight = wanted[1].then(|| B::event_conv2d_weight_backward(x, weight, grad, options));
    [grad_x, grad_weight, grad_bias]
}

#[derive(Debug)]
struct EventConvWithBias;

impl<B: EventConvBackend> Backward<B, 3> for EventConvWithBias {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        for (node, g) in ops
            .parents
            .iter()
            .zip(gradients::<B>(wanted, ops.state, grad))
        {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

#[derive(Debug)]
struct EventConvNoBias;

impl<B: EventConvBackend> Backward<B, 2> for EventConvNoBias {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [x, w] = ops.parents.each_ref().map(Option::is_some);
        for (node, g) in ops
            .parents
            .iter()
            .zip(gradients::<B>([x, w, false], ops.state, grad))
        {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: EventConvBackend, C: CheckpointStrategy> EventConvBackend for Autodiff<B, C> {
    fn event_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let out = B::event_conv2d(
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.as_ref().map(|b| b.primitive.clone()),
            options.clone(),
        );
        let state = (
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.as_ref().map(|b| b.primitive.clone()),
            options,
        );
        match bias {
            Some(bias) => match EventConvWithBias
                .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, out),
                OpsKind::UnTracked(prep) => prep.finish(out),
            },
            None => match EventConvNoBias
                .prepare::<C>([x.node.clone(), weight.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, out),
                OpsKind::UnTracked(prep) => prep.finish(out),
            },
        }
    }

    fn event_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        Self::from_inner(B::event_conv2d_weight_backward(
            x.primitive,
            weight.primitive,
            output_grad.primitive,
            options,
        ))
    }

    fn event_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::event_conv2d_x_backward(
            x.primitive,
            weight.primitive,
            output_grad.primitive,
            options,
        ))
    }

    fn event_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::event_conv2d_bias_backward(
            x.primitive,
            bias.primitive,
            output_grad.primitive,
        ))
    }
}
