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
//!   [`Augment::apply_with`](crate::Augment::apply_with) (plain `apply` means "no partner");
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
//! Speed: per image everything is single-threaded (rayon parallelizes over samples), the
//! scratch buffers are per-thread and reused, and the FFT plans are cached per thread.

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
pub use randconv::{RandConv, RandConvParams, randconv};
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
pub(crate) fn draw(rng: &mut AugRng, [lo, hi]: [f32; 2]) -> f32 {
    let u: f32 = rng.random();
    (lo + (hi - lo) * u).clamp(lo, hi)
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
    }
}
