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

//!
//! One concept per file: the run's settings (`config.rs`: [`TrainConfig`], [`LossConfig`],
//! [`ScheduleConfig`]), batches and their sources (`batch.rs`), what a run measures
//! (`record.rs`), errors, progress callbacks, the evaluation pass ([`evaluate`]), the loop
//! ([`fit`], `fit.rs`) and the resumable state in `trainer.json` (`state.rs`).

mod batch;
mod config;
mod error;
mod evaluate;
mod fit;
mod observer;
mod record;
mod state;

pub use batch::{BatchSource, LabelledBatch};
pub use config::{LossConfig, ScheduleConfig, TrainConfig};
pub use error::TrainError;
pub use evaluate::evaluate;
pub use fit::{fit, FitOptions};
pub use observer::{Observer, Quiet};
pub use record::{best_epoch, EpochRecord, Evaluation, RunSummary};
