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
    // The AVX2 loops keep byte offsets in i32.
    assert!(src.len() < i32::MAX as usize, "image too large");
    let [a, b, c, d, e, f] = *data;
    if a == 1.0 && b == 0.0 && is_int(c) && d == 0.0 && e == 1.0 && is_int(f) {
        shift(src, w, h, dst, c as i64, f as i64);
    } else if d == 0.0 && e == 1.0 && is_int(f) {
        interpolate(0, src, w, h, dst, data);
    } else if a == 1.0 && b == 0.0 && is_int(c) {
        interpolate(1, src, w, h, dst, data);
    } else {
        interpolate(2, src, w, h, dst, data);
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

/// The three interpolating loops, generated once per sample kernel (scalar, AVX2) so that
/// the coordinate arithmetic, which decides which pixels are read and with which weights,
/// is literally the same code in both.
///
/// `$lerp1(a, ia, b, ib, t, out, o)` writes the three samples `a[ia..] + (b[ib..] - a[ia..]) * t`,
/// truncated, to `out[o..o + 3]`; `$lerp2(r0, r1, i0, i1, dx, dy, out, o)` is Pillow's
/// two-step bilinear (along x on both rows, then along y).
macro_rules! warp_loops {
    ($(#[$attr:meta])* $rows:ident, $cols:ident, $gen:ident, $lerp1:ident, $lerp2:ident) => {
        /// Maps with `d = 0`, `e = 1` and integer `f` (shear_x): each output row reads one
        /// source row, and Pillow's vertical weight is exactly 0.
        $(#[$attr])*
        fn $rows(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
            let [a, b, c, d, e, f] = *data;
            let stride = 3 * w;
            let (wf, hf) = (w as f64, h as f64);
            let last = w - 1;
            for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
                let yc = f64::from(y as u32) + 0.5;
                let ys = d * 0.5 + e * yc + f; // d = 0: exactly y + 0.5 + f
                if !(ys >= 0.0 && ys < hf) {
                    out.fill(0);
                    continue;
                }
                let row = &src[floor_from_half(ys - 0.5) as usize * stride..][..stride];
                let by = b * yc;
                for x in 0..w {
                    let xs = a * (f64::from(x as u32) + 0.5) + by + c;
                    if !(xs >= 0.0 && xs < wf) {
                        out[3 * x..3 * x + 3].fill(0);
                        continue;
                    }
                    let xs = xs - 0.5;
                    let xi = floor_from_half(xs);
                    let dx = xs - xi as f64;
                    let x0 = 3 * xi.max(0) as usize;
                    let x1 = 3 * ((xi + 1) as usize).min(last);
                    $lerp1!(row, x0, row, x1, dx, out, 3 * x);
                }
            }
        }

        /// Maps with `a = 1`, `b = 0` and integer `c` (shear_y): each output column reads one
        /// source column, and Pillow's horizontal weight is exactly 0.
        $(#[$attr])*
        fn $cols(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
            let [a, b, c, d, e, f] = *data;
            let stride = 3 * w;
            let (wf, hf) = (w as f64, h as f64);
            let last = h - 1;
            for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
                let yc = f64::from(y as u32) + 0.5;
                let by = b * yc;
                let ey = e * yc;
                for x in 0..w {
                    let xc = f64::from(x as u32) + 0.5;
                    let xs = a * xc + by + c;
                    let ys = d * xc + ey + f;
                    if !(xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf) {
                        out[3 * x..3 * x + 3].fill(0);
                        continue;
                    }
                    let col = 3 * floor_from_half(xs - 0.5) as usize;
                    let ys = ys - 0.5;
                    let yi = floor_from_half(ys);
                    let dy = ys - yi as f64;
                    let r0 = &src[yi.max(0) as usize * stride..][..stride];
                    let r1 = &src[((yi + 1) as usize).min(last) * stride..][..stride];
                    $lerp1!(r0, col, r1, col, dy, out, 3 * x);
                }
            }
        }

        /// Any other map (rotation): full bilinear interpolation.
        $(#[$attr])*
        fn $gen(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
            let [a, b, c, d, e, f] = *data;
            let stride = 3 * w;
            let (wf, hf) = (w as f64, h as f64);
            let (xlast, ylast) = (w - 1, h - 1);
            for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
                let yc = f64::from(y as u32) + 0.5;
                let by = b * yc;
                let ey = e * yc;
                for x in 0..w {
                    let xc = f64::from(x as u32) + 0.5;
                    let xs = a * xc + by + c;
                    let ys = d * xc + ey + f;
                    if !(xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf) {
                        out[3 * x..3 * x + 3].fill(0);
                        continue;
                    }
                    let (xs, ys) = (xs - 0.5, ys - 0.5);
                    let (xi, yi) = (floor_from_half(xs), floor_from_half(ys));
                    let (dx, dy) = (xs - xi as f64, ys - yi as f64);
                    let x0 = 3 * xi.max(0) as usize;
                    let x1 = 3 * ((xi + 1) as usize).min(xlast);
                    let r0 = &src[yi.max(0) as usize * stride..][..stride];
                    let r1 = &src[((yi + 1) as usize).min(ylast) * stride..][..stride];
                    $lerp2!(r0, r1, x0, x1, dx, dy, out, 3 * x);
                }
            }
        }
    };
}

#[inline(always)]
fn lerp1_scalar(a: &[u8], ia: usize, b: &[u8], ib: usize, t: f64, out: &mut [u8], o: usize) {
    for ch in 0..3 {
        let p0 = f64::from(a[ia + ch]);
        let p1 = f64::from(b[ib + ch]);
        out[o + ch] = (p0 + (p1 - p0) * t) as u8;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lerp2_scalar(r0: &[u8], r1: &[u8], x0: usize, x1: usize, dx: f64, dy: f64, out: &mut [u8], o: usize) {
    for ch in 0..3 {
        let p00 = f64::from(r0[x0 + ch]);
        let p01 = f64::from(r0[x1 + ch]);
        let p10 = f64::from(r1[x0 + ch]);
        let p11 = f64::from(r1[x1 + ch]);
        let v1 = p00 + (p01 - p00) * dx;
        let v2 = p10 + (p11 - p10) * dx;
        out[o + ch] = (v1 + (v2 - v1) * dy) as u8;
    }
}

macro_rules! lerp1_scalar_k {
    ($($arg:expr),*) => {
        lerp1_scalar($($arg),*)
    };
}

macro_rules! lerp2_scalar_k {
    ($($arg:expr),*) => {
        lerp2_scalar($($arg),*)
    };
}

warp_loops!(rows_kept, columns_kept, general, lerp1_scalar_k, lerp2_scalar_k);

/// The same loops with the three channels of a pixel in the lanes of one AVX `f64x4`
/// vector: the same IEEE double operations per sample (no fused multiply-add), so the
/// results are identical to the scalar loops, several times faster.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{AffineData, floor_from_half};

    /// The pixel at `i` as 4 bytes (the 4th is the next sample or 0, and is discarded).
    #[inline(always)]
    fn read_px(src: &[u8], i: usize) -> i32 {
        match src.get(i..i + 4) {
            Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => i32::from_le_bytes([src[i], src[i + 1], src[i + 2], 0]),
        }
    }

    // The kernels are macros so that they expand inside the `avx2` functions: a function
    // with `#[target_feature]` cannot be `#[inline(always)]`, and a call per pixel costs more
    // than the kernel.

    /// The pixel at `$i` of `$src` as `f64x4` (R, G, B, and a discarded 4th byte).
    macro_rules! to_pd {
        ($src:expr, $i:expr) => {
            _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(read_px($src, $i))))
        };
    }

    /// Pillow's `BILINEAR(v, a, b, d)`: `a + (b - a) * d`.
    macro_rules! lerp {
        ($a:expr, $b:expr, $t:expr) => {{
            let a = $a;
            _mm256_add_pd(a, _mm256_mul_pd(_mm256_sub_pd($b, a), $t))
        }};
    }

    /// Truncates the three lanes to u8 (they are in 0..=255) and writes them at `$out[$o..]`.
    /// Inside a row it stores 4 bytes, one past the pixel: every loop writes its pixels in
    /// increasing order, so that byte is overwritten by the next pixel.
    macro_rules! store {
        ($out:expr, $o:expr, $v:expr) => {{
            let words = _mm256_cvttpd_epi32($v);
            let halves = _mm_packus_epi32(words, words);
            let bytes = _mm_packus_epi16(halves, halves);
            let px = (_mm_cvtsi128_si32(bytes) as u32).to_le_bytes();
            match $out.get_mut($o..$o + 4) {
                Some(dst) => dst.copy_from_slice(&px),
                None => $out[$o..$o + 3].copy_from_slice(&px[..3]),
            }
        }};
    }

    macro_rules! lerp1 {
        ($a:expr, $ia:expr, $b:expr, $ib:expr, $t:expr, $out:expr, $o:expr) => {{
            let v = lerp!(to_pd!($a, $ia), to_pd!($b, $ib), _mm256_set1_pd($t));
            store!($out, $o, v);
        }};
    }

    macro_rules! lerp2 {
        ($r0:expr, $r1:expr, $x0:expr, $x1:expr, $dx:expr, $dy:expr, $out:expr, $o:expr) => {{
            let dxv = _mm256_set1_pd($dx);
            let v1 = lerp!(to_pd!($r0, $x0), to_pd!($r0, $x1), dxv);
            let v2 = lerp!(to_pd!($r1, $x0), to_pd!($r1, $x1), dxv);
            store!($out, $o, lerp!(v1, v2, _mm256_set1_pd($dy)));
        }};
    }

    warp_loops!(
        #[target_feature(enable = "avx2")]
        rows_kept_per_pixel,
        columns_kept_per_pixel,
        general,
        lerp1,
        lerp2
    );

    /// `out[i] = trunc(p0[i] + (p1[i] - p0[i]) * t)` over a run of samples, `t` in [0, 1):
    /// Pillow's lerp of every sample with one weight, in a loop the compiler vectorizes.
    #[target_feature(enable = "avx2")]
    fn lerp_run(p0: &[u8], p1: &[u8], t: f64, out: &mut [u8]) {
        debug_assert!((0.0..1.0).contains(&t));
        for ((o, &a), &b) in out.iter_mut().zip(p0).zip(p1) {
            let a = f64::from(a);
            let v = a + (f64::from(b) - a) * t;
            // SAFETY: a convex combination of two u8 values is finite and in 0..=255, so the
            // truncation fits an i32 (the checked `as` cast would stop the vectorization).
            *o = unsafe { v.to_int_unchecked::<i32>() } as u8;
        }
    }

    /// Per-row coordinates of every output pixel, computed for the whole row in loops the
    /// compiler vectorizes (`f64x4`, with `vroundpd` for the floor), with exactly Pillow's
    /// operations per pixel: `xs = a (x + 0.5) + by + c`, `xm = xs - 0.5`, `fl = floor(xm)`,
    /// weight `xm - fl`.
    struct RowCoords {
        /// `x + 0.5` for every column.
        centre: Vec<f64>,
        /// `xs` (before the -0.5), to test against the source bounds as Pillow does.
        xs: Vec<f64>,
        /// `floor(xs - 0.5)`.
        fl: Vec<f64>,
        /// `floor(xs - 0.5) - x`: constant along a run.
        shift: Vec<f64>,
        /// `xs - 0.5 - floor(xs - 0.5)`: the weight.
        frac: Vec<f64>,
        /// 1 where pixel `x` continues the run of pixel `x - 1`: inside the source, same
        /// shift, bitwise-same weight, right neighbour not clamped.
        continues: Vec<u8>,
    }

    impl RowCoords {
        fn new(w: usize) -> Self {
            Self {
                centre: (0..w).map(|x| f64::from(x as u32) + 0.5).collect(),
                xs: vec![0.0; w],
                fl: vec![0.0; w],
                shift: vec![0.0; w],
                frac: vec![0.0; w],
                continues: vec![0; w],
            }
        }

        #[target_feature(enable = "avx2")]
        fn fill(&mut self, a: f64, by: f64, c: f64, wf: f64) {
            let it = self
                .centre
                .iter()
                .zip(&mut self.xs)
                .zip(&mut self.fl)
                .zip(&mut self.shift)
                .zip(&mut self.frac);
            for ((((&xc, xs), fl), shift), frac) in it {
                let s = a * xc + by + c;
                let xm = s - 0.5;
                let f = xm.floor();
                *xs = s;
                *fl = f;
                *shift = f - (xc - 0.5);
                *frac = xm - f;
            }
            let last = wf - 1.0;
            for i in 1..self.xs.len() {
                // `&` rather than `&&`: no branches, so the loop vectorizes.
                let inside = (self.xs[i] >= 0.0) & (self.xs[i] < wf);
                let same = (self.shift[i] == self.shift[i - 1]) & (self.frac[i] == self.frac[i - 1]);
                self.continues[i] = u8::from(inside & same & (self.fl[i] + 1.0 <= last));
            }
        }
    }

    /// Row-keeping maps (`d = 0`, `e = 1`, integer `f`: shear_x and, transposed, shear_y).
    ///
    /// Along a row the source moves with the output (`floor = x + k`) and the weight repeats,
    /// except where rounding of the coordinate differs; so the row splits into runs with one
    /// `k` and one bitwise-equal weight, each lerped as contiguous bytes. Pixels that start
    /// no run (clamped at the border) go through the per-pixel kernel. Every sample still gets
    /// Pillow's exact coordinate and arithmetic.
    #[target_feature(enable = "avx2")]
    pub(super) fn rows_kept(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
        let [a, b, c, d, e, f] = *data;
        let stride = 3 * w;
        let (wf, hf) = (w as f64, h as f64);
        let last = (w - 1) as f64;
        let mut rc = RowCoords::new(w);
        for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
            let yc = f64::from(y as u32) + 0.5;
            let ys = d * 0.5 + e * yc + f;
            if !(ys >= 0.0 && ys < hf) {
                out.fill(0);
                continue;
            }
            let row = &src[floor_from_half(ys - 0.5) as usize * stride..][..stride];
            rc.fill(a, b * yc, c, wf);
            let inside = |x: usize| rc.xs[x] >= 0.0 && rc.xs[x] < wf;
            let mut x = 0;
            while x < w {
                if !inside(x) {
                    out[3 * x..3 * x + 3].fill(0);
                    x += 1;
                    continue;
                }
                let (fl, dx) = (rc.fl[x], rc.frac[x]);
                if fl < 0.0 || fl + 1.0 > last {
                    let x0 = 3 * fl.max(0.0) as usize;
                    let x1 = 3 * (fl + 1.0).min(last) as usize;
                    lerp1!(row, x0, row, x1, dx, out, 3 * x);
                    x += 1;
                    continue;
                }
                let start = x;
                x += 1;
                while x < w && rc.continues[x] != 0 {
                    x += 1;
                }
                let s0 = 3 * fl as usize;
                let n = 3 * (x - start);
                lerp_run(
                    &row[s0..s0 + n],
                    &row[s0 + 3..s0 + 3 + n],
                    dx,
                    &mut out[3 * start..3 * x],
                );
            }
        }
    }

    /// Everything the interpolation of one output row needs, per pixel, computed for the
    /// whole row in one loop the compiler vectorizes; the operations on the coordinates are
    /// exactly Pillow's (`xs = a xc + b yc + c`, `floor(xs - 0.5)`, weights, clamped indices).
    struct Taps {
        centre: Vec<f64>,
        inside: Vec<f64>,
        dx: Vec<f64>,
        dy: Vec<f64>,
        /// Byte offsets of the four neighbours (top-left, top-right, bottom-left, bottom-right).
        o00: Vec<i32>,
        o01: Vec<i32>,
        o10: Vec<i32>,
        o11: Vec<i32>,
    }

    impl Taps {
        fn new(w: usize) -> Self {
            Self {
                centre: (0..w).map(|x| f64::from(x as u32) + 0.5).collect(),
                inside: vec![0.0; w],
                dx: vec![0.0; w],
                dy: vec![0.0; w],
                o00: vec![0; w],
                o01: vec![0; w],
                o10: vec![0; w],
                o11: vec![0; w],
            }
        }

        #[target_feature(enable = "avx2")]
        fn fill(&mut self, data: &AffineData, yc: f64, w: usize, h: usize) {
            let [a, b, c, d, e, f] = *data;
            let (by, ey) = (b * yc, e * yc);
            let (wf, hf) = (w as f64, h as f64);
            let (xlast, ylast) = (wf - 1.0, hf - 1.0);
            let stride = 3.0 * wf;
            for i in 0..self.centre.len() {
                let xc = self.centre[i];
                let xs = a * xc + by + c;
                let ys = d * xc + ey + f;
                // `&` rather than `&&`: no branches, so the loop vectorizes.
                let ok = (xs >= 0.0) & (xs < wf) & (ys >= 0.0) & (ys < hf);
                self.inside[i] = if ok { 1.0 } else { 0.0 };
                let (xm, ym) = (xs - 0.5, ys - 0.5);
                let (xf, yf) = (xm.floor(), ym.floor());
                self.dx[i] = xm - xf;
                self.dy[i] = ym - yf;
                // max/min ignore NaN, so every index is finite and inside the image.
                let x0 = 3.0 * xf.max(0.0).min(xlast);
                let x1 = 3.0 * (xf + 1.0).max(0.0).min(xlast);
                let y0 = stride * yf.max(0.0).min(ylast);
                let y1 = stride * (yf + 1.0).max(0.0).min(ylast);
                // SAFETY: each value is a non-negative integer below the image's byte length,
                // which fits an i32 (checked in `warp_into`).
                unsafe {
                    self.o00[i] = (y0 + x0).to_int_unchecked::<i32>();
                    self.o01[i] = (y0 + x1).to_int_unchecked::<i32>();
                    self.o10[i] = (y1 + x0).to_int_unchecked::<i32>();
                    self.o11[i] = (y1 + x1).to_int_unchecked::<i32>();
                }
            }
        }
    }

    /// Any other map (rotation): the taps of a whole row first ([`Taps`]), then every pixel
    /// is interpolated with the `f64x4` kernel.
    #[target_feature(enable = "avx2")]
    pub(super) fn general_rows(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
        let stride = 3 * w;
        let mut taps = Taps::new(w);
        for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
            taps.fill(data, f64::from(y as u32) + 0.5, w, h);
            for x in 0..w {
                if taps.inside[x] == 0.0 {
                    out[3 * x..3 * x + 3].fill(0);
                    continue;
                }
                let (o00, o01) = (taps.o00[x] as usize, taps.o01[x] as usize);
                let (o10, o11) = (taps.o10[x] as usize, taps.o11[x] as usize);
                let dxv = _mm256_set1_pd(taps.dx[x]);
                let v1 = lerp!(to_pd!(src, o00), to_pd!(src, o01), dxv);
                let v2 = lerp!(to_pd!(src, o10), to_pd!(src, o11), dxv);
                store!(out, 3 * x, lerp!(v1, v2, _mm256_set1_pd(taps.dy[x])));
            }
        }
    }

    /// Column-keeping maps (`a = 1`, `b = 0`, integer `c`: shear_y) as a row-keeping map of
    /// the transposed image: `ys = d xc + e yc + f` is the same sum as the transposed
    /// `e uc + d vc + f` (addition commutes exactly), so the result is bit-identical.
    #[target_feature(enable = "avx2")]
    pub(super) fn columns_kept(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
        let [_, _, c, d, e, f] = *data;
        super::SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (t_in, t_out) = &mut *scratch;
            t_in.resize(src.len(), 0);
            t_out.resize(src.len(), 0);
            super::transpose(src, w, h, t_in);
            rows_kept(t_in, h, w, t_out, &[e, d, f, 0.0, 1.0, c]);
            super::transpose(t_out, h, w, dst);
        });
    }

    /// True when the running CPU has AVX2 (checked once, then cached by std).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// Dispatches to the AVX2 loops; `kind` 0 = rows kept, 1 = columns kept, 2 = general.
    pub(super) fn run(kind: u8, src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
        assert!(available(), "AVX2 loops called on a CPU without AVX2");
        // SAFETY: the CPU supports AVX2 (checked above).
        unsafe {
            match kind {
                0 => rows_kept(src, w, h, dst, data),
                1 => columns_kept(src, w, h, dst, data),
                2 => general_rows(src, w, h, dst, data),
                3 => rows_kept_per_pixel(src, w, h, dst, data),
                5 => general(src, w, h, dst, data),
                _ => columns_kept_per_pixel(src, w, h, dst, data),
            }
        }
    }
}

thread_local! {
    /// Per-thread buffers for the transposes of [`avx2::columns_kept`].
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Writes the transpose of the `w` x `h` RGB image `src` (an `h` x `w` image) into `dst`.
fn transpose(src: &[u8], w: usize, h: usize, dst: &mut [u8]) {
    assert_eq!(src.len(), 3 * w * h);
    assert_eq!(dst.len(), src.len());
    // Bands of 8 source rows: the 8 destination pixels of a source column are contiguous.
    const BAND: usize = 8;
    for y0 in (0..h).step_by(BAND) {
        let rows = BAND.min(h - y0);
        let band = &src[3 * w * y0..3 * w * (y0 + rows)];
        for x in 0..w {
            let out = &mut dst[3 * (x * h + y0)..3 * (x * h + y0 + rows)];
            for (r, px) in out.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&band[3 * (r * w + x)..3 * (r * w + x) + 3]);
            }
        }
    }
}

/// Runs one of the interpolating loops, with AVX2 where the CPU has it.
fn interpolate(kind: u8, src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return avx2::run(kind, src, w, h, dst, data);
    }
    match kind {
        0 => rows_kept(src, w, h, dst, data),
        1 => columns_kept(src, w, h, dst, data),
        _ => general(src, w, h, dst, data),
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_loops_equal_the_scalar_loops() {
        if !avx2::available() {
            return;
        }
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for (w, h) in [(1, 1), (2, 3), (31, 17), (64, 64)] {
            let img = ramp(w, h);
            for _ in 0..40 {
                let angle: f64 = (next() - 0.5) * 100.0;
                let data = match rotate_plan(angle, w, h) {
                    RotatePlan::Affine(d) => d,
                    _ => continue,
                };
                let shear = (next() - 0.5) * 0.8;
                let scaled = [1.0 + shear, shear, 0.5, 0.0, 1.0, 1.0];
                for (kind, data) in [
                    (2u8, data),
                    (0, shear_x_data(shear)),
                    (1, shear_y_data(shear)),
                    (3, shear_x_data(shear)),
                    (4, shear_y_data(shear)),
                    (0, scaled),
                    (3, scaled),
                    (1, [1.0, 0.0, 2.0, shear, 1.0 - shear, 0.25]),
                    (5, data),
                ] {
                    let (mut fast, mut slow) = (vec![0; img.len()], vec![0; img.len()]);
                    avx2::run(kind, &img, w as usize, h as usize, &mut fast, &data);
                    match kind {
                        0 | 3 => rows_kept(&img, w as usize, h as usize, &mut slow, &data),
                        1 | 4 => columns_kept(&img, w as usize, h as usize, &mut slow, &data),
                        _ => general(&img, w as usize, h as usize, &mut slow, &data),
                    }
                    assert_eq!(fast, slow, "{w}x{h} kind {kind} {data:?}");
                }
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
