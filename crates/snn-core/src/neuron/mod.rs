//! The spiking neuron: the LIF family as one configurable layer.
//!
//! - [`config`]: what a neuron is ([`LifConfig`]: decay, threshold, spike test, reset,
//!   surrogate), its presets and validation;
//! - [`rule`]: the neuron's rules, each written once (spike test, state after the step, its
//!   partial derivatives, surrogate derivative), for scalars and tensors alike: every
//!   implementation below and both exporters call them;
//! - [`reference`]: the dynamics step by step from tensor ops, differentiated by burn's autodiff:
//!   the executable definition the fused op is tested against, and the single-step API;
//! - [`fused`]: the whole sequence as one autodiff operation (generic, CPU and CubeCL kernels);
//! - [`layer`]: the [`Lif`] module users put in their networks;
//! - [`stats`]: firing statistics.

pub mod config;
pub mod fused;
pub mod layer;
pub mod reference;
pub mod rule;
pub mod stats;

pub use config::{FireTest, FiringRule, LifConfig, Reset, Surrogate};
pub use fused::{LifBackend, MultiStep};
pub use layer::{Lif, LifState};
pub use rule::{Compare, Elementwise};
pub use stats::{FiringMonitor, FiringStats};
