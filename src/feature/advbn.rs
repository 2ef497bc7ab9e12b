//! Adversarial Batch Normalization (Shu et al., NeurIPS 2021, "Encoding Robustness to
//! Image Style via Adversarial Feature Perturbations").
//!
//! At a cut of the network, the adversary rescales each channel's batch mean and standard
//! deviation by factors `s_mu`, `s_sigma` in `[1 - epsilon, 1 + epsilon]`, chosen by
//! sign-gradient ascent on the head's cross-entropy, so that training sees the worst-case
//! *style* (feature statistics) of each batch.

use burn::tensor::activation::relu;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{AttackHead, AttackOutcome, FeatureAdversary, FeatureAugment};
use crate::augmenters::{ConfigError, check_range};
use crate::model::{BnMode, Cut, SplitModel};

/// The attack's settings (the reference implementation's defaults).
///
/// ```
/// use advbn::feature::AdvBnConfig;
/// let cfg = AdvBnConfig::default();
/// assert_eq!((cfg.steps, cfg.step, cfg.epsilon), (6, 0.2, 1.1));
/// cfg.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvBnConfig {
    /// Where the features are perturbed.
    pub cut: Cut,
    /// Half-width of the factors' range: they stay in `[1 - epsilon, 1 + epsilon]`.
    pub epsilon: f64,
    /// Sign-gradient step size.
    pub step: f64,
    /// Number of ascent steps (0 = no perturbation).
    pub steps: usize,
    /// Re-apply a ReLU after perturbing: `None` follows the model (true when the features
    /// at the cut come out of a ReLU).
    pub relu: Option<bool>,
    /// Separate batch norms for adversarial features (AdvProp style).
    pub dual_bn: bool,
    /// Freeze the stem (no gradient, BN running statistics), as the reference does when it
    /// fine-tunes a pretrained network; false trains the stem on the clean loss.
    pub freeze_stem: bool,
    /// First epoch (0-based) with the adversary on; earlier epochs train clean (warm-up).
    pub start_epoch: usize,
}

impl Default for AdvBnConfig {
    fn default() -> Self {
        Self {
            cut: Cut::Stage1,
            epsilon: 1.1,
            step: 0.2,
            steps: 6,
            relu: None,
            dual_bn: true,
            freeze_stem: false,
            start_epoch: 0,
        }
    }
}

impl AdvBnConfig {
    /// Checks the ranges; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cut == Cut::Input {
            return Err(ConfigError::new(
                "cut",
                format!("must be one of {}", Cut::NAMES.join(", ")),
            ));
        }
        check_range("epsilon", self.epsilon, 0.0, 10.0)?;
        check_range("step", self.step, 0.0, 10.0)?;
        check_range("steps", self.steps, 0, 100)?;
        Ok(())
    }
}

/// The per-channel batch mean of features `[N, C, H, W]` (over N, H, W), `[1, C, 1, 1]`.
///
/// The reference also computes the per-channel standard deviation (sqrt of the unbiased
/// variance + 1e-5), but its perturbation `((x - mu) / sigma) * (sigma * s_sigma)` reduces to
/// `(x - mu) * s_sigma`, which is what the reference code evaluates; so do we.
fn channel_mean(x: &Tensor<4>) -> Tensor<4> {
    x.clone().mean_dims(&[0, 2, 3])
}

/// The AdvBN adversary.
#[derive(Clone, Debug)]
pub struct AdvBn {
    config: AdvBnConfig,
}

impl AdvBn {
    /// An adversary from a validated config.
    pub fn new(config: AdvBnConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &AdvBnConfig {
        &self.config
    }

    /// Perturbs `features` with explicit factors `[1, C, 1, 1]`: the per-channel batch mean
    /// `mu` becomes `mu * s_mu` and the deviations from it are scaled by `s_sigma`,
    /// `(x - mu) * s_sigma + mu * s_mu`, then a ReLU if `relu_after`.
    ///
    /// Shapes: `[N, C, H, W]` -> `[N, C, H, W]`.
    pub fn perturb(features: Tensor<4>, s_mu: Tensor<4>, s_sigma: Tensor<4>, relu_after: bool) -> Tensor<4> {
        let mean = channel_mean(&features);
        Self::perturb_with(features, &mean, s_mu, s_sigma, relu_after)
    }

    fn perturb_with(
        features: Tensor<4>,
        mean: &Tensor<4>,
        s_mu: Tensor<4>,
        s_sigma: Tensor<4>,
        relu_after: bool,
    ) -> Tensor<4> {
        let out = (features - mean.clone()) * s_sigma + mean.clone() * s_mu;
        if relu_after { relu(out) } else { out }
    }

    /// Runs the attack on `features` `[N, C, H, W]` (the stem's output at the cut) against
    /// `targets` `[N]`: `steps` sign-gradient ascent steps on the head's cross-entropy, the
    /// head in [`BnMode::ATTACK`] (adversarial branch, running statistics, nothing updated;
    /// with `dual_bn = false`, the clean branch), and no gradient for any weight.
    ///
    /// `features` may be on an autodiff device; they are detached here.
    pub fn attack<M: SplitModel>(
        &self,
        model: &M,
        features: Tensor<4>,
        targets: Tensor<1, Int>,
    ) -> AttackOutcome {
        // A copy whose weights require no gradient: the attack's backward passes then compute
        // gradients for the two factor vectors only.
        let head = model.clone().no_grad();
        let cut = self.config.cut;
        let run = |x: Tensor<4>, mode: BnMode| head.head_from(x, cut, mode);
        self.attack_head(features, &AttackHead::new(&run, targets, model.ends_in_relu(cut)))
    }

    fn attack_head(&self, features: Tensor<4>, head: &AttackHead<'_>) -> AttackOutcome {
        let cfg = &self.config;
        let relu_after = cfg.relu.unwrap_or(head.ends_in_relu);
        let mode = if cfg.dual_bn {
            BnMode::ATTACK
        } else {
            BnMode::eval(crate::model::BnBranch::Clean)
        };
        let x = features.detach();
        let device = x.device();
        let [_, channels, _, _] = x.dims();
        let mean = channel_mean(&x);
        let (lo, hi) = (1.0 - cfg.epsilon, 1.0 + cfg.epsilon);

        let loss_at = |s_mu: Tensor<4>, s_sigma: Tensor<4>| {
            head.loss(
                Self::perturb_with(x.clone(), &mean, s_mu, s_sigma, relu_after),
                mode,
            )
        };

        let mut s_mu = Tensor::<4>::ones([1, channels, 1, 1], &device.clone().without_autodiff());
        let mut s_sigma = s_mu.clone();
        let mut losses = Vec::with_capacity(cfg.steps);
        for _ in 0..cfg.steps {
            let mu_leaf = Tensor::from_inner(s_mu.clone()).require_grad();
            let sigma_leaf = Tensor::from_inner(s_sigma.clone()).require_grad();
            let loss = loss_at(mu_leaf.clone(), sigma_leaf.clone());
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = loss.backward();
            let ascend = |s: Tensor<4>, leaf: &Tensor<4>| {
                let g = leaf.grad(&grads).expect("the factors are leaves of the loss");
                (s + g.sign().mul_scalar(cfg.step)).clamp(lo, hi)
            };
            s_mu = ascend(s_mu, &mu_leaf);
            s_sigma = ascend(s_sigma, &sigma_leaf);
        }
        let on_device = |s: &Tensor<4>| {
            if device.is_autodiff() {
                Tensor::from_inner(s.clone())
            } else {
                s.clone()
            }
        };
        // No forward pass at the final factors here: the training step's adversarial
        // forward is that pass (with batch statistics), so it would be work done twice.
        let perturbed =
            Self::perturb_with(x, &mean, on_device(&s_mu), on_device(&s_sigma), relu_after).detach();
        let values = |s: Tensor<4>| s.into_data().try_to_vec::<f32>().expect("f32 factors");
        AttackOutcome {
            features: perturbed,
            s_mu: values(s_mu),
            s_sigma: values(s_sigma),
            losses,
        }
    }
}

impl FeatureAugment for AdvBn {
    fn kind(&self) -> &str {
        "advbn"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn cuts_used(&self) -> (&'static str, Vec<Cut>) {
        ("cut", vec![self.config.cut])
    }

    fn start_epoch(&self) -> usize {
        self.config.start_epoch
    }

    fn adversary(&self) -> Option<&dyn FeatureAdversary> {
        Some(self)
    }
}

impl FeatureAdversary for AdvBn {
    fn cut(&self) -> Cut {
        self.config.cut
    }

    fn freeze_stem(&self) -> bool {
        self.config.freeze_stem
    }

    fn dual_bn(&self) -> bool {
        self.config.dual_bn
    }

    fn attack(&self, features: Tensor<4>, head: &AttackHead<'_>) -> AttackOutcome {
        self.attack_head(features, head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, BnBranch, Network, cross_entropy};
    use burn::module::Module;
    use burn::tensor::{Device, Distribution, TensorData};

    struct Fixture {
        device: Device,
        model: Network,
        features: Tensor<4>,
        targets: Tensor<1, Int>,
    }

    /// A tiny network with populated running statistics, and a fixed batch's stage-1 features.
    fn fixture() -> Fixture {
        let device = Device::flex().autodiff();
        let (model, images) = crate::device::with_seed(&device, 7, || {
            let model = Network::new(Arch::Tiny, 4, &device);
            let images = Tensor::<4>::random([16, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
            (model, images)
        });
        for _ in 0..3 {
            let _ = model.forward(images.clone(), BnMode::TRAIN);
            let _ = model.forward(images.clone(), BnMode::TRAIN_ADV);
        }
        let targets =
            Tensor::<1, Int>::from_data(TensorData::from([0i64, 1, 2, 3].repeat(4).as_slice()), &device);
        let features = model
            .segment(images, Cut::Input, Cut::Stage1, BnMode::EVAL)
            .detach();
        Fixture {
            device,
            model,
            features,
            targets,
        }
    }

    fn adversary(steps: usize, step: f64) -> AdvBn {
        AdvBn::new(AdvBnConfig {
            steps,
            step,
            ..AdvBnConfig::default()
        })
        .unwrap()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn factors_stay_within_epsilon() {
        let f = fixture();
        let cfg = AdvBnConfig {
            steps: 8,
            step: 0.7,
            epsilon: 0.5,
            ..AdvBnConfig::default()
        };
        let out = AdvBn::new(cfg).unwrap().attack(&f.model, f.features, f.targets);
        assert_eq!(out.s_mu.len(), 16);
        for s in out.s_mu.iter().chain(&out.s_sigma) {
            assert!(
                (0.5 - 1e-6..=1.5 + 1e-6).contains(&(*s as f64)),
                "factor {s} outside [0.5, 1.5]"
            );
        }
        // The steps are larger than epsilon, so the clamp was exercised: some factor sits on a bound.
        assert!(
            out.s_sigma
                .iter()
                .any(|s| (*s - 0.5).abs() < 1e-6 || (*s - 1.5).abs() < 1e-6)
        );
    }

    #[test]
    fn zero_steps_is_the_identity() {
        let f = fixture();
        let out = adversary(0, 0.2).attack(&f.model, f.features.clone(), f.targets);
        let (a, b) = (values(out.features), values(f.features));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "max deviation {worst}");
        assert!(out.s_mu.iter().chain(&out.s_sigma).all(|s| *s == 1.0));
    }

    #[test]
    fn attack_increases_the_loss() {
        let f = fixture();
        let out = adversary(6, 0.2).attack(&f.model, f.features.clone(), f.targets.clone());
        let clean = out.losses[0];
        let unperturbed = cross_entropy(
            f.model.head_from(f.features, Cut::Stage1, BnMode::ATTACK),
            f.targets.clone(),
        );
        assert!((unperturbed.into_scalar::<f32>() - clean).abs() < 1e-4);
        let adversarial = cross_entropy(
            f.model.head_from(out.features, Cut::Stage1, BnMode::ATTACK),
            f.targets,
        )
        .into_scalar::<f32>();
        assert!(adversarial > clean, "{clean} -> {adversarial}");
    }

    #[test]
    fn factor_gradient_matches_finite_differences() {
        let f = fixture();
        let head = f.model.clone().no_grad();
        let eval_device = f.device.clone().without_autodiff();
        let loss = |s_mu: &[f32], s_sigma: &[f32]| -> (f32, Vec<f32>, Vec<f32>) {
            let leaf = |v: &[f32]| {
                Tensor::<4>::from_inner(Tensor::<1>::from_floats(v, &eval_device).reshape([1, 16, 1, 1]))
                    .require_grad()
            };
            let (m, s) = (leaf(s_mu), leaf(s_sigma));
            let x = AdvBn::perturb(f.features.clone(), m.clone(), s.clone(), true);
            let l = cross_entropy(head.head_from(x, Cut::Stage1, BnMode::ATTACK), f.targets.clone());
            let value = l.clone().into_scalar::<f32>();
            let grads = l.backward();
            (
                value,
                values(m.grad(&grads).unwrap()),
                values(s.grad(&grads).unwrap()),
            )
        };
        let base_mu: [f32; 16] = std::array::from_fn(|c| 0.7 + 0.05 * c as f32);
        let base_sigma: [f32; 16] = std::array::from_fn(|c| 1.4 - 0.04 * c as f32);
        let (_, g_mu, g_sigma) = loss(&base_mu, &base_sigma);
        let h = 1e-2f32;
        for c in 0..16 {
            for (which, g) in [(0, &g_mu), (1, &g_sigma)] {
                let shifted = |delta: f32| {
                    let (mut m, mut s) = (base_mu, base_sigma);
                    if which == 0 {
                        m[c] += delta
                    } else {
                        s[c] += delta
                    }
                    loss(&m, &s).0
                };
                let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
                let tol = 2e-3 + 0.05 * numeric.abs();
                assert!(
                    (numeric - g[c]).abs() < tol,
                    "channel {c} factor {which}: analytic {} numeric {numeric}",
                    g[c]
                );
            }
        }
    }

    #[test]
    fn attack_changes_no_weight_and_no_running_statistic() {
        let f = fixture();
        // `valid()` folds pending running-statistic updates in, so both snapshots see every
        // update made so far.
        let snapshot = |m: &Network| -> Vec<u8> { m.valid().into_record().into_bytes().unwrap().to_vec() };
        let before = snapshot(&f.model);
        let _ = adversary(6, 0.2).attack(&f.model, f.features, f.targets);
        assert!(
            before == snapshot(&f.model),
            "the attack changed the model's record"
        );
    }

    #[test]
    fn validation_names_keys() {
        let err = AdvBn::new(AdvBnConfig {
            epsilon: -1.0,
            ..AdvBnConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.key, "epsilon");
        let err = AdvBn::new(AdvBnConfig {
            cut: Cut::Input,
            ..AdvBnConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.key, "cut");
    }

    #[test]
    fn clean_branch_is_used_without_dual_bn() {
        let f = fixture();
        let cfg = AdvBnConfig {
            dual_bn: false,
            ..AdvBnConfig::default()
        };
        let out = AdvBn::new(cfg)
            .unwrap()
            .attack(&f.model, f.features.clone(), f.targets.clone());
        let direct = cross_entropy(
            f.model
                .head_from(f.features, Cut::Stage1, BnMode::eval(BnBranch::Clean)),
            f.targets,
        );
        assert!((direct.into_scalar::<f32>() - out.losses[0]).abs() < 1e-4);
    }
}
