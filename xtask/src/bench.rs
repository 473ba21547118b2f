//! `cargo xtask bench ...`: release-mode timings that print a table or one JSON object.

use std::time::Instant;

use anyhow::{ensure, Result};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use clap::{Args, Subcommand};
use serde::Serialize;
use snn_core::{Lif, LifConfig};

type B = Autodiff<Flex>;

/// Which benchmark to run.
#[derive(Subcommand)]
pub enum Bench {
    /// Fused vs reference LIF neuron, forward + backward, f32 on the CPU backend.
    Lif(LifArgs),
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
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct LifReport {
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
        Bench::Lif(args) => lif(args),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Times `f` `reps` times after one warm-up call; returns the median in milliseconds.
fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
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

fn lif(args: LifArgs) -> Result<()> {
    ensure!(
        args.steps > 0 && args.batch > 0 && args.channels > 0 && args.size > 0,
        "every dimension must be positive"
    );
    ensure!(args.reps > 0, "--reps must be positive");
    let device = Default::default();
    let shape = [args.steps, args.batch, args.channels, args.size, args.size];
    let lif: Lif<B> = LifConfig::ma_snn_event().init(&device)?;
    // Uniform input around the threshold gives a firing rate in the range seen in trained nets.
    let x = Tensor::<B, 5>::random(shape, Distribution::Uniform(-0.2, 0.45), &device);

    let fused_step = || {
        let x = x.clone().require_grad();
        let grads = lif.forward(x.clone()).sum().backward();
        let _ = x.grad(&grads).expect("input gradient");
    };
    let reference_step = || {
        let x = x.clone().require_grad();
        let grads = lif.forward_reference(x.clone()).0.sum().backward();
        let _ = x.grad(&grads).expect("input gradient");
    };
    let reference_reps = (args.reps / 2).max(3);
    let fused_ms = time_ms(args.reps, fused_step);
    let reference_ms = time_ms(reference_reps, reference_step);
    let fused_forward_ms = time_ms(args.reps, || {
        let _ = lif.forward(x.clone());
    });
    let reference_forward_ms = time_ms(reference_reps, || {
        let _ = lif.forward_reference(x.clone());
    });
    let (_, stats) = lif.forward_with_stats(x.clone());

    let report = LifReport {
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
            "LIF forward+backward, shape {shape:?} f32, {} threads, firing rate {:.3}",
            report.threads, report.firing_rate
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
