//! advbn's augmenters in burn's own data pipeline: AugMix views for the Jensen-Shannon loss
//! through burn's `DataLoaderBuilder` (batch size, shuffle, worker threads), with
//! `SampleDataset` as burn's `Dataset` and `AugmentBatcher` as burn's `Batcher`.
//!
//! Each sample is augmented from its own stream (run seed, epoch, dataset index), so the
//! batches hold the same images whatever the number of workers.
//!
//! Run it: `cargo run --release --example augmix_batcher`.

use std::sync::Arc;

use advbn::augmenters::{AugMix, HorizontalFlip, Pipeline, PixelStage, RandomCrop};
use advbn::data::{AugmentBatcher, AugmentedBatch, BatchPlan, Normalization, SampleDataset, VecSource};
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::tensor::Device;
use image::RgbImage;

/// The AugMix reference's CIFAR training batches: crop and flip, then the clean view and two
/// AugMix views, view-major, normalized with mean and std 0.5.
fn augmix_loader(
    images: Vec<RgbImage>,
    labels: Vec<u32>,
    workers: usize,
) -> Arc<dyn DataLoader<AugmentedBatch>> {
    let plan = BatchPlan {
        pipeline: Pipeline::new(vec![
            PixelStage::RandomCrop(RandomCrop { padding: 4 }),
            PixelStage::HorizontalFlip(HorizontalFlip { p: 0.5 }),
            PixelStage::Augmix(AugMix::default()),
        ])
        .expect("a valid pipeline"),
        augmented_views: 2,
        include_clean: true,
        normalization: Normalization::HALF,
        run_seed: 42,
    };
    DataLoaderBuilder::new(AugmentBatcher::new(plan))
        .batch_size(4)
        .shuffle(7)
        .num_workers(workers)
        .set_device(Device::flex())
        .build(SampleDataset::new(Arc::new(VecSource { images, labels })))
}

fn demo_images(n: usize) -> (Vec<RgbImage>, Vec<u32>) {
    let images = (0..n)
        .map(|i| {
            RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([(x * 8) as u8, (y * 8) as u8, (i * 40) as u8])
            })
        })
        .collect();
    (images, (0..n as u32).map(|i| i % 2).collect())
}

fn main() {
    let (images, labels) = demo_images(10);
    for batch in augmix_loader(images, labels, 2).iter() {
        let batch = batch.expect("in-memory images decode");
        println!(
            "samples {:?} (epoch {:?}): images {:?} = clean + 2 AugMix views",
            batch.indices,
            batch.epochs,
            batch.images.dims()
        );
    }
}

#[test]
fn batches_have_views_and_do_not_depend_on_workers() {
    use std::collections::BTreeMap;
    let by_sample = |workers| {
        let (images, labels) = demo_images(10);
        let mut rows = BTreeMap::new();
        for batch in augmix_loader(images, labels, workers).iter() {
            let batch = batch.unwrap();
            let n = batch.indices.len();
            assert_eq!(batch.images.dims(), [3 * n, 3, 32, 32]);
            let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
            let per_sample = values.len() / (3 * n);
            for (s, index) in batch.indices.iter().enumerate() {
                let views: Vec<f32> = (0..3)
                    .flat_map(|v| values[(v * n + s) * per_sample..(v * n + s + 1) * per_sample].to_vec())
                    .collect();
                rows.insert(*index, views);
            }
        }
        rows
    };
    let one = by_sample(1);
    assert_eq!(one.len(), 10);
    assert!(one == by_sample(3), "1 and 3 workers gave different images");
}
