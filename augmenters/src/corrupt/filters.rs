//! Numerical building blocks of the corruptions, each reproducing the semantics of the
//! numpy / scipy / scikit-image / OpenCV / Pillow routine the reference calls (named on each
//! item). Everything works on [`Buf`], an f32 HWC buffer, and allocates per call, never per
//! pixel.

use image::RgbImage;

/// An f32 image, HWC, `c` channels (1 for masks and noise layers, 3 for colour).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Buf {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Buf {
    pub fn zeros(w: usize, h: usize, c: usize) -> Self {
        Self {
            w,
            h,
            c,
            data: vec![0.0; w * h * c],
        }
    }

    /// `np.array(img) / 255.`: values in [0, 1].
    pub fn unit_from_rgb8(img: &RgbImage) -> Self {
        Self {
            w: img.width() as usize,
            h: img.height() as usize,
            c: 3,
            data: img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect(),
        }
    }

    /// `np.array(img)` as floats: values in [0, 255].
    pub fn raw_from_rgb8(img: &RgbImage) -> Self {
        Self {
            w: img.width() as usize,
            h: img.height() as usize,
            c: 3,
            data: img.as_raw().iter().map(|&v| f32::from(v)).collect(),
        }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize, ch: usize) -> f32 {
        self.data[(y * self.w + x) * self.c + ch]
    }

    /// The reference ends every float corruption with `np.uint8(np.clip(x, 0, 1) * 255)`:
    /// numpy's float-to-uint8 cast truncates, it does not round.
    pub fn unit_to_rgb8(&self) -> RgbImage {
        debug_assert_eq!(self.c, 3);
        let raw = self
            .data
            .iter()
            .map(|&v| trunc_u8(v.clamp(0.0, 1.0) * 255.0))
            .collect();
        RgbImage::from_raw(self.w as u32, self.h as u32, raw).expect("3 channels")
    }

    /// `np.uint8(np.clip(x, 0, 255))` for buffers kept in 0..255 units.
    pub fn raw_to_rgb8(&self) -> RgbImage {
        debug_assert_eq!(self.c, 3);
        let raw = self.data.iter().map(|&v| trunc_u8(v)).collect();
        RgbImage::from_raw(self.w as u32, self.h as u32, raw).expect("3 channels")
    }
}

/// numpy's `uint8` cast of an already clipped float: truncation toward zero.
#[inline]
pub(crate) fn trunc_u8(v: f32) -> u8 {
    // `as` saturates and maps NaN to 0, which also keeps degenerate inputs from panicking.
    v.clamp(0.0, 255.0) as u8
}

/// How a filter sees pixels outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Border {
    /// `aaa|abcd|ddd`: scipy `mode='nearest'` (skimage's `gaussian` default), OpenCV
    /// `BORDER_REPLICATE`.
    Nearest,
    /// `cba|abcd|dcb` (half-sample symmetric): scipy `mode='reflect'`.
    Reflect,
    /// `dcb|abcd|cba` (whole-sample symmetric): OpenCV's default `BORDER_REFLECT_101`,
    /// scipy `mode='mirror'`.
    Reflect101,
}

/// Maps any integer index onto `0..n` under `border` (periodic extension for indices far
/// outside, as scipy and OpenCV do, so a kernel wider than the image is fine).
#[inline]
pub(crate) fn border_index(i: isize, n: usize, border: Border) -> usize {
    let n_i = n as isize;
    if (0..n_i).contains(&i) {
        return i as usize;
    }
    match border {
        Border::Nearest => i.clamp(0, n_i - 1) as usize,
        Border::Reflect => {
            let m = i.rem_euclid(2 * n_i);
            (if m < n_i { m } else { 2 * n_i - 1 - m }) as usize
        }
        Border::Reflect101 => {
            if n == 1 {
                return 0;
            }
            let period = 2 * n_i - 2;
            let m = i.rem_euclid(period);
            (if m < n_i { m } else { period - m }) as usize
        }
    }
}

/// scipy's `_gaussian_kernel1d`: radius `int(truncate * sigma + 0.5)`, weights
/// `exp(-x^2 / (2 sigma^2))` normalised to sum 1. A zero sigma gives the identity `[1]`
/// (scipy skips such axes).
pub(crate) fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f32> {
    if sigma <= 1e-15 {
        return vec![1.0];
    }
    let radius = (truncate * sigma + 0.5) as i64;
    let w: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|v| (v / sum) as f32).collect()
}

/// Correlates every channel with `ky` along columns, then `kx` along rows (both odd-length,
/// centred).
pub(crate) fn separable(buf: &Buf, ky: &[f32], kx: &[f32], border: Border) -> Buf {
    let tmp = if kx.len() > 1 {
        pass_x(buf, kx, border)
    } else {
        buf.clone()
    };
    if ky.len() > 1 {
        pass_y(&tmp, ky, border)
    } else {
        tmp
    }
}

fn pass_x(buf: &Buf, k: &[f32], border: Border) -> Buf {
    let (w, h, c) = (buf.w, buf.h, buf.c);
    let r = k.len() / 2;
    let mut out = Buf::zeros(w, h, c);
    let mut line = vec![0.0f32; w + 2 * r];
    for y in 0..h {
        for ch in 0..c {
            for (j, slot) in line.iter_mut().enumerate() {
                let x = border_index(j as isize - r as isize, w, border);
                *slot = buf.data[(y * w + x) * c + ch];
            }
            for x in 0..w {
                let acc: f32 = k.iter().zip(&line[x..x + k.len()]).map(|(a, b)| a * b).sum();
                out.data[(y * w + x) * c + ch] = acc;
            }
        }
    }
    out
}

fn pass_y(buf: &Buf, k: &[f32], border: Border) -> Buf {
    let (w, h, c) = (buf.w, buf.h, buf.c);
    let r = k.len() / 2;
    let mut out = Buf::zeros(w, h, c);
    let stride = w * c;
    // Rows are accumulated whole (tap by tap) so the inner loop runs over contiguous memory.
    for y in 0..h {
        let dst = &mut out.data[y * stride..(y + 1) * stride];
        for (t, &kt) in k.iter().enumerate() {
            let sy = border_index(y as isize + t as isize - r as isize, h, border);
            let src = &buf.data[sy * stride..(sy + 1) * stride];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += kt * s;
            }
        }
    }
    out
}

/// `skimage.filters.gaussian` / `scipy.ndimage.gaussian_filter` over the two spatial axes
/// (channels independent), with per-axis sigmas.
///
/// Not imageproc's `gaussian_blur_f32`: its kernel stops at radius `ceil(2 sigma)` (scipy's
/// at `int(truncate * sigma + 0.5)`, 4 sigma here), it knows one border (replicate) and one
/// sigma. As the `gaussian_blur` corruption (`imagenet`, on f32 like ours) it gives 41.8 to
/// 57.6 dB PSNR against the `imagecorruptions` fixtures, 41.8 dB on the 128x96 image at
/// severity 5, just above the 40 dB floor; this function is bit-exact on 11 of the 13
/// fixtures and >= 86 dB on the other two.
pub(crate) fn gaussian_filter(buf: &Buf, sigma_y: f64, sigma_x: f64, truncate: f64, border: Border) -> Buf {
    separable(
        buf,
        &gaussian_kernel(sigma_y, truncate),
        &gaussian_kernel(sigma_x, truncate),
        border,
    )
}

/// A dense 2-D kernel, row-major, odd sides, anchored at its centre.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Kernel2d {
    pub w: usize,
    pub h: usize,
    pub k: Vec<f32>,
}

impl Kernel2d {
    /// Drops all-zero outer rings (an exact no-op for the correlation, and most of the work
    /// for the small CIFAR disks, which the reference embeds in 17x17 arrays).
    pub fn trimmed(self) -> Self {
        let (w, h) = (self.w, self.h);
        let mut r = 0;
        let max_r = w.min(h) / 2;
        'outer: while r < max_r {
            for y in 0..h {
                for x in 0..w {
                    let on_ring = y == r || y == h - 1 - r || x == r || x == w - 1 - r;
                    let inside = y >= r && y < h - r && x >= r && x < w - r;
                    if on_ring && inside && self.k[y * w + x] != 0.0 {
                        break 'outer;
                    }
                }
            }
            r += 1;
        }
        if r == 0 {
            return self;
        }
        let (nw, nh) = (w - 2 * r, h - 2 * r);
        let mut k = Vec::with_capacity(nw * nh);
        for y in r..h - r {
            k.extend_from_slice(&self.k[y * w + r..y * w + w - r]);
        }
        Self { w: nw, h: nh, k }
    }
}

/// `cv2.filter2D(x, -1, kernel)`: correlation with the kernel anchored at its centre,
/// `BORDER_REFLECT_101`, every channel on its own.
pub(crate) fn correlate2d(buf: &Buf, kernel: &Kernel2d, border: Border) -> Buf {
    let (w, h, c) = (buf.w, buf.h, buf.c);
    let (rx, ry) = (kernel.w / 2, kernel.h / 2);
    let (pw, ph) = (w + 2 * rx, h + 2 * ry);
    let mut padded = vec![0.0f32; pw * ph];
    let mut out = Buf::zeros(w, h, c);
    for ch in 0..c {
        for py in 0..ph {
            let sy = border_index(py as isize - ry as isize, h, border);
            for px in 0..pw {
                let sx = border_index(px as isize - rx as isize, w, border);
                padded[py * pw + px] = buf.data[(sy * w + sx) * c + ch];
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0f32;
                for ky in 0..kernel.h {
                    let row = &padded[(y + ky) * pw + x..(y + ky) * pw + x + kernel.w];
                    let krow = &kernel.k[ky * kernel.w..(ky + 1) * kernel.w];
                    acc += krow.iter().zip(row).map(|(a, b)| a * b).sum::<f32>();
                }
                out.data[(y * w + x) * c + ch] = acc;
            }
        }
    }
    out
}

/// OpenCV's Gaussian kernel for `GaussianBlur(ksize, sigma > 0)` (`getGaussianKernel`):
/// `exp(-(i - (n-1)/2)^2 / (2 sigma^2))`, normalised.
fn cv_gaussian_kernel(n: usize, sigma: f64) -> Vec<f64> {
    let mid = (n as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..n)
        .map(|i| (-(i as f64 - mid).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v / s).collect()
}

/// The reference's `disk(radius, alias_blur)`: the indicator of `x^2 + y^2 <= radius^2` on a
/// grid of side 17 (radius <= 8) or `2 radius + 1`, normalised to sum 1, then anti-aliased
/// with `cv2.GaussianBlur` (3x3 for radius <= 8, else 5x5, sigma `alias_blur`,
/// `BORDER_REFLECT_101`). Computed in f64 and stored as f32 as OpenCV does.
pub(crate) fn disk_kernel(radius: f64, alias_blur: f64) -> Kernel2d {
    let (half, ksize) = if radius <= 8.0 {
        (8i64, 3usize)
    } else {
        // np.arange(-radius, radius + 1) for an integer-valued radius.
        (radius as i64, 5usize)
    };
    let n = (2 * half + 1) as usize;
    let mut disk = vec![0.0f64; n * n];
    for (yi, y) in (-half..=half).enumerate() {
        for (xi, x) in (-half..=half).enumerate() {
            if ((x * x + y * y) as f64) <= radius * radius {
                disk[yi * n + xi] = 1.0;
            }
        }
    }
    let total: f64 = disk.iter().sum();
    // Stored as float32 by the reference before blurring.
    let disk: Vec<f64> = disk.iter().map(|v| f64::from((v / total) as f32)).collect();
    let g = cv_gaussian_kernel(ksize, alias_blur);
    let r = (ksize / 2) as isize;
    let blur_axis = |src: &[f64], along_x: bool| -> Vec<f64> {
        let mut out = vec![0.0; n * n];
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for (t, gt) in g.iter().enumerate() {
                    let o = t as isize - r;
                    let (sx, sy) = if along_x {
                        (border_index(x as isize + o, n, Border::Reflect101), y)
                    } else {
                        (x, border_index(y as isize + o, n, Border::Reflect101))
                    };
                    acc += gt * src[sy * n + sx];
                }
                out[y * n + x] = acc;
            }
        }
        out
    };
    let blurred = blur_axis(&blur_axis(&disk, true), false);
    Kernel2d {
        w: n,
        h: n,
        k: blurred.iter().map(|&v| v as f32).collect(),
    }
    .trimmed()
}

/// Python's `round` (and numpy's): halves go to the even neighbour.
pub(crate) fn round_half_even(v: f64) -> f64 {
    let r = v.round();
    if (v - v.trunc()).abs() == 0.5 {
        2.0 * (v / 2.0).round()
    } else {
        r
    }
}

/// One axis of `scipy.ndimage.zoom(order=1)` (with `grid_mode=False`): output sample `o`
/// reads input coordinate `o * (n_in - 1) / (n_out - 1)` (0 when `n_out == 1`), linearly
/// interpolated. Returned as (left index, right index, right weight) per output sample.
pub(crate) fn zoom_axis(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = if n_out > 1 {
        (n_in as f64 - 1.0) / (n_out as f64 - 1.0)
    } else {
        1.0
    };
    (0..n_out)
        .map(|o| {
            let pos = (o as f64 * scale).clamp(0.0, (n_in - 1) as f64);
            let i0 = pos.floor() as usize;
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, (pos - i0 as f64) as f32)
        })
        .collect()
}

/// The number of samples `scipy.ndimage.zoom` produces from `n` at factor `z`.
pub(crate) fn zoomed_len(n: usize, z: f64) -> usize {
    (round_half_even(n as f64 * z) as usize).max(1)
}

/// The reference's `np.arange(1, stop, step)` of zoom factors, value for value: numpy fills
/// `start + i * ((start + step) - start)` for `ceil((stop - start) / step)` elements.
pub(crate) fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..n).map(|i| start + i as f64 * delta).collect()
}

/// Which part of the zoomed crop `clipped_zoom` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZoomKeep {
    /// `imagecorruptions`: the caller takes `[:h, :w]` (top-left) of the zoomed crop.
    TopLeft,
    /// CIFAR-10-C script: trims `(zoomed - h) // 2` from the top (and left), keeping `h`.
    Centre,
}

/// Geometry of `clipped_zoom` along one axis: the centred crop of `ceil(n / z)` samples
/// starting at `(n - crop) // 2`, zoomed to `zoomed_len(crop, z)` samples, of which the
/// output keeps `keep` samples starting at `offset`.
pub(crate) struct ZoomPlan {
    pub crop_start: usize,
    pub taps: Vec<(usize, usize, f32)>,
    pub offset: usize,
    pub keep: usize,
}

pub(crate) fn zoom_plan(n: usize, z: f64, mode: ZoomKeep, full: bool) -> ZoomPlan {
    let crop = ((n as f64 / z).ceil() as usize).clamp(1, n);
    let crop_start = (n - crop) / 2;
    let zoomed = zoomed_len(crop, z);
    let taps = zoom_axis(crop, zoomed);
    let (offset, keep) = match mode {
        ZoomKeep::TopLeft if full => (0, zoomed),
        ZoomKeep::TopLeft => (0, zoomed.min(n)),
        ZoomKeep::Centre => {
            let trim = zoomed.saturating_sub(n) / 2;
            (trim, n.min(zoomed - trim))
        }
    };
    ZoomPlan {
        crop_start,
        taps,
        offset,
        keep,
    }
}

/// `clipped_zoom(img, z)` followed by the crop the caller applies (see [`ZoomKeep`]);
/// `full` keeps the whole zoomed crop (the `imagecorruptions` snow layer). Adds the result
/// into `out` when given (zoom blur's accumulation, `out[:zh, :zw] += layer` when the layer
/// comes out smaller than the image), or returns it.
pub(crate) fn clipped_zoom(src: &Buf, z: f64, mode: ZoomKeep, full: bool) -> Buf {
    let py = zoom_plan(src.h, z, mode, full);
    let px = zoom_plan(src.w, z, mode, full);
    let c = src.c;
    let mut out = Buf::zeros(px.keep, py.keep, c);
    for oy in 0..py.keep {
        let (y0, y1, fy) = py.taps[oy + py.offset];
        let (r0, r1) = ((py.crop_start + y0) * src.w, (py.crop_start + y1) * src.w);
        for ox in 0..px.keep {
            let (x0, x1, fx) = px.taps[ox + px.offset];
            let (c0, c1) = (px.crop_start + x0, px.crop_start + x1);
            for ch in 0..c {
                let a = src.data[(r0 + c0) * c + ch];
                let b = src.data[(r0 + c1) * c + ch];
                let d = src.data[(r1 + c0) * c + ch];
                let e = src.data[(r1 + c1) * c + ch];
                // Axis 0 first, then axis 1, as ndimage's spline evaluation nests them.
                let top = a + (d - a) * fy;
                let bottom = b + (e - b) * fy;
                out.data[(oy * px.keep + ox) * c + ch] = top + (bottom - top) * fx;
            }
        }
    }
    out
}

/// Bilinear interpolation at a real position, neighbours outside the image resolved by
/// `border` (scipy `map_coordinates(order=1)`, OpenCV `INTER_LINEAR` remaps).
#[inline]
pub(crate) fn bilinear(src: &Buf, y: f64, x: f64, ch: usize, border: Border) -> f32 {
    let (fy, fx) = (y.floor(), x.floor());
    let (ty, tx) = ((y - fy) as f32, (x - fx) as f32);
    let (iy, ix) = (fy as isize, fx as isize);
    let y0 = border_index(iy, src.h, border);
    let y1 = border_index(iy + 1, src.h, border);
    let x0 = border_index(ix, src.w, border);
    let x1 = border_index(ix + 1, src.w, border);
    let a = src.at(x0, y0, ch);
    let b = src.at(x1, y0, ch);
    let d = src.at(x0, y1, ch);
    let e = src.at(x1, y1, ch);
    let top = a + (b - a) * tx;
    let bottom = d + (e - d) * tx;
    top + (bottom - top) * ty
}

/// One axis of Pillow's resampling coefficients (`precompute_coeffs` with the BOX filter,
/// support 0.5), normalised and converted to Pillow's 22-bit fixed point.
fn pil_box_coeffs(n_in: usize, n_out: usize) -> Vec<(usize, Vec<i32>)> {
    const PRECISION_BITS: u32 = 32 - 8 - 2;
    let scale = n_in as f64 / n_out as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    (0..n_out)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(n_in as i64) as usize;
            let w: Vec<f64> = (xmin..xmax.max(xmin))
                .map(|x| {
                    let t = (x as f64 - center + 0.5) * ss;
                    if t > -0.5 && t <= 0.5 { 1.0 } else { 0.0 }
                })
                .collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { 0.0 };
                    (0.5 + v * f64::from(1u32 << PRECISION_BITS)) as i32
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

/// `PIL.Image.resize(size, Image.BOX)` on an 8-bit RGB image: a horizontal pass then a
/// vertical pass, each rounding to 8 bits, with Pillow's fixed-point weights.
pub(crate) fn pil_resize_box(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (nw as usize, nh as usize);
    let src = img.as_raw();
    let round = |acc: i64| -> u8 { ((acc + (1 << 21)) >> 22).clamp(0, 255) as u8 };
    let horiz: Vec<u8> = if nw != w {
        let coeffs = pil_box_coeffs(w, nw);
        let mut out = vec![0u8; nw * h * 3];
        for y in 0..h {
            for (x, (xmin, k)) in coeffs.iter().enumerate() {
                for ch in 0..3 {
                    let acc: i64 = k
                        .iter()
                        .enumerate()
                        .map(|(t, &kt)| i64::from(kt) * i64::from(src[(y * w + xmin + t) * 3 + ch]))
                        .sum();
                    out[(y * nw + x) * 3 + ch] = round(acc);
                }
            }
        }
        out
    } else {
        src.clone()
    };
    let vert: Vec<u8> = if nh != h {
        let coeffs = pil_box_coeffs(h, nh);
        let mut out = vec![0u8; nw * nh * 3];
        for (y, (ymin, k)) in coeffs.iter().enumerate() {
            for x in 0..nw {
                for ch in 0..3 {
                    let acc: i64 = k
                        .iter()
                        .enumerate()
                        .map(|(t, &kt)| i64::from(kt) * i64::from(horiz[((ymin + t) * nw + x) * 3 + ch]))
                        .sum();
                    out[(y * nw + x) * 3 + ch] = round(acc);
                }
            }
        }
        out
    } else {
        horiz
    };
    RgbImage::from_raw(nw as u32, nh as u32, vert).expect("sizes match")
}

/// `PIL.Image.resize(size, Image.NEAREST)`: Pillow's affine scaling samples input
/// `floor(a/2 + x a)` with `a = n_in / n_out`, accumulated by repeated addition as Pillow
/// does (which decides the rare ties).
fn pil_nearest_axis(n_in: usize, n_out: usize) -> Vec<usize> {
    let a = n_in as f64 / n_out as f64;
    let mut pos = a * 0.5;
    (0..n_out)
        .map(|_| {
            let i = (pos as usize).min(n_in - 1);
            pos += a;
            i
        })
        .collect()
}

/// `PIL.Image.resize(size, Image.NEAREST)` on an 8-bit RGB image.
pub(crate) fn pil_resize_nearest(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let xs = pil_nearest_axis(img.width() as usize, nw as usize);
    let ys = pil_nearest_axis(img.height() as usize, nh as usize);
    let w = img.width() as usize;
    let src = img.as_raw();
    let mut out = Vec::with_capacity(nw as usize * nh as usize * 3);
    for &sy in &ys {
        for &sx in &xs {
            let i = (sy * w + sx) * 3;
            out.extend_from_slice(&src[i..i + 3]);
        }
    }
    RgbImage::from_raw(nw, nh, out).expect("sizes match")
}

/// Keys' cubic convolution weight with `a = -0.75` (OpenCV's `INTER_CUBIC`).
fn cubic_weight(t: f64) -> f64 {
    const A: f64 = -0.75;
    let t = t.abs();
    if t <= 1.0 {
        ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A
    } else {
        0.0
    }
}

/// Interpolation of [`cv_resize_window`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interp {
    /// `cv2.INTER_LINEAR`.
    Linear,
    /// `cv2.INTER_CUBIC`.
    Cubic,
}

/// A `win_w x win_h` window, starting at (`left`, `top`), of `cv2.resize(src, (dst_w, dst_h))`
/// with `inv_scale` = source pixels per destination pixel (OpenCV maps destination `d` to
/// source `(d + 0.5) * inv_scale - 0.5`, replicating edge pixels). Computing only the window
/// is what makes the frost crop cheap: the reference resizes the whole texture for every image.
/// Values are rounded to u8 as OpenCV does for 8-bit images (OpenCV uses fixed-point
/// weights; these are exact to float precision).
#[allow(clippy::too_many_arguments)]
pub(crate) fn cv_resize_window(
    src: &RgbImage,
    inv_scale_x: f64,
    inv_scale_y: f64,
    left: usize,
    top: usize,
    win_w: usize,
    win_h: usize,
    interp: Interp,
) -> Buf {
    let (sw, sh) = (src.width() as isize, src.height() as isize);
    let raw = src.as_raw();
    let taps = |d: usize, inv: f64, n: isize| -> Vec<(isize, f64)> {
        let s = (d as f64 + 0.5) * inv - 0.5;
        let f = s.floor();
        let t = s - f;
        let i = f as isize;
        match interp {
            Interp::Linear => vec![(i.clamp(0, n - 1), 1.0 - t), ((i + 1).clamp(0, n - 1), t)],
            Interp::Cubic => (-1..=2)
                .map(|o| ((i + o).clamp(0, n - 1), cubic_weight(t - o as f64)))
                .collect(),
        }
    };
    let xt: Vec<_> = (left..left + win_w).map(|d| taps(d, inv_scale_x, sw)).collect();
    let yt: Vec<_> = (top..top + win_h).map(|d| taps(d, inv_scale_y, sh)).collect();
    let mut out = Buf::zeros(win_w, win_h, 3);
    for (oy, ytaps) in yt.iter().enumerate() {
        for (ox, xtaps) in xt.iter().enumerate() {
            for ch in 0..3 {
                let mut acc = 0.0f64;
                for &(sy, wy) in ytaps {
                    for &(sx, wx) in xtaps {
                        acc += wy * wx * f64::from(raw[((sy * sw + sx) * 3) as usize + ch]);
                    }
                }
                out.data[(oy * win_w + ox) * 3 + ch] = acc.round().clamp(0.0, 255.0) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_follow_their_libraries() {
        // abcd = 0 1 2 3
        let idx = |b| (-3..7).map(|i| border_index(i, 4, b)).collect::<Vec<_>>();
        assert_eq!(idx(Border::Nearest), vec![0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
        assert_eq!(idx(Border::Reflect), vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        assert_eq!(idx(Border::Reflect101), vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(border_index(-5, 1, Border::Reflect101), 0);
        assert_eq!(border_index(9, 1, Border::Reflect), 0);
    }

    #[test]
    fn gaussian_kernel_matches_scipy_radius_and_sum() {
        // scipy: radius int(4 * 1.5 + 0.5) = 6.
        let k = gaussian_kernel(1.5, 4.0);
        assert_eq!(k.len(), 13);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(k[6] > k[5] && (k[5] - k[7]).abs() < 1e-9);
        assert_eq!(gaussian_kernel(0.0, 4.0), vec![1.0]);
    }

    #[test]
    fn disk_kernel_sums_to_one_and_is_trimmed() {
        let k = disk_kernel(3.0, 0.1);
        // Disk of radius 3 (7x7) plus the 3x3 anti-aliasing: 9x9 after trimming zeros.
        assert_eq!((k.w, k.h), (9, 9));
        assert!((k.k.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let big = disk_kernel(10.0, 0.5);
        assert_eq!((big.w, big.h), (21, 21));
    }

    #[test]
    fn numpy_arange_lengths() {
        assert_eq!(arange(1.0, 1.11, 0.01).len(), 12);
        assert_eq!(arange(1.0, 1.16, 0.01).len(), 16);
        assert_eq!(arange(1.0, 1.31, 0.03).len(), 11);
    }

    #[test]
    fn zoom_axis_hits_both_ends() {
        let t = zoom_axis(5, 9);
        assert_eq!(t[0], (0, 1, 0.0));
        assert_eq!(t[8].0, 4);
        assert_eq!(t[4], (2, 3, 0.0));
        assert_eq!(zoom_axis(1, 1), vec![(0, 0, 0.0)]);
    }

    #[test]
    fn box_downscale_by_two_averages_pairs() {
        let img = RgbImage::from_raw(4, 1, vec![0, 0, 0, 10, 10, 10, 20, 20, 20, 31, 31, 31]).unwrap();
        let out = pil_resize_box(&img, 2, 1);
        assert_eq!(out.as_raw(), &vec![5, 5, 5, 26, 26, 26]);
    }

    #[test]
    fn nearest_upscale_repeats() {
        let img = RgbImage::from_raw(2, 1, vec![1, 1, 1, 9, 9, 9]).unwrap();
        let out = pil_resize_nearest(&img, 4, 1);
        assert_eq!(out.as_raw(), &vec![1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn round_half_even_like_python() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(2.4), 2.0);
    }
}
