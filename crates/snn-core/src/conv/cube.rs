//! The event-conv ops on burn's CubeCL backends: burn-cubecl's dense convolution kernels with
//! the algorithm of [`cube_conv_algorithm`] (there is no event-driven GPU kernel yet).

use burn::tensor::ops::conv::calculate_padding_out;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensorOps};
use burn::tensor::{Slice, Tensor, TensorMetadata, TensorPrimitive};
use burn_cubecl::kernel::conv::{
    conv_data_backward, conv_forward, conv_transpose2d, conv_weight_backward, ConvStrategy,
    ConvTranspose2dStrategy,
};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::algorithm::{cube_conv_algorithm, record_fallback, CubeConvAlgorithm};
use super::split_k::{chunks_for, weight_grad_split_k};

/// burn-cubecl's strategy for the chosen algorithm. `Burn` is burn-cubecl's own default, the
/// strategy burn's `conv2d` and its backward use (autotune when burn has `autotune`).
fn chosen_strategy() -> ConvStrategy {
    match cube_conv_algorithm() {
        CubeConvAlgorithm::Burn => ConvStrategy::default(),
        CubeConvAlgorithm::Direct => ConvStrategy::Direct,
        CubeConvAlgorithm::ImplicitGemm | CubeConvAlgorithm::ImplicitGemmSplitK => {
            ConvStrategy::ImplicitGemm
        }
    }
}

/// Runs `op` with the chosen strategy. An implicit GEMM that the device or the shape cannot
/// run falls back to the direct kernel (counted: [`super::algorithm::cube_conv_fallbacks`]);
/// any other failure means shapes that do not fit, a bug of the caller, and panics as burn's
/// own ops do.
fn run<R: CubeRuntime, E: std::fmt::Debug>(
    name: &str,
    op: impl Fn(ConvStrategy) -> Result<CubeTensor<R>, E>,
) -> CubeTensor<R> {
    let result = match chosen_strategy() {
        ConvStrategy::ImplicitGemm => op(ConvStrategy::ImplicitGemm).or_else(|_| {
            record_fallback();
            op(ConvStrategy::Direct)
        }),
        other => op(other),
    };
    result.unwrap_or_else(|e| panic!("{name}: burn-cubecl's convolution failed: {e:?}"))
}

/// The forward convolution.
pub(crate) fn conv2d<R: CubeRuntime>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    bias: Option<CubeTensor<R>>,
    options: ConvOptions<2>,
) -> CubeTensor<R> {
    run("event_conv2d", |strategy| {
        conv_forward::<R, 2>(
            x.clone(),
            weight.clone(),
            bias.clone(),
            options.clone(),
            strategy,
        )
    })
}

/// The gradient with respect to the weight.
///
/// `implicit-gemm-split-k` computes it with batched GEMMs over chunks of frames
/// ([`super::split_k`]). `direct` is burn-cubecl's weight-gradient scheme with the direct
/// kernel: the gradient is a convolution of the input, batch and channel axes swapped, with the
/// output gradient as its kernel. burn-cubecl's own `Direct` strategy runs that convolution
/// with its default strategy, which is the autotuned one when burn has `autotune`; calling the
/// direct kernel here keeps a chosen `direct` free of autotuning.
pub(crate) fn weight_backward<R, F, I, BT>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    output_grad: CubeTensor<R>,
    options: ConvOptions<2>,
) -> CubeTensor<R>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;
    let weight_shape = weight.shape();
    if cube_conv_algorithm() == CubeConvAlgorithm::ImplicitGemmSplitK && options.groups == 1 {
        let tensor = |t: CubeTensor<R>| {
            Tensor::<Cube<R, F, I, BT>, 4>::from_primitive(TensorPrimitive::Float(t))
        };
        let [n, _, _, _] = x.shape().dims();
        let [_, _, oh, ow] = output_grad.shape().dims();
        let [_, _, kh, kw] = weight_shape.dims();
        return weight_grad_split_k(
            tensor(x),
            tensor(output_grad),
            [kh, kw],
            &options,
            chunks_for(n, oh * ow),
        )
        .into_primitive()
        .tensor();
    }
    let direct = || {
        let x = Cube::<R, F, I, BT>::float_swap_dims(x.clone(), 0, 1);
        let kernel = Cube::<R, F, I, BT>::float_swap_dims(output_grad.clone(), 0, 1);
        // Stride and dilation trade places in the swapped convolution.
        let swapped = ConvOptions::new(options.dilation, options.padding, options.stride, 1);
        conv_forward::<R, 2>(x, kernel, None, swapped, ConvStrategy::Direct).map(|grad| {
            let grad = Cube::<R, F, I, BT>::float_swap_dims(grad, 0, 1);
            // The swapped convolution can overshoot the kernel by up to `stride - 1` rows and
            // columns; they are not part of the gradient.
            if grad.shape() == weight_shape {
                grad
            } else {
                let ranges: Vec<Slice> = weight_shape.iter().map(|&n| Slice::from(0..n)).collect();
                Cube::<R, F, I, BT>::float_slice(grad, &ranges)
            }
        })
    };
    run("event_conv2d_weight_backward", |strategy| match strategy {
        ConvStrategy::Direct if options.groups == 1 => direct(),
        strategy => conv_weight_backward::<R, 2>(
            x.clone(),
            output_grad.clone(),
            weight_shape.clone(),
            options.clone(),
            strategy,
        ),
    })
}

/// The gradient with respect to the input: the transposed convolution of the output gradient.
/// As for the weight, a chosen `direct` calls the direct transposed-convolution kernel itself
/// (burn-cubecl's `Direct` strategy runs the autotuned one when burn has `autotune`).
pub(crate) fn x_backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    output_grad: CubeTensor<R>,
    options: ConvOptions<2>,
) -> CubeTensor<R> {
    let in_shape = x.shape();
    let direct = || {
        let [_, _, kh, kw] = weight.shape().dims();
        let [_, _, oh, ow] = output_grad.shape().dims();
        let padding_out = |axis: usize, kernel: usize, size_out: usize| {
            calculate_padding_out(
                kernel,
                options.stride[axis],
                options.padding[axis],
                options.dilation[axis],
                in_shape[axis + 2],
                size_out,
            )
        };
        let transposed = ConvTransposeOptions::new(
            options.stride,
            options.padding,
            [padding_out(0, kh, oh), padding_out(1, kw, ow)],
            options.dilation,
            options.groups,
        );
        conv_transpose2d(
            output_grad.clone(),
            weight.clone(),
            None,
            transposed,
            ConvTranspose2dStrategy::Direct,
        )
    };
    run("event_conv2d_x_backward", |strategy| match strategy {
        ConvStrategy::Direct => direct(),
        strategy => conv_data_backward::<R, 2>(
            output_grad.clone(),
            weight.clone(),
            in_shape.clone(),
            options.clone(),
            strategy,
        ),
    })
}
