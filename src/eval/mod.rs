//! Evaluation: accuracy and loss of a trained network on a test set, clean or transformed;
//! robustness to corruptions and style shifts; the report tables and charts. It sits below
//! training (the loop evaluates after each epoch) and above the models and data.

pub mod adapt;
pub mod benchmark;
pub mod chart;
pub mod report;
pub mod robustness;
pub mod visualize;

use burn::tensor::{Device, Int, Tensor, TensorData};

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
    evaluate_restricted(model, source, normalization, batch_size, branch, None, device)
}

/// [`evaluate`] with the logits restricted to `classes` (ascending model class indices):
/// the prediction is the argmax over those logits only, and the loss the cross-entropy over
/// them, as the 200-class sets' authors evaluate ImageNet-1k models (ImageNet-R, -A). Every
/// label must be one of `classes`.
pub fn evaluate_restricted<M: SplitModel>(
    model: &M,
    source: &dyn ImageSource,
    normalization: Normalization,
    batch_size: usize,
    branch: BnBranch,
    classes: Option<&[u32]>,
    device: &Device,
) -> Result<EvalResult, String> {
    let device = device.clone().without_autodiff();
    let model = model.valid().to_device(&device);
    let plan = BatchPlan::eval(normalization);
    let indices: Vec<usize> = (0..source.len()).collect();
    let columns = classes.map(|c| {
        let ids: Vec<i64> = c.iter().map(|&i| i64::from(i)).collect();
        Tensor::<1, Int>::from_data(TensorData::new(ids, [c.len()]), &device)
    });
    let (mut correct, mut loss_sum, mut samples) = (0.0, 0.0, 0usize);
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = make_batch(source, chunk, &plan, 0).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            continue;
        }
        let (images, targets) = batch.to_tensors(&device);
        let mut logits = model.forward(images, BnMode::eval(branch));
        let targets = match (classes, &columns) {
            (Some(classes), Some(columns)) => {
                logits = logits.select(1, columns.clone());
                let positions = batch
                    .targets
                    .iter()
                    .map(|&t| {
                        classes.binary_search(&(t as u32)).map(|p| p as i64).map_err(|_| {
                            format!("label {t} is not among the classes the logits are restricted to")
                        })
                    })
                    .collect::<Result<Vec<i64>, String>>()?;
                Tensor::<1, Int>::from_data(TensorData::new(positions, [batch.len()]), &device)
            }
            _ => targets,
        };
        let n = batch.len() as f64;
        correct += accuracy(&logits, &targets) * n;
        loss_sum += f64::from(cross_entropy(logits, targets).into_scalar::<f32>()) * n;
        samples += batch.len();
    }
    Ok(EvalResult {
        accuracy: correct / samples.max(1) as f64,
        loss: loss_sum / samples.max(1) as f64,
        samples,
    })
}
