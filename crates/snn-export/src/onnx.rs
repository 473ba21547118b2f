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

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use ma_attention::{AttentionForm, AttentionKind, MultiDimAttention};
use onnx_protobuf::{GraphProto, Message, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use snn_core::{FireTest, Lif, LifConfig, Reset, SnnBackend};
use snn_models::{BatchNorm, EventNet, PlifNet, ResSnn};

use crate::graph::{Attr, Dim, GraphBuilder};
use crate::ExportError;

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

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 after convert")
}

pub(crate) fn param_values<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> Vec<f32> {
    values(p.val())
}

/// BatchNorm in evaluation mode as `y = x * scale + shift`, per channel.
pub(crate) fn bn_affine<B: Backend>(bn: &BatchNorm<B>) -> (Vec<f32>, Vec<f32>) {
    let (scale, shift) = bn.eval_affine();
    (values(scale), values(shift))
}

/// Folds `BN(W x + b)` into `W' x + b'`: each output channel's weights (the `per_out`
/// consecutive values starting at `o * per_out` when `out_major`, else every `outs`-th value)
/// times its scale.
pub(crate) fn fold(
    weight: &mut [f32],
    bias: &mut [f32],
    scale: &[f32],
    shift: &[f32],
    out_major: bool,
) {
    let outs = scale.len();
    if out_major {
        let per_out = weight.len() / outs;
        for (o, chunk) in weight.chunks_mut(per_out).enumerate() {
            chunk.iter_mut().for_each(|w| *w *= scale[o]);
        }
    } else {
        for (i, w) in weight.iter_mut().enumerate() {
            *w *= scale[i % outs];
        }
    }
    for o in 0..outs {
        bias[o] = bias[o] * scale[o] + shift[o];
    }
}

/// A frame-wise convolution with an optional BatchNorm folded in, on `[N, C, H, W]` frames:
/// returns the output value and its spatial size.
fn emit_conv<B: Backend>(
    g: &mut GraphBuilder,
    frames: &str,
    conv: &Conv2d<B>,
    bn: Option<&BatchNorm<B>>,
    (h, w): (usize, usize),
) -> Result<(String, (usize, usize)), ExportError> {
    let dims = conv.weight.dims();
    let c_out = dims[0];
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return Err(ExportError::Unsupported(
            "grouped or dilated convolutions".into(),
        ));
    }
    let pads = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        PaddingConfig2d::Same => {
            return Err(ExportError::Unsupported(
                "`Same` convolution padding".into(),
            ))
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
        _ => Err(ExportError::Unsupported(format!(
            "a {}x{} convolution on a {h}x{w} input: the input is too small",
            dims[2], dims[3]
        ))),
    }
}

/// `AveragePool` with kernel = stride = `pool` (no padding, floor), as the models use.
fn emit_avg_pool(g: &mut GraphBuilder, x: &str, pool: usize) -> String {
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

/// The decay a neuron uses at inference.
pub(crate) fn decay_value<B: Backend>(lif: &Lif<B>) -> f32 {
    match &lif.decay_logit {
        Some(logit) => {
            let w = f64::from(values(logit.val())[0]);
            (1.0 / (1.0 + (-w).exp())) as f32
        }
        None => lif.config().decay as f32,
    }
}

/// Emits the neuron over a `[T, batch, ...]` value: returns the spikes, same shape.
fn emit_lif<B: Backend>(g: &mut GraphBuilder, x: &str, steps: usize, lif: &Lif<B>) -> String {
    let rule = lif.config().rule;
    let decay = g.constant("decay", &[], vec![decay_value(lif)]);
    let threshold = g.constant("threshold", &[], vec![rule.threshold as f32]);
    let parts = g.node_n("Split", &[x], &[("axis", Attr::Int(0))], steps);
    let mut h: Option<String> = None;
    let mut spikes = Vec::with_capacity(steps);
    for (t, x_t) in parts.iter().enumerate() {
        let u = match &h {
            Some(h) => g.node("Add", &[h, x_t], &[]),
            None => x_t.clone(),
        };
        let test = match rule.fire_test {
            FireTest::GreaterOrEqual => "GreaterOrEqual",
            FireTest::Greater => "Greater",
        };
        let mask = g.node(test, &[&u, &threshold], &[]);
        let s = g.node("Cast", &[&mask], &[("to", Attr::Int(1))]);
        if t + 1 < steps {
            h = Some(match rule.reset {
                Reset::Hard { value } => {
                    let value = g.constant("reset_value", &[], vec![value as f32]);
                    let leaked = g.node("Mul", &[&u, &decay], &[]);
                    g.node("Where", &[&mask, &value, &leaked], &[])
                }
                Reset::Subtract => {
                    let drop = g.node("Mul", &[&s, &threshold], &[]);
                    let rest = g.node("Sub", &[&u, &drop], &[]);
                    g.node("Mul", &[&rest, &decay], &[])
                }
                Reset::LeakToThreshold => {
                    let kept = g.node("Where", &[&mask, &threshold, &u], &[]);
                    g.node("Mul", &[&kept, &decay], &[])
                }
            });
        }
        spikes.push(s);
    }
    let refs: Vec<&str> = spikes.iter().map(String::as_str).collect();
    g.node("Concat", &refs, &[("axis", Attr::Int(0))])
}

/// The shared MLP of an attention branch: `sigmoid(fc2(relu(fc1(avg))) + fc2(relu(fc1(max))))`
/// on `[rows, n]` descriptors.
fn emit_mlp(
    g: &mut GraphBuilder,
    avg: &str,
    max: &str,
    squeeze: (Vec<f32>, [usize; 2]),
    excite: (Vec<f32>, [usize; 2]),
) -> String {
    // Stored as PyTorch Linear weights `[out, in]`; MatMul wants `[in, out]`.
    let transpose = |(w, [rows, cols]): (Vec<f32>, [usize; 2])| {
        let mut t = vec![0f32; w.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        (t, [cols, rows])
    };
    let (sq, sq_dims) = transpose(squeeze);
    let (ex, ex_dims) = transpose(excite);
    let sq = g.constant("mlp_squeeze", &sq_dims, sq);
    let ex = g.constant("mlp_excite", &ex_dims, ex);
    let mut branch = |d: &str| {
        let hidden = g.node("MatMul", &[d, &sq], &[]);
        let hidden = g.node("Relu", &[&hidden], &[]);
        g.node("MatMul", &[&hidden, &ex], &[])
    };
    let a = branch(avg);
    let m = branch(max);
    let sum = g.node("Add", &[&a, &m], &[]);
    g.node("Sigmoid", &[&sum], &[])
}

fn mlp_weights<B: Backend>(mlp: &ma_attention::SharedMlp<B>) -> [(Vec<f32>, [usize; 2]); 2] {
    let dims = |p: &Param<Tensor<B, 2>>| p.dims();
    [
        (param_values(&mlp.squeeze), dims(&mlp.squeeze)),
        (param_values(&mlp.excite), dims(&mlp.excite)),
    ]
}

/// The official-form attention on a `[T, batch, ...]` value of rank `rank` (5 for conv
/// layers, 3 for fc layers), `per_step` features per (t, b).
fn emit_attention<B: Backend>(
    g: &mut GraphBuilder,
    x: &str,
    att: &MultiDimAttention<B>,
    rank: usize,
    per_step: usize,
    spatial_dims: Option<(usize, usize)>,
) -> Result<String, ExportError> {
    let config = att.config();
    if config.form != AttentionForm::Official {
        return Err(ExportError::Unsupported(
            "the paper-form attention (inside the recurrence) has no ONNX export yet".into(),
        ));
    }
    let steps = config.steps as i64;
    let mut out = x.to_owned();
    let unit = |rank: usize, lead: [i64; 2]| {
        let mut shape = vec![1i64; rank];
        shape[0] = lead[0];
        shape[1] = lead[1];
        shape
    };
    if let Some(ta) = &att.temporal {
        let flat = g.reshape(&out, &[steps, -1, per_step as i64]);
        let axes = Attr::Ints(vec![2]);
        let avg = g.node(
            "ReduceMean",
            &[&flat],
            &[("axes", axes.clone()), ("keepdims", Attr::Int(0))],
        );
        let max = g.node(
            "ReduceMax",
            &[&flat],
            &[("axes", axes), ("keepdims", Attr::Int(0))],
        );
        let perm = Attr::Ints(vec![1, 0]);
        let avg = g.node("Transpose", &[&avg], &[("perm", perm.clone())]);
        let max = g.node("Transpose", &[&max], &[("perm", perm.clone())]);
        let [sq, ex] = mlp_weights(&ta.mlp);
        let w = emit_mlp(g, &avg, &max, sq, ex);
        let w = g.node("Transpose", &[&w], &[("perm", perm)]);
        let w = g.reshape(&w, &unit(rank, [steps, -1]));
        out = g.node("Mul", &[&out, &w], &[]);
    }
    if let Some(ca) = &att.channel {
        let channels = config.channels as i64;
        let axes = Attr::Ints(vec![0, 3, 4]);
        let avg = g.node(
            "ReduceMean",
            &[&out],
            &[("axes", axes.clone()), ("keepdims", Attr::Int(0))],
        );
        let max = g.node(
            "ReduceMax",
            &[&out],
            &[("axes", axes), ("keepdims", Attr::Int(0))],
        );
        let [sq, ex] = mlp_weights(&ca.mlp);
        let w = emit_mlp(g, &avg, &max, sq, ex);
        let w = g.reshape(&w, &[1, -1, channels, 1, 1]);
        out = g.node("Mul", &[&out, &w], &[]);
    }
    if let Some(sa) = &att.spatial {
        let (height, width) = spatial_dims.expect("spatial attention on a conv layer");
        let axes = Attr::Ints(vec![0, 2]);
        let avg = g.node(
            "ReduceMean",
            &[&out],
            &[("axes", axes.clone()), ("keepdims", Attr::Int(0))],
        );
        let max = g.node(
            "ReduceMax",
            &[&out],
            &[("axes", axes), ("keepdims", Attr::Int(0))],
        );
        let one = g.ints("axis", &[1]);
        let avg = g.node("Unsqueeze", &[&avg, &one], &[]);
        let max = g.node("Unsqueeze", &[&max, &one], &[]);
        let maps = g.node("Concat", &[&avg, &max], &[("axis", Attr::Int(1))]);
        let dims = sa.weight.dims();
        let kernel = dims[3];
        let weight = g.constant("sa_weight", &dims, param_values(&sa.weight));
        let pad = (kernel / 2) as i64;
        let conv = g.node(
            "Conv",
            &[&maps, &weight],
            &[
                ("kernel_shape", Attr::Ints(vec![kernel as i64; 2])),
                ("pads", Attr::Ints(vec![pad; 4])),
            ],
        );
        let w = g.node("Sigmoid", &[&conv], &[]);
        let w = g.reshape(&w, &[1, -1, 1, height as i64, width as i64]);
        out = g.node("Mul", &[&out, &w], &[]);
    }
    if config.trailing_relu && config.kind != AttentionKind::None {
        out = g.node("Relu", &[&out], &[]);
    }
    Ok(out)
}

/// Exports an event network (any attention variant) as an ONNX model.
pub fn export_event_net<B: SnnBackend>(
    net: &EventNet<B>,
    options: &OnnxOptions,
) -> Result<ModelProto, ExportError> {
    let config = net.config();
    let steps = config.steps;
    let t = steps as i64;
    let batch = Dim::Named("batch".into());
    let mut g = GraphBuilder::new("event_net");
    let mut x = g.input(
        "frames",
        &[
            Dim::Fixed(steps),
            batch.clone(),
            Dim::Fixed(config.in_channels),
            Dim::Fixed(config.height),
            Dim::Fixed(config.width),
        ],
    );
    let mut layer_outputs = Vec::new();
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
        let mut seq = g.reshape(&y, &[t, -1, c_out as i64, h as i64, w as i64]);
        if let Some(att) = &block.attention {
            seq = emit_attention(&mut g, &seq, att, 5, c_out * h * w, Some((h, w)))?;
        }
        x = emit_lif(&mut g, &seq, steps, &block.lif);
        layer_outputs.push((
            name,
            vec![
                Dim::Fixed(steps),
                batch.clone(),
                Dim::Fixed(c_out),
                Dim::Fixed(h),
                Dim::Fixed(w),
            ],
            x.clone(),
        ));
        c_in = c_out;
    }
    let mut features = c_in * h * w;
    x = g.reshape(&x, &[-1, features as i64]);
    for (j, block) in net.fcs.iter().enumerate() {
        let name = format!("fc{j}");
        g.set_scope(&name);
        let (y, out) = emit_linear(&mut g, &x, &block.linear, Some(&block.bn));
        let mut seq = g.reshape(&y, &[t, -1, out as i64]);
        if let Some(att) = &block.attention {
            seq = emit_attention(&mut g, &seq, att, 3, out, None)?;
        }
        let spikes = emit_lif(&mut g, &seq, steps, &block.lif);
        layer_outputs.push((
            name,
            vec![Dim::Fixed(steps), batch.clone(), Dim::Fixed(out)],
            spikes.clone(),
        ));
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
    g.output("rates", &[batch, Dim::Fixed(config.classes)]);
    let description = Description {
        producer: "snn-models EventNet",
        layout: "frames [T, batch, C, H, W] -> rates [batch, classes]",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, &layer_outputs, options, description))
}

/// `x W + b` on `[N, in]` rows (burn's `[in, out]` weight), with an optional BatchNorm folded in.
fn emit_linear<B: Backend>(
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
    let batch = Dim::Named("batch".into());
    let mut g = GraphBuilder::new("plif_net");
    let mut x = g.input(
        "frames",
        &[
            Dim::Fixed(steps),
            batch.clone(),
            Dim::Fixed(config.in_channels),
            Dim::Fixed(config.size),
            Dim::Fixed(config.size),
        ],
    );
    let mut layer_outputs = Vec::new();
    let (mut h, mut w) = (config.size, config.size);
    let mut c_in = config.in_channels;
    for (i, block) in net.convs.iter().enumerate() {
        let name = format!("conv{i}");
        g.set_scope(&name);
        let c_out = block.conv.weight.dims()[0];
        let frames = g.reshape(&x, &[-1, c_in as i64, h as i64, w as i64]);
        let (y, size) = emit_conv(&mut g, &frames, &block.conv, Some(&block.bn), (h, w))?;
        (h, w) = size;
        let mut seq = g.reshape(&y, &[t, -1, c_out as i64, h as i64, w as i64]);
        if let Some(att) = &block.attention {
            seq = emit_attention(&mut g, &seq, att, 5, c_out * h * w, Some((h, w)))?;
        }
        let spikes = emit_lif(&mut g, &seq, steps, &block.lif);
        layer_outputs.push((
            name,
            vec![
                Dim::Fixed(steps),
                batch.clone(),
                Dim::Fixed(c_out),
                Dim::Fixed(h),
                Dim::Fixed(w),
            ],
            spikes.clone(),
        ));
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
        let mut seq = g.reshape(&y, &[t, -1, out as i64]);
        if let Some(att) = attention {
            seq = emit_attention(&mut g, &seq, att, 3, out, None)?;
        }
        let spikes = emit_lif(&mut g, &seq, steps, lif);
        layer_outputs.push((
            name.to_owned(),
            vec![Dim::Fixed(steps), batch.clone(), Dim::Fixed(out)],
            spikes.clone(),
        ));
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
    g.output("rates", &[batch, Dim::Fixed(classes)]);
    let description = Description {
        producer: "snn-models PlifNet",
        layout:
            "frames [T, batch, C, H, W] -> rates [batch, classes] (mean of each class's voters)",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, &layer_outputs, options, description))
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
    layer_outputs: &[(String, Vec<Dim>, String)],
    options: &OnnxOptions,
    description: Description<'_>,
) -> ModelProto {
    if options.layer_spikes {
        for (name, dims, value) in layer_outputs {
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
    let reset = match neuron.rule.reset {
        Reset::Hard { value } => format!("hard to {value}"),
        Reset::Subtract => "subtract threshold".into(),
        Reset::LeakToThreshold => "state decay * threshold after a spike (official MA-SNN)".into(),
    };
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
        return Err(ExportError::Unsupported(format!(
            "res-snn: input size {height}x{width} (both sides must be at least 1)"
        )));
    }
    let config = net.config();
    let steps = config.steps;
    let t = steps as i64;
    let batch = Dim::Named("batch".into());
    let mut g = GraphBuilder::new("res_snn");
    let images = g.input(
        "images",
        &[
            batch.clone(),
            Dim::Fixed(config.in_channels),
            Dim::Fixed(height),
            Dim::Fixed(width),
        ],
    );
    g.set_scope("stem");
    let mut y = images;
    let mut size = (height, width);
    let last = net.stem.convs.len() - 1;
    for (i, conv) in net.stem.convs.iter().enumerate() {
        let bn = (i == last).then_some(&net.stem.bn);
        (y, size) = emit_conv(&mut g, &y, conv, bn, size)?;
    }
    let mut channels = net.stem.bn.weight.dims()[0];
    let zero = g.ints("axis", &[0]);
    let one_step = g.node("Unsqueeze", &[&y, &zero], &[]);
    let copies = vec![one_step.as_str(); steps];
    let mut x = g.node("Concat", &copies, &[("axis", Attr::Int(0))]);
    let mut layer_outputs = Vec::new();
    let seq_dims = |c: usize, (h, w): (usize, usize)| {
        vec![
            Dim::Fixed(steps),
            batch.clone(),
            Dim::Fixed(c),
            Dim::Fixed(h),
            Dim::Fixed(w),
        ]
    };
    for (s, stage) in net.stages.iter().enumerate() {
        for (k, block) in stage.iter().enumerate() {
            let name = format!("stage{s}.block{k}");
            g.set_scope(&name);
            let (h, w) = size;
            let spikes1 = emit_lif(&mut g, &x, steps, &block.lif1);
            layer_outputs.push((
                format!("{name}.lif1"),
                seq_dims(channels, size),
                spikes1.clone(),
            ));
            let frames = g.reshape(&spikes1, &[-1, channels as i64, h as i64, w as i64]);
            let (y1, size1) = emit_conv(&mut g, &frames, &block.conv1, Some(&block.bn1), size)?;
            let width_out = block.conv1.weight.dims()[0];
            let seq1 = g.reshape(
                &y1,
                &[t, -1, width_out as i64, size1.0 as i64, size1.1 as i64],
            );
            let spikes2 = emit_lif(&mut g, &seq1, steps, &block.lif2);
            layer_outputs.push((
                format!("{name}.lif2"),
                seq_dims(width_out, size1),
                spikes2.clone(),
            ));
            let frames2 = g.reshape(
                &spikes2,
                &[-1, width_out as i64, size1.0 as i64, size1.1 as i64],
            );
            let (y2, size2) = emit_conv(&mut g, &frames2, &block.conv2, Some(&block.bn2), size1)?;
            let mut residual = g.reshape(
                &y2,
                &[t, -1, width_out as i64, size2.0 as i64, size2.1 as i64],
            );
            if let Some(att) = &block.attention {
                residual = emit_attention(
                    &mut g,
                    &residual,
                    att,
                    5,
                    width_out * size2.0 * size2.1,
                    Some(size2),
                )?;
            }
            let shortcut = match &block.shortcut {
                Some(sc) => {
                    let frames = g.reshape(&x, &[-1, channels as i64, h as i64, w as i64]);
                    let pooled = emit_avg_pool(&mut g, &frames, sc.pool);
                    let (p, psize) = emit_conv(
                        &mut g,
                        &pooled,
                        &sc.conv,
                        Some(&sc.bn),
                        (h / sc.pool, w / sc.pool),
                    )?;
                    if psize != size2 {
                        return Err(ExportError::Unsupported(format!(
                            "{name}: shortcut size {psize:?} differs from the block's {size2:?}"
                        )));
                    }
                    g.reshape(
                        &p,
                        &[t, -1, width_out as i64, size2.0 as i64, size2.1 as i64],
                    )
                }
                None => x.clone(),
            };
            x = g.node("Add", &[&residual, &shortcut], &[]);
            channels = width_out;
            size = size2;
        }
    }
    g.set_scope("head");
    let spikes = emit_lif(&mut g, &x, steps, &net.head_lif);
    layer_outputs.push(("head".into(), seq_dims(channels, size), spikes.clone()));
    let spatial = g.node(
        "ReduceMean",
        &[&spikes],
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
    g.output("logits", &[batch, Dim::Fixed(config.classes)]);
    let description = Description {
        producer: "snn-models ResSnn",
        layout: "images [batch, C, H, W], repeated over T -> logits [batch, classes]",
        steps,
        attention: config.attention,
        neuron: &config.neuron,
        config: serde_json::to_string(config).expect("config serialises"),
    };
    Ok(finish_model(g, &layer_outputs, options, description))
}

/// The model's protobuf bytes.
pub fn to_bytes(model: &ModelProto) -> Result<Vec<u8>, ExportError> {
    model
        .write_to_bytes()
        .map_err(|e| ExportError::Encode(e.to_string()))
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
