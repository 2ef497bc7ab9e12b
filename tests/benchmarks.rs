//! The published robustness benchmarks through the command line, on small sets that these
//! tests write in the released formats from the CIFAR-10 JPEG copy: a 2-severity
//! CIFAR-10-C directory (`.npy`), an ImageNet-C tree of upscaled images in wnid folders, and
//! an ImageNet-R-style folder. Two tiny runs are trained once per test binary: one on CIFAR's
//! class names (for CIFAR-10-C) and one on a folder whose classes are ImageNet wnids.
//!
//! Metrics are checked against values recomputed here from the per-subset errors (`--csv`)
//! and the AlexNet table; the 200-class restriction against logits computed here.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use advbn::augmenters::SampleKey;
use advbn::augmenters::corrupt::{Corrupter, Corruption, Preset};
use advbn::data::{
    BatchPlan, ImageSource, VecSource, decode_image, imagenet_r_wnids, imagenet_wnids, make_batch,
};
use advbn::eval::benchmark::{alexnet_clean_error, alexnet_error};
use advbn::model::{BnMode, SplitModel};
use advbn::train::{Checkpoint, load_network};
use image::RgbImage;

const BIN: &str = env!("CARGO_BIN_EXE_advbn");

/// CIFAR-10-C corruptions written (plus `brightness.npy`, holding the clean images).
const CIFAR_C: [Corruption; 3] = [
    Corruption::GaussianNoise,
    Corruption::Contrast,
    Corruption::Saturate,
];
/// ImageNet-C corruptions written.
const IMAGENET_C: [Corruption; 2] = [Corruption::Fog, Corruption::Contrast];
const PER_CLASS_TEST: usize = 10;

/// Everything the tests share, made once.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// Run trained on wnid class folders (`wnid-run`; `cifar-run` has CIFAR's class names).
    wnid_run: PathBuf,
    /// The wnid run's classes, in label order.
    wnids: Vec<String>,
    cifar_c: PathBuf,
    imagenet_c: PathBuf,
    imagenet_r: PathBuf,
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("ADVBN_CIFAR_TAR")
        .output()
        .expect("run advbn")
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "advbn {args:?} failed:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8(out.stdout).unwrap()
}

/// A one-line error with exit code 1 that contains every `expected` piece.
#[track_caller]
fn fails(dir: &Path, args: &[&str], expected: &[&str]) {
    let out = run(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "advbn {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("data ")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for piece in expected {
        assert!(lines[0].contains(piece), "`{piece}` not in: {err}");
    }
}

/// A uint8 `.npy` array of `shape`.
fn write_npy(path: &Path, shape: &[u64], data: &[u8]) {
    advbn::data::write_npy(path, "|u1", shape, data).unwrap();
}

fn write_jpeg(img: &RgbImage, path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut enc = jpeg_encoder::Encoder::new_file(path, 95).unwrap();
    enc.set_progressive(false);
    enc.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
}

/// The wnids standing in for the 10 CIFAR classes: five of ImageNet-R's 200 and five
/// ImageNet classes outside them, so that the 200-class restriction has something to do.
fn stand_in_wnids() -> Vec<String> {
    let r = imagenet_r_wnids();
    let outside: Vec<String> = imagenet_wnids()
        .into_iter()
        .filter(|w| r.binary_search(&w.as_str()).is_err())
        .take(5)
        .collect();
    let mut all: Vec<String> = r[..5].iter().map(|s| s.to_string()).chain(outside).collect();
    all.sort();
    all
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let cifar = common::cifar_jpg_root();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let classes: Vec<String> = {
            let mut c: Vec<String> = fs::read_dir(cifar.join("test"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            c.sort();
            c
        };
        assert_eq!(classes.len(), 10);
        let wnids = stand_in_wnids();
        // Two folders over the same images: CIFAR names, and wnids (class i -> wnids[i]).
        for (split, from, per_class) in [("train", "train", 40), ("val", "test", PER_CLASS_TEST)] {
            for (i, class) in classes.iter().enumerate() {
                for k in 0..per_class {
                    let src = cifar.join(from).join(class).join(format!("{k:04}.jpg"));
                    for (folder, name) in [("cifar", class.as_str()), ("wnid", wnids[i].as_str())] {
                        let to = root
                            .join(folder)
                            .join(split)
                            .join(name)
                            .join(format!("{k:04}.jpg"));
                        fs::create_dir_all(to.parent().unwrap()).unwrap();
                        fs::copy(&src, &to).unwrap();
                    }
                }
            }
        }
        // The two runs.
        let common = [
            "--set",
            "model.arch=tiny",
            "--set",
            "train.batch_size=32",
            "--epochs",
            "3",
        ];
        let cifar_data = format!("folder:{}", root.join("cifar").display());
        let mut args = vec![
            "train",
            "--recipe",
            "baseline",
            "--data",
            &cifar_data,
            "--out",
            "cifar-run",
        ];
        args.extend(common);
        ok(&root, &args);
        let wnid_data = format!("folder:{}", root.join("wnid").display());
        let mut args = vec![
            "train",
            "--recipe",
            "advbn",
            "--data",
            &wnid_data,
            "--out",
            "wnid-run",
            "--set",
            "data.image_size=32",
        ];
        args.extend(common);
        ok(&root, &args);

        // The val images in the order the folder loader lists them (class, then file).
        let clean: Vec<(RgbImage, u8)> = classes
            .iter()
            .enumerate()
            .flat_map(|(i, class)| {
                let dir = root.join("cifar/val").join(class);
                (0..PER_CLASS_TEST)
                    .map(move |k| (decode_image(&dir.join(format!("{k:04}.jpg"))).unwrap(), i as u8))
            })
            .collect();
        let n = clean.len();

        // CIFAR-10-C: 2 severities, released layout; brightness.npy holds the clean images,
        // so its error must equal the run's own test error.
        let cifar_c = root.join("cifar10-c");
        fs::create_dir_all(&cifar_c).unwrap();
        let labels: Vec<u8> = clean.iter().map(|(_, l)| *l).cycle().take(2 * n).collect();
        write_npy(&cifar_c.join("labels.npy"), &[2 * n as u64], &labels);
        let flat = |images: Vec<RgbImage>| {
            images
                .into_iter()
                .flat_map(RgbImage::into_raw)
                .collect::<Vec<u8>>()
        };
        let shape = [2 * n as u64, 32, 32, 3];
        let same: Vec<RgbImage> = (0..2)
            .flat_map(|_| clean.iter().map(|(img, _)| img.clone()))
            .collect();
        write_npy(&cifar_c.join("brightness.npy"), &shape, &flat(same));
        for c in CIFAR_C {
            let mut images = Vec::new();
            for severity in 1..=2u8 {
                let corrupter = Corrupter::with(c, severity, Preset::Cifar).unwrap();
                images.extend(
                    clean
                        .iter()
                        .enumerate()
                        .map(|(i, (img, _))| corrupter.corrupt(img, SampleKey::new(0, 0, i as u64))),
                );
            }
            write_npy(&cifar_c.join(format!("{}.npy", c.name())), &shape, &flat(images));
        }

        // ImageNet-C: <corruption>/<severity>/<wnid>/*.JPEG, images upscaled to 64x64.
        let imagenet_c = root.join("imagenet-c");
        for c in IMAGENET_C {
            for severity in 1..=2u8 {
                let corrupter = Corrupter::with(c, severity, Preset::Imagenet).unwrap();
                for (i, (img, label)) in clean.iter().enumerate() {
                    let big = common::photos::upscale(img, (64, 64), i as u64);
                    let out = corrupter.corrupt(&big, SampleKey::new(0, 0, i as u64));
                    let path = imagenet_c
                        .join(c.name())
                        .join(severity.to_string())
                        .join(&wnids[*label as usize])
                        .join(format!("ILSVRC2012_val_{i:08}.JPEG"));
                    write_jpeg(&out, &path);
                }
            }
        }
        // ImageNet-R style: the val images of the five classes in R's 200, upscaled.
        let imagenet_r = root.join("imagenet-r");
        let r = imagenet_r_wnids();
        for (i, (img, label)) in clean.iter().enumerate() {
            let wnid = &wnids[*label as usize];
            if r.binary_search(&wnid.as_str()).is_ok() {
                write_jpeg(
                    &common::photos::upscale(img, (48, 48), i as u64),
                    &imagenet_r.join(wnid).join(format!("{i}.jpg")),
                );
            }
        }
        World {
            wnid_run: root.join("wnid-run"),
            wnids,
            cifar_c,
            imagenet_c,
            imagenet_r,
            root,
            _dir: dir,
        }
    })
}

fn spec(scheme: &str, path: &Path) -> String {
    format!("{scheme}:{}", path.display())
}

/// The percentage after `label` in `text` (first occurrence).
fn percent_after(text: &str, label: &str) -> f64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("`{label}` not in:\n{text}"))
        + label.len();
    let rest = text[at..].trim_start();
    let end = rest
        .find('%')
        .unwrap_or_else(|| panic!("no % after `{label}`:\n{text}"));
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{label}`:\n{text}"))
}

/// `--csv` rows: (corruption, severity, branch, adapted) -> error.
type Errors = BTreeMap<(String, String, String, String), f64>;

/// Reads a `--csv` file.
fn csv_errors(path: &Path) -> Errors {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("set,corruption,severity,branch,bn_adapt,error,accuracy,loss,samples")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[1].into(), f[2].into(), f[3].into(), f[4].into()),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

/// `advbn eval --run RUN --data DATA EXTRA... --csv NAME`: stdout and the CSV's errors.
fn eval_with_csv(run: &str, data: &str, extra: &[&str], name: &str) -> (String, Errors) {
    let w = world();
    let csv = w.root.join(name);
    let mut args = vec!["eval", "--run", run, "--data", data];
    args.extend(extra);
    args.extend(["--csv", csv.to_str().unwrap()]);
    (ok(&w.root, &args), csv_errors(&csv))
}

/// Per-corruption lines of the eval table: name -> the numbers after the severities.
fn table_rows(text: &str) -> BTreeMap<String, Vec<f64>> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            Corruption::from_name(name).ok()?;
            let _severities = parts.next()?;
            Some((name.to_string(), parts.map(|p| p.parse().unwrap()).collect()))
        })
        .collect()
}

#[test]
fn cifar10_c_metrics_are_the_means_of_the_per_severity_errors() {
    let w = world();
    let data = spec("cifar10-c", &w.cifar_c);
    let (out, errors) = eval_with_csv("cifar-run", &data, &[], "c10c.csv");
    assert!(
        out.contains("note: 2 severities of 100 images (read from the period of labels.npy)"),
        "{out}"
    );
    assert_eq!(errors.len(), 4 * 2, "4 corruptions x 2 severities");
    let rows = table_rows(&out);
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        ["brightness", "contrast", "gaussian_noise", "saturate"]
    );
    let e = |c: &str, s: &str| errors[&(c.to_string(), s.to_string(), "clean".into(), "false".into())];
    // Per corruption: the mean over severities, as printed.
    for (c, printed) in &rows {
        let want = 100.0 * (e(c, "1") + e(c, "2")) / 2.0;
        assert!((printed[0] - want).abs() < 0.006, "{c}: {printed:?} vs {want}");
    }
    // The mean corruption error: unnormalised, over the benchmark corruptions present
    // (saturate is an extra), and flagged partial.
    let bench = ["brightness", "contrast", "gaussian_noise"];
    let want = bench
        .iter()
        .map(|c| 100.0 * (e(c, "1") + e(c, "2")) / 2.0)
        .sum::<f64>()
        / 3.0;
    let printed = percent_after(&out, "[clean] mean corruption error");
    assert!((printed - want).abs() < 0.006, "{printed} vs {want}\n{out}");
    assert!(
        out.contains("over 3 of the 15 benchmark corruptions, severities 1-2: partial"),
        "{out}"
    );
    let extra = percent_after(&out, "[clean] extra corruptions (not in the mean):");
    assert!((extra - 100.0 * (e("saturate", "1") + e("saturate", "2")) / 2.0).abs() < 0.006);
    // brightness.npy holds the clean test images: its error is the run's test error.
    let own = ok(&w.root, &["eval", "--run", "cifar-run"]);
    let clean_error = percent_after(&own, "(error");
    assert!(
        (100.0 * e("brightness", "1") - clean_error).abs() < 0.006,
        "{own}"
    );
    assert_eq!(e("brightness", "1"), e("brightness", "2"));
    // Heavy noise hurts more than nothing.
    assert!(e("gaussian_noise", "2") >= e("brightness", "2"));
}

#[test]
fn bn_adaptation_is_its_own_column_and_moves_with_the_set() {
    let w = world();
    let data = format!("{},severities=2", spec("cifar10-c", &w.cifar_c));
    let (out, errors) = eval_with_csv("cifar-run", &data, &["--bn-adapt"], "adapt.csv");
    assert!(out.contains("error % [clean, BN adapted]"), "{out}");
    assert!(
        out.contains("note: 2 severities of 100 images (as the spec says"),
        "{out}"
    );
    let e = |c: &str, s: &str, adapted: &str| {
        errors[&(c.to_string(), s.to_string(), "clean".into(), adapted.into())]
    };
    // Adapting to a shifted set changes the statistics and so the predictions.
    let shifted = ["gaussian_noise", "contrast"]
        .iter()
        .flat_map(|c| ["1", "2"].map(|s| (c.to_string(), s)))
        .filter(|(c, s)| e(c, s, "true") != e(c, s, "false"))
        .count();
    assert!(
        shifted >= 2,
        "adaptation changed only {shifted} of 4 shifted sets\n{out}"
    );
    // On the source distribution (the clean test images), adaptation barely matters, and
    // the two copies of it adapt identically.
    let (adapted, plain) = (e("brightness", "1", "true"), e("brightness", "1", "false"));
    assert_eq!(adapted, e("brightness", "2", "true"));
    assert!(
        (adapted - plain).abs() <= 0.10,
        "clean set: adapted {adapted} vs {plain}\n{out}"
    );
    // The run's own test set: one line per variant.
    let own = ok(
        &w.root,
        &["eval", "--run", "cifar-run", "--bn-adapt", "--bn-branch", "both"],
    );
    let lines: Vec<&str> = own
        .lines()
        .filter(|l| l.contains("clean test accuracy"))
        .collect();
    assert_eq!(lines.len(), 4, "{own}");
    assert!(
        lines[1].ends_with("BN branch clean, BN adapted") && lines[3].ends_with("BN branch adv, BN adapted")
    );
    let from_own = percent_after(lines[1], "(error") / 100.0;
    assert!((from_own - adapted).abs() < 0.00006, "{own} vs {adapted}");
}

#[test]
fn imagenet_c_mce_follows_the_alexnet_normalisation() {
    let w = world();
    let data = spec("imagenet-c", &w.imagenet_c);
    let (out, errors) = eval_with_csv("wnid-run", &data, &["--bn-branch", "both"], "inc.csv");
    assert_eq!(
        errors.len(),
        2 * 2 * 2,
        "2 corruptions x 2 severities x 2 branches"
    );
    let own = ok(&w.root, &["eval", "--run", "wnid-run", "--bn-branch", "both"]);
    for branch in ["clean", "adv"] {
        let e = |c: &str, s: &str| errors[&(c.to_string(), s.to_string(), branch.into(), "false".into())];
        let mut ces = Vec::new();
        let mut rels = Vec::new();
        let clean_error = percent_after(
            own.lines()
                .find(|l| l.ends_with(&format!("BN branch {branch}")))
                .unwrap(),
            "(error",
        ) / 100.0;
        for c in IMAGENET_C {
            let mean = (e(c.name(), "1") + e(c.name(), "2")) / 2.0;
            ces.push(mean / alexnet_error(c));
            rels.push((mean - clean_error) / (alexnet_error(c) - alexnet_clean_error()));
        }
        let mce = 100.0 * ces.iter().sum::<f64>() / 2.0;
        let printed = percent_after(&out, &format!("[{branch}] mCE"));
        assert!(
            (printed - mce).abs() < 0.006,
            "{branch}: {printed} vs {mce}\n{out}"
        );
        let rel = 100.0 * rels.iter().sum::<f64>() / 2.0;
        let printed = percent_after(&out, &format!("[{branch}] relative mCE"));
        // The clean error went through two roundings (printed to 0.01%).
        assert!(
            (printed - rel).abs() < 0.05,
            "{branch}: {printed} vs {rel}\n{out}"
        );
    }
    assert!(
        out.contains(
            "2 of the 15 benchmark corruptions, severities 1-2: partial, not comparable to published figures"
        ),
        "{out}"
    );
    assert!(out.contains("AlexNet = 100"), "{out}");
}

#[test]
fn the_200_class_restriction_is_an_argmax_over_those_classes() {
    let w = world();
    let r = spec("imagenet-r", &w.imagenet_r);
    let sketch = spec("imagenet-sketch", &w.imagenet_r);
    let masked = percent_after(
        &ok(&w.root, &["eval", "--run", "wnid-run", "--data", &r]),
        "top-1 accuracy",
    );
    let plain = percent_after(
        &ok(&w.root, &["eval", "--run", "wnid-run", "--data", &sketch]),
        "top-1 accuracy",
    );

    // Recompute both from the logits, here.
    let ck = Checkpoint::load(&w.wnid_run.join("checkpoint.bin")).unwrap();
    let device = burn::tensor::Device::flex();
    let model = load_network(&ck, &device).unwrap();
    let recipe =
        advbn::recipe::Recipe::from_toml(&fs::read_to_string(w.wnid_run.join("recipe.toml")).unwrap(), "r")
            .unwrap();
    let eval = recipe.eval_preprocess().unwrap();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut folders: Vec<PathBuf> = fs::read_dir(&w.imagenet_r)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    for folder in folders {
        let label = w.wnids.iter().position(|x| folder.ends_with(x)).unwrap() as u32;
        let mut files: Vec<PathBuf> = fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let img = decode_image(&f).unwrap();
            let i = images.len() as u64;
            images.push(eval.run(&img, SampleKey::new(0, 0, i), 0).clean.into_rgb8());
            labels.push(label);
        }
    }
    let source = VecSource { images, labels };
    let batch = make_batch(
        &source,
        &(0..source.len()).collect::<Vec<_>>(),
        &BatchPlan::eval(recipe.data.normalization),
        0,
    )
    .unwrap();
    let (x, _) = batch.to_tensors(&device);
    let logits: Vec<f32> = model.forward(x, BnMode::EVAL).into_data().try_to_vec().unwrap();
    let r_set = imagenet_r_wnids();
    let in_r: Vec<bool> = w
        .wnids
        .iter()
        .map(|x| r_set.binary_search(&x.as_str()).is_ok())
        .collect();
    let (mut right_masked, mut right_plain, mut outside) = (0, 0, 0);
    for (i, row) in logits.chunks(10).enumerate() {
        let argmax = |keep: &dyn Fn(usize) -> bool| {
            (0..10)
                .filter(|&c| keep(c))
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap()
        };
        let all = argmax(&|_| true);
        let restricted = argmax(&|c| in_r[c]);
        outside += usize::from(!in_r[all]);
        right_plain += usize::from(all as u32 == source.label(i));
        right_masked += usize::from(restricted as u32 == source.label(i));
    }
    let n = source.len() as f64;
    assert_eq!(n, 50.0);
    assert!(outside > 0, "the case needs predictions outside the 200 classes");
    assert!(
        (masked - 100.0 * right_masked as f64 / n).abs() < 0.006,
        "{masked} vs {right_masked}"
    );
    assert!(
        (plain - 100.0 * right_plain as f64 / n).abs() < 0.006,
        "{plain} vs {right_plain}"
    );
    assert!(
        right_masked > right_plain,
        "restricting moved {outside} predictions back into the set"
    );
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let w = world();
    let bad = w.root.join("bad");
    let copy = |name: &str| {
        let dir = bad.join(name);
        fs::create_dir_all(&dir).unwrap();
        for f in ["labels.npy", "contrast.npy"] {
            fs::copy(w.cifar_c.join(f), dir.join(f)).unwrap();
        }
        dir
    };
    let eval = |data: String, expected: &[&str]| {
        fails(
            &w.root,
            &["eval", "--run", "cifar-run", "--data", &data],
            expected,
        )
    };
    // Wrong array shape.
    let dir = copy("shape");
    write_npy(
        &dir.join("contrast.npy"),
        &[200, 32, 96],
        &vec![0u8; 200 * 32 * 96],
    );
    eval(
        spec("cifar10-c", &dir),
        &[
            "contrast.npy",
            "shape [200, 32, 96]",
            "expected [N, height, width, 3]",
        ],
    );
    // Missing labels.npy.
    let dir = copy("nolabels");
    fs::remove_file(dir.join("labels.npy")).unwrap();
    eval(spec("cifar10-c", &dir), &["missing labels.npy"]);
    // Label count mismatch.
    let dir = copy("count");
    let labels = fs::read(w.cifar_c.join("labels.npy")).unwrap();
    // A uint8 array ends with its data: the last 200 bytes are the 200 labels.
    let first: Vec<u8> = labels[labels.len() - 200..labels.len() - 50].to_vec();
    write_npy(&dir.join("labels.npy"), &[150], &first);
    eval(
        spec("cifar10-c", &dir),
        &["holds 200 images but labels.npy has 150 labels"],
    );
    // No corruption arrays; no labels at all.
    let dir = copy("empty");
    fs::remove_file(dir.join("contrast.npy")).unwrap();
    eval(spec("cifar10-c", &dir), &["no corruption arrays"]);
    write_npy(&dir.join("labels.npy"), &[0], &[]);
    eval(spec("cifar10-c", &dir), &["no labels: the set is empty"]);
    // Ambiguous severities: labels 0,1,0,1,... repeat with every period.
    let dir = copy("periodic");
    let labels: Vec<u8> = (0..200).map(|i| (i % 2) as u8).collect();
    write_npy(&dir.join("labels.npy"), &[200], &labels);
    eval(spec("cifar10-c", &dir), &["add `,severities=S` to the spec"]);
    // A wnid folder the model does not have, and a folder that is not a wnid.
    let dir = bad.join("sketch");
    let unknown = imagenet_wnids()
        .into_iter()
        .find(|x| !w.wnids.contains(x))
        .unwrap();
    let img = RgbImage::new(8, 8);
    write_jpeg(&img, &dir.join(&unknown).join("a.jpg"));
    let wnid_eval = |data: String, expected: &[&str]| {
        fails(&w.root, &["eval", "--run", "wnid-run", "--data", &data], expected)
    };
    wnid_eval(
        spec("imagenet-sketch", &dir),
        &[&unknown, "is not among the model's 10 classes"],
    );
    fs::remove_dir_all(dir.join(&unknown)).unwrap();
    write_jpeg(&img, &dir.join("dogs").join("a.jpg"));
    wnid_eval(
        spec("imagenet-sketch", &dir),
        &["dogs: folder name is not a WordNet id"],
    );
    // An empty set: no class folders, or a class folder without images.
    fs::remove_dir_all(dir.join("dogs")).unwrap();
    wnid_eval(spec("stylized-imagenet", &dir), &["no class folders"]);
    fs::create_dir_all(dir.join(&w.wnids[0])).unwrap();
    wnid_eval(spec("imagenet-sketch", &dir), &["no .png, .jpg or .jpeg images"]);
    wnid_eval(spec("imagenet-c", &dir), &["no corruption folders"]);
    // A model trained on other class names.
    wnid_eval(
        spec("cifar10-c", &w.cifar_c),
        &["CIFAR-10-C class `airplane` is not among the model's 10 classes"],
    );
    // Benchmarks are evaluation sets; spec and option errors.
    let data = spec("imagenet-c", &w.imagenet_c);
    fails(
        &w.root,
        &["train", "--recipe", "baseline", "--data", &data, "--out", "x"],
        &["`imagenet-c` is an evaluation set"],
    );
    fails(
        &w.root,
        &["eval", "--run", "wnid-run", "--data", &data, "--shift"],
        &["--corruptions and --shift"],
    );
    fails(
        &w.root,
        &["eval", "--run", "wnid-run", "--bn-branch", "dirty"],
        &["unknown BN branch `dirty` (valid: clean, adv, both)"],
    );
    fails(
        &w.root,
        &["eval", "--run", "wnid-run", "--data", "imagenet-c:"],
        &["missing path"],
    );
    fails(
        &w.root,
        &["eval", "--run", "wnid-run", "--data", "imagenet-c:/no/such/dir"],
        &["/no/such/dir"],
    );
}

#[test]
fn a_study_reports_one_column_per_benchmark_with_its_branch() {
    let w = world();
    let out_dir = w.root.join("study");
    let wnid_data = format!("folder:{}", w.root.join("wnid").display());
    let c = spec("imagenet-c", &w.imagenet_c);
    let sketch = spec("imagenet-sketch", &w.imagenet_r);
    let r = spec("imagenet-r", &w.imagenet_r);
    let text = ok(
        &w.root,
        &[
            "study",
            "baseline",
            "advbn",
            "--data",
            &wnid_data,
            "--set",
            "model.arch=tiny",
            "--set",
            "data.image_size=32",
            "--epochs",
            "3",
            "--corruptions",
            "fog",
            "--out",
            out_dir.to_str().unwrap(),
            "--eval-data",
            &r,
            "--eval-data",
            &sketch,
            "--eval-data",
            &c,
        ],
    );
    let report = fs::read_to_string(out_dir.join("report.md")).unwrap();
    let header = report
        .lines()
        .find(|l| l.starts_with("| recipe | clean top-1 %"))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        header,
        "| recipe | clean top-1 % | ImageNet-C mCE % | ImageNet-Sketch top-1 % | ImageNet-R top-1 % |"
    );
    let row = |recipe: &str| -> Vec<String> {
        let table = &report[report.find("## Published benchmarks").unwrap()..];
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {recipe} |")))
            .unwrap();
        line.trim_matches('|')
            .split('|')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let (base, adv) = (row("baseline"), row("advbn"));
    // The partial mCE is marked; Sketch uses the adversarial branch for the AdvBN recipe only.
    assert!(base[2].ends_with('*') && adv[2].ends_with('*'), "{report}");
    assert!(
        !base[3].contains("(adv)") && adv[3].ends_with("(adv)"),
        "{report}"
    );
    assert!(!adv[4].contains("(adv)"), "{report}");
    assert!(text.contains("ImageNet-Sketch top-1 %"), "{text}");
    // Each cell is what benchmarks.csv's per-subset errors give.
    let csv = fs::read_to_string(out_dir.join("benchmarks.csv")).unwrap();
    for (recipe, cells) in [("baseline", &base), ("advbn", &adv)] {
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[0] == recipe)
            .collect();
        let sketch_row = rows.iter().find(|f| f[1] == "imagenet-sketch").unwrap();
        let number = |cell: &str| cell.split(['*', ' ']).next().unwrap().parse::<f64>().unwrap();
        let acc: f64 = sketch_row[6].parse().unwrap();
        assert!(
            (number(&cells[3]) - 100.0 * acc).abs() < 0.006,
            "{recipe}: {cells:?} vs {acc}"
        );
        let mce = IMAGENET_C
            .iter()
            .map(|c| {
                let errs: Vec<f64> = rows
                    .iter()
                    .filter(|f| f[1] == "imagenet-c" && f[2] == c.name())
                    .map(|f| f[5].parse::<f64>().unwrap())
                    .collect();
                assert_eq!(errs.len(), 2);
                errs.iter().sum::<f64>() / 2.0 / alexnet_error(*c)
            })
            .sum::<f64>()
            / 2.0;
        assert!(
            (number(&cells[2]) - 100.0 * mce).abs() < 0.006,
            "{recipe}: {cells:?} vs {mce}"
        );
    }
    // The study's runs record their classes, so `advbn eval` maps wnid folders later.
    let classes = fs::read_to_string(out_dir.join("runs/advbn/classes.txt")).unwrap();
    assert_eq!(classes.lines().collect::<Vec<_>>(), w.wnids);
}
