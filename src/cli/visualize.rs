//! `advbn visualize`: what AdvBN does in a trained run.

use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;

use super::common::{CliError, CliResult, device, load_data, parse_data, run_recipe};
use super::images::{create_out_dir, write_png};
use crate::data::{BatchPlan, LoadOptions, make_batch};
use crate::eval::chart::write_chart;
use crate::eval::visualize::{FactorHeatmap, factors_from_metrics, render_feature_grid};
use crate::feature::{AdvBn, AdvBnConfig};
use crate::model::{BnMode, Cut, SplitModel};
use crate::train::{Checkpoint, RunData, checkpoint_path, load_network, metrics_path};

/// Arguments of `advbn visualize`.
#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// The run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the PNGs (default: the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Test images in the feature grid.
    #[arg(long, default_value_t = 4)]
    pub images: usize,
    /// Channels shown per image.
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run(args: VisualizeArgs) -> CliResult {
    if args.images == 0 || args.channels == 0 {
        return Err(CliError("--images and --channels must be at least 1".into()));
    }
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    create_out_dir(&out)?;
    let recipe = run_recipe(&args.run)?;
    let config = recipe.advbn().cloned();
    let ck = Checkpoint::load(&checkpoint_path(&args.run)).map_err(CliError)?;

    match &config {
        Some(cfg) => {
            let metrics = std::fs::read_to_string(metrics_path(&args.run))
                .map_err(|e| CliError(format!("{}: cannot read metrics.jsonl ({e})", args.run.display())))?;
            let log = factors_from_metrics(&metrics);
            if log.is_empty() {
                eprintln!("note: the run's metrics hold no attack factors (AdvBN never ran)");
            } else {
                let heatmap = FactorHeatmap {
                    log: &log,
                    epsilon: cfg.epsilon as f32,
                };
                write_chart(&out, "advbn_factors", &heatmap).map_err(CliError)?;
                let path = out.join("advbn_factors.png");
                println!("factors over {} steps: {} (and .svg)", log.len(), path.display());
            }
        }
        None => eprintln!(
            "note: recipe `{}` has no AdvBN; the feature grid uses the default attack at stage 1",
            recipe.name
        ),
    }

    let device = device(&args.device)?.autodiff();
    let model = load_network(&ck, &device).map_err(CliError)?;
    let data = RunData::read(&args.run).map_err(CliError)?;
    let splits = load_data(
        &parse_data(&data.spec)?,
        &LoadOptions {
            train_limit: Some(1),
            test_limit: Some(args.images.max(ck.state.classes)),
            seed: recipe.train.seed,
            files: recipe.data.file_options(),
        },
    )?;
    let splits = recipe.prepare_eval(splits);
    let count = args.images.min(splits.test.len());
    let indices: Vec<usize> = (0..count).collect();
    let batch = make_batch(
        &splits.test,
        &indices,
        &BatchPlan::eval(recipe.data.normalization),
        0,
    )
    .map_err(CliError::from_display)?;
    let (images, _) = batch.to_tensors(&device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(batch.targets.clone(), [count]), &device);
    let cfg = config.unwrap_or_else(|| AdvBnConfig {
        cut: Cut::Stage1,
        ..AdvBnConfig::default()
    });
    let adversary = AdvBn::new(cfg.clone()).map_err(CliError::from_display)?;
    let features = model.segment(images, Cut::Input, cfg.cut, BnMode::EVAL);
    let dims = features.dims();
    let attack = adversary.attack(&model, features.clone(), targets);
    let floats = |t: Tensor<4>| {
        t.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| CliError(format!("{e:?}")))
    };
    let shown: Vec<image::RgbImage> = (0..count)
        .map(|i| splits.test.load(i).map(std::borrow::Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(CliError::from_display)?;
    let grid = render_feature_grid(
        &shown,
        &floats(features.detach())?,
        &floats(attack.features)?,
        dims,
        args.channels,
    )
    .map_err(CliError)?;
    let path = out.join("advbn_features.png");
    write_png(&path, &grid)?;
    println!(
        "feature maps at {} before/after the attack ({} images, {} of {} channels): {}",
        cfg.cut,
        count,
        args.channels.min(dims[1]),
        dims[1],
        path.display()
    );
    Ok(())
}
