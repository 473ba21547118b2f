//! Where the CubeCL tests are required (`SNN_REQUIRE_VULKAN=1`, as `.ci/run` sets), they must
//! have been built: `cube_backend.rs` and snn-core's `cube_fused.rs` compile to nothing
//! without `vulkan` (or `cuda`), which `cargo test --workspace` turns on through xtask's
//! dev-dependencies. Without this check, losing that dependency (or excluding xtask) would
//! leave CI green with the GPU code path untested. (snn-models' `vulkan` turns on snn-core's.)

#[test]
fn the_cubecl_tests_are_built_where_they_are_required() {
    let built = cfg!(any(feature = "vulkan", feature = "cuda"));
    if std::env::var("SNN_REQUIRE_VULKAN").is_ok_and(|v| v == "1") {
        assert!(
            built,
            "SNN_REQUIRE_VULKAN=1, but this build has neither `vulkan` nor `cuda`: the CubeCL \
             tests were compiled out (is xtask's dev-dependency on snn-models/vulkan there?)"
        );
    }
}
