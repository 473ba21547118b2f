//! `cargo xtask eval --checkpoint DIR [--data DIR] [--json]`: evaluates an event-network
//! checkpoint on the test split of its dataset (framed as recorded in the checkpoint): accuracy,
//! confusion matrix, per-layer firing rates, spikes per sample and the paper's energy estimate.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use burn::backend::Flex;
use burn::tensor::{DType, Tensor, TensorData};
use clap::Args;
use serde::Serialize;
use snn_core::FiringMonitor;
use snn_data::gesture::{sample_events, GestureDataset, Split};
use snn_data::loader::Batch;
use snn_models::Mode;
use snn_train::checkpoint::load_event_net;
use snn_train::energy::EnergyModel;
use snn_train::metrics::{argmax_rows, ConfusionMatrix};

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

    // Every test sample, framed from its first event (the official single-clip test).
    let mut test = Vec::new();
    for trial in data.trials(Split::Test) {
        let events = data
            .read_events(trial)
            .with_context(|| format!("reading {}", trial.name))?;
        for row in &trial.rows {
            let sample = sample_events(&events, row);
            let start = sample.first().map_or(row.start, |e| e.t);
            test.push((framing.frames(&sample, start), row.class));
        }
    }
    ensure!(!test.is_empty(), "{}: no test samples", root.display());

    let mut monitor = FiringMonitor::new();
    let mut confusion = ConfusionMatrix::new(config.classes);
    let (mut nonzero, mut cells) = (0usize, 0usize);
    for chunk in test.chunks(args.batch) {
        let batch = Batch::stack(chunk);
        nonzero += batch.data.iter().filter(|&&v| v != 0.0).count();
        cells += batch.data.len();
        let shape = [batch.steps, batch.batch, 2, batch.height, batch.width];
        let x = Tensor::<Flex, 5>::from_data(TensorData::new(batch.data, shape), &device);
        let out = net.forward(x, Mode::Eval);
        for (name, stats) in &out.layers {
            monitor.record(name, *stats);
        }
        let scores: Vec<f32> = out.rates.into_data().to_vec()?;
        confusion.add(&batch.labels, &argmax_rows(&scores, config.classes));
    }
    let layer_rates: Vec<(String, f64)> = monitor
        .layers()
        .map(|(name, s)| (name.to_owned(), s.rate()))
        .collect();
    let rates: Vec<f64> = layer_rates.iter().map(|(_, r)| *r).collect();
    let input_rate = nonzero as f64 / cells.max(1) as f64;
    let energy = EnergyModel::default().estimate(&net.summary(), config.steps, input_rate, &rates);
    let report = EvalReport {
        checkpoint: args.checkpoint,
        samples: test.len(),
        test_acc: confusion.accuracy(),
        firing_rate: monitor.overall_rate(),
        spikes_per_sample: monitor.spikes_per_sample(),
        energy_uj: energy.total_uj,
        layer_rates,
        confusion: confusion.counts,
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
