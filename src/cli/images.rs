//! Reading and writing image files for the commands, with one-line errors naming the file.

use std::path::Path;

use image::{ImageFormat, RgbImage};

use super::common::{CliError, CliResult};
use crate::data::{DataError, decode_image};

/// Decodes an image file to RGB8 with the data sets' decoder ([`decode_image`]: every
/// common mode, truncated JPEGs refused), so a file that a `folder:` data set rejects is
/// rejected by every command too.
pub fn read_rgb(path: &Path) -> CliResult<RgbImage> {
    decode_image(path).map_err(|e| match e {
        DataError::Decode { reason, .. } => {
            CliError(format!("{} is not a readable image: {reason}", path.display()))
        }
        other => CliError(other.to_string()),
    })
}

/// Writes a PNG (whatever the extension says); the parent directory must exist.
pub fn write_png(path: &Path, image: &RgbImage) -> CliResult {
    super::common::check_parent_exists(path)?;
    image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))
}

/// Makes an output directory and its missing parents (as `mkdir -p`); an error when the
/// path is a file or cannot be created.
pub fn create_out_dir(dir: &Path) -> CliResult {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError(format!(
            "output directory {} is a file, not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError(format!("cannot create output directory {}: {e}", dir.display())))
}

/// The file stem of a path, for naming outputs.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}
