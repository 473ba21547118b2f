//! `cargo xtask bench lif`: the fused LIF neuron against the reference tensor-op path,
//! forward + backward, f32, on any device.

use anyhow::{ensure, Result};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use serde::Serialize;
use snn_core::{Lif, LifConfig, SnnBackend};

use super::timing::time_ms;
use crate::device::{dispatch, DeviceKind, Job};

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
    /// Where to run: cpu, cuda or vulkan (the last two need xtask built with that feature).
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

/// Runs `bench lif` on the chosen device.
pub fn run(args: LifArgs) -> Result<()> {
    dispatch(args.device, LifJob(args))
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
