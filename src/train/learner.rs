//! burn-train's vocabulary: any [`SplitModel`] with a recipe's feature augmenters (AdvBN,
//! MixStyle, DSU, yours) and consistency loss, as a burn-train `TrainStep` and
//! `InferenceStep`, so that burn's `SupervisedTraining::new(..).launch(Learner::new(..))`
//! trains it on one device or several (`ExecutionStrategy`).
//!
//! The step is [`step_loss`], the same function `advbn train`'s loop runs: the stem once,
//! the inline augmenters at their cuts, the consistency loss over the views, the attack
//! (its factors are leaves outside the module, so `TrainOutput::new` hands only the
//! module's parameters to the optimizer) and the adversarial pass. The attack's statistics
//! reach burn-train's metrics through [`AdvBnFactorMetric`].
//!
//! ```no_run
//! use advbn::data::{AugmentBatcher, BatchPlan, SampleDataset};
//! use advbn::train::{AdvBnFactorMetric, Factor, RobustModel};
//! use burn::data::dataloader::DataLoaderBuilder;
//! use burn::optim::SgdConfig;
//! use burn_train::{Learner, SupervisedTraining, metric::{AccuracyMetric, LossMetric}};
//! # fn demo(net: advbn::model::Network, recipe: &advbn::recipe::Recipe,
//! #         plan: BatchPlan, train: SampleDataset, valid: SampleDataset) {
//! let model = RobustModel::from_recipe(net, recipe).unwrap();
//! let train = DataLoaderBuilder::new(AugmentBatcher::new(plan.clone())).batch_size(32).shuffle(1).build(train);
//! let valid = DataLoaderBuilder::new(AugmentBatcher::new(BatchPlan::eval(plan.normalization))).batch_size(64).build(valid);
//! let result = SupervisedTraining::new("runs/burn", train, valid)
//!     .metric_train_numeric(LossMetric::new())
//!     .metric_train_numeric(AdvBnFactorMetric::new(Factor::Mean))
//!     .metric_valid_numeric(AccuracyMetric::new())
//!     .num_epochs(2)
//!     .launch(Learner::new(model, SgdConfig::new().init(), 0.01));
//! let trained = result.model.into_inner();
//! # }
//! ```

use std::sync::Arc;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{ExecutionError, Int, Tensor};
use burn_train::metric::{
    AccuracyInput, Adaptor, LossInput, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric,
    NumericAttributes, NumericEntry, SerializedEntry,
    state::{FormatOptions, NumericMetricState},
};
use burn_train::{ClassificationOutput, InferenceStep, ItemLazy, TrainOutput, TrainStep};

use super::step::{StepLoss, StepPlan, StepStats, step_loss};
use crate::augmenters::ConfigError;
use crate::data::AugmentedBatch;
use crate::model::{BnMode, Cut, SplitModel, cross_entropy};
use crate::recipe::Recipe;

/// A network with the feature augmenters and consistency loss it trains with.
///
/// burn's `#[derive(Module)]`: the network's parameters are the module's; the plan is
/// ignored by records, so a checkpoint of a `RobustModel` holds the network only.
#[derive(Module, Debug)]
pub struct RobustModel<M> {
    /// The network.
    pub net: M,
    #[module(skip)]
    plan: StepPlan,
    #[module(skip)]
    run_seed: u64,
}

impl<M: SplitModel> RobustModel<M> {
    /// `net` trained with `plan`'s features and consistency loss; `run_seed` seeds the
    /// inline augmenters' draws. With an adversary that uses dual batch norm, the
    /// adversarial batch norms start as copies of the clean ones (now, not at the
    /// adversary's `start_epoch` as in `advbn train`).
    pub fn new(net: M, plan: StepPlan, run_seed: u64) -> Self {
        let net = if plan.adversary().is_some_and(|a| a.dual_bn()) {
            net.reset_adv_bn()
        } else {
            net
        };
        Self { net, plan, run_seed }
    }

    /// `net` with a recipe's `[[feature]]` list, consistency loss and seed. The views per
    /// sample come from each batch (make the batches with the recipe's
    /// [`crate::data::BatchPlan`]: the clean view first when the recipe has a JSD loss).
    pub fn from_recipe(net: M, recipe: &Recipe) -> Result<Self, ConfigError> {
        let mut plan = StepPlan::plain(1);
        plan.jsd_lambda = recipe.jsd_lambda();
        plan.features = recipe.features()?;
        Ok(Self::new(net, plan, recipe.train.seed))
    }

    /// The plan.
    pub fn plan(&self) -> &StepPlan {
        &self.plan
    }

    /// The network, for evaluation, export or `advbn`'s own tools.
    pub fn into_inner(self) -> M {
        self.net
    }

    /// The plan of the step for `batch`: its views; the features active at its epoch; a
    /// random stream for the inline augmenters that depends only on the batch's samples.
    fn plan_for(&self, batch: &AugmentedBatch) -> StepPlan {
        let epoch = batch.epochs.iter().copied().min().unwrap_or(0);
        let mut plan = self.plan.clone();
        plan.views = batch.views;
        plan.features.retain(|f| epoch as usize >= f.start_epoch());
        // FNV-1a over the sample indices: the same batch gets the same draws on any worker.
        let batch_id = batch.indices.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &i| {
            (h ^ i as u64).wrapping_mul(0x0000_0100_0000_01b3)
        });
        plan.step_key = StepPlan::key_for_step(self.run_seed, epoch, batch_id);
        plan
    }
}

/// What a training step reports to burn-train's metrics.
#[derive(Clone, Debug)]
pub struct RobustOutput {
    /// The total loss that was minimised, `[1]`.
    pub loss: Tensor<1>,
    /// Clean-branch logits of the first view, `[N, classes]`.
    pub logits: Tensor<2>,
    /// The targets, `[N]`.
    pub targets: Tensor<1, Int>,
    /// The loss's parts and the attack's factors.
    pub stats: StepStats,
}

impl<M: SplitModel + ModuleDisplay + 'static> TrainStep for RobustModel<M> {
    type Input = AugmentedBatch;
    type Output = RobustOutput;

    fn step(&self, batch: AugmentedBatch) -> TrainOutput<RobustOutput> {
        let plan = self.plan_for(&batch);
        let targets = batch.targets.clone();
        let StepLoss { loss, logits, stats } = step_loss(&self.net, batch.images, batch.targets, &plan);
        let grads = loss.backward();
        TrainOutput::new(
            self,
            grads,
            RobustOutput {
                loss,
                logits,
                targets,
                stats,
            },
        )
    }
}

impl<M: SplitModel + ModuleDisplay + 'static> InferenceStep for RobustModel<M> {
    type Input = AugmentedBatch;
    type Output = ClassificationOutput;

    /// The clean branch with running statistics on the batch's first view.
    fn step(&self, batch: AugmentedBatch) -> ClassificationOutput {
        let [n] = batch.targets.dims();
        let first_view = batch.images.narrow(0, 0, n);
        let logits = self.net.head_from(first_view, Cut::Input, BnMode::EVAL);
        let loss = cross_entropy(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl ItemLazy for RobustOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(RobustOutput {
            loss: self.loss.without_autodiff(),
            logits: self.logits.without_autodiff(),
            targets: self.targets.without_autodiff(),
            stats: self.stats,
        })
    }
}

impl Adaptor<LossInput> for RobustOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl Adaptor<AccuracyInput> for RobustOutput {
    fn adapt(&self) -> AccuracyInput {
        AccuracyInput::new(self.logits.clone(), self.targets.clone())
    }
}

/// Which AdvBN factor [`AdvBnFactorMetric`] follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// `s_mu`, the factor on each channel's batch mean.
    Mean,
    /// `s_sigma`, the factor on each channel's deviations from it.
    Sigma,
}

/// The input of [`AdvBnFactorMetric`]: one step's final factors.
#[derive(Clone, Debug)]
pub struct FactorInput {
    factors: Option<(Vec<f32>, Vec<f32>)>,
}

impl Adaptor<FactorInput> for RobustOutput {
    fn adapt(&self) -> FactorInput {
        FactorInput {
            factors: self.stats.factors.clone(),
        }
    }
}

/// burn-train metric: how far AdvBN pushed the feature statistics, the mean over channels
/// of `|s - 1|` of the attack's final factors (0 means no perturbation; at most the
/// attack's `epsilon`). Steps without an attack (before `start_epoch`) are left out.
#[derive(Clone)]
pub struct AdvBnFactorMetric {
    factor: Factor,
    name: MetricName,
    state: NumericMetricState,
}

impl AdvBnFactorMetric {
    /// The metric for `factor`.
    pub fn new(factor: Factor) -> Self {
        let name = match factor {
            Factor::Mean => "AdvBN |s_mu - 1|",
            Factor::Sigma => "AdvBN |s_sigma - 1|",
        };
        Self {
            factor,
            name: Arc::new(name.to_string()),
            state: NumericMetricState::default(),
        }
    }
}

impl Metric for AdvBnFactorMetric {
    type Input = FactorInput;

    fn update(
        &mut self,
        input: &FactorInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        let format = FormatOptions::new(self.name()).precision(3);
        if let Some((mu, sigma)) = &input.factors {
            let values = match self.factor {
                Factor::Mean => mu,
                Factor::Sigma => sigma,
            };
            let deviation =
                values.iter().map(|s| f64::from((s - 1.0).abs())).sum::<f64>() / values.len().max(1) as f64;
            self.state.update(deviation, 1);
        }
        Ok(self.state.compute_update(format))
    }

    fn compute(&mut self) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        Ok(self
            .state
            .compute_final(FormatOptions::new(self.name()).precision(3)))
    }

    fn clear(&mut self) {
        self.state.reset()
    }

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: true,
        }
        .into()
    }
}

impl Numeric for AdvBnFactorMetric {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

#[cfg(test)]
mod tests {
    use burn::data::dataloader::Progress;
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::feature::{AdvBn, AdvBnConfig};
    use crate::model::{Arch, Network};

    fn batch(device: &Device) -> AugmentedBatch {
        let images = crate::device::host_normal([8, 3, 8, 8], 1, device);
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1, 1, 0, 1, 0], [8]), device);
        AugmentedBatch {
            images,
            targets,
            views: 1,
            indices: (0..8).collect(),
            epochs: vec![0; 8],
        }
    }

    #[test]
    fn the_train_step_is_advbn_trains_step_and_reports_the_attack() {
        let device = Device::flex().autodiff();
        // Two builds, not clones: the first step moves the running statistics the second's
        // attack reads, and clones would share them.
        let build = || crate::device::init_seeded(&device, 2, |d| Network::new(Arch::Tiny, 2, d));
        let adversary = AdvBn::new(AdvBnConfig {
            steps: 2,
            ..AdvBnConfig::default()
        })
        .unwrap();
        let plan = StepPlan::plain(1).with_feature(Arc::new(adversary));
        // The step's loss is step_loss's, without and with the adversary.
        let item = batch(&device);
        let plain = RobustModel::new(build(), StepPlan::plain(1), 0);
        let expected = step_loss(
            &build(),
            item.images.clone(),
            item.targets.clone(),
            &plain.plan_for(&item),
        );
        let got = TrainStep::step(&plain, item.clone()).item.stats.loss;
        assert!(
            (got - expected.stats.loss).abs() < 1e-5,
            "{got} vs {}",
            expected.stats.loss
        );

        let model = RobustModel::new(build(), plan, 0);
        let expected = step_loss(
            &build(),
            item.images.clone(),
            item.targets.clone(),
            &model.plan_for(&item),
        );
        let output = TrainStep::step(&model, item);
        assert!(output.item.stats.loss.is_finite());
        assert!(
            (output.item.stats.loss - expected.stats.loss).abs() < 1e-5,
            "{} vs {}",
            output.item.stats.loss,
            expected.stats.loss
        );
        let (got_adv, expected_adv) = (output.item.stats.loss_adv, expected.stats.loss_adv);
        let (Some(got_adv), Some(expected_adv)) = (got_adv, expected_adv) else {
            panic!("no adversarial loss: {got_adv:?} vs {expected_adv:?}");
        };
        assert!(
            (got_adv - expected_adv).abs() < 1e-5,
            "{got_adv} vs {expected_adv}"
        );
        let (mu, sigma) = output.item.stats.factors.clone().expect("the attack's factors");
        assert_eq!((mu.len(), sigma.len()), (16, 16));
        // The optimizer gets gradients of the network's parameters only (the attack's
        // factors are not module parameters): every parameter tensor but the adversarial
        // gamma and beta of stage 1's two batch norms, which no pass uses (the adversarial
        // pass starts after stage 1).
        let mut parameters = 0;
        model.net.visit(&mut CountParams(&mut parameters));
        assert_eq!(output.grads.len(), parameters - 4);

        let mut metric = AdvBnFactorMetric::new(Factor::Sigma);
        let metadata = MetricMetadata {
            progress: Progress::new(1, 1, None),
            iteration: Some(1),
            lr: None,
        };
        metric.update(&output.item.adapt(), &metadata).unwrap();
        let expected = sigma.iter().map(|s| f64::from((s - 1.0).abs())).sum::<f64>() / 16.0;
        let got = metric.value().unwrap().current();
        assert!((got - expected).abs() < 1e-9 && got > 0.0, "{got} vs {expected}");
    }

    struct CountParams<'a>(&'a mut usize);

    impl burn::module::ModuleVisitor for CountParams<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if param.is_require_grad() {
                *self.0 += 1;
            }
        }
    }
}
