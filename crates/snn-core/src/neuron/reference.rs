//! The reference neuron: the LIF dynamics written step by step with ordinary tensor ops, so
//! that burn's autodiff differentiates it. It is the executable definition the fused kernels
//! are tested against, and the implementation of the single-step (streaming) API.
//!
//! The spike uses the straight-through construction
//! `s = H(v).detach() + (v - v.detach()) * g(v).detach()`: its value is exactly the
//! Heaviside step `H(v)` and its derivative is exactly the surrogate `g(v)`, with no custom
//! backward involved.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::config::FiringRule;

/// A spike whose forward value is `H(v)` and whose derivative is the surrogate `g(v)`.
pub fn spike_straight_through<B: Backend, const D: usize>(
    v: Tensor<B, D>,
    rule: &FiringRule,
) -> Tensor<B, D> {
    let step = rule.fire_test.spike(v.clone().detach());
    let slope = rule.surrogate.derivative(v.clone().detach());
    step + (v.clone() - v.detach()) * slope
}

/// The state after a step, [`FiringRule::next_state`]: `decay * u` without a spike, the reset
/// value with one.
///
/// `decay` broadcasts against `u` (shape `[1, ..., 1]`). With `rule.detach_reset` the spike is
/// a constant here, so no gradient flows through the reset.
pub fn next_state<B: Backend, const D: usize>(
    u: Tensor<B, D>,
    s: Tensor<B, D>,
    decay: Tensor<B, D>,
    rule: &FiringRule,
) -> Tensor<B, D> {
    let s = if rule.detach_reset { s.detach() } else { s };
    rule.next_state(u, s, decay)
}

/// One differentiable time step.
///
/// `x` is the input of this step (any shape), `state` the previous state `h[t-1]` (same
/// shape), `decay` broadcastable against `x`. Returns `(spike, membrane u, next state)`.
pub fn step<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    state: Tensor<B, D>,
    decay: Tensor<B, D>,
    rule: &FiringRule,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let u = state + x;
    let s = spike_straight_through(u.clone().sub_scalar(rule.threshold), rule);
    let h = next_state(u.clone(), s.clone(), decay, rule);
    (s, u, h)
}

/// The whole sequence `[T, ...]` step by step from a zero state; returns `(spikes, membrane)`,
/// both `[T, ...]`. `decay` has shape `[1]`.
///
/// This records a few graph nodes per time step; [`super::fused`] does the same work as one.
pub fn multi_step<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    decay: Tensor<B, 1>,
    rule: &FiringRule,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let steps = x.dims()[0];
    let decay: Tensor<B, D> = decay.reshape([1; D]);
    let mut state = x.clone().slice(0..1).zeros_like();
    let mut spikes = Vec::with_capacity(steps);
    let mut membrane = Vec::with_capacity(steps);
    for t in 0..steps {
        let (s, u, h) = step(x.clone().slice(t..t + 1), state, decay.clone(), rule);
        spikes.push(s);
        membrane.push(u);
        state = h;
    }
    (Tensor::cat(spikes, 0), Tensor::cat(membrane, 0))
}
