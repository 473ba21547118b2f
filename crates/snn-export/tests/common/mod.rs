//! Helpers shared by the export test binaries (each uses a subset).
#![allow(dead_code)]

use std::sync::MutexGuard;

use burn::backend::Flex;
use ma_attention::AttentionKind;
use snn_models::EventNetConfig;

/// The CPU backend the tests run on.
pub type B = Flex;

/// Takes the lock on burn's global generator and seeds it (`snn_testkit::seeded`).
pub fn seeded(seed: u64) -> MutexGuard<'static, ()> {
    snn_testkit::seeded::<B>(seed)
}

/// The tiny event network (`EventNetConfig::tiny`), which exports and runs in milliseconds.
pub fn small_event_config(steps: usize, attention: AttentionKind) -> EventNetConfig {
    EventNetConfig::tiny(steps, attention)
}

/// The largest elementwise difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared outputs differ in size");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}
