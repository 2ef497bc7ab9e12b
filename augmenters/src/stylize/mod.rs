//! Image-space stylizers that need no pretrained weights: random convolutions
//! ([`RandConv`], `kind = "randconv"`), amplitude-spectrum mixing ([`FourierMix`],
//! `kind = "fourier_mix"`), Reinhard colour transfer ([`ColorTransfer`],
//! `kind = "color_transfer"`) and a randomly initialised convolutional network
//! ([`RandomNet`], `kind = "random_net"`).
//!
//! All four follow the crate's contract ([`crate::Augment`]): a validated config, a `sample`
//! that draws everything random into plain serde params, a pure `apply`. All four are
//! per-view pipeline stages (`shared = false`) with float output ([`FloatImage`], f32 in
//! [0, 1]), and each is the identity (up to the u8 -> f32 conversion) when its strength
//! parameter is 0. Each has a probability `p` of being applied at all (default 1); when it is
//! not applied, its params carry strength 0.
//!
//! # Partner images
//!
//! [`FourierMix`] and [`ColorTransfer`] move an image towards the style of a *partner*: in the
//! papers, another sample of the batch. Augmentation here is per sample and must give the
//! same bytes whatever the batch composition, its order and the thread count, so the partner
//! cannot be "whoever is next in the batch". Instead:
//! - the partner is an input of `apply`, through [`StageContext`] and
//!   [`Augment::apply_with`] (plain `apply` means "no partner");
//! - a pipeline passes one partner per sample to every partner-using stage of every view
//!   ([`Pipeline::apply_with`](crate::Pipeline::apply_with),
//!   [`augment_batch_with_partners`](crate::augment_batch_with_partners));
//! - the caller chooses it as a function of the sample alone: normally the dataset image at
//!   [`SampleKey::partner_index`](crate::SampleKey::partner_index) (uniform over the other
//!   images, redrawn every epoch from the sample's own stream), or a fixed style image;
//! - the partner is used as stored (not through the sample's shared crop and flip) and at any
//!   size: each stylizer documents how it brings it to the image's size;
//! - without a partner each stylizer falls back to a documented random target drawn in
//!   `sample`, so that `advbn augment` on a single image and pipelines without a partner
//!   source still stylize. A replay needs the same partner, which the sample's key determines.
//!
//! # In recipes
//!
//! Every field is optional; the defaults are shown. Ranges `[lo, hi]` are drawn uniformly.
//!
//! ```toml
//! [[pixel]]
//! kind = "randconv"
//! kernel_sizes = [1, 3, 5, 7]  # odd, 1..=15
//! strength = [0.0, 1.0]        # weight of the convolved image; [1, 1] = no mixing
//! center = [0.5, 0.5, 0.5]     # what the convolution works around and pads with
//! p = 1.0
//!
//! [[pixel]]
//! kind = "fourier_mix"
//! eta = 1.0                    # lambda ~ U(0, eta)
//! beta = [0.5, 1.5]            # spectral slope of the no-partner target
//! p = 1.0
//!
//! [[pixel]]
//! kind = "color_transfer"
//! strength = [1.0, 1.0]        # 1 = Reinhard's full transfer
//! mean_l = [-1.17, -0.32]      # no-partner target ranges (CIFAR-10 p5..p95)
//! mean_alpha = [-0.07, 0.17]
//! mean_beta = [-0.015, 0.023]
//! std_l = [0.17, 0.77]
//! std_alpha = [0.015, 0.15]
//! std_beta = [0.0025, 0.031]
//! p = 1.0
//!
//! [[pixel]]
//! kind = "random_net"
//! layers = 3                   # 3x3 convolutions, 1..=6
//! width = 8                    # hidden channels, 1..=32
//! activation = "tanh"          # or "leaky_relu"
//! gain = 2.0                   # weights ~ N(0, gain^2 / fan_in)
//! strength = [0.3, 0.7]        # blend weight of the network's output
//! p = 1.0
//! ```
//!
//! Speed: per image everything is single-threaded (rayon parallelizes over samples), the
//! scratch buffers are per-thread and reused, and the FFT plans are cached per thread.

/// The `Augment` methods shared by the stylizers that move an image towards a partner's
/// style (`fourier_mix`, `color_transfer`): they use a partner when the context gives one,
/// return the input as floats when `$identity` holds of the params, and otherwise call the
/// type's own `stylize(image, params, partner)`. Expands inside an `impl Augment` block.
macro_rules! partner_stylizer {
    ($params:ty, |$p:ident| $identity:expr) => {
        /// Towards the documented random target (no partner).
        fn apply(&self, image: &image::RgbImage, params: &$params) -> crate::FloatImage {
            self.apply_with(image, params, crate::StageContext::default())
        }

        fn needs_partner(&self) -> bool {
            true
        }

        /// Towards the partner's style when there is a partner, else the random target.
        fn apply_with(
            &self,
            image: &image::RgbImage,
            params: &$params,
            context: crate::StageContext<'_>,
        ) -> crate::FloatImage {
            let $p = params;
            if $identity {
                return crate::FloatImage::from_rgb8(image);
            }
            self.stylize(image, params, context.partner)
        }
    };
}

mod color_transfer;
mod conv;
mod fastmath;
mod fourier_mix;
mod randconv;
mod random_net;

use rand::RngExt;

pub use color_transfer::{
    ColorTransfer, ColorTransferParams, LabStats, lab_to_rgb, rgb_to_lab, transfer_statistics,
};
pub use fourier_mix::{FourierMix, FourierMixParams};
pub use randconv::{MAX_KERNEL_SIZE, RandConv, RandConvParams, randconv};
pub use random_net::{Activation, ConvLayer, RandomNet, RandomNetParams, RandomNetWeights};

use crate::{AugRng, ConfigError, PixelStage};

#[cfg(doc)]
use crate::{Augment, FloatImage, StageContext};

/// The kind names of the stylizers, as written in recipes.
pub const STYLIZER_KINDS: [&str; 4] = ["randconv", "fourier_mix", "color_transfer", "random_net"];

/// Each stylizer with its default config, by kind name (for benchmarks, `advbn augment`
/// and listings).
///
/// ```
/// let stages = advbn_augmenters::stylize::default_stages();
/// assert_eq!(stages.len(), 4);
/// assert!(stages.iter().all(|(_, s)| s.validate().is_ok() && !s.is_shared()));
/// ```
pub fn default_stages() -> Vec<(&'static str, PixelStage)> {
    vec![
        ("randconv", PixelStage::Randconv(RandConv::default())),
        ("fourier_mix", PixelStage::FourierMix(FourierMix::default())),
        (
            "color_transfer",
            PixelStage::ColorTransfer(ColorTransfer::default()),
        ),
        ("random_net", PixelStage::RandomNet(RandomNet::default())),
    ]
}

/// Checks that `range` is `[lo, hi]` with finite `min <= lo <= hi <= max`.
pub(crate) fn check_interval(key: &str, range: [f32; 2], min: f32, max: f32) -> Result<(), ConfigError> {
    let [lo, hi] = range;
    if !(lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max) {
        return Err(ConfigError::new(
            key,
            format!("is [{lo:?}, {hi:?}], expected [lo, hi] with {min:?} <= lo <= hi <= {max:?}"),
        ));
    }
    Ok(())
}

/// Checks a probability.
pub(crate) fn check_probability(key: &str, p: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(ConfigError::new(
            key,
            format!("is {p:?}, allowed range is 0.0..=1.0"),
        ));
    }
    Ok(())
}

/// A draw uniform in `[lo, hi)` (exactly `lo` when `lo == hi`); one f32 draw either way.
/// Never panics, even for a range that validation would refuse (reversed, NaN).
pub(crate) fn draw(rng: &mut AugRng, [lo, hi]: [f32; 2]) -> f32 {
    let u: f32 = rng.random();
    (lo + (hi - lo) * u).max(lo.min(hi)).min(lo.max(hi))
}

/// Whether an op with probability `p` applies: one f64 draw always, so that the rest of the
/// stream does not depend on `p`.
pub(crate) fn applies(rng: &mut AugRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_checked() {
        check_interval("s", [0.0, 1.0], 0.0, 1.0).unwrap();
        check_interval("s", [0.5, 0.5], 0.0, 1.0).unwrap();
        for bad in [[0.6, 0.5], [-0.1, 0.5], [0.0, 1.5], [f32::NAN, 0.5]] {
            let err = check_interval("strength", bad, 0.0, 1.0).unwrap_err();
            assert_eq!(err.key, "strength");
            assert!(err.to_string().contains("0.0 <= lo <= hi <= 1.0"), "{err}");
        }
        assert_eq!(check_probability("p", 1.5).unwrap_err().key, "p");
        assert!(check_probability("p", f64::NAN).is_err());
    }

    #[test]
    fn draws_stay_in_their_interval() {
        let mut rng = crate::rng_from_seed(4);
        for _ in 0..1000 {
            let v = draw(&mut rng, [0.25, 0.75]);
            assert!((0.25..0.75).contains(&v) || v == 0.75, "{v}");
        }
        assert_eq!(draw(&mut rng, [0.3, 0.3]), 0.3);
        // Ranges that validation refuses still draw without panicking.
        let v = draw(&mut rng, [0.6, 0.5]);
        assert!((0.5..=0.6).contains(&v), "{v}");
        let _ = draw(&mut rng, [f32::NAN, 1.0]);
    }

    #[test]
    fn the_documented_recipe_fields_are_the_defaults() {
        // The TOML block of this module's docs, parsed: it must list every stylizer with
        // exactly its default values, so that the docs cannot drift from the code.
        let source = include_str!("mod.rs");
        let start = source.find("//! ```toml\n").expect("a toml block") + "//! ```toml\n".len();
        let end = start + source[start..].find("//! ```\n").expect("its end");
        let text: String = source[start..end]
            .lines()
            .map(|l| l.strip_prefix("//!").unwrap_or(l).trim_start())
            .map(|l| format!("{l}\n"))
            .collect();
        #[derive(serde::Deserialize)]
        struct Recipe {
            pixel: Vec<PixelStage>,
        }
        let recipe: Recipe = toml::from_str(&text).unwrap();
        let defaults: Vec<PixelStage> = default_stages().into_iter().map(|(_, s)| s).collect();
        assert_eq!(recipe.pixel, defaults);
        let kinds: Vec<&str> = default_stages().iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, STYLIZER_KINDS);
    }

    #[test]
    fn unvalidated_configs_do_not_panic() {
        // Configs built in code and never validated: sampling and applying must still not
        // panic (the contract's "bad config is an error value" holds where configs are
        // checked; everywhere else the ops degrade instead of crashing).
        use crate::{Augment, ImageSize, StageContext};
        let img = image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 77]));
        let size = ImageSize::of(&img);
        let mut rng = crate::rng_from_seed(1);
        let rc = RandConv {
            kernel_sizes: vec![4, 40],
            strength: [0.9, 0.1],
            center: [2.0, -1.0, f32::NAN],
            p: 7.0,
        };
        for _ in 0..8 {
            let p = rc.sample(&mut rng, size);
            assert!(p.kernel_size % 2 == 1 && p.kernel_size <= randconv::MAX_KERNEL_SIZE);
            let _ = rc.apply(&img, &p);
        }
        let fm = FourierMix {
            eta: f32::NAN,
            beta: [3.0, -1.0],
            p: f64::NAN,
        };
        let p = fm.sample(&mut rng, size);
        let _ = fm.apply_with(&img, &p, StageContext::with_partner(&img));
        let ct = ColorTransfer {
            strength: [1.0, 0.0],
            std_l: [5.0, -5.0],
            ..ColorTransfer::default()
        };
        let p = ct.sample(&mut rng, size);
        let _ = ct.apply(&img, &p);
        let rn = RandomNet {
            layers: 0,
            width: 1000,
            gain: 0.0,
            strength: [1.0, 0.5],
            ..RandomNet::default()
        };
        let p = rn.sample(&mut rng, size);
        let _ = rn.apply(&img, &p);
    }
}
