//! The photo geometry of ImageNet-style training and evaluation: torchvision's
//! `RandomResizedCrop`, `Resize` and the evaluation `Resize` + `CenterCrop`, resampled like
//! Pillow's `Image.resize` (an antialiased separable convolution) with `fast_image_resize`.
//!
//! All three are *shared* pipeline stages (they run once per sample, before the views split)
//! and change the image's size.
//!
//! Resampling: [`resize_region`] maps output pixel `i`'s centre to
//! `box0 + (i + 0.5) * scale` in the source, with `scale = box_width / out_width`, and
//! convolves with the triangle (bilinear) or Keys a = -0.5 (bicubic) kernel stretched by
//! `max(scale, 1)`, reaching outside the box where the kernel does (clamped to the image):
//! Pillow's `resize(size, filter, box=...)`. `fast_image_resize` stores the weights in 16-bit
//! fixed point (Pillow: 22 bits) and runs the vertical pass before the horizontal one (Pillow:
//! horizontal first), each pass rounding to u8; `tests/resize_reference.rs` documents the
//! resulting corridor against Pillow.

use std::cell::RefCell;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::{AugRng, Augment, ConfigError, ImageSize, Validate, check_range};

/// The largest output side the configs accept.
pub const MAX_OUTPUT_SIDE: u32 = 8192;

/// The resampling filter of the resizing stages (Pillow's names).
///
/// ```
/// use advbn_augmenters::Interpolation;
/// assert_eq!(Interpolation::default(), Interpolation::Bilinear);
/// let parsed: Interpolation = serde_json::from_str("\"bicubic\"").unwrap();
/// assert_eq!(parsed, Interpolation::Bicubic);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Triangle kernel, support 1 (Pillow's `BILINEAR`, torchvision's default).
    #[default]
    Bilinear,
    /// Keys cubic kernel with a = -0.5, support 2 (Pillow's `BICUBIC`).
    Bicubic,
}

impl Interpolation {
    fn filter(self) -> FilterType {
        match self {
            Interpolation::Bilinear => FilterType::Bilinear,
            // fast_image_resize's Catmull-Rom is the Keys kernel with a = -0.5, Pillow's bicubic.
            Interpolation::Bicubic => FilterType::CatmullRom,
        }
    }

    /// The kernel's half-width at scale 1.
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }
}

/// A box in source pixels, with fractional edges allowed (Pillow's `box` argument as
/// left, top, width, height).
///
/// ```
/// use advbn_augmenters::Region;
/// let r = Region::new(1.5, 0.0, 10.0, 4.0);
/// assert_eq!(r.left + r.width, 11.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Left edge, in source pixels.
    pub left: f64,
    /// Top edge, in source pixels.
    pub top: f64,
    /// Width, in source pixels.
    pub width: f64,
    /// Height, in source pixels.
    pub height: f64,
}

impl Region {
    /// A region from its left, top, width and height.
    pub fn new(left: f64, top: f64, width: f64, height: f64) -> Self {
        Self {
            left,
            top,
            width,
            height,
        }
    }

    /// The whole of an image of `size`.
    pub fn whole(size: ImageSize) -> Self {
        Self::new(0.0, 0.0, f64::from(size.width), f64::from(size.height))
    }

    /// The region clamped inside `0..extent` on each axis, at least a hair wide, so that
    /// `left < extent` and `left + width <= extent` hold exactly.
    fn clamped(self, size: ImageSize) -> Self {
        let (left, width) = clamp_axis(self.left, self.width, f64::from(size.width));
        let (top, height) = clamp_axis(self.top, self.height, f64::from(size.height));
        Self::new(left, top, width, height)
    }
}

fn clamp_axis(start: f64, len: f64, extent: f64) -> (f64, f64) {
    let start = if start.is_finite() {
        start.clamp(0.0, extent.next_down())
    } else {
        0.0
    };
    let len = if len.is_finite() && len > 0.0 {
        len
    } else {
        extent - start
    };
    let mut len = len.min(extent - start);
    while start + len > extent {
        len = len.next_down();
    }
    (start, len.max(f64::MIN_POSITIVE))
}

thread_local! {
    // One resizer per thread: it keeps its scratch buffers between calls.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Resamples `region` of `image` to `out` pixels: Pillow's
/// `image.resize((out.width, out.height), filter, box=(left, top, left + width, top + height))`
/// (within the corridor documented in `tests/resize_reference.rs`).
///
/// The region is clamped inside the image first; an empty image or an empty output gives a
/// black image of the output size.
///
/// ```
/// use advbn_augmenters::{ImageSize, Interpolation, Region, resize_region};
/// let img = image::RgbImage::from_pixel(8, 6, image::Rgb([10, 20, 30]));
/// let out = resize_region(&img, Region::new(0.5, 1.0, 4.0, 4.0), ImageSize::new(3, 2), Interpolation::Bilinear);
/// assert_eq!(out.dimensions(), (3, 2));
/// assert!(out.pixels().all(|p| p.0 == [10, 20, 30]));
/// ```
pub fn resize_region(
    image: &RgbImage,
    region: Region,
    out: ImageSize,
    interpolation: Interpolation,
) -> RgbImage {
    let size = ImageSize::of(image);
    if size.pixels() == 0 || out.pixels() == 0 {
        return RgbImage::new(out.width, out.height);
    }
    let region = region.clamped(size);
    let need_horizontal = f64::from(out.width) != region.width || region.left.fract() != 0.0;
    let need_vertical = f64::from(out.height) != region.height || region.top.fract() != 0.0;
    if !(need_horizontal && need_vertical) {
        return convolve(image, region, out, interpolation);
    }
    // Both passes, in Pillow's order: horizontal over the rows the vertical kernel reaches
    // (fast_image_resize alone would run the vertical pass first, which rounds a different
    // intermediate image to u8), then vertical.
    let reach = interpolation.support() * (region.height / f64::from(out.height)).max(1.0) + 1.0;
    let y0 = (region.top - reach).floor().max(0.0);
    let y1 = (region.top + region.height + reach)
        .ceil()
        .min(f64::from(size.height));
    let rows = ImageSize::new(out.width, (y1 - y0) as u32);
    let horizontal = Region::new(region.left, y0, region.width, f64::from(rows.height));
    let strip = convolve(image, horizontal, rows, interpolation);
    let vertical = Region::new(0.0, region.top - y0, f64::from(out.width), region.height);
    convolve(&strip, vertical.clamped(rows), out, interpolation)
}

/// One call of fast_image_resize on a region already inside the image.
fn convolve(image: &RgbImage, region: Region, out: ImageSize, interpolation: Interpolation) -> RgbImage {
    let size = ImageSize::of(image);
    let src = ImageRef::new(size.width, size.height, image.as_raw(), PixelType::U8x3)
        .expect("an RgbImage's buffer holds width * height * 3 bytes");
    let mut buf = vec![0u8; 3 * out.pixels()];
    {
        let mut dst = FirImage::from_slice_u8(out.width, out.height, &mut buf, PixelType::U8x3)
            .expect("the buffer holds width * height * 3 bytes");
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(interpolation.filter()))
            .crop(region.left, region.top, region.width, region.height);
        RESIZER
            .with_borrow_mut(|resizer| resizer.resize(&src, &mut dst, &options))
            .expect("same pixel types and a region inside the image");
    }
    RgbImage::from_raw(out.width, out.height, buf).expect("the buffer has the output's size")
}

/// Python's `round` on a float: to nearest, ties to even.
fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Crops a random box of random area and aspect ratio and resizes it to `size x size`
/// (torchvision's `RandomResizedCrop(size, scale, ratio)`, the ImageNet training crop).
///
/// The box is drawn with torchvision's `get_params`: up to ten tries of an area fraction
/// uniform in `scale` and a log-uniform aspect ratio (width / height) in `ratio`, rounded
/// half-to-even to whole pixels and kept if it fits, at a uniform position; otherwise the
/// centred box of the whole image clamped to the ratio range.
///
/// ```
/// use advbn_augmenters::{Augment, RandomResizedCrop, SampleKey, ImageSize};
/// let rrc = RandomResizedCrop { size: 32, ..Default::default() };
/// let img = image::RgbImage::new(100, 75);
/// let out = rrc.augment(&img, &mut SampleKey::new(1, 0, 5).rng());
/// assert_eq!(out.dimensions(), (32, 32));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomResizedCrop {
    /// Side of the square output (224 for ImageNet).
    pub size: u32,
    /// Range of the box's area as a fraction of the image's.
    #[serde(default = "default_scale")]
    pub scale: [f64; 2],
    /// Range of the box's aspect ratio, width / height.
    #[serde(default = "default_ratio")]
    pub ratio: [f64; 2],
    /// Resampling filter.
    #[serde(default)]
    pub interpolation: Interpolation,
}

fn default_scale() -> [f64; 2] {
    [0.08, 1.0]
}

fn default_ratio() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

impl Default for RandomResizedCrop {
    fn default() -> Self {
        Self {
            size: 224,
            scale: default_scale(),
            ratio: default_ratio(),
            interpolation: Interpolation::default(),
        }
    }
}

/// A crop box in whole source pixels.
///
/// ```
/// use advbn_augmenters::CropBox;
/// let b = CropBox { left: 2, top: 1, width: 5, height: 3 };
/// assert_eq!(b.area(), 15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CropBox {
    /// Column of the box's left edge.
    pub left: u32,
    /// Row of the box's top edge.
    pub top: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl CropBox {
    /// Number of pixels in the box.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The box as a float [`Region`].
    pub fn region(&self) -> Region {
        Region::new(
            f64::from(self.left),
            f64::from(self.top),
            f64::from(self.width),
            f64::from(self.height),
        )
    }
}

impl Validate for RandomResizedCrop {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("size", self.size, 1, MAX_OUTPUT_SIDE)?;
        let [s0, s1] = self.scale;
        if !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return Err(ConfigError::new(
                "scale",
                format!("is {:?}, must satisfy 0 < scale[0] <= scale[1] <= 1", self.scale),
            ));
        }
        let [r0, r1] = self.ratio;
        if !(r0 > 0.0 && r0 <= r1 && r1.is_finite()) {
            return Err(ConfigError::new(
                "ratio",
                format!("is {:?}, must satisfy 0 < ratio[0] <= ratio[1] < inf", self.ratio),
            ));
        }
        Ok(())
    }
}

impl RandomResizedCrop {
    /// The box `sample` draws for an image of `size` (torchvision's `get_params`).
    fn crop_box(&self, rng: &mut AugRng, size: ImageSize) -> CropBox {
        let (width, height) = (size.width, size.height);
        let area = f64::from(width) * f64::from(height);
        let [s0, s1] = self.scale;
        let (log_r0, log_r1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..10 {
            let target_area = area * (s0 + (s1 - s0) * rng.random::<f64>());
            let aspect = (log_r0 + (log_r1 - log_r0) * rng.random::<f64>()).exp();
            let w = round_half_even((target_area * aspect).sqrt());
            let h = round_half_even((target_area / aspect).sqrt());
            if 0.0 < w && w <= f64::from(width) && 0.0 < h && h <= f64::from(height) {
                let (w, h) = (w as u32, h as u32);
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return CropBox {
                    left,
                    top,
                    width: w,
                    height: h,
                };
            }
        }
        // Fallback: the whole image, clamped to the ratio range, centred.
        let in_ratio = f64::from(width) / f64::from(height);
        let (r_min, r_max) = (self.ratio[0].min(self.ratio[1]), self.ratio[0].max(self.ratio[1]));
        let (w, h) = if in_ratio < r_min {
            (width, round_half_even(f64::from(width) / r_min) as u32)
        } else if in_ratio > r_max {
            (round_half_even(f64::from(height) * r_max) as u32, height)
        } else {
            (width, height)
        };
        // Clamped for the degenerate ratios rounding can give on tiny images (1 x n).
        let (w, h) = (w.clamp(1, width.max(1)), h.clamp(1, height.max(1)));
        CropBox {
            left: (width - w) / 2,
            top: (height - h) / 2,
            width: w,
            height: h,
        }
    }
}

impl Augment for RandomResizedCrop {
    type Params = CropBox;
    type Output = RgbImage;

    fn sample(&self, rng: &mut AugRng, size: ImageSize) -> CropBox {
        if size.pixels() == 0 {
            return CropBox {
                left: 0,
                top: 0,
                width: size.width,
                height: size.height,
            };
        }
        self.crop_box(rng, size)
    }

    fn output_size(&self, _input: ImageSize, _params: &CropBox) -> ImageSize {
        ImageSize::new(self.size, self.size)
    }

    /// Crops `params` (clamped inside the image) and resizes it to `size x size`.
    fn apply(&self, image: &RgbImage, params: &CropBox) -> RgbImage {
        resize_region(
            image,
            params.region(),
            ImageSize::new(self.size, self.size),
            self.interpolation,
        )
    }
}

/// The output size of [`Resize`]: the shorter side, or an exact width and height.
///
/// In a recipe, `size = 256` is [`ResizeTarget::Shorter`] and `size = [320, 240]` (width,
/// height) is [`ResizeTarget::Exact`].
///
/// ```
/// use advbn_augmenters::{ImageSize, ResizeTarget};
/// assert_eq!(ResizeTarget::Shorter(256).output_size(ImageSize::new(500, 375)), ImageSize::new(341, 256));
/// assert_eq!(ResizeTarget::Exact([64, 32]).output_size(ImageSize::new(500, 375)), ImageSize::new(64, 32));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResizeTarget {
    /// The shorter side becomes this; the longer one `int(size * long / short)`, truncated
    /// (torchvision's `Resize(int)`).
    Shorter(u32),
    /// Exactly `[width, height]`.
    Exact([u32; 2]),
}

impl ResizeTarget {
    /// The output size for an input of `input`.
    pub fn output_size(&self, input: ImageSize) -> ImageSize {
        match *self {
            ResizeTarget::Shorter(side) => shorter_side_to(input, side),
            ResizeTarget::Exact([w, h]) => ImageSize::new(w, h),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            ResizeTarget::Shorter(side) => check_range("size", side, 1, MAX_OUTPUT_SIDE),
            ResizeTarget::Exact([w, h]) => {
                check_range("size[0]", w, 1, MAX_OUTPUT_SIDE)?;
                check_range("size[1]", h, 1, MAX_OUTPUT_SIDE)
            }
        }
    }
}

/// torchvision's `_compute_resized_output_size` for an int size: the shorter side becomes
/// `side`, the longer `int(side * long / short)` (a correctly rounded float division, then
/// truncation, as in Python).
fn shorter_side_to(input: ImageSize, side: u32) -> ImageSize {
    let (w, h) = (input.width, input.height);
    if w == 0 || h == 0 {
        return input;
    }
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = (f64::from(side) * f64::from(long) / f64::from(short)) as u32;
    if w <= h {
        ImageSize::new(side, new_long)
    } else {
        ImageSize::new(new_long, side)
    }
}

/// Resizes the whole image (torchvision's `Resize`): deterministic, no parameters.
///
/// ```
/// use advbn_augmenters::{Augment, Resize, ResizeTarget, Interpolation};
/// let resize: Resize = toml::from_str("size = 16").unwrap();
/// assert_eq!(resize, Resize { size: ResizeTarget::Shorter(16), interpolation: Interpolation::Bilinear });
/// let out = resize.apply(&image::RgbImage::new(40, 20), &());
/// assert_eq!(out.dimensions(), (32, 16));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// The output size.
    pub size: ResizeTarget,
    /// Resampling filter.
    #[serde(default)]
    pub interpolation: Interpolation,
}

impl Default for Resize {
    fn default() -> Self {
        Self {
            size: ResizeTarget::Shorter(256),
            interpolation: Interpolation::default(),
        }
    }
}

impl Validate for Resize {
    fn validate(&self) -> Result<(), ConfigError> {
        self.size.validate()
    }
}

impl Augment for Resize {
    type Params = ();
    type Output = RgbImage;

    fn sample(&self, _rng: &mut AugRng, _size: ImageSize) {}

    fn output_size(&self, input: ImageSize, _params: &()) -> ImageSize {
        self.size.output_size(input)
    }

    fn apply(&self, image: &RgbImage, _params: &()) -> RgbImage {
        let size = ImageSize::of(image);
        resize_region(
            image,
            Region::whole(size),
            self.size.output_size(size),
            self.interpolation,
        )
    }
}

/// The evaluation transform: the shorter side to `floor(size / crop_fraction)` (256 for 224
/// at the default 0.875), then the centred `size x size` crop (torchvision's
/// `Resize(int(size / crop_fraction))` + `CenterCrop(size)`, timm's `crop_pct`).
///
/// Only the cropped part is resampled: the crop's box in the resized image maps back to a
/// fractional box in the source, which is exactly what the two steps compute (each output
/// pixel's centre lands at the same source coordinate).
///
/// ```
/// use advbn_augmenters::{Augment, CenterCrop};
/// let cc = CenterCrop { size: 224, ..Default::default() };
/// let out = cc.apply(&image::RgbImage::new(500, 375), &());
/// assert_eq!(out.dimensions(), (224, 224));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterCrop {
    /// Side of the square output.
    pub size: u32,
    /// The crop's side as a fraction of the resized shorter side.
    #[serde(default = "default_crop_fraction")]
    pub crop_fraction: f64,
    /// Resampling filter.
    #[serde(default)]
    pub interpolation: Interpolation,
}

fn default_crop_fraction() -> f64 {
    0.875
}

impl Default for CenterCrop {
    fn default() -> Self {
        Self {
            size: 224,
            crop_fraction: default_crop_fraction(),
            interpolation: Interpolation::default(),
        }
    }
}

/// Largest intermediate shorter side [`CenterCrop`] accepts (`size / crop_fraction`).
const MAX_RESIZED_SIDE: f64 = 4.0 * MAX_OUTPUT_SIDE as f64;

impl Validate for CenterCrop {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("size", self.size, 1, MAX_OUTPUT_SIDE)?;
        let f = self.crop_fraction;
        if !(f > 0.0 && f <= 1.0 && f64::from(self.size) / f <= MAX_RESIZED_SIDE) {
            return Err(ConfigError::new(
                "crop_fraction",
                format!("is {f:?}, must be in (0, 1] with size / crop_fraction <= {MAX_RESIZED_SIDE}"),
            ));
        }
        Ok(())
    }
}

impl CenterCrop {
    /// The shorter side of the intermediate resize: `floor(size / crop_fraction)`.
    pub fn resize_side(&self) -> u32 {
        (f64::from(self.size) / self.crop_fraction).floor() as u32
    }

    /// The size of the intermediate resize and the crop's top-left corner in it, for an
    /// input of `input`: torchvision's `CenterCrop` offsets `int(round((h - size) / 2))`.
    ///
    /// ```
    /// use advbn_augmenters::{CenterCrop, ImageSize};
    /// let (resized, left, top) = CenterCrop::default().layout(ImageSize::new(500, 375));
    /// assert_eq!((resized, left, top), (ImageSize::new(341, 256), 58, 16));
    /// ```
    pub fn layout(&self, input: ImageSize) -> (ImageSize, u32, u32) {
        let resized = shorter_side_to(input, self.resize_side());
        let offset = |extent: u32| {
            let gap = f64::from(extent) - f64::from(self.size);
            round_half_even(gap / 2.0).max(0.0) as u32
        };
        (resized, offset(resized.width), offset(resized.height))
    }

    /// The source region whose resampling to `size x size` is the crop of the resized image.
    pub fn region(&self, input: ImageSize) -> Region {
        let (resized, left, top) = self.layout(input);
        let sx = f64::from(input.width) / f64::from(resized.width.max(1));
        let sy = f64::from(input.height) / f64::from(resized.height.max(1));
        let side = f64::from(self.size);
        Region::new(f64::from(left) * sx, f64::from(top) * sy, side * sx, side * sy)
    }
}

impl Augment for CenterCrop {
    type Params = ();
    type Output = RgbImage;

    fn sample(&self, _rng: &mut AugRng, _size: ImageSize) {}

    fn output_size(&self, _input: ImageSize, _params: &()) -> ImageSize {
        ImageSize::new(self.size, self.size)
    }

    fn apply(&self, image: &RgbImage, _params: &()) -> RgbImage {
        let size = ImageSize::of(image);
        resize_region(
            image,
            self.region(size),
            ImageSize::new(self.size, self.size),
            self.interpolation,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SampleKey;

    fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
        let mut s = seed | 1;
        RgbImage::from_fn(w, h, |x, y| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            image::Rgb([s as u8, (x * 7 + y * 3) as u8, (s >> 16) as u8])
        })
    }

    #[test]
    fn same_size_integer_region_is_a_copy() {
        let img = noise(13, 9, 1);
        let out = resize_region(
            &img,
            Region::whole(ImageSize::of(&img)),
            ImageSize::of(&img),
            Interpolation::Bicubic,
        );
        assert_eq!(out, img);
        let out = resize_region(
            &img,
            Region::new(2.0, 3.0, 5.0, 4.0),
            ImageSize::new(5, 4),
            Interpolation::Bilinear,
        );
        assert_eq!(out, image::imageops::crop_imm(&img, 2, 3, 5, 4).to_image());
    }

    #[test]
    fn out_of_range_regions_are_clamped() {
        let img = noise(5, 4, 2);
        for region in [
            Region::new(-3.0, -1.0, 100.0, 100.0),
            Region::new(10.0, 10.0, 0.0, -1.0),
            Region::new(f64::NAN, 0.0, f64::INFINITY, 2.0),
        ] {
            let out = resize_region(&img, region, ImageSize::new(3, 3), Interpolation::Bilinear);
            assert_eq!(out.dimensions(), (3, 3));
        }
        // A fractional start inside the last pixel is kept (not moved to a whole pixel).
        let edge = Region::new(4.5, 0.0, 0.5, 4.0).clamped(ImageSize::new(5, 4));
        assert_eq!((edge.left, edge.width), (4.5, 0.5));
        let empty = RgbImage::new(0, 0);
        assert_eq!(
            resize_region(
                &empty,
                Region::new(0.0, 0.0, 1.0, 1.0),
                ImageSize::new(2, 2),
                Interpolation::Bilinear
            )
            .dimensions(),
            (2, 2)
        );
    }

    #[test]
    fn shorter_side_rule_truncates_like_torchvision() {
        assert_eq!(
            shorter_side_to(ImageSize::new(500, 375), 256),
            ImageSize::new(341, 256)
        );
        assert_eq!(
            shorter_side_to(ImageSize::new(375, 500), 256),
            ImageSize::new(256, 341)
        );
        assert_eq!(
            shorter_side_to(ImageSize::new(224, 224), 256),
            ImageSize::new(256, 256)
        );
        assert_eq!(
            shorter_side_to(ImageSize::new(1000, 10), 256),
            ImageSize::new(25600, 256)
        );
        assert_eq!(shorter_side_to(ImageSize::new(3, 7), 2), ImageSize::new(2, 4));
    }

    #[test]
    fn fallback_is_the_centred_ratio_clamped_box() {
        let rrc = RandomResizedCrop::default();
        let b = rrc.sample(&mut SampleKey::new(0, 0, 0).rng(), ImageSize::new(1000, 10));
        // in_ratio 100 > 4/3: h = 10, w = round(10 * 4/3) = 13, centred.
        assert_eq!(
            b,
            CropBox {
                left: 493,
                top: 0,
                width: 13,
                height: 10
            }
        );
        let b = rrc.sample(&mut SampleKey::new(0, 0, 0).rng(), ImageSize::new(10, 1000));
        assert_eq!(
            b,
            CropBox {
                left: 0,
                top: 493,
                width: 10,
                height: 13
            }
        );
    }

    #[test]
    fn center_crop_layout_of_an_already_square_image_still_resizes() {
        let cc = CenterCrop::default();
        assert_eq!(cc.resize_side(), 256);
        assert_eq!(
            cc.layout(ImageSize::new(224, 224)),
            (ImageSize::new(256, 256), 16, 16)
        );
        // (257 - 224) / 2 = 16.5 rounds half to even: 16.
        let (resized, left, _) = CenterCrop::default().layout(ImageSize::new(257 * 4, 256 * 4));
        assert_eq!((resized.width, left), (257, 16));
    }

    #[test]
    fn validation_names_the_key() {
        let bad = RandomResizedCrop {
            scale: [0.5, 0.2],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "scale");
        let bad = RandomResizedCrop {
            ratio: [0.0, 1.0],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "ratio");
        let bad = RandomResizedCrop {
            size: 0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "size");
        assert_eq!(
            Resize {
                size: ResizeTarget::Exact([10, 0]),
                ..Default::default()
            }
            .validate()
            .unwrap_err()
            .key,
            "size[1]"
        );
        let bad = CenterCrop {
            crop_fraction: 1.5,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "crop_fraction");
        assert!(RandomResizedCrop::default().validate().is_ok());
        assert!(Resize::default().validate().is_ok());
        assert!(CenterCrop::default().validate().is_ok());
    }

    #[test]
    fn resize_target_parses_both_recipe_forms() {
        let r: Resize = toml::from_str("size = 256").unwrap();
        assert_eq!(r.size, ResizeTarget::Shorter(256));
        let r: Resize = toml::from_str("size = [320, 240]\ninterpolation = \"bicubic\"").unwrap();
        assert_eq!(r.size, ResizeTarget::Exact([320, 240]));
        assert_eq!(r.interpolation, Interpolation::Bicubic);
        assert!(toml::from_str::<Resize>("size = [1, 2, 3]").is_err());
    }
}
