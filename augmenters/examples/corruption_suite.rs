//! Times the generation of a CIFAR-10-C-sized corrupted suite: N test images x the 15
//! benchmark corruptions x 5 severities, rayon over images on all cores.
//!
//! ```text
//! cargo run --release -p advbn-augmenters --example corruption_suite -- \
//!     [--tar cifar10-jpg.tar.gz] [--n 10000] [--preset cifar|imagenet] [--all]
//! ```
//!
//! `--tar` reads the `test/<class>/NNNN.jpg` members of a CIFAR-10 JPEG tarball (cycled if it
//! has fewer than N); without it the images are synthetic 32x32 textures. `--all` adds the
//! four held-out corruptions.

use advbn_augmenters::corrupt::{Corruption, Preset, time_suite};
use image::RgbImage;

#[path = "support/cifar.rs"]
mod cifar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut tar_path, mut n, mut preset, mut all) = (None, 10_000usize, Preset::Cifar, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tar" => tar_path = args.next(),
            "--n" => n = args.next().ok_or("--n needs a value")?.parse()?,
            "--preset" => preset = args.next().ok_or("--preset needs a value")?.parse()?,
            "--all" => all = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut images = match &tar_path {
        Some(p) => cifar::test_images(p, n)?,
        None => synthetic(n),
    };
    if images.is_empty() {
        return Err("no images".into());
    }
    let base = images.len();
    while images.len() < n {
        images.push(images[images.len() % base].clone());
    }
    let corruptions: &[Corruption] = if all {
        &Corruption::ALL
    } else {
        &Corruption::BENCHMARK_15
    };
    eprintln!(
        "{} images ({} distinct) of {:?}, {} corruptions x 5 severities",
        images.len(),
        base,
        images[0].dimensions(),
        corruptions.len()
    );
    let timing = time_suite(&images, corruptions, preset, 0, |c, d| {
        eprintln!("  {:<18} {:7.2} s", c.name(), d.as_secs_f64())
    })?;
    println!("{}", timing.table());
    Ok(())
}

fn synthetic(n: usize) -> Vec<RgbImage> {
    (0..n.min(256))
        .map(|i| {
            let i = i as u32;
            RgbImage::from_fn(32, 32, |x, y| {
                let check = if ((x + i) / 4 + y / 4).is_multiple_of(2) {
                    50
                } else {
                    0
                };
                image::Rgb([(x * 7 + i) as u8, (y * 7 + check) as u8, ((x + y + i) * 3) as u8])
            })
        })
        .collect()
}
