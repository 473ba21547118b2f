//! `cargo xtask eval --checkpoint DIR [--data DIR] [--json]`: evaluates a checkpoint on the test
//! split of its dataset: accuracy (per clip and by the official vote when a sample has several
//! test clips), confusion matrix, per-layer firing rates, spikes per sample and the paper's
//! energy estimate.
//!
//! A checkpoint written by `train` or `reproduce` sits next to its run file (`../run.json`),
//! which names the model, the dataset (Gesture, Gait, N-MNIST, CIFAR10-DVS), the framing, the
//! test clips and the loss: the evaluation then uses exactly the run's test source, for any
//! network. Without a run file (the demo's checkpoints), the checkpoint's `meta.json` framing
//! and a DvsGesture-layout dataset are used.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use burn::backend::Flex;
use burn::tensor::DType;
use clap::Args;
use serde::Serialize;
use snn_data::gesture::{GestureDataset, Split};
use snn_train::checkpoint::{load_event_net, load_net};
use snn_train::net::Net;
use snn_train::trainer::{evaluate, Evaluation, LossConfig};

use crate::export::checkpoint_framing;
use crate::test_samples::{first_event_frames, FramedSamples};
use crate::train::{test_source, RunFile};

/// Options of `eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint directory (`model.safetensors`, `config.json`, `meta.json`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The dataset folder (default: the one recorded in the run file or `meta.json`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run file (default: `run.json` beside the checkpoint directory, when there is one).
    #[arg(long)]
    run: Option<PathBuf>,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EvalReport {
    checkpoint: PathBuf,
    samples: usize,
    test_acc: f64,
    /// Accuracy by the official majority vote over each sample's test clips.
    test_acc_vote: f64,
    /// Accuracy of the summed clip outputs.
    test_acc_summed: f64,
    firing_rate: f64,
    spikes_per_sample: f64,
    energy_uj: f64,
    layer_rates: Vec<(String, f64)>,
    confusion: Vec<Vec<u64>>,
}

/// The run file for `checkpoint`: the one given, else `run.json` beside the checkpoint directory.
fn run_file(args: &EvalArgs) -> Result<Option<RunFile>> {
    let path = match &args.run {
        Some(path) => path.clone(),
        None => match args.checkpoint.parent().map(|p| p.join("run.json")) {
            Some(path) if path.is_file() => path,
            _ => return Ok(None),
        },
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let run = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(run))
}

pub fn run(args: EvalArgs) -> Result<()> {
    ensure!(args.batch > 0, "--batch must be at least 1");
    let device = Default::default();
    let (report, samples) = match run_file(&args)? {
        Some(run) => {
            let net = load_net::<Flex>(&args.checkpoint, DType::F32, &device)
                .with_context(|| format!("loading {}", args.checkpoint.display()))?;
            ensure!(
                net.config() == run.model,
                "{}: the checkpoint's network differs from the run file's",
                args.checkpoint.display()
            );
            let mut data = run.data.clone();
            if let Some(root) = &args.data {
                data.root = root.clone();
            }
            let (source, samples) = test_source(&data, run.train.seed)?;
            (evaluate(&net, &source, run.train.loss, &device)?, samples)
        }
        None => gesture_fallback(&args, &device)?,
    };
    print_report(args, report, samples)
}

/// Evaluation of an event-network checkpoint without a run file, on DvsGesture-layout data
/// framed as its `meta.json` records (one clip per sample).
fn gesture_fallback(
    args: &EvalArgs,
    device: &burn::tensor::Device<Flex>,
) -> Result<(Evaluation, usize)> {
    let net = load_event_net::<Flex>(&args.checkpoint, DType::F32, device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let config = net.config().clone();
    let (framing, recorded) = checkpoint_framing(&args.checkpoint, &config)?;
    let root = args.data.clone().unwrap_or(recorded);
    let data = GestureDataset::open(&root)
        .with_context(|| format!("opening the dataset at {}", root.display()))?;

    let test = first_event_frames(&data, Split::Test, &framing, None)?;
    ensure!(!test.is_empty(), "{}: no test samples", root.display());
    let source = FramedSamples {
        samples: &test,
        batch: args.batch,
    };
    let result = evaluate(&Net::Event(net), &source, LossConfig::MseRate, device)?;
    Ok((result, test.len()))
}

fn print_report(args: EvalArgs, result: Evaluation, samples: usize) -> Result<()> {
    let report = EvalReport {
        checkpoint: args.checkpoint,
        samples,
        test_acc: result.acc,
        test_acc_vote: result.acc_vote,
        test_acc_summed: result.acc_summed,
        firing_rate: result.firing_rate,
        spikes_per_sample: result.spikes_per_sample,
        energy_uj: result.energy_uj,
        layer_rates: result.layer_rates,
        confusion: result.confusion,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{}: {} test samples, accuracy {:.4} (vote {:.4}), firing rate {:.4}, {:.0} spikes/sample, {:.3} uJ/sample",
        report.checkpoint.display(),
        report.samples,
        report.test_acc,
        report.test_acc_vote,
        report.firing_rate,
        report.spikes_per_sample,
        report.energy_uj
    );
    for (name, rate) in &report.layer_rates {
        println!("  {name:<6} firing rate {rate:.4}");
    }
    println!("confusion (rows: true class, columns: predicted):");
    for row in &report.confusion {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>4}")).collect();
        println!("  {}", cells.join(""));
    }
    Ok(())
}
