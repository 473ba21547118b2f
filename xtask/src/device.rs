//! `--device cpu|cuda`: runs a job on burn's CPU backend (`Flex`) or, when xtask is built with
//! `--features cuda`, on burn's CUDA backend, through one generic code path.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use snn_core::SnnBackend;

/// Where to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn-flex on the CPU (all cores).
    Cpu,
    /// burn's CUDA backend (xtask built with `--features cuda`).
    Cuda,
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

/// Runs `job` on the chosen device.
pub fn dispatch<J: Job>(kind: DeviceKind, job: J) -> Result<J::Output> {
    match kind {
        DeviceKind::Cpu => {
            job.run::<burn::backend::Autodiff<burn::backend::Flex>>(Default::default())
        }
        DeviceKind::Cuda => cuda(job),
    }
}

#[cfg(feature = "cuda")]
fn cuda<J: Job>(job: J) -> Result<J::Output> {
    job.run::<burn::backend::Autodiff<burn::backend::Cuda>>(Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda<J: Job>(_job: J) -> Result<J::Output> {
    anyhow::bail!(
        "this xtask was built without CUDA; run it as \
         `cargo run --release -p xtask --features cuda -- ...`"
    )
}
