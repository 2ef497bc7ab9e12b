//! Fidelity of the `imagenet` preset against `imagecorruptions` 1.1.2, using the fixtures
//! written by `scripts/fixtures/corruptions.py` (see its docstring for how they were made).
//!
//! - Deterministic corruptions: pixel for pixel, PSNR >= 40 dB (JPEG >= 30 dB, since libjpeg
//!   and our encoder/decoder pair round differently), on three images (64x64, a non-square
//!   56x40 and 128x96), every listed severity.
//! - Random corruptions: our draws differ from numpy's, so we compare the distribution of
//!   the residual `corrupted - clean` (0..255 units): its mean and standard deviation pooled
//!   over all pixels and channels of independent draws on the 64x64 image: 200 draws
//!   (2.46 M values) on each side, 1500 for fog and frost, whose residual mean varies a lot
//!   from draw to draw (one plasma or texture crop per draw: per-draw sd of the mean 14 to 27
//!   in 0..255 units, measured with the reference), so that the standard error of each side's
//!   pooled mean stays under 0.7, a fifth of the corridor.
//!   The standard deviation must agree within 5%. The mean must agree within 5% of
//!   `max(|mean|, std)` of the reference: several residual means are near zero (symmetric
//!   noise), where a relative criterion would only measure noise.
//! - Frost uses procedural textures here (the photographs are not ours to ship), so the
//!   residual statistics compare the *texture statistics* we matched (per-channel mean and
//!   spread), not the photographs' shapes; the corridor is the same as for the other random
//!   corruptions. With `FROST_DIR` set to the photographs' directory the test also runs
//!   frost with the real textures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use advbn_augmenters::corrupt::{Corrupter, Corruption, CorruptionConfig, CorruptionParams, Preset};
use advbn_augmenters::{Augment, SampleKey};
use image::RgbImage;
use rayon::prelude::*;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corruptions")
}

fn manifest() -> Value {
    let text =
        std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json (run the fixture script)");
    serde_json::from_str(&text).expect("valid JSON")
}

fn load(file: &str) -> RgbImage {
    image::open(dir().join(file)).expect(file).to_rgb8()
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn clean_images(m: &Value) -> BTreeMap<String, RgbImage> {
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                load(i["file"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn deterministic_corruptions_match_imagecorruptions() {
    let m = manifest();
    let clean = clean_images(&m);
    let mut worst: BTreeMap<String, f64> = BTreeMap::new();
    let mut failures = Vec::new();
    for e in m["exact"].as_array().unwrap() {
        let name = e["corruption"].as_str().unwrap();
        let corruption = Corruption::from_name(name).unwrap();
        assert!(!corruption.is_random(), "{name} listed as deterministic");
        let severity = e["severity"].as_u64().unwrap() as u8;
        let img = &clean[e["image"].as_str().unwrap()];
        let reference = load(e["file"].as_str().unwrap());
        let ours = Corrupter::with(corruption, severity, Preset::Imagenet)
            .unwrap()
            .apply(img, &CorruptionParams::default());
        let db = psnr(&ours, &reference);
        let floor = if corruption == Corruption::JpegCompression {
            30.0
        } else {
            40.0
        };
        let w = worst.entry(name.to_owned()).or_insert(f64::INFINITY);
        *w = w.min(db);
        if db < floor {
            failures.push(format!(
                "{} ({}): {db:.2} dB < {floor}",
                e["file"].as_str().unwrap(),
                name
            ));
        }
    }
    for (name, db) in &worst {
        println!("{name:<18} worst PSNR {db:6.2} dB");
    }
    assert!(
        failures.is_empty(),
        "below the corridor:\n{}",
        failures.join("\n")
    );
    assert_eq!(worst.len(), 8, "every deterministic corruption has fixtures");
}

/// Pooled residual mean and standard deviation of `draws` draws on `img`.
fn residual_stats(corrupter: &Corrupter, img: &RgbImage, draws: usize, seed: u64) -> (f64, f64) {
    let sums = (0..draws)
        .into_par_iter()
        .map(|d| {
            let out = corrupter.corrupt(img, SampleKey::new(seed, 0, d as u64));
            let mut s = (0.0f64, 0.0f64);
            for (&o, &c) in out.as_raw().iter().zip(img.as_raw()) {
                let r = f64::from(o) - f64::from(c);
                s.0 += r;
                s.1 += r * r;
            }
            s
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let n = (draws * img.as_raw().len()) as f64;
    let mean = sums.0 / n;
    (mean, (sums.1 / n - mean * mean).max(0.0).sqrt())
}

fn check_stats(only: &[Corruption], frost_dir: Option<PathBuf>) {
    let m = manifest();
    let clean = clean_images(&m);
    let img = &clean[m["stats_image"].as_str().unwrap()];
    let mut failures = Vec::new();
    let mut seen = 0;
    for e in m["stats"].as_array().unwrap() {
        let name = e["corruption"].as_str().unwrap();
        let corruption = Corruption::from_name(name).unwrap();
        if !only.contains(&corruption) {
            continue;
        }
        seen += 1;
        let severity = e["severity"].as_u64().unwrap() as u8;
        let draws = e["draws"].as_u64().or(m["draws"].as_u64()).unwrap() as usize;
        let (ref_mean, ref_std) = (e["mean"].as_f64().unwrap(), e["std"].as_f64().unwrap());
        let config = CorruptionConfig {
            frost_dir: frost_dir.clone(),
            ..CorruptionConfig::new(corruption, severity, Preset::Imagenet)
        };
        let corrupter = Corrupter::new(config).unwrap();
        let (mean, std) = residual_stats(&corrupter, img, draws, 2024);
        let mean_tol = 0.05 * ref_mean.abs().max(ref_std);
        let d_mean = (mean - ref_mean).abs();
        let d_std = (std - ref_std).abs() / ref_std;
        println!(
            "{name:<18} s{severity}: mean {mean:8.3} vs {ref_mean:8.3} (|d| {:.1}% of corridor base), std {std:7.3} vs {ref_std:7.3} ({:+.1}%)",
            100.0 * d_mean / ref_mean.abs().max(ref_std),
            100.0 * (std - ref_std) / ref_std
        );
        if d_mean > mean_tol || d_std > 0.05 {
            failures.push(format!(
                "{name} s{severity}: mean {mean:.3} vs {ref_mean:.3}, std {std:.3} vs {ref_std:.3}"
            ));
        }
    }
    assert_eq!(seen, 5 * only.len(), "fixtures for every severity");
    assert!(
        failures.is_empty(),
        "outside the 5% corridor:\n{}",
        failures.join("\n")
    );
}

#[test]
fn noise_corruptions_match_reference_statistics() {
    check_stats(
        &[
            Corruption::GaussianNoise,
            Corruption::ShotNoise,
            Corruption::ImpulseNoise,
            Corruption::SpeckleNoise,
        ],
        None,
    );
}

#[test]
fn blur_and_geometry_corruptions_match_reference_statistics() {
    check_stats(
        &[
            Corruption::GlassBlur,
            Corruption::MotionBlur,
            Corruption::ElasticTransform,
        ],
        None,
    );
}

#[test]
fn weather_corruptions_match_reference_statistics() {
    check_stats(&[Corruption::Snow, Corruption::Fog, Corruption::Spatter], None);
}

#[test]
fn procedural_frost_matches_reference_statistics() {
    check_stats(&[Corruption::Frost], None);
}

#[test]
fn real_frost_textures_match_reference_statistics() {
    // Only where the photographs are available (for example the `imagecorruptions`
    // package's `frost/` folder): FROST_DIR=/path/to/imagecorruptions/frost.
    let Some(dir) = std::env::var_os("FROST_DIR") else {
        println!("FROST_DIR not set: skipped");
        return;
    };
    check_stats(&[Corruption::Frost], Some(PathBuf::from(dir)));
}

#[test]
fn fixture_samples_are_listed_for_every_random_corruption() {
    // The one-draw samples are for eyes, not for comparison; check they are all there so a
    // regenerated fixture set stays complete.
    let m = manifest();
    let samples = m["samples"].as_array().unwrap();
    for c in Corruption::ALL.into_iter().filter(|c| c.is_random()) {
        let n = samples.iter().filter(|s| s["corruption"] == c.name()).count();
        assert_eq!(n, 5, "{c}");
        for s in samples.iter().filter(|s| s["corruption"] == c.name()) {
            assert!(dir().join(s["file"].as_str().unwrap()).exists());
        }
    }
}
