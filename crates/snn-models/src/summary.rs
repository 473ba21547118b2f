//! Model summaries: per layer the output shape (per sample and step), parameters, spiking
//! neurons and dense multiply-accumulates per step; totals.
//!
//! Parameters are counted as the official code counts them: weights and biases, not
//! BatchNorm running statistics. Neurons are the LIF neurons a sample drives at each step.
//! MACs are the dense synaptic operations of convolutions and linear layers per sample and
//! step (attention excluded); the energy model scales them by firing rates.

use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::event::EventNet;
use crate::plif::PlifNet;
use crate::resnet::ResSnn;
use crate::state::{NamedSlot, OfficialSlots, Slot};

/// One row of a [`ModelSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerSummary {
    /// Layer name (official naming where there is one).
    pub name: String,
    /// Output shape per sample and step, e.g. `[C, H, W]`.
    pub output: Vec<usize>,
    /// Trainable parameters (attention included).
    pub params: usize,
    /// LIF neurons.
    pub neurons: usize,
    /// Dense MACs per sample and step.
    pub macs: u64,
}

/// A whole model's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    /// Model name.
    pub model: String,
    /// Attention variant.
    pub attention: String,
    /// Time steps.
    #[serde(rename = "T")]
    pub steps: usize,
    /// Input shape per sample and step.
    pub input: Vec<usize>,
    /// Rows in forward order.
    pub layers: Vec<LayerSummary>,
    /// Total parameters.
    pub params: usize,
    /// Total LIF neurons.
    pub neurons: usize,
    /// Total dense MACs per sample and step.
    pub macs: u64,
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl ModelSummary {
    fn new(
        model: &str,
        attention: String,
        steps: usize,
        input: Vec<usize>,
        layers: Vec<LayerSummary>,
    ) -> Self {
        Self {
            model: model.to_owned(),
            attention,
            steps,
            input,
            params: layers.iter().map(|l| l.params).sum(),
            neurons: layers.iter().map(|l| l.neurons).sum(),
            macs: layers.iter().map(|l| l.macs).sum(),
            layers,
        }
    }

    /// A fixed-width text table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} (attention {}, T {}), input {:?} per step\n{:<18} {:<16} {:>12} {:>10} {:>16}\n",
            self.model,
            self.attention,
            self.steps,
            self.input,
            "layer",
            "output",
            "params",
            "neurons",
            "MACs/step"
        );
        for l in &self.layers {
            s += &format!(
                "{:<18} {:<16} {:>12} {:>10} {:>16}\n",
                l.name,
                format!("{:?}", l.output),
                grouped(l.params as u64),
                grouped(l.neurons as u64),
                grouped(l.macs)
            );
        }
        s += &format!(
            "{:<18} {:<16} {:>12} {:>10} {:>16}\n",
            "total",
            "",
            grouped(self.params as u64),
            grouped(self.neurons as u64),
            grouped(self.macs)
        );
        s
    }
}

/// Parameter counts by official name (buffers excluded).
struct ParamCounts(Vec<(String, usize)>);

impl ParamCounts {
    fn of<B: Backend, M: OfficialSlots<B> + Clone>(model: &M) -> Self {
        let mut model = model.clone();
        let mut slots: Vec<NamedSlot<'_, B>> = Vec::new();
        model.official_slots("", &mut slots);
        Self(
            slots
                .iter()
                .filter(|s| !matches!(s.slot, Slot::Buffer(_)))
                .map(|s| (s.name.clone(), s.shape.iter().product()))
                .collect(),
        )
    }

    fn under(&self, prefix: &str) -> usize {
        self.0
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, c)| c)
            .sum()
    }
}

impl<B: Backend> EventNet<B> {
    /// The summary of this network.
    pub fn summary(&self) -> ModelSummary {
        let config = self.config();
        let counts = ParamCounts::of(self);
        let (mut h, mut w) = (config.height, config.width);
        let mut layers = Vec::new();
        for (i, block) in self.convs.iter().enumerate() {
            let [c_out, c_in, kh, kw] = block.conv.weight.dims();
            let macs = (kh * kw * c_in * c_out * h * w) as u64;
            (h, w) = (h / block.pool, w / block.pool);
            layers.push(LayerSummary {
                name: format!("convAttLIF{i}"),
                output: vec![c_out, h, w],
                params: counts.under(&format!("convAttLIF{i}.")),
                neurons: c_out * h * w,
                macs,
            });
        }
        for (j, block) in self.fcs.iter().enumerate() {
            let [f_in, f_out] = block.linear.weight.dims();
            layers.push(LayerSummary {
                name: format!("FC{j}"),
                output: vec![f_out],
                params: counts.under(&format!("FC{j}.")),
                neurons: f_out,
                macs: (f_in * f_out) as u64,
            });
        }
        let input = vec![config.in_channels, config.height, config.width];
        ModelSummary::new(
            "event",
            config.attention.to_string(),
            config.steps,
            input,
            layers,
        )
    }
}

impl<B: Backend> PlifNet<B> {
    /// The summary of this network.
    pub fn summary(&self) -> ModelSummary {
        let config = self.config();
        let counts = ParamCounts::of(self);
        let mut size = config.size;
        let mut layers = Vec::new();
        for (i, block) in self.convs.iter().enumerate() {
            let [c_out, c_in, kh, kw] = block.conv.weight.dims();
            layers.push(LayerSummary {
                name: format!("conv{i}"),
                output: vec![c_out, size / 2, size / 2],
                params: counts.under(&format!("conv{i}.")),
                neurons: c_out * size * size,
                macs: (kh * kw * c_in * c_out * size * size) as u64,
            });
            size /= 2;
        }
        for (name, linear) in [("fc0", &self.fc1), ("fc1", &self.fc2)] {
            let [f_in, f_out] = linear.weight.dims();
            layers.push(LayerSummary {
                name: name.to_owned(),
                output: vec![f_out],
                params: counts.under(&format!("{name}.")),
                neurons: f_out,
                macs: (f_in * f_out) as u64,
            });
        }
        let input = vec![config.in_channels, config.size, config.size];
        ModelSummary::new(
            "gesture5",
            config.attention.to_string(),
            config.steps,
            input,
            layers,
        )
    }
}

impl<B: Backend> ResSnn<B> {
    /// The summary of this network for `height x width` images.
    pub fn summary(&self, name: &str, height: usize, width: usize) -> ModelSummary {
        let config = self.config();
        let counts = ParamCounts::of(self);
        // Output size of a k x k convolution with padding k/2.
        let out = |x: usize, k: usize, stride: usize| (x + 2 * (k / 2) - k) / stride + 1;
        let (mut h, mut w) = (height, width);
        let mut stem_macs = 0u64;
        let mut c = config.in_channels;
        for conv in &self.stem.convs {
            let [c_out, c_in, k, _] = conv.weight.dims();
            let stride = conv.stride[0];
            (h, w) = (out(h, k, stride), out(w, k, stride));
            stem_macs += (k * k * c_in * c_out * h * w) as u64;
            c = c_out;
        }
        let mut layers = vec![LayerSummary {
            name: "conv1".into(),
            output: vec![c, h, w],
            params: counts.under("conv1."),
            neurons: 0,
            macs: stem_macs,
        }];
        for (s, stage) in self.stages.iter().enumerate() {
            for (k, block) in stage.iter().enumerate() {
                let [c_out, c_in, _, _] = block.conv1.weight.dims();
                let stride = block.conv1.stride[0];
                let (h2, w2) = (out(h, 3, stride), out(w, 3, stride));
                let mut macs = (9 * c_in * c_out * h2 * w2 + 9 * c_out * c_out * h2 * w2) as u64;
                if block.shortcut.is_some() {
                    macs += (c_in * c_out * h2 * w2) as u64;
                }
                let prefix = format!("conv{}_x.{k}", s + 2);
                layers.push(LayerSummary {
                    params: counts.under(&format!("{prefix}.")),
                    name: prefix,
                    output: vec![c_out, h2, w2],
                    neurons: c_in * h * w + c_out * h2 * w2,
                    macs,
                });
                (h, w, c) = (h2, w2, c_out);
            }
        }
        let classes = self.fc.weight.dims()[1];
        layers.push(LayerSummary {
            name: "head".into(),
            output: vec![classes],
            params: counts.under("fc."),
            neurons: c * h * w,
            macs: (c * classes) as u64,
        });
        let input = vec![config.in_channels, height, width];
        ModelSummary::new(
            name,
            config.attention.to_string(),
            config.steps,
            input,
            layers,
        )
    }
}
