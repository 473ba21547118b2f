//! The block average-pooling kernels for the CPU, in parallel over `(N, C)` planes.

use burn::tensor::ops::{FloatTensor, ModuleOps};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use crate::flex_util::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};

/// Forward: `x` holds planes of `h x w`; returns planes of `(h / k) x (w / k)`.
pub fn forward<E: KernelFloat>(x: &[E], h: usize, w: usize, k: usize) -> Vec<E> {
    let (oh, ow) = (h / k, w / k);
    let scale: E = cast(1.0 / (k * k) as f64);
    let mut out = vec![E::zero(); x.len() / (k * k)];
    if oh * ow == 0 {
        return out;
    }
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .with_min_len(16)
        .for_each(|(o, plane)| {
            for (py, orow) in o.chunks_exact_mut(ow).enumerate() {
                orow.fill(E::zero());
                for row in plane[py * k * w..(py + 1) * k * w].chunks_exact(w) {
                    for (px, v) in orow.iter_mut().enumerate() {
                        for &e in &row[px * k..(px + 1) * k] {
                            *v = *v + e;
                        }
                    }
                }
                for v in orow.iter_mut() {
                    *v = *v * scale;
                }
            }
        });
    out
}

/// Backward: `grad` holds planes of `(h / k) x (w / k)`; returns planes of `h x w`.
pub fn backward<E: KernelFloat>(grad: &[E], h: usize, w: usize, k: usize) -> Vec<E> {
    let (oh, ow) = (h / k, w / k);
    let scale: E = cast(1.0 / (k * k) as f64);
    let mut out = vec![E::zero(); grad.len() * k * k];
    if oh * ow == 0 {
        return out;
    }
    out.par_chunks_mut(h * w)
        .zip(grad.par_chunks(oh * ow))
        .with_min_len(16)
        .for_each(|(plane, g)| {
            for (y, row) in plane.chunks_exact_mut(w).enumerate() {
                let grow = &g[(y / k) * ow..(y / k + 1) * ow];
                for (x, v) in row.iter_mut().enumerate() {
                    *v = grow[x / k] * scale;
                }
            }
        });
    out
}

/// Sum and maximum of a row, in eight lanes (the maximum is the same whatever the lane order;
/// ties do not matter for the value).
#[inline]
pub(crate) fn row_sum_max<E: KernelFloat>(row: &[E]) -> (E, E) {
    const LANES: usize = 8;
    let mut sums = [E::zero(); LANES];
    let mut tops = [E::neg_infinity(); LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for k in 0..LANES {
            sums[k] = sums[k] + chunk[k];
            tops[k] = if chunk[k] > tops[k] {
                chunk[k]
            } else {
                tops[k]
            };
        }
    }
    let mut sum = sums.iter().fold(E::zero(), |a, &b| a + b);
    let mut top = tops
        .iter()
        .fold(E::neg_infinity(), |a, &b| if b > a { b } else { a });
    for &v in tail {
        sum = sum + v;
        if v > top {
            top = v;
        }
    }
    (sum, top)
}

/// Mean and maximum over the middle axis of `[a, r, l]`; each `[a, l]`.
pub fn mean_max<E: KernelFloat>(x: &[E], [a, r, l]: [usize; 3]) -> (Vec<E>, Vec<E>) {
    let mut mean = vec![E::zero(); a * l];
    let mut max = vec![E::neg_infinity(); a * l];
    if a * r * l == 0 {
        return (mean, max);
    }
    let inv: E = cast(1.0 / r as f64);
    if l == 1 {
        // One contiguous row per output (CA, TA): eight independent lanes so the sum and the
        // maximum vectorise.
        mean.par_iter_mut()
            .zip(max.par_iter_mut())
            .zip(x.par_chunks(r))
            .with_min_len(64)
            .for_each(|((mean, max), row)| {
                let (sum, top) = row_sum_max(row);
                *mean = sum * inv;
                *max = top;
            });
        return (mean, max);
    }
    mean.par_chunks_mut(l)
        .zip(max.par_chunks_mut(l))
        .zip(x.par_chunks(r * l))
        .with_min_len(64)
        .for_each(|((mean, max), block)| {
            for row in block.chunks_exact(l) {
                for ((m, x), &v) in mean.iter_mut().zip(max.iter_mut()).zip(row) {
                    *m = *m + v;
                    // Strictly greater: the first maximum is kept (NaN never replaces it,
                    // but a NaN in the input makes the mean NaN).
                    if v > *x {
                        *x = v;
                    }
                }
            }
            for m in mean.iter_mut() {
                *m = *m * inv;
            }
        });
    (mean, max)
}

/// Backward of [`mean_max`]: `grad_mean / r` everywhere, plus `grad_max` at the first position
/// along `r` equal to the maximum.
pub fn mean_max_backward<E: KernelFloat>(
    x: &[E],
    max: &[E],
    grad_mean: Option<&[E]>,
    grad_max: Option<&[E]>,
    [a, r, l]: [usize; 3],
) -> Vec<E> {
    let mut out = vec![E::zero(); a * r * l];
    if a * r * l == 0 {
        return out;
    }
    let inv: E = cast(1.0 / r as f64);
    out.par_chunks_mut(r * l)
        .zip(x.par_chunks(r * l))
        .enumerate()
        .with_min_len(64)
        .for_each_init(
            || vec![false; l],
            |found, (i, (out, block))| {
                if let (Some(g), 1) = (grad_mean, l) {
                    out.fill(g[i] * inv);
                } else if let Some(g) = grad_mean {
                    let g = &g[i * l..(i + 1) * l];
                    for row in out.chunks_exact_mut(l) {
                        for (o, &g) in row.iter_mut().zip(g) {
                            *o = g * inv;
                        }
                    }
                }
                if let (Some(g), 1) = (grad_max, l) {
                    // One row: the first position equal to the maximum.
                    if let Some(p) = block.iter().position(|&v| v == max[i]) {
                        out[p] = out[p] + g[i];
                    }
                } else if let Some(g) = grad_max {
                    let (g, m) = (&g[i * l..(i + 1) * l], &max[i * l..(i + 1) * l]);
                    found.fill(false);
                    for (orow, xrow) in out.chunks_exact_mut(l).zip(block.chunks_exact(l)) {
                        for j in 0..l {
                            if !found[j] && xrow[j] == m[j] {
                                found[j] = true;
                                orow[j] = orow[j] + g[j];
                            }
                        }
                    }
                }
            },
        );
    out
}

fn kernel_dtype(t: &FlexTensor) -> Option<DType> {
    (matches!(t.dtype(), DType::F32 | DType::F64) && t.shape().num_dims() == 4).then(|| t.dtype())
}

/// [`super::PoolBackend::mean_max`] for `Flex`.
pub(crate) fn flex_mean_max(x: FloatTensor<Flex>) -> super::MeanMax<Flex> {
    fn run<E: KernelFloat>(x: &FlexTensor) -> super::MeanMax<Flex> {
        let dims = x.shape().dims::<3>();
        let x = contiguous::<E>(x);
        let (mean, max) = mean_max(typed_slice::<E>(&x), dims);
        let shape = Shape::new([dims[0], dims[2]]);
        super::MeanMax {
            mean: flex_from_vec(mean, shape.clone()),
            max: flex_from_vec(max, shape),
        }
    }
    let rank3 = x.shape().num_dims() == 3;
    match x.dtype() {
        DType::F32 if rank3 => run::<f32>(&x),
        DType::F64 if rank3 => run::<f64>(&x),
        _ => super::generic_mean_max::<Flex>(x),
    }
}

/// [`super::PoolBackend::mean_max_backward`] for `Flex`.
pub(crate) fn flex_mean_max_backward(
    x: FloatTensor<Flex>,
    max: FloatTensor<Flex>,
    grad_mean: Option<FloatTensor<Flex>>,
    grad_max: Option<FloatTensor<Flex>>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        max: &FlexTensor,
        grad_mean: Option<&FlexTensor>,
        grad_max: Option<&FlexTensor>,
    ) -> FlexTensor {
        let dims = x.shape().dims::<3>();
        let x = contiguous::<E>(x);
        let xs = typed_slice::<E>(&x);
        let max = contiguous::<E>(max);
        let gm = grad_mean.map(contiguous::<E>);
        let gx = grad_max.map(contiguous::<E>);
        let out = mean_max_backward(
            xs,
            typed_slice::<E>(&max),
            gm.as_ref().map(typed_slice::<E>),
            gx.as_ref().map(typed_slice::<E>),
            dims,
        );
        flex_from_vec(out, Shape::new(dims))
    }
    let dtype = x.dtype();
    let ok = x.shape().num_dims() == 3
        && max.dtype() == dtype
        && grad_mean
            .iter()
            .chain(grad_max.iter())
            .all(|g| g.dtype() == dtype);
    match dtype {
        DType::F32 if ok => run::<f32>(&x, &max, grad_mean.as_ref(), grad_max.as_ref()),
        DType::F64 if ok => run::<f64>(&x, &max, grad_mean.as_ref(), grad_max.as_ref()),
        _ => super::generic_mean_max_backward::<Flex>(x, max, grad_mean, grad_max),
    }
}

/// [`super::PoolBackend::block_avg_pool2d`] for `Flex`.
pub(crate) fn flex_forward(x: FloatTensor<Flex>, k: usize) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(x: &FlexTensor, k: usize) -> FlexTensor {
        let [n, c, h, w] = x.shape().dims::<4>();
        let x = contiguous::<E>(x);
        let out = forward(typed_slice::<E>(&x), h, w, k);
        flex_from_vec(out, Shape::new([n, c, h / k, w / k]))
    }
    match kernel_dtype(&x) {
        Some(DType::F32) => run::<f32>(&x, k),
        Some(_) => run::<f64>(&x, k),
        None => Flex::avg_pool2d(x, [k, k], [k, k], [0, 0], true, false),
    }
}

/// [`super::PoolBackend::block_avg_pool2d_backward`] for `Flex`.
pub(crate) fn flex_backward(
    grad: FloatTensor<Flex>,
    x_shape: Shape,
    k: usize,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(g: &FlexTensor, shape: Shape, k: usize) -> FlexTensor {
        let [_, _, h, w] = shape.dims::<4>();
        let g = contiguous::<E>(g);
        flex_from_vec(backward(typed_slice::<E>(&g), h, w, k), shape)
    }
    match kernel_dtype(&grad) {
        Some(DType::F32) => run::<f32>(&grad, x_shape, k),
        Some(_) => run::<f64>(&grad, x_shape, k),
        None => {
            use burn::tensor::ops::FloatTensorOps;
            let x = Flex::float_zeros(x_shape, &Default::default(), grad.dtype().into());
            Flex::avg_pool2d_backward(x, grad, [k, k], [k, k], [0, 0], true, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_of_a_known_plane() {
        let x: Vec<f64> = (0..16).map(|v| v as f64).collect();
        assert_eq!(forward(&x, 4, 4, 2), vec![2.5, 4.5, 10.5, 12.5]);
        let g = backward(&[4.0, 8.0, 12.0, 16.0], 4, 4, 2);
        assert_eq!(&g[..4], &[1.0, 1.0, 2.0, 2.0]);
        assert_eq!(&g[12..], &[3.0, 3.0, 4.0, 4.0]);
    }
}
