//! Channel attention (CA): one weight per channel and sample.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::{mean_max, PoolBackend};

use crate::mlp::SharedMlp;

/// Channel attention for conv-layer tensors.
#[derive(Module, Debug)]
pub struct ChannelAttention<B: Backend> {
    /// The `C -> floor(C/r_c) -> C` MLP.
    pub mlp: SharedMlp<B>,
}

impl<B: Backend> ChannelAttention<B> {
    /// A block for `channels` channels.
    pub fn new(channels: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            mlp: SharedMlp::new(channels, hidden, device),
        }
    }
}

impl<B: PoolBackend> ChannelAttention<B> {
    /// Official form: weights `[B, C]` of a whole sequence `[T, B, C, H, W]`, pooled per
    /// channel over `(T, H, W)` jointly (row-major, so max ties go to the earliest step).
    pub fn sequence_weights(&self, x: &Tensor<B, 5>) -> Tensor<B, 2> {
        let [steps, batch, channels, height, width] = x.dims();
        let (avg, max) =
            Self::step_squeeze(&x.clone().reshape([steps, batch, channels, height * width]));
        self.weights_from_step_squeeze(avg, max)
    }

    /// Each step's mean and maximum of each channel over its pixels: `x` `[T, B, C, S]` gives
    /// two `[T, B, C]` tensors (one fused pass, no transposed copy of the sequence).
    pub fn step_squeeze(x: &Tensor<B, 4>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let [steps, batch, channels, pixels] = x.dims();
        let (avg, max) = mean_max(x.clone().reshape([steps * batch * channels, pixels, 1]));
        (
            avg.reshape([steps, batch, channels]),
            max.reshape([steps, batch, channels]),
        )
    }

    /// Official-form weights `[B, C]` from [`ChannelAttention::step_squeeze`]'s per-step
    /// descriptors, pooled over `T` (max ties go to the earliest step, and within it to the
    /// first pixel, row-major).
    pub fn weights_from_step_squeeze(&self, avg: Tensor<B, 3>, max: Tensor<B, 3>) -> Tensor<B, 2> {
        let [_, batch, channels] = avg.dims();
        self.weights_from_squeeze(
            avg.mean_dim(0).reshape([batch, channels]),
            max.max_dim(0).reshape([batch, channels]),
        )
    }

    /// Weights `[B, C]` from each channel's mean and maximum, both `[B, C]`.
    pub fn weights_from_squeeze(&self, avg: Tensor<B, 2>, max: Tensor<B, 2>) -> Tensor<B, 2> {
        self.mlp.weights(avg, max)
    }

    /// Paper form: weights `[B, C]` of one step's membrane `[B, C, H, W]`, pooled over `(H, W)`.
    pub fn step_weights(&self, u: &Tensor<B, 4>) -> Tensor<B, 2> {
        let [batch, channels, height, width] = u.dims();
        self.pooled(u.clone().reshape([batch, channels, height * width]))
    }

    fn pooled(&self, per_channel: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, channels, _] = per_channel.dims();
        let avg = per_channel.clone().mean_dim(2).reshape([batch, channels]);
        let max = per_channel.max_dim(2).reshape([batch, channels]);
        self.mlp.weights(avg, max)
    }
}
