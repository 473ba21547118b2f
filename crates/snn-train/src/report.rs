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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use thiserror::Error;

use crate::trainer::{best_epoch, EpochRecord};

/// Size in pixels of the [`plot_curves`] image.
pub const CURVES_SIZE: (u32, u32) = (1200, 800);
/// Size in pixels of the [`plot_firing_rates`] image.
pub const FIRING_RATES_SIZE: (u32, u32) = (1200, 700);

/// File name of the curves plot in a report folder.
pub const CURVES_FILE: &str = "curves.png";
/// File name of the firing-rate plot in a report folder.
pub const FIRING_RATES_FILE: &str = "firing_rates.png";
/// File name of the Markdown report in a report folder.
pub const MARKDOWN_FILE: &str = "report.md";

/// The embedded font (DejaVu Sans, Bitstream Vera license; see `assets/README.md`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family the font is registered under (plotters' default for labels).
const FAMILY: &str = "sans-serif";

/// Line and bar colours (matplotlib's `tab10`), cycled by run index.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

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

/// One training run: a name (used in legends and tables) and its epoch records.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    /// Display name, e.g. `vanilla` or `attention`.
    pub name: String,
    /// One record per epoch, in order.
    pub records: Vec<EpochRecord>,
}

/// Stand-in for JSON `null` while parsing a log: `serde_json` writes non-finite floats as
/// `null`, which does not deserialise into `f64`; they are read back as NaN.
const NULL_SENTINEL: f64 = f64::MAX;

impl RunHistory {
    /// A run from records already in memory (e.g. what [`crate::trainer::fit`] returned).
    pub fn new(name: impl Into<String>, records: Vec<EpochRecord>) -> Self {
        Self {
            name: name.into(),
            records,
        }
    }

    /// Reads a run's `log.jsonl` (one [`EpochRecord`] per line; blank lines are skipped).
    /// Non-finite values, which the log stores as `null`, come back as NaN.
    ///
    /// # Errors
    /// [`ReportError::Io`] when the file cannot be read, [`ReportError::Parse`] (with the
    /// 1-based line number) when a line is not a record.
    pub fn from_log(name: impl Into<String>, path: &Path) -> Result<Self, ReportError> {
        let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parse_err = |source| ReportError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            };
            let mut value: serde_json::Value = serde_json::from_str(line).map_err(parse_err)?;
            let had_null = replace_nulls(&mut value);
            let mut record: EpochRecord = serde_json::from_value(value).map_err(parse_err)?;
            if had_null {
                restore_nans(&mut record);
            }
            records.push(record);
        }
        Ok(Self::new(name, records))
    }

    /// The best epoch as [`fit`](crate::trainer::fit) chooses its `best/` checkpoint: see
    /// [`best_epoch`].
    pub fn best(&self) -> Option<&EpochRecord> {
        best_epoch(&self.records)
    }
}

/// Replaces every JSON `null` with [`NULL_SENTINEL`]; returns whether there was one.
fn replace_nulls(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => {
            *value = serde_json::Value::from(NULL_SENTINEL);
            true
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| replace_nulls(v) | acc),
        serde_json::Value::Object(map) => map
            .values_mut()
            .fold(false, |acc, v| replace_nulls(v) | acc),
        _ => false,
    }
}

/// Turns [`NULL_SENTINEL`] back into NaN in every float field.
fn restore_nans(r: &mut EpochRecord) {
    let t = &mut r.test;
    let fields = [
        &mut r.lr,
        &mut r.train_loss,
        &mut r.train_acc,
        &mut r.grad_norm,
        &mut r.train_samples_per_s,
        &mut r.seconds,
        &mut t.loss,
        &mut t.acc,
        &mut t.top5,
        &mut t.acc_vote,
        &mut t.acc_summed,
        &mut t.firing_rate,
        &mut t.spikes_per_sample,
        &mut t.input_rate,
        &mut t.energy_uj,
        &mut t.samples_per_s,
    ];
    for f in fields
        .into_iter()
        .chain(t.layer_rates.iter_mut().map(|(_, v)| v))
    {
        if *f == NULL_SENTINEL {
            *f = f64::NAN;
        }
    }
}

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
/// missing), each atomically (a temporary file in `dir`, then a rename). The Markdown links
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
    write_atomic(&files.markdown, md.as_bytes())?;
    Ok(files)
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`, so a
/// reader never sees half a file (the temporary file is removed on failure).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by `fill`.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<fs::File>) -> io::Result<()>,
) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut w = BufWriter::new(fs::File::create(&tmp)?);
        fill(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

/// Registers the embedded font with plotters once.
fn ensure_font(path: &Path) -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Plot {
            path: path.to_path_buf(),
            message: "the embedded font could not be loaded".into(),
        })
    }
}

/// Renders `size` pixels with `draw` and writes them as a PNG to `path`, atomically.
fn render_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), ReportError> {
    ensure_font(path)?;
    let plot_err = |message: String| ReportError::Plot {
        path: path.to_path_buf(),
        message,
    };
    let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(e.to_string()))?;
        draw(&root).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.to_string()))?;
    }
    write_atomic_with(path, |w| {
        let mut enc = png::Encoder::new(w, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(io::Error::other)?;
        writer.write_image_data(&buf).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    })
}

/// One panel of [`plot_curves`]: a title, a y label and how to read the value.
struct Panel {
    title: &'static str,
    y_label: &'static str,
    value: fn(&EpochRecord) -> f64,
    /// Where the legend goes: away from where curves usually end.
    legend: SeriesLabelPosition,
}

/// Plots train loss, test loss, train accuracy and test accuracy against the epoch (a 2x2
/// grid of panels, [`CURVES_SIZE`] pixels), one line per run, with a legend of run names.
/// Accuracies are in percent. Non-finite values are skipped (the line breaks there); a panel
/// with nothing finite says "no data".
///
/// # Errors
/// [`ReportError::Plot`] or [`ReportError::Io`] naming `path`.
pub fn plot_curves(runs: &[RunHistory], path: &Path) -> Result<(), ReportError> {
    let panels = [
        Panel {
            title: "Train loss",
            y_label: "loss",
            value: |r| r.train_loss,
            legend: SeriesLabelPosition::UpperRight,
        },
        Panel {
            title: "Test loss",
            y_label: "loss",
            value: |r| r.test.loss,
            legend: SeriesLabelPosition::UpperRight,
        },
        Panel {
            title: "Train accuracy",
            y_label: "accuracy (%)",
            value: |r| 100.0 * r.train_acc,
            legend: SeriesLabelPosition::LowerRight,
        },
        Panel {
            title: "Test accuracy",
            y_label: "accuracy (%)",
            value: |r| 100.0 * r.test.acc,
            legend: SeriesLabelPosition::LowerRight,
        },
    ];
    render_png(path, CURVES_SIZE, |root| {
        let areas = root.split_evenly((2, 2));
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, runs, panel).map_err(|e| format!("{}: {e}", panel.title))?;
        }
        Ok(())
    })
}

/// The finite `(epoch, value)` points of a run, split where a value is not finite.
fn segments(run: &RunHistory, value: fn(&EpochRecord) -> f64) -> Vec<Vec<(i32, f64)>> {
    let mut out: Vec<Vec<(i32, f64)>> = vec![Vec::new()];
    for r in &run.records {
        let v = value(r);
        if v.is_finite() {
            let epoch = i32::try_from(r.epoch).unwrap_or(i32::MAX);
            out.last_mut().expect("never empty").push((epoch, v));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// A `[lo, hi]` range around `values` with some margin; `None` when there are none.
fn padded_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else {
        0.05 * lo.abs().max(1.0)
    };
    Some((lo - pad, hi + pad))
}

/// Writes `text` centred in `area` (for panels without data).
fn draw_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    text: &str,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Center);
    let w = i32::try_from(w).unwrap_or(i32::MAX);
    let h = i32::try_from(h).unwrap_or(i32::MAX);
    let title_style = TextStyle::from((FAMILY, 24).into_font()).pos(centre);
    let note_style = TextStyle::from((FAMILY, 18).into_font())
        .color(&RGBColor(110, 110, 110))
        .pos(centre);
    area.draw_text(title, &title_style, (w / 2, 20))
        .map_err(|e| e.to_string())?;
    area.draw_text(text, &note_style, (w / 2, h / 2))
        .map_err(|e| e.to_string())
}

/// Draws one panel of [`plot_curves`].
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    runs: &[RunHistory],
    panel: &Panel,
) -> Result<(), String> {
    let series: Vec<Vec<Vec<(i32, f64)>>> =
        runs.iter().map(|run| segments(run, panel.value)).collect();
    let points = || series.iter().flatten().flatten();
    let Some((y_lo, y_hi)) = padded_range(points().map(|&(_, v)| v)) else {
        return draw_note(area, panel.title, "no data");
    };
    let x_lo = points().map(|&(e, _)| e).min().unwrap_or(0);
    let x_hi = points().map(|&(e, _)| e).max().unwrap_or(0).max(x_lo + 1);

    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, (FAMILY, 24))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(panel.y_label)
        .x_labels(usize::try_from(x_hi - x_lo + 1).unwrap_or(10).min(12))
        .y_labels(8)
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;

    for (i, (run, segs)) in runs.iter().zip(&series).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // An empty series carries the legend entry, so runs without data are still listed.
        chart
            .draw_series(LineSeries::new(std::iter::empty(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(run.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        for seg in segs {
            chart
                .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(seg.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    if !runs.is_empty() {
        chart
            .configure_series_labels()
            .position(panel.legend.clone())
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The layer names of every run's best epoch, in order of first appearance.
fn layer_names(runs: &[RunHistory]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for run in runs {
        for (name, _) in run.best().map_or(&[][..], |r| &r.test.layer_rates[..]) {
            if seen.insert(name.as_str()) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// A run's rate for `layer` at its best epoch, when present and finite.
fn layer_rate(run: &RunHistory, layer: &str) -> Option<f64> {
    run.best()?
        .test
        .layer_rates
        .iter()
        .find(|(n, _)| n == layer)
        .map(|&(_, v)| v)
        .filter(|v| v.is_finite())
}

/// Plots the per-layer firing rates of each run's best-accuracy epoch as grouped bars
/// ([`FIRING_RATES_SIZE`] pixels): layer names on the x axis, one bar colour per run, with a
/// legend of run names. Missing or non-finite rates get no bar; with no rates at all the image
/// says "no data".
///
/// # Errors
/// [`ReportError::Plot`] or [`ReportError::Io`] naming `path`.
pub fn plot_firing_rates(runs: &[RunHistory], path: &Path) -> Result<(), ReportError> {
    render_png(path, FIRING_RATES_SIZE, |root| {
        draw_firing_rates(root, runs)
    })
}

/// Draws [`plot_firing_rates`].
fn draw_firing_rates<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    runs: &[RunHistory],
) -> Result<(), String> {
    const TITLE: &str = "Per-layer firing rate (best-accuracy epoch)";
    let layers = layer_names(runs);
    let rates: Vec<Vec<Option<f64>>> = runs
        .iter()
        .map(|run| layers.iter().map(|l| layer_rate(run, l)).collect())
        .collect();
    let y_max = rates
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, &v| m.max(v));
    if rates.iter().flatten().all(Option::is_none) {
        return draw_note(root, TITLE, "no data");
    }
    let y_min = rates
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, &v| m.min(v));

    let n = layers.len();
    // Long or many names are written vertically.
    let longest = layers.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let slot_px = (FIRING_RATES_SIZE.0 as usize - 120) / n.max(1);
    let vertical = longest * 9 > slot_px.saturating_sub(6);
    let label_area = if vertical {
        (longest * 9 + 20).min(260) as u32
    } else {
        45
    };
    // Headroom above the tallest bar for the legend (about 20 px per run).
    let plot_px = FIRING_RATES_SIZE.1 as f64 - 90.0 - f64::from(label_area);
    let legend_px = 20.0 * runs.len() as f64 + 25.0;
    let free = (1.0 - legend_px / plot_px.max(1.0)).clamp(0.3, 0.9);
    let y_max = if y_max > 0.0 { y_max / free } else { 1.0 };
    // Integer x coordinates (f64 ones cannot take custom key points and a label formatter):
    // layer `l` spans [l * SLOT, (l + 1) * SLOT), its name at the centre.
    const SLOT: i32 = 1000;
    let n_slots = i32::try_from(n)
        .unwrap_or(i32::MAX / SLOT)
        .min(i32::MAX / SLOT - 1);
    let key_points: Vec<i32> = (0..n_slots).map(|l| l * SLOT + SLOT / 2).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(TITLE, (FAMILY, 26))
        .margin(15)
        .x_label_area_size(label_area)
        .y_label_area_size(85)
        .build_cartesian_2d(
            (0..n_slots * SLOT).with_key_points(key_points),
            y_min..y_max,
        )
        .map_err(|e| e.to_string())?;
    // Vertical names are drawn below (plotters centres axis labels on the tick, which puts
    // half of a rotated label inside the plot).
    let label_of = |x: &i32| {
        usize::try_from(x / SLOT)
            .ok()
            .and_then(|l| layers.get(l))
            .filter(|_| !vertical)
            .cloned()
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(if vertical { "" } else { "layer" })
        .y_desc("firing rate (spikes / neuron-step)")
        .x_label_formatter(&label_of)
        .x_label_style((FAMILY, 15))
        .y_labels(8)
        .y_label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    if vertical {
        let style = TextStyle::from((FAMILY, 15).into_font())
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (l, name) in (0..n_slots).zip(&layers) {
            let (x, y) = chart.backend_coord(&(l * SLOT + SLOT / 2, y_min));
            root.draw_text(name, &style, (x, y + 10))
                .map_err(|e| e.to_string())?;
        }
    }

    // Each layer's group of bars takes the middle 80% of its slot.
    let bar = (SLOT * 8 / 10) / i32::try_from(runs.len()).unwrap_or(1).max(1);
    for (i, (run, run_rates)) in runs.iter().zip(&rates).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let i = i32::try_from(i).unwrap_or(0);
        let bars = run_rates.iter().zip(0..n_slots).filter_map(|(v, l)| {
            let v = (*v)?;
            let x0 = l * SLOT + SLOT / 10 + i * bar;
            Some(Rectangle::new(
                [(x0 + bar / 20, 0.0), (x0 + bar - bar / 20, v)],
                color.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(run.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(|e| e.to_string())
}

/// `f(v)` for a finite `v`, else `n/a`.
fn fmt_or_na(v: f64, f: impl Fn(f64) -> String) -> String {
    if v.is_finite() {
        f(v)
    } else {
        "n/a".into()
    }
}

/// A fraction as a percentage with two decimals (`0.9235` → `92.35%`).
fn pct(v: f64) -> String {
    fmt_or_na(v, |v| format!("{:.2}%", 100.0 * v))
}

/// Escapes what would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The mean of the finite values, if any.
fn finite_mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The Markdown report of [`write_report`], without image links: see
/// [`markdown_report_with_images`].
pub fn markdown_report(runs: &[RunHistory], extra: Option<&str>) -> String {
    markdown_report_with_images(runs, &[], extra)
}

/// A Markdown report of `runs`:
///
/// - a summary table, one row per run, at the run's best-accuracy epoch: that epoch and its
///   test accuracy, top-5, vote and summed accuracy, firing rate, spikes per sample, energy
///   (µJ per sample) and its ratio to the first run's (formatted `0.850x`; the first run is
///   the baseline), plus the number of epochs and the mean train throughput over all epochs;
/// - a per-layer firing-rate table (rows = layers, columns = runs, best epochs);
/// - the `images` as `![alt](relative path)` links, given as `(alt, path)`;
/// - `extra`, verbatim, at the end (e.g. a comparison with a paper's table).
///
/// Accuracies are percentages with two decimals; non-finite values are written `n/a`, and a
/// run without epochs says so. Never panics.
pub fn markdown_report_with_images(
    runs: &[RunHistory],
    images: &[(&str, &str)],
    extra: Option<&str>,
) -> String {
    let mut md = String::from("# Training report\n\n");
    if runs.is_empty() {
        md.push_str("No runs.\n");
    } else {
        summary_table(&mut md, runs);
        layer_table(&mut md, runs);
    }
    if !images.is_empty() {
        md.push_str("\n## Plots\n\n");
        for (alt, path) in images {
            let _ = writeln!(md, "![{alt}]({path})\n");
        }
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        if !md.ends_with("\n\n") {
            md.push('\n');
        }
        md.push_str(extra.trim_end());
        md.push('\n');
    }
    md
}

/// The summary section of [`markdown_report_with_images`].
fn summary_table(md: &mut String, runs: &[RunHistory]) {
    let baseline = &runs[0];
    let base_energy = baseline
        .best()
        .map(|r| r.test.energy_uj)
        .filter(|e| e.is_finite() && *e > 0.0);
    md.push_str("## Summary\n\n");
    let _ = writeln!(
        md,
        "At each run's best-accuracy epoch (0-based); energy ratio against `{}`.\n",
        cell(&baseline.name).replace('`', "'")
    );
    md.push_str(
        "| Run | Epochs | Best epoch | Test acc | Top-5 | Vote acc | Summed acc | Firing rate \
         | Spikes/sample | Energy (µJ) | Energy ratio | Train samples/s |\n",
    );
    md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for run in runs {
        let name = cell(&run.name);
        let epochs = run.records.len();
        let throughput = finite_mean(run.records.iter().map(|r| r.train_samples_per_s))
            .map_or_else(|| "n/a".into(), |v| format!("{v:.1}"));
        let Some(best) = run.best() else {
            let what = if epochs == 0 {
                "no epochs"
            } else {
                "no finite test accuracy"
            };
            let _ = writeln!(
                md,
                "| {name} | {epochs} | {what} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a \
                 | {throughput} |"
            );
            continue;
        };
        let t = &best.test;
        let ratio = match base_energy {
            Some(base) if t.energy_uj.is_finite() => format!("{:.3}x", t.energy_uj / base),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {name} | {epochs} | {} | {} | {} | {} | {} | {} | {} | {} | {ratio} | {throughput} |",
            best.epoch,
            pct(t.acc),
            pct(t.top5),
            pct(t.acc_vote),
            pct(t.acc_summed),
            fmt_or_na(t.firing_rate, |v| format!("{v:.4}")),
            fmt_or_na(t.spikes_per_sample, |v| format!("{v:.1}")),
            fmt_or_na(t.energy_uj, |v| format!("{v:.3}")),
        );
    }
    md.push_str("\nTrain samples/s: mean over all epochs.\n");
}

/// The per-layer section of [`markdown_report_with_images`].
fn layer_table(md: &mut String, runs: &[RunHistory]) {
    md.push_str("\n## Per-layer firing rates\n\n");
    let layers = layer_names(runs);
    if layers.is_empty() {
        md.push_str("No per-layer rates recorded.\n");
        return;
    }
    md.push_str("Spikes per neuron-step at each run's best-accuracy epoch.\n\n| Layer |");
    for run in runs {
        let _ = write!(md, " {} |", cell(&run.name));
    }
    md.push_str("\n|---|");
    md.push_str(&"--:|".repeat(runs.len()));
    md.push('\n');
    for layer in &layers {
        let _ = write!(md, "| {} |", cell(layer));
        for run in runs {
            let v = layer_rate(run, layer).map_or_else(|| "n/a".into(), |v| format!("{v:.4}"));
            let _ = write!(md, " {v} |");
        }
        md.push('\n');
    }
}
