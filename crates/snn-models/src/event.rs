//! The official MA-SNN event network (`MA_SNN/DVSGestures/CNN/Networks/Att_SNN.py`): conv blocks
//! `conv3x3 (bias) -> BN -> avg-pool -> [attention] -> LIF`, then FC blocks
//! `linear -> BN -> [TA] -> LIF`, read out as the mean over T of the output spikes.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use ma_attention::{AttentionConfig, AttentionKind, MultiDimAttention};
use serde::{Deserialize, Serialize};
use snn_core::{FiringStats, Lif, LifConfig, SnnBackend};

use crate::error::ModelError;
use crate::layers::{attend, event_conv, event_conv_affine_pool, frame_wise, step_wise};
use crate::norm::BatchNorm;
use crate::state::{attention_slots, batch_norm_slots, NamedSlot, OfficialSlots, Slot};
use crate::Mode;

/// Configuration of the 3-layer event network (and of its narrower test variants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventNetConfig {
    /// Input polarity channels (2).
    pub in_channels: usize,
    /// Input height and width after spatial pooling (32 x 32 for DVS128 at factor 4).
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Time steps `T`.
    pub steps: usize,
    /// Output channels of each conv block (official: 64, 128, 128).
    pub channels: Vec<usize>,
    /// Average-pool factor of each conv block (official: 1, 2, 2).
    pub pools: Vec<usize>,
    /// Width of the hidden FC layer (official: 256).
    pub fc_hidden: usize,
    /// Classes (11 Gesture, 20/21 Gait).
    pub classes: usize,
    /// Attention variant; FC layers get TA only when it contains T.
    pub attention: AttentionKind,
    /// Temporal reduction `r_t`.
    pub t_ratio: usize,
    /// Channel reduction `r_c`.
    pub c_ratio: usize,
    /// SA kernel.
    pub sa_kernel: usize,
    /// The neuron of every layer.
    pub neuron: LifConfig,
}

impl EventNetConfig {
    /// The official DVS128 Gesture network: 2x32x32 input, 64-128-128 conv, FC 8192-256-11,
    /// `r_t = 5`, `r_c = 8`, SA kernel 3, the official event neuron.
    pub fn gesture(steps: usize, attention: AttentionKind) -> Self {
        Self {
            in_channels: 2,
            height: 32,
            width: 32,
            steps,
            channels: vec![64, 128, 128],
            pools: vec![1, 2, 2],
            fc_hidden: 256,
            classes: 11,
            attention,
            t_ratio: 5,
            c_ratio: 8,
            sa_kernel: 3,
            neuron: LifConfig::ma_snn_event(),
        }
    }

    /// A narrow network for tests, examples and smoke runs: 2x8x8 input, conv 4-8 with one 2x2
    /// pool, FC 16-3, `r_t = r_c = 2`; it trains and exports in milliseconds.
    pub fn tiny(steps: usize, attention: AttentionKind) -> Self {
        Self {
            height: 8,
            width: 8,
            channels: vec![4, 8],
            pools: vec![1, 2],
            fc_hidden: 16,
            classes: 3,
            t_ratio: 2,
            c_ratio: 2,
            ..Self::gesture(steps, attention)
        }
    }

    /// The official Gait network as released (`MA_SNN/DVSGait/CNN/Networks/Att_SNN.py`, the same
    /// as the CIFAR10-DVS one): 2x128x128 input, conv 32-64-128-256-512 with avg-pools 2, 2, 2,
    /// 2, 4, FC 2048-256-21. It matches neither of the paper's Gait models (see the reference).
    pub fn gait(steps: usize, attention: AttentionKind) -> Self {
        Self {
            height: 128,
            width: 128,
            channels: vec![32, 64, 128, 256, 512],
            pools: vec![2, 2, 2, 2, 4],
            fc_hidden: 256,
            classes: 21,
            t_ratio: 2,
            ..Self::gesture(steps, attention)
        }
    }

    fn conv_attention(&self, channels: usize) -> AttentionConfig {
        AttentionConfig::official(self.attention, self.steps, channels)
            .with_t_ratio(self.t_ratio)
            .with_c_ratio(self.c_ratio)
            .with_sa_kernel(self.sa_kernel)
    }

    fn fc_attention(&self, features: usize) -> Option<AttentionConfig> {
        self.attention.temporal().then(|| {
            AttentionConfig::official(AttentionKind::Ta, self.steps, features)
                .with_t_ratio(self.t_ratio)
        })
    }

    /// Spatial size after all conv blocks.
    fn final_size(&self) -> (usize, usize) {
        let f: usize = self.pools.iter().product();
        (self.height / f, self.width / f)
    }

    /// Builds the network (PyTorch-default initialisation).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<EventNet<B>, ModelError> {
        if self.channels.len() != self.pools.len() || self.channels.is_empty() {
            return Err(ModelError::Config {
                model: "event net",
                field: "pools",
                reason: format!(
                    "{} conv channel counts but {} pool factors (at least one conv layer)",
                    self.channels.len(),
                    self.pools.len()
                ),
            });
        }
        let f: usize = self.pools.iter().product();
        if f == 0 || !self.height.is_multiple_of(f) || !self.width.is_multiple_of(f) {
            return Err(ModelError::Config {
                model: "event net",
                field: "pools",
                reason: format!(
                    "input {}x{} is not divisible by the total pooling {f}",
                    self.height, self.width
                ),
            });
        }
        let mut convs = Vec::new();
        let mut c_in = self.in_channels;
        for (&c, &pool) in self.channels.iter().zip(&self.pools) {
            convs.push(ConvBlock {
                conv: Conv2dConfig::new([c_in, c], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                bn: BatchNorm::new(c, 1.0, device),
                pool,
                attention: (self.attention != AttentionKind::None)
                    .then(|| self.conv_attention(c).init(device))
                    .transpose()?,
                lif: self.neuron.init(device)?,
            });
            c_in = c;
        }
        let (h, w) = self.final_size();
        let mut fcs = Vec::new();
        let mut f_in = c_in * h * w;
        for f_out in [self.fc_hidden, self.classes] {
            fcs.push(FcBlock {
                linear: LinearConfig::new(f_in, f_out).init(device),
                bn: BatchNorm::new(f_out, 1.0, device),
                attention: self
                    .fc_attention(f_out)
                    .map(|a| a.init(device))
                    .transpose()?,
                lif: self.neuron.init(device)?,
            });
            f_in = f_out;
        }
        Ok(EventNet {
            convs,
            fcs,
            config: self.clone(),
        })
    }
}

/// `conv -> BN -> avg-pool -> [attention] -> LIF` on `[T, B, C, H, W]`.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    /// 3x3 convolution with bias, padding 1.
    pub conv: Conv2d<B>,
    /// BatchNorm over `B*T*H*W`.
    pub bn: BatchNorm<B>,
    /// Average-pool factor (kernel = stride; 1 = none).
    pub pool: usize,
    /// Official-form attention on the pooled sequence.
    pub attention: Option<MultiDimAttention<B>>,
    /// The neuron.
    pub lif: Lif<B>,
}

/// `linear -> BN -> [TA] -> LIF` on `[T, B, F]`.
#[derive(Module, Debug)]
pub struct FcBlock<B: Backend> {
    /// Dense layer with bias.
    pub linear: Linear<B>,
    /// BatchNorm over `B*T`.
    pub bn: BatchNorm<B>,
    /// The fc variant of temporal attention (when the network's variant contains T).
    pub attention: Option<MultiDimAttention<B>>,
    /// The neuron.
    pub lif: Lif<B>,
}

/// The event network.
#[derive(Module, Debug)]
pub struct EventNet<B: Backend> {
    /// Conv blocks (`convAttLIF{i}` in the official code).
    pub convs: Vec<ConvBlock<B>>,
    /// FC blocks (`FC{j}`).
    pub fcs: Vec<FcBlock<B>>,
    #[module(skip)]
    config: EventNetConfig,
}

/// Output of [`EventNet::forward`].
#[derive(Debug, Clone)]
pub struct EventOutput<B: Backend> {
    /// Firing rate of each output neuron, the mean over T of its spikes: `[B, classes]`.
    pub rates: Tensor<B, 2>,
    /// Firing statistics per layer: `conv0..`, `fc0..`.
    pub layers: Vec<(String, FiringStats)>,
}

impl<B: Backend> EventNet<B> {
    /// The configuration the network was built from.
    pub fn config(&self) -> &EventNetConfig {
        &self.config
    }
}

impl<B: SnnBackend> EventNet<B> {
    /// Runs event frames `[T, B, C, H, W]` (counts, time-first).
    pub fn forward(&self, frames: Tensor<B, 5>, mode: Mode) -> EventOutput<B> {
        let [steps, batch, ..] = frames.dims();
        let mut layers = Vec::new();
        let mut x = frames;
        for (i, block) in self.convs.iter().enumerate() {
            let y = frame_wise(x, |y| match mode {
                // Normalisation and pooling in one pass: the full-resolution normalised
                // tensor is never written.
                Mode::Train => {
                    block
                        .bn
                        .forward_pooled(event_conv(&block.conv, y), block.pool, mode)
                }
                // Normalisation with running statistics is a per-channel affine map, which
                // commutes with average pooling: one fused pass.
                Mode::Eval => {
                    event_conv_affine_pool(&block.conv, y, block.bn.eval_affine(), block.pool)
                }
            });
            let (spikes, stats) = block.lif.forward_with_stats(attend(&block.attention, y));
            layers.push((format!("conv{i}"), stats));
            x = spikes;
        }
        // Flatten each (t, b) frame in row-major (C, H, W) order.
        let mut x: Tensor<B, 3> = x.reshape([steps as i32, batch as i32, -1]);
        for (j, block) in self.fcs.iter().enumerate() {
            let y = step_wise(x, |y| block.bn.forward(block.linear.forward(y), mode));
            let (spikes, stats) = block.lif.forward_with_stats(attend(&block.attention, y));
            layers.push((format!("fc{j}"), stats));
            x = spikes;
        }
        let classes = x.dims()[2];
        EventOutput {
            rates: x.mean_dim(0).reshape([batch, classes]),
            layers,
        }
    }
}

impl<B: Backend> OfficialSlots<B> for EventNet<B> {
    fn official_slots<'a>(&'a mut self, prefix: &str, out: &mut Vec<NamedSlot<'a, B>>) {
        for (i, block) in self.convs.iter_mut().enumerate() {
            let p = format!("{prefix}convAttLIF{i}.");
            let w = block.conv.weight.dims().to_vec();
            out.push(NamedSlot::new(
                format!("{p}conv2d.weight"),
                w.clone(),
                Slot::Param4(&mut block.conv.weight),
            ));
            if let Some(bias) = block.conv.bias.as_mut() {
                out.push(NamedSlot::new(
                    format!("{p}conv2d.bias"),
                    vec![w[0]],
                    Slot::Param1(bias),
                ));
            }
            batch_norm_slots(&mut block.bn, &format!("{p}BNLayer."), out);
            if let Some(att) = block.attention.as_mut() {
                attention_slots(att, &format!("{p}attention."), false, out);
            }
        }
        for (j, block) in self.fcs.iter_mut().enumerate() {
            let p = format!("{prefix}FC{j}.");
            let [f_in, f_out] = block.linear.weight.dims();
            out.push(NamedSlot::new(
                format!("{p}linear.weight"),
                vec![f_out, f_in],
                Slot::Param2 {
                    param: &mut block.linear.weight,
                    transposed: true,
                },
            ));
            if let Some(bias) = block.linear.bias.as_mut() {
                out.push(NamedSlot::new(
                    format!("{p}linear.bias"),
                    vec![f_out],
                    Slot::Param1(bias),
                ));
            }
            batch_norm_slots(&mut block.bn, &format!("{p}BNLayer."), out);
            if let Some(att) = block.attention.as_mut() {
                attention_slots(att, &format!("{p}attention."), true, out);
            }
        }
    }
}
