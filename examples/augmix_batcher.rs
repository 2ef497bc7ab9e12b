//! Using advbn's image-space augmenters in your own burn data pipeline: AugMix views for the
//! Jensen-Shannon loss, with per-sample seeds, in parallel, into a `[views * N, 3, H, W]`
//! tensor.
//!
//! Run it: `cargo run --release --example augmix_batcher`.

use advbn::augmenters::{AugMix, HorizontalFlip, Pipeline, PixelStage, RandomCrop, Sample, augment_batch};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

/// Builds a batch tensor of `views` AugMix views (after the clean view) of `images`.
fn batch_tensor(images: &[RgbImage], first_index: u64, epoch: u64, device: &Device) -> Tensor<4> {
    let pipeline = Pipeline::new(vec![
        PixelStage::RandomCrop(RandomCrop { padding: 4 }),
        PixelStage::HorizontalFlip(HorizontalFlip { p: 0.5 }),
        PixelStage::Augmix(AugMix::default()),
    ])
    .expect("a valid pipeline");
    // The dataset index seeds each sample's stream: the result does not depend on the
    // batch composition or the number of threads.
    let samples: Vec<Sample> = images
        .iter()
        .enumerate()
        .map(|(i, image)| Sample {
            index: first_index + i as u64,
            image,
        })
        .collect();
    let views = 2;
    let outputs = augment_batch(&pipeline, &samples, 42, epoch, views);
    let (w, h) = images[0].dimensions();
    let n = images.len();
    let mut data = Vec::with_capacity((views + 1) * n * 3 * (w * h) as usize);
    // View-major: all clean images, then all first views, then all second views.
    for v in 0..=views {
        for out in &outputs {
            let image = if v == 0 { &out.clean } else { &out.augmented[v - 1] };
            data.extend(image.to_chw().into_iter().map(|x| (x - 0.5) / 0.5));
        }
    }
    Tensor::from_data(
        TensorData::new(data, [(views + 1) * n, 3, h as usize, w as usize]),
        device,
    )
}

fn demo_images(n: usize) -> Vec<RgbImage> {
    (0..n)
        .map(|i| {
            RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([(x * 8) as u8, (y * 8) as u8, (i * 40) as u8])
            })
        })
        .collect()
}

fn main() {
    let device = Device::flex();
    let batch = batch_tensor(&demo_images(4), 0, 0, &device);
    println!("batch of clean + 2 AugMix views: {:?}", batch.dims());
}

#[test]
fn batch_has_views_and_is_reproducible() {
    let device = Device::flex();
    let images = demo_images(3);
    let a = batch_tensor(&images, 10, 1, &device);
    assert_eq!(a.dims(), [9, 3, 32, 32]);
    let b = batch_tensor(&images, 10, 1, &device);
    assert_eq!(a.into_data(), b.into_data());
}
