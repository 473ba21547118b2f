//! The fused batch-normalisation kernels for the CPU, on contiguous `[N, C, H, W]` data
//! (`[N, C, S]` is `H = 1, W = S`), optionally followed by a `k x k` block average pooling.
//!
//! Every pass works plane by plane (one `(frame, channel)` plane of `H x W` values), in
//! parallel over planes:
//! - statistics: each plane's sum and centred sum of squares, in eight vectorisable lanes in
//!   the element type, then combined per channel in f64 in a fixed order (Chan's parallel
//!   formula, so the variance does not suffer cancellation and the result does not depend on
//!   the thread count). One read of the input forward, one read of the input and the gradient
//!   backward;
//! - the element-wise pass writes every output element once, into memory that is not zeroed
//!   first.
//!
//! With pooling, the normalised full-resolution output is never written: normalisation is a
//! per-channel affine map, so it commutes with average pooling, and the backward pass spreads
//! the pooled gradient inside the same pass that applies the normalisation's gradient.

use std::mem::MaybeUninit;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_traits::ToPrimitive;
use rayon::prelude::*;

use super::{generic, BatchNormGrads, BatchNormTrain};
use crate::flex_util::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};

/// `[N, C, H, W]`.
type Dims = [usize; 4];

/// Lanes of the vectorised reductions.
const LANES: usize = 8;

pub(crate) fn to_f64<E: KernelFloat>(v: E) -> f64 {
    ToPrimitive::to_f64(&v).unwrap_or(f64::NAN)
}

/// `sum_i f(a[i], b[i])` in [`LANES`] independent accumulators (so it vectorises), then in f64.
#[inline]
fn lane_sum2<E: KernelFloat>(a: &[E], b: &[E], f: impl Fn(E, E) -> E) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [E::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] = acc[k] + f(xa[k], xb[k]);
        }
    }
    let mut total: f64 = acc.iter().map(|&v| to_f64(v)).sum();
    for (&xa, &xb) in ta.iter().zip(tb) {
        total += to_f64(f(xa, xb));
    }
    total
}

/// [`lane_sum2`] of one slice.
#[inline]
fn lane_sum<E: KernelFloat>(a: &[E], f: impl Fn(E) -> E) -> f64 {
    lane_sum2(a, a, |x, _| f(x))
}

/// A `Vec` of `len` elements filled plane by plane in parallel by `fill(plane_index, out)`,
/// which must write every element of `out` (planes of `plane` elements). The memory is not
/// zeroed first: at full size these buffers are hundreds of MiB, and zeroing them was a
/// measurable share of a training step.
pub(crate) fn par_planes<E: KernelFloat>(
    len: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<E>]) + Sync,
) -> Vec<E> {
    let mut out: Vec<E> = Vec::with_capacity(len);
    if plane > 0 {
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(plane)
            .enumerate()
            .with_min_len(4)
            .for_each(|(i, o)| fill(i, o));
    }
    // SAFETY: `fill` wrote every element of every plane (`len` is a multiple of `plane`
    // for every caller, and a zero-sized plane means `len == 0`).
    unsafe { out.set_len(len) };
    out
}

/// `f(index, plane)` for each of the `count` planes of `plane` elements of `x`, in parallel,
/// returned in order; `T::default()` for each when the planes are empty.
fn map_planes<E: KernelFloat, T: Send + Default + Clone>(
    x: &[E],
    plane: usize,
    count: usize,
    f: impl Fn(usize, &[E]) -> T + Sync + Send,
) -> Vec<T> {
    if plane == 0 {
        return vec![T::default(); count];
    }
    let mut out = Vec::with_capacity(count);
    x.par_chunks(plane)
        .enumerate()
        .with_min_len(16)
        .map(|(i, p)| f(i, p))
        .collect_into_vec(&mut out);
    out
}

/// Per-channel sums of `x` (`[N, C, S]` planes of `S`), in f64, in a fixed order.
pub(crate) fn channel_sums<E: KernelFloat>(x: &[E], [n, c, s]: [usize; 3]) -> Vec<f64> {
    let planes = map_planes(x, s, n * c, |_, p| lane_sum(p, |v| v));
    channel_totals(&planes, c, |&v| v)
}

/// Sums `value` of per-plane results (`[N, C]`, frame-major) per channel, frames in order.
fn channel_totals<T>(planes: &[T], c: usize, value: impl Fn(&T) -> f64) -> Vec<f64> {
    let mut out = vec![0.0; c];
    for (i, p) in planes.iter().enumerate() {
        out[i % c] += value(p);
    }
    out
}

/// Batch mean and biased variance per channel, in f64.
fn statistics<E: KernelFloat>(x: &[E], [n, c, h, w]: Dims) -> (Vec<f64>, Vec<f64>) {
    let s = h * w;
    if n * s == 0 {
        // No values: statistics 0 (and the output, if any, the bias).
        return (vec![0.0; c], vec![0.0; c]);
    }
    let count = (n * s) as f64;
    // Per plane: the sum and the sum of squares about the plane's own mean.
    let planes = map_planes(x, s, n * c, |_, p| {
        let sum = lane_sum(p, |v| v);
        let mean = sum / s as f64;
        let m: E = cast(mean);
        // sum (x - m)^2 = M2 + s (mean - m)^2 for the rounded centre m.
        let around_m = lane_sum(p, |v| (v - m) * (v - m));
        let d = mean - to_f64(m);
        (sum, (around_m - s as f64 * d * d).max(0.0))
    });
    let sums = channel_totals(&planes, c, |p| p.0);
    let mean: Vec<f64> = sums.iter().map(|v| v / count).collect();
    // Chan et al.: M2 = sum_p [M2_p + s (mean_p - mean)^2].
    let mut m2 = vec![0.0; c];
    for (i, &(sum, plane_m2)) in planes.iter().enumerate() {
        let d = sum / s as f64 - mean[i % c];
        m2[i % c] += plane_m2 + s as f64 * d * d;
    }
    let var = m2.into_iter().map(|v| v / count).collect();
    (mean, var)
}

/// Training-mode forward pass of `x` (`[N, C, H, W]`) followed by `k x k` block average
/// pooling (`k = 1`: none); returns the (pooled) output, the mean and the biased variance.
pub fn train_forward<E: KernelFloat>(
    x: &[E],
    weight: &[E],
    bias: &[E],
    dims: Dims,
    k: usize,
    epsilon: f64,
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let [n, c, h, w] = dims;
    assert_eq!(x.len(), n * c * h * w, "input length");
    assert!(k >= 1 && h % k == 0 && w % k == 0, "pooling {k} of {h}x{w}");
    let (mean, var) = statistics(x, dims);
    let mean_e: Vec<E> = mean.iter().map(|&m| cast(m)).collect();
    let scale: Vec<E> = (0..c)
        .map(|ch| cast(to_f64(weight[ch]) / (var[ch] + epsilon).sqrt()))
        .collect();
    let (oh, ow) = (h / k, w / k);
    let inv_area: E = cast(1.0 / (k * k) as f64);
    let out = par_planes(n * c * oh * ow, oh * ow, |plane, o| {
        let ch = plane % c;
        let (m, sc, b) = (mean_e[ch], scale[ch], bias[ch]);
        let xp = &x[plane * h * w..(plane + 1) * h * w];
        if k == 1 {
            for (o, &v) in o.iter_mut().zip(xp) {
                o.write((v - m) * sc + b);
            }
            return;
        }
        for (py, orow) in o.chunks_exact_mut(ow).enumerate() {
            for (px, o) in orow.iter_mut().enumerate() {
                let mut block = E::zero();
                for row in xp[py * k * w..(py + 1) * k * w].chunks_exact(w) {
                    for &v in &row[px * k..(px + 1) * k] {
                        block = block + v;
                    }
                }
                o.write((block * inv_area - m) * sc + b);
            }
        }
    });
    (out, mean_e, var.into_iter().map(cast).collect())
}

/// Training-mode backward pass of [`train_forward`]: `grad` is the gradient of the (pooled)
/// output; returns the input, weight and bias gradients.
#[allow(clippy::too_many_arguments)]
pub fn train_backward<E: KernelFloat>(
    x: &[E],
    weight: &[E],
    mean: &[E],
    var: &[E],
    epsilon: f64,
    grad: &[E],
    dims: Dims,
    k: usize,
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let [n, c, h, w] = dims;
    let (oh, ow) = (h / k, w / k);
    assert_eq!(x.len(), n * c * h * w, "input length");
    assert_eq!(grad.len(), n * c * oh * ow, "gradient length");
    let count = (n * h * w).max(1) as f64;
    let inv_area: E = cast(1.0 / (k * k) as f64);
    // Per plane: sum(g) and sum(g * (x - mean)) of the full-resolution gradient, which is the
    // pooled one spread evenly over each block.
    let planes = map_planes(grad, oh * ow, n * c, |plane, g| {
        let m = mean[plane % c];
        let xp = &x[plane * h * w..(plane + 1) * h * w];
        if k == 1 {
            return (lane_sum(g, |v| v), lane_sum2(g, xp, |g, x| g * (x - m)));
        }
        let mut gx = 0.0;
        for (y, row) in xp.chunks_exact(w).enumerate() {
            let grow = &g[(y / k) * ow..(y / k + 1) * ow];
            let mut acc = E::zero();
            for (&gv, block) in grow.iter().zip(row.chunks_exact(k)) {
                let mut centred = E::zero();
                for &v in block {
                    centred = centred + (v - m);
                }
                acc = acc + gv * centred;
            }
            gx += to_f64(acc * inv_area);
        }
        (lane_sum(g, |v| v), gx)
    });
    let sum_g = channel_totals(&planes, c, |p| p.0);
    let sum_gx = channel_totals(&planes, c, |p| p.1);
    let inv_std: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (to_f64(v) + epsilon).sqrt())
        .collect();
    // dx = kk * g + q + r * (x - mean), with kk = gamma / sigma, q = -kk * mean(g),
    // r = -kk / sigma^2 * mean(g * (x - mean)).
    let kk: Vec<f64> = (0..c).map(|ch| to_f64(weight[ch]) * inv_std[ch]).collect();
    let kk_e: Vec<E> = kk.iter().map(|&v| cast(v)).collect();
    let q: Vec<E> = (0..c).map(|ch| cast(-kk[ch] * sum_g[ch] / count)).collect();
    let r: Vec<E> = (0..c)
        .map(|ch| cast(-kk[ch] * inv_std[ch] * inv_std[ch] * sum_gx[ch] / count))
        .collect();
    let grad_x = par_planes(x.len(), h * w, |plane, o| {
        let ch = plane % c;
        let (kc, qc, rc, m) = (kk_e[ch], q[ch], r[ch], mean[ch]);
        let xp = &x[plane * h * w..(plane + 1) * h * w];
        let g = &grad[plane * oh * ow..(plane + 1) * oh * ow];
        if k == 1 {
            for ((o, &v), &gv) in o.iter_mut().zip(xp).zip(g) {
                o.write(kc * gv + qc + rc * (v - m));
            }
            return;
        }
        for (y, (orow, xrow)) in o.chunks_exact_mut(w).zip(xp.chunks_exact(w)).enumerate() {
            let grow = &g[(y / k) * ow..(y / k + 1) * ow];
            for ((oblock, xblock), &gv) in
                orow.chunks_exact_mut(k).zip(xrow.chunks_exact(k)).zip(grow)
            {
                let spread = kc * (gv * inv_area) + qc;
                for (o, &v) in oblock.iter_mut().zip(xblock) {
                    o.write(spread + rc * (v - m));
                }
            }
        }
    });
    let grad_weight = (0..c).map(|ch| cast(sum_gx[ch] * inv_std[ch])).collect();
    let grad_bias = sum_g.into_iter().map(cast).collect();
    (grad_x, grad_weight, grad_bias)
}

/// `x * scale[c] + shift[c]` for `[N, C, S]`.
pub fn channel_affine<E: KernelFloat>(
    x: &[E],
    scale: &[E],
    shift: &[E],
    [n, c, s]: [usize; 3],
) -> Vec<E> {
    par_planes(n * c * s, s, |plane, o| {
        let (a, b) = (scale[plane % c], shift[plane % c]);
        for (o, &v) in o.iter_mut().zip(&x[plane * s..(plane + 1) * s]) {
            o.write(v * a + b);
        }
    })
}

// --- burn-flex glue --------------------------------------------------------------------------

/// `[N, C, H, W]` of a rank-3 (`[N, C, S]` as `H = 1`) or rank-4 tensor.
fn kernel_dims(t: &FlexTensor) -> Option<Dims> {
    let shape = t.shape();
    match shape.num_dims() {
        3 => {
            let [n, c, s] = shape.dims::<3>();
            Some([n, c, 1, s])
        }
        4 => Some(shape.dims::<4>()),
        _ => None,
    }
}

/// Whether every tensor has the first one's dtype, f32 or f64, and `x` is rank 3 or 4.
fn kernel_dtype(tensors: &[&FlexTensor]) -> Option<DType> {
    let dtype = tensors[0].dtype();
    (matches!(dtype, DType::F32 | DType::F64)
        && tensors.iter().all(|t| t.dtype() == dtype)
        && kernel_dims(tensors[0]).is_some())
    .then_some(dtype)
}

/// A `[len]` tensor of per-channel values.
fn vec_tensor<E: KernelFloat>(values: Vec<E>) -> FlexTensor {
    let len = values.len();
    flex_from_vec(values, Shape::new([len]))
}

/// The output shape of `x` pooled by `k` over its last two axes (rank 4) or not at all.
fn pooled_shape(x: &FlexTensor, k: usize) -> Shape {
    let mut dims = x.shape().to_vec();
    if dims.len() == 4 {
        dims[2] /= k;
        dims[3] /= k;
    }
    Shape::from(dims)
}

/// [`super::BatchNormBackend::batch_norm_train`] for `Flex` (`k = 1`: no pooling).
pub(crate) fn flex_train_forward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    bias: FloatTensor<Flex>,
    epsilon: f64,
    k: usize,
) -> BatchNormTrain<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        w: &FlexTensor,
        b: &FlexTensor,
        eps: f64,
        k: usize,
    ) -> BatchNormTrain<Flex> {
        let dims = kernel_dims(x).expect("checked rank");
        let shape = pooled_shape(x, k);
        let (x, w, b) = (contiguous::<E>(x), contiguous::<E>(w), contiguous::<E>(b));
        let (out, mean, var) = train_forward(
            typed_slice::<E>(&x),
            typed_slice(&w),
            typed_slice(&b),
            dims,
            k,
            eps,
        );
        BatchNormTrain {
            output: flex_from_vec(out, shape),
            mean: vec_tensor(mean),
            var: vec_tensor(var),
        }
    }
    match kernel_dtype(&[&x, &weight, &bias]) {
        Some(DType::F32) => run::<f32>(&x, &weight, &bias, epsilon, k),
        Some(_) => run::<f64>(&x, &weight, &bias, epsilon, k),
        None => generic::train_forward::<Flex>(x, weight, bias, epsilon, k),
    }
}

/// [`super::BatchNormBackend::batch_norm_train_backward`] for `Flex`.
pub(crate) fn flex_train_backward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    mean: FloatTensor<Flex>,
    var: FloatTensor<Flex>,
    epsilon: f64,
    k: usize,
    grad_output: FloatTensor<Flex>,
) -> BatchNormGrads<Flex> {
    fn run<E: KernelFloat>(t: [&FlexTensor; 5], eps: f64, k: usize) -> BatchNormGrads<Flex> {
        let dims = kernel_dims(t[0]).expect("checked rank");
        let shape = t[0].shape();
        let [x, w, m, v, g] = t.map(contiguous::<E>);
        let (gx, gw, gb) = train_backward(
            typed_slice::<E>(&x),
            typed_slice(&w),
            typed_slice(&m),
            typed_slice(&v),
            eps,
            typed_slice(&g),
            dims,
            k,
        );
        BatchNormGrads {
            input: flex_from_vec(gx, shape),
            weight: vec_tensor(gw),
            bias: vec_tensor(gb),
        }
    }
    let t = [&x, &weight, &mean, &var, &grad_output];
    match kernel_dtype(&t) {
        Some(DType::F32) => run::<f32>(t, epsilon, k),
        Some(_) => run::<f64>(t, epsilon, k),
        None => generic::train_backward::<Flex>(x, weight, mean, var, epsilon, k, grad_output),
    }
}

/// [`super::BatchNormBackend::channel_affine`] for `Flex`.
pub(crate) fn flex_channel_affine(
    x: FloatTensor<Flex>,
    scale: FloatTensor<Flex>,
    shift: FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(x: &FlexTensor, a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
        let [n, c, h, w] = kernel_dims(x).expect("checked rank");
        let shape = x.shape();
        let (x, a, b) = (contiguous::<E>(x), contiguous::<E>(a), contiguous::<E>(b));
        let out = channel_affine(
            typed_slice::<E>(&x),
            typed_slice(&a),
            typed_slice(&b),
            [n, c, h * w],
        );
        flex_from_vec(out, shape)
    }
    match kernel_dtype(&[&x, &scale, &shift]) {
        Some(DType::F32) => run::<f32>(&x, &scale, &shift),
        Some(_) => run::<f64>(&x, &scale, &shift),
        None => generic::channel_affine::<Flex>(x, scale, shift),
    }
}
