//! `advbn export`: a trained ImageNet ResNet back to PyTorch, in torchvision's key names.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult, check_parent_exists};
use crate::model::torchvision_safetensors;
use crate::train::{Checkpoint, checkpoint_path, load_network, write_atomic};

/// Arguments of `advbn export`.
#[derive(Debug, Args)]
#[command(
    after_help = "The file holds the clean batch-norm branch (the one a standard \
ResNet has) in torchvision's state_dict names, float32, with num_batches_tracked buffers; \
in PyTorch: model = torchvision.models.resnet50(); \
model.load_state_dict(safetensors.torch.load_file(\"model.safetensors\")).

Example:
  advbn export --run runs/advbn-imagenet --out resnet50-advbn.safetensors"
)]
pub struct ExportArgs {
    /// The run directory (holding checkpoint.bin) of a resnet18 or resnet50 recipe.
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the `.safetensors` file (replaced atomically if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(args: ExportArgs) -> CliResult {
    check_parent_exists(&args.out)?;
    let ck = Checkpoint::load(&checkpoint_path(&args.run)).map_err(CliError)?;
    let model = load_network(&ck, &burn::tensor::Device::flex()).map_err(CliError)?;
    let bytes =
        torchvision_safetensors(&model).map_err(|e| CliError(format!("{}: {e}", args.run.display())))?;
    write_atomic(&args.out, |file| file.write_all(&bytes))
        .map_err(|e| CliError(format!("cannot write {}: {e}", args.out.display())))?;
    println!(
        "{}: {} ({} classes, clean branch) in torchvision's names, {:.1} MB",
        args.out.display(),
        ck.state.arch,
        ck.state.classes,
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
