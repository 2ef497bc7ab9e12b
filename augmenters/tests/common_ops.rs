//! One test template run over every op (in the manner of kornia's common tests): identity at
//! the op's neutral value, shape preserved, determinism, params and config serde round trips,
//! validation errors. Plus AugMix's multi-view behaviour inside a pipeline, and the same
//! template for the stylizers (float output, partner images).

use std::fmt::Debug;

use advbn_augmenters::ops::{self, Op, OpParams};
use advbn_augmenters::{
    AugMix, Augment, HorizontalFlip, Image, ImageSize, Pipeline, PixelStage, RandomCrop, SampleKey, Validate,
    rng_from_seed,
};
use image::RgbImage;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    RgbImage::from_fn(w, h, |_, _| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        image::Rgb([s as u8, (s >> 8) as u8, (s >> 16) as u8])
    })
}

/// A smooth image with structure (so geometric ops visibly move it).
fn scene(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            ((x * y) % 251) as u8,
        ])
    })
}

const SIZES: [(u32, u32); 5] = [(1, 1), (2, 3), (32, 32), (37, 53), (64, 17)];

/// The template, for one op config `A` whose `identity` params must leave images unchanged.
fn common_template<A>(config: A, identity: Option<A::Params>, name: &str)
where
    A: Augment<Output = RgbImage> + Validate + Serialize + DeserializeOwned + PartialEq + Debug,
{
    config.validate().unwrap();
    for (i, &(w, h)) in SIZES.iter().enumerate() {
        let img = noise(w, h, i as u64);
        let size = ImageSize::of(&img);
        // Determinism: the same stream gives the same params and the same image.
        let p1 = config.sample(&mut rng_from_seed(i as u64), size);
        let p2 = config.sample(&mut rng_from_seed(i as u64), size);
        assert_eq!(p1, p2, "{name}: sampling is not deterministic");
        let out = config.apply(&img, &p1);
        assert_eq!(out, config.apply(&img, &p1), "{name}: apply is not deterministic");
        // Shape preserved.
        assert_eq!(out.dimensions(), img.dimensions(), "{name}: size changed");
        // Params round-trip through serde and replay to the same image.
        let json = serde_json::to_string(&p1).unwrap();
        let back: A::Params = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p1, "{name}: params round trip");
        assert_eq!(config.apply(&img, &back), out, "{name}: replay from params");
        // Identity at the neutral value.
        if let Some(id) = &identity {
            assert_eq!(config.apply(&img, id), img, "{name}: not the identity at {id:?}");
        }
    }
    // Config round trip.
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<A>(&json).unwrap(),
        config,
        "{name}: config round trip"
    );
}

/// Validation errors of the configs with a severity.
fn severity_errors<A>(make: impl Fn(u32) -> A, name: &str)
where
    A: Validate + DeserializeOwned,
{
    for bad in [0, 11] {
        let err = make(bad).validate().unwrap_err();
        assert_eq!(err.key, "severity", "{name}");
        assert!(err.to_string().contains("1..=10"), "{name}: {err}");
    }
    make(1).validate().unwrap();
    make(10).validate().unwrap();
    assert!(
        serde_json::from_str::<A>(r#"{"severity": 3, "typo": 1}"#).is_err(),
        "{name}: unknown field accepted"
    );
    assert!(serde_json::from_str::<A>("{}").is_ok(), "{name}: default config");
}

#[test]
fn template_over_every_op() {
    common_template(ops::Autocontrast {}, None, "autocontrast");
    common_template(ops::Equalize {}, None, "equalize");
    common_template(
        ops::Posterize::default(),
        Some(ops::PosterizeParams { bits: 8 }),
        "posterize",
    );
    common_template(
        ops::Solarize::default(),
        Some(ops::SolarizeParams { threshold: 256 }),
        "solarize",
    );
    common_template(
        ops::Rotate::default(),
        Some(ops::RotateParams { degrees: 0.0 }),
        "rotate",
    );
    common_template(
        ops::ShearX::default(),
        Some(ops::ShearXParams { factor: 0.0 }),
        "shear_x",
    );
    common_template(
        ops::ShearY::default(),
        Some(ops::ShearYParams { factor: 0.0 }),
        "shear_y",
    );
    common_template(
        ops::TranslateX::default(),
        Some(ops::TranslateXParams { pixels: 0.0 }),
        "translate_x",
    );
    common_template(
        ops::TranslateY::default(),
        Some(ops::TranslateYParams { pixels: 0.0 }),
        "translate_y",
    );
    common_template(
        ops::Color::default(),
        Some(ops::ColorParams { factor: 1.0 }),
        "color",
    );
    common_template(
        ops::Contrast::default(),
        Some(ops::ContrastParams { factor: 1.0 }),
        "contrast",
    );
    common_template(
        ops::Brightness::default(),
        Some(ops::BrightnessParams { factor: 1.0 }),
        "brightness",
    );
    common_template(
        ops::Sharpness::default(),
        Some(ops::SharpnessParams { factor: 1.0 }),
        "sharpness",
    );
}

#[test]
fn validation_over_every_op_with_a_severity() {
    severity_errors(|severity| ops::Posterize { severity }, "posterize");
    severity_errors(|severity| ops::Solarize { severity }, "solarize");
    severity_errors(|severity| ops::Rotate { severity }, "rotate");
    severity_errors(|severity| ops::ShearX { severity }, "shear_x");
    severity_errors(|severity| ops::ShearY { severity }, "shear_y");
    severity_errors(|severity| ops::TranslateX { severity }, "translate_x");
    severity_errors(|severity| ops::TranslateY { severity }, "translate_y");
    severity_errors(|severity| ops::Color { severity }, "color");
    severity_errors(|severity| ops::Contrast { severity }, "contrast");
    severity_errors(|severity| ops::Brightness { severity }, "brightness");
    severity_errors(|severity| ops::Sharpness { severity }, "sharpness");
    assert!(serde_json::from_str::<ops::Autocontrast>(r#"{"severity": 3}"#).is_err());
}

#[test]
fn every_op_has_its_identity_and_moves_a_real_image_otherwise() {
    let img = scene(40, 30);
    for op in Op::ALL {
        if let Some(v) = op.identity_value() {
            assert_eq!(ops::apply_named(op.name(), Some(v), &img).unwrap(), img, "{op}");
        }
        // A strong value changes the image (the test above cannot pass by doing nothing).
        let strong = match op {
            Op::Autocontrast | Op::Equalize => None,
            Op::Posterize => Some(2.0),
            Op::Solarize => Some(100.0),
            Op::Rotate => Some(20.0),
            Op::ShearX | Op::ShearY => Some(0.3),
            Op::TranslateX | Op::TranslateY => Some(5.0),
            _ => Some(0.3),
        };
        assert_ne!(
            ops::apply_named(op.name(), strong, &img).unwrap(),
            img,
            "{op} did nothing"
        );
    }
}

#[test]
fn op_params_round_trip_for_every_op() {
    let mut rng = rng_from_seed(3);
    for op in Op::ALL {
        let p = op.sample(7.0, &mut rng, ImageSize::new(50, 40));
        assert_eq!(p.op(), op);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(&format!("\"op\":\"{}\"", op.name())), "{json}");
        assert_eq!(serde_json::from_str::<OpParams>(&json).unwrap(), p);
        assert_eq!(op.params(p.value()).unwrap(), p);
    }
}

fn augmix_pipeline() -> Pipeline {
    Pipeline::new(vec![
        PixelStage::RandomCrop(RandomCrop { padding: 4 }),
        PixelStage::HorizontalFlip(HorizontalFlip { p: 0.5 }),
        PixelStage::Augmix(AugMix::default()),
    ])
    .unwrap()
}

#[test]
fn augmix_views_differ_and_share_the_geometry() {
    let pipeline = augmix_pipeline();
    assert_eq!(pipeline.shared_len(), 2);
    let img = scene(32, 32);
    for index in 0..20 {
        let key = SampleKey::new(9, 1, index);
        let params = pipeline.sample(key, ImageSize::of(&img), 2);
        let views = pipeline.apply(&img, &params);
        assert_eq!(views.augmented.len(), 2);
        let clean = match &views.clean {
            Image::Rgb8(c) => c.clone(),
            Image::Float(_) => panic!("the clean view is u8"),
        };
        // The clean view is the image after the shared crop and flip only.
        let crop = RandomCrop { padding: 4 };
        let flip = HorizontalFlip { p: 0.5 };
        let (
            advbn_augmenters::StageParams::RandomCrop(cp),
            advbn_augmenters::StageParams::HorizontalFlip(fp),
        ) = (&params.shared[0], &params.shared[1])
        else {
            panic!("unexpected shared params {:?}", params.shared);
        };
        assert_eq!(clean, flip.apply(&crop.apply(&img, cp), fp));
        let mut floats = Vec::new();
        for (view, view_params) in views.augmented.iter().zip(&params.views) {
            let Image::Float(f) = view else {
                panic!("AugMix views are float")
            };
            let advbn_augmenters::StageParams::Augmix(ap) = &view_params[0] else {
                panic!()
            };
            // Every view is AugMix of the *same* cropped and flipped image.
            assert_eq!(*f, AugMix::default().apply(&clean, ap));
            assert_ne!(
                *f,
                advbn_augmenters::FloatImage::from_rgb8(&clean),
                "view equals the clean image"
            );
            floats.push(f.clone());
        }
        assert_ne!(floats[0], floats[1], "the two views are identical");
    }
}

// ---------------------------------------------------------------------------------------
// The stylizers (float output, some with a partner image).

use advbn_augmenters::stylize::{
    self, ColorTransfer, ColorTransferParams, FourierMix, FourierMixParams, LabStats, RandConv,
    RandConvParams, RandomNet, RandomNetParams,
};
use advbn_augmenters::{FloatImage, StageContext};

/// The template for a stylizer `A` with float output: `identity` params must give the input
/// back exactly (as floats `v / 255`); sampled params must be deterministic, replayable,
/// keep the size and stay in [0, 1]; with a partner too where the stylizer takes one.
fn stylizer_template<A>(config: A, identity: A::Params, name: &str)
where
    A: Augment<Output = FloatImage> + Validate + Serialize + DeserializeOwned + PartialEq + Debug,
{
    config.validate().unwrap();
    let partner = scene(23, 17);
    let mut moved = 0;
    for (i, &(w, h)) in SIZES.iter().enumerate() {
        let img = noise(w, h, i as u64 + 10);
        let size = ImageSize::of(&img);
        for seed in 0..4u64 {
            let p1 = config.sample(&mut rng_from_seed(seed), size);
            assert_eq!(
                p1,
                config.sample(&mut rng_from_seed(seed), size),
                "{name}: sampling"
            );
            let out = config.apply(&img, &p1);
            assert_eq!(out, config.apply(&img, &p1), "{name}: apply is not deterministic");
            assert_eq!(out.size(), size, "{name}: size changed");
            assert!(
                out.as_slice().iter().all(|v| (0.0..=1.0).contains(v)),
                "{name}: out of [0, 1] at {w}x{h}"
            );
            let json = serde_json::to_string(&p1).unwrap();
            let back: A::Params = serde_json::from_str(&json).unwrap();
            assert_eq!(back, p1, "{name}: params round trip");
            assert_eq!(config.apply(&img, &back), out, "{name}: replay from params");
            if out != FloatImage::from_rgb8(&img) {
                moved += 1;
            }
            let with = config.apply_with(&img, &p1, StageContext::with_partner(&partner));
            assert_eq!(
                with,
                config.apply_with(&img, &back, StageContext::with_partner(&partner)),
                "{name}: apply with a partner is not deterministic"
            );
            assert_eq!(with.size(), size, "{name}: size changed with a partner");
            assert!(with.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
            if !config.needs_partner() {
                assert_eq!(with, out, "{name}: a partner changed a stylizer that takes none");
            }
        }
        // Identity at strength 0, with and without a partner.
        let id = config.apply(&img, &identity);
        assert_eq!(
            id,
            FloatImage::from_rgb8(&img),
            "{name}: not the identity at {identity:?}"
        );
        assert_eq!(id.to_rgb8(), img);
        let id = config.apply_with(&img, &identity, StageContext::with_partner(&partner));
        assert_eq!(
            id,
            FloatImage::from_rgb8(&img),
            "{name}: not the identity with a partner"
        );
    }
    assert!(
        moved >= 10,
        "{name}: only {moved} of 20 sampled applications changed the image"
    );
    // Config round trips; unknown keys are refused; `{}` is the default.
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<A>(&json).unwrap(),
        config,
        "{name}: config round trip"
    );
    assert!(
        serde_json::from_str::<A>(r#"{"typo": 1}"#).is_err(),
        "{name}: unknown field accepted"
    );
    serde_json::from_str::<A>("{}")
        .expect("default config")
        .validate()
        .unwrap();
}

#[test]
fn template_over_every_stylizer() {
    stylizer_template(RandConv::default(), RandConvParams::identity(), "randconv");
    stylizer_template(
        FourierMix::default(),
        FourierMixParams {
            lambda: 0.0,
            beta: 1.0,
        },
        "fourier_mix",
    );
    stylizer_template(
        ColorTransfer::default(),
        ColorTransferParams {
            strength: 0.0,
            target: LabStats {
                mean: [-0.5, 0.1, 0.0],
                std: [0.3, 0.05, 0.01],
            },
        },
        "color_transfer",
    );
    stylizer_template(
        RandomNet::default(),
        RandomNetParams {
            seed: 99,
            strength: 0.0,
        },
        "random_net",
    );
}

#[test]
fn partner_stylizers_follow_their_partner() {
    let img = scene(32, 32);
    let (a, b) = (noise(32, 32, 1), scene(16, 40));
    let params = FourierMixParams {
        lambda: 0.8,
        beta: 1.0,
    };
    let fm = FourierMix::default();
    let with_a = fm.apply_with(&img, &params, StageContext::with_partner(&a));
    assert_ne!(
        with_a,
        fm.apply_with(&img, &params, StageContext::with_partner(&b))
    );
    assert_ne!(with_a, fm.apply(&img, &params));
    let ct = ColorTransfer::default();
    let params = ct.sample(&mut rng_from_seed(0), ImageSize::of(&img));
    let with_a = ct.apply_with(&img, &params, StageContext::with_partner(&a));
    assert_ne!(
        with_a,
        ct.apply_with(&img, &params, StageContext::with_partner(&b))
    );
    assert_ne!(with_a, ct.apply(&img, &params));
    assert!(fm.needs_partner() && ct.needs_partner());
    assert!(!RandConv::default().needs_partner() && !RandomNet::default().needs_partner());
}

#[test]
fn stylizer_validation_errors_name_the_key_with_the_stage_position() {
    let cases = [
        (
            r#"{"kind": "randconv", "kernel_sizes": [2]}"#,
            "pixel[1].kernel_sizes",
        ),
        (
            r#"{"kind": "randconv", "strength": [0.5, 0.2]}"#,
            "pixel[1].strength",
        ),
        (r#"{"kind": "fourier_mix", "eta": 1.5}"#, "pixel[1].eta"),
        (r#"{"kind": "fourier_mix", "beta": [-1.0, 1.0]}"#, "pixel[1].beta"),
        (
            r#"{"kind": "color_transfer", "std_l": [0.5, 0.1]}"#,
            "pixel[1].std_l",
        ),
        (r#"{"kind": "color_transfer", "p": 3.0}"#, "pixel[1].p"),
        (r#"{"kind": "random_net", "layers": 0}"#, "pixel[1].layers"),
        (r#"{"kind": "random_net", "width": 100}"#, "pixel[1].width"),
    ];
    for (json, key) in cases {
        let stage: PixelStage = serde_json::from_str(json).unwrap();
        let err = Pipeline::new(vec![PixelStage::RandomCrop(RandomCrop::default()), stage]).unwrap_err();
        assert_eq!(err.key, key, "{json}");
        assert!(!err.to_string().contains('\n'));
    }
    for kind in stylize::STYLIZER_KINDS {
        let stage: PixelStage = serde_json::from_str(&format!(r#"{{"kind": "{kind}"}}"#)).unwrap();
        assert!(!stage.is_shared(), "{kind} must run per view");
        assert!(advbn_augmenters::stage_kind_names().contains(&kind.to_string()));
    }
    assert!(serde_json::from_str::<PixelStage>(r#"{"kind": "randconv", "alpha": 1}"#).is_err());
}

#[test]
fn stylizer_views_differ_and_replay_with_the_same_partner() {
    let stages: Vec<PixelStage> = stylize::default_stages().into_iter().map(|(_, s)| s).collect();
    let pipeline = Pipeline::new(
        [PixelStage::RandomCrop(RandomCrop { padding: 4 })]
            .into_iter()
            .chain(stages)
            .collect(),
    )
    .unwrap();
    assert!(pipeline.needs_partner());
    let img = scene(32, 32);
    let partner = noise(32, 32, 5);
    let key = SampleKey::new(3, 1, 17);
    let params = pipeline.sample(key, ImageSize::of(&img), 2);
    let json = serde_json::to_string(&params).unwrap();
    let back = serde_json::from_str(&json).unwrap();
    let ctx = StageContext::with_partner(&partner);
    let views = pipeline.apply_with(&img, &back, ctx);
    assert_eq!(views, pipeline.run_with(&img, key, 2, ctx));
    assert_ne!(views.augmented[0], views.augmented[1]);
    assert_ne!(
        views,
        pipeline.run(&img, key, 2),
        "the partner made no difference"
    );
}
