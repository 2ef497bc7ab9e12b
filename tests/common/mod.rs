//! Helpers shared by the integration tests.
//!
//! Include with `mod common;` from a test file in `tests/`.

#![allow(dead_code)]

pub mod photos;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable that overrides where the CIFAR-10 JPEG archive is.
pub const CIFAR_TAR_ENV: &str = "ADVBN_CIFAR_TAR";

const CIFAR_TAR_REL: &str = "shared/data/cifar10-jpg.tar.gz";

/// The CIFAR-10 JPEG archive: `$ADVBN_CIFAR_TAR`, else `../shared/data/cifar10-jpg.tar.gz`
/// relative to the package (the checkout's sibling `shared/`), else the first
/// `shared/data/cifar10-jpg.tar.gz` in the package directory or an ancestor of it (a git
/// worktree nested deeper than the main checkout).
pub fn cifar_tar() -> PathBuf {
    if let Some(path) = std::env::var_os(CIFAR_TAR_ENV) {
        return PathBuf::from(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sibling = manifest.join("..").join(CIFAR_TAR_REL);
    if sibling.is_file() {
        return sibling;
    }
    manifest
        .ancestors()
        .map(|dir| dir.join(CIFAR_TAR_REL))
        .find(|p| p.is_file())
        .unwrap_or(sibling)
}

/// The cargo target directory this test binary was built into (it runs from
/// `<target>/<profile>/deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The root of the CIFAR-10 JPEG copy (`train/<class>/*.jpg`, `test/<class>/*.jpg`),
/// unpacked once into `<target>/cifar10-jpg/`.
///
/// Safe when several test binaries race: each unpacks into its own temporary directory
/// and renames it into place; the rename is atomic, so the directory is complete whenever
/// it exists, and a loser of the race discards its copy.
pub fn cifar_jpg_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let target = target_dir();
        let root = target.join("cifar10-jpg");
        if root.join("train").is_dir() {
            return root;
        }
        let tar = cifar_tar();
        let file = fs::File::open(&tar).unwrap_or_else(|e| {
            panic!(
                "cannot open the CIFAR-10 JPEG archive {} ({e}); set {CIFAR_TAR_ENV} to its path",
                tar.display()
            )
        });
        fs::create_dir_all(&target).expect("create the target directory");
        let staging = tempfile::Builder::new()
            .prefix("cifar10-jpg.unpacking.")
            .tempdir_in(&target)
            .expect("create a staging directory");
        tar::Archive::new(flate2::read::GzDecoder::new(file))
            .unpack(staging.path())
            .unwrap_or_else(|e| panic!("cannot unpack {}: {e}", tar.display()));
        assert!(
            staging.path().join("train").is_dir(),
            "{} has no train/ directory",
            tar.display()
        );
        match fs::rename(staging.path(), &root) {
            Ok(()) => {
                let _kept = staging.keep();
            }
            // Another test binary won the race; its copy is complete. Ours is removed on drop.
            Err(_) if root.join("train").is_dir() => {}
            Err(e) => panic!("cannot move the unpacked archive to {}: {e}", root.display()),
        }
        root
    })
    .clone()
}

/// Runs the `advbn` binary with `args` in `dir` (integration tests only: examples that
/// include this module have no binary path).
pub fn advbn<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> std::process::Output {
    let Some(bin) = option_env!("CARGO_BIN_EXE_advbn") else {
        panic!("the advbn binary is known to integration tests only")
    };
    std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run advbn")
}

/// Runs `advbn ARGS` in `dir`, asserts success and returns stdout.
#[track_caller]
pub fn advbn_ok<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> String {
    let out = advbn(dir, args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    assert!(
        out.status.success(),
        "advbn {} failed:\n{}",
        shown.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `advbn ARGS` in `dir`, asserts exit code 1 with a one-line `error: ...` and no
/// panic, and returns that line.
#[track_caller]
pub fn advbn_fails<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> String {
    let out = advbn(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    last
}
