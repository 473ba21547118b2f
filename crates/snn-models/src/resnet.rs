//! Res-SNN-18/34/104 in the MS-ResNet style of the official code
//! (`Att_Res_SNN/models/resnet_2.py`): a 7x7 stride-2 stem with tdBN and no neuron, basic blocks
//! with a membrane shortcut, and a `LIF -> global avg-pool -> mean over T -> dropout -> FC` head.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;
use ma_attention::{AttentionConfig, AttentionKind, MultiDimAttention};
use serde::{Deserialize, Serialize};
use snn_core::{FiringStats, Lif, LifConfig, SnnBackend};

use crate::error::ModelError;
use crate::layers::{attend, event_conv, frame_wise};
use crate::norm::BatchNorm;
use crate::state::{attention_slots, batch_norm_slots, NamedSlot, OfficialSlots, Slot};
use crate::Mode;

/// Configuration of a Res-SNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResSnnConfig {
    /// Input image channels (3).
    pub in_channels: usize,
    /// Channels of the four stages (official: 64, 128, 256, 512; the stem has the first).
    pub widths: [usize; 4],
    /// Basic blocks per stage: `[2,2,2,2]` (18), `[3,4,6,3]` (34), `[3,8,32,8]` (104).
    pub blocks: [usize; 4],
    /// Classes (1000 for ImageNet).
    pub classes: usize,
    /// Time steps `T` (the image is repeated T times; the official code uses 1).
    pub steps: usize,
    /// Attention after each branch's last tdBN (official: `CSA`; `no` for the vanilla net).
    pub attention: AttentionKind,
    /// Channel reduction `r_c` (official 8).
    pub c_ratio: usize,
    /// Temporal reduction `r_t` (official 1; TA is not used on ImageNet).
    pub t_ratio: usize,
    /// SA kernel (official 3).
    pub sa_kernel: usize,
    /// Dropout before the classifier (official 0.2).
    pub dropout: f64,
    /// The neuron (official: [`LifConfig::ms_resnet`]).
    pub neuron: LifConfig,
    /// Use the original MS-ResNet-104 stem (three 3x3 convolutions with bias, the first with
    /// stride 2, then one tdBN) instead of the Att-Res-SNN code's 7x7 stem.
    #[serde(default)]
    pub deep_stem: bool,
}

impl ResSnnConfig {
    fn new(blocks: [usize; 4], classes: usize, steps: usize, attention: AttentionKind) -> Self {
        Self {
            in_channels: 3,
            widths: [64, 128, 256, 512],
            blocks,
            classes,
            steps,
            attention,
            c_ratio: 8,
            t_ratio: 1,
            sa_kernel: 3,
            dropout: 0.2,
            neuron: LifConfig::ms_resnet(),
            deep_stem: false,
        }
    }

    /// Res-SNN-18.
    pub fn resnet18(classes: usize, steps: usize, attention: AttentionKind) -> Self {
        Self::new([2, 2, 2, 2], classes, steps, attention)
    }

    /// Res-SNN-34.
    pub fn resnet34(classes: usize, steps: usize, attention: AttentionKind) -> Self {
        Self::new([3, 4, 6, 3], classes, steps, attention)
    }

    /// Res-SNN-104 (basic blocks, as in the official code).
    pub fn resnet104(classes: usize, steps: usize, attention: AttentionKind) -> Self {
        Self::new([3, 8, 32, 8], classes, steps, attention)
    }

    /// Builds the network: PyTorch-default conv/linear initialisation, tdBN gamma 0.5 except
    /// the last BN of each branch (0.1).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ResSnn<B>, ModelError> {
        if self.steps == 0 {
            return Err(ModelError::Config {
                model: "res-snn",
                field: "steps",
                reason: "T must be positive".into(),
            });
        }
        if self.widths.contains(&0) {
            return Err(ModelError::Config {
                model: "res-snn",
                field: "widths",
                reason: format!("every width must be positive, got {:?}", self.widths),
            });
        }
        let conv = |c_in: usize, c_out: usize, k: usize, stride: usize| {
            let pad = k / 2;
            Conv2dConfig::new([c_in, c_out], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device)
        };
        let c0 = self.widths[0];
        let stem = Stem {
            convs: if self.deep_stem {
                let with_bias = |c_in: usize, stride: usize| {
                    Conv2dConfig::new([c_in, c0], [3, 3])
                        .with_stride([stride, stride])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                };
                vec![
                    with_bias(self.in_channels, 2),
                    with_bias(c0, 1),
                    with_bias(c0, 1),
                ]
            } else {
                vec![conv(self.in_channels, c0, 7, 2)]
            },
            bn: BatchNorm::new(c0, 0.5, device),
        };
        let mut stages = Vec::new();
        let mut c_in = self.widths[0];
        for (&width, &count) in self.widths.iter().zip(&self.blocks) {
            let mut stage = Vec::new();
            for k in 0..count {
                // Every stage's first block has stride 2 (stage 1 included: it replaces the
                // unused max-pool) and so a projection shortcut.
                let stride = if k == 0 { 2 } else { 1 };
                let attention = (self.attention != AttentionKind::None)
                    .then(|| {
                        AttentionConfig::official(self.attention, self.steps, width)
                            .with_c_ratio(self.c_ratio)
                            .with_t_ratio(self.t_ratio)
                            .with_sa_kernel(self.sa_kernel)
                            .init(device)
                    })
                    .transpose()?;
                let shortcut = (stride != 1 || c_in != width).then(|| Shortcut {
                    pool: stride,
                    conv: conv(c_in, width, 1, 1),
                    bn: BatchNorm::new(width, 0.5, device),
                });
                stage.push(BasicBlock {
                    lif1: self.neuron.init(device)?,
                    conv1: conv(c_in, width, 3, stride),
                    bn1: BatchNorm::new(width, 0.5, device),
                    lif2: self.neuron.init(device)?,
                    conv2: conv(width, width, 3, 1),
                    bn2: BatchNorm::new(width, 0.1, device),
                    attention,
                    shortcut,
                });
                c_in = width;
            }
            stages.push(stage);
        }
        Ok(ResSnn {
            stem,
            stages,
            head_lif: self.neuron.init(device)?,
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(c_in, self.classes).init(device),
            config: self.clone(),
        })
    }
}

/// The stem: convolution(s) then tdBN, no neuron. Official: one 7x7 stride-2 convolution
/// without bias; deep: three 3x3 convolutions with bias (stride 2, 1, 1).
#[derive(Module, Debug)]
pub struct Stem<B: Backend> {
    /// The convolutions, applied in order.
    pub convs: Vec<Conv2d<B>>,
    /// tdBN.
    pub bn: BatchNorm<B>,
}

/// `avg-pool (1, s, s) -> conv1x1 -> tdBN`.
#[derive(Module, Debug)]
pub struct Shortcut<B: Backend> {
    /// Pool factor (kernel = stride).
    pub pool: usize,
    /// 1x1 convolution (no bias).
    pub conv: Conv2d<B>,
    /// tdBN.
    pub bn: BatchNorm<B>,
}

/// Branch `LIF -> conv -> tdBN -> LIF -> conv -> tdBN -> [attention + ReLU]`, plus shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// First neuron.
    pub lif1: Lif<B>,
    /// First 3x3 convolution (carries the stride).
    pub conv1: Conv2d<B>,
    /// First tdBN.
    pub bn1: BatchNorm<B>,
    /// Second neuron.
    pub lif2: Lif<B>,
    /// Second 3x3 convolution.
    pub conv2: Conv2d<B>,
    /// Last tdBN of the branch.
    pub bn2: BatchNorm<B>,
    /// Official-form attention on the branch output (with its ReLU).
    pub attention: Option<MultiDimAttention<B>>,
    /// Projection shortcut; identity when `None`.
    pub shortcut: Option<Shortcut<B>>,
}

/// A Res-SNN.
#[derive(Module, Debug)]
pub struct ResSnn<B: Backend> {
    /// Stem.
    pub stem: Stem<B>,
    /// Four stages of basic blocks.
    pub stages: Vec<Vec<BasicBlock<B>>>,
    /// The neuron before global pooling.
    pub head_lif: Lif<B>,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// Classifier.
    pub fc: Linear<B>,
    #[module(skip)]
    config: ResSnnConfig,
}

/// Output of [`ResSnn::forward`].
#[derive(Debug, Clone)]
pub struct ResOutput<B: Backend> {
    /// Logits `[B, classes]`.
    pub logits: Tensor<B, 2>,
    /// Firing statistics of the head neuron (`head`).
    pub head: FiringStats,
}

/// Conv + tdBN on a `[T, B, C, H, W]` sequence, frame by frame.
fn conv_bn<B: SnnBackend>(
    conv: &Conv2d<B>,
    bn: &BatchNorm<B>,
    x: Tensor<B, 5>,
    mode: Mode,
) -> Tensor<B, 5> {
    frame_wise(x, |y| bn.forward(event_conv(conv, y), mode))
}

impl<B: SnnBackend> BasicBlock<B> {
    fn forward(&self, x: Tensor<B, 5>, mode: Mode) -> Tensor<B, 5> {
        let y = conv_bn(&self.conv1, &self.bn1, self.lif1.forward(x.clone()), mode);
        let y = conv_bn(&self.conv2, &self.bn2, self.lif2.forward(y), mode);
        let y = attend(&self.attention, y);
        let shortcut = match &self.shortcut {
            Some(s) => frame_wise(x, |x| {
                let pooled = avg_pool2d(x, [s.pool; 2], [s.pool; 2], [0, 0], true, false);
                s.bn.forward(event_conv(&s.conv, pooled), mode)
            }),
            None => x,
        };
        y + shortcut
    }
}

impl<B: Backend> ResSnn<B> {
    /// The configuration the network was built from.
    pub fn config(&self) -> &ResSnnConfig {
        &self.config
    }
}

impl<B: SnnBackend> ResSnn<B> {
    /// Classifies images `[B, C, H, W]` (repeated over the configured T steps).
    pub fn forward(&self, images: Tensor<B, 4>, mode: Mode) -> ResOutput<B> {
        let b = images.dims()[0];
        let t = self.config.steps;
        let frames: Tensor<B, 5> = images.unsqueeze_dim::<5>(0).repeat_dim(0, t);
        let mut x = frame_wise(frames, |mut x| {
            for conv in &self.stem.convs {
                x = event_conv(conv, x);
            }
            self.stem.bn.forward(x, mode)
        });
        for block in self.stages.iter().flatten() {
            x = block.forward(x, mode);
        }
        let (spikes, head) = self.head_lif.forward_with_stats(x);
        let [_, _, c, _, _] = spikes.dims();
        let pooled: Tensor<B, 2> = spikes
            .reshape([t as i32, b as i32, c as i32, -1])
            .mean_dim(3)
            .mean_dim(0)
            .reshape([b, c]);
        let pooled = match mode {
            Mode::Train => self.dropout.forward(pooled),
            Mode::Eval => pooled,
        };
        ResOutput {
            logits: self.fc.forward(pooled),
            head,
        }
    }
}

fn conv_slot<'a, B: Backend>(
    conv: &'a mut Conv2d<B>,
    name: String,
    out: &mut Vec<NamedSlot<'a, B>>,
) {
    let shape = conv.weight.dims().to_vec();
    out.push(NamedSlot::new(name, shape, Slot::Param4(&mut conv.weight)));
}

impl<B: Backend> OfficialSlots<B> for ResSnn<B> {
    fn official_slots<'a>(&'a mut self, prefix: &str, out: &mut Vec<NamedSlot<'a, B>>) {
        let n = self.stem.convs.len();
        for (i, conv) in self.stem.convs.iter_mut().enumerate() {
            let shape = conv.weight.dims().to_vec();
            let c_out = shape[0];
            out.push(NamedSlot::new(
                format!("{prefix}conv1.{i}.weight"),
                shape,
                Slot::Param4(&mut conv.weight),
            ));
            if let Some(bias) = conv.bias.as_mut() {
                out.push(NamedSlot::new(
                    format!("{prefix}conv1.{i}.bias"),
                    vec![c_out],
                    Slot::Param1(bias),
                ));
            }
        }
        batch_norm_slots(&mut self.stem.bn, &format!("{prefix}conv1.{n}.bn."), out);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (k, block) in stage.iter_mut().enumerate() {
                let p = format!("{prefix}conv{}_x.{k}.", s + 2);
                conv_slot(
                    &mut block.conv1,
                    format!("{p}residual_function.1.weight"),
                    out,
                );
                batch_norm_slots(&mut block.bn1, &format!("{p}residual_function.2.bn."), out);
                conv_slot(
                    &mut block.conv2,
                    format!("{p}residual_function.4.weight"),
                    out,
                );
                batch_norm_slots(&mut block.bn2, &format!("{p}residual_function.5.bn."), out);
                if let Some(att) = block.attention.as_mut() {
                    attention_slots(
                        att,
                        &format!("{p}residual_function.6.attention."),
                        false,
                        out,
                    );
                }
                if let Some(sc) = block.shortcut.as_mut() {
                    conv_slot(&mut sc.conv, format!("{p}shortcut.1.weight"), out);
                    batch_norm_slots(&mut sc.bn, &format!("{p}shortcut.2.bn."), out);
                }
            }
        }
        let [f_in, f_out] = self.fc.weight.dims();
        out.push(NamedSlot::new(
            format!("{prefix}fc.weight"),
            vec![f_out, f_in],
            Slot::Param2 {
                param: &mut self.fc.weight,
                transposed: true,
            },
        ));
        if let Some(bias) = self.fc.bias.as_mut() {
            out.push(NamedSlot::new(
                format!("{prefix}fc.bias"),
                vec![f_out],
                Slot::Param1(bias),
            ));
        }
    }
}
