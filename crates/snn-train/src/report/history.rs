//! Runs: a name and its epoch records, read from `log.jsonl` (non-finite values, stored as
//! `null`, come back as NaN), and what the plots and tables ask of a run's best epoch.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::ReportError;
use crate::trainer::{best_epoch, EpochRecord};

/// One training run: a name (used in legends and tables) and its epoch records.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    /// Display name, e.g. `vanilla` or `attention`.
    pub name: String,
    /// One record per epoch, in order.
    pub records: Vec<EpochRecord>,
}

/// Stand-in for JSON `null` while parsing a log: `serde_json` writes non-finite floats as
/// `null`, which does not deserialise into `f64`; they are read back as NaN.
const NULL_SENTINEL: f64 = f64::MAX;

impl RunHistory {
    /// A run from records already in memory (e.g. what [`crate::trainer::fit`] returned).
    pub fn new(name: impl Into<String>, records: Vec<EpochRecord>) -> Self {
        Self {
            name: name.into(),
            records,
        }
    }

    /// Reads a run's `log.jsonl` (one [`EpochRecord`] per line; blank lines are skipped).
    /// Non-finite values, which the log stores as `null`, come back as NaN.
    ///
    /// # Errors
    /// [`ReportError::Io`] when the file cannot be read, [`ReportError::Parse`] (with the
    /// 1-based line number) when a line is not a record.
    pub fn from_log(name: impl Into<String>, path: &Path) -> Result<Self, ReportError> {
        let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parse_err = |source| ReportError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            };
            let mut value: serde_json::Value = serde_json::from_str(line).map_err(parse_err)?;
            let had_null = replace_nulls(&mut value);
            let mut record: EpochRecord = serde_json::from_value(value).map_err(parse_err)?;
            if had_null {
                restore_nans(&mut record);
            }
            records.push(record);
        }
        Ok(Self::new(name, records))
    }

    /// The best epoch as [`fit`](crate::trainer::fit) chooses its `best/` checkpoint: see
    /// [`best_epoch`].
    pub fn best(&self) -> Option<&EpochRecord> {
        best_epoch(&self.records)
    }
}

/// Replaces every JSON `null` with [`NULL_SENTINEL`]; returns whether there was one.
fn replace_nulls(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => {
            *value = serde_json::Value::from(NULL_SENTINEL);
            true
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| replace_nulls(v) | acc),
        serde_json::Value::Object(map) => map
            .values_mut()
            .fold(false, |acc, v| replace_nulls(v) | acc),
        _ => false,
    }
}

/// Turns [`NULL_SENTINEL`] back into NaN in every float field.
fn restore_nans(r: &mut EpochRecord) {
    let t = &mut r.test;
    let fields = [
        &mut r.lr,
        &mut r.train_loss,
        &mut r.train_acc,
        &mut r.grad_norm,
        &mut r.train_samples_per_s,
        &mut r.seconds,
        &mut t.loss,
        &mut t.acc,
        &mut t.top5,
        &mut t.acc_vote,
        &mut t.acc_summed,
        &mut t.firing_rate,
        &mut t.spikes_per_sample,
        &mut t.input_rate,
        &mut t.energy_uj,
        &mut t.samples_per_s,
    ];
    for f in fields
        .into_iter()
        .chain(t.layer_rates.iter_mut().map(|(_, v)| v))
    {
        if *f == NULL_SENTINEL {
            *f = f64::NAN;
        }
    }
}

/// The layer names of every run's best epoch, in order of first appearance.
pub(super) fn layer_names(runs: &[RunHistory]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for run in runs {
        for (name, _) in run.best().map_or(&[][..], |r| &r.test.layer_rates[..]) {
            if seen.insert(name.as_str()) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// A run's rate for `layer` at its best epoch, when present and finite.
pub(super) fn layer_rate(run: &RunHistory, layer: &str) -> Option<f64> {
    run.best()?
        .test
        .layer_rates
        .iter()
        .find(|(n, _)| n == layer)
        .map(|&(_, v)| v)
        .filter(|v| v.is_finite())
}
