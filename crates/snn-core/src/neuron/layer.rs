//! [`Lif`]: the configurable LIF neuron layer, with multi-step (whole sequence) and single-step
//! (streaming) execution.

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{ConfigError, ShapeError};
use crate::neuron::config::LifConfig;
use crate::neuron::fused::{self, LifBackend, MultiStep};
use crate::neuron::reference;
use crate::neuron::stats::FiringStats;

/// A layer of LIF neurons. Parameter-free unless the decay is learnable.
///
/// Inputs are time-first, `[T, B, ...]`: the same layout everywhere in this workspace.
///
/// ```
/// use burn::backend::{Autodiff, Flex};
/// use burn::tensor::Tensor;
/// use snn_core::LifConfig;
///
/// type B = Autodiff<Flex>;
/// let device = Default::default();
/// let lif = LifConfig::ma_snn_event().init::<B>(&device).unwrap();
/// // T = 4 steps, batch 2, 3 neurons.
/// let x = Tensor::<B, 3>::full([4, 2, 3], 0.2, &device).require_grad();
/// let spikes = lif.forward(x.clone());
/// // u = 0.2, 0.26, 0.278, 0.2834: the fourth step is still below 0.3.
/// assert_eq!(spikes.clone().sum().into_scalar(), 0.0);
/// let grads = spikes.sum().backward();
/// assert!(x.grad(&grads).is_some());
/// ```
#[derive(Module, Debug)]
pub struct Lif<B: Backend> {
    /// Logit `w` of a learnable decay, `decay = sigmoid(w)`; `None` when the decay is fixed.
    pub decay_logit: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    config: LifConfig,
}

impl LifConfig {
    /// Builds the layer after checking the configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Lif<B>, ConfigError> {
        self.validate()?;
        let decay_logit = self.learnable_decay.then(|| {
            let logit = (self.decay / (1.0 - self.decay)).ln();
            Param::from_tensor(Tensor::from_data(TensorData::new(vec![logit], [1]), device))
        });
        Ok(Lif {
            decay_logit,
            config: *self,
        })
    }
}

/// The state carried between calls of [`Lif::step`]: `h[t-1]`, the potential before the next
/// input is added.
#[derive(Debug, Clone)]
pub struct LifState<B: Backend, const D: usize> {
    /// The stored potential, shaped like one step's input.
    pub potential: Tensor<B, D>,
}

impl<B: Backend, const D: usize> LifState<B, D> {
    /// The resting state for inputs shaped like `x`.
    pub fn zeros_like(x: &Tensor<B, D>) -> Self {
        Self {
            potential: x.zeros_like(),
        }
    }
}

impl<B: Backend> Lif<B> {
    /// The configuration the layer was built from. With a learnable decay, `decay` is the
    /// initial value; [`Lif::decay`] gives the current one.
    pub fn config(&self) -> &LifConfig {
        &self.config
    }

    /// The current decay as a `[1]` tensor on `like`'s device and dtype (differentiable when
    /// learnable).
    pub fn decay<const D: usize>(&self, like: &Tensor<B, D>) -> Tensor<B, 1> {
        match &self.decay_logit {
            Some(logit) => {
                let decay = sigmoid(logit.val());
                if decay.dtype() == like.dtype() {
                    decay
                } else {
                    decay.cast(like.dtype())
                }
            }
            None => Tensor::full([1], self.config.decay, (&like.device(), like.dtype())),
        }
    }

    /// Runs a whole sequence `[T, ...]` (T >= 1) through the reference implementation: the
    /// same dynamics from per-step tensor ops, differentiated by burn's autodiff. Returns
    /// `(spikes, membrane)`. Use [`Lif::forward`] for speed; this exists to check it.
    pub fn forward_reference<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, Tensor<B, D>) {
        assert_sequence(&x);
        let decay = self.decay(&x);
        reference::multi_step(x, decay, &self.config.rule)
    }

    /// Advances one time step for streaming inference (or step-by-step training). `x` is one
    /// step's input (e.g. `[B, ...]`), `state` the previous state; returns the spikes and the
    /// new state. Differentiable through burn's autodiff.
    pub fn step<const D: usize>(
        &self,
        x: Tensor<B, D>,
        state: LifState<B, D>,
    ) -> Result<(Tensor<B, D>, LifState<B, D>), ShapeError> {
        if state.potential.dims() != x.dims() {
            return Err(ShapeError::StateMismatch {
                state: state.potential.dims().to_vec(),
                input: x.dims().to_vec(),
            });
        }
        let decay: Tensor<B, D> = self.decay(&x).reshape([1; D]);
        let (spikes, _membrane, potential) =
            reference::step(x, state.potential, decay, &self.config.rule);
        Ok((spikes, LifState { potential }))
    }
}

impl<B: LifBackend> Lif<B> {
    /// Runs a whole sequence `x` (`[T, ...]`, T >= 1) as one fused operation and returns the
    /// spikes.
    ///
    /// # Panics
    /// If `T = 0`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.forward_spikes(x).0
    }

    /// Spikes and the (detached) spike count, through the backend's spikes-only pass.
    fn forward_spikes<const D: usize>(&self, x: Tensor<B, D>) -> (Tensor<B, D>, Tensor<B, 1>) {
        assert_sequence(&x);
        let decay = self.decay(&x);
        fused::multi_step_spikes(x, decay, &self.config.rule)
    }

    /// Like [`Lif::forward`], also returning the (differentiable) membrane potential and the
    /// spike count. Use [`Lif::forward_with_stats`] for firing statistics.
    pub fn forward_full<const D: usize>(&self, x: Tensor<B, D>) -> MultiStep<B, D> {
        assert_sequence(&x);
        let decay = self.decay(&x);
        fused::multi_step(x, decay, &self.config.rule)
    }

    /// Runs the sequence and returns the spikes with this call's [`FiringStats`]. The count is
    /// made inside the fused kernel, so collecting it costs nothing measurable; reading it
    /// waits for the device.
    pub fn forward_with_stats<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, FiringStats) {
        let dims = x.dims();
        let (spikes, count) = self.forward_spikes(x);
        let stats = FiringStats::from_count(scalar_f64(count), &dims);
        (spikes, stats)
    }
}

/// Reads a one-element tensor as f64, whatever its dtype.
fn scalar_f64<B: Backend>(tensor: Tensor<B, 1>) -> f64 {
    tensor
        .into_data()
        .iter::<f64>()
        .next()
        .expect("a one-element tensor")
}

fn assert_sequence<B: Backend, const D: usize>(x: &Tensor<B, D>) {
    let dims = x.dims();
    if dims[0] == 0 {
        panic!("{}", ShapeError::BadSequence(dims.to_vec()));
    }
}
