//! Evaluation shared by `demo`, `eval` and `export`: test samples framed from their first event
//! (the official single-clip test) and eval-mode passes that collect the confusion matrix, the
//! firing statistics and the input's non-zero ratio (for the energy estimate).

use anyhow::{Context, Result};
use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use snn_core::FiringMonitor;
use snn_data::frame::{Frames, WindowFraming};
use snn_data::gesture::{sample_events, GestureDataset, Split};
use snn_data::loader::Batch;
use snn_models::{EventNet, Mode};
use snn_train::metrics::{argmax_rows, ConfusionMatrix};

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

/// A batch as a `[T, B, 2, H, W]` tensor on backend `Bk` and its labels.
pub fn to_tensor<Bk: Backend>(batch: Batch) -> (Tensor<Bk, 5>, Vec<usize>) {
    let shape = [batch.steps, batch.batch, 2, batch.height, batch.width];
    let x = Tensor::from_data(TensorData::new(batch.data, shape), &Default::default());
    (x, batch.labels)
}

/// What one evaluation pass over a test set measured.
pub struct Evaluation {
    /// Counts by true and predicted class.
    pub confusion: ConfusionMatrix,
    /// Per-layer firing statistics.
    pub monitor: FiringMonitor,
    /// Fraction of non-zero input cells (the first layer's MAC rate).
    pub input_rate: f64,
}

/// Runs `net` in evaluation mode over `samples`, `batch` at a time.
pub fn evaluate(
    net: &EventNet<Flex>,
    samples: &[(Frames, usize)],
    batch: usize,
) -> Result<Evaluation> {
    let mut monitor = FiringMonitor::new();
    let mut confusion = ConfusionMatrix::new(net.config().classes);
    let (mut nonzero, mut cells) = (0usize, 0usize);
    for chunk in samples.chunks(batch.max(1)) {
        let batch = Batch::stack(chunk);
        nonzero += batch.data.iter().filter(|&&v| v != 0.0).count();
        cells += batch.data.len();
        let (x, labels) = to_tensor::<Flex>(batch);
        let out = net.forward(x, Mode::Eval);
        for (name, stats) in &out.layers {
            monitor.record(name, *stats);
        }
        let classes = out.rates.dims()[1];
        let scores: Vec<f32> = out.rates.into_data().to_vec()?;
        confusion.add(&labels, &argmax_rows(&scores, classes));
    }
    Ok(Evaluation {
        confusion,
        monitor,
        input_rate: nonzero as f64 / cells.max(1) as f64,
    })
}
