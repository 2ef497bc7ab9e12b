//! Colour transfer after Reinhard, Ashikhmin, Gooch and Shirley, "Color Transfer between
//! Images" (IEEE CG&A 2001): match the per-channel mean and standard deviation of an image to
//! those of a target, in the decorrelated l-alpha-beta space.
//!
//! The colour space, with the paper's matrices (RGB in [0, 1]):
//! 1. `LMS = M rgb` with `M = [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782],
//!    [0.0241, 0.1288, 0.8444]]`;
//! 2. `L' = log10(L + 1/255)` (and likewise M, S). The paper takes `log10(L)`, which is
//!    `-inf` for black; the offset of one 8-bit level keeps black finite and is undone
//!    exactly on the way back;
//! 3. `l = (L' + M' + S') / sqrt(3)`, `alpha = (L' + M' - 2 S') / sqrt(6)`,
//!    `beta = (L' - M') / sqrt(2)` (an orthonormal matrix, so its inverse is its transpose).
//!
//! Transfer with strength `t` towards target statistics `(mu_t, sigma_t)` per channel: the
//! goal is `mu* = (1 - t) mu + t mu_t`, `sigma* = (1 - t) sigma + t sigma_t`, and every value
//! becomes `(v - mu) sigma* / sigma + mu*` (a flat channel, `sigma < 1e-6`, is only shifted).
//! Back through the inverse transforms (`M^-1` is computed from `M`), then clamped to [0, 1].
//! The logarithms and powers are evaluated with vectorizable approximations accurate to
//! 3e-7 relative (libm's took three quarters of the time).
//! `t = 1` is Reinhard's transfer; `t = 0` is the identity.
//!
//! The target is the partner's statistics ([`crate::StageContext::partner`], any size: only
//! its statistics matter, so it is not resized) or, with no partner, the random target in the
//! params, drawn uniformly per statistic from the config's ranges. The default ranges span the
//! 5th to 95th percentiles of the per-image statistics of the CIFAR-10 test set (measured with
//! this module's conversion by `examples/lab_statistics.rs`: medians l -0.67, alpha 0.030,
//! beta 0.0027; standard deviations 0.40, 0.059, 0.0096), so the random target is a colour
//! style that occurs in CIFAR-10, not necessarily the image's own.

use std::cell::RefCell;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use std::f32::consts::{LN_10, LOG10_E};

use super::{applies, check_interval, check_probability, draw, fastmath};
use crate::{AugRng, Augment, ConfigError, FloatImage, ImageSize, Validate};

/// Reinhard et al.'s RGB -> LMS matrix.
const RGB_TO_LMS: [[f64; 3]; 3] = [
    [0.3811, 0.5783, 0.0402],
    [0.1967, 0.7244, 0.0782],
    [0.0241, 0.1288, 0.8444],
];

/// Its inverse, computed at compile time.
const LMS_TO_RGB: [[f64; 3]; 3] = invert3(RGB_TO_LMS);

/// The offset added before the logarithm (one 8-bit level).
const LOG_OFFSET: f32 = 1.0 / 255.0;

const fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    let inv = 1.0 / det;
    [
        [
            c00 * inv,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv,
        ],
        [
            c01 * inv,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv,
        ],
        [
            c02 * inv,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv,
        ],
    ]
}

const fn to_f32(m: [[f64; 3]; 3]) -> [[f32; 3]; 3] {
    [
        [m[0][0] as f32, m[0][1] as f32, m[0][2] as f32],
        [m[1][0] as f32, m[1][1] as f32, m[1][2] as f32],
        [m[2][0] as f32, m[2][1] as f32, m[2][2] as f32],
    ]
}

const FWD: [[f32; 3]; 3] = to_f32(RGB_TO_LMS);
const BACK: [[f32; 3]; 3] = to_f32(LMS_TO_RGB);
const INV_SQRT3: f32 = 0.577_350_26;
const INV_SQRT6: f32 = 0.408_248_3;
const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;

#[inline(always)]
fn mat(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

/// RGB in [0, 1] -> l-alpha-beta (see the module docs).
///
/// ```
/// use advbn_augmenters::stylize::{rgb_to_lab, lab_to_rgb};
/// let lab = rgb_to_lab([0.5, 0.5, 0.5]);
/// // Grey has (almost) no chroma: the rows of M sum to 0.9996, 0.9993 and 0.9973.
/// assert!(lab[1].abs() < 2e-3 && lab[2].abs() < 2e-4);
/// let back = lab_to_rgb(rgb_to_lab([0.2, 0.7, 0.1]));
/// assert!(back.iter().zip([0.2, 0.7, 0.1]).all(|(a, b)| (a - b).abs() < 1e-5));
/// ```
#[inline(always)]
pub fn rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let [l, m, s] = mat(&FWD, rgb);
    let log = |v: f32| fastmath::ln(v.max(0.0) + LOG_OFFSET) * LOG10_E;
    let (l, m, s) = (log(l), log(m), log(s));
    [
        (l + m + s) * INV_SQRT3,
        (l + m - 2.0 * s) * INV_SQRT6,
        (l - m) * INV_SQRT2,
    ]
}

/// l-alpha-beta -> RGB (not clamped): the exact inverse of [`rgb_to_lab`] up to rounding.
#[inline(always)]
pub fn lab_to_rgb(lab: [f32; 3]) -> [f32; 3] {
    let (a, b, c) = (lab[0] * INV_SQRT3, lab[1] * INV_SQRT6, lab[2] * INV_SQRT2);
    let pow = |v: f32| fastmath::exp(v * LN_10) - LOG_OFFSET;
    mat(&BACK, [pow(a + b + c), pow(a + b - c), pow(a - 2.0 * b)])
}

/// Per-channel mean and standard deviation (population) in l-alpha-beta.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabStats {
    /// Means of l, alpha, beta.
    pub mean: [f32; 3],
    /// Standard deviations of l, alpha, beta.
    pub std: [f32; 3],
}

impl LabStats {
    /// The statistics of a u8 image (as `v / 255`).
    ///
    /// ```
    /// use advbn_augmenters::stylize::LabStats;
    /// let flat = LabStats::of(&image::RgbImage::from_pixel(3, 3, image::Rgb([40, 90, 200])));
    /// assert_eq!(flat.std, [0.0; 3]);
    /// ```
    pub fn of(image: &RgbImage) -> LabStats {
        Self::of_pixels(image.as_raw().chunks_exact(3).map(unit))
    }

    /// The statistics of a float image (values clamped to [0, 1] first).
    pub fn of_float(image: &FloatImage) -> LabStats {
        Self::of_pixels(
            image
                .as_slice()
                .chunks_exact(3)
                .map(|p| [p[0], p[1], p[2]].map(|v| v.clamp(0.0, 1.0))),
        )
    }

    fn of_pixels(pixels: impl Iterator<Item = [f32; 3]>) -> LabStats {
        let mut acc = Moments::default();
        for rgb in pixels {
            acc.push(rgb_to_lab(rgb));
        }
        acc.stats()
    }
}

/// Running sums for [`LabStats`] (f64, so that large images lose nothing).
#[derive(Default)]
struct Moments {
    n: f64,
    sum: [f64; 3],
    sq: [f64; 3],
}

impl Moments {
    #[inline]
    fn push(&mut self, lab: [f32; 3]) {
        self.n += 1.0;
        for (c, &v) in lab.iter().enumerate() {
            let v = f64::from(v);
            self.sum[c] += v;
            self.sq[c] += v * v;
        }
    }

    fn stats(&self) -> LabStats {
        let n = self.n.max(1.0);
        let mut out = LabStats {
            mean: [0.0; 3],
            std: [0.0; 3],
        };
        for c in 0..3 {
            let mean = self.sum[c] / n;
            out.mean[c] = mean as f32;
            out.std[c] = (self.sq[c] / n - mean * mean).max(0.0).sqrt() as f32;
        }
        out
    }
}

/// One u8 pixel as `v / 255`.
#[inline(always)]
fn unit(px: &[u8]) -> [f32; 3] {
    [
        f32::from(px[0]) / 255.0,
        f32::from(px[1]) / 255.0,
        f32::from(px[2]) / 255.0,
    ]
}

/// Reinhard colour transfer configuration (recipe `kind = "color_transfer"`).
///
/// ```
/// use advbn_augmenters::{Augment, SampleKey, ImageSize, StageContext, stylize::ColorTransfer};
/// let ct = ColorTransfer::default();
/// let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
/// let style = image::RgbImage::from_fn(5, 7, |x, y| image::Rgb([200, 100 + x as u8 * 10, y as u8 * 20]));
/// let params = ct.sample(&mut SampleKey::new(0, 0, 0).view(1).rng(), ImageSize::of(&img));
/// let towards_style = ct.apply_with(&img, &params, StageContext::with_partner(&style));
/// let towards_random = ct.apply(&img, &params);
/// assert_ne!(towards_style, towards_random);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorTransfer {
    /// Range of the transfer strength `t` (0 = identity, 1 = Reinhard's full transfer),
    /// within [0, 1].
    #[serde(default = "default_strength")]
    pub strength: [f32; 2],
    /// Range of the random target's mean of l (used without a partner), within [-3, 0].
    #[serde(default = "default_mean_l")]
    pub mean_l: [f32; 2],
    /// Range of the random target's mean of alpha, within [-1, 1].
    #[serde(default = "default_mean_alpha")]
    pub mean_alpha: [f32; 2],
    /// Range of the random target's mean of beta, within [-1, 1].
    #[serde(default = "default_mean_beta")]
    pub mean_beta: [f32; 2],
    /// Range of the random target's standard deviation of l, within [0, 2].
    #[serde(default = "default_std_l")]
    pub std_l: [f32; 2],
    /// Range of the random target's standard deviation of alpha, within [0, 1].
    #[serde(default = "default_std_alpha")]
    pub std_alpha: [f32; 2],
    /// Range of the random target's standard deviation of beta, within [0, 1].
    #[serde(default = "default_std_beta")]
    pub std_beta: [f32; 2],
    /// Probability of applying at all (otherwise strength 0).
    #[serde(default = "default_p")]
    pub p: f64,
}

fn default_strength() -> [f32; 2] {
    [1.0, 1.0]
}
fn default_mean_l() -> [f32; 2] {
    [-1.17, -0.32]
}
fn default_mean_alpha() -> [f32; 2] {
    [-0.07, 0.17]
}
fn default_mean_beta() -> [f32; 2] {
    [-0.015, 0.023]
}
fn default_std_l() -> [f32; 2] {
    [0.17, 0.77]
}
fn default_std_alpha() -> [f32; 2] {
    [0.015, 0.15]
}
fn default_std_beta() -> [f32; 2] {
    [0.0025, 0.031]
}
fn default_p() -> f64 {
    1.0
}

impl Default for ColorTransfer {
    fn default() -> Self {
        Self {
            strength: default_strength(),
            mean_l: default_mean_l(),
            mean_alpha: default_mean_alpha(),
            mean_beta: default_mean_beta(),
            std_l: default_std_l(),
            std_alpha: default_std_alpha(),
            std_beta: default_std_beta(),
            p: default_p(),
        }
    }
}

impl Validate for ColorTransfer {
    fn validate(&self) -> Result<(), ConfigError> {
        check_interval("strength", self.strength, 0.0, 1.0)?;
        check_interval("mean_l", self.mean_l, -3.0, 0.0)?;
        check_interval("mean_alpha", self.mean_alpha, -1.0, 1.0)?;
        check_interval("mean_beta", self.mean_beta, -1.0, 1.0)?;
        check_interval("std_l", self.std_l, 0.0, 2.0)?;
        check_interval("std_alpha", self.std_alpha, 0.0, 1.0)?;
        check_interval("std_beta", self.std_beta, 0.0, 1.0)?;
        check_probability("p", self.p)
    }
}

/// Everything random about one colour transfer.
///
/// ```
/// use advbn_augmenters::stylize::{ColorTransferParams, LabStats};
/// let p = ColorTransferParams { strength: 1.0, target: LabStats { mean: [-0.8, 0.0, 0.0], std: [0.3, 0.05, 0.01] } };
/// let json = serde_json::to_string(&p).unwrap();
/// assert_eq!(serde_json::from_str::<ColorTransferParams>(&json).unwrap(), p);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorTransferParams {
    /// Transfer strength `t` in [0, 1] (0 = identity).
    pub strength: f32,
    /// The random target, used when no partner is given.
    pub target: LabStats,
}

impl Augment for ColorTransfer {
    type Params = ColorTransferParams;
    type Output = FloatImage;

    /// Draw order: applied (one f64), strength, then the target's means (l, alpha, beta) and
    /// standard deviations (l, alpha, beta), one f32 each. The target is drawn whether or not a
    /// partner will be given, so the stream does not depend on it.
    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> ColorTransferParams {
        let applied = applies(rng, self.p);
        let strength = draw(rng, self.strength);
        let mean = [self.mean_l, self.mean_alpha, self.mean_beta].map(|r| draw(rng, r));
        let std = [self.std_l, self.std_alpha, self.std_beta].map(|r| draw(rng, r));
        ColorTransferParams {
            strength: if applied { strength } else { 0.0 },
            target: LabStats { mean, std },
        }
    }

    partner_stylizer!(ColorTransferParams, |params| params.strength == 0.0);
}

impl ColorTransfer {
    /// Towards the partner's statistics when there is a partner, else towards
    /// `params.target`.
    fn stylize(
        &self,
        image: &RgbImage,
        params: &ColorTransferParams,
        partner: Option<&RgbImage>,
    ) -> FloatImage {
        let target = partner.map_or(params.target, LabStats::of);
        transfer_statistics(image, &target, params.strength)
    }
}

thread_local! {
    static LAB: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Reinhard transfer of `image` towards `target` with strength `t` (see the module docs);
/// f32 output clamped to [0, 1].
///
/// ```
/// use advbn_augmenters::stylize::{transfer_statistics, LabStats};
/// let img = image::RgbImage::from_fn(4, 4, |x, y| image::Rgb([60 + 20 * x as u8, 90, 60 + 20 * y as u8]));
/// let style = image::RgbImage::from_fn(6, 6, |x, y| image::Rgb([150, 100 + 8 * x as u8, 120 + 6 * y as u8]));
/// let target = LabStats::of(&style);
/// let out = transfer_statistics(&img, &target, 1.0);
/// let got = LabStats::of_float(&out);
/// for c in 0..3 {
///     assert!((got.mean[c] - target.mean[c]).abs() < 1e-4);
///     assert!((got.std[c] - target.std[c]).abs() < 1e-4);
/// }
/// ```
pub fn transfer_statistics(image: &RgbImage, target: &LabStats, t: f32) -> FloatImage {
    let size = ImageSize::of(image);
    let raw = image.as_raw();
    let mut data = vec![0.0f32; raw.len()];
    LAB.with(|lab| {
        let mut lab = lab.borrow_mut();
        lab.clear();
        lab.reserve(raw.len());
        let mut acc = Moments::default();
        for px in raw.chunks_exact(3) {
            let v = rgb_to_lab(unit(px));
            acc.push(v);
            lab.extend_from_slice(&v);
        }
        let own = acc.stats();
        let mut scale = [1.0f32; 3];
        let mut shift = [0.0f32; 3];
        for c in 0..3 {
            let mean = (1.0 - t) * own.mean[c] + t * target.mean[c];
            let std = (1.0 - t) * own.std[c] + t * target.std[c];
            if own.std[c] >= 1e-6 {
                scale[c] = std / own.std[c];
            }
            // v' = (v - mu) scale + mean = v scale + (mean - mu scale)
            shift[c] = mean - own.mean[c] * scale[c];
        }
        for (out, v) in data.chunks_exact_mut(3).zip(lab.chunks_exact(3)) {
            let rgb = lab_to_rgb([
                v[0] * scale[0] + shift[0],
                v[1] * scale[1] + shift[1],
                v[2] * scale[2] + shift[2],
            ]);
            out[0] = rgb[0].clamp(0.0, 1.0);
            out[1] = rgb[1].clamp(0.0, 1.0);
            out[2] = rgb[2].clamp(0.0, 1.0);
        }
    });
    FloatImage::from_raw(size, data).expect("3 samples per pixel")
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix and channel indices read best as indices
mod tests {
    use super::*;
    use crate::StageContext;
    use crate::rng_from_seed;

    #[test]
    fn the_inverse_matrix_is_the_inverse() {
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| RGB_TO_LMS[i][k] * LMS_TO_RGB[k][j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12, "{i}{j}: {v}");
            }
        }
        // The paper prints its inverse rounded from a more precise forward matrix: it differs
        // from the exact inverse of the printed forward matrix by up to 0.017 (third row). The
        // exact inverse is used here, so that the round trip is exact.
        let paper = [
            [4.4679, -3.5873, 0.1193],
            [-1.2186, 2.3809, -0.1624],
            [0.0497, -0.2439, 1.2045],
        ];
        for i in 0..3 {
            for j in 0..3 {
                assert!((LMS_TO_RGB[i][j] - paper[i][j]).abs() < 0.02, "{i}{j}");
            }
        }
    }

    #[test]
    fn lab_of_known_colours_by_hand() {
        // White: LMS = row sums of M, logs near 0.
        let sums = RGB_TO_LMS.map(|r| r.iter().sum::<f64>());
        let logs = sums.map(|s| (s + 1.0 / 255.0).log10());
        let l = (logs[0] + logs[1] + logs[2]) / 3f64.sqrt();
        let lab = rgb_to_lab([1.0; 3]);
        assert!((f64::from(lab[0]) - l).abs() < 1e-6, "{lab:?} vs {l}");
        // Black: log10(1/255) in every cone: l = 3 log10(1/255) / sqrt(3), no chroma.
        let black = rgb_to_lab([0.0; 3]);
        assert!((black[0] - 3.0 * (1.0f32 / 255.0).log10() / 3f32.sqrt()).abs() < 1e-5);
        assert!(black[1].abs() < 1e-6 && black[2].abs() < 1e-6);
        // Pure blue is mostly S: alpha (L + M - 2S) is strongly negative.
        assert!(rgb_to_lab([0.0, 0.0, 1.0])[1] < -0.5);
    }

    #[test]
    fn the_round_trip_is_exact_to_f32_rounding_over_the_cube() {
        let mut worst = 0.0f32;
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(15) {
                for b in (0..=255).step_by(15) {
                    let rgb = [r, g, b].map(|v: u32| v as f32 / 255.0);
                    let back = lab_to_rgb(rgb_to_lab(rgb));
                    for c in 0..3 {
                        worst = worst.max((back[c] - rgb[c]).abs());
                    }
                }
            }
        }
        assert!(worst < 2e-5, "{worst}");
    }

    fn textured(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = (x * 7 + y * 13 + seed * 31) % 97;
            image::Rgb([
                (60 + v) as u8,
                (80 + (v * 3) % 90) as u8,
                (50 + (x * 11 + seed) % 120) as u8,
            ])
        })
    }

    #[test]
    fn full_transfer_gives_the_partners_statistics() {
        let ct = ColorTransfer::default();
        let img = textured(12, 9, 1);
        let partner = textured(20, 5, 7);
        let p = ColorTransferParams {
            strength: 1.0,
            target: LabStats {
                mean: [-1.0, 0.0, 0.0],
                std: [0.1, 0.02, 0.01],
            },
        };
        let out = ct.apply_with(&img, &p, StageContext::with_partner(&partner));
        let want = LabStats::of(&partner);
        let got = LabStats::of_float(&out);
        for c in 0..3 {
            assert!((got.mean[c] - want.mean[c]).abs() < 1e-4, "{got:?} vs {want:?}");
            assert!((got.std[c] - want.std[c]).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        // Half strength lands half way.
        let half = ct.apply_with(
            &img,
            &ColorTransferParams { strength: 0.5, ..p },
            StageContext::with_partner(&partner),
        );
        let own = LabStats::of(&img);
        let got = LabStats::of_float(&half);
        for c in 0..3 {
            let mean = 0.5 * (own.mean[c] + want.mean[c]);
            assert!((got.mean[c] - mean).abs() < 1e-4, "{c}: {got:?}");
        }
    }

    #[test]
    fn without_a_partner_the_random_target_is_reached() {
        let ct = ColorTransfer::default();
        let img = textured(16, 16, 3);
        let target = LabStats {
            mean: [-0.9, 0.01, 0.002],
            std: [0.12, 0.03, 0.006],
        };
        let out = ct.apply(
            &img,
            &ColorTransferParams {
                strength: 1.0,
                target,
            },
        );
        let got = LabStats::of_float(&out);
        for c in 0..3 {
            assert!((got.mean[c] - target.mean[c]).abs() < 1e-4, "{got:?}");
            assert!((got.std[c] - target.std[c]).abs() < 1e-4, "{got:?}");
        }
    }

    #[test]
    fn transfer_to_itself_is_the_identity_without_the_shortcut() {
        let img = textured(10, 10, 5);
        let out = ColorTransfer::default().apply_with(
            &img,
            &ColorTransferParams {
                strength: 1.0,
                target: LabStats {
                    mean: [0.0; 3],
                    std: [0.0; 3],
                },
            },
            StageContext::with_partner(&img),
        );
        assert_eq!(out.to_rgb8(), img);
    }

    #[test]
    fn a_flat_image_is_shifted_to_the_target_mean() {
        let img = RgbImage::from_pixel(3, 3, image::Rgb([120, 80, 60]));
        let target = LabStats {
            mean: [-0.7, 0.02, 0.001],
            std: [0.2, 0.05, 0.01],
        };
        let out = transfer_statistics(&img, &target, 1.0);
        let want = lab_to_rgb(target.mean);
        for c in 0..3 {
            assert!((out.pixel(1, 1)[c] - want[c].clamp(0.0, 1.0)).abs() < 1e-5);
        }
    }

    #[test]
    fn sampled_targets_are_in_their_ranges() {
        let ct = ColorTransfer::default();
        let mut rng = rng_from_seed(9);
        for _ in 0..500 {
            let p = ct.sample(&mut rng, ImageSize::new(8, 8));
            assert_eq!(p.strength, 1.0);
            let ranges = [ct.mean_l, ct.mean_alpha, ct.mean_beta];
            for (v, r) in p.target.mean.iter().zip(ranges) {
                assert!(r[0] <= *v && *v <= r[1]);
            }
            let ranges = [ct.std_l, ct.std_alpha, ct.std_beta];
            for (v, r) in p.target.std.iter().zip(ranges) {
                assert!(r[0] <= *v && *v <= r[1]);
            }
        }
    }

    #[test]
    fn validation_names_the_key() {
        let d = ColorTransfer::default();
        let cases = [
            (
                ColorTransfer {
                    strength: [0.2, 0.1],
                    ..d.clone()
                },
                "strength",
            ),
            (
                ColorTransfer {
                    mean_l: [-1.0, 0.5],
                    ..d.clone()
                },
                "mean_l",
            ),
            (
                ColorTransfer {
                    mean_alpha: [-2.0, 0.0],
                    ..d.clone()
                },
                "mean_alpha",
            ),
            (
                ColorTransfer {
                    mean_beta: [0.0, f32::INFINITY],
                    ..d.clone()
                },
                "mean_beta",
            ),
            (
                ColorTransfer {
                    std_l: [-0.1, 0.2],
                    ..d.clone()
                },
                "std_l",
            ),
            (
                ColorTransfer {
                    std_alpha: [0.0, 1.5],
                    ..d.clone()
                },
                "std_alpha",
            ),
            (
                ColorTransfer {
                    std_beta: [0.5, 0.4],
                    ..d.clone()
                },
                "std_beta",
            ),
            (ColorTransfer { p: -0.1, ..d.clone() }, "p"),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().key, key);
        }
        d.validate().unwrap();
    }
}
