//! Photo folders made from the CIFAR-10 JPEG copy: each 32x32 image upscaled (bicubic, with
//! a little seeded noise so that the result is not unnaturally smooth) to a photo size and
//! saved in one of the common file modes, in torchvision's `ImageFolder` layout with
//! ImageNet's `train`/`val` split names and `.JPEG` extension.
//!
//! Shared by the integration tests (`mod common;`) and the `photo_folder` example, which
//! makes the large folders of the benchmarks.

#![allow(dead_code)]

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, RgbImage, imageops::FilterType};

/// Aspect ratios of typical ImageNet photos (500x375 is the most common size), scaled by
/// the folder's `scale`.
pub const PHOTO_SIZES: [(u32, u32); 5] = [(500, 375), (375, 500), (500, 333), (640, 480), (333, 500)];

/// How a photo is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Baseline JPEG, 4:2:0, quality 85.
    Jpeg,
    /// Progressive JPEG.
    ProgressiveJpeg,
    /// Adobe CMYK JPEG.
    CmykJpeg,
    /// Adobe YCCK JPEG.
    YcckJpeg,
    /// Greyscale JPEG.
    GreyJpeg,
    /// 8-bit RGB PNG.
    Png,
    /// 8-bit RGBA PNG (opaque alpha ramp).
    RgbaPng,
    /// 8-bit grey PNG.
    GreyPng,
    /// Grey + alpha PNG.
    GreyAlphaPng,
    /// 16-bit RGB PNG.
    Rgb16Png,
    /// 16-bit grey PNG.
    Grey16Png,
    /// 8-bit palette PNG (a 6x6x6 colour cube).
    PalettePng,
}

impl Mode {
    /// Every mode, in the order a mixed folder cycles through them.
    pub const ALL: [Mode; 12] = [
        Mode::Jpeg,
        Mode::ProgressiveJpeg,
        Mode::CmykJpeg,
        Mode::YcckJpeg,
        Mode::GreyJpeg,
        Mode::Png,
        Mode::RgbaPng,
        Mode::GreyPng,
        Mode::GreyAlphaPng,
        Mode::Rgb16Png,
        Mode::Grey16Png,
        Mode::PalettePng,
    ];

    /// The file extension (ImageNet's upper-case `JPEG` for JPEGs).
    pub fn extension(self) -> &'static str {
        match self {
            Mode::Jpeg | Mode::ProgressiveJpeg | Mode::CmykJpeg | Mode::YcckJpeg | Mode::GreyJpeg => "JPEG",
            _ => "png",
        }
    }
}

/// `small` upscaled to `(w, h)` with seeded noise of +-6 levels.
pub fn upscale(small: &RgbImage, (w, h): (u32, u32), seed: u64) -> RgbImage {
    let mut big = image::imageops::resize(small, w, h, FilterType::CatmullRom);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for value in big.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 13) as i16 - 6;
        *value = (i16::from(*value) + noise).clamp(0, 255) as u8;
    }
    big
}

/// Writes `rgb` to `path` in `mode`.
pub fn write_photo(rgb: &RgbImage, mode: Mode, path: &Path) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("create the class folder");
    let (w, h) = rgb.dimensions();
    let jpeg = |data: &[u8], kind: jpeg_encoder::ColorType, progressive: bool| {
        let mut encoder = jpeg_encoder::Encoder::new_file(path, 85).expect("create the file");
        encoder.set_progressive(progressive);
        encoder
            .encode(data, w as u16, h as u16, kind)
            .expect("encode a JPEG");
    };
    let grey = DynamicImage::ImageRgb8(rgb.clone()).into_luma8();
    match mode {
        Mode::Jpeg => jpeg(rgb.as_raw(), jpeg_encoder::ColorType::Rgb, false),
        Mode::ProgressiveJpeg => jpeg(rgb.as_raw(), jpeg_encoder::ColorType::Rgb, true),
        Mode::CmykJpeg | Mode::YcckJpeg => {
            let cmyk: Vec<u8> = rgb
                .pixels()
                .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
                .collect();
            let kind = if mode == Mode::CmykJpeg {
                jpeg_encoder::ColorType::Cmyk
            } else {
                jpeg_encoder::ColorType::CmykAsYcck
            };
            jpeg(&cmyk, kind, false)
        }
        Mode::GreyJpeg => jpeg(grey.as_raw(), jpeg_encoder::ColorType::Luma, false),
        Mode::Png => rgb.save_with_format(path, image::ImageFormat::Png).expect("png"),
        Mode::RgbaPng => {
            let rgba = ImageBuffer::from_fn(w, h, |x, y| {
                let p = rgb.get_pixel(x, y);
                image::Rgba([p[0], p[1], p[2], (128 + x % 128) as u8])
            });
            DynamicImage::ImageRgba8(rgba)
                .save_with_format(path, image::ImageFormat::Png)
                .expect("png")
        }
        Mode::GreyPng => grey.save_with_format(path, image::ImageFormat::Png).expect("png"),
        Mode::GreyAlphaPng => DynamicImage::ImageRgb8(rgb.clone())
            .into_luma_alpha8()
            .save_with_format(path, image::ImageFormat::Png)
            .expect("png"),
        Mode::Rgb16Png => DynamicImage::ImageRgb8(rgb.clone())
            .into_rgb16()
            .save_with_format(path, image::ImageFormat::Png)
            .expect("png"),
        Mode::Grey16Png => DynamicImage::ImageRgb8(rgb.clone())
            .into_luma16()
            .save_with_format(path, image::ImageFormat::Png)
            .expect("png"),
        Mode::PalettePng => {
            let level = |v: u8| (u16::from(v) * 5 + 127) / 255;
            let indices: Vec<u8> = rgb
                .pixels()
                .map(|p| (level(p[0]) * 36 + level(p[1]) * 6 + level(p[2])) as u8)
                .collect();
            let palette: Vec<u8> = (0..216u16)
                .flat_map(|i| [i / 36, i / 6 % 6, i % 6].map(|l| (l * 51) as u8))
                .collect();
            let file = fs::File::create(path).expect("create the file");
            let mut encoder = png::Encoder::new(BufWriter::new(file), w, h);
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_palette(palette);
            let mut writer = encoder.write_header().expect("png header");
            writer.write_image_data(&indices).expect("png data");
        }
    }
}

/// What [`make_photo_folder`] writes.
#[derive(Clone, Debug)]
pub struct PhotoFolder {
    /// CIFAR-10 classes to use (the first ones in sorted order).
    pub classes: usize,
    /// Photos per class in `train/`.
    pub train_per_class: usize,
    /// Photos per class in `val/`.
    pub val_per_class: usize,
    /// Photo sizes are [`PHOTO_SIZES`] times this.
    pub scale: f64,
    /// Cycle through every [`Mode`] (else all baseline JPEG).
    pub all_modes: bool,
}

/// Writes a photo folder at `out` from the unpacked CIFAR-10 JPEG copy at `cifar_root`
/// (`train/<class>/NNNN.jpg`; the val photos come from CIFAR's test split). Returns the
/// written files.
pub fn make_photo_folder(cifar_root: &Path, out: &Path, spec: &PhotoFolder) -> Vec<PathBuf> {
    let mut classes: Vec<String> = fs::read_dir(cifar_root.join("train"))
        .expect("the CIFAR copy's train folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    let mut written = Vec::new();
    let mut counter = 0u64;
    for class in classes.iter().take(spec.classes) {
        for (split, from, count) in [
            ("train", "train", spec.train_per_class),
            ("val", "test", spec.val_per_class),
        ] {
            for i in 0..count {
                let source = cifar_root.join(from).join(class).join(format!("{i:04}.jpg"));
                let small = image::open(&source)
                    .unwrap_or_else(|e| panic!("{}: {e}", source.display()))
                    .into_rgb8();
                let (w, h) = PHOTO_SIZES[counter as usize % PHOTO_SIZES.len()];
                let size = (
                    ((f64::from(w) * spec.scale).round() as u32).max(1),
                    ((f64::from(h) * spec.scale).round() as u32).max(1),
                );
                let mode = if spec.all_modes {
                    Mode::ALL[counter as usize % Mode::ALL.len()]
                } else {
                    Mode::Jpeg
                };
                let path = out
                    .join(split)
                    .join(class)
                    .join(format!("{class}_{i:05}.{}", mode.extension()));
                write_photo(&upscale(&small, size, counter), mode, &path);
                written.push(path);
                counter += 1;
            }
        }
    }
    written
}
