//! Training-step throughput: a plain step and an AdvBN step (6 attack steps, cut after
//! stage 1, clean + adversarial loss), and the batcher (AugMix JSD views of a batch).
//! Regime: CPU backend (flex), 32x32 inputs, all cores, batch sizes as named.
//! `advbn bench --train` reports the same steps as images/s with the AdvBN/plain ratio.

use std::hint::black_box;
use std::sync::Arc;

use advbn::augmenters::{AugMix, HorizontalFlip, Pipeline, PixelStage, RandomCrop};
use advbn::data::{BatchPlan, ImageSource, Normalization, VecSource, make_batch};
use advbn::feature::{AdvBn, AdvBnConfig};
use advbn::model::{Arch, Network, SplitModel};
use advbn::recipe::Recipe;
use advbn::train::{StepPlan, optimizer_for, train_step};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};

fn steps(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let batch = 32;
    let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(), [batch]),
        &device,
    );
    let mut group = c.benchmark_group("train_step_resnet20_batch32");
    group.sample_size(10);
    for advbn in [false, true] {
        let mut plan = StepPlan::plain(1);
        if advbn {
            plan = plan.with_feature(std::sync::Arc::new(AdvBn::new(AdvBnConfig::default()).unwrap()));
        }
        let mut recipe = Recipe::from_toml("name = \"bench\"", "bench").unwrap();
        recipe.model.arch = Arch::Resnet20;
        let mut optimizer = optimizer_for(&recipe);
        let mut model = Some(Network::new(Arch::Resnet20, 10, &device).reset_adv_bn());
        group.bench_function(if advbn { "advbn" } else { "plain" }, |b| {
            b.iter(|| {
                let (next, stats) = train_step(
                    model.take().unwrap(),
                    &mut optimizer,
                    images.clone(),
                    targets.clone(),
                    0.01,
                    &plan,
                );
                model = Some(next);
                black_box(stats.loss)
            })
        });
    }
    group.finish();
}

fn batcher(c: &mut Criterion) {
    let source: Arc<dyn ImageSource> = Arc::new(VecSource {
        images: (0..128)
            .map(|i| {
                image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, i as u8]))
            })
            .collect(),
        labels: (0..128).map(|i| i % 10).collect(),
    });
    let plan = BatchPlan {
        pipeline: Pipeline::new(vec![
            PixelStage::RandomCrop(RandomCrop::default()),
            PixelStage::HorizontalFlip(HorizontalFlip::default()),
            PixelStage::Augmix(AugMix::default()),
        ])
        .unwrap(),
        augmented_views: 2,
        include_clean: true,
        normalization: Normalization::HALF,
        run_seed: 0,
    };
    let indices: Vec<usize> = (0..128).collect();
    c.bench_function("batch_128_augmix_jsd_views", |b| {
        b.iter(|| {
            black_box(
                make_batch(source.as_ref(), &indices, &plan, 0)
                    .unwrap()
                    .images
                    .len(),
            )
        })
    });
}

criterion_group!(benches, steps, batcher);
criterion_main!(benches);
