//! `cargo xtask bench ...`: release-mode timings that print a table or one JSON object.
//!
//! One file per benchmark; `timing.rs` holds the helpers they share (`median`, `time_ms`), and
//! this file only dispatches.

mod conv;
mod kernels;
mod lif;
mod stream;
mod timing;
mod train;

use anyhow::Result;
use clap::Subcommand;

/// Which benchmark to run.
#[derive(Subcommand)]
pub enum Bench {
    /// Fused vs reference LIF neuron, forward + backward, f32 (`--device cpu|cuda|vulkan`).
    Lif(lif::LifArgs),
    /// Training (forward, backward, Adam step) and inference throughput of a full-size event
    /// network, f32, with a per-phase breakdown (`--device cpu|cuda|vulkan`).
    Train(train::TrainBenchArgs),
    /// The event-driven convolution against burn's dense one (forward and weight gradient) at
    /// input densities from 1% to 100%, f32 on the CPU backend.
    Conv(conv::ConvBenchArgs),
    /// Every CubeCL convolution kernel on each convolution of a Gesture training step
    /// (forward, input and weight gradients), checked against the direct kernel and timed;
    /// prints the fastest plan for `SNN_CUBE_CONV` (`--device cuda|vulkan`).
    ConvKernels(kernels::KernelBenchArgs),
    /// Streaming inference latency per time step of the full-size vanilla Gesture network
    /// (one frame in, spikes out, state carried), f32 on the CPU backend.
    Stream(stream::StreamArgs),
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Lif(args) => lif::run(args),
        Bench::Stream(args) => stream::run(args),
        Bench::Train(args) => train::run(args),
        Bench::Conv(args) => conv::run(args),
        Bench::ConvKernels(args) => kernels::run(args),
    }
}
