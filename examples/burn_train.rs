//! Your own burn model, trained by burn-train's `Learner` with advbn's batcher (AugMix views
//! for the Jensen-Shannon loss) and AdvBN.
//!
//! What you write: the model with `DualBatchNorm` and its `SplitModel` cut points. What advbn
//! gives: `SampleDataset`/`AugmentBatcher` (burn's `Dataset`/`Batcher`), `RobustModel`
//! (burn-train's `TrainStep`/`InferenceStep`, with the attack inside the step) and the
//! `AdvBnFactorMetric`.
//!
//! Run it: `cargo run --release --example burn_train`.

use std::sync::Arc;

use advbn::data::{AugmentBatcher, BatchPlan, SampleDataset, VecSource};
use advbn::model::{BnBranch, BnMode, Cut, DualBatchNorm, SplitModel};
use advbn::recipe::{Recipe, builtin};
use advbn::train::{AdvBnFactorMetric, Factor, RobustModel};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::SgdConfig;
use burn::optim::lr_scheduler::constant::ConstantLr;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use burn_train::metric::{AccuracyMetric, LossMetric};
use burn_train::{ExecutionStrategy, Learner, SupervisedTraining};
use image::RgbImage;

/// A two-stage CNN; AdvBN perturbs the features after stage 1.
#[derive(Module, Debug)]
struct MyNet {
    conv1: Conv2d,
    bn1: DualBatchNorm,
    conv2: Conv2d,
    bn2: DualBatchNorm,
    fc: Linear,
}

impl MyNet {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            let padding = PaddingConfig2d::Explicit(1, 1, 1, 1);
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(padding)
                .init(device)
        };
        let (bn1, bn2) = (DualBatchNorm::new(16, device), DualBatchNorm::new(32, device));
        let fc = LinearConfig::new(32, 4).init(device);
        Self {
            conv1: conv(3, 16),
            bn1,
            conv2: conv(16, 32),
            bn2,
            fc,
        }
    }
}

impl SplitModel for MyNet {
    fn segment(&self, mut x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        if from < Cut::Stage1 && to >= Cut::Stage1 {
            x = relu(self.bn1.forward(self.conv1.forward(x), mode));
        }
        if from < Cut::Stage2 && to >= Cut::Stage2 {
            x = relu(self.bn2.forward(self.conv2.forward(x), mode));
        }
        x
    }
    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        let x = self.segment(x, from, Cut::Stage2, mode);
        let [n, c, _, _] = x.dims();
        self.fc.forward(x.mean_dims(&[2, 3]).reshape([n, c]))
    }
    fn ends_in_relu(&self, _cut: Cut) -> bool {
        true
    }
    fn reset_adv_bn(mut self) -> Self {
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.bn2 = self.bn2.reset_adv_from_clean();
        self
    }
    fn stages(&self) -> usize {
        2
    }
}

/// Four classes told apart by texture alone: horizontal, vertical, diagonal stripes or a
/// checkerboard, in random colours, periods and phases (16x16).
fn stripes(n: usize, seed: u32) -> VecSource {
    let mut src = VecSource::default();
    for i in 0..n as u32 {
        let h = (i.wrapping_mul(2_654_435_761) ^ seed).wrapping_mul(0x9E37_79B9);
        let (class, period, phase) = (i % 4, 2 + (h >> 8) % 3, (h >> 12) % 4);
        let (a, b) = ([(h >> 16) as u8, (h >> 20) as u8, 40], [20, (h >> 24) as u8, 200]);
        src.images.push(RgbImage::from_fn(16, 16, |x, y| {
            let t = match class {
                0 => y,
                1 => x,
                2 => x + y,
                _ => x / period + y / period,
            };
            let on = if class == 3 {
                t % 2 == 0
            } else {
                ((t + phase) / period) % 2 == 0
            };
            image::Rgb(if on { a } else { b })
        }));
        src.labels.push(class);
    }
    src
}

/// Trains on the stripes; returns the trained net and its test data set.
fn train(
    dir: &std::path::Path,
    epochs: usize,
    devices: Option<ExecutionStrategy>,
) -> (MyNet, SampleDataset, BatchPlan) {
    // The `augmix+advbn` recipe: AugMix views with JSD, AdvBN after stage 1.
    let recipe: Recipe = builtin("augmix+advbn").unwrap().unwrap();
    let train_plan = recipe.batch_plan().expect("a valid recipe");
    let eval_plan = BatchPlan::eval(recipe.data.normalization);
    let train_set = SampleDataset::new(Arc::new(stripes(256, 1)));
    let test_set = SampleDataset::new(Arc::new(stripes(128, 2)));
    let batcher = AugmentBatcher::new(train_plan).with_partners(train_set.source());
    let train = DataLoaderBuilder::new(batcher)
        .batch_size(32)
        .shuffle(1)
        .num_workers(2)
        .build(train_set);
    let valid = DataLoaderBuilder::new(AugmentBatcher::new(eval_plan.clone()))
        .batch_size(64)
        .build(test_set.clone());

    let device = Device::flex().autodiff();
    let net = advbn::device::init_seeded(&device, 0, MyNet::new); // the same weights every run
    let model = RobustModel::from_recipe(net, &recipe).expect("the recipe's features");
    let mut training = SupervisedTraining::new(dir, train, valid);
    if let Some(strategy) = devices {
        training = training.with_training_strategy(strategy.into()); // several devices
    }
    let result = training
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(AdvBnFactorMetric::new(Factor::Sigma))
        .metric_valid_numeric(AccuracyMetric::new())
        .num_epochs(epochs)
        .launch(Learner::new(model, SgdConfig::new().init(), ConstantLr::new(0.1)));
    (result.model.into_inner(), test_set, eval_plan)
}

/// Clean test accuracy with advbn's evaluator.
fn test_accuracy(net: &MyNet, test: &SampleDataset, plan: &BatchPlan) -> f64 {
    let source = test.source();
    let result = advbn::eval::evaluate(
        net,
        source.as_ref(),
        plan.normalization,
        80,
        BnBranch::Clean,
        &Device::flex(),
    );
    result.expect("evaluation").accuracy
}

fn main() {
    let (net, test, plan) = train(std::path::Path::new("target/burn-train-example"), 3, None);
    println!("test accuracy: {:.1}%", 100.0 * test_accuracy(&net, &test, &plan));
}

#[test]
fn learns_with_burn_train() {
    let dir = tempfile::tempdir().unwrap();
    let (net, test, plan) = train(dir.path(), 3, None);
    let accuracy = test_accuracy(&net, &test, &plan);
    assert!(accuracy > 0.5, "test accuracy {accuracy} (chance is 0.25)");
}

#[test]
fn learns_on_two_devices_with_burn_trains_multi_device_strategy() {
    use burn_train::MultiDeviceOptim;
    let dir = tempfile::tempdir().unwrap();
    let two_cpus = vec![Device::flex(), Device::flex()];
    let strategy = ExecutionStrategy::multi(two_cpus, MultiDeviceOptim::OptimMainDevice);
    let (net, test, plan) = train(dir.path(), 3, Some(strategy));
    let accuracy = test_accuracy(&net, &test, &plan);
    assert!(accuracy > 0.5, "test accuracy {accuracy} (chance is 0.25)");
}
