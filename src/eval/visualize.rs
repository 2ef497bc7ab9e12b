//! Pictures of what AdvBN does: the attack's per-channel factors over a run (a heatmap), and
//! feature maps of a batch before and after the perturbation (a grid).

use image::{Rgb, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{Chart, DrawError, FONT, LABEL_PX, TICK_PX, frame, plotting_area, register_fonts, tick};

/// The factors of one logged step: `(step, s_mu, s_sigma)`.
pub type FactorLog = Vec<(u64, Vec<f32>, Vec<f32>)>;

/// Reads the per-channel factors from a run's `metrics.jsonl` text.
pub fn factors_from_metrics(text: &str) -> FactorLog {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "step")
        .filter_map(|v| {
            let floats = |key: &str| -> Option<Vec<f32>> {
                v[key]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect())
            };
            Some((v["step"].as_u64()?, floats("s_mu")?, floats("s_sigma")?))
        })
        .collect()
}

/// A diverging colour for `value` in `[lo, hi]` around `mid`: blue below, white at `mid`,
/// red above.
fn diverging(value: f32, lo: f32, mid: f32, hi: f32) -> RGBColor {
    let lerp = |a: f32, b: f32, t: f32| (a + (b - a) * t.clamp(0.0, 1.0)).round() as u8;
    if value <= mid {
        let t = if mid > lo { (mid - value) / (mid - lo) } else { 0.0 };
        RGBColor(lerp(255.0, 33.0, t), lerp(255.0, 102.0, t), lerp(255.0, 172.0, t))
    } else {
        let t = if hi > mid { (value - mid) / (hi - mid) } else { 0.0 };
        RGBColor(lerp(255.0, 178.0, t), lerp(255.0, 24.0, t), lerp(255.0, 43.0, t))
    }
}

/// One column of the factor heatmap: the logged steps `[start, end)` and, per channel, the
/// mean of s_mu and of s_sigma over them.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorColumn {
    /// First step of the column.
    pub start: f64,
    /// The step after the column.
    pub end: f64,
    /// Mean s_mu per channel.
    pub s_mu: Vec<f32>,
    /// Mean s_sigma per channel.
    pub s_sigma: Vec<f32>,
}

/// Averages the logged steps into at most `max_columns` columns of consecutive steps.
pub fn factor_columns(log: &FactorLog, max_columns: usize) -> Vec<FactorColumn> {
    let columns = log.len().min(max_columns.max(1));
    let step_at = |i: usize| log.get(i).map_or(log.last().map_or(0, |l| l.0 + 1), |l| l.0) as f64;
    type Step = (u64, Vec<f32>, Vec<f32>);
    let mean = |rows: &[Step], pick: fn(&Step) -> &Vec<f32>| {
        let width = rows.iter().map(|r| pick(r).len()).max().unwrap_or(0);
        let sum = |ch| rows.iter().filter_map(|r| pick(r).get(ch)).sum::<f32>();
        (0..width).map(|ch| sum(ch) / rows.len() as f32).collect()
    };
    (0..columns)
        .map(|col| {
            let a = col * log.len() / columns;
            let b = ((col + 1) * log.len() / columns).max(a + 1);
            let rows = &log[a..b];
            FactorColumn {
                start: step_at(a),
                end: step_at(b),
                s_mu: mean(rows, |r| &r.1),
                s_sigma: mean(rows, |r| &r.2),
            }
        })
        .collect()
}

/// The factors over a run: two heatmaps (s_mu above, s_sigma below), one row per channel,
/// one column per group of logged steps, coloured from `1 - epsilon` (blue) through 1
/// (white) to `1 + epsilon` (red), with a colour bar. Draw it with
/// [`render_png`](super::chart::render_png) or [`write_chart`](super::chart::write_chart).
pub struct FactorHeatmap<'a> {
    /// The logged factors.
    pub log: &'a FactorLog,
    /// The attack's epsilon: the colour scale spans `1 ± epsilon`.
    pub epsilon: f32,
}

impl Chart for FactorHeatmap<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let plot = frame(root, "AdvBN factors per channel over training", &[])?;
        let (panels, bar) = plot.split_horizontally(plot.dim_in_pixel().0 - 140);
        let channels = self
            .log
            .iter()
            .map(|l| l.1.len().max(l.2.len()))
            .max()
            .unwrap_or(0);
        let columns = factor_columns(self.log, (16_000 / channels.max(1)).clamp(10, 150));
        let steps = columns.first().map_or(0.0, |c| c.start)..columns.last().map_or(1.0, |c| c.end);
        let (lo, hi) = (1.0 - self.epsilon, 1.0 + self.epsilon);
        for (panel, name) in panels
            .split_evenly((2, 1))
            .iter()
            .zip(["s_mu (mean)", "s_sigma (std)"])
        {
            let area = panel.titled(name, (FONT, LABEL_PX))?;
            let mut chart = plotting_area(
                &area,
                steps.clone(),
                0.0..channels.max(1) as f64,
                "training step",
                "channel",
                8,
            )?;
            let cells = columns.iter().flat_map(|c| {
                let values = if name.starts_with("s_mu") {
                    &c.s_mu
                } else {
                    &c.s_sigma
                };
                values.iter().enumerate().map(|(ch, v)| {
                    let colour = diverging(*v, lo, 1.0, hi).filled();
                    Rectangle::new([(c.start, ch as f64), (c.end, ch as f64 + 1.0)], colour)
                })
            });
            chart.draw_series(cells)?;
        }
        let mut chart = ChartBuilder::on(&bar)
            .margin(12)
            .margin_top(40)
            .y_label_area_size(70)
            .x_label_area_size(3 * LABEL_PX)
            .build_cartesian_2d(0.0..1.0, f64::from(lo)..f64::from(hi))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .disable_x_axis()
            .y_desc("factor")
            .y_label_formatter(&tick)
            .label_style((FONT, TICK_PX))
            .axis_desc_style((FONT, LABEL_PX));
        mesh.draw()?;
        let level = |k: usize| lo + (hi - lo) * k as f32 / 64.0;
        chart.draw_series((0..64).map(|k| {
            let colour = diverging((level(k) + level(k + 1)) / 2.0, lo, 1.0, hi).filled();
            Rectangle::new(
                [(0.0, f64::from(level(k))), (1.0, f64::from(level(k + 1)))],
                colour,
            )
        }))?;
        Ok(())
    }
}

/// Renders feature maps `[N, C, H, W]` (given as flat CHW data per sample) before and after
/// the perturbation: per sample, the input image, then one row of `channels` maps before and
/// one after, each map scaled by the min/max over both versions of that map (so brightness
/// differences between before and after are real).
pub fn render_feature_grid(
    inputs: &[RgbImage],
    before: &[f32],
    after: &[f32],
    dims: [usize; 4],
    channels: usize,
) -> Result<RgbImage, String> {
    let [n, c, h, w] = dims;
    if before.len() != n * c * h * w || after.len() != before.len() {
        return Err(format!(
            "feature maps of {} and {} values do not match {dims:?}",
            before.len(),
            after.len()
        ));
    }
    let channels = channels.min(c);
    let zoom = (64 / h.max(w).max(1)).clamp(1, 8) as u32;
    let (cell_w, cell_h) = (w as u32 * zoom, h as u32 * zoom);
    let input_w = inputs.first().map_or(0, |i| i.width()).max(1) * 2;
    let label_w = 60;
    let gap = 3;
    let width = label_w + input_w + gap + channels as u32 * (cell_w + gap) + gap;
    let row_h = cell_h.max(input_w / 2) + gap;
    let title_h = 30;
    let height = title_h + n as u32 * (2 * row_h + 8) + gap;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut labels = vec![(
        "feature maps before / after AdvBN (per-map min-max)".to_string(),
        6,
        6,
    )];
    for s in 0..n {
        let y0 = title_h + s as u32 * (2 * row_h + 8);
        if let Some(input) = inputs.get(s) {
            for y in 0..input.height() * 2 {
                for x in 0..input.width() * 2 {
                    img.put_pixel(label_w + x, y0 + y, *input.get_pixel(x / 2, y / 2));
                }
            }
        }
        labels.push(("before".into(), 4, y0 as i32 + 2));
        labels.push(("after".into(), 4, (y0 + row_h) as i32 + 2));
        for ch in 0..channels {
            let offset = (s * c + ch) * h * w;
            let (b, a) = (&before[offset..offset + h * w], &after[offset..offset + h * w]);
            let (lo, hi) = b
                .iter()
                .chain(a)
                .fold((f32::MAX, f32::MIN), |(l, u), v| (l.min(*v), u.max(*v)));
            let span = (hi - lo).max(1e-12);
            for (row, map) in [b, a].into_iter().enumerate() {
                let x0 = label_w + input_w + gap + ch as u32 * (cell_w + gap);
                let yr = y0 + row as u32 * row_h;
                for y in 0..cell_h {
                    for x in 0..cell_w {
                        let v = map[(y / zoom) as usize * w + (x / zoom) as usize];
                        let g = ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8;
                        img.put_pixel(x0 + x, yr + y, Rgb([g, g, g]));
                    }
                }
            }
        }
    }
    register_fonts();
    let root = BitMapBackend::with_buffer(img.as_mut(), (width, height)).into_drawing_area();
    for (text, x, y) in labels {
        let text = Text::new(text, (x, y), (FONT, 15).into_font());
        root.draw(&text)
            .map_err(|e| format!("cannot label the feature grid: {e}"))?;
    }
    root.present()
        .map_err(|e| format!("cannot label the feature grid: {e}"))?;
    drop(root);
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::super::chart::{render_png, render_svg};
    use super::*;

    #[test]
    fn factors_are_read_from_step_lines_only() {
        let text = concat!(
            "{\"kind\":\"step\",\"step\":1,\"s_mu\":[1.2,0.8],\"s_sigma\":[2.1,-0.1]}\n",
            "{\"kind\":\"step\",\"step\":2,\"s_mu\":null,\"s_sigma\":null}\n",
            "{\"kind\":\"epoch\",\"step\":2}\n"
        );
        let log = factors_from_metrics(text);
        assert_eq!(log, vec![(1, vec![1.2, 0.8], vec![2.1, -0.1])]);
    }

    #[test]
    fn columns_average_consecutive_steps() {
        let log: FactorLog = (0..10)
            .map(|s| (2 * s, vec![s as f32, 1.0], vec![1.0, -(s as f32)]))
            .collect();
        let all = factor_columns(&log, 100);
        assert_eq!(all.len(), 10);
        assert_eq!(
            (all[3].start, all[3].end, all[3].s_mu.clone()),
            (6.0, 8.0, vec![3.0, 1.0])
        );
        assert_eq!(
            all[9].end, 19.0,
            "the last column ends one step after the last logged step"
        );
        let five = factor_columns(&log, 5);
        assert_eq!(five.len(), 5);
        assert_eq!((five[0].start, five[0].end), (0.0, 4.0));
        assert_eq!(
            (five[0].s_mu.clone(), five[0].s_sigma.clone()),
            (vec![0.5, 1.0], vec![1.0, -0.5])
        );
        assert!(factor_columns(&Vec::new(), 5).is_empty());
    }

    #[test]
    fn heatmap_colours_follow_the_factor() {
        assert_eq!(diverging(1.0, -0.1, 1.0, 2.1), WHITE);
        let red = diverging(2.1, -0.1, 1.0, 2.1);
        let blue = diverging(-0.1, -0.1, 1.0, 2.1);
        assert!(red.0 > red.2 && blue.2 > blue.0);
        let log: FactorLog = (0..700)
            .map(|s| (s, vec![2.1, 1.0, 0.5], vec![-0.1, 1.0, 1.5]))
            .collect();
        let heatmap = FactorHeatmap {
            log: &log,
            epsilon: 1.1,
        };
        assert_eq!(render_png(&heatmap).unwrap().dimensions(), heatmap.size());
        let svg = render_svg(&heatmap).unwrap();
        for text in [
            "s_mu (mean)",
            "s_sigma (std)",
            "training step",
            "channel",
            "factor",
        ] {
            assert!(svg.contains(&format!(">\n{text}\n</text>")), "{text}");
        }
        let empty = FactorHeatmap {
            log: &Vec::new(),
            epsilon: 0.5,
        };
        assert_eq!(render_png(&empty).unwrap().dimensions(), empty.size());
    }

    #[test]
    fn feature_grid_scales_each_map_jointly() {
        let dims = [1, 2, 2, 2];
        let before = vec![0.0, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0];
        let after = vec![0.0, 2.0, 4.0, 6.0, 5.0, 5.0, 5.0, 5.0];
        let img = render_feature_grid(&[RgbImage::new(2, 2)], &before, &after, dims, 2).unwrap();
        // The brightest pixel (after's 6.0) is white, before's 3.0 is mid grey.
        assert!(img.pixels().any(|p| *p == Rgb([255, 255, 255])));
        assert!(img.pixels().any(|p| *p == Rgb([128, 128, 128])));
        let wrong = render_feature_grid(&[], &before[..7], &after, dims, 2).unwrap_err();
        assert_eq!(wrong, "feature maps of 7 and 8 values do not match [1, 2, 2, 2]");
    }
}
