//! Training-mode batch normalisation on burn's CubeCL backends (`Cuda`, `Wgpu`): two launches
//! forward and two backward, against a dozen full-tensor kernels for the composed ops.
//!
//! Why: a batch-128 Gesture training step on an H200 spent about 0.4 s of its 1.6 s of kernel
//! time outside the convolutions, in hundreds of element-wise products, sums and reductions
//! over the activations (`docs/gpu-results.md`); training-mode batch norm over the
//! full-resolution conv outputs, and its gradient, is the largest share of them.
//!
//! Layout: `x` is contiguous `[N, C, H, W]` (a `[N, C, S]` input is `[N, C, 1, S]`), so a
//! channel is `N` runs of `H x W` contiguous values.
//! - Forward: [`channel_sums_kernel`] gives each channel's sum and sum of squares of
//!   `x - x[0, c, 0]` (shifted, so that the variance does not cancel when the mean is large)
//!   as partial sums, one per cube of about [`CHUNK`] values (whole frames), which tensor ops
//!   combine into the mean and the biased variance; then [`normalize_pool_kernel`] writes
//!   `avg_pool(x) * scale[c] + shift[c]`, one thread per output value, with
//!   `scale = weight / sigma` and `shift = bias - mean * scale`.
//! - Backward: the same reduction kernel over the (pooled) output positions gives `sum(g)`
//!   and `sum(g * (avg_pool(x) - mean))` per channel, then [`input_grad_kernel`] writes
//!   `dx = weight / sigma * (g / k^2 - mean(g_full) - x_hat * mean(g_full * x_hat))`, one
//!   thread per input value (the formula of [`super::generic::train_backward`]).

use burn::tensor::{Shape, Tensor as BurnTensor, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::{BatchNormGrads, BatchNormTrain};
use crate::cube_util::{cube_sum, elementwise_geometry, prepare, CUBE_SIZE};
use crate::tensor::{unwrap, wrap};

/// The kernels index with 32 bits (CubeCL's default); larger tensors take the tensor-op path.
const MAX_ELEMENTS: usize = u32::MAX as usize;
/// Values of one channel each reducing cube covers, in whole frames: enough to keep the
/// per-thread sums long, few enough that the cubes fill a GPU (120 per channel for the
/// Gesture net's 32 x 32 layers at T 60, batch 128).
pub const CHUNK: usize = 1 << 16;

// --- kernels ---------------------------------------------------------------------------------

/// Partial per-channel sums. Cube `(j, c)` covers frames `j * frames_per_chunk ..` of channel
/// `c` and writes `sum1[c * chunks + j]`, `sum2[c * chunks + j]`:
/// - forward (`!backward`): over every value, `d = x - shift[c]`: `sum(d)`, `sum(d * d)`;
/// - backward: over every output position, with `a = avg_pool(x) - shift[c]` and the output
///   gradient `g`: `sum(g)`, `sum(g * a)`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn channel_sums_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    shift: &Tensor<F>,
    sum1: &mut Tensor<F>,
    sum2: &mut Tensor<F>,
    frames: usize,
    channels: usize,
    height: usize,
    width: usize,
    pool: usize,
    frames_per_chunk: usize,
    chunks: usize,
    inv_area: InputScalar,
    #[comptime] backward: bool,
    #[comptime] cube_size: usize,
    #[define(F)] _dtype: StorageType,
) {
    let c = CUBE_POS_Y as usize;
    let j = CUBE_POS_X as usize;
    let unit = UNIT_POS_X as usize;
    let first = j * frames_per_chunk;
    let mut last = first + frames_per_chunk;
    if last > frames {
        last = frames;
    }
    let out_width = width / pool;
    let positions = if comptime![backward] {
        (height / pool) * out_width
    } else {
        height * width
    };
    let total = (last - first) * positions;
    let s = shift[c];
    let area = inv_area.get::<F>();
    let mut acc1 = F::new(0.0);
    let mut acc2 = F::new(0.0);
    let mut i = unit;
    while i < total {
        let n = first + i / positions;
        let p = i % positions;
        let plane = (n * channels + c) * height * width;
        if comptime![backward] {
            let oy = p / out_width;
            let ox = p % out_width;
            let mut block = F::new(0.0);
            for dy in 0..pool {
                for dx in 0..pool {
                    block += x[plane + (oy * pool + dy) * width + ox * pool + dx];
                }
            }
            let g = grad[(n * channels + c) * positions + p];
            acc1 += g;
            acc2 += g * (block * area - s);
        } else {
            let d = x[plane + p] - s;
            acc1 += d;
            acc2 += d * d;
        }
        i += CUBE_DIM_X as usize;
    }
    let total1 = cube_sum::<F>(acc1, cube_size);
    let total2 = cube_sum::<F>(acc2, cube_size);
    if unit == 0 {
        sum1[c * chunks + j] = total1;
        sum2[c * chunks + j] = total2;
    }
}

/// `out[n, c, oy, ox] = avg(x over the pool x pool block) * scale[c] + shift[c]`, one thread
/// per output value.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn normalize_pool_kernel<F: Float>(
    x: &Tensor<F>,
    scale: &Tensor<F>,
    shift: &Tensor<F>,
    out: &mut Tensor<F>,
    channels: usize,
    height: usize,
    width: usize,
    pool: usize,
    outputs: usize,
    inv_area: InputScalar,
    #[define(F)] _dtype: StorageType,
) {
    let o = ABSOLUTE_POS;
    if o >= outputs {
        terminate!();
    }
    let out_width = width / pool;
    let out_height = height / pool;
    let ox = o % out_width;
    let oy = (o / out_width) % out_height;
    let plane = o / (out_width * out_height);
    let c = plane % channels;
    let base = plane * height * width;
    let mut block = F::new(0.0);
    for dy in 0..pool {
        for dx in 0..pool {
            block += x[base + (oy * pool + dy) * width + ox * pool + dx];
        }
    }
    out[o] = block * inv_area.get::<F>() * scale[c] + shift[c];
}

/// `dx[i] = (g[block of i] / k^2 - mean_g[c] - (x[i] - mean[c]) * inv_std[c] * mean_gx[c]) *
/// coef[c]`, one thread per input value.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn input_grad_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    mean: &Tensor<F>,
    inv_std: &Tensor<F>,
    coef: &Tensor<F>,
    mean_g: &Tensor<F>,
    mean_gx: &Tensor<F>,
    dx: &mut Tensor<F>,
    channels: usize,
    height: usize,
    width: usize,
    pool: usize,
    elements: usize,
    inv_area: InputScalar,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= elements {
        terminate!();
    }
    let col = i % width;
    let row = (i / width) % height;
    let plane = i / (width * height);
    let c = plane % channels;
    let out_width = width / pool;
    let g =
        grad[(plane * (height / pool) + row / pool) * out_width + col / pool] * inv_area.get::<F>();
    let x_hat = (x[i] - mean[c]) * inv_std[c];
    dx[i] = (g - mean_g[c] - x_hat * mean_gx[c]) * coef[c];
}

// --- host side -------------------------------------------------------------------------------

type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;
/// A per-channel `[C]` tensor on the CubeCL backend.
type PerChannel<R, F, I, BT> = BurnTensor<Cube<R, F, I, BT>, 1>;

/// `[N, C, H, W]` of a `[N, C, H, W]` or `[N, C, S]` shape (`H = 1`, `W = S`).
fn dims(shape: &Shape) -> [usize; 4] {
    match shape.num_dims() {
        4 => shape.dims(),
        _ => {
            let [n, c] = [shape[0], shape[1]];
            [n, c, 1, shape.num_elements() / (n * c).max(1)]
        }
    }
}

/// A tensor's primitive, contiguous, for the kernels to index directly.
fn contiguous_primitive<R, F, I, BT, const D: usize>(
    t: BurnTensor<Cube<R, F, I, BT>, D>,
) -> CubeTensor<R>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    into_contiguous(unwrap(t))
}

/// The per-channel sums of [`channel_sums_kernel`], combined over the chunks: `[C]` each.
#[allow(clippy::too_many_arguments)]
fn channel_sums<R, F, I, BT>(
    x: &CubeTensor<R>,
    grad: &CubeTensor<R>,
    shift: CubeTensor<R>,
    [n, c, h, w]: [usize; 4],
    pool: usize,
    backward: bool,
) -> [PerChannel<R, F, I, BT>; 2]
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let dtype = x.dtype;
    let frames_per_chunk = (CHUNK / (h * w)).clamp(1, n);
    let chunks = n.div_ceil(frames_per_chunk);
    let (client, device) = (x.client.clone(), x.device.clone());
    let partial = || {
        empty_device_contiguous_dtype(
            client.clone(),
            device.clone(),
            Shape::new([c, chunks]),
            dtype,
        )
    };
    let (sum1, sum2) = (partial(), partial());
    channel_sums_kernel::launch::<R>(
        &client,
        CubeCount::Static(chunks as u32, c as u32, 1),
        CubeDim::new_1d(CUBE_SIZE),
        x.clone().into_tensor_arg(),
        grad.clone().into_tensor_arg(),
        shift.into_tensor_arg(),
        sum1.clone().into_tensor_arg(),
        sum2.clone().into_tensor_arg(),
        n,
        c,
        h,
        w,
        pool,
        frames_per_chunk,
        chunks,
        InputScalar::new(1.0 / (pool * pool) as f64, dtype),
        backward,
        CUBE_SIZE as usize,
        dtype.into(),
    );
    let combine = |t| wrap::<Cube<R, F, I, BT>, 2>(t).sum_dim(1).reshape([c]);
    [combine(sum1), combine(sum2)]
}

/// Training-mode forward pass ([`super::BatchNormBackend::batch_norm_train`]).
pub(crate) fn train_forward<R, F, I, BT>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    bias: CubeTensor<R>,
    epsilon: f64,
    pool: usize,
) -> BatchNormTrain<Cube<R, F, I, BT>>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let shape = x.shape();
    let [n, c, h, w] = dims(&shape);
    if n * h * w == 0 || c == 0 || shape.num_elements() > MAX_ELEMENTS {
        return super::generic::train_forward::<Cube<R, F, I, BT>>(x, weight, bias, epsilon, pool);
    }
    let dtype = x.dtype;
    let x = into_contiguous(x);
    let per_channel = |t| wrap::<Cube<R, F, I, BT>, 1>(prepare(t, dtype));
    // Each channel's first value, subtracted before summing.
    let first: PerChannel<R, F, I, BT> = wrap::<Cube<R, F, I, BT>, 3>(x.clone())
        .reshape([n, c, h * w])
        .slice([0..1, 0..c, 0..1])
        .reshape([c]);
    let [sum, sum_sq] = channel_sums::<R, F, I, BT>(
        &x,
        &x,
        contiguous_primitive(first.clone()),
        [n, c, h, w],
        1,
        false,
    );
    let count = (n * h * w) as f64;
    let shifted_mean = sum.div_scalar(count);
    let mean = first + shifted_mean.clone();
    let var = (sum_sq.div_scalar(count) - shifted_mean.powi_scalar(2)).clamp_min(0.0);
    let inv_std = var.clone().add_scalar(epsilon).sqrt().recip();
    let scale = per_channel(weight) * inv_std;
    let shift = per_channel(bias) - mean.clone() * scale.clone();
    let out_shape = if pool > 1 {
        Shape::new([n, c, h / pool, w / pool])
    } else {
        shape
    };
    let outputs = out_shape.num_elements();
    let output =
        empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), out_shape, dtype);
    let (cube_count, cube_dim) = elementwise_geometry(&x, outputs);
    normalize_pool_kernel::launch::<R>(
        &x.client.clone(),
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        contiguous_primitive(scale).into_tensor_arg(),
        contiguous_primitive(shift).into_tensor_arg(),
        output.clone().into_tensor_arg(),
        c,
        h,
        w,
        pool,
        outputs,
        InputScalar::new(1.0 / (pool * pool) as f64, dtype),
        dtype.into(),
    );
    BatchNormTrain {
        output,
        mean: contiguous_primitive(mean),
        var: contiguous_primitive(var),
    }
}

/// Training-mode backward pass ([`super::BatchNormBackend::batch_norm_train_backward`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_backward<R, F, I, BT>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    mean: CubeTensor<R>,
    var: CubeTensor<R>,
    epsilon: f64,
    pool: usize,
    grad_output: CubeTensor<R>,
) -> BatchNormGrads<Cube<R, F, I, BT>>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let shape = x.shape();
    let [n, c, h, w] = dims(&shape);
    if n * h * w == 0 || c == 0 || shape.num_elements() > MAX_ELEMENTS {
        return super::generic::train_backward::<Cube<R, F, I, BT>>(
            x,
            weight,
            mean,
            var,
            epsilon,
            pool,
            grad_output,
        );
    }
    let dtype = x.dtype;
    let x = into_contiguous(x);
    let per_channel = |t| wrap::<Cube<R, F, I, BT>, 1>(prepare(t, dtype));
    let grad = prepare(grad_output, dtype);
    let mean = per_channel(mean);
    let inv_std = per_channel(var).add_scalar(epsilon).sqrt().recip();
    let [sum_g, sum_ga] = channel_sums::<R, F, I, BT>(
        &x,
        &grad,
        contiguous_primitive(mean.clone()),
        [n, c, h, w],
        pool,
        true,
    );
    let count = (n * h * w) as f64;
    let grad_bias = sum_g;
    let grad_weight = sum_ga * inv_std.clone();
    let coef = per_channel(weight) * inv_std.clone();
    let mean_g = grad_bias.clone().div_scalar(count);
    let mean_gx = grad_weight.clone().div_scalar(count);
    let elements = shape.num_elements();
    let dx = empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), shape, dtype);
    let (cube_count, cube_dim) = elementwise_geometry(&x, elements);
    input_grad_kernel::launch::<R>(
        &x.client.clone(),
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        grad.into_tensor_arg(),
        contiguous_primitive(mean).into_tensor_arg(),
        contiguous_primitive(inv_std).into_tensor_arg(),
        contiguous_primitive(coef).into_tensor_arg(),
        contiguous_primitive(mean_g).into_tensor_arg(),
        contiguous_primitive(mean_gx).into_tensor_arg(),
        dx.clone().into_tensor_arg(),
        c,
        h,
        w,
        pool,
        elements,
        InputScalar::new(1.0 / (pool * pool) as f64, dtype),
        dtype.into(),
    );
    BatchNormGrads {
        input: dx,
        weight: contiguous_primitive(grad_weight),
        bias: contiguous_primitive(grad_bias),
    }
}
