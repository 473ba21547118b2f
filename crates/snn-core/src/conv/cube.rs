//! The event-conv ops on burn's CubeCL backends: burn-cubecl's dense convolution kernels with
//! the algorithm of [`cube_conv_algorithm`] (there is no event-driven GPU kernel yet).

use burn::tensor::ops::ConvOptions;
use burn::tensor::TensorMetadata;
use burn_cubecl::kernel::conv::{
    conv_data_backward, conv_forward, conv_weight_backward, ConvStrategy,
};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;

use super::algorithm::{cube_conv_algorithm, record_fallback, CubeConvAlgorithm};

/// burn-cubecl's strategy for the chosen algorithm. `Default` is burn-cubecl's own default,
/// the strategy burn's `conv2d` and its backward use (autotune when burn has `autotune`).
fn chosen_strategy() -> ConvStrategy {
    match cube_conv_algorithm() {
        CubeConvAlgorithm::Default => ConvStrategy::default(),
        CubeConvAlgorithm::Direct => ConvStrategy::Direct,
        CubeConvAlgorithm::ImplicitGemm => ConvStrategy::ImplicitGemm,
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
pub(crate) fn weight_backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    output_grad: CubeTensor<R>,
    options: ConvOptions<2>,
) -> CubeTensor<R> {
    let weight_shape = weight.shape();
    run("event_conv2d_weight_backward", |strategy| {
        conv_weight_backward::<R, 2>(
            x.clone(),
            output_grad.clone(),
            weight_shape.clone(),
            options.clone(),
            strategy,
        )
    })
}

/// The gradient with respect to the input.
pub(crate) fn x_backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    output_grad: CubeTensor<R>,
    options: ConvOptions<2>,
) -> CubeTensor<R> {
    let in_shape = x.shape();
    run("event_conv2d_x_backward", |strategy| {
        conv_data_backward::<R, 2>(
            output_grad.clone(),
            weight.clone(),
            in_shape.clone(),
            options.clone(),
            strategy,
        )
    })
}
