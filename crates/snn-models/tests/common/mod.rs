//! Helpers shared by the golden-fixture tests.

#[cfg(any(feature = "cuda", feature = "vulkan"))]
#[path = "../../../snn-core/tests/common/cube_device.rs"]
#[allow(dead_code)] // used by `cube_backend` only
pub mod cube_device;

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::DType;
use snn_core::SnnBackend;
use snn_models::official::{verify_fixture_in, Verification};

/// The official fixtures (copied from `../shared/fixtures/official`; see their README).
pub const FIXTURES: [&str; 4] = [
    "event_no_T12.safetensors",
    "event_TCSA_T12.safetensors",
    "resnet_no_T2.safetensors",
    "resnet_CSA_T2.safetensors",
];

/// The path of fixture `name`: in this crate's sources, or, for a test binary carried to
/// another machine (`scripts/gpu-check.sh`), under the working directory.
pub fn fixture(name: &str) -> PathBuf {
    let in_sources = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official");
    let dir = if in_sources.is_dir() {
        in_sources
    } else {
        PathBuf::from("crates/snn-models/tests/fixtures/official")
    };
    dir.join(name)
}

/// Runs fixture `name` on backend `B` in `dtype` and asserts that every group was compared and
/// is within `tolerance` (relative error, norm-wise); returns the comparison.
pub fn check<B: AutodiffBackend + SnnBackend>(
    name: &str,
    dtype: DType,
    tolerance: f64,
) -> Verification {
    let report = verify_fixture_in::<B>(&fixture(name), &Default::default(), dtype).unwrap();
    for g in &report.groups {
        println!(
            "{name} {dtype:?} {:<13} {:>3} keys  max rel err {:.2e}  ({})",
            g.group, g.keys, g.max_rel_error, g.worst_key
        );
    }
    let groups: Vec<&str> = report.groups.iter().map(|g| g.group).collect();
    for expected in [
        "train.output",
        "train.loss",
        "grad",
        "after",
        "eval.output",
        "rate",
    ] {
        assert!(
            groups.contains(&expected),
            "{name}: group {expected} was not compared"
        );
    }
    assert!(
        report.passed(tolerance),
        "{name} in {dtype:?}: {:#?}",
        report.groups
    );
    report
}
