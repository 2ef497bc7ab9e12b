//! Learning-rate schedules, as pure functions of the step.

use crate::recipe::Schedule;

/// The learning rate at `step` (0-based, counted over the whole run) of `total_steps`, in
/// epoch `epoch`.
///
/// Cosine follows the AugMix reference (`LambdaLR` with
/// `lr_min + (lr - lr_min) * (1 + cos(pi * step / total)) / 2`, evaluated per step).
///
/// ```
/// use advbn::recipe::Schedule;
/// use advbn::train::learning_rate;
/// let cosine = Schedule::Cosine { lr_min: 0.0 };
/// assert_eq!(learning_rate(&cosine, 0.1, 0, 100, 0), 0.1);
/// assert!((learning_rate(&cosine, 0.1, 50, 100, 0) - 0.05).abs() < 1e-12);
/// let step = Schedule::Step { milestones: vec![2, 4], gamma: 0.1 };
/// assert!((learning_rate(&step, 0.1, 0, 100, 3) - 0.01).abs() < 1e-12);
/// ```
pub fn learning_rate(schedule: &Schedule, lr: f64, step: u64, total_steps: u64, epoch: usize) -> f64 {
    match schedule {
        Schedule::Cosine { lr_min } => {
            let progress = step as f64 / total_steps.max(1) as f64;
            lr_min + (lr - lr_min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        Schedule::Step { milestones, gamma } => {
            let passed = milestones.iter().filter(|&&m| epoch >= m).count();
            lr * gamma.powi(passed as i32)
        }
        Schedule::Constant => lr,
    }
}
