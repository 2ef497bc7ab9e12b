//! Losses: cross-entropy and AugMix's Jensen-Shannon consistency. Model-level math used by
//! the feature-space adversaries, evaluation and training alike.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

/// Mean cross-entropy of `logits` `[N, K]` against class indices `targets` `[N]`.
/// Returns a one-element tensor.
///
/// ```
/// use advbn::model::cross_entropy;
/// use burn::tensor::{Device, Int, Tensor};
/// let d = Device::flex();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0]], &d);
/// let loss = cross_entropy(logits, Tensor::<1, Int>::from_ints([1], &d));
/// assert!((loss.into_scalar::<f32>() - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    let picked = log_probs.gather(1, targets.reshape([n, 1]));
    picked.mean().neg()
}

/// AugMix's Jensen-Shannon consistency term over `views` (each `[N, K]` logits of the same
/// samples): the mean KL divergence of each view's softmax from the mixture, with the
/// mixture clamped to [1e-7, 1] before its log, as the reference implementation. The caller
/// multiplies by lambda (12 in the paper).
///
/// KL(p || m) is computed as PyTorch's `F.kl_div(log m, p, reduction='batchmean')`, i.e.
/// summed over classes and averaged over samples.
pub fn jensen_shannon(views: &[Tensor<2>]) -> Tensor<1> {
    assert!(views.len() >= 2, "the consistency loss needs at least two views");
    let [n, _] = views[0].dims();
    let probs: Vec<Tensor<2>> = views.iter().map(|v| softmax(v.clone(), 1)).collect();
    let count = probs.len() as f64;
    let mixture = probs
        .iter()
        .skip(1)
        .fold(probs[0].clone(), |acc, p| acc + p.clone())
        .div_scalar(count);
    let log_mixture = mixture.clamp(1e-7, 1.0).log();
    let kl_sum = probs
        .iter()
        .map(|p| {
            // p * (log p - log m); p log p is taken as 0 where p is 0.
            let log_p = p.clone().clamp_min(1e-30).log();
            (p.clone() * (log_p - log_mixture.clone())).sum()
        })
        .reduce(|a, b| a + b)
        .expect("at least two views");
    kl_sum.div_scalar(count * n as f64)
}

/// Fraction of rows of `logits` whose argmax equals the target.
pub fn accuracy(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> f64 {
    let [n, _] = logits.dims();
    if n == 0 {
        return 0.0;
    }
    let predicted = logits.clone().argmax(1).reshape([n]);
    let correct = predicted.equal(targets.clone()).int().sum().into_scalar::<i64>();
    correct as f64 / n as f64
}
