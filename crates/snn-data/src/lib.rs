//! # snn-data
//!
//! Event-camera data for spiking networks, independent of the model crates (no burn):
//!
//! - [`aedat3`]: a streaming AEDAT 3.1 reader (polarity events, overflow, skipped packet types,
//!   errors with file and byte offset) and a writer.
//! - [`gesture`]: the DVS128 Gesture folder layout, label CSVs, samples and class names.
//! - [`frame`]: event-to-frame integration (MA-SNN windows with spatial sum-pooling).
//! - [`synthetic`]: a synthetic gesture dataset written as real AEDAT 3.1 files.
//!
//! Still to come (see the data issue): AEDAT 2.0, N-MNIST, DVS128 Gait, CIFAR10-DVS and ImageNet
//! readers, SpikingJelly-style framing, on-disk caches, the batch loader and downloads.

pub mod aedat3;
pub mod error;
pub mod event;
pub mod frame;
pub mod gesture;
pub mod synthetic;

pub use error::DataError;
pub use event::Event;
