//! `cargo xtask bench train --model gesture --attention TCSA --T 60 --batch 16 [--device D]
//! [--json]`: throughput of a full-size event network: training (forward, rate-MSE loss,
//! backward, Adam step, all through `snn_train`'s optimiser) and inference (evaluation-mode
//! forward), with the median time of each training phase.
//!
//! The input is event-count frames with 5 % of the cells at 1, about the density of DVS128
//! Gesture at 15 ms x 32 x 32.

use std::time::Instant;

use anyhow::{ensure, Result};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use clap::{Args, ValueEnum};
use ma_attention::AttentionKind;
use serde::Serialize;
use snn_core::{ConvPrecision, ConvPrecisionScope, FiringMonitor, SnnBackend};
use snn_models::{EventNetConfig, Mode};
use snn_train::loss::mse_rate;
use snn_train::net::{Net, NetConfig};
use snn_train::optim::{Optim, OptimizerConfig};

use super::timing::time_ms;
use crate::device::{dispatch, DeviceKind, Job};

/// Which network.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchModel {
    /// The 3-layer Gesture network (2x32x32, conv 64-128-128, FC 256-11).
    Gesture,
    /// The 3-layer network with 21 Gait classes.
    Gait,
}

/// Options of `bench train`.
#[derive(Args)]
pub struct TrainBenchArgs {
    /// The network.
    #[arg(long, value_enum, default_value_t = BenchModel::Gesture)]
    model: BenchModel,
    /// Attention variant (no, TA, CA, SA, TCA, TSA, CSA, TCSA).
    #[arg(long, default_value = "TCSA")]
    attention: AttentionKind,
    /// Time steps.
    #[arg(long = "T", default_value_t = 60)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Timed training steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Where to run: cpu, cuda or vulkan (the last two need xtask built with that feature).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// Convolution precision: `full`, or `bf16` for mixed precision (bf16 multiplications in
    /// the convolutions, everything else f32).
    #[arg(long, default_value_t = ConvPrecision::Full)]
    precision: ConvPrecision,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TrainBenchReport {
    model: BenchModel,
    attention: String,
    device: DeviceKind,
    steps: usize,
    batch: usize,
    threads: usize,
    params: usize,
    /// Forward, backward and optimiser step, per second.
    train_samples_per_s: f64,
    /// Evaluation-mode forward, per second.
    infer_samples_per_s: f64,
    /// Median milliseconds of one training step.
    train_step_ms: f64,
    /// Median milliseconds of the forward pass and loss, within a training step.
    forward_ms: f64,
    /// Median milliseconds of the backward pass.
    backward_ms: f64,
    /// Median milliseconds of the Adam step.
    optimizer_ms: f64,
    /// Median milliseconds of one inference batch.
    infer_ms: f64,
    /// Milliseconds of the first (untimed) training step: on a GPU, kernel compilation and
    /// burn's autotuning happen here.
    warmup_ms: f64,
    /// The convolution plan on CUDA and Vulkan (`SNN_CUBE_CONV`: a plan's name, or its kernel
    /// per op); ignored on the CPU, which runs its own event-driven kernels.
    conv_algorithm: String,
    /// Convolutions that asked for the implicit GEMM and ran the direct kernel instead.
    conv_fallbacks: u64,
    /// The convolutions' precision (`full` or `bf16`).
    precision: ConvPrecision,
    /// Overall firing rate in the benchmark input's forward pass.
    firing_rate: f64,
    reps: usize,
}

struct BenchJob(TrainBenchArgs);

impl Job for BenchJob {
    type Output = TrainBenchReport;

    fn run<B>(self, device: B::Device) -> Result<TrainBenchReport>
    where
        B: AutodiffBackend + SnnBackend,
        B::InnerBackend: SnnBackend,
    {
        let args = self.0;
        ensure!(
            args.steps > 0 && args.batch > 0 && args.reps > 0,
            "sizes must be positive"
        );
        let _precision = ConvPrecisionScope::new(args.precision);
        let mut config = EventNetConfig::gesture(args.steps, args.attention);
        if let BenchModel::Gait = args.model {
            config.classes = 21;
            config.t_ratio = 2;
        }
        let classes = config.classes;
        B::seed(&device, 1);
        let net_config = NetConfig::Event(config);
        let mut model: Net<B> = net_config.init(&device)?;
        let params = model.summary().params;
        let x = Tensor::<B, 5>::random(
            [args.steps, args.batch, 2, 32, 32],
            Distribution::Bernoulli(0.05),
            &device,
        );
        let labels: Vec<usize> = (0..args.batch).map(|i| i % classes).collect();
        let mut optim: Optim<B> = Optim::new(OptimizerConfig::adam());
        let sync = || {
            let _ = B::sync(&device);
        };
        let (mut forward, mut backward, mut step, mut total) = (vec![], vec![], vec![], vec![]);
        let (mut firing, mut warmup_ms) = (0.0, 0.0);
        for rep in 0..=args.reps {
            let t0 = Instant::now();
            let out = model.forward(x.clone(), Mode::Train);
            let loss = mse_rate(out.scores, &labels);
            sync();
            let t1 = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            sync();
            let t2 = Instant::now();
            model = optim.step(1e-4, model, grads)?.0;
            sync();
            let t3 = Instant::now();
            // Progress on stderr, so a run cut short by a time limit still shows how far it got.
            eprintln!(
                "{} step {rep}/{}: {:.0} ms (forward {:.0}, backward {:.0}, optimiser {:.0})",
                if rep == 0 { "warm-up" } else { "timed" },
                args.reps,
                (t3 - t0).as_secs_f64() * 1e3,
                (t1 - t0).as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                (t3 - t2).as_secs_f64() * 1e3,
            );
            if rep > 0 {
                forward.push((t1 - t0).as_secs_f64() * 1e3);
                backward.push((t2 - t1).as_secs_f64() * 1e3);
                step.push((t3 - t2).as_secs_f64() * 1e3);
                total.push((t3 - t0).as_secs_f64() * 1e3);
            } else {
                warmup_ms = (t3 - t0).as_secs_f64() * 1e3;
                let mut monitor = FiringMonitor::new();
                for (name, stats) in &out.layers {
                    monitor.record(name, *stats);
                }
                firing = monitor.overall_rate();
            }
        }
        let inference = model.valid();
        let xi = x.inner();
        let infer_ms = time_ms(args.reps, || {
            let out = inference.forward(xi.clone(), Mode::Eval);
            let _ = out.scores.into_data();
        });
        let median = super::timing::median;
        let train_step_ms = median(total);
        Ok(TrainBenchReport {
            model: args.model,
            attention: args.attention.to_string(),
            device: args.device,
            steps: args.steps,
            batch: args.batch,
            threads: rayon::current_num_threads(),
            params,
            train_samples_per_s: args.batch as f64 / (train_step_ms / 1e3),
            infer_samples_per_s: args.batch as f64 / (infer_ms / 1e3),
            train_step_ms,
            forward_ms: median(forward),
            backward_ms: median(backward),
            optimizer_ms: median(step),
            infer_ms,
            warmup_ms,
            conv_algorithm: snn_core::cube_conv_plan().to_string(),
            conv_fallbacks: snn_core::cube_conv_fallbacks(),
            precision: args.precision,
            firing_rate: firing,
            reps: args.reps,
        })
    }
}

pub fn run(args: TrainBenchArgs) -> Result<()> {
    let json = args.json;
    let report = dispatch(args.device, BenchJob(args))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{:?} {} T={} batch {} on {:?} ({} threads, {} params, firing rate {:.3})",
            report.model,
            report.attention,
            report.steps,
            report.batch,
            report.device,
            report.threads,
            report.params,
            report.firing_rate
        );
        println!(
            "train: {:.2} samples/s ({:.0} ms/step: forward {:.0}, backward {:.0}, Adam {:.0})",
            report.train_samples_per_s,
            report.train_step_ms,
            report.forward_ms,
            report.backward_ms,
            report.optimizer_ms
        );
        println!(
            "infer: {:.2} samples/s ({:.0} ms/batch)",
            report.infer_samples_per_s, report.infer_ms
        );
        println!(
            "warm-up step: {:.0} ms; convolutions: {} in {} precision ({} fell back to the \
             direct kernel)",
            report.warmup_ms, report.conv_algorithm, report.precision, report.conv_fallbacks
        );
    }
    Ok(())
}
