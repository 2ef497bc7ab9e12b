//! The point operations of AugMix (Pillow's `ImageOps.autocontrast`, `equalize`,
//! `posterize`, `solarize`), as per-channel 256-entry lookup tables.
//!
//! Keeping the tables as values (rather than applying them at once) lets a chain of point
//! operations collapse into one table: the histogram an image-dependent table needs
//! (autocontrast, equalize) is the previous histogram pushed through the previous table, so
//! a chain of point ops reads the pixels once. AugMix's mixing uses this.

use image::RgbImage;

/// One 256-entry table per channel (R, G, B).
pub type Lut = [[u8; 256]; 3];

/// One 256-bin histogram per channel (R, G, B).
pub type Histogram = [[u32; 256]; 3];

/// The identity table.
pub const IDENTITY: Lut = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    [t, t, t]
};

/// Per-channel histogram of interleaved RGB samples.
///
/// ```
/// let h = advbn_augmenters::ops::histogram(&[1, 2, 3, 1, 5, 6]);
/// assert_eq!(h[0][1], 2);
/// assert_eq!(h[2][6], 1);
/// ```
pub fn histogram(rgb: &[u8]) -> Histogram {
    if rgb.len() < 3 * 4096 {
        // Small images: clearing and merging a second set would cost more than it saves.
        let mut h = [[0u32; 256]; 3];
        for px in rgb.chunks_exact(3) {
            h[0][px[0] as usize] += 1;
            h[1][px[1] as usize] += 1;
            h[2][px[2] as usize] += 1;
        }
        return h;
    }
    // Two sets of bins, for alternate pixels: neighbouring pixels often share a value, and
    // two increments of one bin in a row wait for each other.
    let mut h = [[[0u32; 256]; 3]; 2];
    let mut pairs = rgb.chunks_exact(6);
    for px in &mut pairs {
        for c in 0..3 {
            h[0][c][px[c] as usize] += 1;
            h[1][c][px[3 + c] as usize] += 1;
        }
    }
    for px in pairs.remainder().chunks_exact(3) {
        for c in 0..3 {
            h[0][c][px[c] as usize] += 1;
        }
    }
    let [mut out, other] = h;
    for c in 0..3 {
        for (o, n) in out[c].iter_mut().zip(other[c]) {
            *o += n;
        }
    }
    out
}

/// The histogram of `lut` applied to an image whose histogram is `h` (exact: a table maps
/// whole bins).
pub fn push_histogram(h: &Histogram, lut: &Lut) -> Histogram {
    let mut out = [[0u32; 256]; 3];
    for c in 0..3 {
        for (v, &n) in h[c].iter().enumerate() {
            out[c][lut[c][v] as usize] += n;
        }
    }
    out
}

/// `then` after `first`, as one table.
pub fn compose(first: &Lut, then: &Lut) -> Lut {
    let mut out = [[0u8; 256]; 3];
    for c in 0..3 {
        for v in 0..256 {
            out[c][v] = then[c][first[c][v] as usize];
        }
    }
    out
}

/// Writes `lut` applied to `src` into `dst` (both interleaved RGB of the same length).
pub fn apply_lut_into(src: &[u8], dst: &mut [u8], lut: &Lut) {
    assert_eq!(src.len(), dst.len(), "source and destination lengths differ");
    if lut[0] == lut[1] && lut[1] == lut[2] {
        // Channel-independent tables (posterize, solarize) need no channel bookkeeping.
        let t = &lut[0];
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = t[s as usize];
        }
    } else {
        for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
            d[0] = lut[0][s[0] as usize];
            d[1] = lut[1][s[1] as usize];
            d[2] = lut[2][s[2] as usize];
        }
    }
}

/// `lut` applied to an image.
pub fn apply_lut(image: &RgbImage, lut: &Lut) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    apply_lut_into(image.as_raw(), &mut out, lut);
    out
}

/// Pillow's `ImageOps.autocontrast(image, cutoff=0)` table for one channel: the lowest
/// present value maps to 0, the highest to 255, linearly in between with Python's `int()`
/// (truncation); a channel with a single value (or none) is left alone.
#[inline(always)]
fn autocontrast_channel(h: &[u32; 256]) -> [u8; 256] {
    let lo = h.iter().position(|&n| n != 0);
    let hi = h.iter().rposition(|&n| n != 0);
    match (lo, hi) {
        (Some(lo), Some(hi)) => autocontrast_range(lo as u8, hi as u8),
        _ => IDENTITY[0],
    }
}

/// The autocontrast table of a channel whose lowest and highest present values are `lo` and
/// `hi` (identity unless `hi > lo`).
#[inline(always)]
fn autocontrast_range(lo: u8, hi: u8) -> [u8; 256] {
    if hi <= lo {
        return IDENTITY[0];
    }
    let scale = 255.0 / f64::from(hi - lo);
    let offset = -f64::from(lo) * scale;
    let mut t = [0u8; 256];
    for (out, &ix) in t.iter_mut().zip(&VALUES) {
        // Same operation order as Pillow (`ix * scale + offset`), then `int()` and the clamp
        // to 0..=255, here as the clamp then the truncation (the same for every value), which
        // vectorizes.
        let v = (ix * scale + offset).clamp(0.0, 255.0);
        // SAFETY: `v` is finite and in 0..=255.
        *out = unsafe { v.to_int_unchecked::<i32>() } as u8;
    }
    t
}

/// Defines `fn NAME(ARG: TYPE) -> RET { BODY }` with its body compiled twice, as written and
/// with AVX2 enabled (the same IEEE operations, so the same result, only vectorized wider),
/// the AVX2 copy chosen at run time when the CPU has it.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($arg:ident: $ty:ty) -> $ret:ty $body:block) => {
        $(#[$meta])*
        $vis fn $name($arg: $ty) -> $ret {
            #[inline(always)]
            fn plain($arg: $ty) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn wide($arg: $ty) -> $ret {
                plain($arg)
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { wide($arg) };
            }
            plain($arg)
        }
    };
}

with_avx2! {
    /// The lowest and highest value of each channel of interleaved RGB samples (`[255, 0]` for a
    /// channel without samples): all that autocontrast needs of an image, and much cheaper to
    /// get than its histogram.
    pub(crate) fn channel_ranges(rgb: &[u8]) -> [[u8; 2]; 3] {
        // 96 samples (three AVX2 vectors, 32 pixels) per step; sample j of a step is channel
        // j % 3.
        let (mut lo, mut hi) = ([255u8; 96], [0u8; 96]);
        let mut chunks = rgb.chunks_exact(96);
        for chunk in &mut chunks {
            for ((l, h), &v) in lo.iter_mut().zip(&mut hi).zip(chunk) {
                *l = (*l).min(v);
                *h = (*h).max(v);
            }
        }
        let mut out = [[255u8, 0u8]; 3];
        for (j, (&l, &h)) in lo.iter().zip(&hi).enumerate() {
            out[j % 3] = [out[j % 3][0].min(l), out[j % 3][1].max(h)];
        }
        for (j, &v) in chunks.remainder().iter().enumerate() {
            out[j % 3] = [out[j % 3][0].min(v), out[j % 3][1].max(v)];
        }
        out
    }
}

with_avx2! {
    /// The autocontrast table (cutoff 0) of an image whose channels span `ranges` (from
    /// [`channel_ranges`]): the same table as [`autocontrast_lut`] of its histogram.
    pub(crate) fn autocontrast_lut_of_ranges(ranges: &[[u8; 2]; 3]) -> Lut {
        [
            autocontrast_range(ranges[0][0], ranges[0][1]),
            autocontrast_range(ranges[1][0], ranges[1][1]),
            autocontrast_range(ranges[2][0], ranges[2][1]),
        ]
    }
}

/// True when every channel's table never decreases: then the range of the mapped image is
/// the mapped range.
pub(crate) fn is_non_decreasing(lut: &Lut) -> bool {
    lut.iter().all(|t| t.windows(2).all(|p| p[0] <= p[1]))
}

/// 0.0, 1.0, ..., 255.0.
const VALUES: [f64; 256] = {
    let mut v = [0.0; 256];
    let mut i = 0;
    while i < 256 {
        v[i] = i as f64;
        i += 1;
    }
    v
};

with_avx2! {
    /// The autocontrast table (cutoff 0) of an image with histogram `h`.
    pub fn autocontrast_lut(h: &Histogram) -> Lut {
        [
            autocontrast_channel(&h[0]),
            autocontrast_channel(&h[1]),
            autocontrast_channel(&h[2]),
        ]
    }
}

/// Pillow's `ImageOps.equalize` table for one channel: `step` is the number of samples
/// outside the last occupied bin divided by 255 (integer division), and value `i` maps to
/// `(step / 2 + samples below i) / step`, clamped to 255 as Pillow's `point` clamps.
#[inline(always)]
fn equalize_channel(h: &[u32; 256]) -> [u8; 256] {
    let count = h.iter().filter(|&&n| n != 0).count();
    if count <= 1 {
        return IDENTITY[0];
    }
    let last = u64::from(h[h.iter().rposition(|&n| n != 0).expect("two occupied bins")]);
    let total: u64 = h.iter().map(|&n| u64::from(n)).sum();
    let step = (total - last) / 255;
    if step == 0 {
        return IDENTITY[0];
    }
    // `n / step` for the 256 running sums, as floor of a double quotient: exact while
    // n < 2^53 (a quotient just below an integer k is below it by at least 1/step, more than
    // the rounding error k 2^-53), and unlike 256 integer divisions it vectorizes.
    let mut sums = [0f64; 256];
    let mut n = step / 2;
    for (sum, &bin) in sums.iter_mut().zip(h) {
        *sum = n as f64;
        n += u64::from(bin);
    }
    let step = step as f64;
    let mut t = [0u8; 256];
    for (out, &sum) in t.iter_mut().zip(&sums) {
        // Truncation is the floor here (non-negative), without a libm call.
        // SAFETY: the quotient is finite and in 0..=255 after the min.
        *out = unsafe { (sum / step).min(255.0).to_int_unchecked::<i32>() } as u8;
    }
    t
}

with_avx2! {
    /// The equalize table of an image with histogram `h`.
    pub fn equalize_lut(h: &Histogram) -> Lut {
        [
            equalize_channel(&h[0]),
            equalize_channel(&h[1]),
            equalize_channel(&h[2]),
        ]
    }
}

/// Pillow's `ImageOps.posterize(image, bits)` table: keep the `bits` high bits (1..=8).
///
/// # Panics
/// When `bits` is outside 1..=8.
pub fn posterize_lut(bits: u8) -> Lut {
    assert!(
        (1..=8).contains(&bits),
        "posterize bits must be in 1..=8, got {bits}"
    );
    let mask = !((1u16 << (8 - bits)) - 1) as u8;
    let mut t = [0u8; 256];
    for (i, out) in t.iter_mut().enumerate() {
        *out = i as u8 & mask;
    }
    [t, t, t]
}

/// [`posterize_lut`] applied to `src`, as arithmetic: `v & mask`.
pub(crate) fn posterize_into(src: &[u8], dst: &mut [u8], bits: u8) {
    assert_eq!(src.len(), dst.len(), "source and destination lengths differ");
    let mask = posterize_lut(bits)[0][255];
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s & mask;
    }
}

/// [`solarize_lut`] applied to `src`, as arithmetic: `v < threshold ? v : 255 - v`.
pub(crate) fn solarize_into(src: &[u8], dst: &mut [u8], threshold: u16) {
    assert_eq!(src.len(), dst.len(), "source and destination lengths differ");
    if threshold > 255 {
        return dst.copy_from_slice(src);
    }
    let t = threshold as u8;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = if s < t { s } else { 255 - s };
    }
}

/// Pillow's `ImageOps.solarize(image, threshold)` table: values `>= threshold` are inverted
/// (`255 - v`); 256 leaves the image unchanged, 0 inverts everything.
pub fn solarize_lut(threshold: u16) -> Lut {
    let mut t = [0u8; 256];
    for (i, out) in t.iter_mut().enumerate() {
        *out = if (i as u16) < threshold {
            i as u8
        } else {
            255 - i as u8
        };
    }
    [t, t, t]
}

/// `ImageOps.autocontrast(image)` (cutoff 0): stretches each channel to 0..=255.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(2, 1, vec![10, 0, 0, 20, 255, 0]).unwrap();
/// let out = advbn_augmenters::ops::autocontrast(&img);
/// assert_eq!(out.as_raw(), &vec![0, 0, 0, 255, 255, 0]);
/// ```
pub fn autocontrast(image: &RgbImage) -> RgbImage {
    apply_lut(
        image,
        &autocontrast_lut_of_ranges(&channel_ranges(image.as_raw())),
    )
}

/// `ImageOps.equalize(image)`: per-channel histogram equalization.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 1, 1, 1]).unwrap();
/// let out = advbn_augmenters::ops::equalize(&img);
/// assert_eq!(out.dimensions(), (2, 1));
/// ```
pub fn equalize(image: &RgbImage) -> RgbImage {
    apply_lut(image, &equalize_lut(&histogram(image.as_raw())))
}

/// `ImageOps.posterize(image, bits)`, `bits` in 1..=8.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(1, 1, vec![0b1011_0110, 255, 7]).unwrap();
/// assert_eq!(advbn_augmenters::ops::posterize(&img, 2).as_raw(), &vec![0b1000_0000, 192, 0]);
/// ```
///
/// # Panics
/// When `bits` is outside 1..=8.
pub fn posterize(image: &RgbImage, bits: u8) -> RgbImage {
    apply_lut(image, &posterize_lut(bits))
}

/// `ImageOps.solarize(image, threshold)`, `threshold` in 0..=256.
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_raw(1, 1, vec![10, 128, 200]).unwrap();
/// assert_eq!(advbn_augmenters::ops::solarize(&img, 128).as_raw(), &vec![10, 127, 55]);
/// ```
pub fn solarize(image: &RgbImage, threshold: u16) -> RgbImage {
    apply_lut(image, &solarize_lut(threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..3 * n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as u8
            })
            .collect()
    }

    #[test]
    fn pushed_histogram_equals_histogram_of_mapped_image() {
        let src = noise(500, 3);
        let lut = compose(&autocontrast_lut(&histogram(&src)), &posterize_lut(3));
        let mut dst = vec![0; src.len()];
        apply_lut_into(&src, &mut dst, &lut);
        assert_eq!(push_histogram(&histogram(&src), &lut), histogram(&dst));
    }

    #[test]
    fn compose_matches_sequential_application() {
        let src = noise(300, 9);
        let (a, b) = (solarize_lut(77), equalize_lut(&histogram(&src)));
        let (mut one, mut two) = (vec![0; src.len()], vec![0; src.len()]);
        apply_lut_into(&src, &mut one, &a);
        apply_lut_into(&one.clone(), &mut one, &b);
        apply_lut_into(&src, &mut two, &compose(&a, &b));
        assert_eq!(one, two);
    }

    #[test]
    fn autocontrast_stretches_to_full_range() {
        let mut h = [[0u32; 256]; 3];
        h[0][50] = 3;
        h[0][150] = 1;
        let t = autocontrast_lut(&h);
        assert_eq!((t[0][50], t[0][150], t[0][100]), (0, 255, 127));
        assert_eq!(t[0][0], 0);
        assert_eq!(t[0][255], 255);
        // An empty channel is left alone.
        assert_eq!(t[1], IDENTITY[0]);
    }

    #[test]
    fn autocontrast_matches_pillows_int_then_clamp() {
        for lo in 0..256usize {
            for hi in (lo + 1..256).step_by(7) {
                let mut h = [[0u32; 256]; 3];
                h[0][lo] = 1;
                h[0][hi] = 1;
                let scale = 255.0 / (hi - lo) as f64;
                let offset = -(lo as f64) * scale;
                let expected: Vec<u8> = (0..256)
                    .map(|ix| ((ix as f64 * scale + offset) as i64).clamp(0, 255) as u8)
                    .collect();
                assert_eq!(autocontrast_lut(&h)[0].to_vec(), expected, "{lo} {hi}");
            }
        }
    }

    #[test]
    fn ranges_give_the_histograms_autocontrast() {
        for n in [0, 1, 31, 32, 33, 1000, 5000] {
            let mut src = noise(n, 7 + n as u32);
            // Narrow channels, so that the tables are not the identity.
            for (i, v) in src.iter_mut().enumerate() {
                *v = 40 + *v % (60 + 50 * (i % 3) as u8);
            }
            let ranges = channel_ranges(&src);
            assert_eq!(
                autocontrast_lut_of_ranges(&ranges),
                autocontrast_lut(&histogram(&src)),
                "{n}"
            );
        }
        assert!(is_non_decreasing(&posterize_lut(3)) && is_non_decreasing(&IDENTITY));
        assert!(!is_non_decreasing(&solarize_lut(128)));
    }

    #[test]
    fn histogram_of_large_and_small_images() {
        for n in [0, 1, 5, 4095, 4096, 4097, 20_001] {
            let src = noise(n, n as u32);
            let mut h = [[0u32; 256]; 3];
            for px in src.chunks_exact(3) {
                for c in 0..3 {
                    h[c][px[c] as usize] += 1;
                }
            }
            assert_eq!(histogram(&src), h, "{n}");
        }
    }

    #[test]
    fn equalize_of_single_value_channel_is_identity() {
        let mut h = [[0u32; 256]; 3];
        h[0][7] = 100;
        assert_eq!(equalize_lut(&h)[0], IDENTITY[0]);
    }

    #[test]
    fn equalize_can_reach_the_top_and_is_clamped() {
        // 256 samples below the last bin: step = 1, so the last bin maps to 256 -> 255.
        let mut h = [[0u32; 256]; 3];
        h[0][0] = 255;
        h[0][1] = 1;
        h[0][2] = 1;
        let t = equalize_lut(&h)[0];
        assert_eq!((t[0], t[1], t[2]), (0, 255, 255));
    }

    #[test]
    fn equalize_matches_integer_division() {
        let mut state = 11u64;
        for _ in 0..200 {
            let mut h = [[0u32; 256]; 3];
            for bin in h[0].iter_mut() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = state >> 33;
                *bin = if r.is_multiple_of(3) { 0 } else { (r % 5000) as u32 };
            }
            let occupied: Vec<u64> = h[0].iter().filter(|&&n| n != 0).map(|&n| u64::from(n)).collect();
            let step = (occupied.iter().sum::<u64>() - occupied.last().unwrap()) / 255;
            let mut n = step / 2;
            let expected: Vec<u8> = h[0]
                .iter()
                .map(|&bin| {
                    let v = (n / step).min(255) as u8;
                    n += u64::from(bin);
                    v
                })
                .collect();
            assert_eq!(equalize_lut(&h)[0].to_vec(), expected);
        }
    }

    #[test]
    fn posterize_and_solarize_arithmetic_equal_their_tables() {
        let src: Vec<u8> = (0..=255).collect();
        let mut out = vec![0; 256];
        for bits in 1..=8 {
            posterize_into(&src, &mut out, bits);
            assert_eq!(out, posterize_lut(bits)[0].to_vec(), "{bits}");
        }
        for threshold in [0, 1, 100, 128, 255, 256] {
            solarize_into(&src, &mut out, threshold);
            assert_eq!(out, solarize_lut(threshold)[0].to_vec(), "{threshold}");
        }
    }

    #[test]
    fn posterize_and_solarize_tables() {
        assert_eq!(posterize_lut(8), IDENTITY);
        assert_eq!(posterize_lut(1)[0][127], 0);
        assert_eq!(posterize_lut(1)[0][128], 128);
        assert_eq!(solarize_lut(256), IDENTITY);
        assert_eq!(solarize_lut(0)[0][0], 255);
        assert_eq!(solarize_lut(100)[0][99], 99);
        assert_eq!(solarize_lut(100)[0][100], 155);
    }
}
