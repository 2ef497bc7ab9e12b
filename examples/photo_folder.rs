//! Makes a photo folder for benchmarks and trials from the CIFAR-10 JPEG copy: every image
//! upscaled to one of ImageNet's typical sizes (500x375, 375x500, 500x333, 640x480,
//! 333x500, times `--scale`) with a little noise, in `ROOT/train/<class>/*.JPEG` and
//! `ROOT/val/<class>/*.JPEG` (torchvision's ImageFolder layout, ImageNet's names).
//!
//! ```sh
//! cargo run --release --example photo_folder -- target/photos-2000 --train-per-class 200 --val-per-class 20
//! cargo run --release --example photo_folder -- target/photos-modes --train-per-class 12 --all-modes --scale 0.3
//! ```
//!
//! The archive is `$ADVBN_CIFAR_TAR` or `../shared/data/cifar10-jpg.tar.gz`, unpacked once
//! into `target/cifar10-jpg/`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::photos::{PhotoFolder, make_photo_folder};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut spec = PhotoFolder {
        classes: 10,
        train_per_class: 100,
        val_per_class: 10,
        scale: 1.0,
        all_modes: false,
    };
    let number = |flag: &str, value: Option<String>| -> Result<f64, String> {
        value
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<f64>()
            .map_err(|e| format!("{flag}: {e}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--classes" => spec.classes = number(&arg, args.next())? as usize,
            "--train-per-class" => spec.train_per_class = number(&arg, args.next())? as usize,
            "--val-per-class" => spec.val_per_class = number(&arg, args.next())? as usize,
            "--scale" => spec.scale = number(&arg, args.next())?,
            "--all-modes" => spec.all_modes = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path => out = Some(PathBuf::from(path)),
        }
    }
    let out = out.ok_or("usage: photo_folder OUT [--classes N] [--train-per-class N] [--val-per-class N] [--scale F] [--all-modes]")?;
    if out.exists() {
        return Err(format!("{} exists; choose a new folder", out.display()));
    }
    if !(spec.classes >= 1
        && spec.classes <= 10
        && spec.train_per_class <= 5000
        && spec.val_per_class <= 1000)
    {
        return Err(
            "at most 10 classes, 5000 train and 1000 val photos per class (CIFAR-10's split sizes)".into(),
        );
    }
    let started = Instant::now();
    let files = make_photo_folder(&common::cifar_jpg_root(), &out, &spec);
    println!(
        "wrote {} photos into {} in {:.1}s",
        files.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
