#![warn(missing_docs)]
//! advbn: train image classifiers that stay accurate when the style of their inputs
//! changes, by stacking image-space augmenters (AugMix, stylization) with the feature-space
//! adversary of Adversarial Batch Normalization (AdvBN), on burn.

pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod eval;
pub mod feature;
pub mod model;
pub mod recipe;
pub mod study;
pub mod train;

pub use advbn_augmenters as augmenters;
