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

    /// Samples parameters and applies them.
    fn augment(&self, image: &RgbImage, rng: &mut AugRng) -> Self::Output {
        let params = self.sample(rng, ImageSize::of(image));
        self.apply(image, &params)
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
