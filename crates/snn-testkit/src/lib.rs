//! # snn-testkit
//!
//! What the workspace's tests share (a dev-dependency only, never published): seeded random
//! test data drawn from the one generator of the workspace (`snn_data::rng::SplitMix64`), and
//! a lock around burn's global generator so a test's random weights are the same on every run
//! whatever runs beside it. The tiny network the tests train and export is a public preset,
//! `snn_models::EventNetConfig::tiny`.

#![warn(missing_docs)]

use std::sync::{Mutex, MutexGuard};

use burn::tensor::backend::Backend;
pub use snn_data::rng::SplitMix64;

/// Seeded random test data: vectors of uniform values, binary spikes and event counts.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }

    /// A uniform value in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// `n` uniform values in `[lo, hi)`.
    pub fn uniform(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.0.uniform(lo, hi)).collect()
    }

    /// `n` uniform values in `[lo, hi)`, as f32.
    pub fn uniform_f32(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.0.uniform(lo, hi) as f32).collect()
    }

    /// Binary spikes: 1 with probability `density`, else 0.
    pub fn spikes(&mut self, n: usize, density: f64) -> Vec<f64> {
        (0..n)
            .map(|_| if self.next_f64() < density { 1.0 } else { 0.0 })
            .collect()
    }

    /// Event counts: non-zero (1, 2 or 3) with probability `density`, else 0.
    pub fn counts(&mut self, n: usize, density: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                if self.next_f64() < density {
                    1.0 + (self.next_f64() * 3.0).floor().min(2.0)
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// burn's generator is global per backend: a test takes this lock, then seeds it.
static GLOBAL_GENERATOR: Mutex<()> = Mutex::new(());

/// Takes the lock on burn's global generator and seeds `B`'s with `seed`; hold the guard for
/// as long as the test draws random tensors (unseeded, an occasional draw leaves a network
/// silent and a "must spike" check fails at random).
pub fn seeded<B: Backend>(seed: u64) -> MutexGuard<'static, ()> {
    let guard = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    B::seed(&Default::default(), seed);
    guard
}

/// The largest element-wise difference of two equally long outputs.
///
/// # Panics
/// If the lengths differ (the compared outputs are not the same shape).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared outputs differ in size");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// [`max_abs_diff`] in f32, the differences taken in f32 as the outputs are.
///
/// # Panics
/// If the lengths differ.
pub fn max_abs_diff_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared outputs differ in size");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}
