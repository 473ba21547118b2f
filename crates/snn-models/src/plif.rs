//! The 5-layer event network of the paper's Table 1 ("following [38]", Fang et al., PLIF,
//! ICCV 2021): `{conv3x3 128 -> BN -> [attention] -> LIF -> max-pool 2} x 5 -> dropout -> FC 512
//! -> LIF -> dropout -> FC (classes x 10) -> LIF -> voting` (mean of each group of 10 outputs).
//!
//! The authors released no code for it; this follows the PLIF paper's structure (as SpikingJelly
//! documents it): bias-free convolutions and linear layers, dropout masks shared over time,
//! attention between BN and the neuron. The neuron defaults to PLIF-like constants in our LIF
//! discretisation (learnable decay starting at 0.5, threshold 1, hard reset to 0 detached,
//! atan surrogate).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::{Distribution, Tensor};
use ma_attention::{AttentionConfig, AttentionKind, MultiDimAttention};
use serde::{Deserialize, Serialize};
use snn_core::{FireTest, FiringStats, Lif, LifConfig, Reset, SnnBackend, Surrogate};

use crate::error::ModelError;
use crate::layers::{attend, event_conv, frame_wise, step_wise};
use crate::norm::BatchNorm;
use crate::state::{attention_slots, batch_norm_slots, NamedSlot, OfficialSlots, Slot};
use crate::Mode;

/// Configuration of the 5-layer PLIF-style network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlifNetConfig {
    /// Input polarity channels (2).
    pub in_channels: usize,
    /// Input height and width (128 for DVS128).
    pub size: usize,
    /// Time steps `T`.
    pub steps: usize,
    /// Channels of every conv block (128).
    pub channels: usize,
    /// Number of conv blocks (5).
    pub blocks: usize,
    /// Hidden FC width (512).
    pub fc_hidden: usize,
    /// Classes (11 Gesture, 20 Gait).
    pub classes: usize,
    /// Output neurons per class, averaged by the voting layer (10).
    pub voters: usize,
    /// Dropout probability before each FC layer (0.5).
    pub dropout: f64,
    /// Attention variant on the conv blocks (FC layers get TA when it contains T).
    pub attention: AttentionKind,
    /// Temporal reduction.
    pub t_ratio: usize,
    /// Channel reduction.
    pub c_ratio: usize,
    /// SA kernel.
    pub sa_kernel: usize,
    /// The neuron.
    pub neuron: LifConfig,
}

impl PlifNetConfig {
    /// The paper's 5-layer Gesture network (`dt x T = 300 x 20` in Table 1).
    pub fn gesture(steps: usize, attention: AttentionKind) -> Self {
        Self {
            in_channels: 2,
            size: 128,
            steps,
            channels: 128,
            blocks: 5,
            fc_hidden: 512,
            classes: 11,
            voters: 10,
            dropout: 0.5,
            attention,
            t_ratio: 5,
            c_ratio: 8,
            sa_kernel: 3,
            neuron: LifConfig::ma_snn_event()
                .with_decay(0.5)
                .with_learnable_decay(true)
                .with_threshold(1.0)
                .with_fire_test(FireTest::GreaterOrEqual)
                .with_reset(Reset::Hard { value: 0.0 })
                .with_detach_reset(true)
                .with_surrogate(Surrogate::Atan { alpha: 2.0 }),
        }
    }

    /// Builds the network.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<PlifNet<B>, ModelError> {
        let pooled = self.size >> self.blocks;
        if self.blocks == 0 || pooled == 0 || pooled << self.blocks != self.size {
            return Err(ModelError::Config {
                model: "plif net",
                field: "size",
                reason: format!(
                    "input size {} is not divisible by 2^{} (and must be at least that)",
                    self.size, self.blocks
                ),
            });
        }
        let mut convs = Vec::new();
        let mut c_in = self.in_channels;
        for _ in 0..self.blocks {
            convs.push(PlifConvBlock {
                conv: Conv2dConfig::new([c_in, self.channels], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
                bn: BatchNorm::new(self.channels, 1.0, device),
                attention: (self.attention != AttentionKind::None)
                    .then(|| {
                        AttentionConfig::official(self.attention, self.steps, self.channels)
                            .with_t_ratio(self.t_ratio)
                            .with_c_ratio(self.c_ratio)
                            .with_sa_kernel(self.sa_kernel)
                            .init(device)
                    })
                    .transpose()?,
                lif: self.neuron.init(device)?,
            });
            c_in = self.channels;
        }
        let fc_attention = |features: usize| {
            self.attention
                .temporal()
                .then(|| {
                    AttentionConfig::official(AttentionKind::Ta, self.steps, features)
                        .with_t_ratio(self.t_ratio)
                        .init(device)
                })
                .transpose()
        };
        let flat = self.channels * pooled * pooled;
        let outputs = self.classes * self.voters;
        Ok(PlifNet {
            convs,
            fc1: LinearConfig::new(flat, self.fc_hidden)
                .with_bias(false)
                .init(device),
            fc1_attention: fc_attention(self.fc_hidden)?,
            fc1_lif: self.neuron.init(device)?,
            fc2: LinearConfig::new(self.fc_hidden, outputs)
                .with_bias(false)
                .init(device),
            fc2_attention: fc_attention(outputs)?,
            fc2_lif: self.neuron.init(device)?,
            config: self.clone(),
        })
    }
}

/// `conv -> BN -> [attention] -> LIF -> max-pool 2` on `[T, B, C, H, W]`.
#[derive(Module, Debug)]
pub struct PlifConvBlock<B: Backend> {
    /// 3x3 convolution, no bias.
    pub conv: Conv2d<B>,
    /// BatchNorm over `B*T*H*W`.
    pub bn: BatchNorm<B>,
    /// Official-form attention before the neuron.
    pub attention: Option<MultiDimAttention<B>>,
    /// The neuron.
    pub lif: Lif<B>,
}

/// The 5-layer network.
#[derive(Module, Debug)]
pub struct PlifNet<B: Backend> {
    /// Conv blocks.
    pub convs: Vec<PlifConvBlock<B>>,
    /// Hidden FC layer (no bias).
    pub fc1: Linear<B>,
    /// TA on the hidden FC layer.
    pub fc1_attention: Option<MultiDimAttention<B>>,
    /// Hidden neurons.
    pub fc1_lif: Lif<B>,
    /// Output FC layer (no bias), `classes x voters` outputs.
    pub fc2: Linear<B>,
    /// TA on the output layer.
    pub fc2_attention: Option<MultiDimAttention<B>>,
    /// Output neurons.
    pub fc2_lif: Lif<B>,
    #[module(skip)]
    config: PlifNetConfig,
}

impl<B: Backend> PlifNet<B> {
    /// The configuration the network was built from.
    pub fn config(&self) -> &PlifNetConfig {
        &self.config
    }
}

impl<B: SnnBackend> PlifNet<B> {
    /// Dropout whose mask is drawn once per sample and feature and shared by all time steps.
    fn dropout(&self, x: Tensor<B, 3>, mode: Mode) -> Tensor<B, 3> {
        let p = self.config.dropout;
        if mode == Mode::Eval || p <= 0.0 {
            return x;
        }
        let [_, b, f] = x.dims();
        let keep = Tensor::<B, 3>::random([1, b, f], Distribution::Bernoulli(1.0 - p), &x.device())
            .cast(x.dtype())
            .div_scalar(1.0 - p);
        x * keep
    }

    /// Class rates `[B, classes]` (mean over T of the voted output spikes) and per-layer stats.
    pub fn forward(&self, frames: Tensor<B, 5>, mode: Mode) -> crate::EventOutput<B> {
        let [steps, batch, ..] = frames.dims();
        let mut layers = Vec::new();
        let mut x = frames;
        for (i, block) in self.convs.iter().enumerate() {
            let y = frame_wise(x, |y| block.bn.forward(event_conv(&block.conv, y), mode));
            let (spikes, stats) = block.lif.forward_with_stats(attend(&block.attention, y));
            layers.push((format!("conv{i}"), stats));
            x = frame_wise(spikes, |s| {
                max_pool2d(s, [2, 2], [2, 2], [0, 0], [1, 1], false)
            });
        }
        let x: Tensor<B, 3> = x.reshape([steps as i32, batch as i32, -1]);
        let mut fc = |x: Tensor<B, 3>,
                      linear: &Linear<B>,
                      att: &Option<MultiDimAttention<B>>,
                      lif: &Lif<B>,
                      name: &str| {
            let y = step_wise(self.dropout(x, mode), |y| linear.forward(y));
            let (spikes, stats): (Tensor<B, 3>, FiringStats) =
                lif.forward_with_stats(attend(att, y));
            layers.push((name.to_owned(), stats));
            spikes
        };
        let x = fc(x, &self.fc1, &self.fc1_attention, &self.fc1_lif, "fc0");
        let x = fc(x, &self.fc2, &self.fc2_attention, &self.fc2_lif, "fc1");
        let (classes, voters) = (self.config.classes, self.config.voters);
        let rates = x
            .reshape([steps, batch, classes, voters])
            .mean_dim(3)
            .mean_dim(0)
            .reshape([batch, classes]);
        crate::EventOutput { rates, layers }
    }
}

/// There is no official code for this network; the names mirror its structure.
impl<B: Backend> OfficialSlots<B> for PlifNet<B> {
    fn official_slots<'a>(&'a mut self, prefix: &str, out: &mut Vec<NamedSlot<'a, B>>) {
        for (i, block) in self.convs.iter_mut().enumerate() {
            let p = format!("{prefix}conv{i}.");
            let shape = block.conv.weight.dims().to_vec();
            out.push(NamedSlot::new(
                format!("{p}conv.weight"),
                shape,
                Slot::Param4(&mut block.conv.weight),
            ));
            batch_norm_slots(&mut block.bn, &format!("{p}bn."), out);
            if let Some(att) = block.attention.as_mut() {
                attention_slots(att, &format!("{p}attention."), false, out);
            }
            if let Some(logit) = block.lif.decay_logit.as_mut() {
                out.push(NamedSlot::new(
                    format!("{p}lif.decay_logit"),
                    vec![1],
                    Slot::Param1(logit),
                ));
            }
        }
        let fcs = [
            (
                "fc0",
                &mut self.fc1,
                &mut self.fc1_attention,
                &mut self.fc1_lif,
            ),
            (
                "fc1",
                &mut self.fc2,
                &mut self.fc2_attention,
                &mut self.fc2_lif,
            ),
        ];
        for (name, linear, att, lif) in fcs {
            let [f_in, f_out] = linear.weight.dims();
            out.push(NamedSlot::new(
                format!("{prefix}{name}.linear.weight"),
                vec![f_out, f_in],
                Slot::Param2 {
                    param: &mut linear.weight,
                    transposed: true,
                },
            ));
            if let Some(att) = att.as_mut() {
                attention_slots(att, &format!("{prefix}{name}.attention."), true, out);
            }
            if let Some(logit) = lif.decay_logit.as_mut() {
                out.push(NamedSlot::new(
                    format!("{prefix}{name}.lif.decay_logit"),
                    vec![1],
                    Slot::Param1(logit),
                ));
            }
        }
    }
}
