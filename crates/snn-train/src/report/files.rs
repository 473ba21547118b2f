//! The report folder: both plots and the Markdown report, each written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use super::markdown::markdown_report_with_images;
use super::plot::{plot_curves, plot_firing_rates};
use super::{ReportError, RunHistory, CURVES_FILE, FIRING_RATES_FILE, MARKDOWN_FILE};

/// The paths [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `curves.png` ([`plot_curves`]).
    pub curves: PathBuf,
    /// `firing_rates.png` ([`plot_firing_rates`]).
    pub firing_rates: PathBuf,
    /// `report.md` ([`markdown_report`], linking both images).
    pub markdown: PathBuf,
}

/// Writes [`CURVES_FILE`], [`FIRING_RATES_FILE`] and [`MARKDOWN_FILE`] into `dir` (created if
/// missing), each atomically ([`snn_fs`]: a temporary file in `dir`, fsync, rename). The Markdown links
/// the images by their relative names and ends with `extra` when given.
///
/// # Errors
/// [`ReportError`] naming the file that could not be drawn or written.
pub fn write_report(
    dir: &Path,
    runs: &[RunHistory],
    extra: Option<&str>,
) -> Result<ReportFiles, ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = ReportFiles {
        curves: dir.join(CURVES_FILE),
        firing_rates: dir.join(FIRING_RATES_FILE),
        markdown: dir.join(MARKDOWN_FILE),
    };
    plot_curves(runs, &files.curves)?;
    plot_firing_rates(runs, &files.firing_rates)?;
    let images = [
        ("Training curves", CURVES_FILE),
        ("Per-layer firing rates", FIRING_RATES_FILE),
    ];
    let md = markdown_report_with_images(runs, &images, extra);
    snn_fs::write_file_atomic(&files.markdown, md.as_bytes()).map_err(ReportError::from_fs)?;
    Ok(files)
}
