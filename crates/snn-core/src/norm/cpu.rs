//! The fused batch-normalisation kernels for the CPU, on contiguous `[N, C, S]` data.
//!
//! Per-channel sums run in parallel over channels and accumulate in f64 (two passes: the mean,
//! then the centred squares, so the variance does not suffer cancellation); element-wise passes
//! run in parallel over the `N` axis with per-channel coefficients computed once.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_traits::ToPrimitive;
use rayon::prelude::*;

use super::{generic, BatchNormGrads, BatchNormTrain};
use crate::fused::cpu::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};

/// `[N, C, S]`.
type Dims = [usize; 3];

/// Sum over `N` and `S` of `f(i)` for each channel, where `i` runs over the channel's flat
/// indices; in parallel over channels.
pub(crate) fn channel_sums(dims: Dims, f: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
    let [n, c, s] = dims;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut total = 0.0;
            for frame in 0..n {
                let start = (frame * c + ch) * s;
                for i in start..start + s {
                    total += f(i, ch);
                }
            }
            total
        })
        .collect()
}

pub(crate) fn to_f64<E: KernelFloat>(v: E) -> f64 {
    ToPrimitive::to_f64(&v).unwrap_or(f64::NAN)
}

/// Applies `f(value_index, channel)` to every element of `out` (`[N, C, S]`), in parallel over `N`.
fn per_element<E: KernelFloat>(out: &mut [E], dims: Dims, f: impl Fn(usize, usize) -> E + Sync) {
    let [_, c, s] = dims;
    if c * s == 0 {
        return;
    }
    out.par_chunks_mut(c * s)
        .enumerate()
        .with_min_len(4)
        .for_each(|(frame, chunk)| {
            for (ch, plane) in chunk.chunks_exact_mut(s).enumerate() {
                let base = (frame * c + ch) * s;
                for (j, o) in plane.iter_mut().enumerate() {
                    *o = f(base + j, ch);
                }
            }
        });
}

/// Training-mode forward pass; returns the output, the mean and the biased variance.
pub fn train_forward<E: KernelFloat>(
    x: &[E],
    weight: &[E],
    bias: &[E],
    dims: Dims,
    epsilon: f64,
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let [n, c, s] = dims;
    assert_eq!(x.len(), n * c * s, "input length");
    let count = (n * s).max(1) as f64;
    let mean: Vec<f64> = channel_sums(dims, |i, _| to_f64(x[i]))
        .into_iter()
        .map(|v| v / count)
        .collect();
    let var: Vec<f64> = channel_sums(dims, |i, ch| {
        let d = to_f64(x[i]) - mean[ch];
        d * d
    })
    .into_iter()
    .map(|v| v / count)
    .collect();
    let mean_e: Vec<E> = mean.iter().map(|&m| cast(m)).collect();
    let scale: Vec<E> = (0..c)
        .map(|ch| cast(to_f64(weight[ch]) / (var[ch] + epsilon).sqrt()))
        .collect();
    let mut out = vec![E::zero(); x.len()];
    per_element(&mut out, dims, |i, ch| {
        (x[i] - mean_e[ch]) * scale[ch] + bias[ch]
    });
    (out, mean_e, var.into_iter().map(cast).collect())
}

/// Training-mode backward pass; returns the input, weight and bias gradients.
pub fn train_backward<E: KernelFloat>(
    x: &[E],
    weight: &[E],
    mean: &[E],
    var: &[E],
    epsilon: f64,
    grad: &[E],
    dims: Dims,
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let [n, c, s] = dims;
    assert_eq!(x.len(), n * c * s, "input length");
    assert_eq!(grad.len(), x.len(), "gradient length");
    let count = (n * s).max(1) as f64;
    let sum_g = channel_sums(dims, |i, _| to_f64(grad[i]));
    let sum_gx = channel_sums(dims, |i, ch| {
        to_f64(grad[i]) * (to_f64(x[i]) - to_f64(mean[ch]))
    });
    let inv_std: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (to_f64(v) + epsilon).sqrt())
        .collect();
    // dx = k * g + q + r * (x - mean), with k = gamma / sigma, q = -k * mean(g),
    // r = -k / sigma^2 * mean(g * (x - mean)).
    let k: Vec<f64> = (0..c).map(|ch| to_f64(weight[ch]) * inv_std[ch]).collect();
    let k_e: Vec<E> = k.iter().map(|&v| cast(v)).collect();
    let q: Vec<E> = (0..c).map(|ch| cast(-k[ch] * sum_g[ch] / count)).collect();
    let r: Vec<E> = (0..c)
        .map(|ch| cast(-k[ch] * inv_std[ch] * inv_std[ch] * sum_gx[ch] / count))
        .collect();
    let mut grad_x = vec![E::zero(); x.len()];
    per_element(&mut grad_x, dims, |i, ch| {
        k_e[ch] * grad[i] + q[ch] + r[ch] * (x[i] - mean[ch])
    });
    let grad_weight = (0..c).map(|ch| cast(sum_gx[ch] * inv_std[ch])).collect();
    let grad_bias = sum_g.into_iter().map(cast).collect();
    (grad_x, grad_weight, grad_bias)
}

/// `x * scale[c] + shift[c]`.
pub fn channel_affine<E: KernelFloat>(x: &[E], scale: &[E], shift: &[E], dims: Dims) -> Vec<E> {
    let mut out = vec![E::zero(); x.len()];
    per_element(&mut out, dims, |i, ch| x[i] * scale[ch] + shift[ch]);
    out
}

// --- burn-flex glue --------------------------------------------------------------------------

fn dims3(t: &FlexTensor) -> Option<Dims> {
    let shape = t.shape();
    (shape.num_dims() == 3).then(|| shape.dims::<3>())
}

/// Whether every tensor has the first one's dtype, f32 or f64, and `x` is rank 3.
fn kernel_dtype(tensors: &[&FlexTensor]) -> Option<DType> {
    let dtype = tensors[0].dtype();
    (matches!(dtype, DType::F32 | DType::F64)
        && tensors.iter().all(|t| t.dtype() == dtype)
        && dims3(tensors[0]).is_some())
    .then_some(dtype)
}

/// A `[len]` tensor of per-channel values.
fn vec_tensor<E: KernelFloat>(values: Vec<E>) -> FlexTensor {
    let len = values.len();
    flex_from_vec(values, Shape::new([len]))
}

/// [`super::BatchNormBackend::batch_norm_train`] for `Flex`.
pub(crate) fn flex_train_forward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    bias: FloatTensor<Flex>,
    epsilon: f64,
) -> BatchNormTrain<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        w: &FlexTensor,
        b: &FlexTensor,
        eps: f64,
    ) -> BatchNormTrain<Flex> {
        let dims = dims3(x).expect("checked rank");
        let (x, w, b) = (contiguous::<E>(x), contiguous::<E>(w), contiguous::<E>(b));
        let (out, mean, var) = train_forward(
            typed_slice::<E>(&x),
            typed_slice(&w),
            typed_slice(&b),
            dims,
            eps,
        );
        BatchNormTrain {
            output: flex_from_vec(out, Shape::new(dims)),
            mean: vec_tensor(mean),
            var: vec_tensor(var),
        }
    }
    match kernel_dtype(&[&x, &weight, &bias]) {
        Some(DType::F32) => run::<f32>(&x, &weight, &bias, epsilon),
        Some(_) => run::<f64>(&x, &weight, &bias, epsilon),
        None => generic::train_forward::<Flex>(x, weight, bias, epsilon),
    }
}

/// [`super::BatchNormBackend::batch_norm_train_backward`] for `Flex`.
pub(crate) fn flex_train_backward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    mean: FloatTensor<Flex>,
    var: FloatTensor<Flex>,
    epsilon: f64,
    grad_output: FloatTensor<Flex>,
) -> BatchNormGrads<Flex> {
    fn run<E: KernelFloat>(t: [&FlexTensor; 5], eps: f64) -> BatchNormGrads<Flex> {
        let dims = dims3(t[0]).expect("checked rank");
        let [x, w, m, v, g] = t.map(contiguous::<E>);
        let (gx, gw, gb) = train_backward(
            typed_slice::<E>(&x),
            typed_slice(&w),
            typed_slice(&m),
            typed_slice(&v),
            eps,
            typed_slice(&g),
            dims,
        );
        BatchNormGrads {
            input: flex_from_vec(gx, Shape::new(dims)),
            weight: vec_tensor(gw),
            bias: vec_tensor(gb),
        }
    }
    match kernel_dtype(&[&x, &weight, &mean, &var, &grad_output]) {
        Some(DType::F32) => run::<f32>([&x, &weight, &mean, &var, &grad_output], epsilon),
        Some(_) => run::<f64>([&x, &weight, &mean, &var, &grad_output], epsilon),
        None => generic::train_backward::<Flex>(x, weight, mean, var, epsilon, grad_output),
    }
}

/// [`super::BatchNormBackend::channel_affine`] for `Flex`.
pub(crate) fn flex_channel_affine(
    x: FloatTensor<Flex>,
    scale: FloatTensor<Flex>,
    shift: FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(x: &FlexTensor, a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
        let dims = dims3(x).expect("checked rank");
        let (x, a, b) = (contiguous::<E>(x), contiguous::<E>(a), contiguous::<E>(b));
        let out = channel_affine(typed_slice::<E>(&x), typed_slice(&a), typed_slice(&b), dims);
        flex_from_vec(out, Shape::new(dims))
    }
    match kernel_dtype(&[&x, &scale, &shift]) {
        Some(DType::F32) => run::<f32>(&x, &scale, &shift),
        Some(_) => run::<f64>(&x, &scale, &shift),
        None => generic::channel_affine::<Flex>(x, scale, shift),
    }
}
