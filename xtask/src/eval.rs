//! `cargo xtask eval --checkpoint DIR [--data DIR] [--json]`: evaluates an event-network
//! checkpoint on the test split of its dataset (framed as recorded in the checkpoint): accuracy,
//! confusion matrix, per-layer firing rates, spikes per sample and the paper's energy estimate.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use burn::backend::Flex;
use burn::tensor::DType;
use clap::Args;
use serde::Serialize;
use snn_data::gesture::{GestureDataset, Split};
use snn_train::checkpoint::load_event_net;
use snn_train::net::Net;
use snn_train::trainer::{evaluate, LossConfig};

use crate::evaluate::{first_event_frames, FramedSamples};
use crate::export::checkpoint_framing;

/// Options of `eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint directory (`model.safetensors`, `config.json`, `meta.json`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The DvsGesture-layout dataset (default: the one recorded in `meta.json`).
    #[arg(long)]
    data: Option<PathBuf>,
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
    firing_rate: f64,
    spikes_per_sample: f64,
    energy_uj: f64,
    layer_rates: Vec<(String, f64)>,
    confusion: Vec<Vec<u64>>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    ensure!(args.batch > 0, "--batch must be at least 1");
    let device = Default::default();
    let net = load_event_net::<Flex>(&args.checkpoint, DType::F32, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let config = net.config().clone();
    let (framing, recorded) = checkpoint_framing(&args.checkpoint, &config)?;
    let root = args.data.unwrap_or(recorded);
    let data = GestureDataset::open(&root)
        .with_context(|| format!("opening the dataset at {}", root.display()))?;

    let test = first_event_frames(&data, Split::Test, &framing, None)?;
    ensure!(!test.is_empty(), "{}: no test samples", root.display());
    let source = FramedSamples {
        samples: &test,
        batch: args.batch,
    };
    let result = evaluate(&Net::Event(net), &source, LossConfig::MseRate, &device)?;
    let report = EvalReport {
        checkpoint: args.checkpoint,
        samples: test.len(),
        test_acc: result.acc,
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
        "{}: {} test samples, accuracy {:.4}, firing rate {:.4}, {:.0} spikes/sample, {:.3} uJ/sample",
        report.checkpoint.display(),
        report.samples,
        report.test_acc,
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
