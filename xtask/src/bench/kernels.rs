//! `cargo xtask bench conv-kernels --device cuda`: every CubeCL convolution kernel on each
//! convolution of a Gesture training step (forward, input gradient, weight gradient of the
//! three conv layers), checked against the direct kernel and timed; prints the fastest plan
//! (`SNN_CUBE_CONV=forward=K,input=K,weight=K`) and can write it to a file.
//!
//! Why: a GPU is lent for minutes at a time. One run of this finds, and checks, the kernel of
//! each op that a training step should use, instead of one `bench train` per guess.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Distribution, Tensor, TensorPrimitive};
use clap::Args;
use serde::Serialize;
use snn_core::{
    cube_conv_fallbacks, set_cube_conv_plan, ConvKernel, ConvPrecision, CubeConvPlan,
    EventConvBackend, SnnBackend,
};

use super::timing::median;
use crate::device::{dispatch, DeviceKind, Job};

/// The kernels tried when `--kernels` is not given, in the order tried (a spent budget drops
/// the last): burn-cubecl's implicit GEMM (the current default), split-K with three chunk
/// lengths (weight gradients only, so they are quick), im2col (forward and input gradients:
/// batched matrix products over gathered patches), then the routines burn's autotuner
/// would consider (asynchronous and TMA loads, each with its usual tile kind), then the
/// specialised ones.
const DEFAULT_KERNELS: &str = "gemm-sync-cyclic-cmma,split-k,split-k-16k,split-k-4k,im2col,\
    gemm-async-cyclic-cmma,\
    gemm-async-strided-mma,gemm-sync-strided-mma,gemm-async-tma-cmma,gemm-async-tma-mma,\
    gemm-specialized-cyclic-cmma,gemm-specialized-cyclic-mma,gemm-specialized-tma-cmma,\
    gemm-specialized-tma-mma";

/// Options of `bench conv-kernels`.
#[derive(Args)]
pub struct KernelBenchArgs {
    /// CUDA or Vulkan (the CPU runs its own event-driven kernels, not these).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cuda)]
    device: DeviceKind,
    /// Time steps T.
    #[arg(long = "T", default_value_t = 60)]
    steps: usize,
    /// Batch size of the timed runs.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Batch size of the correctness check against the direct kernel (small: the direct
    /// weight gradient is slow at full size).
    #[arg(long, default_value_t = 2)]
    check_batch: usize,
    /// Precision of the operands: `full` (f32) or `bf16` (what mixed-precision training feeds
    /// the convolutions).
    #[arg(long, default_value_t = ConvPrecision::Full)]
    precision: ConvPrecision,
    /// Comma-separated kernel names (`gemm-<routine>-<tile>`, `split-k`, `split-k-<n>k`,
    /// `im2col`, `direct`, `burn`), or `all`.
    #[arg(long, default_value = DEFAULT_KERNELS)]
    kernels: String,
    /// Timed repetitions per kernel and op (median reported), after one untimed run.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Stop measuring after this many seconds (what was not measured is reported as skipped;
    /// a kernel missing a measurement is not chosen).
    #[arg(long, default_value_t = 400)]
    budget_s: u64,
    /// Write the fastest plan (`SNN_CUBE_CONV` syntax) to this file, after each kernel (so a
    /// sweep cut short leaves the best plan so far) and at the end.
    #[arg(long)]
    plan_out: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The three convolutions of a training step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Forward,
    InputGrad,
    WeightGrad,
}

impl Op {
    const ALL: [Op; 3] = [Op::Forward, Op::InputGrad, Op::WeightGrad];

    fn name(self) -> &'static str {
        match self {
            Op::Forward => "forward",
            Op::InputGrad => "input",
            Op::WeightGrad => "weight",
        }
    }

    /// This op's kernel in `plan`.
    fn kernel_mut(self, plan: &mut CubeConvPlan) -> &mut ConvKernel {
        match self {
            Op::Forward => &mut plan.forward,
            Op::InputGrad => &mut plan.input_grad,
            Op::WeightGrad => &mut plan.weight_grad,
        }
    }

    /// The default plan with this op's kernel replaced.
    fn plan(self, kernel: ConvKernel) -> CubeConvPlan {
        let mut plan = CubeConvPlan::default();
        *self.kernel_mut(&mut plan) = kernel;
        plan
    }
}

/// A conv layer of the Gesture net: 3 x 3, stride 1, padding 1.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Layer {
    name: &'static str,
    c_in: usize,
    c_out: usize,
    size: usize,
}

/// The Gesture net's conv layers (`docs`: 2 -> 64 at 32 x 32, 64 -> 128 at 32 x 32, 128 -> 128
/// at 16 x 16; the pooling follows the convolution).
const LAYERS: [Layer; 3] = [
    Layer {
        name: "conv1",
        c_in: 2,
        c_out: 64,
        size: 32,
    },
    Layer {
        name: "conv2",
        c_in: 64,
        c_out: 128,
        size: 32,
    },
    Layer {
        name: "conv3",
        c_in: 128,
        c_out: 128,
        size: 16,
    },
];

/// What became of one kernel on one op of one layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Ran, matched the direct kernel, timed.
    Ok,
    /// The kernel could not run this op (the direct kernel ran instead).
    FellBack,
    /// The kernel panicked.
    Failed(String),
    /// The result differs from the direct kernel's by more than the tolerance.
    Wrong,
    /// Not tried: the time budget was spent.
    Skipped,
}

/// One measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    op: Op,
    layer: &'static str,
    kernel: String,
    status: Status,
    /// `max |y - y_direct| / max |y_direct|` at the check batch.
    check_rel_err: Option<f64>,
    /// Median milliseconds at the timed batch.
    ms: Option<f64>,
    /// Multiply-adds x 2 per second, in units of 10^12.
    tflops: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    device: DeviceKind,
    steps: usize,
    batch: usize,
    precision: ConvPrecision,
    reps: usize,
    rows: Vec<Row>,
    /// The fastest correct kernel per op, as `SNN_CUBE_CONV` takes it.
    best_plan: String,
    /// Summed milliseconds of the best plan's kernels over the ops and layers measured.
    best_ms: f64,
    /// The same for the default plan (`implicit-gemm`), where every kernel of it ran.
    default_ms: Option<f64>,
}

/// Relative error tolerated against the direct kernel: bf16 output rounding (2^-9) and TF32
/// operand rounding on tensor cores are far inside it, an indexing error far outside.
const TOLERANCE: f64 = 2e-2;

struct KernelJob(KernelBenchArgs, Vec<ConvKernel>);

impl Job for KernelJob {
    type Output = Report;

    fn run<B>(self, device: B::Device) -> Result<Report>
    where
        B: AutodiffBackend + SnnBackend,
        B::InnerBackend: SnnBackend,
    {
        sweep::<B::InnerBackend>(self.0, self.1, device)
    }
}

/// Operands of one layer at one batch: input spikes, weight, output gradient, in the bench's
/// dtype.
struct Operands<I: Backend> {
    x: Tensor<I, 4>,
    weight: Tensor<I, 4>,
    grad: Tensor<I, 4>,
}

impl<I: Backend> Operands<I> {
    fn new(layer: &Layer, frames: usize, dtype: DType, device: &I::Device) -> Self {
        let s = layer.size;
        let scale = (1.0 / (layer.c_in * 9) as f64).sqrt();
        Operands {
            x: Tensor::<I, 4>::random(
                [frames, layer.c_in, s, s],
                Distribution::Bernoulli(0.1),
                device,
            )
            .cast(dtype),
            weight: Tensor::<I, 4>::random(
                [layer.c_out, layer.c_in, 3, 3],
                Distribution::Uniform(-scale, scale),
                device,
            )
            .cast(dtype),
            grad: Tensor::<I, 4>::random(
                [frames, layer.c_out, s, s],
                Distribution::Normal(0.0, 1.0),
                device,
            )
            .cast(dtype),
        }
    }

    /// The same values in f32 (the direct reference accumulates in f32).
    fn to_f32(&self) -> Self {
        Operands {
            x: self.x.clone().cast(DType::F32),
            weight: self.weight.clone().cast(DType::F32),
            grad: self.grad.clone().cast(DType::F32),
        }
    }

    /// Runs `op` with the process-wide plan.
    fn run(&self, op: Op) -> Tensor<I, 4>
    where
        I: EventConvBackend,
    {
        let p = |t: &Tensor<I, 4>| t.clone().into_primitive().tensor();
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let out = match op {
            Op::Forward => I::event_conv2d(p(&self.x), p(&self.weight), None, options),
            Op::InputGrad => {
                I::event_conv2d_x_backward(p(&self.x), p(&self.weight), p(&self.grad), options)
            }
            Op::WeightGrad => {
                I::event_conv2d_weight_backward(p(&self.x), p(&self.weight), p(&self.grad), options)
            }
        };
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }
}

fn values<I: Backend>(t: Tensor<I, 4>) -> Result<Vec<f32>> {
    t.cast(DType::F32)
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a result back: {e:?}"))
}

fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    // `f64::max` skips NaN, so non-finite results are caught first.
    if got.len() != want.len() || got.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    diff / scale.max(f64::MIN_POSITIVE)
}

/// Which ops a layer has in training: the first layer's input is data, so it has no input
/// gradient.
fn ops_of(layer: usize) -> impl Iterator<Item = Op> {
    Op::ALL
        .into_iter()
        .filter(move |op| !(layer == 0 && *op == Op::InputGrad))
}

fn flops(layer: &Layer, frames: usize) -> f64 {
    2.0 * (frames * layer.size * layer.size * layer.c_out * layer.c_in * 9) as f64
}

fn sweep<I: SnnBackend>(
    args: KernelBenchArgs,
    kernels: Vec<ConvKernel>,
    device: I::Device,
) -> Result<Report> {
    let dtype = match args.precision {
        ConvPrecision::Full => DType::F32,
        ConvPrecision::Bf16 => DType::BF16,
    };
    // CubeCL reports a failed launch at the next sync: it fails the measurement.
    let sync = || I::sync(&device).map_err(|e| anyhow::anyhow!("device error: {e:?}"));
    I::seed(&device, 7);
    // Operands and the direct kernel's results first, so that the kernels are tried one at a
    // time over every op and layer, and a spent budget leaves whole kernels out.
    let mut cases = Vec::new();
    set_cube_conv_plan(CubeConvPlan::uniform(ConvKernel::Direct))?;
    for (li, layer) in LAYERS.iter().enumerate() {
        let check = Operands::<I>::new(layer, args.steps * args.check_batch, dtype, &device);
        let full = Operands::<I>::new(layer, args.steps * args.batch, dtype, &device);
        let references = ops_of(li)
            .map(|op| Ok((op, values(check.to_f32().run(op))?)))
            .collect::<Result<Vec<_>>>()?;
        let references = references
            .into_iter()
            .map(|(op, values)| (op, values, RefCell::new(None)))
            .collect::<Vec<_>>();
        cases.push((layer, check, full, references));
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    for kernel in &kernels {
        for (layer, check, full, references) in &cases {
            for (op, reference, baseline) in references {
                let runs = match op {
                    Op::WeightGrad => kernel.runs_weight_grad(),
                    _ => kernel.runs_forward(),
                };
                if !runs {
                    continue;
                }
                let mut row = Row {
                    op: *op,
                    layer: layer.name,
                    kernel: kernel.to_string(),
                    status: Status::Skipped,
                    check_rel_err: None,
                    ms: None,
                    tflops: None,
                };
                if started.elapsed().as_secs() < args.budget_s {
                    set_cube_conv_plan(op.plan(*kernel))?;
                    let case = Case {
                        check,
                        full,
                        reference,
                        baseline,
                    };
                    measure(&mut row, &case, args.reps, &sync);
                    if let Some(ms) = row.ms {
                        row.tflops = Some(flops(layer, args.steps * args.batch) / ms / 1e9);
                    }
                }
                eprintln!(
                    "{:<7} {:<5} {:<30} {:?} err {:?} ms {:?}",
                    op.name(),
                    layer.name,
                    row.kernel,
                    row.status,
                    row.check_rel_err,
                    row.ms
                );
                rows.push(row);
            }
        }
        // The best plan so far, so that a sweep cut short still leaves one.
        if let (Some(path), Ok((plan, _))) = (&args.plan_out, best_plan(&rows)) {
            write_plan(path, &plan.to_string())?;
        }
    }
    set_cube_conv_plan(CubeConvPlan::default())?;
    let (best, best_ms) = best_plan(&rows)?;
    Ok(Report {
        device: args.device,
        steps: args.steps,
        batch: args.batch,
        precision: args.precision,
        reps: args.reps,
        default_ms: plan_ms(&rows, &CubeConvPlan::default()),
        best_plan: best.to_string(),
        best_ms,
        rows,
    })
}

/// What one kernel is measured on: one op of one layer.
struct Case<'a, I: Backend> {
    check: &'a Operands<I>,
    full: &'a Operands<I>,
    /// The direct kernel's result at the check batch.
    reference: &'a [f32],
    /// The first correct kernel's result at the full batch, on the device: later kernels are
    /// compared with it there (cubek chooses its tiling from the problem size, so the checked
    /// and the timed launches can differ).
    baseline: &'a RefCell<Option<Tensor<I, 4>>>,
}

/// `max |a - b| / max |b|` on the device (two scalars read back).
fn device_rel_err<I: Backend>(a: Tensor<I, 4>, b: &Tensor<I, 4>) -> Result<f64> {
    let a = a.cast(DType::F32);
    let b = b.clone().cast(DType::F32);
    let scalar = |t: Tensor<I, 1>| -> Result<f64> {
        let v = t
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading a result back: {e:?}"))?;
        Ok(v.first().copied().unwrap_or(f32::NAN) as f64)
    };
    let scale = scalar(b.clone().abs().max())?;
    let diff = scalar((a - b).abs().max())?;
    ensure!(diff.is_finite(), "non-finite result");
    Ok(diff / scale.max(f64::MIN_POSITIVE))
}

/// Checks one kernel at the check batch, times it at the full batch, and compares the
/// full-batch result with the baseline's.
fn measure<I: SnnBackend>(
    row: &mut Row,
    case: &Case<'_, I>,
    reps: usize,
    sync: &dyn Fn() -> Result<()>,
) {
    row.status = match try_measure(row, case, reps, sync) {
        Ok(()) => Status::Ok,
        Err(status) => status,
    };
}

/// Runs `f`, turning its error or its panic into a failed status.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T, Status> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Status::Failed(e.to_string())),
        Err(panic) => Err(Status::Failed(panic_message(panic))),
    }
}

/// [`measure`], with the first thing that went wrong as the error.
fn try_measure<I: SnnBackend>(
    row: &mut Row,
    case: &Case<'_, I>,
    reps: usize,
    sync: &dyn Fn() -> Result<()>,
) -> Result<(), Status> {
    let fallbacks = cube_conv_fallbacks();
    let ran_itself = || {
        if cube_conv_fallbacks() == fallbacks {
            Ok(())
        } else {
            Err(Status::FellBack)
        }
    };
    let op = row.op;
    let got = guarded(|| values(case.check.run(op)))?;
    ran_itself()?;
    let err = rel_err(&got, case.reference);
    row.check_rel_err = Some(err);
    if err.is_nan() || err > TOLERANCE {
        return Err(Status::Wrong);
    }
    let (ms, out) = guarded(|| {
        let mut ms = Vec::with_capacity(reps);
        let mut last = None;
        for rep in 0..=reps {
            let start = Instant::now();
            let out = case.full.run(op);
            sync()?;
            if rep > 0 {
                ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
            last = Some(out);
        }
        Ok((median(ms), last.expect("at least one run")))
    })?;
    ran_itself()?;
    let mut baseline = case.baseline.borrow_mut();
    match baseline.as_ref() {
        None => *baseline = Some(out),
        Some(b) => {
            let err =
                device_rel_err(out, b).map_err(|e| Status::Failed(format!("full batch: {e}")))?;
            if err > TOLERANCE {
                return Err(Status::Failed(format!(
                    "full batch differs from the baseline by {err:.1e}"
                )));
            }
        }
    }
    row.ms = Some(ms);
    Ok(())
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Writes `plan` to `path` atomically ([`snn_fs::write_file_atomic`]).
fn write_plan(path: &std::path::Path, plan: &str) -> Result<()> {
    Ok(snn_fs::write_file_atomic(
        path,
        format!("{plan}\n").as_bytes(),
    )?)
}

/// The kernels `--kernels` names.
fn parse_kernels(list: &str) -> Result<Vec<ConvKernel>> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(ConvKernel::all());
    }
    let kernels = list
        .split(',')
        .filter(|k| !k.trim().is_empty())
        .map(|k| k.parse::<ConvKernel>())
        .collect::<Result<Vec<_>, _>>()
        .context("--kernels")?;
    ensure!(!kernels.is_empty(), "--kernels names no kernel");
    Ok(kernels)
}

/// The summed time of `kernel` on `op` over every layer that has the op, if it ran on all of
/// them.
fn kernel_ms(rows: &[Row], op: Op, kernel: &str) -> Option<f64> {
    let layers = (0..LAYERS.len()).filter(|&l| ops_of(l).any(|o| o == op));
    layers
        .map(|l| {
            rows.iter()
                .find(|r| r.op == op && r.layer == LAYERS[l].name && r.kernel == kernel)
                .and_then(|r| r.ms)
        })
        .sum()
}

/// The summed time of a plan's kernels, if every one of them ran.
fn plan_ms(rows: &[Row], plan: &CubeConvPlan) -> Option<f64> {
    let mut plan = *plan;
    Op::ALL
        .into_iter()
        .map(|op| kernel_ms(rows, op, &op.kernel_mut(&mut plan).to_string()))
        .sum()
}

/// For each op, the kernel with the least summed time over the layers among those that ran
/// correctly on all of them.
fn best_plan(rows: &[Row]) -> Result<(CubeConvPlan, f64)> {
    let mut plan = CubeConvPlan::default();
    let mut total = 0.0;
    for op in Op::ALL {
        let mut names: Vec<&str> = rows
            .iter()
            .filter(|r| r.op == op)
            .map(|r| r.kernel.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let (name, ms) = names
            .into_iter()
            .filter_map(|k| kernel_ms(rows, op, k).map(|ms| (k, ms)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .with_context(|| format!("no kernel ran the {} op correctly", op.name()))?;
        *op.kernel_mut(&mut plan) = name.parse()?;
        total += ms;
    }
    Ok((plan, total))
}

pub fn run(args: KernelBenchArgs) -> Result<()> {
    ensure!(
        args.device != DeviceKind::Cpu,
        "bench conv-kernels measures the CubeCL kernels: use --device cuda or vulkan"
    );
    ensure!(
        args.steps > 0 && args.batch > 0 && args.check_batch > 0 && args.reps > 0,
        "sizes must be positive"
    );
    let kernels = parse_kernels(&args.kernels)?;
    let (json, plan_out) = (args.json, args.plan_out.clone());
    let report = dispatch(args.device, KernelJob(args, kernels))?;
    if let Some(path) = plan_out {
        write_plan(&path, &report.best_plan)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "conv kernels, Gesture net, T {} batch {}, {:?}, median of {}",
        report.steps, report.batch, report.precision, report.reps
    );
    println!(
        "| op | layer | kernel | status | check error | ms | TFLOP/s |\n|---|---|---|---|---|---|---|"
    );
    for r in &report.rows {
        let num = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
        println!(
            "| {} | {} | {} | {:?} | {} | {} | {} |",
            r.op.name(),
            r.layer,
            r.kernel,
            r.status,
            r.check_rel_err.map_or("-".into(), |e| format!("{e:.1e}")),
            num(r.ms, 2),
            num(r.tflops, 1)
        );
    }
    println!(
        "fastest plan: SNN_CUBE_CONV={} ({:.1} ms per step's convolutions; implicit-gemm {})",
        report.best_plan,
        report.best_ms,
        report
            .default_ms
            .map_or("did not run".into(), |ms| format!("{ms:.1} ms"))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op: Op, layer: &'static str, kernel: &str, ms: Option<f64>) -> Row {
        Row {
            op,
            layer,
            kernel: kernel.into(),
            status: if ms.is_some() {
                Status::Ok
            } else {
                Status::FellBack
            },
            check_rel_err: None,
            ms,
            tflops: None,
        }
    }

    #[test]
    fn the_best_plan_takes_the_fastest_kernel_that_ran_on_every_layer() {
        let gemm = "gemm-sync-cyclic-cmma";
        let tma = "gemm-async-tma-mma";
        let mut rows = Vec::new();
        for layer in ["conv1", "conv2", "conv3"] {
            rows.push(row(Op::Forward, layer, gemm, Some(10.0)));
            // Faster where it runs, but it fell back on conv1: not eligible.
            let tma_ms = (layer != "conv1").then_some(1.0);
            rows.push(row(Op::Forward, layer, tma, tma_ms));
            rows.push(row(Op::WeightGrad, layer, gemm, Some(30.0)));
            rows.push(row(Op::WeightGrad, layer, "split-k", Some(5.0)));
            if layer != "conv1" {
                rows.push(row(Op::InputGrad, layer, gemm, Some(8.0)));
                rows.push(row(Op::InputGrad, layer, tma, Some(4.0)));
            }
        }
        let (plan, ms) = best_plan(&rows).unwrap();
        assert_eq!(
            plan.to_string(),
            "forward=gemm-sync-cyclic-cmma,input=gemm-async-tma-mma,weight=split-k"
        );
        assert_eq!(ms, 30.0 + 8.0 + 15.0);
        assert_eq!(
            plan_ms(&rows, &CubeConvPlan::default()),
            Some(30.0 + 16.0 + 90.0)
        );
        // An op no kernel ran is an error, not a silent default.
        rows.retain(|r| r.op != Op::InputGrad);
        let err = best_plan(&rows).unwrap_err().to_string();
        assert!(err.contains("input"), "{err}");
    }

    #[test]
    fn kernel_lists_parse() {
        assert_eq!(parse_kernels(DEFAULT_KERNELS).unwrap().len(), 14);
        assert_eq!(parse_kernels("all").unwrap(), ConvKernel::all());
        assert_eq!(
            parse_kernels("direct, split-k").unwrap(),
            vec![ConvKernel::Direct, ConvKernel::SPLIT_K]
        );
        assert!(parse_kernels("fast").is_err());
        assert!(parse_kernels(" , ").is_err());
    }

    #[test]
    fn relative_error_scales_by_the_reference() {
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((rel_err(&[1.0, 2.1], &[1.0, 2.0]) - 0.05).abs() < 1e-6);
        assert_eq!(rel_err(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(rel_err(&[f32::NAN], &[1.0]), f64::INFINITY);
    }
}
