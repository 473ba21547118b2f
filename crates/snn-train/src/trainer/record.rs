//! What a run measures: one record per epoch, an evaluation pass, the run's summary, and the
//! rule that picks the best epoch.

use serde::{Deserialize, Serialize};

/// What one epoch measured (one line of `log.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean train loss.
    pub train_loss: f64,
    /// Train accuracy (training mode, on the training windows).
    pub train_acc: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Test evaluation.
    pub test: Evaluation,
    /// Training throughput (forward, backward, optimiser step).
    pub train_samples_per_s: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
}

/// What an evaluation pass measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy over every row (every clip).
    pub acc: f64,
    /// Top-5 accuracy over every row.
    pub top5: f64,
    /// Per sample: correct when more than half of its clips are (the official multi-clip test).
    pub acc_vote: f64,
    /// Per sample: the argmax of its clips' summed scores.
    pub acc_summed: f64,
    /// Overall firing rate (spikes / neuron-steps).
    pub firing_rate: f64,
    /// Spikes per sample (per clip).
    pub spikes_per_sample: f64,
    /// Per-layer firing rates, in layer order.
    pub layer_rates: Vec<(String, f64)>,
    /// Fraction of non-zero input cells.
    pub input_rate: f64,
    /// The paper's energy estimate per sample, in microjoules.
    pub energy_uj: f64,
    /// Counts by true class (rows) and predicted class (columns), over every row.
    pub confusion: Vec<Vec<u64>>,
    /// Inference throughput.
    pub samples_per_s: f64,
}

/// What [`fit`](super::fit) returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// Every epoch so far (including those before a resume).
    pub history: Vec<EpochRecord>,
    /// Best test accuracy (multi-clip vote).
    pub best_acc: f64,
    /// Epoch of the best test accuracy.
    pub best_epoch: usize,
    /// Parameters of the network.
    pub params: usize,
}

/// The best epoch: the highest finite test accuracy by the multi-clip vote (the plain accuracy
/// when each sample has one clip), the earliest on a tie; `None` when no epoch has one. This is
/// the rule [`fit`](super::fit) uses for its `best/` checkpoint.
pub fn best_epoch(records: &[EpochRecord]) -> Option<&EpochRecord> {
    records.iter().filter(|r| r.test.acc_vote.is_finite()).fold(
        None,
        |best: Option<&EpochRecord>, r| match best {
            Some(b) if b.test.acc_vote >= r.test.acc_vote => Some(b),
            _ => Some(r),
        },
    )
}
