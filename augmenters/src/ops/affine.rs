//! The geometric operations of AugMix with Pillow's semantics: `Image.rotate(deg,
//! BILINEAR)` and `Image.transform(size, AFFINE, data, BILINEAR)` for shear and translate.
//!
//! Pillow maps every output pixel centre back into the source with the affine data
//! `(a, b, c, d, e, f)`: `xs = a (x + 0.5) + b (y + 0.5) + c`, `ys = d (x + 0.5) + e (y + 0.5) + f`.
//! A source point outside `[0, w) x [0, h)` gives black; otherwise the four neighbours of
//! `(xs - 0.5, ys - 0.5)` (indices clamped to the image) are interpolated in `f64`, first
//! along x, then along y, and the result is truncated to u8.
//!
//! Two implementations:
//! - [`warp_exact`] evaluates those expressions in the same order and precision, so its
//!   output is bit-identical to Pillow's wherever the platform's `f64` arithmetic is IEEE (no
//!   fused multiply-add is used). It is simple and slow: the reference the fast path is
//!   tested against.
//! - [`warp`] and the op functions ([`rotate`], [`shear_x`], ...): the fast path. It decides
//!   which pixels are inside the source with Pillow's exact `f64` test, takes the source
//!   coordinates from Pillow's expressions (to within 1.3e-4 pixel, see below), and
//!   interpolates in 14-bit fixed point ([`super::bilinear`]): a sample can be one level off
//!   Pillow's where Pillow's interpolated value lies within a few hundredths of an integer, and is
//!   never further off. Integer translations and multiples of 90 degrees are copies, exact.
//!
//! The fast path by shape of the map:
//! - rows kept (`a = 1, d = 0, e = 1`, integer `f`: shear_x, fractional translate_x): each
//!   output row reads one source row at a constant offset `b (y + 0.5) + c`, so the row is one
//!   run of contiguous samples with one weight (16 samples per AVX2 step);
//! - columns kept (`a = 1, b = 0, e = 1`, integer `c`: shear_y, fractional translate_y): each
//!   column has one offset `d (x + 0.5) + f` and one weight; the columns fall into runs with
//!   the same integer offset, and each run is, on every output row, the weighted sum of two
//!   contiguous stretches of source rows (16 samples per AVX2 step, no transpose);
//! - anything else (rotation): the taps of each output row are computed in one vectorized
//!   pass (coordinates, clamped neighbours, the four weights), then every pixel is two 8-byte
//!   reads and one multiply-add per row of taps (two pixels per AVX2 step). The coordinates
//!   are Pillow's at every 8th pixel and stepped in fixed point in between
//!   ([`super::bilinear`]'s `Stepped`: within 1.3e-4 pixel of Pillow's; maps with huge
//!   coordinates use Pillow's `f64` expression at every pixel), and the pixels inside the
//!   source are found per row with Pillow's test.
//!
//! In the first two shapes the offset is computed once per row or column rather than once
//! per pixel as Pillow does (`(x + 0.5 + b yc) + c` against `x + 0.5 + (b yc + c)`); the two
//! differ by a rounding of the order of 1e-13 pixel, which moves an interpolated value by far
//! less than the fixed-point weights do. The inside tests still use Pillow's per-pixel
//! expression, so the black border is Pillow's.

use std::cell::RefCell;
use std::sync::OnceLock;

use image::RgbImage;

use super::bilinear::{self, Kernels, ONE, Stepped, Taps, lerp_packed, pack, weight};

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

/// Pillow's rounded `cos`, `sin` and `-sin` of `theta = -angle` (radians) for an angle in
/// `[0, 360)`: `round(.., 15)` goes through a decimal string, so the values of the whole
/// angles (all that AugMix draws) are computed once and kept.
fn rotation_terms(angle: f64) -> (f64, f64, f64) {
    fn terms(angle: f64) -> (f64, f64, f64) {
        let theta = -(angle * (std::f64::consts::PI / 180.0));
        (round15(theta.cos()), round15(theta.sin()), round15(-theta.sin()))
    }
    static WHOLE: OnceLock<Vec<(f64, f64, f64)>> = OnceLock::new();
    if angle.fract() == 0.0 && (0.0..360.0).contains(&angle) {
        return WHOLE.get_or_init(|| (0..360).map(|a| terms(f64::from(a))).collect())[angle as usize];
    }
    terms(angle)
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
    let (cos, sin, minus_sin) = rotation_terms(angle);
    let (a, b, d, e) = (cos, sin, minus_sin, cos);
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

/// `Image.transform(image.size, AFFINE, data, BILINEAR)` evaluated exactly as Pillow does
/// (double precision, Pillow's operation order): bit-identical to Pillow, and several times
/// slower than [`warp`], which interpolates in fixed point.
///
/// ```
/// use image::RgbImage;
/// use advbn_augmenters::ops::{shear_x_data, warp, warp_exact};
/// let img = RgbImage::from_fn(9, 7, |x, y| image::Rgb([(x * 28) as u8, (y * 36) as u8, 7]));
/// let (exact, fast) = (warp_exact(&img, &shear_x_data(0.3)), warp(&img, &shear_x_data(0.3)));
/// assert!(exact.as_raw().iter().zip(fast.as_raw()).all(|(a, b)| a.abs_diff(*b) <= 1));
/// ```
pub fn warp_exact(image: &RgbImage, data: &AffineData) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    warp_exact_into(image.as_raw(), image.width(), image.height(), &mut out, data);
    out
}

/// [`warp_exact`] into a caller's buffer of the same size (every byte of `dst` is written).
pub fn warp_exact_into(src: &[u8], width: u32, height: u32, dst: &mut [u8], data: &AffineData) {
    let (w, h) = (width as usize, height as usize);
    check_len(src, dst, w, h);
    if w == 0 || h == 0 {
        return;
    }
    let [a, b, c, d, e, f] = *data;
    if a == 1.0 && b == 0.0 && is_int(c) && d == 0.0 && e == 1.0 && is_int(f) {
        shift(src, w, h, dst, c as i64, f as i64);
    } else {
        exact(src, w, h, dst, data);
    }
}

fn check_len(src: &[u8], dst: &[u8], w: usize, h: usize) {
    assert_eq!(src.len(), 3 * w * h, "source is not {w}x{h} RGB");
    assert_eq!(dst.len(), src.len(), "destination size differs from the source");
}

fn is_int(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15
}

/// The shapes of map the fast path distinguishes (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    RowsKept,
    ColumnsKept,
    General,
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
        return shift(src, w, h, dst, c as i64, f as i64);
    }
    // The fixed-point path keeps byte offsets in i32 and needs two pixels each way; maps
    // with huge or non-finite coefficients (never drawn by AugMix) take the exact path.
    let moderate = data.iter().all(|v| v.is_finite() && v.abs() <= 1e6);
    if w < 2 || h < 2 || !moderate || src.len() > (i32::MAX as usize) / 2 {
        return exact(src, w, h, dst, data);
    }
    let shape = if a == 1.0 && d == 0.0 && e == 1.0 && is_int(f) {
        Shape::RowsKept
    } else if a == 1.0 && b == 0.0 && e == 1.0 && is_int(c) {
        Shape::ColumnsKept
    } else {
        Shape::General
    };
    fixed_point(shape, src, w, h, dst, data);
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

/// Pillow's loop, literally: every output pixel maps its centre, tests it against the source
/// and interpolates its clamped neighbours in `f64`, along x on both rows, then along y.
fn exact(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    let [a, b, c, d, e, f] = *data;
    let stride = 3 * w;
    let (wf, hf) = (w as f64, h as f64);
    let (xlast, ylast) = (w - 1, h - 1);
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let yc = f64::from(y as u32) + 0.5;
        let (by, ey) = (b * yc, e * yc);
        for (x, px) in out.chunks_exact_mut(3).enumerate() {
            let xc = f64::from(x as u32) + 0.5;
            let xs = a * xc + by + c;
            let ys = d * xc + ey + f;
            if !(xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf) {
                px.fill(0);
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
                let (p00, p01) = (f64::from(r0[x0 + ch]), f64::from(r0[x1 + ch]));
                let (p10, p11) = (f64::from(r1[x0 + ch]), f64::from(r1[x1 + ch]));
                let v1 = p00 + (p01 - p00) * dx;
                let v2 = p10 + (p11 - p10) * dx;
                px[ch] = (v1 + (v2 - v1) * dy) as u8;
            }
        }
    }
}

/// Per-column plan of a columns-kept map.
#[derive(Default)]
struct ColumnPlan {
    /// Rows `[lo, hi)` of each column that are inside the source (Pillow's test).
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// Packed weights per sample (3 per column), plus 16 of padding.
    weights: Vec<u32>,
    /// Runs of columns `[x0, x1)` with the same integer offset `k` (source row `y + k`).
    runs: Vec<(usize, usize, i64)>,
}

/// Per-thread buffers of the fast path.
#[derive(Default)]
struct Scratch {
    taps: Taps,
    columns: ColumnPlan,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs the fast path of `shape`, with the AVX2 kernels where the CPU has them (the
/// results are the same either way).
fn fixed_point(shape: Shape, src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    SCRATCH.with_borrow_mut(|scratch| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            #[target_feature(enable = "avx2")]
            fn avx2(
                shape: Shape,
                src: &[u8],
                w: usize,
                h: usize,
                dst: &mut [u8],
                data: &AffineData,
                s: &mut Scratch,
            ) {
                run::<bilinear::Avx2>(shape, src, w, h, dst, data, s)
            }
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(shape, src, w, h, dst, data, scratch) };
        }
        run::<bilinear::Scalar>(shape, src, w, h, dst, data, scratch)
    })
}

#[inline(always)]
fn run<K: Kernels>(
    shape: Shape,
    src: &[u8],
    w: usize,
    h: usize,
    dst: &mut [u8],
    data: &AffineData,
    scratch: &mut Scratch,
) {
    match shape {
        Shape::RowsKept => rows_kept::<K>(src, w, h, dst, data),
        Shape::ColumnsKept => columns_kept::<K>(src, w, h, dst, data, &mut scratch.columns),
        Shape::General => general::<K>(src, w, h, dst, data, &mut scratch.taps),
    }
}

/// The indices `[lo, hi)` of `0..n` where `inside` holds. `inside` is Pillow's bound test
/// along a row or column, true on an interval; `lo_bound` and `hi_bound` are that interval's
/// ends from the offset computed once per row or column, which can only be off where a
/// bound falls on an integer, by one: the exact test settles those.
#[inline(always)]
fn span(n: usize, lo_bound: f64, hi_bound: f64, inside: impl Fn(usize) -> bool) -> (usize, usize) {
    let nf = n as f64;
    let mut lo = lo_bound.ceil().clamp(0.0, nf) as usize;
    let mut hi = (hi_bound.ceil().clamp(0.0, nf) as usize).max(lo);
    // Usually the estimate is right: four independent tests (evaluated together, without
    // branches between them) confirm it. Out-of-range indices are tested harmlessly and
    // ignored.
    let (before, first) = (inside(lo.wrapping_sub(1)), inside(lo));
    let (last, after) = (inside(hi.wrapping_sub(1)), inside(hi));
    let lo_ok = (lo == 0) | !before;
    let hi_ok = (hi == n) | !after;
    let inner_ok = (lo == hi) | (first & last);
    if lo_ok & hi_ok & inner_ok {
        return (lo, hi);
    }
    while lo > 0 && inside(lo - 1) {
        lo -= 1;
    }
    while lo < hi && !inside(lo) {
        lo += 1;
    }
    while hi < n && inside(hi) {
        hi += 1;
    }
    while hi > lo && !inside(hi - 1) {
        hi -= 1;
    }
    (lo, hi)
}

/// An offset `s` as its integer part `k` and its fixed-point weight `t < ONE` (a weight that
/// rounds to `ONE` moves to the next pixel with weight 0). `k` is clamped to `±(n + 4)`,
/// where nothing of an `n`-pixel source is reached anyway.
#[inline(always)]
fn split(s: f64, n: usize) -> (i64, i32) {
    let fl = s.floor();
    let t = weight(s - fl);
    let lim = n as f64 + 4.0;
    let k = fl.clamp(-lim, lim) as i64;
    if t == ONE { (k + 1, 0) } else { (k, t) }
}

/// Rows-kept maps (`a = 1`, `d = 0`, `e = 1`, integer `f`): output row y reads source row
/// `y + f` at the offset `s = b (y + 0.5) + c`.
#[inline(always)]
fn rows_kept<K: Kernels>(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData) {
    let [a, b, c, _, e, f] = *data;
    let stride = 3 * w;
    let (wf, hf) = (w as f64, h as f64);
    let last = w as i64 - 1;
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let yc = f64::from(y as u32) + 0.5;
        // Pillow's ys is exactly yc + f here, and its vertical weight exactly 0.
        let ys = e * yc + f;
        if !(ys >= 0.0 && ys < hf) {
            out.fill(0);
            continue;
        }
        let row = &src[(ys - 0.5) as usize * stride..][..stride];
        let by = b * yc;
        let s = by + c;
        let (lo, hi) = span(w, -0.5 - s, wf - 0.5 - s, |x| {
            let xs = a * (f64::from(x as u32) + 0.5) + by + c;
            xs >= 0.0 && xs < wf
        });
        out[..3 * lo].fill(0);
        out[3 * hi..].fill(0);
        if lo == hi {
            continue;
        }
        // Pixel x interpolates source pixels x + k and x + k + 1 with weight t; where one of
        // them is outside (the first and last pixel or so), Pillow clamps the index.
        let (k, t) = split(s, w);
        let (lo, hi) = (lo as i64, hi as i64);
        let ia = (-k).clamp(lo, hi);
        let ib = (last - k).clamp(ia, hi);
        let wt = pack(ONE - t, t);
        for x in (lo..ia).chain(ib..hi) {
            let x0 = 3 * (x + k).clamp(0, last) as usize;
            let x1 = 3 * (x + k + 1).clamp(0, last) as usize;
            let o = 3 * x as usize;
            for ch in 0..3 {
                out[o + ch] = lerp_packed(row[x0 + ch], row[x1 + ch], wt);
            }
        }
        if ia < ib {
            let (ia, ib) = (ia as usize, ib as usize);
            let s0 = 3 * (ia as i64 + k) as usize;
            let n = 3 * (ib - ia);
            K::lerp_const(
                &row[s0..s0 + n],
                &row[s0 + 3..s0 + 3 + n],
                t,
                &mut out[3 * ia..3 * ib],
            );
        }
    }
}

/// Columns-kept maps (`a = 1`, `b = 0`, `e = 1`, integer `c`): output column x reads source
/// column `x + c` at the vertical offset `s = d (x + 0.5) + f`.
#[inline(always)]
fn columns_kept<K: Kernels>(
    src: &[u8],
    w: usize,
    h: usize,
    dst: &mut [u8],
    data: &AffineData,
    plan: &mut ColumnPlan,
) {
    let [_, _, c, d, e, f] = *data;
    let stride = 3 * w;
    let hf = h as f64;
    let ci = c as i64;
    // Columns whose source column is inside.
    let cx0 = (-ci).clamp(0, w as i64) as usize;
    let cx1 = (w as i64 - ci).clamp(cx0 as i64, w as i64) as usize;
    plan.lo.resize(w, 0);
    plan.hi.resize(w, 0);
    plan.weights.clear();
    plan.weights.resize(3 * w + 16, 0);
    plan.runs.clear();
    for x in cx0..cx1 {
        let dx = d * (f64::from(x as u32) + 0.5);
        let s = dx + f;
        (plan.lo[x], plan.hi[x]) = span(h, -0.5 - s, hf - 0.5 - s, |y| {
            let ys = dx + e * (f64::from(y as u32) + 0.5) + f;
            ys >= 0.0 && ys < hf
        });
        let (k, t) = split(s, h);
        plan.weights[3 * x..3 * x + 3].fill(pack(ONE - t, t));
        match plan.runs.last_mut() {
            Some(run) if run.2 == k => run.1 = x + 1,
            _ => plan.runs.push((x, x + 1, k)),
        }
    }
    let last = h as i64 - 1;
    for out in dst.chunks_exact_mut(stride) {
        out[..3 * cx0].fill(0);
        out[3 * cx1..].fill(0);
    }
    // Run by run (a band of columns), all rows: the run's setup is done once.
    for &(x0, x1, k) in &plan.runs {
        let sx0 = 3 * (x0 as i64 + ci) as usize;
        let (o0, n) = (3 * x0, 3 * (x1 - x0));
        // A run shorter than one AVX2 step computes 16 samples where there is room; the extra
        // ones belong to the next runs, which are written after it.
        let m = if n < 16 && 3 * (cx1 - x0) >= 16 { 16 } else { n };
        let weights = &plan.weights[o0..o0 + m];
        // Rows whose two source rows y + k and y + k + 1 are both inside (so is the pixel).
        let ya = (-k).clamp(0, h as i64) as usize;
        let yb = (last - k).clamp(ya as i64, h as i64) as usize;
        for y in ya..yb {
            let at = (y as i64 + k) as usize * stride + sx0;
            let out = &mut dst[y * stride + o0..];
            if at + stride + m <= src.len() {
                K::lerp_weighted(&src[at..], &src[at + stride..], weights, &mut out[..m]);
            } else {
                K::lerp_weighted(&src[at..], &src[at + stride..], weights, &mut out[..n]);
            }
        }
        // Near the top or bottom: Pillow's inside test and clamped rows, pixel by pixel.
        for y in (0..ya).chain(yb..h) {
            let r = y as i64 + k;
            let r0 = r.clamp(0, last) as usize * stride;
            let r1 = (r + 1).clamp(0, last) as usize * stride;
            let out = &mut dst[y * stride..][..stride];
            for x in x0..x1 {
                let (o, sx) = (3 * x, sx0 + 3 * (x - x0));
                if (plan.lo[x]..plan.hi[x]).contains(&y) {
                    let wt = plan.weights[o];
                    for ch in 0..3 {
                        out[o + ch] = lerp_packed(src[r0 + sx + ch], src[r1 + sx + ch], wt);
                    }
                } else {
                    out[o..o + 3].fill(0);
                }
            }
        }
    }
}

/// The `x` in `0..n` where `0 <= alpha (x + 0.5) + beta < limit`, estimated (bounds for
/// [`span`]); `inverse` is `1 / alpha`.
#[inline(always)]
fn line_bounds(alpha: f64, inverse: f64, beta: f64, limit: f64, n: usize) -> (f64, f64) {
    if alpha > 0.0 {
        (-beta * inverse - 0.5, (limit - beta) * inverse - 0.5)
    } else if alpha < 0.0 {
        (
            ((limit - beta) * inverse - 0.5).floor() + 1.0,
            (-beta * inverse - 0.5).floor() + 1.0,
        )
    } else if (0.0..limit).contains(&beta) {
        (0.0, n as f64)
    } else {
        (0.0, 0.0)
    }
}

/// Any other map (rotation): per output row, the [`Taps`] of every pixel, then the pixels.
/// With [`Stepped`] coordinates (all but huge maps), the pixels inside the source are found
/// per row: an interval, as both coordinates are monotonic along a row, settled with Pillow's
/// test.
#[inline(always)]
fn general<K: Kernels>(src: &[u8], w: usize, h: usize, dst: &mut [u8], data: &AffineData, taps: &mut Taps) {
    let [a, b, c, d, e, f] = *data;
    let (wf, hf) = (w as f64, h as f64);
    let stepped = Stepped::new(data, w, h);
    let (inv_a, inv_d) = (1.0 / a, 1.0 / d);
    taps.resize(w);
    for (y, out) in dst.chunks_exact_mut(3 * w).enumerate() {
        let yc = f64::from(y as u32) + 0.5;
        let max_off = match &stepped {
            Some(s) => {
                let (by, ey) = (b * yc, e * yc);
                let (xlo, xhi) = line_bounds(a, inv_a, by + c, wf, w);
                let (ylo, yhi) = line_bounds(d, inv_d, ey + f, hf, w);
                let inside = span(w, xlo.max(ylo), xhi.min(yhi), |x| {
                    let xc = f64::from(x as u32) + 0.5;
                    let (xs, ys) = (a * xc + by + c, d * xc + ey + f);
                    xs >= 0.0 && xs < wf && ys >= 0.0 && ys < hf
                });
                K::fill_taps_stepped(taps, data, yc, (w, h), s, inside)
            }
            None => K::fill_taps(taps, data, yc, w, h),
        };
        K::bilinear_row(src, taps, max_off, out);
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

    /// Deterministic uniform numbers in [0, 1).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Maps of every shape: rotations, shears, fractional translations, other affine maps.
    fn maps(w: u32, h: u32, next: &mut impl FnMut() -> f64) -> Vec<AffineData> {
        let mut out = Vec::new();
        for _ in 0..12 {
            if let RotatePlan::Affine(d) = rotate_plan(((next() - 0.5) * 100.0).round(), w, h) {
                out.push(d);
            }
            if let RotatePlan::Affine(d) = rotate_plan((next() - 0.5) * 720.0, w, h) {
                out.push(d);
            }
            let shear = (next() - 0.5) * 0.8;
            let t = (next() - 0.5) * f64::from(w.max(h));
            out.extend([
                shear_x_data(shear),
                shear_y_data(shear),
                translate_x_data(t),
                translate_y_data(t),
                [1.0, shear, t, 0.0, 1.0, 2.0],
                [1.0, 0.0, 1.0, shear, 1.0, t],
                [1.0 + shear, shear, 0.5, 0.0, 1.0, 1.0],
                [1.0, 0.0, 2.0, shear, 1.0 - shear, 0.25],
                [0.7, -shear, t, shear, 1.3, -t],
                // Coordinates too large for the fixed-point stepping: taps in f64.
                [250.0 + t, 1.0, -3.0, 0.5, 200.0, 1.0],
            ]);
        }
        out
    }

    /// Images with smooth areas, edges and noise.
    fn picture(w: u32, h: u32, seed: u64) -> RgbImage {
        let mut next = uniform(seed);
        RgbImage::from_fn(w, h, |x, y| {
            let n = (next() * 40.0) as u32;
            image::Rgb([
                (x * 255 / w.max(1)) as u8,
                ((y * 7 + n) % 256) as u8,
                if (x / 5 + y / 3) % 2 == 0 {
                    30 + n as u8
                } else {
                    220 - n as u8
                },
            ])
        })
    }

    #[test]
    fn fast_path_is_within_one_level_of_pillows_arithmetic() {
        let mut next = uniform(7);
        let (mut samples, mut differ) = (0usize, 0usize);
        for (w, h) in [
            (1, 1),
            (2, 2),
            (2, 3),
            (5, 3),
            (17, 23),
            (32, 32),
            (37, 53),
            (64, 17),
        ] {
            let img = picture(w, h, u64::from(w * h));
            for data in maps(w, h, &mut next) {
                let (fast, exact) = (warp(&img, &data), warp_exact(&img, &data));
                for (a, b) in fast.as_raw().iter().zip(exact.as_raw()) {
                    assert!(a.abs_diff(*b) <= 1, "{w}x{h} {data:?}: {a} against {b}");
                    differ += usize::from(a != b);
                }
                samples += fast.len();
            }
        }
        // The fixed-point weights (and the stepped coordinates) move a value by a few
        // hundredths at most before truncation.
        println!("{differ} of {samples} samples differ");
        assert!(differ * 200 < samples, "{differ} of {samples} samples differ");
    }

    #[test]
    fn copies_stay_exact() {
        let img = picture(37, 53, 3);
        for data in [
            translate_x_data(3.0),
            translate_x_data(-2.0),
            translate_y_data(4.0),
            [1.0, 0.0, -2.0, 0.0, 1.0, 3.0],
            shear_x_data(0.0),
            shear_y_data(-0.0),
            // Non-finite data takes the exact path.
            [f64::NAN, 0.0, 1.0, 0.0, 1.0, 0.0],
            [1.0, 1e300, 1.0, 0.0, 1.0, 0.0],
        ] {
            assert_eq!(warp(&img, &data), warp_exact(&img, &data), "{data:?}");
        }
        assert_eq!(shear_x(&img, 0.0), img);
        assert_eq!(shear_y(&img, 0.0), img);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_scalar_paths_give_the_same_bytes() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut next = uniform(11);
        for (w, h) in [(2, 2), (3, 7), (31, 17), (64, 64)] {
            let img = picture(w, h, 5);
            for data in maps(w, h, &mut next) {
                let mut fast = vec![0; img.len()];
                warp_into(&img, w, h, &mut fast, &data);
                let [a, b, c, d, e, f] = data;
                let shape = if a == 1.0 && b == 0.0 && is_int(c) && d == 0.0 && e == 1.0 && is_int(f) {
                    continue;
                } else if a == 1.0 && d == 0.0 && e == 1.0 && is_int(f) {
                    Shape::RowsKept
                } else if a == 1.0 && b == 0.0 && e == 1.0 && is_int(c) {
                    Shape::ColumnsKept
                } else {
                    Shape::General
                };
                let mut plain = vec![0; img.len()];
                let mut scratch = Scratch::default();
                run::<bilinear::Scalar>(
                    shape,
                    &img,
                    w as usize,
                    h as usize,
                    &mut plain,
                    &data,
                    &mut scratch,
                );
                assert_eq!(fast, plain, "{w}x{h} {shape:?} {data:?}");
            }
        }
    }

    #[test]
    fn stepping_is_used_unless_coordinates_are_huge() {
        let rot = match rotate_plan(7.0, 224, 224) {
            RotatePlan::Affine(d) => d,
            _ => unreachable!(),
        };
        assert!(Stepped::new(&rot, 224, 224).is_some());
        assert!(Stepped::new(&rot, 4000, 3000).is_some());
        assert!(Stepped::new(&[250.0, 1.0, -3.0, 0.5, 200.0, 1.0], 64, 17).is_none());
        assert!(Stepped::new(&[1.0, 0.0, 1e6, 0.0, 1.0, 0.0], 8, 8).is_none());
    }

    #[test]
    fn span_settles_the_bounds_with_the_exact_test() {
        // Estimates within one pixel of the true bounds (and one far too wide) are settled.
        let inside = |lo: usize, hi: usize| move |x: usize| (lo..hi).contains(&x);
        for (lo_b, hi_b) in [(2.0, 6.0), (1.5, 5.5), (3.0, 7.0), (1.0, 5.0), (-4.0, 40.0)] {
            assert_eq!(span(10, lo_b, hi_b, inside(2, 6)), (2, 6), "{lo_b} {hi_b}");
        }
        assert_eq!(span(10, 2.0, 6.0, inside(2, 6)), (2, 6));
        assert_eq!(span(10, 3.0, 7.0, inside(2, 6)), (2, 6));
        assert_eq!(span(10, 1.0, 5.0, inside(2, 6)), (2, 6));
        assert_eq!(span(10, 5.0, 5.0, inside(5, 6)), (5, 6));
        assert_eq!(span(10, 5.0, 5.0, inside(4, 5)), (4, 5));
        assert_eq!(span(10, -20.0, -10.0, inside(0, 0)), (0, 0));
        assert_eq!(
            span(10, 20.0, 30.0, inside(0, 0)).0,
            span(10, 20.0, 30.0, inside(0, 0)).1
        );
    }

    #[test]
    fn transposes_equal_the_exact_map() {
        // On a square image the 90-degree transposes equal the bilinear map with the exact
        // rotation matrix (all weights are 0 or 1 there).
        let img = ramp(6, 6);
        let mut exact_out = vec![0; img.len()];
        // 90 ccw: source (xs, ys) = (w - y, x) in pixel-centre coordinates.
        exact(&img, 6, 6, &mut exact_out, &[0.0, -1.0, 6.0, 1.0, 0.0, 0.0]);
        assert_eq!(rotate(&img, 90.0).into_raw(), exact_out);
        exact(&img, 6, 6, &mut exact_out, &[0.0, 1.0, 0.0, -1.0, 0.0, 6.0]);
        assert_eq!(rotate(&img, -90.0).into_raw(), exact_out);
        exact(&img, 6, 6, &mut exact_out, &[-1.0, 0.0, 6.0, 0.0, -1.0, 6.0]);
        assert_eq!(rotate(&img, 180.0).into_raw(), exact_out);
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
        // The cached whole angles equal the direct computation.
        for deg in [-359.0, -30.0, -1.0, 1.0, 7.0, 89.0, 271.0, 359.0, 12.5] {
            let angle = py_mod(deg, 360.0);
            let theta: f64 = -(angle * (std::f64::consts::PI / 180.0));
            let direct = (round15(theta.cos()), round15(theta.sin()), round15(-theta.sin()));
            assert_eq!(rotation_terms(angle), direct, "{deg}");
        }
    }
}
