//! Your own augmenters in advbn's recipes: an image-space one (a per-view brightness jitter)
//! and a feature-space one (channel dropout after stage 1), registered under kind names and
//! used from a TOML recipe beside AugMix and AdvBN, then trained for a few steps.
//!
//! Run it: `cargo run --release --example custom_augmenter`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use advbn::augmenters::{AugRng, Augment, ConfigError, ImageSize, Validate, check_range, register_stage};
use advbn::data::{DataSpec, ImageSource, LoadOptions, load};
use advbn::feature::{FeatureAugment, register_feature};
use advbn::model::Cut;
use advbn::recipe::Recipe;
use advbn::train::{TrainSetup, TrainSummary, train};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Image space: every pixel value shifted by one random offset in `[-amount, amount]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Brightness {
    amount: u8,
}

impl Validate for Brightness {
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("amount", self.amount, 0, 128)
    }
}

impl Augment for Brightness {
    type Params = i16; // what `sample` draws: the offset
    type Output = RgbImage;
    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> i16 {
        let a = i16::from(self.amount);
        rng.random_range(-a..=a)
    }
    fn apply(&self, image: &RgbImage, offset: &i16) -> RgbImage {
        let mut out = image.clone();
        out.iter_mut()
            .for_each(|v| *v = (i16::from(*v) + offset).clamp(0, 255) as u8);
        out
    }
}

/// Feature space: each channel of the features after `cut` is zeroed with probability `p`
/// (one draw per channel and batch), the others scaled by `1 / (1 - p)`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelDropout {
    p: f64,
    cut: Cut,
}

/// How often the training step called the feature augmenter (the example's test checks it).
static DROPOUT_CALLS: AtomicUsize = AtomicUsize::new(0);

impl FeatureAugment for ChannelDropout {
    fn kind(&self) -> &str {
        "channel_dropout"
    }
    fn validate(&self) -> Result<(), ConfigError> {
        check_range("p", self.p, 0.0, 0.9)
    }
    fn inline_cuts(&self) -> &[Cut] {
        std::slice::from_ref(&self.cut)
    }
    fn perturb(&self, x: Tensor<4>, _at: Cut, rng: &mut AugRng) -> Tensor<4> {
        DROPOUT_CALLS.fetch_add(1, Ordering::Relaxed);
        let [_, channels, _, _] = x.dims();
        let keep: Vec<f32> = (0..channels)
            .map(|_| {
                if rng.random::<f64>() < self.p {
                    0.0
                } else {
                    (1.0 / (1.0 - self.p)) as f32
                }
            })
            .collect();
        let mask = Tensor::<1>::from_data(TensorData::new(keep, [channels]), &x.device());
        x * mask.reshape([1, channels, 1, 1])
    }
}

/// Registers both kinds once per process.
fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_stage::<Brightness>("brightness", false).expect("a new pixel kind");
        register_feature("channel_dropout", |fields| {
            let dropout: ChannelDropout = serde_json::from_value(fields)
                .map_err(|e| ConfigError::new("channel_dropout", e.to_string()))?;
            Ok(Arc::new(dropout))
        })
        .expect("a new feature kind");
    });
}

const RECIPE: &str = r#"
name = "brightness+dropout+advbn"
[model]
arch = "tiny"
[train]
epochs = 1
batch_size = 32
[[pixel]]
kind = "random_crop"
padding = 4
[[pixel]]
kind = "brightness"
amount = 40
[[feature]]
kind = "channel_dropout"
p = 0.2
cut = "stage1"
[[feature]]
kind = "advbn"
steps = 2
"#;

fn run(dir: &std::path::Path) -> TrainSummary {
    register();
    let recipe = Recipe::from_toml(RECIPE, "custom.toml").expect("the recipe parses");
    let spec: DataSpec = "synthetic:train=128,test=64".parse().unwrap();
    let splits = load(&spec, &LoadOptions::default()).expect("the synthetic set");
    let classes = splits.classes().len();
    let test: Arc<dyn ImageSource> = Arc::new(splits.test);
    train(TrainSetup {
        recipe,
        train: Arc::new(splits.train),
        test: Some(test),
        classes,
        device: Device::flex(),
        devices: Vec::new(),
        run_dir: dir.to_path_buf(),
        resume: false,
        init_from: None,
        progress: false,
        label: None,
        stop_after_epochs: None,
    })
    .expect("training runs")
}

fn main() {
    let summary = run(std::path::Path::new("target/custom-augmenter-example"));
    println!(
        "{} steps; test accuracy {:?}",
        summary.steps, summary.test_accuracy
    );
}

#[test]
fn custom_kinds_train_from_a_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(dir.path());
    assert_eq!(summary.steps, 4);
    assert_eq!(
        DROPOUT_CALLS.load(Ordering::Relaxed),
        4,
        "one call per step at stage1"
    );
    // The recipe the run saved names both kinds, with their fields.
    let saved = std::fs::read_to_string(advbn::train::recipe_path(dir.path())).unwrap();
    assert!(
        saved.contains("kind = \"brightness\"") && saved.contains("amount = 40"),
        "{saved}"
    );
    assert!(saved.contains("kind = \"channel_dropout\""), "{saved}");
    // A wrong field is the recipe's one-line error, naming the key.
    let bad = RECIPE.replace("p = 0.2", "p = 2.0");
    let err = Recipe::from_toml(&bad, "custom.toml").unwrap_err().to_string();
    assert!(err.contains("feature[0].p"), "{err}");
}
