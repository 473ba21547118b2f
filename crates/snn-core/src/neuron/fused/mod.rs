//! The fused multi-step neuron: the whole `T`-step forward pass and its BPTT backward pass as
//! one autodiff operation, so a layer's neuron costs a constant number of graph nodes.
//!
//! It is a burn backend extension, [`LifBackend`]:
//! - the default methods run the recurrence with the backend's own tensor ops, one time step
//!   at a time but with no autodiff bookkeeping ([`generic`]);
//! - `Flex` (the CPU backend) runs one pass over the data in each direction, in parallel over
//!   neurons ([`cpu`]);
//! - burn's CubeCL backends (`Cuda`, with the `cuda` feature) run one GPU kernel launch in each
//!   direction, one thread per neuron (`cube`);
//! - `Autodiff<B>` wraps the inner backend's forward and registers one backward step that
//!   calls the inner backend's [`LifBackend::lif_backward`] ([`autodiff`]).
//!
//! Users call [`multi_step`] (or [`Lif::forward`](crate::Lif::forward)).

pub mod autodiff;
pub mod cpu;
#[cfg(feature = "cubecl")]
mod cube;
pub mod generic;

use crate::tensor::{unwrap, wrap};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::Tensor;

use crate::neuron::config::FiringRule;

/// Outputs of the fused forward pass; tensors have the input's shape `[T, ...]` unless stated.
#[derive(Debug)]
pub struct LifForward<B: Backend> {
    /// Spikes `s[t]` as 0/1 floats.
    pub spikes: FloatTensor<B>,
    /// Membrane potential `u[t] = h[t-1] + x[t]`, before the spike test and reset.
    pub membrane: FloatTensor<B>,
    /// Total number of spikes, shape `[1]`, never tracked by autodiff (f64 on the CPU kernel,
    /// where it is exact; the spikes' dtype on the generic path).
    pub spike_count: FloatTensor<B>,
}

/// Outputs of the spikes-only forward pass ([`LifBackend::lif_forward_spikes`]).
#[derive(Debug)]
pub struct LifSpikes<B: Backend> {
    /// Spikes `s[t]` as 0/1 floats, the input's shape.
    pub spikes: FloatTensor<B>,
    /// Total number of spikes, shape `[1]`, as in [`LifForward::spike_count`].
    pub spike_count: FloatTensor<B>,
}

impl<B: Backend> From<LifForward<B>> for LifSpikes<B> {
    /// The spikes and count of a full forward pass, its membrane dropped.
    fn from(out: LifForward<B>) -> Self {
        Self {
            spikes: out.spikes,
            spike_count: out.spike_count,
        }
    }
}

/// Gradients of the fused backward pass.
#[derive(Debug)]
pub struct LifGrads<B: Backend> {
    /// Gradient with respect to the input `x`, shape `[T, ...]`.
    pub input: FloatTensor<B>,
    /// Gradient with respect to the decay, shape `[1]`, when it was asked for.
    pub decay: Option<FloatTensor<B>>,
}

/// A backend that can run the LIF recurrence as one fused operation.
///
/// Implemented for `Flex` (fused CPU kernel), `Autodiff<B>` for any implementing `B` (one
/// graph node per output), and, with the `cuda` feature, burn's CubeCL backends such as
/// `Cuda` (fused CubeCL kernel).
pub trait LifBackend: Backend {
    /// Runs all time steps of `input` (`[T, ...]`, time first) from a zero state.
    ///
    /// `decay` has shape `[1]`.
    fn lif_forward(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifForward<Self> {
        generic::forward::<Self>(input, decay, rule)
    }

    /// [`lif_forward`](Self::lif_forward) when only the spikes are wanted. Under autodiff the
    /// membrane is still kept for the backward pass (the default runs `lif_forward`); a
    /// backend without autodiff (inference) can skip writing it, as `Flex` does.
    fn lif_forward_spikes(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifSpikes<Self> {
        Self::lif_forward(input, decay, rule).into()
    }

    /// Backpropagates through all time steps.
    ///
    /// `membrane` is the forward pass's membrane output (spikes are recomputed from it);
    /// `grad_spikes` and `grad_membrane` are the upstream gradients of the two outputs (at
    /// least one is given). The decay gradient is computed only when `want_decay_grad`.
    fn lif_backward(
        membrane: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        grad_spikes: Option<FloatTensor<Self>>,
        grad_membrane: Option<FloatTensor<Self>>,
        rule: &FiringRule,
        want_decay_grad: bool,
    ) -> LifGrads<Self> {
        generic::backward::<Self>(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        )
    }
}

impl LifBackend for burn_flex::Flex {
    fn lif_forward(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifForward<Self> {
        cpu::flex_forward(input, decay, rule)
    }

    fn lif_forward_spikes(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifSpikes<Self> {
        cpu::flex_forward_spikes(input, decay, rule)
    }

    fn lif_backward(
        membrane: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        grad_spikes: Option<FloatTensor<Self>>,
        grad_membrane: Option<FloatTensor<Self>>,
        rule: &FiringRule,
        want_decay_grad: bool,
    ) -> LifGrads<Self> {
        cpu::flex_backward(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        )
    }
}

/// burn's CubeCL backends (`Cuda` is `CubeBackend<CudaRuntime, ..>`) run the fused CubeCL
/// kernels: one launch per direction, one thread per neuron. The spike count and the decay
/// gradient (summed from per-neuron partial sums) use the backend's own sum.
#[cfg(feature = "cubecl")]
impl<R, F, I, BT> LifBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn lif_forward(
        input: FloatTensor<Self>,
        decay: FloatTensor<Self>,
        rule: &FiringRule,
    ) -> LifForward<Self> {
        use burn::tensor::ops::FloatTensorOps;
        let (spikes, membrane) = cube::forward(input, decay, rule);
        let spike_count = Self::float_sum(spikes.clone());
        LifForward {
            spikes,
            membrane,
            spike_count,
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
        use burn::tensor::ops::FloatTensorOps;
        use burn::tensor::TensorMetadata;
        let decay_dtype = decay.dtype();
        let (input, per_neuron) = cube::backward(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        );
        let decay = per_neuron.map(|g| {
            let total = Self::float_sum(g);
            if total.dtype() == decay_dtype {
                total
            } else {
                burn_cubecl::kernel::cast(total, decay_dtype)
            }
        });
        LifGrads { input, decay }
    }
}

/// Output of [`multi_step`].
#[derive(Debug, Clone)]
pub struct MultiStep<B: Backend, const D: usize> {
    /// Spikes `[T, ...]`, differentiable (surrogate gradient).
    pub spikes: Tensor<B, D>,
    /// Membrane potential `[T, ...]` before the spike test, differentiable.
    pub membrane: Tensor<B, D>,
    /// Total spike count, shape `[1]`, detached.
    pub spike_count: Tensor<B, 1>,
}

/// Runs a LIF layer over a whole sequence `x` (`[T, ...]`) as one fused operation.
///
/// `decay` has shape `[1]` and may require a gradient (learnable decay). Spikes and membrane
/// are both differentiable; backpropagating from both runs the BPTT pass once per output
/// (the two contributions add up, by linearity).
pub fn multi_step<B: LifBackend, const D: usize>(
    x: Tensor<B, D>,
    decay: Tensor<B, 1>,
    rule: &FiringRule,
) -> MultiStep<B, D> {
    let out = B::lif_forward(unwrap(x), unwrap(decay), rule);
    MultiStep {
        spikes: wrap(out.spikes),
        membrane: wrap(out.membrane),
        spike_count: wrap(out.spike_count),
    }
}

/// The spikes `[T, ...]` and the spike count of a LIF layer over `x`, as [`multi_step`] without
/// the membrane output (which a backend without autodiff then never writes).
pub fn multi_step_spikes<B: LifBackend, const D: usize>(
    x: Tensor<B, D>,
    decay: Tensor<B, 1>,
    rule: &FiringRule,
) -> (Tensor<B, D>, Tensor<B, 1>) {
    let out = B::lif_forward_spikes(unwrap(x), unwrap(decay), rule);
    (wrap(out.spikes), wrap(out.spike_count))
}

/// Compile-time proof that training on CUDA reaches the fused op: `cargo check --features cuda`
/// fails if `Autodiff<Cuda>` stops implementing [`LifBackend`].
#[cfg(feature = "cuda")]
const _: fn() = || {
    fn assert_lif_backend<B: LifBackend>() {}
    assert_lif_backend::<burn::backend::Autodiff<burn::backend::Cuda>>();
    assert_lif_backend::<burn::backend::Cuda>();
};
