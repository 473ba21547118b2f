//! The PNG plots, drawn with `plotters` into a buffer and encoded with `png`; text in the
//! embedded DejaVu Sans.

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::history::{layer_names, layer_rate};
use super::{ReportError, RunHistory};
use crate::trainer::EpochRecord;

/// Size in pixels of the [`plot_curves`] image.
pub const CURVES_SIZE: (u32, u32) = (1200, 800);
/// Size in pixels of the [`plot_firing_rates`] image.
pub const FIRING_RATES_SIZE: (u32, u32) = (1200, 700);

/// The embedded font (DejaVu Sans, Bitstream Vera license; see `assets/README.md`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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
    snn_fs::write_file_atomic_with(path, |w| {
        let mut enc = png::Encoder::new(w, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(io::Error::other)?;
        writer.write_image_data(&buf).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    })
    .map_err(ReportError::from_fs)
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
