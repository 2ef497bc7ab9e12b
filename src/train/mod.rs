//! Training: losses, optimizer and schedules, the loop, checkpoints and metrics.

mod atomic;
pub(crate) use atomic::write_atomic;
mod checkpoint;
mod learner;
mod run_data;
mod schedule;
mod step;
mod trainer;

pub use checkpoint::{Checkpoint, LoopState, checkpoint_path};
pub use learner::{AdvBnFactorMetric, Factor, FactorInput, RobustModel, RobustOutput};
pub use run_data::{RunData, run_data_path};
pub use schedule::learning_rate;
pub use step::{StepLoss, StepPlan, StepStats, device_shares, step_loss, train_step, train_step_devices};
pub use trainer::{
    TrainError, TrainSetup, TrainSummary, load_network, metrics_path, optimizer_for, recipe_path, train,
};

#[cfg(test)]
mod tests;
