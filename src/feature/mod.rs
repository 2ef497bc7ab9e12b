//! Feature-space augmenters: they act on a network's features `[N, C, H, W]` at a cut
//! point, during training only (evaluation is the identity).

mod advbn;

pub use advbn::{AdvBn, AdvBnConfig, AttackOutcome};
