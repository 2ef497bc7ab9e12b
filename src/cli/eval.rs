//! `advbn eval`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{
    CliError, CliResult, check_parent_exists, device, interactive, load_data, parse_data, run_recipe,
};
use super::train::classes_path;
use crate::augmenters::corrupt::Corruption;
use crate::data::{BenchKind, BenchSpec, DataSpec, DataSplits, LoadOptions, ModelClasses, open_bench};
use crate::eval::benchmark::{
    BenchOptions, Variant, bench_csv, bench_preprocess, bench_text, evaluate_bench, evaluate_variant,
};
use crate::eval::evaluate;
use crate::eval::report::{summarize, write_csv};
use crate::eval::robustness::{Candidate, RobustnessPlan, evaluate_robustness, shift_sets};
use crate::model::{BnBranch, Network};
use crate::recipe::Recipe;
use crate::train::{Checkpoint, RunData, checkpoint_path, load_network};

/// Arguments of `advbn eval`.
#[derive(Debug, Args)]
#[command(after_help = BENCH_HELP)]
pub struct EvalArgs {
    /// The run directory (holding checkpoint.bin and recipe.toml).
    #[arg(long)]
    pub run: PathBuf,
    /// Data spec (default: what the run was trained on), or a benchmark set:
    /// cifar10-c:PATH, cifar100-c:PATH, imagenet-c:PATH, imagenet-r:PATH, imagenet-a:PATH,
    /// imagenet-sketch:PATH, stylized-imagenet:PATH.
    #[arg(long)]
    pub data: Option<String>,
    /// Batch-norm branch: clean (default), adv, or both (each set with each branch).
    #[arg(long, default_value = "clean")]
    pub bn_branch: String,
    /// Also evaluate with test-time batch-norm adaptation (Schneider et al. 2020): each set
    /// (each corruption at each severity separately) first re-estimates the branch's
    /// batch-norm statistics, source statistics discarded; reported as its own column.
    #[arg(long)]
    pub bn_adapt: bool,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Use at most this many test images (stratified; default: what the run used). For a
    /// benchmark set: at most this many per corruption and severity.
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

const BENCH_HELP: &str = "\
Benchmark sets (--data SCHEME:PATH), read as released:
  cifar10-c, cifar100-c   <corruption>.npy (uint8 [N,32,32,3]) + labels.npy; severities from the
                          labels' period (or add ,severities=S); metric: mean corruption error
  imagenet-c              <corruption>/<severity>/<wnid>/*; metrics: CE and mCE vs AlexNet
                          (Hendrycks & Dietterich 2019), relative mCE (clean error: the run's test set)
  imagenet-r, imagenet-a  <wnid>/*; logits restricted to the set's 200 classes
  imagenet-sketch, stylized-imagenet   <wnid>/*; top-1 accuracy
--bn-adapt: full re-estimation of the branch's batch-norm statistics on each (sub)set: the
  size-weighted averages of the batch means and unbiased batch variances of one pass over it,
  source statistics discarded (PyTorch's momentum=None cumulative average).";

/// The branches `--bn-branch` names.
fn branches(text: &str) -> CliResult<Vec<BnBranch>> {
    match text {
        "both" => Ok(vec![BnBranch::Clean, BnBranch::Adv]),
        other => other
            .parse::<BnBranch>()
            .map(|b| vec![b])
            .map_err(|_| CliError(format!("unknown BN branch `{other}` (valid: clean, adv, both)"))),
    }
}

/// The variants to evaluate: each branch, without and (with `--bn-adapt`) with adaptation.
fn variants(branches: &[BnBranch], adapt: bool) -> Vec<Variant> {
    branches
        .iter()
        .flat_map(|&branch| {
            std::iter::once(Variant { branch, adapt: false })
                .chain(adapt.then_some(Variant { branch, adapt: true }))
        })
        .collect()
}

/// The model's classes: the run's `classes.txt` (written by `advbn train` and `advbn
/// study`), else the class list of the data the run was trained on when it loads, else
/// only their number.
pub(crate) fn model_classes(run_dir: &Path, count: usize, trained_on: &RunData) -> ModelClasses {
    let names = std::fs::read_to_string(classes_path(run_dir))
        .ok()
        .map(|t| {
            t.lines()
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .or_else(|| {
            let spec: DataSpec = trained_on.spec.parse().ok()?;
            let options = LoadOptions {
                train_limit: Some(1),
                test_limit: Some(1),
                ..LoadOptions::default()
            };
            spec.load(&options).ok().map(|s| s.classes().to_vec())
        })
        .filter(|names| names.len() == count);
    ModelClasses { count, names }
}

pub fn run(args: EvalArgs) -> CliResult {
    if let Some(path) = &args.csv {
        // Before the evaluation, not after it.
        check_parent_exists(path)?;
    }
    let recipe = run_recipe(&args.run)?;
    let branches = branches(&args.bn_branch)?;
    let ck = Checkpoint::load(&checkpoint_path(&args.run)).map_err(CliError)?;
    let device = device(&args.device)?;
    let model = load_network(&ck, &device).map_err(CliError)?;
    let trained_on = RunData::read(&args.run).map_err(CliError)?;
    if let Some(text) = args.data.as_deref().filter(|t| BenchSpec::is_bench(t)) {
        let spec: BenchSpec = text.parse().map_err(CliError::from_display)?;
        return run_bench(
            &args,
            &spec,
            &recipe,
            &ck,
            &model,
            &trained_on,
            &branches,
            &device,
        );
    }
    let spec = parse_data(args.data.as_deref().unwrap_or(&trained_on.spec))?;
    let splits = run_test_data(&args, &spec, &recipe, &trained_on)?;
    if splits.classes().len() != ck.state.classes {
        return Err(CliError(format!(
            "{spec} has {} classes, the model was trained on {}",
            splits.classes().len(),
            ck.state.classes
        )));
    }
    if !args.corruptions && !args.shift {
        for variant in variants(&branches, args.bn_adapt) {
            let result = evaluate_variant(
                &model,
                &splits.test,
                recipe.data.normalization,
                recipe.eval.batch_size,
                variant,
                None,
                &device,
            )
            .map_err(CliError)?;
            println!(
                "{}: clean test accuracy {:.2}% (error {:.2}%) on {} images, BN branch {}{}",
                recipe.name,
                100.0 * result.accuracy,
                100.0 * result.error(),
                result.samples,
                variant.branch,
                if variant.adapt { ", BN adapted" } else { "" }
            );
        }
        return Ok(());
    }
    if branches.len() > 1 || args.bn_adapt {
        return Err(CliError(
            "--bn-branch both and --bn-adapt apply to the test set and to benchmark sets, not to --corruptions/--shift".into(),
        ));
    }
    let branch = branches[0];
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

/// The run's test split of `spec` (the run's own test limit when it is the run's own data),
/// with the recipe's evaluation transform.
fn run_test_data(
    args: &EvalArgs,
    spec: &DataSpec,
    recipe: &Recipe,
    trained_on: &RunData,
) -> CliResult<DataSplits> {
    // The run's own test limit applies to the run's own data; another data set is evaluated
    // whole unless --test-limit says otherwise.
    let same_data = spec.to_string() == parse_data(&trained_on.spec)?.to_string();
    let test_limit = args.test_limit.or(trained_on.test_limit.filter(|_| same_data));
    let splits = load_data(
        spec,
        &LoadOptions {
            train_limit: Some(1),
            test_limit,
            seed: recipe.train.seed,
            files: recipe.data.file_options(),
        },
    )?;
    Ok(recipe.prepare_eval(splits))
}

/// `advbn eval --data <benchmark>`: every subset, every variant, the published metrics.
#[allow(clippy::too_many_arguments)]
fn run_bench(
    args: &EvalArgs,
    spec: &BenchSpec,
    recipe: &Recipe,
    ck: &Checkpoint,
    model: &Network,
    trained_on: &RunData,
    branches: &[BnBranch],
    device: &burn::tensor::Device,
) -> CliResult {
    if args.corruptions || args.shift {
        return Err(CliError(format!(
            "--corruptions and --shift evaluate the run's own test data; {} brings its own sets",
            spec.kind.scheme()
        )));
    }
    let classes = model_classes(&args.run, ck.state.classes, trained_on);
    let set = open_bench(spec, &classes, recipe.data.file_options()).map_err(CliError::from_display)?;
    let variants = variants(branches, args.bn_adapt);
    let options = BenchOptions {
        normalization: recipe.data.normalization,
        batch_size: recipe.eval.batch_size,
        variants: variants.clone(),
        preprocess: bench_preprocess(recipe, spec.kind),
        limit: args.test_limit,
        seed: recipe.train.seed,
        progress: interactive(),
    };
    let records = evaluate_bench(model, &set, &options, device).map_err(CliError)?;
    // ImageNet-C's relative mCE needs the model's clean error: measured on the run's own
    // test set, when it still loads.
    let mut clean = Vec::new();
    let mut clean_source = String::new();
    if spec.kind == BenchKind::ImagenetC {
        match parse_data(&trained_on.spec)
            .and_then(|own| Ok((run_test_data(args, &own, recipe, trained_on)?, own)))
        {
            Ok((splits, own)) => {
                for &branch in branches {
                    let r = evaluate(
                        model,
                        &splits.test,
                        recipe.data.normalization,
                        recipe.eval.batch_size,
                        branch,
                        device,
                    )
                    .map_err(CliError)?;
                    clean.push((branch, r.error()));
                }
                clean_source = format!("the run's test set {own}, {} images", splits.test.len());
            }
            Err(e) => eprintln!("note: no clean error for the relative mCE ({e})"),
        }
    }
    let clean_arg = (!clean.is_empty()).then_some((clean.as_slice(), clean_source.as_str()));
    print!(
        "{}: {}",
        recipe.name,
        bench_text(&set, &variants, &records, clean_arg)
    );
    if let Some(path) = &args.csv {
        std::fs::write(path, bench_csv(&set, &records))
            .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
        println!("results: {}", path.display());
    }
    Ok(())
}
