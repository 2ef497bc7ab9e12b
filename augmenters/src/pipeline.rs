//! A configurable stack of image-space stages (what a recipe's `[[pixel]]` list builds),
//! multi-view output for consistency losses, and the rayon-parallel batch entry point.
//!
//! A pipeline splits in two at its first *per-view* stage: the leading *shared* stages
//! (random crop, flip, the resizing crops) run once per sample and give the **clean** view; the remaining
//! stages run once per augmented view, each view with its own random stream. This is the
//! AugMix reference's order: `preprocess(x), preprocess(augmix(x)), preprocess(augmix(x))`
//! with `x` already cropped and flipped.
//!
//! Stylizers that move an image towards a *partner* image's style (`fourier_mix`,
//! `color_transfer`) receive it through a [`StageContext`]: [`Pipeline::apply_with`] and
//! [`Pipeline::run_with`] take one per sample (the same partner for every view), and
//! [`augment_batch_with_partners`] asks a caller's function for each sample's partner. The
//! context-free entry points ([`Pipeline::apply`], [`Pipeline::run`], [`augment_batch`]) pass
//! no partner, and the stylizers then use their documented random targets. See
//! [`crate::stylize`] for why the partner is chosen per sample rather than from the batch.
//!
//! Besides the built-in stages (static dispatch), a pipeline takes a user's own stages
//! ([`PixelStage::Custom`], made from any [`Augment`] with [`CustomStage::new`]); reading a
//! stage from a recipe goes through the [registry](crate::registry), where a user's kind is
//! added with [`register_stage`](crate::register_stage).

use std::sync::Arc;

use image::RgbImage;
use rayon::prelude::*;
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::geometry::{CropParams, FlipParams, HorizontalFlip, RandomCrop};
use crate::registry::{self, CustomStage, StageConstructor};
use crate::{Augment, ConfigError, Image, ImageSize, SampleKey, StageContext, Validate};

#[cfg(doc)]
use crate::DynStage;

/// Declares the built-in stage kinds once: the config enum, the params enum, their dispatch,
/// their serde forms and their registry constructors.
macro_rules! pixel_stages {
    ($( $(#[$doc:meta])* $variant:ident($config:ty, $params:ty, kind = $kind:literal, shared = $shared:expr) ),+ $(,)?) => {
        /// One image-space stage, as written in a recipe (`kind = "..."` plus its fields):
        /// a built-in stage (static dispatch), or a user's [`CustomStage`].
        ///
        /// Reading one looks its `kind` up in the [registry](crate::registry), so a
        /// registered user kind reads like a built-in one; an unknown kind is an error that
        /// lists the registered kinds.
        ///
        /// ```
        /// use advbn_augmenters::{PixelStage, RandomCrop};
        /// let stage: PixelStage = serde_json::from_str(r#"{"kind": "random_crop", "padding": 2}"#).unwrap();
        /// assert_eq!(stage, PixelStage::RandomCrop(RandomCrop { padding: 2 }));
        /// assert_eq!(stage.kind(), "random_crop");
        /// assert_eq!(serde_json::to_string(&stage).unwrap(), r#"{"kind":"random_crop","padding":2}"#);
        /// let err = serde_json::from_str::<PixelStage>(r#"{"kind": "random_crop2"}"#).unwrap_err();
        /// assert!(err.to_string().contains("expected one of `random_crop`, `horizontal_flip`"));
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        pub enum PixelStage {
            $( $(#[$doc])* $variant($config), )+
            /// A user's stage ([`CustomStage`], [`register_stage`](crate::register_stage)):
            /// dynamic dispatch, parameters as JSON values.
            Custom(CustomStage),
        }

        /// The sampled parameters of one stage application.
        ///
        /// Serialized like the stage, as a table with `kind`: a built-in kind's parameters
        /// beside it, a custom kind's under `params` (`{"kind": "my_jitter", "params": ...}`).
        #[derive(Clone, Debug, PartialEq)]
        pub enum StageParams {
            $( #[allow(missing_docs)] $variant($params), )+
            /// The parameters of a [`PixelStage::Custom`].
            Custom {
                /// The stage's kind.
                kind: String,
                /// What the stage's [`DynStage::sample`] returned.
                params: Value,
            },
        }

        /// The serde form of a built-in stage (a table tagged with `kind`).
        #[derive(Serialize)]
        #[serde(tag = "kind")]
        enum BuiltinStageRef<'a> {
            $( #[serde(rename = $kind)] $variant(&'a $config), )+
        }

        /// The serde form of a built-in stage's params, written.
        #[derive(Serialize)]
        #[serde(tag = "kind")]
        enum BuiltinParamsRef<'a> {
            $( #[serde(rename = $kind)] $variant(&'a $params), )+
        }

        /// The serde form of a built-in stage's params, read.
        #[derive(Deserialize)]
        #[serde(tag = "kind")]
        enum BuiltinParams {
            $( #[serde(rename = $kind)] $variant($params), )+
        }

        /// The built-in kind names, in order.
        pub(crate) const BUILTIN_KINDS: &[&str] = &[$( $kind ),+];

        /// The registry's constructors of the built-in kinds: each reads its fields into its
        /// own variant.
        pub(crate) fn builtin_constructors() -> Vec<(&'static str, Arc<StageConstructor>)> {
            vec![$(
                (
                    $kind,
                    Arc::new(|fields: Value| -> Result<PixelStage, serde_json::Error> {
                        Ok(PixelStage::$variant(<$config>::deserialize(fields)?))
                    }) as Arc<StageConstructor>,
                ),
            )+]
        }

        impl Serialize for PixelStage {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( PixelStage::$variant(c) => BuiltinStageRef::$variant(c).serialize(serializer), )+
                    PixelStage::Custom(c) => c.serialize_table(serializer),
                }
            }
        }

        impl Serialize for StageParams {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( StageParams::$variant(p) => BuiltinParamsRef::$variant(p).serialize(serializer), )+
                    StageParams::Custom { kind, params } => {
                        let mut map = serializer.serialize_map(Some(if params.is_null() { 1 } else { 2 }))?;
                        map.serialize_entry("kind", kind)?;
                        if !params.is_null() {
                            map.serialize_entry("params", params)?;
                        }
                        map.end()
                    }
                }
            }
        }

        impl From<BuiltinParams> for StageParams {
            fn from(p: BuiltinParams) -> Self {
                match p { $( BuiltinParams::$variant(p) => StageParams::$variant(p), )+ }
            }
        }

        impl PixelStage {
            /// Every built-in kind, as the enum's variant names (`RandomCrop`, ...); see
            /// [`PixelStage::kind`] and [`stage_kind_names`] for the names of recipes.
            pub const KINDS: &'static [&'static str] = &[$( stringify!($variant) ),+];

            /// The kind name, as written in `kind = "..."` (`random_crop`, `my_jitter`).
            pub fn kind(&self) -> &str {
                match self {
                    $( PixelStage::$variant(_) => $kind, )+
                    PixelStage::Custom(c) => c.kind(),
                }
            }

            /// True for stages that run once per sample, before the views split.
            pub fn is_shared(&self) -> bool {
                match self {
                    $( PixelStage::$variant(_) => $shared, )+
                    PixelStage::Custom(c) => c.is_shared(),
                }
            }

            /// Checks the stage's values.
            pub fn validate(&self) -> Result<(), ConfigError> {
                match self {
                    $( PixelStage::$variant(c) => c.validate(), )+
                    PixelStage::Custom(c) => c.stage().validate(),
                }
            }

            /// Samples this stage's parameters for an image of `size`.
            pub fn sample(&self, rng: &mut crate::AugRng, size: ImageSize) -> StageParams {
                match self {
                    $( PixelStage::$variant(c) => StageParams::$variant(c.sample(rng, size)), )+
                    PixelStage::Custom(c) => StageParams::Custom {
                        kind: c.kind().to_string(),
                        params: c.stage().sample(rng, size),
                    },
                }
            }

            /// The size of the image this stage makes from one of `size` with `params`
            /// ([`Augment::output_size`]).
            ///
            /// # Panics
            /// When `params` belong to another kind of stage.
            pub fn output_size(&self, size: ImageSize, params: &StageParams) -> ImageSize {
                match (self, params) {
                    $( (PixelStage::$variant(c), StageParams::$variant(p)) => c.output_size(size, p), )+
                    (PixelStage::Custom(c), StageParams::Custom { kind, params }) if *kind == c.kind() => {
                        c.stage().output_size(size, params)
                    }
                    _ => panic!("parameters of another stage kind"),
                }
            }

            /// True for stages that use a partner image when given one
            /// ([`Augment::needs_partner`]).
            pub fn needs_partner(&self) -> bool {
                match self {
                    $( PixelStage::$variant(c) => c.needs_partner(), )+
                    PixelStage::Custom(c) => c.stage().needs_partner(),
                }
            }

            /// Applies the stage with explicit parameters and no partner. A float input is
            /// quantized to u8 first ([`crate::FloatImage::to_rgb8`]).
            ///
            /// # Panics
            /// When `params` belong to another kind of stage (a programming error: params
            /// come from this stage's `sample` or from a replay file of the same pipeline).
            pub fn apply(&self, image: Image, params: &StageParams) -> Image {
                self.apply_with(image, params, StageContext::default())
            }

            /// Applies the stage with explicit parameters and a context (the partner image);
            /// stages that use no partner ignore it.
            ///
            /// # Panics
            /// When `params` belong to another kind of stage.
            pub fn apply_with(&self, image: Image, params: &StageParams, context: StageContext<'_>) -> Image {
                self.apply_to(&image.into_rgb8(), params, context)
            }

            /// [`PixelStage::apply_with`] on a borrowed 8-bit image (no copy of the input).
            ///
            /// # Panics
            /// When `params` belong to another kind of stage.
            pub fn apply_to(&self, image: &RgbImage, params: &StageParams, context: StageContext<'_>) -> Image {
                match (self, params) {
                    $( (PixelStage::$variant(c), StageParams::$variant(p)) => c.apply_with(image, p, context).into(), )+
                    (PixelStage::Custom(c), StageParams::Custom { kind, params }) if *kind == c.kind() => {
                        c.stage().apply_with(image, params, context)
                    }
                    _ => panic!("parameters of another stage kind"),
                }
            }
        }
    };
}

pixel_stages! {
    /// [`RandomCrop`]: zero-pad and crop back to the original size.
    RandomCrop(RandomCrop, CropParams, kind = "random_crop", shared = true),
    /// [`HorizontalFlip`]: mirror left-right.
    HorizontalFlip(HorizontalFlip, FlipParams, kind = "horizontal_flip", shared = true),
    /// [`RandomResizedCrop`](crate::RandomResizedCrop): random box resized to a square
    /// (changes the size).
    RandomResizedCrop(crate::RandomResizedCrop, crate::CropBox, kind = "random_resized_crop", shared = true),
    /// [`Resize`](crate::Resize): the whole image to a size (changes the size).
    Resize(crate::Resize, (), kind = "resize", shared = true),
    /// [`CenterCrop`](crate::CenterCrop): resize the shorter side, crop the centre square
    /// (changes the size).
    CenterCrop(crate::CenterCrop, (), kind = "center_crop", shared = true),
    /// [`AugMix`](crate::AugMix): per view, float output.
    Augmix(crate::AugMix, crate::AugMixParams, kind = "augmix", shared = false),
    /// [`RandConv`](crate::stylize::RandConv): random convolution, per view, float output.
    Randconv(crate::stylize::RandConv, crate::stylize::RandConvParams, kind = "randconv", shared = false),
    /// [`FourierMix`](crate::stylize::FourierMix): amplitude-spectrum mixing towards the
    /// partner, per view, float output.
    FourierMix(
        crate::stylize::FourierMix,
        crate::stylize::FourierMixParams,
        kind = "fourier_mix",
        shared = false
    ),
    /// [`ColorTransfer`](crate::stylize::ColorTransfer): Reinhard colour transfer towards the
    /// partner, per view, float output.
    ColorTransfer(
        crate::stylize::ColorTransfer,
        crate::stylize::ColorTransferParams,
        kind = "color_transfer",
        shared = false
    ),
    /// [`RandomNet`](crate::stylize::RandomNet): random convolutional network, per view,
    /// float output.
    RandomNet(crate::stylize::RandomNet, crate::stylize::RandomNetParams, kind = "random_net", shared = false),
}

impl<'de> Deserialize<'de> for PixelStage {
    /// Reads the table, takes its `kind` and hands the other fields to that kind's
    /// registered constructor ([`crate::build_stage`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, mut fields) = kind_and_fields::<D>(registry::capture(deserializer)?)?;
        fields.remove("kind");
        registry::build_stage(&kind, Value::Object(fields)).map_err(de::Error::custom)
    }
}

/// A stage's table split into its `kind` and its fields (`kind` still among them).
fn kind_and_fields<'de, D: Deserializer<'de>>(
    value: Value,
) -> Result<(String, serde_json::Map<String, Value>), D::Error> {
    let Value::Object(fields) = value else {
        return Err(de::Error::invalid_type(
            registry::unexpected(&value),
            &"a table with a stage `kind`",
        ));
    };
    let kind = match fields.get("kind") {
        Some(Value::String(kind)) => kind.clone(),
        Some(other) => {
            return Err(de::Error::invalid_type(
                registry::unexpected(other),
                &"a stage kind name",
            ));
        }
        None => return Err(de::Error::missing_field("kind")),
    };
    Ok((kind, fields))
}

impl<'de> Deserialize<'de> for StageParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, mut fields) = kind_and_fields::<D>(registry::capture(deserializer)?)?;
        if BUILTIN_KINDS.contains(&kind.as_str()) {
            return BuiltinParams::deserialize(Value::Object(fields))
                .map(StageParams::from)
                .map_err(de::Error::custom);
        }
        fields.remove("kind");
        let params = fields.remove("params").unwrap_or(Value::Null);
        if let Some(key) = fields.keys().next() {
            return Err(de::Error::unknown_field(key, &["kind", "params"]));
        }
        Ok(StageParams::Custom { kind, params })
    }
}

impl From<RgbImage> for Image {
    fn from(img: RgbImage) -> Self {
        Image::Rgb8(img)
    }
}

impl From<crate::FloatImage> for Image {
    fn from(img: crate::FloatImage) -> Self {
        Image::Float(img)
    }
}

/// The kind names accepted in `kind = "..."`, for error messages: the built-in ones
/// (`random_crop`, ...) in order, then every kind registered with
/// [`register_stage`](crate::register_stage) ([`crate::registered_kinds`]).
pub fn stage_kind_names() -> Vec<String> {
    registry::registered_kinds()
}

/// An ordered, validated list of stages.
///
/// ```
/// use advbn_augmenters::{Pipeline, PixelStage, RandomCrop, HorizontalFlip, SampleKey};
/// use image::RgbImage;
/// let pipeline = Pipeline::new(vec![
///     PixelStage::RandomCrop(RandomCrop { padding: 4 }),
///     PixelStage::HorizontalFlip(HorizontalFlip { p: 0.5 }),
/// ]).unwrap();
/// let img = RgbImage::new(32, 32);
/// let views = pipeline.run(&img, SampleKey::new(1, 0, 0), 2);
/// assert_eq!(views.augmented.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pipeline {
    stages: Vec<PixelStage>,
}

/// Everything random about one run of a pipeline over one sample: replay it with
/// [`Pipeline::apply`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineParams {
    /// Params of the shared stages, in order.
    pub shared: Vec<StageParams>,
    /// Params of the per-view stages, one list per view.
    pub views: Vec<Vec<StageParams>>,
}

/// The output of a pipeline for one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Views {
    /// The sample after the shared stages only.
    pub clean: Image,
    /// One image per augmented view (shared stages, then the per-view stages).
    pub augmented: Vec<Image>,
}

impl Views {
    /// The image to train on when a single image per sample is wanted: the first augmented
    /// view, or the clean one when there are no views.
    pub fn primary(&self) -> &Image {
        self.augmented.first().unwrap_or(&self.clean)
    }
}

impl Pipeline {
    /// A pipeline from stages, each validated; an error names the stage as `pixel[i].key`.
    pub fn new(stages: Vec<PixelStage>) -> Result<Self, ConfigError> {
        for (i, stage) in stages.iter().enumerate() {
            stage.validate().map_err(|e| e.within(&format!("pixel[{i}]")))?;
        }
        Ok(Self { stages })
    }

    /// The stages.
    pub fn stages(&self) -> &[PixelStage] {
        &self.stages
    }

    /// Number of leading shared stages.
    pub fn shared_len(&self) -> usize {
        self.stages.iter().take_while(|s| s.is_shared()).count()
    }

    /// True when some stage uses a partner image ([`StageContext`]): callers then pass one
    /// per sample (and may skip choosing one otherwise).
    pub fn needs_partner(&self) -> bool {
        self.stages.iter().any(PixelStage::needs_partner)
    }

    /// True when some stage runs per view (so that augmented views differ from the clean one).
    pub fn has_view_stages(&self) -> bool {
        self.shared_len() < self.stages.len()
    }

    /// Draws every parameter for one sample: shared stages from view 0 of `key`, view `v`'s
    /// stages from view `v + 1`.
    pub fn sample(&self, key: SampleKey, size: ImageSize, views: usize) -> PipelineParams {
        let (shared, per_view) = self.stages.split_at(self.shared_len());
        let mut rng = key.view(0).rng();
        // Each stage samples for the size of the image it will receive: after a resizing
        // stage (random_resized_crop, resize, center_crop) that is not the input's.
        let mut stage_size = size;
        let shared: Vec<StageParams> = shared
            .iter()
            .map(|s| {
                let p = s.sample(&mut rng, stage_size);
                stage_size = s.output_size(stage_size, &p);
                p
            })
            .collect();
        let views = (0..views)
            .map(|v| {
                let mut rng = key.view(v as u32 + 1).rng();
                let mut view_size = stage_size;
                per_view
                    .iter()
                    .map(|s| {
                        let p = s.sample(&mut rng, view_size);
                        view_size = s.output_size(view_size, &p);
                        p
                    })
                    .collect()
            })
            .collect();
        PipelineParams { shared, views }
    }

    /// Applies explicit parameters (pure), with no partner.
    ///
    /// # Panics
    /// When `params` were not sampled from this pipeline.
    pub fn apply(&self, image: &RgbImage, params: &PipelineParams) -> Views {
        self.apply_with(image, params, StageContext::default())
    }

    /// Applies explicit parameters (pure) with a context: the partner reaches every
    /// partner-using stage of every view.
    ///
    /// # Panics
    /// When `params` were not sampled from this pipeline.
    pub fn apply_with(&self, image: &RgbImage, params: &PipelineParams, context: StageContext<'_>) -> Views {
        let (shared, per_view) = self.stages.split_at(self.shared_len());
        assert_eq!(shared.len(), params.shared.len(), "params of another pipeline");
        // The first stage reads the input in place: a photo is not copied before its crop.
        let mut stages = shared.iter().zip(&params.shared);
        let mut clean = match stages.next() {
            Some((stage, p)) => stage.apply_to(image, p, context),
            None => Image::Rgb8(image.clone()),
        };
        for (stage, p) in stages {
            clean = stage.apply_with(clean, p, context);
        }
        let augmented = params
            .views
            .iter()
            .map(|view_params| {
                assert_eq!(per_view.len(), view_params.len(), "params of another pipeline");
                let mut img = clean.clone();
                for (stage, p) in per_view.iter().zip(view_params) {
                    img = stage.apply_with(img, p, context);
                }
                img
            })
            .collect();
        Views { clean, augmented }
    }

    /// Samples and applies: `views` augmented views of one sample, with no partner.
    pub fn run(&self, image: &RgbImage, key: SampleKey, views: usize) -> Views {
        self.run_with(image, key, views, StageContext::default())
    }

    /// Samples and applies with a context (the sample's partner).
    pub fn run_with(
        &self,
        image: &RgbImage,
        key: SampleKey,
        views: usize,
        context: StageContext<'_>,
    ) -> Views {
        let params = self.sample(key, ImageSize::of(image), views);
        self.apply_with(image, &params, context)
    }
}

/// One input of [`augment_batch`]: an image and its index in its dataset.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Index in the dataset (what seeds its stream; not the position in the batch).
    pub index: u64,
    /// The decoded image.
    pub image: &'a RgbImage,
}

impl<'a> Sample<'a> {
    /// The images of a dataset as samples, each indexed by its position.
    ///
    /// ```
    /// let images = vec![image::RgbImage::new(2, 2); 3];
    /// let samples = advbn_augmenters::Sample::indexed(&images);
    /// assert_eq!(samples[2].index, 2);
    /// ```
    pub fn indexed(images: &'a [RgbImage]) -> Vec<Sample<'a>> {
        images
            .iter()
            .enumerate()
            .map(|(i, image)| Sample {
                index: i as u64,
                image,
            })
            .collect()
    }
}

/// Runs `pipeline` over a batch in parallel (rayon), `views` augmented views per sample.
/// The result is in input order and does not depend on the number of threads.
///
/// ```
/// use advbn_augmenters::{augment_batch, Pipeline, Sample};
/// use image::RgbImage;
/// let img = RgbImage::new(8, 8);
/// let batch = [Sample { index: 0, image: &img }, Sample { index: 1, image: &img }];
/// let out = augment_batch(&Pipeline::default(), &batch, 7, 0, 1);
/// assert_eq!(out.len(), 2);
/// ```
pub fn augment_batch(
    pipeline: &Pipeline,
    samples: &[Sample<'_>],
    run_seed: u64,
    epoch: u64,
    views: usize,
) -> Vec<Views> {
    augment_batch_with_partners(pipeline, samples, run_seed, epoch, views, |_| None)
}

/// [`augment_batch`] with a partner image per sample for the partner-using stages
/// ([`StageContext`]). `partner` is called with the sample's key
/// `SampleKey::new(run_seed, epoch, index)` (view 0), only when the pipeline
/// [needs a partner](Pipeline::needs_partner); it must be a function of the key alone (for
/// example the dataset image at [`SampleKey::partner_index`], or a fixed style image), so that
/// the result stays independent of the batch, its order and the thread count.
///
/// ```
/// use advbn_augmenters::{augment_batch_with_partners, Pipeline, PixelStage, Sample};
/// use advbn_augmenters::stylize::ColorTransfer;
/// let images: Vec<_> = (0..4u8).map(|i| image::RgbImage::from_pixel(8, 8, image::Rgb([60 * i, 90, 120]))).collect();
/// let samples: Vec<_> = images.iter().enumerate().map(|(i, image)| Sample { index: i as u64, image }).collect();
/// let pipeline = Pipeline::new(vec![PixelStage::ColorTransfer(ColorTransfer::default())]).unwrap();
/// let out = augment_batch_with_partners(&pipeline, &samples, 7, 0, 1, |key| {
///     key.partner_index(images.len() as u64).map(|j| &images[j as usize])
/// });
/// assert_eq!(out.len(), 4);
/// ```
pub fn augment_batch_with_partners<'p, F>(
    pipeline: &Pipeline,
    samples: &[Sample<'_>],
    run_seed: u64,
    epoch: u64,
    views: usize,
    partner: F,
) -> Vec<Views>
where
    F: Fn(SampleKey) -> Option<&'p RgbImage> + Sync,
{
    let needs_partner = pipeline.needs_partner();
    samples
        .par_iter()
        .map(|s| {
            let key = SampleKey::new(run_seed, epoch, s.index);
            let context = StageContext {
                partner: if needs_partner { partner(key) } else { None },
            };
            pipeline.run_with(s.image, key, views, context)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn cifar_geometry() -> Pipeline {
        Pipeline::new(vec![
            PixelStage::RandomCrop(RandomCrop::default()),
            PixelStage::HorizontalFlip(HorizontalFlip::default()),
        ])
        .unwrap()
    }

    #[test]
    fn replay_from_serialized_params_is_identical() {
        let p = cifar_geometry();
        let img = noise(32, 32, 3);
        let params = p.sample(SampleKey::new(5, 1, 9), ImageSize::of(&img), 2);
        let json = serde_json::to_string(&params).unwrap();
        let back: PipelineParams = serde_json::from_str(&json).unwrap();
        assert_eq!(p.apply(&img, &back), p.run(&img, SampleKey::new(5, 1, 9), 2));
    }

    #[test]
    fn batch_is_independent_of_threads_and_order() {
        let p = cifar_geometry();
        let images: Vec<RgbImage> = (0..16).map(|i| noise(32, 32, i)).collect();
        let samples = Sample::indexed(&images);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let many = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let a = one.install(|| augment_batch(&p, &samples, 11, 2, 1));
        let b = many.install(|| augment_batch(&p, &samples, 11, 2, 1));
        assert_eq!(a, b);
        let mut reversed = samples.clone();
        reversed.reverse();
        let mut c = augment_batch(&p, &reversed, 11, 2, 1);
        c.reverse();
        assert_eq!(a, c);
    }

    #[test]
    fn view_stages_sample_for_the_size_after_the_resizing_stages() {
        // AugMix's translations reach a third of the image side: after a crop to 24x24 of a
        // 300x200 photo no translation may exceed 8 pixels.
        let p = Pipeline::new(vec![
            PixelStage::RandomResizedCrop(crate::RandomResizedCrop {
                size: 24,
                ..Default::default()
            }),
            PixelStage::Augmix(crate::AugMix::default()),
        ])
        .unwrap();
        let img = noise(300, 200, 5);
        let mut translations = 0;
        for i in 0..50 {
            let params = p.sample(SampleKey::new(1, 0, i), ImageSize::of(&img), 2);
            let json = serde_json::to_string(&params.views).unwrap();
            for part in json.split("\"pixels\":").skip(1) {
                let value: f64 = part.split([',', '}']).next().unwrap().parse().unwrap();
                assert!(value.abs() <= 8.0, "translation of {value} pixels: {json}");
                translations += 1;
            }
            let views = p.apply(&img, &params);
            assert_eq!(views.augmented[0].size(), ImageSize::new(24, 24));
        }
        assert!(translations > 20, "only {translations} translations drawn");
    }

    #[test]
    fn shared_stages_are_shared_by_all_views() {
        let p = cifar_geometry();
        let views = p.run(&noise(16, 16, 1), SampleKey::new(0, 0, 3), 3);
        assert!(views.augmented.iter().all(|v| *v == views.clean));
    }

    #[test]
    fn config_round_trips_through_toml_shaped_json() {
        let p = cifar_geometry();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"kind\":\"random_crop\""), "{json}");
        let back: Pipeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn invalid_stage_is_reported_with_its_position() {
        let err = Pipeline::new(vec![
            PixelStage::RandomCrop(RandomCrop::default()),
            PixelStage::HorizontalFlip(HorizontalFlip { p: 2.0 }),
        ])
        .unwrap_err();
        assert_eq!(err.key, "pixel[1].p");
    }

    #[test]
    fn resizing_stages_replay_from_serialized_params_and_parse_from_toml() {
        let p: Pipeline = toml::from_str::<std::collections::BTreeMap<String, Pipeline>>(
            r#"
            pixel = [
                { kind = "resize", size = [120, 90] },
                { kind = "random_resized_crop", size = 48 },
                { kind = "horizontal_flip" },
                { kind = "center_crop", size = 32, interpolation = "bicubic" },
            ]
            "#,
        )
        .unwrap()
        .remove("pixel")
        .unwrap();
        let p = Pipeline::new(p.stages().to_vec()).unwrap();
        assert_eq!(p.shared_len(), 4);
        let img = noise(50, 40, 4);
        let params = p.sample(SampleKey::new(1, 2, 3), ImageSize::of(&img), 1);
        let json = serde_json::to_string(&params).unwrap();
        assert!(json.contains("{\"kind\":\"resize\"}"), "{json}");
        let back: PipelineParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back, params);
        let views = p.apply(&img, &back);
        assert_eq!(views, p.run(&img, SampleKey::new(1, 2, 3), 1));
        assert_eq!(views.clean.into_rgb8().dimensions(), (32, 32));
    }

    #[test]
    fn kind_names_are_snake_case() {
        assert_eq!(
            stage_kind_names()[..5],
            [
                "random_crop",
                "horizontal_flip",
                "random_resized_crop",
                "resize",
                "center_crop"
            ]
        );
        // The recipe names are the variant names in snake_case, and every one is registered.
        assert_eq!(BUILTIN_KINDS.len(), PixelStage::KINDS.len());
        for (kind, variant) in BUILTIN_KINDS.iter().zip(PixelStage::KINDS) {
            let mut snake = String::new();
            for (i, ch) in variant.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(ch.to_ascii_lowercase());
            }
            assert_eq!(*kind, snake);
            assert!(stage_kind_names().contains(&snake));
            // Kinds with a required `size` need it; the others have defaults for every field.
            let stage = crate::build_stage(kind, serde_json::json!({}))
                .or_else(|_| crate::build_stage(kind, serde_json::json!({ "size": 8 })))
                .unwrap();
            assert_eq!(stage.kind(), *kind);
            assert_eq!(serde_json::to_value(&stage).unwrap()["kind"], *kind);
        }
    }

    #[test]
    fn built_in_params_keep_their_serde_form() {
        let p = Pipeline::new(vec![
            PixelStage::RandomCrop(RandomCrop::default()),
            PixelStage::HorizontalFlip(HorizontalFlip::default()),
            PixelStage::Augmix(crate::AugMix::default()),
        ])
        .unwrap();
        let params = p.sample(SampleKey::new(3, 0, 1), ImageSize::new(32, 32), 1);
        let json = serde_json::to_value(&params).unwrap();
        assert_eq!(json["shared"][0]["kind"], "random_crop");
        assert!(json["shared"][0]["left"].is_u64(), "{json}");
        assert_eq!(json["views"][0][0]["kind"], "augmix");
        let err = serde_json::from_str::<StageParams>(r#"{"kind": "random_crop", "left": 1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `top`"), "{err}");
        let custom: StageParams = serde_json::from_str(r#"{"kind": "mine", "params": [1, 2]}"#).unwrap();
        assert_eq!(
            custom,
            StageParams::Custom {
                kind: "mine".into(),
                params: serde_json::json!([1, 2])
            }
        );
        assert!(serde_json::from_str::<StageParams>(r#"{"kind": "mine", "other": 1}"#).is_err());
    }
}
