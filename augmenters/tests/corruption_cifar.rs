//! The `cifar` preset and the properties every corruption must have: the parameter table
//! pinned against the CIFAR-10-C generation script, determinism and thread-count
//! independence, any size without panic, and severity monotonicity for noise and blur.

use advbn_augmenters::corrupt::{Corrupter, Corruption, Preset, corrupt, parameters};
use advbn_augmenters::{Augment, ImageSize, SampleKey};
use image::RgbImage;
use proptest::prelude::*;

/// Parameters as printed in `make_cifar_c.py` (hendrycks/robustness, ImageNet-C/create_c),
/// copied by hand from the script's `c = [...]` lists, one row per severity 1..=5, in the
/// order our `parameters` names them. Elastic's entries are the script's `IMSIZE * k` with
/// IMSIZE = 32; zoom blur's factors are `np.arange(1, stop, 0.01)`, pinned here by their
/// count and last value.
fn cifar_script_table(c: Corruption) -> Vec<Vec<f64>> {
    use Corruption::*;
    let rows: &[&[f64]] = match c {
        GaussianNoise => &[&[0.04], &[0.06], &[0.08], &[0.09], &[0.10]],
        ShotNoise => &[&[500.0], &[250.0], &[100.0], &[75.0], &[50.0]],
        ImpulseNoise => &[&[0.01], &[0.02], &[0.03], &[0.05], &[0.07]],
        SpeckleNoise => &[&[0.06], &[0.1], &[0.12], &[0.16], &[0.2]],
        GaussianBlur => &[&[0.4], &[0.6], &[0.7], &[0.8], &[1.0]],
        GlassBlur => &[
            &[0.05, 1.0, 1.0],
            &[0.25, 1.0, 1.0],
            &[0.4, 1.0, 1.0],
            &[0.25, 1.0, 2.0],
            &[0.4, 1.0, 2.0],
        ],
        DefocusBlur => &[&[0.3, 0.4], &[0.4, 0.5], &[0.5, 0.6], &[1.0, 0.2], &[1.5, 0.1]],
        MotionBlur => &[&[6.0, 1.0], &[6.0, 1.5], &[6.0, 2.0], &[8.0, 2.0], &[9.0, 2.5]],
        ZoomBlur => return vec![],
        Snow => &[
            &[0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95],
            &[0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9],
            &[0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9],
            &[0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85],
            &[0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8],
        ],
        Frost => &[&[1.0, 0.2], &[1.0, 0.3], &[0.9, 0.4], &[0.85, 0.4], &[0.75, 0.45]],
        Fog => &[&[0.2, 3.0], &[0.5, 3.0], &[0.75, 2.5], &[1.0, 2.0], &[1.5, 1.75]],
        Spatter => &[
            &[0.62, 0.1, 0.7, 0.7, 0.5, 0.0],
            &[0.65, 0.1, 0.8, 0.7, 0.5, 0.0],
            &[0.65, 0.3, 1.0, 0.69, 0.5, 0.0],
            &[0.65, 0.1, 0.7, 0.69, 0.6, 1.0],
            &[0.65, 0.1, 0.5, 0.68, 0.6, 1.0],
        ],
        Brightness => &[&[0.05], &[0.1], &[0.15], &[0.2], &[0.3]],
        Contrast => &[&[0.75], &[0.5], &[0.4], &[0.3], &[0.15]],
        Saturate => &[&[0.3, 0.0], &[0.1, 0.0], &[1.5, 0.0], &[2.0, 0.1], &[2.5, 0.2]],
        JpegCompression => &[&[80.0], &[65.0], &[58.0], &[50.0], &[40.0]],
        Pixelate => &[&[0.95], &[0.9], &[0.85], &[0.75], &[0.65]],
        ElasticTransform => &[
            &[32.0 * 0.0, 32.0 * 0.0, 32.0 * 0.08],
            &[32.0 * 0.05, 32.0 * 0.2, 32.0 * 0.07],
            &[32.0 * 0.08, 32.0 * 0.06, 32.0 * 0.06],
            &[32.0 * 0.1, 32.0 * 0.04, 32.0 * 0.05],
            &[32.0 * 0.1, 32.0 * 0.03, 32.0 * 0.03],
        ],
    };
    rows.iter().map(|r| r.to_vec()).collect()
}

#[test]
fn cifar_parameters_are_the_scripts() {
    for c in Corruption::ALL {
        let table = cifar_script_table(c);
        for s in 1..=5u8 {
            let ours: Vec<f64> = parameters(c, Preset::Cifar, s)
                .unwrap()
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            if c == Corruption::ZoomBlur {
                // np.arange(1, [1.06, 1.11, 1.16, 1.21, 1.26][s-1], 0.01) as numpy 2.4
                // evaluates it: float rounding includes the stop in the first two cases.
                let (count, last) =
                    [(7, 1.06), (12, 1.11), (16, 1.15), (21, 1.20), (26, 1.25)][usize::from(s) - 1];
                assert_eq!(ours.len(), count, "zoom s{s}: {ours:?}");
                assert_eq!(ours[0], 1.0);
                assert!((ours[count - 1] - last).abs() < 1e-9, "zoom s{s}: {ours:?}");
                continue;
            }
            assert_eq!(ours, table[usize::from(s) - 1], "{c} severity {s}");
        }
    }
}

#[test]
fn imagenet_zoom_factors_follow_numpy_arange() {
    // imagecorruptions: np.arange(1, 1.11, .01), (1, 1.16, .01), (1, 1.21, .02), (1, 1.26, .02),
    // (1, 1.31, .03); numpy gives 12, 16, 11, 13 and 11 factors (the stop is reached by
    // float rounding in the first case: (1.11 - 1) / 0.01 = 11.000000000000002).
    let counts: Vec<usize> = (1..=5)
        .map(|s| {
            parameters(Corruption::ZoomBlur, Preset::Imagenet, s)
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(counts, vec![12, 16, 11, 13, 11]);
}

/// The fixtures' 64x64 CIFAR image, box-downscaled back to 32x32, and two more crops of it
/// (real content: edges, texture and smooth regions).
fn cifar_like_images() -> Vec<RgbImage> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corruptions");
    let a = image::open(dir.join("clean_a.png")).unwrap().to_rgb8();
    let c = image::open(dir.join("clean_c.png")).unwrap().to_rgb8();
    vec![
        image::imageops::resize(&a, 32, 32, image::imageops::FilterType::Triangle),
        image::imageops::crop_imm(&c, 40, 30, 32, 32).to_image(),
        image::imageops::crop_imm(&a, 10, 20, 32, 32).to_image(),
    ]
}

#[test]
fn same_key_same_bytes_other_index_other_bytes() {
    let img = &cifar_like_images()[0];
    for c in Corruption::ALL {
        for preset in Preset::ALL {
            let key = SampleKey::new(11, 0, 5);
            let a = corrupt(img, c, 3, preset, key).unwrap();
            assert_eq!(a, corrupt(img, c, 3, preset, key).unwrap(), "{c} {preset}");
            if c.is_random() {
                let b = corrupt(img, c, 3, preset, SampleKey::new(11, 0, 6)).unwrap();
                assert_ne!(a, b, "{c} {preset}: another image index must get another draw");
            }
        }
    }
}

#[test]
fn corrupt_many_is_independent_of_thread_count() {
    let imgs = cifar_like_images();
    for c in [
        Corruption::GlassBlur,
        Corruption::Snow,
        Corruption::ShotNoise,
        Corruption::Spatter,
    ] {
        let corrupter = Corrupter::with(c, 4, Preset::Cifar).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| corrupter.corrupt_many(&imgs, 3));
        let many = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| corrupter.corrupt_many(&imgs, 3));
        assert_eq!(one, many, "{c}");
        for (i, img) in imgs.iter().enumerate() {
            assert_eq!(
                one[i],
                corrupter.corrupt(img, SampleKey::new(3, 0, i as u64)),
                "{c} image {i}"
            );
        }
    }
}

fn residual_energy(a: &RgbImage, b: &RgbImage) -> f64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64
}

#[test]
fn residual_energy_grows_with_severity_for_noise_and_blur() {
    let imgs = cifar_like_images();
    // Glass blur is not in the list: its published CIFAR table is not monotone in pixel
    // change (severity 1 has sigma 0.05, a no-op blur that leaves the pixel shuffle sharp,
    // severities 2-3 blur it more); see the next test for what does hold.
    let families = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::SpeckleNoise,
        Corruption::DefocusBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::GaussianBlur,
    ];
    for c in families {
        // Common random numbers: each draw's params (noise seed, angle) are sampled once and
        // applied at every severity, so the comparison measures the severity, not the luck of
        // the draw (motion blur's severities 3 and 4 differ only by two far taps of tiny
        // weight, far less than the spread between random angles).
        let corrupters: Vec<Corrupter> = (1..=5u8)
            .map(|s| Corrupter::with(c, s, Preset::Cifar).unwrap())
            .collect();
        let mut energies = vec![0.0f64; 5];
        for (i, img) in imgs.iter().enumerate() {
            for d in 0..8u64 {
                let params =
                    corrupters[0].sample(&mut SampleKey::new(1, d, i as u64).rng(), ImageSize::of(img));
                for (s, corrupter) in corrupters.iter().enumerate() {
                    energies[s] += residual_energy(&corrupter.apply(img, &params), img);
                }
            }
        }
        println!("{c:<15} {energies:.1?}");
        assert!(energies[0] > 0.0, "{c}: severity 1 changes the image");
        for s in 1..5 {
            // Motion blur's severities 3 and 4 share sigma 2 and differ only in the radius
            // (6 vs 8): taps 13..16 have weights below 1e-9, so the table makes them equal.
            let equal_by_table = c == Corruption::MotionBlur && s == 3;
            let grows = if equal_by_table {
                energies[s] >= energies[s - 1]
            } else {
                energies[s] > energies[s - 1]
            };
            assert!(
                grows,
                "{c}: residual energy must grow with severity: {energies:?}"
            );
        }
    }
}

#[test]
fn glass_blur_two_sweeps_move_more_than_one() {
    // Severities 4-5 run two shuffle sweeps, 1-3 one: every two-sweep severity must change
    // the image more than every one-sweep severity.
    let imgs = cifar_like_images();
    let energy = |s: u8| -> f64 {
        let corrupter = Corrupter::with(Corruption::GlassBlur, s, Preset::Cifar).unwrap();
        let mut total = 0.0;
        for (i, img) in imgs.iter().enumerate() {
            for d in 0..8u64 {
                total += residual_energy(&corrupter.corrupt(img, SampleKey::new(1, d, i as u64)), img);
            }
        }
        total
    };
    let e: Vec<f64> = (1..=5).map(energy).collect();
    let one_sweep = e[..3].iter().copied().fold(0.0, f64::max);
    let two_sweeps = e[3..].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(two_sweeps > one_sweep, "{e:?}");
}

#[test]
fn frost_directory_replaces_the_procedural_textures() {
    let dir = std::env::temp_dir().join(format!("advbn-frost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One flat white texture: frost then adds exactly b * 255 (clipped) to every sample.
    RgbImage::from_pixel(300, 200, image::Rgb([255, 255, 255]))
        .save(dir.join("white.png"))
        .unwrap();
    let cfg = advbn_augmenters::corrupt::CorruptionConfig {
        frost_dir: Some(dir.clone()),
        ..advbn_augmenters::corrupt::CorruptionConfig::new(Corruption::Frost, 1, Preset::Cifar)
    };
    let corrupter = Corrupter::new(cfg).unwrap();
    let img = RgbImage::from_pixel(32, 32, image::Rgb([100, 10, 250]));
    let out = corrupter.corrupt(&img, SampleKey::new(0, 0, 0));
    // cifar severity 1: 1.0 x + 0.2 frost.
    assert_eq!(out.get_pixel(5, 5).0, [151, 61, 255]);
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = advbn_augmenters::corrupt::CorruptionConfig {
        frost_dir: Some(std::env::temp_dir().join("advbn-no-such-frost-dir")),
        ..advbn_augmenters::corrupt::CorruptionConfig::new(Corruption::Frost, 1, Preset::Cifar)
    };
    let err = Corrupter::new(missing).unwrap_err().to_string();
    assert!(err.contains("advbn-no-such-frost-dir"), "{err}");
}

fn corruption_strategy() -> impl Strategy<Value = Corruption> {
    (0..Corruption::ALL.len()).prop_map(|i| Corruption::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_size_any_corruption_keeps_the_size_corrupts_and_replays(
        w in 1u32..=300,
        h in 1u32..=300,
        c in corruption_strategy(),
        severity in 1u8..=5,
        imagenet in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let preset = if imagenet { Preset::Imagenet } else { Preset::Cifar };
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 3) as u8, ((x ^ y) * 7) as u8]));
        let key = SampleKey::new(seed, 0, 0);
        let out = corrupt(&img, c, severity, preset, key).unwrap();
        prop_assert_eq!(out.dimensions(), (w, h));
        // The same key gives the same bytes.
        prop_assert_eq!(&out, &corrupt(&img, c, severity, preset, key).unwrap());
        // On an image large enough to hold the corruption's structure, it changes pixels.
        if w >= 16 && h >= 16 {
            prop_assert!(out != img, "{} severity {} left a {}x{} image unchanged", c.name(), severity, w, h);
        }
    }

    #[test]
    fn spatter_any_size_every_severity_is_deterministic(
        w in 1u32..=64,
        h in 1u32..=64,
        seed in any::<u64>(),
        index in 0u64..1000,
    ) {
        // Water (severities 1-3) runs Canny, the distance transform, equalisation and the
        // 3x3 filters on every size down to 1x1; mud (4-5) the Gaussian mask.
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 5) as u8, ((x + y) * 3) as u8]));
        let key = SampleKey::new(seed, 0, index);
        for preset in Preset::ALL {
            for severity in 1u8..=5 {
                let out = corrupt(&img, Corruption::Spatter, severity, preset, key).unwrap();
                prop_assert_eq!(out.dimensions(), (w, h));
                let again = corrupt(&img, Corruption::Spatter, severity, preset, key).unwrap();
                prop_assert!(out == again, "{} s{} {}x{}: same key, other bytes", preset, severity, w, h);
            }
        }
    }

    #[test]
    fn tiny_images_survive_every_corruption(w in 1u32..=4, h in 1u32..=4, severity in 1u8..=5) {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 60) as u8, (y * 60) as u8, 128]));
        for c in Corruption::ALL {
            for preset in Preset::ALL {
                let out = corrupt(&img, c, severity, preset, SampleKey::new(0, 0, 0)).unwrap();
                prop_assert_eq!(out.dimensions(), (w, h));
            }
        }
    }
}
