//! Test samples shared by `eval` and `export`: framed from their first event (the official
//! single-clip test), and served as a batch source to `snn_train::trainer::evaluate`.

use anyhow::{Context, Result};
use snn_data::frame::{Frames, WindowFraming};
use snn_data::gesture::{sample_events, GestureDataset, Split};
use snn_data::loader::Batch;
use snn_train::trainer::{BatchSource, LabelledBatch};

/// The samples of `split` in order (trial, then CSV row), each framed from its first event, with
/// their classes; at most `limit` of them.
pub fn first_event_frames(
    data: &GestureDataset,
    split: Split,
    framing: &WindowFraming,
    limit: Option<usize>,
) -> Result<Vec<(Frames, usize)>> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut samples = Vec::new();
    for trial in data.trials(split) {
        if samples.len() >= limit {
            break;
        }
        let events = data
            .read_events(trial)
            .with_context(|| format!("reading {}", trial.name))?;
        for row in trial.rows.iter().take(limit - samples.len()) {
            let sample = sample_events(&events, row);
            let start = sample.first().map_or(row.start, |e| e.t);
            samples.push((framing.frames(&sample, start), row.class));
        }
    }
    Ok(samples)
}

/// Framed samples held in memory as a [`BatchSource`] (one clip per sample, in order), for
/// `snn_train::trainer::evaluate`.
pub struct FramedSamples<'a> {
    /// The samples and their classes.
    pub samples: &'a [(Frames, usize)],
    /// Rows per batch.
    pub batch: usize,
}

impl BatchSource for FramedSamples<'_> {
    fn batches(&self, _epoch: usize) -> usize {
        self.samples.len().div_ceil(self.batch.max(1))
    }

    fn batch(&self, _epoch: usize, index: usize) -> Result<LabelledBatch, String> {
        let size = self.batch.max(1);
        let first = index * size;
        let chunk = self
            .samples
            .get(first..(first + size).min(self.samples.len()))
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("batch {index} of {}", self.batches(0)))?;
        Ok(LabelledBatch::from_frames(
            Batch::stack(chunk),
            (first..first + chunk.len()).collect(),
        ))
    }
}
