//! Pillow's `ImageEnhance` operations: `Image.blend(degenerate, image, factor)` with a
//! degenerate image per operation (Color: the luma image; Contrast: flat grey at the mean
//! luma; Brightness: black; Sharpness: the image smoothed by the 3x3 SMOOTH kernel).
//!
//! Pillow's blend takes the factor as a C `float` and computes, per sample,
//! `degenerate + factor * (image - degenerate)` in `float`, then truncates (clamping to
//! 0..=255 when the factor is outside [0, 1]). Rust's saturating `f32 as u8` is exactly
//! that truncation and clamp, and `f32` arithmetic here is IEEE single precision as in
//! Pillow's build, so these functions reproduce Pillow bit for bit.

use image::RgbImage;

use super::lut::Lut;

/// Pillow's `Image.blend(degenerate, image, factor)` for one sample.
#[inline(always)]
fn blend_sample(degenerate: u8, sample: u8, alpha: f32) -> u8 {
    let diff = (i32::from(sample) - i32::from(degenerate)) as f32;
    (f32::from(degenerate) + alpha * diff) as u8
}

/// The factor as Pillow receives it (a C `float`).
fn alpha(factor: f64) -> f32 {
    factor as f32
}

/// ITU-R 601-2 luma as Pillow's RGB -> L conversion computes it: 16-bit fixed-point weights
/// (19595, 38470, 7471, summing to 65536, i.e. 0.299, 0.587, 0.114) with rounding.
///
/// ```
/// assert_eq!(advbn_augmenters::ops::luma(255, 255, 255), 255);
/// assert_eq!(advbn_augmenters::ops::luma(255, 0, 0), 76);
/// ```
#[inline(always)]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// The table of a blend against a constant degenerate value (Brightness, Contrast).
fn blend_const_lut(degenerate: u8, factor: f64) -> Lut {
    let a = alpha(factor);
    let mut t = [0u8; 256];
    for (i, out) in t.iter_mut().enumerate() {
        *out = blend_sample(degenerate, i as u8, a);
    }
    [t, t, t]
}

/// `ImageEnhance.Brightness(image).enhance(factor)` as a table (it is a point operation).
pub fn brightness_lut(factor: f64) -> Lut {
    blend_const_lut(0, factor)
}

/// The grey level of Contrast's degenerate image: `int(mean(L) + 0.5)` over the luma image.
pub fn contrast_grey(rgb: &[u8]) -> u8 {
    let n = rgb.len() / 3;
    if n == 0 {
        return 0;
    }
    let sum: u64 = rgb
        .chunks_exact(3)
        .map(|p| u64::from(luma(p[0], p[1], p[2])))
        .sum();
    (sum as f64 / n as f64 + 0.5) as u8
}

/// `ImageEnhance.Contrast(image).enhance(factor)` as a table for this image.
pub fn contrast_lut(rgb: &[u8], factor: f64) -> Lut {
    blend_const_lut(contrast_grey(rgb), factor)
}

/// `ImageEnhance.Color(image).enhance(factor)` into `dst`.
pub fn color_into(src: &[u8], dst: &mut [u8], factor: f64) {
    assert_eq!(src.len(), dst.len(), "source and destination lengths differ");
    let a = alpha(factor);
    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
        let l = luma(s[0], s[1], s[2]);
        d[0] = blend_sample(l, s[0], a);
        d[1] = blend_sample(l, s[1], a);
        d[2] = blend_sample(l, s[2], a);
    }
}

/// Pillow's `ImageFilter.SMOOTH` (3x3 kernel `1 1 1 / 1 5 1 / 1 1 1`, scale 13) on an RGB
/// image: `float` weights `1/13`, `5/13`, a `+0.5` rounding offset, rows summed bottom to
/// top as Pillow does, truncated; the first and last rows and columns are copied, and an
/// image smaller than 3x3 is copied whole.
pub fn smooth_into(src: &[u8], width: u32, height: u32, dst: &mut [u8]) {
    let (w, h) = (width as usize, height as usize);
    assert_eq!(src.len(), 3 * w * h, "source is not {w}x{h} RGB");
    assert_eq!(dst.len(), src.len(), "destination size differs from the source");
    if w < 3 || h < 3 {
        dst.copy_from_slice(src);
        return;
    }
    let k = 1.0f32 / 13.0f32;
    let k5 = 5.0f32 / 13.0f32;
    let stride = 3 * w;
    dst[..stride].copy_from_slice(&src[..stride]);
    dst[(h - 1) * stride..].copy_from_slice(&src[(h - 1) * stride..]);
    for y in 1..h - 1 {
        let up = &src[(y - 1) * stride..][..stride];
        let mid = &src[y * stride..][..stride];
        let down = &src[(y + 1) * stride..][..stride];
        let out = &mut dst[y * stride..][..stride];
        out[..3].copy_from_slice(&mid[..3]);
        out[stride - 3..].copy_from_slice(&mid[stride - 3..]);
        for i in 3..stride - 3 {
            let f = |row: &[u8], centre: f32| {
                f32::from(row[i - 3]) * k + f32::from(row[i]) * centre + f32::from(row[i + 3]) * k
            };
            let mut ss = 0.5f32;
            ss += f(down, k);
            ss += f(mid, k5);
            ss += f(up, k);
            out[i] = ss as u8;
        }
    }
}

/// `ImageEnhance.Sharpness(image).enhance(factor)` into `dst`; `scratch` (same length)
/// receives the smoothed image.
pub fn sharpness_into(src: &[u8], width: u32, height: u32, dst: &mut [u8], scratch: &mut [u8], factor: f64) {
    smooth_into(src, width, height, scratch);
    let a = alpha(factor);
    for ((d, &s), &m) in dst.iter_mut().zip(src).zip(scratch.iter()) {
        *d = blend_sample(m, s, a);
    }
}

/// `ImageEnhance.Color(image).enhance(factor)`: 0 gives the grey (luma) image, 1 the image.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(1, 1, vec![200, 100, 0]).unwrap();
/// assert_eq!(advbn_augmenters::ops::color(&img, 0.0).as_raw(), &vec![118, 118, 118]);
/// assert_eq!(advbn_augmenters::ops::color(&img, 1.0), img);
/// ```
pub fn color(image: &RgbImage, factor: f64) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    color_into(image.as_raw(), &mut out, factor);
    out
}

/// `ImageEnhance.Contrast(image).enhance(factor)`: 0 gives flat grey at the mean luma.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 255, 255, 255]).unwrap();
/// assert_eq!(advbn_augmenters::ops::contrast(&img, 0.0).as_raw(), &vec![128; 6]);
/// ```
pub fn contrast(image: &RgbImage, factor: f64) -> RgbImage {
    super::lut::apply_lut(image, &contrast_lut(image.as_raw(), factor))
}

/// `ImageEnhance.Brightness(image).enhance(factor)`: 0 gives black.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(1, 1, vec![100, 200, 3]).unwrap();
/// assert_eq!(advbn_augmenters::ops::brightness(&img, 0.5).as_raw(), &vec![50, 100, 1]);
/// assert_eq!(advbn_augmenters::ops::brightness(&img, 2.0).as_raw(), &vec![200, 255, 6]);
/// ```
pub fn brightness(image: &RgbImage, factor: f64) -> RgbImage {
    super::lut::apply_lut(image, &brightness_lut(factor))
}

/// `ImageEnhance.Sharpness(image).enhance(factor)`: 0 gives the smoothed image, 2 a
/// sharpened one.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_fn(4, 4, |x, y| image::Rgb([(16 * x * y) as u8; 3]));
/// assert_eq!(advbn_augmenters::ops::sharpness(&img, 1.0), img);
/// ```
pub fn sharpness(image: &RgbImage, factor: f64) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    let mut scratch = vec![0u8; image.len()];
    sharpness_into(
        image.as_raw(),
        image.width(),
        image.height(),
        &mut out,
        &mut scratch,
        factor,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_truncates_and_clamps_like_pillow() {
        // 10 + 0.5 * (21 - 10) = 15.5 -> 15 (truncation, not rounding).
        assert_eq!(blend_sample(10, 21, 0.5), 15);
        // Extrapolation clamps.
        assert_eq!(blend_sample(100, 250, 2.0), 255);
        assert_eq!(blend_sample(100, 10, 2.0), 0);
        assert_eq!(blend_sample(100, 10, -0.5), 145);
    }

    #[test]
    fn luma_of_grey_is_the_grey() {
        for v in 0..=255u8 {
            assert_eq!(luma(v, v, v), v);
        }
    }

    #[test]
    fn smooth_keeps_the_border_and_averages_inside() {
        let mut src = vec![0u8; 3 * 9];
        src[12] = 13; // centre pixel, red channel
        let mut dst = vec![0u8; src.len()];
        smooth_into(&src, 3, 3, &mut dst);
        // 13 * 5/13 + 0.5 -> 5
        assert_eq!(dst[12], 5);
        assert_eq!(dst[13], 0);
        let tiny = vec![9u8; 6];
        let mut out = vec![0u8; 6];
        smooth_into(&tiny, 2, 1, &mut out);
        assert_eq!(out, tiny);
    }

    #[test]
    fn contrast_grey_rounds_the_mean() {
        // luma 0 and 255: mean 127.5 -> 128
        assert_eq!(contrast_grey(&[0, 0, 0, 255, 255, 255]), 128);
        assert_eq!(contrast_grey(&[]), 0);
    }
}
