//! One optimisation step: the stem once per batch, the consistency loss over the views of
//! one forward pass, the AdvBN attack and the adversarial branch, one backward, one update.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};

use crate::augmenters::SampleKey;
use crate::feature::{AdvBn, InlineAugmenter};
use crate::model::{BnBranch, BnMode, BnStats, Cut, SplitModel};
use crate::model::{accuracy, cross_entropy, jensen_shannon};

/// What a step needs besides the model and the batch.
#[derive(Clone, Debug)]
pub struct StepPlan {
    /// Views per sample in the batch (view-major); the first is the clean one when
    /// `jsd_lambda` is set.
    pub views: usize,
    /// Weight of AugMix's Jensen-Shannon term, if any.
    pub jsd_lambda: Option<f64>,
    /// The adversary, when active this epoch.
    pub advbn: Option<AdvBn>,
    /// Inline feature augmenters (MixStyle, DSU), applied to the clean pass at their cuts.
    pub inline: Vec<InlineAugmenter>,
    /// The step's random stream key (run seed, epoch, step): the inline augmenters draw from
    /// its substreams.
    pub step_key: SampleKey,
}

impl StepPlan {
    /// A plan with neither consistency loss nor feature augmenters.
    pub fn plain(views: usize) -> Self {
        Self {
            views,
            jsd_lambda: None,
            advbn: None,
            inline: Vec::new(),
            step_key: SampleKey::new(0, 0, 0),
        }
    }

    /// The key of step `step` of `epoch` in a run seeded `run_seed` (view `u32::MAX`, which
    /// no per-sample stream uses).
    pub fn key_for_step(run_seed: u64, epoch: u64, step: u64) -> SampleKey {
        SampleKey::new(run_seed, epoch, step).view(u32::MAX)
    }

    /// Applies the inline augmenters that act at `at`.
    fn hooks(&self, mut x: Tensor<4>, at: Cut) -> Tensor<4> {
        for (i, aug) in self.inline.iter().enumerate() {
            if aug.cuts().contains(&at) {
                let mut rng = self.step_key.substream((i * 8 + at.index()) as u64);
                x = aug.apply(x, &mut rng);
            }
        }
        x
    }

    /// Runs `model` from `from` to `to`, one stage at a time, applying the hooks after each.
    fn walk<M: SplitModel>(
        &self,
        model: &M,
        mut x: Tensor<4>,
        from: Cut,
        to: Cut,
        mode: BnMode,
    ) -> Tensor<4> {
        let mut at = from;
        for next in Cut::STAGES {
            if next <= from || next > to {
                continue;
            }
            x = model.segment(x, at, next, mode);
            at = next;
            x = self.hooks(x, at);
        }
        x
    }
}

/// The losses and accuracy of one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepStats {
    /// The total loss that was minimised.
    pub loss: f64,
    /// Cross-entropy on the clean branch (on the clean view with JSD).
    pub loss_clean: f64,
    /// The JSD term (already multiplied by lambda).
    pub loss_jsd: Option<f64>,
    /// Cross-entropy of the adversarial branch.
    pub loss_adv: Option<f64>,
    /// Head loss (attack mode) at the attack's first and last step.
    pub attack_gain: Option<(f64, f64)>,
    /// Training accuracy on the first view.
    pub accuracy: f64,
    /// Mean of the attack's factors (s_mu, s_sigma).
    pub factors_mean: Option<(f64, f64)>,
    /// The attack's final factors per channel, `(s_mu, s_sigma)`.
    pub factors: Option<(Vec<f32>, Vec<f32>)>,
}

/// Runs one step and returns the updated model.
///
/// Shapes: `images` `[views * N, 3, H, W]` (view-major), `targets` `[N]`.
pub fn train_step<M: SplitModel>(
    model: M,
    optimizer: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
    lr: f64,
    plan: &StepPlan,
) -> (M, StepStats) {
    let [n] = targets.dims();
    let all_targets = if plan.views > 1 {
        Tensor::cat(vec![targets.clone(); plan.views], 0)
    } else {
        targets.clone()
    };
    let mut stats = StepStats::default();

    // The stem runs once; with AdvBN the head continues from its output.
    let last = model.last_cut();
    let (cut, freeze) = match &plan.advbn {
        Some(a) => (a.config().cut, a.config().freeze_stem),
        None => (last, false),
    };
    // Recipes are checked against their architecture (`Recipe::validate`); a plan built by
    // hand for a smaller model is a programming error.
    assert!(
        cut <= last,
        "AdvBN cut {cut} is beyond the model's {} stages",
        model.stages()
    );
    let clean_mode = BnMode::TRAIN;
    let stem_mode = if freeze { BnMode::EVAL } else { clean_mode };
    let mut features = plan.walk(&model, images, Cut::Input, cut, stem_mode);
    if freeze {
        features = features.detach();
    }
    let to_last_cut = plan.walk(&model, features.clone(), cut, last, clean_mode);
    let logits = model.head_from(to_last_cut, last, clean_mode);

    let mut loss = match plan.jsd_lambda {
        Some(lambda) if plan.views > 1 => {
            let chunks = logits.clone().chunk(plan.views, 0);
            let ce = cross_entropy(chunks[0].clone(), targets.clone());
            let jsd = jensen_shannon(&chunks).mul_scalar(lambda);
            stats.loss_clean = scalar(&ce);
            stats.loss_jsd = Some(scalar(&jsd));
            stats.accuracy = accuracy(&chunks[0], &targets);
            ce + jsd
        }
        _ => {
            let ce = cross_entropy(logits.clone(), all_targets.clone());
            stats.loss_clean = scalar(&ce);
            stats.accuracy = accuracy(&logits.clone().narrow(0, 0, n), &targets);
            ce
        }
    };

    if let Some(adversary) = &plan.advbn {
        let outcome = adversary.attack(&model, features, all_targets.clone());
        let adv_mode = if adversary.config().dual_bn {
            BnMode::TRAIN_ADV
        } else {
            BnMode {
                branch: BnBranch::Clean,
                stats: BnStats::Batch { update_running: true },
            }
        };
        let adv_logits = model.head_from(outcome.features, cut, adv_mode);
        let adv = cross_entropy(adv_logits, all_targets);
        stats.loss_adv = Some(scalar(&adv));
        stats.attack_gain = match (outcome.losses.first(), outcome.losses.last()) {
            (Some(first), Some(last)) => Some((f64::from(*first), f64::from(*last))),
            _ => None,
        };
        let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64;
        stats.factors_mean = Some((mean(&outcome.s_mu), mean(&outcome.s_sigma)));
        stats.factors = Some((outcome.s_mu.clone(), outcome.s_sigma.clone()));
        loss = loss + adv;
    }

    stats.loss = scalar(&loss);
    if !stats.loss.is_finite() {
        // Leave the model untouched: the caller stops the run and keeps its checkpoint.
        return (model, stats);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    (model, stats)
}

fn scalar(t: &Tensor<1>) -> f64 {
    f64::from(t.clone().into_scalar::<f32>())
}
