//! `cargo xtask reproduce gesture|gait [--attention TCSA,TA,...] [--runs N] [--epochs N]
//! [--device cpu|cuda|vulkan] [--data DIR] [--out DIR]`: the paper's event protocol (section 4.1 of the
//! reference) for the vanilla 3-layer network and each attention variant, `--runs` seeds each,
//! every run resumable (run the same command again to continue), then a table beside the
//! paper's Table 1 / Table 6 and a report with plots.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use ma_attention::AttentionKind;
use serde::Serialize;
use snn_train::report::{write_report, RunHistory};
use snn_train::trainer::{best_epoch, EpochRecord};

use crate::device::{dispatch, DeviceKind};
use crate::train::{paper_run, Dataset, RunJob};

/// Which experiment.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    /// DVS128 Gesture, 3-layer network, dt 15 ms x T 60.
    Gesture,
    /// DVS128 Gait, 3-layer network, dt 15 ms x T 60.
    Gait,
}

/// Options of `reproduce`.
#[derive(Args)]
pub struct ReproduceArgs {
    /// The experiment.
    #[arg(value_enum)]
    experiment: Experiment,
    /// Attention variants beside the vanilla baseline, comma-separated (TA, CA, SA, TCA, TSA,
    /// CSA, TCSA).
    #[arg(long, value_delimiter = ',', default_value = "TCSA")]
    attention: Vec<AttentionKind>,
    /// Dataset folder (default: data/DvsGesture or data/gait).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs per run (paper: 300 Gesture, 100 Gait).
    #[arg(long)]
    epochs: Option<usize>,
    /// Independent runs (seeds 0..N) per model; the paper reports the mean of 10.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Training batch size (paper: 128).
    #[arg(long)]
    batch: Option<usize>,
    /// Where to run: cpu, cuda or vulkan (the last two need xtask built with that feature).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// Output folder.
    #[arg(long, default_value = "target/reproduce")]
    out: PathBuf,
    /// Stop every run after this many more epochs (run the command again to continue).
    #[arg(long)]
    epochs_now: Option<usize>,
    /// Print the table as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The paper's numbers for one model (Table 1 / Table 6; 3-layer, dt 15 x T 60).
struct Paper {
    acc: f64,
    rate: f64,
    ree: f64,
}

fn paper(experiment: Experiment, attention: AttentionKind) -> Option<Paper> {
    use AttentionKind::*;
    let (acc, rate, ree) = match (experiment, attention) {
        (Experiment::Gesture, None) => (90.63, 0.173, 1.0),
        (Experiment::Gesture, Ta) => (92.60, 0.073, 2.2),
        (Experiment::Gesture, Ca) => (93.88, 0.072, 2.2),
        (Experiment::Gesture, Sa) => (92.50, 0.058, 2.5),
        (Experiment::Gesture, Tca) => (95.73, 0.034, 3.5),
        (Experiment::Gesture, Tsa) => (94.31, 0.030, 3.4),
        (Experiment::Gesture, Csa) => (94.79, 0.030, 3.4),
        (Experiment::Gesture, Tcsa) => (96.53, 0.026, 3.4),
        (Experiment::Gait, None) => (87.59, 0.245, 1.0),
        (Experiment::Gait, Tcsa) => (92.29, 0.045, 3.2),
        _ => return Option::None,
    };
    Some(Paper { acc, rate, ree })
}

/// One row of the final table.
#[derive(Serialize)]
struct Row {
    model: String,
    runs: usize,
    epochs_done: Vec<usize>,
    /// Best test accuracy per run (the official multi-clip vote), in percent.
    acc: Vec<f64>,
    acc_mean: f64,
    acc_std: f64,
    /// Firing rate (NASAR) at each run's best epoch, averaged.
    nasar: f64,
    /// Spikes per sample at the best epoch, averaged.
    spikes: f64,
    /// Energy per sample (uJ) at the best epoch, averaged.
    energy_uj: f64,
    /// Vanilla energy / this energy.
    energy_ratio: f64,
    paper_acc: Option<f64>,
    paper_nasar: Option<f64>,
    paper_ree: Option<f64>,
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Runs of each model (vanilla first).
type Histories = [(AttentionKind, Vec<Vec<EpochRecord>>)];

/// The table rows and their Markdown, beside the paper's numbers.
fn summarise(experiment: Experiment, histories: &Histories) -> (Vec<Row>, String) {
    let energy = |runs: &[Vec<EpochRecord>]| -> f64 {
        let e: Vec<f64> = runs
            .iter()
            .filter_map(|r| best_epoch(r).map(|b| b.test.energy_uj))
            .collect();
        mean_std(&e).0
    };
    let vanilla_energy = energy(&histories[0].1);
    let rows: Vec<Row> = histories
        .iter()
        .map(|(attention, runs)| {
            let bests: Vec<&EpochRecord> = runs.iter().filter_map(|r| best_epoch(r)).collect();
            let acc: Vec<f64> = bests.iter().map(|b| 100.0 * b.test.acc_vote).collect();
            let (acc_mean, acc_std) = mean_std(&acc);
            let avg = |f: &dyn Fn(&EpochRecord) -> f64| {
                mean_std(&bests.iter().map(|b| f(b)).collect::<Vec<_>>()).0
            };
            let p = paper(experiment, *attention);
            let e = energy(runs);
            Row {
                model: if *attention == AttentionKind::None {
                    "vanilla".into()
                } else {
                    format!("+{attention}")
                },
                runs: runs.len(),
                epochs_done: runs.iter().map(Vec::len).collect(),
                acc,
                acc_mean,
                acc_std,
                nasar: avg(&|b| b.test.firing_rate),
                spikes: avg(&|b| b.test.spikes_per_sample),
                energy_uj: e,
                energy_ratio: vanilla_energy / e,
                paper_acc: p.as_ref().map(|p| p.acc),
                paper_nasar: p.as_ref().map(|p| p.rate),
                paper_ree: p.as_ref().map(|p| p.ree),
            }
        })
        .collect();

    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let mut table = format!(
        "## {:?}: ours beside the paper (3-layer, dt 15 ms x T 60)\n\n\
         | model | runs | epochs | acc % (vote) | paper acc % | NASAR | paper NASAR | spikes/sample (1e6) | energy uJ | rEE | paper rEE |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        experiment
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {:?} | {:.2} ± {:.2} | {} | {:.3} | {} | {:.3} | {:.3} | {:.2}x | {} |\n",
            r.model,
            r.runs,
            r.epochs_done,
            r.acc_mean,
            r.acc_std,
            opt(r.paper_acc, 2),
            r.nasar,
            opt(r.paper_nasar, 3),
            r.spikes / 1e6,
            r.energy_uj,
            r.energy_ratio,
            opt(r.paper_ree, 1),
        ));
    }
    table.push_str(
        "\nAccuracy: best test epoch, a sample correct when more than half of its 10 clips are \
         (the official protocol); the paper reports the mean ± variance of 10 runs. Energy: \
         first layer MAC at 4.6 pJ, later layers AC at 0.9 pJ x firing rate x T.\n",
    );
    (rows, table)
}

pub fn run(args: ReproduceArgs) -> Result<()> {
    let dataset = match args.experiment {
        Experiment::Gesture => Dataset::Gesture,
        Experiment::Gait => Dataset::Gait,
    };
    let root = args.data.clone().unwrap_or_else(|| match args.experiment {
        Experiment::Gesture => PathBuf::from("data/DvsGesture"),
        Experiment::Gait => PathBuf::from("data/gait"),
    });
    anyhow::ensure!(
        root.exists(),
        "{} does not exist: get the dataset with `cargo xtask download {}` (see datasets/README.md) \
         or pass --data DIR",
        root.display(),
        match args.experiment {
            Experiment::Gesture => "gesture --root data",
            Experiment::Gait => "gait --root data/gait",
        }
    );
    let mut models = vec![AttentionKind::None];
    models.extend(args.attention.iter().filter(|a| **a != AttentionKind::None));
    let base = args
        .out
        .join(format!("{:?}", args.experiment).to_lowercase());
    let mut histories: Vec<(AttentionKind, Vec<Vec<EpochRecord>>)> = Vec::new();
    for &attention in &models {
        let name = if attention == AttentionKind::None {
            "vanilla".to_owned()
        } else {
            attention.to_string()
        };
        let mut runs = Vec::new();
        for k in 0..args.runs.max(1) {
            let mut run = paper_run(dataset, attention, root.clone())?;
            run.train.seed = k as u64;
            if let Some(e) = args.epochs {
                run.train.epochs = e;
            }
            if let Some(b) = args.batch {
                run.data.batch = b;
                run.data.test_batch = b;
            }
            // One store per dataset, shared by every run.
            run.data.cache = Some(base.join("store"));
            let out = base.join(&name).join(format!("run{k}"));
            let summary = dispatch(
                args.device,
                RunJob {
                    run: &run,
                    out: &out,
                    resume: true,
                    epochs_now: args.epochs_now,
                    name: format!("{name} run {k}"),
                },
            )
            .with_context(|| format!("training {name} run {k} in {}", out.display()))?;
            runs.push(summary.history);
        }
        histories.push((attention, runs));
    }

    let (rows, table) = summarise(args.experiment, &histories);
    let reports: Vec<RunHistory> = histories
        .iter()
        .zip(&rows)
        .filter_map(|((_, runs), row)| {
            runs.first()
                .map(|h| RunHistory::new(row.model.clone(), h.clone()))
        })
        .collect();
    let files = write_report(&base, &reports, Some(&table))
        .with_context(|| format!("writing the report in {}", base.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"experiment": args.experiment, "rows": rows,
            "report": files.markdown})
        );
    } else {
        println!("{table}");
        println!("report: {}", files.markdown.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snn_train::trainer::Evaluation;

    fn record(epoch: usize, acc_vote: f64, rate: f64, energy_uj: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            lr: 1e-4,
            train_loss: 0.1,
            train_acc: 0.5,
            grad_norm: 1.0,
            test: Evaluation {
                loss: 0.1,
                acc: acc_vote,
                top5: 1.0,
                acc_vote,
                acc_summed: acc_vote,
                firing_rate: rate,
                spikes_per_sample: rate * 1e6,
                layer_rates: vec![("conv0".into(), rate)],
                input_rate: 0.05,
                energy_uj,
                confusion: vec![],
                samples_per_s: 1.0,
            },
            train_samples_per_s: 1.0,
            seconds: 1.0,
        }
    }

    #[test]
    fn table_takes_each_runs_best_vote_epoch_and_the_energy_ratio() {
        let histories = vec![
            (
                AttentionKind::None,
                vec![
                    vec![record(0, 0.80, 0.2, 4.0), record(1, 0.90, 0.17, 3.0)],
                    vec![record(0, 0.92, 0.18, 3.0)],
                ],
            ),
            (
                AttentionKind::Tcsa,
                vec![vec![record(0, 0.96, 0.03, 1.0), record(1, 0.95, 0.02, 0.5)]],
            ),
            (AttentionKind::Tca, vec![vec![]]),
        ];
        let (rows, table) = summarise(Experiment::Gesture, &histories);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].acc, vec![90.0, 92.0]);
        assert!((rows[0].acc_mean - 91.0).abs() < 1e-12 && (rows[0].acc_std - 1.0).abs() < 1e-12);
        assert!(
            (rows[1].energy_ratio - 3.0).abs() < 1e-12,
            "{}",
            rows[1].energy_ratio
        );
        assert_eq!(rows[1].paper_acc, Some(96.53));
        assert_eq!(rows[2].epochs_done, vec![0]);
        assert!(
            table.contains("| vanilla | 2 | [2, 1] | 91.00 ± 1.00 | 90.63 |"),
            "{table}"
        );
        assert!(
            table.contains("| +TCSA | 1 | [2] | 96.00 ± 0.00 | 96.53 |"),
            "{table}"
        );
    }
}
