//! Test images shared by the property tests (include with `mod support;`).

#![allow(dead_code)]

use image::RgbImage;
use proptest::prelude::*;

/// A `w x h` image of seeded noise mixed with a gradient, so that histograms and edges are
/// non-trivial.
pub fn image_from(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed | 1;
    RgbImage::from_fn(w, h, |x, y| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        image::Rgb([
            (s as u8) / 2 + (x % 128) as u8,
            (s >> 8) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

/// Any image from 1x1 to 300x300.
pub fn any_image() -> impl Strategy<Value = RgbImage> {
    (1u32..=300, 1u32..=300, any::<u64>()).prop_map(|(w, h, seed)| image_from(w, h, seed))
}
