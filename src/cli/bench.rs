//! `advbn bench`: images per second of each augmentation op and of AugMix, on real CIFAR
//! images, one thread and all threads; with `--train`, training-step throughput.

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult, device};
use crate::augmenters::corrupt::{Corruption, Preset, time_suite};
use crate::augmenters::ops::{Op, op_names};
use crate::augmenters::stylize::default_stages;
use crate::augmenters::{AugMix, AugMixVariant, ImageSize, Pipeline, PixelStage, SampleKey, StageContext};
use crate::bench::{AugmentBenchRow, TrainBenchRow, images_from_tar_gz, time_images, train_throughput};
use crate::model::Arch;

/// Arguments of `advbn bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Image side: 32 (CIFAR) or 224 (CIFAR upsampled bilinearly).
    #[arg(long, default_value_t = 32)]
    pub size: u32,
    /// Threads for the multi-threaded rows (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the rows as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The image archive to read test images from.
    #[arg(
        long,
        value_name = "TAR_GZ",
        env = "ADVBN_CIFAR_TAR",
        default_value = "../shared/data/cifar10-jpg.tar.gz"
    )]
    pub images: PathBuf,
    /// Number of images in the timed set.
    #[arg(long, default_value_t = 256)]
    pub count: usize,
    /// Minimum seconds per row.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Measure training steps instead: plain vs AdvBN (6 steps, cut after stage 1).
    #[arg(long)]
    pub train: bool,
    /// Time the corruption suite instead: the `--count` images x 15 benchmark corruptions x 5
    /// severities (`--count 10000` is the size of CIFAR-10-C), all threads.
    #[arg(long)]
    pub corruptions: bool,
    /// Corruption preset for --corruptions.
    #[arg(long, default_value = "cifar")]
    pub preset: String,
    /// Models for --train (comma-separated).
    #[arg(long, default_value = "resnet20,preact_resnet18", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Batch size for --train.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps per row for --train (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Device for --train.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run(args: BenchArgs) -> CliResult {
    if let Some(path) = &args.json {
        // Before the measurements, not after them.
        super::common::check_parent_exists(path)?;
    }
    if args.train {
        return train_rows(&args);
    }
    if args.corruptions {
        return corruption_suite(&args);
    }
    if args.size != 32 && args.size != 224 {
        return Err(CliError(format!("--size is {}, valid: 32, 224", args.size)));
    }
    let all = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if all == 0 {
        return Err(CliError("--threads must be at least 1".into()));
    }
    if args.count == 0 {
        return Err(CliError("--count must be at least 1".into()));
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(CliError(format!(
            "--seconds is {}, it must be positive",
            args.seconds
        )));
    }
    let mut images = images_from_tar_gz(&args.images, args.count).map_err(CliError)?;
    if args.size != 32 {
        images = images
            .iter()
            .map(|img| {
                image::imageops::resize(img, args.size, args.size, image::imageops::FilterType::Triangle)
            })
            .collect();
    }
    let thread_counts: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };
    eprintln!(
        "{} images of {s}x{s} from {}; at least {}s per row",
        images.len(),
        args.images.display(),
        args.seconds,
        s = args.size
    );
    let mut rows = Vec::new();
    let mut record = |name: &str, threads: usize, images_per_s: f64| {
        println!(
            "{name:<18} {:>4}px {threads:>3} thread(s) {images_per_s:>12.0} images/s",
            args.size
        );
        rows.push(AugmentBenchRow {
            name: name.to_string(),
            size: args.size,
            threads,
            images_per_s,
        });
    };
    for &threads in &thread_counts {
        for name in op_names() {
            let op = Op::from_name(name).expect("listed op");
            let work = |i: usize, img: &image::RgbImage| {
                let mut rng = SampleKey::new(0, 0, i as u64).rng();
                let params = op.sample(3.0, &mut rng, ImageSize::of(img));
                std::hint::black_box(params.apply(img));
            };
            record(name, threads, time_images(&images, threads, args.seconds, &work));
        }
        for (name, stage) in default_stages() {
            let pipeline = Pipeline::new(vec![stage]).expect("default stylizer");
            // Stylizers that mix with a partner get the next image of the set.
            let work = |i: usize, img: &image::RgbImage| {
                let partner = &images[(i + 1) % images.len()];
                let context = StageContext::with_partner(partner);
                std::hint::black_box(pipeline.run_with(img, SampleKey::new(0, 0, i as u64), 1, context));
            };
            record(name, threads, time_images(&images, threads, args.seconds, &work));
        }
        let paper = Pipeline::new(vec![PixelStage::Augmix(AugMix::default())]).expect("default AugMix");
        let torchvision = Pipeline::new(vec![PixelStage::Augmix(AugMix {
            variant: AugMixVariant::Torchvision,
            ..AugMix::default()
        })])
        .expect("torchvision AugMix");
        let augmix_rows = [
            ("augmix", &paper, 1usize),
            ("augmix-jsd", &paper, 2),
            ("augmix-torchvision", &torchvision, 1),
        ];
        for (name, pipeline, views) in augmix_rows {
            let work = |i: usize, img: &image::RgbImage| {
                std::hint::black_box(pipeline.run(img, SampleKey::new(0, 0, i as u64), views));
            };
            record(name, threads, time_images(&images, threads, args.seconds, &work));
        }
    }
    write_json(&args.json, &rows)
}

fn corruption_suite(args: &BenchArgs) -> CliResult {
    let preset: Preset = args.preset.parse().map_err(CliError)?;
    if args.count == 0 {
        return Err(CliError("--count must be at least 1".into()));
    }
    let images = images_from_tar_gz(&args.images, args.count).map_err(CliError)?;
    eprintln!(
        "corrupting {} images x {} corruptions x 5 severities ({preset} preset, {} threads)...",
        images.len(),
        Corruption::BENCHMARK_15.len(),
        rayon::current_num_threads()
    );
    let timing = time_suite(&images, &Corruption::BENCHMARK_15, preset, 0, |c, d| {
        eprintln!("  {:<18} {:>7.2}s", c.name(), d.as_secs_f64());
    })
    .map_err(CliError::from_display)?;
    println!("{}", timing.table());
    let rows: Vec<AugmentBenchRow> = timing
        .per_corruption
        .iter()
        .map(|(c, d)| AugmentBenchRow {
            name: c.name().to_string(),
            size: images[0].width(),
            threads: timing.threads,
            images_per_s: (5 * images.len()) as f64 / d.as_secs_f64().max(1e-9),
        })
        .collect();
    write_json(&args.json, &rows)
}

fn train_rows(args: &BenchArgs) -> CliResult {
    if args.batch < 2 {
        return Err(CliError(format!(
            "--batch is {}, it must be at least 2 (batch norm needs two samples)",
            args.batch
        )));
    }
    let device = device(&args.device)?;
    let mut rows: Vec<TrainBenchRow> = Vec::new();
    for model in &args.models {
        let arch: Arch = model.parse().map_err(CliError)?;
        let mut pair = Vec::new();
        for advbn in [false, true] {
            eprintln!(
                "timing {} {arch} steps, batch {}...",
                if advbn { "advbn" } else { "plain" },
                args.batch
            );
            let row = train_throughput(arch, args.batch, advbn, 1, args.steps.max(1), &device);
            println!(
                "{:<6} {:<16} batch {:>4} {:>10.1} images/s",
                row.name, row.model, row.batch, row.images_per_s
            );
            pair.push(row.images_per_s);
            rows.push(row);
        }
        println!(
            "{arch}: an AdvBN step costs {:.2}x a plain step",
            pair[0] / pair[1]
        );
    }
    write_json(&args.json, &rows)
}

fn write_json<T: serde::Serialize>(path: &Option<PathBuf>, rows: &[T]) -> CliResult {
    if let Some(path) = path {
        super::common::check_parent_exists(path)?;
        std::fs::write(path, serde_json::to_string_pretty(rows).expect("json"))
            .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
