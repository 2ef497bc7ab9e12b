//! `advbn predict`: classify image files with a trained run or torchvision weights.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::activation::softmax;
use clap::Args;
use serde_json::json;

use super::common::{CliError, CliResult, device, run_recipe};
use super::images::read_rgb;
use crate::augmenters::{CenterCrop, Pipeline, PixelStage};
use crate::data::{BatchPlan, Normalization, VecSource, imagenet_class_index, imagenet_classes, make_batch};
use crate::model::{Arch, BnBranch, BnMode, Network, SplitModel, TorchvisionWeights};
use crate::train::{Checkpoint, checkpoint_path, load_network};

/// Arguments of `advbn predict`.
#[derive(Debug, Args)]
#[command(
    after_help = "Transforms: with --weights, torchvision's ImageNet evaluation transform \
(shorter side resized to 256 with antialiased bilinear resampling, centre crop 224, ImageNet \
mean/std); with --run, the run's recipe: its evaluation centre crop when the recipe sets \
data.image_size (ImageNet recipes: the same 256/224 transform scaled to the size), else the \
image as it is, and the recipe's normalisation.

Examples:
  advbn predict --weights resnet50.pth --arch resnet50 --top 5 cat.jpg dog.png
  advbn predict --run runs/advbn-imagenet --json photos/*.jpg"
)]
pub struct PredictArgs {
    /// A run directory (checkpoint.bin and recipe.toml): its model, evaluation transform and
    /// normalisation.
    #[arg(long, conflicts_with = "weights")]
    pub run: Option<PathBuf>,
    /// torchvision weights of a ResNet-18 or ResNet-50 (`.pth`/`.pt` or `.safetensors`,
    /// torchvision key names); the class count and width are read from the file.
    #[arg(long, requires = "arch")]
    pub weights: Option<PathBuf>,
    /// The architecture of --weights: resnet18 or resnet50.
    #[arg(long, requires = "weights")]
    pub arch: Option<String>,
    /// How many classes to print per image, most probable first.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// One JSON object per line and image: {"image": PATH, "top": [[class_index,
    /// probability], ...]} (plus "names" when class names are known).
    #[arg(long)]
    pub json: bool,
    /// Class names, one per line in class-index order (default: the run's classes.txt, or
    /// ImageNet's 1000 names for a 1000-class model).
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// Batch-norm branch of a dual-BN model: clean (default) or adv.
    #[arg(long, default_value = "clean")]
    pub bn_branch: String,
    /// cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The image files.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

/// What classifies: the network, how its inputs are prepared, and its classes' names.
struct Classifier {
    model: Network,
    preprocess: Option<Pipeline>,
    normalization: Normalization,
    classes: usize,
}

/// torchvision's ImageNet evaluation transform: Resize(256) then CenterCrop(224).
fn imagenet_eval_transform() -> Pipeline {
    Pipeline::new(vec![PixelStage::CenterCrop(CenterCrop {
        size: 224,
        crop_fraction: 224.0 / 256.0,
        ..CenterCrop::default()
    })])
    .expect("a valid centre crop")
}

fn classifier(args: &PredictArgs, device: &burn::tensor::Device) -> CliResult<Classifier> {
    if let Some(run) = &args.run {
        let recipe = run_recipe(run)?;
        let ck = Checkpoint::load(&checkpoint_path(run)).map_err(CliError)?;
        let classes = ck.state.classes;
        let model = load_network(&ck, device).map_err(CliError)?;
        return Ok(Classifier {
            model,
            preprocess: recipe.eval_preprocess(),
            normalization: recipe.data.normalization,
            classes,
        });
    }
    let Some(path) = args.weights.as_ref() else {
        return Err(CliError(
            "no model: give --run DIR or --weights FILE --arch NAME".into(),
        ));
    };
    let arch: Arch = args
        .arch
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(CliError)?;
    let weights = TorchvisionWeights::read(path).map_err(CliError)?;
    let model = weights.to_network(arch, device).map_err(CliError)?;
    let (_, classes) = weights.width_and_classes().map_err(CliError)?;
    Ok(Classifier {
        model,
        preprocess: Some(imagenet_eval_transform()),
        normalization: Normalization::IMAGENET,
        classes,
    })
}

/// Class names from `--classes`, else the run's `classes.txt` (a WordNet id of ImageNet's
/// gets its name appended), else ImageNet's for a 1000-class model.
fn class_names(file: Option<&Path>, run: Option<&Path>, classes: usize) -> CliResult<Option<Vec<String>>> {
    let run_classes = run.map(super::train::classes_path).filter(|p| p.is_file());
    if let Some(file) = file.or(run_classes.as_deref()) {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError(format!("cannot read class names {}: {e}", file.display())))?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|name| match imagenet_class_index(name) {
                Some(i) => format!("{name} {}", imagenet_classes()[i].name),
                None => name.to_string(),
            })
            .collect();
        if names.len() != classes {
            return Err(CliError(format!(
                "{} names {} classes, the model has {classes}",
                file.display(),
                names.len()
            )));
        }
        return Ok(Some(names));
    }
    Ok((classes == 1000).then(|| imagenet_classes().iter().map(|c| c.name.to_string()).collect()))
}

pub fn run(args: PredictArgs) -> CliResult {
    if args.top == 0 {
        return Err(CliError("--top must be at least 1".into()));
    }
    let branch: BnBranch = args.bn_branch.parse().map_err(CliError)?;
    let device = device(&args.device)?;
    let classifier = classifier(&args, &device)?;
    let names = class_names(args.classes.as_deref(), args.run.as_deref(), classifier.classes)?;
    let plan = BatchPlan {
        pipeline: classifier.preprocess.clone().unwrap_or_default(),
        ..BatchPlan::eval(classifier.normalization)
    };
    let model = classifier.model.valid();
    let device = device.without_autodiff();
    let top = args.top.min(classifier.classes);
    // One image at a time: images of different sizes cannot share a batch when the recipe
    // has no crop, and an unreadable file is reported before any later one is decoded.
    for path in &args.images {
        let image = read_rgb(path)?;
        let source = VecSource {
            images: vec![image],
            labels: vec![0],
        };
        let batch = make_batch(&source, &[0], &plan, 0).map_err(CliError::from_display)?;
        let (images, _) = batch.to_tensors(&device);
        let logits = model.forward(images, BnMode::eval(branch));
        let probabilities: Vec<f32> = softmax(logits, 1)
            .into_data()
            .try_to_vec()
            .map_err(|e| CliError(format!("cannot read the model's output: {e:?}")))?;
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
        order.truncate(top);
        if args.json {
            let mut line = json!({
                "image": path.display().to_string(),
                "top": order.iter().map(|&i| json!([i, probabilities[i]])).collect::<Vec<_>>(),
            });
            if let Some(names) = &names {
                line["names"] = json!(order.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>());
            }
            println!("{line}");
        } else {
            println!("{}", path.display());
            for (rank, &i) in order.iter().enumerate() {
                let name = names.as_ref().map(|n| format!(" {}", n[i])).unwrap_or_default();
                println!(
                    "  {:>2}. {i:>4}{name:<24} {:>7.3}%",
                    rank + 1,
                    100.0 * probabilities[i]
                );
            }
        }
    }
    Ok(())
}
