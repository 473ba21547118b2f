//! `cargo xtask bench conv [--frames N] [--json]`: the event-driven convolution against burn's
//! dense convolution on the CPU, forward and weight gradient, over a range of input densities.
//! The crossover sets `snn_core::conv::cpu::DENSE_ABOVE`.

use anyhow::{ensure, Result};
use burn::backend::Flex;
use burn::tensor::ops::{ConvOptions, FloatTensor, ModuleOps};
use burn::tensor::{Distribution, Tensor, TensorPrimitive};
use clap::Args;
use serde::Serialize;
use snn_core::conv::cpu::{forward, weight_grad, Geometry};

use super::timing::time_ms;

/// Options of `bench conv`.
#[derive(Args)]
pub struct ConvBenchArgs {
    /// Frames (`T * B`); the default is T 60 x batch 4.
    #[arg(long, default_value_t = 240)]
    frames: usize,
    /// Input channels (the Gesture net's second conv: 64 -> 128 at 32x32).
    #[arg(long, default_value_t = 64)]
    c_in: usize,
    /// Output channels.
    #[arg(long, default_value_t = 128)]
    c_out: usize,
    /// Height and width.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Timed repetitions (median reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One density's timings.
#[derive(Serialize)]
struct Row {
    density: f64,
    event_forward_ms: f64,
    dense_forward_ms: f64,
    event_weight_grad_ms: f64,
    dense_weight_grad_ms: f64,
}

#[derive(Serialize)]
struct Report {
    frames: usize,
    c_in: usize,
    c_out: usize,
    size: usize,
    threads: usize,
    rows: Vec<Row>,
}

fn primitive<const D: usize>(t: Tensor<Flex, D>) -> FloatTensor<Flex> {
    t.into_primitive().tensor()
}

pub fn run(args: ConvBenchArgs) -> Result<()> {
    ensure!(
        args.frames > 0 && args.c_in > 0 && args.c_out > 0 && args.size > 0 && args.reps > 0,
        "sizes must be positive"
    );
    let device = Default::default();
    let g = Geometry {
        frames: args.frames,
        c_in: args.c_in,
        height: args.size,
        width: args.size,
        c_out: args.c_out,
        kernel_h: 3,
        kernel_w: 3,
        pad_h: 1,
        pad_w: 1,
    };
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let weight = Tensor::<Flex, 4>::random(
        [args.c_out, args.c_in, 3, 3],
        Distribution::Uniform(-0.1, 0.1),
        &device,
    );
    let w_host: Vec<f32> = weight.to_data().to_vec().expect("f32 weights");
    let grad = Tensor::<Flex, 4>::random(
        [args.frames, args.c_out, args.size, args.size],
        Distribution::Default,
        &device,
    );
    let g_host: Vec<f32> = grad.to_data().to_vec().expect("f32 gradient");
    let mut rows = Vec::new();
    for density in [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0] {
        let x = Tensor::<Flex, 4>::random(
            [args.frames, args.c_in, args.size, args.size],
            Distribution::Bernoulli(density),
            &device,
        );
        let x_host: Vec<f32> = x.to_data().to_vec().expect("f32 input");
        let event_forward_ms = time_ms(args.reps, || {
            std::hint::black_box(forward(&x_host, &w_host, None, g));
        });
        let dense_forward_ms = time_ms(args.reps, || {
            let out = Flex::conv2d(
                primitive(x.clone()),
                primitive(weight.clone()),
                None,
                options.clone(),
            );
            std::hint::black_box(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        });
        let event_weight_grad_ms = time_ms(args.reps, || {
            std::hint::black_box(weight_grad(&x_host, &g_host, g));
        });
        let dense_weight_grad_ms = time_ms(args.reps, || {
            let out = Flex::conv2d_weight_backward(
                primitive(x.clone()),
                primitive(weight.clone()),
                primitive(grad.clone()),
                options.clone(),
            );
            std::hint::black_box(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        });
        rows.push(Row {
            density,
            event_forward_ms,
            dense_forward_ms,
            event_weight_grad_ms,
            dense_weight_grad_ms,
        });
    }
    let report = Report {
        frames: args.frames,
        c_in: args.c_in,
        c_out: args.c_out,
        size: args.size,
        threads: rayon::current_num_threads(),
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "conv3x3 {} -> {} at {}x{}, {} frames, f32, {} threads (median ms)",
            report.c_in, report.c_out, report.size, report.size, report.frames, report.threads
        );
        println!("density  event fwd  dense fwd  speed-up | event dW  dense dW  speed-up");
        for r in &report.rows {
            println!(
                "{:>7.2}  {:>9.1}  {:>9.1}  {:>7.1}x | {:>8.1}  {:>8.1}  {:>7.1}x",
                r.density,
                r.event_forward_ms,
                r.dense_forward_ms,
                r.dense_forward_ms / r.event_forward_ms,
                r.event_weight_grad_ms,
                r.dense_weight_grad_ms,
                r.dense_weight_grad_ms / r.event_weight_grad_ms
            );
        }
    }
    Ok(())
}
