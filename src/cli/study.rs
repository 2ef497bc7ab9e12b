//! `advbn study`.

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult, device, interactive, load_data, load_recipe, parse_data};
use crate::augmenters::corrupt::Corruption;
use crate::data::{BenchSpec, DataSpec, LoadOptions};
use crate::study::{StudyConfig, run_study};
use crate::train::RunData;

/// The recipes a study compares by default.
pub const DEFAULT_RECIPES: [&str; 4] = ["baseline", "augmix", "advbn", "augmix+advbn"];

/// Arguments of `advbn study`.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Recipes to compare (built-in names or paths); default: baseline augmix advbn augmix+advbn.
    pub recipes: Vec<String>,
    /// Data spec (default: the first recipe's `data.dataset`; `synthetic` with --quick).
    #[arg(long)]
    pub data: Option<String>,
    /// The quick demo: small model, few epochs, small sets (minutes on a CPU).
    #[arg(long)]
    pub quick: bool,
    /// Output directory.
    #[arg(long, default_value = "study-out")]
    pub out: PathBuf,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Overrides applied to every recipe, `key.path=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Override the epochs of every recipe.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Use at most this many training images (stratified).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use at most this many images per test set (stratified; each benchmark subset too).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Corruptions to evaluate (comma-separated names; default all 19).
    #[arg(long, value_delimiter = ',')]
    pub corruptions: Vec<String>,
    /// A published benchmark set to evaluate every model on, one report column each
    /// (repeatable): imagenet-c:PATH (mCE), stylized-imagenet:PATH, imagenet-sketch:PATH,
    /// imagenet-r:PATH, imagenet-a:PATH (top-1), cifar10-c:PATH, cifar100-c:PATH (mean
    /// corruption error). Stylized-ImageNet and Sketch use the adversarial BN branch for
    /// recipes trained with AdvBN's dual BN, as the AdvBN reference; the rest the clean one.
    #[arg(long = "eval-data", value_name = "SPEC")]
    pub eval_data: Vec<String>,
    /// Start every recipe from these weights (as `advbn train --init-from`): torchvision
    /// ResNet-18/50 weights (.pth/.safetensors) or a run's checkpoint.bin. The paper fine-tunes
    /// a pretrained ResNet-50 this way.
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
}

/// What `--quick` changes in every recipe.
pub const QUICK_OVERRIDES: &[&str] = &[
    "model.arch=tiny",
    "train.epochs=8",
    "train.batch_size=64",
    "train.lr=0.05",
    "eval.batch_size=500",
];

/// The quick demo's data: the built-in synthetic dataset at its default sizes, with the
/// test sets limited to keep the corruption evaluation short.
const QUICK_TEST_LIMIT: usize = 500;

pub fn run(args: StudyArgs) -> CliResult {
    let names: Vec<String> = if args.recipes.is_empty() {
        DEFAULT_RECIPES.iter().map(|s| s.to_string()).collect()
    } else {
        args.recipes.clone()
    };
    let mut overrides: Vec<String> = Vec::new();
    if args.quick {
        overrides.extend(QUICK_OVERRIDES.iter().map(|s| s.to_string()));
    }
    overrides.extend(args.set.iter().cloned());
    if let Some(e) = args.epochs {
        overrides.push(format!("train.epochs={e}"));
    }
    let recipes = names
        .iter()
        .map(|n| load_recipe(n, &overrides))
        .collect::<CliResult<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = recipes.iter().find(|r| !seen.insert(r.name.clone())) {
        return Err(CliError(format!("recipe `{}` is listed twice", dup.name)));
    }
    let corruptions = if args.corruptions.is_empty() {
        Corruption::ALL.to_vec()
    } else {
        args.corruptions
            .iter()
            .map(|n| Corruption::from_name(n).map_err(CliError::from_display))
            .collect::<CliResult<Vec<_>>>()?
    };
    let spec_text = match (&args.data, args.quick) {
        (Some(d), _) => d.clone(),
        (None, true) => "synthetic".into(),
        (None, false) => recipes[0].data.dataset.clone(),
    };
    let spec = parse_data(&spec_text)?;
    // Parsed before any training, so that a typo is not found hours later.
    let eval_sets = args
        .eval_data
        .iter()
        .map(|t| t.parse::<BenchSpec>().map_err(CliError::from_display))
        .collect::<CliResult<Vec<_>>>()?;
    for set in &eval_sets {
        std::fs::metadata(&set.path)
            .map_err(|e| CliError(format!("{set}: cannot read {}: {e}", set.path.display())))?;
    }
    let device = device(&args.device)?;
    let options = LoadOptions {
        train_limit: args.train_limit,
        test_limit: args.test_limit.or(args.quick.then_some(QUICK_TEST_LIMIT)),
        seed: recipes[0].train.seed,
        files: recipes[0].data.file_options(),
    };
    if let Some(other) = recipes
        .iter()
        .find(|r| r.data.image_size != recipes[0].data.image_size)
    {
        return Err(CliError(format!(
            "recipes `{}` and `{}` have different data.image_size ({:?} and {:?}); a study evaluates all on one test set",
            recipes[0].name, other.name, recipes[0].data.image_size, other.data.image_size
        )));
    }
    let data = recipes[0].prepare_eval(load_data(&spec, &options)?);
    let mut notes = vec![format!(
        "Recipes: {}{}.",
        recipes
            .iter()
            .map(|r| format!("`{}` ({})", r.name, r.model.arch))
            .collect::<Vec<_>>()
            .join(", "),
        if args.quick {
            format!("; quick mode overrides: {}", QUICK_OVERRIDES.join(", "))
        } else {
            String::new()
        }
    )];
    if let Some(path) = &args.init_from {
        notes.push(format!(
            "Every recipe starts from the weights in `{}`.",
            path.display()
        ));
    }
    if matches!(spec, DataSpec::Folder(_)) {
        notes.push(
            "If this folder is the CIFAR-10 JPEG copy: its images are JPEG quality 75 (slightly lossy), \
             so errors are not comparable to results on the original PNG/binary CIFAR-10 to the last decimal."
                .into(),
        );
    }
    if matches!(spec, DataSpec::Synthetic(_)) {
        notes.push(
            "Synthetic data: shape carries the label, style is a nuisance; the style-shift set uses a held-out \
             style bank. A demo and test bed, not a benchmark of real-image robustness."
                .into(),
        );
    }
    let data_description = format!(
        "`{spec}`: {} train, {} test images, {} classes",
        data.train.len(),
        data.test.len(),
        data.classes().len()
    );
    eprintln!("study of {} recipes into {}", recipes.len(), args.out.display());
    let outcome = run_study(StudyConfig {
        recipes,
        data,
        data_description,
        data_record: RunData {
            spec: spec.to_string(),
            train_limit: options.train_limit,
            test_limit: options.test_limit,
        },
        out: args.out.clone(),
        device,
        corruptions,
        progress: interactive(),
        notes,
        eval_sets,
        init_from: args.init_from.clone(),
    })
    .map_err(CliError)?;
    println!();
    print!("{}", outcome.text);
    println!("\nreport: {}", args.out.join("report.md").display());
    Ok(())
}
