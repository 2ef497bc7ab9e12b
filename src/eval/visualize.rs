//! Pictures of what AdvBN does: the attack's per-channel factors over a run (a heatmap), and
//! feature maps of a batch before and after the perturbation (a grid).

use image::{Rgb, RgbImage};

use super::chart::{draw_text, text_height, text_width};

const INK: Rgb<u8> = Rgb([20, 20, 20]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

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
fn diverging(value: f32, lo: f32, mid: f32, hi: f32) -> Rgb<u8> {
    let lerp = |a: f32, b: f32, t: f32| (a + (b - a) * t.clamp(0.0, 1.0)).round() as u8;
    if value <= mid {
        let t = if mid > lo { (mid - value) / (mid - lo) } else { 0.0 };
        Rgb([lerp(255.0, 33.0, t), lerp(255.0, 102.0, t), lerp(255.0, 172.0, t)])
    } else {
        let t = if hi > mid { (value - mid) / (hi - mid) } else { 0.0 };
        Rgb([lerp(255.0, 178.0, t), lerp(255.0, 24.0, t), lerp(255.0, 43.0, t)])
    }
}

/// Renders the factors over a run: two heatmaps (s_mu above, s_sigma below), one row per
/// channel, one column per logged step (averaged into at most 600 columns), coloured from
/// `1 - epsilon` (blue) through 1 (white) to `1 + epsilon` (red), with a colour bar.
pub fn render_factor_heatmap(log: &FactorLog, epsilon: f32) -> RgbImage {
    let scale = 2;
    let th = text_height(scale) as i32;
    let channels = log.first().map_or(0, |(_, m, _)| m.len());
    let columns = log.len().min(600);
    let cell_h: u32 = if channels > 0 {
        (240 / channels as u32).clamp(2, 12)
    } else {
        2
    };
    let cell_w: u32 = if columns > 0 {
        (900 / columns as u32).clamp(1, 12)
    } else {
        1
    };
    let panel_w = cell_w * columns.max(1) as u32;
    let panel_h = cell_h * channels.max(1) as u32;
    let (left, top) = (110u32, 50u32);
    let gap = th as u32 + 30;
    let width = left + panel_w + 150;
    let height = top + 2 * panel_h + 2 * gap + 40;
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    let title = "AdvBN factors per channel over training";
    draw_text(
        &mut img,
        (width as i32 - text_width(title, scale) as i32) / 2,
        12,
        title,
        INK,
        scale,
    );
    let (lo, hi) = (1.0 - epsilon, 1.0 + epsilon);
    for (panel, name) in ["s_mu (mean)", "s_sigma (std)"].iter().enumerate() {
        let y0 = top + panel as u32 * (panel_h + gap) + gap - 10;
        draw_text(&mut img, left as i32, y0 as i32 - th - 4, name, INK, scale);
        draw_text(&mut img, 8, (y0 + panel_h / 2) as i32 - th / 2, "channel", INK, 1);
        for col in 0..columns {
            // Average the logged steps that fall into this column.
            let a = col * log.len() / columns;
            let b = ((col + 1) * log.len() / columns).max(a + 1);
            for ch in 0..channels {
                let values: Vec<f32> = log[a..b]
                    .iter()
                    .filter_map(|(_, m, s)| if panel == 0 { m.get(ch) } else { s.get(ch) })
                    .copied()
                    .collect();
                let v = values.iter().sum::<f32>() / values.len().max(1) as f32;
                let colour = diverging(v, lo, 1.0, hi);
                for dy in 0..cell_h {
                    for dx in 0..cell_w {
                        img.put_pixel(
                            left + col as u32 * cell_w + dx,
                            y0 + ch as u32 * cell_h + dy,
                            colour,
                        );
                    }
                }
            }
        }
        if let (Some(first), Some(last)) = (log.first(), log.last()) {
            let y = (y0 + panel_h + 4) as i32;
            draw_text(&mut img, left as i32, y, &format!("step {}", first.0), INK, 1);
            let end = format!("step {}", last.0);
            draw_text(
                &mut img,
                (left + panel_w) as i32 - text_width(&end, 1) as i32,
                y,
                &end,
                INK,
                1,
            );
        }
    }
    // Colour bar.
    let bar_x = left + panel_w + 40;
    let bar_h = 2 * panel_h + gap;
    for y in 0..bar_h {
        let v = hi - (hi - lo) * y as f32 / bar_h.max(1) as f32;
        for x in 0..16 {
            img.put_pixel(bar_x + x, top + gap - 10 + y, diverging(v, lo, 1.0, hi));
        }
    }
    for (v, y) in [(hi, 0), (1.0, bar_h / 2), (lo, bar_h)] {
        let label = format!("{v:.1}");
        draw_text(
            &mut img,
            (bar_x + 22) as i32,
            (top + gap - 10 + y) as i32 - th / 2,
            &label,
            INK,
            scale,
        );
    }
    img
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
) -> RgbImage {
    let [n, c, h, w] = dims;
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
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    draw_text(
        &mut img,
        8,
        8,
        "feature maps before / after AdvBN (per map min-max)",
        INK,
        1,
    );
    for s in 0..n {
        let y0 = title_h + s as u32 * (2 * row_h + 8);
        if let Some(input) = inputs.get(s) {
            for y in 0..input.height() * 2 {
                for x in 0..input.width() * 2 {
                    img.put_pixel(label_w + x, y0 + y, *input.get_pixel(x / 2, y / 2));
                }
            }
        }
        draw_text(&mut img, 4, y0 as i32 + 2, "before", INK, 1);
        draw_text(&mut img, 4, (y0 + row_h) as i32 + 2, "after", INK, 1);
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
    img
}

#[cfg(test)]
mod tests {
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
    fn heatmap_colours_follow_the_factor() {
        assert_eq!(diverging(1.0, -0.1, 1.0, 2.1), WHITE);
        let red = diverging(2.1, -0.1, 1.0, 2.1);
        let blue = diverging(-0.1, -0.1, 1.0, 2.1);
        assert!(red.0[0] > red.0[2] && blue.0[2] > blue.0[0]);
        let log: FactorLog = (0..10).map(|s| (s, vec![2.1, 1.0], vec![-0.1, 1.0])).collect();
        let img = render_factor_heatmap(&log, 1.1);
        // Somewhere in the picture there is the full red of s_mu channel 0 and the full blue
        // of s_sigma channel 0.
        assert!(img.pixels().any(|p| *p == red));
        assert!(img.pixels().any(|p| *p == blue));
        let empty = render_factor_heatmap(&Vec::new(), 1.1);
        assert!(empty.width() > 100);
    }

    #[test]
    fn feature_grid_scales_each_map_jointly() {
        let dims = [1, 2, 2, 2];
        let before = vec![0.0, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0];
        let after = vec![0.0, 2.0, 4.0, 6.0, 5.0, 5.0, 5.0, 5.0];
        let img = render_feature_grid(&[RgbImage::new(2, 2)], &before, &after, dims, 2);
        // The brightest pixel (after's 6.0) is white, before's 3.0 is mid grey.
        assert!(img.pixels().any(|p| *p == Rgb([255, 255, 255])));
        assert!(img.pixels().any(|p| *p == Rgb([128, 128, 128])));
    }
}
