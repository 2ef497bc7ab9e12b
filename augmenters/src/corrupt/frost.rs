//! `frost`: `clip(a x + b frost, 0, 255)` with `frost` a random crop of a frost texture.
//!
//! The references load six photographs (`frost1.png` ... `frost6.jpg`) and draw from the first
//! five (`randint(5)`). We may not ship those photographs, so by default the textures are
//! **procedural**: five textures generated once per process, of the photographs' sizes, whose
//! per-channel mean and standard deviation, per-channel correlation with luminance and
//! radially averaged power-spectrum slope match those we measured on the five photographs
//! (table below). Each is a diamond-square fractal (the spectrum) plus a layer of thin,
//! blurred, randomly oriented ice needles (the crystalline look), standardised and mapped to
//! the photograph's colour statistics. What differs: the actual shapes (no real ice
//! dendrites, no large-scale composition such as a frosted window's vignetting), and the
//! higher moments (skewness) of the photographs. A user can point [`FrostTextures::from_dir`]
//! at real textures, which then replace the procedural ones.
//!
//! Resizing and cropping follow the sources: CIFAR script, `cv2.resize(frost, fx=0.2,
//! fy=0.2)` (bilinear) then a `randint` crop; `imagecorruptions`, a `cv2.resize` (bicubic) by
//! 1.1 times the factor that makes the texture cover the image, then a `randint` crop. When a
//! 0.2-scaled texture would not cover an image (sizes other than 32x32 in the `cifar`
//! preset), the `imagenet` covering rule is used instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use image::RgbImage;
use rand::RngExt;

use super::filters::{Border, Buf, Interp, cv_resize_window, gaussian_filter};
use super::ops::plasma_fractal;
use super::{Preset, params};
use crate::rng_from_seed;

/// The frost textures a [`super::Corrupter`] draws from.
///
/// ```
/// use advbn_augmenters::corrupt::FrostTextures;
/// let textures = FrostTextures::procedural();
/// assert_eq!(textures.len(), 5);
/// ```
#[derive(Clone, Debug)]
pub struct FrostTextures {
    textures: Arc<Vec<RgbImage>>,
    source: Option<PathBuf>,
}

/// A frost directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FrostError {
    /// The directory could not be listed.
    #[error("cannot read frost directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A texture could not be decoded.
    #[error("cannot decode frost texture {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: image::ImageError,
    },
    /// The directory holds no PNG or JPEG image.
    #[error("frost directory {0} holds no .png or .jpg image")]
    Empty(PathBuf),
}

type Profile = (usize, usize, [f64; 3], [f64; 3], [f64; 3], f64);

/// (height, width, RGB mean, RGB std, RGB correlation with luminance, spectrum slope) of
/// frost1.png, frost2.png, frost3.png (identical to frost2), frost4.jpg, frost5.jpg, as
/// measured on the `imagecorruptions` 1.1.2 copies.
const PROFILES: [Profile; 5] = [
    (
        600,
        900,
        [77.7, 149.1, 165.7],
        [26.9, 16.5, 15.3],
        [0.91, 0.98, 0.86],
        1.18,
    ),
    (
        315,
        560,
        [200.8, 205.4, 214.5],
        [21.4, 22.1, 22.6],
        [1.0, 1.0, 1.0],
        2.02,
    ),
    (
        315,
        560,
        [200.8, 205.4, 214.5],
        [21.4, 22.1, 22.6],
        [1.0, 1.0, 1.0],
        2.02,
    ),
    (
        350,
        527,
        [137.6, 152.8, 165.2],
        [28.5, 28.5, 29.9],
        [1.0, 1.0, 1.0],
        1.68,
    ),
    (
        495,
        660,
        [112.4, 123.4, 134.8],
        [44.4, 43.3, 41.7],
        [1.0, 1.0, 1.0],
        2.04,
    ),
];

impl FrostTextures {
    /// The five procedural textures (generated on first use, then shared).
    pub fn procedural() -> Self {
        static CACHE: OnceLock<Arc<Vec<RgbImage>>> = OnceLock::new();
        let textures = CACHE
            .get_or_init(|| {
                Arc::new(
                    PROFILES
                        .iter()
                        .enumerate()
                        .map(|(i, p)| procedural_texture(i as u64, p))
                        .collect(),
                )
            })
            .clone();
        Self {
            textures,
            source: None,
        }
    }

    /// Every `.png`, `.jpg` and `.jpeg` file in `dir`, in file-name order (so the
    /// photographs `frost1.png` ... `frost6.jpg` line up with the reference's list).
    pub fn from_dir(dir: &Path) -> Result<Self, FrostError> {
        let entries = std::fs::read_dir(dir).map_err(|source| FrostError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
            })
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(FrostError::Empty(dir.to_owned()));
        }
        let textures = paths
            .iter()
            .map(|p| {
                image::open(p)
                    .map(crate::to_rgb8)
                    .map_err(|source| FrostError::Decode {
                        path: p.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            textures: Arc::new(textures),
            source: Some(dir.to_owned()),
        })
    }

    /// Number of textures.
    pub fn len(&self) -> usize {
        self.textures.len()
    }

    /// Never true (a set is built from at least one texture).
    pub fn is_empty(&self) -> bool {
        self.textures.is_empty()
    }

    /// The directory the textures came from; `None` for the procedural set.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// How many textures `sample` draws from: the first five at most, as the reference's
    /// `randint(5)` over its six files.
    pub(crate) fn drawable(&self) -> usize {
        self.textures.len().min(5)
    }

    pub(crate) fn get(&self, i: usize) -> &RgbImage {
        &self.textures[i.min(self.textures.len() - 1)]
    }
}

fn procedural_texture(index: u64, profile: &Profile) -> RgbImage {
    let &(h, w, mean, std, corr, slope) = profile;
    let mut rng = rng_from_seed(0xF205_7000 + index);
    let side = h.max(w).next_power_of_two();
    // Diamond-square doubles the frequency per level and divides the amplitude by `decay`,
    // so its power spectrum falls as f^(-2 log2 decay).
    let decay = 2f64.powf(slope / 2.0);
    let base = plasma_fractal(side, decay, &mut rng);
    // Independent colour fields only where a channel is not fully explained by luminance.
    let chroma: Vec<Vec<f32>> = (0..3)
        .map(|ch| {
            if corr[ch] < 1.0 {
                plasma_fractal(side, decay, &mut rng)
            } else {
                vec![0.0; side * side]
            }
        })
        .collect();
    let crop = |m: &[f32]| -> Buf {
        let mut b = Buf::zeros(w, h, 1);
        for y in 0..h {
            b.data[y * w..(y + 1) * w].copy_from_slice(&m[y * side..y * side + w]);
        }
        b
    };
    let mut lum = crop(&base);
    // Ice needles: short bright strokes, blurred so they read as crystals, not aliased lines.
    let mut needles = Buf::zeros(w, h, 1);
    let count = w * h / 300;
    for _ in 0..count {
        let (x0, y0) = (rng.random_range(0.0..w as f64), rng.random_range(0.0..h as f64));
        let angle = rng.random_range(0.0..std::f64::consts::PI);
        let len = rng.random_range(4.0..(w.min(h) as f64 / 12.0).max(5.0));
        let bright = rng.random_range(0.3..1.0f32);
        let (dy, dx) = angle.sin_cos();
        let mut t = 0.0;
        while t < len {
            let (x, y) = ((x0 + t * dx) as isize, (y0 + t * dy) as isize);
            if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                let v = &mut needles.data[y as usize * w + x as usize];
                *v = v.max(bright);
            }
            t += 0.5;
        }
    }
    let needles = gaussian_filter(&needles, 0.7, 0.7, 4.0, Border::Nearest);
    standardise(&mut lum.data);
    let mut needles_data = needles.data;
    standardise(&mut needles_data);
    for (l, n) in lum.data.iter_mut().zip(&needles_data) {
        *l = 0.8 * *l + 0.6 * n;
    }
    standardise(&mut lum.data);
    let chroma: Vec<Buf> = chroma
        .iter()
        .map(|m| {
            let mut b = crop(m);
            standardise(&mut b.data);
            b
        })
        .collect();
    let mut raw = Vec::with_capacity(w * h * 3);
    for i in 0..w * h {
        for ch in 0..3 {
            let r = corr[ch];
            let z =
                r * f64::from(lum.data[i]) + (1.0 - r * r).max(0.0).sqrt() * f64::from(chroma[ch].data[i]);
            raw.push((mean[ch] + std[ch] * z).round().clamp(0.0, 255.0) as u8);
        }
    }
    RgbImage::from_raw(w as u32, h as u32, raw).expect("sizes match")
}

fn standardise(v: &mut [f32]) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt().max(1e-12);
    v.iter_mut()
        .for_each(|x| *x = ((f64::from(*x) - mean) / sd) as f32);
}

/// Applies frost with texture `texture` cropped at the fractions (`crop_y`, `crop_x`) of the
/// available offsets (the reference's `randint(0, range)` is `floor(u * range)`).
pub(crate) fn frost(
    img: &RgbImage,
    s: usize,
    preset: Preset,
    textures: &FrostTextures,
    texture: usize,
    crop_y: f64,
    crop_x: f64,
) -> RgbImage {
    let (a, b) = params::frost(preset)[s];
    let tex = textures.get(texture);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (tw, th) = (tex.width() as usize, tex.height() as usize);
    let covering = || {
        let fy = h as f64 / th as f64;
        let fx = w as f64 / tw as f64;
        let f = if th >= h && tw >= w {
            1.0
        } else {
            fy.max(fx).max(1.0)
        };
        f * 1.1
    };
    // (new width, new height, source pixels per destination pixel, interpolation)
    let (nw, nh, inv_x, inv_y, interp) = match preset {
        Preset::Cifar if (tw as f64 * 0.2).round() as usize > w && (th as f64 * 0.2).round() as usize > h => {
            // cv2.resize with fx = fy = 0.2: size round(n * 0.2), inverse scale exactly 5.
            let (nw, nh) = (
                (tw as f64 * 0.2).round() as usize,
                (th as f64 * 0.2).round() as usize,
            );
            (nw, nh, 5.0, 5.0, Interp::Linear)
        }
        _ => {
            let f = covering();
            let (nw, nh) = ((tw as f64 * f).ceil() as usize, (th as f64 * f).ceil() as usize);
            (
                nw,
                nh,
                tw as f64 / nw as f64,
                th as f64 / nh as f64,
                Interp::Cubic,
            )
        }
    };
    let top = (crop_y.clamp(0.0, 1.0) * nh.saturating_sub(h) as f64) as usize;
    let left = (crop_x.clamp(0.0, 1.0) * nw.saturating_sub(w) as f64) as usize;
    let top = top.min(nh.saturating_sub(h).saturating_sub(1));
    let left = left.min(nw.saturating_sub(w).saturating_sub(1));
    let window = cv_resize_window(tex, inv_x, inv_y, left, top, w, h, interp);
    let mut out = Buf::raw_from_rgb8(img);
    for (o, f) in out.data.iter_mut().zip(&window.data) {
        *o = (a * f64::from(*o) + b * f64::from(*f)).clamp(0.0, 255.0) as f32;
    }
    out.raw_to_rgb8()
}
