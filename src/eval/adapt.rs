//! Test-time batch-norm adaptation (Schneider et al., "Improving robustness against common
//! corruptions by covariate shift adaptation", NeurIPS 2020).
//!
//! **The variant implemented: full re-estimation on the target set, source statistics
//! discarded** (the paper's prior strength N = 0, with the target statistics gathered over
//! the whole target set rather than over one test batch). For one batch-norm branch, every
//! batch norm's running mean and variance are replaced by the sample-weighted averages of
//! the batch means and of the (unbiased) batch variances that one pass over the target set
//! produces, each layer normalising with its batch's own statistics during that pass. These
//! are the statistics PyTorch accumulates with `momentum=None` after `reset_running_stats()`
//! (there the batches are weighted equally; here by their size, so a short last batch
//! counts for what it holds). The evaluation then runs as usual, with running statistics.
//! Affine parameters and weights are not touched, and the other branch is left as it was.
//!
//! How: a forward pass in [`BnStats::Measure`] mode normalises every batch norm it reaches
//! with the batch's statistics and writes those statistics (mean, unbiased variance) as the
//! running ones, so one pass per batch reads them all off. Running statistics are found
//! through burn's module traversal by their place in
//! [`DualBatchNorm`](crate::model::DualBatchNorm) (fields `clean`/`adv`, then
//! `running_mean`/`running_var`), so any [`SplitModel`] built from dual batch norms can be
//! adapted. A batch norm the forward pass does not reach is never written: it keeps its
//! statistics.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};

use crate::data::{BatchPlan, ImageSource, Normalization, make_batch};
use crate::model::{BnBranch, BnMode, BnStats, SplitModel};

/// The module path of a running statistic: `.../<clean|adv>/<running_mean|running_var>`.
fn is_running_stat(path: &[(String, String)], branch: BnBranch) -> bool {
    let [.., (side, side_container), (field, field_container)] = path else {
        return false;
    };
    side == &branch.to_string()
        && side_container == "Struct:DualBatchNorm"
        && field_container == "Struct:BnState"
        && (field == "running_mean" || field == "running_var")
}

fn flat<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.shape().num_elements();
    t.reshape([n])
}

/// Collects the running statistics of one branch, flattened, in traversal order.
struct Collect {
    branch: BnBranch,
    path: Vec<(String, String)>,
    out: Vec<(ParamId, Tensor<1>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if is_running_stat(&self.path, self.branch) {
            self.out.push((param.id, flat(param.val())));
        }
    }
}

/// Replaces the running statistics of `branch` whose ids are in `values`.
struct Replace<'a> {
    branch: BnBranch,
    path: Vec<(String, String)>,
    values: &'a HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for Replace<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !is_running_stat(&self.path, self.branch) {
            return param;
        }
        match self.values.get(&param.id) {
            Some(new) => {
                let new = new.clone();
                param.map(|t| {
                    let dims = t.dims();
                    new.to_device(&t.device()).reshape(dims)
                })
            }
            None => param,
        }
    }
}

fn collect_ordered<M: SplitModel>(model: &M, branch: BnBranch) -> Vec<(ParamId, Tensor<1>)> {
    let mut visitor = Collect {
        branch,
        path: Vec::new(),
        out: Vec::new(),
    };
    model.visit(&mut visitor);
    visitor.out
}

fn collect<M: SplitModel>(model: &M, branch: BnBranch) -> HashMap<ParamId, Tensor<1>> {
    collect_ordered(model, branch).into_iter().collect()
}

/// The batch norms of `branch` of `model` re-estimated on `source` (see the module
/// documentation for the exact variant); the returned model is on `device` without
/// autodiff, ready for [`super::evaluate`] through the same branch.
///
/// ```
/// use advbn::data::{ImageSource, Normalization, VecSource};
/// use advbn::eval::adapt::{adapt_batch_norm, running_stats};
/// use advbn::model::{Arch, BnBranch, Network};
/// use burn::tensor::Device;
/// let device = Device::flex();
/// let net = Network::seeded(Arch::Tiny, 2, 0, &device);
/// let images = vec![image::RgbImage::from_pixel(32, 32, image::Rgb([200, 30, 30])); 4];
/// let source = VecSource { images, labels: vec![0, 1, 0, 1] };
/// let adapted = adapt_batch_norm(&net, &source, Normalization::default(), 2, BnBranch::Clean, &device).unwrap();
/// // Freshly built networks hold mean 0, variance 1; adapted ones hold the target's.
/// assert_ne!(running_stats(&adapted, BnBranch::Clean), running_stats(&net, BnBranch::Clean));
/// assert_eq!(running_stats(&adapted, BnBranch::Adv), running_stats(&net, BnBranch::Adv));
/// ```
pub fn adapt_batch_norm<M: SplitModel>(
    model: &M,
    source: &dyn ImageSource,
    normalization: Normalization,
    batch_size: usize,
    branch: BnBranch,
    device: &Device,
) -> Result<M, String> {
    let device = device.clone().without_autodiff();
    let mut model = model.valid().to_device(&device);
    let plan = BatchPlan::eval(normalization);
    let indices: Vec<usize> = (0..source.len()).collect();
    let mode = BnMode {
        branch,
        stats: BnStats::Measure,
    };
    // Per statistic: the sample-weighted sum of its batch values. A batch norm the pass
    // does not reach adds its own unchanged value each time, so it averages to itself.
    let mut sums: HashMap<ParamId, Tensor<1>> = HashMap::new();
    let mut total = 0usize;
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = make_batch(source, chunk, &plan, 0).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            continue;
        }
        let (images, _) = batch.to_tensors(&device);
        let n = batch.len();
        let _ = model.forward(images, mode);
        // `valid()` folds each running state's pending update into its value, where the
        // traversal reads it.
        model = model.valid();
        for (id, value) in collect(&model, branch) {
            let weighted = value.mul_scalar(n as f64);
            let sum = match sums.remove(&id) {
                Some(s) => s.add(weighted),
                None => weighted,
            };
            sums.insert(id, sum);
        }
        total += n;
    }
    if total == 0 {
        return Err("cannot adapt batch norms on an empty set".into());
    }
    let adapted: HashMap<ParamId, Tensor<1>> = sums
        .into_iter()
        .map(|(id, sum)| (id, sum.div_scalar(total as f64)))
        .collect();
    Ok(model.map(&mut Replace {
        branch,
        path: Vec::new(),
        values: &adapted,
    }))
}

/// The running means and variances of `branch`'s batch norms, in traversal order, as plain
/// numbers (for tests and reports: what the evaluation will normalise with).
pub fn running_stats<M: SplitModel>(model: &M, branch: BnBranch) -> Vec<Vec<f32>> {
    collect_ordered(&model.valid(), branch)
        .into_iter()
        .map(|(_, t)| t.into_data().try_to_vec::<f32>().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::VecSource;
    use crate::model::{Arch, Network};
    use burn::module::Module;
    use image::{Rgb, RgbImage};

    fn noisy(n: usize, seed: u32, offset: u8) -> Vec<RgbImage> {
        (0..n)
            .map(|i| {
                RgbImage::from_fn(16, 16, |x, y| {
                    let v = (x * 31 + y * 17 + i as u32 * 13 + seed * 7) % 97;
                    Rgb([
                        v as u8 + offset,
                        (v * 2) as u8 / 2 + offset,
                        (97 - v) as u8 + offset,
                    ])
                })
            })
            .collect()
    }

    /// The exact statistics of the first batch norm: the first layer sees the normalised
    /// images directly, so its batch statistics can be computed independently from a
    /// training-mode pass over the whole set at once.
    #[test]
    fn one_big_batch_gives_the_training_pass_statistics_and_smaller_batches_agree_on_the_mean() {
        let device = Device::flex();
        let net = Network::seeded(Arch::Tiny, 3, 1, &device);
        let images = noisy(12, 1, 0);
        let source = VecSource {
            images,
            labels: vec![0; 12],
        };
        let whole = adapt_batch_norm(
            &net,
            &source,
            Normalization::default(),
            12,
            BnBranch::Clean,
            &device,
        )
        .unwrap();
        // Reference, through the training path instead of `Measure`: one training-mode pass
        // over the whole set moves each running statistic to 0.9 * old + 0.1 * batch.
        let original = running_stats(&net, BnBranch::Clean);
        let reference = {
            let trained = net.valid();
            let plan = BatchPlan::eval(Normalization::default());
            let batch = make_batch(&source, &(0..12).collect::<Vec<_>>(), &plan, 0).unwrap();
            let (x, _) = batch.to_tensors(&device);
            let _ = trained.forward(x, BnMode::TRAIN);
            running_stats(&trained, BnBranch::Clean)
        };
        let adapted = running_stats(&whole, BnBranch::Clean);
        assert_eq!(adapted.len(), reference.len());
        assert!(adapted.len() >= 4, "{} statistics", adapted.len());
        for ((a, r), o) in adapted.iter().zip(&reference).zip(&original) {
            assert_eq!(a.len(), r.len());
            for ((x, y), old) in a.iter().zip(r).zip(o) {
                let batch = (y - 0.9 * old) / 0.1;
                assert!((x - batch).abs() <= 1e-4 * (1.0 + batch.abs()), "{x} vs {batch}");
            }
        }
        assert_ne!(adapted, original);
        // In batches of 5, 5, 2: the first layer's mean is the same (a sample-weighted mean
        // of batch means is the mean), whatever the split.
        let split = adapt_batch_norm(
            &net,
            &source,
            Normalization::default(),
            5,
            BnBranch::Clean,
            &device,
        )
        .unwrap();
        let split = running_stats(&split, BnBranch::Clean);
        for (x, y) in split[0].iter().zip(&adapted[0]) {
            assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn the_other_branch_and_the_weights_are_untouched_and_a_shift_moves_the_statistics() {
        let device = Device::flex();
        let net = Network::seeded(Arch::Tiny, 3, 2, &device);
        let dark = VecSource {
            images: noisy(8, 2, 0),
            labels: vec![0; 8],
        };
        let bright = VecSource {
            images: noisy(8, 2, 120),
            labels: vec![0; 8],
        };
        let a = adapt_batch_norm(&net, &dark, Normalization::default(), 4, BnBranch::Adv, &device).unwrap();
        let b = adapt_batch_norm(&net, &bright, Normalization::default(), 4, BnBranch::Adv, &device).unwrap();
        assert_eq!(
            running_stats(&a, BnBranch::Clean),
            running_stats(&net, BnBranch::Clean)
        );
        assert_ne!(running_stats(&a, BnBranch::Adv), running_stats(&b, BnBranch::Adv));
        // The first batch norm's mean moves with the brightness of the input.
        let (ma, mb) = (
            &running_stats(&a, BnBranch::Adv)[0],
            &running_stats(&b, BnBranch::Adv)[0],
        );
        assert!(ma.iter().zip(mb).any(|(x, y)| (x - y).abs() > 1e-2));
        let empty = VecSource::default();
        let e = adapt_batch_norm(
            &net,
            &empty,
            Normalization::default(),
            4,
            BnBranch::Clean,
            &device,
        )
        .unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}
