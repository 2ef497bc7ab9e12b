//! Images per second of each stylizer (default config) and of AugMix (for reference) on one
//! thread, by wall-clock time and by the thread's on-CPU time (Linux
//! `/proc/thread-self/schedstat`), which stays meaningful on a loaded machine where the wall
//! clock also counts time spent waiting for a core. Every iteration samples and applies one
//! view, as the criterion bench `augmenters` does; `fourier_mix` and `color_transfer` take the
//! next image of the set as partner (`-nopartner`: none).
//!
//! ```text
//! cargo run --release -p advbn-augmenters --example stylize_throughput -- \
//!     [--tar cifar10-jpg.tar.gz] [--n 256] [--size 32] [--seconds 2] [--only NAME]
//! ```

use std::time::Instant;

use advbn_augmenters::{AugMix, Image, ImageSize, PixelStage, SampleKey, StageContext, stylize};
use image::RgbImage;

#[path = "support/cifar.rs"]
mod cifar;

fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut tar, mut n, mut size, mut seconds, mut only) = (None, 256usize, 32u32, 2.0f64, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tar" => tar = args.next(),
            "--n" => n = args.next().ok_or("--n needs a value")?.parse()?,
            "--size" => size = args.next().ok_or("--size needs a value")?.parse()?,
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--only" => only = args.next(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut images = match tar {
        Some(path) => cifar::test_images(&path, n)?,
        None => (0..n as u32)
            .map(|i| {
                RgbImage::from_fn(32, 32, |x, y| {
                    image::Rgb([(x * 8 + i) as u8, (y * 8) as u8, ((x ^ y) * 8 + 3 * i) as u8])
                })
            })
            .collect(),
    };
    if images.is_empty() {
        return Err("no images".into());
    }
    if size != 32 {
        images = images
            .iter()
            .map(|img| image::imageops::resize(img, size, size, image::imageops::FilterType::Triangle))
            .collect();
    }
    let mut rows: Vec<(String, PixelStage, bool)> =
        vec![("augmix".into(), PixelStage::Augmix(AugMix::default()), false)];
    for (name, stage) in stylize::default_stages() {
        if stage.needs_partner() {
            rows.push((format!("{name}-nopartner"), stage.clone(), false));
        }
        let partner = stage.needs_partner();
        rows.push((name.to_string(), stage, partner));
    }
    println!(
        "{} images of {size}x{size}, one thread, at least {seconds}s per row",
        images.len()
    );
    println!("{:<26} {:>14} {:>14}", "stage", "images/s wall", "images/s cpu");
    for (name, stage, with_partner) in rows {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let mut count = 0u64;
        let start = Instant::now();
        let cpu0 = on_cpu_ns();
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..64 {
                let i = count as usize % images.len();
                let img = &images[i];
                let context = if with_partner {
                    StageContext::with_partner(&images[(i + 1) % images.len()])
                } else {
                    StageContext::default()
                };
                let mut rng = SampleKey::new(0, 0, count).view(1).rng();
                let params = stage.sample(&mut rng, ImageSize::of(img));
                std::hint::black_box(stage.apply_with(Image::Rgb8(img.clone()), &params, context));
                count += 1;
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu = match (cpu0, on_cpu_ns()) {
            (Some(a), Some(b)) => format!("{:>14.0}", count as f64 / ((b - a) as f64 * 1e-9)),
            _ => format!("{:>14}", "n/a"),
        };
        println!("{name:<26} {:>14.0} {cpu}", count as f64 / wall);
    }
    Ok(())
}
