//! The fused op from the backend's own tensor ops: one time step at a time, on a `[T, N]` view,
//! without autodiff. Any backend gets this for free; the CUDA kernel's tests use it as their
//! reference.
//!
//! The backward pass is the BPTT recurrence of the dynamics in [`crate::config`], carrying
//! `gh = dL/dh[t]` backwards:
//!
//! ```text
//! gs    = dL/ds[t] + gh * dR/ds        (the second term only when the reset is not detached)
//! gu    = dL/du[t] + gh * dR/du + gs * g(u[t] - threshold)
//! gx[t] = gu;   gh <- gu;   g_decay += gh * dR/d_decay
//! ```
//!
//! where `R(u, s, decay)` is the state after the step.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata, TensorPrimitive};

use super::{LifForward, LifGrads};
use crate::config::{FiringRule, Reset};
use crate::reference::{heaviside, surrogate_derivative};

fn as_matrix<B: Backend>(tensor: FloatTensor<B>, steps: usize) -> Tensor<B, 2> {
    let numel = tensor.shape().num_elements();
    let matrix = B::float_reshape(tensor, Shape::new([steps, numel / steps]));
    Tensor::from_primitive(TensorPrimitive::Float(matrix))
}

fn into_shape<B: Backend>(matrix: Tensor<B, 2>, shape: Shape) -> FloatTensor<B> {
    B::float_reshape(matrix.into_primitive().tensor(), shape)
}

/// Forward pass; see [`super::LifBackend::lif_forward`].
pub fn forward<B: Backend>(
    input: FloatTensor<B>,
    decay: FloatTensor<B>,
    rule: &FiringRule,
) -> LifForward<B> {
    let shape = input.shape();
    let steps = shape[0];
    let x = as_matrix::<B>(input, steps);
    let decay: Tensor<B, 2> = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(decay))
        .cast(x.dtype())
        .reshape([1, 1]);
    let mut state = x.clone().slice(0..1).zeros_like();
    let mut spikes = Vec::with_capacity(steps);
    let mut membrane = Vec::with_capacity(steps);
    for t in 0..steps {
        let u = state + x.clone().slice(t..t + 1);
        let s = heaviside(u.clone().sub_scalar(rule.threshold), rule.fire_test);
        state = crate::reference::next_state(u.clone(), s.clone(), decay.clone(), rule);
        spikes.push(s);
        membrane.push(u);
    }
    let spikes = Tensor::cat(spikes, 0);
    let spike_count = spikes.clone().sum();
    LifForward {
        spikes: into_shape(spikes, shape.clone()),
        membrane: into_shape(Tensor::cat(membrane, 0), shape),
        spike_count: spike_count.into_primitive().tensor(),
    }
}

/// Backward pass; see [`super::LifBackend::lif_backward`].
pub fn backward<B: Backend>(
    membrane: FloatTensor<B>,
    decay: FloatTensor<B>,
    grad_spikes: Option<FloatTensor<B>>,
    grad_membrane: Option<FloatTensor<B>>,
    rule: &FiringRule,
    want_decay_grad: bool,
) -> LifGrads<B> {
    let shape = membrane.shape();
    let steps = shape[0];
    let u_all = as_matrix::<B>(membrane, steps);
    let decay_dtype = decay.dtype();
    let beta: Tensor<B, 2> = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(decay))
        .cast(u_all.dtype())
        .reshape([1, 1]);
    let grad_spikes = grad_spikes.map(|g| as_matrix::<B>(g, steps));
    let grad_membrane = grad_membrane.map(|g| as_matrix::<B>(g, steps));

    let mut gh = u_all.clone().slice(0..1).zeros_like();
    let mut grad_decay = want_decay_grad.then(|| u_all.clone().slice(0..1).zeros_like());
    let mut grad_input = Vec::with_capacity(steps);
    for t in (0..steps).rev() {
        let u = u_all.clone().slice(t..t + 1);
        let v = u.clone().sub_scalar(rule.threshold);
        let s = heaviside(v.clone(), rule.fire_test);
        let keep = s.clone().neg().add_scalar(1.0);
        // Partial derivatives of the state after the step, R(u, s, decay), each computed only
        // when its gradient is wanted; the subtract reset's are `[1, 1]` and broadcast.
        let d_du = match rule.reset {
            Reset::Subtract => beta.clone(),
            Reset::Hard { .. } | Reset::LeakToThreshold => keep.clone().mul(beta.clone()),
        };
        let through_reset = (!rule.detach_reset).then(|| {
            let d_ds = match rule.reset {
                Reset::Hard { value } => u.clone().mul(beta.clone()).neg().add_scalar(value),
                Reset::Subtract => beta.clone().mul_scalar(-rule.threshold),
                Reset::LeakToThreshold => {
                    u.clone().neg().add_scalar(rule.threshold).mul(beta.clone())
                }
            };
            gh.clone().mul(d_ds)
        });
        let gs = match (
            grad_spikes.as_ref().map(|g| g.clone().slice(t..t + 1)),
            through_reset,
        ) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let mut gu = gh.clone().mul(d_du);
        if let Some(gs) = gs {
            gu = gu + gs.mul(surrogate_derivative(v, rule.surrogate));
        }
        if let Some(g) = &grad_membrane {
            gu = gu + g.clone().slice(t..t + 1);
        }
        if let Some(acc) = grad_decay.take() {
            let d_decay = match rule.reset {
                Reset::Hard { .. } => u.clone().mul(keep),
                Reset::Subtract => u.clone() - s.mul_scalar(rule.threshold),
                Reset::LeakToThreshold => s.mul_scalar(rule.threshold) + keep.mul(u.clone()),
            };
            grad_decay = Some(acc + gh.clone().mul(d_decay));
        }
        grad_input.push(gu.clone());
        gh = gu;
    }
    grad_input.reverse();
    LifGrads {
        input: into_shape(Tensor::cat(grad_input, 0), shape),
        decay: grad_decay.map(|g| g.sum().cast(decay_dtype).into_primitive().tensor()),
    }
}
