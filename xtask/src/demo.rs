//! `cargo xtask demo`: the synthetic-gesture comparison of a vanilla and a TCSA event network.
//!
//! Generates the synthetic DvsGesture-layout dataset once (real AEDAT 3.1 files, read back
//! through the real reader), frames it MA-SNN style (8 windows of 100 ms, 128x128 pooled to
//! 16x16; random consecutive training windows), trains both networks with the official loss
//! (rate MSE) and Adam, evaluates every epoch, keeps the best checkpoint per model, writes a
//! JSON-lines log per model, and prints accuracy, firing rate, spikes per sample and the
//! paper's energy estimate side by side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::evaluate::{evaluate, first_event_frames, to_tensor, Evaluation};
use anyhow::{Context, Result};
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use clap::Args;
use ma_attention::AttentionKind;
use serde::Serialize;
use snn_data::frame::{Frames, WindowFraming};
use snn_data::gesture::{sample_events, GestureDataset, Split};
use snn_data::loader::{epoch_batches, load_batch, sample_rng};
use snn_data::synthetic::SyntheticGestures;
use snn_data::Event;
use snn_models::{EventNet, EventNetConfig, Mode};
use snn_train::checkpoint::save_event_net;
use snn_train::energy::EnergyModel;
use snn_train::guard::LossGuard;
use snn_train::loss::mse_rate;

type B = Autodiff<Flex>;

/// Adam's learning rate (the official Gesture recipe uses 1e-4 for 300 epochs; the demo has a
/// few minutes).
const LEARNING_RATE: f64 = 5e-3;

/// Options of `demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Output folder: data cache, checkpoints (`vanilla/best`, `tcsa/best`) and logs.
    #[arg(long, default_value = "target/demo")]
    out: PathBuf,
    /// Training epochs per model.
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    /// Random seed (data, shuffling, training windows and weight initialisation).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One labelled sample's events.
struct Sample {
    label: usize,
    events: Vec<Event>,
}

fn load_split(data: &GestureDataset, split: Split) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for trial in data.trials(split) {
        let events = data
            .read_events(trial)
            .with_context(|| format!("reading {}", trial.name))?;
        for row in &trial.rows {
            samples.push(Sample {
                label: row.class,
                events: sample_events(&events, row),
            });
        }
    }
    Ok(samples)
}

/// Per-model results.
#[derive(Serialize)]
struct ModelReport {
    test_acc: f64,
    firing_rate: f64,
    spikes_per_sample: f64,
    energy_uj: f64,
    params: usize,
    best_epoch: usize,
    train_seconds: f64,
}

/// 8 windows of 100 ms over a 128x128 sensor pooled to 16x16: small enough for a 2-core CPU.
const FRAMING: WindowFraming = WindowFraming {
    steps: 8,
    dt_us: 100_000,
    sensor: 128,
    pool: 8,
};

fn frames_at(sample: &Sample, start: u64) -> Frames {
    FRAMING.frames(&sample.events, start)
}

fn train_one(
    name: &str,
    attention: AttentionKind,
    train: &[Sample],
    test: &[(Frames, usize)],
    data_root: &Path,
    args: &DemoArgs,
) -> Result<ModelReport> {
    let device = Default::default();
    // Seed the weight initialisation (and dropout) too, so `--seed` makes a run repeatable.
    B::seed(&device, args.seed);
    let mut config = EventNetConfig::gesture(FRAMING.steps, attention);
    config.height = FRAMING.size();
    config.width = FRAMING.size();
    config.channels = vec![8, 16, 16];
    config.fc_hidden = 32;
    config.t_ratio = 2;
    config.c_ratio = 4;
    let mut model: EventNet<B> = config.init(&device)?;
    let summary = model.summary();
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let dir = args.out.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut log = std::fs::File::create(dir.join("log.jsonl")).context("creating the run log")?;
    let start = Instant::now();
    let mut best: Option<ModelReport> = None;
    let mut guard = LossGuard::new();
    for epoch in 0..args.epochs {
        let mut loss_sum = 0.0;
        let batches = epoch_batches(train.len(), 16, args.seed, epoch as u64, true);
        for (b, indices) in batches.iter().enumerate() {
            let batch = load_batch(indices, |i| -> Result<(Frames, usize)> {
                let s = &train[i];
                let (first, last) = (
                    s.events.first().map_or(0, |e| e.t),
                    s.events.last().map_or(0, |e| e.t),
                );
                let t0 = FRAMING.random_start(first, last, sample_rng(args.seed, epoch as u64, i));
                Ok((frames_at(s, t0), s.label))
            })?;
            let (x, labels) = to_tensor::<B>(batch);
            let out = model.forward(x, Mode::Train);
            let loss = mse_rate(out.rates, &labels);
            let value = loss.clone().into_scalar() as f64;
            guard.check(epoch, b, value)?;
            loss_sum += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LEARNING_RATE, model, grads);
        }
        let Evaluation {
            confusion,
            monitor,
            input_rate,
        } = evaluate(&model.valid(), test, 32)?;
        let acc = confusion.accuracy();
        let rates: Vec<f64> = monitor.layers().map(|(_, s)| s.rate()).collect();
        let energy = EnergyModel::default().estimate(&summary, FRAMING.steps, input_rate, &rates);
        let line = serde_json::json!({"model": name, "epoch": epoch, "train_loss": loss_sum / batches.len() as f64,
            "test_acc": acc, "firing_rate": monitor.overall_rate(), "seconds": start.elapsed().as_secs_f64()});
        writeln!(log, "{line}").context("writing the run log")?;
        eprintln!(
            "[{name}] epoch {epoch:>2}: loss {:.4}  test acc {:.3}  firing rate {:.3}",
            loss_sum / batches.len() as f64,
            acc,
            monitor.overall_rate()
        );
        if best.as_ref().is_none_or(|b| acc > b.test_acc) {
            // What `export` needs to rebuild a real input batch: the framing and the data.
            let mut meta = line.clone();
            meta["framing"] = serde_json::json!({"steps": FRAMING.steps, "dt_us": FRAMING.dt_us,
                "sensor": FRAMING.sensor, "pool": FRAMING.pool});
            meta["data"] = serde_json::json!(data_root);
            save_event_net(&dir.join("best"), &model, &meta)?;
            guard.checkpoint_written(dir.join("best"));
            best = Some(ModelReport {
                test_acc: acc,
                firing_rate: monitor.overall_rate(),
                spikes_per_sample: monitor.spikes_per_sample(),
                energy_uj: energy.total_uj,
                params: summary.params,
                best_epoch: epoch,
                train_seconds: 0.0,
            });
        }
    }
    let mut report = best.context("no epoch ran (use --epochs 1 or more)")?;
    report.train_seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// The synthetic dataset, generated once into a folder named after its parameters.
fn ensure_data(out: &Path, seed: u64) -> Result<GestureDataset> {
    let synth = SyntheticGestures {
        train_trials: 16,
        test_trials: 6,
        seed,
        ..Default::default()
    };
    let root = out.join(format!(
        "data/synthetic-seed{seed}-train{}-test{}-v1",
        synth.train_trials, synth.test_trials
    ));
    if let Ok(data) = GestureDataset::open(&root) {
        return Ok(data);
    }
    synth.write(&root)?;
    Ok(GestureDataset::open(&root)?)
}

pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let data = ensure_data(&args.out, args.seed)?;
    let train = load_split(&data, Split::Train)?;
    let test = first_event_frames(&data, Split::Test, &FRAMING, None)?;
    let root = std::path::absolute(data.root()).context("resolving the data folder")?;
    let vanilla = train_one("vanilla", AttentionKind::None, &train, &test, &root, &args)?;
    let tcsa = train_one("tcsa", AttentionKind::Tcsa, &train, &test, &root, &args)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"vanilla": vanilla, "tcsa": tcsa, "seconds": started.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "{:<10} {:>9} {:>12} {:>16} {:>12} {:>10}",
            "model", "test acc", "firing rate", "spikes/sample", "energy (uJ)", "params"
        );
        for (name, r) in [("vanilla", &vanilla), ("TCSA", &tcsa)] {
            println!(
                "{name:<10} {:>9.3} {:>12.4} {:>16.0} {:>12.3} {:>10}",
                r.test_acc, r.firing_rate, r.spikes_per_sample, r.energy_uj, r.params
            );
        }
        println!(
            "energy ratio vanilla / TCSA: {:.2}x; total {:.0} s; checkpoints in {}",
            vanilla.energy_uj / tcsa.energy_uj,
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
    }
    Ok(())
}
