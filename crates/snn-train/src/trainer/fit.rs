//! The loop itself: set up or resume, then for each epoch train, evaluate, checkpoint and log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::DType;
use snn_core::{ConvPrecisionScope, SnnBackend};
use snn_models::Mode;

use super::batch::BatchSource;
use super::config::TrainConfig;
use super::error::TrainError;
use super::evaluate::{evaluate, host_f32, host_scalar, loss_tensor};
use super::observer::Observer;
use super::record::{EpochRecord, Evaluation, RunSummary};
use super::state::{Scheduler, TrainerState};
use crate::checkpoint::{load_net, read_json, save_net, write_json, CheckpointError};
use crate::guard::LossGuard;
use crate::metrics::argmax_rows;
use crate::net::{Net, NetConfig};
use crate::optim::Optim;

/// Seed of the backend generator for `epoch`: every epoch starts from a state that depends only
/// on (seed, epoch), so a resumed run draws the same dropout masks.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
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
    let (mut model, mut run) = Run::<B>::set_up(net_config, config, options, device)?;
    let params = model.summary().params;
    let first = run.state.completed_epochs;
    let end = match options.max_epochs_now {
        Some(n) => config.epochs.min(first + n),
        None => config.epochs,
    };
    observer.start(first, config.epochs);
    for epoch in first..end {
        let started = Instant::now();
        B::seed(device, epoch_seed(config.seed, epoch));
        let lr = run.state.scheduler.lr(epoch);
        let (trained, totals) = run.train_epoch(model, train, epoch, lr, observer)?;
        model = trained;
        let evaluation = evaluate(&model.valid(), test, config.loss, device)?;
        let record = totals.record(epoch, lr, evaluation, started);
        run.end_epoch(&model, record, observer)?;
    }
    Ok(RunSummary {
        history: run.state.history,
        best_acc: run.state.best_acc.unwrap_or(0.0),
        best_epoch: run.state.best_epoch.unwrap_or(0),
        params,
    })
}

/// A run in progress: its settings, optimiser, loss guard, resumable state and log.
struct Run<'a, B: AutodiffBackend> {
    config: &'a TrainConfig,
    options: &'a FitOptions<'a>,
    device: &'a B::Device,
    /// `out/last`.
    last: PathBuf,
    optim: Optim<B>,
    guard: LossGuard,
    state: TrainerState,
    log: EpochLog,
}

/// What the training batches of one epoch summed up.
struct EpochTotals {
    batches: usize,
    loss_sum: f64,
    grad_norm_sum: f64,
    correct: usize,
    seen: usize,
    train_seconds: f64,
}

impl EpochTotals {
    /// Mean train loss.
    fn train_loss(&self) -> f64 {
        self.loss_sum / self.batches.max(1) as f64
    }

    /// The epoch's record, once `test` is evaluated (`started`: the epoch's start).
    fn record(&self, epoch: usize, lr: f64, test: Evaluation, started: Instant) -> EpochRecord {
        let n = self.batches.max(1) as f64;
        EpochRecord {
            epoch,
            lr,
            train_loss: self.train_loss(),
            train_acc: self.correct as f64 / self.seen.max(1) as f64,
            grad_norm: self.grad_norm_sum / n,
            train_samples_per_s: self.seen as f64 / self.train_seconds.max(1e-9),
            test,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

impl<'a, B> Run<'a, B>
where
    B: AutodiffBackend + SnnBackend,
    B::InnerBackend: SnnBackend,
{
    /// Creates the output folder, then resumes from `out/last` (when asked and present) or
    /// starts a fresh network; rewrites the log from the history.
    fn set_up(
        net_config: &NetConfig,
        config: &'a TrainConfig,
        options: &'a FitOptions<'a>,
        device: &'a B::Device,
    ) -> Result<(Net<B>, Self), TrainError> {
        let out = options.out;
        std::fs::create_dir_all(out).map_err(|source| CheckpointError::Io {
            path: out.to_owned(),
            source,
        })?;
        let last = out.join("last");
        let mut optim: Optim<B> =
            Optim::new(config.optimizer.clone()).with_max_grad_norm(config.max_grad_norm);
        let (model, state) = if options.resume && last.join("trainer.json").exists() {
            resume(&last, net_config, config, &mut optim, device)?
        } else {
            start(net_config, config, device)?
        };
        let log = EpochLog::rewrite(out.join("log.jsonl"), &state.history)?;
        let mut guard = LossGuard::new();
        if state.completed_epochs > 0 {
            guard.checkpoint_written(&last);
        }
        let run = Self {
            config,
            options,
            device,
            last,
            optim,
            guard,
            state,
            log,
        };
        Ok((model, run))
    }

    /// One pass over the training batches of `epoch`: forward, loss (checked by the guard),
    /// backward, optimiser step.
    fn train_epoch(
        &mut self,
        mut model: Net<B>,
        train: &dyn BatchSource,
        epoch: usize,
        lr: f64,
        observer: &mut dyn Observer,
    ) -> Result<(Net<B>, EpochTotals), TrainError> {
        let batches = train.batches(epoch);
        let mut totals = EpochTotals {
            batches,
            loss_sum: 0.0,
            grad_norm_sum: 0.0,
            correct: 0,
            seen: 0,
            train_seconds: 0.0,
        };
        for index in 0..batches {
            let mut batch = train
                .batch(epoch, index)
                .map_err(|message| TrainError::Data {
                    epoch,
                    batch: index,
                    message,
                })?;
            let step_start = Instant::now();
            let out = model.forward(batch.take_tensor::<B>(self.device), Mode::Train);
            let classes = out.scores.dims()[1];
            let scores = host_f32(out.scores.clone());
            let loss = loss_tensor(out.scores, &batch.labels, self.config.loss);
            let value = host_scalar(loss.clone());
            self.guard.check(epoch, index, value)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let last_good = self
                .state
                .completed_epochs
                .gt(&0)
                .then(|| self.last.clone());
            let (next, info) = self.optim.step(lr, model, grads).map_err(|source| {
                TrainError::NonFiniteGradient {
                    epoch,
                    batch: index,
                    source,
                    last_good,
                }
            })?;
            model = next;
            totals.train_seconds += step_start.elapsed().as_secs_f64();
            totals.loss_sum += value;
            totals.grad_norm_sum += info.grad_norm;
            totals.correct += argmax_rows(&scores, classes)
                .iter()
                .zip(&batch.labels)
                .filter(|(p, l)| p == l)
                .count();
            totals.seen += batch.labels.len();
            observer.batch(epoch, index, batches, value);
        }
        Ok((model, totals))
    }

    /// After an epoch's evaluation: steps the scheduler, keeps the best accuracy, writes
    /// `last/` (and `best/` when it improved), appends the record to the log.
    fn end_epoch(
        &mut self,
        model: &Net<B>,
        record: EpochRecord,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        let epoch = record.epoch;
        let state = &mut self.state;
        state.scheduler.end_epoch(record.train_loss);
        // Model selection as the official code: the best test accuracy, by the multi-clip vote
        // (the plain accuracy when each sample has one clip).
        let improved = state.best_acc.is_none_or(|b| record.test.acc_vote > b);
        if improved {
            state.best_acc = Some(record.test.acc_vote);
            state.best_epoch = Some(epoch);
        }
        state.completed_epochs = epoch + 1;
        state.history.push(record.clone());
        let meta = checkpoint_meta(&self.options.meta, &record);
        let optim = &self.optim;
        save_net(&self.last, model, &meta, |dir| {
            optim
                .state_dict()
                .write(&dir.join("optimizer.safetensors"))?;
            write_json(&dir.join("trainer.json"), &*state)
        })?;
        self.guard.checkpoint_written(&self.last);
        if improved {
            save_net(&self.options.out.join("best"), model, &meta, |_| Ok(()))?;
        }
        self.log.append(&record)?;
        observer.epoch(&record);
        Ok(())
    }
}

/// Continues the run in `last`: checks that it is the same run and network, loads the model
/// and the optimiser state.
fn resume<B>(
    last: &Path,
    net_config: &NetConfig,
    config: &TrainConfig,
    optim: &mut Optim<B>,
    device: &B::Device,
) -> Result<(Net<B>, TrainerState), TrainError>
where
    B: AutodiffBackend + SnnBackend,
{
    let state: TrainerState = read_json(&last.join("trainer.json"))?;
    if !state.config.same_run(config) {
        return Err(TrainError::Resume {
            path: last.to_owned(),
            message: format!(
                "the checkpoint was trained with {:?}, this run asks for {config:?}",
                state.config
            ),
        });
    }
    let model: Net<B> = load_net(last, DType::F32, device)?;
    if &model.config() != net_config {
        return Err(TrainError::Resume {
            path: last.to_owned(),
            message: "the checkpoint's network config differs from this run's".into(),
        });
    }
    optim.load(&last.join("optimizer.safetensors"), device)?;
    let state = TrainerState {
        config: config.clone(),
        ..state
    };
    Ok((model, state))
}

/// A fresh network (weights from the run's seed) and an empty history.
fn start<B>(
    net_config: &NetConfig,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<(Net<B>, TrainerState), TrainError>
where
    B: AutodiffBackend + SnnBackend,
{
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
    Ok((model, state))
}

/// A checkpoint's `meta.json`: the caller's fields plus the epoch's headline numbers.
fn checkpoint_meta(extra: &serde_json::Value, record: &EpochRecord) -> serde_json::Value {
    let mut meta = extra.clone();
    if !meta.is_object() {
        meta = serde_json::json!({});
    }
    meta["epoch"] = serde_json::json!(record.epoch);
    meta["test_acc"] = serde_json::json!(record.test.acc);
    meta["test_acc_vote"] = serde_json::json!(record.test.acc_vote);
    meta["train_loss"] = serde_json::json!(record.train_loss);
    meta["firing_rate"] = serde_json::json!(record.test.firing_rate);
    meta
}

/// `log.jsonl`: one [`EpochRecord`] per line, holding exactly the checkpoint's history.
struct EpochLog {
    path: PathBuf,
    file: std::fs::File,
}

impl EpochLog {
    /// Creates the log anew with the records of `history`.
    fn rewrite(path: PathBuf, history: &[EpochRecord]) -> Result<Self, TrainError> {
        let file = std::fs::File::create(&path).map_err(|source| TrainError::Log {
            path: path.clone(),
            source,
        })?;
        let mut log = Self { path, file };
        for record in history {
            log.append(record)?;
        }
        Ok(log)
    }

    /// Appends one record.
    fn append(&mut self, record: &EpochRecord) -> Result<(), TrainError> {
        writeln!(
            self.file,
            "{}",
            serde_json::to_string(record).unwrap_or_default()
        )
        .map_err(|source| TrainError::Log {
            path: self.path.clone(),
            source,
        })
    }
}
