//! Res-SNN (MS-ResNet style): the stem once on the images, its output repeated over T, the
//! residual blocks, then the spiking head and the classifier.

use burn::tensor::backend::Backend;
use onnx_protobuf::ModelProto;
use snn_core::SnnBackend;
use snn_models::resnet::{BasicBlock, Stem};
use snn_models::ResSnn;

use super::attention::emit_attention;
use super::layers::{emit_avg_pool, emit_conv, emit_lif};
use super::{finish_model, Description, Layers, OnnxOptions};
use crate::graph::{Attr, Dim, GraphBuilder};
use crate::weights::param_values;
use crate::ExportError;

/// Exports a Res-SNN (MS-ResNet style, any attention variant) for `height x width` images.
///
/// Input `images` is `[batch, C, H, W]`; the network sees it at every one of its T steps (direct
/// encoding), so the stem runs once and its output is repeated over T. Output `logits` is
/// `[batch, classes]`: the fully connected layer on the spikes of the last neuron averaged over
/// space and time.
pub fn export_res_snn<B: SnnBackend>(
    net: &ResSnn<B>,
    options: &OnnxOptions,
    (height, width): (usize, usize),
) -> Result<ModelProto, ExportError> {
    if height == 0 || width == 0 {
        return Err(ExportError::InputSize {
            layer: "res_snn".into(),
            input: [height, width],
            reason: "both sides must be at least 1".into(),
        });
    }
    let config = net.config();
    let steps = config.steps;
    let mut g = GraphBuilder::new("res_snn");
    let images = g.input(
        "images",
        &[
            Dim::batch(),
            Dim::Fixed(config.in_channels),
            Dim::Fixed(height),
            Dim::Fixed(width),
        ],
    );
    let (mut x, mut size) = emit_stem(&mut g, &images, &net.stem, (height, width), steps)?;
    let mut channels = net.stem.bn.weight.dims()[0];
    let mut layers = Layers::new(steps);
    for (s, stage) in net.stages.iter().enumerate() {
        for (k, block) in stage.iter().enumerate() {
            let name = format!("stage{s}.block{k}");
            g.set_scope(&name);
            let input = Sequence {
                value: x,
                channels,
                size,
            };
            let out = emit_block(&mut g, &mut layers, name, block, input)?;
            (x, channels, size) = (out.value, out.channels, out.size);
        }
    }
    g.set_scope("head");
    let spikes = emit_lif(&mut g, &x, steps, &net.head_lif);
    layers.record("head".into(), &[channels, size.0, size.1], &spikes);
    emit_classifier(&mut g, &spikes, net);
    g.output("logits", &[Dim::batch(), Dim::Fixed(config.classes)]);
    let description = Description {
        producer: "snn-models ResSnn",
        layout: "images [batch, C, H, W], repeated over T -> logits [batch, classes]",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, layers, options, description))
}

/// A `[T, batch, C, H, W]` value with its channels and spatial size.
struct Sequence {
    value: String,
    channels: usize,
    size: (usize, usize),
}

/// The stem's convolutions (BatchNorm folded into the last) on the images, once, then its output
/// repeated over the T steps: returns the sequence and its spatial size.
fn emit_stem<B: Backend>(
    g: &mut GraphBuilder,
    images: &str,
    stem: &Stem<B>,
    mut size: (usize, usize),
    steps: usize,
) -> Result<(String, (usize, usize)), ExportError> {
    g.set_scope("stem");
    let mut y = images.to_owned();
    let last = stem.convs.len() - 1;
    for (i, conv) in stem.convs.iter().enumerate() {
        let bn = (i == last).then_some(&stem.bn);
        (y, size) = emit_conv(g, &y, conv, bn, size)?;
    }
    let zero = g.ints("axis", &[0]);
    let one_step = g.node("Unsqueeze", &[&y, &zero], &[]);
    let copies = vec![one_step.as_str(); steps];
    let x = g.node("Concat", &copies, &[("axis", Attr::Int(0))]);
    Ok((x, size))
}

/// One residual block: `LIF -> conv -> BN -> LIF -> conv -> BN [-> attention]` plus the
/// shortcut (identity, or average pooling, conv and BN).
fn emit_block<B: SnnBackend>(
    g: &mut GraphBuilder,
    layers: &mut Layers,
    name: String,
    block: &BasicBlock<B>,
    input: Sequence,
) -> Result<Sequence, ExportError> {
    let steps = layers.steps();
    let t = steps as i64;
    let Sequence {
        value: x,
        channels,
        size,
    } = input;
    let (h, w) = size;
    let spikes1 = emit_lif(g, &x, steps, &block.lif1);
    layers.record(format!("{name}.lif1"), &[channels, h, w], &spikes1);
    let frames = g.reshape(&spikes1, &[-1, channels as i64, h as i64, w as i64]);
    let (y1, size1) = emit_conv(g, &frames, &block.conv1, Some(&block.bn1), size)?;
    let width_out = block.conv1.weight.dims()[0];
    let seq1 = g.reshape(
        &y1,
        &[t, -1, width_out as i64, size1.0 as i64, size1.1 as i64],
    );
    let spikes2 = emit_lif(g, &seq1, steps, &block.lif2);
    layers.record(
        format!("{name}.lif2"),
        &[width_out, size1.0, size1.1],
        &spikes2,
    );
    let frames2 = g.reshape(
        &spikes2,
        &[-1, width_out as i64, size1.0 as i64, size1.1 as i64],
    );
    let (y2, size2) = emit_conv(g, &frames2, &block.conv2, Some(&block.bn2), size1)?;
    let mut residual = g.reshape(
        &y2,
        &[t, -1, width_out as i64, size2.0 as i64, size2.1 as i64],
    );
    if let Some(att) = &block.attention {
        let per_step = width_out * size2.0 * size2.1;
        residual = emit_attention(g, &residual, att, 5, per_step, Some(size2))?;
    }
    let shortcut = match &block.shortcut {
        Some(sc) => {
            let frames = g.reshape(&x, &[-1, channels as i64, h as i64, w as i64]);
            let pooled = emit_avg_pool(g, &frames, sc.pool);
            let pooled_size = (h / sc.pool, w / sc.pool);
            let (p, psize) = emit_conv(g, &pooled, &sc.conv, Some(&sc.bn), pooled_size)?;
            if psize != size2 {
                return Err(ExportError::BranchSize {
                    layer: name,
                    expected: [size2.0, size2.1],
                    found: [psize.0, psize.1],
                });
            }
            g.reshape(
                &p,
                &[t, -1, width_out as i64, size2.0 as i64, size2.1 as i64],
            )
        }
        None => x.clone(),
    };
    Ok(Sequence {
        value: g.node("Add", &[&residual, &shortcut], &[]),
        channels: width_out,
        size: size2,
    })
}

/// The classifier on the head's spikes averaged over space and time: writes `logits`.
fn emit_classifier<B: Backend>(g: &mut GraphBuilder, spikes: &str, net: &ResSnn<B>) {
    let spatial = g.node(
        "ReduceMean",
        &[spikes],
        &[("axes", Attr::Ints(vec![3, 4])), ("keepdims", Attr::Int(0))],
    );
    let pooled = g.node(
        "ReduceMean",
        &[&spatial],
        &[("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(0))],
    );
    let dims = net.fc.weight.dims();
    let weight = g.constant("weight", &dims, param_values(&net.fc.weight));
    let bias = match &net.fc.bias {
        Some(b) => param_values(b),
        None => vec![0.0; dims[1]],
    };
    let bias = g.constant("bias", &[dims[1]], bias);
    let product = g.node("MatMul", &[&pooled, &weight], &[]);
    g.node_to("Add", &[&product, &bias], &[], "logits");
}
