//! Plots and a Markdown report of training runs.
//!
//! A run is its history ([`RunHistory`]: a name and the [`EpochRecord`]s that
//! [`crate::trainer::fit`] returns or writes to `log.jsonl`). From one or more runs (the first one
//! is the baseline, e.g. the vanilla network, the others e.g. attention variants):
//!
//! - [`plot_curves`]: a PNG with train/test loss and train/test accuracy against the epoch, one
//!   line per run.
//! - [`plot_firing_rates`]: a PNG with the per-layer firing rates of each run's best-accuracy
//!   epoch, as grouped bars.
//! - [`markdown_report`]: a Markdown summary (best accuracy, firing rate, spikes, energy and its
//!   ratio against the first run, throughput) and a per-layer firing-rate table.
//! - [`write_report`]: all three into a folder, each written atomically.
//!
//! Epochs are 0-based, as in `log.jsonl`. Non-finite values (NaN, infinities) are skipped in
//! the plots and written as `n/a` in the report; empty histories give a report that says so and
//! plots with a "no data" note, never a panic.
//!
//! Text is rendered with DejaVu Sans, embedded in the binary (see `assets/README.md`), so
//! plotting needs no system fonts.
//!
//! One file per part: `history` (runs and their `log.jsonl`), `plot` (the PNGs), `markdown`
//! (the Markdown report) and `files` (the report folder, written through [`snn_fs`]).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

mod files;
mod history;
mod markdown;
mod plot;

pub use files::{write_report, ReportFiles};
pub use history::RunHistory;
pub use markdown::{markdown_report, markdown_report_with_images};
pub use plot::{plot_curves, plot_firing_rates, CURVES_SIZE, FIRING_RATES_SIZE};

/// File name of the curves plot in a report folder.
pub const CURVES_FILE: &str = "curves.png";
/// File name of the firing-rate plot in a report folder.
pub const FIRING_RATES_FILE: &str = "firing_rates.png";
/// File name of the Markdown report in a report folder.
pub const MARKDOWN_FILE: &str = "report.md";

/// Report errors; each names the file concerned.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A line of a `log.jsonl` is not an [`EpochRecord`].
    #[error("{}:{line}: not an epoch record: {source}", path.display())]
    Parse {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Drawing or encoding a plot failed.
    #[error("{}: plotting failed: {message}", path.display())]
    Plot {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ReportError {
    /// A failed atomic write, as the I/O error on its file.
    fn from_fs(e: snn_fs::Error) -> Self {
        ReportError::Io {
            path: e.path,
            source: e.source,
        }
    }
}
