//! Why training stops.

use std::path::PathBuf;

use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::guard::NonFiniteLoss;
use crate::optim::OptimError;

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
