//! Recipes: a whole training configuration (data, model, optimisation, the image-space
//! stack, the consistency loss, the feature-space stack, evaluation), parsed from TOML
//! into typed configs once; nothing below this module reads TOML.

mod builtin;
mod overrides;

pub use builtin::{BUILTIN, builtin, builtin_names, resolve};
pub use overrides::apply_overrides;

use serde::{Deserialize, Serialize};

use crate::augmenters::{CenterCrop, ConfigError, Pipeline, PixelStage, check_range};
use crate::data::{BatchPlan, DEFAULT_CACHE_BYTES, DataSplits, FileOptions, Normalization, OnCorrupt};
use std::sync::Arc;

use crate::feature::{
    AdvBn, AdvBnConfig, BUILTIN_FEATURE_KINDS, DsuConfig, FeatureAugment, MixStyleConfig, check_cuts_within,
    feature_kinds, registered_feature,
};
use crate::model::{Arch, BnBranch};

/// A complete training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name (`augmix+advbn`).
    pub name: String,
    /// One line saying what the recipe is.
    #[serde(default)]
    pub description: String,
    /// Dataset and normalization.
    #[serde(default)]
    pub data: DataSection,
    /// Network.
    #[serde(default)]
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default)]
    pub train: TrainSection,
    /// The image-space stack, in order.
    #[serde(default)]
    pub pixel: Vec<PixelStage>,
    /// A consistency loss over augmented views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// The feature-space stack.
    #[serde(default)]
    pub feature: Vec<FeatureStage>,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSection,
}

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// The default data spec (`synthetic`, `cifar10:PATH`, ...); `--data` overrides it.
    pub dataset: String,
    /// Normalization after the image-space stack.
    pub normalization: Normalization,
    /// The training and evaluation image size of photo recipes: it sets the `size` of the
    /// recipe's `random_resized_crop` and `center_crop` stages, and evaluation resizes the
    /// shorter side to `image_size / 0.875` and takes the centre `image_size` square. Unset
    /// for datasets whose images all have one size (CIFAR), which are used as they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u32>,
    /// What a corrupt image file met while training or evaluating does: `error` (stop,
    /// naming the file) or `skip` (leave it out, warn once, count it in `metrics.jsonl`).
    pub on_corrupt: OnCorrupt,
    /// Memory for decoded images of file-backed datasets, in MiB (0: decode every time).
    pub cache_mib: u64,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            dataset: "synthetic".into(),
            normalization: Normalization::HALF,
            image_size: None,
            on_corrupt: OnCorrupt::Error,
            cache_mib: DEFAULT_CACHE_BYTES >> 20,
        }
    }
}

impl DataSection {
    /// The options of file-backed datasets this section asks for.
    pub fn file_options(&self) -> FileOptions {
        FileOptions {
            cache_bytes: self.cache_mib << 20,
            on_corrupt: self.on_corrupt,
        }
    }
}

/// `[model]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// The architecture.
    pub arch: Arch,
    /// Base width of an ImageNet ResNet (planes of `conv1` and `layer1`; torchvision: 64,
    /// the default). Narrow widths serve small experiments; other architectures reject it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            arch: Arch::Resnet20,
            width: None,
        }
    }
}

/// `[train]`: SGD with (Nesterov) momentum and coupled weight decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Epochs.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay (added to the gradient, as PyTorch's SGD).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Run seed: initialisation, sample order and every augmentation stream.
    pub seed: u64,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            schedule: Schedule::Cosine { lr_min: 1e-6 },
            seed: 1,
        }
    }
}

/// A learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Cosine decay per step from `lr` to `lr_min` (AugMix's CIFAR schedule).
    Cosine {
        /// The final learning rate.
        #[serde(default = "default_lr_min")]
        lr_min: f64,
    },
    /// Multiply by `gamma` at each milestone epoch.
    Step {
        /// Epochs (0-based) at whose start the rate drops.
        milestones: Vec<usize>,
        /// The factor.
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// A constant rate.
    Constant,
}

fn default_lr_min() -> f64 {
    1e-6
}

fn default_gamma() -> f64 {
    0.1
}

/// `[consistency]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Consistency {
    /// AugMix's Jensen-Shannon divergence between the clean view and `views` augmented ones.
    Jsd {
        /// Weight of the term (12 in the paper).
        #[serde(default = "default_lambda")]
        lambda: f64,
        /// Augmented views per sample (2 in the paper).
        #[serde(default = "default_views")]
        views: usize,
    },
}

fn default_lambda() -> f64 {
    12.0
}

fn default_views() -> usize {
    2
}

/// One `[[feature]]` entry: a built-in kind, or a kind registered with
/// [`crate::feature::register_feature`].
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureStage {
    /// Adversarial Batch Normalization.
    Advbn(AdvBnConfig),
    /// MixStyle.
    Mixstyle(MixStyleConfig),
    /// DSU.
    Dsu(DsuConfig),
    /// A registered kind.
    Custom(CustomFeature),
}

/// A `[[feature]]` entry of a registered kind: its fields as written, and the augmenter
/// its constructor made from them.
#[derive(Clone, Debug)]
pub struct CustomFeature {
    /// The kind name.
    pub kind: String,
    /// The entry's fields, without `kind`.
    pub fields: serde_json::Value,
    augmenter: Arc<dyn FeatureAugment>,
}

impl PartialEq for CustomFeature {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.fields == other.fields
    }
}

/// The built-in kinds, as serde reads and writes them.
#[derive(Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BuiltinFeature {
    Advbn(AdvBnConfig),
    Mixstyle(MixStyleConfig),
    Dsu(DsuConfig),
}

impl Serialize for FeatureStage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let builtin = match self {
            FeatureStage::Advbn(c) => BuiltinFeature::Advbn(c.clone()),
            FeatureStage::Mixstyle(c) => BuiltinFeature::Mixstyle(c.clone()),
            FeatureStage::Dsu(c) => BuiltinFeature::Dsu(c.clone()),
            FeatureStage::Custom(c) => {
                let mut fields = match &c.fields {
                    serde_json::Value::Object(map) => map.clone(),
                    _ => serde_json::Map::new(),
                };
                fields.insert("kind".into(), serde_json::Value::String(c.kind.clone()));
                return fields.serialize(serializer);
            }
        };
        builtin.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FeatureStage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // A TOML value, not a JSON one, in between: it holds `inf` and `nan`, which the
        // range checks then report by key (recipes are TOML).
        let value = toml::Value::deserialize(deserializer)?;
        let kind = match value.get("kind") {
            Some(toml::Value::String(kind)) => kind.clone(),
            Some(_) => return Err(D::Error::custom("`kind` must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        if BUILTIN_FEATURE_KINDS.contains(&kind.as_str()) {
            // serde's own messages (unknown field, unknown variant of a field), which the
            // recipe parser turns into located one-line errors.
            let builtin = BuiltinFeature::deserialize(value).map_err(|e| D::Error::custom(e.message()))?;
            return Ok(match builtin {
                BuiltinFeature::Advbn(c) => FeatureStage::Advbn(c),
                BuiltinFeature::Mixstyle(c) => FeatureStage::Mixstyle(c),
                BuiltinFeature::Dsu(c) => FeatureStage::Dsu(c),
            });
        }
        let Some(construct) = registered_feature(&kind) else {
            // The shape of serde's message, so that the error names the key and the kinds.
            let kinds: Vec<String> = feature_kinds().iter().map(|k| format!("`{k}`")).collect();
            return Err(D::Error::custom(format!(
                "unknown variant `{kind}`, expected one of {}",
                kinds.join(", ")
            )));
        };
        let mut fields = serde_json::to_value(&value).map_err(D::Error::custom)?;
        if let Some(map) = fields.as_object_mut() {
            map.remove("kind");
        }
        let augmenter = construct(fields.clone()).map_err(D::Error::custom)?;
        Ok(FeatureStage::Custom(CustomFeature {
            kind,
            fields,
            augmenter,
        }))
    }
}

impl FeatureStage {
    /// The built-in kind names.
    pub const KINDS: &'static [&'static str] = BUILTIN_FEATURE_KINDS;

    /// The augmenter this entry describes, as the training step uses it.
    pub fn build(&self) -> Result<Arc<dyn FeatureAugment>, ConfigError> {
        Ok(match self {
            FeatureStage::Advbn(c) => Arc::new(AdvBn::new(c.clone())?),
            FeatureStage::Mixstyle(c) => Arc::new(c.clone()),
            FeatureStage::Dsu(c) => Arc::new(c.clone()),
            FeatureStage::Custom(c) => Arc::clone(&c.augmenter),
        })
    }
}

/// `[eval]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Corruption parameter preset: `cifar` or `imagenet`.
    pub preset: String,
    /// Severities evaluated.
    pub severities: Vec<u8>,
    /// Evaluate on the dataset's style-shift sets.
    pub shift: bool,
    /// Which BN branch evaluation uses.
    pub bn_branch: BnBranch,
    /// Batch size at evaluation.
    pub batch_size: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            preset: "cifar".into(),
            severities: vec![1, 2, 3, 4, 5],
            shift: true,
            bn_branch: BnBranch::Clean,
            batch_size: 256,
        }
    }
}

impl Recipe {
    /// Parses a recipe from TOML text; `origin` names the file in errors.
    ///
    /// Errors are one line: `origin:line:column: what`, naming the key path (`train.epoch`,
    /// `pixel[2].sevrity`) and, for an unknown key or kind, the valid ones.
    ///
    /// ```
    /// use advbn::recipe::Recipe;
    /// let err = Recipe::from_toml("name = \"x\"\n[train]\nepoch = 3\n", "x.toml").unwrap_err();
    /// assert_eq!(err.to_string(), "x.toml:3:1: unknown key `train.epoch` (expected one of `epochs`, `batch_size`, `lr`, `momentum`, `nesterov`, `weight_decay`, `schedule`, `seed`)");
    /// ```
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, RecipeError> {
        Self::parse_toml(text, origin, true)
    }

    /// [`Recipe::from_toml`], with positions in errors only when `locate` (a text the user
    /// did not write, such as a recipe after `--set`, has no meaningful lines).
    pub(crate) fn parse_toml(text: &str, origin: &str, locate: bool) -> Result<Self, RecipeError> {
        let located = |span: Option<std::ops::Range<usize>>, message: String| {
            let at = span.filter(|_| locate).map(|s| line_column(text, s.start));
            RecipeError::Parse {
                origin: match at {
                    Some((line, col)) => format!("{origin}:{line}:{col}"),
                    None => origin.to_string(),
                },
                message,
            }
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| located(e.span(), e.message().to_string()))?;
        let recipe: Recipe = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let mut path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message();
            // serde's span is often that of the enclosing table or array of tables (inside
            // `[[pixel]]` and `[[feature]]` entries it is the first entry's header); look the
            // key up in the document itself for the exact position.
            let mut span = None;
            if message.starts_with("unknown field") {
                let field = message.split('`').nth(1).unwrap_or("");
                let full = if path.is_empty() || path == "." {
                    field.to_string()
                } else if path.ends_with(field) {
                    path.clone()
                } else {
                    format!("{path}.{field}")
                };
                span = find_span(text, &full, true);
            } else if message.starts_with("unknown variant") {
                // Inside an internally tagged entry the path stops at the entry: find the
                // key holding the unknown value.
                let value = message.split('`').nth(1).unwrap_or("");
                if let Some((key, s)) = find_string_value(text, &path, value) {
                    path = key;
                    span = Some(s);
                }
            }
            if span.is_none() && !path.is_empty() && path != "." {
                span = find_span(text, &path, false);
            }
            located(span.or_else(|| inner.span()), describe(&path, message))
        })?;
        recipe.validate().map_err(|e| RecipeError::Invalid {
            origin: match find_span(text, &e.key, false).filter(|_| locate) {
                Some(s) => {
                    let (line, col) = line_column(text, s.start);
                    format!("{origin}:{line}:{col}")
                }
                None => origin.to_string(),
            },
            error: e,
        })?;
        Ok(recipe)
    }

    /// The recipe as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a recipe always serializes")
    }

    /// Checks every value's range; the error names the key path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let t = &self.train;
        check_range("epochs", t.epochs, 1, 100_000).map_err(|e| e.within("train"))?;
        check_range("batch_size", t.batch_size, 2, 65_536).map_err(|e| e.within("train"))?;
        check_range("lr", t.lr, 1e-12, 1.0).map_err(|e| e.within("train"))?;
        check_range("momentum", t.momentum, 0.0, 0.999).map_err(|e| e.within("train"))?;
        check_range("weight_decay", t.weight_decay, 0.0, 1.0).map_err(|e| e.within("train"))?;
        match &t.schedule {
            Schedule::Cosine { lr_min } => {
                check_range("lr_min", *lr_min, 0.0, t.lr).map_err(|e| e.within("train.schedule"))?
            }
            Schedule::Step { milestones, gamma } => {
                check_range("gamma", *gamma, 0.0, 1.0).map_err(|e| e.within("train.schedule"))?;
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(ConfigError::new(
                        "train.schedule.milestones",
                        "must be strictly increasing",
                    ));
                }
            }
            Schedule::Constant => {}
        }
        for (c, s) in self.data.normalization.std.iter().enumerate() {
            if s.is_nan() || *s <= 0.0 {
                return Err(ConfigError::new(
                    format!("data.normalization.std[{c}]"),
                    format!("is {s}, must be positive"),
                ));
            }
        }
        self.model
            .arch
            .check_width(self.model.width)
            .map_err(|e| ConfigError::new("model.width", e))?;
        if let Some(size) = self.data.image_size {
            check_range("image_size", size, 8, 4096).map_err(|e| e.within("data"))?;
        }
        check_range("cache_mib", self.data.cache_mib, 0, 1 << 20).map_err(|e| e.within("data"))?;
        self.pipeline()?;
        if let Some(Consistency::Jsd { lambda, views }) = &self.consistency {
            check_range("lambda", *lambda, 0.0, 1000.0).map_err(|e| e.within("consistency"))?;
            check_range("views", *views, 1, 16).map_err(|e| e.within("consistency"))?;
        }
        let mut adversaries = 0;
        for (i, f) in self.feature.iter().enumerate() {
            let within = |e: ConfigError| e.within(&format!("feature[{i}]"));
            let augmenter = f.build().map_err(within)?;
            augmenter.validate().map_err(within)?;
            // Cuts must exist in the architecture (the ImageNet ResNets have a stage4).
            let (key, cuts) = augmenter.cuts_used();
            check_cuts_within(key, &cuts, self.model.arch.stages()).map_err(within)?;
            let start = augmenter.start_epoch();
            if start >= t.epochs {
                return Err(ConfigError::new(
                    format!("feature[{i}].start_epoch"),
                    format!("is {start}, must be below train.epochs ({})", t.epochs),
                ));
            }
            adversaries += usize::from(augmenter.adversary().is_some());
        }
        if adversaries > 1 {
            return Err(ConfigError::new(
                "feature",
                format!("has {adversaries} adversaries (such as `advbn`); at most one is allowed"),
            ));
        }
        let e = &self.eval;
        if e.preset != "cifar" && e.preset != "imagenet" {
            return Err(ConfigError::new(
                "eval.preset",
                format!("is `{}`, valid: cifar, imagenet", e.preset),
            ));
        }
        for (i, s) in e.severities.iter().enumerate() {
            check_range(&format!("severities[{i}]"), *s, 1, 5).map_err(|e| e.within("eval"))?;
        }
        check_range("batch_size", e.batch_size, 1, 65_536).map_err(|e| e.within("eval"))?;
        Ok(())
    }

    /// The AdvBN settings, if the recipe has an adversary.
    pub fn advbn(&self) -> Option<&AdvBnConfig> {
        self.feature.iter().find_map(|f| match f {
            FeatureStage::Advbn(cfg) => Some(cfg),
            _ => None,
        })
    }

    /// How training batches are made: the pipeline, the views (the clean one first with a
    /// JSD loss; one augmented view when the pipeline has per-view stages), the
    /// normalization and the seed.
    ///
    /// ```
    /// let r = advbn::recipe::builtin("augmix+advbn").unwrap().unwrap();
    /// assert_eq!(r.batch_plan().unwrap().views_per_sample(), 3);
    /// ```
    pub fn batch_plan(&self) -> Result<BatchPlan, ConfigError> {
        let pipeline = self.pipeline()?;
        let (views, jsd) = match &self.consistency {
            Some(Consistency::Jsd { views, .. }) => (*views, true),
            None => (usize::from(pipeline.has_view_stages()), false),
        };
        Ok(BatchPlan {
            pipeline,
            augmented_views: views,
            include_clean: jsd,
            normalization: self.data.normalization,
            run_seed: self.train.seed,
        })
    }

    /// The weight of the JSD consistency loss, if the recipe has one.
    pub fn jsd_lambda(&self) -> Option<f64> {
        self.consistency
            .as_ref()
            .map(|Consistency::Jsd { lambda, .. }| *lambda)
    }

    /// Every feature augmenter, in order, as the training step uses them.
    pub fn features(&self) -> Result<Vec<Arc<dyn FeatureAugment>>, ConfigError> {
        self.feature
            .iter()
            .enumerate()
            .map(|(i, f)| f.build().map_err(|e| e.within(&format!("feature[{i}]"))))
            .collect()
    }

    /// The image-space pipeline (validated). With `data.image_size` set, every
    /// `random_resized_crop` and `center_crop` stage takes that size (so `--set
    /// data.image_size=64` shrinks a photo recipe in one place).
    pub fn pipeline(&self) -> Result<Pipeline, ConfigError> {
        let mut stages = self.pixel.clone();
        if let Some(size) = self.data.image_size {
            for stage in &mut stages {
                match stage {
                    PixelStage::RandomResizedCrop(c) => c.size = size,
                    PixelStage::CenterCrop(c) => c.size = size,
                    _ => {}
                }
            }
        }
        Pipeline::new(stages)
    }

    /// The evaluation transform of a photo recipe (`data.image_size` set): the shorter side
    /// to `image_size / 0.875`, then the centre `image_size` square, bilinear as
    /// torchvision's `Resize` + `CenterCrop`. `None` when images are used as they are.
    ///
    /// ```
    /// let r = advbn::recipe::builtin("baseline-imagenet").unwrap().unwrap();
    /// let eval = r.eval_preprocess().unwrap();
    /// let out = eval.run(&image::RgbImage::new(500, 375), advbn_augmenters::SampleKey::new(0, 0, 0), 0);
    /// assert_eq!(out.clean.size(), advbn_augmenters::ImageSize::new(224, 224));
    /// assert!(advbn::recipe::builtin("baseline").unwrap().unwrap().eval_preprocess().is_none());
    /// ```
    pub fn eval_preprocess(&self) -> Option<Pipeline> {
        let size = self.data.image_size?;
        let crop = CenterCrop {
            size,
            ..CenterCrop::default()
        };
        Some(Pipeline::new(vec![PixelStage::CenterCrop(crop)]).expect("a valid centre crop"))
    }

    /// `splits` with this recipe's evaluation transform on the test and shift sets.
    pub fn prepare_eval(&self, splits: DataSplits) -> DataSplits {
        match self.eval_preprocess() {
            Some(pipeline) => splits.with_test_preprocess(&pipeline),
            None => splits,
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

type DeNode<'a, 'i> = &'a toml::Spanned<toml::de::DeValue<'i>>;

/// Follows a key path (`train.epochs`, `pixel[1].severity`, `data.normalization.std[1]`)
/// through a parsed document: the span of the last key and the node it leads to.
fn follow<'a, 'i>(
    root: &'a toml::de::DeTable<'i>,
    path: &str,
) -> Option<(std::ops::Range<usize>, DeNode<'a, 'i>)> {
    let mut table = root;
    let mut found: Option<(std::ops::Range<usize>, DeNode<'a, 'i>)> = None;
    for part in path.split('.') {
        if let Some((_, node)) = &found {
            let toml::de::DeValue::Table(t) = node.get_ref() else {
                return None;
            };
            table = t;
        }
        let mut pieces = part.split('[');
        let name = pieces.next()?;
        let (key, mut node) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        for index in pieces {
            let i: usize = index.strip_suffix(']')?.parse().ok()?;
            let toml::de::DeValue::Array(items) = node.get_ref() else {
                return None;
            };
            node = items.get(i)?;
        }
        found = Some((key.span(), node));
    }
    found
}

/// The span in `text` of the value at a key path, or of its last key when `key` is true.
fn find_span(text: &str, path: &str, key: bool) -> Option<std::ops::Range<usize>> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let (key_span, node) = follow(doc.get_ref(), path)?;
    Some(if key { key_span } else { node.span() })
}

/// In the table at `path`, the key whose value is the string `value`: its full path and
/// the span of the value.
fn find_string_value(text: &str, path: &str, value: &str) -> Option<(String, std::ops::Range<usize>)> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let (_, node) = follow(doc.get_ref(), path)?;
    let toml::de::DeValue::Table(table) = node.get_ref() else {
        return None;
    };
    table.iter().find_map(|(k, v)| match v.get_ref() {
        toml::de::DeValue::String(s) if s.as_ref() == value => {
            Some((format!("{path}.{}", k.get_ref()), v.span()))
        }
        _ => None,
    })
}

/// Rewrites serde's messages in the recipe's terms: keys with their full path, the valid
/// names as a list.
fn describe(path: &str, message: &str) -> String {
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or("").to_string();
    let expected = |s: &str| {
        s.split_once("expected ")
            .map(|(_, list)| list.replace(" or ", ", "))
            .unwrap_or_default()
    };
    if message.starts_with("unknown field") {
        let field = quoted(message);
        let key = if path.is_empty() || path == "." {
            field
        } else if path.ends_with(&field) {
            path.to_string()
        } else {
            format!("{path}.{field}")
        };
        let valid = expected(message);
        if valid.is_empty() {
            format!("unknown key `{key}`")
        } else {
            format!("unknown key `{key}` (expected {valid})")
        }
    } else if message.starts_with("unknown variant") {
        format!(
            "`{path}`: unknown value `{}` (valid: {})",
            quoted(message),
            expected(message)
        )
    } else if path.is_empty() || path == "." {
        message.to_string()
    } else {
        format!("`{path}`: {message}")
    }
}

/// A recipe that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// Neither a built-in name nor a file.
    #[error("unknown recipe `{name}`: not a built-in ({builtin}) and not a file")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The built-in names.
        builtin: String,
    },
    /// A `--set` that does not apply.
    #[error("{message}")]
    Override {
        /// What is wrong.
        message: String,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{origin}: {message}")]
    Parse {
        /// The file or built-in name.
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A value out of range.
    #[error("{origin}: {error}")]
    Invalid {
        /// The file or built-in name.
        origin: String,
        /// What is wrong.
        error: ConfigError,
    },
}
