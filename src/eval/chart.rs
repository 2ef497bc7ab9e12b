//! Charts for the study's report and for `advbn visualize`, drawn with plotters: grouped
//! bars, a labelled scatter and line charts. Each chart is written as `NAME.png` (for the
//! report) and `NAME.svg` (scales, keeps its text as text). Text is set in DejaVu Sans,
//! embedded in the binary, so charts render the same on a machine without system fonts.

use std::error::Error;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family charts name: the embedded DejaVu Sans draws it in PNGs; an SVG viewer
/// uses its own sans-serif.
pub const FONT: &str = "sans-serif";
/// Title size in pixels. Every text is at least 14 px on charts about 800 px wide, so a
/// chart stays readable printed at half size.
pub const TITLE_PX: u32 = 26;
/// Axis description size in pixels.
pub const LABEL_PX: u32 = 21;
/// Tick label and legend size in pixels.
pub const TICK_PX: u32 = 18;

/// What drawing a chart can fail with.
pub type DrawError = Box<dyn Error>;

/// A chart that plotters can draw on any backend (PNG pixels or SVG text).
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the chart on `root`, a white area of `size()`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static;
}

/// Registers the embedded font with plotters (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    // The font is compiled in and valid; should it ever fail to parse, drawing text
    // reports a font error instead of panicking.
    ONCE.call_once(|| {
        drop(plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            dejavu::sans::regular(),
        ))
    });
}

/// Draws `chart` into an RGB image of its size.
pub fn render_png<C: Chart>(chart: &C) -> Result<RgbImage, String> {
    register_fonts();
    let (w, h) = chart.size();
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        chart.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    RgbImage::from_raw(w, h, pixels).ok_or_else(|| "chart buffer of the wrong size".into())
}

/// Draws `chart` as an SVG document.
pub fn render_svg<C: Chart>(chart: &C) -> Result<String, String> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes `dir/NAME.png` and `dir/NAME.svg`.
pub fn write_chart<C: Chart>(dir: &Path, name: &str, chart: &C) -> Result<(), String> {
    let fail = |ext: &str, e: &dyn std::fmt::Display| format!("cannot write {name}.{ext}: {e}");
    let png = render_png(chart).map_err(|e| fail("png", &e))?;
    png.save(dir.join(format!("{name}.png")))
        .map_err(|e| fail("png", &e))?;
    let svg = render_svg(chart).map_err(|e| fail("svg", &e))?;
    std::fs::write(dir.join(format!("{name}.svg")), svg).map_err(|e| fail("svg", &e))
}

/// Series colours (Okabe-Ito, distinguishable with colour-blindness), cycled.
pub fn series_color(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(120, 120, 120),
        RGBColor(240, 228, 66),
    ];
    PALETTE[index % PALETTE.len()]
}

/// How a legend entry shows its series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    /// A filled square (bars).
    Bar,
    /// A filled circle (points).
    Dot,
    /// A line with a dot, dashed or solid.
    Line {
        /// Dashed rather than solid.
        dashed: bool,
    },
}

fn font(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().color(&BLACK)
}

/// Fills `root` white, draws the title and, below it, the legend `(name, colour, mark)`
/// in rows that fit the width; returns the area left for the plot.
pub fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[(String, RGBColor, Mark)],
) -> Result<DrawingArea<DB, Shift>, DrawError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let body = root.margin(8, 0, 0, 0).titled(title, font(TITLE_PX))?;
    let (width, row_h) = (body.dim_in_pixel().0 as i32, TICK_PX as i32 + 10);
    let mut places = Vec::new();
    let (mut x, mut row) = (20, 0);
    for (name, _, _) in legend {
        let w = 44 + body.estimate_text_size(name, &font(TICK_PX))?.0 as i32;
        if x + w > width - 20 && x > 20 {
            (x, row) = (20, row + 1);
        }
        places.push((x, row * row_h + row_h / 2));
        x += w + 18;
    }
    let rows = if legend.is_empty() { 0 } else { row + 1 };
    let (strip, plot) = body.split_vertically(rows * row_h + 6);
    for ((name, colour, mark), &(x, y)) in legend.iter().zip(&places) {
        match mark {
            Mark::Bar => strip.draw(&Rectangle::new([(x, y - 7), (x + 28, y + 7)], colour.filled()))?,
            Mark::Dot => strip.draw(&Circle::new((x + 14, y), 6, colour.filled()))?,
            Mark::Line { dashed } => {
                let segments: &[(i32, i32)] = if *dashed {
                    &[(0, 8), (12, 18), (22, 28)]
                } else {
                    &[(0, 28)]
                };
                for (a, b) in segments {
                    strip.draw(&PathElement::new(
                        [(x + a, y), (x + b, y)],
                        colour.stroke_width(3),
                    ))?;
                }
                strip.draw(&Circle::new((x + 14, y), 4, colour.filled()))?;
            }
        }
        let style = font(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center));
        strip.draw(&Text::new(name.clone(), (x + 36, y), style))?;
    }
    Ok(plot)
}

/// A tick label: the value to three decimals, without trailing zeros (`2.4`, `100`).
pub fn tick(v: &f64) -> String {
    format!("{}", (v * 1000.0).round() / 1000.0)
}

/// A padded, finite, non-empty axis range over the finite values (`include` too); huge
/// magnitudes are clamped so that the axis arithmetic stays finite.
pub fn axis_range(values: impl IntoIterator<Item = f64>, include: Option<f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .chain(include)
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-1e12, 1e12))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let keep = |bound: f64, v: f64| if include == Some(bound) { bound } else { v };
    keep(lo, lo - pad * span)..keep(hi, hi + pad * span)
}

fn clip(name: &str) -> String {
    const MAX: usize = 40;
    if name.chars().count() <= MAX {
        name.to_string()
    } else {
        name.chars().take(MAX - 1).chain(['…']).collect()
    }
}

/// Grouped horizontal bars: one group per category, top to bottom, one bar per series;
/// non-finite values leave their bar out.
///
/// ```
/// use advbn::eval::chart::{BarChart, render_png, render_svg};
///
/// let chart = BarChart {
///     title: "Corruption error".into(),
///     value_label: "error (%)".into(),
///     categories: vec!["snow".into(), "elastic_transform".into()],
///     series: vec![("baseline".into(), vec![25.0, 18.0]), ("augmix+advbn".into(), vec![12.0, f64::NAN])],
/// };
/// let png = render_png(&chart).unwrap();
/// assert_eq!(png.width(), 900);
/// assert!(render_svg(&chart).unwrap().contains("augmix+advbn"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarChart {
    /// Drawn above the chart.
    pub title: String,
    /// The value (horizontal) axis, with its unit, e.g. `error (%)`.
    pub value_label: String,
    /// Group labels along the vertical axis, first at the top.
    pub categories: Vec<String>,
    /// (name, one value per category); series `i` is drawn in [`series_color`]`(i)`.
    pub series: Vec<(String, Vec<f64>)>,
}

impl BarChart {
    fn groups(&self) -> usize {
        self.series
            .iter()
            .map(|(_, v)| v.len())
            .fold(self.categories.len(), usize::max)
            .clamp(1, 200)
    }
}

impl Chart for BarChart {
    fn size(&self) -> (u32, u32) {
        let per_group = (self.series.len().min(20) as u32 * 10 + 14).max(34);
        let legend = self.series.len().min(20).div_ceil(3) as u32 * 28;
        (900, (170 + legend + self.groups() as u32 * per_group).max(420))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let series = &self.series[..self.series.len().min(20)];
        let legend: Vec<_> = series
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (clip(n), series_color(i), Mark::Bar))
            .collect();
        let plot = frame(root, &self.title, &legend)?;
        let n = self.groups();
        let labels: Vec<String> = (0..n)
            .map(|i| self.categories.get(i).map_or_else(String::new, |c| clip(c)))
            .collect();
        let mut label_w = 0;
        for label in &labels {
            label_w = label_w.max(plot.estimate_text_size(label, &font(TICK_PX))?.0);
        }
        let x = axis_range(
            series.iter().flat_map(|(_, v)| v.iter().copied()),
            Some(0.0),
            0.05,
        );
        // Category i is segment n-1-i, so the first category is at the top.
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(36)
            .x_label_area_size(3 * LABEL_PX)
            .y_label_area_size((label_w + 16).min(420))
            .build_cartesian_2d(x.clone(), (0..n - 1).into_segmented())?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(k) | SegmentValue::Exact(k) => {
                labels.get(n - 1 - k.min(&(n - 1))).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .x_desc(&self.value_label)
            .x_label_formatter(&tick)
            .y_label_formatter(&label_of)
            .label_style(font(TICK_PX))
            .axis_desc_style(font(LABEL_PX))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        // Bars share 80% of their group's height; margins in pixels place each one.
        let group = f64::from(chart.plotting_area().dim_in_pixel().1) / n as f64;
        let thickness = 0.8 * group / series.len().max(1) as f64;
        for (s, (_, values)) in series.iter().enumerate() {
            let top = (0.1 * group + s as f64 * thickness).round() as u32;
            let bottom = (0.9 * group - (s + 1) as f64 * thickness).round().max(0.0) as u32;
            let bars = values
                .iter()
                .take(n)
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| {
                    let k = n - 1 - i;
                    let corners = [
                        (0.0, SegmentValue::Exact(k)),
                        (v.clamp(x.start, x.end), SegmentValue::Exact(k + 1)),
                    ];
                    let mut bar = Rectangle::new(corners, series_color(s).filled());
                    bar.set_margin(top, bottom, 0, 0);
                    bar
                });
            chart.draw_series(bars)?;
        }
        Ok(())
    }
}

/// One marker per named point, each in its own colour, named in the legend; points with a
/// non-finite coordinate are left out but keep their colour slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScatterChart {
    /// Drawn above the chart.
    pub title: String,
    /// Horizontal axis, with its unit.
    pub x_label: String,
    /// Vertical axis, with its unit.
    pub y_label: String,
    /// (name, x, y); point `i` is drawn in [`series_color`]`(i)`.
    pub points: Vec<(String, f64, f64)>,
}

impl Chart for ScatterChart {
    fn size(&self) -> (u32, u32) {
        (800, 640 + self.points.len().min(30).div_ceil(3) as u32 * 28)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let points = &self.points[..self.points.len().min(30)];
        let legend: Vec<_> = points
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (clip(n), series_color(i), Mark::Dot))
            .collect();
        let plot = frame(root, &self.title, &legend)?;
        let finite: Vec<(usize, f64, f64)> = (points.iter().enumerate())
            .filter(|(_, (_, x, y))| x.is_finite() && y.is_finite())
            .map(|(i, (_, x, y))| (i, x.clamp(-1e12, 1e12), y.clamp(-1e12, 1e12)))
            .collect();
        let x = axis_range(finite.iter().map(|p| p.1), None, 0.15);
        let y = axis_range(finite.iter().map(|p| p.2), None, 0.15);
        let mut chart = plotting_area(&plot, x, y, &self.x_label, &self.y_label, 8)?;
        chart.draw_series(
            finite
                .iter()
                .map(|&(i, x, y)| Circle::new((x, y), 8, series_color(i).filled())),
        )?;
        Ok(())
    }
}

/// One line of a [`LineChart`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    /// Legend name.
    pub name: String,
    /// Colour index ([`series_color`]).
    pub color: usize,
    /// Dashed rather than solid.
    pub dashed: bool,
    /// (x, y) in drawing order; non-finite points are left out.
    pub points: Vec<(f64, f64)>,
}

/// Lines with a dot at each point, over a whole-number x axis (epochs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    /// Drawn above the chart.
    pub title: String,
    /// Horizontal axis, with its unit.
    pub x_label: String,
    /// Vertical axis, with its unit.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
}

impl Chart for LineChart {
    fn size(&self) -> (u32, u32) {
        (800, 560 + self.lines.len().min(30).div_ceil(3) as u32 * 28)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let lines = &self.lines[..self.lines.len().min(30)];
        let legend: Vec<_> = (lines.iter())
            .map(|l| {
                (
                    clip(&l.name),
                    series_color(l.color),
                    Mark::Line { dashed: l.dashed },
                )
            })
            .collect();
        let plot = frame(root, &self.title, &legend)?;
        let finite = |l: &Line| -> Vec<(f64, f64)> {
            let ok = l.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
            ok.map(|(x, y)| (x.clamp(-1e12, 1e12), y.clamp(-1e12, 1e12)))
                .collect()
        };
        let all: Vec<(f64, f64)> = lines.iter().flat_map(finite).collect();
        let x = axis_range(all.iter().map(|p| p.0), None, 0.0);
        let y = axis_range(all.iter().map(|p| p.1), None, 0.08);
        // Whole-number x values (epochs) get whole-number ticks, half a step inside the frame.
        let x = x.start - 0.5..x.end + 0.5;
        let ticks = ((x.end - x.start) as usize).clamp(1, 10);
        let mut chart = plotting_area(&plot, x, y, &self.x_label, &self.y_label, ticks)?;
        for line in lines {
            let (points, colour) = (finite(line), series_color(line.color));
            let style = colour.stroke_width(3);
            if line.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 12, 8, style))?;
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))?;
            }
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 5, colour.filled())))?;
        }
        Ok(())
    }
}

/// A chart over `plot` with light grid lines and the chart fonts.
pub fn plotting_area<'a, DB>(
    plot: &'a DrawingArea<DB, Shift>,
    x: Range<f64>,
    y: Range<f64>,
    x_label: &str,
    y_label: &str,
    x_ticks: usize,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(plot)
        .margin(12)
        .margin_right(36)
        .x_label_area_size(3 * LABEL_PX)
        .y_label_area_size(4 * LABEL_PX + 10)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .max_light_lines(1)
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(LABEL_PX))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the PNG size, and that the SVG is an `<svg>` of the same size holding `texts`.
    fn check<C: Chart>(chart: &C, texts: &[&str]) {
        let (w, h) = chart.size();
        assert!((400..=4000).contains(&w) && (150..=8000).contains(&h), "{w}x{h}");
        assert_eq!(render_png(chart).unwrap().dimensions(), (w, h));
        let svg = render_svg(chart).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        let head = &svg[..svg.find('>').unwrap()];
        assert!(
            head.contains(&format!("width=\"{w}\"")) && head.contains(&format!("height=\"{h}\"")),
            "{head}"
        );
        for text in texts {
            assert!(
                svg.contains(&format!(">\n{text}\n</text>")),
                "the SVG lacks the text {text:?}"
            );
        }
    }

    fn bars() -> BarChart {
        BarChart {
            title: "Error per corruption".into(),
            value_label: "top-1 error (%)".into(),
            categories: vec!["fog".into(), "elastic_transform".into(), "snow".into()],
            series: vec![
                ("baseline".into(), vec![40.0, 30.0, 20.0]),
                ("augmix".into(), vec![35.0, f64::NAN, 18.0]),
            ],
        }
    }

    #[test]
    fn axis_ranges_are_finite_padded_and_keep_the_anchor() {
        assert_eq!(axis_range([2.0, 4.0], None, 0.5), 1.0..5.0);
        assert_eq!(axis_range([20.0, 40.0], Some(0.0), 0.05), 0.0..42.0);
        assert_eq!(axis_range([-3.0, -1.0], Some(0.0), 0.0), -3.0..0.0);
        assert_eq!(axis_range([], None, 0.1), 0.0..1.0);
        assert_eq!(axis_range([f64::NAN, f64::INFINITY], None, 0.1), 0.0..1.0);
        let single = axis_range([5.0], None, 0.1);
        assert!(single.start < 5.0 && single.end > 5.0, "{single:?}");
        let huge = axis_range([f64::MAX, -f64::MAX], None, 0.1);
        assert!(huge.start.is_finite() && huge.end.is_finite() && huge.start < huge.end);
    }

    #[test]
    fn bar_charts_name_every_category_and_series() {
        let chart = bars();
        check(
            &chart,
            &[
                "Error per corruption",
                "top-1 error (%)",
                "fog",
                "elastic_transform",
                "baseline",
                "augmix",
            ],
        );
        // More categories make the chart taller, not the bars thinner.
        let mut more = chart.clone();
        more.categories.extend((0..16).map(|i| format!("c{i}")));
        assert!(more.size().1 >= 19 * 34, "{:?}", more.size());
    }

    #[test]
    fn scatter_and_line_charts_carry_their_labels() {
        let scatter = ScatterChart {
            title: "Clean vs corrupted".into(),
            x_label: "clean error (%)".into(),
            y_label: "mean corruption error (%)".into(),
            points: vec![("baseline".into(), 5.0, 26.0), ("augmix+advbn".into(), 5.1, 25.0)],
        };
        check(
            &scatter,
            &[
                "clean error (%)",
                "mean corruption error (%)",
                "baseline",
                "augmix+advbn",
            ],
        );
        let line = |name: &str, dashed| Line {
            name: name.into(),
            color: 1,
            dashed,
            points: vec![(1.0, 2.0), (2.0, 1.5), (3.0, 1.2)],
        };
        let lines = LineChart {
            title: "Loss per epoch".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy loss".into(),
            lines: vec![line("advbn (train)", false), line("advbn (test)", true)],
        };
        check(
            &lines,
            &["epoch", "cross-entropy loss", "advbn (train)", "advbn (test)"],
        );
    }

    #[test]
    fn degenerate_charts_still_render() {
        let long = "elastic_transform_".repeat(300);
        let bar_cases = [
            BarChart::default(),
            BarChart {
                series: vec![("s".into(), vec![])],
                ..bars()
            },
            BarChart {
                series: vec![("s".into(), vec![0.0; 3])],
                ..bars()
            },
            BarChart {
                series: vec![("s".into(), vec![f64::NAN, f64::INFINITY, -f64::MAX])],
                ..bars()
            },
            BarChart {
                series: vec![("s".into(), vec![f64::MAX, -5.0, 1.0])],
                ..bars()
            },
            BarChart {
                title: long.clone(),
                value_label: long.clone(),
                categories: vec![long.clone(); 3],
                series: vec![(long.clone(), vec![1.0; 5]); 40],
            },
        ];
        for chart in &bar_cases {
            check(chart, &[]);
        }
        let scatter = |points: Vec<(f64, f64)>| ScatterChart {
            points: points.into_iter().map(|(x, y)| (long.clone(), x, y)).collect(),
            ..Default::default()
        };
        for points in [
            vec![],
            vec![(2.0, 2.0); 3],
            vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
            vec![(f64::MAX, -1e300); 50],
        ] {
            check(&scatter(points), &[]);
        }
        let one = |points| LineChart {
            lines: vec![Line {
                points,
                ..Default::default()
            }],
            ..Default::default()
        };
        for points in [
            vec![],
            vec![(1.0, 0.5)],
            vec![(f64::NAN, 1.0), (1e300, -1e300)],
            (0..500).map(|e| (e as f64, 1.0)).collect(),
        ] {
            check(&one(points), &[]);
        }
    }

    #[test]
    fn write_chart_writes_a_png_and_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        write_chart(dir.path(), "bars", &bars()).unwrap();
        let png = image::open(dir.path().join("bars.png")).unwrap();
        assert_eq!((png.width(), png.height()), bars().size());
        assert!(
            std::fs::read_to_string(dir.path().join("bars.svg"))
                .unwrap()
                .contains(">\nelastic_transform\n<")
        );
        let missing = write_chart(&dir.path().join("nope"), "bars", &bars()).unwrap_err();
        assert!(
            missing.starts_with("cannot write bars.png:") && !missing.contains('\n'),
            "{missing}"
        );
    }
}
