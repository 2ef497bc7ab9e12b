//! CIFAR-10 test images from the JPEG archive, for this crate's examples and benches (each
//! includes this file with `#[path]`; the crate itself reads no archives).
#![allow(dead_code)]

use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::RgbImage;

/// The archive: `$ADVBN_CIFAR_TAR`, else `shared/data/cifar10-jpg.tar.gz` one or two levels
/// above the workspace, if it exists.
pub fn default_tar() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ADVBN_CIFAR_TAR") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        "../shared/data/cifar10-jpg.tar.gz",
        "../../shared/data/cifar10-jpg.tar.gz",
    ]
    .iter()
    .map(|rel| root.join(rel))
    .find(|p| p.exists())
}

/// The first `n` `test/*.jpg` images of the archive at `path`, in the archive's order (all of
/// them when it holds fewer).
pub fn test_images(path: impl AsRef<Path>, n: usize) -> Result<Vec<RgbImage>, Box<dyn Error>> {
    let file = std::fs::File::open(path)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries()? {
        if out.len() == n {
            break;
        }
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name.starts_with("test/") && name.ends_with(".jpg") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            out.push(image::load_from_memory(&bytes)?.to_rgb8());
        }
    }
    Ok(out)
}
