//! Single-thread AugMix throughput (paper variant, severity 3, one view) on the CIFAR-10
//! test images, as images per wall-clock second and per CPU second of this thread: the
//! side-by-side counterpart of `scripts/bench/pillow_augmix.py`, which prints the same
//! fields. On a shared machine the CPU-second figure is the one to compare (it excludes time
//! spent waiting for a core); the criterion bench (`benches/augmenters.rs`) has per-op rows.
//!
//! `cargo run --release -p advbn-augmenters --example augmix_rate -- [--seconds 2] [--repeats 5] [--sizes 32,224] [--op NAME] [--images 64]`
//!
//! `--op NAME` times one op instead (its value drawn at severity 3), written into a reused
//! buffer as AugMix does; `--images 1` keeps the image hot in the caches, the situation of an
//! op inside AugMix (by default 64 images cycle, which at 224x224 exceeds the L2 cache).

use std::time::Instant;

use advbn_augmenters::ops::Op;
use advbn_augmenters::{AugMix, Augment, ImageSize, SampleKey};
use image::RgbImage;

#[path = "support/cifar.rs"]
mod cifar;

/// On-CPU time of this thread in seconds (Linux schedstat), or `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let seconds: f64 = arg("--seconds").map_or(2.0, |s| s.parse().expect("--seconds"));
    let repeats: usize = arg("--repeats").map_or(5, |s| s.parse().expect("--repeats"));
    let op = arg("--op").map(|name| Op::from_name(&name).unwrap_or_else(|e| panic!("{e}")));
    let sizes: Vec<u32> = arg("--sizes").map_or(vec![32, 224], |s| {
        s.split(',').map(|v| v.parse().expect("--sizes")).collect()
    });
    let count: usize = arg("--images").map_or(64, |s| s.parse().expect("--images"));
    let tar = cifar::default_tar().expect("CIFAR-10 tar not found; set ADVBN_CIFAR_TAR");
    let small = cifar::test_images(&tar, count).expect("read the CIFAR tar");
    for size in sizes {
        let images: Vec<RgbImage> = if size == 32 {
            small.clone()
        } else {
            small
                .iter()
                .map(|img| image::imageops::resize(img, size, size, image::imageops::FilterType::Triangle))
                .collect()
        };
        let augmix = AugMix::default();
        let mut counter = 0u64;
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let mut run = |budget: f64| -> (f64, f64) {
            let (t0, c0) = (Instant::now(), thread_cpu_seconds());
            let mut done = 0u64;
            loop {
                for img in &images {
                    counter += 1;
                    let mut rng = SampleKey::new(0, 0, counter).view(1).rng();
                    match op {
                        None => drop(std::hint::black_box(augmix.augment(img, &mut rng))),
                        Some(op) => {
                            let p = op.sample(3.0, &mut rng, ImageSize::of(img));
                            out.resize(img.len(), 0);
                            p.apply_into(img, img.width(), img.height(), &mut out, &mut scratch);
                            std::hint::black_box(&out);
                        }
                    }
                }
                done += images.len() as u64;
                let wall = t0.elapsed().as_secs_f64();
                if wall >= budget {
                    let cpu = match (c0, thread_cpu_seconds()) {
                        (Some(a), Some(b)) => b - a,
                        _ => f64::NAN,
                    };
                    return (done as f64 / wall, done as f64 / cpu);
                }
            }
        };
        run(0.3);
        let rates: Vec<(f64, f64)> = (0..repeats).map(|_| run(seconds)).collect();
        let wall: Vec<String> = rates.iter().map(|r| format!("{:.1}", r.0)).collect();
        let cpu: Vec<String> = rates.iter().map(|r| format!("{:.1}", r.1)).collect();
        let name = op.map_or("augmix".to_string(), |o| o.name().to_string());
        println!(
            "{{\"name\": \"{name}\", \"impl\": \"rust\", \"size\": {size}, \"threads\": 1, \"images_per_s\": [{}], \"images_per_cpu_s\": [{}]}}",
            wall.join(", "),
            cpu.join(", ")
        );
    }
}
