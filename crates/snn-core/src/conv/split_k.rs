//! The weight gradient of a convolution as batched matrix products with a split reduction.
//!
//! Why: the weight gradient reduces over every output position of every frame
//! (`K = N x OH x OW`: 7.9 M for the Gesture net's 32 x 32 layers at T 60, batch 128) into a
//! small result (`C_out x C_in x KH x KW`). As one GEMM, a small output leaves most of a GPU
//! idle; on an H200 the implicit-GEMM convolutions took three quarters of a training step,
//! most of it in the gradients (`docs/gpu-results.md`). Here the frames are split into `S`
//! chunks and each kernel offset is one batched product (`S` independent
//! `[C_out, K/S] x [K/S, C_in]` products, which run side by side), then the `S` partial
//! results are summed, in f32 when the inputs are half precision.
//!
//! For kernel offset `(ky, kx)`, `dW[:, :, ky, kx] = sum over n, oy, ox of g[n, :, oy, ox] x
//! x_pad[n, :, oy * s + ky * d, ox * s + kx * d]`: the output gradient against a strided slice
//! of the padded input. Generic over the backend (tensor operations only), so the CPU checks it
//! against burn's own weight gradient in f64.

use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Slice, Tensor};

/// The reduction length a chunk aims at by default (`split-k`): long enough for a matrix unit
/// to stream, short enough that the chunks fill the GPU (7.9 M splits into 120 chunks for the
/// Gesture net's 32 x 32 layers at T 60, batch 128).
pub const CHUNK_LEN: usize = 1 << 16;

/// The number of chunks for `frames` frames of `positions` output positions: the largest
/// divisor of `frames` that keeps chunks at least `chunk_len` long (1 when even one frame is
/// longer), so that chunks have equal length.
pub fn chunks_for(frames: usize, positions: usize, chunk_len: usize) -> usize {
    let wanted = (frames * positions / chunk_len.max(1)).clamp(1, frames.max(1));
    (1..=wanted)
        .rev()
        .find(|s| frames.is_multiple_of(*s))
        .unwrap_or(1)
}

/// The gradient of `conv2d(x, w)` with respect to `w` (`[C_out, C_in, KH, KW]`), from `x`
/// (`[N, C_in, H, W]`) and the output gradient (`[N, C_out, OH, OW]`), with the frames split
/// into `chunks` (a divisor of `N`; see [`chunks_for`]). One group only.
///
/// # Panics
/// If `options.groups != 1` or `chunks` does not divide `N`.
pub fn weight_grad_split_k<B: Backend>(
    x: Tensor<B, 4>,
    output_grad: Tensor<B, 4>,
    kernel: [usize; 2],
    options: &ConvOptions<2>,
    chunks: usize,
) -> Tensor<B, 4> {
    assert_eq!(options.groups, 1, "split-K weight gradient: one group only");
    let [n, c_in, _, _] = x.dims();
    let [_, c_out, oh, ow] = output_grad.dims();
    assert!(
        chunks > 0 && n % chunks == 0,
        "{chunks} chunks of {n} frames"
    );
    let (s, len) = (chunks, n / chunks * oh * ow);
    let dtype = x.dtype();
    let half = matches!(dtype, DType::BF16 | DType::F16);

    let [ph, pw] = options.padding;
    let x = if ph > 0 || pw > 0 {
        // Zeros of x's own dtype (burn's `pad` fills in the default float dtype on Flex).
        let [_, _, h, w] = x.dims();
        Tensor::zeros([n, c_in, h + 2 * ph, w + 2 * pw], (&x.device(), dtype))
            .slice_assign([0..n, 0..c_in, ph..ph + h, pw..pw + w], x)
    } else {
        x
    };
    // [S, C_out, K/S]: chunk-major, the reduction axis last.
    let grad = output_grad
        .reshape([s, n / s, c_out, oh * ow])
        .swap_dims(1, 2)
        .reshape([s, c_out, len]);
    let span = |k: usize, axis: usize, out: usize| {
        let start = (k * options.dilation[axis]) as isize;
        let step = options.stride[axis] as isize;
        Slice::new(start, Some(start + (out as isize - 1) * step + 1), step)
    };
    let mut offsets = Vec::with_capacity(kernel[0] * kernel[1]);
    for ky in 0..kernel[0] {
        for kx in 0..kernel[1] {
            let window = x.clone().slice([
                Slice::from(0..n),
                Slice::from(0..c_in),
                span(ky, 0, oh),
                span(kx, 1, ow),
            ]);
            // [S, K/S, C_in]
            let window = window
                .reshape([s, n / s, c_in, oh * ow])
                .permute([0, 1, 3, 2])
                .reshape([s, len, c_in]);
            let partial = grad.clone().matmul(window);
            let partial = if half {
                partial.cast(DType::F32)
            } else {
                partial
            };
            offsets.push(partial.sum_dim(0).reshape([c_out, c_in]));
        }
    }
    let weight_grad: Tensor<B, 3> = Tensor::stack(offsets, 2);
    let weight_grad = weight_grad.reshape([c_out, c_in, kernel[0], kernel[1]]);
    if half {
        weight_grad.cast(dtype)
    } else {
        weight_grad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_divide_the_frames_and_stay_long() {
        assert_eq!(chunks_for(7680, 1024, CHUNK_LEN), 120);
        assert_eq!(chunks_for(7680, 256, CHUNK_LEN), 30);
        assert_eq!(chunks_for(7680, 256, 1 << 14), 120);
        assert_eq!(chunks_for(7680, 1024, 1 << 12), 1920);
        assert_eq!(chunks_for(960, 64, CHUNK_LEN), 1);
        assert_eq!(chunks_for(7, 1 << 20, CHUNK_LEN), 7);
        assert_eq!(chunks_for(0, 10, CHUNK_LEN), 1);
        assert_eq!(chunks_for(10, 10, 0), 10);
        for chunk_len in [1 << 12, CHUNK_LEN, 1 << 18] {
            for (frames, positions) in [(7680, 64), (97, 4096), (12, 100_000)] {
                let s = chunks_for(frames, positions, chunk_len);
                assert_eq!(frames % s, 0);
                assert!(s == 1 || frames / s * positions >= chunk_len);
            }
        }
    }
}
