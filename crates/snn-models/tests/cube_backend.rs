//! The official golden fixtures through a CubeCL backend: the GPU code path (burn-cubecl's
//! convolutions, matmuls and reductions, the extension traits' tensor-op defaults, the fused
//! neuron's CubeCL kernel) must reproduce the official PyTorch run as the CPU path does.
//!
//! It runs on whichever CubeCL backend the features select:
//! - `vulkan`: burn's `Wgpu` with SPIR-V kernels; without a GPU, Mesa's software Vulkan driver
//!   (lavapipe, Debian's `mesa-vulkan-drivers`) runs them on the CPU. `cargo test --workspace`
//!   builds it (xtask's dev-dependencies turn `vulkan` on) and CI runs it there; alone:
//!   `cargo test -p snn-models --features vulkan --test cube_backend`. Where no Vulkan driver
//!   answers it skips, unless `SNN_REQUIRE_VULKAN=1` (`common::cube_device`).
//! - `--features cuda`: burn's `Cuda` on an NVIDIA GPU (`scripts/gpu-check.sh` runs it).
//!
//! In f32, at the tolerance of the CPU's f32 run (`official_fixtures.rs`): measured worst 5e-6;
//! a surrogate derivative 1% too large in the CubeCL kernel gives 5e-2. Not in f64: Vulkan's
//! extended instruction set has no f64 `exp`, and lavapipe's f64 subgroup reductions return
//! zeros, so an f64 run measures the driver, not this code.

#![cfg(any(feature = "cuda", feature = "vulkan"))]

mod common;

use burn::backend::Autodiff;
use burn::tensor::DType;
use snn_core::{
    cube_conv_fallbacks, cube_conv_last_fallback, set_cube_conv_algorithm, set_cube_conv_plan,
    CubeConvAlgorithm, CubeConvPlan,
};

/// The CubeCL backend under test: CUDA when it is built, otherwise wgpu on Vulkan.
#[cfg(feature = "cuda")]
type B = Autodiff<burn::backend::Cuda>;
#[cfg(not(feature = "cuda"))]
type B = Autodiff<burn::backend::Wgpu>;

/// One test, because the convolution plan is a process-wide setting. The explicit kernels come
/// first: burn's default autotunes in a build with burn's `autotune`, which takes long the
/// first time. A plan in `SNN_CUBE_CONV` (the GPU check sets the one `bench conv-kernels`
/// found fastest) is checked too.
#[test]
fn every_fixture_matches_the_official_code_on_a_cubecl_backend() {
    if !common::cube_device::available::<B>("cube_backend") {
        return;
    }
    set_cube_conv_algorithm(CubeConvAlgorithm::Direct);
    for name in common::FIXTURES {
        common::check::<B>(name, DType::F32, 1e-4);
    }
    // The other plans on the net with every attention block.
    let mixed: CubeConvPlan = "forward=direct,input=gemm-async-cyclic-mma,weight=split-k-4k"
        .parse()
        .unwrap();
    // The kernels built from tensor ops alone (gathered patches times the weight, split-K).
    let matmuls: CubeConvPlan = "forward=im2col,input=im2col,weight=split-k-4k"
        .parse()
        .unwrap();
    let mut plans: Vec<CubeConvPlan> = vec![
        CubeConvAlgorithm::ImplicitGemm.into(),
        CubeConvAlgorithm::ImplicitGemmSplitK.into(),
        mixed,
        CubeConvAlgorithm::Burn.into(),
        matmuls,
    ];
    if let Ok(plan) = std::env::var("SNN_CUBE_CONV") {
        plans.push(plan.parse().expect("SNN_CUBE_CONV"));
    }
    let mut fallbacks_of = Vec::new();
    for plan in plans {
        set_cube_conv_plan(plan).unwrap();
        let fallbacks = cube_conv_fallbacks();
        common::check::<B>("event_TCSA_T12.safetensors", DType::F32, 1e-4);
        let fell_back = cube_conv_fallbacks() - fallbacks;
        println!("convolutions: {plan}, {fell_back} fell back to the direct kernel");
        fallbacks_of.push(fell_back);
    }
    assert_eq!(fallbacks_of[3], 0, "burn's own choice never falls back");
    assert_eq!(
        fallbacks_of[4], 0,
        "im2col runs every op of the stride-1 event net"
    );
    // A net with strided convolutions: im2col computes every forward pass, and the input
    // gradients of the four stride-2 convolutions (the first of each stage, conv2_x to
    // conv5_x; the stem's input is data, with no gradient) fall back, which also shows that
    // im2col, not the direct kernel, ran the others.
    set_cube_conv_plan(matmuls).unwrap();
    let before = cube_conv_fallbacks();
    common::check::<B>("resnet_CSA_T2.safetensors", DType::F32, 1e-4);
    assert_eq!(
        cube_conv_fallbacks() - before,
        4,
        "im2col fallbacks on the ResNet"
    );
    let reason = cube_conv_last_fallback().expect("a fallback was recorded");
    assert!(
        reason.contains("input gradient") && reason.contains("stride"),
        "the fallback names its cause: {reason}"
    );
    if cfg!(not(feature = "cuda")) {
        // Lavapipe has no matrix units: every convolution of the training step and the
        // evaluation pass must have asked for the implicit GEMM and fallen back (3 forward,
        // 3 weight gradients, 2 input gradients, 3 in evaluation), which shows the setting
        // reaches the ops; with the split-K weight gradient, the 3 weight gradients did not;
        // with the mixed plan, only the 2 input gradients asked for a GEMM.
        assert_eq!(fallbacks_of[0], 11, "implicit GEMM fallbacks");
        assert_eq!(fallbacks_of[1], 8, "implicit GEMM + split-K fallbacks");
        assert_eq!(fallbacks_of[2], 2, "mixed plan fallbacks");
    }
}
