//! `cargo xtask <command>`: the project's workflows.
//!
//! - `bench lif [--json]`: fused vs reference LIF forward+backward timing.

mod bench;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "snn workflows", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Bench { which } => bench::run(which),
    }
}
