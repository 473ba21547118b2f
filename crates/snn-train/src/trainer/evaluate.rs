//! An evaluation pass: loss, top-1/top-5, multi-clip vote and summed accuracy, confusion,
//! per-layer firing rates, spikes, energy and throughput.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::{FiringMonitor, SnnBackend};
use snn_models::Mode;

use super::batch::BatchSource;
use super::config::LossConfig;
use super::error::TrainError;
use super::record::Evaluation;
use crate::energy::EnergyModel;
use crate::loss::{cross_entropy, mse_rate};
use crate::metrics::{argmax_rows, top_k_hits, ConfusionMatrix};
use crate::net::Net;

/// Evaluates `net` (evaluation mode) on every batch of `source` (its epoch 0).
pub fn evaluate<B: SnnBackend>(
    net: &Net<B>,
    source: &dyn BatchSource,
    loss: LossConfig,
    device: &B::Device,
) -> Result<Evaluation, TrainError> {
    let config = net.config();
    let classes = config.classes();
    let mut confusion = ConfusionMatrix::new(classes);
    let mut monitor = FiringMonitor::new();
    let (mut nonzero, mut cells, mut rows, mut top5_hits) = (0usize, 0usize, 0usize, 0usize);
    let mut loss_sum = 0.0;
    // Per sample: label, clip hits, summed scores.
    let mut per_sample: BTreeMap<usize, (usize, Vec<bool>, Vec<f64>)> = Default::default();
    let start = Instant::now();
    for index in 0..source.batches(0) {
        let mut batch = source.batch(0, index).map_err(|message| TrainError::Data {
            epoch: 0,
            batch: index,
            message,
        })?;
        nonzero += batch.data.iter().filter(|&&v| v != 0.0).count();
        cells += batch.data.len();
        let out = net.forward(batch.take_tensor::<B>(device), Mode::Eval);
        for (name, stats) in &out.layers {
            monitor.record(name, *stats);
        }
        loss_sum += host_scalar(loss_tensor(out.scores.clone(), &batch.labels, loss))
            * batch.labels.len() as f64;
        let scores = host_f32(out.scores);
        let predicted = argmax_rows(&scores, classes);
        confusion.add(&batch.labels, &predicted);
        top5_hits += top_k_hits(&scores, classes, &batch.labels, 5.min(classes))
            .iter()
            .filter(|&&h| h)
            .count();
        for (row, (&label, &sample)) in batch.labels.iter().zip(&batch.samples).enumerate() {
            let entry = per_sample
                .entry(sample)
                .or_insert_with(|| (label, Vec::new(), vec![0.0; classes]));
            entry.1.push(predicted[row] == label);
            for (sum, s) in entry
                .2
                .iter_mut()
                .zip(&scores[row * classes..(row + 1) * classes])
            {
                *sum += *s as f64;
            }
        }
        rows += batch.labels.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    let samples = per_sample.len().max(1) as f64;
    let acc_vote = per_sample
        .values()
        .filter(|(_, hits, _)| crate::metrics::majority_vote_correct(hits))
        .count() as f64
        / samples;
    let acc_summed = per_sample
        .values()
        .filter(|(label, _, sums)| {
            let best = sums
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            best.0 == *label
        })
        .count() as f64
        / samples;
    let input_rate = nonzero as f64 / cells.max(1) as f64;
    let layer_rates: Vec<(String, f64)> = monitor
        .layers()
        .map(|(n, s)| (n.to_owned(), s.rate()))
        .collect();
    let rates: Vec<f64> = layer_rates.iter().map(|(_, r)| *r).collect();
    let energy =
        EnergyModel::default().estimate(&net.summary(), config.steps(), input_rate, &rates);
    Ok(Evaluation {
        loss: loss_sum / rows.max(1) as f64,
        acc: confusion.accuracy(),
        top5: top5_hits as f64 / rows.max(1) as f64,
        acc_vote,
        acc_summed,
        firing_rate: monitor.overall_rate(),
        spikes_per_sample: monitor.spikes_per_sample(),
        layer_rates,
        input_rate,
        energy_uj: energy.total_uj,
        confusion: confusion.counts.clone(),
        samples_per_s: rows as f64 / seconds.max(1e-9),
    })
}

pub(super) fn loss_tensor<B: Backend>(
    scores: Tensor<B, 2>,
    labels: &[usize],
    loss: LossConfig,
) -> Tensor<B, 1> {
    match loss {
        LossConfig::MseRate => mse_rate(scores, labels),
        LossConfig::CrossEntropy { smoothing } => cross_entropy(scores, labels, smoothing),
    }
}

/// The values on the host as f32 (after `convert`, reading them back cannot fail).
pub(super) fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap_or_default()
}

/// A one-element tensor's value on the host (NaN if it is empty, which the guard then stops).
pub(super) fn host_scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    let values: Vec<f64> = t.into_data().convert::<f64>().to_vec().unwrap_or_default();
    values.first().copied().unwrap_or(f64::NAN)
}
