//! Official-form attention as standard operators: reductions for the squeezes, MatMuls for the
//! shared MLP, a k x k `Conv` for the spatial map, `Mul` for the rescaling.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use ma_attention::{AttentionForm, AttentionKind, MultiDimAttention};

use crate::graph::{Attr, GraphBuilder};
use crate::weights::param_values;
use crate::ExportError;

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

/// The shared MLP's two weights with their shapes.
fn mlp_weights<B: Backend>(mlp: &ma_attention::SharedMlp<B>) -> [(Vec<f32>, [usize; 2]); 2] {
    let dims = |p: &Param<Tensor<B, 2>>| p.dims();
    [
        (param_values(&mlp.squeeze), dims(&mlp.squeeze)),
        (param_values(&mlp.excite), dims(&mlp.excite)),
    ]
}

/// The official-form attention on a `[T, batch, ...]` value of rank `rank` (5 for conv
/// layers, 3 for fc layers), `per_step` features per (t, b).
pub(super) fn emit_attention<B: Backend>(
    g: &mut GraphBuilder,
    x: &str,
    att: &MultiDimAttention<B>,
    rank: usize,
    per_step: usize,
    spatial_dims: Option<(usize, usize)>,
) -> Result<String, ExportError> {
    let config = att.config();
    if config.form != AttentionForm::Official {
        return Err(ExportError::Unsupported {
            layer: g.scope().to_owned(),
            feature: "the paper-form attention (inside the recurrence) has no ONNX export yet"
                .into(),
        });
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
