//! The published parameter tables, one entry per severity 1..=5.
//!
//! `cifar`: the CIFAR-10-C generation script (`make_cifar_c.py`, hendrycks/robustness,
//! ImageNet-C/create_c). `imagenet`: ImageNet-C as packaged by `imagecorruptions` 1.1.2
//! (bethgelab), whose tables equal `make_imagenet_c.py`'s. Facts only; the code is ours.

use super::Preset;

/// Noise scale per severity: gaussian (sigma), shot (photons per unit), impulse (amount),
/// speckle (sigma).
pub(crate) fn gaussian_noise(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.04, 0.06, 0.08, 0.09, 0.10],
        Preset::Imagenet => [0.08, 0.12, 0.18, 0.26, 0.38],
    }
}

pub(crate) fn shot_noise(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [500.0, 250.0, 100.0, 75.0, 50.0],
        Preset::Imagenet => [60.0, 25.0, 12.0, 5.0, 3.0],
    }
}

pub(crate) fn impulse_noise(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.01, 0.02, 0.03, 0.05, 0.07],
        Preset::Imagenet => [0.03, 0.06, 0.09, 0.17, 0.27],
    }
}

pub(crate) fn speckle_noise(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.06, 0.1, 0.12, 0.16, 0.2],
        Preset::Imagenet => [0.15, 0.2, 0.35, 0.45, 0.6],
    }
}

/// Gaussian blur sigma.
pub(crate) fn gaussian_blur(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.4, 0.6, 0.7, 0.8, 1.0],
        Preset::Imagenet => [1.0, 2.0, 3.0, 4.0, 6.0],
    }
}

/// Glass blur: (sigma, max_delta, iterations).
pub(crate) fn glass_blur(p: Preset) -> [(f64, i64, usize); 5] {
    match p {
        Preset::Cifar => [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
        Preset::Imagenet => [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    }
}

/// Defocus blur: (disk radius, alias blur sigma).
pub(crate) fn defocus_blur(p: Preset) -> [(f64, f64); 5] {
    match p {
        Preset::Cifar => [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)],
        Preset::Imagenet => [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)],
    }
}

/// Motion blur: (radius, sigma); the kernel has `2 radius + 1` taps.
pub(crate) fn motion_blur(p: Preset) -> [(usize, f64); 5] {
    match p {
        Preset::Cifar => [(6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5)],
        Preset::Imagenet => [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)],
    }
}

/// Zoom blur: `np.arange(1, stop, step)` as (stop, step).
pub(crate) fn zoom_blur(p: Preset) -> [(f64, f64); 5] {
    match p {
        Preset::Cifar => [
            (1.06, 0.01),
            (1.11, 0.01),
            (1.16, 0.01),
            (1.21, 0.01),
            (1.26, 0.01),
        ],
        Preset::Imagenet => [
            (1.11, 0.01),
            (1.16, 0.01),
            (1.21, 0.02),
            (1.26, 0.02),
            (1.31, 0.03),
        ],
    }
}

/// Snow: (loc, scale, zoom, threshold, blur radius, blur sigma, image blend).
pub(crate) type SnowParams = (f64, f64, f64, f64, usize, f64, f64);

pub(crate) fn snow(p: Preset) -> [SnowParams; 5] {
    match p {
        Preset::Cifar => [
            (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95),
            (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8),
        ],
        Preset::Imagenet => [
            (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
            (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
            (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
        ],
    }
}

/// Frost: (image weight, frost weight).
pub(crate) fn frost(p: Preset) -> [(f64, f64); 5] {
    match p {
        Preset::Cifar => [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
        Preset::Imagenet => [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
    }
}

/// Fog: (fog strength, plasma wibble decay).
pub(crate) fn fog(p: Preset) -> [(f64, f64); 5] {
    match p {
        Preset::Cifar => [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)],
        Preset::Imagenet => [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],
    }
}

/// Spatter: (loc, scale, sigma, threshold, intensity or mud sigma, mud?).
pub(crate) type SpatterParams = (f64, f64, f64, f64, f64, bool);

pub(crate) fn spatter(p: Preset) -> [SpatterParams; 5] {
    match p {
        Preset::Cifar => [
            (0.62, 0.1, 0.7, 0.7, 0.5, false),
            (0.65, 0.1, 0.8, 0.7, 0.5, false),
            (0.65, 0.3, 1.0, 0.69, 0.5, false),
            (0.65, 0.1, 0.7, 0.69, 0.6, true),
            (0.65, 0.1, 0.5, 0.68, 0.6, true),
        ],
        Preset::Imagenet => [
            (0.65, 0.3, 4.0, 0.69, 0.6, false),
            (0.65, 0.3, 3.0, 0.68, 0.6, false),
            (0.65, 0.3, 2.0, 0.68, 0.5, false),
            (0.65, 0.3, 1.0, 0.65, 1.5, true),
            (0.67, 0.4, 1.0, 0.65, 1.5, true),
        ],
    }
}

/// Brightness: value added to HSV's V.
pub(crate) fn brightness(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.05, 0.1, 0.15, 0.2, 0.3],
        Preset::Imagenet => [0.1, 0.2, 0.3, 0.4, 0.5],
    }
}

/// Contrast: factor on the deviation from the per-channel mean.
pub(crate) fn contrast(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.75, 0.5, 0.4, 0.3, 0.15],
        Preset::Imagenet => [0.4, 0.3, 0.2, 0.1, 0.05],
    }
}

/// Saturate: HSV's S becomes `clip(S * a + b, 0, 1)`; (a, b).
pub(crate) fn saturate(p: Preset) -> [(f64, f64); 5] {
    match p {
        Preset::Cifar => [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)],
        Preset::Imagenet => [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)],
    }
}

/// JPEG quality.
pub(crate) fn jpeg_compression(p: Preset) -> [u8; 5] {
    match p {
        Preset::Cifar => [80, 65, 58, 50, 40],
        Preset::Imagenet => [25, 18, 15, 10, 7],
    }
}

/// Pixelate: downscale factor.
pub(crate) fn pixelate(p: Preset) -> [f64; 5] {
    match p {
        Preset::Cifar => [0.95, 0.9, 0.85, 0.75, 0.65],
        Preset::Imagenet => [0.6, 0.5, 0.4, 0.3, 0.25],
    }
}

/// Elastic transform, CIFAR script: (alpha, sigma, affine jitter), in pixels for a 32-pixel
/// image (`IMSIZE * k` in the script).
pub(crate) fn elastic_cifar() -> [(f64, f64, f64); 5] {
    const S: f64 = 32.0;
    [
        (S * 0.0, S * 0.0, S * 0.08),
        (S * 0.05, S * 0.2, S * 0.07),
        (S * 0.08, S * 0.06, S * 0.06),
        (S * 0.1, S * 0.04, S * 0.05),
        (S * 0.1, S * 0.03, S * 0.03),
    ]
}

/// Elastic transform, `imagecorruptions`: alpha (the displacement field's gain); sigma is
/// 1% of each side and the uniform field's range is 0.5% of the height.
pub(crate) fn elastic_imagenet() -> [f64; 5] {
    [
        250.0 * 0.05,
        250.0 * 0.065,
        250.0 * 0.085,
        250.0 * 0.1,
        250.0 * 0.12,
    ]
}

/// The published parameters of `corruption` at `severity` under `preset`, as named numbers
/// (for documentation, `advbn corrupt --describe`-style output and pinning tests). Zoom
/// factors are listed one by one (`zoom_0`, `zoom_1`, ...), as numpy's `arange` yields them.
///
/// ```
/// use advbn_augmenters::corrupt::{Corruption, Preset, parameters};
/// let p = parameters(Corruption::GaussianNoise, Preset::Cifar, 5).unwrap();
/// assert_eq!(p, vec![("sigma", 0.10)]);
/// assert!(parameters(Corruption::GaussianNoise, Preset::Cifar, 6).is_err());
/// ```
pub fn parameters(
    corruption: super::Corruption,
    preset: Preset,
    severity: u8,
) -> Result<Vec<(&'static str, f64)>, crate::ConfigError> {
    use super::Corruption::*;
    crate::check_range("severity", severity, 1, 5)?;
    let s = usize::from(severity - 1);
    let p = preset;
    Ok(match corruption {
        GaussianNoise => vec![("sigma", gaussian_noise(p)[s])],
        ShotNoise => vec![("photons", shot_noise(p)[s])],
        ImpulseNoise => vec![("amount", impulse_noise(p)[s])],
        SpeckleNoise => vec![("sigma", speckle_noise(p)[s])],
        GaussianBlur => vec![("sigma", gaussian_blur(p)[s])],
        GlassBlur => {
            let (a, b, c) = glass_blur(p)[s];
            vec![("sigma", a), ("max_delta", b as f64), ("iterations", c as f64)]
        }
        DefocusBlur => {
            let (a, b) = defocus_blur(p)[s];
            vec![("radius", a), ("alias_blur", b)]
        }
        MotionBlur => {
            let (a, b) = motion_blur(p)[s];
            vec![("radius", a as f64), ("sigma", b)]
        }
        ZoomBlur => {
            let (stop, step) = zoom_blur(p)[s];
            const NAMES: [&str; 32] = [
                "zoom_0", "zoom_1", "zoom_2", "zoom_3", "zoom_4", "zoom_5", "zoom_6", "zoom_7", "zoom_8",
                "zoom_9", "zoom_10", "zoom_11", "zoom_12", "zoom_13", "zoom_14", "zoom_15", "zoom_16",
                "zoom_17", "zoom_18", "zoom_19", "zoom_20", "zoom_21", "zoom_22", "zoom_23", "zoom_24",
                "zoom_25", "zoom_26", "zoom_27", "zoom_28", "zoom_29", "zoom_30", "zoom_31",
            ];
            super::filters::arange(1.0, stop, step)
                .into_iter()
                .zip(NAMES)
                .map(|(z, n)| (n, z))
                .collect()
        }
        Snow => {
            let (a, b, c, d, e, f, g) = snow(p)[s];
            vec![
                ("loc", a),
                ("scale", b),
                ("zoom", c),
                ("threshold", d),
                ("blur_radius", e as f64),
                ("blur_sigma", f),
                ("image_weight", g),
            ]
        }
        Frost => {
            let (a, b) = frost(p)[s];
            vec![("image_weight", a), ("frost_weight", b)]
        }
        Fog => {
            let (a, b) = fog(p)[s];
            vec![("strength", a), ("wibble_decay", b)]
        }
        Spatter => {
            let (a, b, c, d, e, f) = spatter(p)[s];
            vec![
                ("loc", a),
                ("scale", b),
                ("sigma", c),
                ("threshold", d),
                ("intensity", e),
                ("mud", if f { 1.0 } else { 0.0 }),
            ]
        }
        Brightness => vec![("value_shift", brightness(p)[s])],
        Contrast => vec![("factor", contrast(p)[s])],
        Saturate => {
            let (a, b) = saturate(p)[s];
            vec![("scale", a), ("shift", b)]
        }
        JpegCompression => vec![("quality", f64::from(jpeg_compression(p)[s]))],
        Pixelate => vec![("factor", pixelate(p)[s])],
        ElasticTransform => match p {
            Preset::Cifar => {
                let (a, b, c) = elastic_cifar()[s];
                vec![("alpha", a), ("sigma", b), ("affine_jitter", c)]
            }
            Preset::Imagenet => vec![
                ("alpha", elastic_imagenet()[s]),
                ("sigma_fraction", 0.01),
                ("max_shift_fraction", 0.005),
            ],
        },
    })
}
