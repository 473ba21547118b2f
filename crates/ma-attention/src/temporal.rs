//! Temporal attention (TA): one weight per time step and sample, from the input of all steps.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::{attention_scale, mean_max, PoolBackend, ScaleBackend};

use crate::mlp::SharedMlp;

/// Temporal attention over `[T, B, ...]` inputs of any rank >= 3: each step's input is
/// average- and max-pooled over all its features (C, H, W for conv layers; F for FC layers,
/// the official `fc` variant), and the two `T`-vectors go through the shared MLP.
#[derive(Module, Debug)]
pub struct TemporalAttention<B: Backend> {
    /// The `T -> floor(T/r_t) -> T` MLP.
    pub mlp: SharedMlp<B>,
}

impl<B: Backend> TemporalAttention<B> {
    /// A block for sequences of `steps` time steps.
    pub fn new(steps: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            mlp: SharedMlp::new(steps, hidden, device),
        }
    }
}

impl<B: PoolBackend> TemporalAttention<B> {
    /// The weights `g_t`, shape `[T, B]`.
    pub fn weights<const D: usize>(&self, x: &Tensor<B, D>) -> Tensor<B, 2> {
        let [steps, batch] = [x.dims()[0], x.dims()[1]];
        // Pool each (t, b) slice in one fused pass, then lay the descriptors out as [B, T] rows
        // for the MLP.
        let per_step: Tensor<B, 3> = x.clone().reshape([(steps * batch) as i32, -1, 1]);
        let (avg, max) = mean_max(per_step);
        self.weights_from_squeeze(avg.reshape([steps, batch]), max.reshape([steps, batch]))
    }

    /// The weights `g_t` `[T, B]` from each step's mean and maximum, both `[T, B]`.
    pub fn weights_from_squeeze(&self, avg: Tensor<B, 2>, max: Tensor<B, 2>) -> Tensor<B, 2> {
        // The MLP takes [B, T] rows.
        self.mlp
            .weights(avg.transpose(), max.transpose())
            .transpose()
    }
}

impl<B: PoolBackend + ScaleBackend> TemporalAttention<B> {
    /// `x` rescaled by its temporal weights.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.forward_with_weights(x).0
    }

    /// `x` rescaled by its temporal weights, and the weights `[T, B]`.
    pub fn forward_with_weights<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, Tensor<B, 2>) {
        let weights = self.weights(&x);
        let dims = x.dims();
        let features = dims[2..].iter().product();
        let x = x.reshape([dims[0], dims[1], features, 1]);
        let out = attention_scale(x, Some(weights.clone()), None, None, false);
        (out.reshape(dims), weights)
    }
}
