//! Inputs that cannot crash it or lie: arbitrary and almost-valid input to every parser and
//! decoder, and to the `augment` / `corrupt` entry points, never panics and always ends in
//! `Ok` or a one-line error.
//!
//! The default case counts keep `cargo test` short (a few thousand cases per parser); the
//! `--ignored` soak test runs the same properties with many more cases:
//! `cargo test --release --test fuzz -- --ignored`.

mod common;

use std::path::Path;
use std::process::Command;

use advbn::augmenters::corrupt::{Corruption, Preset, corrupt};
use advbn::augmenters::ops::{apply_named, op_names};
use advbn::augmenters::{Pipeline, PixelStage, SampleKey};
use advbn::data::{DataSpec, decode_image_bytes};
use advbn::recipe::{BUILTIN, Recipe, apply_overrides, builtin};
use image::RgbImage;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// An error message a user sees: one non-empty line.
fn one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "empty error message");
    prop_assert_eq!(
        message.trim_end().lines().count(),
        1,
        "multi-line error: {}",
        message
    );
    Ok(())
}

/// Values that recipes hold, and values that break them.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("1e308".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[1, 2, 3]".to_string()),
        Just("{ kind = \"step\" }".to_string()),
        "[a-z_]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[ -~]{0,16}",
    ]
}

/// A built-in recipe with one line's value replaced, a line dropped, or junk inserted.
fn mutated_recipe() -> impl Strategy<Value = String> {
    (
        0..BUILTIN.len(),
        any::<prop::sample::Index>(),
        0u8..3,
        toml_value(),
    )
        .prop_map(|(which, line, how, value)| {
            let mut lines: Vec<String> = BUILTIN[which].1.lines().map(String::from).collect();
            let i = line.index(lines.len());
            match how {
                0 => {
                    if let Some((key, _)) = lines[i].split_once('=') {
                        lines[i] = format!("{key}= {value}");
                    }
                }
                1 => {
                    lines.remove(i);
                }
                _ => lines.insert(i, value),
            }
            lines.join("\n")
        })
}

/// `key.path=value` overrides over the recipes' real keys and some that do not exist.
fn override_item() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "train.epochs",
        "train.lr",
        "train.batch_size",
        "train.schedule.kind",
        "train.schedule.milestones",
        "model.arch",
        "data.image_size",
        "data.on_corrupt",
        "data.cache_mib",
        "data.normalization.std[1]",
        "pixel[0].size",
        "pixel[0].scale",
        "pixel[2].severity",
        "pixel[9].p",
        "feature[0].cut",
        "feature[0].epsilon",
        "consistency.views",
        "eval.severities",
        "nope",
        "",
        "train.",
        "pixel[",
    ]);
    (keys, toml_value(), "[=]{0,2}").prop_map(|(k, v, eq)| format!("{k}{eq}{v}"))
}

fn check_recipe_text(text: &str) -> Result<(), TestCaseError> {
    match Recipe::from_toml(text, "fuzz.toml") {
        Ok(recipe) => {
            // Whatever parses also serialises and parses back.
            let back = Recipe::from_toml(&recipe.to_toml(), "again");
            prop_assert!(back.is_ok(), "{:?}", back.err());
        }
        Err(e) => one_line(&e.to_string())?,
    }
    Ok(())
}

fn check_overrides(items: &[String]) -> Result<(), TestCaseError> {
    for (name, _) in BUILTIN.iter().take(11).step_by(5) {
        let recipe = builtin(name).unwrap().unwrap();
        if let Err(e) = apply_overrides(recipe, items) {
            one_line(&e.to_string())?;
        }
    }
    Ok(())
}

fn check_spec(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = text.parse::<DataSpec>() {
        one_line(&e.to_string())?;
    }
    Ok(())
}

fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = decode_image_bytes(bytes, Path::new("fuzz.bin")) {
        one_line(&e.to_string())?;
    }
    Ok(())
}

/// A real CIFAR-10 JPEG and the same image as PNG, whole.
fn real_files() -> Vec<Vec<u8>> {
    let jpeg = std::fs::read(common::cifar_jpg_root().join("test/cat/0001.jpg")).unwrap();
    let image = image::load_from_memory(&jpeg).unwrap();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    vec![jpeg, png]
}

/// Every op at a drawn value, every corruption, and the resizing stages, on an image of
/// any size: no panic.
fn check_entry_points(w: u32, h: u32, value: f64, seed: u64) -> Result<(), TestCaseError> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 31) as u8, (y * 17) as u8, (seed >> (x % 8)) as u8])
    });
    for name in op_names() {
        for v in [None, Some(value)] {
            if let Err(e) = apply_named(name, v, &img) {
                one_line(&e.to_string())?;
            }
        }
    }
    let c = Corruption::ALL[(seed % Corruption::ALL.len() as u64) as usize];
    let out = corrupt(
        &img,
        c,
        1 + (seed % 5) as u8,
        Preset::Imagenet,
        SampleKey::new(seed, 0, 0),
    )
    .unwrap();
    prop_assert_eq!(out.dimensions(), (w, h));
    for kind in ["random_resized_crop", "center_crop", "resize"] {
        let stage: PixelStage = toml::from_str(&format!("kind = \"{kind}\"\nsize = 7")).unwrap();
        let views = Pipeline::new(vec![stage])
            .unwrap()
            .run(&img, SampleKey::new(seed, 0, 1), 1);
        prop_assert!(views.clean.size().width >= 1);
    }
    Ok(())
}

/// Runs all the properties with `scale` times the default case counts.
fn run_all(scale: u32) {
    let runner = |cases: u32| {
        TestRunner::new(Config {
            cases: cases * scale,
            failure_persistence: None,
            ..Config::default()
        })
    };
    runner(2000)
        .run(&"\\PC{0,200}", |text| check_recipe_text(&text))
        .unwrap();
    runner(2000)
        .run(&prop::collection::vec(any::<u8>(), 0..300), |bytes| {
            check_recipe_text(&String::from_utf8_lossy(&bytes))
        })
        .unwrap();
    runner(2000)
        .run(&mutated_recipe(), |text| check_recipe_text(&text))
        .unwrap();
    runner(1000)
        .run(&prop::collection::vec(override_item(), 1..4), |items| {
            check_overrides(&items)
        })
        .unwrap();
    runner(3000).run(&"\\PC{0,60}", |text| check_spec(&text)).unwrap();
    runner(3000)
        .run(
            &"(synthetic|folder|cifar10|fashion-mnist|x)?:?[a-z=,0-9:/]{0,30}",
            |text| check_spec(&text),
        )
        .unwrap();
    runner(3000)
        .run(&prop::collection::vec(any::<u8>(), 0..400), |bytes| {
            check_decode(&bytes)
        })
        .unwrap();
    // Known headers followed by junk reach deeper into the decoders.
    let headers: Vec<Vec<u8>> = vec![
        vec![0xFF, 0xD8, 0xFF, 0xE0],
        b"\x89PNG\r\n\x1a\n".to_vec(),
        vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00],
    ];
    runner(2000)
        .run(
            &(
                prop::sample::select(headers),
                prop::collection::vec(any::<u8>(), 0..400),
            ),
            |(mut head, tail)| {
                head.extend(tail);
                check_decode(&head)
            },
        )
        .unwrap();
    let files = real_files();
    runner(1000)
        .run(
            &(
                0..files.len(),
                any::<prop::sample::Index>(),
                any::<u8>(),
                any::<bool>(),
            ),
            |(f, cut, flip, damage)| {
                let mut bytes = files[f].clone();
                let at = cut.index(bytes.len());
                if damage {
                    bytes[at] ^= flip;
                } else {
                    bytes.truncate(at);
                }
                check_decode(&bytes)
            },
        )
        .unwrap();
    runner(40)
        .run(
            &(1u32..40, 1u32..40, -1000.0f64..1000.0, any::<u64>()),
            |(w, h, v, seed)| check_entry_points(w, h, v, seed),
        )
        .unwrap();
}

#[test]
fn parsers_decoders_and_entry_points_never_panic() {
    run_all(1);
}

#[test]
#[ignore = "soak: 20x the cases; run with --ignored"]
fn soak_parsers_decoders_and_entry_points() {
    run_all(20);
}

/// The commands themselves, fed arbitrary files and truncated real ones: exit 0 or one
/// error line with exit 1, never a panic (exit 101).
#[test]
fn commands_fed_bad_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let files = real_files();
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, whole) in files.iter().enumerate() {
        for cut in [0, 1, 2, 10, whole.len() / 3, whole.len() / 2, whole.len() - 3] {
            inputs.push((format!("cut{i}_{cut}.jpg"), whole[..cut].to_vec()));
        }
    }
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    for _ in 0..12 {
        let bytes = prop::collection::vec(any::<u8>(), 0..200)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        inputs.push((format!("junk{}.png", inputs.len()), bytes));
    }
    for (name, bytes) in &inputs {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    for (name, _) in &inputs {
        for args in [
            vec!["augment", "--op", "rotate", "--value", "10", name, "o.png"],
            vec!["augment", "--augmix", name, "--out", "views"],
            vec!["corrupt", "--corruption", "fog", "--severity", "2", name, "c.png"],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_advbn"))
                .args(&args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => {}
                Some(1) => {
                    let lines: Vec<&str> = stderr.lines().collect();
                    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
                    assert!(
                        lines[0].starts_with("error: ") && lines[0].contains(name.as_str()),
                        "{args:?}: {stderr}"
                    );
                }
                other => panic!("{args:?} exited with {other:?}: {stderr}"),
            }
        }
    }
}
