//! Learning-rate schedules with PyTorch's exact semantics, so that runs reproduce the official
//! recipes: `ReduceLROnPlateau` (the event models, stepped each epoch on the mean *train* loss,
//! factor 0.1, patience 5) and `CosineAnnealingLR` (Res-SNN, stepped once per epoch).
//!
//! Both are plain values with serde, so a checkpoint can store them and `--resume` continues
//! the schedule exactly.

use serde::{Deserialize, Serialize};

/// Whether a lower or a higher metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How `threshold` compares a new metric with the best so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdMode {
    /// Relative: better means below `best * (1 - threshold)` (mode min).
    Rel,
    /// Absolute: better means below `best - threshold` (mode min).
    Abs,
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`: multiply the learning rate by `factor` once
/// the metric has not improved for more than `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    /// Min or max.
    pub mode: PlateauMode,
    /// Multiplier applied on a plateau.
    pub factor: f64,
    /// Epochs without improvement tolerated before reducing.
    pub patience: usize,
    /// Minimum improvement that counts.
    pub threshold: f64,
    /// Relative or absolute threshold.
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction before counting bad epochs again.
    pub cooldown: usize,
    /// Lower bound on the learning rate.
    pub min_lr: f64,
    /// Reductions smaller than this are skipped.
    pub eps: f64,
    /// The current learning rate.
    pub lr: f64,
    /// Best metric so far (`inf` / `-inf` before the first step; JSON has no infinity, so
    /// these are written as the strings `"inf"` / `"-inf"`).
    #[serde(with = "json_f64")]
    pub best: f64,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
    /// Epochs of cooldown left.
    pub cooldown_left: usize,
}

impl ReduceLrOnPlateau {
    /// PyTorch's defaults (mode min, factor 0.1, patience 10, threshold 1e-4 relative, no
    /// cooldown, min_lr 0, eps 1e-8) starting from `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            lr,
            best: f64::INFINITY,
            bad_epochs: 0,
            cooldown_left: 0,
        }
    }

    /// The official MA-SNN event-model schedule: mode min, factor 0.1, patience 5.
    pub fn ma_snn(lr: f64) -> Self {
        Self {
            patience: 5,
            ..Self::new(lr)
        }
    }

    /// With another mode (resets the best value accordingly).
    pub fn with_mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self.best = match mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        self
    }

    /// With another patience.
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// With a cooldown.
    pub fn with_cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// With a lower bound on the learning rate.
    pub fn with_min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    fn is_better(&self, metric: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => metric < self.best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => metric < self.best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => metric > self.best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => metric > self.best + self.threshold,
        }
    }

    /// Records one epoch's metric and returns the learning rate for the next epoch. A NaN
    /// metric counts as no improvement (as in PyTorch, where every comparison with NaN fails).
    pub fn step(&mut self, metric: f64) -> f64 {
        if self.is_better(metric) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            let reduced = (self.lr * self.factor).max(self.min_lr);
            if self.lr - reduced > self.eps {
                self.lr = reduced;
            }
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
        }
        self.lr
    }
}

/// An `f64` that may be infinite, as a JSON number or the string `"inf"` / `"-inf"` / `"nan"`.
mod json_f64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            Repr::Number(*value)
        } else {
            Repr::Text(value.to_string())
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => t
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a number"))),
        }
    }
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR` in closed form:
/// `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealing {
    /// Learning rate at epoch 0.
    pub base_lr: f64,
    /// Half-period in epochs (the official Res-SNN: 250, the number of epochs).
    pub t_max: usize,
    /// Learning rate at `t_max`.
    pub eta_min: f64,
}

impl CosineAnnealing {
    /// The learning rate of `epoch` (0-based; stepping once per epoch as the official code).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let t_max = self.t_max.max(1) as f64;
        let phase = std::f64::consts::PI * epoch as f64 / t_max;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence PyTorch's algorithm gives, traced by hand from its source
    /// (`ReduceLROnPlateau.step`): better -> reset; else count; reduce once the count exceeds
    /// the patience.
    #[test]
    fn plateau_reduces_after_more_than_patience_bad_epochs() {
        let mut s = ReduceLrOnPlateau::new(1e-3).with_patience(2);
        let losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89995, 0.8, 0.8, 0.8, 0.8];
        let lrs: Vec<f64> = losses.iter().map(|&l| s.step(l)).collect();
        // Epoch 5 is the third bad epoch (> patience 2): 1e-3 -> 1e-4. 0.89995 is not better
        // than 0.9 by the relative threshold 1e-4 (it must be below 0.89991). 0.8 improves;
        // three more 0.8s reduce again at the last epoch.
        let expected = [1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5];
        for (got, want) in lrs.iter().zip(expected) {
            assert!((got - want).abs() < 1e-15, "{lrs:?}");
        }
        assert_eq!(s.best, 0.8);
    }

    #[test]
    fn cooldown_min_lr_eps_and_max_mode() {
        // Patience 0: every bad epoch reduces, except during the cooldown epoch after one.
        let mut s = ReduceLrOnPlateau::new(1.0)
            .with_patience(0)
            .with_cooldown(1)
            .with_min_lr(0.015);
        let lrs: Vec<f64> = [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
            .iter()
            .map(|&l| s.step(l))
            .collect();
        // 2.0 bad -> 0.1 (cooldown 1); 2.0 in cooldown -> no change; 2.0 -> 0.015 (clamped
        // from 0.01); cooldown; then 0.015 -> max(0.0015, 0.015) is no reduction.
        assert_eq!(lrs, [1.0, 0.1, 0.1, 0.015, 0.015, 0.015]);

        let mut acc = ReduceLrOnPlateau::new(0.5)
            .with_mode(PlateauMode::Max)
            .with_patience(1);
        let lrs: Vec<f64> = [0.5, 0.6, 0.6, 0.6, 0.7]
            .iter()
            .map(|&a| acc.step(a))
            .collect();
        assert!((lrs[3] - 0.05).abs() < 1e-15, "{lrs:?}");
        assert_eq!(lrs[..3], [0.5, 0.5, 0.5]);

        // NaN never improves.
        let mut s = ReduceLrOnPlateau::new(1.0).with_patience(0);
        s.step(1.0);
        assert_eq!(s.step(f64::NAN), 0.1);
    }

    #[test]
    fn plateau_state_survives_a_checkpoint() {
        let mut a = ReduceLrOnPlateau::ma_snn(1e-4);
        for l in [1.0, 0.9, 0.95, 0.95] {
            a.step(l);
        }
        let json = serde_json::to_string(&a).unwrap();
        let mut b: ReduceLrOnPlateau = serde_json::from_str(&json).unwrap();
        for l in [0.95, 0.95, 0.95, 0.95, 0.7] {
            assert_eq!(a.step(l), b.step(l));
        }
        assert_eq!(a, b);
        // Before the first step the best value is infinite, which JSON cannot hold as a number.
        let fresh = ReduceLrOnPlateau::ma_snn(1e-4);
        let json = serde_json::to_string(&fresh).unwrap();
        assert!(json.contains("\"best\":\"inf\""), "{json}");
        assert_eq!(
            serde_json::from_str::<ReduceLrOnPlateau>(&json).unwrap(),
            fresh
        );
    }

    #[test]
    fn cosine_matches_the_closed_form_endpoints() {
        let c = CosineAnnealing {
            base_lr: 0.1,
            t_max: 250,
            eta_min: 0.0,
        };
        assert_eq!(c.lr_at(0), 0.1);
        assert!((c.lr_at(125) - 0.05).abs() < 1e-15);
        assert!(c.lr_at(250).abs() < 1e-15);
        // Past t_max it rises again, as PyTorch's does.
        assert!(c.lr_at(300) > c.lr_at(250));
        let half = CosineAnnealing {
            base_lr: 1.0,
            t_max: 4,
            eta_min: 0.2,
        };
        assert!(
            (half.lr_at(1) - (0.2 + 0.8 * (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0)).abs()
                < 1e-15
        );
    }
}
