//! `advbn augment`: apply one op with an explicit Pillow-level value, or write AugMix views
//! (and a contact sheet) of images.

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult};
use super::images::{create_out_dir, read_rgb, stem, write_png};
use crate::augmenters::ops::apply_named;
use crate::augmenters::{
    AugMix, AugMixVariant, Pipeline, PixelStage, SampleKey, StageContext, Validate, contact_sheet,
};

/// Arguments of `advbn augment`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["op", "augmix", "recipe", "stage"])))]
pub struct AugmentArgs {
    /// Apply one op: autocontrast, equalize, posterize, solarize, rotate, shear_x, shear_y,
    /// translate_x, translate_y, color, contrast, brightness, sharpness.
    #[arg(long, value_name = "NAME")]
    pub op: Option<String>,
    /// The op's Pillow-level value: bits (posterize), threshold (solarize), degrees (rotate),
    /// shear factor, translate pixels, enhance factor; none for autocontrast and equalize.
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    pub value: Option<f64>,
    /// Write AugMix views (paper variant) of every input.
    #[arg(long)]
    pub augmix: bool,
    /// Write the views a recipe's whole image-space stack (`[[pixel]]`) makes of every input
    /// (built-in name or path); `--set` overrides apply.
    #[arg(long, value_name = "NAME")]
    pub recipe: Option<String>,
    /// Write views of one pipeline stage with its default settings: any recipe `[[pixel]]`
    /// kind, e.g. randconv, fourier_mix, color_transfer, random_net, augmix, random_crop.
    /// Stylizers that need a partner take the next input file.
    #[arg(long, value_name = "KIND")]
    pub stage: Option<String>,
    /// Recipe overrides, `key.path=value` (with --recipe).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// AugMix severity (1..=10).
    #[arg(long, default_value_t = 3)]
    pub severity: u32,
    /// AugMix sampling: paper (the reference implementation) or torchvision (its
    /// `transforms.AugMix`: discrete magnitude bins, all 13 ops).
    #[arg(long, default_value = "paper")]
    pub variant: String,
    /// AugMix views per input.
    #[arg(long, default_value_t = 3)]
    pub views: usize,
    /// Seed of the AugMix streams.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (AugMix mode).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write grid.png: one row per input, the original then its views.
    #[arg(long)]
    pub grid: bool,
    /// With --op: INPUT OUTPUT. With --augmix: the input images.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: AugmentArgs) -> CliResult {
    match (&args.op, &args.recipe) {
        (Some(op), _) => single_op(op, &args),
        (None, Some(recipe)) => {
            let recipe = super::common::load_recipe(recipe, &args.set)?;
            let pipeline = recipe.pipeline().map_err(CliError::from_display)?;
            write_views(
                &pipeline,
                &args,
                &format!("{}_epoch", recipe.name.replace('+', "_")),
                true,
            )
        }
        (None, None) if args.stage.is_some() => {
            let kind = args.stage.as_deref().expect("checked");
            let stage: PixelStage = toml::from_str(&format!("kind = \"{kind}\"")).map_err(|_| {
                CliError(format!(
                    "unknown stage kind `{kind}` (valid: {})",
                    crate::augmenters::stage_kind_names().join(", ")
                ))
            })?;
            let pipeline = Pipeline::new(vec![stage]).map_err(CliError::from_display)?;
            write_views(&pipeline, &args, kind, false)
        }
        (None, None) => {
            let variant = match args.variant.as_str() {
                "paper" => AugMixVariant::Paper,
                "torchvision" => AugMixVariant::Torchvision,
                other => {
                    return Err(CliError(format!(
                        "unknown AugMix variant `{other}` (valid: paper, torchvision)"
                    )));
                }
            };
            let config = AugMix {
                severity: args.severity,
                variant,
                ..AugMix::default()
            };
            config.validate().map_err(CliError::from_display)?;
            let pipeline = Pipeline::new(vec![PixelStage::Augmix(config)]).map_err(CliError::from_display)?;
            write_views(&pipeline, &args, "augmix", false)
        }
    }
}

fn single_op(op: &str, args: &AugmentArgs) -> CliResult {
    let [input, output] = args.files.as_slice() else {
        return Err(CliError(format!(
            "--op takes exactly two files, INPUT OUTPUT (got {})",
            args.files.len()
        )));
    };
    let image = read_rgb(input)?;
    let out = apply_named(op, args.value, &image).map_err(CliError::from_display)?;
    write_png(output, &out)?;
    println!("{} -> {}", input.display(), output.display());
    Ok(())
}

/// Writes `views` outputs of `pipeline` for every input (named `<stem>_<label><v>.png`),
/// and with `--grid` a contact sheet. With `per_epoch`, view `v` is what training feeds the
/// network for this sample in epoch `v` (all stages drawn anew); otherwise the views are the
/// per-view outputs of one draw of the shared stages.
fn write_views(pipeline: &Pipeline, args: &AugmentArgs, label: &str, per_epoch: bool) -> CliResult {
    let out_dir = args.out.as_ref().ok_or_else(|| {
        let mode = if per_epoch {
            "recipe"
        } else if args.stage.is_some() {
            "stage"
        } else {
            "augmix"
        };
        CliError(format!("--{mode} needs --out DIR"))
    })?;
    create_out_dir(out_dir)?;
    if args.views == 0 {
        return Err(CliError("--views must be at least 1".into()));
    }
    let mut rows = Vec::with_capacity(args.files.len());
    for (index, input) in args.files.iter().enumerate() {
        let image = read_rgb(input)?;
        // Stylizers that mix with a partner take the next input (the only one: itself).
        let partner = read_rgb(&args.files[(index + 1) % args.files.len()])?;
        let context = StageContext::with_partner(&partner);
        let outputs: Vec<_> = if per_epoch {
            (0..args.views)
                .map(|epoch| {
                    let key = SampleKey::new(args.seed, epoch as u64, index as u64);
                    let views = pipeline.run_with(&image, key, 1, context);
                    views.primary().clone()
                })
                .collect()
        } else {
            pipeline
                .run_with(
                    &image,
                    SampleKey::new(args.seed, 0, index as u64),
                    args.views,
                    context,
                )
                .augmented
        };
        let mut row = vec![image.clone()];
        for (v, view) in outputs.into_iter().enumerate() {
            let rgb = view.into_rgb8();
            let path = out_dir.join(format!("{}_{label}{}.png", stem(input), v + 1));
            write_png(&path, &rgb)?;
            row.push(rgb);
        }
        rows.push(row);
    }
    println!(
        "wrote {} views of {} images to {}",
        args.views * args.files.len(),
        args.files.len(),
        out_dir.display()
    );
    if args.grid {
        let largest = rows
            .iter()
            .flatten()
            .map(|i| i.width().max(i.height()))
            .max()
            .unwrap_or(1);
        let scale = (128 / largest.max(1)).clamp(1, 8);
        let path = out_dir.join("grid.png");
        write_png(&path, &contact_sheet(&rows, scale, 2))?;
        println!("contact sheet: {}", path.display());
    }
    Ok(())
}
