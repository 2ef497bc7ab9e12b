//! The geometric operations of AugMix with Pillow's semantics: `Image.rotate(deg,
//! BILINEAR)` and `Image.transform(size, AFFINE, data, BILINEAR)` for shear and translate.
//!
//! Pillow maps every output pixel centre back into the source with the affine data
//! `(a, b, c, d, e, f)`: `xs = a (x + 0.5) + b (y + 0.5) + c`, `ys = d (x + 0.5) + e (y + 0.5) + f`.
//! A source point outside `[0, w) x [0, h)` gives black; otherwise the four neighbours of
//! `(xs - 0.5, ys - 0.5)` (indices clamped to the image) are interpolated in `f64`, first
//! along x, then along y, and the result is truncated to u8. The code below evaluates those
//! expressions in the same order and precision, so the output is bit-identical to Pillow's
//! wherever the platform's `f64` arithmetic is IEEE (no fused multiply-add is used).
//!
//! Three special shapes of the map skip work without changing a bit of the result: an integer
//! translation is a shifted copy; a map that keeps rows (`d = 0, e = 1`, integer `f`: shear_x)
//! needs no vertical interpolation; one that keeps columns (`a = 1, b = 0`, integer `c`:
//! shear_y) needs no horizontal interpolation.

use image::RgbImage;

/// Pillow's AFFINE data `(a, b, c, d, e, f)`: output pixel centre `(x, y)` samples the source
/// at `(a x + b y + c, d x + e y + f)`.
pub type AffineData = [f64; 6];

/// The AFFINE data of `shear_x(factor)`: `(1, factor, 0, 0, 1, 0)`.
pub fn shear_x_data(factor: f64) -> AffineData {
    [1.0, factor, 0.0, 0.0, 1.0, 0.0]
}

/// The AFFINE data of `shear_y(factor)`: `(1, 0, 0, factor, 1, 0)`.
pub fn shear_y_data(factor: f64) -> AffineData {
    [1.0, 0.0, 0.0, factor, 1.0, 0.0]
}

/// The AFFINE data of `translate_x(pixels)`: `(1, 0, pixels, 0, 1, 0)`. A positive value
/// moves the content left (the output samples the source `pixels` to the right).
pub fn translate_x_data(pixels: f64) -> AffineData {
    [1.0, 0.0, pixels, 0.0, 1.0, 0.0]
}

/// The AFFINE data of `translate_y(pixels)`: `(1, 0, 0, 0, 1, pixels)`. A positive value
/// moves the content up.
pub fn translate_y_data(pixels: f64) -> AffineData {
    [1.0, 0.0, 0.0, 0.0, 1.0, pixels]
}

/// How `Image.rotate(degrees)` (same size, about the centre) is carried out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RotatePlan {
    /// The angle is a multiple of 360: a copy.
    Copy,
    /// 180 degrees: an exact transpose.
    Rotate180,
    /// 90 degrees counter-clockwise on a square image: an exact transpose.
    Rotate90,
    /// 270 degrees counter-clockwise (90 clockwise) on a square image: an exact transpose.
    Rotate270,
    /// Any other angle: a bilinear affine map.
    Affine(AffineData),
}

/// Python's float `%` (the result has the sign of the divisor).
fn py_mod(x: f64, m: f64) -> f64 {
    let r = x % m;
    if r != 0.0 && (r < 0.0) != (m < 0.0) {
        r + m
    } else {
        r
    }
}

/// Python's `round(x, 15)`: the nearest double to `x` rounded to 15 decimals.
fn round15(x: f64) -> f64 {
    format!("{x:.15}").parse().expect("a formatted float parses")
}

/// Pillow's plan for `Image.rotate(degrees, BILINEAR)` on a `width` x `height` image:
/// the angle is reduced modulo 360, the exact multiples of 90 become transposes (90 and 270
/// only on square images, as in Pillow), and other angles give the inverse affine map about
/// the centre `(w/2, h/2)` with `cos`/`sin` rounded to 15 decimals.
///
/// ```
/// use advbn_augmenters::ops::{rotate_plan, RotatePlan};
/// assert_eq!(rotate_plan(-360.0, 4, 4), RotatePlan::Copy);
/// assert_eq!(rotate_plan(-90.0, 4, 4), RotatePlan::Rotate270);
/// assert!(matches!(rotate_plan(-90.0, 4, 5), RotatePlan::Affine(_)));
/// ```
pub fn rotate_plan(degrees: f64, width: u32, height: u32) -> RotatePlan {
    let angle = py_mod(degrees, 360.0);
    if angle == 0.0 {
        return RotatePlan::Copy;
    }
    if angle == 180.0 {
        return RotatePlan::Rotate180;
    }
    if width == height && angle == 90.0 {
        return RotatePlan::Rotate90;
    }
    if width == height && angle == 270.0 {
        return RotatePlan::Rotate270;
    }
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let theta = -(angle * (std::f64::consts::PI / 180.0));
    let (a, b, d, e) = (
        round15(theta.cos()),
        round15(theta.sin()),
        round15(-theta.sin()),
        round15(theta.cos()),
    );
    // Pillow: (c, f) = matrix applied to (-cx, -cy) with c = f = 0, then += (cx, cy).
    let c = a * -cx + b * -cy + 0.0 + cx;
    let f = d * -cx + e * -cy + 0.0 + cy;
    RotatePlan::Affine([a, b, c, d, e, f])
}

/// `Image.rotate(degrees, resample=BILINEAR)`: counter-clockwise about the centre, same
/// size, black outside.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_fn(3, 3, |x, y| image::Rgb([(x + 3 * y) as u8; 3]));
/// let out = advbn_augmenters::ops::rotate(&img, 90.0);
/// // Counter-clockwise: the top-right corner moves to the top-left.
/// assert_eq!(out.get_pixel(0, 0), img.get_pixel(2, 0));
/// ```
pub fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    rotate_into(image.as_raw(), image.width(), image.height(), &mut out, degrees);
    out
}

/// [`rotate`] into a caller's buffer of the same size.
pub fn rotate_into(src: &[u8], width: u32, height: u32, dst: &mut [u8], degrees: f64) {
    let (w, h) = (width as usize, height as usize);
    check_len(src, dst, w, h);
    match rotate_plan(degrees, width, height) {
        RotatePlan::Copy => dst.copy_from_slice(src),
        RotatePlan::Rotate180 => {
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3).rev()) {
                d.copy_from_slice(s);
            }
        }
        RotatePlan::Rotate90 => {
            // out[y][x] = in[x][w - 1 - y]
            for y in 0..h {
                for x in 0..w {
                    let s = 3 * (x * w + (w - 1 - y));
                    dst[3 * (y * w + x)..][..3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
        RotatePlan::Rotate270 => {
            // out[y][x] = in[h - 1 - x][y]
            for y in 0..h {
                for x in 0..w {
                    let s = 3 * ((h - 1 - x) * w + y);
                    dst[3 * (y * w + x)..][..3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
        RotatePlan::Affine(data) => warp_into(src, width, height, dst, &data),
    }
}

/// `Image.transform(size, AFFINE, (1, factor, 0, 0, 1, 0), BILINEAR)`.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
/// assert_eq!(advbn_augmenters::ops::shear_x(&img, 0.0), img);
/// ```
pub fn shear_x(image: &RgbImage, factor: f64) -> RgbImage {
    warp(image, &shear_x_data(factor))
}

/// `Image.transform(size, AFFINE, (1, 0, 0, factor, 1, 0), BILINEAR)`.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
/// assert_eq!(advbn_augmenters::ops::shear_y(&img, 0.0), img);
/// ```
pub fn shear_y(image: &RgbImage, factor: f64) -> RgbImage {
    warp(image, &shear_y_data(factor))
}

/// `Image.transform(size, AFFINE, (1, 0, pixels, 0, 1, 0), BILINEAR)`.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_fn(3, 1, |x, _| image::Rgb([x as u8 + 1; 3]));
/// let out = advbn_augmenters::ops::translate_x(&img, 1.0);
/// assert_eq!(out.as_raw(), &vec![2, 2, 2, 3, 3, 3, 0, 0, 0]);
/// ```
pub fn translate_x(image: &RgbImage, pixels: f64) -> RgbImage {
    warp(image, &translate_x_data(pixels))
}

/// `Image.transform(size, AFFINE, (1, 0, 0, 0, 1, pixels), BILINEAR)`.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_fn(1, 3, |_, y| image::Rgb([y as u8 + 1; 3]));
/// let out = advbn_augmenters::ops::translate_y(&img, -1.0);
/// assert_eq!(out.as_raw(), &vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
/// ```
pub fn translate_y(image: &RgbImage, pixels: f64) -> RgbImage {
    warp(image, &translate_y_data(pixels))
}

/// `Image.transform(image.size, AFFINE, data, BILINEAR)` (black fill).
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_pixel(2, 2, image::Rgb([5, 6, 7]));
/// let same = advbn_augmenters::ops::warp(&img, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
/// assert_eq!(same, img);
/// ```
pub fn warp(image: &RgbImage, data: &AffineData) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    warp_into(image.as_raw(), image.width(), image.height(), &mut out, data);
    out
}

fn check_len(src: &[u8], dst: &[u8], w: usize, h: usize) {
    assert_eq!(src.len(), 3 * w * h, "source is not {w}x{h} RGB");
    assert_eq!(dst.len(), src.len(), "destination size differs from the source");
}

fn is_int(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15
}

/// [`warp`] into a caller's buffer of the same size (every byte of `dst` is written).
pub fn warp_into(src: &[u8], width: u32, height: u32, dst: &mut [u8], data: &AffineData) {
    let (w, h) = (width as usize, height as usize);
    check_len(src, dst, w, h);
    if w == 0 || h == 0 {
        return;
    }
    let [a, b, c, d, e, f] = *data;
    if a == 1.0 && b == 0.0 && is_int(c) && d == 0.0 && e == 1.0 && is_int(f) {
        shift(src, w, h, dst, c as i64, f as i64);
    } else if d == 0.0 && e == 1.0 && is_int(f) {
        rows_kept(src, w, h, dst, data);
    } else if a == 1.0 && b == 0.0 && is_int(c) {
        columns_kept(src, w, h, dst, data);
    } else {
        general(src, w, h, dst, data);
    }
}

/// `floor` of a value known to be `>= -0.5` (Pillow's `FLOOR`), without a libm call.
#[inline(always)]
fn floor_from_half(v: f64) -> isize {
    if v < 0.0 { -1 } else { v as isize }
}

/// out(x, y) = in(x + dx, y + dy), black outside: an integer translation, where Pillow's
/// bilinear weights are exactly 0.
fn shift(src: &[u8], w: usize, h: usize, dst: &mut [u8], dx: i64, dy: i64) {
    let stride = 3 * w;
    let (wi, hi) = (w as i64, h as i64);
    // Output columns whose source column is inside the image.
    let x0 = (-dx).clamp(0, wi);
    let x1 = (wi - dx).clamp(0, wi);
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let sy = y as i64 + dy;
        if !(0..hi).contains(&sy) || x0 >= x1 {
            out.fill(0);
            continue;
        }
        let (x0, x1) = (x0 as usize, x1 as usize);
        let sx0 = (x0 as i64 + dx) as usize;
        let row = &src[sy as usize * stride..][..stride];
        out[..3 * x0].fill(0);
        out[3 * x0..3 * x1].copy_from_slice(&row[3 * sx0..3 * (sx0 + x1 - x0)]);
        out[3 * x1..].fill(0);
    }
}

/// Maps with `d = 0`, `e = 1` and integer `f` (shear_x): each output row reads one source
/// row, and Pillow's vertical weight is exactly 0.
fn rows_kept(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    let [a, b, c, d, e, f] = *data;
    let stride = 3 * w;
    let (wf, hf) = (w as f64, h as f64);
    let last = w - 1;
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let yc = y as f64 + 0.5;
        let ys = d * 0.5 + e * yc + f; // d = 0: exactly y + 0.5 + f
        if !(ys >= 0.0 && ys < hf) {
            out.fill(0);
            continue;
        }
        let row = &src[floor_from_half(ys - 0.5) as usize * stride..][..stride];
        let by = b * yc;
        for (x, o) in out.chunks_exact_mut(3).enumerate() {
            let xs = a * (x as f64 + 0.5) + by + c;
            if !(xs >= 0.0 && xs < wf) {
                o.fill(0);
                continue;
            }
            let xs = xs - 0.5;
            let xi = floor_from_half(xs);
            let dx = xs - xi as f64;
            let x0 = 3 * xi.max(0) as usize;
            let x1 = 3 * ((xi + 1) as usize).min(last);
            for ch in 0..3 {
                let p0 = f64::from(row[x0 + ch]);
                let p1 = f64::from(row[x1 + ch]);
                o[ch] = (p0 + (p1 - p0) * dx) as u8;
            }
        }
    }
}

/// Maps with `a = 1`, `b = 0` and integer `c` (shear_y): each output column reads one source
/// column, and Pillow's horizontal weight is exactly 0.
fn columns_kept(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    let [a, b, c, d, e, f] = *data;
    let stride = 3 * w;
    let (wf, hf) = (w as f64, h as f64);
    let last = h - 1;
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let yc = y as f64 + 0.5;
        let by = b * yc;
        let ey = e * yc;
        for (x, o) in out.chunks_exact_mut(3).enumerate() {
            let xc = x as f64 + 0.5;
            let xs = a * xc + by + c;
            let ys = d * xc + ey + f;
            if !(xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf) {
                o.fill(0);
                continue;
            }
            let col = 3 * floor_from_half(xs - 0.5) as usize;
            let ys = ys - 0.5;
            let yi = floor_from_half(ys);
            let dy = ys - yi as f64;
            let r0 = &src[yi.max(0) as usize * stride + col..][..3];
            let r1 = &src[((yi + 1) as usize).min(last) * stride + col..][..3];
            for ch in 0..3 {
                let p0 = f64::from(r0[ch]);
                let p1 = f64::from(r1[ch]);
                o[ch] = (p0 + (p1 - p0) * dy) as u8;
            }
        }
    }
}

/// Any other map (rotation): full bilinear interpolation.
fn general(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    let [a, b, c, d, e, f] = *data;
    let stride = 3 * w;
    let (wf, hf) = (w as f64, h as f64);
    let (xlast, ylast) = (w - 1, h - 1);
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let yc = y as f64 + 0.5;
        let by = b * yc;
        let ey = e * yc;
        for (x, o) in out.chunks_exact_mut(3).enumerate() {
            let xc = x as f64 + 0.5;
            let xs = a * xc + by + c;
            let ys = d * xc + ey + f;
            if !(xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf) {
                o.fill(0);
                continue;
            }
            let (xs, ys) = (xs - 0.5, ys - 0.5);
            let (xi, yi) = (floor_from_half(xs), floor_from_half(ys));
            let (dx, dy) = (xs - xi as f64, ys - yi as f64);
            let x0 = 3 * xi.max(0) as usize;
            let x1 = 3 * ((xi + 1) as usize).min(xlast);
            let r0 = &src[yi.max(0) as usize * stride..][..stride];
            let r1 = &src[((yi + 1) as usize).min(ylast) * stride..][..stride];
            for ch in 0..3 {
                let p00 = f64::from(r0[x0 + ch]);
                let p01 = f64::from(r0[x1 + ch]);
                let p10 = f64::from(r1[x0 + ch]);
                let p11 = f64::from(r1[x1 + ch]);
                let v1 = p00 + (p01 - p00) * dx;
                let v2 = p10 + (p11 - p10) * dx;
                o[ch] = (v1 + (v2 - v1) * dy) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 37 + y * 11) as u8,
                (x * 5 + y * 91) as u8,
                ((x ^ y) * 9) as u8,
            ])
        })
    }

    #[test]
    fn fast_paths_equal_the_general_path() {
        for (w, h) in [(1, 1), (5, 3), (17, 23)] {
            let img = ramp(w, h);
            for data in [
                translate_x_data(3.0),
                translate_x_data(-2.0),
                translate_y_data(4.0),
                [1.0, 0.0, -2.0, 0.0, 1.0, 3.0],
                shear_x_data(0.3),
                shear_x_data(-0.17),
                shear_y_data(0.29),
                shear_y_data(-0.21),
            ] {
                let mut fast = vec![0; img.len()];
                let mut slow = vec![0; img.len()];
                warp_into(&img, w, h, &mut fast, &data);
                general(&img, w as usize, h as usize, &mut slow, &data);
                assert_eq!(fast, slow, "{w}x{h} {data:?}");
            }
        }
    }

    #[test]
    fn transposes_equal_the_exact_map() {
        // On a square image the 90-degree transposes equal the bilinear map with the exact
        // rotation matrix (all weights are 0 or 1 there).
        let img = ramp(6, 6);
        let mut exact = vec![0; img.len()];
        // 90 ccw: source (xs, ys) = (w - y, x) in pixel-centre coordinates.
        general(&img, 6, 6, &mut exact, &[0.0, -1.0, 6.0, 1.0, 0.0, 0.0]);
        assert_eq!(rotate(&img, 90.0).into_raw(), exact);
        general(&img, 6, 6, &mut exact, &[0.0, 1.0, 0.0, -1.0, 0.0, 6.0]);
        assert_eq!(rotate(&img, -90.0).into_raw(), exact);
        general(&img, 6, 6, &mut exact, &[-1.0, 0.0, 6.0, 0.0, -1.0, 6.0]);
        assert_eq!(rotate(&img, 180.0).into_raw(), exact);
    }

    #[test]
    fn python_semantics_of_mod_and_round() {
        assert_eq!(py_mod(-30.0, 360.0), 330.0);
        assert_eq!(py_mod(725.0, 360.0), 5.0);
        assert_eq!(round15(0.1 + 0.2), 0.3);
        assert_eq!(round15(6.123233995736766e-17), 0.0);
    }

    #[test]
    fn rotation_matrix_is_pillows() {
        // Pillow's `Image.rotate` matrix code, evaluated by CPython for rotate(30) on 32x32.
        let expected = [
            0.866025403784439,
            -0.5,
            10.143593539448975,
            0.5,
            0.866025403784439,
            -5.856406460551025,
        ];
        assert_eq!(rotate_plan(30.0, 32, 32), RotatePlan::Affine(expected));
    }
}
