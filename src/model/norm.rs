//! Dual batch normalization (AdvProp style) with explicit control of statistics.
//!
//! burn's stock `BatchNorm` updates its running statistics on every training-mode forward on
//! an autodiff device, attack passes included, and has one set of affine parameters. AdvBN
//! needs two sets (a clean and an adversarial branch sharing the convolutions) and needs to
//! choose, per call, between batch and running statistics and whether to update the latter.
//! [`BnMode`] makes that choice an argument instead of hidden state.

use burn::module::{Module, Param, ParamId, RunningState};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which copy of every dual batch norm a forward pass goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnBranch {
    /// The clean branch: used for clean images and at evaluation by default.
    Clean,
    /// The adversarial branch: used for AdvBN-perturbed features.
    Adv,
}

impl std::fmt::Display for BnBranch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BnBranch::Clean => "clean",
            BnBranch::Adv => "adv",
        })
    }
}

impl std::str::FromStr for BnBranch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "clean" => Ok(BnBranch::Clean),
            "adv" => Ok(BnBranch::Adv),
            other => Err(format!("unknown BN branch `{other}` (valid: clean, adv)")),
        }
    }
}

/// Which statistics a batch norm normalizes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnStats {
    /// The batch's own statistics (training); `update_running` also folds them into the
    /// running averages (momentum 0.1, unbiased variance, as PyTorch).
    Batch {
        /// Whether to update the running mean and variance.
        update_running: bool,
    },
    /// The running statistics (evaluation, and AdvBN's attack); nothing is updated.
    Running,
    /// The batch's own statistics, also written as the running statistics as they are (the
    /// mean and the unbiased variance, momentum 1): one pass reads a batch's statistics off
    /// every batch norm it reaches (test-time adaptation, [`crate::eval::adapt`]).
    Measure,
}

/// How a forward pass uses the batch norms: which branch, which statistics.
///
/// ```
/// use advbn::model::{BnBranch, BnMode};
/// assert_eq!(BnMode::EVAL.branch, BnBranch::Clean);
/// assert_eq!(BnMode::ATTACK.branch, BnBranch::Adv);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnMode {
    /// Clean or adversarial copy.
    pub branch: BnBranch,
    /// Batch or running statistics.
    pub stats: BnStats,
}

impl BnMode {
    /// Training on clean inputs: clean branch, batch statistics, running averages updated.
    pub const TRAIN: BnMode = BnMode {
        branch: BnBranch::Clean,
        stats: BnStats::Batch { update_running: true },
    };
    /// Training on adversarial features: adversarial branch, batch statistics, updated.
    pub const TRAIN_ADV: BnMode = BnMode {
        branch: BnBranch::Adv,
        stats: BnStats::Batch { update_running: true },
    };
    /// Evaluation: clean branch, running statistics.
    pub const EVAL: BnMode = BnMode {
        branch: BnBranch::Clean,
        stats: BnStats::Running,
    };
    /// AdvBN's attack: adversarial branch, running statistics, nothing updated.
    pub const ATTACK: BnMode = BnMode {
        branch: BnBranch::Adv,
        stats: BnStats::Running,
    };

    /// Evaluation through `branch`.
    pub fn eval(branch: BnBranch) -> Self {
        BnMode {
            branch,
            stats: BnStats::Running,
        }
    }
}

/// One set of batch-norm parameters and running statistics.
#[derive(Module, Debug)]
pub struct BnState {
    /// Scale, `[C]`.
    pub gamma: Param<Tensor<1>>,
    /// Shift, `[C]`.
    pub beta: Param<Tensor<1>>,
    /// Running mean, `[C]`.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running (unbiased) variance, `[C]`.
    pub running_var: RunningState<Tensor<1>>,
}

impl BnState {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
        }
    }

    /// A copy with fresh parameter ids (so an optimizer treats it as separate parameters).
    fn duplicate(&self) -> Self {
        let fresh = |p: &Param<Tensor<1>>| {
            Param::initialized(ParamId::new(), p.val().detach()).set_require_grad(p.is_require_grad())
        };
        Self {
            gamma: fresh(&self.gamma),
            beta: fresh(&self.beta),
            running_mean: RunningState::new(self.running_mean.value_sync()),
            running_var: RunningState::new(self.running_var.value_sync()),
        }
    }
}

/// A batch norm over `[N, C, H, W]` with a clean and an adversarial copy.
///
/// Shapes: input `[N, C, H, W]`, output `[N, C, H, W]`.
///
/// ```
/// use advbn::model::{BnMode, DualBatchNorm};
/// use burn::tensor::{Device, Tensor};
/// let device = Device::flex();
/// let bn = DualBatchNorm::new(2, &device);
/// let x = Tensor::<4>::ones([1, 2, 3, 3], &device);
/// assert_eq!(bn.forward(x, BnMode::EVAL).dims(), [1, 2, 3, 3]);
/// ```
#[derive(Module, Debug)]
pub struct DualBatchNorm {
    /// The clean copy.
    pub clean: BnState,
    /// The adversarial copy.
    pub adv: BnState,
    /// Running-average momentum (PyTorch convention: new = (1-m) old + m batch).
    pub momentum: f64,
    /// Added to the variance.
    pub epsilon: f64,
}

impl DualBatchNorm {
    /// A dual batch norm over `channels` channels (gamma 1, beta 0, momentum 0.1, eps 1e-5).
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            clean: BnState::new(channels, device),
            adv: BnState::new(channels, device),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Makes the adversarial copy equal to the clean one (what switching AdvBN on does).
    pub fn reset_adv_from_clean(mut self) -> Self {
        self.adv = self.clean.duplicate();
        self
    }

    /// Normalizes `x` as `mode` says.
    pub fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let state = match mode.branch {
            BnBranch::Clean => &self.clean,
            BnBranch::Adv => &self.adv,
        };
        match mode.stats {
            BnStats::Running => {
                // With fixed statistics a batch norm is a per-channel affine map; folding it
                // into one scale and one shift costs two passes over the activations
                // (forward and backward) instead of burn's four (sub, div, mul, add), which
                // matters in AdvBN's attack, where the head runs this way 6 times per step.
                let [_, channels, _, _] = x.dims();
                let device = x.device();
                // `value_sync`: `value` may lag one update behind on this thread, and the
                // attack must see the statistics the last adversarial pass left.
                let mean = state.running_mean.value_sync().to_device(&device);
                let var = state.running_var.value_sync().to_device(&device);
                let scale = state.gamma.val() / var.add_scalar(self.epsilon).sqrt();
                let shift = state.beta.val() - mean * scale.clone();
                x * scale.reshape([1, channels, 1, 1]) + shift.reshape([1, channels, 1, 1])
            }
            BnStats::Batch { .. } | BnStats::Measure => {
                let [n, _, h, w] = x.dims();
                let device = x.device();
                let out = burn::tensor::module::batch_norm_train(
                    x,
                    state.gamma.val(),
                    state.beta.val(),
                    self.epsilon,
                );
                let count = (n * h * w) as f64;
                // PyTorch keeps the unbiased variance in its running average.
                let unbiased = if count > 1.0 { count / (count - 1.0) } else { 1.0 };
                let (batch_mean, batch_var) = (out.mean.detach(), out.variance.detach());
                match mode.stats {
                    BnStats::Batch { update_running: true } => {
                        let m = self.momentum;
                        let mean = state.running_mean.value_sync().to_device(&device);
                        let var = state.running_var.value_sync().to_device(&device);
                        let mean = mean.mul_scalar(1.0 - m).add(batch_mean.mul_scalar(m));
                        // `m * unbiased` as one factor: the rounding of every earlier run
                        // (AdvBN's attack reads these statistics, and its sign steps turn a
                        // last-bit change into different training).
                        let var = var.mul_scalar(1.0 - m).add(batch_var.mul_scalar(m * unbiased));
                        state.running_mean.update(mean.detach());
                        state.running_var.update(var.detach());
                    }
                    BnStats::Measure => {
                        state.running_mean.update(batch_mean);
                        state.running_var.update(batch_var.mul_scalar(unbiased));
                    }
                    _ => {}
                }
                out.output
            }
        }
    }
}
