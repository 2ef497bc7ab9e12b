//! Recipes through the public API: a table of bad recipes with the error each must give,
//! `--set` overrides, the round trip of every built-in recipe, and byte-identical
//! augmented batches for a seed.

use advbn::data::{
    BatchPlan, HostBatch, ImageDataset, SyntheticConfig, SyntheticSplit, generate_synthetic, make_batch,
};
use advbn::recipe::{BUILTIN, Consistency, Recipe, apply_overrides, builtin, builtin_names, resolve};

/// A complete, valid recipe that each bad case below changes one thing of. Line numbers
/// in the expected messages refer to this text.
const BASE: &str = r#"name = "t"
description = "a test recipe"

[data]
dataset = "synthetic"
normalization = { mean = [0.5, 0.5, 0.5], std = [0.5, 0.5, 0.5] }

[model]
arch = "tiny"

[train]
epochs = 4
batch_size = 32
lr = 0.1
schedule = { kind = "cosine", lr_min = 0.0 }
seed = 3

[[pixel]]
kind = "random_crop"
padding = 4

[[pixel]]
kind = "augmix"
severity = 3

[consistency]
kind = "jsd"
lambda = 12.0
views = 2

[[feature]]
kind = "advbn"
epsilon = 1.1
start_epoch = 1

[eval]
preset = "cifar"
severities = [1, 2, 3]
"#;

/// `BASE` with the first occurrence of `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no `{from}`");
    BASE.replacen(from, to, 1)
}

const COSINE: &str = r#"{ kind = "cosine", lr_min = 0.0 }"#;

#[test]
fn the_base_recipe_is_valid() {
    let r = Recipe::from_toml(BASE, "r.toml").unwrap();
    assert_eq!((r.name.as_str(), r.train.epochs, r.pixel.len()), ("t", 4, 2));
    assert_eq!(r.advbn().unwrap().start_epoch, 1);
}

/// Every bad recipe is an error (never a panic, never accepted), on one line, and the
/// message holds each expected piece: the file, line and column, the key path, and what
/// is allowed.
#[test]
fn bad_recipes_give_their_expected_errors() {
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "unknown top-level key",
            format!("colour = 3\n{BASE}"),
            &[
                "r.toml:1:1: unknown key `colour` (expected one of `name`, `description`, `data`, `model`, `train`, `pixel`, `consistency`, `feature`, `eval`)",
            ],
        ),
        (
            "unknown key in [train]",
            edit("seed = 3", "seed = 3\nepoch = 5"),
            &[
                "r.toml:17:1: unknown key `train.epoch` (expected one of `epochs`, `batch_size`, `lr`, `momentum`, `nesterov`, `weight_decay`, `schedule`, `seed`)",
            ],
        ),
        (
            "unknown key in the first [[pixel]] entry",
            edit("padding = 4", "padding = 4\npading = 4"),
            &["r.toml:21:1: unknown key `pixel[0].pading` (expected `padding`)"],
        ),
        (
            "unknown key in the second [[pixel]] entry (its own line, not the first entry's)",
            edit("severity = 3", "severity = 3\nwidht = 3"),
            &["r.toml:25:1: unknown key `pixel[1].widht`", "`width`"],
        ),
        (
            "unknown key in a [[feature]] entry",
            edit("epsilon = 1.1", "epsilon = 1.1\nepsilom = 2"),
            &[
                "r.toml:34:1: unknown key `feature[0].epsilom`",
                "`epsilon`",
                "`start_epoch`",
            ],
        ),
        (
            "unknown pixel kind lists the valid kinds",
            edit("kind = \"random_crop\"", "kind = \"random_crop2\""),
            &[
                "r.toml:19:8: `pixel[0].kind`: unknown value `random_crop2` (valid: ",
                "`random_crop`",
                "`horizontal_flip`",
                "`augmix`",
            ],
        ),
        (
            "unknown feature kind",
            edit("kind = \"advbn\"", "kind = \"mixstile\""),
            // In pieces: another test in this binary registers a feature kind,
            // and the list names every registered kind.
            &[
                "r.toml:32:8: `feature[0].kind`: unknown value `mixstile` (valid: one of ",
                "`advbn`, `mixstyle`, `dsu`",
            ],
        ),
        (
            "unknown schedule kind",
            edit("kind = \"cosine\"", "kind = \"linear\""),
            &[
                "r.toml:15:21: `train.schedule.kind`: unknown value `linear` (valid: one of `cosine`, `step`, `constant`)",
            ],
        ),
        (
            "unknown consistency kind",
            edit("kind = \"jsd\"", "kind = \"kl\""),
            &["r.toml:27:8: `consistency.kind`: unknown value `kl` (valid: `jsd`)"],
        ),
        (
            "unknown architecture",
            edit("arch = \"tiny\"", "arch = \"vgg\""),
            &["r.toml:9:8: `model.arch`: unknown value `vgg` (valid: one of `tiny`, `resnet20`"],
        ),
        (
            "unknown cut inside a [[feature]] entry names the key",
            edit("epsilon = 1.1", "epsilon = 1.1\ncut = \"stage9\""),
            &[
                "r.toml:34:7: `feature[0].cut`: unknown value `stage9`",
                "`stage1`",
            ],
        ),
        (
            "wrong type (string for a number)",
            edit("epochs = 4", "epochs = \"four\""),
            &["r.toml:12:10: `train.epochs`: invalid type: string \"four\", expected usize"],
        ),
        (
            "wrong type (boolean for a number)",
            edit("batch_size = 32", "batch_size = true"),
            &["r.toml:13:14: `train.batch_size`: invalid type: boolean `true`"],
        ),
        (
            "negative count",
            edit("batch_size = 32", "batch_size = -3"),
            &["r.toml:13:14: `train.batch_size`: invalid value: integer `-3`"],
        ),
        (
            "normalization with two channels",
            edit("std = [0.5, 0.5, 0.5]", "std = [0.5, 0.5]"),
            &["r.toml:6:49: `data.normalization.std`: invalid length 2, expected an array of length 3"],
        ),
        (
            "step schedule without milestones",
            edit(COSINE, "{ kind = \"step\" }"),
            &["r.toml:15:12: `train.schedule`: missing field `milestones`"],
        ),
        (
            "pixel entry without a kind",
            edit("kind = \"random_crop\"\n", ""),
            &["r.toml:18:1: `pixel[0]`: missing field `kind`"],
        ),
        (
            "no name",
            BASE.replacen("name = \"t\"\n", "", 1),
            &["missing field `name`"],
        ),
        (
            "empty name",
            edit("name = \"t\"", "name = \"  \""),
            &["r.toml:1:8: `name` must not be empty"],
        ),
        (
            "TOML syntax",
            edit("epochs = 4", "epochs = "),
            &["r.toml:12:10: ", "expected"],
        ),
        (
            "augmix severity 11",
            edit("severity = 3", "severity = 11"),
            &["r.toml:24:12: `pixel[1].severity` is 11, allowed range is 1..=10"],
        ),
        (
            "augmix severity 0",
            edit("severity = 3", "severity = 0"),
            &["r.toml:24:12: `pixel[1].severity` is 0, allowed range is 1..=10"],
        ),
        (
            "augmix width 0",
            edit("severity = 3", "severity = 3\nwidth = 0"),
            &["r.toml:25:9: `pixel[1].width` is 0, allowed range is 1..=16"],
        ),
        (
            "negative epsilon",
            edit("epsilon = 1.1", "epsilon = -0.5"),
            &["r.toml:33:11: `feature[0].epsilon` is -0.5, allowed range is 0.0..=10.0"],
        ),
        (
            "infinite epsilon",
            edit("epsilon = 1.1", "epsilon = inf"),
            &["r.toml:33:11: `feature[0].epsilon` is inf, allowed range is 0.0..=10.0"],
        ),
        (
            "zero batch size",
            edit("batch_size = 32", "batch_size = 0"),
            &["r.toml:13:14: `train.batch_size` is 0, allowed range is 2..=65536"],
        ),
        (
            "zero epochs",
            edit("epochs = 4", "epochs = 0"),
            &["r.toml:12:10: `train.epochs` is 0, allowed range is 1..=100000"],
        ),
        (
            "learning rate above 1",
            edit("lr = 0.1", "lr = 2.0"),
            &["r.toml:14:6: `train.lr` is 2.0, allowed range is 1e-12..=1.0"],
        ),
        (
            "learning rate NaN",
            edit("lr = 0.1", "lr = nan"),
            &["r.toml:14:6: `train.lr` is NaN"],
        ),
        (
            "start_epoch not below epochs",
            edit("start_epoch = 1", "start_epoch = 4"),
            &["r.toml:34:15: `feature[0].start_epoch` is 4, must be below train.epochs (4)"],
        ),
        (
            "two advbn entries",
            format!("{BASE}\n[[feature]]\nkind = \"advbn\"\n"),
            &["r.toml:31:1: `feature` has 2 adversaries (such as `advbn`); at most one is allowed"],
        ),
        (
            "eval severity 6",
            edit("severities = [1, 2, 3]", "severities = [1, 6]"),
            &["r.toml:38:18: `eval.severities[1]` is 6, allowed range is 1..=5"],
        ),
        (
            "unknown eval preset",
            edit("preset = \"cifar\"", "preset = \"tinyimagenet\""),
            &["r.toml:37:10: `eval.preset` is `tinyimagenet`, valid: cifar, imagenet"],
        ),
        (
            "unknown BN branch",
            edit(
                "severities = [1, 2, 3]",
                "severities = [1, 2, 3]\nbn_branch = \"dirty\"",
            ),
            &["r.toml:39:13: `eval.bn_branch`: unknown value `dirty` (valid: `clean`, `adv`)"],
        ),
        (
            "normalization std 0",
            edit("std = [0.5, 0.5, 0.5]", "std = [0.5, 0.0, 0.5]"),
            &["r.toml:6:55: `data.normalization.std[1]` is 0, must be positive"],
        ),
        (
            "decreasing step milestones",
            edit(COSINE, "{ kind = \"step\", milestones = [3, 2] }"),
            &["r.toml:15:42: `train.schedule.milestones` must be strictly increasing"],
        ),
        (
            "repeated step milestone",
            edit(COSINE, "{ kind = \"step\", milestones = [2, 2] }"),
            &["`train.schedule.milestones` must be strictly increasing"],
        ),
        (
            "zero consistency views",
            edit("views = 2", "views = 0"),
            &["r.toml:29:9: `consistency.views` is 0, allowed range is 1..=16"],
        ),
    ];
    let mut failures = Vec::new();
    for (case, text, expected) in &cases {
        let outcome = std::panic::catch_unwind(|| Recipe::from_toml(text, "r.toml"));
        let message = match outcome {
            Err(_) => {
                failures.push(format!("{case}: panicked"));
                continue;
            }
            Ok(Ok(_)) => {
                failures.push(format!("{case}: accepted"));
                continue;
            }
            Ok(Err(e)) => e.to_string(),
        };
        if message.contains('\n') {
            failures.push(format!("{case}: more than one line: {message:?}"));
        }
        for piece in *expected {
            if !message.contains(piece) {
                failures.push(format!("{case}: expected `{piece}` in\n    {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn overrides_apply_and_their_errors_name_the_override() {
    let base = || builtin("augmix").unwrap().unwrap();
    let r = apply_overrides(
        base(),
        &[
            "train.epochs=7".into(),
            "model.arch=tiny".into(),
            "pixel[2].severity=5".into(),
        ],
    )
    .unwrap();
    assert_eq!(r.train.epochs, 7);
    assert_eq!(r.model.arch.to_string(), "tiny");
    assert!(r.to_toml().contains("severity = 5"));

    let cases: &[(&str, &[&str])] = &[
        (
            "train.nope=3",
            &[
                "recipe `augmix` after --set: unknown key `train.nope`",
                "`epochs`",
            ],
        ),
        ("garbage", &["`garbage` is not of the form key.path=value"]),
        ("=3", &["--set =3: empty key"]),
        (
            "train.epochs=abc",
            &["recipe `augmix` after --set: `train.epochs`: invalid type: string \"abc\""],
        ),
        (
            "train.epochs=0",
            &["recipe `augmix` after --set: `train.epochs` is 0, allowed range is 1..=100000"],
        ),
        (
            "pixel[9].severity=3",
            &["--set pixel[9].severity=3: `pixel` has 3 entries, index 9 is out of range"],
        ),
        ("pixel[x].severity=3", &["bad index in `pixel[x]`"]),
        ("train.epochs.x=3", &["`x` is inside a value that is not a table"]),
    ];
    for (item, expected) in cases {
        let message = apply_overrides(base(), &[item.to_string()])
            .unwrap_err()
            .to_string();
        assert!(!message.contains('\n'), "{item}: {message:?}");
        // A position in the re-serialized text would mean nothing to the user.
        if let Some(at) = message.find("after --set:") {
            assert!(message[at + 12..].starts_with(' '), "--set {item}: {message}");
        }
        for piece in *expected {
            assert!(
                message.contains(piece),
                "--set {item}: expected `{piece}` in\n    {message}"
            );
        }
    }
}

#[test]
fn unknown_recipe_names_the_built_ins() {
    let message = resolve("no-such-recipe").unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "unknown recipe `no-such-recipe`: not a built-in ({}) and not a file",
            builtin_names().join(", ")
        )
    );
}

#[test]
fn every_builtin_recipe_round_trips() {
    assert_eq!(
        builtin_names(),
        [
            "baseline",
            "augmix",
            "advbn",
            "augmix+advbn",
            "advbn-finetune",
            "mixstyle",
            "dsu",
            "randconv",
            "randconv+advbn",
            "augmix+randconv+advbn",
            "baseline-imagenet",
            "augmix-imagenet",
            "advbn-imagenet",
            "augmix+advbn-imagenet"
        ]
    );
    for (name, _) in BUILTIN {
        let recipe = builtin(name).unwrap().unwrap();
        assert_eq!(recipe.name, *name);
        assert!(!recipe.description.is_empty(), "{name} has no description");
        let text = recipe.to_toml();
        let back = Recipe::from_toml(&text, name).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(back, recipe, "{name} changed in the round trip");
        assert_eq!(back.to_toml(), text, "{name}: serializing is not stable");
        // The file in recipes/ resolves to the same recipe as the built-in name.
        let path = format!("{}/recipes/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(resolve(&path).unwrap(), recipe, "{path}");
    }
}

fn images() -> ImageDataset {
    let config = SyntheticConfig {
        train: 12,
        test: 1,
        ..Default::default()
    };
    generate_synthetic(&config, SyntheticSplit::Train, 12)
}

/// The batch plan the trainer builds from a recipe.
fn plan(recipe: &Recipe) -> BatchPlan {
    let pipeline = recipe.pipeline().unwrap();
    let (views, include_clean) = match &recipe.consistency {
        Some(Consistency::Jsd { views, .. }) => (*views, true),
        None => (usize::from(pipeline.has_view_stages()), false),
    };
    BatchPlan {
        pipeline,
        augmented_views: views,
        include_clean,
        normalization: recipe.data.normalization,
        run_seed: recipe.train.seed,
    }
}

fn bits(batch: &HostBatch) -> Vec<u32> {
    batch.images.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn the_same_seed_gives_byte_identical_batches_for_every_builtin_recipe() {
    let data = images();
    let indices: Vec<usize> = (0..12).collect();
    for (name, _) in BUILTIN {
        let recipe = builtin(name).unwrap().unwrap();
        let plan = plan(&recipe);
        let first = make_batch(&data, &indices, &plan, 2).unwrap();
        let again = make_batch(&data, &indices, &plan, 2).unwrap();
        assert_eq!(bits(&first), bits(&again), "{name}: same seed, different bytes");
        assert_eq!(first.targets, again.targets);
        // The round-tripped recipe augments identically.
        let back = Recipe::from_toml(&recipe.to_toml(), name).unwrap();
        let replayed = make_batch(&data, &indices, &self::plan(&back), 2).unwrap();
        assert_eq!(
            bits(&first),
            bits(&replayed),
            "{name}: the round trip changed the augmentation"
        );
        // The order of the indices does not change any sample's bytes.
        let reversed: Vec<usize> = indices.iter().rev().copied().collect();
        let backwards = make_batch(&data, &reversed, &plan, 2).unwrap();
        let per_image = first.image_shape.iter().product::<usize>();
        for v in 0..first.views {
            for (s, &i) in reversed.iter().enumerate() {
                let a = &first.images[(v * 12 + i) * per_image..][..per_image];
                let b = &backwards.images[(v * 12 + s) * per_image..][..per_image];
                assert!(
                    a == b,
                    "{name}: sample {i} view {v} depends on its place in the batch"
                );
            }
        }
        // Another seed, or another epoch, augments differently.
        let mut other = plan.clone();
        other.run_seed += 1;
        let reseeded = make_batch(&data, &indices, &other, 2).unwrap();
        assert_ne!(bits(&first), bits(&reseeded), "{name}: the seed does not matter");
        let next_epoch = make_batch(&data, &indices, &plan, 3).unwrap();
        assert_ne!(
            bits(&first),
            bits(&next_epoch),
            "{name}: the epoch does not matter"
        );
    }
}

#[test]
fn an_unknown_feature_kind_lists_the_registered_ones() {
    use advbn::feature::{FeatureAugment, register_feature};
    #[derive(Debug)]
    struct Nothing;
    impl FeatureAugment for Nothing {
        fn kind(&self) -> &str {
            "nothing"
        }
    }
    register_feature("test_registry_listed", |_| Ok(std::sync::Arc::new(Nothing))).unwrap();
    let text = "name = \"x\"\n[[feature]]\nkind = \"nope\"\n";
    let err = advbn::recipe::Recipe::from_toml(text, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`feature[0].kind`: unknown value `nope`"), "{err}");
    assert!(
        err.contains("`advbn`, `mixstyle`, `dsu`") && err.contains("`test_registry_listed`"),
        "{err}"
    );
}
