//! Photos of mixed sizes and modes, as a user brings them: folders made from the CIFAR-10
//! JPEG copy (upscaled to ImageNet's typical aspect ratios, every common file mode), trained
//! on with the ImageNet recipes shrunk by `--set`, with corrupt files, resumed, and timed by
//! `advbn bench --pipeline`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use std::sync::Arc;

use advbn::data::{DataSpec, ImageSource, LoadOptions, load};
use advbn::recipe::{apply_overrides, builtin};
use advbn::train::{TrainSetup, train};
use burn::tensor::Device;
use common::photos::{Mode, PhotoFolder, make_photo_folder};
use serde_json::Value;

/// The ImageNet recipes at a size a CPU test can afford (the issue's own example).
const SMALL_IMAGENET: &[&str] = &[
    "--set",
    "model.arch=resnet18",
    "--set",
    "data.image_size=64",
    "--set",
    "train.batch_size=8",
    "--set",
    "eval.batch_size=16",
];

/// A folder of 3 classes x (8 train + 4 val) photos of 100x75 .. 128x96, every mode, made
/// once per test binary under the target directory.
fn mixed_folder() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = common::target_dir().join("photos-mixed-test");
        let _ = fs::remove_dir_all(&root);
        make_photo_folder(
            &common::cifar_jpg_root(),
            &root,
            &PhotoFolder {
                classes: 3,
                train_per_class: 8,
                val_per_class: 4,
                scale: 0.2,
                all_modes: true,
            },
        );
        root
    })
    .clone()
}

/// A copy of the mixed folder that a test may damage.
fn folder_copy(into: &Path) -> PathBuf {
    let root = into.join("photos");
    copy_tree(&mixed_folder(), &root);
    root
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    common::advbn(dir, args)
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    common::advbn_ok(dir, args)
}

fn metrics(run_dir: &Path) -> Vec<Value> {
    fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn epochs(run_dir: &Path) -> Vec<Value> {
    metrics(run_dir)
        .into_iter()
        .filter(|v| v["kind"] == "epoch")
        .collect()
}

#[test]
fn the_mixed_folder_really_is_mixed() {
    let root = mixed_folder();
    let mut sizes = std::collections::HashSet::new();
    let mut extensions = std::collections::HashSet::new();
    for class in fs::read_dir(root.join("train")).unwrap() {
        for file in fs::read_dir(class.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            sizes.insert(image::image_dimensions(&path).unwrap());
            extensions.insert(path.extension().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(sizes.len() >= 5, "{sizes:?}");
    assert_eq!(extensions, ["JPEG".to_string(), "png".to_string()].into());
    // 24 training photos cycle through all 12 modes twice.
    assert_eq!(Mode::ALL.len(), 12);
}

#[test]
fn baseline_imagenet_trains_and_evaluates_on_mixed_photos() {
    let scratch = tempfile::tempdir().unwrap();
    let data = format!("folder:{}", mixed_folder().display());
    let mut args = vec![
        "train",
        "--recipe",
        "baseline-imagenet",
        "--data",
        &data,
        "--epochs",
        "1",
        "--out",
        "run",
    ];
    args.extend(SMALL_IMAGENET);
    let stdout = ok(scratch.path(), &args);
    assert!(stdout.contains("clean test accuracy"), "{stdout}");
    let run_dir = scratch.path().join("run");
    // Class list in ImageFolder order, one per line.
    let classes = fs::read_to_string(run_dir.join("classes.txt")).unwrap();
    assert_eq!(classes, "airplane\nautomobile\nbird\n");
    let recipe = fs::read_to_string(run_dir.join("recipe.toml")).unwrap();
    assert!(
        recipe.contains("image_size = 64") && recipe.contains("resnet18"),
        "{recipe}"
    );
    let epoch = &epochs(&run_dir)[0];
    assert_eq!(epoch["skipped_files"], 0);
    // 24 photos in batches of 8: 3 steps; the test set (12 val photos) was evaluated.
    assert_eq!(epoch["step"], 3);
    let acc = epoch["test_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{epoch}");
    // `advbn eval` of the run reads the folder again with the centre crop.
    let out = ok(scratch.path(), &["eval", "--run", "run"]);
    assert!(out.contains("clean"), "{out}");
}

#[test]
fn augmix_advbn_imagenet_trains_on_mixed_photos() {
    let scratch = tempfile::tempdir().unwrap();
    let data = format!("folder:{}", mixed_folder().display());
    let mut args = vec![
        "train",
        "--recipe",
        "augmix+advbn-imagenet",
        "--data",
        &data,
        "--epochs",
        "1",
        "--train-limit",
        "16",
        "--out",
        "run",
    ];
    args.extend(SMALL_IMAGENET);
    ok(scratch.path(), &args);
    let steps: Vec<Value> = metrics(&scratch.path().join("run"))
        .into_iter()
        .filter(|v| v["kind"] == "step")
        .collect();
    assert_eq!(steps.len(), 2);
    for step in &steps {
        // The adversary ran (its loss is logged) and so did the JSD term.
        assert!(step["loss_adv"].as_f64().unwrap().is_finite(), "{step}");
        assert!(step["loss_jsd"].as_f64().unwrap() >= 0.0, "{step}");
        assert!(step["factors_mean"].is_array(), "{step}");
    }
}

#[test]
fn a_cifar_recipe_on_photos_says_what_to_add() {
    let scratch = tempfile::tempdir().unwrap();
    let data = format!("folder:{}", mixed_folder().display());
    let out = run(
        scratch.path(),
        &[
            "train",
            "--recipe",
            "baseline",
            "--data",
            &data,
            "--epochs",
            "1",
            "--set",
            "model.arch=tiny",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: ")
            && last.contains("random_resized_crop")
            && last.contains("data.image_size"),
        "{err}"
    );
}

/// Truncates the first training JPEG of the copy; returns its path.
fn truncate_a_jpeg(root: &Path) -> PathBuf {
    let class = root.join("train").join("bird");
    let mut files: Vec<PathBuf> = fs::read_dir(&class)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "JPEG"))
        .collect();
    files.sort();
    let bad = files[0].clone();
    let bytes = fs::read(&bad).unwrap();
    fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    bad
}

#[test]
fn a_corrupt_photo_stops_the_run_unless_the_recipe_skips_it() {
    let scratch = tempfile::tempdir().unwrap();
    let root = folder_copy(scratch.path());
    let bad = truncate_a_jpeg(&root);
    let data = format!("folder:{}", root.display());
    let base = [
        "train",
        "--recipe",
        "baseline-imagenet",
        "--data",
        &data,
        "--set",
        "model.arch=tiny",
        "--set",
        "data.image_size=32",
        "--set",
        "train.batch_size=8",
    ];
    let mut args = base.to_vec();
    args.extend(["--epochs", "1", "--out", "stop"]);
    let out = run(scratch.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("truncated JPEG"),
        "{err}"
    );

    let mut args = base.to_vec();
    args.extend(["--epochs", "2", "--set", "data.on_corrupt=skip", "--out", "skip"]);
    let out = run(scratch.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Warned once, although two epochs met the file.
    assert_eq!(err.matches(&*bad.display().to_string()).count(), 1, "{err}");
    let per_epoch: Vec<u64> = epochs(&scratch.path().join("skip"))
        .iter()
        .map(|e| e["skipped_files"].as_u64().unwrap())
        .collect();
    assert_eq!(per_epoch, vec![1, 1]);
}

/// Trains the shrunk `augmix-imagenet` on the mixed folder for 2 epochs into `dir`: at once,
/// or stopping after the first epoch and resuming from its checkpoint.
fn train_folder_run(dir: &Path, interrupted: bool) -> Vec<f64> {
    let overrides: Vec<String> = [
        "model.arch=tiny",
        "data.image_size=32",
        "train.batch_size=8",
        "train.epochs=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let recipe = apply_overrides(builtin("augmix-imagenet").unwrap().unwrap(), &overrides).unwrap();
    let spec = DataSpec::Folder(mixed_folder());
    let opts = LoadOptions {
        seed: recipe.train.seed,
        files: recipe.data.file_options(),
        ..Default::default()
    };
    let splits = recipe.prepare_eval(load(&spec, &opts).unwrap());
    let classes = splits.classes().len();
    let train_set: Arc<dyn ImageSource> = Arc::new(splits.train);
    let test_set: Arc<dyn ImageSource> = Arc::new(splits.test);
    let setup = |resume: bool, stop: Option<usize>| TrainSetup {
        recipe: recipe.clone(),
        train: train_set.clone(),
        test: Some(test_set.clone()),
        classes,
        device: Device::flex(),
        devices: Vec::new(),
        run_dir: dir.to_path_buf(),
        resume,
        init_from: None,
        progress: false,
        label: None,
        stop_after_epochs: stop,
    };
    if interrupted {
        assert_eq!(train(setup(false, Some(1))).unwrap().epochs, 1);
        assert_eq!(train(setup(true, None)).unwrap().epochs, 2);
    } else {
        train(setup(false, None)).unwrap();
    }
    epochs(dir)
        .iter()
        .map(|e| e["train_loss"].as_f64().unwrap())
        .collect()
}

#[test]
fn a_run_on_photos_resumes_to_the_same_result() {
    let scratch = tempfile::tempdir().unwrap();
    let whole = train_folder_run(&scratch.path().join("whole"), false);
    let resumed = train_folder_run(&scratch.path().join("resumed"), true);
    assert_eq!(whole.len(), 2);
    assert_eq!(resumed.len(), 2);
    // The first epoch is the same computation; the second starts from the checkpoint. The
    // tolerance is the CLI kill-and-resume test's (flex's parallel reductions may differ in
    // the last bits between runs).
    for (w, r) in whole.iter().zip(&resumed) {
        assert!(
            (w - r).abs() <= 1e-3 * w.abs(),
            "train loss {r} (resumed) vs {w} (whole)"
        );
    }
}

#[test]
fn bench_pipeline_times_the_photo_input_path() {
    let scratch = tempfile::tempdir().unwrap();
    let data = format!("folder:{}", mixed_folder().display());
    let json = scratch.path().join("rows.json");
    let json_arg = json.display().to_string();
    let stdout = ok(
        scratch.path(),
        &[
            "bench",
            "--pipeline",
            "--data",
            &data,
            "--size",
            "64",
            "--count",
            "12",
            "--threads",
            "2",
            "--seconds",
            "0.2",
            "--json",
            &json_arg,
        ],
    );
    assert!(stdout.contains("scaling:"), "{stdout}");
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let threads: Vec<u64> = rows.iter().map(|r| r["threads"].as_u64().unwrap()).collect();
    assert_eq!(threads, vec![1, 2]);
    for row in &rows {
        assert_eq!(row["name"], "pipeline");
        assert_eq!(row["size"], 64);
        // At least the 12 images of the warm-up-free timed passes within the 0.2 s floor.
        let rate = row["images_per_s"].as_f64().unwrap();
        assert!(rate.is_finite() && rate > 12.0 / 60.0, "{row}");
    }
    let out = run(
        scratch.path(),
        &["bench", "--pipeline", "--data", "synthetic", "--seconds", "0.1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data must be `folder:PATH`"));
}

#[test]
fn study_of_imagenet_recipes_on_photos_reports_every_column() {
    let scratch = tempfile::tempdir().unwrap();
    let data = format!("folder:{}", mixed_folder().display());
    let stdout = ok(
        scratch.path(),
        &[
            "study",
            "baseline-imagenet",
            "advbn-imagenet",
            "--data",
            &data,
            "--epochs",
            "1",
            "--corruptions",
            "gaussian_noise,fog",
            "--set",
            "model.arch=tiny",
            "--set",
            "data.image_size=32",
            "--set",
            "train.batch_size=8",
            "--out",
            "study",
        ],
    );
    assert!(
        stdout.contains("baseline-imagenet") && stdout.contains("advbn-imagenet"),
        "{stdout}"
    );
    let csv = fs::read_to_string(scratch.path().join("study/results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for recipe in ["baseline-imagenet", "advbn-imagenet"] {
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[col("recipe")] == recipe).collect();
        let count = |kind: &str| mine.iter().filter(|r| r[col("kind")] == kind).count();
        // clean, the generated style-shift set, 2 corruptions x 5 severities
        assert_eq!(
            (count("clean"), count("shift"), count("corruption")),
            (1, 1, 10),
            "{recipe}"
        );
        for row in &mine {
            // every set is the 12 val photos, centre-cropped
            assert_eq!(row[col("samples")], "12", "{row:?}");
        }
    }
}
