//! Plugging AdvBN into your own burn model and training loop.
//!
//! 1. Use [`DualBatchNorm`] for the batch norms of your model (a clean and an adversarial
//!    copy, selected per call by a [`BnMode`]).
//! 2. Implement [`SplitModel`]: `segment` runs the layers between two cut points, `head_from`
//!    runs from a cut point to the logits.
//! 3. In your training step: features = stem, attack with [`AdvBn::attack`], then
//!    loss = CE(head(features), clean branch) + CE(head(adversarial features), adv branch).
//!
//! Run it: `cargo run --release --example custom_model`.

use advbn::feature::{AdvBn, AdvBnConfig};
use advbn::model::{BnMode, Cut, DualBatchNorm, SplitModel};
use advbn::model::{accuracy, cross_entropy};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// A user's two-stage CNN: the cut after stage 1 is where AdvBN perturbs.
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
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(3, 8),
            bn1: DualBatchNorm::new(8, device),
            conv2: conv(8, 16),
            bn2: DualBatchNorm::new(16, device),
            fc: LinearConfig::new(16, 2).init(device),
        }
    }
}

impl SplitModel for MyNet {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        let mut x = x;
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
}

/// A toy problem: bright images are class 1, dark ones class 0.
fn toy_batch(step: usize, n: usize, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let mut pixels = Vec::with_capacity(n * 3 * 8 * 8);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i + step) % 2;
        let base = if label == 1 { 0.7 } else { 0.3 };
        for p in 0..3 * 64 {
            let jitter = (((i * 31 + p * 17 + step * 7) % 23) as f32 / 23.0 - 0.5) * 0.4;
            pixels.push(base + jitter);
        }
        labels.push(label as i64);
    }
    (
        Tensor::from_data(TensorData::new(pixels, [n, 3, 8, 8]), device),
        Tensor::from_data(TensorData::new(labels, [n]), device),
    )
}

/// Trains `steps` steps with AdvBN and returns the final clean training accuracy.
fn train(steps: usize) -> f64 {
    let device = Device::flex().autodiff();
    // Seeded initialisation that other threads of the process cannot disturb.
    let mut model = advbn::device::with_seed(&device, 0, || {
        let net = MyNet::new(&device);
        // burn draws weights on first use: draw them here, inside the seeded section.
        advbn::model::materialize_parameters(&net);
        net
    })
    .reset_adv_bn();
    let adversary = AdvBn::new(AdvBnConfig {
        cut: Cut::Stage1,
        ..AdvBnConfig::default()
    })
    .expect("valid config");
    let mut optimizer = SgdConfig::new().init();
    let mut last_accuracy = 0.0;
    for step in 0..steps {
        let (images, targets) = toy_batch(step, 32, &device);
        // The stem runs once; the head runs on the clean features and on the attacked ones.
        let features = model.segment(images, Cut::Input, Cut::Stage1, BnMode::TRAIN);
        let attack = adversary.attack(&model, features.clone(), targets.clone());
        let clean_logits = model.head_from(features, Cut::Stage1, BnMode::TRAIN);
        let adv_logits = model.head_from(attack.features, Cut::Stage1, BnMode::TRAIN_ADV);
        last_accuracy = accuracy(&clean_logits, &targets);
        let loss = cross_entropy(clean_logits, targets.clone()) + cross_entropy(adv_logits, targets);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(0.1, model, grads);
    }
    last_accuracy
}

fn main() {
    let accuracy = train(60);
    println!(
        "clean training accuracy after 60 AdvBN steps: {:.1}%",
        100.0 * accuracy
    );
}

#[test]
fn custom_model_learns_with_advbn() {
    assert!(train(60) > 0.9);
}
