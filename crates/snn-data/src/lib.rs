//! # snn-data
//!
//! Event-camera data for spiking networks, independent of the model crates (no burn):
//!
//! - [`aedat3`]: a streaming AEDAT 3.1 reader (polarity events, overflow, skipped packet types,
//!   errors with file and byte offset) and a writer.
//! - [`gesture`]: the DVS128 Gesture folder layout, label CSVs, samples and class names.
//! - [`aedat2`]: AEDAT 2.0 (jAER, CIFAR10-DVS) with switchable DVS128 coordinate conventions.
//! - [`nmnist`]: N-MNIST / N-Caltech101 `.bin` (40-bit events, overflow markers).
//! - [`folders`]: DVS128 Gait (text events), N-MNIST and CIFAR10-DVS folder layouts and splits.
//! - [`frame`]: event-to-frame integration: MA-SNN windows with spatial sum-pooling,
//!   SpikingJelly's fixed frame count (split by event number or by time) and fixed duration.
//! - [`synthetic`]: a synthetic gesture dataset written as real AEDAT 3.1 files.
//! - [`loader`]: deterministic shuffling by seed and epoch, parallel framing, time-first batches.
//! - [`store`]: a per-sample event store on disk (compact files, atomic, built once), so
//!   training windows and test clips are read without re-parsing recordings.
//! - [`imagenet`]: ImageNet-1k folder layouts, parallel decoding, torchvision's transforms.
//! - `download` (feature `download`): published URLs and MD5s, resumable downloads,
//!   verification and extraction.

#![warn(missing_docs)]

pub mod aedat2;
pub mod aedat3;
#[cfg(feature = "download")]
pub mod download;
pub mod error;
pub mod event;
pub mod folders;
pub mod frame;
pub mod gesture;
pub mod imagenet;
pub mod loader;
pub mod nmnist;
pub mod rng;
pub mod store;
pub mod synthetic;

pub use error::DataError;
pub use event::Event;
