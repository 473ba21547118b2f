//! # snn-train
//!
//! The training loop on CPU and CUDA: losses, optimisers, schedules, metrics (accuracy, firing
//! rates, spike counts, energy estimate), checkpoints, progress and logs.
//!
//! Not implemented yet: this crate is an empty workspace member so the dependency graph is fixed
//! (it depends on `snn-models` and `snn-data`). See docs/ARCHITECTURE.md.
