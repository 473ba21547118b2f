//! A convolution as one matrix product per chunk of frames over explicitly gathered patches
//! (im2col), and the input gradient of a stride-1 convolution as such a convolution.
//!
//! Why: on an H200 the implicit-GEMM convolutions ran at about 4.5 TFLOP/s, three quarters of a
//! Gesture training step (`docs/gpu-results.md`). Here the matrix units get plain batched
//! products, `[C_out, C_in x KH x KW] x [C_in x KH x KW, OH x OW]` per frame (`K = 576` for the
//! Gesture net's 64-channel 3 x 3 layer), the shape burn's matmul kernels are built for; the
//! price is writing the patches, `KH x KW` times the input, which is why the frames go in
//! chunks of at most [`COLUMNS_BYTES`] of patches. Whether that wins is a measurement
//! (`cargo xtask bench conv-kernels`).
//!
//! The patches of a chunk are the `KH x KW` shifted (strided, dilated) windows of the padded
//! input, concatenated along the channel axis, so row `(ky * KW + kx) * C_in + ci` of a frame's
//! patch matrix holds `x_pad[ci, oy * s + ky * d, ox * s + kx * d]` for every output position;
//! the weight is permuted to the same order. Everything stays channels-first (`NCHW`): the
//! product of a frame is its `[C_out, OH x OW]` output as it is laid out. Generic over the
//! backend (tensor operations only), so the CPU checks it against burn's own convolution in
//! f64.

use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Slice, Tensor};

/// The most bytes of patches one chunk of frames may gather: 1 GiB, so that the extra memory
/// stays small beside a training step's activations (a batch-128 Gesture step at T 60 holds
/// tens of GiB) while a chunk still holds hundreds of frames (910 frames of the 64-channel
/// 32 x 32 layer in bf16). Besides the patches, a chunk holds its padded input and its
/// product; the output is written into one tensor as the chunks go.
pub const COLUMNS_BYTES: usize = 1 << 30;

/// The number of frames per chunk for frames of `per_frame` patch values of `elem_bytes` bytes:
/// as many as fit in [`COLUMNS_BYTES`], at least one.
pub fn frames_per_chunk(per_frame: usize, elem_bytes: usize) -> usize {
    (COLUMNS_BYTES / (per_frame * elem_bytes).max(1)).max(1)
}

/// `conv2d(x, weight) + bias` for `x` `[N, C_in, H, W]` and `weight` `[C_out, C_in, KH, KW]`,
/// one group, any stride, padding and dilation: per chunk of frames, the patch matrix times
/// the weight matrix ([module docs](self)). `chunk` frames at a time, or, if `None`, as many
/// as [`frames_per_chunk`] allows.
///
/// # Panics
/// If `options.groups != 1` (callers keep another kernel for grouped convolutions) or
/// `chunk` is `Some(0)`.
pub fn conv2d_im2col<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: &ConvOptions<2>,
    chunk: Option<usize>,
) -> Tensor<B, 4> {
    assert_eq!(options.groups, 1, "im2col convolution: one group only");
    let [n, c_in, h, w] = x.dims();
    let [c_out, _, kh, kw] = weight.dims();
    let [ph, pw] = options.padding;
    let out_size = |axis: usize, size: usize, kernel: usize| {
        (size + 2 * options.padding[axis] - options.dilation[axis] * (kernel - 1) - 1)
            / options.stride[axis]
            + 1
    };
    let (oh, ow) = (out_size(0, h, kh), out_size(1, w, kw));
    let (device, dtype) = (x.device(), x.dtype());
    if n == 0 {
        return Tensor::empty([0, c_out, oh, ow], (&device, dtype));
    }
    // A chunk of frames, padded: zeros of x's own dtype (burn's `pad` fills in the default
    // float dtype on Flex).
    let padded = |frames: Tensor<B, 4>| {
        if ph == 0 && pw == 0 {
            return frames;
        }
        let f = frames.dims()[0];
        Tensor::zeros([f, c_in, h + 2 * ph, w + 2 * pw], (&device, dtype))
            .slice_assign([0..f, 0..c_in, ph..ph + h, pw..pw + w], frames)
    };
    // [1, C_out, KH x KW x C_in], rows in the patches' (ky, kx, ci) order; broadcast over the
    // frames of a chunk by the batched product.
    let depth = kh * kw * c_in;
    let weight = weight.permute([0, 2, 3, 1]).reshape([1, c_out, depth]);
    let span = |k: usize, axis: usize, out: usize| {
        let start = (k * options.dilation[axis]) as isize;
        let step = options.stride[axis] as isize;
        Slice::new(start, Some(start + (out as isize - 1) * step + 1), step)
    };
    let per_chunk = chunk.unwrap_or_else(|| frames_per_chunk(depth * oh * ow, dtype.size()));
    assert!(per_chunk > 0, "im2col convolution: chunks of 0 frames");
    let mut out: Option<Tensor<B, 3>> = None;
    for start in (0..n).step_by(per_chunk) {
        let frames = per_chunk.min(n - start);
        let chunk = padded(x.clone().slice([
            Slice::from(start..start + frames),
            Slice::full(),
            Slice::full(),
            Slice::full(),
        ]));
        // [frames, KH x KW x C_in, OH, OW]: each window copied once, straight from its strided
        // view into its rows.
        let mut patches = Tensor::empty([frames, depth, oh, ow], (&device, dtype));
        for ky in 0..kh {
            for kx in 0..kw {
                let window = chunk.clone().slice([
                    Slice::full(),
                    Slice::full(),
                    span(ky, 0, oh),
                    span(kx, 1, ow),
                ]);
                let row = (ky * kw + kx) * c_in;
                patches = patches.slice_assign([0..frames, row..row + c_in, 0..oh, 0..ow], window);
            }
        }
        let product = weight
            .clone()
            .matmul(patches.reshape([frames, depth, oh * ow]));
        out = Some(match out {
            // One chunk: its product is the output.
            None if frames == n => product,
            None => Tensor::empty([n, c_out, oh * ow], (&device, dtype))
                .slice_assign([0..frames, 0..c_out, 0..oh * ow], product),
            Some(out) => out.slice_assign([start..start + frames, 0..c_out, 0..oh * ow], product),
        });
    }
    let out = out.expect("n > 0").reshape([n, c_out, oh, ow]);
    match bias {
        Some(bias) => out + bias.reshape([1, c_out, 1, 1]),
        None => out,
    }
}

/// Whether [`input_grad_im2col`] computes the input gradient of a convolution with these
/// options and kernel size: stride 1, no dilation, one group, padding below the kernel size
/// (the gradient is then a convolution of the output gradient, padded by `K - 1 - padding`).
pub fn input_grad_supported(options: &ConvOptions<2>, kernel: [usize; 2]) -> bool {
    options.groups == 1
        && options.stride == [1, 1]
        && options.dilation == [1, 1]
        && (0..2).all(|a| options.padding[a] < kernel[a])
}

/// The gradient of `conv2d(x, weight)` with respect to `x`, from the output gradient
/// (`[N, C_out, OH, OW]`), for options [`input_grad_supported`] accepts: the convolution of the
/// output gradient with the weight flipped in space and its channel axes swapped, padding
/// `K - 1 - p`, by [`conv2d_im2col`] (`chunk` as there).
///
/// # Panics
/// If the options are not supported.
pub fn input_grad_im2col<B: Backend>(
    output_grad: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    options: &ConvOptions<2>,
    chunk: Option<usize>,
) -> Tensor<B, 4> {
    let [_, _, kh, kw] = weight.dims();
    assert!(
        input_grad_supported(options, [kh, kw]),
        "im2col input gradient: stride 1, no dilation, one group and padding < kernel only"
    );
    let flipped = weight.swap_dims(0, 1).flip([2, 3]);
    let transposed = ConvOptions::new(
        [1, 1],
        [kh - 1 - options.padding[0], kw - 1 - options.padding[1]],
        [1, 1],
        1,
    );
    conv2d_im2col(output_grad, flipped, None, &transposed, chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_at_least_one_frame_and_at_most_the_budget() {
        // The Gesture net's 64-channel 3 x 3 layer at 32 x 32, bf16: 1.18 MB per frame.
        assert_eq!(frames_per_chunk(576 * 1024, 2), 910);
        assert_eq!(frames_per_chunk(usize::MAX / 4, 4), 1);
        assert_eq!(frames_per_chunk(0, 4), COLUMNS_BYTES);
        let k = frames_per_chunk(1000, 8);
        assert!(k * 1000 * 8 <= COLUMNS_BYTES && (k + 1) * 1000 * 8 > COLUMNS_BYTES);
    }

    #[test]
    fn only_stride_one_undilated_ungrouped_gradients_are_supported() {
        let ok = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        assert!(input_grad_supported(&ok, [3, 3]));
        assert!(
            !input_grad_supported(&ok, [1, 1]),
            "padding 1 of a 1 x 1 kernel"
        );
        for bad in [
            ConvOptions::new([2, 1], [1, 1], [1, 1], 1),
            ConvOptions::new([1, 1], [1, 1], [1, 2], 1),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 2),
        ] {
            assert!(!input_grad_supported(&bad, [3, 3]));
        }
    }
}
