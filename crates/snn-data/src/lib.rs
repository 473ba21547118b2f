//! # snn-data
//!
//! Event-camera and image datasets: AEDAT 3.1 / 2.0, N-MNIST and DVS128 Gait readers, dataset
//! layouts and splits, event-to-frame integration, on-disk caches and batch loaders.
//!
//! Not implemented yet: this crate is an empty workspace member. It stays independent of the model
//! crates. See docs/ARCHITECTURE.md.
