//! Single-thread throughput of each op, of AugMix (paper variant, severity 3, one view) and of
//! each stylizer (default config; `fourier_mix` and `color_transfer` with the next image of
//! the set as partner, and with no partner as `-nopartner`), on real CIFAR-10 test images at
//! 32x32 and upsampled (bilinear) to 224x224. Every iteration samples and applies.
//!
//! Regime: one thread (criterion's, no rayon), CPU, one image per iteration. Images come
//! from the CIFAR-10 JPEG tar (`ADVBN_CIFAR_TAR`, else `shared/data/cifar10-jpg.tar.gz` one
//! or two levels above the workspace), the first 64 `test/` images in the tar's order; without
//! the tar, the three CIFAR images of the Pillow fixtures. The Pillow+NumPy counterpart is
//! `scripts/bench/pillow_augmix.py`, which reads the same images.
//!
//! `cargo bench -p advbn-augmenters --bench augmenters` (stylizers at 32x32 only:
//! `... --bench augmenters -- '32x32/(randconv|fourier|color|random)'`)

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use advbn_augmenters::ops::OpParams;
use advbn_augmenters::{AugMix, Augment, ImageSize, SampleKey, StageContext, stylize};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::RgbImage;

#[path = "../examples/support/cifar.rs"]
mod cifar;

fn cifar_images(n: usize) -> Vec<RgbImage> {
    if let Some(path) = cifar::default_tar() {
        return cifar::test_images(&path, n).expect("read the CIFAR tar");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pillow");
    ["cifar_airplane.png", "cifar_cat.png", "cifar_frog.png"]
        .iter()
        .map(|f| image::open(dir.join(f)).expect("fixture image").to_rgb8())
        .collect()
}

fn upsample(images: &[RgbImage], size: u32) -> Vec<RgbImage> {
    images
        .iter()
        .map(|img| image::imageops::resize(img, size, size, image::imageops::FilterType::Triangle))
        .collect()
}

/// A mid-severity value per op (what severity 3 typically draws), scaled to the image size
/// for translations.
fn typical_ops(size: u32) -> Vec<OpParams> {
    let t = (size / 10).max(1) as f64;
    vec![
        OpParams::Autocontrast,
        OpParams::Equalize,
        OpParams::Posterize { bits: 3 },
        OpParams::Solarize { threshold: 200 },
        OpParams::Rotate { degrees: 4.0 },
        OpParams::ShearX { factor: 0.045 },
        OpParams::ShearY { factor: -0.045 },
        OpParams::TranslateX { pixels: t },
        OpParams::TranslateY { pixels: -t },
        OpParams::Color { factor: 0.37 },
        OpParams::Contrast { factor: 0.37 },
        OpParams::Brightness { factor: 0.37 },
        OpParams::Sharpness { factor: 0.37 },
    ]
}

fn benches(c: &mut Criterion) {
    let small = cifar_images(64);
    for (size, images) in [(32u32, small.clone()), (224, upsample(&small, 224))] {
        let mut group = c.benchmark_group(format!("{size}x{size}"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for op in typical_ops(size) {
            let mut i = 0;
            group.bench_function(op.op().name(), |b| {
                b.iter(|| {
                    i = (i + 1) % images.len();
                    black_box(op.apply(&images[i]))
                })
            });
        }
        let augmix = AugMix::default();
        let mut i = 0u64;
        group.bench_function("augmix", |b| {
            b.iter(|| {
                i += 1;
                let img = &images[i as usize % images.len()];
                black_box(augmix.augment(img, &mut SampleKey::new(0, 0, i).view(1).rng()))
            })
        });
        for (name, stage) in stylize::default_stages() {
            let partnered = [false, true];
            for with_partner in partnered {
                if with_partner && !stage.needs_partner() {
                    continue;
                }
                let label = if stage.needs_partner() && !with_partner {
                    format!("{name}-nopartner")
                } else {
                    name.to_string()
                };
                let mut i = 0u64;
                group.bench_function(label, |b| {
                    b.iter(|| {
                        i += 1;
                        let n = images.len();
                        let img = &images[i as usize % n];
                        let context = if with_partner {
                            StageContext::with_partner(&images[(i as usize + 1) % n])
                        } else {
                            StageContext::default()
                        };
                        let mut rng = SampleKey::new(0, 0, i).view(1).rng();
                        let params = stage.sample(&mut rng, ImageSize::of(img));
                        black_box(stage.apply_with(
                            advbn_augmenters::Image::Rgb8(img.clone()),
                            &params,
                            context,
                        ))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(augmenter_benches, benches);
criterion_main!(augmenter_benches);
