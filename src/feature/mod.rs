//! Feature-space augmenters: they act on a network's features `[N, C, H, W]` at cut points,
//! during training only (evaluation is the identity).
//!
//! Every one implements [`FeatureAugment`]; users register their own ([`register_feature`]).
//! Two kinds share the recipe's `[[feature]]` list ([`crate::recipe::FeatureStage`]):
//! - *inline* augmenters ([`mixstyle`], [`dsu`]) transform the features of the clean
//!   forward pass where they sit;
//! - the *adversary* ([`AdvBn`]) needs the head to attack and the targets, and adds a
//!   second, adversarial pass through the head's adversarial batch norms.

mod advbn;
mod augment;
mod inline;

pub use advbn::{AdvBn, AdvBnConfig};
pub(crate) use augment::registered_feature;
pub use augment::{
    AttackHead, AttackOutcome, BUILTIN_FEATURE_KINDS, FeatureAdversary, FeatureAugment, FeatureConstructor,
    feature_kinds, register_feature,
};
pub use inline::{DsuConfig, MixStyleConfig, check_cuts_within, dsu, mixstyle};
