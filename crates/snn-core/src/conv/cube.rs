//! The event-conv ops on burn's CubeCL backends: burn-cubecl's dense convolution kernels and
//! cubek's implicit GEMMs, each op with the kernel of [`cube_conv_plan`] (there is no
//! event-driven GPU kernel yet).

use burn::tensor::ops::conv::{calculate_conv_output_size, calculate_padding_out};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensorOps};
use burn::tensor::{Shape, Slice, TensorMetadata};
use burn_cubecl::kernel::conv::{
    conv_data_backward, conv_forward, conv_transpose2d, conv_weight_backward, ConvStrategy,
    ConvTranspose2dStrategy,
};
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::ops::{permute_nchw_to_nhwc, permute_nchw_to_nhwc_shape, permute_nhwc_to_nchw};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubek::convolution::components::ConvSetupError;
use cubek::convolution::{
    launch_ref, AcceleratedTileKind, ConvAlgorithm, ConvolutionArgs, ConvolutionInputs, Strategy,
};
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::std::InputBinding;

use super::algorithm::{cube_conv_plan, record_fallback, ConvKernel, GemmRoutine, GemmTile};
use super::im2col::{conv2d_im2col, input_grad_im2col, input_grad_supported};
use super::split_k::{chunks_for, weight_grad_split_k};
use crate::tensor::{unwrap, wrap};

/// The result of a kernel that cannot fail for shapes the layer accepted; a failure is a bug
/// of the caller and panics, as burn's own ops do.
fn expect<R: CubeRuntime, E: std::fmt::Debug>(
    name: &str,
    result: Result<CubeTensor<R>, E>,
) -> CubeTensor<R> {
    result.unwrap_or_else(|e| panic!("{name}: the CubeCL convolution failed: {e:?}"))
}

/// Why an implicit GEMM did not run: a convolution it does not cover, or cubek's refusal.
#[derive(Debug)]
enum GemmRefusal {
    /// More than one group.
    Groups(usize),
    /// A stride other than 1 where the routine needs 1 (the input gradient).
    Stride([usize; 2]),
    /// cubek could not set the GEMM up for this device or shape.
    Setup(ConvSetupError),
}

impl std::fmt::Display for GemmRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GemmRefusal::Groups(groups) => write!(f, "{groups} groups: the GEMMs need 1"),
            GemmRefusal::Stride(stride) => {
                write!(
                    f,
                    "stride {stride:?}: the implicit-GEMM input gradient needs stride 1"
                )
            }
            GemmRefusal::Setup(error) => write!(f, "cubek refused the GEMM: {error:?}"),
        }
    }
}

impl From<ConvSetupError> for GemmRefusal {
    fn from(error: ConvSetupError) -> Self {
        GemmRefusal::Setup(error)
    }
}

/// An implicit GEMM, or the direct kernel where the device or the shape does not allow the
/// GEMM (counted: [`super::algorithm::cube_conv_fallbacks`]).
fn gemm_or_direct<R: CubeRuntime, E: std::fmt::Debug>(
    name: &str,
    gemm: impl FnOnce() -> Result<CubeTensor<R>, GemmRefusal>,
    direct: impl FnOnce() -> Result<CubeTensor<R>, E>,
) -> CubeTensor<R> {
    match gemm() {
        Ok(out) => out,
        Err(refusal) => {
            record_fallback(format!("{name}: {refusal}"));
            expect(name, direct())
        }
    }
}

/// cubek's strategy for a routine and tile kind (tiling inferred from the problem).
fn strategy(routine: GemmRoutine, tile: GemmTile) -> Strategy {
    let algorithm = match routine {
        GemmRoutine::SyncCyclic => ConvAlgorithm::SimpleSyncCyclic,
        GemmRoutine::SyncStrided => ConvAlgorithm::SimpleSyncStrided,
        GemmRoutine::SyncTilewise => ConvAlgorithm::SimpleSyncTilewise,
        GemmRoutine::AsyncCyclic => ConvAlgorithm::SimpleAsyncCyclic,
        GemmRoutine::AsyncStrided => ConvAlgorithm::SimpleAsyncStrided,
        GemmRoutine::AsyncTma => ConvAlgorithm::SimpleAsyncTma,
        GemmRoutine::SpecializedCyclic => ConvAlgorithm::SpecializedAsyncCyclic,
        GemmRoutine::SpecializedStrided => ConvAlgorithm::SpecializedAsyncStrided,
        GemmRoutine::SpecializedTma => ConvAlgorithm::SpecializedTma,
    };
    let tile_kind = match tile {
        GemmTile::Cmma => AcceleratedTileKind::Cmma,
        GemmTile::Mma => AcceleratedTileKind::Mma,
    };
    Strategy::Inferred {
        algorithm,
        tile_kind,
    }
}

/// The operand and output element types cubek's matmul stages use: the inputs' own, as
/// burn-cubecl passes them.
fn dtypes(
    lhs: burn::tensor::DType,
    rhs: burn::tensor::DType,
    out: burn::tensor::DType,
) -> MatmulElems {
    MatmulElems::from_globals(&MatmulGlobalElems {
        lhs: lhs.into(),
        rhs: rhs.into(),
        out: out.into(),
    })
}

fn binding<R: CubeRuntime>(t: CubeTensor<R>) -> InputBinding<R> {
    let dtype = t.dtype;
    InputBinding::new(t.binding(), dtype.into())
}

fn conv_args(options: &ConvOptions<2>) -> ConvolutionArgs<2> {
    ConvolutionArgs {
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
    }
}

/// The forward convolution as a cubek implicit GEMM on channels-last views (cubek copies a
/// view whose channels are not contiguous), as burn-cubecl's `ImplicitGemm` does with its one
/// routine.
fn gemm_forward<R: CubeRuntime>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    bias: Option<CubeTensor<R>>,
    options: &ConvOptions<2>,
    strategy: &Strategy,
) -> Result<CubeTensor<R>, GemmRefusal> {
    if options.groups != 1 {
        return Err(GemmRefusal::Groups(options.groups));
    }
    let [n, _, h, w] = x.shape().dims();
    let [c_out, _, kh, kw] = weight.shape().dims();
    let out_size = |axis: usize, size: usize, kernel: usize| {
        calculate_conv_output_size(
            kernel,
            options.stride[axis],
            options.padding[axis],
            options.dilation[axis],
            size,
        )
    };
    let (x, weight) = (permute_nchw_to_nhwc(x), permute_nchw_to_nhwc(weight));
    let out = empty_device_dtype(
        x.client.clone(),
        x.device.clone(),
        Shape::new([n, out_size(0, h, kh), out_size(1, w, kw), c_out]),
        x.dtype,
    );
    let client = x.client.clone();
    let elems = dtypes(x.dtype, weight.dtype, out.dtype);
    launch_ref::<R, 2>(
        strategy,
        &client,
        ConvolutionInputs::Forward {
            input: binding(x),
            weight: binding(weight),
            bias: bias.map(|b| InputBinding::Normal(b.clone().binding(), b.dtype.into())),
            out: out.clone().binding(),
        },
        conv_args(options),
        elems,
    )?;
    Ok(permute_nhwc_to_nchw(out))
}

/// The input gradient as a cubek implicit GEMM (stride 1 only, as in burn-cubecl).
fn gemm_input_grad<R: CubeRuntime>(
    output_grad: CubeTensor<R>,
    weight: CubeTensor<R>,
    in_shape: Shape,
    options: &ConvOptions<2>,
    strategy: &Strategy,
) -> Result<CubeTensor<R>, GemmRefusal> {
    if options.groups != 1 {
        return Err(GemmRefusal::Groups(options.groups));
    }
    if options.stride.iter().any(|&s| s != 1) {
        return Err(GemmRefusal::Stride(options.stride));
    }
    let (output_grad, weight) = (
        permute_nchw_to_nhwc(output_grad),
        permute_nchw_to_nhwc(weight),
    );
    let in_grad = empty_device_dtype(
        output_grad.client.clone(),
        output_grad.device.clone(),
        permute_nchw_to_nhwc_shape(in_shape),
        output_grad.dtype,
    );
    let client = output_grad.client.clone();
    let elems = dtypes(output_grad.dtype, weight.dtype, in_grad.dtype);
    launch_ref::<R, 2>(
        strategy,
        &client,
        ConvolutionInputs::BackwardData {
            out_grad: binding(output_grad),
            weights: binding(weight),
            in_grad: in_grad.clone().binding(),
        },
        conv_args(options),
        elems,
    )?;
    Ok(permute_nhwc_to_nchw(in_grad))
}

/// The weight gradient as a cubek implicit GEMM.
fn gemm_weight_grad<R: CubeRuntime>(
    x: CubeTensor<R>,
    output_grad: CubeTensor<R>,
    weight_shape: Shape,
    options: &ConvOptions<2>,
    strategy: &Strategy,
) -> Result<CubeTensor<R>, GemmRefusal> {
    if options.groups != 1 {
        return Err(GemmRefusal::Groups(options.groups));
    }
    let (x, output_grad) = (permute_nchw_to_nhwc(x), permute_nchw_to_nhwc(output_grad));
    let weight_grad = empty_device_dtype(
        x.client.clone(),
        x.device.clone(),
        permute_nchw_to_nhwc_shape(weight_shape),
        output_grad.dtype,
    );
    let client = x.client.clone();
    let elems = dtypes(x.dtype, output_grad.dtype, weight_grad.dtype);
    launch_ref::<R, 2>(
        strategy,
        &client,
        ConvolutionInputs::BackwardWeight {
            input: binding(x),
            out_grad: binding(output_grad),
            weight_grad: weight_grad.clone().binding(),
        },
        conv_args(options),
        elems,
    )?;
    Ok(permute_nhwc_to_nchw(weight_grad))
}

/// Split-K outside the weight gradient: [`super::algorithm::set_cube_conv_plan`] refuses it.
const SPLIT_K_ELSEWHERE: &str = "split-k is a weight-gradient kernel (plans are validated)";
/// im2col for the weight gradient: refused likewise.
const IM2COL_FOR_WEIGHTS: &str = "im2col computes no weight gradients (plans are validated)";

/// The forward convolution.
pub(crate) fn conv2d<R, F, I, BT>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    bias: Option<CubeTensor<R>>,
    options: ConvOptions<2>,
) -> CubeTensor<R>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    const NAME: &str = "event_conv2d";
    let with = |strategy| {
        conv_forward::<R, 2>(
            x.clone(),
            weight.clone(),
            bias.clone(),
            options.clone(),
            strategy,
        )
    };
    match cube_conv_plan().forward {
        ConvKernel::Burn => expect(NAME, with(ConvStrategy::default())),
        ConvKernel::Direct => expect(NAME, with(ConvStrategy::Direct)),
        ConvKernel::Gemm(routine, tile) => gemm_or_direct(
            NAME,
            || {
                gemm_forward(
                    x.clone(),
                    weight.clone(),
                    bias.clone(),
                    &options,
                    &strategy(routine, tile),
                )
            },
            || with(ConvStrategy::Direct),
        ),
        ConvKernel::Im2col if options.groups == 1 => unwrap(conv2d_im2col(
            wrap::<CubeBackend<R, F, I, BT>, 4>(x.clone()),
            wrap(weight.clone()),
            bias.clone().map(wrap::<CubeBackend<R, F, I, BT>, 1>),
            &options,
            None,
        )),
        ConvKernel::Im2col => {
            record_fallback(format!("{NAME}: im2col needs one group"));
            expect(NAME, with(ConvStrategy::Direct))
        }
        ConvKernel::SplitK(_) => unreachable!("{SPLIT_K_ELSEWHERE}"),
    }
}

/// The gradient with respect to the weight.
///
/// [`ConvKernel::SplitK`] computes it with batched GEMMs over chunks of frames
/// ([`super::split_k`]). [`ConvKernel::Direct`] is burn-cubecl's weight-gradient scheme with
/// the direct kernel: the gradient is a convolution of the input, batch and channel axes
/// swapped, with the output gradient as its kernel. burn-cubecl's own `Direct` strategy runs
/// that convolution with its default strategy, which is the autotuned one when burn has
/// `autotune`; calling the direct kernel here keeps a chosen `direct` free of autotuning.
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
    const NAME: &str = "event_conv2d_weight_backward";
    let weight_shape = weight.shape();
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
    let burn_direct = || {
        conv_weight_backward::<R, 2>(
            x.clone(),
            output_grad.clone(),
            weight_shape.clone(),
            options.clone(),
            ConvStrategy::Direct,
        )
    };
    match cube_conv_plan().weight_grad {
        ConvKernel::Im2col => unreachable!("{IM2COL_FOR_WEIGHTS}"),
        ConvKernel::Burn => expect(
            NAME,
            conv_weight_backward::<R, 2>(
                x.clone(),
                output_grad.clone(),
                weight_shape.clone(),
                options.clone(),
                ConvStrategy::default(),
            ),
        ),
        // Grouped convolutions keep burn-cubecl's own scheme, which handles groups.
        ConvKernel::Direct if options.groups != 1 => expect(NAME, burn_direct()),
        ConvKernel::Direct => expect(NAME, direct()),
        ConvKernel::SplitK(log2) if options.groups == 1 => {
            let [n, _, _, _] = x.shape().dims();
            let [_, _, oh, ow] = output_grad.shape().dims();
            let [_, _, kh, kw] = weight_shape.dims();
            unwrap(weight_grad_split_k(
                wrap::<CubeBackend<R, F, I, BT>, 4>(x),
                wrap(output_grad),
                [kh, kw],
                &options,
                chunks_for(
                    n,
                    oh * ow,
                    1usize.checked_shl(log2.into()).unwrap_or(usize::MAX),
                ),
            ))
        }
        ConvKernel::SplitK(_) => expect(NAME, burn_direct()),
        ConvKernel::Gemm(routine, tile) => gemm_or_direct(
            NAME,
            || {
                gemm_weight_grad(
                    x.clone(),
                    output_grad.clone(),
                    weight_shape.clone(),
                    &options,
                    &strategy(routine, tile),
                )
            },
            || {
                if options.groups == 1 {
                    direct()
                } else {
                    burn_direct()
                }
            },
        ),
    }
}

/// The gradient with respect to the input: the transposed convolution of the output gradient.
/// As for the weight, [`ConvKernel::Direct`] calls the direct transposed-convolution kernel
/// itself (burn-cubecl's `Direct` strategy runs the autotuned one when burn has `autotune`).
pub(crate) fn x_backward<R, F, I, BT>(
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
    const NAME: &str = "event_conv2d_x_backward";
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
    match cube_conv_plan().input_grad {
        ConvKernel::Burn => expect(
            NAME,
            conv_data_backward::<R, 2>(
                output_grad.clone(),
                weight.clone(),
                in_shape.clone(),
                options.clone(),
                ConvStrategy::default(),
            ),
        ),
        ConvKernel::Direct => expect(NAME, direct()),
        ConvKernel::Im2col => {
            let [_, _, kh, kw] = weight.shape().dims();
            if input_grad_supported(&options, [kh, kw]) {
                unwrap(input_grad_im2col(
                    wrap::<CubeBackend<R, F, I, BT>, 4>(output_grad.clone()),
                    wrap(weight.clone()),
                    &options,
                    None,
                ))
            } else {
                record_fallback(format!(
                    "{NAME}: im2col input gradient needs stride 1, no dilation, padding < kernel"
                ));
                expect(NAME, direct())
            }
        }
        // cubek 0.2 notes that TMA loads do not work for the input gradient yet, but refuses
        // only the simple TMA routine; both count as fallbacks here.
        ConvKernel::Gemm(GemmRoutine::AsyncTma | GemmRoutine::SpecializedTma, _) => {
            record_fallback(format!("{NAME}: TMA loads do not run the input gradient"));
            expect(NAME, direct())
        }
        ConvKernel::Gemm(routine, tile) => gemm_or_direct(
            NAME,
            || {
                gemm_input_grad(
                    output_grad.clone(),
                    weight.clone(),
                    in_shape.clone(),
                    &options,
                    &strategy(routine, tile),
                )
            },
            direct,
        ),
        ConvKernel::SplitK(_) => unreachable!("{SPLIT_K_ELSEWHERE}"),
    }
}
