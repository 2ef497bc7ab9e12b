//! Pixel containers and the explicit conversions between them.
//!
//! Between ops, images are [`RgbImage`] (u8, HWC, row-major). Ops that must produce
//! floats (AugMix's mixing, convolutions) return a [`FloatImage`]: f32, HWC, nominally in
//! [0, 1]. Every conversion between the two, and from other colour layouts, is a named
//! function here; nothing converts implicitly.

use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Serialize};

/// Width and height of an image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSize {
    /// Number of columns.
    pub width: u32,
    /// Number of rows.
    pub height: u32,
}

impl ImageSize {
    /// A size from width and height.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// The size of an image.
    pub fn of(image: &RgbImage) -> Self {
        Self::new(image.width(), image.height())
    }

    /// Number of pixels.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// An RGB image of f32 samples, HWC (row-major, channels interleaved), nominally in [0, 1].
///
/// ```
/// use advbn_augmenters::{FloatImage, ImageSize};
/// let img = FloatImage::filled(ImageSize::new(2, 1), [0.0, 0.5, 1.0]);
/// assert_eq!(img.pixel(1, 0), [0.0, 0.5, 1.0]);
/// assert_eq!(img.to_chw().len(), 6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FloatImage {
    size: ImageSize,
    data: Vec<f32>,
}

impl FloatImage {
    /// Wraps HWC data; `None` when its length is not `3 * width * height`.
    pub fn from_raw(size: ImageSize, data: Vec<f32>) -> Option<Self> {
        (data.len() == 3 * size.pixels()).then_some(Self { size, data })
    }

    /// An image with every pixel set to `rgb`.
    pub fn filled(size: ImageSize, rgb: [f32; 3]) -> Self {
        let data = rgb.iter().copied().cycle().take(3 * size.pixels()).collect();
        Self { size, data }
    }

    /// u8 -> f32 by `v / 255` (what torchvision's `ToTensor` does).
    pub fn from_rgb8(image: &RgbImage) -> Self {
        let data = image.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        Self {
            size: ImageSize::of(image),
            data,
        }
    }

    /// The image's size.
    pub fn size(&self) -> ImageSize {
        self.size
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.size.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.size.height
    }

    /// The HWC samples.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The HWC samples, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the image, returning its HWC samples.
    pub fn into_raw(self) -> Vec<f32> {
        self.data
    }

    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [f32; 3] {
        let i = 3 * (y as usize * self.size.width as usize + x as usize);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The samples in CHW order (planar), as a neural network consumes them.
    pub fn to_chw(&self) -> Vec<f32> {
        let n = self.size.pixels();
        let mut out = vec![0.0; 3 * n];
        for (i, px) in self.data.chunks_exact(3).enumerate() {
            out[i] = px[0];
            out[n + i] = px[1];
            out[2 * n + i] = px[2];
        }
        out
    }

    /// f32 -> u8 by clamping to [0, 1], scaling by 255 and rounding to nearest.
    pub fn to_rgb8(&self) -> RgbImage {
        let raw = self
            .data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        RgbImage::from_raw(self.size.width, self.size.height, raw).expect("length checked")
    }
}

/// Either kind of image; what a pipeline stage receives and returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// u8 RGB.
    Rgb8(RgbImage),
    /// f32 RGB in [0, 1].
    Float(FloatImage),
}

impl Image {
    /// The image's size.
    pub fn size(&self) -> ImageSize {
        match self {
            Image::Rgb8(img) => ImageSize::of(img),
            Image::Float(img) => img.size(),
        }
    }

    /// As u8: a float image is quantized with [`FloatImage::to_rgb8`].
    pub fn into_rgb8(self) -> RgbImage {
        match self {
            Image::Rgb8(img) => img,
            Image::Float(img) => img.to_rgb8(),
        }
    }

    /// As f32: a u8 image is scaled with [`FloatImage::from_rgb8`].
    pub fn into_float(self) -> FloatImage {
        match self {
            Image::Rgb8(img) => FloatImage::from_rgb8(&img),
            Image::Float(img) => img,
        }
    }

    /// CHW f32 samples in [0, 1] (for tensors).
    pub fn to_chw(&self) -> Vec<f32> {
        match self {
            Image::Rgb8(img) => FloatImage::from_rgb8(img).to_chw(),
            Image::Float(img) => img.to_chw(),
        }
    }
}

/// Converts any decoded image to RGB8, explicitly:
/// grey is replicated into the three channels, alpha is dropped (not composited: the colour
/// values are kept as stored), 16-bit and float samples are rescaled to 8 bits.
///
/// ```
/// use image::{DynamicImage, GrayImage, Luma};
/// let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([7])));
/// assert_eq!(advbn_augmenters::to_rgb8(grey).get_pixel(0, 0).0, [7, 7, 7]);
/// ```
pub fn to_rgb8(image: DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(img) => img,
        other => other.to_rgb8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgba, RgbaImage};

    #[test]
    fn u8_float_round_trip_is_exact() {
        let raw: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
        let img = RgbImage::from_raw(256, 1, raw).unwrap();
        assert_eq!(FloatImage::from_rgb8(&img).to_rgb8(), img);
    }

    #[test]
    fn chw_is_planar() {
        let img = RgbImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let chw: Vec<u8> = FloatImage::from_rgb8(&img)
            .to_chw()
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        assert_eq!(chw, vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn float_to_u8_clamps_and_rounds() {
        let img = FloatImage::from_raw(ImageSize::new(1, 1), vec![-0.5, 0.5, 1.5]).unwrap();
        assert_eq!(img.to_rgb8().get_pixel(0, 0).0, [0, 128, 255]);
    }

    #[test]
    fn grey_and_rgba_convert_explicitly() {
        let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(2, 2, Luma([9])));
        assert_eq!(to_rgb8(grey).get_pixel(1, 1).0, [9, 9, 9]);
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(1, 1, Rgba([1, 2, 3, 0])));
        assert_eq!(to_rgb8(rgba).get_pixel(0, 0).0, [1, 2, 3]);
    }

    #[test]
    fn from_raw_rejects_wrong_length() {
        assert!(FloatImage::from_raw(ImageSize::new(2, 2), vec![0.0; 11]).is_none());
    }
}
