//! Robustness evaluation: a set of trained models against the clean test set, every
//! corruption at every severity (generated on the fly, one set at a time, so memory stays
//! flat whatever the test-set size), and the dataset's style-shift sets.

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::evaluate;
use crate::augmenters::corrupt::{Corrupter, Corruption, Preset};
use crate::augmenters::stylize::{ColorTransfer, FourierMix};
use crate::augmenters::{Pipeline, PixelStage, Sample, augment_batch_with_partners};
use std::borrow::Cow;

use image::RgbImage;
use rayon::prelude::*;

use crate::augmenters::SampleKey;
use crate::data::{DataError, DataSplits, ImageDataset, ImageSource, Normalization};
use crate::model::{BnBranch, Network};

/// The name of the generated style-shift set.
pub const STYLIZED_SHIFT_NAME: &str = "stylized";

/// The style-shift test set of a dataset that has none of its own (CIFAR-10, folders,
/// Fashion-MNIST): every test image re-rendered by a fixed, seeded stylizer family that no
/// built-in training recipe uses. Image `i` takes the amplitude spectrum (texture
/// contrast, `fourier_mix`, lambda ~ U(0, 1)) and then the l-alpha-beta colour statistics
/// (`color_transfer`, full strength) of another test image drawn from its own stream; the
/// phase, so the content and the label, stays its own.
///
/// Why it is a fair held-out shift: training recipes see crops, flips, AugMix's Pillow
/// ops, random convolutions (RandConv) and feature-statistics perturbations (AdvBN,
/// MixStyle, DSU), never amplitude swaps or colour transfer, and the partners are test
/// images, never seen in training. It changes exactly what the paper calls style (colour,
/// contrast, texture energy) and keeps shape and layout.
///
/// The set is made here, in memory, from the test set's (preprocessed) images.
pub fn stylized_test_set(test: &ImageDataset, seed: u64) -> Result<ImageDataset, String> {
    let pipeline = Pipeline::new(vec![
        PixelStage::FourierMix(FourierMix::default()),
        PixelStage::ColorTransfer(ColorTransfer::default()),
    ])
    .map_err(|e| e.to_string())?;
    let images: Vec<RgbImage> = (0..test.len())
        .into_par_iter()
        .map(|i| test.load(i).map(Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let samples = Sample::indexed(&images);
    let outputs = augment_batch_with_partners(&pipeline, &samples, seed, 0, 1, |key| {
        key.partner_index(images.len() as u64)
            .map(|j| &images[j as usize])
    });
    let stylized = outputs
        .into_iter()
        .map(|v| v.primary().clone().into_rgb8())
        .collect();
    ImageDataset::new(
        STYLIZED_SHIFT_NAME,
        stylized,
        test.labels().to_vec(),
        test.classes().to_vec(),
    )
    .map_err(|e| e.to_string())
}

/// The style-shift sets to evaluate: the dataset's own (the synthetic dataset's held-out
/// styles), else the generated [`stylized_test_set`].
pub fn shift_sets(splits: &DataSplits, seed: u64) -> Result<Vec<(String, ImageDataset)>, String> {
    if !splits.shifts.is_empty() {
        return Ok(splits.shifts.clone());
    }
    Ok(vec![(
        STYLIZED_SHIFT_NAME.to_string(),
        stylized_test_set(&splits.test, seed)?,
    )])
}

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
            let source = Corrupted {
                clean: test,
                corrupter,
                seed: plan.seed,
            };
            run_all(SetKind::Corruption, corruption.name(), Some(severity), &source)?;
        }
    }
    bar.finish_and_clear();
    Ok(records)
}

/// A test set seen through one corruption: image `i` is corrupted when the batcher loads
/// it, with the stream of `SampleKey::new(seed, 0, i)` (as
/// [`Corrupter::corrupt_many`] does), so memory stays flat however large the set.
struct Corrupted<'a> {
    clean: &'a ImageDataset,
    corrupter: Corrupter,
    seed: u64,
}

impl ImageSource for Corrupted<'_> {
    fn len(&self) -> usize {
        self.clean.len()
    }

    fn load(&self, index: usize) -> Result<Cow<'_, RgbImage>, DataError> {
        let clean = self.clean.load(index)?;
        Ok(Cow::Owned(
            self.corrupter
                .corrupt(&clean, SampleKey::new(self.seed, 0, index as u64)),
        ))
    }

    fn label(&self, index: usize) -> u32 {
        self.clean.label(index)
    }

    fn skips_corrupt(&self) -> bool {
        self.clean.skips_corrupt()
    }

    fn path(&self, index: usize) -> Option<&std::path::Path> {
        self.clean.path(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataSpec, LoadOptions, load};

    #[test]
    fn stylized_set_keeps_labels_changes_style_and_is_seeded() {
        let spec: DataSpec = "synthetic:train=20,test=30".parse().unwrap();
        let splits = load(&spec, &LoadOptions::default()).unwrap();
        let a = stylized_test_set(&splits.test, 3).unwrap();
        assert_eq!(a.labels(), splits.test.labels());
        assert_eq!(a.len(), splits.test.len());
        let changed = a
            .decoded()
            .unwrap()
            .iter()
            .zip(splits.test.decoded().unwrap())
            .filter(|(x, y)| x != y)
            .count();
        assert!(changed >= 25, "only {changed} of 30 images changed");
        assert_eq!(a, stylized_test_set(&splits.test, 3).unwrap());
        assert_ne!(a.decoded(), stylized_test_set(&splits.test, 4).unwrap().decoded());
    }

    #[test]
    fn corrupted_view_equals_the_eager_corruption() {
        let spec: DataSpec = "synthetic:train=20,test=12".parse().unwrap();
        let splits = load(&spec, &LoadOptions::default()).unwrap();
        let corrupter = Corrupter::with(Corruption::GaussianNoise, 3, Preset::Cifar).unwrap();
        let eager = corrupter.corrupt_many(splits.test.decoded().unwrap(), 7);
        let lazy = Corrupted {
            clean: &splits.test,
            corrupter,
            seed: 7,
        };
        for (i, want) in eager.iter().enumerate() {
            assert_eq!(lazy.load(i).unwrap().as_ref(), want, "image {i}");
            assert_eq!(lazy.label(i), splits.test.label(i));
        }
    }

    #[test]
    fn datasets_with_their_own_shift_keep_it() {
        let spec: DataSpec = "synthetic:train=20,test=10".parse().unwrap();
        let splits = load(&spec, &LoadOptions::default()).unwrap();
        let sets = shift_sets(&splits, 0).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].0, crate::data::HELDOUT_SHIFT_NAME);
    }
}
