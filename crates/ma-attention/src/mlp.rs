//! The shared excitation MLP of TA and CA: `sigmoid(W1 relu(W0 avg) + W1 relu(W0 max))`, no bias.

use burn::module::{Initializer, Module, Param};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Two bias-free linear maps `n -> hidden -> n` shared by the average- and max-pooled
/// descriptors (the official code's `sharedMLP`, 1x1 Conv3d/Conv1d layers).
#[derive(Module, Debug)]
pub struct SharedMlp<B: Backend> {
    /// `W0`, shape `[hidden, n]` (official `sharedMLP.0.weight` without its 1-sized dims).
    pub squeeze: Param<Tensor<B, 2>>,
    /// `W1`, shape `[n, hidden]` (official `sharedMLP.2.weight`).
    pub excite: Param<Tensor<B, 2>>,
}

impl<B: Backend> SharedMlp<B> {
    /// PyTorch's default Conv initialisation, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    pub fn new(n: usize, hidden: usize, device: &B::Device) -> Self {
        let init = |shape: [usize; 2]| {
            Initializer::KaimingUniform {
                gain: 1.0 / 3.0_f64.sqrt(),
                fan_out_only: false,
            }
            .init_with(shape, Some(shape[1]), Some(shape[0]), device)
        };
        Self {
            squeeze: init([hidden, n]),
            excite: init([n, hidden]),
        }
    }

    /// Attention weights in `(0, 1)` from the pooled descriptors, both `[rows, n]`.
    pub fn weights(&self, avg: Tensor<B, 2>, max: Tensor<B, 2>) -> Tensor<B, 2> {
        let squeeze = self.squeeze.val().transpose();
        let excite = self.excite.val().transpose();
        let branch = |d: Tensor<B, 2>| relu(d.matmul(squeeze.clone())).matmul(excite.clone());
        sigmoid(branch(avg) + branch(max))
    }
}
