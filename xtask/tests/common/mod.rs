//! Helpers shared by the end-to-end tests: run the `xtask` binary as users do, check it
//! succeeded, read a run's JSON-lines log. Each test file uses a subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `xtask` with `args`, then `files` as further arguments.
pub fn xtask(args: &[&str], files: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

/// Asserts the command succeeded, showing its standard error otherwise.
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lines of `dir/log.jsonl`, parsed.
pub fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
