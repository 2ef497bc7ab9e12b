//! Feature-statistics augmenters that act inside the forward pass (MixStyle and DSU): at
//! their cut points, during training only, they replace each instance's per-channel feature
//! mean and standard deviation by new ones. Evaluation never calls them (identity).
//!
//! Their randomness (whether to apply, mixing weights, partners, Gaussian draws) comes from
//! the step's ChaCha8 stream (run seed, epoch, step), drawn on the CPU and turned into
//! tensors, so a resumed run makes the same draws as an uninterrupted one.

use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;
use rand_distr::{Beta, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::FeatureAugment;
use crate::augmenters::{AugRng, ConfigError, check_range};
use crate::model::Cut;

fn default_p() -> f64 {
    0.5
}

fn default_eps() -> f64 {
    1e-6
}

fn mixstyle_cuts() -> Vec<Cut> {
    vec![Cut::Stage1, Cut::Stage2]
}

fn dsu_cuts() -> Vec<Cut> {
    vec![Cut::Stage1, Cut::Stage2, Cut::Stage3]
}

fn validate_cuts(cuts: &[Cut]) -> Result<(), ConfigError> {
    let valid = Cut::NAMES.join(", ");
    if cuts.is_empty() {
        return Err(ConfigError::new(
            "cuts",
            format!("must name at least one of {valid}"),
        ));
    }
    if cuts.contains(&Cut::Input) {
        return Err(ConfigError::new("cuts", format!("valid cuts are {valid}")));
    }
    Ok(())
}

/// Checks that every cut in `cuts` exists in a network of `stages` stages
/// ([`crate::model::SplitModel::stages`]); the error names `key` (`cuts` for the inline
/// augmenters, `cut` for AdvBN). A config's own `validate` cannot know the network: the
/// recipe calls this with its architecture's [`crate::model::Arch::stages`].
///
/// ```
/// use advbn::feature::check_cuts_within;
/// use advbn::model::Cut;
/// assert!(check_cuts_within("cuts", &[Cut::Stage1, Cut::Stage4], 4).is_ok());
/// let err = check_cuts_within("cuts", &[Cut::Stage4], 3).unwrap_err();
/// assert_eq!(err.key, "cuts");
/// assert!(err.message.contains("stage4"));
/// ```
pub fn check_cuts_within(key: &str, cuts: &[Cut], stages: usize) -> Result<(), ConfigError> {
    for cut in cuts {
        cut.check_within(stages)
            .map_err(|message| ConfigError::new(key, message))?;
    }
    Ok(())
}

/// MixStyle (Zhou et al., ICLR 2021): with probability `p` per batch, each instance's
/// per-channel mean and standard deviation are mixed with those of a random partner of the
/// batch, `lambda ~ Beta(alpha, alpha)` per instance; statistics are detached, as in the
/// reference. Defaults: after stages 1 and 2, p 0.5, alpha 0.1, eps 1e-6.
///
/// ```
/// let m = advbn::feature::MixStyleConfig::default();
/// assert_eq!((m.p, m.alpha), (0.5, 0.1));
/// m.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixStyleConfig {
    /// Where it acts.
    #[serde(default = "mixstyle_cuts")]
    pub cuts: Vec<Cut>,
    /// Probability of acting on a batch.
    #[serde(default = "default_p")]
    pub p: f64,
    /// Beta concentration of the mixing weight.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Added to the variance.
    #[serde(default = "default_eps")]
    pub eps: f64,
}

fn default_alpha() -> f64 {
    0.1
}

impl Default for MixStyleConfig {
    fn default() -> Self {
        Self {
            cuts: mixstyle_cuts(),
            p: default_p(),
            alpha: default_alpha(),
            eps: default_eps(),
        }
    }
}

impl MixStyleConfig {
    /// Checks the ranges; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_cuts(&self.cuts)?;
        check_range("p", self.p, 0.0, 1.0)?;
        check_range("alpha", self.alpha, 1e-3, 100.0)?;
        check_range("eps", self.eps, 1e-12, 1.0)
    }
}

/// DSU, "Uncertainty Modeling for Out-of-Distribution Generalization" (Li et al., ICLR
/// 2022): with probability `p` per batch, each instance's per-channel mean and standard
/// deviation are resampled from Gaussians centred on them whose spread is the batch's
/// standard deviation of that statistic. Defaults: after stages 1-3 (valid for every
/// built-in network; add `stage4` for the ImageNet ResNets), p 0.5, eps 1e-6.
///
/// ```
/// let d = advbn::feature::DsuConfig::default();
/// assert_eq!(d.cuts.len(), 3);
/// d.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsuConfig {
    /// Where it acts.
    #[serde(default = "dsu_cuts")]
    pub cuts: Vec<Cut>,
    /// Probability of acting on a batch.
    #[serde(default = "default_p")]
    pub p: f64,
    /// Added to variances.
    #[serde(default = "default_eps")]
    pub eps: f64,
}

impl Default for DsuConfig {
    fn default() -> Self {
        Self {
            cuts: dsu_cuts(),
            p: default_p(),
            eps: default_eps(),
        }
    }
}

impl DsuConfig {
    /// Checks the ranges; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_cuts(&self.cuts)?;
        check_range("p", self.p, 0.0, 1.0)?;
        check_range("eps", self.eps, 1e-12, 1.0)
    }
}

impl FeatureAugment for MixStyleConfig {
    fn kind(&self) -> &str {
        "mixstyle"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        MixStyleConfig::validate(self)
    }

    fn inline_cuts(&self) -> &[Cut] {
        &self.cuts
    }

    fn perturb(&self, x: Tensor<4>, _at: Cut, rng: &mut AugRng) -> Tensor<4> {
        mixstyle(x, self, rng)
    }
}

impl FeatureAugment for DsuConfig {
    fn kind(&self) -> &str {
        "dsu"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        DsuConfig::validate(self)
    }

    fn inline_cuts(&self) -> &[Cut] {
        &self.cuts
    }

    fn perturb(&self, x: Tensor<4>, _at: Cut, rng: &mut AugRng) -> Tensor<4> {
        dsu(x, self, rng)
    }
}

/// Per-instance, per-channel mean and standard deviation `[N, C, 1, 1]` over (H, W), with
/// the unbiased variance (as `torch.var`, which both references call).
fn instance_stats(x: &Tensor<4>, eps: f64) -> (Tensor<4>, Tensor<4>) {
    let [_, _, h, w] = x.dims();
    let count = (h * w) as f64;
    let mean = x.clone().mean_dims(&[2, 3]);
    let var = (x.clone() - mean.clone())
        .square()
        .sum_dims(&[2, 3])
        .div_scalar((count - 1.0).max(1.0));
    (mean, var.add_scalar(eps).sqrt())
}

/// Applies MixStyle to `x` `[N, C, H, W]` with draws from `rng`.
pub fn mixstyle(x: Tensor<4>, config: &MixStyleConfig, rng: &mut AugRng) -> Tensor<4> {
    let [n, _, _, _] = x.dims();
    if n < 2 || rng.random::<f64>() >= config.p {
        return x;
    }
    let device = x.device();
    let (mean, std) = instance_stats(&x, config.eps);
    let (mean, std) = (mean.detach(), std.detach());
    let normalized = (x - mean.clone()) / std.clone();
    let beta = Beta::new(config.alpha, config.alpha).expect("validated alpha");
    let lambdas: Vec<f32> = (0..n).map(|_| beta.sample(rng) as f32).collect();
    let mut perm: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let lambda = Tensor::<4>::from_data(TensorData::new(lambdas, [n, 1, 1, 1]), &device);
    let perm = Tensor::<1, Int>::from_data(TensorData::new(perm, [n]), &device);
    let one_minus = lambda.clone().neg().add_scalar(1.0);
    let mix = |s: Tensor<4>| s.clone() * lambda.clone() + s.select(0, perm.clone()) * one_minus.clone();
    normalized * mix(std) + mix(mean)
}

/// Applies DSU to `x` `[N, C, H, W]` with draws from `rng`.
pub fn dsu(x: Tensor<4>, config: &DsuConfig, rng: &mut AugRng) -> Tensor<4> {
    let [n, c, _, _] = x.dims();
    if n < 2 || rng.random::<f64>() >= config.p {
        return x;
    }
    let device = x.device();
    let (mean, std) = instance_stats(&x, config.eps);
    // The batch's spread of each statistic (unbiased variance over the batch, as torch.var).
    let spread = |s: &Tensor<4>| {
        let centred = s.clone() - s.clone().mean_dims(&[0]);
        centred
            .square()
            .sum_dims(&[0])
            .div_scalar((n as f64 - 1.0).max(1.0))
            .add_scalar(config.eps)
            .sqrt()
    };
    let mut gaussian = |count: usize| {
        let draws: Vec<f32> = (0..count).map(|_| StandardNormal.sample(rng)).collect();
        Tensor::<4>::from_data(TensorData::new(draws, [n, c, 1, 1]), &device)
    };
    let beta = mean.clone() + gaussian(n * c) * spread(&mean);
    let gamma = std.clone() + gaussian(n * c) * spread(&std);
    (x - mean) / std * gamma + beta
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augmenters::rng_from_seed;
    use burn::tensor::Device;

    fn features() -> Tensor<4> {
        let data: Vec<f32> = (0..4 * 3 * 5 * 5)
            .map(|i| ((i * 37 % 101) as f32) / 10.0)
            .collect();
        Tensor::from_data(TensorData::new(data, [4, 3, 5, 5]), &Device::flex())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn probability_zero_is_the_identity() {
        let x = features();
        let mut rng = rng_from_seed(1);
        let m = MixStyleConfig {
            p: 0.0,
            ..MixStyleConfig::default()
        };
        assert_eq!(values(mixstyle(x.clone(), &m, &mut rng)), values(x.clone()));
        let d = DsuConfig {
            p: 0.0,
            ..DsuConfig::default()
        };
        assert_eq!(values(dsu(x.clone(), &d, &mut rng)), values(x));
    }

    #[test]
    fn mixstyle_moves_instance_statistics_between_the_partners() {
        let x = features();
        let m = MixStyleConfig {
            p: 1.0,
            alpha: 1.0,
            ..MixStyleConfig::default()
        };
        let out = mixstyle(x.clone(), &m, &mut rng_from_seed(3));
        assert_eq!(out.dims(), x.dims());
        let (mean_in, _) = instance_stats(&x, 1e-6);
        let (mean_out, _) = instance_stats(&out, 1e-6);
        let (a, b) = (values(mean_in), values(mean_out));
        assert!(
            a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-3),
            "no statistic changed"
        );
        // Each new mean is a convex mix of two old means of its channel: within their range.
        for ch in 0..3 {
            let olds: Vec<f32> = (0..4).map(|i| a[i * 3 + ch]).collect();
            let (lo, hi) = olds
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            for i in 0..4 {
                assert!((lo - 1e-3..=hi + 1e-3).contains(&b[i * 3 + ch]));
            }
        }
        // Deterministic in the stream.
        assert_eq!(values(out), values(mixstyle(x, &m, &mut rng_from_seed(3))));
    }

    #[test]
    fn dsu_perturbs_statistics_by_the_batch_spread() {
        let x = features();
        let d = DsuConfig {
            p: 1.0,
            ..DsuConfig::default()
        };
        let out = dsu(x.clone(), &d, &mut rng_from_seed(5));
        assert_eq!(out.dims(), x.dims());
        let (mean_in, std_in) = instance_stats(&x, 1e-6);
        let (mean_out, std_out) = instance_stats(&out, 1e-6);
        let changed = values(mean_in)
            .iter()
            .zip(values(mean_out))
            .any(|(p, q)| (p - q).abs() > 1e-4);
        assert!(changed);
        // A batch whose instances share their statistics has zero spread: DSU leaves it (up
        // to eps) unchanged.
        let same = Tensor::cat(vec![x.clone().narrow(0, 0, 1); 4], 0);
        let out_same = dsu(same.clone(), &d, &mut rng_from_seed(5));
        let worst = values(same)
            .iter()
            .zip(values(out_same))
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-2, "max change {worst}");
        let _ = std_in;
        let _ = std_out;
    }

    #[test]
    fn validation_names_keys() {
        assert_eq!(
            MixStyleConfig {
                p: 2.0,
                ..MixStyleConfig::default()
            }
            .validate()
            .unwrap_err()
            .key,
            "p"
        );
        assert_eq!(
            DsuConfig {
                cuts: vec![],
                ..DsuConfig::default()
            }
            .validate()
            .unwrap_err()
            .key,
            "cuts"
        );
    }
}
