//! The attention's excitation: rescaling a sequence `[T, B, C, S]` by a temporal gain `[T, B]`,
//! a channel gain `[B, C]` and a spatial gain `[B, S]`, optionally followed by a ReLU, as one
//! operation forward and one backward.
//!
//! As burn ops this is a broadcast product per gain (the spatial gain has to be repeated over
//! `T` and `C` first, a full-size copy, because burn-flex walks broadcasts over leading axes
//! element by element) and a ReLU: about 20% of a TCSA inference pass. Here it is one pass
//! over `x` forward and one over `x` and the output gradient backward, where the three gain
//! gradients are reductions done in the same pass.
//!
//! The product is evaluated in the order of the official code's successive rescalings,
//! `((x * temporal) * channel) * spatial`, so the result is the same to the last bit as the
//! sequence of burn ops (with the ReLU of the backend: on `Flex`, `max(y, 0)`, which turns a
//! NaN into 0). A missing gain is a tensor of ones (multiplying by 1 is exact).
//!
//! Also spatial attention's squeeze of the rescaled sequence, [`scaled_mean_max`]: the mean
//! and maximum over `C` of `(x * temporal) * channel`, without writing that sequence; its
//! backward is one pass, to `x` and both gains.
//!
//! A burn backend extension like [`crate::LifBackend`]: the default methods are burn's ops;
//! `Flex` runs [`cpu`] for f32 and f64; burn's CubeCL backends (`Cuda`, `Wgpu`) run the
//! rescaling and its gradients as CubeCL kernels (`cube`), and the squeeze as the mean/max
//! kernel of [`crate::pool`] reading the rescaled values on the fly, whose gradient the
//! rescaling's kernels take back to `x` and the gains; `Autodiff<B>` records one node with the
//! input and the three gains as parents.

pub mod autodiff;
pub mod cpu;
#[cfg(feature = "cubecl")]
mod cube;
pub mod generic;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::Tensor;
#[cfg(feature = "cubecl")]
use burn::tensor::TensorMetadata;

use crate::pool::{MeanMax, PoolBackend};
use crate::tensor::{unwrap, wrap};
#[cfg(feature = "cubecl")]
use generic::unit_spatial;
pub use generic::{
    generic_attention_scale, generic_attention_scale_backward, generic_scaled_mean_max,
    generic_scaled_mean_max_backward,
};

/// The three gains of [`ScaleBackend::attention_scale`]: temporal `[T, B]`, channel `[B, C]`,
/// spatial `[B, S]`.
#[derive(Debug, Clone)]
pub struct ScaleGains<B: Backend> {
    /// Temporal gain `[T, B]`.
    pub temporal: FloatTensor<B>,
    /// Channel gain `[B, C]`.
    pub channel: FloatTensor<B>,
    /// Spatial gain `[B, S]`.
    pub spatial: FloatTensor<B>,
}

/// Gradients of [`ScaleBackend::attention_scale`]; each is `None` when it was not asked for.
#[derive(Debug)]
pub struct ScaleGrads<B: Backend> {
    /// Gradient with respect to `x`, `[T, B, C, S]`.
    pub x: Option<FloatTensor<B>>,
    /// Gradient with respect to the temporal gain, `[T, B]`.
    pub temporal: Option<FloatTensor<B>>,
    /// Gradient with respect to the channel gain, `[B, C]`.
    pub channel: Option<FloatTensor<B>>,
    /// Gradient with respect to the spatial gain, `[B, S]`.
    pub spatial: Option<FloatTensor<B>>,
}

/// A backend that can rescale `[T, B, C, S]` by temporal, channel and spatial gains in one
/// operation.
pub trait ScaleBackend: PoolBackend {
    /// `y = ((x * temporal[t, b]) * channel[b, c]) * spatial[b, s]`, then `max(y, 0)` when
    /// `relu` (the backend's ReLU; the gradient passes where its output is positive).
    fn attention_scale(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        generic_attention_scale::<Self>(x, gains, relu)
    }

    /// The gradients of [`attention_scale`](Self::attention_scale) given the output gradient
    /// `grad`; `wants` says which of `[x, temporal, channel, spatial]` to compute.
    fn attention_scale_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
        grad: FloatTensor<Self>,
        wants: [bool; 4],
    ) -> ScaleGrads<Self> {
        generic_attention_scale_backward::<Self>(x, gains, relu, grad, wants)
    }

    /// Mean and maximum over `C` of `(x * temporal[t, b]) * channel[b, c]` (`x` `[T, B, C, S]`),
    /// each `[T * B, S]`: spatial attention's squeeze of the sequence that TA and CA rescaled,
    /// without writing that sequence. Equal to [`attention_scale`](Self::attention_scale)
    /// followed by [`PoolBackend::mean_max`](crate::PoolBackend::mean_max) over `C`, to the last
    /// bit. The values of `gains.spatial` are not used.
    fn scaled_mean_max(x: FloatTensor<Self>, gains: ScaleGains<Self>) -> MeanMax<Self> {
        generic_scaled_mean_max::<Self>(x, gains)
    }

    /// The gradients of [`scaled_mean_max`](Self::scaled_mean_max) with respect to `x`, the
    /// temporal and the channel gain (`wants` says which), given the forward maximum and the
    /// output gradients (at least one); the maximum's gradient goes to the first maximum along
    /// `C`. The spatial gradient is `None`.
    fn scaled_mean_max_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
        wants: [bool; 3],
    ) -> ScaleGrads<Self> {
        generic_scaled_mean_max_backward::<Self>(x, gains, max, grad_mean, grad_max, wants)
    }
}

impl ScaleBackend for burn_flex::Flex {
    fn attention_scale(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        cpu::flex_forward(x, gains, relu)
    }

    fn attention_scale_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
        grad: FloatTensor<Self>,
        wants: [bool; 4],
    ) -> ScaleGrads<Self> {
        cpu::flex_backward(x, gains, relu, grad, wants)
    }

    fn scaled_mean_max(x: FloatTensor<Self>, gains: ScaleGains<Self>) -> MeanMax<Self> {
        cpu::flex_scaled_mean_max(x, gains)
    }

    fn scaled_mean_max_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
        wants: [bool; 3],
    ) -> ScaleGrads<Self> {
        cpu::flex_scaled_mean_max_backward(x, gains, max, grad_mean, grad_max, wants)
    }
}

#[cfg(feature = "cubecl")]
impl<R, F, I, BT> ScaleBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn attention_scale(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        if !cube::fits(&x) {
            return generic_attention_scale::<Self>(x, gains, relu);
        }
        cube::forward::<R>(x, [gains.temporal, gains.channel, gains.spatial], relu)
    }

    fn attention_scale_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        relu: bool,
        grad: FloatTensor<Self>,
        wants: [bool; 4],
    ) -> ScaleGrads<Self> {
        if !cube::fits(&x) {
            return generic_attention_scale_backward::<Self>(x, gains, relu, grad, wants);
        }
        let gains = [gains.temporal, gains.channel, gains.spatial];
        cube::grads(cube::backward::<R>(x, gains, relu, grad, wants))
    }

    fn scaled_mean_max(x: FloatTensor<Self>, gains: ScaleGains<Self>) -> MeanMax<Self> {
        let squeeze =
            crate::pool::cube::Squeeze::scaled(&x, gains.temporal.clone(), gains.channel.clone());
        if !crate::pool::cube::fits(&x, squeeze.reduced()) {
            return generic_scaled_mean_max::<Self>(x, gains);
        }
        let (mean, max) = crate::pool::cube::forward(x, &squeeze);
        MeanMax { mean, max }
    }

    /// The squeeze's kernel writes the gradient with respect to `(x * temporal) * channel`,
    /// which the rescaling's kernels (with a unit spatial gain) take to `x` and the gains.
    fn scaled_mean_max_backward(
        x: FloatTensor<Self>,
        gains: ScaleGains<Self>,
        max: FloatTensor<Self>,
        grad_mean: Option<FloatTensor<Self>>,
        grad_max: Option<FloatTensor<Self>>,
        wants: [bool; 3],
    ) -> ScaleGrads<Self> {
        let squeeze =
            crate::pool::cube::Squeeze::scaled(&x, gains.temporal.clone(), gains.channel.clone());
        if !crate::pool::cube::fits(&x, squeeze.reduced()) || !cube::fits(&x) {
            return generic_scaled_mean_max_backward::<Self>(
                x, gains, max, grad_mean, grad_max, wants,
            );
        }
        let grad = crate::pool::cube::backward(x.clone(), &squeeze, max, grad_mean, grad_max);
        let [_, b, _, s] = x.shape().dims::<4>();
        let gains = unit_spatial::<Self>(gains, b, s);
        let gains = [gains.temporal, gains.channel, gains.spatial];
        let [wx, wt, wc] = wants;
        let [dx, dt, dc, _] = cube::backward::<R>(x, gains, false, grad, [wx, wt, wc, false]);
        cube::grads([dx, dt, dc, None])
    }
}

/// `relu?(((x * temporal) * channel) * spatial)` on `x` `[T, B, C, S]` with temporal `[T, B]`,
/// channel `[B, C]` and spatial `[B, S]` gains, each optional (a missing gain is 1), in one
/// differentiable operation.
///
/// # Panics
/// If a gain's shape does not match `x`.
pub fn attention_scale<B: ScaleBackend>(
    x: Tensor<B, 4>,
    temporal: Option<Tensor<B, 2>>,
    channel: Option<Tensor<B, 2>>,
    spatial: Option<Tensor<B, 2>>,
    relu: bool,
) -> Tensor<B, 4> {
    let (x, gains) = gains_for("attention_scale", x, temporal, channel, spatial);
    wrap(B::attention_scale(x, gains, relu))
}

/// Mean and maximum over `C` of `(x * temporal) * channel` for `x` `[T, B, C, S]` (a missing
/// gain is 1), each `[T * B, S]`, both differentiable with respect to `x` and the gains: the
/// squeeze of spatial attention after TA and CA, in one pass that does not write the rescaled
/// sequence.
///
/// # Panics
/// If a gain's shape does not match `x`.
pub fn scaled_mean_max<B: ScaleBackend>(
    x: Tensor<B, 4>,
    temporal: Option<Tensor<B, 2>>,
    channel: Option<Tensor<B, 2>>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let (x, gains) = gains_for("scaled_mean_max", x, temporal, channel, None);
    let out = B::scaled_mean_max(x, gains);
    (wrap(out.mean), wrap(out.max))
}

/// `x`'s primitive and the three gains, a missing one as ones, after checking their shapes
/// (a misfit panics naming `op`, the gain and `x`'s shape).
fn gains_for<B: Backend>(
    op: &str,
    x: Tensor<B, 4>,
    temporal: Option<Tensor<B, 2>>,
    channel: Option<Tensor<B, 2>>,
    spatial: Option<Tensor<B, 2>>,
) -> (FloatTensor<B>, ScaleGains<B>) {
    let [t, b, c, s] = x.dims();
    let device = x.device();
    let dtype = x.dtype();
    let gain = |g: Option<Tensor<B, 2>>, shape: [usize; 2], what: &str| {
        let g = g.unwrap_or_else(|| Tensor::ones(shape, (&device, dtype)));
        assert_eq!(
            g.dims(),
            shape,
            "{op}: the {what} gain does not fit x {:?}",
            [t, b, c, s]
        );
        unwrap(g)
    };
    let gains = ScaleGains {
        temporal: gain(temporal, [t, b], "temporal"),
        channel: gain(channel, [b, c], "channel"),
        spatial: gain(spatial, [b, s], "spatial"),
    };
    (unwrap(x), gains)
}
