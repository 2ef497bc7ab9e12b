//! Robustness evaluation: a set of trained models against the clean test set, every
//! corruption at every severity (generated on the fly, one set at a time, so memory stays
//! flat whatever the test-set size), and the dataset's style-shift sets.

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::evaluate;
use crate::augmenters::corrupt::{Corrupter, Corruption, Preset};
use crate::data::{ImageDataset, Normalization, VecSource};
use crate::model::{BnBranch, Network};

/// Which kind of test set a result is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    /// The clean test set.
    Clean,
    /// A corruption at one severity.
    Corruption,
    /// A style-shift set.
    Shift,
}

/// One (model, test set) result: a row of `results.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The recipe (model) name.
    pub recipe: String,
    /// Clean, corruption or shift.
    pub kind: SetKind,
    /// `clean`, the corruption's name, or the shift set's name.
    pub set: String,
    /// Severity (corruptions only).
    pub severity: Option<u8>,
    /// Top-1 error in [0, 1].
    pub error: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Number of images.
    pub samples: usize,
}

/// A trained model to evaluate.
pub struct Candidate {
    /// Its name in the report.
    pub name: String,
    /// The network.
    pub model: Network,
    /// Its normalization.
    pub normalization: Normalization,
}

/// What to evaluate on.
#[derive(Clone, Debug)]
pub struct RobustnessPlan {
    /// Corruptions (empty: none).
    pub corruptions: Vec<Corruption>,
    /// Severities.
    pub severities: Vec<u8>,
    /// Parameter preset.
    pub preset: Preset,
    /// Seed of the corruption streams (the same for every model, so all see the same sets).
    pub seed: u64,
    /// Batch-norm branch.
    pub branch: BnBranch,
    /// Evaluation batch size.
    pub batch_size: usize,
    /// Draw a progress bar.
    pub progress: bool,
}

/// Evaluates every candidate on the clean set, the corrupted sets and the shift sets.
pub fn evaluate_robustness(
    candidates: &[Candidate],
    test: &ImageDataset,
    shifts: &[(String, ImageDataset)],
    plan: &RobustnessPlan,
    device: &Device,
) -> Result<Vec<EvalRecord>, String> {
    let total = (1 + shifts.len() + plan.corruptions.len() * plan.severities.len()) as u64;
    let bar = if plan.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} test sets, ETA {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix("evaluation");
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut records = Vec::new();
    let mut run_all =
        |kind: SetKind, set: &str, severity: Option<u8>, source: &dyn crate::data::ImageSource| {
            bar.set_message(match severity {
                Some(s) => format!("{set} {s}"),
                None => set.to_string(),
            });
            for c in candidates {
                let r = evaluate(
                    &c.model,
                    source,
                    c.normalization,
                    plan.batch_size,
                    plan.branch,
                    device,
                )?;
                records.push(EvalRecord {
                    recipe: c.name.clone(),
                    kind,
                    set: set.to_string(),
                    severity,
                    error: r.error(),
                    loss: r.loss,
                    samples: r.samples,
                });
            }
            bar.inc(1);
            Ok::<(), String>(())
        };
    run_all(SetKind::Clean, "clean", None, test)?;
    for (name, shift) in shifts {
        run_all(SetKind::Shift, name, None, shift)?;
    }
    for &corruption in &plan.corruptions {
        for &severity in &plan.severities {
            let corrupter = Corrupter::with(corruption, severity, plan.preset).map_err(|e| e.to_string())?;
            let images = corrupter.corrupt_many(test.images(), plan.seed);
            let source = VecSource {
                images,
                labels: test.labels().to_vec(),
            };
            run_all(SetKind::Corruption, corruption.name(), Some(severity), &source)?;
        }
    }
    bar.finish_and_clear();
    Ok(records)
}
