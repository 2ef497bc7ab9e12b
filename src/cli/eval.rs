//! `advbn eval`.

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult, device, load_data, parse_data, run_recipe};
use super::train::read_run_data;
use crate::data::LoadOptions;
use crate::eval::evaluate;
use crate::model::BnBranch;
use crate::train::{Checkpoint, checkpoint_path, load_network};

/// Arguments of `advbn eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory (holding checkpoint.bin and recipe.toml).
    #[arg(long)]
    pub run: PathBuf,
    /// Data spec (default: what the run was trained on).
    #[arg(long)]
    pub data: Option<String>,
    /// Batch-norm branch: clean (default) or adv.
    #[arg(long, default_value = "clean")]
    pub bn_branch: String,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Use at most this many test images (stratified; default: what the run used).
    #[arg(long)]
    pub test_limit: Option<usize>,
}

pub fn run(args: EvalArgs) -> CliResult {
    let recipe = run_recipe(&args.run)?;
    let branch: BnBranch = args.bn_branch.parse().map_err(CliError)?;
    let ck = Checkpoint::load(&checkpoint_path(&args.run)).map_err(CliError)?;
    let device = device(&args.device)?;
    let model = load_network(&ck, &device).map_err(CliError)?;
    let trained_on = read_run_data(&args.run)?;
    let spec = parse_data(args.data.as_deref().unwrap_or(&trained_on.spec))?;
    let splits = load_data(
        &spec,
        &LoadOptions {
            train_limit: Some(1),
            test_limit: args.test_limit.or(trained_on.test_limit),
            seed: recipe.train.seed,
        },
    )?;
    if splits.classes().len() != ck.state.classes {
        return Err(CliError(format!(
            "{spec} has {} classes, the model was trained on {}",
            splits.classes().len(),
            ck.state.classes
        )));
    }
    let result = evaluate(
        &model,
        &splits.test,
        recipe.data.normalization,
        recipe.eval.batch_size,
        branch,
        &device,
    )
    .map_err(CliError)?;
    println!(
        "{}: clean test accuracy {:.2}% (error {:.2}%) on {} images, BN branch {branch}",
        recipe.name,
        100.0 * result.accuracy,
        100.0 * result.error(),
        result.samples
    );
    Ok(())
}
