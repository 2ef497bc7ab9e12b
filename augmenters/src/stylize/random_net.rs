//! Random-network stylization (the Noise2Net / "random convolutional network" family): the
//! image is passed through a small convolutional network whose weights are drawn afresh for
//! every sample, and the network's output, brought back to the image's brightness and
//! contrast, is blended with the image.
//!
//! The network, for `layers = n` and `width = c`: `n` convolutions of 3x3, stride 1, zero
//! padding, no bias: 3 -> c -> ... -> c -> 3 channels (one layer: 3 -> 3), each followed by
//! the activation except the last. Weights `~ N(0, gain^2 / fan_in)` with `fan_in = 9 c_in`.
//! The input is centred, `x - 0.5` (so the zero padding is mid-grey). The activation is `tanh`
//! (default: with `gain` 2 its saturation gives strong non-linear colour and texture changes)
//! or leaky ReLU with slope 0.2 (positively homogeneous, so then `gain` has no effect: the
//! output is normalized).
//!
//! Normalization: the output `y` (all three channels together) is shifted and scaled to the
//! input's overall mean and standard deviation, `y' = (y - mean_y) std_x / std_y + mean_x`
//! (a flat output, `std_y < 1e-6`, becomes `mean_x`), so that the network changes colours and
//! textures but not the overall exposure. Then `out = clamp((1 - s) x + s y', 0, 1)` with the
//! strength `s ~ U(strength)`; `s = 0` is the identity.
//!
//! The params hold a 64-bit seed rather than the ~1,000 weights: `apply` regenerates them with
//! [`RandomNet::weights`], which draws from [`crate::rng_from_seed`]`(seed)` (ChaCha8,
//! portable), layer by layer, each in `[out][in][row][column]` order. [`RandomNet::stylize`]
//! takes explicit weights for tests and tools.

use image::RgbImage;
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::conv::{CONV_SCRATCH, conv_same};
use super::{applies, check_interval, check_probability, draw, fastmath};
use crate::{AugRng, Augment, ConfigError, FloatImage, ImageSize, Validate, check_range, rng_from_seed};

/// The non-linearity between layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `tanh(v)` (evaluated to within 3e-7).
    #[default]
    Tanh,
    /// `v` for `v >= 0`, `0.2 v` otherwise.
    LeakyRelu,
}

impl Activation {
    /// Applies the activation to every value (one tight loop per kind, compiled for AVX2
    /// where the CPU has it: the same operations on wider vectors, so the same bits).
    fn apply_all(self, values: &mut [f32]) {
        #[inline(always)]
        fn plain(activation: Activation, values: &mut [f32]) {
            match activation {
                Activation::Tanh => values.iter_mut().for_each(|v| *v = fastmath::tanh(*v)),
                Activation::LeakyRelu => values
                    .iter_mut()
                    .for_each(|v| *v = if *v >= 0.0 { *v } else { 0.2 * *v }),
            }
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn wide(activation: Activation, values: &mut [f32]) {
            plain(activation, values)
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { wide(self, values) };
        }
        plain(self, values)
    }
}

/// Random-network stylization configuration (recipe `kind = "random_net"`).
///
/// ```
/// use advbn_augmenters::{Augment, SampleKey, ImageSize, Validate, stylize::RandomNet};
/// let net = RandomNet::default(); // 3 layers of width 8, tanh, gain 2, strength [0.3, 0.7]
/// net.validate().unwrap();
/// let img = image::RgbImage::from_fn(12, 12, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 90]));
/// let params = net.sample(&mut SampleKey::new(0, 0, 0).view(1).rng(), ImageSize::of(&img));
/// let out = net.apply(&img, &params);
/// assert!(out.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomNet {
    /// Number of 3x3 convolutions, 1..=6.
    #[serde(default = "default_layers")]
    pub layers: u32,
    /// Channels of the hidden layers, 1..=32.
    #[serde(default = "default_width")]
    pub width: u32,
    /// The activation between layers.
    #[serde(default)]
    pub activation: Activation,
    /// Weight scale: weights `~ N(0, gain^2 / fan_in)`, gain in 0.01..=10.
    #[serde(default = "default_gain")]
    pub gain: f32,
    /// Range of the blend strength, within [0, 1].
    #[serde(default = "default_strength")]
    pub strength: [f32; 2],
    /// Probability of applying at all (otherwise strength 0).
    #[serde(default = "default_p")]
    pub p: f64,
}

fn default_layers() -> u32 {
    3
}
fn default_width() -> u32 {
    8
}
fn default_gain() -> f32 {
    2.0
}
fn default_strength() -> [f32; 2] {
    [0.3, 0.7]
}
fn default_p() -> f64 {
    1.0
}

impl Default for RandomNet {
    fn default() -> Self {
        Self {
            layers: default_layers(),
            width: default_width(),
            activation: Activation::default(),
            gain: default_gain(),
            strength: default_strength(),
            p: default_p(),
        }
    }
}

impl Validate for RandomNet {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("layers", self.layers, 1, 6)?;
        check_range("width", self.width, 1, 32)?;
        if !self.gain.is_finite() {
            return Err(ConfigError::new("gain", "must be a finite number in 0.01..=10"));
        }
        check_range("gain", self.gain, 0.01, 10.0)?;
        check_interval("strength", self.strength, 0.0, 1.0)?;
        check_probability("p", self.p)
    }
}

/// Everything random about one application: the seed of the weights and the strength.
///
/// ```
/// use advbn_augmenters::stylize::RandomNetParams;
/// let p = RandomNetParams { seed: 12345678901234567890, strength: 0.5 };
/// assert_eq!(serde_json::from_str::<RandomNetParams>(&serde_json::to_string(&p).unwrap()).unwrap(), p);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomNetParams {
    /// Seed of the network's weights ([`RandomNet::weights`]).
    pub seed: u64,
    /// Blend strength (0 = identity).
    pub strength: f32,
}

/// One convolution of a [`RandomNetWeights`].
#[derive(Clone, Debug, PartialEq)]
pub struct ConvLayer {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// `cout * cin * 9` weights, `[out][in][row][column]`.
    pub weights: Vec<f32>,
}

/// The weights of one random network.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomNetWeights {
    /// The convolutions, input first; the first has `cin = 3`, the last `cout = 3`.
    pub layers: Vec<ConvLayer>,
}

impl RandomNet {
    /// The channel counts of each layer, `(cin, cout)`.
    fn shapes(&self) -> Vec<(usize, usize)> {
        let n = self.layers.clamp(1, 6) as usize;
        let c = self.width.clamp(1, 32) as usize;
        (0..n)
            .map(|l| (if l == 0 { 3 } else { c }, if l + 1 == n { 3 } else { c }))
            .collect()
    }

    /// The weights that `seed` stands for (see the module docs).
    pub fn weights(&self, seed: u64) -> RandomNetWeights {
        let mut rng = rng_from_seed(seed);
        let layers = self
            .shapes()
            .into_iter()
            .map(|(cin, cout)| {
                let std = self.gain / (9.0 * cin as f32).sqrt();
                let normal = Normal::new(0.0f32, std.max(f32::MIN_POSITIVE)).expect("positive std");
                ConvLayer {
                    cin,
                    cout,
                    weights: (0..cout * cin * 9).map(|_| normal.sample(&mut rng)).collect(),
                }
            })
            .collect();
        RandomNetWeights { layers }
    }

    /// Runs the network with explicit weights, normalizes and blends with `strength` (see the
    /// module docs).
    ///
    /// ```
    /// use advbn_augmenters::stylize::{RandomNet, RandomNetWeights, ConvLayer};
    /// // One layer whose centre taps swap red and blue: the normalized output is the swapped
    /// // image (same overall mean and spread), blended half way.
    /// let mut weights = vec![0.0; 81];
    /// for (o, i) in [(0, 2), (1, 1), (2, 0)] { weights[(o * 3 + i) * 9 + 4] = 1.0; }
    /// let net = RandomNetWeights { layers: vec![ConvLayer { cin: 3, cout: 3, weights }] };
    /// let img = image::RgbImage::from_fn(4, 4, |x, y| image::Rgb([200, 40 * x as u8, 10 * y as u8]));
    /// let out = RandomNet::default().stylize(&img, &net, 0.5);
    /// let p = img.get_pixel(1, 2).0.map(|v| v as f32 / 255.0);
    /// let want = [0.5 * (p[0] + p[2]), p[1], 0.5 * (p[2] + p[0])];
    /// assert!(out.pixel(1, 2).iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5));
    /// ```
    ///
    /// # Panics
    /// When the layers do not chain from 3 channels to 3 channels with `cout * cin * 9`
    /// weights each.
    pub fn stylize(&self, image: &RgbImage, net: &RandomNetWeights, strength: f32) -> FloatImage {
        if strength == 0.0 {
            return FloatImage::from_rgb8(image);
        }
        let mut channels = 3;
        for layer in &net.layers {
            assert!(
                layer.cin == channels && layer.weights.len() == layer.cout * layer.cin * 9,
                "random network layers must chain from 3 channels with cout * cin * 9 weights"
            );
            channels = layer.cout;
        }
        assert_eq!(channels, 3, "the last layer must give 3 channels");
        let (w, h) = (image.width() as usize, image.height() as usize);
        let plane = w * h;
        let raw = image.as_raw();
        let mut data = vec![0.0f32; 3 * plane];
        CONV_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let scratch = &mut *scratch;
            let (a, b, padded) = (&mut scratch.a, &mut scratch.b, &mut scratch.padded);
            a.clear();
            a.resize(3 * plane, 0.0);
            let (mut sum_x, mut sq_x) = (0.0f64, 0.0f64);
            for (i, px) in raw.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    let v = f32::from(px[c]) / 255.0;
                    sum_x += f64::from(v);
                    sq_x += f64::from(v) * f64::from(v);
                    a[c * plane + i] = v - 0.5;
                }
            }
            let last = net.layers.len().saturating_sub(1);
            for (l, layer) in net.layers.iter().enumerate() {
                b.clear();
                b.resize(layer.cout * plane, 0.0);
                conv_same(a, layer.cin, w, h, &layer.weights, 3, layer.cout, b, padded);
                if l != last {
                    self.activation.apply_all(b);
                }
                std::mem::swap(a, b);
            }
            // `a` holds the network's 3 output planes.
            let n = (3 * plane) as f64;
            let mean_x = sum_x / n;
            let std_x = (sq_x / n - mean_x * mean_x).max(0.0).sqrt();
            let (mut sum_y, mut sq_y) = (0.0f64, 0.0f64);
            for &v in a[..3 * plane].iter() {
                sum_y += f64::from(v);
                sq_y += f64::from(v) * f64::from(v);
            }
            let mean_y = sum_y / n;
            let std_y = (sq_y / n - mean_y * mean_y).max(0.0).sqrt();
            let scale = if std_y >= 1e-6 {
                (std_x / std_y) as f32
            } else {
                0.0
            };
            let (mean_x, mean_y) = (mean_x as f32, mean_y as f32);
            for (i, (out, px)) in data.chunks_exact_mut(3).zip(raw.chunks_exact(3)).enumerate() {
                for c in 0..3 {
                    let y = (a[c * plane + i] - mean_y) * scale + mean_x;
                    let x = f32::from(px[c]) / 255.0;
                    out[c] = ((1.0 - strength) * x + strength * y).clamp(0.0, 1.0);
                }
            }
        });
        FloatImage::from_raw(ImageSize::new(w as u32, h as u32), data).expect("3 samples per pixel")
    }
}

impl Augment for RandomNet {
    type Params = RandomNetParams;
    type Output = FloatImage;

    /// Draw order: applied (one f64), the seed (one u64), the strength (one f32).
    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> RandomNetParams {
        let applied = applies(rng, self.p);
        let seed: u64 = rng.random();
        let strength = draw(rng, self.strength);
        RandomNetParams {
            seed,
            strength: if applied { strength } else { 0.0 },
        }
    }

    fn apply(&self, image: &RgbImage, params: &RandomNetParams) -> FloatImage {
        if params.strength == 0.0 {
            return FloatImage::from_rgb8(image);
        }
        self.stylize(image, &self.weights(params.seed), params.strength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centre_identity(cin: usize, cout: usize) -> Vec<f32> {
        let mut w = vec![0.0; cout * cin * 9];
        for o in 0..cout.min(cin) {
            w[(o * cin + o) * 9 + 4] = 1.0;
        }
        w
    }

    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 37 % 256) as u8,
                (y * 53 % 256) as u8,
                ((x + y) * 19 % 256) as u8,
            ])
        })
    }

    #[test]
    fn identity_layers_with_tanh_by_hand() {
        // Two layers of centre-tap identities with tanh between: y = tanh(x - 0.5), then
        // normalized to x's overall mean and spread; computed here independently in f64.
        let net = RandomNetWeights {
            layers: vec![
                ConvLayer {
                    cin: 3,
                    cout: 3,
                    weights: centre_identity(3, 3),
                },
                ConvLayer {
                    cin: 3,
                    cout: 3,
                    weights: centre_identity(3, 3),
                },
            ],
        };
        let img = picture(5, 4);
        let out = RandomNet::default().stylize(&img, &net, 1.0);
        let x: Vec<f64> = img.as_raw().iter().map(|&v| f64::from(v) / 255.0).collect();
        let y: Vec<f64> = x.iter().map(|v| (v - 0.5).tanh()).collect();
        let stats = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let s = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt();
            (m, s)
        };
        let ((mx, sx), (my, sy)) = (stats(&x), stats(&y));
        for (got, yi) in out.as_slice().iter().zip(&y) {
            let want = ((yi - my) * sx / sy + mx).clamp(0.0, 1.0);
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn weights_are_a_function_of_the_seed_with_the_configured_spread() {
        let net = RandomNet::default();
        assert_eq!(net.weights(7), net.weights(7));
        assert_ne!(net.weights(7), net.weights(8));
        let shapes: Vec<_> = net.weights(1).layers.iter().map(|l| (l.cin, l.cout)).collect();
        assert_eq!(shapes, vec![(3, 8), (8, 8), (8, 3)]);
        let one = RandomNet {
            layers: 1,
            ..RandomNet::default()
        };
        assert_eq!(one.weights(1).layers[0].weights.len(), 81);
        // Second layer: fan_in 72, std 2 / sqrt(72) = 0.2357.
        let mut values = Vec::new();
        for seed in 0..50 {
            values.extend(net.weights(seed).layers[1].weights.iter().map(|&v| f64::from(v)));
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        assert!((std - 2.0 / 72f64.sqrt()).abs() < 0.005, "{std}");
    }

    #[test]
    fn the_output_has_the_inputs_mean_and_spread_when_nothing_clamps() {
        let img = RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([100 + x as u8 * 3, 110 + y as u8 * 2, 120])
        });
        let net = RandomNet {
            activation: Activation::LeakyRelu,
            ..RandomNet::default()
        };
        let out = net.stylize(&img, &net.weights(3), 1.0);
        let stats = |v: &[f32]| {
            let n = v.len() as f64;
            let m = v.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
            let s = (v.iter().map(|&a| (f64::from(a) - m).powi(2)).sum::<f64>() / n).sqrt();
            (m, s)
        };
        let x: Vec<f32> = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        let (mx, sx) = stats(&x);
        if out.as_slice().iter().all(|v| *v > 0.0 && *v < 1.0) {
            let (my, sy) = stats(out.as_slice());
            assert!((mx - my).abs() < 1e-5 && (sx - sy).abs() < 1e-5);
        } else {
            panic!("choose an image that does not clamp");
        }
        assert_ne!(out, FloatImage::from_rgb8(&img));
    }

    #[test]
    fn validation_names_the_key() {
        let d = RandomNet::default();
        for (bad, key) in [
            (
                RandomNet {
                    layers: 0,
                    ..d.clone()
                },
                "layers",
            ),
            (
                RandomNet {
                    layers: 7,
                    ..d.clone()
                },
                "layers",
            ),
            (
                RandomNet {
                    width: 0,
                    ..d.clone()
                },
                "width",
            ),
            (
                RandomNet {
                    width: 33,
                    ..d.clone()
                },
                "width",
            ),
            (
                RandomNet {
                    gain: 0.0,
                    ..d.clone()
                },
                "gain",
            ),
            (
                RandomNet {
                    gain: f32::INFINITY,
                    ..d.clone()
                },
                "gain",
            ),
            (
                RandomNet {
                    strength: [0.0, 2.0],
                    ..d.clone()
                },
                "strength",
            ),
            (RandomNet { p: -1.0, ..d.clone() }, "p"),
        ] {
            assert_eq!(bad.validate().unwrap_err().key, key);
        }
        assert!(serde_json::from_str::<RandomNet>(r#"{"activation": "relu"}"#).is_err());
        let leaky: RandomNet = serde_json::from_str(r#"{"activation": "leaky_relu"}"#).unwrap();
        assert_eq!(leaky.activation, Activation::LeakyRelu);
    }
}
