//! The training loop: epochs of prefetched batches, the schedule, per-epoch evaluation,
//! atomic checkpoints, resume, a metrics log and a progress bar.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::atomic::write_atomic;
use super::checkpoint::{Checkpoint, LoopState, checkpoint_path};
use super::schedule::learning_rate;
use super::step::{StepPlan, train_step, train_step_devices};
use crate::data::{ImageSource, Prefetcher, batches, epoch_order};
use crate::eval::{EvalResult, evaluate};
use crate::model::{Network, SplitModel, TorchvisionWeights};
use crate::recipe::Recipe;

/// Everything a training run needs.
pub struct TrainSetup {
    /// The resolved recipe.
    pub recipe: Recipe,
    /// Training samples.
    pub train: Arc<dyn ImageSource>,
    /// Test samples for the per-epoch clean accuracy (optional).
    pub test: Option<Arc<dyn ImageSource>>,
    /// Number of classes.
    pub classes: usize,
    /// The compute device (without autodiff; the loop adds it).
    pub device: Device,
    /// Data-parallel training over these devices (without autodiff), the first being
    /// `device`: every batch is shared out over them ([`super::train_step_devices`]).
    /// Empty (or one device): train on `device` alone.
    pub devices: Vec<Device>,
    /// Where the checkpoint, the metrics and the recipe go.
    pub run_dir: PathBuf,
    /// Continue from the run directory's checkpoint.
    pub resume: bool,
    /// Start from other weights (fine-tuning): another run's `checkpoint.bin`, or a
    /// torchvision ResNet-18/50 file (`.pth`/`.pt`/`.safetensors`).
    pub init_from: Option<PathBuf>,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// A label for the progress bar (the recipe name by default).
    pub label: Option<String>,
    /// Stop (as a kill would, after that epoch's checkpoint) once this many epochs are done;
    /// `None` runs the recipe's epochs. For time-boxed runs and resume tests.
    pub stop_after_epochs: Option<usize>,
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epochs trained in total (including those before a resume).
    pub epochs: usize,
    /// Optimizer steps in total.
    pub steps: u64,
    /// Clean test accuracy after the last epoch, if a test set was given.
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds of this invocation's training.
    pub seconds: f64,
    /// Training throughput of this invocation, samples per second.
    pub images_per_s: f64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The run directory already has a checkpoint and `--resume` was not given, or similar.
    #[error("{0}")]
    Usage(String),
    /// A batch could not be made.
    #[error("{0}")]
    Data(String),
    /// The loss became NaN or infinite.
    #[error(
        "loss became {value} at epoch {epoch}, step {step}; stopped; the last good checkpoint is {checkpoint}"
    )]
    NonFinite {
        /// The bad value.
        value: f64,
        /// 0-based epoch.
        epoch: usize,
        /// Global step.
        step: u64,
        /// Path of the last good checkpoint (or a note that none exists).
        checkpoint: String,
    },
}

fn io_err(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> TrainError {
    move |e| TrainError::Io(format!("{context}: {e}"))
}

/// SGD with the recipe's momentum, Nesterov and coupled weight decay (dampening 0, as
/// PyTorch; burn's default dampening is 0.1).
pub fn optimizer_for(recipe: &Recipe) -> ModuleOptimizer {
    let t = &recipe.train;
    let momentum = (t.momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(t.momentum)
            .with_dampening(0.0)
            .with_nesterov(t.nesterov)
    });
    let decay = (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32));
    SgdConfig::new()
        .with_momentum(momentum)
        .with_weight_decay(decay)
        .init()
}

/// Restores a network from checkpoint bytes on `device`.
pub fn load_network(checkpoint: &Checkpoint, device: &Device) -> Result<Network, String> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(checkpoint.model.clone()))
        .map_err(|e| format!("checkpoint model is unreadable: {e}"))?;
    crate::device::with_rng_exclusive(|| {
        Network::with_width(
            checkpoint.state.arch,
            checkpoint.state.width,
            checkpoint.state.classes,
            device,
        )
    })
    .try_load_record(record)
    .map_err(|e| {
        format!(
            "checkpoint does not fit the network: {}",
            shorten(&e.to_string(), 300)
        )
    })
}

/// The network of a new run started from `path`: one of our checkpoints (same architecture,
/// width and classes), or torchvision weights of a ResNet-18/50 (`.pth`/`.pt` or
/// `.safetensors`), where only `fc` may differ in its class count (it then keeps its
/// initial weights, and the log says so).
fn init_from(
    path: &Path,
    fresh: Network,
    recipe: &Recipe,
    classes: usize,
    device: &Device,
) -> Result<Network, TrainError> {
    let mut magic = [0u8; 8];
    let ours = match File::open(path) {
        // Unreadable: the checkpoint reader says so in its words.
        Err(_) => true,
        Ok(mut file) => {
            std::io::Read::read_exact(&mut file, &mut magic).is_ok() && Checkpoint::is_magic(&magic)
        }
    };
    if !ours {
        let weights = TorchvisionWeights::read(path).map_err(TrainError::Usage)?;
        let (model, note) = weights.load_into(fresh).map_err(TrainError::Usage)?;
        eprintln!(
            "init: {} ({} tensors) into {}",
            path.display(),
            weights.keys().count(),
            recipe.model.arch
        );
        if let Some((file, ours)) = note.fc_kept {
            eprintln!(
                "init: fc has {file} classes in {}, the data has {ours}: fc starts from its initial weights",
                path.display()
            );
        }
        return Ok(model);
    }
    let ck = Checkpoint::load(path).map_err(TrainError::Io)?;
    if ck.state.arch != recipe.model.arch
        || ck.state.classes != classes
        || ck.state.width != recipe.model.width
    {
        let width = |w: Option<usize>| w.map(|w| format!(" (width {w})")).unwrap_or_default();
        return Err(TrainError::Usage(format!(
            "{}: checkpoint is {}{} with {} classes, the recipe wants {}{} with {}",
            path.display(),
            ck.state.arch,
            width(ck.state.width),
            ck.state.classes,
            recipe.model.arch,
            width(recipe.model.width),
            classes
        )));
    }
    load_network(&ck, device).map_err(TrainError::Io)
}

/// `text` cut to at most `max` characters (burn lists every missing tensor).
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{} ...", &text[..end]),
        None => text.to_string(),
    }
}

/// The resolved recipe file of a run directory.
pub fn recipe_path(run_dir: &Path) -> PathBuf {
    run_dir.join("recipe.toml")
}

/// The metrics log of a run directory.
pub fn metrics_path(run_dir: &Path) -> PathBuf {
    run_dir.join("metrics.jsonl")
}

/// Trains as `setup` says. See the module docs.
pub fn train(setup: TrainSetup) -> Result<TrainSummary, TrainError> {
    let recipe = &setup.recipe;
    let run_dir = &setup.run_dir;
    fs::create_dir_all(run_dir).map_err(io_err(format!("cannot create {}", run_dir.display())))?;
    let ck_path = checkpoint_path(run_dir);
    let device = setup.device.clone().autodiff();

    let mut optimizer = optimizer_for(recipe);
    let (mut model, mut state) = if setup.resume {
        if !ck_path.exists() {
            return Err(TrainError::Usage(format!(
                "nothing to resume: {} has no checkpoint",
                run_dir.display()
            )));
        }
        let ck = Checkpoint::load(&ck_path).map_err(TrainError::Io)?;
        let model = load_network(&ck, &device).map_err(TrainError::Io)?;
        optimizer = optimizer
            .from_bytes(Bytes::from_bytes_vec(ck.optimizer.clone()))
            .map_err(|e| TrainError::Io(format!("{}: optimizer state unreadable: {e}", ck_path.display())))?;
        (model, ck.state)
    } else {
        if ck_path.exists() {
            return Err(TrainError::Usage(format!(
                "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
                run_dir.display()
            )));
        }
        let mut model = Network::seeded_with_width(
            recipe.model.arch,
            recipe.model.width,
            setup.classes,
            recipe.train.seed,
            &device,
        );
        if let Some(path) = &setup.init_from {
            model = init_from(path, model, recipe, setup.classes, &device)?;
        }
        write_atomic(&recipe_path(run_dir), |out| {
            out.write_all(recipe.to_toml().as_bytes())
        })
        .map_err(io_err(format!("cannot write {}", recipe_path(run_dir).display())))?;
        let run_info = json!({
            "recipe": recipe.name,
            "seed": recipe.train.seed,
            "arch": recipe.model.arch,
            "classes": setup.classes,
            "train_samples": setup.train.len(),
            "advbn_version": env!("CARGO_PKG_VERSION"),
        });
        write_atomic(&run_dir.join("run.json"), |out| {
            serde_json::to_writer_pretty(out, &run_info).map_err(std::io::Error::other)
        })
        .map_err(io_err("cannot write run.json"))?;
        let _ = fs::remove_file(metrics_path(run_dir));
        let state = LoopState {
            epochs_done: 0,
            global_step: 0,
            adv_bn_initialised: false,
            arch: recipe.model.arch,
            classes: setup.classes,
            width: recipe.model.width,
        };
        (model, state)
    };
    truncate_metrics(&metrics_path(run_dir), state.global_step)
        .map_err(io_err("cannot rewrite metrics.jsonl"))?;
    let mut metrics = OpenOptions::new()
        .create(true)
        .append(true)
        .open(metrics_path(run_dir))
        .map_err(io_err("cannot open metrics.jsonl"))?;

    let plan = Arc::new(
        recipe
            .batch_plan()
            .map_err(|e| TrainError::Usage(format!("recipe {}: {e}", recipe.name)))?,
    );
    let jsd_lambda = recipe.jsd_lambda();
    let views_per_sample = plan.views_per_sample();
    let features = recipe.features().map_err(|e| TrainError::Usage(e.to_string()))?;

    let parallel: Vec<Device> = setup.devices.iter().map(|d| d.clone().autodiff()).collect();
    let epochs = recipe.train.epochs;
    let steps_per_epoch =
        batches(&epoch_order(setup.train.len(), 0, 0), recipe.train.batch_size).len() as u64;
    let total_steps = steps_per_epoch * epochs as u64;
    let bar = progress_bar(&setup, total_steps, state.global_step);

    let started = Instant::now();
    let mut trained_samples = 0usize;
    let mut last_test: Option<EvalResult> = None;
    let last_epoch = setup.stop_after_epochs.map_or(epochs, |s| s.min(epochs));
    for epoch in state.epochs_done..last_epoch {
        let mut step_plan = StepPlan {
            views: views_per_sample,
            jsd_lambda,
            features: features
                .iter()
                .filter(|f| epoch >= f.start_epoch())
                .cloned()
                .collect(),
            step_key: StepPlan::key_for_step(recipe.train.seed, epoch as u64, state.global_step),
        };
        if step_plan.adversary().is_some_and(|a| a.dual_bn()) && !state.adv_bn_initialised {
            model = model.reset_adv_bn();
            state.adv_bn_initialised = true;
        }
        let order = epoch_order(setup.train.len(), recipe.train.seed, epoch as u64);
        let prefetch = Prefetcher::start(
            setup.train.clone(),
            batches(&order, recipe.train.batch_size),
            plan.clone(),
            epoch as u64,
            3,
        );
        let epoch_start = Instant::now();
        let (mut loss_sum, mut acc_sum, mut wait_total, mut n_steps) = (0.0, 0.0, 0.0, 0usize);
        let mut skipped_files = 0usize;
        let mut wait_start = Instant::now();
        for batch in prefetch {
            let batch = batch.map_err(|e| TrainError::Data(e.to_string()))?;
            let waited = wait_start.elapsed().as_secs_f64();
            let step_start = Instant::now();
            let lr = learning_rate(
                &recipe.train.schedule,
                recipe.train.lr,
                state.global_step,
                total_steps,
                epoch,
            );
            step_plan.step_key = StepPlan::key_for_step(recipe.train.seed, epoch as u64, state.global_step);
            let (next, stats) = if parallel.len() > 1 {
                train_step_devices(model, &mut optimizer, &batch, lr, &step_plan, &parallel)
            } else {
                let (images, targets) = batch.to_tensors(&device);
                train_step(model, &mut optimizer, images, targets, lr, &step_plan)
            };
            model = next;
            if !stats.loss.is_finite() {
                bar.abandon();
                return Err(TrainError::NonFinite {
                    value: stats.loss,
                    epoch,
                    step: state.global_step,
                    checkpoint: if ck_path.exists() {
                        ck_path.display().to_string()
                    } else {
                        "none yet (the first epoch did not finish)".into()
                    },
                });
            }
            let seconds = step_start.elapsed().as_secs_f64();
            state.global_step += 1;
            trained_samples += batch.len();
            skipped_files += batch.skipped.len();
            loss_sum += stats.loss;
            acc_sum += stats.accuracy;
            wait_total += waited;
            n_steps += 1;
            let line = json!({
                "kind": "step", "epoch": epoch, "step": state.global_step, "lr": lr,
                "loss": stats.loss, "loss_clean": stats.loss_clean, "loss_jsd": stats.loss_jsd,
                "loss_adv": stats.loss_adv, "attack_loss": stats.attack_gain.map(|g| [g.0, g.1]),
                "factors_mean": stats.factors_mean.map(|f| [f.0, f.1]),
                "s_mu": stats.factors.as_ref().map(|f| &f.0),
                "s_sigma": stats.factors.as_ref().map(|f| &f.1),
                "train_acc": stats.accuracy, "images_per_s": batch.len() as f64 / seconds.max(1e-9),
                "data_wait_ms": waited * 1e3,
            });
            writeln!(metrics, "{line}").map_err(io_err("cannot write metrics.jsonl"))?;
            bar.set_message(format!(
                "epoch {}/{} loss {:.3} acc {:.1}%",
                epoch + 1,
                epochs,
                stats.loss,
                100.0 * stats.accuracy
            ));
            bar.inc(1);
            wait_start = Instant::now();
        }
        let epoch_seconds = epoch_start.elapsed().as_secs_f64();
        last_test = match &setup.test {
            Some(test) => Some(
                evaluate(
                    &model,
                    test.as_ref(),
                    recipe.data.normalization,
                    recipe.eval.batch_size,
                    recipe.eval.bn_branch,
                    &setup.device,
                )
                .map_err(TrainError::Data)?,
            ),
            None => None,
        };
        state.epochs_done = epoch + 1;
        let line = json!({
            "kind": "epoch", "epoch": epoch, "step": state.global_step,
            "train_loss": loss_sum / n_steps.max(1) as f64, "train_acc": acc_sum / n_steps.max(1) as f64,
            "test_acc": last_test.as_ref().map(|t| t.accuracy), "test_loss": last_test.as_ref().map(|t| t.loss),
            "seconds": epoch_seconds, "data_wait_s": wait_total, "skipped_files": skipped_files,
            "images_per_s": (n_steps * recipe.train.batch_size) as f64 / epoch_seconds.max(1e-9),
        });
        writeln!(metrics, "{line}").map_err(io_err("cannot write metrics.jsonl"))?;
        metrics.flush().map_err(io_err("cannot write metrics.jsonl"))?;
        let optimizer_bytes = optimizer
            .into_bytes()
            .map_err(|e| TrainError::Io(format!("cannot serialize the optimizer: {e}")))?;
        let model_bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| TrainError::Io(format!("cannot serialize the model: {e}")))?;
        Checkpoint {
            state: state.clone(),
            model: model_bytes.to_vec(),
            optimizer: optimizer_bytes.to_vec(),
        }
        .save(&ck_path)
        .map_err(io_err(format!("cannot write {}", ck_path.display())))?;
        if !setup.progress {
            // Without a bar, one line per epoch on stderr shows progress in logs.
            eprintln!(
                "[{}] epoch {}/{}: loss {:.4}, train acc {:.1}%{}, {:.1}s",
                setup.label.as_deref().unwrap_or(&recipe.name),
                epoch + 1,
                epochs,
                loss_sum / n_steps.max(1) as f64,
                100.0 * acc_sum / n_steps.max(1) as f64,
                last_test
                    .as_ref()
                    .map(|t| format!(", test acc {:.1}%", 100.0 * t.accuracy))
                    .unwrap_or_default(),
                epoch_seconds
            );
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    Ok(TrainSummary {
        epochs: state.epochs_done,
        steps: state.global_step,
        test_accuracy: last_test.map(|t| t.accuracy),
        seconds,
        images_per_s: trained_samples as f64 / seconds.max(1e-9),
    })
}

fn progress_bar(setup: &TrainSetup, total: u64, done: u64) -> ProgressBar {
    if !setup.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} steps, ETA {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(setup.label.clone().unwrap_or_else(|| setup.recipe.name.clone()));
    bar.set_position(done);
    bar
}

/// Drops the metrics lines written after the checkpoint a run resumes from (the killed
/// run's partial epoch), so that the log has each step once.
fn truncate_metrics(path: &Path, keep_until_step: u64) -> std::io::Result<()> {
    let Ok(file) = File::open(path) else {
        return Ok(());
    };
    let kept: Vec<String> = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                .is_some_and(|s| s <= keep_until_step)
        })
        .collect();
    write_atomic(path, |out| {
        kept.iter().try_for_each(|line| writeln!(out, "{line}"))
    })
}
