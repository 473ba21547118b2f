//! `cargo xtask verify-official FILE...`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::backend::{Autodiff, Flex};
use clap::Args;
use snn_models::official::verify_fixture;

/// Options of `verify-official`.
#[derive(Args)]
pub struct VerifyArgs {
    /// Fixture files (safetensors with `config` metadata; see
    /// crates/snn-models/tests/fixtures/official/README.md).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Largest accepted norm-wise relative error per group.
    #[arg(long, default_value_t = 1e-9)]
    tolerance: f64,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let device = Default::default();
    let mut failed = Vec::new();
    for file in &args.files {
        let report = verify_fixture::<Autodiff<Flex>>(file, &device)?;
        println!(
            "{} ({} net, attention {}, T {})",
            file.display(),
            report.config.kind,
            report.config.attention,
            report.config.steps
        );
        for g in &report.groups {
            let verdict = if g.max_rel_error <= args.tolerance {
                "ok"
            } else {
                "FAIL"
            };
            println!(
                "  {:<13} {:>4} keys  max rel error {:>9.2e}  {:<4}  worst: {}",
                g.group, g.keys, g.max_rel_error, verdict, g.worst_key
            );
        }
        if !report.passed(args.tolerance) {
            failed.push(file.display().to_string());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} fixtures exceed {:.0e}: {}",
            failed.len(),
            args.files.len(),
            args.tolerance,
            failed.join(", ")
        );
    }
    println!(
        "all {} fixtures match to {:.0e}",
        args.files.len(),
        args.tolerance
    );
    Ok(())
}
