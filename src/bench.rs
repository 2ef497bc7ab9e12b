//! Throughput measurements shared by `advbn bench` and the criterion benches.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::feature::{AdvBn, AdvBnConfig};
use crate::model::{Arch, Cut, Network, SplitModel};
use crate::recipe::Recipe;
use crate::train::{StepPlan, optimizer_for, train_step};

/// One training-throughput row, as `advbn bench --train --json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchRow {
    /// `plain` or `advbn`.
    pub name: String,
    /// The architecture.
    pub model: String,
    /// Samples per batch.
    pub batch: usize,
    /// Training throughput, samples per second.
    pub images_per_s: f64,
}

/// Times `iters` training steps (after `warmup` untimed ones) of `arch` on random 32x32
/// batches of `batch` samples on `device`, plain or with AdvBN (6 steps, cut after stage 1,
/// clean + adversarial loss).
pub fn train_throughput(
    arch: Arch,
    batch: usize,
    advbn: bool,
    warmup: usize,
    iters: usize,
    device: &Device,
) -> TrainBenchRow {
    let device = device.clone().autodiff();
    device.seed(0);
    let mut model = Network::new(arch, 10, &device);
    if advbn {
        model = model.reset_adv_bn();
    }
    let mut recipe = Recipe::from_toml("name = \"bench\"", "bench").expect("minimal recipe");
    recipe.model.arch = arch;
    let mut optimizer = optimizer_for(&recipe);
    let plan = StepPlan {
        views: 1,
        jsd_lambda: None,
        advbn: advbn.then(|| {
            AdvBn::new(AdvBnConfig {
                cut: Cut::Stage1,
                ..AdvBnConfig::default()
            })
            .expect("default AdvBN config is valid")
        }),
    };
    let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(), [batch]),
        &device,
    );
    let mut run = |model: Network| {
        let (model, stats) = train_step(
            model,
            &mut optimizer,
            images.clone(),
            targets.clone(),
            0.01,
            &plan,
        );
        assert!(stats.loss.is_finite(), "benchmark loss diverged");
        model
    };
    for _ in 0..warmup {
        model = run(model);
    }
    let start = Instant::now();
    for _ in 0..iters {
        model = run(model);
    }
    let _ = device.sync();
    let seconds = start.elapsed().as_secs_f64();
    TrainBenchRow {
        name: if advbn { "advbn" } else { "plain" }.into(),
        model: arch.to_string(),
        batch,
        images_per_s: (batch * iters) as f64 / seconds,
    }
}

/// Forward-only throughput of `arch` (evaluation mode), for reference.
pub fn eval_throughput(arch: Arch, batch: usize, iters: usize, device: &Device) -> f64 {
    let model = Network::new(arch, 10, device);
    let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), device);
    let start = Instant::now();
    for _ in 0..iters {
        let _ = model
            .forward(images.clone(), crate::model::BnMode::EVAL)
            .into_data();
    }
    (batch * iters) as f64 / start.elapsed().as_secs_f64()
}
