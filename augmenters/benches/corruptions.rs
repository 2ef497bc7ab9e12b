//! Per-corruption throughput on 32x32 images (the CIFAR-10-C regime), one thread: each
//! iteration corrupts one image at severity 3 with the `cifar` preset, params sampled fresh
//! per iteration (as the suite generator does). Run with `cargo bench -p advbn-augmenters`.

use advbn_augmenters::SampleKey;
use advbn_augmenters::corrupt::{Corrupter, Corruption, Preset};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::RgbImage;

fn test_image() -> RgbImage {
    // A deterministic textured image (smooth gradients plus a checker), not a flat one, so
    // edge-dependent corruptions (spatter, JPEG) do representative work.
    RgbImage::from_fn(32, 32, |x, y| {
        let check = if (x / 4 + y / 4).is_multiple_of(2) { 40 } else { 0 };
        image::Rgb([(x * 7 + check) as u8, (y * 7) as u8, ((x + y) * 3 + check) as u8])
    })
}

fn corruptions(c: &mut Criterion) {
    let img = test_image();
    let mut group = c.benchmark_group("corrupt_32x32_cifar_s3");
    group.throughput(Throughput::Elements(1));
    for corruption in Corruption::ALL {
        let corrupter = Corrupter::with(corruption, 3, Preset::Cifar).expect("valid");
        let mut i = 0u64;
        group.bench_function(corruption.name(), |b| {
            b.iter(|| {
                i += 1;
                corrupter.corrupt(&img, SampleKey::new(0, 0, i))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, corruptions);
criterion_main!(benches);
