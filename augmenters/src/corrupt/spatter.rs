//! `spatter` (held-out corruption): water drops (severities 1-3) or mud (4-5).
//!
//! Water follows the OpenCV pipeline of both sources: a `N(loc, scale)` liquid layer smoothed
//! by `gaussian(sigma)` and zeroed below `threshold`, quantised to u8; its Canny edges
//! (thresholds 50 / 150, 3x3 Sobel, L1 magnitude); the chamfer distance to the nearest edge
//! (`DIST_L2` with the 5x5 mask: steps 1, 1.4, 2.1969) truncated at 20; a 3x3 box blur cast to
//! u8; histogram equalisation; the 3x3 "emboss" kernel `[[-2,-1,0],[-1,1,1],[0,1,2]]`
//! saturated to u8; another 3x3 box blur. The drop mask `liquid * dist`, normalised to its
//! maximum and scaled by `intensity`, adds pale turquoise `(175, 238, 238) / 255` (the
//! reference builds the colour as BGR and adds it to an RGB image, so red gets 175).
//! Mud: the mask `liquid > threshold` blurred by `gaussian(sigma_mud)` and zeroed below 0.8
//! replaces the image by mud brown `(63, 42, 20) / 255` in proportion.

use image::RgbImage;
use rand_distr::{Distribution, Normal};

use super::filters::{Border, Buf, border_index, gaussian_filter, separable};
use super::{Preset, params};
use crate::AugRng;

pub(crate) fn spatter(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let (loc, scale, sigma, thr, gain, mud) = params::spatter(preset)[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let normal = Normal::new(loc, scale).expect("positive scale");
    let mut liquid = Buf::zeros(w, h, 1);
    for v in &mut liquid.data {
        *v = normal.sample(rng) as f32;
    }
    let mut liquid = gaussian_filter(&liquid, sigma, sigma, 4.0, Border::Nearest);
    for v in &mut liquid.data {
        if f64::from(*v) < thr {
            *v = 0.0;
        }
    }
    let x = Buf::unit_from_rgb8(img);
    let mut out = Buf::zeros(w, h, 3);
    if !mud {
        let liquid_u8: Vec<u8> = liquid
            .data
            .iter()
            .map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8)
            .collect();
        let edges = canny(&liquid_u8, w, h, 50, 150);
        let mut dist = chamfer_distance(&edges, w, h);
        dist.iter_mut().for_each(|d| *d = d.min(20.0));
        let dist = box3(&Buf {
            w,
            h,
            c: 1,
            data: dist,
        });
        let dist_u8: Vec<u8> = dist.data.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
        let eq = equalize_hist(&dist_u8);
        let embossed = emboss_u8(&eq, w, h);
        let dist = box3(&Buf {
            w,
            h,
            c: 1,
            data: embossed.iter().map(|&v| f32::from(v)).collect(),
        });
        let mut m: Vec<f32> = liquid_u8
            .iter()
            .zip(&dist.data)
            .map(|(&l, &d)| f32::from(l) * d)
            .collect();
        let max = m.iter().copied().fold(0.0f32, f32::max);
        // The reference divides by the maximum unguarded (an all-zero mask gives NaN there);
        // no drops means no change here.
        let norm = if max > 0.0 { gain as f32 / max } else { 0.0 };
        m.iter_mut().for_each(|v| *v *= norm);
        let colour = [175.0 / 255.0, 238.0 / 255.0, 238.0 / 255.0f32];
        for (i, mv) in m.iter().enumerate() {
            for (ch, &col) in colour.iter().enumerate() {
                out.data[i * 3 + ch] = x.data[i * 3 + ch] + mv * col;
            }
        }
    } else {
        let mask = Buf {
            w,
            h,
            c: 1,
            data: liquid
                .data
                .iter()
                .map(|&v| if f64::from(v) > thr { 1.0 } else { 0.0 })
                .collect(),
        };
        let mut m = gaussian_filter(&mask, gain, gain, 4.0, Border::Nearest);
        m.data.iter_mut().for_each(|v| {
            if *v < 0.8 {
                *v = 0.0
            }
        });
        let colour = [63.0 / 255.0, 42.0 / 255.0, 20.0 / 255.0f32];
        for (i, mv) in m.data.iter().enumerate() {
            for (ch, &col) in colour.iter().enumerate() {
                out.data[i * 3 + ch] = x.data[i * 3 + ch] * (1.0 - mv) + col * mv;
            }
        }
    }
    out.unit_to_rgb8()
}

/// `cv2.blur(x, (3, 3))`: normalised 3x3 box, `BORDER_REFLECT_101`.
fn box3(b: &Buf) -> Buf {
    let k = [1.0 / 3.0f32; 3];
    separable(b, &k, &k, Border::Reflect101)
}

/// `cv2.Canny(img, low, high)` with a 3x3 Sobel (replicated border) and the L1 gradient
/// magnitude: non-maximum suppression along the gradient direction quantised to 0, 45, 90
/// or 135 degrees (OpenCV's tan(22.5) test), then hysteresis over 8-neighbours. Returns 255
/// on edges, 0 elsewhere.
pub(crate) fn canny(img: &[u8], w: usize, h: usize, low: i32, high: i32) -> Vec<u8> {
    let at = |x: isize, y: isize| -> i32 {
        let xi = border_index(x, w, Border::Nearest);
        let yi = border_index(y, h, Border::Nearest);
        i32::from(img[yi * w + xi])
    };
    let mut gx = vec![0i32; w * h];
    let mut gy = vec![0i32; w * h];
    let mut mag = vec![0i32; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let dx = (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1))
                - (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1));
            let dy = (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1))
                - (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1));
            let i = y as usize * w + x as usize;
            gx[i] = dx;
            gy[i] = dy;
            mag[i] = dx.abs() + dy.abs();
        }
    }
    let m = |x: isize, y: isize| -> i32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            0
        } else {
            mag[y as usize * w + x as usize]
        }
    };
    // 0: not an edge, 1: weak candidate, 2: strong.
    let mut state = vec![0u8; w * h];
    let mut stack = Vec::new();
    const TG22: f64 = 0.414_213_562_373_095;
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            let v = mag[i];
            if v <= low {
                continue;
            }
            let (ax, ay) = (f64::from(gx[i].abs()), f64::from(gy[i].abs()));
            let is_max = if ay < ax * TG22 {
                v > m(x - 1, y) && v >= m(x + 1, y)
            } else if ay > ax * (1.0 / TG22) {
                v > m(x, y - 1) && v >= m(x, y + 1)
            } else {
                let s = if (gx[i] < 0) != (gy[i] < 0) { -1 } else { 1 };
                v > m(x - s, y - 1) && v > m(x + s, y + 1)
            };
            if is_max {
                if v > high {
                    state[i] = 2;
                    stack.push(i);
                } else {
                    state[i] = 1;
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        for oy in -1..=1 {
            for ox in -1..=1 {
                let (nx, ny) = (x + ox, y + oy);
                if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if state[j] == 1 {
                    state[j] = 2;
                    stack.push(j);
                }
            }
        }
    }
    state.iter().map(|&s| if s == 2 { 255 } else { 0 }).collect()
}

/// `cv2.distanceTransform(255 - edges, DIST_L2, 5)`: two-pass 5x5 chamfer distance to the
/// nearest edge pixel. With no edge at all every distance is "infinite" (the caller
/// truncates at 20, as the reference does).
pub(crate) fn chamfer_distance(edges: &[u8], w: usize, h: usize) -> Vec<f32> {
    const A: f32 = 1.0;
    const B: f32 = 1.4;
    const C: f32 = 2.1969;
    const INF: f32 = 1e6;
    let mut d: Vec<f32> = edges.iter().map(|&e| if e > 0 { 0.0 } else { INF }).collect();
    // (dx, dy, cost) of the forward half of the mask; the backward pass mirrors it.
    let fwd: [(isize, isize, f32); 8] = [
        (-1, 0, A),
        (0, -1, A),
        (-1, -1, B),
        (1, -1, B),
        (-2, -1, C),
        (2, -1, C),
        (-1, -2, C),
        (1, -2, C),
    ];
    let (wi, hi) = (w as isize, h as isize);
    let relax = |x: isize, y: isize, sign: isize, d: &mut Vec<f32>| {
        let i = (y * wi + x) as usize;
        let mut best = d[i];
        for &(dx, dy, cost) in &fwd {
            let (nx, ny) = (x + sign * dx, y + sign * dy);
            if nx >= 0 && ny >= 0 && nx < wi && ny < hi {
                best = best.min(d[(ny * wi + nx) as usize] + cost);
            }
        }
        d[i] = best;
    };
    for y in 0..hi {
        for x in 0..wi {
            relax(x, y, 1, &mut d);
        }
    }
    for y in (0..hi).rev() {
        for x in (0..wi).rev() {
            relax(x, y, -1, &mut d);
        }
    }
    d
}

/// `cv2.equalizeHist`: the cumulative histogram from the first occupied bin, scaled to 255
/// and rounded; a single-valued image maps to that value.
pub(crate) fn equalize_hist(img: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    for &v in img {
        hist[usize::from(v)] += 1;
    }
    let total = img.len();
    let Some(first) = hist.iter().position(|&c| c > 0) else {
        return Vec::new();
    };
    if hist[first] == total {
        return vec![first as u8; total];
    }
    let scale = 255.0 / (total - hist[first]) as f64;
    let mut lut = [0u8; 256];
    let mut sum = 0usize;
    for (j, slot) in lut.iter_mut().enumerate().skip(first + 1) {
        sum += hist[j];
        *slot = (sum as f64 * scale).round().clamp(0.0, 255.0) as u8;
    }
    img.iter().map(|&v| lut[usize::from(v)]).collect()
}

/// `cv2.filter2D(img, cv2.CV_8U, [[-2,-1,0],[-1,1,1],[0,1,2]])`: correlation with
/// `BORDER_REFLECT_101`, rounded and saturated to u8.
fn emboss_u8(img: &[u8], w: usize, h: usize) -> Vec<u8> {
    const K: [[i32; 3]; 3] = [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]];
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0i32;
            for (ky, row) in K.iter().enumerate() {
                let sy = border_index(y as isize + ky as isize - 1, h, Border::Reflect101);
                for (kx, &k) in row.iter().enumerate() {
                    let sx = border_index(x as isize + kx as isize - 1, w, Border::Reflect101);
                    acc += k * i32::from(img[sy * w + sx]);
                }
            }
            out[y * w + x] = acc.clamp(0, 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canny_finds_a_step_edge() {
        let (w, h) = (8, 6);
        let img: Vec<u8> = (0..w * h).map(|i| if i % w < 4 { 0 } else { 200 }).collect();
        let e = canny(&img, w, h, 50, 150);
        for y in 0..h {
            let row = &e[y * w..(y + 1) * w];
            assert_eq!(row.iter().filter(|&&v| v == 255).count(), 1, "row {y}: {row:?}");
            assert!(row[3] == 255 || row[4] == 255);
        }
        assert!(canny(&vec![7u8; w * h], w, h, 50, 150).iter().all(|&v| v == 0));
    }

    #[test]
    fn chamfer_distance_steps() {
        let (w, h) = (5, 1);
        let d = chamfer_distance(&[255, 0, 0, 0, 0], w, h);
        assert_eq!(d, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let d = chamfer_distance(&[0, 0, 0, 255, 0, 0, 0, 0, 0], 3, 3);
        // (0, 1) is an edge; (1, 0) is a diagonal step away, (2, 2) a knight's move.
        assert!((d[1] - 1.4).abs() < 1e-6 && (d[8] - 2.1969).abs() < 1e-6);
    }

    #[test]
    fn equalize_spreads_to_full_range() {
        let out = equalize_hist(&[10, 10, 20, 30]);
        assert_eq!(out, vec![0, 0, 128, 255]);
        assert_eq!(equalize_hist(&[5, 5]), vec![5, 5]);
    }
}
