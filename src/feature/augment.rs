//! The one trait of feature-space augmenters, and the registry that resolves a recipe's
//! `[[feature]]` kinds to them.
//!
//! The training step knows [`FeatureAugment`], not MixStyle, DSU or AdvBN: an augmenter
//! either transforms the clean pass at its cuts ([`FeatureAugment::inline_cuts`] and
//! [`FeatureAugment::perturb`]), or is an adversary ([`FeatureAugment::adversary`]) that is
//! handed the features at its cut and a way to run the head, and returns perturbed features
//! for a second, adversarial pass through the head. A user's own type implements the same
//! trait and is registered under a kind name ([`register_feature`]), after which recipes can
//! name it.
//!
//! ```
//! use advbn::augmenters::{AugRng, ConfigError};
//! use advbn::feature::{FeatureAugment, register_feature};
//! use advbn::model::Cut;
//! use burn::tensor::Tensor;
//!
//! /// Scales the features after stage 1 by a constant (a toy, to show the shape of it).
//! #[derive(Debug, serde::Serialize, serde::Deserialize)]
//! struct Gain { factor: f64 }
//!
//! impl FeatureAugment for Gain {
//!     fn kind(&self) -> &str { "doc_gain" }
//!     fn inline_cuts(&self) -> &[Cut] { &[Cut::Stage1] }
//!     fn perturb(&self, x: Tensor<4>, _at: Cut, _rng: &mut AugRng) -> Tensor<4> {
//!         x.mul_scalar(self.factor)
//!     }
//! }
//!
//! register_feature("doc_gain", |fields| {
//!     let gain: Gain = serde_json::from_value(fields).map_err(|e| ConfigError::new("doc_gain", e.to_string()))?;
//!     Ok(std::sync::Arc::new(gain))
//! }).unwrap();
//! let recipe = advbn::recipe::Recipe::from_toml(
//!     "name = \"g\"\n[[feature]]\nkind = \"doc_gain\"\nfactor = 1.5\n", "g").unwrap();
//! assert_eq!(recipe.features().unwrap()[0].kind(), "doc_gain");
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use burn::tensor::{Int, Tensor};

use crate::augmenters::{AugRng, ConfigError};
use crate::model::{BnMode, Cut, cross_entropy};

/// A feature-space augmenter, as the training step uses it.
///
/// Everything has a default but [`FeatureAugment::kind`]: an inline augmenter overrides
/// `inline_cuts` and `perturb`, an adversary overrides `adversary`.
pub trait FeatureAugment: Send + Sync + fmt::Debug {
    /// The kind name a recipe uses for it.
    fn kind(&self) -> &str;

    /// Checks the settings; errors name the key (the recipe prefixes `feature[i].`).
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The cuts it uses, for the check against the network's stages; the error key is
    /// the first element (`cuts` or `cut`).
    fn cuts_used(&self) -> (&'static str, Vec<Cut>) {
        ("cuts", self.inline_cuts().to_vec())
    }

    /// The first epoch (0-based) in which it acts; earlier epochs train without it.
    fn start_epoch(&self) -> usize {
        0
    }

    /// The cuts at which [`FeatureAugment::perturb`] transforms the clean pass.
    fn inline_cuts(&self) -> &[Cut] {
        &[]
    }

    /// Transforms the clean pass's training features at cut `at` (one of
    /// [`FeatureAugment::inline_cuts`]), drawing from `rng` (the step's stream for this
    /// augmenter and cut, so that a resumed run draws the same).
    ///
    /// Shapes: `[N, C, H, W]` -> `[N, C, H, W]`.
    fn perturb(&self, x: Tensor<4>, at: Cut, rng: &mut AugRng) -> Tensor<4> {
        let _ = (at, rng);
        x
    }

    /// The adversary, for augmenters that attack the head.
    fn adversary(&self) -> Option<&dyn FeatureAdversary> {
        None
    }
}

/// An augmenter that searches for worst-case features at a cut, as AdvBN does.
pub trait FeatureAdversary: Send + Sync {
    /// Where the features are taken and the adversarial pass starts.
    fn cut(&self) -> Cut;

    /// True to run the stem without gradients and with running statistics (the clean
    /// loss then trains only the head).
    fn freeze_stem(&self) -> bool {
        false
    }

    /// True when the adversarial pass uses the head's separate adversarial batch norms
    /// (which start as copies of the clean ones); false runs it through the clean ones.
    fn dual_bn(&self) -> bool {
        true
    }

    /// Finds perturbed features for `features` `[N, C, H, W]`. `head` runs the network
    /// from the cut to the logits with weights that need no gradient.
    fn attack(&self, features: Tensor<4>, head: &AttackHead<'_>) -> AttackOutcome;
}

/// What an attack may do with the network: run the head from the cut.
pub struct AttackHead<'a> {
    run: &'a dyn Fn(Tensor<4>, BnMode) -> Tensor<2>,
    /// The targets `[N]`.
    pub targets: Tensor<1, Int>,
    /// True when the features at the cut come out of a ReLU.
    pub ends_in_relu: bool,
}

impl<'a> AttackHead<'a> {
    /// A head from a function `(features at the cut, mode) -> logits`.
    pub fn new(
        run: &'a dyn Fn(Tensor<4>, BnMode) -> Tensor<2>,
        targets: Tensor<1, Int>,
        ends_in_relu: bool,
    ) -> Self {
        Self {
            run,
            targets,
            ends_in_relu,
        }
    }

    /// The logits of `features` `[N, C, H, W]` -> `[N, classes]`.
    pub fn logits(&self, features: Tensor<4>, mode: BnMode) -> Tensor<2> {
        (self.run)(features, mode)
    }

    /// The mean cross-entropy of `features` against the targets.
    pub fn loss(&self, features: Tensor<4>, mode: BnMode) -> Tensor<1> {
        cross_entropy(self.logits(features, mode), self.targets.clone())
    }
}

/// What one attack found.
#[derive(Clone, Debug)]
pub struct AttackOutcome {
    /// The perturbed features, detached, `[N, C, H, W]`.
    pub features: Tensor<4>,
    /// AdvBN's final mean factors, one per channel (empty for adversaries without them).
    pub s_mu: Vec<f32>,
    /// AdvBN's final standard-deviation factors, one per channel (empty likewise).
    pub s_sigma: Vec<f32>,
    /// Head loss at each step, before its update: the first is the unperturbed loss.
    /// Empty with zero steps.
    pub losses: Vec<f32>,
}

/// Makes a feature augmenter from a recipe entry's fields (a JSON object without `kind`).
pub type FeatureConstructor =
    Arc<dyn Fn(serde_json::Value) -> Result<Arc<dyn FeatureAugment>, ConfigError> + Send + Sync>;

/// The user's kinds in registration order (built-ins are resolved by the recipe's serde).
static REGISTRY: LazyLock<RwLock<Vec<(String, FeatureConstructor)>>> =
    LazyLock::new(|| RwLock::new(Vec::new()));

/// The kinds every recipe knows; users cannot register these names.
pub const BUILTIN_FEATURE_KINDS: &[&str] = &["advbn", "mixstyle", "dsu"];

/// Registers `kind` for recipes' `[[feature]]` entries. Registering a kind twice, or a
/// built-in kind, is an error (nothing is replaced); names follow the pixel stages' rule
/// ([`check_kind_name`](crate::augmenters::check_kind_name)).
pub fn register_feature<F>(kind: &str, constructor: F) -> Result<(), ConfigError>
where
    F: Fn(serde_json::Value) -> Result<Arc<dyn FeatureAugment>, ConfigError> + Send + Sync + 'static,
{
    // The pixel stages' naming rule, so that both kinds of `kind = "..."` read alike.
    if let Err(e) = crate::augmenters::check_kind_name(kind) {
        return Err(ConfigError::new("kind", e.to_string()));
    }
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if BUILTIN_FEATURE_KINDS.contains(&kind) || registry.iter().any(|(k, _)| k == kind) {
        return Err(ConfigError::new(
            "kind",
            format!("`{kind}` is already a registered feature kind"),
        ));
    }
    registry.push((kind.to_string(), Arc::new(constructor)));
    Ok(())
}

/// The constructor registered for `kind`, if any (built-ins are not in here).
pub(crate) fn registered_feature(kind: &str) -> Option<FeatureConstructor> {
    REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, constructor)| constructor.clone())
}

/// Every feature kind a recipe may name: the built-ins, then the registered ones in
/// registration order.
pub fn feature_kinds() -> Vec<String> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    BUILTIN_FEATURE_KINDS
        .iter()
        .map(|k| k.to_string())
        .chain(registry.iter().map(|(k, _)| k.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Nothing;

    impl FeatureAugment for Nothing {
        fn kind(&self) -> &str {
            "nothing"
        }
    }

    fn make(_: serde_json::Value) -> Result<Arc<dyn FeatureAugment>, ConfigError> {
        Ok(Arc::new(Nothing))
    }

    #[test]
    fn the_registry_refuses_taken_built_in_and_malformed_names() {
        register_feature("test_registry_nothing", make).unwrap();
        assert!(feature_kinds().contains(&"test_registry_nothing".to_string()));
        assert!(registered_feature("test_registry_nothing").is_some());
        let taken = register_feature("test_registry_nothing", make).unwrap_err();
        assert_eq!(
            taken.to_string(),
            "`kind` `test_registry_nothing` is already a registered feature kind"
        );
        let builtin = register_feature("advbn", make).unwrap_err();
        assert_eq!(
            builtin.to_string(),
            "`kind` `advbn` is already a registered feature kind"
        );
        let malformed = register_feature("My Kind", make).unwrap_err();
        assert!(
            malformed.to_string().contains("not a valid kind name"),
            "{malformed}"
        );
        // The pixel stages' rule: a leading digit or `_` is refused too.
        for bad in ["2x", "_x"] {
            assert!(register_feature(bad, make).is_err(), "{bad}");
        }
        assert!(
            registered_feature("advbn").is_none(),
            "built-ins are not constructed here"
        );
    }
}
