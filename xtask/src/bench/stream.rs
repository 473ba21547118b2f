//! `cargo xtask bench stream`: streaming inference latency per time step.

use std::time::Instant;

use anyhow::{ensure, Result};
use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use serde::Serialize;
use snn_models::stream::StreamingEventNet;
use snn_models::{EventNetConfig, Mode};

use super::timing::median;

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

/// Runs `bench stream`.
pub fn run(args: StreamArgs) -> Result<()> {
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
