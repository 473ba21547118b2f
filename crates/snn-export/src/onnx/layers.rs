//! The layers every ONNX export is built from: frame-wise convolution and linear layers with
//! BatchNorm folded in, average pooling, and the neuron unrolled over T.

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::backend::Backend;
use snn_core::{Elementwise, Lif};
use snn_models::BatchNorm;

use super::neuron::{GraphValue, NeuronGraph};
use crate::graph::{Attr, GraphBuilder};
use crate::weights::{bn_affine, decay_value, fold, param_values};
use crate::ExportError;

/// A frame-wise convolution with an optional BatchNorm folded in, on `[N, C, H, W]` frames:
/// returns the output value and its spatial size.
pub(super) fn emit_conv<B: Backend>(
    g: &mut GraphBuilder,
    frames: &str,
    conv: &Conv2d<B>,
    bn: Option<&BatchNorm<B>>,
    (h, w): (usize, usize),
) -> Result<(String, (usize, usize)), ExportError> {
    let dims = conv.weight.dims();
    let c_out = dims[0];
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return Err(ExportError::Unsupported {
            layer: g.scope().to_owned(),
            feature: "grouped or dilated convolutions".into(),
        });
    }
    let pads = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        PaddingConfig2d::Same => {
            return Err(ExportError::Unsupported {
                layer: g.scope().to_owned(),
                feature: "`Same` convolution padding".into(),
            })
        }
    };
    let mut weight = param_values(&conv.weight);
    let mut bias = match &conv.bias {
        Some(b) => param_values(b),
        None => vec![0.0; c_out],
    };
    if let Some(bn) = bn {
        let (scale, shift) = bn_affine(bn);
        fold(&mut weight, &mut bias, &scale, &shift, true);
    }
    let weight = g.constant("weight", &dims, weight);
    let bias = g.constant("bias", &[c_out], bias);
    let y = g.node(
        "Conv",
        &[frames, &weight, &bias],
        &[
            (
                "kernel_shape",
                Attr::Ints(vec![dims[2] as i64, dims[3] as i64]),
            ),
            (
                "strides",
                Attr::Ints(conv.stride.iter().map(|&s| s as i64).collect()),
            ),
            ("pads", Attr::Ints(pads.iter().map(|&p| p as i64).collect())),
        ],
    );
    let out = |size: usize, k: usize, before: usize, after: usize, stride: usize| {
        (size + before + after)
            .checked_sub(k)
            .filter(|_| size > 0)
            .map(|span| span / stride + 1)
    };
    match (
        out(h, dims[2], pads[0], pads[2], conv.stride[0]),
        out(w, dims[3], pads[1], pads[3], conv.stride[1]),
    ) {
        (Some(oh), Some(ow)) => Ok((y, (oh, ow))),
        _ => Err(ExportError::InputSize {
            layer: g.scope().to_owned(),
            input: [h, w],
            reason: format!("too small for a {}x{} convolution", dims[2], dims[3]),
        }),
    }
}

/// `AveragePool` with kernel = stride = `pool` (no padding, floor), as the models use.
pub(super) fn emit_avg_pool(g: &mut GraphBuilder, x: &str, pool: usize) -> String {
    let p = pool as i64;
    g.node(
        "AveragePool",
        &[x],
        &[
            ("kernel_shape", Attr::Ints(vec![p, p])),
            ("strides", Attr::Ints(vec![p, p])),
        ],
    )
}

/// `x W + b` on `[N, in]` rows (burn's `[in, out]` weight), with an optional BatchNorm folded in.
pub(super) fn emit_linear<B: Backend>(
    g: &mut GraphBuilder,
    x: &str,
    linear: &Linear<B>,
    bn: Option<&BatchNorm<B>>,
) -> (String, usize) {
    let dims = linear.weight.dims(); // [in, out]
    let out = dims[1];
    let mut weight = param_values(&linear.weight);
    let mut bias = match &linear.bias {
        Some(b) => param_values(b),
        None => vec![0.0; out],
    };
    if let Some(bn) = bn {
        let (scale, shift) = bn_affine(bn);
        fold(&mut weight, &mut bias, &scale, &shift, false);
    }
    let weight = g.constant("weight", &dims, weight);
    let bias = g.constant("bias", &[out], bias);
    let y = g.node("MatMul", &[x, &weight], &[]);
    (g.node("Add", &[&y, &bias], &[]), out)
}

/// Emits the neuron over a `[T, batch, ...]` value: returns the spikes, same shape.
///
/// Unrolled over time; each step's spike test and state after the step are the neuron's own
/// rules (`snn_core::neuron::rule`) evaluated on graph values ([`GraphValue`]).
pub(super) fn emit_lif<B: Backend>(
    g: &mut GraphBuilder,
    x: &str,
    steps: usize,
    lif: &Lif<B>,
) -> String {
    let rule = lif.config().rule;
    let decay = g.constant("decay", &[], vec![decay_value(lif)]);
    let parts = g.node_n("Split", &[x], &[("axis", Attr::Int(0))], steps);
    let graph = NeuronGraph::new(g);
    let decay = GraphValue::new(&graph, decay);
    let mut h: Option<GraphValue> = None;
    let mut spikes = Vec::with_capacity(steps);
    for (t, x_t) in parts.into_iter().enumerate() {
        let x_t = GraphValue::new(&graph, x_t);
        let u = match h.take() {
            Some(h) => h.add(x_t),
            None => x_t,
        };
        let s = rule.spike(u.clone());
        if t + 1 < steps {
            h = Some(rule.next_state(u, s.clone(), decay.clone()));
        }
        spikes.push(s.name);
    }
    let refs: Vec<&str> = spikes.iter().map(String::as_str).collect();
    let mut graph = graph.into_inner();
    graph
        .builder()
        .node("Concat", &refs, &[("axis", Attr::Int(0))])
}
