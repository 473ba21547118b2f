//! Spatial attention (SA): one weight per pixel and sample.

use burn::module::{Initializer, Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use snn_core::{mean_max, PoolBackend};

/// Spatial attention: the mean and max maps over a set of feature slices, concatenated
/// `[mean, max]`, through a bias-free `k x k` convolution `2 -> 1` ("same" padding) and a
/// sigmoid.
#[derive(Module, Debug)]
pub struct SpatialAttention<B: Backend> {
    /// Convolution weight `[1, 2, k, k]`; input channel 0 is the mean map (official order).
    pub weight: Param<Tensor<B, 4>>,
}

impl<B: Backend> SpatialAttention<B> {
    /// A block with a `kernel x kernel` convolution, PyTorch's default initialisation.
    pub fn new(kernel: usize, device: &B::Device) -> Self {
        let weight = Initializer::KaimingUniform {
            gain: 1.0 / 3.0_f64.sqrt(),
            fan_out_only: false,
        }
        .init_with(
            [1, 2, kernel, kernel],
            Some(2 * kernel * kernel),
            Some(kernel * kernel),
            device,
        );
        Self { weight }
    }
}

impl<B: PoolBackend> SpatialAttention<B> {
    /// Official form: maps `[B, H, W]` of a whole sequence `[T, B, C, H, W]`, pooled per pixel
    /// over all `T x C` slices (ordered time-major, so max ties go to the earliest step).
    pub fn sequence_weights(&self, x: &Tensor<B, 5>) -> Tensor<B, 3> {
        let [steps, batch, channels, height, width] = x.dims();
        // Pool over C in one fused pass, then over T: no transposed copy of the sequence. Max
        // ties still go to the earliest step, and within it to the first channel.
        let pixels: Tensor<B, 3> = x.clone().reshape([steps * batch, channels, height * width]);
        let (avg, max) = mean_max(pixels);
        self.weights_from_squeeze(avg, max, [steps, batch, height, width])
    }

    /// Official-form maps `[B, H, W]` from each step's mean and maximum over `C`, both
    /// `[T * B, H * W]`: pooled over `T` (max ties to the earliest step), stacked, convolved.
    pub fn weights_from_squeeze(
        &self,
        avg: Tensor<B, 2>,
        max: Tensor<B, 2>,
        [steps, batch, height, width]: [usize; 4],
    ) -> Tensor<B, 3> {
        let stage = |t: Tensor<B, 2>| t.reshape([steps, batch * height * width]);
        let avg = stage(avg).mean_dim(0).reshape([batch, 1, height, width]);
        let max = stage(max).max_dim(0).reshape([batch, 1, height, width]);
        let maps = Tensor::cat(vec![avg, max], 1);
        self.conv_maps(maps)
    }

    /// Paper form: maps `[B, H, W]` of one step's membrane `[B, C, H, W]`, pooled over `C`.
    pub fn step_weights(&self, u: &Tensor<B, 4>) -> Tensor<B, 3> {
        self.pooled(u.clone())
    }

    fn pooled(&self, slices: Tensor<B, 4>) -> Tensor<B, 3> {
        let maps = Tensor::cat(vec![slices.clone().mean_dim(1), slices.max_dim(1)], 1);
        self.conv_maps(maps)
    }

    /// The conv + sigmoid of the stacked average and max maps `[B, 2, H, W]`.
    fn conv_maps(&self, maps: Tensor<B, 4>) -> Tensor<B, 3> {
        let [batch, _, height, width] = maps.dims();
        let kernel = self.weight.dims()[3];
        let options = ConvOptions::new([1, 1], [kernel / 2, kernel / 2], [1, 1], 1);
        sigmoid(conv2d(maps, self.weight.val(), None, options)).reshape([batch, height, width])
    }
}
