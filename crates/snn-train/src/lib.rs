//! # snn-train
//!
//! Training building blocks for spiking networks, generic over the burn backend (CPU by
//! default, CUDA with the `cuda` feature):
//!
//! - [`loss`]: the official event-model loss (MSE between output firing rates and one-hot
//!   targets) and cross-entropy with label smoothing.
//! - [`metrics`]: top-1/top-k, confusion matrix, the official majority vote over test clips.
//! - [`energy`]: the paper's energy estimate (first layer MAC at 4.6 pJ, later layers AC at
//!   0.9 pJ times the firing rate feeding them, times T).
//! - [`checkpoint`]: atomic checkpoint directories that rebuild the model on their own.
//! - [`guard`]: stops training on a NaN/Inf loss, naming the batch and the last good checkpoint.
//! - [`schedule`]: `ReduceLROnPlateau` and cosine annealing with PyTorch's exact semantics,
//!   serialisable for resuming.
//!
//! - [`optim`]: Adam, AdamW and SGD with PyTorch's update rules, global-norm clipping, a
//!   finite-gradient check, and state keyed by module path so a resumed run continues exactly.
//! - [`net`]: [`net::Net`], one type for every trainable network, built from a tagged config.
//! - [`sources`]: training windows (random consecutive slices) and multi-clip test windows
//!   over an event store, as batch sources.
//! - [`trainer`]: the training loop ([`trainer::fit`]): evaluation, checkpoints, JSON-lines log,
//!   exact resume.
//! - [`memory`]: keeps freed heap memory in the process (glibc), so per-step activation
//!   buffers stop faulting in fresh pages.
//! - [`report`]: PNG plots (loss/accuracy curves, per-layer firing rates) and a Markdown report
//!   comparing runs (accuracy, spikes, energy against a baseline), from histories or `log.jsonl`.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod energy;
pub mod guard;
pub mod loss;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod optim;
pub mod report;
pub mod schedule;
pub mod sources;
pub mod trainer;
