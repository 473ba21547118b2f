//! Batch normalisation with PyTorch's exact bookkeeping (burn-nn 0.21's `BatchNorm` updates the
//! running variance with the biased batch variance; PyTorch and the official checkpoints use the
//! unbiased one).

use burn::module::{Module, Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use snn_core::{
    batch_norm_pool_train, batch_norm_train, block_avg_pool2d, channel_affine, BatchNormBackend,
    PoolBackend,
};

use crate::Mode;

/// Per-channel batch normalisation of `[N, C, ...]` over every axis but the channel axis:
/// the event models' BN2d/BN1d over `B*T` (`*H*W`) and the Res-SNN's tdBN.
///
/// Training: normalise with the batch mean and biased variance; update the running mean and
/// the running variance (unbiased) with `momentum`. Evaluation: use the running statistics.
#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    /// Scale `gamma`, `[C]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift `beta`, `[C]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean, `[C]`.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (unbiased) variance, `[C]`.
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Number of training batches seen, `[1]` (PyTorch's `num_batches_tracked`).
    pub batches_tracked: RunningState<Tensor<B, 1>>,
    #[module(skip)]
    momentum: f64,
    #[module(skip)]
    epsilon: f64,
}

impl<B: Backend> BatchNorm<B> {
    /// `gamma = gamma_init`, `beta = 0`, running mean 0, variance 1; momentum 0.1, eps 1e-5.
    pub fn new(channels: usize, gamma_init: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::full([channels], gamma_init, device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            batches_tracked: RunningState::new(Tensor::zeros([1], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// The evaluation-mode normalisation as a per-channel affine map `y = x * scale + shift`
    /// (running statistics), which is what [`forward`](Self::forward) applies in
    /// [`Mode::Eval`] and what exporters fold into the preceding layer.
    pub fn eval_affine(&self) -> (Tensor<B, 1>, Tensor<B, 1>) {
        self.affine(
            self.running_mean.value_sync(),
            self.running_var.value_sync(),
        )
    }

    fn affine(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let scale = self.weight.val() / var.add_scalar(self.epsilon).sqrt();
        let shift = self.bias.val() - mean * scale.clone();
        (scale, shift)
    }
}

impl<B: BatchNormBackend> BatchNorm<B> {
    /// Normalises `x` (`[N, C, ...]`) with one fused operation ([`snn_core::norm`]): batch
    /// statistics in [`Mode::Train`] (and the running statistics updated), running statistics
    /// in [`Mode::Eval`].
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>, mode: Mode) -> Tensor<B, D> {
        let dims = x.dims();
        let channels = dims[1];
        let spatial: usize = dims[2..].iter().product();
        let flat: Tensor<B, 3> = x.reshape([dims[0], channels, spatial]);
        let y = match mode {
            Mode::Train => {
                let out = batch_norm_train(flat, self.weight.val(), self.bias.val(), self.epsilon);
                self.update_running(out.mean, out.var, dims[0] * spatial);
                out.output
            }
            Mode::Eval => {
                let (scale, shift) = self.eval_affine();
                channel_affine(flat, scale, shift)
            }
        };
        y.reshape(dims)
    }

    /// Updates the running statistics with one batch's mean and biased variance over
    /// `count` values per channel (PyTorch's rule: the running variance takes the unbiased one).
    fn update_running(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>, count: usize) {
        let count = count as f64;
        let unbiased = var.mul_scalar(count / (count - 1.0).max(1.0));
        let m = self.momentum;
        self.running_mean
            .update(self.running_mean.value_sync().mul_scalar(1.0 - m) + mean.mul_scalar(m));
        self.running_var
            .update(self.running_var.value_sync().mul_scalar(1.0 - m) + unbiased.mul_scalar(m));
        self.batches_tracked
            .update(self.batches_tracked.value_sync().add_scalar(1.0));
    }
}

impl<B: BatchNormBackend + PoolBackend> BatchNorm<B> {
    /// Normalises `x` (`[N, C, H, W]`) and average-pools it by `k` (stride `k`): the same as
    /// [`forward`](Self::forward) followed by [`block_avg_pool2d`], with the statistics of the
    /// full-resolution `x`. In [`Mode::Train`] it is one fused operation
    /// ([`batch_norm_pool_train`]) that never writes the full-resolution normalised tensor.
    pub fn forward_pooled(&self, x: Tensor<B, 4>, k: usize, mode: Mode) -> Tensor<B, 4> {
        match mode {
            Mode::Train => {
                let [n, _, h, w] = x.dims();
                let out =
                    batch_norm_pool_train(x, self.weight.val(), self.bias.val(), self.epsilon, k);
                self.update_running(out.mean, out.var, n * h * w);
                out.output
            }
            Mode::Eval => block_avg_pool2d(self.forward(x, mode), k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    /// f32: the fused and composed paths sum in different orders.
    fn close(a: Tensor<Flex, 4>, b: Tensor<Flex, 4>, what: &str) {
        let diff = (a - b).abs().max().into_scalar();
        assert!(diff <= 1e-5, "{what}: differs by {diff}");
    }

    #[test]
    fn pooled_forward_is_normalise_then_pool_in_both_modes() {
        let device = Default::default();
        let x = Tensor::<Flex, 4>::random([3, 4, 6, 8], Distribution::Normal(0.5, 2.0), &device);
        let fused = BatchNorm::<Flex>::new(4, 1.0, &device);
        let composed = BatchNorm::<Flex>::new(4, 1.0, &device);
        for mode in [Mode::Train, Mode::Train, Mode::Eval] {
            let a = fused.forward_pooled(x.clone(), 2, mode);
            let b = block_avg_pool2d(composed.forward(x.clone(), mode), 2);
            assert_eq!(a.dims(), [3, 4, 3, 4]);
            close(a, b, &format!("{mode:?} output"));
        }
        // The running statistics saw the same two batches.
        for (a, b) in [
            (&fused.running_mean, &composed.running_mean),
            (&fused.running_var, &composed.running_var),
        ] {
            let diff = (a.value_sync() - b.value_sync()).abs().max().into_scalar();
            assert!(diff <= 1e-5, "running statistics differ by {diff}");
        }
        assert_eq!(fused.batches_tracked.value_sync().into_scalar(), 2.0);
    }
}
