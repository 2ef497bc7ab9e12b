//! RandConv (Xu et al., "Robust and Generalizable Visual Representation Learning via Random
//! Convolutions", ICLR 2021): the image convolved with a random kernel, mixed with the input.
//!
//! One application:
//! 1. a kernel size `k` drawn uniformly from `kernel_sizes` (the paper's {1, 3, 5, 7});
//! 2. `3 x 3 x k x k` weights (3 output channels over 3 input channels), each
//!    `~ N(0, 1 / (3 k^2))`, i.e. variance `1 / fan_in`: the paper's Kaiming-normal draw, which
//!    keeps the output's spread close to the input's;
//! 3. the paper convolves the *normalized* input `(x - m) / s` (zero padding, no bias) and, with
//!    its `clamp_output`, clamps to the normalized image of [0, 1]. In pixel space that is
//!    `m + conv(x - m)` clamped to [0, 1] (the `s` cancels: the convolution is linear), with
//!    padding by the value `m`. Here `m` is the config's `center` (default 0.5 per channel,
//!    the middle of the range; a dataset mean is the paper's choice), and that is the
//!    documented rescaling: **centre, convolve, un-centre, clamp to [0, 1]**. Min-max
//!    stretching was not chosen because it would make every output full-contrast whatever the
//!    kernel;
//! 4. the paper's mixing, `alpha x + (1 - alpha) conv` with `alpha ~ U(0, 1)`, written here
//!    with the weight of the convolved image, `strength ~ U(strength)`:
//!    `out = (1 - strength) x + strength clamp(conv)`. The default `strength = [0, 1]` is the
//!    paper's mixing; `[1, 1]` is RandConv without mixing; strength 0 is the identity.
//!
//! The params hold the kernel weights themselves (at most 441 numbers for `k = 7`), so an
//! application replays and can be tested with explicit kernels.

use image::RgbImage;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::conv::{CONV_SCRATCH, conv_same};
use super::{applies, check_interval, check_probability, draw};
use crate::{AugRng, Augment, ConfigError, FloatImage, ImageSize, Validate};

/// RandConv configuration (recipe `kind = "randconv"`).
///
/// ```
/// use advbn_augmenters::{Augment, SampleKey, ImageSize, Validate, stylize::RandConv};
/// let rc: RandConv = serde_json::from_str(r#"{"kernel_sizes": [3], "strength": [1.0, 1.0]}"#).unwrap();
/// rc.validate().unwrap();
/// let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
/// let params = rc.sample(&mut SampleKey::new(0, 0, 0).view(1).rng(), ImageSize::of(&img));
/// assert_eq!((params.kernel_size, params.weights.len(), params.strength), (3, 81, 1.0));
/// let out = rc.apply(&img, &params);
/// assert!(out.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandConv {
    /// The kernel sizes drawn from, uniformly: odd numbers in 1..=15, at least one.
    #[serde(default = "default_kernel_sizes")]
    pub kernel_sizes: Vec<u32>,
    /// The range of the weight of the convolved image against the input, within [0, 1].
    #[serde(default = "default_strength")]
    pub strength: [f32; 2],
    /// The per-channel centre `m` that the convolution works around (and pads with), in [0, 1].
    #[serde(default = "default_center")]
    pub center: [f32; 3],
    /// Probability of applying at all (otherwise strength 0).
    #[serde(default = "default_p")]
    pub p: f64,
}

fn default_kernel_sizes() -> Vec<u32> {
    vec![1, 3, 5, 7]
}
fn default_strength() -> [f32; 2] {
    [0.0, 1.0]
}
fn default_center() -> [f32; 3] {
    [0.5; 3]
}
fn default_p() -> f64 {
    1.0
}

impl Default for RandConv {
    fn default() -> Self {
        Self {
            kernel_sizes: default_kernel_sizes(),
            strength: default_strength(),
            center: default_center(),
            p: default_p(),
        }
    }
}

/// The largest kernel size accepted.
pub const MAX_KERNEL_SIZE: u32 = 15;

impl Validate for RandConv {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.kernel_sizes.is_empty() {
            return Err(ConfigError::new(
                "kernel_sizes",
                "is empty, give at least one odd size",
            ));
        }
        if let Some(&bad) = self
            .kernel_sizes
            .iter()
            .find(|&&k| k.is_multiple_of(2) || !(1..=MAX_KERNEL_SIZE).contains(&k))
        {
            return Err(ConfigError::new(
                "kernel_sizes",
                format!("contains {bad}, sizes must be odd numbers in 1..={MAX_KERNEL_SIZE}"),
            ));
        }
        check_interval("strength", self.strength, 0.0, 1.0)?;
        if let Some(c) = self.center.iter().find(|c| !(0.0..=1.0).contains(*c)) {
            return Err(ConfigError::new(
                "center",
                format!("contains {c:?}, allowed range is 0.0..=1.0"),
            ));
        }
        check_probability("p", self.p)
    }
}

/// Everything random about one RandConv application.
///
/// ```
/// use advbn_augmenters::stylize::RandConvParams;
/// let p = RandConvParams { kernel_size: 1, weights: vec![0.0; 9], strength: 0.5 };
/// let json = serde_json::to_string(&p).unwrap();
/// assert_eq!(serde_json::from_str::<RandConvParams>(&json).unwrap(), p);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandConvParams {
    /// Odd kernel size `k`.
    pub kernel_size: u32,
    /// `3 * 3 * k * k` weights, `[out channel][in channel][row][column]` row-major (empty when
    /// `strength` is 0).
    pub weights: Vec<f32>,
    /// Weight of the convolved image against the input (0 = identity).
    pub strength: f32,
}

impl RandConvParams {
    /// The params of "not applied".
    pub fn identity() -> Self {
        Self {
            kernel_size: 1,
            weights: Vec::new(),
            strength: 0.0,
        }
    }
}

impl Augment for RandConv {
    type Params = RandConvParams;
    type Output = FloatImage;

    /// Draw order: applied (one f64), kernel size index, strength (one f32), then the weights
    /// in their storage order.
    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> RandConvParams {
        if !applies(rng, self.p) || self.kernel_sizes.is_empty() {
            return RandConvParams::identity();
        }
        let k = self.kernel_sizes[rand::RngExt::random_range(rng, 0..self.kernel_sizes.len())];
        // An unvalidated size becomes the odd size at or below it, within 1..=15.
        let k = (k.clamp(1, MAX_KERNEL_SIZE) - 1) / 2 * 2 + 1;
        let strength = draw(rng, self.strength);
        let std = 1.0 / (k as f32 * 3f32.sqrt());
        let normal = Normal::new(0.0f32, std).expect("a positive standard deviation");
        let weights = (0..9 * k * k).map(|_| normal.sample(rng)).collect();
        RandConvParams {
            kernel_size: k,
            weights,
            strength,
        }
    }

    /// # Panics
    /// When `strength > 0` and `weights` does not hold `9 k^2` values for an odd `k` (params
    /// that `sample` cannot return).
    fn apply(&self, image: &RgbImage, params: &RandConvParams) -> FloatImage {
        randconv(image, params, self.center)
    }
}

/// RandConv with explicit params around `center` (see the module docs):
/// `out = (1 - s) x + s clamp(m + conv(x - m), 0, 1)`.
///
/// ```
/// use advbn_augmenters::stylize::{randconv, RandConvParams};
/// // A 1x1 kernel that swaps red and blue, on a constant image.
/// let mut weights = vec![0.0; 9];
/// weights[0 * 3 + 2] = 1.0; // red out <- blue in
/// weights[1 * 3 + 1] = 1.0; // green out <- green in
/// weights[2 * 3 + 0] = 1.0; // blue out <- red in
/// let img = image::RgbImage::from_pixel(3, 2, image::Rgb([255, 255, 0]));
/// let out = randconv(&img, &RandConvParams { kernel_size: 1, weights, strength: 1.0 }, [0.5; 3]);
/// assert_eq!(out.pixel(2, 1), [0.0, 1.0, 1.0]);
/// ```
///
/// # Panics
/// When `params.strength > 0` and `params.weights` does not hold `9 k^2` values for an odd
/// `k`.
pub fn randconv(image: &RgbImage, params: &RandConvParams, center: [f32; 3]) -> FloatImage {
    let s = params.strength;
    if s == 0.0 {
        return FloatImage::from_rgb8(image);
    }
    let k = params.kernel_size as usize;
    assert!(
        !k.is_multiple_of(2) && params.weights.len() == 9 * k * k,
        "RandConv params need an odd kernel size and 9 k^2 weights"
    );
    let (w, h) = (image.width() as usize, image.height() as usize);
    let plane = w * h;
    let raw = image.as_raw();
    let mut data = vec![0.0f32; 3 * plane];
    CONV_SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let scratch = &mut *scratch;
        scratch.a.clear();
        scratch.a.resize(3 * plane, 0.0);
        for (i, px) in raw.chunks_exact(3).enumerate() {
            for c in 0..3 {
                scratch.a[c * plane + i] = f32::from(px[c]) / 255.0 - center[c];
            }
        }
        scratch.b.clear();
        scratch.b.resize(3 * plane, 0.0);
        conv_same(
            &scratch.a,
            3,
            w,
            h,
            &params.weights,
            k,
            3,
            &mut scratch.b,
            &mut scratch.padded,
        );
        for (i, (out, px)) in data.chunks_exact_mut(3).zip(raw.chunks_exact(3)).enumerate() {
            for c in 0..3 {
                let conv = (center[c] + scratch.b[c * plane + i]).clamp(0.0, 1.0);
                out[c] = (1.0 - s) * (f32::from(px[c]) / 255.0) + s * conv;
            }
        }
    });
    FloatImage::from_raw(ImageSize::new(w as u32, h as u32), data).expect("3 samples per pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_from_seed;

    #[test]
    fn weights_have_the_papers_variance() {
        let rc = RandConv {
            kernel_sizes: vec![3],
            strength: [1.0, 1.0],
            ..RandConv::default()
        };
        let mut rng = rng_from_seed(1);
        let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
        for _ in 0..400 {
            let p = rc.sample(&mut rng, ImageSize::new(8, 8));
            assert_eq!(p.weights.len(), 81);
            for &w in &p.weights {
                n += 1.0;
                sum += f64::from(w);
                sq += f64::from(w) * f64::from(w);
            }
        }
        let mean = sum / n;
        let var = sq / n - mean * mean;
        // 1 / (3 * 9) = 0.037; 32400 draws give a relative standard error of about 0.8%.
        assert!(mean.abs() < 0.005, "{mean}");
        assert!((var - 1.0 / 27.0).abs() < 0.002, "{var}");
    }

    #[test]
    fn every_kernel_size_is_drawn_and_p_zero_is_the_identity() {
        let mut rng = rng_from_seed(2);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(
                RandConv::default()
                    .sample(&mut rng, ImageSize::new(4, 4))
                    .kernel_size,
            );
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 3, 5, 7]);
        let off = RandConv {
            p: 0.0,
            ..RandConv::default()
        };
        assert_eq!(
            off.sample(&mut rng, ImageSize::new(4, 4)),
            RandConvParams::identity()
        );
    }

    #[test]
    fn a_3x3_kernel_on_a_constant_image_by_hand() {
        // Every weight 0.1 from the red input only, into every output channel.
        let mut weights = vec![0.0; 81];
        for o in 0..3 {
            for t in 0..9 {
                weights[(o * 3) * 9 + t] = 0.1;
            }
        }
        let img = RgbImage::from_pixel(4, 3, image::Rgb([204, 0, 0])); // red 0.8
        let p = RandConvParams {
            kernel_size: 3,
            weights,
            strength: 1.0,
        };
        let out = randconv(&img, &p, [0.5; 3]);
        // Interior: 0.5 + 9 * 0.1 * (0.8 - 0.5) = 0.77 in every channel.
        for c in out.pixel(1, 1) {
            assert!((c - 0.77).abs() < 1e-6, "{c}");
        }
        // Corner: 4 taps inside, the padding is the centre (contributes 0): 0.5 + 0.12.
        for c in out.pixel(0, 0) {
            assert!((c - 0.62).abs() < 1e-6, "{c}");
        }
        // Edge (not corner): 6 taps inside.
        for c in out.pixel(1, 0) {
            assert!((c - 0.68).abs() < 1e-6, "{c}");
        }
        // Mixing: strength 0.25 -> 0.75 x + 0.25 conv, per channel.
        let mixed = randconv(
            &img,
            &RandConvParams {
                strength: 0.25,
                ..p.clone()
            },
            [0.5; 3],
        );
        let expect = [0.75 * 0.8 + 0.25 * 0.77, 0.25 * 0.77, 0.25 * 0.77];
        for (a, b) in mixed.pixel(2, 1).iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn output_is_clamped_to_the_valid_range() {
        // A gain of 10 on every channel drives bright pixels past 1 and dark ones below 0.
        let mut weights = vec![0.0; 9];
        for c in 0..3 {
            weights[c * 3 + c] = 10.0;
        }
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 0 } else { 255 }; 3]));
        let out = randconv(
            &img,
            &RandConvParams {
                kernel_size: 1,
                weights,
                strength: 1.0,
            },
            [0.5; 3],
        );
        assert_eq!(out.pixel(0, 0), [0.0; 3]);
        assert_eq!(out.pixel(1, 0), [1.0; 3]);
    }

    #[test]
    fn validation_names_the_key() {
        let cases = [
            (
                RandConv {
                    kernel_sizes: vec![],
                    ..RandConv::default()
                },
                "kernel_sizes",
            ),
            (
                RandConv {
                    kernel_sizes: vec![3, 4],
                    ..RandConv::default()
                },
                "kernel_sizes",
            ),
            (
                RandConv {
                    kernel_sizes: vec![17],
                    ..RandConv::default()
                },
                "kernel_sizes",
            ),
            (
                RandConv {
                    strength: [0.5, 1.5],
                    ..RandConv::default()
                },
                "strength",
            ),
            (
                RandConv {
                    center: [0.5, -0.1, 0.5],
                    ..RandConv::default()
                },
                "center",
            ),
            (
                RandConv {
                    p: 2.0,
                    ..RandConv::default()
                },
                "p",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().key, key, "{config:?}");
        }
        RandConv::default().validate().unwrap();
    }
}
