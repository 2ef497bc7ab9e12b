//! The `advbn` command line, run as a user runs it: every command's happy path with its
//! observable effect, its error paths (one line on stderr starting with `error:`, exit code
//! 1, never a panic; clap's usage errors exit 2), and kill-and-resume of a training run.
//!
//! Training uses the built-in synthetic dataset, the tiny model and a few hundred images;
//! commands that read images use a handful of real CIFAR-10 JPEGs from the shared archive.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use advbn::augmenters::corrupt::{Corrupter, Corruption, CorruptionConfig, Preset};
use advbn::augmenters::ops::{apply_named, op_names};
use advbn::augmenters::{SampleKey, to_rgb8};
use advbn::recipe::{Recipe, builtin, builtin_names};
use advbn::train::Checkpoint;
use image::RgbImage;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_advbn");

/// Small and fast: the tiny CNN.
const TINY: &[&str] = &["--set", "model.arch=tiny"];
/// 200 training and 100 test images (and 100 held-out-style ones).
const SMALL_DATA: &str = "synthetic:train=200,test=100";

/// A scratch directory that commands run in (so nothing lands in the checkout).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `advbn ARGS` in the scratch directory.
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ADVBN_CIFAR_TAR")
            .output()
            .expect("run advbn")
    }

    /// Runs `advbn ARGS` and asserts success; returns stdout.
    #[track_caller]
    fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "advbn {} failed ({:?}):\n{}",
            show(args),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stderr(&out).contains("panicked"));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// A few real CIFAR-10 test images (32x32 JPEGs), copied into the scratch directory.
    fn real_images(&self, n: usize) -> Vec<PathBuf> {
        let root = common::cifar_jpg_root();
        let picks = [
            ("airplane", 0),
            ("cat", 1),
            ("ship", 2),
            ("frog", 3),
            ("truck", 4),
        ];
        picks[..n]
            .iter()
            .map(|(class, i)| {
                let to = self.path(&format!("{class}{i}.jpg"));
                fs::copy(root.join("test").join(class).join(format!("{i:04}.jpg")), &to).unwrap();
                to
            })
            .collect()
    }

    /// Trains the tiny baseline on the small synthetic set into `out` (2 epochs).
    fn train_small(&self, out: &str) -> String {
        let mut args = vec![
            "train", "--recipe", "baseline", "--epochs", "2", "--data", SMALL_DATA,
        ];
        args.extend_from_slice(TINY);
        args.extend_from_slice(&["--out", out]);
        self.ok(&args)
    }
}

fn show<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_png(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8()
}

fn read_input(path: &Path) -> RgbImage {
    to_rgb8(image::open(path).unwrap())
}

/// The error convention: exit code 1, stderr exactly one line `error: ...` holding every
/// expected piece, no panic. With `progress`, informational lines before the error are
/// allowed (errors found after the data was loaded); the error is then the last line.
fn check_error(out: &Output, expected: &[&str], progress: bool) -> Result<String, String> {
    let err = stderr(out);
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        return Err(format!("panicked:\n{err}"));
    }
    if out.status.code() != Some(1) {
        return Err(format!(
            "exit status {:?}, expected 1; stderr:\n{err}",
            out.status
        ));
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(last) = lines.last() else {
        return Err("nothing on stderr".into());
    };
    if !progress && lines.len() != 1 {
        return Err(format!("stderr has {} lines, expected one:\n{err}", lines.len()));
    }
    if lines.iter().filter(|l| l.starts_with("error")).count() != 1 || !last.starts_with("error: ") {
        return Err(format!("expected one final `error: ` line:\n{err}"));
    }
    for piece in expected {
        if !last.contains(piece) {
            return Err(format!("expected `{piece}` in\n    {last}"));
        }
    }
    Ok(last.to_string())
}

#[track_caller]
fn assert_error(out: &Output, expected: &[&str]) -> String {
    check_error(out, expected, false).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn assert_error_after_progress(out: &Output, expected: &[&str]) -> String {
    check_error(out, expected, true).unwrap_or_else(|e| panic!("{e}"))
}

/// A clap usage error: exit code 2, the first line `error: ...` naming the problem.
fn check_usage_error(out: &Output, expected: &str) -> Result<(), String> {
    let err = stderr(out);
    if err.contains("panicked") {
        return Err(format!("panicked:\n{err}"));
    }
    if out.status.code() != Some(2) {
        return Err(format!(
            "exit status {:?}, expected 2; stderr:\n{err}",
            out.status
        ));
    }
    let first = err.lines().next().unwrap_or("");
    if !first.starts_with("error: ") || !first.contains(expected) {
        return Err(format!("expected `error: ...{expected}...` first, got:\n{err}"));
    }
    Ok(())
}

/// One error case of a table: the arguments, the expected pieces of the message.
type Case<'a> = (Vec<String>, Vec<&'a str>);

fn case<'a, S: AsRef<str>>(args: &[S], expected: &[&'a str]) -> Case<'a> {
    (
        args.iter().map(|s| s.as_ref().to_string()).collect(),
        expected.to_vec(),
    )
}

/// Runs every case and reports all that fail at once.
fn check_error_table(scratch: &Scratch, cases: &[Case<'_>]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(args, expected)| {
            check_error(&scratch.run(args), expected, false)
                .err()
                .map(|e| format!("advbn {}: {e}", args.join(" ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn check_usage_table(scratch: &Scratch, cases: &[(&[&str], &str)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(args, expected)| {
            check_usage_error(&scratch.run(args), expected)
                .err()
                .map(|e| format!("advbn {}: {e}", args.join(" ")))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn metrics(run_dir: &Path) -> Vec<Value> {
    fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad metrics line {l:?}: {e}")))
        .collect()
}

fn lines_of_kind<'a>(metrics: &'a [Value], kind: &str) -> Vec<&'a Value> {
    metrics.iter().filter(|m| m["kind"] == kind).collect()
}

/// The percentage after `label` in `text` (`clean test accuracy 41.00%`).
fn percent_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"))
        + label.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{label}` in:\n{text}"))
}

// ---------------------------------------------------------------------------------------
// recipes

#[test]
fn recipes_lists_every_builtin_with_its_description() {
    let s = Scratch::new();
    let out = s.ok(&["recipes"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), builtin_names().len(), "{out}");
    assert!(
        builtin_names().len() >= 7,
        "baseline, augmix, advbn, augmix+advbn, advbn-finetune, mixstyle, dsu"
    );
    for (line, name) in lines.iter().zip(builtin_names()) {
        let (listed, description) = line.split_once(' ').unwrap();
        assert_eq!(listed, name);
        assert_eq!(description.trim(), builtin(name).unwrap().unwrap().description);
    }
}

#[test]
fn recipes_show_prints_toml_that_parses_back_equal() {
    let s = Scratch::new();
    for name in builtin_names() {
        let text = s.ok(&["recipes", "show", name]);
        let shown = Recipe::from_toml(&text, "stdout").unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(shown, builtin(name).unwrap().unwrap(), "{name}");
    }
    // With overrides, and from a file.
    let text = s.ok(&[
        "recipes",
        "show",
        "augmix",
        "--set",
        "train.epochs=7",
        "--set",
        "model.arch=tiny",
    ]);
    let shown = Recipe::from_toml(&text, "stdout").unwrap();
    assert_eq!(
        (shown.train.epochs, shown.model.arch.to_string().as_str()),
        (7, "tiny")
    );
    fs::write(s.path("mine.toml"), &text).unwrap();
    let again = s.ok(&["recipes", "show", "mine.toml"]);
    assert_eq!(Recipe::from_toml(&again, "stdout").unwrap(), shown);
}

#[test]
fn recipes_errors() {
    let s = Scratch::new();
    fs::write(s.path("bad.toml"), "name = \"x\"\n[train]\nepochs = \"three\"\n").unwrap();
    fs::write(s.path("typo.toml"), "name = \"x\"\n[train]\nepoch = 3\n").unwrap();
    check_error_table(
        &s,
        &[
            case(
                &["recipes", "show", "nope"],
                &["unknown recipe `nope`", "baseline, augmix, advbn"],
            ),
            case(
                &["recipes", "show", "augmix", "--set", "train.nope=3"],
                &[
                    "recipe `augmix` after --set: unknown key `train.nope`",
                    "`epochs`",
                ],
            ),
            case(
                &["recipes", "show", "augmix", "--set", "garbage"],
                &["`garbage` is not of the form key.path=value"],
            ),
            case(
                &["recipes", "show", "augmix", "--set", "train.epochs=abc"],
                &["`train.epochs`: invalid type: string \"abc\""],
            ),
            case(
                &["recipes", "show", "bad.toml"],
                &["bad.toml:3:10: `train.epochs`: invalid type"],
            ),
            case(
                &["recipes", "show", "typo.toml"],
                &["typo.toml:3:1: unknown key `train.epoch`"],
            ),
        ],
    );
    check_usage_table(&s, &[(&["recipes", "list"], "unrecognized subcommand")]);
}

// ---------------------------------------------------------------------------------------
// augment

#[test]
fn augment_op_equals_the_library_for_every_op() {
    let s = Scratch::new();
    let input = &s.real_images(1)[0];
    let image = read_input(input);
    let values: &[(&str, Option<&str>)] = &[
        ("autocontrast", None),
        ("equalize", None),
        ("posterize", Some("2")),
        ("rotate", Some("-17.5")),
        ("solarize", Some("128")),
        ("shear_x", Some("0.3")),
        ("shear_y", Some("-0.2")),
        ("translate_x", Some("5")),
        ("translate_y", Some("-7")),
        ("color", Some("1.6")),
        ("contrast", Some("0.4")),
        ("brightness", Some("1.3")),
        ("sharpness", Some("1.9")),
    ];
    assert_eq!(values.iter().map(|v| v.0).collect::<Vec<_>>(), op_names());
    for (op, value) in values {
        let output = s.path(&format!("{op}.png"));
        let mut args = vec!["augment", "--op", op];
        if let Some(v) = value {
            args.extend(["--value", v]);
        }
        let (i, o) = (input.to_str().unwrap(), output.to_str().unwrap());
        args.extend([i, o]);
        s.ok(&args);
        let written = read_png(&output);
        let expected = apply_named(op, value.map(|v| v.parse().unwrap()), &image).unwrap();
        assert_eq!(written.dimensions(), (32, 32), "{op}");
        assert!(
            written == expected,
            "{op}: the CLI output differs from apply_named"
        );
    }
    // posterize to 2 bits leaves only the top two bits of every channel.
    assert!(
        read_png(&s.path("posterize.png"))
            .as_raw()
            .iter()
            .all(|v| v & 0x3f == 0)
    );
}

#[test]
fn augment_augmix_writes_views_and_a_grid_deterministically() {
    let s = Scratch::new();
    let inputs = s.real_images(2);
    fs::create_dir(s.path("a")).unwrap();
    fs::create_dir(s.path("b")).unwrap();
    fs::create_dir(s.path("c")).unwrap();
    let names: Vec<&str> = inputs.iter().map(|p| p.to_str().unwrap()).collect();
    let run = |dir: &str, seed: &str| {
        let mut args = vec![
            "augment", "--augmix", "--views", "3", "--seed", seed, "--grid", "--out", dir,
        ];
        args.extend(names.iter().copied());
        s.ok(&args)
    };
    let out = run("a", "5");
    assert!(out.contains("wrote 6 views of 2 images"), "{out}");
    run("b", "5");
    run("c", "6");
    fs::create_dir(s.path("tv")).unwrap();
    let mut args = vec![
        "augment",
        "--augmix",
        "--variant",
        "torchvision",
        "--views",
        "3",
        "--seed",
        "5",
        "--out",
        "tv",
    ];
    args.extend(names.iter().copied());
    s.ok(&args);
    let torchvision_view = fs::read(s.path("tv/cat1_augmix2.png")).unwrap();
    assert_ne!(
        torchvision_view,
        fs::read(s.path("a/cat1_augmix2.png")).unwrap(),
        "--variant torchvision samples like the paper variant"
    );
    let mut files: Vec<String> = fs::read_dir(s.path("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "airplane0_augmix1.png",
            "airplane0_augmix2.png",
            "airplane0_augmix3.png",
            "cat1_augmix1.png",
            "cat1_augmix2.png",
            "cat1_augmix3.png",
            "grid.png"
        ]
    );
    let original = read_input(&inputs[0]);
    let views: Vec<RgbImage> = (1..=3)
        .map(|v| read_png(&s.path(&format!("a/airplane0_augmix{v}.png"))))
        .collect();
    for view in &views {
        assert_eq!(view.dimensions(), (32, 32));
        assert!(*view != original, "a view equals the original");
    }
    assert!(views[0] != views[1], "two views are the same");
    for file in &files {
        let a = fs::read(s.path(&format!("a/{file}"))).unwrap();
        assert_eq!(
            a,
            fs::read(s.path(&format!("b/{file}"))).unwrap(),
            "{file}: same seed, different bytes"
        );
        if file != "grid.png" {
            assert_ne!(
                a,
                fs::read(s.path(&format!("c/{file}"))).unwrap(),
                "{file}: the seed does not matter"
            );
        }
    }
    // The contact sheet: 2 rows (one per input) of 4 cells (original + 3 views), square
    // cells of a whole multiple of 32 pixels, 2-pixel gaps.
    let (w, h) = read_png(&s.path("a/grid.png")).dimensions();
    let cell = (h - 3 * 2) / 2;
    assert_eq!((w, h), (4 * cell + 5 * 2, 2 * cell + 3 * 2), "grid is {w}x{h}");
    assert_eq!(cell % 32, 0, "grid cell {cell}");
}

#[test]
fn augment_errors() {
    let s = Scratch::new();
    let input = s.real_images(1)[0].to_str().unwrap().to_string();
    let i = input.as_str();
    fs::write(s.path("notimg.png"), "hello, not a picture\n").unwrap();
    let jpeg = fs::read(i).unwrap();
    fs::write(s.path("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    // Cut in half inside the entropy-coded data: the JPEG decoder alone pads it with grey.
    fs::write(s.path("halved.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    fs::create_dir(s.path("adir")).unwrap();
    check_error_table(
        &s,
        &[
            case(
                &["augment", "--op", "nope", i, "o.png"],
                &[
                    "unknown op `nope`",
                    "valid ops: autocontrast, equalize, posterize",
                    "sharpness",
                ],
            ),
            case(
                &["augment", "--op", "posterize", "--value", "9", i, "o.png"],
                &["op `posterize`: value 9 is not valid; expected bits (integer) in 1..=8"],
            ),
            case(
                &["augment", "--op", "posterize", "--value", "2.5", i, "o.png"],
                &["value 2.5 is not valid"],
            ),
            case(
                &["augment", "--op", "rotate", "--value", "nan", i, "o.png"],
                &["op `rotate`: value NaN is not valid"],
            ),
            case(
                &["augment", "--op", "shear_x", "--value", "-3", i, "o.png"],
                &["op `shear_x`: value -3 is not valid"],
            ),
            case(
                &["augment", "--op", "rotate", i, "o.png"],
                &["op `rotate` needs a value: degrees"],
            ),
            case(
                &["augment", "--op", "autocontrast", "--value", "3", i, "o.png"],
                &["op `autocontrast` takes no value"],
            ),
            case(
                &["augment", "--op", "equalize", "missing.jpg", "o.png"],
                &["cannot read missing.jpg"],
            ),
            case(&["augment", "--op", "equalize", "adir", "o.png"], &["adir"]),
            case(
                &["augment", "--op", "equalize", "notimg.png", "o.png"],
                &["notimg.png is not a readable image"],
            ),
            case(
                &["augment", "--op", "equalize", "truncated.jpg", "o.png"],
                &["truncated.jpg is not a readable image"],
            ),
            case(
                &["augment", "--augmix", "halved.jpg", "--out", "."],
                &["halved.jpg is not a readable image: truncated JPEG"],
            ),
            case(
                &[
                    "corrupt",
                    "--corruption",
                    "fog",
                    "--severity",
                    "1",
                    "halved.jpg",
                    "o.png",
                ],
                &["halved.jpg is not a readable image: truncated JPEG"],
            ),
            case(
                &["augment", "--op", "equalize", i, "nodir/o.png"],
                &["nodir/o.png: the directory nodir does not exist"],
            ),
            case(
                &["augment", "--op", "equalize", i],
                &["--op takes exactly two files, INPUT OUTPUT (got 1)"],
            ),
            case(&["augment", "--augmix", i], &["--augmix needs --out DIR"]),
            case(
                &["augment", "--augmix", "--out", "notimg.png", i],
                &["output directory notimg.png is a file, not a directory"],
            ),
            case(
                &["augment", "--augmix", "--out", ".", "--severity", "11", i],
                &["`severity` is 11, allowed range is 1..=10"],
            ),
            case(
                &["augment", "--augmix", "--out", ".", "--variant", "timm", i],
                &["unknown AugMix variant `timm` (valid: paper, torchvision)"],
            ),
            case(
                &["augment", "--augmix", "--out", ".", "--views", "0", i],
                &["--views must be at least 1"],
            ),
            case(
                &["augment", "--augmix", "--out", ".", i, "notimg.png"],
                &["notimg.png is not a readable image"],
            ),
        ],
    );
    assert!(!s.path("o.png").exists(), "a failed command wrote its output");
    check_usage_table(
        &s,
        &[
            (
                &["augment", i, "o.png"],
                "the following required arguments were not provided",
            ),
            (
                &["augment", "--op", "equalize", "--augmix", i, "o.png"],
                "cannot be used with",
            ),
            (
                &["augment", "--op", "equalize"],
                "the following required arguments were not provided",
            ),
            (
                &["augment", "--op", "rotate", "--value", "abc", i, "o.png"],
                "invalid value 'abc'",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// corrupt

#[test]
fn corrupt_one_is_the_library_result_and_deterministic_in_the_seed() {
    let s = Scratch::new();
    let input = s.real_images(1)[0].to_str().unwrap().to_string();
    let run = |seed: &str, out: &str| {
        s.ok(&[
            "corrupt",
            "--corruption",
            "fog",
            "--severity",
            "3",
            "--seed",
            seed,
            &input,
            out,
        ]);
        read_png(&s.path(out))
    };
    let a = run("1", "a.png");
    let b = run("1", "b.png");
    let c = run("2", "c.png");
    assert_eq!(a.dimensions(), (32, 32));
    assert!(a == b, "same seed, different output");
    assert!(a != c, "the seed does not matter");
    let original = read_input(Path::new(&input));
    assert!(a != original, "fog changed nothing");
    let corrupter = Corrupter::new(CorruptionConfig::new(Corruption::Fog, 3, Preset::Cifar)).unwrap();
    assert!(
        a == corrupter.corrupt(&original, SampleKey::new(1, 0, 0)),
        "differs from the library"
    );
    // The imagenet preset is another corruption of the same image.
    s.ok(&[
        "corrupt",
        "--corruption",
        "fog",
        "--severity",
        "3",
        "--seed",
        "1",
        "--preset",
        "imagenet",
        &input,
        "d.png",
    ]);
    assert!(read_png(&s.path("d.png")) != a);
}

#[test]
fn corrupt_all_writes_every_corruption_and_severity_and_a_grid() {
    let s = Scratch::new();
    let inputs = s.real_images(2);
    fs::create_dir(s.path("out")).unwrap();
    let mut args = vec!["corrupt", "--all", "--grid", "--out", "out"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let stdout = s.ok(&args);
    assert!(
        stdout.contains("wrote 190 images (19 corruptions x 5 severities x 2 inputs)"),
        "{stdout}"
    );
    let mut expected = Vec::new();
    for stem in ["airplane0", "cat1"] {
        for c in Corruption::ALL {
            for severity in 1..=5 {
                expected.push(format!("{stem}_{}_{severity}.png", c.name()));
            }
        }
        expected.push(format!("{stem}_grid.png"));
    }
    expected.sort();
    let mut files: Vec<String> = fs::read_dir(s.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, expected);
    for file in files.iter().filter(|f| !f.ends_with("_grid.png")) {
        assert_eq!(
            read_png(&s.path(&format!("out/{file}"))).dimensions(),
            (32, 32),
            "{file}"
        );
    }
    // Severity 5 is further from the original than severity 1 (contrast is deterministic).
    let original = read_input(&inputs[0]);
    let distance = |sev: u8| {
        let img = read_png(&s.path(&format!("out/airplane0_contrast_{sev}.png")));
        img.as_raw()
            .iter()
            .zip(original.as_raw())
            .map(|(a, b)| (*a as i64 - *b as i64).abs())
            .sum::<i64>()
    };
    assert!(distance(5) > distance(1));
    // The contact sheet holds at least 19 rows and 5 columns of 32-pixel cells.
    let (w, h) = read_png(&s.path("out/airplane0_grid.png")).dimensions();
    assert!(w >= 5 * 32 && h >= 19 * 32, "grid is {w}x{h}");
}

#[test]
fn corrupt_errors() {
    let s = Scratch::new();
    let input = s.real_images(1)[0].to_str().unwrap().to_string();
    let i = input.as_str();
    fs::write(s.path("notimg.png"), "hello\n").unwrap();
    fs::create_dir(s.path("emptyfrost")).unwrap();
    check_error_table(
        &s,
        &[
            case(
                &["corrupt", "--corruption", "nope", i, "o.png"],
                &[
                    "unknown corruption `nope`; valid names: gaussian_noise",
                    "fog",
                    "saturate",
                ],
            ),
            case(
                &["corrupt", "--corruption", "fog", "--severity", "0", i, "o.png"],
                &["--severity is 0, allowed range is 1..=5"],
            ),
            case(
                &["corrupt", "--corruption", "fog", "--severity", "6", i, "o.png"],
                &["--severity is 6, allowed range is 1..=5"],
            ),
            case(
                &["corrupt", "--all", "--severity", "6", "--out", ".", i],
                &["--severity is 6"],
            ),
            case(
                &["corrupt", "--corruption", "fog", "--preset", "tiny", i, "o.png"],
                &["unknown preset `tiny`; valid presets: cifar, imagenet"],
            ),
            case(
                &["corrupt", "--corruption", "fog", "missing.jpg", "o.png"],
                &["cannot read missing.jpg"],
            ),
            case(
                &["corrupt", "--corruption", "fog", "notimg.png", "o.png"],
                &["notimg.png is not a readable image"],
            ),
            case(
                &["corrupt", "--corruption", "fog", i, "nodir/o.png"],
                &["the directory nodir does not exist"],
            ),
            case(
                &["corrupt", "--corruption", "fog", i, "o.png", "p.png"],
                &["--corruption takes exactly two files"],
            ),
            case(&["corrupt", "--all", i], &["--all needs --out DIR"]),
            case(
                &["corrupt", "--all", "--out", "notimg.png", i],
                &["output directory notimg.png is a file, not a directory"],
            ),
            case(
                &[
                    "corrupt",
                    "--corruption",
                    "frost",
                    "--frost-dir",
                    "nodir",
                    i,
                    "o.png",
                ],
                &["cannot read frost directory nodir"],
            ),
            case(
                &[
                    "corrupt",
                    "--corruption",
                    "frost",
                    "--frost-dir",
                    "emptyfrost",
                    i,
                    "o.png",
                ],
                &["frost directory emptyfrost holds no .png or .jpg image"],
            ),
        ],
    );
    assert!(!s.path("o.png").exists(), "a failed command wrote its output");
    check_usage_table(
        &s,
        &[
            (
                &["corrupt", i, "o.png"],
                "the following required arguments were not provided",
            ),
            (
                &["corrupt", "--corruption", "fog", "--severity", "300", i, "o.png"],
                "invalid value '300'",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// bench

#[test]
fn bench_json_has_a_row_per_op_pipeline_and_thread_count() {
    let s = Scratch::new();
    let tar = common::cifar_tar();
    let tar = tar.to_str().unwrap();
    let started = Instant::now();
    s.ok(&[
        "bench",
        "--count",
        "8",
        "--seconds",
        "0.05",
        "--threads",
        "2",
        "--json",
        "rows.json",
        "--images",
        tar,
    ]);
    let whole_run = started.elapsed().as_secs_f64();
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(s.path("rows.json")).unwrap()).unwrap();
    let mut names: Vec<String> = op_names().iter().map(|n| n.to_string()).collect();
    names.extend(["randconv", "fourier_mix", "color_transfer", "random_net"].map(String::from));
    names.extend(["augmix", "augmix-jsd", "augmix-torchvision"].map(String::from));
    assert_eq!(rows.len(), 2 * names.len());
    for (row, (threads, name)) in rows
        .iter()
        .zip([1, 2].iter().flat_map(|t| names.iter().map(move |n| (*t, n))))
    {
        let object = row.as_object().unwrap();
        assert_eq!(object.len(), 4, "{row}");
        assert_eq!(row["name"], name.as_str());
        assert_eq!(row["size"], 32);
        assert_eq!(row["threads"], threads);
        // Each row times at least one whole pass over the 8 images, inside the command's own
        // run time: a rate below that is a wrong measurement (units, or a count lost).
        let rate = row["images_per_s"].as_f64().unwrap();
        assert!(
            rate.is_finite() && rate >= 8.0 / whole_run,
            "{row} (command took {whole_run:.2}s)"
        );
    }
    // 224x224 on one thread, printed without JSON.
    let out = s.ok(&[
        "bench",
        "--size",
        "224",
        "--count",
        "2",
        "--seconds",
        "0.01",
        "--threads",
        "1",
        "--images",
        tar,
    ]);
    assert_eq!(out.lines().count(), names.len(), "{out}");
    assert!(out.lines().all(|l| l.contains("224px")), "{out}");
}

#[test]
fn bench_errors() {
    let s = Scratch::new();
    let tar = common::cifar_tar();
    let tar = tar.to_str().unwrap();
    fs::write(s.path("notar.tar.gz"), "not an archive").unwrap();
    check_error_table(
        &s,
        &[
            case(
                &["bench", "--size", "64", "--images", tar],
                &["--size is 64, valid: 32, 224"],
            ),
            case(
                &["bench", "--threads", "0", "--images", tar],
                &["--threads must be at least 1"],
            ),
            case(
                &["bench", "--count", "0", "--images", tar],
                &["--count must be at least 1"],
            ),
            case(
                &["bench", "--seconds", "0", "--images", tar],
                &["--seconds is 0, it must be positive"],
            ),
            case(
                &["bench", "--images", "missing.tar.gz"],
                &["cannot read missing.tar.gz"],
            ),
            case(
                &["bench", "--images", "notar.tar.gz", "--count", "2"],
                &["notar.tar.gz"],
            ),
            case(
                &["bench", "--json", "nodir/rows.json", "--images", tar],
                &["the directory nodir does not exist"],
            ),
            case(
                &["bench", "--train", "--batch", "1"],
                &["--batch is 1, it must be at least 2"],
            ),
            case(
                &["bench", "--train", "--models", "vgg"],
                &["unknown architecture `vgg`"],
            ),
            case(
                &["bench", "--train", "--device", "tpu"],
                &["unknown device `tpu`"],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// train and eval

#[test]
fn train_writes_a_run_directory_that_eval_reads() {
    let s = Scratch::new();
    let out = s.train_small("run");
    let accuracy = percent_after(&out, "clean test accuracy");
    assert!(out.contains("baseline: 2 epochs, 4 steps"), "{out}");
    let dir = s.path("run");
    for file in [
        "checkpoint.bin",
        "metrics.jsonl",
        "recipe.toml",
        "data.json",
        "run.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    // The resolved recipe, with the overrides, and the data it was trained on.
    let recipe = Recipe::from_toml(
        &fs::read_to_string(dir.join("recipe.toml")).unwrap(),
        "recipe.toml",
    )
    .unwrap();
    assert_eq!((recipe.name.as_str(), recipe.train.epochs), ("baseline", 2));
    assert_eq!(recipe.model.arch.to_string(), "tiny");
    let data: Value = serde_json::from_str(&fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(data["spec"], SMALL_DATA);
    // 200 images in batches of 128: 2 steps per epoch.
    let m = metrics(&dir);
    let steps = lines_of_kind(&m, "step");
    let epochs = lines_of_kind(&m, "epoch");
    assert_eq!(
        steps
            .iter()
            .map(|l| l["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        steps
            .iter()
            .map(|l| l["epoch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 0, 1, 1]
    );
    assert_eq!(epochs.len(), 2);
    for (e, line) in epochs.iter().enumerate() {
        assert_eq!(line["epoch"], e as u64);
        assert_eq!(line["step"], 2 * (e as u64 + 1));
        assert!(line["train_loss"].as_f64().unwrap().is_finite());
    }
    let last_test = epochs[1]["test_acc"].as_f64().unwrap();
    assert!(
        (100.0 * last_test - accuracy).abs() < 0.006,
        "{last_test} vs {accuracy}"
    );
    let ck = Checkpoint::load(&dir.join("checkpoint.bin")).unwrap();
    assert_eq!(
        (ck.state.epochs_done, ck.state.global_step, ck.state.classes),
        (2, 4, 10)
    );

    // eval reads the run back and finds the same accuracy on the same test set.
    let eval = s.ok(&["eval", "--run", "run"]);
    assert!(eval.contains("on 100 images, BN branch clean"), "{eval}");
    assert_eq!(percent_after(&eval, "clean test accuracy"), accuracy, "{eval}");
    let adv = s.ok(&["eval", "--run", "run", "--bn-branch", "adv"]);
    assert!(adv.contains("BN branch adv"), "{adv}");
    // The style-shift set, with a CSV of the results.
    let shift = s.ok(&["eval", "--run", "run", "--shift", "--csv", "shift.csv"]);
    assert!(shift.contains("style-shift error"), "{shift}");
    let csv = fs::read_to_string(s.path("shift.csv")).unwrap();
    assert!(
        csv.lines().any(|l| l.contains("synthetic-heldout-style")),
        "{csv}"
    );
}

#[test]
fn train_refuses_to_overwrite_a_run_and_resume_refuses_what_it_cannot_continue() {
    let s = Scratch::new();
    s.train_small("run");
    let data_before = fs::read(s.path("run/data.json")).unwrap();
    let ck_before = fs::read(s.path("run/checkpoint.bin")).unwrap();
    // Training again into the run directory, even on other data, changes nothing.
    let out = s.run(&[
        "train",
        "--recipe",
        "baseline",
        "--data",
        "synthetic:train=300,test=100",
        "--out",
        "run",
    ]);
    assert_error(
        &out,
        &["run already holds a checkpoint: pass --resume to continue it, or choose another --out"],
    );
    assert_eq!(
        fs::read(s.path("run/data.json")).unwrap(),
        data_before,
        "data.json was overwritten"
    );
    assert_eq!(fs::read(s.path("run/checkpoint.bin")).unwrap(), ck_before);
    fs::create_dir(s.path("empty")).unwrap();
    check_error_table(
        &s,
        &[
            case(
                &["train", "--resume", "--out", "run"],
                &[
                    "nothing to resume: run finished its 2 epochs",
                    "advbn eval --run run",
                ],
            ),
            case(
                &[
                    "train",
                    "--resume",
                    "--out",
                    "run",
                    "--epochs",
                    "5",
                    "--set",
                    "train.lr=0.01",
                ],
                &[
                    "--resume continues the run in run as it was started; it cannot be combined with --epochs, --set",
                ],
            ),
            case(
                &["train", "--resume", "--out", "run", "--recipe", "augmix"],
                &["run was trained with recipe `baseline`, not `augmix`"],
            ),
            case(
                &["train", "--resume", "--out", "empty"],
                &["empty: not a run directory"],
            ),
            case(
                &["train", "--resume", "--out", "missing"],
                &["missing: not a run directory"],
            ),
            case(&["train", "--resume"], &["--resume needs --out DIR"]),
        ],
    );
    // A run killed before its first checkpoint has nothing to resume.
    fs::create_dir(s.path("early")).unwrap();
    for file in ["recipe.toml", "data.json"] {
        fs::copy(s.path(&format!("run/{file}")), s.path(&format!("early/{file}"))).unwrap();
    }
    let out = s.run(&["train", "--resume", "--out", "early"]);
    assert_error_after_progress(&out, &["nothing to resume: early has no checkpoint"]);
}

#[test]
fn damaged_checkpoints_are_errors_not_panics() {
    let s = Scratch::new();
    s.train_small("run");
    // Make the run unfinished, so that --resume reads the whole checkpoint.
    let recipe = fs::read_to_string(s.path("run/recipe.toml")).unwrap();
    assert!(recipe.contains("epochs = 2\n"));
    fs::write(
        s.path("run/recipe.toml"),
        recipe.replace("epochs = 2\n", "epochs = 3\n"),
    )
    .unwrap();
    let good = fs::read(s.path("run/checkpoint.bin")).unwrap();
    let mut cases: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for cut in [0, 7, 12, 100, good.len() / 2, good.len() - 1] {
        let expected = if cut < 8 {
            "not an advbn checkpoint"
        } else {
            "truncated checkpoint"
        };
        cases.push((format!("cut at {cut} bytes"), good[..cut].to_vec(), expected));
    }
    cases.push((
        "not a checkpoint".into(),
        b"hello world, this is text".to_vec(),
        "not an advbn checkpoint",
    ));
    // The model bytes overwritten in the middle.
    let mut scrambled = good.clone();
    let state_len = u64::from_le_bytes(good[8..16].try_into().unwrap()) as usize;
    let model_start = 16 + state_len + 8;
    for b in &mut scrambled[model_start..model_start + 200] {
        *b = 0xff;
    }
    cases.push((
        "scrambled model".into(),
        scrambled,
        "checkpoint model is unreadable",
    ));
    // A state that names another architecture: the tensors do not fit.
    let state = String::from_utf8(good[16..16 + state_len].to_vec()).unwrap();
    let other = state.replace("\"tiny\"", "\"resnet20\"");
    assert_ne!(state, other);
    let mut wrong_arch = good[..8].to_vec();
    wrong_arch.extend((other.len() as u64).to_le_bytes());
    wrong_arch.extend(other.as_bytes());
    wrong_arch.extend(&good[16 + state_len..]);
    cases.push((
        "other architecture".into(),
        wrong_arch,
        "checkpoint does not fit the network",
    ));

    let mut failures = Vec::new();
    for (name, bytes, expected) in &cases {
        fs::write(s.path("run/checkpoint.bin"), bytes).unwrap();
        for args in [
            &["eval", "--run", "run"][..],
            &["train", "--resume", "--out", "run"][..],
        ] {
            let out = s.run(args);
            match check_error(&out, &[expected], true) {
                Ok(line) if line.len() > 500 => {
                    failures.push(format!("{name}, {}: a {}-character line", args[0], line.len()))
                }
                Ok(_) => {}
                Err(e) => failures.push(format!("{name}, advbn {}: {e}", args.join(" "))),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn train_and_eval_errors() {
    let s = Scratch::new();
    s.train_small("run");
    // A folder dataset of two classes (the run was trained on ten).
    let root = common::cifar_jpg_root();
    for split in ["train", "test"] {
        for class in ["cat", "dog"] {
            let to = s.path(&format!("two/{split}/{class}"));
            fs::create_dir_all(&to).unwrap();
            for i in 0..2 {
                let name = format!("{i:04}.jpg");
                fs::copy(root.join(split).join(class).join(&name), to.join(&name)).unwrap();
            }
        }
    }
    fs::create_dir(s.path("empty")).unwrap();
    // Each case must fail before training; were one to train, the tiny model keeps it short.
    let train = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "train",
            "--recipe",
            "baseline",
            "--out",
            "new",
            "--set",
            "model.arch=tiny",
        ];
        if !extra.contains(&"--data") {
            args.extend(["--data", SMALL_DATA]);
        }
        if !extra.contains(&"--epochs") && !extra.iter().any(|a| a.starts_with("train.epochs")) {
            args.extend(["--epochs", "1"]);
        }
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect()
    };
    let mut cases = vec![
        case(
            &["train", "--recipe", "nope", "--out", "new"],
            &["unknown recipe `nope`: not a built-in (baseline"],
        ),
        case(&train(&["--set", "train.nope=1"]), &["unknown key `train.nope`"]),
        case(
            &train(&["--set", "nonsense"]),
            &["`nonsense` is not of the form key.path=value"],
        ),
        case(
            &train(&["--set", "train.epochs=0"]),
            &["`train.epochs` is 0, allowed range is 1..=100000"],
        ),
        case(&train(&["--epochs", "0"]), &["`train.epochs` is 0"]),
        case(
            &train(&["--device", "tpu"]),
            &["unknown device `tpu` (valid: cpu, wgpu, cuda)"],
        ),
        case(
            &train(&["--data", "mnist:/data"]),
            &["unknown scheme `mnist` (valid: cifar10, folder, fashion-mnist, synthetic)"],
        ),
        case(
            &train(&["--data", "cifar10"]),
            &["invalid data spec `cifar10`: missing path, write `cifar10:PATH`"],
        ),
        case(&train(&["--data", "cifar10:/no/such/dir"]), &["/no/such/dir"]),
        case(&train(&["--data", "folder:/no/such/dir"]), &["/no/such/dir"]),
        case(
            &train(&["--data", "synthetic:train=0"]),
            &["`train` must be between 1"],
        ),
        case(
            &train(&["--data", "synthetic:colour=3"]),
            &["unknown key `colour`"],
        ),
        case(&train(&["--train-limit", "0"]), &["train_limit is 0"]),
        case(&["eval", "--run", "empty"], &["empty: not a run directory"]),
        case(&["eval", "--run", "missing"], &["missing: not a run directory"]),
        case(
            &["eval", "--run", "run", "--bn-branch", "dirty"],
            &["unknown BN branch `dirty` (valid: clean, adv, both)"],
        ),
        case(
            &["eval", "--run", "run", "--device", "tpu"],
            &["unknown device `tpu`"],
        ),
        case(
            &["eval", "--run", "run", "--data", "nope:x"],
            &["unknown scheme `nope`"],
        ),
        case(
            &["eval", "--run", "run", "--csv", "nodir/r.csv", "--shift"],
            &["the directory nodir does not exist"],
        ),
    ];
    if !cfg!(feature = "wgpu") {
        cases.push(case(
            &train(&["--device", "wgpu"]),
            &["built without GPU support for `wgpu`: rebuild with `cargo build --release --features wgpu`"],
        ));
        cases.push(case(
            &["eval", "--run", "run", "--device", "wgpu"],
            &["--features wgpu"],
        ));
    }
    if !cfg!(feature = "cuda") {
        cases.push(case(
            &train(&["--device", "cuda"]),
            &["built without CUDA support: rebuild with", "--features cuda"],
        ));
    }
    check_error_table(&s, &cases);
    assert!(!s.path("new").exists(), "a refused run created its directory");
    // Found once the data is loaded: the error is the last line of stderr.
    let out = s.run(&[
        "eval",
        "--run",
        "run",
        "--data",
        &format!("folder:{}", s.path("two").display()),
    ]);
    assert_error_after_progress(&out, &["has 2 classes, the model was trained on 10"]);
    let out = s.run(&train(&["--init-from", "missing.bin"]));
    assert_error_after_progress(&out, &["missing.bin: cannot read checkpoint"]);
    let out = s.run(&train(&[
        "--init-from",
        "run/checkpoint.bin",
        "--set",
        "model.arch=resnet20",
    ]));
    assert_error_after_progress(
        &out,
        &["checkpoint is tiny with 10 classes, the recipe wants resnet20"],
    );
    check_usage_table(
        &s,
        &[
            (
                &["train", "--out", "x"],
                "the following required arguments were not provided",
            ),
            (
                &["train", "--recipe", "baseline", "--epochs", "two"],
                "invalid value 'two'",
            ),
            (&["eval"], "the following required arguments were not provided"),
            (&["fly"], "unrecognized subcommand 'fly'"),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// kill and resume

/// Polls until `ready` holds, the child exits (a failure), or two minutes pass.
fn wait_for(child: &mut std::process::Child, what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the training exited ({status}) before {what}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let s = Scratch::new();
    // 3 epochs of 16 steps (1000 images, batches of 64), a few seconds each. The advbn
    // recipe with its adversary starting at epoch 1 (after the checkpoint the run resumes
    // from) also checks that the adversarial BN switches on correctly after a resume.
    let args = |out: &str| -> Vec<String> {
        [
            "train",
            "--recipe",
            "advbn",
            "--epochs",
            "3",
            "--data",
            "synthetic:train=1000,test=200",
            "--set",
            "model.arch=tiny",
            "--set",
            "train.batch_size=64",
            "--set",
            "feature[0].start_epoch=1",
            "--set",
            "feature[0].steps=1",
            "--out",
            out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let spawn = |out: &str, output: Stdio| {
        Command::new(BIN)
            .args(args(out))
            .current_dir(s.dir.path())
            .stdout(output)
            .stderr(Stdio::null())
            .spawn()
            .expect("start advbn train")
    };
    // The uninterrupted reference runs meanwhile.
    let reference = spawn("whole", Stdio::piped());
    let mut child = spawn("killed", Stdio::null());
    let dir = s.path("killed");
    let in_second_epoch = || {
        dir.join("checkpoint.bin").exists()
            && metrics_lines(&dir)
                .iter()
                .any(|m| m["kind"] == "step" && m["epoch"] == 1)
    };
    wait_for(&mut child, "a step of epoch 2 was logged", in_second_epoch);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();

    let ck = Checkpoint::load(&dir.join("checkpoint.bin")).expect("the checkpoint survives the kill");
    assert!(
        ck.state.epochs_done >= 1 && ck.state.epochs_done < 3,
        "{:?}",
        ck.state
    );
    let logged = metrics_lines(&dir);
    let last_logged = logged.iter().filter_map(|m| m["step"].as_u64()).max().unwrap();
    assert!(
        last_logged > ck.state.global_step,
        "the kill did not interrupt an epoch"
    );
    // The interrupted run's checkpoint is usable as it is.
    let eval = s.ok(&["eval", "--run", "killed"]);
    assert!(eval.contains("clean test accuracy"), "{eval}");

    let resumed = s.ok(&["train", "--resume", "--out", "killed"]);
    let whole = reference.wait_with_output().unwrap();
    assert!(whole.status.success(), "the uninterrupted run failed");
    let whole = stdout(&whole);

    let accuracy = |text: &str| percent_after(text, "clean test accuracy");
    assert!(
        (accuracy(&resumed) - accuracy(&whole)).abs() <= 0.5 + 1e-9,
        "final accuracy {} (resumed) vs {} (uninterrupted)",
        accuracy(&resumed),
        accuracy(&whole)
    );
    let (m_resumed, m_whole) = (metrics(&dir), metrics(&s.path("whole")));
    let steps = |m: &[Value]| -> Vec<u64> {
        lines_of_kind(m, "step")
            .iter()
            .map(|l| l["step"].as_u64().unwrap())
            .collect()
    };
    let total = 3 * 16;
    assert_eq!(
        steps(&m_resumed),
        (1..=total).collect::<Vec<u64>>(),
        "each step exactly once, in order"
    );
    assert_eq!(steps(&m_whole), (1..=total).collect::<Vec<u64>>());
    let epochs = |m: &[Value]| -> Vec<Value> { lines_of_kind(m, "epoch").into_iter().cloned().collect() };
    let (e_resumed, e_whole) = (epochs(&m_resumed), epochs(&m_whole));
    assert_eq!(
        e_resumed
            .iter()
            .map(|e| e["epoch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let (last_r, last_w) = (e_resumed.last().unwrap(), e_whole.last().unwrap());
    assert_eq!(last_r["step"], last_w["step"]);
    let (loss_r, loss_w) = (
        last_r["train_loss"].as_f64().unwrap(),
        last_w["train_loss"].as_f64().unwrap(),
    );
    assert!(
        (loss_r - loss_w).abs() <= 1e-3 * loss_w.abs(),
        "final train loss {loss_r} (resumed) vs {loss_w} (uninterrupted)"
    );
    // The adversary ran in the resumed epochs.
    assert!(
        lines_of_kind(&m_resumed, "step")
            .iter()
            .any(|l| l["epoch"] == 2 && l["loss_adv"].is_number())
    );
}

/// The metrics lines written so far (a line being written is skipped).
fn metrics_lines(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// study

#[test]
fn study_of_two_recipes_writes_the_report_csv_and_charts() {
    let s = Scratch::new();
    let mut args = vec![
        "study",
        "baseline",
        "augmix",
        "--epochs",
        "1",
        "--data",
        SMALL_DATA,
        "--corruptions",
        "fog,contrast",
        "--out",
        "study",
    ];
    args.extend_from_slice(TINY);
    let out = s.ok(&args);
    let table: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("baseline ") || l.starts_with("augmix "))
        .collect();
    assert_eq!(table.len(), 2, "{out}");
    assert!(out.contains("report: study/report.md"), "{out}");
    let dir = s.path("study");
    let report = fs::read_to_string(dir.join("report.md")).unwrap();
    for piece in [
        "baseline",
        "augmix",
        "fog",
        "contrast",
        "error_per_corruption.png",
        "clean_vs_corruption.svg",
        "training_loss.png",
        "training_accuracy.png",
    ] {
        assert!(report.contains(piece), "report.md lacks {piece}");
    }
    for chart in [
        "error_per_corruption",
        "clean_vs_corruption",
        "training_loss",
        "training_accuracy",
    ] {
        let (w, h) = read_png(&dir.join(format!("{chart}.png"))).dimensions();
        assert!(w >= 800 && h >= 400, "{chart}.png is {w}x{h}");
        let svg = fs::read_to_string(dir.join(format!("{chart}.svg"))).unwrap();
        let head = format!("<svg width=\"{w}\" height=\"{h}\"");
        assert!(svg.starts_with(&head), "{chart}.svg does not start with {head}");
        assert!(svg.contains("\naugmix"), "{chart}.svg lacks the legend");
    }
    // results.csv: clean, style shift, and 2 corruptions x 5 severities, for each recipe.
    let csv = fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    let (recipe, kind, set, severity) = (
        column("recipe"),
        column("kind"),
        column("set"),
        column("severity"),
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for name in ["baseline", "augmix"] {
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[recipe] == name).collect();
        assert_eq!(mine.iter().filter(|r| r[kind] == "clean").count(), 1, "{name}");
        assert_eq!(mine.iter().filter(|r| r[kind] == "shift").count(), 1, "{name}");
        for corruption in ["fog", "contrast"] {
            let mut severities: Vec<&str> = mine
                .iter()
                .filter(|r| r[kind] == "corruption" && r[set] == corruption)
                .map(|r| r[severity])
                .collect();
            severities.sort();
            assert_eq!(severities, ["1", "2", "3", "4", "5"], "{name} {corruption}");
        }
        assert_eq!(mine.len(), 12, "{name}: {mine:?}");
    }
    // Each recipe's run directory can be evaluated on its own.
    let eval = s.ok(&["eval", "--run", "study/runs/augmix"]);
    assert!(eval.contains("augmix: clean test accuracy"), "{eval}");

    // Run again, the study reuses the finished runs and reports the same numbers...
    let ck = fs::read(dir.join("runs/baseline/checkpoint.bin")).unwrap();
    let again = s.run(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("baseline: reusing the finished run"),
        "{}",
        stderr(&again)
    );
    assert_eq!(fs::read_to_string(dir.join("results.csv")).unwrap(), csv);
    assert_eq!(fs::read(dir.join("runs/baseline/checkpoint.bin")).unwrap(), ck);
    // ...but not with other data or another recipe setting.
    let other_data: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == SMALL_DATA {
                "synthetic:train=300,test=100"
            } else {
                a
            }
        })
        .collect();
    assert_error_after_progress(
        &s.run(&other_data),
        &["study/runs/baseline holds a run trained on other data"],
    );
    let other_lr = [&args[..], &["--set", "train.lr=0.01"]].concat();
    assert_error_after_progress(
        &s.run(&other_lr),
        &["study/runs/baseline holds a run of a different `baseline` recipe"],
    );
}

#[test]
fn study_errors() {
    let s = Scratch::new();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["study".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--data", SMALL_DATA, "--epochs", "1", "--out", "study"].map(String::from));
        args
    };
    let cases: Vec<Case> = vec![
        (
            base(&["baseline", "baseline"]),
            vec!["recipe `baseline` is listed twice"],
        ),
        (base(&["baseline", "nope"]), vec!["unknown recipe `nope`"]),
        (
            base(&["baseline", "--corruptions", "fog,nope"]),
            vec!["unknown corruption `nope`"],
        ),
        (
            base(&["baseline", "--set", "train.nope=1"]),
            vec!["unknown key `train.nope`"],
        ),
        (
            base(&["baseline", "--device", "tpu"]),
            vec!["unknown device `tpu`"],
        ),
        (base(&["baseline", "--test-limit", "0"]), vec!["test_limit is 0"]),
    ];
    check_error_table(&s, &cases);
    assert!(
        !s.path("study").exists(),
        "a refused study created its output directory"
    );
}

// ---------------------------------------------------------------------------------------
// stylizers, recipes' stacks, AdvBN pictures, robustness evaluation, the corruption suite

#[test]
fn augment_stage_and_recipe_write_views_of_every_kind() {
    let s = Scratch::new();
    let inputs = s.real_images(2);
    let inputs: Vec<&str> = inputs.iter().map(|p| p.to_str().unwrap()).collect();
    fs::create_dir(s.path("out")).unwrap();
    for kind in ["randconv", "fourier_mix", "color_transfer", "random_net"] {
        let mut args = vec![
            "augment", "--stage", kind, "--views", "2", "--seed", "3", "--out", "out",
        ];
        args.extend(&inputs);
        s.ok(&args);
        for input in &inputs {
            let stem = Path::new(input).file_stem().unwrap().to_str().unwrap();
            let original = read_input(Path::new(input));
            let views: Vec<RgbImage> = (1..=2)
                .map(|v| read_png(&s.path(&format!("out/{stem}_{kind}{v}.png"))))
                .collect();
            assert!(views.iter().all(|v| v.dimensions() == original.dimensions()));
            assert!(
                views.iter().any(|v| *v != original),
                "{kind} changed nothing in {stem}"
            );
        }
    }
    // A recipe's whole stack, one image per epoch, and its contact sheet.
    let mut args = vec![
        "augment",
        "--recipe",
        "augmix+randconv+advbn",
        "--views",
        "3",
        "--grid",
        "--out",
        "out",
    ];
    args.extend(&inputs);
    s.ok(&args);
    let stem = Path::new(inputs[0]).file_stem().unwrap().to_str().unwrap();
    let epochs: Vec<RgbImage> = (1..=3)
        .map(|v| read_png(&s.path(&format!("out/{stem}_augmix_randconv_advbn_epoch{v}.png"))))
        .collect();
    assert_ne!(epochs[0], epochs[1]);
    assert!(read_png(&s.path("out/grid.png")).width() > 3 * 32);
    check_error_table(
        &s,
        &[
            case(
                &["augment", "--stage", "blur", "x.png", "--out", "out"],
                &["unknown stage kind `blur`", "randconv"],
            ),
            case(
                &["augment", "--stage", "randconv", inputs[0]],
                &["--stage needs --out DIR"],
            ),
            case(
                &["augment", "--recipe", "nope", inputs[0], "--out", "out"],
                &["unknown recipe `nope`"],
            ),
        ],
    );
}

#[test]
fn visualize_draws_factors_and_feature_maps_of_an_advbn_run() {
    let s = Scratch::new();
    let mut args = vec![
        "train", "--recipe", "advbn", "--epochs", "1", "--data", SMALL_DATA, "--out", "run",
    ];
    args.extend_from_slice(TINY);
    s.ok(&args);
    let out = s.ok(&["visualize", "--run", "run", "--images", "3", "--channels", "4"]);
    assert!(out.contains("factors over"), "{out}");
    let factors = read_png(&s.path("run/advbn_factors.png"));
    // The heatmap has both colours of the diverging scale (factors moved both ways).
    assert!(
        factors.pixels().any(|p| p.0[0] > 150 && p.0[2] < 80),
        "no red in the factor heatmap"
    );
    assert!(
        factors.pixels().any(|p| p.0[2] > 140 && p.0[0] < 80),
        "no blue in the factor heatmap"
    );
    let svg = fs::read_to_string(s.path("run/advbn_factors.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("\ns_sigma (std)\n"));
    let features = read_png(&s.path("run/advbn_features.png"));
    assert!(features.height() > 3 * 2 * 32);
    check_error_table(
        &s,
        &[
            case(&["visualize", "--run", "nowhere"], &["nowhere"]),
            case(
                &["visualize", "--run", "run", "--images", "0"],
                &["--images and --channels must be at least 1"],
            ),
        ],
    );
}

#[test]
fn eval_reports_corruption_and_shift_errors() {
    let s = Scratch::new();
    s.train_small("run");
    let out = s.ok(&[
        "eval",
        "--run",
        "run",
        "--corruptions",
        "--shift",
        "--test-limit",
        "20",
        "--csv",
        "r.csv",
    ]);
    for line in [
        "clean error",
        "mean corruption error",
        "held-out corruptions",
        "style-shift error",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let csv = fs::read_to_string(s.path("r.csv")).unwrap();
    // clean + 19 corruptions x 5 severities + the held-out-style set.
    assert_eq!(csv.lines().count(), 1 + 1 + 19 * 5 + 1);
}

#[test]
fn bench_corruptions_times_the_suite() {
    let s = Scratch::new();
    let tar = common::cifar_tar();
    let started = Instant::now();
    let out = s.ok(&[
        "bench",
        "--corruptions",
        "--count",
        "20",
        "--images",
        tar.to_str().unwrap(),
        "--json",
        "c.json",
    ]);
    assert!(out.contains("20 images x 15 corruptions x 5 severities"), "{out}");
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(s.path("c.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 15);
    // Each corruption row covers the 20 images at 5 severities within the command's run.
    let whole_run = started.elapsed().as_secs_f64();
    for row in &rows {
        let rate = row["images_per_s"].as_f64().unwrap();
        assert!(rate >= 100.0 / whole_run, "{row} (command took {whole_run:.2}s)");
    }
}

#[test]
fn feature_space_peers_train_from_their_recipes() {
    let s = Scratch::new();
    for recipe in ["mixstyle", "dsu", "randconv+advbn"] {
        let out_dir = format!("run-{recipe}");
        let mut args = vec![
            "train", "--recipe", recipe, "--epochs", "1", "--data", SMALL_DATA, "--out", &out_dir,
        ];
        args.extend_from_slice(TINY);
        let out = s.ok(&args);
        let accuracy = percent_after(&out, "clean test accuracy");
        assert!((0.0..=100.0).contains(&accuracy), "{out}");
        // The recipe's feature stage is what trained: recorded in the run, and every step's
        // loss is finite; the adversary of randconv+advbn logged its loss at every step.
        let toml = fs::read_to_string(s.path(&out_dir).join("recipe.toml")).unwrap();
        let kind = if recipe == "randconv+advbn" {
            "advbn"
        } else {
            recipe
        };
        assert!(toml.contains(&format!("kind = \"{kind}\"")), "{toml}");
        let m = metrics(&s.path(&out_dir));
        let steps = lines_of_kind(&m, "step");
        assert_eq!(steps.len(), 2, "{recipe}: 200 images in batches of 128");
        for step in &steps {
            assert!(step["loss"].as_f64().unwrap().is_finite(), "{step}");
            assert_eq!(step["loss_adv"].is_number(), kind == "advbn", "{recipe}: {step}");
        }
    }
}

#[test]
fn missing_output_directories_are_created_like_mkdir_p() {
    let s = Scratch::new();
    let input = s.real_images(1)[0].to_str().unwrap().to_string();
    for (args, dir) in [
        (
            vec!["augment", "--augmix", "--out", "views/deep", &input],
            "views/deep",
        ),
        (
            vec!["augment", "--stage", "randconv", "--out", "stage/a/b", &input],
            "stage/a/b",
        ),
        (
            vec![
                "corrupt",
                "--all",
                "--preset",
                "cifar",
                "--out",
                "corrupted/x",
                &input,
            ],
            "corrupted/x",
        ),
    ] {
        assert!(!s.path(dir).exists());
        s.ok(&args);
        let written = fs::read_dir(s.path(dir)).unwrap().count();
        assert!(written > 0, "{dir} is empty after {args:?}");
    }
}

#[test]
fn eval_on_other_data_is_not_cut_to_the_runs_test_limit() {
    let s = Scratch::new();
    let mut args = vec![
        "train",
        "--recipe",
        "baseline",
        "--epochs",
        "1",
        "--data",
        SMALL_DATA,
        "--test-limit",
        "50",
        "--out",
        "run",
    ];
    args.extend_from_slice(TINY);
    s.ok(&args);
    let own = s.ok(&["eval", "--run", "run"]);
    assert!(own.contains("on 50 images"), "{own}");
    // Another data set is evaluated whole unless --test-limit says otherwise.
    let other_data = "synthetic:train=200,test=150";
    let other = s.ok(&["eval", "--run", "run", "--data", other_data]);
    assert!(other.contains("on 150 images"), "{other}");
    let limited = s.ok(&[
        "eval",
        "--run",
        "run",
        "--data",
        other_data,
        "--test-limit",
        "120",
    ]);
    assert!(limited.contains("on 120 images"), "{limited}");
}

#[test]
fn train_on_two_cpu_devices_and_refuse_bad_lists() {
    // Stopping and resuming on two devices is tested in the library (`train::tests`).
    let s = Scratch::new();
    let run = s.run(&[
        "train",
        "--recipe",
        "advbn",
        "--epochs",
        "2",
        "--data",
        SMALL_DATA,
        "--out",
        "run",
        "--devices",
        "cpu,cpu",
        "--set",
        "model.arch=tiny",
        "--set",
        "feature[0].steps=1",
        "--set",
        "feature[0].start_epoch=0",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("batch 128, shared out over 2 devices)"),
        "{}",
        stderr(&run)
    );
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(out.contains("advbn: 2 epochs, 4 steps"), "{out}");
    let logged = metrics(&s.path("run"));
    let steps = lines_of_kind(&logged, "step");
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|l| l["loss_adv"].as_f64().unwrap().is_finite()));
    for (list, message) in [
        (
            "cpu,tpu",
            "unknown device `tpu` (valid: cpu, wgpu, wgpu:N, cuda, cuda:N)",
        ),
        ("cpu:1", "device `cpu:1`: the CPU has no index (write `cpu`)"),
        ("wgpu:x", "device `wgpu:x`: `x` is not a device index"),
    ] {
        let out = s.run(&["train", "--recipe", "baseline", "--out", "bad", "--devices", list]);
        assert!(!out.status.success());
        assert_eq!(stderr(&out).trim(), format!("error: {message}"), "{list}");
    }
}

#[test]
fn bench_train_times_both_loops_side_by_side() {
    let s = Scratch::new();
    let out = s.ok(&[
        "bench",
        "--train",
        "--burn-train",
        "--models",
        "tiny",
        "--batch",
        "4",
        "--size",
        "16",
        "--steps",
        "1",
        "--json",
        "rows.json",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(s.path("rows.json")).unwrap()).unwrap();
    let described: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["driver"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("plain", "advbn"),
            ("plain", "burn-train"),
            ("advbn", "advbn"),
            ("advbn", "burn-train")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        rows.iter().all(|r| r["images_per_s"].as_f64().unwrap() > 0.0),
        "{out}"
    );
    let err = s.run(&["bench", "--burn-train"]);
    assert!(!err.status.success());
}
