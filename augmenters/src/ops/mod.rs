//! The AugMix operations with Pillow's semantics.
//!
//! Each op exists in three forms:
//! - a plain function on an [`RgbImage`] with the explicit Pillow-level value
//!   ([`posterize`]`(&img, bits)`, [`rotate`]`(&img, degrees)`, ...), what
//!   `advbn augment --op NAME --value V` calls through [`apply_named`];
//! - a small validated config implementing [`Augment`] ([`Posterize`], [`Rotate`], ...),
//!   whose `sample` draws the value with the AugMix reference's level mapping at the config's
//!   `severity` and whose params are the Pillow-level value;
//! - a variant of [`OpParams`], the tagged union AugMix records for each op of a chain.
//!
//! The Pillow functions followed are `ImageOps.autocontrast` (cutoff 0), `ImageOps.equalize`,
//! `ImageOps.posterize`, `ImageOps.solarize`, `Image.rotate(.., BILINEAR)`,
//! `Image.transform(.., AFFINE, .., BILINEAR)` and `ImageEnhance.{Color, Contrast, Brightness,
//! Sharpness}` (Pillow 13); the submodules document the arithmetic.

mod affine;
mod bilinear;
mod enhance;
pub(crate) mod lut;

use std::fmt;

use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

pub use affine::{
    AffineData, RotatePlan, rotate, rotate_into, rotate_plan, shear_x, shear_x_data, shear_y, shear_y_data,
    translate_x, translate_x_data, translate_y, translate_y_data, warp, warp_exact, warp_exact_into,
    warp_into,
};
pub use enhance::{
    brightness, brightness_lut, color, color_into, contrast, contrast_grey, contrast_lut, luma, sharpness,
    sharpness_into, smooth_into,
};
pub use lut::{
    Histogram, IDENTITY, Lut, apply_lut, apply_lut_into, autocontrast, autocontrast_lut, compose, equalize,
    equalize_lut, histogram, posterize, posterize_lut, push_histogram, solarize, solarize_lut,
};

use crate::{AugRng, Augment, ConfigError, ImageSize, Validate, check_range};

/// The name of an op, as used on the command line and in AugMix params.
///
/// ```
/// use advbn_augmenters::ops::Op;
/// assert_eq!(Op::from_name("shear_x").unwrap(), Op::ShearX);
/// assert_eq!(Op::ShearX.name(), "shear_x");
/// assert!(Op::from_name("blur").unwrap_err().to_string().contains("autocontrast"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `ImageOps.autocontrast` (no value).
    Autocontrast,
    /// `ImageOps.equalize` (no value).
    Equalize,
    /// `ImageOps.posterize`: bits kept.
    Posterize,
    /// `ImageOps.solarize`: threshold.
    Solarize,
    /// `Image.rotate`: degrees counter-clockwise.
    Rotate,
    /// AFFINE `(1, s, 0, 0, 1, 0)`: shear factor.
    ShearX,
    /// AFFINE `(1, 0, 0, s, 1, 0)`: shear factor.
    ShearY,
    /// AFFINE `(1, 0, t, 0, 1, 0)`: pixels.
    TranslateX,
    /// AFFINE `(1, 0, 0, 0, 1, t)`: pixels.
    TranslateY,
    /// `ImageEnhance.Color`: factor.
    Color,
    /// `ImageEnhance.Contrast`: factor.
    Contrast,
    /// `ImageEnhance.Brightness`: factor.
    Brightness,
    /// `ImageEnhance.Sharpness`: factor.
    Sharpness,
}

/// The values an op accepts through [`apply_named`] and [`Op::params`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    /// What the value means (`bits`, `degrees`, ...).
    pub unit: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// True when only whole numbers are accepted.
    pub integer: bool,
}

impl fmt::Display for ValueRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.integer {
            write!(f, "{} (integer) in {}..={}", self.unit, self.min, self.max)
        } else {
            write!(f, "{} in {:?}..={:?}", self.unit, self.min, self.max)
        }
    }
}

/// Why an op could not be applied by name.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpError {
    /// No op of that name.
    #[error("unknown op `{name}`; valid ops: {}", op_names().join(", "))]
    UnknownOp {
        /// The name given.
        name: String,
    },
    /// The op needs a value and none was given.
    #[error("op `{op}` needs a value: {range}")]
    MissingValue {
        /// The op's name.
        op: &'static str,
        /// What it accepts.
        range: ValueRange,
    },
    /// The op takes no value and one was given.
    #[error("op `{op}` takes no value")]
    UnexpectedValue {
        /// The op's name.
        op: &'static str,
    },
    /// The value is outside the op's range, not finite, or not whole where it must be.
    #[error("op `{op}`: value {value} is not valid; expected {range}")]
    OutOfRange {
        /// The op's name.
        op: &'static str,
        /// The value given.
        value: f64,
        /// What it accepts.
        range: ValueRange,
    },
}

const fn range(unit: &'static str, min: f64, max: f64, integer: bool) -> ValueRange {
    ValueRange {
        unit,
        min,
        max,
        integer,
    }
}

impl Op {
    /// Every op, in the order of the AugMix reference's `augmentations_all`.
    pub const ALL: [Op; 13] = [
        Op::Autocontrast,
        Op::Equalize,
        Op::Posterize,
        Op::Rotate,
        Op::Solarize,
        Op::ShearX,
        Op::ShearY,
        Op::TranslateX,
        Op::TranslateY,
        Op::Color,
        Op::Contrast,
        Op::Brightness,
        Op::Sharpness,
    ];

    /// The ops of the AugMix paper (`augmentations`: no op that overlaps ImageNet-C), in the
    /// reference's order.
    pub const PAPER: [Op; 9] = [
        Op::Autocontrast,
        Op::Equalize,
        Op::Posterize,
        Op::Rotate,
        Op::Solarize,
        Op::ShearX,
        Op::ShearY,
        Op::TranslateX,
        Op::TranslateY,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Autocontrast => "autocontrast",
            Op::Equalize => "equalize",
            Op::Posterize => "posterize",
            Op::Solarize => "solarize",
            Op::Rotate => "rotate",
            Op::ShearX => "shear_x",
            Op::ShearY => "shear_y",
            Op::TranslateX => "translate_x",
            Op::TranslateY => "translate_y",
            Op::Color => "color",
            Op::Contrast => "contrast",
            Op::Brightness => "brightness",
            Op::Sharpness => "sharpness",
        }
    }

    /// The op of that name; the error lists the valid names.
    pub fn from_name(name: &str) -> Result<Op, OpError> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| OpError::UnknownOp {
                name: name.to_string(),
            })
    }

    /// The accepted values, `None` for ops without a value (autocontrast, equalize).
    ///
    /// Pillow itself accepts any rotation, shear, translation and enhance factor; the ranges
    /// here are generous bounds that catch typos, and they include everything AugMix samples.
    pub fn value_range(self) -> Option<ValueRange> {
        Some(match self {
            Op::Autocontrast | Op::Equalize => return None,
            Op::Posterize => range("bits", 1.0, 8.0, true),
            Op::Solarize => range("threshold", 0.0, 256.0, true),
            Op::Rotate => range("degrees", -360.0, 360.0, false),
            Op::ShearX | Op::ShearY => range("shear factor", -1.0, 1.0, false),
            Op::TranslateX | Op::TranslateY => range("pixels", -4096.0, 4096.0, false),
            Op::Color | Op::Contrast | Op::Brightness | Op::Sharpness => {
                range("enhance factor", -10.0, 10.0, false)
            }
        })
    }

    /// The value at which the op returns its input unchanged, where there is one.
    pub fn identity_value(self) -> Option<f64> {
        match self {
            Op::Autocontrast | Op::Equalize => None,
            Op::Posterize => Some(8.0),
            Op::Solarize => Some(256.0),
            Op::Rotate | Op::ShearX | Op::ShearY | Op::TranslateX | Op::TranslateY => Some(0.0),
            Op::Color | Op::Contrast | Op::Brightness | Op::Sharpness => Some(1.0),
        }
    }

    /// The op with an explicit value, checked against [`Op::value_range`].
    ///
    /// ```
    /// use advbn_augmenters::ops::{Op, OpParams};
    /// assert_eq!(Op::Posterize.params(Some(3.0)).unwrap(), OpParams::Posterize { bits: 3 });
    /// assert!(Op::Posterize.params(Some(9.0)).is_err());
    /// assert!(Op::Rotate.params(None).is_err());
    /// ```
    pub fn params(self, value: Option<f64>) -> Result<OpParams, OpError> {
        let op = self.name();
        let Some(range) = self.value_range() else {
            return match value {
                None if self == Op::Autocontrast => Ok(OpParams::Autocontrast),
                None => Ok(OpParams::Equalize),
                Some(_) => Err(OpError::UnexpectedValue { op }),
            };
        };
        let v = value.ok_or(OpError::MissingValue { op, range })?;
        if !(v.is_finite() && v >= range.min && v <= range.max) || (range.integer && v.fract() != 0.0) {
            return Err(OpError::OutOfRange { op, value: v, range });
        }
        Ok(match self {
            Op::Autocontrast | Op::Equalize => unreachable!("handled above"),
            Op::Posterize => OpParams::Posterize { bits: v as u8 },
            Op::Solarize => OpParams::Solarize { threshold: v as u16 },
            Op::Rotate => OpParams::Rotate { degrees: v },
            Op::ShearX => OpParams::ShearX { factor: v },
            Op::ShearY => OpParams::ShearY { factor: v },
            Op::TranslateX => OpParams::TranslateX { pixels: v },
            Op::TranslateY => OpParams::TranslateY { pixels: v },
            Op::Color => OpParams::Color { factor: v },
            Op::Contrast => OpParams::Contrast { factor: v },
            Op::Brightness => OpParams::Brightness { factor: v },
            Op::Sharpness => OpParams::Sharpness { factor: v },
        })
    }

    /// Draws the op's value as the AugMix reference does at `severity` (see
    /// [`sample_level`]); `size` gives the translation range.
    pub fn sample(self, severity: f64, rng: &mut AugRng, size: ImageSize) -> OpParams {
        let level = sample_level(severity, rng);
        match self {
            Op::Autocontrast => OpParams::Autocontrast,
            Op::Equalize => OpParams::Equalize,
            // max(1): a level drawn at the open end of its range cannot reach 0 bits.
            Op::Posterize => OpParams::Posterize {
                bits: (4 - int_parameter(level, 4.0)).max(1) as u8,
            },
            Op::Solarize => OpParams::Solarize {
                threshold: (256 - int_parameter(level, 256.0)).clamp(0, 256) as u16,
            },
            Op::Rotate => OpParams::Rotate {
                degrees: signed(int_parameter(level, 30.0) as f64, rng),
            },
            Op::ShearX => OpParams::ShearX {
                factor: signed(float_parameter(level, 0.3), rng),
            },
            Op::ShearY => OpParams::ShearY {
                factor: signed(float_parameter(level, 0.3), rng),
            },
            Op::TranslateX => OpParams::TranslateX {
                pixels: signed(int_parameter(level, f64::from(size.width) / 3.0) as f64, rng),
            },
            Op::TranslateY => OpParams::TranslateY {
                pixels: signed(int_parameter(level, f64::from(size.height) / 3.0) as f64, rng),
            },
            Op::Color => OpParams::Color {
                factor: enhance_factor(level),
            },
            Op::Contrast => OpParams::Contrast {
                factor: enhance_factor(level),
            },
            Op::Brightness => OpParams::Brightness {
                factor: enhance_factor(level),
            },
            Op::Sharpness => OpParams::Sharpness {
                factor: enhance_factor(level),
            },
        }
    }

    /// Draws the op's value as torchvision's `AugMix` transform does at `severity`: every
    /// op has 10 magnitude bins spread evenly from 0 to its maximum, a bin is drawn uniformly
    /// among the first `severity`, and the signed ops (geometry and enhance) take a random
    /// sign. Rotate up to 30 degrees, shear up to 0.3, translate up to a third of the side
    /// (truncated to whole pixels), enhance factors `1 +- 0.9 bin / 9`, solarize thresholds
    /// from 255 down to 0 (inverting values at or above `ceil(threshold)`, as torchvision
    /// compares u8 values with a float threshold), posterize `4 - round(bin * 4 / 9)` bits.
    ///
    /// One deviation: at severity 9 and 10 torchvision's posterize can keep 0 bits (a black
    /// image); here it keeps at least 1, as the paper variant does.
    ///
    /// ```
    /// use advbn_augmenters::{ImageSize, ops::{Op, OpParams}, rng_from_seed};
    /// let mut rng = rng_from_seed(3);
    /// let size = ImageSize::new(32, 32);
    /// for _ in 0..50 {
    ///     match Op::Rotate.sample_torchvision(1, &mut rng, size) {
    ///         OpParams::Rotate { degrees } => assert_eq!(degrees, 0.0), // severity 1: bin 0 only
    ///         _ => unreachable!(),
    ///     }
    /// }
    /// ```
    pub fn sample_torchvision(self, severity: u32, rng: &mut AugRng, size: ImageSize) -> OpParams {
        const BINS: f64 = 10.0;
        let bin = match self {
            Op::Autocontrast | Op::Equalize => 0.0,
            _ => f64::from(rng.random_range(0..severity.clamp(1, 10))),
        };
        // The magnitude of bin `bin` in `linspace(0, max, 10)`.
        let magnitude = |max: f64| max * bin / (BINS - 1.0);
        match self {
            Op::Autocontrast => OpParams::Autocontrast,
            Op::Equalize => OpParams::Equalize,
            Op::Posterize => OpParams::Posterize {
                bits: (4 - magnitude(4.0).round() as i64).max(1) as u8,
            },
            Op::Solarize => OpParams::Solarize {
                threshold: (255.0 - magnitude(255.0)).ceil().clamp(0.0, 256.0) as u16,
            },
            Op::Rotate => OpParams::Rotate {
                degrees: signed(magnitude(30.0), rng),
            },
            Op::ShearX => OpParams::ShearX {
                factor: signed(magnitude(0.3), rng),
            },
            Op::ShearY => OpParams::ShearY {
                factor: signed(magnitude(0.3), rng),
            },
            Op::TranslateX => OpParams::TranslateX {
                pixels: signed(magnitude(f64::from(size.width) / 3.0).trunc(), rng),
            },
            Op::TranslateY => OpParams::TranslateY {
                pixels: signed(magnitude(f64::from(size.height) / 3.0).trunc(), rng),
            },
            Op::Color => OpParams::Color {
                factor: 1.0 + signed(magnitude(0.9), rng),
            },
            Op::Contrast => OpParams::Contrast {
                factor: 1.0 + signed(magnitude(0.9), rng),
            },
            Op::Brightness => OpParams::Brightness {
                factor: 1.0 + signed(magnitude(0.9), rng),
            },
            Op::Sharpness => OpParams::Sharpness {
                factor: 1.0 + signed(magnitude(0.9), rng),
            },
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every op name, in [`Op::ALL`] order.
pub fn op_names() -> Vec<&'static str> {
    Op::ALL.iter().map(|op| op.name()).collect()
}

/// `v` or `-v`, with equal odds.
fn signed(v: f64, rng: &mut AugRng) -> f64 {
    if rng.random::<bool>() { -v } else { v }
}

/// The AugMix reference's `sample_level(n)`: a level uniform in `[0.1, n)`.
pub fn sample_level(severity: f64, rng: &mut AugRng) -> f64 {
    0.1 + (severity - 0.1) * rng.random::<f64>()
}

/// The reference's `int_parameter(level, maxval) = int(level * maxval / 10)`.
///
/// ```
/// assert_eq!(advbn_augmenters::ops::int_parameter(2.9, 30.0), 8);
/// assert_eq!(advbn_augmenters::ops::int_parameter(2.9, 32.0 / 3.0), 3);
/// ```
pub fn int_parameter(level: f64, maxval: f64) -> i64 {
    (level * maxval / 10.0) as i64
}

/// The reference's `float_parameter(level, maxval) = level * maxval / 10`.
pub fn float_parameter(level: f64, maxval: f64) -> f64 {
    level * maxval / 10.0
}

/// The reference's enhance factor: `float_parameter(level, 1.8) + 0.1`, in `[0.118, 1.9)`.
fn enhance_factor(level: f64) -> f64 {
    float_parameter(level, 1.8) + 0.1
}

/// One op with its explicit Pillow-level value: what an AugMix chain records and replays.
///
/// Serialized with the op's name as tag: `{"op": "rotate", "degrees": -12.0}`.
///
/// ```
/// use advbn_augmenters::ops::OpParams;
/// let p = OpParams::Rotate { degrees: -12.0 };
/// let json = serde_json::to_string(&p).unwrap();
/// assert_eq!(json, r#"{"op":"rotate","degrees":-12.0}"#);
/// let img = image::RgbImage::new(8, 8);
/// assert_eq!(p.apply(&img).dimensions(), (8, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpParams {
    /// [`autocontrast`].
    Autocontrast,
    /// [`equalize`].
    Equalize,
    /// [`posterize`] keeping `bits` (1..=8).
    Posterize {
        /// Bits kept per channel.
        bits: u8,
    },
    /// [`solarize`] at `threshold` (0..=256).
    Solarize {
        /// Values at or above it are inverted.
        threshold: u16,
    },
    /// [`rotate`] by `degrees` counter-clockwise.
    Rotate {
        /// Angle in degrees.
        degrees: f64,
    },
    /// [`shear_x`] by `factor`.
    ShearX {
        /// The AFFINE `b` coefficient.
        factor: f64,
    },
    /// [`shear_y`] by `factor`.
    ShearY {
        /// The AFFINE `d` coefficient.
        factor: f64,
    },
    /// [`translate_x`] by `pixels`.
    TranslateX {
        /// The AFFINE `c` coefficient.
        pixels: f64,
    },
    /// [`translate_y`] by `pixels`.
    TranslateY {
        /// The AFFINE `f` coefficient.
        pixels: f64,
    },
    /// [`color`] with `factor`.
    Color {
        /// Blend factor.
        factor: f64,
    },
    /// [`contrast`] with `factor`.
    Contrast {
        /// Blend factor.
        factor: f64,
    },
    /// [`brightness`] with `factor`.
    Brightness {
        /// Blend factor.
        factor: f64,
    },
    /// [`sharpness`] with `factor`.
    Sharpness {
        /// Blend factor.
        factor: f64,
    },
}

impl OpParams {
    /// Which op.
    pub fn op(&self) -> Op {
        match self {
            OpParams::Autocontrast => Op::Autocontrast,
            OpParams::Equalize => Op::Equalize,
            OpParams::Posterize { .. } => Op::Posterize,
            OpParams::Solarize { .. } => Op::Solarize,
            OpParams::Rotate { .. } => Op::Rotate,
            OpParams::ShearX { .. } => Op::ShearX,
            OpParams::ShearY { .. } => Op::ShearY,
            OpParams::TranslateX { .. } => Op::TranslateX,
            OpParams::TranslateY { .. } => Op::TranslateY,
            OpParams::Color { .. } => Op::Color,
            OpParams::Contrast { .. } => Op::Contrast,
            OpParams::Brightness { .. } => Op::Brightness,
            OpParams::Sharpness { .. } => Op::Sharpness,
        }
    }

    /// The Pillow-level value, `None` for autocontrast and equalize.
    pub fn value(&self) -> Option<f64> {
        match *self {
            OpParams::Autocontrast | OpParams::Equalize => None,
            OpParams::Posterize { bits } => Some(f64::from(bits)),
            OpParams::Solarize { threshold } => Some(f64::from(threshold)),
            OpParams::Rotate { degrees: v }
            | OpParams::ShearX { factor: v }
            | OpParams::ShearY { factor: v }
            | OpParams::TranslateX { pixels: v }
            | OpParams::TranslateY { pixels: v }
            | OpParams::Color { factor: v }
            | OpParams::Contrast { factor: v }
            | OpParams::Brightness { factor: v }
            | OpParams::Sharpness { factor: v } => Some(v),
        }
    }

    /// Checks the value against the op's range (params read from a file may be anything).
    pub fn check(&self) -> Result<(), OpError> {
        self.op().params(self.value()).map(|_| ())
    }

    /// True for ops that are a per-channel table of the image (so that AugMix can fuse them).
    pub fn is_point_op(&self) -> bool {
        matches!(
            self,
            OpParams::Autocontrast
                | OpParams::Equalize
                | OpParams::Posterize { .. }
                | OpParams::Solarize { .. }
                | OpParams::Brightness { .. }
        )
    }

    /// The op's table for an image with histogram `h`, for the ops that are point ops given
    /// the histogram ([`OpParams::is_point_op`]); `None` for the others.
    pub fn lut(&self, h: &Histogram) -> Option<Lut> {
        Some(match *self {
            OpParams::Autocontrast => autocontrast_lut(h),
            OpParams::Equalize => equalize_lut(h),
            OpParams::Posterize { bits } => posterize_lut(bits.clamp(1, 8)),
            OpParams::Solarize { threshold } => solarize_lut(threshold),
            OpParams::Brightness { factor } => brightness_lut(factor),
            _ => return None,
        })
    }

    /// Applies the op to an image.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let mut out = RgbImage::new(image.width(), image.height());
        let mut scratch = Vec::new();
        self.apply_into(
            image.as_raw(),
            image.width(),
            image.height(),
            &mut out,
            &mut scratch,
        );
        out
    }

    /// Applies the op to interleaved RGB `src` of `width` x `height`, writing every byte of
    /// `dst` (same length); `scratch` is resized and used by the ops that need a second
    /// buffer (sharpness), so a caller that keeps it allocates once.
    ///
    /// # Panics
    /// When the buffer lengths do not match the size.
    pub fn apply_into(&self, src: &[u8], width: u32, height: u32, dst: &mut [u8], scratch: &mut Vec<u8>) {
        match *self {
            OpParams::Rotate { degrees } => rotate_into(src, width, height, dst, degrees),
            OpParams::ShearX { factor } => warp_into(src, width, height, dst, &shear_x_data(factor)),
            OpParams::ShearY { factor } => warp_into(src, width, height, dst, &shear_y_data(factor)),
            OpParams::TranslateX { pixels } => warp_into(src, width, height, dst, &translate_x_data(pixels)),
            OpParams::TranslateY { pixels } => warp_into(src, width, height, dst, &translate_y_data(pixels)),
            OpParams::Color { factor } => color_into(src, dst, factor),
            OpParams::Contrast { factor } => apply_lut_into(src, dst, &contrast_lut(src, factor)),
            OpParams::Sharpness { factor } => {
                scratch.resize(src.len(), 0);
                sharpness_into(src, width, height, dst, scratch, factor);
            }
            // Posterize and solarize alone are plain arithmetic (vectorized), not table lookups.
            OpParams::Posterize { bits } => lut::posterize_into(src, dst, bits.clamp(1, 8)),
            OpParams::Solarize { threshold } => lut::solarize_into(src, dst, threshold),
            // Autocontrast needs only each channel's range.
            OpParams::Autocontrast => apply_lut_into(
                src,
                dst,
                &lut::autocontrast_lut_of_ranges(&lut::channel_ranges(src)),
            ),
            point => {
                // Only equalize reads the histogram.
                let hist = match point {
                    OpParams::Equalize => histogram(src),
                    _ => [[0; 256]; 3],
                };
                let lut = point.lut(&hist).expect("the remaining ops are point ops");
                apply_lut_into(src, dst, &lut);
            }
        }
    }
}

/// Applies the op `name` with an explicit Pillow-level `value` (what `advbn augment --op NAME
/// --value V` does). Errors are one line: an unknown name lists the valid ones; a missing,
/// superfluous or out-of-range value names the accepted range.
///
/// ```
/// use advbn_augmenters::ops::apply_named;
/// let img = image::RgbImage::new(4, 4);
/// assert!(apply_named("rotate", Some(15.0), &img).is_ok());
/// assert!(apply_named("equalize", None, &img).is_ok());
/// let err = apply_named("posterize", Some(0.0), &img).unwrap_err().to_string();
/// assert_eq!(err, "op `posterize`: value 0 is not valid; expected bits (integer) in 1..=8");
/// ```
pub fn apply_named(name: &str, value: Option<f64>, image: &RgbImage) -> Result<RgbImage, OpError> {
    Ok(Op::from_name(name)?.params(value)?.apply(image))
}

/// Params of an op without a value ([`Autocontrast`], [`Equalize`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoParams {}

/// Declares the per-op configs: a `severity` (1..=10, default 3) and the reference's
/// sampling, with params of the op's own type.
macro_rules! level_op {
    ($(#[$doc:meta])* $name:ident, $op:ident, $params:ident { $field:ident: $ty:ty }, $unit_doc:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// AugMix severity: levels are drawn uniformly in `[0.1, severity)`.
            #[serde(default = "default_severity")]
            pub severity: u32,
        }

        impl Default for $name {
            fn default() -> Self {
                Self { severity: default_severity() }
            }
        }

        impl Validate for $name {
            fn validate(&self) -> Result<(), ConfigError> {
                check_range("severity", self.severity, 1, 10)
            }
        }

        #[doc = concat!("The explicit value of [`", stringify!($name), "`]: ", $unit_doc, ".")]
        #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $params {
            #[doc = $unit_doc]
            pub $field: $ty,
        }

        impl Augment for $name {
            type Params = $params;
            type Output = RgbImage;

            fn sample(&self, rng: &mut AugRng, size: ImageSize) -> $params {
                match Op::$op.sample(f64::from(self.severity), rng, size) {
                    OpParams::$op { $field } => $params { $field },
                    _ => unreachable!("Op::sample returns its own variant"),
                }
            }

            fn apply(&self, image: &RgbImage, params: &$params) -> RgbImage {
                OpParams::$op { $field: params.$field }.apply(image)
            }
        }

        impl From<$params> for OpParams {
            fn from(p: $params) -> Self {
                OpParams::$op { $field: p.$field }
            }
        }
    };
}

fn default_severity() -> u32 {
    3
}

level_op!(
    /// Posterize with `bits = 4 - int_parameter(level, 4)`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Posterize};
    /// let p = Posterize::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!((3..=4).contains(&p.bits));
    /// ```
    Posterize, Posterize, PosterizeParams { bits: u8 }, "bits kept per channel (1..=8)"
);
level_op!(
    /// Solarize with `threshold = 256 - int_parameter(level, 256)`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Solarize};
    /// let p = Solarize::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.threshold > 256 - 77);
    /// ```
    Solarize, Solarize, SolarizeParams { threshold: u16 }, "solarize threshold (0..=256)"
);
level_op!(
    /// Rotate by `±int_parameter(level, 30)` degrees.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Rotate};
    /// let p = Rotate::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.degrees.abs() <= 9.0 && p.degrees.fract() == 0.0);
    /// ```
    Rotate, Rotate, RotateParams { degrees: f64 }, "degrees counter-clockwise"
);
level_op!(
    /// Shear along x by `±float_parameter(level, 0.3)`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::ShearX};
    /// let p = ShearX::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.factor.abs() < 0.09);
    /// ```
    ShearX, ShearX, ShearXParams { factor: f64 }, "shear factor"
);
level_op!(
    /// Shear along y by `±float_parameter(level, 0.3)`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::ShearY};
    /// let p = ShearY::default().sample(&mut rng_from_seed(2), ImageSize::new(32, 32));
    /// assert!(p.factor.abs() < 0.09);
    /// ```
    ShearY, ShearY, ShearYParams { factor: f64 }, "shear factor"
);
level_op!(
    /// Translate along x by `±int_parameter(level, width / 3)` pixels (the reference uses
    /// its square `IMAGE_SIZE`; for non-square images the width is used for x).
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::TranslateX};
    /// let p = TranslateX::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.pixels.abs() <= 3.0);
    /// ```
    TranslateX, TranslateX, TranslateXParams { pixels: f64 }, "pixels"
);
level_op!(
    /// Translate along y by `±int_parameter(level, height / 3)` pixels.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::TranslateY};
    /// let p = TranslateY::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 224));
    /// assert!(p.pixels.abs() <= 22.0);
    /// ```
    TranslateY, TranslateY, TranslateYParams { pixels: f64 }, "pixels"
);
level_op!(
    /// `ImageEnhance.Color` with factor `float_parameter(level, 1.8) + 0.1`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Color};
    /// let p = Color::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.factor > 0.1 && p.factor < 0.64);
    /// ```
    Color, Color, ColorParams { factor: f64 }, "enhance factor"
);
level_op!(
    /// `ImageEnhance.Contrast` with factor `float_parameter(level, 1.8) + 0.1`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Contrast};
    /// let p = Contrast { severity: 10 }.sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.factor > 0.1 && p.factor < 1.9);
    /// ```
    Contrast, Contrast, ContrastParams { factor: f64 }, "enhance factor"
);
level_op!(
    /// `ImageEnhance.Brightness` with factor `float_parameter(level, 1.8) + 0.1`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Brightness};
    /// let p = Brightness::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.factor > 0.1 && p.factor < 0.64);
    /// ```
    Brightness, Brightness, BrightnessParams { factor: f64 }, "enhance factor"
);
level_op!(
    /// `ImageEnhance.Sharpness` with factor `float_parameter(level, 1.8) + 0.1`.
    ///
    /// ```
    /// use advbn_augmenters::{Augment, ImageSize, rng_from_seed, ops::Sharpness};
    /// let p = Sharpness::default().sample(&mut rng_from_seed(1), ImageSize::new(32, 32));
    /// assert!(p.factor > 0.1 && p.factor < 0.64);
    /// ```
    Sharpness, Sharpness, SharpnessParams { factor: f64 }, "enhance factor"
);

/// `ImageOps.autocontrast` as an [`Augment`] (nothing to sample).
///
/// ```
/// use advbn_augmenters::{Augment, rng_from_seed, ops::Autocontrast};
/// let img = image::RgbImage::from_raw(2, 1, vec![10, 10, 10, 20, 20, 20]).unwrap();
/// let out = Autocontrast {}.augment(&img, &mut rng_from_seed(0));
/// assert_eq!(out.as_raw(), &vec![0, 0, 0, 255, 255, 255]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autocontrast {}

/// `ImageOps.equalize` as an [`Augment`] (nothing to sample).
///
/// ```
/// use advbn_augmenters::{Augment, rng_from_seed, ops::Equalize};
/// let img = image::RgbImage::new(3, 3);
/// assert_eq!(Equalize {}.augment(&img, &mut rng_from_seed(0)), img);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equalize {}

macro_rules! valueless_op {
    ($name:ident, $op:ident) => {
        impl Validate for $name {
            fn validate(&self) -> Result<(), ConfigError> {
                Ok(())
            }
        }

        impl Augment for $name {
            type Params = NoParams;
            type Output = RgbImage;

            fn sample(&self, _rng: &mut AugRng, _size: ImageSize) -> NoParams {
                NoParams {}
            }

            fn apply(&self, image: &RgbImage, _params: &NoParams) -> RgbImage {
                OpParams::$op.apply(image)
            }
        }
    };
}

valueless_op!(Autocontrast, Autocontrast);
valueless_op!(Equalize, Equalize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()).unwrap(), op);
            assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{}\"", op.name()));
        }
        assert_eq!(op_names().len(), 13);
    }

    #[test]
    fn errors_are_one_line_and_name_the_range() {
        let img = RgbImage::new(2, 2);
        let unknown = apply_named("blur", None, &img).unwrap_err().to_string();
        assert!(
            unknown.starts_with("unknown op `blur`; valid ops: autocontrast, equalize,"),
            "{unknown}"
        );
        assert!(unknown.ends_with("sharpness"), "{unknown}");
        let missing = apply_named("rotate", None, &img).unwrap_err().to_string();
        assert_eq!(missing, "op `rotate` needs a value: degrees in -360.0..=360.0");
        let extra = apply_named("equalize", Some(1.0), &img).unwrap_err().to_string();
        assert_eq!(extra, "op `equalize` takes no value");
        let frac = apply_named("solarize", Some(12.5), &img).unwrap_err().to_string();
        assert!(frac.contains("threshold (integer) in 0..=256"), "{frac}");
        assert!(apply_named("shear_x", Some(f64::NAN), &img).is_err());
        for e in [unknown, missing, extra, frac] {
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn sampled_values_follow_the_reference_mapping() {
        let mut rng = crate::rng_from_seed(5);
        let size = ImageSize::new(32, 32);
        for _ in 0..2000 {
            for op in Op::ALL {
                let p = op.sample(3.0, &mut rng, size);
                p.check().unwrap();
                match p {
                    OpParams::Posterize { bits } => assert!((3..=4).contains(&bits)),
                    OpParams::Solarize { threshold } => assert!((180..=256).contains(&threshold)),
                    OpParams::Rotate { degrees } => assert!(degrees.abs() <= 8.0),
                    OpParams::ShearX { factor } | OpParams::ShearY { factor } => {
                        assert!((0.003..0.09).contains(&factor.abs()))
                    }
                    OpParams::TranslateX { pixels } | OpParams::TranslateY { pixels } => {
                        assert!(pixels.abs() <= 3.0)
                    }
                    OpParams::Color { factor } => assert!((0.118..0.64).contains(&factor)),
                    _ => {}
                }
            }
        }
        // Severity 10 reaches the extremes without leaving the valid ranges.
        let mut seen_one_bit = false;
        for _ in 0..3000 {
            if let OpParams::Posterize { bits } = Op::Posterize.sample(10.0, &mut rng, size) {
                assert!(bits >= 1);
                seen_one_bit |= bits == 1;
            }
        }
        assert!(seen_one_bit);
    }

    #[test]
    fn both_signs_are_drawn() {
        let mut rng = crate::rng_from_seed(8);
        let degrees: Vec<f64> = (0..200)
            .filter_map(|_| Op::Rotate.sample(5.0, &mut rng, ImageSize::new(8, 8)).value())
            .collect();
        assert!(degrees.iter().any(|&d| d > 0.0) && degrees.iter().any(|&d| d < 0.0));
    }
}
