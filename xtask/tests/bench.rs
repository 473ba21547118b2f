//! `bench` commands' argument and environment errors, which need no GPU: each names what is
//! wrong before any work starts.

mod common;

use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn conv_kernels_refuses_the_cpu_and_unknown_kernels() {
    let out = common::xtask(&["bench", "conv-kernels", "--device", "cpu"], &[]);
    assert!(stderr(&out).contains("--device cuda or vulkan"));
    let out = common::xtask(
        &[
            "bench",
            "conv-kernels",
            "--device",
            "cuda",
            "--kernels",
            "gemm,fast",
        ],
        &[],
    );
    let message = stderr(&out);
    assert!(message.contains("--kernels"), "{message}");
    assert!(message.contains("`fast`"), "{message}");
}

#[test]
fn a_bad_conv_plan_in_the_environment_is_named() {
    for (plan, what) in [
        ("forward=split-k", "weight gradients"),
        ("forward=gemm-fast", "`gemm-fast`"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["bench", "lif", "--device", "vulkan", "--reps", "1"])
            .env("SNN_CUBE_CONV", plan)
            .output()
            .unwrap();
        let message = stderr(&out);
        assert!(message.contains("SNN_CUBE_CONV"), "{message}");
        assert!(message.contains(what), "{message}");
    }
}
