//! What `trainer.json` holds: the scheduler's state, the history and the best epoch, so a
//! resumed run continues exactly.

use serde::{Deserialize, Serialize};

use super::config::{ScheduleConfig, TrainConfig};
use super::record::EpochRecord;
use crate::schedule::{CosineAnnealing, ReduceLrOnPlateau};

/// Scheduler state (serialised into `trainer.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Scheduler {
    Constant { lr: f64 },
    Plateau(ReduceLrOnPlateau),
    Cosine(CosineAnnealing),
}

impl Scheduler {
    pub(super) fn new(config: &TrainConfig) -> Self {
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

    pub(super) fn lr(&self, epoch: usize) -> f64 {
        match self {
            Scheduler::Constant { lr } => *lr,
            Scheduler::Plateau(p) => p.lr,
            Scheduler::Cosine(c) => c.lr_at(epoch),
        }
    }

    pub(super) fn end_epoch(&mut self, train_loss: f64) {
        if let Scheduler::Plateau(p) = self {
            p.step(train_loss);
        }
    }
}

/// Everything `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TrainerState {
    pub(super) config: TrainConfig,
    pub(super) completed_epochs: usize,
    pub(super) scheduler: Scheduler,
    pub(super) best_acc: Option<f64>,
    pub(super) best_epoch: Option<usize>,
    pub(super) history: Vec<EpochRecord>,
}
