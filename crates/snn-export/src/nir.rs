//! NIR export (the Neuromorphic Intermediate Representation, HDF5 layout of the reference Python
//! `nir` package) for attention-free event networks, for neuromorphic hardware toolchains.
//!
//! File layout (`/version`, `/node/{type, edges, nodes/<name>/..., metadata/...}`), one node
//! per primitive, chained by edges:
//!
//! `input -> conv{i}.conv (Conv2d, BatchNorm folded) [-> conv{i}.pool (SumPool2d) ->
//! conv{i}.scale (Scale 1/k^2)] -> conv{i}.lif (LIF) -> ... -> flatten -> fc{j}.affine (Affine,
//! BatchNorm folded) -> fc{j}.lif -> output`.
//!
//! **Neuron mapping.** Our discrete neuron is `u[t] = h[t-1] + x[t]`, a spike when `u >= Vth`,
//! then `h[t] = decay * u[t]` without a spike, or the reset. NIR's LIF is the ODE
//! `tau dv/dt = (v_leak - v) + r I`; with forward Euler at step `dt` it is
//! `v[t+1] = (1 - dt/tau) v[t] + (dt/tau) r I[t]`, so `tau = dt / (1 - decay)`, `r = tau / dt`,
//! `v_leak = 0` give exactly our update, and `v_threshold = Vth`. The official event neuron's
//! reset (state `decay * Vth` after a spike) is a hard reset to `v_reset = Vth` followed by the
//! same leak; a hard reset to 0 is `v_reset = 0`. NIR readers spike on `v > v_threshold` (ours:
//! `>=` for the official event neuron), which differs only at exact equality. `dt` (default
//! 1e-4 s, as SpikingJelly and snnTorch assume) and the readout (mean of the output spikes over
//! T) are written into the metadata: NIR itself carries neither.
//!
//! **Manual check with the reference package** (not run in CI: it needs Python):
//!
//! ```text
//! cargo xtask export --checkpoint target/demo/vanilla/best --format nir --out vanilla.nir
//! pip install nir && python -c "import nir; g = nir.read('vanilla.nir'); print(g.nodes.keys())"
//! ```
//!
//! (checked with `nir` 1.0.8: all 13 nodes and 12 edges of a two-conv network read back, the
//! Flatten's output shape inferred, the metadata intact).
//!
//! **Refused**, with every offending layer listed: attention (NIR has no multiplicative gating or
//! reductions over time), subtract (soft) reset, and a hard reset to a non-zero value (NIR
//! leaks after the reset, ours does not).

use std::path::Path;

use burn::tensor::backend::Backend;
use hdf5_pure::{FileBuilder, GroupBuilder};
use snn_core::{FiringRule, Lif};
use snn_models::event::{ConvBlock, FcBlock};
use snn_models::EventNet;

use crate::weights::{bn_affine, decay_value, fold, param_values};
use crate::{ExportError, Refusal};

/// The NIR version written to `/version`.
pub const NIR_VERSION: &str = "1.0.7";

/// Settings of a NIR export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NirOptions {
    /// The time step in seconds that maps our discrete steps to NIR's continuous time.
    pub dt: f64,
}

impl Default for NirOptions {
    fn default() -> Self {
        Self { dt: 1e-4 }
    }
}

/// One NIR node: its name, type and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NirNode {
    /// Node name (`conv0.lif`).
    pub name: String,
    /// NIR type (`Conv2d`, `LIF`, ...).
    pub kind: &'static str,
    /// Fields in writing order.
    pub fields: Vec<(&'static str, NirField)>,
}

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum NirField {
    /// Float array with its shape.
    Floats(Vec<f32>, Vec<usize>),
    /// Integer array.
    Ints(Vec<i64>),
    /// Scalar integer.
    Int(i64),
    /// Flatten's `input_type`: the input shape (without batch and time).
    InputType(Vec<i64>),
}

/// A NIR graph: nodes in order and the edges between them.
#[derive(Debug, Clone, PartialEq)]
pub struct NirGraph {
    /// The nodes.
    pub nodes: Vec<NirNode>,
    /// `(source, target)` pairs.
    pub edges: Vec<(String, String)>,
    /// Free-form metadata (`dt`, readout, neuron mapping).
    pub metadata: Vec<(&'static str, String)>,
}

/// NIR's LIF sets `v = v_reset` after a spike and then leaks like any other step, so it
/// expresses the resets whose state after a spike is `decay * v_reset` whatever the membrane.
/// Read off the neuron's own rule (`Reset::after_spike`), not restated here: the state after a
/// spike must not depend on the membrane, and must scale with the decay.
fn nir_reset(rule: &FiringRule) -> Result<f64, String> {
    let after = |u: f64, decay: f64| rule.reset.after_spike(u, decay, rule.threshold);
    // Powers of two, so the divisions and products below are exact.
    let (decay, other_decay) = (0.5, 0.25);
    let v_reset = after(0.0, decay) / decay;
    if after(1.75, decay) != after(-1.25, decay) {
        return Err(rule.reset.to_string());
    }
    if after(0.0, other_decay) != other_decay * v_reset {
        return Err(format!("{}: NIR leaks after the reset", rule.reset));
    }
    Ok(v_reset)
}

/// The NIR LIF node of one layer's neuron (its reset from [`nir_reset`]), or why NIR cannot
/// express it.
fn lif_node<B: Backend>(
    name: String,
    lif: &Lif<B>,
    shape: &[usize],
    dt: f64,
) -> Result<NirNode, Refusal> {
    let rule = lif.config().rule;
    let v_reset = nir_reset(&rule).map_err(|reason| Refusal::new(name.clone(), reason))?;
    let decay = f64::from(decay_value(lif));
    let tau = dt / (1.0 - decay);
    let n: usize = shape.iter().product();
    let full = |v: f64| NirField::Floats(vec![v as f32; n], shape.to_vec());
    Ok(NirNode {
        name,
        kind: "LIF",
        fields: vec![
            ("tau", full(tau)),
            ("r", full(tau / dt)),
            ("v_leak", full(0.0)),
            ("v_threshold", full(rule.threshold)),
            ("v_reset", full(v_reset)),
        ],
    })
}

/// Builds the NIR graph of an attention-free event network.
pub fn event_net_graph<B: Backend>(
    net: &EventNet<B>,
    options: &NirOptions,
) -> Result<NirGraph, ExportError> {
    let config = net.config();
    let mut graph = Nodes {
        nodes: Vec::new(),
        refused: attention_refusals(net),
        dt: options.dt,
    };
    graph.nodes.push(NirNode {
        name: "input".into(),
        kind: "Input",
        fields: vec![(
            "shape",
            NirField::Ints(vec![
                config.in_channels as i64,
                config.height as i64,
                config.width as i64,
            ]),
        )],
    });
    let mut size = (config.height, config.width);
    for (i, block) in net.convs.iter().enumerate() {
        size = graph.conv_block(i, block, size);
    }
    let c_last = net
        .convs
        .last()
        .map_or(config.in_channels, |b| b.conv.weight.dims()[0]);
    graph.nodes.push(NirNode {
        name: "flatten".into(),
        kind: "Flatten",
        fields: vec![
            ("start_dim", NirField::Int(0)),
            ("end_dim", NirField::Int(-1)),
            (
                "input_type",
                NirField::InputType(vec![c_last as i64, size.0 as i64, size.1 as i64]),
            ),
        ],
    });
    for (j, block) in net.fcs.iter().enumerate() {
        graph.fc_block(j, block);
    }
    graph.nodes.push(NirNode {
        name: "output".into(),
        kind: "Output",
        fields: vec![("shape", NirField::Ints(vec![config.classes as i64]))],
    });
    let Nodes { nodes, refused, .. } = graph;
    if !refused.is_empty() {
        return Err(ExportError::Refused {
            format: "NIR",
            layers: refused,
        });
    }
    let edges = nodes
        .windows(2)
        .map(|pair| (pair[0].name.clone(), pair[1].name.clone()))
        .collect();
    Ok(NirGraph {
        nodes,
        edges,
        metadata: metadata(options, config.steps),
    })
}

/// Every layer with attention, which NIR cannot express.
fn attention_refusals<B: Backend>(net: &EventNet<B>) -> Vec<Refusal> {
    let mut refused = Vec::new();
    for (i, block) in net.convs.iter().enumerate() {
        if let Some(att) = &block.attention {
            refused.push(Refusal::new(
                format!("conv{i}"),
                format!("{} attention", att.config().kind.name()),
            ));
        }
    }
    for (j, block) in net.fcs.iter().enumerate() {
        if let Some(att) = &block.attention {
            refused.push(Refusal::new(
                format!("fc{j}"),
                format!("{} attention", att.config().kind.name()),
            ));
        }
    }
    refused
}

/// The chain of nodes being built, and the layers refused so far (all are listed at the end).
struct Nodes {
    nodes: Vec<NirNode>,
    refused: Vec<Refusal>,
    dt: f64,
}

impl Nodes {
    /// The neuron of a layer, or its refusal.
    fn lif<B: Backend>(&mut self, name: String, lif: &Lif<B>, shape: &[usize]) {
        match lif_node(name, lif, shape, self.dt) {
            Ok(node) => self.nodes.push(node),
            Err(why) => self.refused.push(why),
        }
    }

    /// `conv{i}`: the convolution (BatchNorm folded), the pooling as a sum pool and a scale,
    /// the neuron. Returns the output's spatial size.
    fn conv_block<B: Backend>(
        &mut self,
        i: usize,
        block: &ConvBlock<B>,
        (mut h, mut w): (usize, usize),
    ) -> (usize, usize) {
        let dims = block.conv.weight.dims();
        let c_out = dims[0];
        let pad = match block.conv.padding {
            burn::nn::PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => [t, l],
            burn::nn::PaddingConfig2d::Valid => [0, 0],
            _ => {
                self.refused.push(Refusal::new(
                    format!("conv{i}"),
                    "asymmetric or `Same` padding",
                ));
                [0, 0]
            }
        };
        let mut weight = param_values(&block.conv.weight);
        let mut bias = match &block.conv.bias {
            Some(b) => param_values(b),
            None => vec![0.0; c_out],
        };
        let (scale, shift) = bn_affine(&block.bn);
        fold(&mut weight, &mut bias, &scale, &shift, true);
        self.nodes.push(NirNode {
            name: format!("conv{i}.conv"),
            kind: "Conv2d",
            fields: vec![
                ("weight", NirField::Floats(weight, dims.to_vec())),
                ("bias", NirField::Floats(bias, vec![c_out])),
                (
                    "stride",
                    NirField::Ints(block.conv.stride.iter().map(|&s| s as i64).collect()),
                ),
                (
                    "padding",
                    NirField::Ints(vec![pad[0] as i64, pad[1] as i64]),
                ),
                ("dilation", NirField::Ints(vec![1, 1])),
                ("groups", NirField::Int(1)),
                ("input_shape", NirField::Ints(vec![h as i64, w as i64])),
            ],
        });
        h = (h + 2 * pad[0] - dims[2]) / block.conv.stride[0] + 1;
        w = (w + 2 * pad[1] - dims[3]) / block.conv.stride[1] + 1;
        if block.pool > 1 {
            let p = block.pool as i64;
            self.nodes.push(NirNode {
                name: format!("conv{i}.pool"),
                kind: "SumPool2d",
                fields: vec![
                    ("kernel_size", NirField::Ints(vec![p, p])),
                    ("stride", NirField::Ints(vec![p, p])),
                    ("padding", NirField::Ints(vec![0, 0])),
                ],
            });
            h /= block.pool;
            w /= block.pool;
            let n = c_out * h * w;
            self.nodes.push(NirNode {
                name: format!("conv{i}.scale"),
                kind: "Scale",
                fields: vec![(
                    "scale",
                    NirField::Floats(vec![1.0 / (p * p) as f32; n], vec![c_out, h, w]),
                )],
            });
        }
        self.lif(format!("conv{i}.lif"), &block.lif, &[c_out, h, w]);
        (h, w)
    }

    /// `fc{j}`: the affine map (BatchNorm folded, weight as PyTorch's `[out, in]`), the neuron.
    fn fc_block<B: Backend>(&mut self, j: usize, block: &FcBlock<B>) {
        let [f_in, f_out] = block.linear.weight.dims(); // burn stores [in, out]
        let stored = param_values(&block.linear.weight);
        // NIR (PyTorch) wants [out, in].
        let mut weight = vec![0f32; stored.len()];
        for i in 0..f_in {
            for o in 0..f_out {
                weight[o * f_in + i] = stored[i * f_out + o];
            }
        }
        let mut bias = match &block.linear.bias {
            Some(b) => param_values(b),
            None => vec![0.0; f_out],
        };
        let (scale, shift) = bn_affine(&block.bn);
        fold(&mut weight, &mut bias, &scale, &shift, true);
        self.nodes.push(NirNode {
            name: format!("fc{j}.affine"),
            kind: "Affine",
            fields: vec![
                ("weight", NirField::Floats(weight, vec![f_out, f_in])),
                ("bias", NirField::Floats(bias, vec![f_out])),
            ],
        });
        self.lif(format!("fc{j}.lif"), &block.lif, &[f_out]);
    }
}

/// What NIR itself does not carry: `dt`, the readout, the neuron mapping, T, the producer.
fn metadata(options: &NirOptions, steps: usize) -> Vec<(&'static str, String)> {
    vec![
        ("dt", options.dt.to_string()),
        (
            "readout",
            "class scores are the mean over the T steps of the output spikes".to_owned(),
        ),
        (
            "neuron_mapping",
            "discrete u[t] = decay * h[t-1] + x[t]: tau = dt / (1 - decay), r = tau / dt, \
             v_leak = 0; official event reset = hard reset to v_reset = v_threshold"
                .to_owned(),
        ),
        ("time_steps", steps.to_string()),
        (
            "producer",
            format!("snn-export {}", env!("CARGO_PKG_VERSION")),
        ),
    ]
}

fn write_field(group: &mut GroupBuilder, key: &str, field: &NirField) {
    match field {
        NirField::Floats(values, shape) => {
            let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
            group
                .create_dataset(key)
                .with_f32_data(values)
                .with_shape(&shape);
        }
        NirField::Ints(values) => {
            group
                .create_dataset(key)
                .with_i64_data(values)
                .with_shape(&[values.len() as u64]);
        }
        NirField::Int(value) => {
            group
                .create_dataset(key)
                .with_i64_data(&[*value])
                .with_shape(&[]);
        }
        // The reference package (nir 1.0.8, `Flatten.to_dict`) stores the input shape itself,
        // not a `{"input": shape}` group.
        NirField::InputType(shape) => {
            group
                .create_dataset(key)
                .with_i64_data(shape)
                .with_shape(&[shape.len() as u64]);
        }
    }
}

/// The graph as NIR's HDF5 bytes.
pub fn to_bytes(graph: &NirGraph) -> Result<Vec<u8>, ExportError> {
    let mut file = FileBuilder::new();
    file.create_dataset("version")
        .with_vlen_strings(&[NIR_VERSION])
        .with_shape(&[]);
    let mut root = file.create_group("node");
    root.create_dataset("type")
        .with_vlen_strings(&["NIRGraph"])
        .with_shape(&[]);
    let flat: Vec<&str> = graph
        .edges
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    root.create_dataset("edges")
        .with_vlen_strings(&flat)
        .with_shape(&[graph.edges.len() as u64, 2]);
    let mut nodes = root.create_group("nodes");
    for node in &graph.nodes {
        let mut group = nodes.create_group(&node.name);
        group
            .create_dataset("type")
            .with_vlen_strings(&[node.kind])
            .with_shape(&[]);
        for (key, field) in &node.fields {
            write_field(&mut group, key, field);
        }
        nodes.add_group(group.finish());
    }
    root.add_group(nodes.finish());
    let mut metadata = root.create_group("metadata");
    for (key, value) in &graph.metadata {
        metadata
            .create_dataset(key)
            .with_vlen_strings(&[value.as_str()])
            .with_shape(&[]);
    }
    root.add_group(metadata.finish());
    file.add_group(root.finish());
    file.finish().map_err(|e| ExportError::Encode {
        format: "NIR HDF5",
        message: e.to_string(),
    })
}

/// Writes the graph to `path` through a temporary file and a rename.
pub fn write(graph: &NirGraph, path: &Path) -> Result<(), ExportError> {
    crate::write_file(path, &to_bytes(graph)?)
}

#[cfg(test)]
mod tests {
    use super::nir_reset;
    use snn_core::{LifConfig, Reset};

    #[test]
    fn the_nir_reset_is_read_off_the_rule() {
        let rule = |reset| LifConfig::ma_snn_event().with_reset(reset).rule;
        assert_eq!(nir_reset(&rule(Reset::LeakToThreshold)), Ok(0.3));
        assert_eq!(nir_reset(&rule(Reset::Hard { value: 0.0 })), Ok(0.0));
        assert_eq!(
            nir_reset(&rule(Reset::Subtract)),
            Err("subtract reset".to_string())
        );
        let hard = nir_reset(&rule(Reset::Hard { value: 0.2 })).unwrap_err();
        assert!(hard.contains("hard reset to 0.2"), "{hard}");
    }
}
