//! A user's own image-space stage beside the built-in ones: registered under a kind name,
//! read from a recipe's `pixel = [...]` list, run per sample and per view, replayed from
//! serialized parameters. The registry is global (one per test process), so every test
//! registers its own kind names.

use advbn_augmenters::{
    AugRng, Augment, ConfigError, CustomStage, FloatImage, HorizontalFlip, Image, ImageSize, Pipeline,
    PipelineParams, PixelStage, RandomCrop, RegistryError, Sample, SampleKey, StageParams, Validate,
    augment_batch, build_stage, check_range, register_stage, registered_kinds, stage_kind_names,
};
use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Adds one random offset in `[-max_delta, max_delta]` (of 255) to every channel, with
/// probability `p`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrightnessJitter {
    max_delta: f32,
    #[serde(default = "one")]
    p: f32,
}

fn one() -> f32 {
    1.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct JitterParams {
    /// `None` when the jitter is skipped.
    delta: Option<f32>,
}

impl Validate for BrightnessJitter {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("max_delta", self.max_delta, 0.0, 255.0)?;
        check_range("p", self.p, 0.0, 1.0)
    }
}

impl Augment for BrightnessJitter {
    type Params = JitterParams;
    type Output = RgbImage;

    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> JitterParams {
        let apply = rng.random::<f32>() < self.p;
        let delta = rng.random_range(-self.max_delta..=self.max_delta);
        JitterParams {
            delta: apply.then_some(delta),
        }
    }

    fn apply(&self, image: &RgbImage, params: &JitterParams) -> RgbImage {
        let mut out = image.clone();
        if let Some(delta) = params.delta {
            for v in out.iter_mut() {
                *v = (f32::from(*v) + delta).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// A shared stage that changes the size: keeps the top-left `keep` fraction of each side,
/// and returns floats (so the per-view stages after it see a float input and a new size).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopLeft {
    keep: f32,
}

impl Validate for TopLeft {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("keep", self.keep, 0.1, 1.0)
    }
}

impl Augment for TopLeft {
    type Params = ();
    type Output = FloatImage;

    fn sample(&self, _rng: &mut AugRng, _size: ImageSize) {}

    fn output_size(&self, input: ImageSize, _params: &()) -> ImageSize {
        let side = |s: u32| ((s as f32 * self.keep).round() as u32).max(1);
        ImageSize::new(side(input.width), side(input.height))
    }

    fn apply(&self, image: &RgbImage, params: &()) -> FloatImage {
        let size = self.output_size(ImageSize::of(image), params);
        let crop = image::imageops::crop_imm(image, 0, 0, size.width, size.height).to_image();
        FloatImage::from_rgb8(&crop)
    }
}

fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed;
    RgbImage::from_fn(w, h, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let b = (state >> 33) as u8;
        image::Rgb([b, b.wrapping_mul(3), b.wrapping_add(77)])
    })
}

#[derive(Deserialize)]
struct Recipe {
    pixel: Vec<PixelStage>,
}

fn parse(toml_text: &str) -> Result<Pipeline, String> {
    let recipe: Recipe = toml::from_str(toml_text).map_err(|e| e.message().to_string())?;
    Pipeline::new(recipe.pixel).map_err(|e| e.to_string())
}

#[test]
fn user_stage_runs_beside_built_ins_and_replays() {
    register_stage::<BrightnessJitter>("test_jitter", false).unwrap();
    let pipeline = parse(
        r#"
        pixel = [
            { kind = "random_crop", padding = 2 },
            { kind = "horizontal_flip" },
            { kind = "test_jitter", max_delta = 40.0 },
            { kind = "augmix", severity = 2 },
        ]
        "#,
    )
    .unwrap();
    assert_eq!(pipeline.shared_len(), 2);
    let jitter = BrightnessJitter {
        max_delta: 40.0,
        p: 1.0,
    };
    let PixelStage::Custom(stage) = &pipeline.stages()[2] else {
        panic!("not a custom stage: {:?}", pipeline.stages()[2]);
    };
    assert_eq!(stage.kind(), "test_jitter");
    assert!(!stage.is_shared());
    assert_eq!(
        pipeline.stages()[2],
        PixelStage::Custom(CustomStage::new("test_jitter", false, jitter.clone()).unwrap())
    );

    // Per view: each view draws its own offset; replay from JSON gives the same images.
    let img = noise(24, 20, 3);
    let key = SampleKey::new(5, 1, 9);
    let params = pipeline.sample(key, ImageSize::of(&img), 3);
    let deltas: Vec<_> = params
        .views
        .iter()
        .map(|view| match &view[0] {
            StageParams::Custom { kind, params } => {
                assert_eq!(kind, "test_jitter");
                serde_json::from_value::<JitterParams>(params.clone())
                    .unwrap()
                    .delta
                    .unwrap()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(deltas[0] != deltas[1] || deltas[1] != deltas[2], "{deltas:?}");
    let json = serde_json::to_string(&params).unwrap();
    assert!(
        json.contains(r#"{"kind":"test_jitter","params":{"delta":"#),
        "{json}"
    );
    let back: PipelineParams = serde_json::from_str(&json).unwrap();
    assert_eq!(back, params);
    let views = pipeline.run(&img, key, 3);
    assert_eq!(pipeline.apply(&img, &back), views);

    // The jitter saw the clean (cropped, flipped) image, before AugMix.
    let Image::Rgb8(clean) = &views.clean else {
        panic!("the clean view is u8")
    };
    let StageParams::Augmix(augmix_params) = &params.views[0][1] else {
        panic!()
    };
    let jittered = jitter.apply(
        clean,
        &JitterParams {
            delta: Some(deltas[0]),
        },
    );
    let augmix = advbn_augmenters::AugMix {
        severity: 2,
        ..Default::default()
    };
    assert_eq!(
        views.augmented[0],
        Image::Float(augmix.apply(&jittered, augmix_params))
    );

    // A batch: the same with 1 and 4 threads, and each sample as `run` makes it.
    let images: Vec<RgbImage> = (0..12).map(|i| noise(24, 20, i)).collect();
    let samples = Sample::indexed(&images);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let a = one.install(|| augment_batch(&pipeline, &samples, 11, 2, 2));
    let b = four.install(|| augment_batch(&pipeline, &samples, 11, 2, 2));
    assert_eq!(a, b);
    for (s, views) in samples.iter().zip(&a) {
        let key = SampleKey::new(11, 2, s.index);
        let params = pipeline.sample(key, ImageSize::of(s.image), 2);
        let replayed: PipelineParams =
            serde_json::from_str(&serde_json::to_string(&params).unwrap()).unwrap();
        assert_eq!(&pipeline.apply(s.image, &replayed), views);
    }
}

#[test]
fn shared_user_stage_changes_the_size_for_the_stages_after_it() {
    register_stage::<TopLeft>("test_top_left", true).unwrap();
    register_stage::<BrightnessJitter>("test_jitter_after_top_left", false).unwrap();
    let pipeline = parse(
        r#"
        pixel = [
            { kind = "test_top_left", keep = 0.5 },
            { kind = "test_jitter_after_top_left", max_delta = 10.0, p = 0.5 },
            { kind = "augmix" },
        ]
        "#,
    )
    .unwrap();
    assert_eq!(pipeline.shared_len(), 1);
    let img = noise(40, 30, 1);
    let key = SampleKey::new(1, 0, 4);
    let params = pipeline.sample(key, ImageSize::of(&img), 2);
    assert_eq!(
        params.shared,
        [StageParams::Custom {
            kind: "test_top_left".into(),
            params: serde_json::Value::Null
        }]
    );
    let json = serde_json::to_string(&params).unwrap();
    assert!(
        json.starts_with(r#"{"shared":[{"kind":"test_top_left"}]"#),
        "{json}"
    );
    let back: PipelineParams = serde_json::from_str(&json).unwrap();
    assert_eq!(back, params);
    let views = pipeline.apply(&img, &back);
    assert_eq!(views, pipeline.run(&img, key, 2));
    assert_eq!(views.clean.size(), ImageSize::new(20, 15));
    assert!(views.augmented.iter().all(|v| v.size() == ImageSize::new(20, 15)));
}

#[test]
fn unknown_kind_lists_the_registered_kinds() {
    register_stage::<BrightnessJitter>("test_listed", false).unwrap();
    assert!(registered_kinds().contains(&"test_listed".to_string()));
    // Not compared with registered_kinds(): other tests here register kinds concurrently.
    let names = stage_kind_names();
    assert_eq!(names[..2], ["random_crop", "horizontal_flip"]);
    assert!(names.contains(&"test_listed".to_string()));
    let err = parse("pixel = [{ kind = \"test_listd\", max_delta = 1.0 }]").unwrap_err();
    assert!(
        err.starts_with("unknown variant `test_listd`, expected one of `random_crop`, `horizontal_flip`"),
        "{err}"
    );
    assert!(err.contains("`random_net`"), "{err}");
    assert!(err.contains("`test_listed`"), "{err}");
    let err = parse("pixel = [{ max_delta = 1.0 }]").unwrap_err();
    assert_eq!(err, "missing field `kind`");
    let err = parse("pixel = [{ kind = 3 }]").unwrap_err();
    assert!(
        err.starts_with("invalid type: integer `3`, expected a stage kind name"),
        "{err}"
    );
}

#[test]
fn registering_a_taken_kind_is_refused() {
    register_stage::<BrightnessJitter>("test_taken", false).unwrap();
    assert_eq!(
        register_stage::<TopLeft>("test_taken", true),
        Err(RegistryError::Duplicate("test_taken".into()))
    );
    // The first registration stands.
    let stage = build_stage("test_taken", serde_json::json!({ "max_delta": 2.0 })).unwrap();
    assert!(!stage.is_shared());
    for builtin in ["random_crop", "augmix", "random_net"] {
        assert_eq!(
            register_stage::<BrightnessJitter>(builtin, false),
            Err(RegistryError::Duplicate(builtin.into()))
        );
    }
    assert_eq!(
        register_stage::<BrightnessJitter>("Test-Taken", false),
        Err(RegistryError::InvalidName("Test-Taken".into()))
    );
    let jitter = BrightnessJitter {
        max_delta: 1.0,
        p: 1.0,
    };
    assert_eq!(
        CustomStage::new("horizontal_flip", true, jitter).unwrap_err(),
        RegistryError::Builtin("horizontal_flip".into())
    );
}

#[test]
fn field_errors_name_their_key() {
    register_stage::<BrightnessJitter>("test_fields", false).unwrap();
    // Out of range: `Pipeline::new` reports the key with the stage's position.
    let err = parse(r#"pixel = [{ kind = "random_crop" }, { kind = "test_fields", max_delta = 300.0 }]"#)
        .unwrap_err();
    assert_eq!(err, "`pixel[1].max_delta` is 300.0, allowed range is 0.0..=255.0");
    let stages = vec![
        PixelStage::HorizontalFlip(HorizontalFlip::default()),
        build_stage("test_fields", serde_json::json!({ "max_delta": 3.0, "p": 1.5 })).unwrap(),
    ];
    assert_eq!(Pipeline::new(stages).unwrap_err().key, "pixel[1].p");
    // Unknown and missing fields and wrong types: the stage's own serde messages.
    let err = parse(r#"pixel = [{ kind = "test_fields", max_delta = 3.0, pp = 1.0 }]"#).unwrap_err();
    assert_eq!(err, "unknown field `pp`, expected `max_delta` or `p`");
    let err = parse(r#"pixel = [{ kind = "test_fields" }]"#).unwrap_err();
    assert_eq!(err, "missing field `max_delta`");
    let err = parse(r#"pixel = [{ kind = "test_fields", max_delta = "big" }]"#).unwrap_err();
    assert_eq!(err, "invalid type: string \"big\", expected f32");
    let err = parse(r#"pixel = [{ kind = "test_fields", max_delta = nan }]"#).unwrap_err();
    assert_eq!(err, "`max_delta` is NaN, expected a finite number");
    // Built-in kinds keep their messages too.
    let err = parse(r#"pixel = [{ kind = "random_crop", pading = 2 }]"#).unwrap_err();
    assert_eq!(err, "unknown field `pading`, expected `padding`");
}

#[test]
fn config_round_trips_through_json_and_toml() {
    register_stage::<BrightnessJitter>("test_round_trip", false).unwrap();
    let stages = vec![
        PixelStage::RandomCrop(RandomCrop { padding: 3 }),
        PixelStage::Custom(
            CustomStage::new(
                "test_round_trip",
                false,
                BrightnessJitter {
                    max_delta: 0.1,
                    p: 0.25,
                },
            )
            .unwrap(),
        ),
    ];
    let pipeline = Pipeline::new(stages).unwrap();
    let json = serde_json::to_string(&pipeline).unwrap();
    assert_eq!(
        json,
        r#"[{"kind":"random_crop","padding":3},{"kind":"test_round_trip","max_delta":0.1,"p":0.25}]"#
    );
    let back: Pipeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pipeline);

    #[derive(Serialize, Deserialize)]
    struct Doc {
        pixel: Pipeline,
    }
    let text = toml::to_string(&Doc {
        pixel: pipeline.clone(),
    })
    .unwrap();
    assert!(text.contains("kind = \"test_round_trip\""), "{text}");
    let back: Doc = toml::from_str(&text).unwrap();
    assert_eq!(back.pixel, pipeline);

    // Equality is by kind and config.
    let other = CustomStage::new(
        "test_round_trip",
        false,
        BrightnessJitter {
            max_delta: 0.2,
            p: 0.25,
        },
    )
    .unwrap();
    assert_ne!(PixelStage::Custom(other), pipeline.stages()[1]);
}

#[test]
#[should_panic(expected = "parameters of another stage kind")]
fn params_of_another_kind_panic() {
    let jitter = BrightnessJitter {
        max_delta: 1.0,
        p: 1.0,
    };
    let stage = PixelStage::Custom(CustomStage::new("test_mismatch", false, jitter).unwrap());
    let params = StageParams::Custom {
        kind: "test_other".into(),
        params: serde_json::json!({ "delta": 1.0 }),
    };
    stage.apply(Image::Rgb8(noise(4, 4, 0)), &params);
}

#[test]
#[should_panic(expected = "parameters of another stage kind")]
fn params_of_the_wrong_shape_panic() {
    let jitter = BrightnessJitter {
        max_delta: 1.0,
        p: 1.0,
    };
    let stage = PixelStage::Custom(CustomStage::new("test_shape", false, jitter).unwrap());
    let params = StageParams::Custom {
        kind: "test_shape".into(),
        params: serde_json::json!({ "delta": "one" }),
    };
    stage.apply(Image::Rgb8(noise(4, 4, 0)), &params);
}

/// Multiplies by a fixed factor, drawn once per application from `factors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PickFactor {
    factors: Vec<f32>,
}

impl Validate for PickFactor {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

impl Augment for PickFactor {
    type Params = f32;
    type Output = FloatImage;

    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> f32 {
        self.factors[rng.random_range(0..self.factors.len())]
    }

    fn apply(&self, image: &RgbImage, factor: &f32) -> FloatImage {
        let f = FloatImage::from_rgb8(image);
        let hwc = (0..f.height())
            .flat_map(|y| (0..f.width()).map(move |x| (x, y)))
            .flat_map(|(x, y)| f.pixel(x, y))
            .map(|v| v * factor)
            .collect();
        FloatImage::from_raw(f.size(), hwc).unwrap()
    }
}

#[test]
fn replay_of_custom_params_is_exact_for_every_f32() {
    // The one f32 whose shortest decimal, read as an f64 and narrowed, is another f32: the
    // params of a custom stage must still replay to the same bits.
    let tricky: f32 = "7.038531e-26".parse().unwrap();
    assert_ne!("7.038531e-26".parse::<f64>().unwrap() as f32, tricky);
    let stage = CustomStage::new(
        "test_exact",
        false,
        PickFactor {
            factors: vec![tricky],
        },
    )
    .unwrap();
    let pipeline = Pipeline::new(vec![PixelStage::Custom(stage)]).unwrap();
    let img = noise(1, 1, 2);
    let params = pipeline.sample(SampleKey::new(0, 0, 0), ImageSize::of(&img), 1);
    let back: PipelineParams = serde_json::from_str(&serde_json::to_string(&params).unwrap()).unwrap();
    assert_eq!(back, params);
    let StageParams::Custom { params: value, .. } = &back.views[0][0] else {
        panic!()
    };
    assert_eq!(
        serde_json::from_value::<f32>(value.clone()).unwrap().to_bits(),
        tricky.to_bits()
    );
    assert_eq!(pipeline.apply(&img, &back), pipeline.apply(&img, &params));
}
