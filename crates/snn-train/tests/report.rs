//! `snn_train::report`: plots decode with the expected size and content, the Markdown carries
//! the right numbers, logs round-trip, and empty or NaN histories do not panic.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use snn_train::report::{
    markdown_report, plot_curves, plot_firing_rates, write_report, ReportError, RunHistory,
    CURVES_SIZE, FIRING_RATES_SIZE,
};
use snn_train::trainer::{EpochRecord, Evaluation};

/// A fresh folder under the target's scratch space (kept for inspection).
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-tests")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

struct Epoch {
    train_loss: f64,
    train_acc: f64,
    acc: f64,
    energy_uj: f64,
    samples_per_s: f64,
}

fn record(epoch: usize, e: &Epoch, layers: &[(&str, f64)]) -> EpochRecord {
    EpochRecord {
        epoch,
        lr: 1e-3,
        train_loss: e.train_loss,
        train_acc: e.train_acc,
        grad_norm: 1.5,
        test: Evaluation {
            loss: e.train_loss * 1.1,
            acc: e.acc,
            top5: 0.95,
            acc_vote: e.acc + 0.05,
            acc_summed: e.acc + 0.03,
            firing_rate: 0.12,
            spikes_per_sample: 1234.5,
            layer_rates: layers.iter().map(|&(n, r)| (n.to_string(), r)).collect(),
            input_rate: 0.02,
            energy_uj: e.energy_uj,
            confusion: vec![vec![3, 1], vec![0, 4]],
            samples_per_s: 500.0,
        },
        train_samples_per_s: e.samples_per_s,
        seconds: 12.0,
    }
}

fn run(name: &str, epochs: &[Epoch], layers: &[(&str, f64)]) -> RunHistory {
    RunHistory::new(
        name,
        epochs
            .iter()
            .enumerate()
            .map(|(i, e)| record(i, e, layers))
            .collect(),
    )
}

fn ep(train_loss: f64, train_acc: f64, acc: f64, energy_uj: f64, samples_per_s: f64) -> Epoch {
    Epoch {
        train_loss,
        train_acc,
        acc,
        energy_uj,
        samples_per_s,
    }
}

/// Vanilla: best at epoch 1 (75%, 2 µJ). Attention: best at epoch 2 (85%, 1.5 µJ), a NaN
/// train loss at epoch 1, an extra layer and a NaN layer rate.
fn two_runs() -> Vec<RunHistory> {
    vec![
        run(
            "vanilla",
            &[
                ep(1.2, 0.5, 0.60, 2.2, 100.0),
                ep(0.8, 0.7, 0.75, 2.0, 110.0),
                ep(0.6, 0.8, 0.72, 1.9, 120.0),
            ],
            &[("conv1", 0.2), ("conv2", 0.1), ("fc", 0.05)],
        ),
        run(
            "attention",
            &[
                ep(1.1, 0.55, 0.65, 1.8, 80.0),
                ep(f64::NAN, 0.75, 0.80, 1.6, 90.0),
                ep(0.5, 0.85, 0.85, 1.5, f64::NAN),
            ],
            &[
                ("conv1", 0.15),
                ("attn", 0.3),
                ("conv2", 0.08),
                ("fc", f64::NAN),
            ],
        ),
    ]
}

/// Decodes a PNG, checks its size, and returns how many distinct colours it has.
fn png_colours(path: &Path, size: (u32, u32)) -> usize {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), size, "{}", path.display());
    img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
}

#[test]
fn writes_plots_and_markdown() {
    let dir = scratch("two_runs");
    let runs = two_runs();
    let extra = "## Paper\n\nThe paper reports 0.8x energy for attention.";
    let files = write_report(&dir, &runs, Some(extra)).unwrap();
    assert_eq!(files.curves, dir.join("curves.png"));
    assert_eq!(files.firing_rates, dir.join("firing_rates.png"));
    assert_eq!(files.markdown, dir.join("report.md"));

    // Lines in two colours, text, grid: many colours (anti-aliased text adds greys).
    let curves = png_colours(&files.curves, CURVES_SIZE);
    assert!(curves > 20, "curves.png has only {curves} colours");
    let rates = png_colours(&files.firing_rates, FIRING_RATES_SIZE);
    assert!(rates > 20, "firing_rates.png has only {rates} colours");

    // No temporary files left behind.
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["curves.png", "firing_rates.png", "report.md"]);

    let md = fs::read_to_string(&files.markdown).unwrap();
    for line in [
        "| vanilla | 3 | 1 | 75.00% | 95.00% | 80.00% | 78.00% | 0.1200 | 1234.5 | 2.000 | 1.000x | 110.0 |",
        "| attention | 3 | 2 | 85.00% | 95.00% | 90.00% | 88.00% | 0.1200 | 1234.5 | 1.500 | 0.750x | 85.0 |",
        "| Layer | vanilla | attention |",
        "| conv1 | 0.2000 | 0.1500 |",
        "| conv2 | 0.1000 | 0.0800 |",
        "| fc | 0.0500 | n/a |",
        "| attn | n/a | 0.3000 |",
        "![Training curves](curves.png)",
        "![Per-layer firing rates](firing_rates.png)",
        "energy ratio against `vanilla`",
    ] {
        assert!(md.contains(line), "missing {line:?} in:\n{md}");
    }
    // Layers in order of first appearance (the baseline's first).
    let pos = |s: &str| md.find(s).unwrap();
    assert!(pos("| conv1 |") < pos("| conv2 |"));
    assert!(pos("| fc |") < pos("| attn |"));
    assert!(md.trim_end().ends_with(extra), "{md}");
    // The same report without images, from `markdown_report`.
    let plain = markdown_report(&runs, Some(extra));
    assert!(!plain.contains("!["));
    assert!(plain.contains("| attention | 3 | 2 | 85.00% |"));
}

#[test]
fn empty_histories_do_not_panic() {
    let dir = scratch("empty");
    let runs = vec![RunHistory::new("vanilla", vec![]), two_runs().remove(1)];
    let files = write_report(&dir, &runs, None).unwrap();
    assert!(png_colours(&files.curves, CURVES_SIZE) > 2);
    assert!(png_colours(&files.firing_rates, FIRING_RATES_SIZE) > 2);
    let md = fs::read_to_string(&files.markdown).unwrap();
    assert!(
        md.contains("| vanilla | 0 | no epochs | n/a |"),
        "no 'no epochs' row in:\n{md}"
    );
    // No baseline energy: the ratio is n/a, the rest is there.
    assert!(
        md.contains("| attention | 3 | 2 | 85.00% | 95.00% | 90.00% | 88.00% | 0.1200 | 1234.5 | 1.500 | n/a | 85.0 |"),
        "{md}"
    );

    // Nothing at all: a report saying so and "no data" plots.
    let dir = scratch("none");
    let files = write_report(&dir, &[], None).unwrap();
    assert!(png_colours(&files.curves, CURVES_SIZE) > 2);
    assert!(png_colours(&files.firing_rates, FIRING_RATES_SIZE) > 2);
    assert!(fs::read_to_string(&files.markdown)
        .unwrap()
        .contains("No runs."));
    let only_empty = [RunHistory::new("a", vec![])];
    plot_curves(&only_empty, &dir.join("c.png")).unwrap();
    plot_firing_rates(&only_empty, &dir.join("f.png")).unwrap();
    assert!(markdown_report(&only_empty, None).contains("No per-layer rates recorded."));

    // All test accuracies NaN: no best epoch, no panic.
    let mut nan = two_runs().remove(0);
    for r in &mut nan.records {
        r.test.acc = f64::NAN;
        r.test.acc_vote = f64::NAN;
    }
    assert!(nan.best().is_none());
    let md = markdown_report(&[nan], None);
    assert!(
        md.contains("| vanilla | 3 | no finite test accuracy |"),
        "{md}"
    );
}

#[test]
fn log_round_trip_and_errors() {
    let dir = scratch("log");
    let runs = two_runs();
    let path = dir.join("log.jsonl");
    // As the trainer writes it (NaN becomes `null`), with a blank line.
    let mut text: String = runs[1]
        .records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    text.push('\n');
    fs::write(&path, &text).unwrap();
    assert!(text.contains("null"));

    let back = RunHistory::from_log("attention", &path).unwrap();
    assert_eq!(back.name, "attention");
    assert_eq!(back.records.len(), 3);
    assert!(back.records[1].train_loss.is_nan());
    assert!(back.records[2].train_samples_per_s.is_nan());
    assert!(back.records[0].test.layer_rates[3].1.is_nan());
    assert_eq!(back.records[2].test.acc, 0.85);
    assert_eq!(
        back.records[0].test.layer_rates[..3],
        runs[1].records[0].test.layer_rates[..3]
    );
    assert_eq!(back.best().unwrap().epoch, 2);

    // A bad line: the error names the file and the 1-based line.
    fs::write(
        &path,
        format!("{}\n{{\"epoch\": 1}}\n", text.lines().next().unwrap()),
    )
    .unwrap();
    let err = RunHistory::from_log("x", &path).unwrap_err();
    assert!(matches!(err, ReportError::Parse { line: 2, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("log.jsonl:2:"), "{msg}");

    let missing = dir.join("missing.jsonl");
    let err = RunHistory::from_log("x", &missing).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.jsonl"), "{err}");

    // A folder that cannot be created: the error names it.
    let blocker = dir.join("file");
    fs::write(&blocker, "").unwrap();
    let err = write_report(&blocker.join("sub"), &runs, None).unwrap_err();
    assert!(
        err.to_string().contains("file/sub") || err.to_string().contains("file\\sub"),
        "{err}"
    );
}

#[test]
fn many_long_layer_names() {
    let dir = scratch("many_layers");
    let names: Vec<String> = (0..14).map(|i| format!("block{i}.attention.lif")).collect();
    let layers: Vec<(&str, f64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 0.02 * (i + 1) as f64))
        .collect();
    let runs: Vec<RunHistory> = ["vanilla", "TA", "CA", "TCSA"]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let scaled: Vec<(&str, f64)> = layers
                .iter()
                .map(|&(n, r)| (n, r * (1.0 - 0.15 * k as f64)))
                .collect();
            run(name, &[ep(1.0, 0.5, 0.6, 2.0, 100.0)], &scaled)
        })
        .collect();
    let path = dir.join("firing_rates.png");
    plot_firing_rates(&runs, &path).unwrap();
    assert!(png_colours(&path, FIRING_RATES_SIZE) > 20);
    let md = markdown_report(&runs, None);
    assert!(
        md.contains("| block13.attention.lif | 0.2800 | 0.2380 | 0.1960 | 0.1540 |"),
        "{md}"
    );
}
