//! The latency plot: p50 and p99 send-to-deliver latency against delivered messages per
//! second, one colour per server (natter on SQLite, natter on PostgreSQL, the plain broker),
//! as an SVG drawn with plotters.

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::prelude::*;

/// One server's sweep: (delivered msg/s, p50 ms, p99 ms) per rate step.
#[derive(Clone, Debug)]
pub(crate) struct Curve {
    /// The legend label.
    pub(crate) label: String,
    /// The steps, in any order.
    pub(crate) points: Vec<(f64, f64, f64)>,
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws `curves` into an SVG file at `path`.
///
/// # Errors
/// When there is nothing to draw or the file cannot be written.
pub(crate) fn draw(path: &Path, curves: &[Curve]) -> anyhow::Result<()> {
    let all: Vec<(f64, f64, f64)> = curves.iter().flat_map(|c| c.points.clone()).collect();
    if all.is_empty() {
        anyhow::bail!("no chat measurements to plot");
    }
    let max_rate = all.iter().map(|p| p.0).fold(0.0, f64::max).max(1.0) * 1.1;
    let low = all
        .iter()
        .flat_map(|p| [p.1, p.2])
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min)
        .min(1.0)
        * 0.5;
    let high = all.iter().map(|p| p.2).fold(0.0, f64::max).max(10.0) * 2.0;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "1:1 chat: send-to-deliver latency vs delivered msg/s",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_rate, (low.max(0.001)..high).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("delivered msg/s")
        .y_desc("latency, ms (log)")
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .draw()
        .map_err(plot_error)?;

    for (index, curve) in curves.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let mut points = curve.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p50: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1.max(low))).collect();
        let p99: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.2.max(low))).collect();
        chart
            .draw_series(LineSeries::new(p50.clone(), colour.stroke_width(2)))
            .map_err(plot_error)?
            .label(format!("{} p50", curve.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(p50.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(plot_error)?;
        chart
            .draw_series(DashedLineSeries::new(
                p99.clone(),
                6,
                4,
                colour.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(format!("{} p99 (dashed)", curve.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 8, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                p99.iter()
                    .map(|&p| TriangleMarker::new(p, 4, colour.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present()
        .map_err(plot_error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn plot_error<E: std::fmt::Display>(err: E) -> anyhow::Error {
    anyhow!("drawing the latency plot: {err}")
}
