//! The augmenter contract: configs are validated, random parameters are *sampled*, and a
//! pure *apply* turns an image and explicit parameters into the augmented image.
//!
//! Splitting the two makes every augmented image replayable from its parameters (which are
//! plain serde data), lets every op be tested against a reference implementation with
//! explicit parameters, and keeps all randomness in one place ([`crate::SampleKey`]).

use std::fmt::Debug;

use image::RgbImage;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{AugRng, ImageSize};

/// An image-space augmenter.
///
/// `sample` draws everything random; `apply` is a pure function of the image and the
/// parameters. `augment` is the two in sequence.
///
/// ```
/// use advbn_augmenters::{Augment, HorizontalFlip, SampleKey};
/// use image::RgbImage;
/// let flip = HorizontalFlip { p: 1.0 };
/// let img = RgbImage::from_raw(2, 1, vec![1, 1, 1, 2, 2, 2]).unwrap();
/// let params = flip.sample(&mut SampleKey::new(0, 0, 0).rng(), advbn_augmenters::ImageSize::of(&img));
/// assert_eq!(flip.apply(&img, &params).as_raw(), &vec![2, 2, 2, 1, 1, 1]);
/// ```
pub trait Augment: Send + Sync {
    /// Everything random about one application, as plain data.
    type Params: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// What `apply` produces: [`RgbImage`] for most ops, [`crate::FloatImage`] for mixing ops.
    type Output;

    /// Draws the parameters of one application to an image of `size`.
    fn sample(&self, rng: &mut AugRng, size: ImageSize) -> Self::Params;

    /// Applies the op with explicit parameters. Deterministic; never panics for any image
    /// size from 1x1 up and any parameters `sample` can return.
    fn apply(&self, image: &RgbImage, params: &Self::Params) -> Self::Output;

    /// The size of the image [`Augment::apply`] makes from an input of `input` pixels with
    /// `params`: the input size for every op but the resizing ones, which override it. A
    /// pipeline samples the stages after a resizing one with this size, without applying
    /// anything.
    fn output_size(&self, input: ImageSize, params: &Self::Params) -> ImageSize {
        let _ = params;
        input
    }

    /// Samples parameters and applies them.
    fn augment(&self, image: &RgbImage, rng: &mut AugRng) -> Self::Output {
        let params = self.sample(rng, ImageSize::of(image));
        self.apply(image, &params)
    }

    /// True when `apply_with` uses a partner image ([`StageContext::partner`]) when one is
    /// given (the stylizers that move an image towards another image's style). Such an op
    /// still works without one: its `apply` documents what it does then.
    fn needs_partner(&self) -> bool {
        false
    }

    /// Applies the op with explicit parameters and a context (the sample's partner image).
    /// Pure like `apply`: a function of the image, the parameters and the context. The
    /// default ignores the context; ops that use a partner override it, and their `apply` is
    /// `apply_with` with [`StageContext::default`] (no partner).
    fn apply_with(&self, image: &RgbImage, params: &Self::Params, context: StageContext<'_>) -> Self::Output {
        let _ = context;
        self.apply(image, params)
    }
}

/// What a stage may receive besides its image and its parameters.
///
/// Today that is the sample's *partner*: another image whose style (amplitude spectrum,
/// colour statistics) a stylizer moves the image towards. Augmentation is per sample and
/// replayable whatever the batch order, so the partner is not "the next image in the batch":
/// the caller picks it as a function of the sample alone, normally the dataset image at
/// [`SampleKey::partner_index`](crate::SampleKey::partner_index), or a fixed style source.
///
/// ```
/// use advbn_augmenters::StageContext;
/// let style = image::RgbImage::new(4, 4);
/// assert!(StageContext::default().partner.is_none());
/// assert!(StageContext::with_partner(&style).partner.is_some());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct StageContext<'a> {
    /// The partner image, any size (a stylizer resizes it as it documents); `None` makes
    /// partner-using stylizers fall back to their documented random target.
    pub partner: Option<&'a RgbImage>,
}

impl<'a> StageContext<'a> {
    /// A context with `partner`.
    pub fn with_partner(partner: &'a RgbImage) -> Self {
        Self {
            partner: Some(partner),
        }
    }
}

/// A configuration value outside its allowed range, or otherwise invalid.
///
/// `key` is the field's name as it appears in a recipe (callers prefix their own path).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {message}")]
pub struct ConfigError {
    /// The offending key, e.g. `severity`.
    pub key: String,
    /// What is wrong, including the allowed range.
    pub message: String,
}

impl ConfigError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same error with `prefix.` in front of its key (for nested configs).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            key: format!("{prefix}.{}", self.key),
            ..self
        }
    }
}

/// A config that can check its own values.
pub trait Validate {
    /// `Ok` when every value is in range.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Checks `lo <= value <= hi` for `key`.
pub fn check_range<T: PartialOrd + Debug>(key: &str, value: T, lo: T, hi: T) -> Result<(), ConfigError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("is {value:?}, allowed range is {lo:?}..={hi:?}"),
        ))
    }
}
