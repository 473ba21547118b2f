//! `cargo xtask <command>`: the project's workflows (`cargo xtask --help`, and `--help` after
//! any command, say the same in full).
//!
//! - `demo [--out DIR] [--epochs N] [--device D] [--json]`: trains a small vanilla and a small
//!   TCSA event network on synthetic gestures and compares them.
//! - `train --config FILE [--resume] [--device D]`: a training run from a run file.
//! - `reproduce gesture|gait [--attention ...] [--runs N] [--device D]`: the paper's protocol
//!   and table.
//! - `eval --checkpoint DIR [--data DIR] [--run FILE] [--json]`: test accuracy, confusion,
//!   firing rates, spikes and energy of any checkpoint.
//! - `export --checkpoint DIR --format onnx|nir --out FILE`: ONNX or NIR, plus a sample batch.
//! - `verify-official FILE...`: golden equivalence with the official PyTorch code.
//! - `summary --model M --attention A [--T N] [--json]`: layers, parameters, neurons, MACs.
//! - `dataset-info gesture --root DIR [--json]`: samples, class counts, event counts.
//! - `synth gesture --root DIR`: writes the synthetic DvsGesture-layout dataset.
//! - `download <dataset> --root DIR`, `download --list`: fetches and verifies a dataset.
//! - `bench lif|train|conv|conv-kernels|stream [...]`: timings (`bench/`).
//!
//! `--device D` is `cpu`, `cuda` or `vulkan` (the last two need xtask built with that feature).

mod bench;
mod data;
mod demo;
mod device;
mod download;
mod eval_checkpoint;
mod export;
mod reproduce;
mod summary;
mod test_samples;
mod train;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "snn workflows", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
    /// Checks fixture files of the official PyTorch code (f64 runs) against our models: builds
    /// each model, loads `param.*`, runs a training step and an evaluation pass, and compares
    /// every recorded group. Exits non-zero if any relative error exceeds the tolerance.
    VerifyOfficial(verify::VerifyArgs),
    /// Prints a model's layers with output shape, parameters, neurons and MACs per step.
    Summary(summary::SummaryArgs),
    /// Describes a dataset folder: samples, class counts and event counts per split.
    DatasetInfo(data::InfoArgs),
    /// Downloads (or finds), verifies and extracts a dataset: published URLs and MD5s,
    /// resumable, with progress bars; datasets behind a web page get instructions instead.
    Download(download::DownloadArgs),
    /// Exports a checkpoint to ONNX (any network) or NIR (attention-free event networks) and
    /// writes `FILE.sample.safetensors` (a real input batch and our output on it) beside it.
    Export(export::ExportArgs),
    /// Evaluates a checkpoint (any network, with its run file; an event network without one)
    /// on its dataset's test split: accuracy, confusion matrix, firing rates, spikes per
    /// sample, energy.
    Eval(eval_checkpoint::EvalArgs),
    /// Writes a synthetic dataset (real AEDAT 3.1 files in the DvsGesture layout).
    Synth(data::SynthArgs),
    /// Trains any network on an event dataset from a run file (model, recipe, data):
    /// checkpoints every epoch, exact `--resume`, JSON-lines log, progress bars.
    Train(train::TrainArgs),
    /// The paper's event protocol (Gesture or Gait) for the vanilla network and attention
    /// variants, several seeds, resumable, with a table beside the paper's and a report.
    Reproduce(reproduce::ReproduceArgs),
    /// Trains a small vanilla and a small TCSA event network on synthetic gestures (on the CPU
    /// unless `--device cuda|vulkan`) and prints accuracy, firing rate, spikes per sample and
    /// energy side by side.
    Demo(demo::DemoArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Before any worker thread starts: activations are reused between steps instead of being
    // unmapped and faulted in again (see snn_train::memory).
    snn_train::memory::retain_freed_memory();
    match cli.command {
        Command::Bench { which } => bench::run(which),
        Command::VerifyOfficial(args) => verify::run(args),
        Command::Summary(args) => summary::run(args),
        Command::DatasetInfo(args) => data::info(args),
        Command::Synth(args) => data::synth(args),
        Command::Download(args) => download::run(args),
        Command::Export(args) => export::run(args),
        Command::Eval(args) => eval_checkpoint::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Train(args) => train::run(args),
        Command::Reproduce(args) => reproduce::run(args),
    }
}
