//! ONNX export of the event network: the whole sequence, unrolled over T with standard
//! operators only (opset 17), BatchNorm folded into the preceding convolution or linear layer.
//!
//! Layout: input `frames` is `[T, batch, C, H, W]` (time-first, as everywhere in this project;
//! `batch` is a free dimension, T is fixed because temporal attention and the unrolled neuron are
//! sized by it); output `rates` is `[batch, classes]`, the mean over T of the output spikes.
//!
//! Each LIF layer becomes, per step, `u = h + x[t]`, `s = Cast(u >= Vth)`, and the reset the
//! neuron is configured with (`Where` on the spike mask): the model's metadata records the
//! constants. Evaluation-mode semantics: BatchNorm uses its running statistics, and a learnable
//! decay is frozen at its trained value.
//!
//! One file per concern: `layers` (convolution, linear, pooling, the unrolled neuron),
//! `attention` (official-form attention), `event` (`EventNet`, `PlifNet`), `res_snn`; this file
//! holds the options, the per-layer spike outputs and the model's metadata.

mod attention;
mod event;
mod layers;
mod neuron;
mod res_snn;

use ma_attention::{AttentionKind, MultiDimAttention};
use onnx_protobuf::{GraphProto, Message, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use snn_core::{FireTest, Lif, LifConfig, SnnBackend};

pub use event::{export_event_net, export_plif_net};
pub use res_snn::export_res_snn;

use crate::graph::{Dim, GraphBuilder};
use crate::ExportError;
use attention::emit_attention;
use layers::emit_lif;

/// The opset the exports declare.
pub const OPSET: i64 = 17;

/// Settings of an ONNX export.
#[derive(Debug, Clone, Default)]
pub struct OnnxOptions {
    /// Class names, stored in the metadata (`class_names`, JSON).
    pub class_names: Vec<String>,
    /// Also output every layer's spikes (`spikes/<layer>`, `[T, batch, ...]`), for checking an
    /// export layer by layer.
    pub layer_spikes: bool,
}

/// The spiking layers of an export in order, each with its `[T, batch, ...]` spike value (the
/// optional `spikes/<layer>` outputs).
struct Layers {
    steps: usize,
    outputs: Vec<(String, Vec<Dim>, String)>,
}

impl Layers {
    fn new(steps: usize) -> Self {
        Self {
            steps,
            outputs: Vec::new(),
        }
    }

    fn steps(&self) -> usize {
        self.steps
    }

    /// Records layer `name`'s spikes, `[T, batch, per_step...]`.
    fn record(&mut self, name: String, per_step: &[usize], spikes: &str) {
        let mut dims = vec![Dim::Fixed(self.steps), Dim::batch()];
        dims.extend(per_step.iter().map(|&d| Dim::Fixed(d)));
        self.outputs.push((name, dims, spikes.to_owned()));
    }

    /// A spiking layer on frame-wise values `y` (`[T * batch, per_step...]`): back to a
    /// `[T, batch, per_step...]` sequence, the optional attention (`per_step` is `[C, H, W]` for
    /// conv layers, `[F]` for dense ones), the neuron; records and returns the spikes.
    fn spiking<B: SnnBackend>(
        &mut self,
        g: &mut GraphBuilder,
        name: String,
        y: &str,
        per_step: &[usize],
        attention: Option<&MultiDimAttention<B>>,
        lif: &Lif<B>,
    ) -> Result<String, ExportError> {
        let mut shape = vec![self.steps as i64, -1];
        shape.extend(per_step.iter().map(|&d| d as i64));
        let mut seq = g.reshape(y, &shape);
        if let Some(att) = attention {
            let spatial = match per_step {
                [_, h, w] => Some((*h, *w)),
                _ => None,
            };
            let features = per_step.iter().product();
            seq = emit_attention(g, &seq, att, shape.len(), features, spatial)?;
        }
        let spikes = emit_lif(g, &seq, self.steps, lif);
        self.record(name, per_step, &spikes);
        Ok(spikes)
    }
}

/// What an exported model's metadata says about it.
struct Description<'a> {
    producer: &'static str,
    layout: &'static str,
    steps: usize,
    attention: AttentionKind,
    neuron: &'a LifConfig,
    config: String,
}

/// Adds the optional per-layer spike outputs, then wraps the graph in a model with the
/// metadata every export carries.
fn finish_model(
    mut g: GraphBuilder,
    layers: Layers,
    options: &OnnxOptions,
    description: Description<'_>,
) -> ModelProto {
    if options.layer_spikes {
        for (name, dims, value) in &layers.outputs {
            let output = format!("spikes/{name}");
            g.set_scope(&output);
            g.node_to("Identity", &[value], &[], &output);
            g.output(&output, dims);
        }
    }
    let metadata = vec![
        ("producer_model", description.producer.to_owned()),
        ("layout", description.layout.to_owned()),
        ("time_steps", description.steps.to_string()),
        ("attention", description.attention.name().to_owned()),
        ("neuron", describe_neuron(description.neuron)),
        (
            "class_names",
            serde_json::to_string(&options.class_names).expect("strings serialise"),
        ),
        ("config", description.config),
    ];
    model_proto(g.finish(), metadata)
}

/// The neuron's inference equations in words, for the metadata.
fn describe_neuron(neuron: &LifConfig) -> String {
    let reset = neuron.rule.reset;
    format!(
        "u = h + x[t]; s = u {} {}; reset: {reset}; decay {}{}",
        match neuron.rule.fire_test {
            FireTest::GreaterOrEqual => ">=",
            FireTest::Greater => ">",
        },
        neuron.rule.threshold,
        neuron.decay,
        if neuron.learnable_decay {
            " (learned per layer: see each layer's decay constant)"
        } else {
            ""
        }
    )
}

/// Wraps a graph in a model: IR version, producer, opset and the metadata.
fn model_proto(graph: GraphProto, metadata: Vec<(&str, String)>) -> ModelProto {
    let mut model = ModelProto::new();
    model.ir_version = 8;
    model.producer_name = "snn-export".into();
    model.producer_version = env!("CARGO_PKG_VERSION").into();
    let mut opset = OperatorSetIdProto::new();
    opset.domain = String::new();
    opset.version = OPSET;
    model.opset_import = vec![opset];
    model.metadata_props = metadata
        .into_iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            e.key = k.into();
            e.value = v;
            e
        })
        .collect();
    model.graph = Some(graph).into();
    model
}

/// The model's protobuf bytes.
pub fn to_bytes(model: &ModelProto) -> Result<Vec<u8>, ExportError> {
    model.write_to_bytes().map_err(|e| ExportError::Encode {
        format: "ONNX protobuf",
        message: e.to_string(),
    })
}

/// The op types of a model's nodes in order, one `name: op(inputs) -> outputs` line each (for
/// snapshots and for reading an export).
pub fn node_list(model: &ModelProto) -> Vec<String> {
    model
        .graph
        .node
        .iter()
        .map(|n| format!("{}: {}({})", n.name, n.op_type, n.input.join(", ")))
        .collect()
}
