//! torchvision weights in and out: the committed fixture (a width-8 ResNet-18 in torchvision's
//! layout with random weights, as `.safetensors` and PyTorch `.pth`, and a NumPy float64
//! reference forward pass, all written by `scripts/fixtures/torchvision_weights.py`) loaded
//! into our ResNet-18; `advbn predict`; `advbn export` and back; `--init-from`; bad files.

use std::path::{Path, PathBuf};

use advbn::model::{Arch, BnMode, Network, SplitModel, TorchvisionWeights, torchvision_safetensors};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torchvision")
        .join(name)
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json parses")
}

#[track_caller]
fn ok<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &Path) -> String {
    common::advbn_ok(dir, args)
}

#[track_caller]
fn fails<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &Path) -> String {
    common::advbn_fails(dir, args)
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// The reference's input: the centre 224x224 of an image whose shorter side is 256 (so
/// torchvision's Resize(256) is the identity), /255, ImageNet mean/std; `[1, 3, 224, 224]`.
fn reference_input(image: &str, top_left: [u32; 2], device: &Device) -> Tensor<4> {
    let img = image::open(fixture(image)).expect("fixture image").to_rgb8();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let mut chw = vec![0f32; 3 * 224 * 224];
    for y in 0..224 {
        for x in 0..224 {
            let p = img.get_pixel(x + top_left[1], y + top_left[0]);
            for c in 0..3 {
                chw[c * 224 * 224 + (y * 224 + x) as usize] = (f32::from(p[c]) / 255.0 - mean[c]) / std[c];
            }
        }
    }
    Tensor::from_data(TensorData::new(chw, [1, 3, 224, 224]), device)
}

fn logits(net: &Network, x: Tensor<4>) -> Vec<f32> {
    net.forward(x, BnMode::EVAL)
        .into_data()
        .try_to_vec()
        .expect("f32 logits")
}

#[test]
fn both_formats_load_to_the_numpy_reference_logits() {
    let device = Device::flex();
    let reference = reference();
    for file in ["resnet18-w8.safetensors", "resnet18-w8.pth"] {
        let weights = TorchvisionWeights::read(&fixture(file)).unwrap();
        assert_eq!(weights.arch(), Some(Arch::Resnet18), "{file}");
        assert_eq!(weights.width_and_classes().unwrap(), (8, 1000), "{file}");
        // 102 float tensors: torchvision's 122 keys minus 20 num_batches_tracked.
        assert_eq!(weights.keys().count(), 102, "{file}");
        let net = weights.to_network(Arch::Resnet18, &device).unwrap();
        for entry in reference["images"].as_array().unwrap() {
            let top_left = floats(&entry["crop_top_left"]);
            let x = reference_input(
                entry["image"].as_str().unwrap(),
                [top_left[0] as u32, top_left[1] as u32],
                &device,
            );
            let ours = logits(&net, x);
            let theirs = floats(&entry["logits"]);
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            // float32 against float64 through 20 layers: measured 1.3e-6..2.3e-6 (logits up
            // to 7) on the development machine;
            // 1e-4 leaves room for other CPUs' summation orders and still catches any
            // misplaced tensor (a swapped or untransposed one moves logits by > 0.1).
            println!("{file} {}: max |logit difference| {worst:.2e}", entry["image"]);
            assert!(
                worst < 1e-4,
                "{file} {}: max |logit difference| {worst}",
                entry["image"]
            );
        }
    }
}

#[test]
fn predict_reproduces_the_reference_probabilities_from_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference();
    let entries = reference["images"].as_array().unwrap();
    let images: Vec<PathBuf> = entries
        .iter()
        .map(|e| fixture(e["image"].as_str().unwrap()))
        .collect();
    for file in ["resnet18-w8.safetensors", "resnet18-w8.pth"] {
        let mut args: Vec<std::ffi::OsString> = [
            "predict",
            "--arch",
            "resnet18",
            "--json",
            "--top",
            "1000",
            "--weights",
        ]
        .iter()
        .map(Into::into)
        .collect();
        args.push(fixture(file).into());
        args.extend(images.iter().map(Into::into));
        let out = ok(&args, dir.path());
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), entries.len());
        for (line, entry) in lines.iter().zip(entries) {
            assert!(
                line["image"]
                    .as_str()
                    .unwrap()
                    .ends_with(entry["image"].as_str().unwrap())
            );
            let expected = softmax(&floats(&entry["logits"]));
            let top = line["top"].as_array().unwrap();
            assert_eq!(top.len(), 1000);
            let mut worst = 0f64;
            for pair in top {
                let (class, p) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap());
                worst = worst.max((p - expected[class]).abs());
            }
            // Probabilities of 1000 classes (largest 0.09), printed as f32: measured
            // 1.7e-8..1.6e-7.
            println!(
                "{file} {}: max |probability difference| {worst:.2e}",
                entry["image"]
            );
            assert!(worst < 1e-6, "{file}: max |probability difference| {worst}");
            // The reference's top five, in order, with ImageNet's names (1000 classes).
            let ours: Vec<u64> = top.iter().take(5).map(|p| p[0].as_u64().unwrap()).collect();
            let theirs: Vec<u64> = entry["top5"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_u64().unwrap())
                .collect();
            assert_eq!(ours, theirs, "{file}");
            assert_eq!(line["names"].as_array().unwrap().len(), 1000);
        }
    }
    // The text form: one header line per image and --top lines.
    let text = ok(
        &[
            "predict".as_ref(),
            "--weights".as_ref(),
            fixture("resnet18-w8.pth").as_os_str(),
            "--arch".as_ref(),
            "resnet18".as_ref(),
            "--top".as_ref(),
            "3".as_ref(),
            images[0].as_os_str(),
        ],
        dir.path(),
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.lines().nth(1).unwrap().contains("272"), "{text}");
}

#[test]
fn exported_safetensors_load_back_to_identical_outputs() {
    let device = Device::flex();
    let source = TorchvisionWeights::read(&fixture("resnet18-w8.pth")).unwrap();
    let net = source.to_network(Arch::Resnet18, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.safetensors");
    std::fs::write(&path, torchvision_safetensors(&net).unwrap()).unwrap();
    let back = TorchvisionWeights::read(&path).unwrap();
    // The same keys and values as the file it came from (num_batches_tracked aside).
    assert_eq!(back.keys().collect::<Vec<_>>(), source.keys().collect::<Vec<_>>());
    let again = back.to_network(Arch::Resnet18, &device).unwrap();
    let x = reference_input("img1.png", [16, 38], &device);
    assert_eq!(
        logits(&net, x.clone()),
        logits(&again, x),
        "export then load must be exact"
    );
    // PyTorch's strict load_state_dict wants num_batches_tracked beside every batch norm.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 122);
    let tracked = file.tensor("layer2.0.downsample.1.num_batches_tracked").unwrap();
    assert_eq!(
        (tracked.dtype(), tracked.shape()),
        (safetensors::Dtype::I64, &[][..])
    );
    assert_eq!(file.tensor("fc.weight").unwrap().shape(), &[1000, 64]);
}

/// A copy of the fixture's tensors as safetensors, edited by `edit`.
fn edited_fixture(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>),
) -> PathBuf {
    let bytes = std::fs::read(fixture("resnet18-w8.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(k, t)| (k, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(k, shape, data)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, safetensors::tensor::serialize(views, None).unwrap()).unwrap();
    path
}

#[test]
fn bad_weights_files_get_one_line_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let predict = |weights: &Path, arch: &str| -> String {
        fails(
            &[
                "predict".as_ref(),
                "--weights".as_ref(),
                weights.as_os_str(),
                "--arch".as_ref(),
                arch.as_ref(),
                fixture("img0.png").as_os_str(),
            ],
            d,
        )
    };
    // Another architecture.
    let err = predict(&fixture("resnet18-w8.pth"), "resnet50");
    assert!(
        err.contains("holds a resnet18 checkpoint, the model is resnet50"),
        "{err}"
    );
    let err = predict(&fixture("resnet18-w8.pth"), "resnet20");
    assert!(err.contains("resnet18 or resnet50, not resnet20"), "{err}");
    // A missing key names the key and the shape expected.
    let missing = edited_fixture(d, "missing.safetensors", |t| {
        t.retain(|(k, _, _)| k != "layer3.1.bn2.running_var")
    });
    let err = predict(&missing, "resnet18");
    assert!(
        err.contains("no `layer3.1.bn2.running_var` (resnet18 expects [32])"),
        "{err}"
    );
    // A mis-shaped key names both shapes.
    let misshaped = edited_fixture(d, "misshaped.safetensors", |t| {
        let entry = t
            .iter_mut()
            .find(|(k, _, _)| k == "layer2.1.conv1.weight")
            .unwrap();
        entry.1 = vec![16, 16, 9, 1];
    });
    let err = predict(&misshaped, "resnet18");
    assert!(err.contains("`layer2.1.conv1.weight` is [16, 16, 9, 1]"), "{err}");
    assert!(err.contains("resnet18 expects [16, 16, 3, 3]"), "{err}");
    // A key the network does not have.
    let extra = edited_fixture(d, "extra.safetensors", |t| {
        t.push(("layer4.1.se.weight".into(), vec![2], vec![0; 8]));
    });
    let err = predict(&extra, "resnet18");
    assert!(
        err.contains("has `layer4.1.se.weight` [2], which resnet18 does not have"),
        "{err}"
    );
    // No model at all.
    let err = fails(&["predict".as_ref(), fixture("img0.png").as_os_str()], d);
    assert!(
        err.contains("no model: give --run DIR or --weights FILE --arch NAME"),
        "{err}"
    );
    // Zero channels: an error, not a panic while building the network.
    let empty = edited_fixture(d, "empty.safetensors", |t| {
        let entry = t.iter_mut().find(|(k, _, _)| k == "conv1.weight").unwrap();
        (entry.1, entry.2) = (vec![0, 3, 7, 7], Vec::new());
    });
    let err = predict(&empty, "resnet18");
    assert!(err.contains("`conv1.weight`'s width must be at least 1"), "{err}");
    // Not a weights file at all.
    let err = predict(&fixture("img0.png"), "resnet18");
    assert!(
        err.contains("not a readable safetensors or PyTorch file"),
        "{err}"
    );
    // A bad image gets the same error as `augment`.
    std::fs::write(d.join("broken.jpg"), b"not a jpeg").unwrap();
    let err = fails(
        &[
            "predict".as_ref(),
            "--weights".as_ref(),
            fixture("resnet18-w8.pth").as_os_str(),
            "--arch".as_ref(),
            "resnet18".as_ref(),
            d.join("broken.jpg").as_os_str(),
        ],
        d,
    );
    assert!(err.contains("broken.jpg is not a readable image"), "{err}");
}

fn train_args(out: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--recipe",
        "advbn-imagenet",
        "--data",
        "synthetic:train=32,test=16",
        "--out",
        out,
        "--set",
        "model.arch=resnet18",
        "--set",
        "model.width=8",
        "--set",
        "data.image_size=64",
        "--set",
        "train.epochs=1",
        "--set",
        "train.batch_size=16",
        "--set",
        "eval.batch_size=16",
        "--set",
        "feature[0].steps=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn init_from_a_torchvision_file_trains_and_exports_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pth = fixture("resnet18-w8.pth").display().to_string();
    // lr 1e-12: the run barely moves the weights, so its export must hold the file's
    // convolutions (batch-norm statistics do move: they are running averages).
    let out = common::advbn(
        d,
        &train_args("run", &["--init-from", &pth, "--set", "train.lr=1e-12"]),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("fc has 1000 classes in") && log.contains("the data has 10"),
        "the log must say that fc starts fresh: {log}"
    );
    let text = ok(&["export", "--run", "run", "--out", "r18.safetensors"], d);
    assert!(text.contains("resnet18 (10 classes"), "{text}");
    let exported = TorchvisionWeights::read(&d.join("r18.safetensors")).unwrap();
    let source = TorchvisionWeights::read(&fixture("resnet18-w8.pth")).unwrap();
    assert_eq!(exported.width_and_classes().unwrap(), (8, 10));
    let device = Device::flex();
    let a = exported.to_network(Arch::Resnet18, &device).unwrap();
    let b = source.to_network(Arch::Resnet18, &device).unwrap();
    // Outputs would differ through the moved batch-norm statistics and the fresh fc: compare
    // a convolution's weights.
    let conv = |net: &Network| -> Vec<f32> {
        let bytes = torchvision_safetensors(net).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = file.tensor("layer3.0.conv2.weight").unwrap();
        t.data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (ca, cb) = (conv(&a), conv(&b));
    let worst = ca.iter().zip(&cb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-6, "the run did not start from the file: {worst}");
    // The export predicts with 10 classes and no names.
    let line = ok(
        &[
            "predict".as_ref(),
            "--weights".as_ref(),
            d.join("r18.safetensors").as_os_str(),
            "--arch".as_ref(),
            "resnet18".as_ref(),
            "--json".as_ref(),
            fixture("img2.png").as_os_str(),
        ],
        d,
    );
    let line: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(line["top"].as_array().unwrap().len(), 5);
    assert!(line.get("names").is_none());
    // --run predicts through the run's own transform (64-pixel centre crop) and classes.
    let line = ok(
        &[
            "predict",
            "--run",
            "run",
            "--json",
            "--top",
            "10",
            &fixture("img2.png").display().to_string(),
        ],
        d,
    );
    let line: Value = serde_json::from_str(line.trim()).unwrap();
    let total: f64 = line["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .sum();
    assert!(
        (total - 1.0).abs() < 1e-4,
        "probabilities of all 10 classes sum to {total}"
    );
}

#[test]
fn init_from_refuses_weights_of_another_width_or_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pth = fixture("resnet18-w8.pth").display().to_string();
    let err = fails(
        &train_args("wide", &["--init-from", &pth, "--set", "model.width=16"]),
        d,
    );
    assert!(
        err.contains("`conv1.weight` is [8, 3, 7, 7] in") && err.contains("resnet18 expects [16, 3, 7, 7]"),
        "{err}"
    );
    let err = fails(
        &train_args("r50", &["--init-from", &pth, "--set", "model.arch=resnet50"]),
        d,
    );
    assert!(
        err.contains("holds a resnet18 checkpoint, the model is resnet50"),
        "{err}"
    );
    assert!(!d.join("r50/checkpoint.bin").exists());
    // model.width is for the ImageNet ResNets only.
    let err = fails(&train_args("tiny", &["--set", "model.arch=tiny"]), d);
    assert!(err.contains("model.width") && err.contains("not tiny"), "{err}");
    // export of a run that is not an ImageNet ResNet.
    let err = fails(&["export", "--run", "nowhere", "--out", "x.safetensors"], d);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn a_study_starts_every_recipe_from_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pth = fixture("resnet18-w8.pth").display().to_string();
    let out = common::advbn(
        d,
        &[
            "study",
            "baseline-imagenet",
            "--data",
            "synthetic:train=32,test=16",
            "--init-from",
            &pth,
            "--set",
            "model.arch=resnet18",
            "--set",
            "model.width=8",
            "--set",
            "data.image_size=64",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.lr=1e-12",
            "--epochs",
            "1",
            "--corruptions",
            "fog",
            "--out",
            "s",
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("fc has 1000 classes in"), "{log}");
    let report = std::fs::read_to_string(d.join("s/report.md")).unwrap();
    assert!(
        report.contains("Every recipe starts from the weights in"),
        "{report}"
    );
    // The run's export holds the file's convolutions (lr 1e-12).
    ok(
        &[
            "export",
            "--run",
            "s/runs/baseline-imagenet",
            "--out",
            "b.safetensors",
        ],
        d,
    );
    let exported = std::fs::read(d.join("b.safetensors")).unwrap();
    let exported = safetensors::SafeTensors::deserialize(&exported).unwrap();
    let source = std::fs::read(fixture("resnet18-w8.safetensors")).unwrap();
    let source = safetensors::SafeTensors::deserialize(&source).unwrap();
    let key = "layer4.1.conv2.weight";
    let values = |t: safetensors::tensor::TensorView<'_>| -> Vec<f32> {
        t.data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (a, b) = (
        values(exported.tensor(key).unwrap()),
        values(source.tensor(key).unwrap()),
    );
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-6, "{key} moved by {worst}");
}
