//! Temporal attention (TA): one weight per time step and sample, from the input of all steps.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::{mean_max, PoolBackend};

use crate::mlp::SharedMlp;
use crate::scale::scale;

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
        let avg = avg.reshape([steps, batch]).transpose();
        let max = max.reshape([steps, batch]).transpose();
        self.mlp.weights(avg, max).transpose()
    }

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
        (scale(x, broadcast_leading(weights.clone())), weights)
    }
}

/// `[T, B]` weights reshaped to `[T, B, 1, ...]` to multiply a rank-`D` tensor.
fn broadcast_leading<B: Backend, const D: usize>(weights: Tensor<B, 2>) -> Tensor<B, D> {
    let [steps, batch] = weights.dims();
    let mut shape = [1usize; D];
    shape[0] = steps;
    shape[1] = batch;
    weights.reshape(shape)
}
