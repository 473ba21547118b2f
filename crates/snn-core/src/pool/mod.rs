//! Non-overlapping average pooling (`kernel = stride = k`, no padding), the pooling of the
//! event networks, as one operation forward and one backward.
//!
//! burn-flex 0.21 implements 2-D average pooling through its general 3-D pooling, which took
//! about 8% of an event-network training step; this is one pass over the input in each
//! direction.
//!
//! A burn backend extension like [`crate::LifBackend`]: the default method is burn's
//! `avg_pool2d` (CUDA keeps it); `Flex` runs [`cpu`] for f32 and f64; `Autodiff<B>` records one
//! node whose backward spreads each output gradient evenly over its window.

pub mod cpu;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata, TensorPrimitive};

/// A backend that can average-pool `[N, C, H, W]` over non-overlapping `k x k` windows.
pub trait PoolBackend: Backend {
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

#[cfg(feature = "cuda")]
impl<R, F, I, BT> PoolBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
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

impl<B: PoolBackend, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
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
