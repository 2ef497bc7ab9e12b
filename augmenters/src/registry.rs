//! Stage kinds by name: the registry that turns a recipe's `kind = "..."` table into a
//! [`PixelStage`], and the adapter that lets a user's own [`Augment`] join a [`Pipeline`]
//! beside the built-in stages.
//!
//! Every kind, built-in or not, is looked up here when a stage is read from a recipe: the
//! built-in kinds are registered first (their constructors read the fields into their own
//! [`PixelStage`] variant, which keeps static dispatch), and a user's kind is added with
//! [`register_stage`]. A user's stage is a [`PixelStage::Custom`] holding a [`CustomStage`]:
//! its parameters travel as JSON values ([`StageParams::Custom`]), so a pipeline with user
//! stages keeps per-sample seeds, the shared/per-view split and replay from serialized
//! parameters.
//!
//! ```
//! use advbn_augmenters::{
//!     Augment, AugRng, ConfigError, CustomStage, ImageSize, Pipeline, PixelStage, SampleKey,
//!     Validate, check_range, register_stage,
//! };
//! use image::RgbImage;
//! use rand::RngExt;
//! use serde::{Deserialize, Serialize};
//!
//! /// Adds a random offset in `[-amount, amount]` to every channel.
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Jitter {
//!     amount: u8,
//! }
//!
//! impl Validate for Jitter {
//!     fn validate(&self) -> Result<(), ConfigError> {
//!         check_range("amount", self.amount, 0, 64)
//!     }
//! }
//!
//! impl Augment for Jitter {
//!     type Params = i16;
//!     type Output = RgbImage;
//!     fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> i16 {
//!         let a = i16::from(self.amount);
//!         rng.random_range(-a..=a)
//!     }
//!     fn apply(&self, image: &RgbImage, offset: &i16) -> RgbImage {
//!         let mut out = image.clone();
//!         out.iter_mut().for_each(|v| *v = (i16::from(*v) + offset).clamp(0, 255) as u8);
//!         out
//!     }
//! }
//!
//! register_stage::<Jitter>("jitter", false).unwrap();
//! let pipeline: Pipeline = serde_json::from_str(
//!     r#"[{"kind": "random_crop", "padding": 2}, {"kind": "jitter", "amount": 8}]"#,
//! ).unwrap();
//! let pipeline = Pipeline::new(pipeline.stages().to_vec()).unwrap();
//! assert!(matches!(&pipeline.stages()[1], PixelStage::Custom(s) if s.kind() == "jitter"));
//! let views = pipeline.run(&RgbImage::new(8, 8), SampleKey::new(1, 0, 0), 2);
//! assert_eq!(views.augmented.len(), 2);
//! ```

use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use image::RgbImage;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{AugRng, Augment, ConfigError, Image, ImageSize, PixelStage, StageContext, Validate};

#[cfg(doc)]
use crate::{Pipeline, StageParams};

/// An image-space stage behind a pointer: what a [`CustomStage`] holds.
///
/// Object-safe; its parameters are JSON values. Most users do not implement it: they
/// write an ordinary [`Augment`] and wrap it with [`CustomStage::new`] (or register it with
/// [`register_stage`]), which implements this trait for them. Implement it directly only
/// for a stage that is not an [`Augment`], and wrap it with [`CustomStage::from_dyn`].
///
/// The methods mirror [`Augment`]'s; `params` are always values this stage's `sample`
/// returned (possibly after a round trip through JSON), and a stage may panic on others.
///
/// ```
/// use advbn_augmenters::{
///     AugRng, ConfigError, CustomStage, DynStage, Image, ImageSize, Pipeline, PixelStage,
///     SampleKey, StageContext,
/// };
/// use image::RgbImage;
/// use serde_json::{Value, json};
///
/// /// Inverts every pixel; nothing random.
/// struct Invert;
///
/// impl DynStage for Invert {
///     fn kind(&self) -> &str { "invert" }
///     fn is_shared(&self) -> bool { false }
///     fn validate(&self) -> Result<(), ConfigError> { Ok(()) }
///     fn sample(&self, _rng: &mut AugRng, _size: ImageSize) -> Value { Value::Null }
///     fn output_size(&self, size: ImageSize, _params: &Value) -> ImageSize { size }
///     fn needs_partner(&self) -> bool { false }
///     fn apply_with(&self, image: &RgbImage, _params: &Value, _context: StageContext<'_>) -> Image {
///         let mut out = image.clone();
///         image::imageops::invert(&mut out);
///         Image::Rgb8(out)
///     }
///     fn config(&self) -> Value { json!({}) }
/// }
///
/// let stage = CustomStage::from_dyn(std::sync::Arc::new(Invert)).unwrap();
/// let pipeline = Pipeline::new(vec![PixelStage::Custom(stage)]).unwrap();
/// let views = pipeline.run(&RgbImage::new(2, 2), SampleKey::new(0, 0, 0), 1);
/// assert_eq!(views.augmented[0].clone().into_rgb8().as_raw(), &vec![255; 12]);
/// ```
pub trait DynStage: Send + Sync + RefUnwindSafe {
    /// The kind name, as written in `kind = "..."`.
    fn kind(&self) -> &str;

    /// True for a stage that runs once per sample, before the views split (like a crop);
    /// false for one that runs once per augmented view.
    fn is_shared(&self) -> bool;

    /// Checks the stage's values ([`Validate::validate`]); keys are the stage's own field
    /// names (a pipeline prefixes `pixel[i].`).
    fn validate(&self) -> Result<(), ConfigError>;

    /// Draws the parameters of one application to an image of `size`
    /// ([`Augment::sample`]).
    fn sample(&self, rng: &mut AugRng, size: ImageSize) -> Value;

    /// The size of the image this stage makes from one of `size` with `params`
    /// ([`Augment::output_size`]).
    fn output_size(&self, size: ImageSize, params: &Value) -> ImageSize;

    /// True when the stage uses a partner image when given one ([`Augment::needs_partner`]).
    fn needs_partner(&self) -> bool;

    /// Applies the stage with explicit parameters and a context ([`Augment::apply_with`]).
    fn apply_with(&self, image: &RgbImage, params: &Value, context: StageContext<'_>) -> Image;

    /// The stage's fields as a JSON object (or `null` for a stage without fields): what a
    /// recipe writes beside `kind`, and what stages compare by.
    fn config(&self) -> Value;
}

/// The [`DynStage`] of an ordinary [`Augment`]: its parameters go through JSON values.
struct AugmentStage<T> {
    kind: String,
    shared: bool,
    augment: T,
}

impl<T> AugmentStage<T>
where
    T: Augment,
{
    fn params(&self, params: &Value) -> T::Params {
        T::Params::deserialize(params).unwrap_or_else(|e| {
            panic!(
                "parameters of another stage kind: stage `{}` cannot read {params}: {e}",
                self.kind
            )
        })
    }
}

impl<T> DynStage for AugmentStage<T>
where
    T: Augment + Validate + Serialize + RefUnwindSafe,
    T::Output: Into<Image>,
{
    fn kind(&self) -> &str {
        &self.kind
    }

    fn is_shared(&self) -> bool {
        self.shared
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.augment.validate()
    }

    fn sample(&self, rng: &mut AugRng, size: ImageSize) -> Value {
        // Straight to a value, not through text: an f32 widens to f64 exactly and narrows
        // back exactly, so the replay of a JSON file is exact for every f32.
        serde_json::to_value(self.augment.sample(rng, size))
            .unwrap_or_else(|e| panic!("the parameters of stage `{}` are not JSON: {e}", self.kind))
    }

    fn output_size(&self, size: ImageSize, params: &Value) -> ImageSize {
        self.augment.output_size(size, &self.params(params))
    }

    fn needs_partner(&self) -> bool {
        self.augment.needs_partner()
    }

    fn apply_with(&self, image: &RgbImage, params: &Value, context: StageContext<'_>) -> Image {
        self.augment
            .apply_with(image, &self.params(params), context)
            .into()
    }

    fn config(&self) -> Value {
        // `CustomStage::new` serialized it once already: serialization is deterministic.
        to_json(&self.augment).expect("the config serialized when the stage was made")
    }
}

/// A user's stage in a [`Pipeline`] ([`PixelStage::Custom`]): a kind name, shared or per
/// view, and a [`DynStage`] behind an [`Arc`] (cheap to clone).
///
/// Stages compare equal when their kind, their placement and their [config](Self::config)
/// are equal. Serialized, a custom stage is a table like a built-in one: `kind` and the
/// config's fields; reading it back needs its kind [registered](register_stage).
///
/// ```
/// use advbn_augmenters::{CustomStage, HorizontalFlip, Pipeline, PixelStage};
/// // Any `Augment + Validate + Serialize` can be a custom stage; here a built-in op under
/// // another name, run per view.
/// let stage = CustomStage::new("late_flip", false, HorizontalFlip { p: 0.5 }).unwrap();
/// assert_eq!(stage.kind(), "late_flip");
/// assert_eq!(stage.config(), &serde_json::json!({ "p": 0.5 }));
/// let pipeline = Pipeline::new(vec![PixelStage::Custom(stage)]).unwrap();
/// assert_eq!(pipeline.shared_len(), 0);
/// assert_eq!(
///     serde_json::to_string(&pipeline).unwrap(),
///     r#"[{"kind":"late_flip","p":0.5}]"#
/// );
/// ```
#[derive(Clone)]
pub struct CustomStage {
    stage: Arc<dyn DynStage>,
    config: Arc<Value>,
}

impl CustomStage {
    /// Wraps an ordinary [`Augment`] as a stage of kind `kind`, shared (run once per sample,
    /// before the views split) or per view. Its parameters must serialize to JSON and read
    /// back (finite floats; maps with string keys).
    ///
    /// # Errors
    /// When `kind` is not a valid name or is a built-in kind, or when `augment` does not
    /// serialize as a table of fields (a struct with named fields, or a unit struct).
    pub fn new<T>(kind: &str, shared: bool, augment: T) -> Result<Self, RegistryError>
    where
        T: Augment + Validate + Serialize + RefUnwindSafe + 'static,
        T::Output: Into<Image>,
    {
        check_kind_name(kind)?;
        if crate::pipeline::BUILTIN_KINDS.contains(&kind) {
            return Err(RegistryError::Builtin(kind.to_string()));
        }
        let config = to_json(&augment).map_err(|e| RegistryError::Config {
            kind: kind.to_string(),
            message: e.to_string(),
        })?;
        let stage = AugmentStage {
            kind: kind.to_string(),
            shared,
            augment,
        };
        Self::from_parts(Arc::new(stage), config)
    }

    /// Wraps a hand-written [`DynStage`].
    ///
    /// # Errors
    /// As [`CustomStage::new`]: an invalid or built-in kind name, or a config that is not a
    /// table.
    pub fn from_dyn(stage: Arc<dyn DynStage>) -> Result<Self, RegistryError> {
        check_kind_name(stage.kind())?;
        if crate::pipeline::BUILTIN_KINDS.contains(&stage.kind()) {
            return Err(RegistryError::Builtin(stage.kind().to_string()));
        }
        let config = stage.config();
        Self::from_parts(stage, config)
    }

    fn from_parts(stage: Arc<dyn DynStage>, config: Value) -> Result<Self, RegistryError> {
        match config {
            Value::Object(_) | Value::Null => Ok(Self {
                stage,
                config: Arc::new(config),
            }),
            other => Err(RegistryError::Config {
                kind: stage.kind().to_string(),
                message: format!(
                    "the config must serialize as a table of fields (a struct), not {}",
                    unexpected(&other)
                ),
            }),
        }
    }

    /// The kind name.
    pub fn kind(&self) -> &str {
        self.stage.kind()
    }

    /// True for a stage that runs once per sample, before the views split.
    pub fn is_shared(&self) -> bool {
        self.stage.is_shared()
    }

    /// The stage's fields as JSON (an object, or `null` for a unit struct).
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The stage itself.
    pub fn stage(&self) -> &dyn DynStage {
        &*self.stage
    }

    /// Writes `kind` and the config's fields as one table (fields that are `null`, such as
    /// an unset `Option`, are left out).
    pub(crate) fn serialize_table<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let empty = Map::new();
        let fields = match &*self.config {
            Value::Object(fields) => fields,
            _ => &empty,
        };
        let fields: Vec<_> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
        let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("kind", self.kind())?;
        for (key, value) in fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl fmt::Debug for CustomStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomStage")
            .field("kind", &self.kind())
            .field("shared", &self.is_shared())
            .field("config", &*self.config)
            .finish()
    }
}

impl PartialEq for CustomStage {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.is_shared() == other.is_shared() && self.config == other.config
    }
}

/// Why a stage kind or a custom stage was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The kind is registered already (every built-in kind is); nothing was changed.
    #[error("stage kind `{0}` is already registered")]
    Duplicate(String),
    /// A custom stage may not take a built-in kind's name.
    #[error("stage kind `{0}` is a built-in kind")]
    Builtin(String),
    /// Not a valid kind name.
    #[error(
        "`{0}` is not a valid kind name (expected lowercase ASCII letters, digits and `_`, \
         starting with a letter)"
    )]
    InvalidName(String),
    /// The stage's config cannot be written as a recipe table.
    #[error("stage kind `{kind}`: {message}")]
    Config {
        /// The kind.
        kind: String,
        /// What is wrong.
        message: String,
    },
}

/// Checks that `kind` may name a registered kind: lowercase ASCII letters, digits and `_`,
/// starting with a letter. The one rule for every registry of kinds (pixel stages here,
/// the feature augmenters of the `advbn` crate), so a recipe's `kind = "..."` reads the
/// same everywhere.
///
/// ```
/// use advbn_augmenters::{RegistryError, check_kind_name};
/// assert!(check_kind_name("my_jitter2").is_ok());
/// assert_eq!(check_kind_name("2x"), Err(RegistryError::InvalidName("2x".into())));
/// ```
pub fn check_kind_name(kind: &str) -> Result<(), RegistryError> {
    let mut chars = kind.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(kind.to_string()))
    }
}

/// What makes a stage from the fields of its recipe table (`kind` removed): a JSON object,
/// or whatever [`build_stage`] is given. Field errors are serde's (`unknown field ...`).
/// A constructor reads fields and does not validate them: [`Pipeline::new`] does, naming
/// the key as `pixel[i].key`.
pub type StageConstructor = dyn Fn(Value) -> Result<PixelStage, serde_json::Error> + Send + Sync;

struct Entry {
    kind: String,
    build: Arc<StageConstructor>,
}

/// Every registered kind, in registration order (the built-ins first).
static REGISTRY: LazyLock<RwLock<Vec<Entry>>> = LazyLock::new(|| {
    let builtins = crate::pipeline::builtin_constructors()
        .into_iter()
        .map(|(kind, build)| Entry {
            kind: kind.to_string(),
            build,
        })
        .collect();
    RwLock::new(builtins)
});

/// Registers `T` under `kind`: a recipe table `{ kind = "<kind>", ... }` then reads its
/// other fields into a `T` (with `T`'s serde rules: `deny_unknown_fields`, defaults, ...)
/// and makes a [`CustomStage`], shared or per view. The fields are validated by
/// [`Pipeline::new`], like a built-in stage's.
///
/// # Errors
/// [`RegistryError::Duplicate`] when `kind` is taken (by a built-in or an earlier
/// registration: the registry is global and never overwritten),
/// [`RegistryError::InvalidName`] for a name that is not lowercase snake_case.
///
/// ```
/// use advbn_augmenters::{HorizontalFlip, RegistryError, register_stage, registered_kinds};
/// register_stage::<HorizontalFlip>("second_flip", true).unwrap();
/// assert!(registered_kinds().iter().any(|k| k == "second_flip"));
/// assert_eq!(
///     register_stage::<HorizontalFlip>("second_flip", true),
///     Err(RegistryError::Duplicate("second_flip".into()))
/// );
/// assert!(register_stage::<HorizontalFlip>("horizontal_flip", true).is_err());
/// ```
pub fn register_stage<T>(kind: &str, shared: bool) -> Result<(), RegistryError>
where
    T: Augment + Validate + Serialize + DeserializeOwned + RefUnwindSafe + 'static,
    T::Output: Into<Image>,
{
    let name = kind.to_string();
    register_constructor(kind, move |fields| {
        let augment: T = read_fields(fields)?;
        let stage = CustomStage::new(&name, shared, augment).map_err(de::Error::custom)?;
        Ok(PixelStage::Custom(stage))
    })
}

/// Registers a constructor for `kind`, for a stage that [`register_stage`] cannot describe
/// (one made by hand, or whose placement depends on its fields). The stage it makes must be
/// of kind `kind`.
///
/// # Errors
/// As [`register_stage`].
///
/// ```
/// use advbn_augmenters::{CustomStage, HorizontalFlip, PixelStage, build_stage, register_constructor};
/// register_constructor("always_flip", |_fields| {
///     let stage = CustomStage::new("always_flip", true, HorizontalFlip { p: 1.0 })
///         .map_err(serde::de::Error::custom)?;
///     Ok(PixelStage::Custom(stage))
/// })
/// .unwrap();
/// let stage = build_stage("always_flip", serde_json::json!({})).unwrap();
/// assert_eq!(stage.kind(), "always_flip");
/// ```
pub fn register_constructor<F>(kind: &str, constructor: F) -> Result<(), RegistryError>
where
    F: Fn(Value) -> Result<PixelStage, serde_json::Error> + Send + Sync + 'static,
{
    check_kind_name(kind)?;
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if registry.iter().any(|e| e.kind == kind) {
        return Err(RegistryError::Duplicate(kind.to_string()));
    }
    registry.push(Entry {
        kind: kind.to_string(),
        build: Arc::new(constructor),
    });
    Ok(())
}

/// Every registered kind name: the built-in ones (`random_crop`, ...) in their order, then
/// the user's in registration order.
///
/// ```
/// let kinds = advbn_augmenters::registered_kinds();
/// assert_eq!(kinds[0], "random_crop");
/// assert!(kinds.iter().any(|k| k == "augmix"));
/// ```
pub fn registered_kinds() -> Vec<String> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry.iter().map(|e| e.kind.clone()).collect()
}

/// Makes a stage of a registered kind from its fields (a JSON object without `kind`):
/// what reading a [`PixelStage`] from a recipe does once it has the table's `kind`. Not
/// validated (see [`Pipeline::new`]).
///
/// # Errors
/// For an unknown kind, serde's `unknown variant` message listing the registered kinds;
/// otherwise the kind's own field errors (`unknown field`, `invalid type`, ...).
///
/// ```
/// use advbn_augmenters::{PixelStage, RandomCrop, build_stage};
/// let stage = build_stage("random_crop", serde_json::json!({ "padding": 2 })).unwrap();
/// assert_eq!(stage, PixelStage::RandomCrop(RandomCrop { padding: 2 }));
/// let err = build_stage("random_crop2", serde_json::json!({})).unwrap_err();
/// assert!(err.to_string().starts_with("unknown variant `random_crop2`, expected one of `random_crop`"));
/// ```
pub fn build_stage(kind: &str, fields: Value) -> Result<PixelStage, serde_json::Error> {
    let build = {
        let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        match registry.iter().find(|e| e.kind == kind) {
            Some(entry) => Arc::clone(&entry.build),
            None => {
                let kinds: Vec<&str> = registry.iter().map(|e| e.kind.as_str()).collect();
                return Err(de::Error::custom(unknown_kind(kind, &kinds)));
            }
        }
    };
    // The lock is released: a constructor may build stages itself.
    let stage = build(fields)?;
    if stage.kind() != kind {
        return Err(de::Error::custom(format!(
            "the constructor of stage kind `{kind}` made a stage of kind `{}`",
            stage.kind()
        )));
    }
    Ok(stage)
}

/// A config as JSON, through JSON text: an `f32` field is then the number it prints as
/// (`0.1`, not the `0.10000000149011612` of its widening to `f64`), so that a custom stage
/// writes and compares like a built-in one, whose `f32` fields are also read back as the
/// nearest `f64` narrowed to `f32`.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// serde's message for an unknown variant (what recipe error reporting recognizes).
fn unknown_kind(kind: &str, kinds: &[&str]) -> String {
    let expected = match kinds {
        [] => "there are no variants".to_string(),
        [one] => format!("expected `{one}`"),
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => format!(
            "expected one of {}",
            kinds
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("unknown variant `{kind}`, {expected}")
}

/// Reads a `T` from a stage's fields; a unit struct (which serde reads only from `null`)
/// also reads from an empty table.
fn read_fields<T: DeserializeOwned>(fields: Value) -> Result<T, serde_json::Error> {
    match T::deserialize(&fields) {
        Ok(t) => Ok(t),
        Err(e) => match &fields {
            Value::Object(map) if map.is_empty() => T::deserialize(Value::Null).map_err(|_| e),
            _ => Err(e),
        },
    }
}

/// serde's description of a JSON value's type, for error messages.
pub(crate) fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => de::Unexpected::Unsigned(u),
            (_, Some(i), _) => de::Unexpected::Signed(i),
            (_, _, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// Reads any self-describing value (a TOML table, JSON) into a JSON value. A non-finite
/// float, which JSON cannot hold, is an error naming its key (`` `p` is NaN, expected a
/// finite number ``) rather than a silent `null`.
pub(crate) fn capture<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    ValueSeed { at: &At::Root }.deserialize(deserializer)
}

/// Where a value sits in the captured table (formatted only for an error).
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Key(At::Root, key) => write!(f, "{key}"),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct ValueSeed<'a> {
    at: &'a At<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| match self.at {
                At::Root => E::custom(format_args!("{v:?} is not a finite number")),
                at => E::custom(format_args!("`{at}` is {v:?}, expected a finite number")),
            })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let at = At::Index(self.at, items.len());
            match seq.next_element_seed(ValueSeed { at: &at })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = At::Key(self.at, &key);
            let value = map.next_value_seed(ValueSeed { at: &at })?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_snake_case() {
        for good in ["my_jitter", "a", "x2", "a_b_c"] {
            assert!(check_kind_name(good).is_ok(), "{good}");
        }
        for bad in ["", "MyJitter", "2x", "_x", "my-jitter", "my jitter"] {
            assert_eq!(check_kind_name(bad), Err(RegistryError::InvalidName(bad.into())));
        }
    }

    #[test]
    fn unknown_kind_reads_like_serde() {
        assert_eq!(
            unknown_kind("x", &[]),
            "unknown variant `x`, there are no variants"
        );
        assert_eq!(unknown_kind("x", &["a"]), "unknown variant `x`, expected `a`");
        assert_eq!(
            unknown_kind("x", &["a", "b"]),
            "unknown variant `x`, expected `a` or `b`"
        );
        assert_eq!(
            unknown_kind("x", &["a", "b", "c"]),
            "unknown variant `x`, expected one of `a`, `b`, `c`"
        );
    }

    #[test]
    fn non_finite_floats_are_named() {
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            #[allow(dead_code)]
            pixel: Vec<PixelStage>,
        }
        let err = toml::from_str::<Doc>("pixel = [{ kind = \"horizontal_flip\", p = nan }]").unwrap_err();
        assert!(
            err.message().contains("`p` is NaN, expected a finite number"),
            "{err}"
        );
        let err = toml::from_str::<Doc>("pixel = [{ kind = \"augmix\", x = [1.0, [inf]] }]").unwrap_err();
        assert!(err.message().contains("`x[1][0]` is inf"), "{err}");
    }

    #[test]
    fn captured_values_keep_integers_and_floats_apart() {
        let v: Value = capture(&mut serde_json::Deserializer::from_str(
            r#"{"a": 1, "b": -2, "c": 0.1, "d": [null]}"#,
        ))
        .unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": -2, "c": 0.1, "d": [null]}));
        assert!(v["a"].is_u64() && v["b"].is_i64() && v["c"].is_f64());
    }
}
