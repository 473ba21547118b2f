//! The attention's rescaling on burn's CubeCL backends (`Cuda`, `Wgpu`): one launch forward,
//! and backward one launch per wanted gradient, each reading `x` and the output gradient once.
//!
//! Why: from burn's ops, the forward pass is three broadcast products and a ReLU, and the
//! backward pass recomputes the output for the ReLU mask, then about ten full-size products and
//! six reductions; element-wise products and reductions were a quarter of a batch-128 Gesture
//! training step on an H200 (`docs/gpu-results.md`).
//!
//! `x` is contiguous `[T, B, C, S]`. Each kernel recomputes `y = ((x * t) * c) * s` where it
//! needs the ReLU's mask (the gradient passes where `y > 0`), in the order of
//! [`super::generic_attention_scale`]. The gain gradients are sums of `e * x` times the other
//! two gains, `e` the masked output gradient:
//! - temporal `[T, B]`: one cube per `(t, b)` over its contiguous `C x S` block;
//! - channel `[B, C]`: one cube per `(b, c)` over `T` runs of `S` contiguous values;
//! - spatial `[B, S]`: one thread per `(b, s)` looping over `T x C` (neighbouring threads read
//!   neighbouring values).

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;

use super::ScaleGrads;
use crate::cube_util::{cube_sum, elementwise_geometry, prepare, CUBE_SIZE};

/// The kernels index with 32 bits (CubeCL's default); the caller takes the tensor-op path for
/// larger tensors ([`fits`]).
const MAX_ELEMENTS: usize = u32::MAX as usize;

// --- kernels ---------------------------------------------------------------------------------

/// The output gradient at `i`, zeroed where the ReLU (when `relu`) cut the output, whose
/// value `((x * gt) * gc) * gs` is recomputed.
#[cube]
#[allow(clippy::too_many_arguments)]
fn masked_grad<F: Float>(
    grad: &Tensor<F>,
    xv: F,
    gt: F,
    gc: F,
    gs: F,
    i: usize,
    #[comptime] relu: bool,
) -> F {
    let e = grad[i];
    if comptime![relu] {
        let y = ((xv * gt) * gc) * gs;
        select(y > F::new(0.0), e, F::new(0.0))
    } else {
        e
    }
}

/// `y[i] = relu?(((x * temporal[t, b]) * channel[b, c]) * spatial[b, s])`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn scale_forward_kernel<F: Float>(
    x: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    spatial: &Tensor<F>,
    out: &mut Tensor<F>,
    batch: usize,
    channels: usize,
    positions: usize,
    elements: usize,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= elements {
        terminate!();
    }
    let s = i % positions;
    let c = (i / positions) % channels;
    let tb = i / (positions * channels);
    let b = tb % batch;
    let y = ((x[i] * temporal[tb]) * channel[b * channels + c]) * spatial[b * positions + s];
    if comptime![relu] {
        out[i] = select(y > F::new(0.0), y, F::new(0.0));
    } else {
        out[i] = y;
    }
}

/// `dx[i] = e * spatial * channel * temporal`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn scale_input_grad_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    spatial: &Tensor<F>,
    dx: &mut Tensor<F>,
    batch: usize,
    channels: usize,
    positions: usize,
    elements: usize,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= elements {
        terminate!();
    }
    let s = i % positions;
    let c = (i / positions) % channels;
    let tb = i / (positions * channels);
    let b = tb % batch;
    let (gt, gc, gs) = (
        temporal[tb],
        channel[b * channels + c],
        spatial[b * positions + s],
    );
    let e = masked_grad::<F>(grad, x[i], gt, gc, gs, i, relu);
    dx[i] = e * gs * gc * gt;
}

/// `d temporal[t, b] = sum over c, s of e * x * channel[b, c] * spatial[b, s]`; cube `tb`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn temporal_grad_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    spatial: &Tensor<F>,
    out: &mut Tensor<F>,
    batch: usize,
    channels: usize,
    positions: usize,
    #[comptime] relu: bool,
    #[comptime] cube_size: usize,
    #[define(F)] _dtype: StorageType,
) {
    let tb = CUBE_POS_X as usize;
    let b = tb % batch;
    let gt = temporal[tb];
    let block = channels * positions;
    let mut acc = F::new(0.0);
    let mut k = UNIT_POS_X as usize;
    while k < block {
        let i = tb * block + k;
        let c = k / positions;
        let s = k % positions;
        let (gc, gs) = (channel[b * channels + c], spatial[b * positions + s]);
        let xv = x[i];
        let e = masked_grad::<F>(grad, xv, gt, gc, gs, i, relu);
        acc += e * xv * gc * gs;
        k += CUBE_DIM_X as usize;
    }
    let total = cube_sum::<F>(acc, cube_size);
    if UNIT_POS_X == 0 {
        out[tb] = total;
    }
}

/// `d channel[b, c] = sum over t, s of e * x * temporal[t, b] * spatial[b, s]`; cube
/// `(c, b)`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn channel_grad_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    spatial: &Tensor<F>,
    out: &mut Tensor<F>,
    steps: usize,
    batch: usize,
    channels: usize,
    positions: usize,
    #[comptime] relu: bool,
    #[comptime] cube_size: usize,
    #[define(F)] _dtype: StorageType,
) {
    let c = CUBE_POS_X as usize;
    let b = CUBE_POS_Y as usize;
    let gc = channel[b * channels + c];
    let total = steps * positions;
    let mut acc = F::new(0.0);
    let mut k = UNIT_POS_X as usize;
    while k < total {
        let t = k / positions;
        let s = k % positions;
        let i = ((t * batch + b) * channels + c) * positions + s;
        let (gt, gs) = (temporal[t * batch + b], spatial[b * positions + s]);
        let xv = x[i];
        let e = masked_grad::<F>(grad, xv, gt, gc, gs, i, relu);
        acc += e * xv * gt * gs;
        k += CUBE_DIM_X as usize;
    }
    let sum = cube_sum::<F>(acc, cube_size);
    if UNIT_POS_X == 0 {
        out[b * channels + c] = sum;
    }
}

/// `d spatial[b, s] = sum over t, c of e * x * temporal[t, b] * channel[b, c]`; thread
/// `b * S + s`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn spatial_grad_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    temporal: &Tensor<F>,
    channel: &Tensor<F>,
    spatial: &Tensor<F>,
    out: &mut Tensor<F>,
    steps: usize,
    batch: usize,
    channels: usize,
    positions: usize,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let bs = ABSOLUTE_POS;
    if bs >= batch * positions {
        terminate!();
    }
    let b = bs / positions;
    let s = bs % positions;
    let gs = spatial[bs];
    let mut acc = F::new(0.0);
    for t in 0..steps {
        let gt = temporal[t * batch + b];
        for c in 0..channels {
            let i = ((t * batch + b) * channels + c) * positions + s;
            let gc = channel[b * channels + c];
            let xv = x[i];
            let e = masked_grad::<F>(grad, xv, gt, gc, gs, i, relu);
            acc += e * xv * gt * gc;
        }
    }
    out[bs] = acc;
}

// --- host side -------------------------------------------------------------------------------

/// Whether `x` is small enough for these kernels' 32-bit indices.
pub(crate) fn fits<R: CubeRuntime>(x: &CubeTensor<R>) -> bool {
    x.shape().num_elements() <= MAX_ELEMENTS
}

fn empty<R: CubeRuntime>(like: &CubeTensor<R>, dims: Vec<usize>) -> CubeTensor<R> {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::from(dims),
        like.dtype,
    )
}

/// [`super::ScaleBackend::attention_scale`].
pub(crate) fn forward<R: CubeRuntime>(
    x: CubeTensor<R>,
    [temporal, channel, spatial]: [CubeTensor<R>; 3],
    relu: bool,
) -> CubeTensor<R> {
    let dtype = x.dtype;
    let [_, b, c, s] = x.shape().dims::<4>();
    let x = into_contiguous(x);
    let [temporal, channel, spatial] = [temporal, channel, spatial].map(|g| prepare(g, dtype));
    let elements = x.shape().num_elements();
    let out = empty(&x, x.shape().iter().copied().collect());
    if elements == 0 {
        return out;
    }
    let (count, dim) = elementwise_geometry(&x, elements);
    scale_forward_kernel::launch::<R>(
        &x.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        temporal.into_tensor_arg(),
        channel.into_tensor_arg(),
        spatial.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        b,
        c,
        s,
        elements,
        relu,
        dtype.into(),
    );
    out
}

/// The gradients of [`forward`] that `wants` names (`[x, temporal, channel, spatial]`).
pub(crate) fn backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    [temporal, channel, spatial]: [CubeTensor<R>; 3],
    relu: bool,
    grad: CubeTensor<R>,
    wants: [bool; 4],
) -> [Option<CubeTensor<R>>; 4] {
    let dtype = x.dtype;
    let [t, b, c, s] = x.shape().dims::<4>();
    let x = into_contiguous(x);
    let grad = prepare(grad, dtype);
    let [temporal, channel, spatial] = [temporal, channel, spatial].map(|g| prepare(g, dtype));
    let elements = x.shape().num_elements();
    let client = x.client.clone();
    let args = || {
        (
            x.clone().into_tensor_arg(),
            grad.clone().into_tensor_arg(),
            temporal.clone().into_tensor_arg(),
            channel.clone().into_tensor_arg(),
            spatial.clone().into_tensor_arg(),
        )
    };
    let dx = (wants[0]).then(|| {
        let dx = empty(&x, vec![t, b, c, s]);
        if elements > 0 {
            let (count, dim) = elementwise_geometry(&x, elements);
            let (xa, ga, ta, ca, sa) = args();
            scale_input_grad_kernel::launch::<R>(
                &client,
                count,
                dim,
                xa,
                ga,
                ta,
                ca,
                sa,
                dx.clone().into_tensor_arg(),
                b,
                c,
                s,
                elements,
                relu,
                dtype.into(),
            );
        }
        dx
    });
    let cube_dim = CubeDim::new_1d(CUBE_SIZE);
    let d_temporal = wants[1].then(|| {
        let out = empty(&x, vec![t, b]);
        if t * b > 0 {
            let (xa, ga, ta, ca, sa) = args();
            temporal_grad_kernel::launch::<R>(
                &client,
                CubeCount::Static((t * b) as u32, 1, 1),
                cube_dim,
                xa,
                ga,
                ta,
                ca,
                sa,
                out.clone().into_tensor_arg(),
                b,
                c,
                s,
                relu,
                CUBE_SIZE as usize,
                dtype.into(),
            );
        }
        out
    });
    let d_channel = wants[2].then(|| {
        let out = empty(&x, vec![b, c]);
        if b * c > 0 {
            let (xa, ga, ta, ca, sa) = args();
            channel_grad_kernel::launch::<R>(
                &client,
                CubeCount::Static(c as u32, b as u32, 1),
                cube_dim,
                xa,
                ga,
                ta,
                ca,
                sa,
                out.clone().into_tensor_arg(),
                t,
                b,
                c,
                s,
                relu,
                CUBE_SIZE as usize,
                dtype.into(),
            );
        }
        out
    });
    let d_spatial = wants[3].then(|| {
        let out = empty(&x, vec![b, s]);
        if b * s > 0 {
            let (count, dim) = elementwise_geometry(&x, b * s);
            let (xa, ga, ta, ca, sa) = args();
            spatial_grad_kernel::launch::<R>(
                &client,
                count,
                dim,
                xa,
                ga,
                ta,
                ca,
                sa,
                out.clone().into_tensor_arg(),
                t,
                b,
                c,
                s,
                relu,
                dtype.into(),
            );
        }
        out
    });
    [dx, d_temporal, d_channel, d_spatial]
}

/// [`backward`]'s gradients as [`ScaleGrads`].
pub(crate) fn grads<B: burn::tensor::backend::Backend>(
    parts: [Option<burn::tensor::ops::FloatTensor<B>>; 4],
) -> ScaleGrads<B> {
    let [x, temporal, channel, spatial] = parts;
    ScaleGrads {
        x,
        temporal,
        channel,
        spatial,
    }
}
