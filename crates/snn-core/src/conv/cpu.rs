//! The event-driven convolution kernels for the CPU.
//!
//! Frames (the `N` axis) are independent and processed in parallel by rayon.
//!
//! - **Forward** (output-stationary): a frame's non-zero inputs are first grouped by pixel;
//!   then each output pixel (each pooled window, for the fused conv block) sums the weight
//!   rows of the inputs that reach it in registers, 64 output channels at a time (channels-last
//!   weights, so a row is contiguous and vectorises: AVX2 + FMA when the processor has them,
//!   detected at run time). No accumulator buffer is zeroed, read back or transposed.
//! - **Weight gradient**: for each input channel and kernel tap, the channels-last output-gradient
//!   rows that the channel's non-zeros reach are summed in registers, 64 channels at a time,
//!   and added to the gradient once.
//!
//! Nothing is allocated per input element.

use burn::tensor::ops::{ConvOptions, FloatTensor, ModuleOps};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::flex_util::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};
use crate::norm::cpu::channel_sums;

/// Above this fraction of non-zero inputs the dense (im2col + GEMM) forward convolution is
/// faster than walking the non-zeros, and the `Flex` forward hands over to it. Measured with
/// `cargo xtask bench conv` (64 -> 128 channels, 32x32, 240 frames, 2 threads): the event
/// kernel is 7.1x faster at 1% density, 3.6x at 10%, 1.3x at 40%, 1.0x at 60%. The weight
/// gradient has no threshold: the event kernel was faster at every density (34x at 1%,
/// 3.4x at 40%, 1.6x fully dense), because burn-flex's weight gradient is slower than its
/// forward.
pub const DENSE_ABOVE: f64 = 0.4;

/// The weight gradient is summed in this many fixed groups of frames (in parallel), then the
/// groups in order: enough groups to keep two to a few dozen threads busy, few enough that the
/// per-group partial gradients stay small.
const WEIGHT_GRAD_GROUPS: usize = 32;

/// Shape of a stride-1, undilated, single-group convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Frames.
    pub frames: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Zero padding above and below.
    pub pad_h: usize,
    /// Zero padding left and right.
    pub pad_w: usize,
}

impl Geometry {
    /// Output height.
    pub fn out_h(&self) -> usize {
        (self.height + 2 * self.pad_h + 1).saturating_sub(self.kernel_h)
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.width + 2 * self.pad_w + 1).saturating_sub(self.kernel_w)
    }

    fn in_frame(&self) -> usize {
        self.c_in * self.height * self.width
    }

    fn out_frame(&self) -> usize {
        self.c_out * self.out_h() * self.out_w()
    }

    fn weight_len(&self) -> usize {
        self.c_out * self.c_in * self.kernel_h * self.kernel_w
    }

    /// The geometry of `conv2d(x, weight, options)` when the event kernel handles it.
    fn of(x: &Shape, weight: &Shape, options: &ConvOptions<2>) -> Option<Self> {
        let supported =
            options.stride == [1, 1] && options.dilation == [1, 1] && options.groups == 1;
        let (x, w) = (x.dims::<4>(), weight.dims::<4>());
        let geometry = Self {
            frames: x[0],
            c_in: x[1],
            height: x[2],
            width: x[3],
            c_out: w[0],
            kernel_h: w[2],
            kernel_w: w[3],
            pad_h: options.padding[0],
            pad_w: options.padding[1],
        };
        (supported && w[1] == x[1] && geometry.out_h() > 0 && geometry.out_w() > 0)
            .then_some(geometry)
    }
}

/// Fraction of non-zero elements.
pub fn density<E: KernelFloat>(x: &[E]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let nonzero: usize = x
        .par_chunks(1 << 16)
        .map(|c| c.iter().filter(|v| !v.is_zero()).count())
        .sum();
    nonzero as f64 / x.len() as f64
}

/// Inputs up to this many elements are counted in full by [`estimated_density`].
const COUNT_ALL_BELOW: usize = 1 << 18;

/// The fraction of non-zero elements, counted on 256 evenly spaced runs of 1024 elements when
/// `x` is large (in full when it is small). It only picks between the event and the dense
/// kernel, so an estimate is enough, and counting a whole activation tensor (hundreds of MiB)
/// was a visible share of inference. It is a function of `x` alone: the same input always takes
/// the same path.
pub fn estimated_density<E: KernelFloat>(x: &[E]) -> f64 {
    const RUNS: usize = 256;
    const RUN: usize = 1024;
    if x.len() < COUNT_ALL_BELOW {
        return density(x);
    }
    let stride = x.len() / RUNS;
    let nonzero: usize = (0..RUNS)
        .map(|r| {
            x[r * stride..r * stride + RUN]
                .iter()
                .filter(|v| !v.is_zero())
                .count()
        })
        .sum();
    nonzero as f64 / (RUNS * RUN) as f64
}

/// Rearranges `[C_out, C_in, KH, KW]` weights to `[C_in, KH, KW, c_pad]` (`c_pad >= C_out`,
/// the extra columns zero), so the outputs one input reaches through one kernel tap are
/// contiguous.
pub fn channels_last_weight<E: KernelFloat>(weight: &[E], g: &Geometry, c_pad: usize) -> Vec<E> {
    let taps = g.c_in * g.kernel_h * g.kernel_w;
    let mut out = vec![E::zero(); taps * c_pad];
    for (co, filter) in weight.chunks_exact(taps).enumerate() {
        for (tap, &v) in filter.iter().enumerate() {
            out[tap * c_pad + co] = v;
        }
    }
    out
}

/// `dst += src`.
#[inline(always)]
fn add<E: KernelFloat>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = *d + s;
    }
}

/// One frame of the weight gradient, accumulated into `grad_cl` (`[C_in, KH, KW, c_pad]`) from
/// the channels-last output gradient `grad_out_cl` (`[OH * OW, c_pad]`). For each input channel
/// and kernel tap, the output-gradient rows of every pixel its non-zero inputs reach are summed
/// in registers, 64 channels at a time, and added to the gradient once. `nonzero` is a buffer
/// reused from frame to frame.
#[inline(always)]
fn gather_weight_frame<E: KernelFloat>(
    frame: &[E],
    grad_out_cl: &[E],
    g: &Geometry,
    c_pad: usize,
    grad_cl: &mut [E],
    nonzero: &mut Vec<(usize, usize, E)>,
) {
    let (oh, ow) = (g.out_h() as isize, g.out_w() as isize);
    let wide_end = g.c_out / WIDE * WIDE;
    for (ci, plane) in frame.chunks_exact(g.height * g.width).enumerate() {
        nonzero.clear();
        for (y, row) in plane.chunks_exact(g.width).enumerate() {
            for (x, &v) in row.iter().enumerate() {
                if !v.is_zero() {
                    nonzero.push((y + g.pad_h, x + g.pad_w, v));
                }
            }
        }
        if nonzero.is_empty() {
            continue;
        }
        let binary = nonzero.iter().all(|&(_, _, v)| v == E::one());
        for ky in 0..g.kernel_h {
            for kx in 0..g.kernel_w {
                let tap = (ci * g.kernel_h + ky) * g.kernel_w + kx;
                let reach = TapReach {
                    grad_out_cl,
                    nonzero,
                    c_pad,
                    binary,
                    offset: (ky as isize, kx as isize),
                    out: (oh, ow),
                };
                let dst = &mut grad_cl[tap * c_pad..(tap + 1) * c_pad];
                for cb in (0..wide_end).step_by(WIDE) {
                    reach.add_into::<WIDE>(cb, dst);
                }
                for cb in (wide_end..g.c_out).step_by(NARROW) {
                    reach.add_into::<NARROW>(cb, dst);
                }
            }
        }
    }
}

/// The output-gradient rows that one input channel's non-zeros reach through one kernel tap.
struct TapReach<'a, E> {
    grad_out_cl: &'a [E],
    /// `(y + pad_h, x + pad_w, value)` of each non-zero input.
    nonzero: &'a [(usize, usize, E)],
    c_pad: usize,
    binary: bool,
    offset: (isize, isize),
    out: (isize, isize),
}

impl<E: KernelFloat> TapReach<'_, E> {
    /// Adds `sum(value * grad_out_cl[pixel][cb..cb + LB])` over the reached pixels to
    /// `dst[cb..cb + LB]`.
    #[inline(always)]
    fn add_into<const LB: usize>(&self, cb: usize, dst: &mut [E]) {
        let mut acc = [E::zero(); LB];
        for &(y, x, v) in self.nonzero {
            let oy = y as isize - self.offset.0;
            let ox = x as isize - self.offset.1;
            if oy < 0 || oy >= self.out.0 || ox < 0 || ox >= self.out.1 {
                continue;
            }
            let at = (oy * self.out.1 + ox) as usize * self.c_pad + cb;
            let row: &[E; LB] = self.grad_out_cl[at..at + LB].try_into().unwrap();
            if self.binary {
                for i in 0..LB {
                    acc[i] = acc[i] + row[i];
                }
            } else {
                for i in 0..LB {
                    acc[i] = acc[i] + v * row[i];
                }
            }
        }
        for (d, &a) in dst[cb..cb + LB].iter_mut().zip(&acc) {
            *d = *d + a;
        }
    }
}

/// The non-zero inputs of one frame grouped by input pixel (compressed rows): the inputs of
/// pixel `p` (`y * W + x`) are `start[p]..start[p + 1]`, each its channel's first weight tap
/// (`ci * KH * KW`) and its value. Rebuilt for every frame in buffers kept by the thread.
struct PixelInputs<E> {
    start: Vec<usize>,
    cursor: Vec<usize>,
    tap: Vec<usize>,
    value: Vec<E>,
    /// Every non-zero input is 1 (spikes): the kernel adds weights without multiplying.
    binary: bool,
    /// One pooled output row, channels-last (`[OW / pool, WIDE]`).
    tile: Vec<E>,
}

impl<E: KernelFloat> PixelInputs<E> {
    fn new() -> Self {
        Self {
            start: Vec::new(),
            cursor: Vec::new(),
            tap: Vec::new(),
            value: Vec::new(),
            binary: true,
            tile: Vec::new(),
        }
    }

    fn fill(&mut self, frame: &[E], g: &Geometry) {
        let pixels = g.height * g.width;
        self.start.clear();
        self.start.resize(pixels + 1, 0);
        for plane in frame.chunks_exact(pixels) {
            for (count, &v) in self.start[1..].iter_mut().zip(plane) {
                *count += usize::from(!v.is_zero());
            }
        }
        for p in 0..pixels {
            self.start[p + 1] += self.start[p];
        }
        let nnz = self.start[pixels];
        self.tap.resize(nnz, 0);
        self.value.resize(nnz, E::zero());
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.start[..pixels]);
        self.binary = true;
        let taps_per_channel = g.kernel_h * g.kernel_w;
        for (ci, plane) in frame.chunks_exact(pixels).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                if !v.is_zero() {
                    let k = self.cursor[p];
                    self.tap[k] = ci * taps_per_channel;
                    self.value[k] = v;
                    self.cursor[p] = k + 1;
                    self.binary &= v == E::one();
                }
            }
        }
    }
}

/// What every frame of the forward conv block shares: the channels-last weights
/// (`[C_in * KH * KW, C_pad]`, `C_out` padded with zeros to a multiple of [`NARROW`]), the
/// geometry, the per-channel affine map applied to each pooled sum (with `1 / pool^2` folded
/// into `scale` and the bias into `shift`) and the pooling factor.
struct ConvBlockOp<'a, E> {
    weight_cl: &'a [E],
    c_pad: usize,
    g: &'a Geometry,
    scale: &'a [E],
    shift: &'a [E],
    pool: usize,
}

/// Output channels per accumulator block: 64 f32 values are eight AVX registers, which stay in
/// registers while every input reaching the output pixel is added (64 f64 values need all
/// sixteen and spill; f64 is for tests).
const WIDE: usize = 64;
/// The block for the channels left over after the wide blocks (and for narrow layers).
const NARROW: usize = 8;

/// Output channels `cb..cb + LB` of one frame: each pooled output pixel sums, in registers, the
/// weight rows of every non-zero input reaching any pixel of its window, then the affine map
/// writes it channels-first (`[C_out, OH / pool, OW / pool]`).
#[inline(always)]
fn conv_block_channels<E: KernelFloat, const LB: usize>(
    op: &ConvBlockOp<E>,
    inputs: &PixelInputs<E>,
    cb: usize,
    out_frame: &mut [MaybeUninit<E>],
    tile: &mut [E],
) {
    let g = op.g;
    let pool = op.pool;
    let (ph, pw) = (g.out_h() / pool, g.out_w() / pool);
    let (h, w) = (g.height as isize, g.width as isize);
    let lanes = LB.min(g.c_out - cb);
    // One pooled row is accumulated channels-last into `tile`, then written channels-first a
    // channel at a time: writing each pixel's channels straight into the `[C, H, W]` output
    // touches one cache line per channel at a power-of-two stride, which thrashes the cache.
    let tile = &mut tile[..pw * LB];
    for py in 0..ph {
        for (px, tile_px) in tile.chunks_exact_mut(LB).enumerate() {
            let mut acc = [E::zero(); LB];
            for oy in py * pool..(py + 1) * pool {
                for ky in 0..g.kernel_h {
                    let iy = (oy + ky) as isize - g.pad_h as isize;
                    if iy < 0 || iy >= h {
                        continue;
                    }
                    for ox in px * pool..(px + 1) * pool {
                        for kx in 0..g.kernel_w {
                            let ix = (ox + kx) as isize - g.pad_w as isize;
                            if ix < 0 || ix >= w {
                                continue;
                            }
                            let p = (iy * w + ix) as usize;
                            let offset = ky * g.kernel_w + kx;
                            let range = inputs.start[p]..inputs.start[p + 1];
                            let row = |k: usize| -> &[E; LB] {
                                let at = (inputs.tap[k] + offset) * op.c_pad + cb;
                                op.weight_cl[at..at + LB].try_into().unwrap()
                            };
                            if inputs.binary {
                                for k in range {
                                    let r = row(k);
                                    for i in 0..LB {
                                        acc[i] = acc[i] + r[i];
                                    }
                                }
                            } else {
                                for k in range {
                                    let (r, v) = (row(k), inputs.value[k]);
                                    for i in 0..LB {
                                        acc[i] = acc[i] + v * r[i];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            tile_px.copy_from_slice(&acc);
        }
        for i in 0..lanes {
            let c = cb + i;
            let (a, b) = (op.scale[c], op.shift[c]);
            let row = &mut out_frame[c * ph * pw + py * pw..c * ph * pw + (py + 1) * pw];
            for (o, px) in row.iter_mut().zip(tile.chunks_exact(LB)) {
                o.write(px[i] * a + b);
            }
        }
    }
}

/// One frame of the forward conv block: the frame's non-zeros grouped by pixel, then the
/// output channels in wide blocks and the rest in narrow ones.
#[inline(always)]
fn conv_block_frame<E: KernelFloat>(
    op: &ConvBlockOp<E>,
    frame: &[E],
    out_frame: &mut [MaybeUninit<E>],
    inputs: &mut PixelInputs<E>,
) {
    inputs.fill(frame, op.g);
    let mut tile = std::mem::take(&mut inputs.tile);
    tile.resize(op.g.out_w() / op.pool * WIDE, E::zero());
    let wide_end = op.g.c_out / WIDE * WIDE;
    for cb in (0..wide_end).step_by(WIDE) {
        conv_block_channels::<E, WIDE>(op, inputs, cb, out_frame, &mut tile);
    }
    for cb in (wide_end..op.g.c_out).step_by(NARROW) {
        conv_block_channels::<E, NARROW>(op, inputs, cb, out_frame, &mut tile);
    }
    inputs.tile = tile;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn conv_block_frame_avx2<E: KernelFloat>(
    op: &ConvBlockOp<E>,
    frame: &[E],
    out_frame: &mut [MaybeUninit<E>],
    inputs: &mut PixelInputs<E>,
) {
    conv_block_frame(op, frame, out_frame, inputs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gather_weight_frame_avx2<E: KernelFloat>(
    frame: &[E],
    grad_out_cl: &[E],
    g: &Geometry,
    c_pad: usize,
    grad_cl: &mut [E],
    nonzero: &mut Vec<(usize, usize, E)>,
) {
    gather_weight_frame(frame, grad_out_cl, g, c_pad, grad_cl, nonzero)
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn conv_block_dispatch<E: KernelFloat>(
    avx2: bool,
    op: &ConvBlockOp<E>,
    frame: &[E],
    out_frame: &mut [MaybeUninit<E>],
    inputs: &mut PixelInputs<E>,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the processor reported AVX2 and FMA.
        return unsafe { conv_block_frame_avx2(op, frame, out_frame, inputs) };
    }
    let _ = avx2;
    conv_block_frame(op, frame, out_frame, inputs)
}

fn gather_dispatch<E: KernelFloat>(
    avx2: bool,
    frame: &[E],
    grad_out_cl: &[E],
    g: &Geometry,
    c_pad: usize,
    grad_cl: &mut [E],
    nonzero: &mut Vec<(usize, usize, E)>,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the processor reported AVX2 and FMA.
        return unsafe { gather_weight_frame_avx2(frame, grad_out_cl, g, c_pad, grad_cl, nonzero) };
    }
    let _ = avx2;
    gather_weight_frame(frame, grad_out_cl, g, c_pad, grad_cl, nonzero)
}

/// Event-driven forward pass: `x` `[N, C_in, H, W]`, `weight` `[C_out, C_in, KH, KW]`, `bias`
/// `[C_out]`; returns `[N, C_out, OH, OW]`.
pub fn forward<E: KernelFloat>(x: &[E], weight: &[E], bias: Option<&[E]>, g: Geometry) -> Vec<E> {
    let ones = vec![E::one(); g.c_out];
    let zeros = vec![E::zero(); g.c_out];
    // `sum * 1 + bias` is `sum + bias` exactly.
    forward_affine_pool(x, weight, &ones, bias.unwrap_or(&zeros), g, 1)
}

/// Event-driven conv block: `avg_pool_k(conv(x) * scale + shift)` (the evaluation-mode conv +
/// BatchNorm + pooling), with the bias already folded into `shift` (`shift = bias * scale +
/// shift`). Each pooled output pixel is accumulated in registers from the non-zero inputs that
/// reach it, so neither the full-resolution output nor an accumulator buffer is written.
pub fn forward_affine_pool<E: KernelFloat>(
    x: &[E],
    weight: &[E],
    scale: &[E],
    shift: &[E],
    g: Geometry,
    pool: usize,
) -> Vec<E> {
    assert_eq!(x.len(), g.frames * g.in_frame(), "input length");
    assert_eq!(weight.len(), g.weight_len(), "weight length");
    let (oh, ow) = (g.out_h(), g.out_w());
    assert!(
        pool > 0 && oh % pool == 0 && ow % pool == 0,
        "output {oh}x{ow} is not a multiple of the pool {pool}"
    );
    let co = g.c_out;
    let out_frame = co * (oh / pool) * (ow / pool);
    if out_frame == 0 {
        return Vec::new();
    }
    if g.in_frame() == 0 {
        // No input channels: every output is the shift.
        let mut out = vec![E::zero(); g.frames * out_frame];
        for frame in out.chunks_exact_mut(out_frame) {
            for (c, plane) in frame.chunks_exact_mut(out_frame / co).enumerate() {
                plane.fill(shift[c]);
            }
        }
        return out;
    }
    let c_pad = co.div_ceil(NARROW) * NARROW;
    let weight_cl = channels_last_weight(weight, &g, c_pad);
    let scale: Vec<E> = scale
        .iter()
        .map(|&s| s * cast::<E>(1.0 / (pool * pool) as f64))
        .collect();
    let avx2 = has_avx2();
    let op = ConvBlockOp {
        weight_cl: &weight_cl,
        c_pad,
        g: &g,
        scale: &scale,
        shift,
        pool,
    };
    let mut out: Vec<E> = Vec::with_capacity(g.frames * out_frame);
    // Every element of every frame is written by `conv_block_frame`, so the output is not
    // zeroed first.
    out.spare_capacity_mut()[..g.frames * out_frame]
        .par_chunks_mut(out_frame)
        .zip(x.par_chunks(g.in_frame()))
        .with_min_len(4)
        .for_each_init(PixelInputs::new, |inputs, (out_frame, frame)| {
            conv_block_dispatch(avx2, &op, frame, out_frame, inputs);
        });
    // SAFETY: every frame was written above.
    unsafe { out.set_len(g.frames * out_frame) };
    out
}

/// Copies a `[C, P]` frame into the channels-last `[P, c_pad]` buffer `out` (columns `C..c_pad`
/// untouched), eight channels at a time: each pixel then gets eight contiguous values instead
/// of one value per cache line.
fn channels_last<E: KernelFloat>(frame: &[E], pixels: usize, c_pad: usize, out: &mut [E]) {
    const BLOCK: usize = 8;
    let channels = frame.len() / pixels.max(1);
    for cb in (0..channels).step_by(BLOCK) {
        let planes = &frame[cb * pixels..(cb + BLOCK).min(channels) * pixels];
        let width = planes.len() / pixels;
        for (p, row) in out.chunks_exact_mut(c_pad).enumerate().take(pixels) {
            for (k, dst) in row[cb..cb + width].iter_mut().enumerate() {
                *dst = planes[k * pixels + p];
            }
        }
    }
}

/// Event-driven weight gradient: `x` `[N, C_in, H, W]`, `grad_out` `[N, C_out, OH, OW]`;
/// returns `[C_out, C_in, KH, KW]`.
pub fn weight_grad<E: KernelFloat>(x: &[E], grad_out: &[E], g: Geometry) -> Vec<E> {
    assert_eq!(x.len(), g.frames * g.in_frame(), "input length");
    assert_eq!(
        grad_out.len(),
        g.frames * g.out_frame(),
        "output gradient length"
    );
    let pixels = g.out_h() * g.out_w();
    let co = g.c_out;
    if co == 0 {
        return Vec::new();
    }
    // Channels padded to a whole number of register blocks; the padding stays zero.
    let c_pad = co.div_ceil(NARROW) * NARROW;
    let taps = g.c_in * g.kernel_h * g.kernel_w;
    let avx2 = has_avx2();
    let grad_cl = if g.out_frame() == 0 || g.in_frame() == 0 {
        vec![E::zero(); taps * c_pad]
    } else {
        // Fixed groups of frames, each summed in frame order, then the groups summed in
        // order: the result does not depend on how rayon schedules the work, so training is
        // bit-for-bit repeatable (an adaptive fold/reduce is not).
        let group = g.frames.div_ceil(WEIGHT_GRAD_GROUPS).max(1);
        let partials: Vec<Vec<E>> = grad_out
            .par_chunks(group * g.out_frame())
            .zip(x.par_chunks(group * g.in_frame()))
            .map(|(grad_frames, frames)| {
                let mut grad_cl = vec![E::zero(); taps * c_pad];
                let mut scratch = vec![E::zero(); pixels * c_pad];
                let mut nonzero = Vec::new();
                for (grad_frame, frame) in grad_frames
                    .chunks_exact(g.out_frame())
                    .zip(frames.chunks_exact(g.in_frame()))
                {
                    channels_last(grad_frame, pixels, c_pad, &mut scratch);
                    gather_dispatch(avx2, frame, &scratch, &g, c_pad, &mut grad_cl, &mut nonzero);
                }
                grad_cl
            })
            .collect();
        let mut total = vec![E::zero(); taps * c_pad];
        for partial in &partials {
            add(&mut total, partial);
        }
        total
    };
    // [C_in * KH * KW, c_pad] -> [C_out, C_in * KH * KW].
    let mut grad = vec![E::zero(); taps * co];
    for (tap, row) in grad_cl.chunks_exact(c_pad).enumerate() {
        for (c, &v) in row[..co].iter().enumerate() {
            grad[c * taps + tap] = v;
        }
    }
    grad
}

// --- burn-flex glue --------------------------------------------------------------------------

/// Whether the event kernel should run: a supported dtype and geometry, and a sparse input.
fn event_geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<Geometry> {
    if x.dtype() != weight.dtype() || !matches!(x.dtype(), DType::F32 | DType::F64) {
        return None;
    }
    Geometry::of(&x.shape(), &weight.shape(), options)
}

/// [`super::EventConvBackend::event_conv2d`] for `Flex`.
pub(crate) fn flex_conv2d(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    bias: Option<FloatTensor<Flex>>,
    options: ConvOptions<2>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        weight: &FlexTensor,
        bias: Option<&FlexTensor>,
        g: Geometry,
    ) -> Option<FlexTensor> {
        let x = contiguous::<E>(x);
        let xs = typed_slice::<E>(&x);
        if estimated_density(xs) > DENSE_ABOVE {
            return None;
        }
        let weight = contiguous::<E>(weight);
        let bias = bias.map(contiguous::<E>);
        let out = forward(xs, typed_slice(&weight), bias.as_ref().map(typed_slice), g);
        Some(flex_from_vec(
            out,
            Shape::new([g.frames, g.c_out, g.out_h(), g.out_w()]),
        ))
    }
    let bias_ok = bias.as_ref().is_none_or(|b| b.dtype() == x.dtype());
    let event = event_geometry(&x, &weight, &options)
        .filter(|_| bias_ok)
        .and_then(|g| match x.dtype() {
            DType::F32 => run::<f32>(&x, &weight, bias.as_ref(), g),
            _ => run::<f64>(&x, &weight, bias.as_ref(), g),
        });
    match event {
        Some(out) => out,
        None => <Flex as ModuleOps<Flex>>::conv2d(x, weight, bias, options),
    }
}

/// [`super::EventConvBackend::event_conv2d_weight_backward`] for `Flex`.
pub(crate) fn flex_conv2d_weight_backward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    output_grad: FloatTensor<Flex>,
    options: ConvOptions<2>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(x: &FlexTensor, grad: &FlexTensor, g: Geometry) -> Option<FlexTensor> {
        let x = contiguous::<E>(x);
        let xs = typed_slice::<E>(&x);
        let grad = contiguous::<E>(grad);
        let out = weight_grad(xs, typed_slice(&grad), g);
        Some(flex_from_vec(
            out,
            Shape::new([g.c_out, g.c_in, g.kernel_h, g.kernel_w]),
        ))
    }
    let event = event_geometry(&x, &weight, &options)
        .filter(|_| output_grad.dtype() == x.dtype())
        .and_then(|g| match x.dtype() {
            DType::F32 => run::<f32>(&x, &output_grad, g),
            _ => run::<f64>(&x, &output_grad, g),
        });
    match event {
        Some(out) => out,
        None => <Flex as ModuleOps<Flex>>::conv2d_weight_backward(x, weight, output_grad, options),
    }
}

/// [`super::EventConvBackend::event_conv2d_x_backward`] for `Flex`: for a stride-1 convolution
/// the input gradient is itself a convolution, of the output gradient with the weights'
/// channel axes swapped and the kernel flipped, padded by `k - 1 - p`. burn-flex's forward
/// convolution is faster than its transposed one (which it uses for this gradient), so this
/// runs the forward one. Other geometries use burn's own input gradient.
pub(crate) fn flex_conv2d_x_backward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    output_grad: FloatTensor<Flex>,
    options: ConvOptions<2>,
) -> FloatTensor<Flex> {
    fn flipped<E: KernelFloat>(weight: &FlexTensor, g: &Geometry) -> FlexTensor {
        let weight = contiguous::<E>(weight);
        let w = typed_slice::<E>(&weight);
        let (kh, kw) = (g.kernel_h, g.kernel_w);
        let mut out = vec![E::zero(); w.len()];
        for co in 0..g.c_out {
            for ci in 0..g.c_in {
                for ky in 0..kh {
                    for kx in 0..kw {
                        out[((ci * g.c_out + co) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)] =
                            w[((co * g.c_in + ci) * kh + ky) * kw + kx];
                    }
                }
            }
        }
        flex_from_vec(out, Shape::new([g.c_in, g.c_out, kh, kw]))
    }
    let usable = event_geometry(&x, &weight, &options).filter(|g| {
        output_grad.dtype() == x.dtype()
            && g.pad_h < g.kernel_h
            && g.pad_w < g.kernel_w
            && output_grad.shape().dims::<4>() == [g.frames, g.c_out, g.out_h(), g.out_w()]
    });
    match usable {
        Some(g) => {
            let w = match x.dtype() {
                DType::F32 => flipped::<f32>(&weight, &g),
                _ => flipped::<f64>(&weight, &g),
            };
            let padding = [g.kernel_h - 1 - g.pad_h, g.kernel_w - 1 - g.pad_w];
            let transposed = ConvOptions::new([1, 1], padding, [1, 1], 1);
            <Flex as ModuleOps<Flex>>::conv2d(output_grad, w, None, transposed)
        }
        None => <Flex as ModuleOps<Flex>>::conv2d_x_backward(x, weight, output_grad, options),
    }
}

/// [`super::EventConvBackend::event_conv2d_affine_pool`] for `Flex`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn flex_conv2d_affine_pool(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    bias: Option<FloatTensor<Flex>>,
    scale: FloatTensor<Flex>,
    shift: FloatTensor<Flex>,
    options: ConvOptions<2>,
    pool: usize,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(
        t: [&FlexTensor; 4],
        bias: Option<&FlexTensor>,
        g: Geometry,
        pool: usize,
    ) -> Option<FlexTensor> {
        let [x, weight, scale, shift] = t.map(contiguous::<E>);
        let xs = typed_slice::<E>(&x);
        if estimated_density(xs) > DENSE_ABOVE {
            return None;
        }
        let scale = typed_slice::<E>(&scale);
        let bias = bias.map(contiguous::<E>);
        let folded: Vec<E> = match &bias {
            Some(b) => typed_slice::<E>(b)
                .iter()
                .zip(scale)
                .zip(typed_slice::<E>(&shift))
                .map(|((&b, &s), &t)| b * s + t)
                .collect(),
            None => typed_slice::<E>(&shift).to_vec(),
        };
        let out = forward_affine_pool(xs, typed_slice(&weight), scale, &folded, g, pool);
        Some(flex_from_vec(
            out,
            Shape::new([g.frames, g.c_out, g.out_h() / pool, g.out_w() / pool]),
        ))
    }
    let dtype = x.dtype();
    let same = [&weight, &scale, &shift].iter().all(|t| t.dtype() == dtype)
        && bias.as_ref().is_none_or(|b| b.dtype() == dtype);
    let event = event_geometry(&x, &weight, &options)
        .filter(|g| same && pool > 0 && g.out_h() % pool == 0 && g.out_w() % pool == 0)
        .and_then(|g| {
            let t = [&x, &weight, &scale, &shift];
            match dtype {
                DType::F32 => run::<f32>(t, bias.as_ref(), g, pool),
                _ => run::<f64>(t, bias.as_ref(), g, pool),
            }
        });
    match event {
        Some(out) => out,
        None => super::composed_affine_pool::<Flex>(x, weight, bias, scale, shift, options, pool),
    }
}

/// [`super::EventConvBackend::event_conv2d_bias_backward`] for `Flex`: per-channel sums of
/// the output gradient, in parallel over channels, accumulated in f64.
pub(crate) fn flex_conv2d_bias_backward(
    x: FloatTensor<Flex>,
    bias: FloatTensor<Flex>,
    output_grad: FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(grad: &FlexTensor) -> FlexTensor {
        let [n, c, h, w] = grad.shape().dims::<4>();
        let grad = contiguous::<E>(grad);
        let g = typed_slice::<E>(&grad);
        let sums: Vec<E> = channel_sums(g, [n, c, h * w])
            .into_iter()
            .map(cast)
            .collect();
        flex_from_vec(sums, Shape::new([c]))
    }
    let ok = output_grad.shape().num_dims() == 4 && bias.dtype() == output_grad.dtype();
    match output_grad.dtype() {
        DType::F32 if ok => run::<f32>(&output_grad),
        DType::F64 if ok => run::<f64>(&output_grad),
        _ => <Flex as ModuleOps<Flex>>::conv2d_bias_backward(x, bias, output_grad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimated_density_counts_small_inputs_and_samples_large_ones() {
        // Small: every element counted.
        let small: Vec<f32> = (0..1000).map(|i| f32::from(u8::from(i % 3 == 0))).collect();
        assert_eq!(estimated_density(&small), density(&small));
        // Large: one element in four is non-zero, in a pattern every sampled run sees.
        let n = COUNT_ALL_BELOW * 4;
        let large: Vec<f32> = (0..n).map(|i| f32::from(u8::from(i % 4 == 0))).collect();
        assert_eq!(estimated_density(&large), 0.25);
        // A sparse half and a dense half average out.
        let halves: Vec<f32> = (0..n).map(|i| f32::from(u8::from(i >= n / 2))).collect();
        assert_eq!(estimated_density(&halves), 0.5);
        assert_eq!(estimated_density::<f64>(&[]), 0.0);
    }

    /// Direct definition of the convolution, for comparison.
    fn naive(x: &[f64], w: &[f64], b: Option<&[f64]>, g: Geometry) -> Vec<f64> {
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut out = vec![0.0; g.frames * g.c_out * oh * ow];
        for n in 0..g.frames {
            for co in 0..g.c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = b.map_or(0.0, |b| b[co]);
                        for ci in 0..g.c_in {
                            for ky in 0..g.kernel_h {
                                for kx in 0..g.kernel_w {
                                    let y = (oy + ky) as isize - g.pad_h as isize;
                                    let x_ = (ox + kx) as isize - g.pad_w as isize;
                                    if y < 0
                                        || x_ < 0
                                        || y >= g.height as isize
                                        || x_ >= g.width as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((n * g.c_in + ci) * g.height + y as usize) * g.width
                                        + x_ as usize;
                                    let wi =
                                        ((co * g.c_in + ci) * g.kernel_h + ky) * g.kernel_w + kx;
                                    s += x[xi] * w[wi];
                                }
                            }
                        }
                        out[((n * g.c_out + co) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u64, sparsity: f64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                if u < sparsity {
                    0.0
                } else if u < (1.0 + sparsity) / 2.0 {
                    1.0
                } else {
                    (u - 0.5) * 3.0
                }
            })
            .collect()
    }

    #[test]
    fn forward_and_weight_gradient_match_the_definition() {
        for (i, g) in [
            Geometry {
                frames: 3,
                c_in: 2,
                height: 5,
                width: 7,
                c_out: 3,
                kernel_h: 3,
                kernel_w: 3,
                pad_h: 1,
                pad_w: 1,
            },
            Geometry {
                frames: 2,
                c_in: 3,
                height: 4,
                width: 4,
                c_out: 5,
                kernel_h: 2,
                kernel_w: 3,
                pad_h: 0,
                pad_w: 2,
            },
            Geometry {
                frames: 1,
                c_in: 1,
                height: 3,
                width: 3,
                c_out: 2,
                kernel_h: 3,
                kernel_w: 3,
                pad_h: 0,
                pad_w: 0,
            },
        ]
        .into_iter()
        .enumerate()
        {
            let x = values(g.frames * g.in_frame(), 7 + i as u64, 0.6);
            let w = values(g.weight_len(), 11 + i as u64, 0.0);
            let b = values(g.c_out, 13 + i as u64, 0.0);
            let out = forward(&x, &w, Some(&b), g);
            let expected = naive(&x, &w, Some(&b), g);
            for (a, e) in out.iter().zip(&expected) {
                assert!((a - e).abs() < 1e-12, "forward {i}: {a} vs {e}");
            }
            // d/dw of sum(grad_out * conv(x, w)) is conv(x, e_k) paired with grad_out.
            let grad_out = values(g.frames * g.out_frame(), 17 + i as u64, 0.0);
            let grad = weight_grad(&x, &grad_out, g);
            for k in 0..g.weight_len() {
                let mut e_k = vec![0.0; g.weight_len()];
                e_k[k] = 1.0;
                let expected: f64 = naive(&x, &e_k, None, g)
                    .iter()
                    .zip(&grad_out)
                    .map(|(a, b)| a * b)
                    .sum();
                assert!((grad[k] - expected).abs() < 1e-12, "weight grad {i}/{k}");
            }
        }
    }

    #[test]
    fn weight_gradient_does_not_depend_on_the_thread_count() {
        let g = Geometry {
            frames: 70,
            c_in: 3,
            height: 6,
            width: 5,
            c_out: 4,
            kernel_h: 3,
            kernel_w: 3,
            pad_h: 1,
            pad_w: 1,
        };
        let x: Vec<f32> = values(g.frames * g.in_frame(), 5, 0.7)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let grad: Vec<f32> = values(g.frames * g.out_frame(), 9, 0.0)
            .into_iter()
            .map(|v| v as f32 * 0.37)
            .collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| weight_grad(&x, &grad, g))
        };
        let one = run(1);
        for threads in [2, 3, 7] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
    }
}
