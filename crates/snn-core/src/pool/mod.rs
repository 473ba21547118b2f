//! Non-overlapping average pooling (`kernel = stride = k`, no padding), the pooling of the
//! event networks, as one operation forward and one backward.
//!
//! burn-flex 0.21 implements 2-D average pooling through its general 3-D pooling, which took
//! about 8% of an event-network training step; this is one pass over the input in each
//! direction.
//!
//! Also the attention's squeeze: the mean and the maximum over the middle axis of `[A, R, L]`
//! in one pass, with a one-pass backward (burn's `mean_dim` and `max_dim` gradients each
//! materialise full-size intermediates; together they were 12% of a TCSA training step).
//!
//! A burn backend extension like [`crate::LifBackend`]: the default methods are burn's ops;
//! `Flex` runs [`cpu`] for f32 and f64; burn's CubeCL backends (`Cuda`, `Wgpu`) run the mean
//! and maximum as CubeCL kernels (`cube`; the pooling keeps burn's op); `Autodiff<B>` records
//! one node per output whose backward calls the inner backend's backward.

pub mod cpu;
#[cfg(feature = "cubecl")]
pub(crate) mod cube;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata, TensorPrimitive};

/// Mean and maximum over the middle axis, both `[A, L]`.
#[derive(Debug)]
pub struct MeanMax<B: Backend> {
    /// Mean over `R`.
    pub mean: FloatTensor<B>,
    /// Maximum over `R`.
    pub max: FloatTensor<B>,
}

/// A backend that can average-pool `[N, C, H, W]` over non-overlapping `k x k` windows, and
/// pool `[A, R, L]` to its mean and maximum over `R`.
pub trait PoolBackend: Backend {
    /// Mean and maximum of `x` (`[A, R, L]`) over `R`.
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        generic_mean_max::<Self>(x)
    }

    /// The gradient of [`mean_max`](Self::mean_max) with respect to `x`, given the forward
    /// pass's maximum and the output gradients (at least one): `grad_mean / R` everywhere plus
    /// `grad_max` at the first maximum along `R` (the rule of burn's and PyTorch's `max`).
    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        generic_mean_max_backward::<Self>(x, max, grad_mean, grad_max)
    }

    /// Average of each `k x k` window; `H` and `W` must be multiples of `k`.
    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        Self::avg_pool2d(x, [k, k], [k, k], [0, 0], true, false)
    }

    /// The gradient of [`block_avg_pool2d`](Self::block_avg_pool2d): `grad[y / k, x / k] / k^2`,
    /// shaped like the input `x_shape`.
    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        let x = Self::float_zeros(x_shape, &Self::float_device(&grad), grad.dtype().into());
        Self::avg_pool2d_backward(x, grad, [k, k], [k, k], [0, 0], true, false)
    }
}

impl PoolBackend for burn_flex::Flex {
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        cpu::flex_mean_max(x)
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        cpu::flex_mean_max_backward(x, max, grad_mean, grad_max)
    }

    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        cpu::flex_forward(x, k)
    }

    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        cpu::flex_backward(grad, x_shape, k)
    }
}

#[cfg(feature = "cubecl")]
impl<R, F, I, BT> PoolBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        let squeeze = cube::Squeeze::plain(&x);
        if !cube::fits(&x, squeeze.reduced()) {
            return generic_mean_max::<Self>(x);
        }
        let (mean, max) = cube::forward(x, &squeeze);
        MeanMax { mean, max }
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let squeeze = cube::Squeeze::plain(&x);
        if !cube::fits(&x, squeeze.reduced()) {
            return generic_mean_max_backward::<Self>(x, max, grad_mean, grad_max);
        }
        cube::backward(x, &squeeze, max, grad_mean, grad_max)
    }
}

#[derive(Debug)]
struct PoolBackward;

impl<B: PoolBackend> Backward<B, 1> for PoolBackward {
    /// Input shape and window.
    type State = (Shape, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (shape, k) = ops.state;
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::block_avg_pool2d_backward(grad, shape, k));
        }
    }
}

/// The two outputs of a mean-and-maximum op ([`PoolBackend::mean_max`],
/// [`crate::ScaleBackend::scaled_mean_max`]) stacked as `[2, A, L]`, so the op is one graph
/// node whose backward runs once with both gradients (two nodes ran it twice, each pass over
/// the whole input).
pub(crate) fn stack_pair<B: Backend>(out: &MeanMax<B>) -> FloatTensor<B> {
    // The backend's reshape: `Tensor::reshape` reads a 0 as "keep this axis", which breaks
    // empty inputs.
    let part = |t: &FloatTensor<B>| {
        let [a, l] = t.shape().dims::<2>();
        B::float_reshape(t.clone(), Shape::new([1, a, l]))
    };
    B::float_cat(vec![part(&out.mean), part(&out.max)], 0)
}

/// The mean and maximum of a [`stack_pair`] (each `[A, L]`); on an autodiff backend each is a
/// differentiable slice of it.
pub(crate) fn split_pair<B: Backend>(stacked: FloatTensor<B>) -> MeanMax<B> {
    let [_, a, l] = stacked.shape().dims::<3>();
    let t = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(stacked));
    let part = |i: usize| {
        let slice = t.clone().narrow(0, i, 1).into_primitive().tensor();
        B::float_reshape(slice, Shape::new([a, l]))
    };
    MeanMax {
        mean: part(0),
        max: part(1),
    }
}

#[derive(Debug)]
struct MeanMaxBackward;

impl<B: PoolBackend> Backward<B, 1> for MeanMaxBackward {
    /// The input and the forward maximum.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grads_pair = split_pair::<B>(grads.consume::<B>(&ops.node));
        let (x, max_value) = ops.state;
        if let [Some(node)] = ops.parents {
            let grad =
                B::mean_max_backward(x, max_value, Some(grads_pair.mean), Some(grads_pair.max));
            grads.register::<B>(node.id, grad);
        }
    }
}

impl<B: PoolBackend, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
    fn mean_max(x: FloatTensor<Self>) -> MeanMax<Self> {
        let out = B::mean_max(x.primitive.clone());
        let stacked = stack_pair::<B>(&out);
        let tracked = match MeanMaxBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive, out.max), stacked),
            OpsKind::UnTracked(prep) => prep.finish(stacked),
        };
        split_pair::<Self>(tracked)
    }

    fn mean_max_backward(
        x: FloatTensor<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        Self::from_inner(B::mean_max_backward(
            x.primitive,
            max.primitive,
            grad_mean.map(|g| g.primitive),
            grad_max.map(|g| g.primitive),
        ))
    }

    fn block_avg_pool2d(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        let out = B::block_avg_pool2d(x.primitive.clone(), k);
        match PoolBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive.shape(), k), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn block_avg_pool2d_backward(
        grad: FloatTensor<Self>,
        x_shape: Shape,
        k: usize,
    ) -> FloatTensor<Self> {
        // Second-order use is not supported: computed on the inner backend, untracked.
        Self::from_inner(B::block_avg_pool2d_backward(grad.primitive, x_shape, k))
    }
}

/// Averages `x` (`[N, C, H, W]`) over non-overlapping `k x k` windows (`k = 1` returns `x`).
///
/// # Panics
/// If `H` or `W` is not a multiple of `k`, or `k` is 0.
pub fn block_avg_pool2d<B: PoolBackend>(x: Tensor<B, 4>, k: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    assert!(
        k > 0 && h % k == 0 && w % k == 0,
        "block_avg_pool2d: {h}x{w} is not a multiple of the window {k}"
    );
    if k == 1 {
        return x;
    }
    Tensor::from_primitive(TensorPrimitive::Float(B::block_avg_pool2d(
        x.into_primitive().tensor(),
        k,
    )))
}

/// Mean and maximum of `x` (`[A, R, L]`) over `R`, each `[A, L]`, both differentiable (the
/// maximum's gradient goes to the first maximum along `R`).
pub fn mean_max<B: PoolBackend>(x: Tensor<B, 3>) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let out = B::mean_max(x.into_primitive().tensor());
    (
        Tensor::from_primitive(TensorPrimitive::Float(out.mean)),
        Tensor::from_primitive(TensorPrimitive::Float(out.max)),
    )
}

/// [`PoolBackend::mean_max`] from burn's `mean_dim` and `max_dim`: the default, and the
/// reference the CPU kernel is tested against.
pub fn generic_mean_max<B: Backend>(x: FloatTensor<B>) -> MeanMax<B> {
    let x: Tensor<B, 3> = Tensor::from_primitive(TensorPrimitive::Float(x));
    let [a, _, l] = x.dims();
    MeanMax {
        mean: x
            .clone()
            .mean_dim(1)
            .reshape([a, l])
            .into_primitive()
            .tensor(),
        max: x.max_dim(1).reshape([a, l]).into_primitive().tensor(),
    }
}

/// [`PoolBackend::mean_max_backward`] from burn's ops: `argmax` finds the first maximum (so
/// the forward maximum is not needed) and `scatter` places its gradient.
pub fn generic_mean_max_backward<B: Backend>(
    x: FloatTensor<B>,
    _max: FloatTensor<B>,
    grad_mean: Option<FloatTensor<B>>,
    grad_max: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let x: Tensor<B, 3> = Tensor::from_primitive(TensorPrimitive::Float(x));
    let [a, r, l] = x.dims();
    let wrap = |g: FloatTensor<B>| {
        Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(g)).reshape([a, 1, l])
    };
    let mut grad = x.zeros_like();
    if let Some(g) = grad_mean {
        grad = grad + wrap(g).div_scalar(r as f64).expand([a, r, l]);
    }
    if let Some(g) = grad_max {
        let first = x.argmax(1);
        grad = grad.scatter(1, first, wrap(g), burn::tensor::IndexingUpdateOp::Add);
    }
    grad.into_primitive().tensor()
}
