//! docs/benchmarks.png: throughput and p99 per route, component beside native, on log scales.
//! Drawn with plotters' bitmap backend; text through ab_glyph with a font read at run time.

use crate::Route;
use crate::host::Engine;
use crate::report::{Report, Section};
use anyhow::Context as _;
use plotters::prelude::*;
use std::path::Path;

const COMPONENT: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const NATIVE: RGBColor = RGBColor(0xdd, 0x84, 0x52);

pub fn draw(report: &Report, path: &Path, font: Vec<u8>) -> anyhow::Result<()> {
    // plotters keeps registered fonts for the life of the process.
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("the chart font is not a TrueType font"))?;

    let mut bars: Vec<Bar> = Vec::new();
    for route in Route::ALL {
        let get = |engine| {
            report
                .find(Section::Routes, route, engine)
                .map(|o| (o.requests_per_second(), o.quantile(0.99).as_secs_f64() * 1e3))
        };
        bars.push((route, get(Engine::Component), get(Engine::Native)));
    }

    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(700);
    panel(&left, "Throughput (requests/s, log scale)", &bars, |(rps, _)| rps, report.native_available)?;
    panel(&right, "p99 latency (ms, log scale)", &bars, |(_, p99)| p99, report.native_available)?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A route with its (req/s, p99 ms) under the component and natively.
type Bar = (Route, Option<(f64, f64)>, Option<(f64, f64)>);

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[Bar],
    pick: fn((f64, f64)) -> f64,
    with_native: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let values: Vec<f64> =
        bars.iter().flat_map(|(_, c, n)| [c.map(pick), n.map(pick)]).flatten().filter(|v| *v > 0.0).collect();
    let max = values.iter().cloned().fold(1.0, f64::max);
    let min = values.iter().cloned().fold(max, f64::min);
    let (lo, hi) = (10f64.powf((min.log10() - 0.3).floor()), 10f64.powf((max.log10() + 0.3).ceil()));
    let n = bars.len();
    // Segments 0..=n-1, one per route.
    let x = (0..n as i32 - 1).into_segmented();

    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => {
                bars.get(*i as usize).map(|(r, _, _)| r.short().to_string()).unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_label_formatter(&|v| axis_label(*v))
        .label_style(("sans-serif", 15))
        .draw()?;

    for (engine, color) in [(Engine::Component, COMPONENT), (Engine::Native, NATIVE)] {
        if engine == Engine::Native && !with_native {
            continue;
        }
        // Component on the left half of its route's segment, native on the right.
        let points: Vec<(i32, f64)> = bars
            .iter()
            .enumerate()
            .filter_map(|(i, (_, c, nat))| {
                let v = if engine == Engine::Component { c } else { nat };
                v.map(|v| (i as i32, pick(v)))
            })
            .collect();
        let span = move |i: i32| match engine {
            Engine::Component => (SegmentValue::Exact(i), SegmentValue::CenterOf(i)),
            // The chart has the host's two engines only.
            _ => (SegmentValue::CenterOf(i), SegmentValue::Exact(i + 1)),
        };
        chart
            .draw_series(points.iter().map(|&(i, v)| {
                let (from, to) = span(i);
                let mut bar = Rectangle::new([(from, lo), (to, v)], color.filled());
                bar.set_margin(0, 0, 6, 6);
                bar
            }))?
            .label(engine.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        chart.draw_series(
            points.iter().map(|&(i, v)| {
                Text::new(label(v), (span(i).0, v * 1.15), ("sans-serif", 12).into_font().color(&BLACK))
            }),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

/// A short number for a label: 12,345 → "12k", 6.25 → "6.2", 0.41 → "0.41".
fn label(v: f64) -> String {
    match v {
        v if v >= 10_000.0 => format!("{:.0}k", v / 1000.0),
        v if v >= 1_000.0 => format!("{:.1}k", v / 1000.0),
        v if v >= 10.0 => format!("{v:.0}"),
        v if v >= 1.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// An axis label on a log scale: 1000 → "1k", 10 → "10", 0.1 → "0.1".
fn axis_label(v: f64) -> String {
    if v >= 1000.0 { format!("{}k", v / 1000.0) } else { format!("{v}") }
}
