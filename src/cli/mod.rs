//! The `advbn` command line: one module per command, sharing argument types and the
//! error convention (one line on stderr, non-zero exit, never a panic).

mod augment;
mod bench;
mod common;
mod corrupt;
mod eval;
mod export;
mod images;
mod predict;
mod recipes;
mod study;
mod train;
mod visualize;

use clap::{Parser, Subcommand};

pub use common::CliError;

/// Train image classifiers that stay accurate when the style of their inputs changes.
#[derive(Debug, Parser)]
#[command(name = "advbn", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a recipe on a dataset.
    Train(train::TrainArgs),
    /// Evaluate a trained run.
    Eval(eval::EvalArgs),
    /// Classify image files with a trained run or torchvision weights.
    Predict(predict::PredictArgs),
    /// Write a trained ImageNet ResNet as torchvision-named safetensors.
    Export(export::ExportArgs),
    /// List the built-in recipes, or print one fully resolved.
    Recipes(recipes::RecipesArgs),
    /// Apply one augmentation op, or write AugMix views of images.
    Augment(augment::AugmentArgs),
    /// Measure augmentation (and training) throughput.
    Bench(bench::BenchArgs),
    /// Corrupt images with the CIFAR-10-C / ImageNet-C corruptions.
    Corrupt(corrupt::CorruptArgs),
    /// Train several recipes and compare their robustness in one report.
    Study(study::StudyArgs),
    /// Picture what AdvBN does in a trained run: factors over training, feature maps.
    Visualize(visualize::VisualizeArgs),
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Recipes(args) => recipes::run(args),
        Command::Augment(args) => augment::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Corrupt(args) => corrupt::run(args),
        Command::Study(args) => study::run(args),
        Command::Visualize(args) => visualize::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
