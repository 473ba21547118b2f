//! Errors of the neuron crate.

use thiserror::Error;

/// A configuration value that cannot be used: a [`LifConfig`](crate::LifConfig) field that
/// cannot describe a neuron, or an unknown name.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A field is NaN or infinite.
    #[error("LIF config field `{field}` must be finite, got {value}")]
    NotFinite {
        /// Field path, e.g. `surrogate.alpha`.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A field that must be positive is not.
    #[error("LIF config field `{field}` must be > 0, got {value}")]
    NotPositive {
        /// Field path, e.g. `surrogate.lens`.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// The decay is outside `(0, 1]` (or equals 1 while learnable).
    #[error("LIF config field `decay` must be in (0, 1] (and < 1 when learnable), got {0}")]
    DecayOutOfRange(f64),
    /// A setting given by name (e.g. [`CubeConvAlgorithm`](crate::conv::CubeConvAlgorithm))
    /// names nothing known.
    #[error("unknown {field} `{value}`; expected one of: {expected}")]
    UnknownName {
        /// What was being named.
        field: &'static str,
        /// The name given.
        value: String,
        /// The accepted names, comma-separated.
        expected: String,
    },
    /// A [`CubeConvPlan`](crate::conv::CubeConvPlan) that cannot be used.
    #[error("invalid CubeCL convolution plan `{plan}`: {reason}")]
    BadConvPlan {
        /// The plan as given.
        plan: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The entry of `values` whose name in `names` (same order) is `s`, trimmed and compared
/// without ASCII case; otherwise [`ConfigError::UnknownName`] listing the names. `field` says
/// what is being named. Shared by the settings chosen by name.
pub(crate) fn parse_name<T: Copy, const N: usize>(
    field: &'static str,
    s: &str,
    names: &[&str; N],
    values: &[T; N],
) -> Result<T, ConfigError> {
    names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(s.trim()))
        .map(|i| values[i])
        .ok_or_else(|| ConfigError::UnknownName {
            field,
            value: s.to_owned(),
            expected: names.join(", "),
        })
}

/// A tensor passed to a neuron that it cannot process.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShapeError {
    /// Multi-step input needs at least a time axis and one more axis.
    #[error(
        "multi-step neuron input must be [T, B, ...] with T >= 1 and rank >= 2, got shape {0:?}"
    )]
    BadSequence(Vec<usize>),
    /// The state does not match the input of a single step.
    #[error("neuron state has shape {state:?} but the step input has shape {input:?}")]
    StateMismatch {
        /// Shape of the carried state.
        state: Vec<usize>,
        /// Shape of the step input.
        input: Vec<usize>,
    },
}
