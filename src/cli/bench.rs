//! `advbn bench`: images per second of each augmentation op and of AugMix, on real CIFAR
//! images, one thread and all threads; with `--train`, training-step throughput.

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult, device, load_data, parse_data};
use crate::augmenters::corrupt::{Corruption, Preset, time_suite};
use crate::augmenters::ops::{Op, op_names};
use crate::augmenters::stylize::default_stages;
use crate::augmenters::{
    AugMix, AugMixVariant, HorizontalFlip, ImageSize, Pipeline, PixelStage, RandomResizedCrop, SampleKey,
    StageContext,
};
use crate::bench::{
    AugmentBenchRow, StepDriver, TrainBenchRow, TrainShape, images_from_tar_gz, time_images, time_items,
    train_throughput,
};
use crate::data::{BatchPlan, DataSpec, FileOptions, LoadOptions, Normalization, OnCorrupt, make_batch};
use crate::model::Arch;

/// Arguments of `advbn bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Image side: 32 (CIFAR) or 224 (CIFAR upsampled bilinearly); with --pipeline, the
    /// crop size (default 224); with --train, the side of the random training images
    /// (default 32; 224 for the ImageNet ResNets as trained on photos).
    #[arg(long)]
    pub size: Option<u32>,
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
    /// With --train: also time each step as burn-train's `Learner` drives it
    /// (`RobustModel`: `TrainStep::step`, then `optimize`), beside `advbn train`'s loop.
    #[arg(long, requires = "train")]
    pub burn_train: bool,
    /// Device for --train.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Time the whole per-image training input path of photo recipes instead: read the
    /// file, decode, random_resized_crop to --size (bilinear), flip, one AugMix view at
    /// severity 3, normalise to f32 CHW with ImageNet's mean/std. Needs --data.
    #[arg(long, requires = "data")]
    pub pipeline: bool,
    /// The image folder for --pipeline (`folder:PATH`; its train split, at most --count
    /// files, re-read and decoded at every pass: only the operating system's file cache
    /// helps).
    #[arg(long, value_name = "SPEC")]
    pub data: Option<String>,
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
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(CliError(format!(
            "--seconds is {}, it must be positive",
            args.seconds
        )));
    }
    if args.pipeline {
        return pipeline_rows(&args);
    }
    let size = args.size.unwrap_or(32);
    if size != 32 && size != 224 {
        return Err(CliError(format!("--size is {size}, valid: 32, 224")));
    }
    let thread_counts = thread_counts(&args)?;
    if args.count == 0 {
        return Err(CliError("--count must be at least 1".into()));
    }
    let mut images = images_from_tar_gz(&args.images, args.count).map_err(CliError)?;
    if size != 32 {
        images = images
            .iter()
            .map(|img| image::imageops::resize(img, size, size, image::imageops::FilterType::Triangle))
            .collect();
    }
    eprintln!(
        "{} images of {s}x{s} from {}; at least {}s per row",
        images.len(),
        args.images.display(),
        args.seconds,
        s = size
    );
    let mut rows = Vec::new();
    let mut record = |name: &str, threads: usize, images_per_s: f64| {
        println!("{name:<18} {size:>4}px {threads:>3} thread(s) {images_per_s:>12.0} images/s");
        rows.push(AugmentBenchRow {
            name: name.to_string(),
            size,
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

fn thread_counts(args: &BenchArgs) -> CliResult<Vec<usize>> {
    let all = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if all == 0 {
        return Err(CliError("--threads must be at least 1".into()));
    }
    Ok(if all > 1 { vec![1, all] } else { vec![1] })
}

/// The per-image training input path of a photo recipe, timed on one thread and on all.
fn pipeline_rows(args: &BenchArgs) -> CliResult {
    let size = args.size.unwrap_or(224);
    if !(8..=4096).contains(&size) {
        return Err(CliError(format!("--size is {size}, valid: 8 to 4096")));
    }
    if args.count == 0 {
        return Err(CliError("--count must be at least 1".into()));
    }
    let spec = parse_data(args.data.as_deref().expect("clap requires --data"))?;
    if !matches!(spec, DataSpec::Folder(_)) {
        return Err(CliError(format!(
            "--pipeline times photo folders: --data must be `folder:PATH`, not `{spec}`"
        )));
    }
    let splits = load_data(
        &spec,
        &LoadOptions {
            train_limit: Some(args.count),
            test_limit: Some(1),
            files: FileOptions {
                cache_bytes: 0,
                on_corrupt: OnCorrupt::Error,
            },
            ..Default::default()
        },
    )?;
    let train = splits.train;
    let plan = BatchPlan {
        pipeline: Pipeline::new(vec![
            PixelStage::RandomResizedCrop(RandomResizedCrop {
                size,
                ..RandomResizedCrop::default()
            }),
            PixelStage::HorizontalFlip(HorizontalFlip::default()),
            PixelStage::Augmix(AugMix {
                severity: 3,
                ..AugMix::default()
            }),
        ])
        .map_err(CliError::from_display)?,
        augmented_views: 1,
        include_clean: false,
        normalization: Normalization::IMAGENET,
        run_seed: 0,
    };
    // One pass first, outside the timing, so that a corrupt file stops here with its name.
    make_batch(&train, &(0..train.len()).collect::<Vec<_>>(), &plan, 0).map_err(CliError::from_display)?;
    eprintln!(
        "{} files of {}: decode, random_resized_crop {size}, flip, AugMix (severity 3), normalise; at least {}s per row",
        train.len(),
        spec,
        args.seconds
    );
    let mut rows = Vec::new();
    for threads in thread_counts(args)? {
        let work = |i: usize| {
            let batch = make_batch(&train, &[i], &plan, 0).expect("decoded in the first pass");
            std::hint::black_box(batch.images);
        };
        let images_per_s = time_items(train.len(), threads, args.seconds, &work);
        println!("pipeline {size:>4}px {threads:>3} thread(s) {images_per_s:>10.1} images/s");
        rows.push(AugmentBenchRow {
            name: "pipeline".into(),
            size,
            threads,
            images_per_s,
        });
    }
    if let [one, all] = rows.as_slice() {
        println!(
            "scaling: {:.2}x from 1 to {} threads",
            all.images_per_s / one.images_per_s,
            all.threads
        );
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
    let size = args.size.unwrap_or(32);
    if !(8..=1024).contains(&size) {
        return Err(CliError(format!(
            "--size is {size}, valid for --train: 8 to 1024"
        )));
    }
    let shape = TrainShape {
        batch: args.batch,
        size: size as usize,
    };
    let device = device(&args.device)?;
    let mut rows: Vec<TrainBenchRow> = Vec::new();
    for model in &args.models {
        let arch: Arch = model.parse().map_err(CliError)?;
        let mut pair = Vec::new();
        for advbn in [false, true] {
            // Side by side: the same step driven by advbn's loop and by burn-train's calls.
            let drivers: &[StepDriver] = if args.burn_train {
                &[StepDriver::Advbn, StepDriver::BurnTrain]
            } else {
                &[StepDriver::Advbn]
            };
            for &driver in drivers {
                eprintln!(
                    "timing {} {arch} steps ({driver} loop), batch {} at {size}px...",
                    if advbn { "advbn" } else { "plain" },
                    args.batch
                );
                let row = train_throughput(arch, shape, advbn, driver, 1, args.steps.max(1), &device);
                println!(
                    "{:<6} {:<16} {:<10} batch {:>4} {:>4}px {:>10.1} images/s",
                    row.name, row.model, row.driver, row.batch, row.size, row.images_per_s
                );
                if driver == StepDriver::Advbn {
                    pair.push(row.images_per_s);
                }
                rows.push(row);
            }
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
