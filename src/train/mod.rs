//! Training: losses, optimizer and schedules, the loop, checkpoints and metrics.

mod loss;

pub use loss::{accuracy, cross_entropy, jensen_shannon};
