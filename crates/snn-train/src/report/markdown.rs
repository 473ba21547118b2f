//! The Markdown report: a summary table at each run's best epoch and a per-layer firing-rate
//! table.

use std::fmt::Write as _;

use super::history::{layer_names, layer_rate};
use super::RunHistory;

/// `f(v)` for a finite `v`, else `n/a`.
fn fmt_or_na(v: f64, f: impl Fn(f64) -> String) -> String {
    if v.is_finite() {
        f(v)
    } else {
        "n/a".into()
    }
}

/// A fraction as a percentage with two decimals (`0.9235` → `92.35%`).
fn pct(v: f64) -> String {
    fmt_or_na(v, |v| format!("{:.2}%", 100.0 * v))
}

/// Escapes what would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The mean of the finite values, if any.
fn finite_mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The Markdown report of [`write_report`], without image links: see
/// [`markdown_report_with_images`].
pub fn markdown_report(runs: &[RunHistory], extra: Option<&str>) -> String {
    markdown_report_with_images(runs, &[], extra)
}

/// A Markdown report of `runs`:
///
/// - a summary table, one row per run, at the run's best-accuracy epoch: that epoch and its
///   test accuracy, top-5, vote and summed accuracy, firing rate, spikes per sample, energy
///   (µJ per sample) and its ratio to the first run's (formatted `0.850x`; the first run is
///   the baseline), plus the number of epochs and the mean train throughput over all epochs;
/// - a per-layer firing-rate table (rows = layers, columns = runs, best epochs);
/// - the `images` as `![alt](relative path)` links, given as `(alt, path)`;
/// - `extra`, verbatim, at the end (e.g. a comparison with a paper's table).
///
/// Accuracies are percentages with two decimals; non-finite values are written `n/a`, and a
/// run without epochs says so. Never panics.
pub fn markdown_report_with_images(
    runs: &[RunHistory],
    images: &[(&str, &str)],
    extra: Option<&str>,
) -> String {
    let mut md = String::from("# Training report\n\n");
    if runs.is_empty() {
        md.push_str("No runs.\n");
    } else {
        summary_table(&mut md, runs);
        layer_table(&mut md, runs);
    }
    if !images.is_empty() {
        md.push_str("\n## Plots\n\n");
        for (alt, path) in images {
            let _ = writeln!(md, "![{alt}]({path})\n");
        }
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        if !md.ends_with("\n\n") {
            md.push('\n');
        }
        md.push_str(extra.trim_end());
        md.push('\n');
    }
    md
}

/// The summary section of [`markdown_report_with_images`].
fn summary_table(md: &mut String, runs: &[RunHistory]) {
    let baseline = &runs[0];
    let base_energy = baseline
        .best()
        .map(|r| r.test.energy_uj)
        .filter(|e| e.is_finite() && *e > 0.0);
    md.push_str("## Summary\n\n");
    let _ = writeln!(
        md,
        "At each run's best-accuracy epoch (0-based); energy ratio against `{}`.\n",
        cell(&baseline.name).replace('`', "'")
    );
    md.push_str(
        "| Run | Epochs | Best epoch | Test acc | Top-5 | Vote acc | Summed acc | Firing rate \
         | Spikes/sample | Energy (µJ) | Energy ratio | Train samples/s |\n",
    );
    md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for run in runs {
        let name = cell(&run.name);
        let epochs = run.records.len();
        let throughput = finite_mean(run.records.iter().map(|r| r.train_samples_per_s))
            .map_or_else(|| "n/a".into(), |v| format!("{v:.1}"));
        let Some(best) = run.best() else {
            let what = if epochs == 0 {
                "no epochs"
            } else {
                "no finite test accuracy"
            };
            let _ = writeln!(
                md,
                "| {name} | {epochs} | {what} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a \
                 | {throughput} |"
            );
            continue;
        };
        let t = &best.test;
        let ratio = match base_energy {
            Some(base) if t.energy_uj.is_finite() => format!("{:.3}x", t.energy_uj / base),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {name} | {epochs} | {} | {} | {} | {} | {} | {} | {} | {} | {ratio} | {throughput} |",
            best.epoch,
            pct(t.acc),
            pct(t.top5),
            pct(t.acc_vote),
            pct(t.acc_summed),
            fmt_or_na(t.firing_rate, |v| format!("{v:.4}")),
            fmt_or_na(t.spikes_per_sample, |v| format!("{v:.1}")),
            fmt_or_na(t.energy_uj, |v| format!("{v:.3}")),
        );
    }
    md.push_str("\nTrain samples/s: mean over all epochs.\n");
}

/// The per-layer section of [`markdown_report_with_images`].
fn layer_table(md: &mut String, runs: &[RunHistory]) {
    md.push_str("\n## Per-layer firing rates\n\n");
    let layers = layer_names(runs);
    if layers.is_empty() {
        md.push_str("No per-layer rates recorded.\n");
        return;
    }
    md.push_str("Spikes per neuron-step at each run's best-accuracy epoch.\n\n| Layer |");
    for run in runs {
        let _ = write!(md, " {} |", cell(&run.name));
    }
    md.push_str("\n|---|");
    md.push_str(&"--:|".repeat(runs.len()));
    md.push('\n');
    for layer in &layers {
        let _ = write!(md, "| {} |", cell(layer));
        for run in runs {
            let v = layer_rate(run, layer).map_or_else(|| "n/a".into(), |v| format!("{v:.4}"));
            let _ = write!(md, " {v} |");
        }
        md.push('\n');
    }
}
