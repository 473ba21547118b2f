//! Batch normalisation with PyTorch's exact bookkeeping (burn-nn 0.21's `BatchNorm` updates the
//! running variance with the biased batch variance; PyTorch and the official checkpoints use the
//! unbiased one).

use burn::module::{Module, Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

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

    /// Normalises `x` (`[N, C, ...]`).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>, mode: Mode) -> Tensor<B, D> {
        let channels = x.dims()[1];
        let mut shape = [1usize; D];
        shape[1] = channels;
        let (scale, shift) = match mode {
            Mode::Train => {
                let per_channel: Tensor<B, 2> =
                    x.clone().swap_dims(0, 1).reshape([channels as i32, -1]);
                let count = per_channel.dims()[1] as f64;
                let mean = per_channel.clone().mean_dim(1);
                let var = (per_channel - mean.clone()).square().mean_dim(1);
                let mean = mean.reshape([channels]);
                let var = var.reshape([channels]);
                let unbiased = var
                    .clone()
                    .detach()
                    .mul_scalar(count / (count - 1.0).max(1.0));
                let m = self.momentum;
                self.running_mean.update(
                    self.running_mean.value_sync().mul_scalar(1.0 - m)
                        + mean.clone().detach().mul_scalar(m),
                );
                self.running_var.update(
                    self.running_var.value_sync().mul_scalar(1.0 - m) + unbiased.mul_scalar(m),
                );
                self.batches_tracked
                    .update(self.batches_tracked.value_sync().add_scalar(1.0));
                self.affine(mean, var)
            }
            Mode::Eval => self.eval_affine(),
        };
        x * scale.reshape(shape) + shift.reshape(shape)
    }
}
