//! The fused op from the backend's own tensor ops: one time step at a time, on a `[T, N]` view,
//! without autodiff. Any backend gets this for free; the CUDA kernel's tests use it as their
//! reference.
//!
//! The backward pass is the BPTT recurrence of the dynamics in [`crate::neuron::config`],
//! carrying `gh = dL/dh[t]` backwards (the partial derivatives are the rules of
//! [`crate::neuron::rule`]):
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
use burn::tensor::{Shape, Tensor, TensorMetadata};

use super::{LifForward, LifGrads};
use crate::neuron::config::FiringRule;
use crate::neuron::reference::next_state;
use crate::tensor::{unwrap, wrap};

/// `tensor` (`[T, ...]`) as a `[T, N]` matrix.
fn as_matrix<B: Backend>(tensor: FloatTensor<B>, steps: usize) -> Tensor<B, 2> {
    let numel = tensor.shape().num_elements();
    wrap(B::float_reshape(tensor, Shape::new([steps, numel / steps])))
}

/// A `[T, N]` matrix back in `shape`.
fn into_shape<B: Backend>(matrix: Tensor<B, 2>, shape: Shape) -> FloatTensor<B> {
    B::float_reshape(unwrap(matrix), shape)
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
    let decay: Tensor<B, 2> = wrap::<B, 1>(decay).cast(x.dtype()).reshape([1, 1]);
    let mut state = x.clone().slice(0..1).zeros_like();
    let mut spikes = Vec::with_capacity(steps);
    let mut membrane = Vec::with_capacity(steps);
    for t in 0..steps {
        let u = state + x.clone().slice(t..t + 1);
        let s = rule.spike(u.clone());
        state = next_state(u.clone(), s.clone(), decay.clone(), rule);
        spikes.push(s);
        membrane.push(u);
    }
    let spikes = Tensor::cat(spikes, 0);
    let spike_count = spikes.clone().sum();
    LifForward {
        spikes: into_shape(spikes, shape.clone()),
        membrane: into_shape(Tensor::cat(membrane, 0), shape),
        spike_count: unwrap(spike_count),
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
    let beta: Tensor<B, 2> = wrap::<B, 1>(decay).cast(u_all.dtype()).reshape([1, 1]);
    let grad_spikes = grad_spikes.map(|g| as_matrix::<B>(g, steps));
    let grad_membrane = grad_membrane.map(|g| as_matrix::<B>(g, steps));

    let mut gh = u_all.clone().slice(0..1).zeros_like();
    let mut grad_decay = want_decay_grad.then(|| u_all.clone().slice(0..1).zeros_like());
    let mut grad_input = Vec::with_capacity(steps);
    for t in (0..steps).rev() {
        let u = u_all.clone().slice(t..t + 1);
        let s = rule.spike(u.clone());
        // Partial derivatives of the state after the step, R(u, s, decay), each computed only
        // when its gradient is wanted; the subtract reset's are `[1, 1]` and broadcast.
        let through_reset = rule
            .d_state_d_spike(u.clone(), beta.clone())
            .map(|d_ds| gh.clone().mul(d_ds));
        let gs = match (
            grad_spikes.as_ref().map(|g| g.clone().slice(t..t + 1)),
            through_reset,
        ) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let mut gu = gh.clone().mul(rule.d_state_d_u(s.clone(), beta.clone()));
        if let Some(gs) = gs {
            gu = gu + gs.mul(rule.surrogate_derivative(u.clone()));
        }
        if let Some(g) = &grad_membrane {
            gu = gu + g.clone().slice(t..t + 1);
        }
        if let Some(acc) = grad_decay.take() {
            grad_decay = Some(acc + gh.clone().mul(rule.d_state_d_decay(u, s)));
        }
        grad_input.push(gu.clone());
        gh = gu;
    }
    grad_input.reverse();
    LifGrads {
        input: into_shape(Tensor::cat(grad_input, 0), shape),
        decay: grad_decay.map(|g| unwrap(g.sum().cast(decay_dtype))),
    }
}
