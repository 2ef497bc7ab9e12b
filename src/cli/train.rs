//! `advbn train`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::common::{
    CliError, CliResult, device, interactive, load_data, load_recipe, parse_data, run_recipe,
};
use crate::data::{ImageSource, LoadOptions};
use crate::train::{Checkpoint, RunData, TrainSetup, checkpoint_path, train};

/// Arguments of `advbn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Built-in recipe name (see `advbn recipes`) or path to a TOML recipe.
    #[arg(long, required_unless_present = "resume")]
    pub recipe: Option<String>,
    /// Data spec: `synthetic`, `cifar10:PATH`, `folder:PATH`, `fashion-mnist[:PATH]`
    /// (default: the recipe's `data.dataset`).
    #[arg(long)]
    pub data: Option<String>,
    /// Override the number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the run seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Recipe overrides, `key.path=value` (repeatable), e.g. `--set train.lr=0.05`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Data-parallel training on several devices, comma-separated: `wgpu:0,wgpu:1`,
    /// `cuda:0,cuda:1`, `cpu,cpu`. Every batch of `train.batch_size` is shared out equally;
    /// batch norm and AdvBN use each device's share (no synchronised batch statistics).
    #[arg(long, value_name = "LIST", conflicts_with = "device")]
    pub devices: Option<String>,
    /// Run directory (default: runs/<recipe name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start from other weights (fine-tuning): a run's checkpoint (runs/baseline/checkpoint.bin)
    /// or torchvision weights of a ResNet-18/50 (.pth/.pt or .safetensors, torchvision key
    /// names; both batch-norm branches start from the file's statistics; `fc` may have another
    /// class count, then it starts fresh).
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    /// Use at most this many training images (stratified by class).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use at most this many images per test set (stratified by class).
    #[arg(long)]
    pub test_limit: Option<usize>,
}

pub fn run(args: TrainArgs) -> CliResult {
    let (recipe, run_dir) = if args.resume {
        let dir = args
            .out
            .clone()
            .ok_or_else(|| CliError("--resume needs --out DIR, the run to continue".into()))?;
        // A resumed run continues exactly as recorded: options that would change it are
        // refused rather than silently ignored.
        let ignored: Vec<&str> = [
            ("--data", args.data.is_some()),
            ("--epochs", args.epochs.is_some()),
            ("--seed", args.seed.is_some()),
            ("--set", !args.set.is_empty()),
            ("--init-from", args.init_from.is_some()),
            ("--train-limit", args.train_limit.is_some()),
            ("--test-limit", args.test_limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        if !ignored.is_empty() {
            return Err(CliError(format!(
                "--resume continues the run in {} as it was started; it cannot be combined with {}",
                dir.display(),
                ignored.join(", ")
            )));
        }
        let recipe = run_recipe(&dir)?;
        if let Some(name) = &args.recipe
            && *name != recipe.name
        {
            return Err(CliError(format!(
                "{} was trained with recipe `{}`, not `{name}`",
                dir.display(),
                recipe.name
            )));
        }
        let ck_path = checkpoint_path(&dir);
        if ck_path.exists() {
            let done = Checkpoint::load(&ck_path).map_err(CliError)?.state.epochs_done;
            if done >= recipe.train.epochs {
                return Err(CliError(format!(
                    "nothing to resume: {} finished its {done} epochs (evaluate it with `advbn eval --run {}`)",
                    dir.display(),
                    dir.display()
                )));
            }
        }
        (recipe, dir)
    } else {
        let mut overrides = args.set.clone();
        if let Some(e) = args.epochs {
            overrides.push(format!("train.epochs={e}"));
        }
        if let Some(s) = args.seed {
            overrides.push(format!("train.seed={s}"));
        }
        let recipe = load_recipe(args.recipe.as_deref().expect("clap requires it"), &overrides)?;
        let dir = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&recipe.name));
        // Checked before anything is loaded or written (data.json would be overwritten).
        if checkpoint_path(&dir).exists() {
            return Err(CliError(format!(
                "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
                dir.display()
            )));
        }
        (recipe, dir)
    };
    let data = if args.resume {
        RunData::read(&run_dir).map_err(CliError)?
    } else {
        RunData {
            spec: args.data.clone().unwrap_or_else(|| recipe.data.dataset.clone()),
            train_limit: args.train_limit,
            test_limit: args.test_limit,
        }
    };
    let spec = parse_data(&data.spec)?;
    let devices = match &args.devices {
        Some(list) => crate::device::parse_devices(list).map_err(CliError)?,
        None => Vec::new(),
    };
    let device = match devices.first() {
        Some(first) => first.clone(),
        None => device(&args.device)?,
    };
    let splits = load_data(
        &spec,
        &LoadOptions {
            train_limit: data.train_limit,
            test_limit: data.test_limit,
            seed: recipe.train.seed,
            files: recipe.data.file_options(),
        },
    )?;
    let splits = recipe.prepare_eval(splits);
    let classes = splits.classes().len();
    if !args.resume {
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| CliError(format!("cannot create {}: {e}", run_dir.display())))?;
        data.write(&run_dir).map_err(CliError)?;
        write_classes(&run_dir, splits.classes()).map_err(CliError)?;
    }
    let on_devices = match devices.len() {
        0 | 1 => String::new(),
        n => format!(", shared out over {n} devices"),
    };
    eprintln!(
        "training `{}` ({}, {} epochs, batch {}{on_devices}) into {}",
        recipe.name,
        recipe.model.arch,
        recipe.train.epochs,
        recipe.train.batch_size,
        run_dir.display()
    );
    let train_set: Arc<dyn ImageSource> = Arc::new(splits.train);
    let test_set: Arc<dyn ImageSource> = Arc::new(splits.test);
    let summary = train(TrainSetup {
        recipe: recipe.clone(),
        train: train_set,
        test: Some(test_set),
        classes,
        device,
        devices,
        run_dir: run_dir.clone(),
        resume: args.resume,
        init_from: args.init_from.clone(),
        progress: interactive(),
        label: None,
        stop_after_epochs: None,
    })
    .map_err(CliError::from_display)?;
    println!(
        "{}: {} epochs, {} steps in {:.1}s ({:.0} images/s); clean test accuracy {}",
        recipe.name,
        summary.epochs,
        summary.steps,
        summary.seconds,
        summary.images_per_s,
        summary
            .test_accuracy
            .map(|a| format!("{:.2}%", 100.0 * a))
            .unwrap_or_else(|| "n/a".into())
    );
    println!("run directory: {}", run_dir.display());
    Ok(())
}

/// The file that lists a run's class names, one per line in label order (label `i` is line
/// `i + 1`): torchvision's `ImageFolder` order for folders.
pub fn classes_path(run_dir: &std::path::Path) -> PathBuf {
    run_dir.join("classes.txt")
}

/// Writes [`classes_path`] atomically.
fn write_classes(run_dir: &std::path::Path, classes: &[String]) -> Result<(), String> {
    let path = classes_path(run_dir);
    crate::train::write_atomic(&path, |out| {
        use std::io::Write;
        classes.iter().try_for_each(|c| writeln!(out, "{c}"))
    })
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
