//! `--device cpu|cuda|vulkan`: runs a job on burn's CPU backend (`Flex`) or, when xtask is built
//! with `--features cuda` / `vulkan`, on burn's CUDA or wgpu-on-Vulkan backend, through one
//! generic code path. On those two, `SNN_CUBE_CONV` chooses the convolution kernels
//! ([`CubeConvPlan`]).

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use snn_core::{set_cube_conv_plan, CubeConvPlan, SnnBackend};

/// Where to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn-flex on the CPU (all cores).
    Cpu,
    /// burn's CUDA backend (xtask built with `--features cuda`); SNN_CUBE_CONV chooses its
    /// convolution kernels (implicit-gemm, implicit-gemm-split-k, direct, burn, or
    /// forward=K,input=K,weight=K).
    Cuda,
    /// burn's wgpu backend on Vulkan (xtask built with `--features vulkan`): any Vulkan GPU, or
    /// Mesa's lavapipe on the CPU; SNN_CUBE_CONV applies as on CUDA.
    Vulkan,
}

/// A job generic over the training backend.
pub trait Job {
    /// What the job returns.
    type Output;
    /// Runs the job on backend `B`.
    fn run<B>(self, device: B::Device) -> Result<Self::Output>
    where
        B: AutodiffBackend + SnnBackend,
        B::InnerBackend: SnnBackend;
}

/// The environment variable that chooses the convolution kernels on CUDA and Vulkan
/// ([`CubeConvPlan`]: `implicit-gemm`, `implicit-gemm-split-k`, `direct`, `burn`, or a kernel
/// per op, `forward=K,input=K,weight=K`, as `bench conv-kernels` prints it).
pub const CONV_PLAN_VAR: &str = "SNN_CUBE_CONV";

/// The convolution plan `SNN_CUBE_CONV` names (the implicit GEMM when it is unset).
pub fn conv_plan_from_env() -> Result<CubeConvPlan> {
    let parsed = match std::env::var(CONV_PLAN_VAR) {
        Err(std::env::VarError::NotPresent) => return Ok(CubeConvPlan::default()),
        value => value
            .map_err(anyhow::Error::from)
            .and_then(|name| Ok(name.parse()?)),
    };
    parsed.with_context(|| format!("environment variable {CONV_PLAN_VAR}"))
}

/// Runs `job` on the chosen device. On the CubeCL devices (CUDA, Vulkan), the convolutions
/// use the kernels that `SNN_CUBE_CONV` names.
pub fn dispatch<J: Job>(kind: DeviceKind, job: J) -> Result<J::Output> {
    if kind != DeviceKind::Cpu {
        set_cube_conv_plan(conv_plan_from_env()?)?;
    }
    match kind {
        DeviceKind::Cpu => {
            job.run::<burn::backend::Autodiff<burn::backend::Flex>>(Default::default())
        }
        DeviceKind::Cuda => cuda(job),
        DeviceKind::Vulkan => vulkan(job),
    }
}

/// The error for a device whose cargo feature this xtask was built without.
#[cfg(not(all(feature = "cuda", feature = "vulkan")))]
fn built_without<T>(feature: &str) -> Result<T> {
    anyhow::bail!(
        "this xtask was built without the `{feature}` feature; run it as \
         `cargo run --release -p xtask --features {feature} -- ...`"
    )
}

#[cfg(feature = "cuda")]
fn cuda<J: Job>(job: J) -> Result<J::Output> {
    job.run::<burn::backend::Autodiff<burn::backend::Cuda>>(Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda<J: Job>(_job: J) -> Result<J::Output> {
    built_without("cuda")
}

#[cfg(feature = "vulkan")]
fn vulkan<J: Job>(job: J) -> Result<J::Output> {
    job.run::<burn::backend::Autodiff<burn::backend::Wgpu>>(Default::default())
}

#[cfg(not(feature = "vulkan"))]
fn vulkan<J: Job>(_job: J) -> Result<J::Output> {
    built_without("vulkan")
}
