//! Reading a trained network's weights for export: parameter values as `f32`, evaluation-mode
//! BatchNorm as a per-channel affine map folded into the layer before it, and the decay a
//! neuron uses at inference. Shared by the ONNX and NIR exports.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::Lif;
use snn_models::BatchNorm;

/// A tensor's values as `f32`.
fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 after convert")
}

/// A parameter's values as `f32`.
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
