//! Whether the CubeCL tests can run on this machine: shared by `snn-core`'s `cube_fused` and
//! `snn-models`'s `cube_backend` (which includes this file by path).
//!
//! `cargo test --workspace` builds them with burn's wgpu backend (xtask's dev-dependencies turn
//! on `vulkan`, so the workspace test and the GPU code path share one build). A machine without a
//! Vulkan driver cannot run them: there they are skipped, saying so on stderr, so that the
//! README's test command passes on a fresh machine. CI installs Mesa's software driver
//! (lavapipe) and sets `SNN_REQUIRE_VULKAN=1`, which turns a skip into a failure. A CUDA build is
//! run only on the GPU machine (`scripts/gpu-check.sh`) and never skips.

use std::io::Write;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The environment variable that makes a missing Vulkan device a test failure.
pub const REQUIRE_VULKAN: &str = "SNN_REQUIRE_VULKAN";

/// True if backend `B`'s default device runs a kernel; false (after a note on stderr) if it does
/// not and `SNN_REQUIRE_VULKAN` is not `1`. Panics, naming the cause, if it is required.
pub fn available<B: Backend>(test: &str) -> bool {
    if cfg!(feature = "cuda") {
        return true;
    }
    let probe = std::panic::catch_unwind(|| {
        Tensor::<B, 1>::ones([1], &Default::default())
            .sum()
            .into_scalar()
    });
    let required = std::env::var(REQUIRE_VULKAN).is_ok_and(|v| v == "1");
    match probe {
        Ok(_) => true,
        Err(cause) if required => {
            let _ = writeln!(
                std::io::stderr(),
                "{test}: no Vulkan device answers, and {REQUIRE_VULKAN}=1 makes that a failure"
            );
            std::panic::resume_unwind(cause)
        }
        Err(_) => {
            // Straight to stderr: the test harness captures `eprintln!`, and a skip must show.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: no Vulkan device answers (install Mesa's lavapipe, Debian's \
                 mesa-vulkan-drivers, to run it; {REQUIRE_VULKAN}=1 makes this a failure)"
            );
            false
        }
    }
}
