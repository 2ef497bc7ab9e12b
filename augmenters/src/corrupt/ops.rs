//! The corruptions themselves. Each function documents its source of truth; `s` is the
//! severity index 0..5, `rng` the corruption's private stream rebuilt from the params'
//! `noise_seed` (so `apply` stays a pure function of image and params).

use image::RgbImage;
use rand::RngExt;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::filters::{
    Border, Buf, Kernel2d, ZoomKeep, arange, bilinear, clipped_zoom, correlate2d, gaussian_filter,
    pil_resize_box, pil_resize_nearest, trunc_u8,
};
use super::{Preset, params};
use crate::AugRng;

/// `np.uint8(np.clip(v, 0, 1) * 255)` computed in f64 as numpy does, so values the reference
/// leaves untouched come out exactly as it writes them.
#[inline]
fn unit_f64_to_u8(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0) as u8
}

fn map_unit_f64(img: &RgbImage, mut f: impl FnMut(f64) -> f64) -> RgbImage {
    let raw = img
        .as_raw()
        .iter()
        .map(|&v| unit_f64_to_u8(f(f64::from(v) / 255.0)))
        .collect();
    RgbImage::from_raw(img.width(), img.height(), raw).expect("same size")
}

/// `gaussian_noise`: `x + N(0, c)` per sample (both sources).
pub(crate) fn gaussian_noise(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let c = params::gaussian_noise(preset)[s];
    map_unit_f64(img, |x| x + c * rng.sample::<f64, _>(StandardNormal))
}

/// `shot_noise`: `Poisson(x c) / c` per sample (both sources). The 256 possible rates are
/// set up once per call.
pub(crate) fn shot_noise(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let c = params::shot_noise(preset)[s];
    let dists: Vec<Option<Poisson<f64>>> = (0..=255u32)
        .map(|v| Poisson::new(f64::from(v) / 255.0 * c).ok())
        .collect();
    let raw = img
        .as_raw()
        .iter()
        .map(|&v| {
            let k = dists[usize::from(v)].as_ref().map_or(0.0, |d| d.sample(rng));
            unit_f64_to_u8(k / c)
        })
        .collect();
    RgbImage::from_raw(img.width(), img.height(), raw).expect("same size")
}

/// `impulse_noise`: `skimage.util.random_noise(mode='s&p', amount=c)` as scikit-image
/// implements it since 0.19: every sample flips with probability `c`, to 1 or 0 with equal odds.
/// The skimage of 2018 that made CIFAR-10-C drew `ceil(c * size / 2)` coordinates per kind
/// with `randint(0, dim - 1)`, which never touched the last row, column or channel; we follow
/// the current, unbiased semantics.
pub(crate) fn impulse_noise(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let c = params::impulse_noise(preset)[s];
    map_unit_f64(img, |x| {
        let flipped = rng.random::<f64>() < c;
        let salted = rng.random::<f64>() < 0.5;
        match (flipped, salted) {
            (true, true) => 1.0,
            (true, false) => 0.0,
            _ => x,
        }
    })
}

/// `speckle_noise`: `x + x N(0, c)` per sample (both sources).
pub(crate) fn speckle_noise(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let c = params::speckle_noise(preset)[s];
    map_unit_f64(img, |x| x + x * c * rng.sample::<f64, _>(StandardNormal))
}

/// `gaussian_blur`: `skimage.filters.gaussian(sigma=c)` per channel, i.e. scipy's
/// `gaussian_filter` with `mode='nearest'`, `truncate=4`.
pub(crate) fn gaussian_blur(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let sigma = params::gaussian_blur(preset)[s];
    gaussian_filter(&Buf::unit_from_rgb8(img), sigma, sigma, 4.0, Border::Nearest).unit_to_rgb8()
}

/// `glass_blur`: Gaussian blur, quantise to u8, then `iterations` sweeps over the pixels
/// (rows from `h - d` down to `d + 1`, columns likewise), each pixel taking the value of the
/// one at an offset drawn from `randint(-d, d)` (so in `-d..d`, exclusive), then blur again.
/// Both sources write the step as a tuple swap of numpy row views,
/// `x[h, w], x[h', w'] = x[h', w'], x[h, w]`, which copies rather than swaps (the second
/// assignment reads the already overwritten view); we reproduce the copy, which is what
/// CIFAR-10-C and ImageNet-C contain. The CIFAR script hard-codes 32 for the sweep bounds;
/// we use the image's size (equal on 32x32).
pub(crate) fn glass_blur(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let (sigma, d, iters) = params::glass_blur(preset)[s];
    let first = gaussian_filter(&Buf::unit_from_rgb8(img), sigma, sigma, 4.0, Border::Nearest);
    let (w, h) = (first.w as i64, first.h as i64);
    let mut px: Vec<[u8; 3]> = first
        .data
        .chunks_exact(3)
        .map(|p| {
            [
                trunc_u8(p[0] * 255.0),
                trunc_u8(p[1] * 255.0),
                trunc_u8(p[2] * 255.0),
            ]
        })
        .collect();
    for _ in 0..iters {
        let mut y = h - d;
        while y > d {
            let mut x = w - d;
            while x > d {
                let dx = rng.random_range(-d..d);
                let dy = rng.random_range(-d..d);
                px[(y * w + x) as usize] = px[((y + dy) * w + x + dx) as usize];
                x -= 1;
            }
            y -= 1;
        }
    }
    let shuffled = Buf {
        w: first.w,
        h: first.h,
        c: 3,
        data: px.iter().flatten().map(|&v| f32::from(v) / 255.0).collect(),
    };
    gaussian_filter(&shuffled, sigma, sigma, 4.0, Border::Nearest).unit_to_rgb8()
}

/// `defocus_blur`: `cv2.filter2D` per channel with the anti-aliased disk kernel
/// (see `filters::disk_kernel`), `BORDER_REFLECT_101`.
pub(crate) fn defocus_blur(img: &RgbImage, kernel: &Kernel2d) -> RgbImage {
    correlate2d(&Buf::unit_from_rgb8(img), kernel, Border::Reflect101).unit_to_rgb8()
}

/// The line kernel `imagecorruptions` uses in place of ImageMagick's `MotionBlurImage`:
/// `2 radius + 1` taps with weights `exp(-i^2 / (2 sigma^2))` (normalised over all taps);
/// tap `i` reads the image shifted by `(-ceil(i cos a - 0.5), -ceil(i sin a - 0.5))` with
/// edge replication. Taps whose shift reaches the image's size end the sum (the reference
/// `break`s without renormalising).
pub(crate) fn motion_blur_buf(src: &Buf, radius: usize, sigma: f64, angle_deg: f64) -> Buf {
    let width = 2 * radius + 1;
    let k: Vec<f64> = (0..width)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    // point = (width sin, width cos); hypot = width: the offsets reduce to i sin, i cos.
    let point = (width as f64 * sin, width as f64 * cos);
    let hypot = point.0.hypot(point.1);
    let (w, h, c) = (src.w as isize, src.h as isize, src.c);
    let mut out = Buf::zeros(src.w, src.h, c);
    for (i, ki) in k.iter().enumerate() {
        let dy = -((i as f64 * point.0 / hypot) - 0.5).ceil() as isize;
        let dx = -((i as f64 * point.1 / hypot) - 0.5).ceil() as isize;
        if dy.abs() >= h || dx.abs() >= w {
            break;
        }
        let wgt = (ki / total) as f32;
        for y in 0..h {
            let sy = (y - dy).clamp(0, h - 1) as usize;
            let (dst_row, src_row) = (y as usize * src.w * c, sy * src.w * c);
            for x in 0..w {
                let sx = (x - dx).clamp(0, w - 1) as usize;
                for ch in 0..c {
                    out.data[dst_row + x as usize * c + ch] += wgt * src.data[src_row + sx * c + ch];
                }
            }
        }
    }
    out
}

/// `motion_blur`: the `imagecorruptions` line kernel (see [`motion_blur_buf`]) at angle
/// `U(-45, 45)` on 0..255 values. The CIFAR script called ImageMagick's `MotionBlurImage`
/// through Wand with the same (radius, sigma, angle) arguments; we use the same line kernel
/// with the CIFAR parameters and round to 8 bits as ImageMagick's output does.
pub(crate) fn motion_blur(img: &RgbImage, s: usize, preset: Preset, angle_deg: f64) -> RgbImage {
    let (radius, sigma) = params::motion_blur(preset)[s];
    let mut out = motion_blur_buf(&Buf::raw_from_rgb8(img), radius, sigma, angle_deg);
    if preset == Preset::Cifar {
        out.data.iter_mut().for_each(|v| *v = v.round());
    }
    out.raw_to_rgb8()
}

/// `zoom_blur`: the mean of the image and its `clipped_zoom`s at the factors
/// `np.arange(1, stop, step)` (scipy `zoom(order=1)` of the centred crop). `imagecorruptions`
/// keeps the top-left `h x w` of each zoomed crop; the CIFAR script trims it centrally.
pub(crate) fn zoom_blur(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let (stop, step) = params::zoom_blur(preset)[s];
    let zooms = arange(1.0, stop, step);
    let x = Buf::unit_from_rgb8(img);
    let mode = keep_mode(preset);
    let mut acc = x.clone();
    for &z in &zooms {
        let layer = clipped_zoom(&x, z, mode, false);
        add_top_left(&mut acc, &layer);
    }
    let n = (zooms.len() + 1) as f32;
    acc.data.iter_mut().for_each(|v| *v /= n);
    acc.unit_to_rgb8()
}

fn keep_mode(preset: Preset) -> ZoomKeep {
    match preset {
        Preset::Cifar => ZoomKeep::Centre,
        Preset::Imagenet => ZoomKeep::TopLeft,
    }
}

/// `out[:lh, :lw] += layer` (the reference's fallback when a layer comes out smaller).
fn add_top_left(out: &mut Buf, layer: &Buf) {
    let (w, h) = (out.w.min(layer.w), out.h.min(layer.h));
    for y in 0..h {
        for x in 0..w {
            for ch in 0..out.c {
                out.data[(y * out.w + x) * out.c + ch] += layer.data[(y * layer.w + x) * layer.c + ch];
            }
        }
    }
}

/// The diamond-square plasma fractal of both sources (`plasma_fractal`): an `n x n`
/// (power of two) toroidal height map, corners start at 0, each level's midpoints are the
/// mean of their four neighbours plus `wibble * U(-wibble, wibble)`, `wibble` starts at 100
/// and is divided by `decay` per level; normalised to [0, 1].
pub(crate) fn plasma_fractal(n: usize, decay: f64, rng: &mut AugRng) -> Vec<f32> {
    debug_assert!(n.is_power_of_two());
    let mut m = vec![0.0f64; n * n];
    let mut step = n;
    let mut wibble = 100.0f64;
    let at = |y: usize, x: usize| (y % n) * n + (x % n);
    while step >= 2 {
        let half = step / 2;
        // Squares: centre of each cell from its four corners.
        for y in (0..n).step_by(step) {
            for x in (0..n).step_by(step) {
                let sum = m[at(y, x)] + m[at(y + step, x)] + m[at(y, x + step)] + m[at(y + step, x + step)];
                m[at(y + half, x + half)] = sum / 4.0 + wibble * rng.random_range(-wibble..wibble);
            }
        }
        // Diamonds: edge midpoints from the two corners and the two centres beside them.
        for y in (0..n).step_by(step) {
            for x in (0..n).step_by(step) {
                let up = if y >= half { y - half } else { n + y - half };
                let sum = m[at(y + half, x + half)] + m[at(up, x + half)] + m[at(y, x)] + m[at(y, x + step)];
                m[at(y, x + half)] = sum / 4.0 + wibble * rng.random_range(-wibble..wibble);
            }
        }
        for y in (0..n).step_by(step) {
            for x in (0..n).step_by(step) {
                let left = if x >= half { x - half } else { n + x - half };
                let sum =
                    m[at(y + half, x + half)] + m[at(y + half, left)] + m[at(y, x)] + m[at(y + step, x)];
                m[at(y + half, x)] = sum / 4.0 + wibble * rng.random_range(-wibble..wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = m.iter().copied().fold(f64::INFINITY, f64::min);
    let max = m.iter().copied().fold(f64::NEG_INFINITY, f64::max) - min;
    m.iter()
        .map(|&v| if max > 0.0 { ((v - min) / max) as f32 } else { 0.0 })
        .collect()
}

/// `fog`: `x + c * plasma` (the fractal's top-left `h x w`, same for all channels), rescaled
/// by `max / (max + c)` where `max` is the clean image's maximum. The map side is
/// `next_power_of_2(max(h, w, 3))` for `imagenet` (the reference takes the max over the whole
/// shape, channels included) and 32 in the CIFAR script (we use
/// `max(32, next_power_of_2(max(h, w)))` so other sizes work).
pub(crate) fn fog(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let (c, decay) = params::fog(preset)[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let side = match preset {
        Preset::Imagenet => w.max(h).max(3).next_power_of_two(),
        Preset::Cifar => w.max(h).next_power_of_two().max(32),
    };
    let plasma = plasma_fractal(side, decay, rng);
    let max_val = img
        .as_raw()
        .iter()
        .copied()
        .max()
        .map_or(0.0, |v| f64::from(v) / 255.0);
    let scale = max_val / (max_val + c);
    let mut raw = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let f = c * f64::from(plasma[y * side + x]);
            for ch in 0..3 {
                let v = f64::from(img.get_pixel(x as u32, y as u32).0[ch]) / 255.0;
                raw.push(unit_f64_to_u8((v + f) * scale));
            }
        }
    }
    RgbImage::from_raw(w as u32, h as u32, raw).expect("same size")
}

/// `snow`: a `N(loc, scale)` layer, `clipped_zoom`ed by `zoom`, zeroed below `threshold`,
/// clipped, motion-blurred (angle `U(-135, -45)`), quantised to 8 bits; the image is blended
/// towards `max(x, 1.5 gray + 0.5)` (OpenCV's RGB->gray weights) and the layer is added
/// twice, once rotated by 180 degrees. `imagecorruptions` blurs the whole zoomed layer with
/// its line kernel and then takes the top-left `h x w`; the CIFAR script trims centrally,
/// quantises to 8 bits (truncating) before ImageMagick's blur and rounds after it, which we
/// reproduce with the same line kernel.
pub(crate) fn snow(img: &RgbImage, s: usize, preset: Preset, angle_deg: f64, rng: &mut AugRng) -> RgbImage {
    let (loc, scale, zoom, thr, radius, sigma, blend) = params::snow(preset)[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut layer = Buf::zeros(w, h, 1);
    for v in &mut layer.data {
        *v = (loc + scale * rng.sample::<f64, _>(StandardNormal)) as f32;
    }
    let full = preset == Preset::Imagenet;
    let mut layer = clipped_zoom(&layer, zoom, keep_mode(preset), full);
    for v in &mut layer.data {
        if f64::from(*v) < thr {
            *v = 0.0;
        }
        *v = v.clamp(0.0, 1.0);
        if preset == Preset::Cifar {
            *v = f32::from(trunc_u8(*v * 255.0));
        }
    }
    let mut blurred = motion_blur_buf(&layer, radius, sigma, angle_deg);
    for v in &mut blurred.data {
        *v = match preset {
            Preset::Imagenet => (*v * 255.0).round_ties_even() / 255.0,
            Preset::Cifar => v.round().clamp(0.0, 255.0) / 255.0,
        };
    }
    let x = Buf::unit_from_rgb8(img);
    let layer_at = |xx: usize, yy: usize| -> f32 {
        if xx < blurred.w && yy < blurred.h {
            blurred.data[yy * blurred.w + xx]
        } else {
            0.0
        }
    };
    let blend = blend as f32;
    let mut out = Buf::zeros(w, h, 3);
    for y in 0..h {
        for xx in 0..w {
            let p = [x.at(xx, y, 0), x.at(xx, y, 1), x.at(xx, y, 2)];
            let gray = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            let snowv = layer_at(xx, y) + layer_at(w - 1 - xx, h - 1 - y);
            for (ch, &pc) in p.iter().enumerate() {
                let v = blend * pc + (1.0 - blend) * pc.max(gray * 1.5 + 0.5);
                out.data[(y * w + xx) * 3 + ch] = v + snowv;
            }
        }
    }
    out.unit_to_rgb8()
}

/// `brightness`: HSV's V += c (clipped), via scikit-image's `rgb2hsv` / `hsv2rgb` formulas.
pub(crate) fn brightness(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let c = params::brightness(preset)[s];
    map_hsv(img, |hsv| hsv[2] = (hsv[2] + c).clamp(0.0, 1.0))
}

/// `saturate`: HSV's S becomes `clip(S a + b, 0, 1)`, via scikit-image's formulas.
pub(crate) fn saturate(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let (a, b) = params::saturate(preset)[s];
    map_hsv(img, |hsv| hsv[1] = (hsv[1] * a + b).clamp(0.0, 1.0))
}

fn map_hsv(img: &RgbImage, f: impl Fn(&mut [f64; 3])) -> RgbImage {
    let mut raw = Vec::with_capacity(img.as_raw().len());
    for p in img.as_raw().chunks_exact(3) {
        let rgb = [
            f64::from(p[0]) / 255.0,
            f64::from(p[1]) / 255.0,
            f64::from(p[2]) / 255.0,
        ];
        let mut hsv = super::color::rgb2hsv(rgb);
        f(&mut hsv);
        raw.extend(super::color::hsv2rgb(hsv).map(unit_f64_to_u8));
    }
    RgbImage::from_raw(img.width(), img.height(), raw).expect("same size")
}

/// `contrast`: `(x - mean) c + mean` with per-channel means over the image.
pub(crate) fn contrast(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let c = params::contrast(preset)[s];
    let n = (img.width() as usize * img.height() as usize).max(1) as f64;
    let mut means = [0.0f64; 3];
    for p in img.as_raw().chunks_exact(3) {
        for ch in 0..3 {
            means[ch] += f64::from(p[ch]) / 255.0;
        }
    }
    means.iter_mut().for_each(|m| *m /= n);
    let mut raw = img.as_raw().clone();
    for (i, v) in raw.iter_mut().enumerate() {
        let m = means[i % 3];
        *v = unit_f64_to_u8((f64::from(*v) / 255.0 - m) * c + m);
    }
    RgbImage::from_raw(img.width(), img.height(), raw).expect("same size")
}

/// `jpeg_compression`: Pillow's `save(format='JPEG', quality=q)` and reload. Pillow runs
/// libjpeg with the IJG quality scaling of the Annex K tables, 4:2:0 chroma subsampling by
/// box averaging and baseline Huffman coding; we encode the same way with `jpeg-encoder` and
/// decode with the `image` crate (its decoder's chroma upsampling and IDCT rounding differ
/// slightly from libjpeg's, hence the 30 dB corridor of the fidelity test).
pub(crate) fn jpeg_compression(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let quality = params::jpeg_compression(preset)[s];
    let (w, h) = (img.width(), img.height());
    if w > u32::from(u16::MAX) || h > u32::from(u16::MAX) {
        // JPEG cannot hold the image at all: leave it as it is rather than fail.
        return img.clone();
    }
    let mut bytes = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut bytes, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    enc.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    let encoded = enc.encode(img.as_raw(), w as u16, h as u16, jpeg_encoder::ColorType::Rgb);
    encoded
        .ok()
        .and_then(|()| image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).ok())
        .map(crate::to_rgb8)
        .filter(|out| out.dimensions() == (w, h))
        .unwrap_or_else(|| img.clone())
}

/// `pixelate`: Pillow `resize((int(w c), int(h c)), BOX)` then back to `(w, h)` with
/// `NEAREST` (`imagecorruptions`) or `BOX` (CIFAR script, which hard-codes 32). Sides are
/// kept at least 1 so tiny images work (Pillow would reject a zero side).
pub(crate) fn pixelate(img: &RgbImage, s: usize, preset: Preset) -> RgbImage {
    let c = params::pixelate(preset)[s];
    let (w, h) = img.dimensions();
    let nw = ((f64::from(w) * c) as u32).max(1);
    let nh = ((f64::from(h) * c) as u32).max(1);
    let small = pil_resize_box(img, nw, nh);
    match preset {
        Preset::Imagenet => pil_resize_nearest(&small, w, h),
        Preset::Cifar => pil_resize_box(&small, w, h),
    }
}

fn uniform_field(w: usize, h: usize, lo: f64, hi: f64, rng: &mut AugRng) -> Buf {
    let mut b = Buf::zeros(w, h, 1);
    if hi > lo {
        for v in &mut b.data {
            *v = rng.random_range(lo..hi) as f32;
        }
    }
    b
}

/// `elastic_transform`. `imagenet` (`imagecorruptions`): displacement fields `dx`, `dy`
/// are `U(-0.005 h, 0.005 h)` noise smoothed by `gaussian(sigma = 0.01 (h, w),
/// mode='reflect', truncate=3)` times `alpha`; the image is resampled at `(y + dy, x + dx)`
/// with `map_coordinates(order=1, mode='reflect')`. `cifar` (CIFAR script): first a random
/// affine warp (three anchor points jittered by `U(-j, j)`, `cv2.warpAffine` bilinear with
/// `BORDER_REFLECT_101`; OpenCV quantises the sampling position to 1/32 pixel, we do not),
/// then the same resampling with `U(-1, 1)` noise smoothed by `sigma` times `alpha`.
pub(crate) fn elastic_transform(img: &RgbImage, s: usize, preset: Preset, rng: &mut AugRng) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut x = Buf::unit_from_rgb8(img);
    let (dx, dy) = match preset {
        Preset::Imagenet => {
            let alpha = params::elastic_imagenet()[s];
            let (sy, sx) = (h as f64 * 0.01, w as f64 * 0.01);
            let max_d = h as f64 * 0.005;
            let mut field = || {
                let u = uniform_field(w, h, -max_d, max_d, rng);
                let mut g = gaussian_filter(&u, sy, sx, 3.0, Border::Reflect);
                g.data
                    .iter_mut()
                    .for_each(|v| *v = (f64::from(*v) * alpha) as f32);
                g
            };
            let dx = field();
            (dx, field())
        }
        Preset::Cifar => {
            let (alpha, sigma, jitter) = params::elastic_cifar()[s];
            x = random_affine(&x, jitter, rng);
            let mut field = || {
                let u = uniform_field(w, h, -1.0, 1.0, rng);
                let mut g = gaussian_filter(&u, sigma, sigma, 3.0, Border::Reflect);
                g.data
                    .iter_mut()
                    .for_each(|v| *v = (f64::from(*v) * alpha) as f32);
                g
            };
            let dx = field();
            (dx, field())
        }
    };
    let mut out = Buf::zeros(w, h, 3);
    for y in 0..h {
        for xx in 0..w {
            let i = y * w + xx;
            let (sy, sx) = (
                y as f64 + f64::from(dy.data[i]),
                xx as f64 + f64::from(dx.data[i]),
            );
            for ch in 0..3 {
                out.data[i * 3 + ch] = bilinear(&x, sy, sx, ch, Border::Reflect);
            }
        }
    }
    out.unit_to_rgb8()
}

/// The CIFAR script's random affine: anchors `c + q`, `(c0 + q, c1 - q)`, `c - q` with
/// `c = (h // 2, w // 2)` and `q = min(h, w) // 3` (used as OpenCV (x, y) points, as the
/// script does), moved by `U(-j, j)`; the destination samples the source at the inverse map.
fn random_affine(src: &Buf, jitter: f64, rng: &mut AugRng) -> Buf {
    let (w, h) = (src.w, src.h);
    let c = [(h / 2) as f64, (w / 2) as f64];
    let q = (w.min(h) / 3) as f64;
    let from = [[c[0] + q, c[1] + q], [c[0] + q, c[1] - q], [c[0] - q, c[1] - q]];
    let mut to = from;
    for p in &mut to {
        for v in p.iter_mut() {
            // The script draws float32 offsets.
            *v += f64::from(rng.random_range(-jitter..jitter) as f32);
        }
    }
    // The inverse map: destination point -> source point, solved from the three pairs.
    let Some(inv) = affine_from_points(&to, &from) else {
        return src.clone();
    };
    let mut out = Buf::zeros(w, h, 3);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let sx = inv[0] * xf + inv[1] * yf + inv[2];
            let sy = inv[3] * xf + inv[4] * yf + inv[5];
            for ch in 0..3 {
                out.data[(y * w + x) * 3 + ch] = bilinear(src, sy, sx, ch, Border::Reflect101);
            }
        }
    }
    out
}

/// The affine map (row-major 2x3) taking the three `(x, y)` points `a` to `b`, `None` when
/// the points are collinear.
fn affine_from_points(a: &[[f64; 2]; 3], b: &[[f64; 2]; 3]) -> Option<[f64; 6]> {
    let det = a[0][0] * (a[1][1] - a[2][1]) - a[0][1] * (a[1][0] - a[2][0])
        + (a[1][0] * a[2][1] - a[2][0] * a[1][1]);
    if det.abs() < 1e-12 {
        return None;
    }
    // Cramer's rule for [x y 1] * [m0 m1 m2]^T = b for each output coordinate.
    let solve = |t: [f64; 3]| -> [f64; 3] {
        let d0 = t[0] * (a[1][1] - a[2][1]) - a[0][1] * (t[1] - t[2]) + (t[1] * a[2][1] - t[2] * a[1][1]);
        let d1 = a[0][0] * (t[1] - t[2]) - t[0] * (a[1][0] - a[2][0]) + (a[1][0] * t[2] - a[2][0] * t[1]);
        let d2 = a[0][0] * (a[1][1] * t[2] - a[2][1] * t[1]) - a[0][1] * (a[1][0] * t[2] - a[2][0] * t[1])
            + t[0] * (a[1][0] * a[2][1] - a[2][0] * a[1][1]);
        [d0 / det, d1 / det, d2 / det]
    };
    let mx = solve([b[0][0], b[1][0], b[2][0]]);
    let my = solve([b[0][1], b[1][1], b[2][1]]);
    Some([mx[0], mx[1], mx[2], my[0], my[1], my[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_solves_three_points() {
        let a = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let b = [[2.0, 3.0], [4.0, 3.0], [2.0, 6.0]];
        let m = affine_from_points(&a, &b).unwrap();
        for (p, q) in a.iter().zip(&b) {
            let x = m[0] * p[0] + m[1] * p[1] + m[2];
            let y = m[3] * p[0] + m[4] * p[1] + m[5];
            assert!((x - q[0]).abs() < 1e-12 && (y - q[1]).abs() < 1e-12);
        }
        assert!(affine_from_points(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], &b).is_none());
    }

    #[test]
    fn motion_kernel_at_zero_degrees_reads_to_the_right() {
        // A single bright column at x = 5; angle 0 reads x + i, so the columns left of it
        // (x = 5 - i) light up and those right of it stay dark.
        let mut b = Buf::zeros(9, 1, 1);
        b.data[5] = 1.0;
        let out = motion_blur_buf(&b, 2, 1.0, 0.0);
        assert!(out.data[4] > 0.0 && out.data[3] > 0.0);
        assert_eq!(out.data[6], 0.0);
        assert!(out.data[5] > out.data[4]);
    }

    #[test]
    fn plasma_is_normalised() {
        let p = plasma_fractal(16, 2.0, &mut crate::rng_from_seed(3));
        let (lo, hi) = p.iter().fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (0.0, 1.0));
    }
}
