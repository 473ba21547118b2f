//! The block average-pooling kernels for the CPU, in parallel over `(N, C)` planes.

use burn::tensor::ops::{FloatTensor, ModuleOps};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use crate::fused::cpu::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};

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

fn kernel_dtype(t: &FlexTensor) -> Option<DType> {
    (matches!(t.dtype(), DType::F32 | DType::F64) && t.shape().num_dims() == 4).then(|| t.dtype())
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
