//! AugMix (Hendrycks et al., ICLR 2020), faithful to the paper's reference implementation
//! (`augment_and_mix` / the CIFAR `aug` function of google-research/augmix) and to the Pillow
//! operations it calls ([`crate::ops`]).
//!
//! One application: draw chain weights `w ~ Dirichlet(alpha, ..., alpha)` (`width` chains)
//! and a skip weight `m ~ Beta(alpha, alpha)`; for each chain, start again from the clean
//! image and apply `depth` ops (`depth = -1`: uniform in 1..=3), each drawn uniformly from the
//! op list with a level `~ U(0.1, severity)` mapped to its Pillow value as in the reference
//! (see [`Op::sample`]); then mix in float after converting to [0, 1]:
//! `out = (1 - m) x + m sum_i w_i chain_i`.
//!
//! `variant = "torchvision"` samples as torchvision's `transforms.AugMix` does instead
//! (discrete magnitude bins, all 13 ops by default; see [`Op::sample_torchvision`]); the
//! weights, chains and mixing are the same.
//!
//! Everything random is in [`AugMixParams`] (each chain's ops with their Pillow values, the
//! weights, `m`), so an application replays exactly from its params. The output is a
//! [`FloatImage`] (f32 HWC in [0, 1]).
//!
//! Speed: [`AugMix::apply`] never materializes what it can fold. Consecutive point ops
//! (autocontrast, equalize, posterize, solarize, brightness) collapse into one per-channel
//! table, with the histograms that equalize needs pushed through the tables instead of
//! recomputed, and autocontrast taken from each channel's range (vectorized min/max) where the
//! pending table never decreases; a run of posterize and solarize alone stays a few steps of
//! vectorized arithmetic instead of a table. A chain's last table is folded into its weighted
//! accumulation; the clean image's histogram and ranges are computed at most once; the weights
//! `m w_i` and `1 - m` and the 1/255 scale are folded into one f32 accumulator; the u8
//! buffers are per-thread and reused. The geometric ops interpolate in fixed point
//! ([`crate::ops::warp`]).
//! [`mix_reference`] is the plain evaluation, op by op, that the fast path is tested against.

use std::cell::RefCell;

use image::RgbImage;
use rand::RngExt;
use rand_distr::{Beta, Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::ops::lut::{autocontrast_lut_of_ranges, channel_ranges, is_non_decreasing};
use crate::ops::{
    Histogram, Lut, Op, OpParams, apply_lut_into, compose, histogram, posterize_lut, push_histogram,
};
use crate::{AugRng, Augment, ConfigError, FloatImage, ImageSize, Validate, check_range};

/// Which sampling AugMix follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugMixVariant {
    /// The paper's reference implementation: continuous levels `~ U(0.1, severity)` mapped
    /// to Pillow values ([`Op::sample`]); by default the 9 ops that do not overlap the
    /// corruption benchmarks.
    #[default]
    Paper,
    /// torchvision's `transforms.AugMix`: discrete magnitude bins
    /// ([`Op::sample_torchvision`]), by default all 13 ops. The sampled values are applied
    /// by the same Pillow-semantics ops as the paper variant (torchvision applies them with
    /// its own tensor kernels, which differ from Pillow by interpolation details), and the
    /// output stays f32 in [0, 1] (torchvision truncates u8 input's mix back to u8).
    Torchvision,
}

/// AugMix configuration (recipe `kind = "augmix"`).
///
/// ```
/// use advbn_augmenters::{AugMix, Augment, SampleKey, ImageSize, Validate};
/// let augmix = AugMix::default(); // severity 3, width 3, depth -1, alpha 1
/// augmix.validate().unwrap();
/// let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 128]));
/// let params = augmix.sample(&mut SampleKey::new(0, 0, 0).view(1).rng(), ImageSize::of(&img));
/// assert_eq!(params.chains.len(), 3);
/// let out = augmix.apply(&img, &params);
/// assert_eq!(out.size(), ImageSize::of(&img));
/// assert!(out.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugMix {
    /// Severity of the ops, 1..=10: levels are drawn uniformly in `[0.1, severity)`.
    #[serde(default = "default_severity")]
    pub severity: u32,
    /// Number of chains mixed, 1..=16.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Ops per chain, 1..=16, or -1 for a uniform draw in 1..=3 per chain.
    #[serde(default = "default_depth")]
    pub depth: i32,
    /// Concentration of the Dirichlet chain weights and of the Beta skip weight, in
    /// 0.01..=100.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Also draw the ops that overlap ImageNet-C (color, contrast, brightness, sharpness).
    /// Unset: the variant's default (paper: no, torchvision: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_ops: Option<bool>,
    /// The sampling scheme: `paper` (default) or `torchvision`.
    #[serde(default)]
    pub variant: AugMixVariant,
}

fn default_severity() -> u32 {
    3
}
fn default_width() -> u32 {
    3
}
fn default_depth() -> i32 {
    -1
}
fn default_alpha() -> f64 {
    1.0
}

impl Default for AugMix {
    fn default() -> Self {
        Self {
            severity: default_severity(),
            width: default_width(),
            depth: default_depth(),
            alpha: default_alpha(),
            all_ops: None,
            variant: AugMixVariant::Paper,
        }
    }
}

impl Validate for AugMix {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("severity", self.severity, 1, 10)?;
        check_range("width", self.width, 1, 16)?;
        if self.depth != -1 && !(1..=16).contains(&self.depth) {
            return Err(ConfigError::new(
                "depth",
                format!(
                    "is {}, allowed values are -1 (uniform in 1..=3) and 1..=16",
                    self.depth
                ),
            ));
        }
        if !self.alpha.is_finite() {
            return Err(ConfigError::new("alpha", "must be a finite number in 0.01..=100"));
        }
        check_range("alpha", self.alpha, 0.01, 100.0)
    }
}

/// Everything random about one AugMix application.
///
/// ```
/// use advbn_augmenters::{AugMixParams, ops::OpParams};
/// let p = AugMixParams {
///     chains: vec![vec![OpParams::Equalize, OpParams::Rotate { degrees: -7.0 }]],
///     weights: vec![1.0],
///     skip: 0.25,
/// };
/// let json = serde_json::to_string(&p).unwrap();
/// assert!(json.contains(r#"{"op":"rotate","degrees":-7.0}"#));
/// assert_eq!(serde_json::from_str::<AugMixParams>(&json).unwrap(), p);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugMixParams {
    /// Each chain's ops with their Pillow-level values, applied in order to the clean image.
    pub chains: Vec<Vec<OpParams>>,
    /// The chains' mixing weights (Dirichlet; sum 1), as f32 like the reference.
    pub weights: Vec<f32>,
    /// The weight `m` of the mixed chains against the clean image (Beta).
    pub skip: f32,
}

impl AugMix {
    /// Whether chains draw from all 13 ops: `all_ops`, or else the variant's default.
    pub fn uses_all_ops(&self) -> bool {
        self.all_ops.unwrap_or(self.variant == AugMixVariant::Torchvision)
    }

    /// The ops chains draw from.
    pub fn ops(&self) -> &'static [Op] {
        if self.uses_all_ops() { &Op::ALL } else { &Op::PAPER }
    }
}

impl Augment for AugMix {
    type Params = AugMixParams;
    type Output = FloatImage;

    /// Draw order: the `width` Dirichlet weights (normalized Gamma(alpha, 1) draws), `m`, then
    /// per chain its depth (when `depth = -1`) and per op its choice and its value.
    fn sample(&self, rng: &mut AugRng, size: ImageSize) -> AugMixParams {
        let alpha = self.alpha.clamp(0.01, 100.0);
        let gamma = Gamma::new(alpha, 1.0).expect("alpha is positive");
        let draws: Vec<f64> = (0..self.width.max(1)).map(|_| gamma.sample(rng)).collect();
        let total: f64 = draws.iter().sum();
        let weights = if total > 0.0 && total.is_finite() {
            draws.iter().map(|&g| (g / total) as f32).collect()
        } else {
            // Every Gamma draw underflowed (tiny alpha): fall back to equal weights.
            vec![1.0 / draws.len() as f32; draws.len()]
        };
        let skip = Beta::new(alpha, alpha).expect("alpha is positive").sample(rng) as f32;
        let ops = self.ops();
        let severity = f64::from(self.severity.clamp(1, 10));
        let chains = (0..self.width.max(1))
            .map(|_| {
                let depth = if self.depth > 0 {
                    self.depth as usize
                } else {
                    rng.random_range(1..=3)
                };
                (0..depth)
                    .map(|_| {
                        let op = ops[rng.random_range(0..ops.len())];
                        match self.variant {
                            AugMixVariant::Paper => op.sample(severity, rng, size),
                            AugMixVariant::Torchvision => op.sample_torchvision(self.severity, rng, size),
                        }
                    })
                    .collect()
            })
            .collect();
        AugMixParams {
            chains,
            weights,
            skip,
        }
    }

    fn apply(&self, image: &RgbImage, params: &AugMixParams) -> FloatImage {
        mix(image, params)
    }
}

/// The plain evaluation of AugMix params, op by op with the public op functions and the
/// reference's float arithmetic: `mix = sum_i w_i (chain_i / 255)`, then
/// `out = (1 - m) (x / 255) + m mix`. Slow; it documents the semantics and is what
/// [`AugMix::apply`] is tested against (they agree to within f32 rounding).
///
/// ```
/// use advbn_augmenters::{AugMixParams, mix_reference, ops::OpParams};
/// let img = image::RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 102]));
/// let p = AugMixParams { chains: vec![vec![OpParams::Solarize { threshold: 0 }]], weights: vec![1.0], skip: 0.5 };
/// let out = mix_reference(&img, &p);
/// assert_eq!(out.pixel(0, 0), [0.5, 0.5, 0.5]);
/// ```
pub fn mix_reference(image: &RgbImage, params: &AugMixParams) -> FloatImage {
    let to_float =
        |img: &RgbImage| -> Vec<f32> { img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect() };
    let mut mixed = vec![0.0f32; image.len()];
    for (chain, &w) in params.chains.iter().zip(&params.weights) {
        let mut img = image.clone();
        for op in chain {
            img = op.apply(&img);
        }
        for (m, v) in mixed.iter_mut().zip(to_float(&img)) {
            *m += w * v;
        }
    }
    let m = params.skip;
    let data = to_float(image)
        .iter()
        .zip(&mixed)
        .map(|(&x, &mx)| (1.0 - m) * x + m * mx)
        .collect();
    FloatImage::from_raw(ImageSize::of(image), data).expect("same length")
}

/// Reusable per-thread buffers, so that a batch allocates only its outputs.
#[derive(Default)]
struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    extra: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Where a chain's current image is.
#[derive(Clone, Copy, PartialEq)]
enum Cur {
    Clean,
    A,
    B,
}

/// Steps of posterize and solarize kept as arithmetic, at most this many in a row.
const MAX_STEPS: usize = 4;

/// One posterize or solarize, as arithmetic on a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// Posterize: `v & mask`.
    Mask(u8),
    /// Solarize below 256: `v < t ? v : 255 - v`.
    Solarize(u8),
    /// Solarize at 256 (or posterize at 8 bits): nothing.
    Nothing,
}

impl Step {
    fn of(op: &OpParams) -> Option<Step> {
        Some(match *op {
            OpParams::Posterize { bits } => Step::Mask(posterize_lut(bits.clamp(1, 8))[0][255]),
            OpParams::Solarize { threshold } if threshold < 256 => Step::Solarize(threshold as u8),
            OpParams::Solarize { .. } => Step::Nothing,
            _ => return None,
        })
    }

    #[inline(always)]
    fn map(self, v: u8) -> u8 {
        match self {
            Step::Mask(m) => v & m,
            Step::Solarize(t) => {
                if v < t {
                    v
                } else {
                    255 - v
                }
            }
            Step::Nothing => v,
        }
    }

    /// `dst = step(src)`, vectorized (one loop per kind of step).
    fn apply(self, src: &[u8], dst: &mut [u8]) {
        match self {
            Step::Mask(_) => dst
                .iter_mut()
                .zip(src)
                .for_each(|(d, &s)| *d = Step::map(self, s)),
            Step::Solarize(_) => dst
                .iter_mut()
                .zip(src)
                .for_each(|(d, &s)| *d = Step::map(self, s)),
            Step::Nothing => dst.copy_from_slice(src),
        }
    }

    /// `buf = step(buf)`.
    fn apply_in_place(self, buf: &mut [u8]) {
        match self {
            Step::Mask(_) => buf.iter_mut().for_each(|v| *v = Step::map(self, *v)),
            Step::Solarize(_) => buf.iter_mut().for_each(|v| *v = Step::map(self, *v)),
            Step::Nothing => {}
        }
    }
}

/// A chain's pending per-sample map: the point ops since its last geometric op, fused.
// It lives in a local of `mix`; boxing the table would allocate at every point op.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Pending {
    Identity,
    /// Only posterize and solarize: applied as vectorized arithmetic, step by step.
    Steps([Step; MAX_STEPS], usize),
    /// Anything else: one table per channel.
    Table(Lut),
}

impl Pending {
    fn is_identity(&self) -> bool {
        matches!(self, Pending::Identity)
    }

    /// The map as tables.
    fn table(&self) -> Lut {
        match self {
            Pending::Identity => crate::ops::IDENTITY,
            Pending::Steps(steps, n) => {
                let mut t = crate::ops::IDENTITY[0];
                for v in &mut t {
                    *v = steps[..*n].iter().fold(*v, |v, s| s.map(v));
                }
                [t, t, t]
            }
            Pending::Table(t) => *t,
        }
    }

    /// The map followed by `step`.
    fn then_step(self, step: Step) -> Pending {
        match self {
            Pending::Identity => Pending::Steps([step; MAX_STEPS], 1),
            Pending::Steps(mut steps, n) if n < MAX_STEPS => {
                steps[n] = step;
                Pending::Steps(steps, n + 1)
            }
            other => {
                let mut then = crate::ops::IDENTITY[0];
                for v in &mut then {
                    *v = step.map(*v);
                }
                Pending::Table(compose(&other.table(), &[then, then, then]))
            }
        }
    }

    /// `dst = map(src)`.
    fn apply(&self, src: &[u8], dst: &mut [u8]) {
        match self {
            Pending::Identity => dst.copy_from_slice(src),
            Pending::Steps(steps, n) => {
                steps[0].apply(src, dst);
                for s in &steps[1..*n] {
                    s.apply_in_place(dst);
                }
            }
            Pending::Table(t) => apply_lut_into(src, dst, t),
        }
    }
}

/// Adds `scale * table[c][v]` for every sample `v` of channel `c` of `src` into `acc`.
fn accumulate_lut(acc: &mut [f32], src: &[u8], lut: &Lut, scale: f32) {
    let mut table = [[0f32; 256]; 3];
    for c in 0..3 {
        for v in 0..256 {
            table[c][v] = scale * f32::from(lut[c][v]);
        }
    }
    for (a, s) in acc.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
        a[0] += table[0][s[0] as usize];
        a[1] += table[1][s[1] as usize];
        a[2] += table[2][s[2] as usize];
    }
}

/// Adds `scale * v` for every sample `v` of `src` into `acc`.
fn accumulate(acc: &mut [f32], src: &[u8], scale: f32) {
    #[inline(always)]
    fn plain(acc: &mut [f32], src: &[u8], scale: f32) {
        for (a, &s) in acc.iter_mut().zip(src) {
            *a += scale * f32::from(s);
        }
    }
    // The same loop compiled for AVX2 (wider vectors, the same IEEE operations: no fused
    // multiply-add, so the sums are bit-identical).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn wide(acc: &mut [f32], src: &[u8], scale: f32) {
        plain(acc, src, scale)
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { wide(acc, src, scale) };
    }
    plain(acc, src, scale)
}

/// `scale * v` for every sample `v` of `src`.
fn scaled(src: &[u8], scale: f32) -> Vec<f32> {
    #[inline(always)]
    fn plain(src: &[u8], scale: f32) -> Vec<f32> {
        src.iter().map(|&v| scale * f32::from(v)).collect()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn wide(src: &[u8], scale: f32) -> Vec<f32> {
        plain(src, scale)
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { wide(src, scale) };
    }
    plain(src, scale)
}

/// The fast evaluation of AugMix params (what [`AugMix::apply`] does); see the module docs.
///
/// # Panics
/// When `params.weights` is shorter than `params.chains`.
pub fn mix(image: &RgbImage, params: &AugMixParams) -> FloatImage {
    assert!(
        params.weights.len() >= params.chains.len(),
        "a weight per chain is needed"
    );
    let (w, h) = image.dimensions();
    let clean = image.as_raw().as_slice();
    let n = clean.len();
    let m = params.skip;
    let base = (1.0 - m) / 255.0;
    let mut acc = scaled(clean, base);
    let mut clean_hist: Option<Histogram> = None;
    let mut clean_ranges: Option<[[u8; 2]; 3]> = None;

    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let Scratch { a, b, extra } = &mut *scratch;
        a.resize(n, 0);
        b.resize(n, 0);
        for (chain, &weight) in params.chains.iter().zip(&params.weights) {
            let mut cur = Cur::Clean;
            let mut pending = Pending::Identity;
            for op in chain {
                if let Some(step) = Step::of(op) {
                    pending = pending.then_step(step);
                    continue;
                }
                if op.is_point_op() {
                    // Autocontrast needs only each channel's range: cheaper than a histogram,
                    // and exact through a pending table that never decreases.
                    let table = pending.table();
                    let ranges_do = *op == OpParams::Autocontrast
                        && !(cur == Cur::Clean && clean_hist.is_some())
                        && is_non_decreasing(&table);
                    let lut = if ranges_do {
                        let r = match cur {
                            Cur::Clean => *clean_ranges.get_or_insert_with(|| channel_ranges(clean)),
                            Cur::A => channel_ranges(a),
                            Cur::B => channel_ranges(b),
                        };
                        let r = [0, 1, 2].map(|c| [table[c][r[c][0] as usize], table[c][r[c][1] as usize]]);
                        autocontrast_lut_of_ranges(&r)
                    } else {
                        let needs_hist = matches!(op, OpParams::Autocontrast | OpParams::Equalize);
                        let hist = if needs_hist {
                            let h = match cur {
                                Cur::Clean => *clean_hist.get_or_insert_with(|| histogram(clean)),
                                Cur::A => histogram(a),
                                Cur::B => histogram(b),
                            };
                            match pending {
                                Pending::Identity => h,
                                _ => push_histogram(&h, &table),
                            }
                        } else {
                            [[0; 256]; 3]
                        };
                        op.lut(&hist).expect("a point op has a table")
                    };
                    pending = Pending::Table(compose(&table, &lut));
                    continue;
                }
                // A geometric or neighbourhood op: materialize any pending map first, then run
                // the op into the free buffer.
                let p = std::mem::replace(&mut pending, Pending::Identity);
                cur = match (cur, p.is_identity()) {
                    (Cur::Clean, true) => {
                        op.apply_into(clean, w, h, a, extra);
                        Cur::A
                    }
                    (Cur::Clean, false) => {
                        p.apply(clean, a);
                        op.apply_into(a, w, h, b, extra);
                        Cur::B
                    }
                    (Cur::A, true) => {
                        op.apply_into(a, w, h, b, extra);
                        Cur::B
                    }
                    (Cur::A, false) => {
                        p.apply(a, b);
                        op.apply_into(b, w, h, a, extra);
                        Cur::A
                    }
                    (Cur::B, true) => {
                        op.apply_into(b, w, h, a, extra);
                        Cur::A
                    }
                    (Cur::B, false) => {
                        p.apply(b, a);
                        op.apply_into(a, w, h, b, extra);
                        Cur::B
                    }
                };
            }
            let scale = m * weight / 255.0;
            match (&pending, cur) {
                (Pending::Identity, Cur::Clean) => accumulate(&mut acc, clean, scale),
                (Pending::Identity, Cur::A) => accumulate(&mut acc, a, scale),
                (Pending::Identity, Cur::B) => accumulate(&mut acc, b, scale),
                (Pending::Table(t), cur) => {
                    let src: &[u8] = match cur {
                        Cur::Clean => clean,
                        Cur::A => a,
                        Cur::B => b,
                    };
                    accumulate_lut(&mut acc, src, t, scale)
                }
                // Arithmetic steps: applied into the free buffer, then accumulated, both
                // vectorized.
                (steps, Cur::A) => {
                    steps.apply(a, b);
                    accumulate(&mut acc, b, scale)
                }
                (steps, cur) => {
                    steps.apply(if cur == Cur::B { b } else { clean }, a);
                    accumulate(&mut acc, a, scale)
                }
            }
        }
    });
    FloatImage::from_raw(ImageSize::new(w, h), acc).expect("same length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SampleKey;

    fn photo(w: u32, h: u32, seed: u32) -> RgbImage {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        RgbImage::from_fn(w, h, |x, y| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let n = (s >> 28) as u8;
            image::Rgb([
                (x * 7 + y) as u8 ^ n,
                (y * 5) as u8 + n,
                90 + ((x + y) % 50) as u8,
            ])
        })
    }

    fn max_abs_diff(a: &FloatImage, b: &FloatImage) -> f32 {
        a.as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn fast_path_equals_the_plain_evaluation() {
        let variants = [AugMixVariant::Paper, AugMixVariant::Torchvision];
        for (all_ops, variant) in [false, true].into_iter().flat_map(|a| variants.map(|v| (a, v))) {
            let augmix = AugMix {
                all_ops: Some(all_ops),
                variant,
                severity: 10,
                depth: -1,
                width: 4,
                ..AugMix::default()
            };
            for i in 0..150u64 {
                let (w, h) = [(32, 32), (17, 9), (1, 1), (3, 40)][i as usize % 4];
                let img = photo(w, h, i as u32);
                let params = augmix.sample(&mut SampleKey::new(3, 0, i).view(1).rng(), ImageSize::of(&img));
                let diff = max_abs_diff(&mix(&img, &params), &mix_reference(&img, &params));
                assert!(diff < 2e-6, "{diff} for {params:?}");
            }
        }
    }

    #[test]
    fn long_point_op_chains_fuse_correctly() {
        let img = photo(20, 12, 4);
        let params = AugMixParams {
            chains: vec![
                vec![
                    OpParams::Solarize { threshold: 100 },
                    OpParams::Autocontrast,
                    OpParams::Posterize { bits: 5 },
                    OpParams::Equalize,
                    OpParams::Rotate { degrees: 13.0 },
                    OpParams::Equalize,
                    OpParams::Brightness { factor: 1.4 },
                ],
                vec![OpParams::Equalize, OpParams::Autocontrast],
                vec![
                    OpParams::TranslateX { pixels: 3.0 },
                    OpParams::Solarize { threshold: 3 },
                ],
            ],
            weights: vec![0.2, 0.5, 0.3],
            skip: 0.9,
        };
        assert!(max_abs_diff(&mix(&img, &params), &mix_reference(&img, &params)) < 2e-6);
        // Posterize and solarize as arithmetic steps: alone, more than MAX_STEPS in a row,
        // before a geometric op, before autocontrast (solarize: not monotonic) and equalize.
        let p = |bits| OpParams::Posterize { bits };
        let sol = |threshold| OpParams::Solarize { threshold };
        let params = AugMixParams {
            chains: vec![
                vec![p(3)],
                vec![sol(100), p(5), sol(256), p(2), sol(7), p(6)],
                vec![
                    sol(120),
                    OpParams::Rotate { degrees: 7.0 },
                    p(4),
                    OpParams::Autocontrast,
                ],
                vec![p(3), sol(90), OpParams::Autocontrast, p(1), OpParams::Equalize],
                vec![
                    p(4),
                    OpParams::Autocontrast,
                    sol(200),
                    OpParams::TranslateY { pixels: 2.0 },
                ],
            ],
            weights: vec![0.1, 0.2, 0.3, 0.2, 0.2],
            skip: 0.6,
        };
        assert!(max_abs_diff(&mix(&img, &params), &mix_reference(&img, &params)) < 2e-6);
        // Autocontrast from channel ranges: on the clean image, after a table that never
        // decreases, after a geometric op, then a histogram for equalize.
        let params = AugMixParams {
            chains: vec![
                vec![OpParams::Autocontrast, OpParams::Equalize],
                vec![OpParams::Posterize { bits: 3 }, OpParams::Autocontrast],
                vec![
                    OpParams::Rotate { degrees: 13.0 },
                    OpParams::Brightness { factor: 1.4 },
                    OpParams::Autocontrast,
                    OpParams::Equalize,
                ],
                vec![OpParams::ShearY { factor: 0.2 }, OpParams::Autocontrast],
            ],
            weights: vec![0.1, 0.2, 0.3, 0.4],
            skip: 0.7,
        };
        assert!(max_abs_diff(&mix(&img, &params), &mix_reference(&img, &params)) < 2e-6);
    }

    #[test]
    fn skip_weight_zero_gives_the_clean_image() {
        let img = photo(8, 8, 1);
        let mut params = AugMix::default().sample(&mut crate::rng_from_seed(1), ImageSize::of(&img));
        params.skip = 0.0;
        // Up to f32 rounding: the fast path scales by a precomputed (1 - m) / 255.
        assert!(max_abs_diff(&mix(&img, &params), &FloatImage::from_rgb8(&img)) < 1e-6);
        params.skip = 1.0;
        assert!(max_abs_diff(&mix(&img, &params), &FloatImage::from_rgb8(&img)) > 0.01);
    }

    #[test]
    fn weights_are_a_distribution_and_depth_follows_the_config() {
        let mut rng = crate::rng_from_seed(2);
        let size = ImageSize::new(32, 32);
        let mut depths = [0usize; 4];
        for _ in 0..500 {
            let p = AugMix::default().sample(&mut rng, size);
            let sum: f32 = p.weights.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5 && p.weights.iter().all(|&w| w >= 0.0));
            assert!((0.0..=1.0).contains(&p.skip));
            for chain in &p.chains {
                depths[chain.len()] += 1;
                assert!(chain.iter().all(|op| Op::PAPER.contains(&op.op())));
            }
        }
        assert_eq!(depths[0], 0);
        assert!(depths[1..].iter().all(|&d| d > 350), "{depths:?}");
        let fixed = AugMix {
            depth: 5,
            width: 2,
            ..AugMix::default()
        }
        .sample(&mut rng, size);
        assert!(fixed.chains.iter().all(|c| c.len() == 5) && fixed.chains.len() == 2);
    }

    #[test]
    fn all_ops_draws_the_enhance_ops() {
        let mut rng = crate::rng_from_seed(4);
        let augmix = AugMix {
            all_ops: Some(true),
            ..AugMix::default()
        };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            for chain in augmix.sample(&mut rng, ImageSize::new(32, 32)).chains {
                seen.extend(chain.iter().map(|op| op.op()));
            }
        }
        assert_eq!(seen.len(), 13);
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        let bad = [
            (
                AugMix {
                    severity: 0,
                    ..AugMix::default()
                },
                "severity",
            ),
            (
                AugMix {
                    severity: 11,
                    ..AugMix::default()
                },
                "severity",
            ),
            (
                AugMix {
                    width: 0,
                    ..AugMix::default()
                },
                "width",
            ),
            (
                AugMix {
                    depth: 0,
                    ..AugMix::default()
                },
                "depth",
            ),
            (
                AugMix {
                    depth: -2,
                    ..AugMix::default()
                },
                "depth",
            ),
            (
                AugMix {
                    alpha: 0.0,
                    ..AugMix::default()
                },
                "alpha",
            ),
            (
                AugMix {
                    alpha: f64::NAN,
                    ..AugMix::default()
                },
                "alpha",
            ),
        ];
        for (config, key) in bad {
            assert_eq!(config.validate().unwrap_err().key, key, "{config:?}");
        }
        AugMix {
            depth: 16,
            width: 16,
            alpha: 0.01,
            severity: 10,
            ..AugMix::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: AugMix = serde_json::from_str("{}").unwrap();
        assert_eq!(c, AugMix::default());
        let c: AugMix =
            serde_json::from_str(r#"{"severity": 5, "all_ops": true, "variant": "paper"}"#).unwrap();
        assert_eq!((c.severity, c.all_ops), (5, Some(true)));
        assert!(serde_json::from_str::<AugMix>(r#"{"sevrity": 5}"#).is_err());
        let tv: AugMix = serde_json::from_str(r#"{"variant": "torchvision"}"#).unwrap();
        assert_eq!(
            (tv.variant, tv.uses_all_ops()),
            (AugMixVariant::Torchvision, true)
        );
        assert!(!AugMix::default().uses_all_ops());
        let tv9: AugMix = serde_json::from_str(r#"{"variant": "torchvision", "all_ops": false}"#).unwrap();
        assert_eq!(tv9.ops().len(), 9);
        let err = serde_json::from_str::<AugMix>(r#"{"variant": "timm"}"#).unwrap_err();
        assert!(err.to_string().contains("torchvision"), "{err}");
    }

    /// Every value torchvision's bins give at severity 10 on a 32x32 image, worked out by
    /// hand from `linspace(0, max, 10)`: the sampler must reach all of them and nothing else.
    #[test]
    fn torchvision_variant_draws_exactly_the_binned_values() {
        use std::collections::BTreeSet;
        let augmix = AugMix {
            variant: AugMixVariant::Torchvision,
            severity: 10,
            width: 4,
            depth: 3,
            ..AugMix::default()
        };
        let mut seen: std::collections::BTreeMap<&str, BTreeSet<i64>> = Default::default();
        // Values scaled to integers (x 1000) so that sets compare exactly up to rounding.
        let milli = |v: f64| (v * 1000.0).round() as i64;
        for i in 0..3000u64 {
            let params = augmix.sample(&mut SampleKey::new(9, 0, i).rng(), ImageSize::new(32, 32));
            for op in params.chains.iter().flatten() {
                let (name, value) = match *op {
                    OpParams::Posterize { bits } => ("posterize", i64::from(bits)),
                    OpParams::Solarize { threshold } => ("solarize", i64::from(threshold)),
                    OpParams::Rotate { degrees } => ("rotate", milli(degrees.abs())),
                    OpParams::ShearX { factor } | OpParams::ShearY { factor } => {
                        ("shear", milli(factor.abs()))
                    }
                    OpParams::TranslateX { pixels } | OpParams::TranslateY { pixels } => {
                        ("translate", milli(pixels.abs()))
                    }
                    OpParams::Color { factor }
                    | OpParams::Contrast { factor }
                    | OpParams::Brightness { factor }
                    | OpParams::Sharpness { factor } => ("enhance", milli(factor)),
                    OpParams::Autocontrast | OpParams::Equalize => ("point", 0),
                };
                seen.entry(name).or_default().insert(value);
            }
        }
        let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
        assert_eq!(seen["posterize"], set(&[1, 2, 3, 4]));
        assert_eq!(
            seen["solarize"],
            set(&[0, 29, 57, 85, 114, 142, 170, 199, 227, 255])
        );
        assert_eq!(
            seen["rotate"],
            set(&[0, 3333, 6667, 10000, 13333, 16667, 20000, 23333, 26667, 30000])
        );
        assert_eq!(
            seen["shear"],
            set(&[0, 33, 67, 100, 133, 167, 200, 233, 267, 300])
        );
        assert_eq!(
            seen["translate"],
            set(&[0, 1000, 2000, 3000, 4000, 5000, 7000, 8000, 9000, 10000])
        );
        let enhance: Vec<i64> = (-9..=9).map(|k| 1000 + 100 * k).collect();
        assert_eq!(seen["enhance"], set(&enhance));
    }

    #[test]
    fn torchvision_variant_bin_0_is_the_identity_for_geometry_and_enhance() {
        let augmix = AugMix {
            variant: AugMixVariant::Torchvision,
            severity: 1,
            ..AugMix::default()
        };
        let img = photo(16, 16, 2);
        for i in 0..200u64 {
            let params = augmix.sample(&mut SampleKey::new(1, 0, i).rng(), ImageSize::of(&img));
            for op in params.chains.iter().flatten() {
                // The point ops have no identity bin: posterize keeps 4 bits at bin 0, solarize
                // inverts 255 at threshold 255.
                let point = matches!(
                    op,
                    OpParams::Autocontrast
                        | OpParams::Equalize
                        | OpParams::Posterize { .. }
                        | OpParams::Solarize { .. }
                );
                if !point {
                    assert_eq!(op.apply(&img), img, "{op:?} at bin 0");
                }
            }
        }
    }
}
