//! Throughput measurements shared by `advbn bench` and the criterion benches.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::feature::{AdvBn, AdvBnConfig};
use crate::model::{Arch, Cut, Network, SplitModel};
use crate::recipe::Recipe;
use burn_train::TrainStep;

use crate::data::AugmentedBatch;
use crate::train::{RobustModel, StepPlan, optimizer_for, train_step};

/// One training-throughput row, as `advbn bench --train --json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchRow {
    /// `plain` or `advbn`.
    pub name: String,
    /// The architecture.
    pub model: String,
    /// Samples per batch.
    pub batch: usize,
    /// Image side in pixels.
    pub size: usize,
    /// Training throughput, samples per second.
    pub images_per_s: f64,
    /// What drove the step: `advbn` (`advbn train`'s loop: `train_step`) or `burn-train`
    /// (`RobustModel`'s `TrainStep::step` then `TrainStep::optimize`, what burn-train's
    /// `Learner` calls).
    #[serde(default)]
    pub driver: String,
}

/// Which training loop's step [`train_throughput`] times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepDriver {
    /// `advbn train`'s loop (`train::train_step`).
    Advbn,
    /// burn-train's `Learner` calls on `train::RobustModel`: `step`, then `optimize`.
    BurnTrain,
}

impl std::fmt::Display for StepDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepDriver::Advbn => "advbn",
            StepDriver::BurnTrain => "burn-train",
        })
    }
}

/// The batch a training benchmark times: `batch` images of `size` x `size` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainShape {
    /// Samples per batch.
    pub batch: usize,
    /// Image side in pixels.
    pub size: usize,
}

/// Times `iters` training steps (after `warmup` untimed ones) of `arch` on random
/// `size`x`size` batches of `batch` samples on `device`, plain or with AdvBN (6 steps, cut
/// after stage 1, clean + adversarial loss). Weights and images are the same on every
/// device (drawn on the CPU from seed 0).
pub fn train_throughput(
    arch: Arch,
    TrainShape { batch, size }: TrainShape,
    advbn: bool,
    driver: StepDriver,
    warmup: usize,
    iters: usize,
    device: &Device,
) -> TrainBenchRow {
    let device = device.clone().autodiff();
    let mut model = Network::seeded(arch, 10, 0, &device);
    let images = crate::device::host_normal([batch, 3, size, size], 0, &device);
    if advbn {
        model = model.reset_adv_bn();
    }
    let mut recipe = Recipe::from_toml("name = \"bench\"", "bench").expect("minimal recipe");
    recipe.model.arch = arch;
    let mut optimizer = optimizer_for(&recipe);
    let mut plan = StepPlan::plain(1);
    if advbn {
        let adversary = AdvBn::new(AdvBnConfig {
            cut: Cut::Stage1,
            ..AdvBnConfig::default()
        })
        .expect("default AdvBN config is valid");
        plan = plan.with_feature(std::sync::Arc::new(adversary));
    }
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(), [batch]),
        &device,
    );
    let mut run = |model: Network| match driver {
        StepDriver::Advbn => {
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
        }
        StepDriver::BurnTrain => {
            let robust = RobustModel::new(model, plan.clone(), 0);
            let batch_item = AugmentedBatch {
                images: images.clone(),
                targets: targets.clone(),
                views: 1,
                indices: (0..batch).collect(),
                epochs: vec![0; batch],
            };
            let output = TrainStep::step(&robust, batch_item);
            assert!(output.item.stats.loss.is_finite(), "benchmark loss diverged");
            robust
                .optimize(&mut optimizer, 0.01.into(), output.grads)
                .into_inner()
        }
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
        size,
        images_per_s: (batch * iters) as f64 / seconds,
        driver: driver.to_string(),
    }
}

/// Forward-only throughput of `arch` (evaluation mode), for reference.
pub fn eval_throughput(arch: Arch, batch: usize, iters: usize, device: &Device) -> f64 {
    let (model, images) = crate::device::with_rng_exclusive(|| {
        let model = Network::new(arch, 10, device);
        let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), device);
        (model, images)
    });
    let start = Instant::now();
    for _ in 0..iters {
        let _ = model
            .forward(images.clone(), crate::model::BnMode::EVAL)
            .into_data();
    }
    (batch * iters) as f64 / start.elapsed().as_secs_f64()
}

/// Reads the first `count` images (sorted by path within the archive's order of `test/`
/// entries, falling back to any JPEG/PNG) of a `.tar.gz` of image files, such as the CIFAR-10
/// JPEG copy, without unpacking it.
pub fn images_from_tar_gz(path: &std::path::Path, count: usize) -> Result<Vec<image::RgbImage>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut images = Vec::with_capacity(count);
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: not a tar.gz archive ({e})", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: corrupt archive ({e})", path.display()))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !(name.ends_with(".jpg") || name.ends_with(".jpeg") || name.ends_with(".png")) {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes)
            .map_err(|e| format!("{}: corrupt archive ({e})", path.display()))?;
        let member = std::path::PathBuf::from(format!("{}:{name}", path.display()));
        images.push(crate::data::decode_image_bytes(&bytes, &member).map_err(|e| e.to_string())?);
        if images.len() == count {
            break;
        }
    }
    if images.is_empty() {
        return Err(format!("{}: no images found", path.display()));
    }
    Ok(images)
}

/// One augmentation-throughput row, as `advbn bench --json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentBenchRow {
    /// The op name, `augmix` (one view) or `augmix-jsd` (clean + 2 views).
    pub name: String,
    /// Image side in pixels.
    pub size: u32,
    /// Worker threads.
    pub threads: usize,
    /// Throughput, source images per second.
    pub images_per_s: f64,
}

/// Times `work` over `images` repeatedly for at least `min_seconds` (after one warm-up
/// pass) on a pool of `threads` threads; returns images per second.
pub fn time_images(
    images: &[image::RgbImage],
    threads: usize,
    min_seconds: f64,
    work: &(dyn Fn(usize, &image::RgbImage) + Sync),
) -> f64 {
    time_items(images.len(), threads, min_seconds, &|i| work(i, &images[i]))
}

/// Times `work(i)` for every `i` in `0..count` repeatedly for at least `min_seconds` (after
/// one warm-up pass) on a pool of `threads` threads; returns items per second.
pub fn time_items(count: usize, threads: usize, min_seconds: f64, work: &(dyn Fn(usize) + Sync)) -> f64 {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let pass = || (0..count).into_par_iter().for_each(work);
        pass();
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed().as_secs_f64() < min_seconds {
            pass();
            done += count;
        }
        done as f64 / start.elapsed().as_secs_f64()
    })
}
