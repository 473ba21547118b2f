//! The attention's squeezes on burn's CubeCL backends (`Cuda`, `Wgpu`): the mean and maximum
//! over the middle axis of `[A, R, L]` ([`super::PoolBackend::mean_max`]) and of the rescaled
//! sequence ([`crate::ScaleBackend::scaled_mean_max`]), one launch forward and one backward.
//!
//! Why: from burn's ops the forward pass is two reductions (`mean_dim`, `max_dim`), and the
//! scaled one first writes `x * g_t * g_c` with two full-size products; the backward pass
//! fills a zero tensor, adds the broadcast mean gradient, finds the first maximum with
//! `argmax` and scatters the maximum's gradient: five or six full-size kernels per squeeze.
//! Reductions, products and sums made about a fifth of a batch-128 Gesture training step on an
//! H200 (`docs/gpu-results.md`), and a TCSA block has two squeezes.
//!
//! Two layouts of the same arithmetic:
//! - `L` of 32 or more (SA's squeeze over channels, `L` = pixels): one thread per `(a, l)`
//!   loops over `R`, and neighbouring threads read neighbouring values;
//! - shorter `L` (CA's squeeze over pixels and TA's over a whole step, both `L = 1`): one cube
//!   per `(a, l)`, its units striding over the row (contiguous reads, and a step's 64 k values
//!   spread over a cube rather than one thread), combined by in-cube reductions; the maximum's
//!   gradient goes to the smallest position holding it, as in the per-output kernel.
//!
//! The scaled form reads `x` as `[T x B, C, S]` and squeezes `(x * temporal[t, b]) *
//! channel[b, c]`, the product of [`crate::scale::generic_scaled_mean_max`] in the same order,
//! so the maximum and its position are the same to the last bit. Its backward writes the
//! gradient with respect to that product, which the rescaling's backward kernels
//! ([`crate::scale`]) turn into the gradients of `x` and of both gains.

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;

use burn_cubecl::cubecl::{CubeCount, CubeDim};

use crate::cube_util::{
    cube_max, cube_min_index, cube_sum, elementwise_geometry, prepare, CUBE_SIZE,
};

/// The kernels index with 32 bits (CubeCL's default); larger tensors take the tensor-op path.
const MAX_ELEMENTS: usize = u32::MAX as usize;
/// Below this `L`, a cube reduces each output (the row kernels); from it on, a thread does, and
/// a plane's threads read neighbouring values.
const ROWS_BELOW: usize = 32;
/// The most cubes along one grid axis on every backend (Vulkan's minimum limit).
const MAX_CUBES_PER_AXIS: usize = 65535;

// --- kernels ---------------------------------------------------------------------------------

/// The squeezed value at flat index `i` = `(a, r, l)`: `x[i]`, or `(x[i] * temporal[a]) *
/// channel[a % batch, r]` when `scaled`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn squeezed<F: Float>(
    x: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    i: usize,
    a: usize,
    r: usize,
    reduced: usize,
    batch: usize,
    #[comptime] scaled: bool,
) -> F {
    let value = x[i];
    if comptime![scaled] {
        (value * temporal[a]) * channel[(a % batch) * reduced + r]
    } else {
        value
    }
}

/// `mean[a, l]` and `max[a, l]` over `r` (a per-row cube combines its units' partial sums and
/// maxima in shared memory).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn mean_max_kernel<F: Float>(
    x: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    mean: &mut Tensor<F>,
    max: &mut Tensor<F>,
    reduced: usize,
    kept: usize,
    batch: usize,
    outputs: usize,
    count: InputScalar,
    #[comptime] scaled: bool,
    #[comptime] per_row: bool,
    #[comptime] cube_size: usize,
    #[define(F)] _dtype: StorageType,
) {
    // The output `(a, l)` and the walk over its row: one thread per output over every `r`, or
    // with `per_row` one cube per output (cubes on two grid axes: a Vulkan grid has at most
    // 65535 along one), its units striding over `r`.
    let mut out = ABSOLUTE_POS;
    let mut start = 0usize;
    let mut stride = 1usize;
    if comptime![per_row] {
        out = (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize;
        start = UNIT_POS_X as usize;
        stride = CUBE_DIM_X as usize;
    }
    // With `per_row`, the same for every unit of the cube, so no unit misses a barrier.
    if out >= outputs {
        terminate!();
    }
    let a = out / kept;
    let base = a * reduced * kept + out % kept;
    let mut sum = F::new(0.0);
    // The first value is in the set, so it is neutral for the maximum (units past the end of
    // a short row keep it).
    let mut top = squeezed::<F>(x, temporal, channel, base, a, 0, reduced, batch, scaled);
    let mut r = start;
    while r < reduced {
        let value = squeezed::<F>(
            x,
            temporal,
            channel,
            base + r * kept,
            a,
            r,
            reduced,
            batch,
            scaled,
        );
        sum += value;
        top = select(value > top, value, top);
        r += stride;
    }
    if comptime![per_row] {
        sum = cube_sum::<F>(sum, cube_size);
        top = cube_max::<F>(top, cube_size);
    }
    if start == 0 {
        mean[out] = sum / count.get::<F>();
        max[out] = top;
    }
}

/// The gradient with respect to the squeezed values: `grad_mean[a, l] / R` everywhere plus
/// `grad_max[a, l]` at the first `r` whose value equals `max[a, l]`. Each unit finds its first
/// such `r` (units stride over `r`, so a unit's first is its smallest); a per-row cube takes
/// the smallest of its units', then its units write the row.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn mean_max_backward_kernel<F: Float>(
    x: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    max: &Tensor<F>,
    grad_mean: &Tensor<F>,
    grad_max: &Tensor<F>,
    out_grad: &mut Tensor<F>,
    reduced: usize,
    kept: usize,
    batch: usize,
    outputs: usize,
    count: InputScalar,
    #[comptime] has_mean: bool,
    #[comptime] has_max: bool,
    #[comptime] scaled: bool,
    #[comptime] per_row: bool,
    #[comptime] cube_size: usize,
    #[define(F)] _dtype: StorageType,
) {
    // The output `(a, l)` and the walk over its row: one thread per output over every `r`, or
    // with `per_row` one cube per output (cubes on two grid axes: a Vulkan grid has at most
    // 65535 along one), its units striding over `r`.
    let mut out = ABSOLUTE_POS;
    let mut start = 0usize;
    let mut stride = 1usize;
    if comptime![per_row] {
        out = (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize;
        start = UNIT_POS_X as usize;
        stride = CUBE_DIM_X as usize;
    }
    if out >= outputs {
        terminate!();
    }
    let a = out / kept;
    let base = a * reduced * kept + out % kept;
    let mut spread = F::new(0.0);
    if comptime![has_mean] {
        spread = grad_mean[out] / count.get::<F>();
    }
    // `R` (no position) unless the maximum's gradient has one to go to.
    let mut first = reduced as u32;
    if comptime![has_max] {
        let top = max[out];
        let mut r = start;
        while r < reduced {
            let value = squeezed::<F>(
                x,
                temporal,
                channel,
                base + r * kept,
                a,
                r,
                reduced,
                batch,
                scaled,
            );
            if value == top {
                first = r as u32;
                r = reduced;
            } else {
                r += stride;
            }
        }
        if comptime![per_row] {
            first = cube_min_index(first, cube_size);
        }
    }
    let mut r = start;
    while r < reduced {
        let mut g = spread;
        // Never true without the maximum's gradient (`first` is then `R`).
        if r as u32 == first {
            g += grad_max[out];
        }
        out_grad[base + r * kept] = g;
        r += stride;
    }
}

// --- host side -------------------------------------------------------------------------------

/// Whether `x` is small enough for these kernels' 32-bit indices and has something to reduce
/// (`R = 0` is left to the tensor ops, whose empty mean and maximum it follows).
pub(crate) fn fits<R: CubeRuntime>(x: &CubeTensor<R>, reduced: usize) -> bool {
    x.shape().num_elements() <= MAX_ELEMENTS && reduced > 0
}

fn empty<R: CubeRuntime>(like: &CubeTensor<R>, dims: Vec<usize>) -> CubeTensor<R> {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::from(dims),
        like.dtype,
    )
}

/// The squeeze's view of `x`: `[A, R, L]`, and the gains when it is the scaled one (`x`
/// `[T, B, C, S]` read as `[T x B, C, S]`, with `B`).
pub(crate) struct Squeeze<R: CubeRuntime> {
    /// `[A, R, L]`.
    dims: [usize; 3],
    /// The temporal `[T, B]` and channel `[B, C]` gains and `B`, for the scaled squeeze.
    gains: Option<(CubeTensor<R>, CubeTensor<R>, usize)>,
}

impl<R: CubeRuntime> Squeeze<R> {
    /// The plain squeeze of `x` `[A, R, L]`.
    pub(crate) fn plain(x: &CubeTensor<R>) -> Self {
        Self {
            dims: x.shape().dims::<3>(),
            gains: None,
        }
    }

    /// The squeeze of `(x * temporal) * channel` over `C`, `x` `[T, B, C, S]`.
    pub(crate) fn scaled(
        x: &CubeTensor<R>,
        temporal: CubeTensor<R>,
        channel: CubeTensor<R>,
    ) -> Self {
        let [t, b, c, s] = x.shape().dims::<4>();
        Self {
            dims: [t * b, c, s],
            gains: Some((temporal, channel, b)),
        }
    }

    /// `R`, the length reduced.
    pub(crate) fn reduced(&self) -> usize {
        self.dims[1]
    }

    /// The gains (contiguous, in `dtype`) and `B`; `x` itself stands in for both when there
    /// are none (the kernels do not read them then).
    fn operands(&self, x: &CubeTensor<R>) -> (CubeTensor<R>, CubeTensor<R>, usize, bool) {
        match &self.gains {
            Some((temporal, channel, batch)) => (
                prepare(temporal.clone(), x.dtype),
                prepare(channel.clone(), x.dtype),
                *batch,
                true,
            ),
            None => (x.clone(), x.clone(), 1, false),
        }
    }
}

/// The launch: one cube per output (two grid axes, a power-of-two cube of 32 to 256 units that
/// covers a short row) when `L` is short, otherwise one thread per output; and the cube size
/// and `per_row` flag the kernels take.
fn geometry<R: CubeRuntime>(
    like: &CubeTensor<R>,
    outputs: usize,
    reduced: usize,
    kept: usize,
) -> (CubeCount, CubeDim, usize, bool) {
    if kept >= ROWS_BELOW || outputs > MAX_CUBES_PER_AXIS * MAX_CUBES_PER_AXIS {
        let (count, dim) = elementwise_geometry(like, outputs);
        return (count, dim, CUBE_SIZE as usize, false);
    }
    let cube_size = reduced.next_power_of_two().clamp(32, CUBE_SIZE as usize);
    let x = outputs.min(MAX_CUBES_PER_AXIS);
    (
        CubeCount::Static(x as u32, outputs.div_ceil(x) as u32, 1),
        CubeDim::new_1d(cube_size as u32),
        cube_size,
        true,
    )
}

/// The mean and maximum of the squeeze over `R`, each `[A, L]`.
pub(crate) fn forward<R: CubeRuntime>(
    x: CubeTensor<R>,
    squeeze: &Squeeze<R>,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let [a, r, l] = squeeze.dims;
    let dtype = x.dtype;
    let x = into_contiguous(x);
    let (temporal, channel, batch, scaled) = squeeze.operands(&x);
    let (mean, max) = (empty(&x, vec![a, l]), empty(&x, vec![a, l]));
    let outputs = a * l;
    if outputs == 0 {
        return (mean, max);
    }
    let (count, dim, cube_size, per_row) = geometry(&x, outputs, r, l);
    mean_max_kernel::launch::<R>(
        &x.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        temporal.into_tensor_arg(),
        channel.into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        max.clone().into_tensor_arg(),
        r,
        l,
        batch,
        outputs,
        InputScalar::new(r as f64, dtype),
        scaled,
        per_row,
        cube_size,
        dtype.into(),
    );
    (mean, max)
}

/// The gradient with respect to the squeezed values (`[A, R, L]`, shaped like `x`), given the
/// forward maximum and the output gradients (at least one).
pub(crate) fn backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    squeeze: &Squeeze<R>,
    max: CubeTensor<R>,
    grad_mean: Option<CubeTensor<R>>,
    grad_max: Option<CubeTensor<R>>,
) -> CubeTensor<R> {
    let [a, r, l] = squeeze.dims;
    let dtype = x.dtype;
    let x = into_contiguous(x);
    let (temporal, channel, batch, scaled) = squeeze.operands(&x);
    let out = empty(&x, x.shape().iter().copied().collect());
    let outputs = a * l;
    if outputs * r == 0 {
        return out;
    }
    let max = prepare(max, dtype);
    let (has_mean, has_max) = (grad_mean.is_some(), grad_max.is_some());
    // An absent gradient is not read; `max` stands in for it.
    let grad_mean = grad_mean.map_or_else(|| max.clone(), |g| prepare(g, dtype));
    let grad_max = grad_max.map_or_else(|| max.clone(), |g| prepare(g, dtype));
    let (count, dim, cube_size, per_row) = geometry(&x, outputs, r, l);
    mean_max_backward_kernel::launch::<R>(
        &x.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        temporal.into_tensor_arg(),
        channel.into_tensor_arg(),
        max.into_tensor_arg(),
        grad_mean.into_tensor_arg(),
        grad_max.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        r,
        l,
        batch,
        outputs,
        InputScalar::new(r as f64, dtype),
        has_mean,
        has_max,
        scaled,
        per_row,
        cube_size,
        dtype.into(),
    );
    out
}
