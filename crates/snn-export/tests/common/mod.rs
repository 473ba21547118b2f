//! Helpers shared by the export test binaries (each uses a subset).
#![allow(dead_code)]

use std::sync::MutexGuard;

use burn::backend::Flex;

/// The CPU backend the tests run on.
pub type B = Flex;

/// Takes the lock on burn's global generator and seeds it (`snn_testkit::seeded`).
pub fn seeded(seed: u64) -> MutexGuard<'static, ()> {
    snn_testkit::seeded::<B>(seed)
}

/// The largest element-wise difference of two f32 outputs.
pub use snn_testkit::max_abs_diff_f32 as max_abs_diff;
