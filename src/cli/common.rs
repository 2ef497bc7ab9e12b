//! What several commands share: the error type, recipe and data resolution, devices.

use std::io::IsTerminal;
use std::path::Path;

use crate::data::{DataSpec, DataSplits, LoadOptions};
use crate::device::DeviceChoice;
use crate::recipe::{Recipe, apply_overrides, resolve};

/// A command-line error: printed as one line, exit code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, always: multi-line causes (e.g. TOML snippets) are folded.
        let text = self
            .0
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        f.write_str(&text)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// Wraps anything displayable.
    pub fn from_display(e: impl std::fmt::Display) -> Self {
        CliError(e.to_string())
    }
}

/// `Result` of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// A recipe from a name or path, with `--set` overrides applied.
pub fn load_recipe(name_or_path: &str, overrides: &[String]) -> CliResult<Recipe> {
    let recipe = resolve(name_or_path).map_err(CliError::from_display)?;
    apply_overrides(recipe, overrides).map_err(CliError::from_display)
}

/// Reads a run directory's resolved recipe.
pub fn run_recipe(run_dir: &Path) -> CliResult<Recipe> {
    let path = crate::train::recipe_path(run_dir);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError(format!("{}: not a run directory ({e})", run_dir.display())))?;
    Recipe::from_toml(&text, &path.display().to_string()).map_err(CliError::from_display)
}

/// Parses a data spec.
pub fn parse_data(spec: &str) -> CliResult<DataSpec> {
    spec.parse().map_err(CliError::from_display)
}

/// Loads a dataset, saying what it loads.
pub fn load_data(spec: &DataSpec, options: &LoadOptions) -> CliResult<DataSplits> {
    let started = std::time::Instant::now();
    let splits = spec.load(options).map_err(CliError::from_display)?;
    eprintln!(
        "data {spec}: {} train, {} test{} images, {} classes ({:.1}s)",
        splits.train.len(),
        splits.test.len(),
        splits
            .shifts
            .iter()
            .map(|(name, ds)| format!(", {} {name}", ds.len()))
            .collect::<String>(),
        splits.classes().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(splits)
}

/// A device by name.
pub fn device(choice: &str) -> CliResult<burn::tensor::Device> {
    let choice: DeviceChoice = choice.parse().map_err(CliError)?;
    choice.device().map_err(CliError)
}

/// Whether to draw progress bars (stderr is a terminal).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// Checks that an output directory's parent exists (so a typo is reported, not created).
pub fn check_parent_exists(path: &Path) -> CliResult {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.exists() => Err(CliError(format!(
            "{}: the directory {} does not exist",
            path.display(),
            parent.display()
        ))),
        _ => Ok(()),
    }
}
