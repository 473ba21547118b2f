//! Helpers shared by the export test binaries (each uses a subset).
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use burn::backend::Flex;
use ma_attention::AttentionKind;
use snn_models::EventNetConfig;

/// The CPU backend the tests run on.
pub type B = Flex;

/// The backend's random generator is global: each test holds this lock and seeds it, so its
/// weights and inputs are the same on every run whatever runs beside it (unseeded, an
/// occasional draw leaves a network silent and the "must spike" checks fail at random).
static RNG: Mutex<()> = Mutex::new(());

/// Takes the generator lock and seeds the generator.
pub fn seeded(seed: u64) -> MutexGuard<'static, ()> {
    let guard = RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    <B as burn::tensor::backend::Backend>::seed(&Default::default(), seed);
    guard
}

/// A narrow event network (2x8x8 input, conv 4-8 with one 2x2 pool, fc 16-3) that exports and
/// runs in milliseconds.
pub fn small_event_config(steps: usize, attention: AttentionKind) -> EventNetConfig {
    let mut config = EventNetConfig::gesture(steps, attention);
    config.height = 8;
    config.width = 8;
    config.channels = vec![4, 8];
    config.pools = vec![1, 2];
    config.fc_hidden = 16;
    config.classes = 3;
    config.t_ratio = 2;
    config.c_ratio = 2;
    config
}

/// The largest elementwise difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared outputs differ in size");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}
