//! Configuration of the LIF neuron family: one serde-friendly struct, presets that match the
//! official MA-SNN and MS-ResNet code, and validation.
//!
//! The dynamics, for every time step `t` of a sequence (state `h[-1] = 0`):
//!
//! ```text
//! u[t] = h[t-1] + x[t]                      charge (no input leak, as in the official code)
//! s[t] = fire(u[t] - threshold)             Heaviside with `>=` or `>`
//! h[t] = decay * u[t]        if s[t] = 0    leak
//! h[t] = reset(u[t])         if s[t] = 1    see `Reset`
//! ```
//!
//! The backward pass replaces `d s / d u` by a surrogate derivative (see [`Surrogate`]).
//! The formulas themselves are written once, in [`super::rule`].

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The spike test applied to `v = u - threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FireTest {
    /// Fire when `u >= threshold` (official MA-SNN event models, paper Eq. 4).
    GreaterOrEqual,
    /// Fire when `u > threshold` (official MS-ResNet / Att-Res-SNN code).
    Greater,
}

/// What the stored state becomes after a spike. Without a spike the state always leaks to
/// `decay * u`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reset {
    /// `h = decay * u * (1 - s) + value * s`: hard reset to a constant (paper Eq. 4 with
    /// `V_reset = value`; MS-ResNet uses `value = 0`).
    Hard {
        /// The state after a spike.
        value: f64,
    },
    /// `h = decay * (u - s * threshold)`: soft reset by subtraction, then leak.
    Subtract,
    /// `h = decay * (s * threshold + (1 - s) * u)`: the official MA-SNN event-model reset
    /// (`module/LIF.py`): the state is set to the threshold, then leaks, so it is stored as
    /// `decay * threshold` (0.09 with the official constants).
    LeakToThreshold,
}

impl std::fmt::Display for Reset {
    /// How error messages and exported metadata name the reset.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reset::Hard { value } => write!(f, "hard reset to {value}"),
            Reset::Subtract => write!(f, "subtract reset"),
            Reset::LeakToThreshold => write!(
                f,
                "leak-to-threshold reset (state decay * threshold after a spike, official MA-SNN)"
            ),
        }
    }
}

/// Surrogate derivative used for `d s / d u` in the backward pass, as a function of
/// `v = u - threshold`. Each integrates to 1 over the real line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Surrogate {
    /// Official MA-SNN / MS-ResNet: `1 / (2 * lens)` where `|v| < lens`, else 0.
    Rectangle {
        /// Half-width of the window.
        lens: f64,
    },
    /// Derivative of `sigmoid(alpha * v)`: `alpha * sig * (1 - sig)` (SpikingJelly `Sigmoid`).
    Sigmoid {
        /// Steepness.
        alpha: f64,
    },
    /// Derivative of `atan(pi/2 * alpha * v) / pi + 1/2`: `alpha / (2 * (1 + (pi/2 * alpha * v)^2))`
    /// (SpikingJelly `ATan`).
    Atan {
        /// Steepness.
        alpha: f64,
    },
    /// Triangle of half-width `width` and height `1 / width`: `max(0, 1 - |v| / width) / width`.
    Triangle {
        /// Half-width of the support.
        width: f64,
    },
}

/// Everything about a LIF neuron except its decay: threshold, spike test, reset, surrogate.
///
/// The decay is kept apart because it may be a learnable parameter (PLIF); kernels receive it
/// as a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FiringRule {
    /// Firing threshold `Vth`.
    pub threshold: f64,
    /// `>=` or `>`.
    pub fire_test: FireTest,
    /// State after a spike.
    pub reset: Reset,
    /// Surrogate derivative of the spike.
    pub surrogate: Surrogate,
    /// If true, the spike in the reset expression is treated as a constant in the backward
    /// pass (MS-ResNet's `spike.detach()`); if false, gradient also flows through the reset
    /// (official MA-SNN event models).
    pub detach_reset: bool,
}

/// Configuration of a [`Lif`](crate::Lif) neuron layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifConfig {
    /// Leak factor `decay` in `(0, 1]` (`exp(-dt / tau)`, or `1 - 1/tau` in SpikingJelly terms).
    /// With `learnable_decay` it is the initial value.
    pub decay: f64,
    /// Learn the decay per layer (PLIF-style): stored as a logit `w` with `decay = sigmoid(w)`.
    pub learnable_decay: bool,
    /// Threshold, spike test, reset and surrogate.
    #[serde(flatten)]
    pub rule: FiringRule,
}

impl LifConfig {
    /// The official MA-SNN event-model neuron (`MA_SNN/module/LIF.py`, Gesture/Gait configs):
    /// decay 0.3, threshold 0.3, `>=`, state after a spike `decay * threshold`, reset not
    /// detached, rectangle surrogate with `lens = 0.25` (height 2).
    pub fn ma_snn_event() -> Self {
        Self {
            decay: 0.3,
            learnable_decay: false,
            rule: FiringRule {
                threshold: 0.3,
                fire_test: FireTest::GreaterOrEqual,
                reset: Reset::LeakToThreshold,
                surrogate: Surrogate::Rectangle { lens: 0.25 },
                detach_reset: false,
            },
        }
    }

    /// The official MS-ResNet / Att-Res-SNN neuron (`Att_Res_SNN/models/resnet_2.py`):
    /// decay 0.25, threshold 0.5, `>`, hard reset to 0 with the spike detached, rectangle
    /// surrogate with `lens = 0.5`. The first step gives `u = x` because the state starts at 0.
    pub fn ms_resnet() -> Self {
        Self {
            decay: 0.25,
            learnable_decay: false,
            rule: FiringRule {
                threshold: 0.5,
                fire_test: FireTest::Greater,
                reset: Reset::Hard { value: 0.0 },
                surrogate: Surrogate::Rectangle { lens: 0.5 },
                detach_reset: true,
            },
        }
    }

    /// Sets the decay from a membrane time constant: `decay = 1 - 1 / tau` (SpikingJelly's
    /// discretisation; the official event neuron's 0.3 is `tau = 10/7`).
    pub fn with_tau(mut self, tau: f64) -> Self {
        self.decay = 1.0 - 1.0 / tau;
        self
    }

    /// Sets the decay.
    pub fn with_decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }

    /// Makes the decay learnable (PLIF-style).
    pub fn with_learnable_decay(mut self, learnable: bool) -> Self {
        self.learnable_decay = learnable;
        self
    }

    /// Sets the threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.rule.threshold = threshold;
        self
    }

    /// Sets the spike test.
    pub fn with_fire_test(mut self, fire_test: FireTest) -> Self {
        self.rule.fire_test = fire_test;
        self
    }

    /// Sets the reset.
    pub fn with_reset(mut self, reset: Reset) -> Self {
        self.rule.reset = reset;
        self
    }

    /// Sets the surrogate derivative.
    pub fn with_surrogate(mut self, surrogate: Surrogate) -> Self {
        self.rule.surrogate = surrogate;
        self
    }

    /// Detaches (or not) the spike inside the reset expression.
    pub fn with_detach_reset(mut self, detach: bool) -> Self {
        self.rule.detach_reset = detach;
        self
    }

    /// Checks every field; [`LifConfig::init`](crate::Lif) calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let finite = |field: &'static str, value: f64| {
            if value.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::NotFinite { field, value })
            }
        };
        let positive = |field: &'static str, value: f64| {
            finite(field, value)?;
            if value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::NotPositive { field, value })
            }
        };
        finite("decay", self.decay)?;
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(ConfigError::DecayOutOfRange(self.decay));
        }
        if self.learnable_decay && self.decay >= 1.0 {
            // sigmoid(w) = 1 has no finite logit.
            return Err(ConfigError::DecayOutOfRange(self.decay));
        }
        finite("threshold", self.rule.threshold)?;
        if let Reset::Hard { value } = self.rule.reset {
            finite("reset.value", value)?;
        }
        match self.rule.surrogate {
            Surrogate::Rectangle { lens } => positive("surrogate.lens", lens),
            Surrogate::Sigmoid { alpha } | Surrogate::Atan { alpha } => {
                positive("surrogate.alpha", alpha)
            }
            Surrogate::Triangle { width } => positive("surrogate.width", width),
        }
    }
}

impl Default for LifConfig {
    /// The official MA-SNN event-model neuron, [`LifConfig::ma_snn_event`].
    fn default() -> Self {
        Self::ma_snn_event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_official_constants() {
        let e = LifConfig::ma_snn_event();
        assert_eq!((e.decay, e.rule.threshold), (0.3, 0.3));
        assert_eq!(e.rule.fire_test, FireTest::GreaterOrEqual);
        assert_eq!(e.rule.reset, Reset::LeakToThreshold);
        assert!(!e.rule.detach_reset);
        // Official rectangle: height 1/(2*lens) = 2 inside |v| < 0.25.
        assert_eq!(e.rule.surrogate.derivative(0.2499_f64), 2.0);
        assert_eq!(e.rule.surrogate.derivative(0.25_f64), 0.0);

        let r = LifConfig::ms_resnet();
        assert_eq!((r.decay, r.rule.threshold), (0.25, 0.5));
        assert_eq!(r.rule.fire_test, FireTest::Greater);
        assert_eq!(r.rule.reset, Reset::Hard { value: 0.0 });
        assert!(r.rule.detach_reset);
        // Gradient 1 for u in (0, 1), i.e. |v| < 0.5.
        assert_eq!(r.rule.surrogate.derivative(-0.4999_f64), 1.0);
        assert_eq!(r.rule.surrogate.derivative(-0.5_f64), 0.0);
    }

    #[test]
    fn fire_tests_differ_only_at_the_threshold() {
        assert!(FireTest::GreaterOrEqual.fires(0.0_f64));
        assert!(!FireTest::Greater.fires(0.0_f64));
        assert!(FireTest::Greater.fires(1e-300_f64));
        assert!(!FireTest::GreaterOrEqual.fires(-1e-300_f64));
    }

    #[test]
    fn surrogates_integrate_to_one() {
        let all = [
            Surrogate::Rectangle { lens: 0.25 },
            Surrogate::Sigmoid { alpha: 4.0 },
            Surrogate::Atan { alpha: 2.0 },
            Surrogate::Triangle { width: 0.7 },
        ];
        for s in all {
            // Midpoint rule on [-L, L]; atan has heavy tails, so integrate far out.
            let (l, n) = (2000.0_f64, 4_000_000);
            let h = 2.0 * l / n as f64;
            let integral: f64 = (0..n)
                .map(|i| s.derivative(-l + (i as f64 + 0.5) * h) * h)
                .sum();
            assert!(
                (integral - 1.0).abs() < 1e-3,
                "{s:?} integrates to {integral}"
            );
        }
    }

    #[test]
    fn with_tau_uses_the_spikingjelly_discretisation() {
        let c = LifConfig::ma_snn_event().with_tau(10.0 / 7.0);
        assert!((c.decay - 0.3).abs() < 1e-15);
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = LifConfig::ma_snn_event().with_surrogate(Surrogate::Sigmoid { alpha: -1.0 });
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("surrogate.alpha"), "{err}");
        assert!(LifConfig::ma_snn_event()
            .with_decay(1.5)
            .validate()
            .is_err());
        assert!(LifConfig::ma_snn_event()
            .with_decay(0.0)
            .validate()
            .is_err());
        assert!(LifConfig::ma_snn_event()
            .with_threshold(f64::NAN)
            .validate()
            .is_err());
        assert!(LifConfig::ms_resnet().validate().is_ok());
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = LifConfig::ms_resnet().with_surrogate(Surrogate::Atan { alpha: 2.0 });
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"threshold\":0.5"), "{json}");
        let back: LifConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
