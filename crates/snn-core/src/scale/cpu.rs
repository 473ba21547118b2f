//! The attention rescaling kernels for the CPU, in parallel over the `(t, b)` blocks of
//! `[T, B, C, S]` (each block is `C x S` contiguous values).

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::{ScaleGains, ScaleGrads};
use crate::flex_util::{cast, contiguous, flex_from_vec, typed_slice, KernelFloat};
use crate::norm::cpu::par_planes;
use crate::pool::cpu::row_sum_max;

/// The gains as slices: temporal `[T, B]`, channel `[B, C]`, spatial `[B, S]`.
#[derive(Clone, Copy)]
pub struct Gains<'a, E> {
    /// `[T, B]`.
    pub temporal: &'a [E],
    /// `[B, C]`.
    pub channel: &'a [E],
    /// `[B, S]`.
    pub spatial: &'a [E],
}

/// burn-flex's ReLU, `max(y, 0)`: a NaN becomes 0, and the gradient passes only where the
/// output is positive ([`passes`]).
#[inline(always)]
fn relu<E: KernelFloat>(y: E) -> E {
    if passes(y) {
        y
    } else {
        E::zero()
    }
}

/// Whether the ReLU's gradient passes at pre-activation `y` (its output is positive).
#[inline(always)]
fn passes<E: KernelFloat>(y: E) -> bool {
    y > E::zero()
}

/// Forward: `relu?(((x * temporal) * channel) * spatial)` on `x` `[T, B, C, S]`.
pub fn forward<E: KernelFloat>(
    x: &[E],
    gains: Gains<E>,
    apply_relu: bool,
    [t, b, c, s]: [usize; 4],
) -> Vec<E> {
    assert_eq!(x.len(), t * b * c * s, "input length");
    par_planes(x.len(), c * s, |i, out| {
        let bb = i % b;
        let gt = gains.temporal[i];
        let gc = &gains.channel[bb * c..(bb + 1) * c];
        let gs = &gains.spatial[bb * s..(bb + 1) * s];
        let block = &x[i * c * s..(i + 1) * c * s];
        for ((orow, xrow), &gc) in out.chunks_exact_mut(s).zip(block.chunks_exact(s)).zip(gc) {
            for ((o, &v), &gs) in orow.iter_mut().zip(xrow).zip(gs) {
                let y = v * gt * gc * gs;
                o.write(if apply_relu { relu(y) } else { y });
            }
        }
    })
}

/// One row (one `(t, b, c)`) of the input, its output gradient and the spatial gain.
struct Row<'a, E> {
    x: &'a [E],
    grad: &'a [E],
    spatial: &'a [E],
}

/// The backward pass of one row: writes `dx`, adds `e * x * g_t * g_c` into the spatial
/// partial `ds`, and returns `sum(e * x * g_s)` (from which the temporal and channel gradients
/// follow), where `e` is the output gradient masked by the ReLU. In lanes of eight, so the sum
/// vectorises.
#[inline(always)]
fn backward_row<E: KernelFloat>(
    row: Row<E>,
    ds: &mut [E],
    dx: &mut [MaybeUninit<E>],
    gt: E,
    gc: E,
    apply_relu: bool,
) -> E {
    const LANES: usize = 8;
    let gtc = gt * gc;
    let mut lanes = [E::zero(); LANES];
    let step = |v: E, g: E, gs: E, ds: &mut E, dx: &mut MaybeUninit<E>, acc: &mut E| {
        // The forward product, in the forward's order, for the ReLU's mask.
        let e = if apply_relu && !passes(v * gt * gc * gs) {
            E::zero()
        } else {
            g
        };
        let ex = e * v;
        *acc = *acc + ex * gs;
        *ds = *ds + ex * gtc;
        dx.write(e * gs * gc * gt);
    };
    let n = row.x.len() / LANES * LANES;
    for ((((x, g), gs), ds), dx) in row.x[..n]
        .chunks_exact(LANES)
        .zip(row.grad[..n].chunks_exact(LANES))
        .zip(row.spatial[..n].chunks_exact(LANES))
        .zip(ds[..n].chunks_exact_mut(LANES))
        .zip(dx[..n].chunks_exact_mut(LANES))
    {
        for k in 0..LANES {
            step(x[k], g[k], gs[k], &mut ds[k], &mut dx[k], &mut lanes[k]);
        }
    }
    let mut sum = lanes.iter().fold(E::zero(), |a, &b| a + b);
    for j in n..row.x.len() {
        step(
            row.x[j],
            row.grad[j],
            row.spatial[j],
            &mut ds[j],
            &mut dx[j],
            &mut sum,
        );
    }
    sum
}

/// Gradients of [`forward`]: `(dx, d_temporal, d_channel, d_spatial)`, `dx` only when
/// `want_x`. The gain gradients are summed per `(t, b)` block, then over `t` in order, so the
/// result does not depend on the thread count.
pub fn backward<E: KernelFloat>(
    x: &[E],
    gains: Gains<E>,
    apply_relu: bool,
    grad: &[E],
    want_x: bool,
    [t, b, c, s]: [usize; 4],
) -> (Option<Vec<E>>, Vec<E>, Vec<E>, Vec<E>) {
    assert_eq!(x.len(), t * b * c * s, "input length");
    assert_eq!(grad.len(), x.len(), "gradient length");
    par_block_grads(want_x, [t, b, c, s], |i, block| {
        let bb = i % b;
        let gt = gains.temporal[i];
        let gc = &gains.channel[bb * c..(bb + 1) * c];
        let gs = &gains.spatial[bb * s..(bb + 1) * s];
        let xb = &x[i * c * s..(i + 1) * c * s];
        let gb = &grad[i * c * s..(i + 1) * c * s];
        let mut total = E::zero();
        for ((((xrow, grow), dxrow), &gcv), dc) in xb
            .chunks_exact(s)
            .zip(gb.chunks_exact(s))
            .zip(block.dx.chunks_exact_mut(s))
            .zip(gc)
            .zip(block.channel.iter_mut())
        {
            let row = Row {
                x: xrow,
                grad: grow,
                spatial: gs,
            };
            let sum = backward_row(row, block.spatial, dxrow, gt, gcv, apply_relu);
            total = total + gcv * sum;
            *dc = gt * sum;
        }
        *block.temporal = total;
    })
}

/// One `(t, b)` block's share of the gradients: its input gradient (`[C, S]`, to be written
/// whole), its temporal gradient, and its parts of the channel (`[C]`) and spatial (`[S]`)
/// gradients, which [`par_block_grads`] sums over `t`. `flags` is a buffer kept by the thread.
pub struct BlockGrads<'a, E> {
    /// Input gradient of the block.
    pub dx: &'a mut [MaybeUninit<E>],
    /// Temporal gradient of the block.
    pub temporal: &'a mut E,
    /// The block's part of the channel gradient (zero on entry).
    pub channel: &'a mut [E],
    /// The block's part of the spatial gradient (zero on entry).
    pub spatial: &'a mut [E],
    /// A scratch buffer kept by the thread.
    pub flags: &'a mut Vec<bool>,
}

/// Runs `f` on every `(t, b)` block in parallel and assembles `(dx, d_temporal, d_channel,
/// d_spatial)`: the channel and spatial parts are summed over `t` in order, so the result does
/// not depend on the thread count. `dx` is `None` unless `want_x` (it is then computed into a
/// scratch block and dropped).
fn par_block_grads<E: KernelFloat>(
    want_x: bool,
    [t, b, c, s]: [usize; 4],
    f: impl Fn(usize, BlockGrads<E>) + Sync + Send,
) -> (Option<Vec<E>>, Vec<E>, Vec<E>, Vec<E>) {
    let blocks = t * b;
    let len = blocks * c * s;
    let mut d_temporal = vec![E::zero(); blocks];
    let mut channel_parts = vec![E::zero(); blocks * c];
    let mut spatial_parts = vec![E::zero(); blocks * s];
    let mut dx: Vec<E> = Vec::with_capacity(if want_x { len } else { 0 });
    if c * s > 0 {
        let mut dx_blocks: Vec<Option<&mut [MaybeUninit<E>]>> = if want_x {
            dx.spare_capacity_mut()[..len]
                .chunks_exact_mut(c * s)
                .map(Some)
                .collect()
        } else {
            (0..blocks).map(|_| None).collect()
        };
        dx_blocks
            .par_iter_mut()
            .zip(d_temporal.par_iter_mut())
            .zip(channel_parts.par_chunks_mut(c))
            .zip(spatial_parts.par_chunks_mut(s))
            .enumerate()
            .with_min_len(4)
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(scratch, flags), (i, (((dx, temporal), channel), spatial))| {
                    let dx: &mut [MaybeUninit<E>] = match dx {
                        Some(dx) => dx,
                        None => {
                            scratch.resize(c * s, MaybeUninit::uninit());
                            scratch
                        }
                    };
                    let block = BlockGrads {
                        dx,
                        temporal,
                        channel,
                        spatial,
                        flags,
                    };
                    f(i, block);
                },
            );
    }
    if want_x {
        // SAFETY: `f` wrote every block of `dx` (or it is empty).
        unsafe { dx.set_len(len) };
    }
    (
        want_x.then_some(dx),
        d_temporal,
        sum_over_steps(&channel_parts, b, c),
        sum_over_steps(&spatial_parts, b, s),
    )
}

/// `[T, B, W]` parts summed over `T` in order: `[B, W]`.
fn sum_over_steps<E: KernelFloat>(parts: &[E], b: usize, width: usize) -> Vec<E> {
    let mut total = vec![E::zero(); b * width];
    if width == 0 {
        return total;
    }
    for step in parts.chunks_exact(b * width) {
        for (acc, &v) in total.iter_mut().zip(step) {
            *acc = *acc + v;
        }
    }
    total
}

/// The shape `[T, B, C, S]` and dtype when every tensor fits the kernel.
/// (The generic path, which the others take, reports a misfit.)
fn kernel_dims(x: &FlexTensor, gains: &ScaleGains<Flex>) -> Option<([usize; 4], DType)> {
    let dtype = x.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) || x.shape().num_dims() != 4 {
        return None;
    }
    let [t, b, c, s] = x.shape().dims::<4>();
    let fits = [
        (&gains.temporal, [t, b]),
        (&gains.channel, [b, c]),
        (&gains.spatial, [b, s]),
    ]
    .iter()
    .all(|(g, shape)| g.dtype() == dtype && g.shape() == Shape::new(*shape));
    fits.then_some(([t, b, c, s], dtype))
}

/// Contiguous copies (or views) of the three gains.
struct GainTensors([FlexTensor; 3]);

impl GainTensors {
    fn new<E: KernelFloat>(g: &ScaleGains<Flex>) -> Self {
        Self([&g.temporal, &g.channel, &g.spatial].map(contiguous::<E>))
    }

    fn slices<E: KernelFloat>(&self) -> Gains<'_, E> {
        let [t, c, s] = &self.0;
        Gains {
            temporal: typed_slice::<E>(t),
            channel: typed_slice::<E>(c),
            spatial: typed_slice::<E>(s),
        }
    }
}

/// [`super::ScaleBackend::attention_scale`] for `Flex`.
pub(crate) fn flex_forward(
    x: FloatTensor<Flex>,
    gains: ScaleGains<Flex>,
    apply_relu: bool,
) -> FloatTensor<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        g: &ScaleGains<Flex>,
        relu: bool,
        dims: [usize; 4],
    ) -> FlexTensor {
        let x = contiguous::<E>(x);
        let held = GainTensors::new::<E>(g);
        let gains = held.slices::<E>();
        flex_from_vec(
            forward(typed_slice(&x), gains, relu, dims),
            Shape::new(dims),
        )
    }
    match kernel_dims(&x, &gains) {
        Some((dims, DType::F32)) => run::<f32>(&x, &gains, apply_relu, dims),
        Some((dims, _)) => run::<f64>(&x, &gains, apply_relu, dims),
        None => super::generic_attention_scale::<Flex>(x, gains, apply_relu),
    }
}

/// [`super::ScaleBackend::attention_scale_backward`] for `Flex`.
pub(crate) fn flex_backward(
    x: FloatTensor<Flex>,
    gains: ScaleGains<Flex>,
    apply_relu: bool,
    grad: FloatTensor<Flex>,
    wants: [bool; 4],
) -> ScaleGrads<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        g: &ScaleGains<Flex>,
        relu: bool,
        grad: &FlexTensor,
        wants: [bool; 4],
        [t, b, c, s]: [usize; 4],
    ) -> ScaleGrads<Flex> {
        let [x, grad] = [x, grad].map(contiguous::<E>);
        let held = GainTensors::new::<E>(g);
        let gains = held.slices::<E>();
        let dims = [t, b, c, s];
        let (dx, dt, dc, ds) = backward(
            typed_slice(&x),
            gains,
            relu,
            typed_slice(&grad),
            wants[0],
            dims,
        );
        ScaleGrads {
            x: dx.map(|d| flex_from_vec(d, Shape::new(dims))),
            temporal: wants[1].then(|| flex_from_vec(dt, Shape::new([t, b]))),
            channel: wants[2].then(|| flex_from_vec(dc, Shape::new([b, c]))),
            spatial: wants[3].then(|| flex_from_vec(ds, Shape::new([b, s]))),
        }
    }
    let same = grad.dtype() == x.dtype() && grad.shape() == x.shape();
    match kernel_dims(&x, &gains).filter(|_| same) {
        Some((dims, DType::F32)) => run::<f32>(&x, &gains, apply_relu, &grad, wants, dims),
        Some((dims, _)) => run::<f64>(&x, &gains, apply_relu, &grad, wants, dims),
        None => super::generic_attention_scale_backward::<Flex>(x, gains, apply_relu, grad, wants),
    }
}

/// Mean and maximum over `C` of `(x * temporal) * channel` for `x` `[T, B, C, S]`, each
/// `[T * B, S]`: the same sums in the same order as [`crate::pool::cpu::mean_max`] over the
/// rescaled tensor (including its eight-lane row path when `S = 1`), so the same bits.
pub fn scaled_mean_max<E: KernelFloat>(
    x: &[E],
    gains: Gains<E>,
    [t, b, c, s]: [usize; 4],
) -> (Vec<E>, Vec<E>) {
    assert_eq!(x.len(), t * b * c * s, "input length");
    let mut mean = vec![E::zero(); t * b * s];
    let mut max = vec![E::neg_infinity(); t * b * s];
    if x.is_empty() {
        return (mean, max);
    }
    let inv: E = cast(1.0 / c as f64);
    mean.par_chunks_mut(s)
        .zip(max.par_chunks_mut(s))
        .zip(x.par_chunks(c * s))
        .enumerate()
        .with_min_len(4)
        .for_each_init(Vec::new, |row_buf, (i, ((mean, max), block))| {
            let bb = i % b;
            let gt = gains.temporal[i];
            let gc = &gains.channel[bb * c..(bb + 1) * c];
            if s == 1 {
                // One row per output: `mean_max`'s lane order.
                row_buf.clear();
                row_buf.extend(block.iter().zip(gc).map(|(&v, &gc)| v * gt * gc));
                let (sum, top) = row_sum_max(row_buf);
                mean[0] = sum * inv;
                max[0] = top;
                return;
            }
            for (row, &gc) in block.chunks_exact(s).zip(gc) {
                for ((m, top), &v) in mean.iter_mut().zip(max.iter_mut()).zip(row) {
                    let y = v * gt * gc;
                    *m = *m + y;
                    // Strictly greater: the first maximum is kept.
                    if y > *top {
                        *top = y;
                    }
                }
            }
            for m in mean.iter_mut() {
                *m = *m * inv;
            }
        });
    (mean, max)
}

/// The output gradients of [`scaled_mean_max`] and its forward maximum (all `[T * B, S]`).
pub struct SqueezeGrads<'a, E> {
    /// The forward maximum.
    pub max: &'a [E],
    /// Gradient of the mean.
    pub mean_grad: Option<&'a [E]>,
    /// Gradient of the maximum.
    pub max_grad: Option<&'a [E]>,
}

/// Gradients of [`scaled_mean_max`]: `(dx, d_temporal, d_channel)`, `dx` only when `want_x`.
/// The mean's gradient spreads as `grad / C`; the maximum's goes to the first position along
/// `C` whose rescaled value equals the maximum; then through the rescaling as in [`backward`]
/// (with a spatial gain of 1).
pub fn scaled_mean_max_backward<E: KernelFloat>(
    x: &[E],
    gains: Gains<E>,
    squeeze: SqueezeGrads<E>,
    want_x: bool,
    [t, b, c, s]: [usize; 4],
) -> (Option<Vec<E>>, Vec<E>, Vec<E>) {
    assert_eq!(x.len(), t * b * c * s, "input length");
    let inv: E = cast(1.0 / c.max(1) as f64);
    let (dx, d_temporal, d_channel, _) = par_block_grads(want_x, [t, b, c, s], |i, block| {
        let found = block.flags;
        found.clear();
        found.resize(s, false);
        let bb = i % b;
        let gt = gains.temporal[i];
        let gc = &gains.channel[bb * c..(bb + 1) * c];
        let rows = i * s..(i + 1) * s;
        let top = &squeeze.max[rows.clone()];
        let mean_grad = squeeze.mean_grad.map(|g| &g[rows.clone()]);
        let max_grad = squeeze.max_grad.map(|g| &g[rows]);
        let xb = &x[i * c * s..(i + 1) * c * s];
        let mut total = E::zero();
        for (((row, dxrow), &gcv), dc) in xb
            .chunks_exact(s)
            .zip(block.dx.chunks_exact_mut(s))
            .zip(gc)
            .zip(block.channel.iter_mut())
        {
            let mut sum = E::zero();
            for (j, (&v, d)) in row.iter().zip(dxrow.iter_mut()).enumerate() {
                let mut e = mean_grad.map_or(E::zero(), |g| g[j] * inv);
                if let Some(g) = max_grad {
                    if !found[j] && v * gt * gcv == top[j] {
                        found[j] = true;
                        e = e + g[j];
                    }
                }
                d.write(e * gcv * gt);
                sum = sum + e * v;
            }
            total = total + gcv * sum;
            *dc = gt * sum;
        }
        *block.temporal = total;
    });
    (dx, d_temporal, d_channel)
}

/// [`super::ScaleBackend::scaled_mean_max`] for `Flex`.
pub(crate) fn flex_scaled_mean_max(
    x: FloatTensor<Flex>,
    gains: ScaleGains<Flex>,
) -> crate::pool::MeanMax<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        g: &ScaleGains<Flex>,
        dims: [usize; 4],
    ) -> crate::pool::MeanMax<Flex> {
        let x = contiguous::<E>(x);
        let held = GainTensors::new::<E>(g);
        let gains = held.slices::<E>();
        let (mean, max) = scaled_mean_max(typed_slice(&x), gains, dims);
        let shape = Shape::new([dims[0] * dims[1], dims[3]]);
        crate::pool::MeanMax {
            mean: flex_from_vec(mean, shape.clone()),
            max: flex_from_vec(max, shape),
        }
    }
    match kernel_dims(&x, &gains) {
        Some((dims, DType::F32)) => run::<f32>(&x, &gains, dims),
        Some((dims, _)) => run::<f64>(&x, &gains, dims),
        None => super::generic_scaled_mean_max::<Flex>(x, gains),
    }
}

/// [`super::ScaleBackend::scaled_mean_max_backward`] for `Flex`.
pub(crate) fn flex_scaled_mean_max_backward(
    x: FloatTensor<Flex>,
    gains: ScaleGains<Flex>,
    max: FloatTensor<Flex>,
    grad_mean: Option<FloatTensor<Flex>>,
    grad_max: Option<FloatTensor<Flex>>,
    wants: [bool; 3],
) -> ScaleGrads<Flex> {
    fn run<E: KernelFloat>(
        x: &FlexTensor,
        g: &ScaleGains<Flex>,
        max: &FlexTensor,
        grad_mean: Option<&FlexTensor>,
        grad_max: Option<&FlexTensor>,
        wants: [bool; 3],
        [t, b, c, s]: [usize; 4],
    ) -> ScaleGrads<Flex> {
        let [x, max] = [x, max].map(contiguous::<E>);
        let grad_mean = grad_mean.map(contiguous::<E>);
        let grad_max = grad_max.map(contiguous::<E>);
        let held = GainTensors::new::<E>(g);
        let gains = held.slices::<E>();
        let squeeze = SqueezeGrads {
            max: typed_slice::<E>(&max),
            mean_grad: grad_mean.as_ref().map(typed_slice::<E>),
            max_grad: grad_max.as_ref().map(typed_slice::<E>),
        };
        let dims = [t, b, c, s];
        let (dx, dt, dc) =
            scaled_mean_max_backward(typed_slice(&x), gains, squeeze, wants[0], dims);
        ScaleGrads {
            x: dx.map(|d| flex_from_vec(d, Shape::new(dims))),
            temporal: wants[1].then(|| flex_from_vec(dt, Shape::new([t, b]))),
            channel: wants[2].then(|| flex_from_vec(dc, Shape::new([b, c]))),
            spatial: None,
        }
    }
    let dtype = x.dtype();
    let fits = |[t, b, _, s]: [usize; 4]| {
        let squeezed = Shape::new([t * b, s]);
        [Some(&max), grad_mean.as_ref(), grad_max.as_ref()]
            .iter()
            .flatten()
            .all(|g| g.dtype() == dtype && g.shape() == squeezed)
    };
    match kernel_dims(&x, &gains).filter(|&(dims, _)| fits(dims)) {
        Some((dims, dtype)) => {
            let run = if dtype == DType::F32 {
                run::<f32>
            } else {
                run::<f64>
            };
            run(
                &x,
                &gains,
                &max,
                grad_mean.as_ref(),
                grad_max.as_ref(),
                wants,
                dims,
            )
        }
        None => super::generic_scaled_mean_max_backward::<Flex>(
            x, gains, max, grad_mean, grad_max, wants,
        ),
    }
}
