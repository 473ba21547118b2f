//! A run's settings apart from the network and the data: loss, schedule, optimiser, length,
//! seed, precision.

use serde::{Deserialize, Serialize};
use snn_core::ConvPrecision;

use crate::optim::OptimizerConfig;

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
    pub(super) fn same_run(&self, other: &TrainConfig) -> bool {
        TrainConfig {
            epochs: 0,
            ..self.clone()
        } == TrainConfig {
            epochs: 0,
            ..other.clone()
        }
    }
}
