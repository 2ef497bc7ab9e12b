//! One optimisation step: the stem once per batch, the consistency loss over the views of
//! one forward pass, the AdvBN attack and the adversarial branch, one backward, one update.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};

use std::sync::Arc;

use crate::augmenters::SampleKey;
use crate::feature::{AttackHead, FeatureAdversary, FeatureAugment};
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
    /// The feature augmenters active in this step, in recipe order: inline ones act on the
    /// clean pass at their cuts; at most one adversary attacks the head
    /// ([`crate::recipe::Recipe::validate`] checks that).
    pub features: Vec<Arc<dyn FeatureAugment>>,
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
            features: Vec::new(),
            step_key: SampleKey::new(0, 0, 0),
        }
    }

    /// The same plan with `feature` added after the others.
    pub fn with_feature(mut self, feature: Arc<dyn FeatureAugment>) -> Self {
        self.features.push(feature);
        self
    }

    /// The adversary, if one of the features is.
    pub fn adversary(&self) -> Option<&dyn FeatureAdversary> {
        self.features.iter().find_map(|f| f.adversary())
    }

    /// The key of step `step` of `epoch` in a run seeded `run_seed` (view `u32::MAX`, which
    /// no per-sample stream uses).
    pub fn key_for_step(run_seed: u64, epoch: u64, step: u64) -> SampleKey {
        SampleKey::new(run_seed, epoch, step).view(u32::MAX)
    }

    /// Applies the inline augmenters that act at `at`.
    fn hooks(&self, mut x: Tensor<4>, at: Cut) -> Tensor<4> {
        let inline = self.features.iter().filter(|f| !f.inline_cuts().is_empty());
        for (i, aug) in inline.enumerate() {
            if aug.inline_cuts().contains(&at) {
                let mut rng = self.step_key.substream((i * 8 + at.index()) as u64);
                x = aug.perturb(x, at, &mut rng);
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
    let StepLoss { loss, stats, .. } = step_loss(&model, images, targets, plan);
    if !stats.loss.is_finite() {
        // Leave the model untouched: the caller stops the run and keeps its checkpoint.
        return (model, stats);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    (model, stats)
}

/// What [`step_loss`] computes.
#[derive(Clone, Debug)]
pub struct StepLoss {
    /// The total loss to minimise, `[1]`, on the model's (autodiff) device.
    pub loss: Tensor<1>,
    /// The clean branch's logits of the first view, `[N, classes]`.
    pub logits: Tensor<2>,
    /// The loss's parts and the attack's statistics, read back to the host.
    pub stats: StepStats,
}

/// The loss of one step, to be minimised, and its parts: the forward passes of
/// [`train_step`] (clean pass with the inline augmenters, consistency loss, the attack and
/// the adversarial pass) without the backward pass and the update, for trainers that own
/// those (burn-train's `TrainStep`).
///
/// Shapes: `images` `[views * N, 3, H, W]` (view-major), `targets` `[N]`.
pub fn step_loss<M: SplitModel>(
    model: &M,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
    plan: &StepPlan,
) -> StepLoss {
    let [n] = targets.dims();
    let all_targets = if plan.views > 1 {
        Tensor::cat(vec![targets.clone(); plan.views], 0)
    } else {
        targets.clone()
    };
    let mut stats = StepStats::default();

    // The stem runs once; with AdvBN the head continues from its output.
    let last = model.last_cut();
    let adversary = plan.adversary();
    let (cut, freeze) = match adversary {
        Some(a) => (a.cut(), a.freeze_stem()),
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
    let mut features = plan.walk(model, images, Cut::Input, cut, stem_mode);
    if freeze {
        features = features.detach();
    }
    let to_last_cut = plan.walk(model, features.clone(), cut, last, clean_mode);
    let logits = model.head_from(to_last_cut, last, clean_mode);

    let first_view = logits.clone().narrow(0, 0, n);
    stats.accuracy = accuracy(&first_view, &targets);
    let mut loss = match plan.jsd_lambda {
        Some(lambda) if plan.views > 1 => {
            let chunks = logits.chunk(plan.views, 0);
            let ce = cross_entropy(chunks[0].clone(), targets.clone());
            let jsd = jensen_shannon(&chunks).mul_scalar(lambda);
            stats.loss_clean = scalar(&ce);
            stats.loss_jsd = Some(scalar(&jsd));
            ce + jsd
        }
        _ => {
            let ce = cross_entropy(logits, all_targets.clone());
            stats.loss_clean = scalar(&ce);
            ce
        }
    };

    if let Some(adversary) = adversary {
        // A copy whose weights require no gradient: the attack's backward passes compute
        // gradients for the adversary's own variables only.
        let head = model.clone().no_grad();
        let run = |x: Tensor<4>, mode: BnMode| head.head_from(x, cut, mode);
        let attack_head = AttackHead::new(&run, all_targets.clone(), model.ends_in_relu(cut));
        let outcome = adversary.attack(features, &attack_head);
        let adv_mode = if adversary.dual_bn() {
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
        if !outcome.s_mu.is_empty() {
            let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64;
            stats.factors_mean = Some((mean(&outcome.s_mu), mean(&outcome.s_sigma)));
            stats.factors = Some((outcome.s_mu, outcome.s_sigma));
        }
        loss = loss + adv;
    }

    stats.loss = scalar(&loss);
    StepLoss {
        loss,
        logits: first_view,
        stats,
    }
}

fn scalar(t: &Tensor<1>) -> f64 {
    f64::from(t.clone().into_scalar::<f32>())
}

/// The element-wise weighted sum of equally long vectors (weights summing to 1: their mean).
fn weighted_mean(parts: &[(&[f32], f32)]) -> Vec<f32> {
    let len = parts.first().map_or(0, |(v, _)| v.len());
    (0..len)
        .map(|c| parts.iter().map(|(v, w)| v[c] * w).sum())
        .collect()
}

/// Sample ranges of a batch of `n` samples shared out over `devices` devices: equal shares
/// (the first ones one larger), at least two samples each (batch norm needs two), so fewer
/// devices take part when the batch is small.
pub fn device_shares(n: usize, devices: usize) -> Vec<std::ops::Range<usize>> {
    let k = devices.min(n / 2).max(1);
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// [`train_step`] data-parallel over `devices` (autodiff devices; the model and the
/// optimizer live on the first): each device takes an equal share of the batch's samples
/// (all their views), runs [`step_loss`] on a copy of the model (`Module::fork`), and its
/// loss is weighted by its share, so that the sum of the devices' gradients is the gradient
/// of the whole batch's mean loss. The gradients are moved to the first device and summed
/// there (burn's `GradientsParams::to_device` and `GradientsAccumulator`), and one optimizer
/// step is taken.
///
/// Batch statistics are per device, as PyTorch's DistributedDataParallel without SyncBN:
/// batch norm and AdvBN's attack each see their device's share. Running statistics are
/// burn's `RunningState`: every device's update is averaged in after the step.
///
/// Shapes: `batch` holds `views * N` images view-major, as [`crate::data::HostBatch`].
pub fn train_step_devices<M: SplitModel + 'static>(
    model: M,
    optimizer: &mut ModuleOptimizer,
    batch: &crate::data::HostBatch,
    lr: f64,
    plan: &StepPlan,
    devices: &[burn::tensor::Device],
) -> (M, StepStats) {
    use burn::optim::GradientsAccumulator;

    let n = batch.len();
    let shares = device_shares(n, devices.len());
    let main = &devices[0];
    let results: Vec<(GradientsParams, StepStats, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .iter()
            .zip(devices)
            .map(|(range, device)| {
                let replica = model.clone().fork(device);
                let share = range.len() as f64 / n as f64;
                let part = batch.samples(range.clone());
                scope.spawn(move || {
                    let (images, targets) = part.to_tensors(device);
                    let StepLoss { loss, stats, .. } = step_loss(&replica, images, targets, plan);
                    let grads = GradientsParams::from_grads(loss.mul_scalar(share).backward(), &replica);
                    (grads.to_device(main, &replica), stats, share)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    // Fold the devices' running-statistic updates into one (burn's `RunningState` averages
    // the updates made on different threads when it is synchronised).
    let _ = model.valid();
    let mut stats = StepStats::default();
    let weighted = |get: &dyn Fn(&StepStats) -> Option<f64>| -> Option<f64> {
        results
            .iter()
            .map(|(_, s, w)| get(s).map(|v| v * w))
            .sum::<Option<f64>>()
    };
    stats.loss = weighted(&|s| Some(s.loss)).unwrap_or(f64::NAN);
    stats.loss_clean = weighted(&|s| Some(s.loss_clean)).unwrap_or(f64::NAN);
    stats.accuracy = weighted(&|s| Some(s.accuracy)).unwrap_or(0.0);
    stats.loss_jsd = weighted(&|s| s.loss_jsd);
    stats.loss_adv = weighted(&|s| s.loss_adv);
    stats.attack_gain =
        weighted(&|s| s.attack_gain.map(|g| g.0)).zip(weighted(&|s| s.attack_gain.map(|g| g.1)));
    stats.factors_mean =
        weighted(&|s| s.factors_mean.map(|f| f.0)).zip(weighted(&|s| s.factors_mean.map(|f| f.1)));
    stats.factors = results
        .iter()
        .map(|(_, s, w)| s.factors.as_ref().map(|(mu, sigma)| (mu, sigma, *w as f32)))
        .collect::<Option<Vec<_>>>()
        .map(|parts| {
            let mu: Vec<(&[f32], f32)> = parts.iter().map(|(mu, _, w)| (mu.as_slice(), *w)).collect();
            let sigma: Vec<(&[f32], f32)> = parts.iter().map(|(_, s, w)| (s.as_slice(), *w)).collect();
            (weighted_mean(&mu), weighted_mean(&sigma))
        });
    if !stats.loss.is_finite() {
        return (model, stats);
    }
    let mut accumulator = GradientsAccumulator::new();
    for (grads, _, _) in results {
        accumulator.accumulate(&model, grads);
    }
    let model = optimizer.step(lr, model, accumulator.grads());
    (model, stats)
}
