//! `advbn eval`.

use std::path::PathBuf;

use clap::Args;

use super::common::{
    CliError, CliResult, check_parent_exists, device, interactive, load_data, parse_data, run_recipe,
};
use crate::augmenters::corrupt::Corruption;
use crate::data::LoadOptions;
use crate::eval::evaluate;
use crate::eval::report::{summarize, write_csv};
use crate::eval::robustness::{Candidate, RobustnessPlan, evaluate_robustness, shift_sets};
use crate::model::BnBranch;
use crate::train::{Checkpoint, RunData, checkpoint_path, load_network};

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
    /// Also evaluate on every corruption at every severity of the recipe's `[eval]`.
    #[arg(long)]
    pub corruptions: bool,
    /// Also evaluate on the dataset's style-shift sets.
    #[arg(long)]
    pub shift: bool,
    /// Write every result as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> CliResult {
    if let Some(path) = &args.csv {
        // Before the evaluation, not after it.
        check_parent_exists(path)?;
    }
    let recipe = run_recipe(&args.run)?;
    let branch: BnBranch = args.bn_branch.parse().map_err(CliError)?;
    let ck = Checkpoint::load(&checkpoint_path(&args.run)).map_err(CliError)?;
    let device = device(&args.device)?;
    let model = load_network(&ck, &device).map_err(CliError)?;
    let trained_on = RunData::read(&args.run).map_err(CliError)?;
    let spec = parse_data(args.data.as_deref().unwrap_or(&trained_on.spec))?;
    // The run's own test limit applies to the run's own data; another data set is evaluated
    // whole unless --test-limit says otherwise.
    let same_data = spec.to_string() == parse_data(&trained_on.spec)?.to_string();
    let test_limit = args.test_limit.or(trained_on.test_limit.filter(|_| same_data));
    let splits = load_data(
        &spec,
        &LoadOptions {
            train_limit: Some(1),
            test_limit,
            seed: recipe.train.seed,
            files: recipe.data.file_options(),
        },
    )?;
    let splits = recipe.prepare_eval(splits);
    if splits.classes().len() != ck.state.classes {
        return Err(CliError(format!(
            "{spec} has {} classes, the model was trained on {}",
            splits.classes().len(),
            ck.state.classes
        )));
    }
    if !args.corruptions && !args.shift {
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
        return Ok(());
    }
    let plan = RobustnessPlan {
        corruptions: if args.corruptions {
            Corruption::ALL.to_vec()
        } else {
            Vec::new()
        },
        severities: recipe.eval.severities.clone(),
        preset: recipe.eval.preset.parse().map_err(CliError)?,
        seed: recipe.train.seed,
        branch,
        batch_size: recipe.eval.batch_size,
        progress: interactive(),
    };
    let shifts = if args.shift {
        shift_sets(&splits, recipe.train.seed).map_err(CliError)?
    } else {
        Vec::new()
    };
    let candidate = Candidate {
        name: recipe.name.clone(),
        model,
        normalization: recipe.data.normalization,
    };
    let records =
        evaluate_robustness(&[candidate], &splits.test, &shifts, &plan, &device).map_err(CliError)?;
    let rows = summarize(&records, &[(recipe.name.clone(), 0.0)], None);
    let row = &rows[0];
    println!("{} (BN branch {branch}):", recipe.name);
    println!("  clean error            {:.2}%", row.clean_error);
    if let Some(m) = row.mean_corruption_error {
        println!(
            "  mean corruption error  {m:.2}% (15 benchmark corruptions, severities {:?})",
            plan.severities
        );
    }
    if let Some(h) = row.held_out_error {
        println!("  held-out corruptions   {h:.2}%");
    }
    if let Some(s) = row.shift_error {
        println!("  style-shift error      {s:.2}%");
    }
    if let Some(path) = &args.csv {
        check_parent_exists(path)?;
        write_csv(path, &records).map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
        println!("results: {}", path.display());
    }
    Ok(())
}
