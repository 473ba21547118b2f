//! The event networks (`EventNet`, `PlifNet`): a `frames` sequence in, output firing rates out.

use onnx_protobuf::ModelProto;
use snn_core::SnnBackend;
use snn_models::{EventNet, PlifNet};

use super::layers::{emit_avg_pool, emit_conv, emit_linear};
use super::{finish_model, Description, Layers, OnnxOptions};
use crate::graph::{Attr, Dim, GraphBuilder};
use crate::ExportError;

/// The opening both event exports share: a graph called `name` with the input `frames`,
/// `[T, batch, C, H, W]`.
fn open_frames_graph(
    name: &str,
    steps: usize,
    (channels, height, width): (usize, usize, usize),
) -> (GraphBuilder, String) {
    let mut g = GraphBuilder::new(name);
    let frames = g.input(
        "frames",
        &[
            Dim::Fixed(steps),
            Dim::batch(),
            Dim::Fixed(channels),
            Dim::Fixed(height),
            Dim::Fixed(width),
        ],
    );
    (g, frames)
}

/// Exports an event network (any attention variant) as an ONNX model.
pub fn export_event_net<B: SnnBackend>(
    net: &EventNet<B>,
    options: &OnnxOptions,
) -> Result<ModelProto, ExportError> {
    let config = net.config();
    let steps = config.steps;
    let t = steps as i64;
    let (mut g, mut x) = open_frames_graph(
        "event_net",
        steps,
        (config.in_channels, config.height, config.width),
    );
    let mut layers = Layers::new(steps);
    let (mut h, mut w) = (config.height, config.width);
    let mut c_in = config.in_channels;
    for (i, block) in net.convs.iter().enumerate() {
        let name = format!("conv{i}");
        g.set_scope(&name);
        let c_out = block.conv.weight.dims()[0];
        let frames = g.reshape(&x, &[-1, c_in as i64, h as i64, w as i64]);
        let (mut y, size) = emit_conv(&mut g, &frames, &block.conv, Some(&block.bn), (h, w))?;
        (h, w) = size;
        if block.pool > 1 {
            y = emit_avg_pool(&mut g, &y, block.pool);
            h /= block.pool;
            w /= block.pool;
        }
        let attention = block.attention.as_ref();
        x = layers.spiking(&mut g, name, &y, &[c_out, h, w], attention, &block.lif)?;
        c_in = c_out;
    }
    let mut features = c_in * h * w;
    x = g.reshape(&x, &[-1, features as i64]);
    for (j, block) in net.fcs.iter().enumerate() {
        let name = format!("fc{j}");
        g.set_scope(&name);
        let (y, out) = emit_linear(&mut g, &x, &block.linear, Some(&block.bn));
        let attention = block.attention.as_ref();
        let spikes = layers.spiking(&mut g, name, &y, &[out], attention, &block.lif)?;
        x = g.reshape(&spikes, &[-1, out as i64]);
        features = out;
    }
    g.set_scope("readout");
    let seq = g.reshape(&x, &[t, -1, features as i64]);
    g.node_to(
        "ReduceMean",
        &[&seq],
        &[("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(0))],
        "rates",
    );
    g.output("rates", &[Dim::batch(), Dim::Fixed(config.classes)]);
    let description = Description {
        producer: "snn-models EventNet",
        layout: "frames [T, batch, C, H, W] -> rates [batch, classes]",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, layers, options, description))
}

/// Exports the 5-layer PLIF-style event network (`PlifNet`, any attention variant): conv
/// blocks `conv -> BN -> [attention] -> LIF -> max-pool 2`, two dense blocks, and the voting
/// readout (mean over each class's voters, then over T). Learned decays are frozen at their
/// trained values; dropout is the identity at inference.
pub fn export_plif_net<B: SnnBackend>(
    net: &PlifNet<B>,
    options: &OnnxOptions,
) -> Result<ModelProto, ExportError> {
    let config = net.config();
    let steps = config.steps;
    let t = steps as i64;
    let (mut g, mut x) = open_frames_graph(
        "plif_net",
        steps,
        (config.in_channels, config.size, config.size),
    );
    let mut layers = Layers::new(steps);
    let (mut h, mut w) = (config.size, config.size);
    let mut c_in = config.in_channels;
    for (i, block) in net.convs.iter().enumerate() {
        let name = format!("conv{i}");
        g.set_scope(&name);
        let c_out = block.conv.weight.dims()[0];
        let frames = g.reshape(&x, &[-1, c_in as i64, h as i64, w as i64]);
        let (y, size) = emit_conv(&mut g, &frames, &block.conv, Some(&block.bn), (h, w))?;
        (h, w) = size;
        let attention = block.attention.as_ref();
        let spikes = layers.spiking(&mut g, name, &y, &[c_out, h, w], attention, &block.lif)?;
        let frames = g.reshape(&spikes, &[-1, c_out as i64, h as i64, w as i64]);
        x = g.node(
            "MaxPool",
            &[&frames],
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        );
        h /= 2;
        w /= 2;
        c_in = c_out;
    }
    x = g.reshape(&x, &[-1, (c_in * h * w) as i64]);
    let dense = [
        ("fc0", &net.fc1, &net.fc1_attention, &net.fc1_lif),
        ("fc1", &net.fc2, &net.fc2_attention, &net.fc2_lif),
    ];
    let mut features = 0;
    for (name, linear, attention, lif) in dense {
        g.set_scope(name);
        let (y, out) = emit_linear(&mut g, &x, linear, None);
        let spikes =
            layers.spiking(&mut g, name.to_owned(), &y, &[out], attention.as_ref(), lif)?;
        x = g.reshape(&spikes, &[-1, out as i64]);
        features = out;
    }
    g.set_scope("readout");
    let (classes, voters) = (config.classes, config.voters);
    debug_assert_eq!(features, classes * voters);
    let votes = g.reshape(&x, &[t, -1, classes as i64, voters as i64]);
    let per_class = g.node(
        "ReduceMean",
        &[&votes],
        &[("axes", Attr::Ints(vec![3])), ("keepdims", Attr::Int(0))],
    );
    g.node_to(
        "ReduceMean",
        &[&per_class],
        &[("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(0))],
        "rates",
    );
    g.output("rates", &[Dim::batch(), Dim::Fixed(classes)]);
    let description = Description {
        producer: "snn-models PlifNet",
        layout:
            "frames [T, batch, C, H, W] -> rates [batch, classes] (mean of each class's voters)",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, layers, options, description))
}
