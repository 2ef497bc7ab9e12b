//! Reading and writing image files for the commands, with one-line errors naming the file.

use std::path::Path;

use image::{ImageFormat, RgbImage};

use super::common::{CliError, CliResult};
use crate::augmenters::to_rgb8;

/// Decodes any supported image file to RGB8 (grey and alpha converted explicitly).
pub fn read_rgb(path: &Path) -> CliResult<RgbImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?
        .with_guessed_format()
        .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
    let decoded = reader
        .decode()
        .map_err(|e| CliError(format!("{} is not a readable image: {e}", path.display())))?;
    Ok(to_rgb8(decoded))
}

/// Writes a PNG (whatever the extension says); the parent directory must exist.
pub fn write_png(path: &Path, image: &RgbImage) -> CliResult {
    super::common::check_parent_exists(path)?;
    image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))
}

/// An existing output directory, or an error.
pub fn check_out_dir(dir: &Path) -> CliResult {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(CliError(format!(
            "output directory {} does not exist",
            dir.display()
        )))
    }
}

/// The file stem of a path, for naming outputs.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}
