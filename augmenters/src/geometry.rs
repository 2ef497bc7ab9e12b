//! The geometry usual before AugMix on CIFAR: random crop with zero padding and horizontal
//! flip (torchvision's `RandomCrop(32, padding=4)` and `RandomHorizontalFlip()`).

use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::{AugRng, Augment, ConfigError, ImageSize, Validate, check_range};

/// Pads the image with `padding` black pixels on every side, then crops a random window of
/// the original size (torchvision `RandomCrop(size, padding)` with `fill = 0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomCrop {
    /// Zero padding on each side, in pixels (4 for CIFAR).
    #[serde(default = "default_padding")]
    pub padding: u32,
}

fn default_padding() -> u32 {
    4
}

impl Default for RandomCrop {
    fn default() -> Self {
        Self { padding: 4 }
    }
}

/// Where the crop window starts, in padded coordinates (0..=2*padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropParams {
    /// Column of the window's left edge in the padded image.
    pub left: u32,
    /// Row of the window's top edge in the padded image.
    pub top: u32,
}

impl Validate for RandomCrop {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("padding", self.padding, 0, 1024)
    }
}

impl Augment for RandomCrop {
    type Params = CropParams;
    type Output = RgbImage;

    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> CropParams {
        let span = 2 * self.padding;
        CropParams {
            left: rng.random_range(0..=span),
            top: rng.random_range(0..=span),
        }
    }

    fn apply(&self, image: &RgbImage, params: &CropParams) -> RgbImage {
        let (w, h) = image.dimensions();
        let pad = i64::from(self.padding);
        let (dx, dy) = (i64::from(params.left) - pad, i64::from(params.top) - pad);
        let mut out = RgbImage::new(w, h);
        let src = image.as_raw();
        let row_len = 3 * w as usize;
        for y in 0..h as i64 {
            let sy = y + dy;
            if !(0..h as i64).contains(&sy) {
                continue;
            }
            // The overlap of the destination row with the shifted source row.
            let x0 = (-dx).clamp(0, w as i64);
            let x1 = (w as i64 - dx).clamp(0, w as i64);
            if x0 >= x1 {
                continue;
            }
            let dst_start = y as usize * row_len + 3 * x0 as usize;
            let src_start = sy as usize * row_len + 3 * (x0 + dx) as usize;
            let len = 3 * (x1 - x0) as usize;
            out.as_mut()[dst_start..dst_start + len].copy_from_slice(&src[src_start..src_start + len]);
        }
        out
    }
}

/// Mirrors the image left-right with probability `p` (0.5 for CIFAR).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizontalFlip {
    /// Probability of flipping.
    #[serde(default = "default_flip_p")]
    pub p: f64,
}

fn default_flip_p() -> f64 {
    0.5
}

impl Default for HorizontalFlip {
    fn default() -> Self {
        Self { p: 0.5 }
    }
}

/// Whether this application flips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlipParams {
    /// True to mirror.
    pub flip: bool,
}

impl Validate for HorizontalFlip {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("p", self.p, 0.0, 1.0)
    }
}

impl Augment for HorizontalFlip {
    type Params = FlipParams;
    type Output = RgbImage;

    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> FlipParams {
        FlipParams {
            flip: rng.random::<f64>() < self.p,
        }
    }

    fn apply(&self, image: &RgbImage, params: &FlipParams) -> RgbImage {
        if params.flip {
            image::imageops::flip_horizontal(image)
        } else {
            image.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x + y) as u8]))
    }

    #[test]
    fn centred_crop_is_identity() {
        let img = ramp(5, 4);
        let crop = RandomCrop { padding: 2 };
        assert_eq!(crop.apply(&img, &CropParams { left: 2, top: 2 }), img);
    }

    #[test]
    fn crop_shifts_and_fills_black() {
        let img = ramp(3, 3);
        let crop = RandomCrop { padding: 1 };
        // Window starting at padded (0, 0): the output's first row and column are padding.
        let out = crop.apply(&img, &CropParams { left: 0, top: 0 });
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(1, 1).0, img.get_pixel(0, 0).0);
        assert_eq!(out.get_pixel(2, 2).0, img.get_pixel(1, 1).0);
        // Window starting at padded (2, 2): shifted the other way.
        let out = crop.apply(&img, &CropParams { left: 2, top: 2 });
        assert_eq!(out.get_pixel(0, 0).0, img.get_pixel(1, 1).0);
        assert_eq!(out.get_pixel(2, 2).0, [0, 0, 0]);
    }

    #[test]
    fn crop_of_padding_larger_than_image_is_black() {
        let img = ramp(2, 2);
        let out = RandomCrop { padding: 4 }.apply(&img, &CropParams { left: 0, top: 0 });
        assert!(out.as_raw().iter().all(|&v| v == 0));
    }

    #[test]
    fn flip_mirrors() {
        let img = ramp(3, 2);
        let out = HorizontalFlip::default().apply(&img, &FlipParams { flip: true });
        assert_eq!(out.get_pixel(0, 1), img.get_pixel(2, 1));
        assert_eq!(
            HorizontalFlip::default().apply(&img, &FlipParams { flip: false }),
            img
        );
    }

    #[test]
    fn validation_names_the_key() {
        let err = HorizontalFlip { p: 1.5 }.validate().unwrap_err();
        assert_eq!(err.key, "p");
        assert!(err.to_string().contains("0.0..=1.0"), "{err}");
    }
}
