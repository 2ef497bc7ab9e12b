//! Fixed-point bilinear interpolation for the affine ops ([`super::affine`]).
//!
//! A weight is an integer in `0..=ONE` (`ONE = 2^14`), the interpolation weight rounded to
//! 14 fractional bits. A sample is `(sum of tap * weight) >> 14`, all in integers: the
//! weights of one sample sum to exactly `ONE`, so a flat region stays exactly flat, and the
//! shift truncates as Pillow's `(UINT8) v` does. Compared with Pillow's double arithmetic the
//! interpolated value moves by less than `255 * 2^-13` (about 0.03) before truncation; the
//! truncated result can therefore differ from Pillow's by one level, where Pillow's value lies
//! that close to an integer, and never by more.
//!
//! Every kernel exists as plain Rust ([`Scalar`]) and as AVX2 ([`Avx2`], `x86_64`): the same
//! integer arithmetic, so both give identical bytes; which one runs never changes a result.
//! The AVX2 path evaluates 16 samples per step with `vpmaddwd` on (tap, tap) / (weight,
//! weight) pairs of 16-bit integers.

/// Fractional bits of a weight.
pub(super) const FRAC_BITS: u32 = 14;
/// The weight 1.
pub(super) const ONE: i32 = 1 << FRAC_BITS;

/// `round(frac * 2^14)` for an interpolation weight `frac` in `[0, 1]` (clamped; NaN gives 0).
#[inline(always)]
pub(super) fn weight(frac: f64) -> i32 {
    let v = (frac * f64::from(ONE) + 0.5).max(0.0).min(f64::from(ONE));
    // SAFETY: `v` is finite and in 0..=ONE (max/min drop a NaN).
    unsafe { v.to_int_unchecked::<i32>() }
}

/// Two 16-bit weights in one word, as `vpmaddwd` consumes them: `lo` multiplies the first tap
/// of a pair, `hi` the second.
#[inline(always)]
pub(super) fn pack(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xFFFF) | ((hi as u32) << 16)
}

/// `(a * lo + b * hi) >> 14` for the packed pair `w`.
#[inline(always)]
pub(super) fn lerp_packed(a: u8, b: u8, w: u32) -> u8 {
    ((u32::from(a) * (w & 0xFFFF) + u32::from(b) * (w >> 16)) >> FRAC_BITS) as u8
}

/// The per-row tap table of a general affine map: for every output pixel of the row, the
/// byte offsets of its top-left taps in the two source rows it reads (the right taps are the
/// next pixel) and the packed weights of the two rows (`w0`: top-left, top-right; `w1`:
/// bottom-left, bottom-right). A pixel outside the source has offsets 0 and weights 0 (black).
#[derive(Default)]
pub(super) struct Taps {
    pub(super) centre: Vec<f64>,
    pub(super) off0: Vec<i32>,
    pub(super) off1: Vec<i32>,
    pub(super) w0: Vec<u32>,
    pub(super) w1: Vec<u32>,
}

impl Taps {
    pub(super) fn resize(&mut self, w: usize) {
        if self.centre.len() != w {
            self.centre.clear();
            self.centre.extend((0..w).map(|x| f64::from(x as u32) + 0.5));
            self.off0.resize(w, 0);
            self.off1.resize(w, 0);
            self.w0.resize(w, 0);
            self.w1.resize(w, 0);
        }
    }

    /// Fills the table from pixel `start` on, for the output row whose centre is `yc`, with
    /// Pillow's coordinates (`xs = a xc + b yc + c`, `ys = d xc + e yc + f` in `f64`, inside
    /// test, floor, clamped neighbours); returns the largest offset read. Needs `w, h >= 2`
    /// and a map with finite, moderate coefficients (`affine::warp_into` checks).
    /// [`Kernels::fill_taps`] is the whole row, vectorized where it can be, with the same
    /// operations.
    #[inline(always)]
    pub(super) fn fill_from(&mut self, start: usize, data: &[f64; 6], yc: f64, w: usize, h: usize) -> i32 {
        let [a, b, c, d, e, f] = *data;
        let (by, ey) = (b * yc, e * yc);
        let (wf, hf) = (w as f64, h as f64);
        let bounds = Bounds::of(w, h);
        let mut max_off = 0;
        let n = self.centre.len();
        let (off0, off1) = (&mut self.off0[..n], &mut self.off1[..n]);
        let (w0, w1) = (&mut self.w0[..n], &mut self.w1[..n]);
        for i in start..n {
            let xc = self.centre[i];
            let xs = a * xc + by + c;
            let ys = d * xc + ey + f;
            let inside = (xs >= 0.0) & (xs < wf) & (ys >= 0.0) & (ys < hf);
            let (xm, ym) = (xs - 0.5, ys - 0.5);
            let (xfl, yfl) = (xm.floor(), ym.floor());
            let (fx, fy) = (weight(xm - xfl), weight(ym - yfl));
            // SAFETY: clamped to a small range first (max/min also drop a NaN).
            let xi = unsafe { xfl.max(-1.0).min(wf).to_int_unchecked::<i32>() };
            let yi = unsafe { yfl.max(-1.0).min(hf).to_int_unchecked::<i32>() };
            let (o0, o1, p0, p1) = pixel_taps((xi, yi), (fx, fy), inside, bounds);
            off0[i] = o0;
            off1[i] = o1;
            w0[i] = p0;
            w1[i] = p1;
            max_off = max_off.max(o1);
        }
        max_off
    }
}

/// The row stride in bytes and the largest top-left neighbour indices of a `w x h` source.
#[derive(Clone, Copy)]
struct Bounds {
    stride: i32,
    xmax: i32,
    ymax: i32,
}

impl Bounds {
    #[inline(always)]
    fn of(w: usize, h: usize) -> Self {
        Self {
            stride: 3 * w as i32,
            xmax: w as i32 - 2,
            ymax: h as i32 - 1,
        }
    }
}

/// The taps of one output pixel from its top-left source neighbour `(xi, yi)` and its 14-bit
/// fractions `(fx, fy)`: the byte offsets of the pair in the upper and the lower source row
/// and the packed weights of each pair, all zero outside the source (black fill).
///
/// Pillow clamps the neighbour indices to the image; a clamped pair is one pixel twice,
/// which is the same as the pair at the edge with all weight on that pixel.
#[inline(always)]
fn pixel_taps((xi, yi): (i32, i32), (fx, fy): (i32, i32), inside: bool, b: Bounds) -> (i32, i32, u32, u32) {
    let mut fx = fx;
    fx = if xi < 0 { 0 } else { fx };
    fx = if xi > b.xmax { ONE } else { fx };
    let x0 = xi.clamp(0, b.xmax);
    let r0 = yi.clamp(0, b.ymax);
    let r1 = (yi + 1).clamp(0, b.ymax);
    let w11 = (fx * fy + ONE / 2) >> FRAC_BITS;
    let (w01, w10) = (fx - w11, fy - w11);
    let w00 = ONE - fx - fy + w11;
    let keep = if inside { -1i32 } else { 0 };
    (
        (r0 * b.stride + 3 * x0) & keep,
        (r1 * b.stride + 3 * x0) & keep,
        pack(w00, w01) & keep as u32,
        pack(w10, w11) & keep as u32,
    )
}

/// Fixed-point stepping of a general map's source coordinates along an output row: the
/// coordinates of every 8th pixel (`x` a multiple of 8) are Pillow's, in `f64`, rounded to
/// `bits` fractional bits; the 7 pixels after it add the map's `a` and `d`, rounded likewise.
/// The coordinates are then off Pillow's by less than `8 * 2^-bits` pixel (`bits >= 16`: less
/// than 1.3e-4), which moves an interpolated value by far less than the 14-bit weights do;
/// which pixels are inside the source is still decided by Pillow's test (per row, see
/// `affine::general`). Integer lanes: 8 pixels per AVX2 step instead of 4 in `f64`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stepped {
    bits: u32,
    scale: f64,
    /// `a` and `d` in fixed point.
    step_x: i32,
    step_y: i32,
}

impl Stepped {
    /// The stepping of `data` on a `w` x `h` image, `None` when the coordinates are too large
    /// to keep 16 fractional bits in an `i32` (then the taps are computed in `f64`).
    pub(super) fn new(data: &[f64; 6], w: usize, h: usize) -> Option<Stepped> {
        let [a, b, c, d, e, f] = *data;
        let mut largest = 0f64;
        for x in [0.5, w as f64 - 0.5] {
            for y in [0.5, h as f64 - 0.5] {
                largest = largest
                    .max((a * x + b * y + c - 0.5).abs())
                    .max((d * x + e * y + f - 0.5).abs());
            }
        }
        // Coordinates below 2^int_bits, with room for rounding.
        let int_bits = (largest + 2.0).log2().ceil() as i32;
        let bits = (29 - int_bits).min(24);
        let scale = f64::from(1u32 << bits.clamp(0, 24));
        let steps_fit = 8.0 * a.abs().max(d.abs()) * scale < f64::from(1u32 << 29);
        if bits < 16 || !steps_fit || !largest.is_finite() {
            return None;
        }
        Some(Stepped {
            bits: bits as u32,
            scale,
            step_x: (a * scale).round() as i32,
            step_y: (d * scale).round() as i32,
        })
    }

    /// `v` in fixed point (`round(v 2^bits)`); `|v| < 2^(29 - bits)` by construction.
    #[inline(always)]
    fn fixed(&self, v: f64) -> i32 {
        // SAFETY: finite and well inside the i32 range (see `new`).
        unsafe { (v * self.scale + 0.5).floor().to_int_unchecked::<i32>() }
    }

    /// The block anchors: Pillow's `xs - 0.5` and `ys - 0.5` of pixel `i`, in fixed point.
    #[inline(always)]
    fn anchor(&self, data: &[f64; 6], xc: f64, by: f64, ey: f64) -> (i32, i32) {
        let [a, _, c, d, _, f] = *data;
        (
            self.fixed(a * xc + by + c - 0.5),
            self.fixed(d * xc + ey + f - 0.5),
        )
    }
}

impl Taps {
    /// [`Taps::fill_from`] with [`Stepped`] coordinates, from pixel `start` (a multiple of 8)
    /// on; the pixels `inside.0..inside.1` are those inside the source.
    #[inline(always)]
    pub(super) fn fill_stepped_from(
        &mut self,
        start: usize,
        data: &[f64; 6],
        yc: f64,
        (w, h): (usize, usize),
        s: &Stepped,
        inside: (usize, usize),
    ) -> i32 {
        debug_assert_eq!(start % 8, 0);
        let (by, ey) = (data[1] * yc, data[4] * yc);
        let bounds = Bounds::of(w, h);
        let round = 1i32 << (s.bits - 15);
        let mut max_off = 0;
        let n = self.centre.len();
        let mut anchor = (0, 0);
        for i in start..n {
            if i % 8 == 0 {
                anchor = s.anchor(data, self.centre[i], by, ey);
            }
            let lane = (i % 8) as i32;
            let x = anchor.0 + lane * s.step_x + round;
            let y = anchor.1 + lane * s.step_y + round;
            let (xi, yi) = (x >> s.bits, y >> s.bits);
            let fx = (x >> (s.bits - 14)) & (ONE - 1);
            let fy = (y >> (s.bits - 14)) & (ONE - 1);
            let is_inside = (inside.0..inside.1).contains(&i);
            let (o0, o1, p0, p1) = pixel_taps((xi, yi), (fx, fy), is_inside, bounds);
            self.off0[i] = o0;
            self.off1[i] = o1;
            self.w0[i] = p0;
            self.w1[i] = p1;
            max_off = max_off.max(o1);
        }
        max_off
    }
}

/// The interpolation kernels, in plain Rust ([`Scalar`]) and AVX2 ([`Avx2`]); identical
/// results.
pub(super) trait Kernels {
    /// `out[i] = (a[i] (ONE - t) + b[i] t) >> 14` for every `i < out.len()`.
    fn lerp_const(a: &[u8], b: &[u8], t: i32, out: &mut [u8]);
    /// `out[i] = (a[i] lo(w[i]) + b[i] hi(w[i])) >> 14` for every `i < out.len()`.
    fn lerp_weighted(a: &[u8], b: &[u8], w: &[u32], out: &mut [u8]);
    /// [`Taps::fill_from`] for the whole row.
    fn fill_taps(taps: &mut Taps, data: &[f64; 6], yc: f64, w: usize, h: usize) -> i32;
    /// [`Taps::fill_stepped_from`] for the whole row.
    fn fill_taps_stepped(
        taps: &mut Taps,
        data: &[f64; 6],
        yc: f64,
        size: (usize, usize),
        s: &Stepped,
        inside: (usize, usize),
    ) -> i32;
    /// One output row of a general map from its [`Taps`] (`w >= 2` pixels).
    fn bilinear_row(src: &[u8], taps: &Taps, max_off: i32, out: &mut [u8]);
}

/// The plain-Rust kernels.
pub(super) struct Scalar;

impl Kernels for Scalar {
    #[inline(always)]
    fn fill_taps(taps: &mut Taps, data: &[f64; 6], yc: f64, w: usize, h: usize) -> i32 {
        taps.fill_from(0, data, yc, w, h)
    }

    #[inline(always)]
    fn fill_taps_stepped(
        taps: &mut Taps,
        data: &[f64; 6],
        yc: f64,
        size: (usize, usize),
        s: &Stepped,
        inside: (usize, usize),
    ) -> i32 {
        taps.fill_stepped_from(0, data, yc, size, s, inside)
    }

    #[inline(always)]
    fn lerp_const(a: &[u8], b: &[u8], t: i32, out: &mut [u8]) {
        let n = out.len();
        if t == 0 {
            return out.copy_from_slice(&a[..n]);
        }
        let w = pack(ONE - t, t);
        for ((o, &a), &b) in out.iter_mut().zip(&a[..n]).zip(&b[..n]) {
            *o = lerp_packed(a, b, w);
        }
    }

    #[inline(always)]
    fn lerp_weighted(a: &[u8], b: &[u8], w: &[u32], out: &mut [u8]) {
        let n = out.len();
        for (((o, &a), &b), &w) in out.iter_mut().zip(&a[..n]).zip(&b[..n]).zip(&w[..n]) {
            *o = lerp_packed(a, b, w);
        }
    }

    #[inline(always)]
    fn bilinear_row(src: &[u8], taps: &Taps, _max_off: i32, out: &mut [u8]) {
        let it = out
            .chunks_exact_mut(3)
            .zip(&taps.off0)
            .zip(&taps.off1)
            .zip(&taps.w0)
            .zip(&taps.w1);
        for ((((px, &o0), &o1), &w0), &w1) in it {
            let (t0, t1) = (&src[o0 as usize..][..6], &src[o1 as usize..][..6]);
            for ch in 0..3 {
                let v = u32::from(t0[ch]) * (w0 & 0xFFFF)
                    + u32::from(t0[ch + 3]) * (w0 >> 16)
                    + u32::from(t1[ch]) * (w1 & 0xFFFF)
                    + u32::from(t1[ch + 3]) * (w1 >> 16);
                px[ch] = (v >> FRAC_BITS) as u8;
            }
        }
    }
}

/// The AVX2 kernels. Only to be used inside a function compiled with AVX2 on a CPU that has
/// it (the affine drivers check `is_x86_feature_detected!("avx2")` once per image).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Avx2, FRAC_BITS, Kernels, ONE, Scalar, Stepped, Taps, pack};

    /// 16 samples: `(a[i] lo(w_i) + b[i] hi(w_i)) >> 14`, weights for samples 0..8 in
    /// `wa` and 8..16 in `wb`.
    ///
    /// # Safety
    /// AVX2; `a`, `b` readable and `out` writable for 16 bytes.
    #[inline(always)]
    unsafe fn chunk(a: *const u8, b: *const u8, wa: __m256i, wb: __m256i, out: *mut u8) {
        unsafe {
            let a16 = _mm256_cvtepu8_epi16(_mm_loadu_si128(a.cast()));
            let b16 = _mm256_cvtepu8_epi16(_mm_loadu_si128(b.cast()));
            // Pairs (a_i, b_i): lanes hold samples 0..4 | 8..12 and 4..8 | 12..16.
            let lo = _mm256_unpacklo_epi16(a16, b16);
            let hi = _mm256_unpackhi_epi16(a16, b16);
            let wlo = _mm256_permute2x128_si256(wa, wb, 0x20);
            let whi = _mm256_permute2x128_si256(wa, wb, 0x31);
            let vlo = _mm256_srli_epi32(_mm256_madd_epi16(lo, wlo), FRAC_BITS as i32);
            let vhi = _mm256_srli_epi32(_mm256_madd_epi16(hi, whi), FRAC_BITS as i32);
            // Back in order: lane 0 = samples 0..8, lane 1 = 8..16 (16-bit), then bytes.
            let words = _mm256_packs_epi32(vlo, vhi);
            let bytes = _mm256_packus_epi16(words, words);
            let packed = _mm256_permute4x64_epi64(bytes, 0b00_00_10_00);
            _mm_storeu_si128(out.cast(), _mm256_castsi256_si128(packed));
        }
    }

    /// 16 samples with the weights `w[0..16]`.
    ///
    /// # Safety
    /// AVX2; `a`, `b`, `w` readable and `out` writable for 16 elements.
    #[inline(always)]
    unsafe fn chunk_weighted(a: *const u8, b: *const u8, w: *const u32, out: *mut u8) {
        unsafe {
            let wa = _mm256_loadu_si256(w.cast());
            let wb = _mm256_loadu_si256(w.add(8).cast());
            chunk(a, b, wa, wb, out);
        }
    }

    /// One pixel of a general map: the two tap pairs at `o0` and `o1`, weighted by the
    /// packed `w0` and `w1`, as 4 bytes (R, G, B, 0).
    ///
    /// # Safety
    /// AVX2; `sp + o0` and `sp + o1` readable for 8 bytes.
    #[inline(always)]
    unsafe fn pixel(sp: *const u8, o0: i32, o1: i32, w0: u32, w1: u32, pairs: __m128i) -> u32 {
        unsafe {
            let t0 = _mm_loadl_epi64(sp.add(o0 as usize).cast());
            let t1 = _mm_loadl_epi64(sp.add(o1 as usize).cast());
            let s0 = _mm_madd_epi16(_mm_shuffle_epi8(t0, pairs), _mm_set1_epi32(w0 as i32));
            let s1 = _mm_madd_epi16(_mm_shuffle_epi8(t1, pairs), _mm_set1_epi32(w1 as i32));
            let v = _mm_srli_epi32(_mm_add_epi32(s0, s1), FRAC_BITS as i32);
            let v = _mm_packs_epi32(v, v);
            _mm_cvtsi128_si32(_mm_packus_epi16(v, v)) as u32
        }
    }

    impl Kernels for Avx2 {
        /// Four pixels per step, with exactly the operations of [`Taps::fill_from`] (which
        /// does the remainder): IEEE `f64` arithmetic without fused multiply-adds, `vroundpd`
        /// for the floor, and `vmaxpd`/`vminpd` ordered as `f64::max`/`min` are used there
        /// (equal results for the non-NaN values that occur).
        #[inline(always)]
        fn fill_taps(taps: &mut Taps, data: &[f64; 6], yc: f64, w: usize, h: usize) -> i32 {
            let [a, b, c, d, e, f] = *data;
            let (by, ey) = (b * yc, e * yc);
            let (wf, hf) = (w as f64, h as f64);
            let n = taps.centre.len();
            let blocks = n / 4 * 4;
            // SAFETY: AVX2 (this kernel's contract); every access is at i..i + 4 with
            // i + 4 <= blocks <= n, the length of each array.
            let max_off = unsafe {
                let pd = _mm256_set1_pd;
                let (a, b_y, c, d, e_y, f) = (pd(a), pd(by), pd(c), pd(d), pd(ey), pd(f));
                let (zero, half, one) = (_mm256_setzero_pd(), pd(0.5), pd(f64::from(ONE)));
                let (wv, hv, minus1) = (pd(wf), pd(hf), pd(-1.0));
                let stride = _mm_set1_epi32(3 * w as i32);
                let (xmax, ymax) = (_mm_set1_epi32(w as i32 - 2), _mm_set1_epi32(h as i32 - 1));
                let (zero_i, one_i, half_i) =
                    (_mm_setzero_si128(), _mm_set1_epi32(ONE), _mm_set1_epi32(ONE / 2));
                let (three, low16) = (_mm_set1_epi32(3), _mm_set1_epi32(0xFFFF));
                // The low 32 bits of each 64-bit lane.
                let evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
                let narrow = |m: __m256d| {
                    _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(m), evens))
                };
                let weight = |v: __m256d| {
                    let v = _mm256_add_pd(_mm256_mul_pd(v, one), half);
                    _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_max_pd(v, zero), one))
                };
                let mut max_off = _mm_setzero_si128();
                let mut i = 0;
                while i < blocks {
                    let xc = _mm256_loadu_pd(taps.centre.as_ptr().add(i));
                    let xs = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(a, xc), b_y), c);
                    let ys = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(d, xc), e_y), f);
                    let inside = _mm256_and_pd(
                        _mm256_and_pd(
                            _mm256_cmp_pd(xs, zero, _CMP_GE_OQ),
                            _mm256_cmp_pd(xs, wv, _CMP_LT_OQ),
                        ),
                        _mm256_and_pd(
                            _mm256_cmp_pd(ys, zero, _CMP_GE_OQ),
                            _mm256_cmp_pd(ys, hv, _CMP_LT_OQ),
                        ),
                    );
                    let (xm, ym) = (_mm256_sub_pd(xs, half), _mm256_sub_pd(ys, half));
                    let (xfl, yfl) = (_mm256_floor_pd(xm), _mm256_floor_pd(ym));
                    let fx = weight(_mm256_sub_pd(xm, xfl));
                    let fy = weight(_mm256_sub_pd(ym, yfl));
                    let xi = _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_max_pd(xfl, minus1), wv));
                    let yi = _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_max_pd(yfl, minus1), hv));
                    let fx = _mm_andnot_si128(_mm_cmplt_epi32(xi, zero_i), fx);
                    let fx = _mm_blendv_epi8(fx, one_i, _mm_cmpgt_epi32(xi, xmax));
                    let x0 = _mm_min_epi32(_mm_max_epi32(xi, zero_i), xmax);
                    let r0 = _mm_min_epi32(_mm_max_epi32(yi, zero_i), ymax);
                    let r1 = _mm_min_epi32(_mm_max_epi32(_mm_add_epi32(yi, _mm_set1_epi32(1)), zero_i), ymax);
                    let w11 =
                        _mm_srai_epi32(_mm_add_epi32(_mm_mullo_epi32(fx, fy), half_i), FRAC_BITS as i32);
                    let (w01, w10) = (_mm_sub_epi32(fx, w11), _mm_sub_epi32(fy, w11));
                    let w00 = _mm_add_epi32(_mm_sub_epi32(_mm_sub_epi32(one_i, fx), fy), w11);
                    let keep = narrow(inside);
                    let col = _mm_mullo_epi32(x0, three);
                    let o0 = _mm_and_si128(_mm_add_epi32(_mm_mullo_epi32(r0, stride), col), keep);
                    let o1 = _mm_and_si128(_mm_add_epi32(_mm_mullo_epi32(r1, stride), col), keep);
                    let pack = |lo: __m128i, hi: __m128i| {
                        _mm_and_si128(
                            _mm_or_si128(_mm_and_si128(lo, low16), _mm_slli_epi32(hi, 16)),
                            keep,
                        )
                    };
                    _mm_storeu_si128(taps.off0.as_mut_ptr().add(i).cast(), o0);
                    _mm_storeu_si128(taps.off1.as_mut_ptr().add(i).cast(), o1);
                    _mm_storeu_si128(taps.w0.as_mut_ptr().add(i).cast(), pack(w00, w01));
                    _mm_storeu_si128(taps.w1.as_mut_ptr().add(i).cast(), pack(w10, w11));
                    max_off = _mm_max_epi32(max_off, o1);
                    i += 4;
                }
                let m = _mm_max_epi32(max_off, _mm_shuffle_epi32(max_off, 0b01_00_11_10));
                let m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0b10_11_00_01));
                _mm_cvtsi128_si32(m)
            };
            max_off.max(taps.fill_from(blocks, data, yc, w, h))
        }

        #[inline(always)]
        fn lerp_const(a: &[u8], b: &[u8], t: i32, out: &mut [u8]) {
            let n = out.len();
            let (a, b) = (&a[..n], &b[..n]);
            if n < 16 || t == 0 {
                return Scalar::lerp_const(a, b, t, out);
            }
            // SAFETY: AVX2 (this kernel's contract); every chunk reads and writes 16 bytes
            // inside the three slices of length n >= 16; the last chunk overlaps the one
            // before, and recomputes the same values.
            unsafe {
                let wv = _mm256_set1_epi32(pack(ONE - t, t) as i32);
                let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
                let mut i = 0;
                while i + 16 <= n {
                    chunk(pa.add(i), pb.add(i), wv, wv, po.add(i));
                    i += 16;
                }
                if i < n {
                    let i = n - 16;
                    chunk(pa.add(i), pb.add(i), wv, wv, po.add(i));
                }
            }
        }

        #[inline(always)]
        fn lerp_weighted(a: &[u8], b: &[u8], w: &[u32], out: &mut [u8]) {
            let n = out.len();
            let (a, b, w) = (&a[..n], &b[..n], &w[..n]);
            if n < 16 {
                return Scalar::lerp_weighted(a, b, w, out);
            }
            // SAFETY: as in `lerp_const`.
            unsafe {
                let (pa, pb, pw, po) = (a.as_ptr(), b.as_ptr(), w.as_ptr(), out.as_mut_ptr());
                let mut i = 0;
                while i + 16 <= n {
                    chunk_weighted(pa.add(i), pb.add(i), pw.add(i), po.add(i));
                    i += 16;
                }
                if i < n {
                    let i = n - 16;
                    chunk_weighted(pa.add(i), pb.add(i), pw.add(i), po.add(i));
                }
            }
        }

        /// Eight pixels per step, the integer operations of [`Taps::fill_stepped_from`]
        /// (which does the remainder) in 32-bit lanes.
        #[inline(always)]
        fn fill_taps_stepped(
            taps: &mut Taps,
            data: &[f64; 6],
            yc: f64,
            (w, h): (usize, usize),
            s: &Stepped,
            inside: (usize, usize),
        ) -> i32 {
            let (by, ey) = (data[1] * yc, data[4] * yc);
            let n = taps.centre.len();
            let blocks = n / 8 * 8;
            // SAFETY: AVX2 (this kernel's contract); every access is at i..i + 8 with
            // i + 8 <= blocks <= n, the length of each array.
            let max_off = unsafe {
                let set = _mm256_set1_epi32;
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let steps_x = _mm256_mullo_epi32(lanes, set(s.step_x));
                let steps_y = _mm256_mullo_epi32(lanes, set(s.step_y));
                let round = set(1 << (s.bits - 15));
                let int_shift = _mm_cvtsi32_si128(s.bits as i32);
                let frac_shift = _mm_cvtsi32_si128(s.bits as i32 - 14);
                let (frac_mask, one, half) = (set(ONE - 1), set(ONE), set(ONE / 2));
                let (zero, xmax, ymax) = (_mm256_setzero_si256(), set(w as i32 - 2), set(h as i32 - 1));
                let stride = set(3 * w as i32);
                let (lo, hi) = (set(inside.0 as i32 - 1), set(inside.1 as i32));
                let mut max_off = zero;
                let mut i = 0;
                while i < blocks {
                    let (ax, ay) = s.anchor(data, taps.centre[i], by, ey);
                    let x = _mm256_add_epi32(_mm256_add_epi32(set(ax), steps_x), round);
                    let y = _mm256_add_epi32(_mm256_add_epi32(set(ay), steps_y), round);
                    let (xi, yi) = (_mm256_sra_epi32(x, int_shift), _mm256_sra_epi32(y, int_shift));
                    let fx = _mm256_and_si256(_mm256_sra_epi32(x, frac_shift), frac_mask);
                    let fy = _mm256_and_si256(_mm256_sra_epi32(y, frac_shift), frac_mask);
                    let fx = _mm256_andnot_si256(_mm256_cmpgt_epi32(zero, xi), fx);
                    let fx = _mm256_blendv_epi8(fx, one, _mm256_cmpgt_epi32(xi, xmax));
                    let x0 = _mm256_min_epi32(_mm256_max_epi32(xi, zero), xmax);
                    let r0 = _mm256_min_epi32(_mm256_max_epi32(yi, zero), ymax);
                    let r1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(yi, set(1)), zero), ymax);
                    let w11 = _mm256_srai_epi32(
                        _mm256_add_epi32(_mm256_mullo_epi32(fx, fy), half),
                        FRAC_BITS as i32,
                    );
                    let (w01, w10) = (_mm256_sub_epi32(fx, w11), _mm256_sub_epi32(fy, w11));
                    let w00 = _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(one, fx), fy), w11);
                    let index = _mm256_add_epi32(set(i as i32), lanes);
                    let keep = _mm256_and_si256(_mm256_cmpgt_epi32(index, lo), _mm256_cmpgt_epi32(hi, index));
                    let col = _mm256_add_epi32(x0, _mm256_add_epi32(x0, x0));
                    let o0 = _mm256_and_si256(_mm256_add_epi32(_mm256_mullo_epi32(r0, stride), col), keep);
                    let o1 = _mm256_and_si256(_mm256_add_epi32(_mm256_mullo_epi32(r1, stride), col), keep);
                    // Every weight is in 0..=ONE: the low one needs no mask.
                    let w0 = _mm256_and_si256(_mm256_or_si256(w00, _mm256_slli_epi32(w01, 16)), keep);
                    let w1 = _mm256_and_si256(_mm256_or_si256(w10, _mm256_slli_epi32(w11, 16)), keep);
                    _mm256_storeu_si256(taps.off0.as_mut_ptr().add(i).cast(), o0);
                    _mm256_storeu_si256(taps.off1.as_mut_ptr().add(i).cast(), o1);
                    _mm256_storeu_si256(taps.w0.as_mut_ptr().add(i).cast(), w0);
                    _mm256_storeu_si256(taps.w1.as_mut_ptr().add(i).cast(), w1);
                    max_off = _mm256_max_epi32(max_off, o1);
                    i += 8;
                }
                let m = _mm_max_epi32(
                    _mm256_castsi256_si128(max_off),
                    _mm256_extracti128_si256(max_off, 1),
                );
                let m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0b01_00_11_10));
                let m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0b10_11_00_01));
                _mm_cvtsi128_si32(m)
            };
            max_off.max(taps.fill_stepped_from(blocks, data, yc, (w, h), s, inside))
        }

        #[inline(always)]
        fn bilinear_row(src: &[u8], taps: &Taps, max_off: i32, out: &mut [u8]) {
            let w = out.len() / 3;
            // Each pixel reads 8 bytes at each of its two offsets (its two taps and two
            // discarded bytes); near the end of the buffer that would read past it.
            if max_off as usize + 8 > src.len() {
                return Scalar::bilinear_row(src, taps, max_off, out);
            }
            let (off0, off1) = (&taps.off0[..w], &taps.off1[..w]);
            let (w0, w1) = (&taps.w0[..w], &taps.w1[..w]);
            // SAFETY: AVX2 (this kernel's contract). Every offset is at most `max_off`, so
            // the 8-byte reads stay inside `src` (checked above); pixel x writes 4 bytes at
            // 3x (the 4th is overwritten by pixel x + 1), the last pixel 3; the weights are read
            // two at a time at x, x + 1 < w.
            unsafe {
                // (left, right) tap pairs of R, G, B as 16-bit integers; the 4th pair is 0.
                let pairs = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
                let sp = src.as_ptr();
                let op = out.as_mut_ptr();
                // Two pixels per step, one in each 128-bit lane.
                let pairs2 = _mm256_broadcastsi128_si256(pairs);
                let spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
                let mut x = 0;
                while x + 2 < w {
                    let taps = |o: &[i32]| {
                        let lo = _mm_loadl_epi64(sp.add(o[x] as usize).cast());
                        let hi = _mm_loadl_epi64(sp.add(o[x + 1] as usize).cast());
                        _mm256_shuffle_epi8(
                            _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1),
                            pairs2,
                        )
                    };
                    let weights = |wt: &[u32]| {
                        let two = _mm_loadl_epi64(wt.as_ptr().add(x).cast());
                        _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(two), spread)
                    };
                    let s = _mm256_add_epi32(
                        _mm256_madd_epi16(taps(off0), weights(w0)),
                        _mm256_madd_epi16(taps(off1), weights(w1)),
                    );
                    let v = _mm256_srli_epi32(s, FRAC_BITS as i32);
                    let v = _mm256_packs_epi32(v, v);
                    let v = _mm256_packus_epi16(v, v);
                    // 4 bytes per pixel, the 4th overwritten by the next pixel.
                    let o = op.add(3 * x);
                    o.cast::<u32>().write_unaligned(_mm256_cvtsi256_si32(v) as u32);
                    o.add(3)
                        .cast::<u32>()
                        .write_unaligned(_mm_cvtsi128_si32(_mm256_extracti128_si256(v, 1)) as u32);
                    x += 2;
                }
                for x in x..w - 1 {
                    op.add(3 * x)
                        .cast::<u32>()
                        .write_unaligned(pixel(sp, off0[x], off1[x], w0[x], w1[x], pairs));
                }
                let last = pixel(sp, off0[w - 1], off1[w - 1], w0[w - 1], w1[w - 1], pairs).to_le_bytes();
                out[3 * (w - 1)..].copy_from_slice(&last[..3]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    #[test]
    fn weights_round_and_clamp() {
        assert_eq!(weight(0.0), 0);
        assert_eq!(weight(1.0), ONE);
        assert_eq!(weight(0.5), ONE / 2);
        assert_eq!(weight(f64::NAN), 0);
        assert_eq!(weight(-3.0), 0);
        assert_eq!(weight(7.0), ONE);
        assert_eq!(weight(0.99999), ONE);
        assert_eq!(lerp_packed(200, 100, pack(ONE, 0)), 200);
        assert_eq!(lerp_packed(200, 100, pack(0, ONE)), 100);
        assert_eq!(lerp_packed(10, 11, pack(ONE / 2, ONE / 2)), 10);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_equal_the_scalar_kernels() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        #[target_feature(enable = "avx2")]
        fn lerps(a: &[u8], b: &[u8], w: &[u32], t: i32, o1: &mut [u8], o2: &mut [u8]) {
            Avx2::lerp_const(a, b, t, o1);
            Avx2::lerp_weighted(a, b, w, o2);
        }
        #[target_feature(enable = "avx2")]
        fn rows(src: &[u8], taps: &mut Taps, data: &[f64; 6], yc: f64, h: usize, out: &mut [u8]) -> i32 {
            let max_off = Avx2::fill_taps(taps, data, yc, out.len() / 3, h);
            Avx2::bilinear_row(src, taps, max_off, out);
            max_off
        }
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100, 673] {
            let (a, b) = (bytes(n, 1), bytes(n, 2));
            let w: Vec<u32> = bytes(2 * n, 3)
                .chunks_exact(2)
                .map(|p| {
                    let t = (i32::from(p[0]) << 6 | i32::from(p[1] & 63)).min(ONE);
                    pack(ONE - t, t)
                })
                .collect();
            for t in [0, 1, 777, ONE / 2, ONE - 1, ONE] {
                let (mut c1, mut w1) = (vec![0; n], vec![0; n]);
                let (mut c2, mut w2) = (vec![0; n], vec![0; n]);
                // SAFETY: AVX2 checked above.
                unsafe { lerps(&a, &b, &w, t, &mut c1, &mut w1) };
                Scalar::lerp_const(&a, &b, t, &mut c2);
                Scalar::lerp_weighted(&a, &b, &w, &mut w2);
                assert_eq!((c1, w1), (c2, w2), "n = {n}, t = {t}");
            }
        }
        // Stepped taps of a rotation, 8 lanes against the scalar loop, widths around the
        // multiples of 8.
        #[target_feature(enable = "avx2")]
        fn stepped(taps: &mut Taps, data: &[f64; 6], yc: f64, size: (usize, usize), s: &Stepped) -> i32 {
            Avx2::fill_taps_stepped(taps, data, yc, size, s, (2, size.0 - 1))
        }
        for (w, h) in [(2, 2), (7, 5), (8, 8), (9, 3), (33, 17), (224, 40)] {
            let data = [0.99, -0.14, 1.5, 0.14, 0.99, -2.0];
            let s = Stepped::new(&data, w, h).unwrap();
            let (mut fast, mut slow) = (Taps::default(), Taps::default());
            fast.resize(w);
            slow.resize(w);
            for y in 0..h {
                let yc = y as f64 + 0.5;
                // SAFETY: AVX2 checked above.
                let max_fast = unsafe { stepped(&mut fast, &data, yc, (w, h), &s) };
                let max_slow = slow.fill_stepped_from(0, &data, yc, (w, h), &s, (2, w - 1));
                assert_eq!(max_fast, max_slow);
                assert_eq!(
                    (&fast.off0, &fast.off1),
                    (&slow.off0, &slow.off1),
                    "{w}x{h} row {y}"
                );
                assert_eq!((&fast.w0, &fast.w1), (&slow.w0, &slow.w1), "{w}x{h} row {y}");
            }
        }
        // Rows of a rotation, including the last source row (the scalar fallback) and
        // pixels outside.
        for (w, h) in [(2, 2), (3, 5), (32, 32), (37, 53)] {
            let src = bytes(3 * w * h, 9);
            let (mut fast, mut slow) = (Taps::default(), Taps::default());
            fast.resize(w);
            slow.resize(w);
            for data in [
                [0.9, -0.3, 4.0, 0.3, 0.9, -3.0],
                [1.1, 0.2, -2.5, -0.4, 0.8, 7.25],
            ] {
                for y in 0..h {
                    let yc = y as f64 + 0.5;
                    let (mut a, mut b) = (vec![0; 3 * w], vec![0; 3 * w]);
                    // SAFETY: AVX2 checked above.
                    let max_fast = unsafe { rows(&src, &mut fast, &data, yc, h, &mut a) };
                    let max_slow = slow.fill_from(0, &data, yc, w, h);
                    Scalar::bilinear_row(&src, &slow, max_slow, &mut b);
                    assert_eq!(max_fast, max_slow);
                    assert_eq!((&fast.off0, &fast.off1), (&slow.off0, &slow.off1));
                    assert_eq!((&fast.w0, &fast.w1), (&slow.w0, &slow.w1));
                    assert_eq!(a, b, "{w}x{h} row {y}");
                }
            }
        }
    }
}
