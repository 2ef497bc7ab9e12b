//! Evaluation: accuracy and loss of a trained network on a test set, clean or transformed;
//! robustness to corruptions and style shifts; the report tables and charts. It sits below
//! training (the loop evaluates after each epoch) and above the models and data.

pub mod chart;
pub mod report;
pub mod robustness;
pub mod visualize;

use burn::tensor::Device;

use crate::data::{BatchPlan, ImageSource, Normalization, make_batch};
use crate::model::{BnBranch, BnMode, SplitModel};
use crate::model::{accuracy, cross_entropy};

/// Accuracy and mean loss over a set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalResult {
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Number of samples.
    pub samples: usize,
}

impl EvalResult {
    /// 1 - accuracy.
    pub fn error(&self) -> f64 {
        1.0 - self.accuracy
    }
}

/// Evaluates `model` on every sample of `source` through `branch` with running statistics,
/// on `device` (without autodiff).
pub fn evaluate<M: SplitModel>(
    model: &M,
    source: &dyn ImageSource,
    normalization: Normalization,
    batch_size: usize,
    branch: BnBranch,
    device: &Device,
) -> Result<EvalResult, String> {
    let device = device.clone().without_autodiff();
    let model = model.valid().to_device(&device);
    let plan = BatchPlan::eval(normalization);
    let indices: Vec<usize> = (0..source.len()).collect();
    let (mut correct, mut loss_sum) = (0.0, 0.0);
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = make_batch(source, chunk, &plan, 0).map_err(|e| e.to_string())?;
        let (images, targets) = batch.to_tensors(&device);
        let logits = model.forward(images, BnMode::eval(branch));
        let n = chunk.len() as f64;
        correct += accuracy(&logits, &targets) * n;
        loss_sum += f64::from(cross_entropy(logits, targets).into_scalar::<f32>()) * n;
    }
    let samples = source.len();
    Ok(EvalResult {
        accuracy: correct / samples.max(1) as f64,
        loss: loss_sum / samples.max(1) as f64,
        samples,
    })
}
