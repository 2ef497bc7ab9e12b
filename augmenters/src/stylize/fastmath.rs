//! Branch-free `ln`, `exp` and `tanh` for f32, accurate to a few units in the last place,
//! that the compiler can vectorize (libm's `log10f`, `powf` and `tanhf` took most of the time
//! of `color_transfer` and `random_net`). Textbook reductions: `ln` splits off the binary
//! exponent and evaluates `ln m = 2 atanh((m - 1) / (m + 1))` by its series on
//! `m in [sqrt(1/2), sqrt(2))`; `exp` splits `x = k ln 2 + r` (Cody-Waite, two-part `ln 2`)
//! and evaluates the Taylor polynomial of `e^r` on `|r| <= ln 2 / 2`; `tanh` is
//! `1 - 2 / (e^{2x} + 1)`. Plain multiply and add in a fixed order: the same bits on every
//! machine and thread.

use std::f32::consts::{LN_2, LOG2_E, SQRT_2};

/// `ln x` for positive normal `x` (relative error below 3e-7).
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    let big = m > SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = (e + i32::from(big)) as f32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
    e * LN_2 + 2.0 * s * series
}

/// The high part of `ln 2`, 355 / 512 (9 significant bits, so `k * LN2_HI` is exact).
const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 * 2^23`: adding and subtracting it rounds an f32 of magnitude below 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x` (relative error below 3e-7), clamped to the normal range: `x` is limited to
/// `[-87, 88]`.
#[inline(always)]
#[allow(clippy::manual_clamp)] // deliberate: see below
pub(crate) fn exp(x: f32) -> f32 {
    // max/min rather than clamp: no NaN special case, so the loops vectorize.
    let x = x.max(-87.0).min(88.0);
    let k = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

/// `tanh x` to within 3e-7 absolute.
#[inline(always)]
#[allow(clippy::manual_clamp)] // max/min vectorize, clamp's NaN handling does not
pub(crate) fn tanh(x: f32) -> f32 {
    let x = x.max(-9.0).min(9.0);
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values spread over `[lo, hi]`, plus the ends.
    fn grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
    }

    #[test]
    fn ln_is_accurate_over_the_range_used_and_beyond() {
        let mut worst = 0.0f64;
        for x in grid(1e-3, 4.0, 200_000)
            .chain(grid(4.0, 1e6, 10_000))
            .chain([1.0, SQRT_2, 0.5, 2.0])
        {
            let want = f64::from(x).ln();
            let got = f64::from(ln(x));
            worst = worst.max((got - want).abs() / want.abs().max(1.0));
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn exp_is_accurate_and_clamped() {
        let mut worst = 0.0f64;
        for x in grid(-80.0, 80.0, 400_000).chain([0.0, -0.5 * LN_2, 0.5 * LN_2]) {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(1000.0).is_finite());
    }

    #[test]
    fn tanh_is_accurate_and_odd() {
        let mut worst = 0.0f64;
        for x in grid(-12.0, 12.0, 400_000) {
            let want = f64::from(x).tanh();
            worst = worst.max((f64::from(tanh(x)) - want).abs());
            assert!((tanh(x) + tanh(-x)).abs() < 3e-7);
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!(tanh(0.0), 0.0);
    }
}
