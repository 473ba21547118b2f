//! The training loop: epochs of forward, loss, backward and optimiser step over a
//! [`BatchSource`], evaluation after every epoch, checkpoints, a JSON-lines log and exact resume.
//!
//! An output folder holds:
//! - `last/`: the checkpoint after the newest completed epoch: the model (official names),
//!   `config.json`, `meta.json`, `optimizer.safetensors` and `trainer.json` (epoch, scheduler,
//!   best accuracy, history, run config);
//! - `best/`: the checkpoint with the best test accuracy so far;
//! - `log.jsonl`: one [`EpochRecord`] per line, rewritten from the history on resume, so it
//!   never holds an epoch the checkpoint does not.
//!
//! Resume is exact: data order and training windows are functions of (seed, epoch, sample),
//! the backend's generator (dropout) is reseeded from (seed, epoch) at the start of every epoch,
//! and the optimiser and scheduler state are restored, so a run interrupted after any epoch and
//! resumed gives the weights of an uninterrupted run (tested bit for bit on the CPU).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use snn_core::{ConvPrecision, ConvPrecisionScope, FiringMonitor, SnnBackend};
use snn_models::Mode;
use thiserror::Error;

use crate::checkpoint::{load_net, read_json, save_net, write_json, CheckpointError};
use crate::energy::EnergyModel;
use crate::guard::{LossGuard, NonFiniteLoss};
use crate::loss::{cross_entropy, mse_rate};
use crate::metrics::{argmax_rows, top_k_hits, ConfusionMatrix};
use crate::net::{Net, NetConfig};
use crate::optim::{Optim, OptimError, OptimizerConfig};
use crate::schedule::{CosineAnnealing, ReduceLrOnPlateau};

/// A batch ready for the network: time-first data `[T, B, C, H, W]` (`T = 1` for images),
/// labels, and which sample each row is (several test clips of one sample share it).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledBatch {
    /// `[T, B, C, H, W]`.
    pub shape: [usize; 5],
    /// Row-major values.
    pub data: Vec<f32>,
    /// Class of each row.
    pub labels: Vec<usize>,
    /// Sample index of each row.
    pub samples: Vec<usize>,
}

impl LabelledBatch {
    /// An event batch from the data crate whose rows are the given samples.
    pub fn from_frames(batch: snn_data::loader::Batch, samples: Vec<usize>) -> Self {
        Self {
            shape: [batch.steps, batch.batch, 2, batch.height, batch.width],
            data: batch.data,
            labels: batch.labels,
            samples,
        }
    }

    /// Moves the values into a tensor (the batch keeps its labels and sample ids).
    fn take_tensor<B: Backend>(&mut self, device: &B::Device) -> Tensor<B, 5> {
        let data = std::mem::take(&mut self.data);
        Tensor::from_data(TensorData::new(data, self.shape), device)
    }
}

/// Where batches come from. Both methods must be deterministic functions of their arguments
/// (shuffling and random windows seeded by epoch), which is what makes resume exact.
pub trait BatchSource: Sync {
    /// Batches in `epoch`.
    fn batches(&self, epoch: usize) -> usize;
    /// Batch `index` of `epoch`.
    fn batch(&self, epoch: usize, index: usize) -> Result<LabelledBatch, String>;
}

/// The loss function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LossConfig {
    /// MSE between output firing rates and one-hot targets (official event protocol).
    MseRate,
    /// Cross-entropy of logits with label smoothing (Res-SNN).
    CrossEntropy {
        /// Label smoothing (0 for none; the official Res-SNN uses 0.1).
        smoothing: f64,
    },
}

/// The learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// The same rate throughout.
    Constant,
    /// `ReduceLROnPlateau` stepped on the mean train loss of each epoch (official event recipe:
    /// factor 0.1, patience 5).
    Plateau {
        /// Multiplier on a plateau.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
    },
    /// Cosine annealing over `t_max` epochs (official Res-SNN).
    Cosine {
        /// Half-period in epochs.
        t_max: usize,
        /// Final rate.
        eta_min: f64,
    },
}

/// Everything about a run except the network and the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to train in total (a resumed run may raise it to train further).
    pub epochs: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Schedule.
    pub schedule: ScheduleConfig,
    /// Loss.
    pub loss: LossConfig,
    /// Clip the global gradient norm to this.
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
    /// Seed of weight initialisation and of the backend generator (dropout).
    pub seed: u64,
    /// Precision of the convolutions: `full`, or `bf16` for mixed precision (bf16
    /// multiplications in the convolutions, everything else in f32; [`snn_core::conv::precision`]).
    #[serde(default)]
    pub precision: ConvPrecision,
}

impl TrainConfig {
    /// The official MA-SNN event recipe: Adam, lr 1e-4, rate MSE, `ReduceLROnPlateau`
    /// (factor 0.1, patience 5) on the train loss.
    pub fn ma_snn_event(epochs: usize) -> Self {
        Self {
            epochs,
            lr: 1e-4,
            optimizer: OptimizerConfig::adam(),
            schedule: ScheduleConfig::Plateau {
                factor: 0.1,
                patience: 5,
            },
            loss: LossConfig::MseRate,
            max_grad_norm: None,
            seed: 0,
            precision: ConvPrecision::Full,
        }
    }

    /// The same run apart from its length.
    fn same_run(&self, other: &TrainConfig) -> bool {
        TrainConfig {
            epochs: 0,
            ..self.clone()
        } == TrainConfig {
            epochs: 0,
            ..other.clone()
        }
    }
}

/// Scheduler state (serialised into `trainer.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Scheduler {
    Constant { lr: f64 },
    Plateau(ReduceLrOnPlateau),
    Cosine(CosineAnnealing),
}

impl Scheduler {
    fn new(config: &TrainConfig) -> Self {
        match config.schedule {
            ScheduleConfig::Constant => Scheduler::Constant { lr: config.lr },
            ScheduleConfig::Plateau { factor, patience } => Scheduler::Plateau(
                ReduceLrOnPlateau {
                    factor,
                    ..ReduceLrOnPlateau::new(config.lr)
                }
                .with_patience(patience),
            ),
            ScheduleConfig::Cosine { t_max, eta_min } => Scheduler::Cosine(CosineAnnealing {
                base_lr: config.lr,
                t_max,
                eta_min,
            }),
        }
    }

    fn lr(&self, epoch: usize) -> f64 {
        match self {
            Scheduler::Constant { lr } => *lr,
            Scheduler::Plateau(p) => p.lr,
            Scheduler::Cosine(c) => c.lr_at(epoch),
        }
    }

    fn end_epoch(&mut self, train_loss: f64) {
        if let Scheduler::Plateau(p) = self {
            p.step(train_loss);
        }
    }
}

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

/// Everything `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    config: TrainConfig,
    completed_epochs: usize,
    scheduler: Scheduler,
    best_acc: Option<f64>,
    best_epoch: Option<usize>,
    history: Vec<EpochRecord>,
}

/// Training errors.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    #[error(transparent)]
    NonFiniteLoss(#[from] NonFiniteLoss),
    /// A gradient became NaN or infinite.
    #[error("epoch {epoch}, batch {batch}: {source}{}", last_good.as_ref().map(|p| format!(" (last good checkpoint: {})", p.display())).unwrap_or_default())]
    NonFiniteGradient {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based batch.
        batch: usize,
        /// Which gradients.
        source: OptimError,
        /// The newest checkpoint.
        last_good: Option<PathBuf>,
    },
    /// A batch could not be loaded.
    #[error("epoch {epoch}, batch {batch}: {message}")]
    Data {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based batch.
        batch: usize,
        /// What went wrong.
        message: String,
    },
    /// Checkpoints.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Optimiser state.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// A resume that would not continue the same run.
    #[error("{path}: cannot resume: {message}")]
    Resume {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The log file.
    #[error("{path}: {source}")]
    Log {
        /// The log.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
}

/// Progress callbacks (progress bars, prints); every method has an empty default.
pub trait Observer {
    /// Before the first epoch of this invocation (`first` > 0 after a resume).
    fn start(&mut self, _first: usize, _epochs: usize) {}
    /// After each training batch.
    fn batch(&mut self, _epoch: usize, _index: usize, _batches: usize, _loss: f64) {}
    /// After each epoch (its checkpoint is written).
    fn epoch(&mut self, _record: &EpochRecord) {}
}

/// An observer that does nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// What [`fit`] returns.
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
/// the rule [`fit`] uses for its `best/` checkpoint.
pub fn best_epoch(records: &[EpochRecord]) -> Option<&EpochRecord> {
    records.iter().filter(|r| r.test.acc_vote.is_finite()).fold(
        None,
        |best: Option<&EpochRecord>, r| match best {
            Some(b) if b.test.acc_vote >= r.test.acc_vote => Some(b),
            _ => Some(r),
        },
    )
}

/// Seed of the backend generator for `epoch`: every epoch starts from a state that depends only
/// on (seed, epoch), so a resumed run draws the same dropout masks.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

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
    let mut per_sample: std::collections::BTreeMap<usize, (usize, Vec<bool>, Vec<f64>)> =
        Default::default();
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

fn loss_tensor<B: Backend>(
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
fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap_or_default()
}

/// A one-element tensor's value on the host (NaN if it is empty, which the guard then stops).
fn host_scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    let values: Vec<f64> = t.into_data().convert::<f64>().to_vec().unwrap_or_default();
    values.first().copied().unwrap_or(f64::NAN)
}

/// Options of one [`fit`] invocation.
pub struct FitOptions<'a> {
    /// Output folder (`last/`, `best/`, `log.jsonl`).
    pub out: &'a Path,
    /// Continue from `out/last` when it exists.
    pub resume: bool,
    /// Stop after this many epochs of this invocation (the run stays resumable); `None` runs
    /// to `config.epochs`.
    pub max_epochs_now: Option<usize>,
    /// Extra fields for every checkpoint's `meta.json` (e.g. how the data was framed).
    pub meta: serde_json::Value,
}

/// Trains a network of `net_config` on `train`, evaluating on `test` after every epoch; see
/// the module docs for the output folder and resume.
pub fn fit<B>(
    net_config: &NetConfig,
    config: &TrainConfig,
    train: &dyn BatchSource,
    test: &dyn BatchSource,
    options: &FitOptions,
    device: &B::Device,
    observer: &mut dyn Observer,
) -> Result<RunSummary, TrainError>
where
    B: AutodiffBackend + SnnBackend,
    B::InnerBackend: SnnBackend,
{
    // The forward passes of this call run on this thread, in the run's precision.
    let _precision = ConvPrecisionScope::new(config.precision);
    let out = options.out;
    std::fs::create_dir_all(out).map_err(|source| CheckpointError::Io {
        path: out.to_owned(),
        source,
    })?;
    let last = out.join("last");
    let mut optim: Optim<B> =
        Optim::new(config.optimizer.clone()).with_max_grad_norm(config.max_grad_norm);
    let (mut model, mut state) = if options.resume && last.join("trainer.json").exists() {
        let state: TrainerState = read_json(&last.join("trainer.json"))?;
        if !state.config.same_run(config) {
            return Err(TrainError::Resume {
                path: last.clone(),
                message: format!(
                    "the checkpoint was trained with {:?}, this run asks for {config:?}",
                    state.config
                ),
            });
        }
        let model: Net<B> = load_net(&last, DType::F32, device)?;
        if &model.config() != net_config {
            return Err(TrainError::Resume {
                path: last.clone(),
                message: "the checkpoint's network config differs from this run's".into(),
            });
        }
        optim.load(&last.join("optimizer.safetensors"), device)?;
        let state = TrainerState {
            config: config.clone(),
            ..state
        };
        (model, state)
    } else {
        B::seed(device, config.seed);
        let model = net_config
            .init::<B>(device)
            .map_err(CheckpointError::from)?;
        let state = TrainerState {
            config: config.clone(),
            completed_epochs: 0,
            scheduler: Scheduler::new(config),
            best_acc: None,
            best_epoch: None,
            history: Vec::new(),
        };
        (model, state)
    };
    let log_path = out.join("log.jsonl");
    let log_err = |source| TrainError::Log {
        path: log_path.clone(),
        source,
    };
    // The log holds exactly the checkpoint's history.
    let mut log = std::fs::File::create(&log_path).map_err(log_err)?;
    for record in &state.history {
        writeln!(log, "{}", serde_json::to_string(record).unwrap_or_default()).map_err(log_err)?;
    }
    let mut guard = LossGuard::new();
    if state.completed_epochs > 0 {
        guard.checkpoint_written(&last);
    }
    let params = model.summary().params;
    let first = state.completed_epochs;
    let end = match options.max_epochs_now {
        Some(n) => config.epochs.min(first + n),
        None => config.epochs,
    };
    observer.start(first, config.epochs);
    for epoch in first..end {
        let started = Instant::now();
        B::seed(device, epoch_seed(config.seed, epoch));
        let lr = state.scheduler.lr(epoch);
        let batches = train.batches(epoch);
        let (mut loss_sum, mut grad_norm_sum, mut correct, mut seen) = (0.0, 0.0, 0usize, 0usize);
        let mut train_seconds = 0.0;
        for index in 0..batches {
            let mut batch = train
                .batch(epoch, index)
                .map_err(|message| TrainError::Data {
                    epoch,
                    batch: index,
                    message,
                })?;
            let step_start = Instant::now();
            let out = model.forward(batch.take_tensor::<B>(device), Mode::Train);
            let classes = out.scores.dims()[1];
            let scores = host_f32(out.scores.clone());
            let loss = loss_tensor(out.scores, &batch.labels, config.loss);
            let value = host_scalar(loss.clone());
            guard.check(epoch, index, value)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let (next, info) =
                optim
                    .step(lr, model, grads)
                    .map_err(|source| TrainError::NonFiniteGradient {
                        epoch,
                        batch: index,
                        source,
                        last_good: state.completed_epochs.gt(&0).then(|| last.clone()),
                    })?;
            model = next;
            train_seconds += step_start.elapsed().as_secs_f64();
            loss_sum += value;
            grad_norm_sum += info.grad_norm;
            correct += argmax_rows(&scores, classes)
                .iter()
                .zip(&batch.labels)
                .filter(|(p, l)| p == l)
                .count();
            seen += batch.labels.len();
            observer.batch(epoch, index, batches, value);
        }
        let n = batches.max(1) as f64;
        let train_loss = loss_sum / n;
        let evaluation = evaluate(&model.valid(), test, config.loss, device)?;
        state.scheduler.end_epoch(train_loss);
        let record = EpochRecord {
            epoch,
            lr,
            train_loss,
            train_acc: correct as f64 / seen.max(1) as f64,
            grad_norm: grad_norm_sum / n,
            train_samples_per_s: seen as f64 / train_seconds.max(1e-9),
            test: evaluation,
            seconds: started.elapsed().as_secs_f64(),
        };
        // Model selection as the official code: the best test accuracy, by the multi-clip vote
        // (the plain accuracy when each sample has one clip).
        let improved = state.best_acc.is_none_or(|b| record.test.acc_vote > b);
        if improved {
            state.best_acc = Some(record.test.acc_vote);
            state.best_epoch = Some(epoch);
        }
        state.completed_epochs = epoch + 1;
        state.history.push(record.clone());
        let mut meta = options.meta.clone();
        if !meta.is_object() {
            meta = serde_json::json!({});
        }
        meta["epoch"] = serde_json::json!(epoch);
        meta["test_acc"] = serde_json::json!(record.test.acc);
        meta["test_acc_vote"] = serde_json::json!(record.test.acc_vote);
        meta["train_loss"] = serde_json::json!(train_loss);
        meta["firing_rate"] = serde_json::json!(record.test.firing_rate);
        save_net(&last, &model, &meta, |dir| {
            optim
                .state_dict()
                .write(&dir.join("optimizer.safetensors"))?;
            write_json(&dir.join("trainer.json"), &state)
        })?;
        guard.checkpoint_written(&last);
        if improved {
            save_net(&out.join("best"), &model, &meta, |_| Ok(()))?;
        }
        writeln!(
            log,
            "{}",
            serde_json::to_string(&record).unwrap_or_default()
        )
        .map_err(log_err)?;
        observer.epoch(&record);
    }
    Ok(RunSummary {
        history: state.history,
        best_acc: state.best_acc.unwrap_or(0.0),
        best_epoch: state.best_epoch.unwrap_or(0),
        params,
    })
}
