//! `cargo xtask bench ...`: release-mode timings that print a table or one JSON object.

use std::time::Instant;

use anyhow::{ensure, Result};
use burn::backend::Flex;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use clap::{Args, Subcommand};
use serde::Serialize;
use snn_core::{Lif, LifConfig, SnnBackend};

use crate::device::{dispatch, DeviceKind, Job};

/// Which benchmark to run.
#[derive(Subcommand)]
pub enum Bench {
    /// Fused vs reference LIF neuron, forward + backward, f32 (`--device cpu|cuda`).
    Lif(LifArgs),
    /// Training (forward, backward, Adam step) and inference throughput of a full-size event
    /// network, f32, with a per-phase breakdown (`--device cpu|cuda`).
    Train(crate::bench_train::TrainBenchArgs),
    /// The event-driven convolution against burn's dense one (forward and weight gradient) at
    /// input densities from 1% to 100%, f32 on the CPU backend.
    Conv(crate::bench_conv::ConvBenchArgs),
    /// Every CubeCL convolution kernel on each convolution of a Gesture training step
    /// (forward, input and weight gradients), checked against the direct kernel and timed;
    /// prints the fastest plan for `SNN_CUBE_CONV` (`--device cuda|vulkan`).
    ConvKernels(crate::bench_kernels::KernelBenchArgs),
    /// Streaming inference latency per time step of the full-size vanilla Gesture network
    /// (one frame in, spikes out, state carried), f32 on the CPU backend.
    Stream(StreamArgs),
}

/// Options of `bench stream`.
#[derive(Args)]
pub struct StreamArgs {
    /// Frames per call (1 for one event stream).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Time steps streamed per repetition.
    #[arg(long = "T", default_value_t = 60)]
    steps: usize,
    /// Timed repetitions.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct StreamReport {
    model: &'static str,
    input: [usize; 4],
    threads: usize,
    /// Median latency of one step (frame in, output spikes out).
    step_ms_median: f64,
    /// 95th percentile of the step latency.
    step_ms_p95: f64,
    /// Whole-sequence forward (all T at once, fused neurons) divided by T, for comparison.
    sequence_ms_per_step: f64,
    steps: usize,
    reps: usize,
}

fn stream(args: StreamArgs) -> Result<()> {
    use snn_export::stream::StreamingEventNet;
    use snn_models::{EventNetConfig, Mode};
    ensure!(
        args.batch > 0 && args.steps > 0 && args.reps > 0,
        "sizes must be positive"
    );
    let device = Default::default();
    <Flex as burn::tensor::backend::Backend>::seed(&device, 1);
    let net = EventNetConfig::gesture(args.steps, ma_attention::AttentionKind::None)
        .init::<Flex>(&device)?;
    let frames = Tensor::<Flex, 5>::random(
        [args.steps, args.batch, 2, 32, 32],
        Distribution::Bernoulli(0.05),
        &device,
    );
    let mut stream = StreamingEventNet::new(&net)?;
    let mut step_ms = Vec::new();
    for rep in 0..=args.reps {
        stream.reset();
        for t in 0..args.steps {
            let frame: Tensor<Flex, 4> = frames.clone().slice(t..t + 1).squeeze_dim(0);
            let start = Instant::now();
            let spikes = stream.step(frame)?;
            let _ = spikes.into_data(); // wait for the result
            if rep > 0 {
                step_ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let mut whole = Vec::new();
    for _ in 0..args.reps {
        let start = Instant::now();
        let _ = net.forward(frames.clone(), Mode::Eval).rates.into_data();
        whole.push(start.elapsed().as_secs_f64() * 1e3 / args.steps as f64);
    }
    let mut sorted = step_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted[((sorted.len() as f64 * 0.95) as usize).min(sorted.len() - 1)];
    let report = StreamReport {
        model: "gesture vanilla (2x32x32, conv 64-128-128, fc 256-11)",
        input: [args.batch, 2, 32, 32],
        threads: rayon::current_num_threads(),
        step_ms_median: median(step_ms),
        step_ms_p95: p95,
        sequence_ms_per_step: median(whole),
        steps: args.steps,
        reps: args.reps,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "streaming step: median {:.2} ms, p95 {:.2} ms ({} threads, batch {}); \
             whole-sequence forward: {:.2} ms per step",
            report.step_ms_median,
            report.step_ms_p95,
            report.threads,
            args.batch,
            report.sequence_ms_per_step
        );
    }
    Ok(())
}

/// Options of `bench lif`.
#[derive(Args)]
pub struct LifArgs {
    /// Time steps T.
    #[arg(long = "T", default_value_t = 60)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Channels.
    #[arg(long, default_value_t = 64)]
    channels: usize,
    /// Height and width.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Timed repetitions of the fused path (the reference runs `max(reps / 2, 3)` times).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// CPU or CUDA.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct LifReport {
    device: DeviceKind,
    shape: [usize; 5],
    dtype: &'static str,
    threads: usize,
    neuron: &'static str,
    /// Median forward + backward, fused op.
    fused_ms: f64,
    /// Median forward + backward, reference tensor-op path.
    reference_ms: f64,
    /// `reference_ms / fused_ms`.
    speedup: f64,
    /// Median forward only (no autodiff graph), fused op.
    fused_forward_ms: f64,
    /// Median forward only (no autodiff graph), reference path.
    reference_forward_ms: f64,
    fused_reps: usize,
    reference_reps: usize,
    /// Fraction of neuron updates that spiked in the benchmark input.
    firing_rate: f64,
}

pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Lif(args) => dispatch(args.device, LifJob(args)),
        Bench::Stream(args) => stream(args),
        Bench::Train(args) => crate::bench_train::run(args),
        Bench::Conv(args) => crate::bench_conv::run(args),
        Bench::ConvKernels(args) => crate::bench_kernels::run(args),
    }
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Times `f` `reps` times after one warm-up call; returns the median in milliseconds. `f` must
/// wait for its results (on CUDA: `B::sync`).
pub(crate) fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

struct LifJob(LifArgs);

impl Job for LifJob {
    type Output = ();

    fn run<Bk>(self, device: Bk::Device) -> Result<()>
    where
        Bk: AutodiffBackend + SnnBackend,
        Bk::InnerBackend: SnnBackend,
    {
        lif::<Bk>(self.0, device)
    }
}

fn lif<Bk: AutodiffBackend + SnnBackend>(args: LifArgs, device: Bk::Device) -> Result<()> {
    ensure!(
        args.steps > 0 && args.batch > 0 && args.channels > 0 && args.size > 0,
        "every dimension must be positive"
    );
    ensure!(args.reps > 0, "--reps must be positive");
    let shape = [args.steps, args.batch, args.channels, args.size, args.size];
    let lif: Lif<Bk> = LifConfig::ma_snn_event().init(&device)?;
    // Uniform input around the threshold gives a firing rate in the range seen in trained nets.
    let x = Tensor::<Bk, 5>::random(shape, Distribution::Uniform(-0.2, 0.45), &device);
    let sync = || {
        let _ = Bk::sync(&device);
    };

    let fused_step = || {
        let x = x.clone().require_grad();
        let grads = lif.forward(x.clone()).sum().backward();
        let _ = x.grad(&grads).expect("input gradient");
        sync();
    };
    let reference_step = || {
        let x = x.clone().require_grad();
        let grads = lif.forward_reference(x.clone()).0.sum().backward();
        let _ = x.grad(&grads).expect("input gradient");
        sync();
    };
    let reference_reps = (args.reps / 2).max(3);
    let fused_ms = time_ms(args.reps, fused_step);
    let reference_ms = time_ms(reference_reps, reference_step);
    let fused_forward_ms = time_ms(args.reps, || {
        let _ = lif.forward(x.clone());
        sync();
    });
    let reference_forward_ms = time_ms(reference_reps, || {
        let _ = lif.forward_reference(x.clone());
        sync();
    });
    let (_, stats) = lif.forward_with_stats(x.clone());

    let report = LifReport {
        device: args.device,
        shape,
        dtype: "f32",
        threads: rayon::current_num_threads(),
        neuron: "ma_snn_event",
        fused_ms,
        reference_ms,
        speedup: reference_ms / fused_ms,
        fused_forward_ms,
        reference_forward_ms,
        fused_reps: args.reps,
        reference_reps,
        firing_rate: stats.rate(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "LIF forward+backward on {:?}, shape {shape:?} f32, {} threads, firing rate {:.3}",
            report.device, report.threads, report.firing_rate
        );
        println!("{:<12} {:>14} {:>14}", "path", "fwd+bwd (ms)", "fwd (ms)");
        println!(
            "{:<12} {:>14.1} {:>14.1}",
            "fused", fused_ms, fused_forward_ms
        );
        println!(
            "{:<12} {:>14.1} {:>14.1}",
            "reference", reference_ms, reference_forward_ms
        );
        println!("speedup (fwd+bwd): {:.1}x", report.speedup);
    }
    Ok(())
}
