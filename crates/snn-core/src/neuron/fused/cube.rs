//! The fused kernel on burn's CubeCL backends (`Cuda`): one GPU thread per neuron walks through
//! all `T` steps with its state in registers, forward and backward.
//!
//! Why: the generic path ([`super::generic`]) launches a handful of elementwise kernels per
//! time step and re-reads the state from global memory each time; here each direction is one
//! launch that reads its inputs and writes its outputs exactly once. Threads of a cube handle
//! neighbouring neurons, so every access to a `[T, N]` row is coalesced.
//!
//! The math is the rules of [`crate::neuron::rule`] (which every other path calls) in device
//! code, line by line: the state after a spike is `Reset::after_spike`, so spikes and
//! membrane match the generic path exactly (up to the compiler contracting a multiply and an add into one FMA, which
//! changes the last bit), and the backward pass carries `gh = dL/dh` in reverse with the
//! partial derivatives `[dR/du, dR/ds, dR/d_decay]` of the state after the step.
//!
//! Rule constants (threshold, reset value, surrogate parameters) are runtime scalars; the
//! enum choices (spike test, reset, surrogate, reset detachment, which upstream gradients are
//! present, whether the decay gradient is wanted) are comptime, so each combination compiles
//! to its own branch-free kernel. Any float dtype the backend runs works (`F: Float` is
//! defined from the tensor's dtype at launch); the decay and upstream gradients are cast to
//! the membrane's dtype when they differ.

use burn::tensor::{DType, Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;

use crate::cube_util::{elementwise_geometry, prepare};
use crate::neuron::config::{FireTest, FiringRule, Reset, Surrogate};

/// Spike test, chosen at kernel compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FireKind {
    GreaterOrEqual,
    Greater,
}

/// Reset rule, chosen at kernel compile time (the hard reset's value is a runtime scalar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ResetKind {
    Hard,
    Subtract,
    LeakToThreshold,
}

/// Surrogate derivative, chosen at kernel compile time (its parameters are runtime scalars).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SurrogateKind {
    /// `p0 = lens`, `p1 = 1 / (2 * lens)`.
    Rectangle,
    /// `p0 = alpha`.
    Sigmoid,
    /// `p0 = pi/2 * alpha`, `p1 = alpha / 2`.
    Atan,
    /// `p0 = width`.
    Triangle,
}

impl From<FireTest> for FireKind {
    fn from(test: FireTest) -> Self {
        match test {
            FireTest::GreaterOrEqual => FireKind::GreaterOrEqual,
            FireTest::Greater => FireKind::Greater,
        }
    }
}

/// The reset's kind and its value (0 when it has none).
fn reset_parts(reset: Reset) -> (ResetKind, f64) {
    match reset {
        Reset::Hard { value } => (ResetKind::Hard, value),
        Reset::Subtract => (ResetKind::Subtract, 0.0),
        Reset::LeakToThreshold => (ResetKind::LeakToThreshold, 0.0),
    }
}

/// The surrogate's kind and its two parameters, derived in f64 exactly as
/// [`Surrogate::derivative`] derives its constants.
fn surrogate_parts(surrogate: Surrogate) -> (SurrogateKind, f64, f64) {
    match surrogate {
        Surrogate::Rectangle { lens } => (SurrogateKind::Rectangle, lens, 0.5 / lens),
        Surrogate::Sigmoid { alpha } => (SurrogateKind::Sigmoid, alpha, 0.0),
        Surrogate::Atan { alpha } => (
            SurrogateKind::Atan,
            core::f64::consts::FRAC_PI_2 * alpha,
            alpha * 0.5,
        ),
        Surrogate::Triangle { width } => (SurrogateKind::Triangle, width, 0.0),
    }
}

// --- kernels ---------------------------------------------------------------------------------

/// Whether a neuron at `v = u - threshold` fires ([`FireTest::fires`]).
#[cube]
fn fires<F: Float>(v: F, #[comptime] test: FireKind) -> bool {
    match test {
        FireKind::GreaterOrEqual => v >= F::new(0.0),
        FireKind::Greater => v > F::new(0.0),
    }
}

/// The surrogate derivative at `v` ([`Surrogate::derivative`]).
#[cube]
fn surrogate_derivative<F: Float>(v: F, p0: F, p1: F, #[comptime] kind: SurrogateKind) -> F {
    match kind {
        SurrogateKind::Rectangle => select(v.abs() < p0, p1, F::new(0.0)),
        SurrogateKind::Sigmoid => {
            let sig = F::new(1.0) / (F::new(1.0) + (F::new(0.0) - p0 * v).exp());
            p0 * sig * (F::new(1.0) - sig)
        }
        SurrogateKind::Atan => {
            let z = p0 * v;
            p1 / (F::new(1.0) + z * z)
        }
        SurrogateKind::Triangle => {
            let r = F::new(1.0) - v.abs() / p0;
            select(r > F::new(0.0), r / p0, F::new(0.0))
        }
    }
}

/// Forward: thread `n` runs neuron `n` through all steps of the row-major `[steps, neurons]`
/// input from a zero state, writing spikes and membrane.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn lif_forward_kernel<F: Float>(
    input: &Tensor<F>,
    decay: &Tensor<F>,
    spikes: &mut Tensor<F>,
    membrane: &mut Tensor<F>,
    steps: usize,
    neurons: usize,
    threshold: InputScalar,
    reset_value: InputScalar,
    #[comptime] fire: FireKind,
    #[comptime] reset: ResetKind,
    #[define(F)] _dtype: StorageType,
) {
    let n = ABSOLUTE_POS;
    if n >= neurons {
        terminate!();
    }
    let th = threshold.get::<F>();
    let value = reset_value.get::<F>();
    let beta = decay[0];
    // The state after a spike that does not depend on `u`, as `reference::next_state`
    // computes it for s = 1 (hard: `value`; leak-to-threshold: `threshold * decay`).
    let fixed_after_spike = match reset {
        ResetKind::Hard => value,
        ResetKind::Subtract => F::new(0.0),
        ResetKind::LeakToThreshold => th * beta,
    };
    let mut h = F::new(0.0);
    for t in 0..steps {
        let i = t * neurons + n;
        let u = h + input[i];
        let fired = fires::<F>(u - th, fire);
        membrane[i] = u;
        spikes[i] = select(fired, F::new(1.0), F::new(0.0));
        let after_spike = match reset {
            ResetKind::Hard => fixed_after_spike,
            ResetKind::Subtract => (u - th) * beta,
            ResetKind::LeakToThreshold => fixed_after_spike,
        };
        h = select(fired, after_spike, beta * u);
    }
}

/// Backward: thread `n` carries `gh = dL/dh` of neuron `n` from the last step to the first,
/// writing `dL/dx` and, when `want_decay`, its own share of `dL/d decay` to `grad_decay[n]`.
///
/// `grad_spikes` / `grad_membrane` are read only when `has_grad_spikes` / `has_grad_membrane`
/// (the caller passes any tensor otherwise); `grad_decay` is written only when `want_decay`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn lif_backward_kernel<F: Float>(
    membrane: &Tensor<F>,
    decay: &Tensor<F>,
    grad_spikes: &Tensor<F>,
    grad_membrane: &Tensor<F>,
    grad_input: &mut Tensor<F>,
    grad_decay: &mut Tensor<F>,
    steps: usize,
    neurons: usize,
    threshold: InputScalar,
    reset_value: InputScalar,
    surrogate_p0: InputScalar,
    surrogate_p1: InputScalar,
    #[comptime] fire: FireKind,
    #[comptime] reset: ResetKind,
    #[comptime] surrogate: SurrogateKind,
    #[comptime] through_reset: bool,
    #[comptime] has_grad_spikes: bool,
    #[comptime] has_grad_membrane: bool,
    #[comptime] want_decay: bool,
    #[define(F)] _dtype: StorageType,
) {
    let n = ABSOLUTE_POS;
    if n >= neurons {
        terminate!();
    }
    let th = threshold.get::<F>();
    let value = reset_value.get::<F>();
    let p0 = surrogate_p0.get::<F>();
    let p1 = surrogate_p1.get::<F>();
    let beta = decay[0];
    let zero = F::new(0.0);
    let mut gh = F::new(0.0);
    let mut acc = F::new(0.0);
    for k in 0..steps {
        let t = steps - 1 - k;
        let i = t * neurons + n;
        let u = membrane[i];
        let v = u - th;
        let fired = fires::<F>(v, fire);
        // dR/du: the leak factor, or 0 after a spike unless the reset subtracts.
        let d_du = match reset {
            ResetKind::Subtract => beta,
            _ => select(fired, zero, beta),
        };
        let mut g_u = gh * d_du;
        if comptime![has_grad_spikes || through_reset] {
            let mut g_spike = F::new(0.0);
            if comptime![has_grad_spikes] {
                g_spike += grad_spikes[i];
            }
            if comptime![through_reset] {
                // dR/ds.
                let d_ds = match reset {
                    ResetKind::Hard => value - beta * u,
                    ResetKind::Subtract => zero - beta * th,
                    ResetKind::LeakToThreshold => beta * (th - u),
                };
                g_spike += gh * d_ds;
            }
            g_u += g_spike * surrogate_derivative::<F>(v, p0, p1, surrogate);
        }
        if comptime![has_grad_membrane] {
            g_u += grad_membrane[i];
        }
        if comptime![want_decay] {
            // dR/d_decay, with `gh` still dL/dh[t] (before this step's update).
            let d_decay = match reset {
                ResetKind::Hard => select(fired, zero, u),
                ResetKind::Subtract => select(fired, u - th, u),
                ResetKind::LeakToThreshold => select(fired, th, u),
            };
            acc += gh * d_decay;
        }
        grad_input[i] = g_u;
        gh = g_u;
    }
    if comptime![want_decay] {
        grad_decay[n] = acc;
    }
}

// --- host side -------------------------------------------------------------------------------

fn scalar(value: f64, dtype: DType) -> InputScalar {
    InputScalar::new(value, dtype)
}

/// `[steps, neurons]` of a time-first shape.
fn steps_and_neurons(shape: &Shape) -> (usize, usize) {
    let steps = shape[0];
    let numel = shape.num_elements();
    (steps, numel.checked_div(steps).unwrap_or(0))
}

/// Spikes and membrane of the forward pass, both in `input`'s shape and dtype (contiguous).
pub(crate) fn forward<R: CubeRuntime>(
    input: CubeTensor<R>,
    decay: CubeTensor<R>,
    rule: &FiringRule,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let dtype = input.dtype;
    let shape = input.shape();
    let (steps, neurons) = steps_and_neurons(&shape);
    let input = into_contiguous(input);
    let decay = prepare(decay, dtype);
    let (client, device) = (input.client.clone(), input.device.clone());
    let spikes =
        empty_device_contiguous_dtype(client.clone(), device.clone(), shape.clone(), dtype);
    let membrane = empty_device_contiguous_dtype(client.clone(), device, shape, dtype);
    if steps == 0 || neurons == 0 {
        return (spikes, membrane);
    }
    let (reset, reset_value) = reset_parts(rule.reset);
    let (cube_count, cube_dim) = elementwise_geometry(&input, neurons);
    lif_forward_kernel::launch::<R>(
        &client,
        cube_count,
        cube_dim,
        input.into_tensor_arg(),
        decay.into_tensor_arg(),
        spikes.clone().into_tensor_arg(),
        membrane.clone().into_tensor_arg(),
        steps,
        neurons,
        scalar(rule.threshold, dtype),
        scalar(reset_value, dtype),
        FireKind::from(rule.fire_test),
        reset,
        dtype.into(),
    );
    (spikes, membrane)
}

/// The backward pass: `dL/dx` in `membrane`'s shape and dtype, and, when `want_decay_grad`,
/// the per-neuron decay gradients `[N]` in that dtype (the caller sums them).
pub(crate) fn backward<R: CubeRuntime>(
    membrane: CubeTensor<R>,
    decay: CubeTensor<R>,
    grad_spikes: Option<CubeTensor<R>>,
    grad_membrane: Option<CubeTensor<R>>,
    rule: &FiringRule,
    want_decay_grad: bool,
) -> (CubeTensor<R>, Option<CubeTensor<R>>) {
    let dtype = membrane.dtype;
    let shape = membrane.shape();
    let (steps, neurons) = steps_and_neurons(&shape);
    let membrane = into_contiguous(membrane);
    let decay = prepare(decay, dtype);
    let grad_spikes = grad_spikes.map(|g| prepare(g, dtype));
    let grad_membrane = grad_membrane.map(|g| prepare(g, dtype));
    let (client, device) = (membrane.client.clone(), membrane.device.clone());
    let grad_input = empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype);
    // Per-neuron decay gradients; a one-element placeholder the kernel never touches when the
    // decay gradient is not wanted (the output argument must exist).
    let grad_decay = empty_device_contiguous_dtype(
        client.clone(),
        device,
        Shape::new([if want_decay_grad { neurons } else { 1 }]),
        dtype,
    );
    if steps == 0 || neurons == 0 {
        let grad_decay = want_decay_grad.then(|| {
            burn_cubecl::ops::numeric::zeros_client(
                client.clone(),
                grad_decay.device.clone(),
                Shape::new([1]),
                dtype,
            )
        });
        return (grad_input, grad_decay);
    }
    let (has_grad_spikes, has_grad_membrane) = (grad_spikes.is_some(), grad_membrane.is_some());
    // An absent upstream gradient is never read: the membrane stands in for it.
    let grad_spikes = grad_spikes.unwrap_or_else(|| membrane.clone());
    let grad_membrane = grad_membrane.unwrap_or_else(|| membrane.clone());
    let (reset, reset_value) = reset_parts(rule.reset);
    let (surrogate, p0, p1) = surrogate_parts(rule.surrogate);
    let (cube_count, cube_dim) = elementwise_geometry(&membrane, neurons);
    lif_backward_kernel::launch::<R>(
        &client,
        cube_count,
        cube_dim,
        membrane.into_tensor_arg(),
        decay.into_tensor_arg(),
        grad_spikes.into_tensor_arg(),
        grad_membrane.into_tensor_arg(),
        grad_input.clone().into_tensor_arg(),
        grad_decay.clone().into_tensor_arg(),
        steps,
        neurons,
        scalar(rule.threshold, dtype),
        scalar(reset_value, dtype),
        scalar(p0, dtype),
        scalar(p1, dtype),
        FireKind::from(rule.fire_test),
        reset,
        surrogate,
        !rule.detach_reset,
        has_grad_spikes,
        has_grad_membrane,
        want_decay_grad,
        dtype.into(),
    );
    (grad_input, want_decay_grad.then_some(grad_decay))
}
