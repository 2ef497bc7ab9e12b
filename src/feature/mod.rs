//! Feature-space augmenters: they act on a network's features `[N, C, H, W]` at cut points,
//! during training only (evaluation is the identity).
//!
//! Two kinds share the recipe's `[[feature]]` list ([`crate::recipe::FeatureStage`]):
//! - *inline* augmenters ([`mixstyle`], [`dsu`]) transform the features of the clean
//!   forward pass where they sit;
//! - the *adversary* ([`AdvBn`]) needs the head to attack and the targets, and adds a
//!   second, adversarial pass through the head's adversarial batch norms.

mod advbn;
mod inline;

pub use advbn::{AdvBn, AdvBnConfig, AttackOutcome};
pub use inline::{DsuConfig, InlineAugmenter, MixStyleConfig, check_cuts_within, dsu, mixstyle};
