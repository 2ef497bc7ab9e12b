//! `advbn corrupt`: one corruption at one severity, or all of them (and a contact sheet).

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult};
use super::images::{create_out_dir, read_rgb, stem, write_png};
use crate::augmenters::SampleKey;
use crate::augmenters::corrupt::{Corrupter, Corruption, CorruptionConfig, Preset, contact_sheet};

/// Arguments of `advbn corrupt`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["corruption", "all"])))]
pub struct CorruptArgs {
    /// The corruption (e.g. gaussian_noise, fog, jpeg_compression; see --help of the docs).
    #[arg(long, value_name = "NAME")]
    pub corruption: Option<String>,
    /// Severity 1..=5.
    #[arg(long, default_value_t = 3)]
    pub severity: u8,
    /// Parameter preset: cifar (32x32, CIFAR-10-C) or imagenet (ImageNet-C, imagecorruptions).
    #[arg(long, default_value = "cifar")]
    pub preset: String,
    /// Seed of the random corruptions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A directory of real frost photographs to use instead of the procedural textures.
    #[arg(long)]
    pub frost_dir: Option<PathBuf>,
    /// Write every corruption at every severity of each input into --out.
    #[arg(long)]
    pub all: bool,
    /// Output directory (with --all).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --all: also write <input>_grid.png, one row per corruption, severities 1-5.
    #[arg(long)]
    pub grid: bool,
    /// INPUT OUTPUT with --corruption; the inputs with --all.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: CorruptArgs) -> CliResult {
    let preset: Preset = args.preset.parse().map_err(CliError)?;
    if !(1..=5).contains(&args.severity) {
        return Err(CliError(format!(
            "--severity is {}, allowed range is 1..=5",
            args.severity
        )));
    }
    match &args.corruption {
        Some(name) => {
            let [input, output] = args.files.as_slice() else {
                return Err(CliError(format!(
                    "--corruption takes exactly two files, INPUT OUTPUT (got {})",
                    args.files.len()
                )));
            };
            let corruption = Corruption::from_name(name).map_err(CliError::from_display)?;
            let corrupter = Corrupter::new(CorruptionConfig {
                frost_dir: args.frost_dir.clone(),
                ..CorruptionConfig::new(corruption, args.severity, preset)
            })
            .map_err(CliError::from_display)?;
            let image = read_rgb(input)?;
            write_png(
                output,
                &corrupter.corrupt(&image, SampleKey::new(args.seed, 0, 0)),
            )?;
            println!("{} -> {}", input.display(), output.display());
            Ok(())
        }
        None => all(&args, preset),
    }
}

fn all(args: &CorruptArgs, preset: Preset) -> CliResult {
    let out = args
        .out
        .as_ref()
        .ok_or_else(|| CliError("--all needs --out DIR".into()))?;
    create_out_dir(out)?;
    let corrupters = Corruption::ALL
        .iter()
        .flat_map(|&c| (1..=5u8).map(move |s| (c, s)))
        .map(|(c, s)| {
            Corrupter::new(CorruptionConfig {
                frost_dir: args.frost_dir.clone(),
                ..CorruptionConfig::new(c, s, preset)
            })
            .map_err(CliError::from_display)
        })
        .collect::<CliResult<Vec<_>>>()?;
    for (index, input) in args.files.iter().enumerate() {
        let image = read_rgb(input)?;
        let key = SampleKey::new(args.seed, 0, index as u64);
        for c in &corrupters {
            let cfg = c.config();
            let path = out.join(format!(
                "{}_{}_{}.png",
                stem(input),
                cfg.corruption.name(),
                cfg.severity
            ));
            write_png(&path, &c.corrupt(&image, key))?;
        }
        if args.grid {
            let sheet = contact_sheet(&image, &Corruption::ALL, preset, args.seed, 2)
                .map_err(CliError::from_display)?;
            let path = out.join(format!("{}_grid.png", stem(input)));
            write_png(&path, &sheet)?;
            println!("contact sheet: {}", path.display());
        }
    }
    println!(
        "wrote {} images ({} corruptions x 5 severities x {} inputs) to {}",
        corrupters.len() * args.files.len(),
        Corruption::ALL.len(),
        args.files.len(),
        out.display()
    );
    Ok(())
}
