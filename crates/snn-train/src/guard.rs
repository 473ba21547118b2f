//! Stops training on a non-finite loss, with a message saying where it happened and which
//! checkpoint is the last good one, before a NaN reaches the weights through the optimiser step.

use std::path::PathBuf;

use thiserror::Error;

/// A loss that is NaN or infinite.
#[derive(Debug, Clone, PartialEq, Error)]
#[error(
    "epoch {epoch}, batch {batch}: the loss is {loss}; training stopped before the optimiser \
     step{}",
    last_good.as_ref().map(|p| format!(" (last good checkpoint: {})", p.display())).unwrap_or_default()
)]
pub struct NonFiniteLoss {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based batch within the epoch.
    pub batch: usize,
    /// The offending value.
    pub loss: f64,
    /// The newest checkpoint written before it, if any.
    pub last_good: Option<PathBuf>,
}

/// Checks each batch's loss; remembers the last good checkpoint to name it in the error.
#[derive(Debug, Clone, Default)]
pub struct LossGuard {
    last_good: Option<PathBuf>,
}

impl LossGuard {
    /// A guard with no checkpoint yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `path` now holds a good checkpoint.
    pub fn checkpoint_written(&mut self, path: impl Into<PathBuf>) {
        self.last_good = Some(path.into());
    }

    /// `Ok` for a finite loss, else the error to stop with.
    pub fn check(&self, epoch: usize, batch: usize, loss: f64) -> Result<(), NonFiniteLoss> {
        if loss.is_finite() {
            Ok(())
        } else {
            Err(NonFiniteLoss {
                epoch,
                batch,
                loss,
                last_good: self.last_good.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_passes_and_nan_or_inf_names_where_and_the_last_checkpoint() {
        let mut guard = LossGuard::new();
        assert!(guard.check(0, 0, 0.25).is_ok());
        let err = guard.check(0, 3, f64::NAN).unwrap_err();
        assert_eq!(err.batch, 3);
        assert_eq!(
            err.to_string(),
            "epoch 0, batch 3: the loss is NaN; training stopped before the optimiser step"
        );
        guard.checkpoint_written("runs/a/best");
        let msg = guard.check(2, 0, f64::INFINITY).unwrap_err().to_string();
        assert!(
            msg.contains("loss is inf") && msg.contains("runs/a/best"),
            "{msg}"
        );
    }
}
