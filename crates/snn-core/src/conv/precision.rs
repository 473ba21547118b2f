//! Mixed precision for the convolutions: their multiplications in bfloat16, everything else in
//! the tensors' own precision (f32 in training).
//!
//! What is rounded and why that is safe:
//! - A convolution's input and weight are rounded to bf16 (8 significant bits, f32's exponent
//!   range) and its output comes back in the input's dtype. Spikes (0 or 1) are exact in bf16;
//!   event counts are exact up to 256 and round to 3 significant digits above. GPUs multiply bf16
//!   on their matrix units (tensor cores) and accumulate in f32.
//! - The bias is added after the cast back, in full precision.
//! - Everything that accumulates over time or over the batch stays in full precision: batch
//!   normalisation and its running statistics, the membrane potential and the threshold test,
//!   attention, the loss, the optimiser's state and the weights themselves (the "master"
//!   weights; the backward pass casts the bf16 gradients back to the weights' dtype).
//! - bf16 has f32's exponent range, so gradients neither underflow nor overflow and no loss
//!   scaling is needed. f16 (5 exponent bits) would need loss scaling and is not offered.
//!
//! The setting is per thread, like PyTorch's `autocast`: it applies to the convolutions that
//! the setting thread runs (a training loop runs its forward pass on one thread; the backward
//! pass follows the casts recorded in the graph).

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{parse_name, ConfigError};

/// The precision of the convolutions' multiplications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum ConvPrecision {
    /// The tensors' own dtype (f32 or f64): no rounding.
    #[default]
    Full,
    /// Input and weight rounded to bfloat16, output cast back (see the module docs).
    Bf16,
}

impl ConvPrecision {
    /// Every precision, in declaration order, which is also the order of [`Self::NAMES`].
    pub const ALL: [ConvPrecision; 2] = [Self::Full, Self::Bf16];
    /// The names [`FromStr`] accepts (and [`fmt::Display`] writes).
    pub const NAMES: [&'static str; 2] = ["full", "bf16"];
}

impl fmt::Display for ConvPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

impl FromStr for ConvPrecision {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        parse_name("convolution precision", s, &Self::NAMES, &Self::ALL)
    }
}

thread_local! {
    static PRECISION: Cell<ConvPrecision> = const { Cell::new(ConvPrecision::Full) };
}

/// Sets the precision of the convolutions this thread runs from now on; returns the previous
/// one (to restore it).
pub fn set_conv_precision(precision: ConvPrecision) -> ConvPrecision {
    PRECISION.with(|p| p.replace(precision))
}

/// The precision of the convolutions this thread runs ([`ConvPrecision::Full`] unless
/// [`set_conv_precision`] chose another).
pub fn conv_precision() -> ConvPrecision {
    PRECISION.with(Cell::get)
}

/// Sets this thread's precision for as long as it lives and restores the previous one when
/// dropped (also on an early return or a panic).
#[derive(Debug)]
#[must_use = "the precision reverts when the scope is dropped"]
pub struct ConvPrecisionScope {
    previous: ConvPrecision,
}

impl ConvPrecisionScope {
    /// Sets `precision` for this thread until the scope is dropped.
    pub fn new(precision: ConvPrecision) -> Self {
        Self {
            previous: set_conv_precision(precision),
        }
    }
}

impl Drop for ConvPrecisionScope {
    fn drop(&mut self) {
        set_conv_precision(self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_setting_is_per_thread() {
        for precision in ConvPrecision::ALL {
            assert_eq!(precision.to_string().parse(), Ok(precision));
        }
        assert_eq!(" BF16 ".parse(), Ok(ConvPrecision::Bf16));
        let message = "f16".parse::<ConvPrecision>().unwrap_err().to_string();
        assert!(
            message.contains("`f16`") && message.contains("full, bf16"),
            "{message}"
        );

        assert_eq!(set_conv_precision(ConvPrecision::Bf16), ConvPrecision::Full);
        assert_eq!(conv_precision(), ConvPrecision::Bf16);
        let other = std::thread::spawn(conv_precision).join().unwrap();
        assert_eq!(other, ConvPrecision::Full);
        assert_eq!(set_conv_precision(ConvPrecision::Full), ConvPrecision::Bf16);

        {
            let _scope = ConvPrecisionScope::new(ConvPrecision::Bf16);
            assert_eq!(conv_precision(), ConvPrecision::Bf16);
        }
        assert_eq!(conv_precision(), ConvPrecision::Full);
        assert_eq!(
            serde_json::to_string(&ConvPrecision::Bf16).unwrap(),
            "\"bf16\""
        );
        let parsed: ConvPrecision = serde_json::from_str("\"full\"").unwrap();
        assert_eq!(parsed, ConvPrecision::Full);
    }
}
