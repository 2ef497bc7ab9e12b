//! `advbn study`: train several recipes on one dataset, evaluate them on clean, corrupted
//! and style-shifted test sets, and write the report.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;

use crate::augmenters::corrupt::{Corruption, Preset};
use crate::data::{BenchKind, BenchSpec, DataSplits, ImageSource, ModelClasses, open_bench};
use crate::eval::benchmark::{
    BenchOptions, SubsetRecord, Variant, bench_preprocess, default_branch, evaluate_bench, headline,
};
use crate::eval::report::{
    EpochPoint, RecipeSummary, complementarity, corruption_table, epochs_from_metrics, summarize,
    summary_table, write_charts, write_csv,
};
use crate::eval::robustness::{Candidate, EvalRecord, RobustnessPlan, evaluate_robustness};
use crate::model::BnBranch;
use crate::recipe::Recipe;
use crate::train::{
    Checkpoint, RunData, TrainSetup, checkpoint_path, load_network, metrics_path, recipe_path, train,
};

/// A study to run.
pub struct StudyConfig {
    /// The recipes, resolved (quick overrides already applied).
    pub recipes: Vec<Recipe>,
    /// The data.
    pub data: DataSplits,
    /// A one-line description of the data for the report (spec and sizes).
    pub data_description: String,
    /// The spec and limits, recorded in each run directory for `advbn eval`.
    pub data_record: RunData,
    /// The output directory.
    pub out: PathBuf,
    /// The device.
    pub device: Device,
    /// Corruptions evaluated (default: all 19).
    pub corruptions: Vec<Corruption>,
    /// Draw progress bars.
    pub progress: bool,
    /// Extra lines for the report's notes.
    pub notes: Vec<String>,
    /// Published benchmark sets to evaluate every model on (`--eval-data`), one report
    /// column each.
    pub eval_sets: Vec<BenchSpec>,
    /// Weights every recipe starts from (`--init-from`), if any.
    pub init_from: Option<PathBuf>,
}

/// What a study produced.
pub struct StudyOutcome {
    /// The summary rows.
    pub rows: Vec<RecipeSummary>,
    /// Every evaluation.
    pub records: Vec<EvalRecord>,
    /// The benchmark columns (empty without `--eval-data`).
    pub benchmarks: Vec<BenchColumn>,
    /// The report as printed (plain text table and the complementarity paragraph).
    pub text: String,
}

/// One benchmark set's column of the study report.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchColumn {
    /// The set.
    pub spec: BenchSpec,
    /// Column header, e.g. `ImageNet-C mCE %`.
    pub label: String,
    /// Per recipe (in the study's order): the figure (%), the branch it was measured with,
    /// and whether it covers less than the published benchmark.
    pub cells: Vec<(String, f64, BnBranch, bool)>,
    /// Every subset result, per recipe.
    pub records: Vec<(String, SubsetRecord)>,
}

/// The order of the report's benchmark columns: the AdvBN paper's (clean, mCE,
/// Stylized-ImageNet, Sketch), then ImageNet-R/-A, then CIFAR-C.
const COLUMN_ORDER: [BenchKind; 7] = [
    BenchKind::ImagenetC,
    BenchKind::StylizedImagenet,
    BenchKind::ImagenetSketch,
    BenchKind::ImagenetR,
    BenchKind::ImagenetA,
    BenchKind::Cifar10C,
    BenchKind::Cifar100C,
];

/// Runs a study. Finished runs in `out/runs/<recipe>` with the same recipe are reused, and
/// unfinished ones resumed, so an interrupted study continues where it stopped.
pub fn run_study(config: StudyConfig) -> Result<StudyOutcome, String> {
    fs::create_dir_all(&config.out).map_err(|e| format!("cannot create {}: {e}", config.out.display()))?;
    let classes = config.data.classes().len();
    let train_set: Arc<dyn ImageSource> = Arc::new(config.data.train.clone());
    let mut trained: Vec<(String, f64)> = Vec::new();
    for recipe in &config.recipes {
        let run_dir = config.out.join("runs").join(&recipe.name);
        let state = existing_run(&run_dir, recipe, &config.data_record)?;
        match state {
            RunState::Finished => eprintln!(
                "{}: reusing the finished run in {}",
                recipe.name,
                run_dir.display()
            ),
            RunState::Partial | RunState::Absent => {
                let resume = matches!(state, RunState::Partial);
                if resume {
                    eprintln!("{}: resuming the run in {}", recipe.name, run_dir.display());
                }
                fs::create_dir_all(&run_dir)
                    .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
                config.data_record.write(&run_dir)?;
                // As `advbn train` does, so that `advbn eval` can map benchmark folders
                // (wnids) to this run's classes.
                let names: String = config.data.classes().iter().map(|c| format!("{c}\n")).collect();
                crate::train::write_atomic(&run_dir.join("classes.txt"), |out| {
                    std::io::Write::write_all(out, names.as_bytes())
                })
                .map_err(|e| format!("cannot write classes.txt: {e}"))?;
                train(TrainSetup {
                    recipe: recipe.clone(),
                    train: train_set.clone(),
                    test: None,
                    classes,
                    device: config.device.clone(),
                    devices: Vec::new(),
                    run_dir: run_dir.clone(),
                    resume,
                    init_from: config.init_from.clone(),
                    progress: config.progress,
                    label: Some(recipe.name.clone()),
                    stop_after_epochs: None,
                })
                .map_err(|e| format!("{}: {e}", recipe.name))?;
            }
        }
        trained.push((recipe.name.clone(), training_seconds(&run_dir)));
    }

    let mut candidates = Vec::new();
    for recipe in &config.recipes {
        let run_dir = config.out.join("runs").join(&recipe.name);
        let ck = Checkpoint::load(&checkpoint_path(&run_dir))?;
        candidates.push(Candidate {
            name: recipe.name.clone(),
            model: load_network(&ck, &config.device)?,
            normalization: recipe.data.normalization,
        });
    }
    let first = &config.recipes[0];
    let preset: Preset = first.eval.preset.parse()?;
    let plan = RobustnessPlan {
        corruptions: config.corruptions.clone(),
        severities: first.eval.severities.clone(),
        preset,
        seed: first.train.seed,
        branch: first.eval.bn_branch,
        batch_size: first.eval.batch_size,
        progress: config.progress,
    };
    let shifts = if first.eval.shift {
        crate::eval::robustness::shift_sets(&config.data, first.train.seed)?
    } else {
        Vec::new()
    };
    let records = evaluate_robustness(&candidates, &config.data.test, &shifts, &plan, &config.device)?;
    let benchmarks = evaluate_benchmarks(&config, &candidates)?;
    let mut notes = config.notes.clone();
    if first.eval.shift && config.data.shifts.is_empty() {
        notes.push(
            "Style shift: the test set re-rendered by a stylizer family no built-in training recipe uses: \
             each image takes the Fourier amplitude (lambda ~ U(0, 1)) and then the l-alpha-beta colour \
             statistics of another test image, keeping its own phase (content); seeded, the same for every model."
                .into(),
        );
    }

    let baseline = config
        .recipes
        .iter()
        .any(|r| r.name == "baseline")
        .then_some("baseline");
    let rows = summarize(&records, &trained, baseline);
    write_csv(&config.out.join("results.csv"), &records)
        .map_err(|e| format!("cannot write results.csv: {e}"))?;
    let curves: Vec<(String, Vec<EpochPoint>)> = (config.recipes.iter())
        .map(|r| {
            let metrics = fs::read_to_string(metrics_path(&config.out.join("runs").join(&r.name)));
            (r.name.clone(), epochs_from_metrics(&metrics.unwrap_or_default()))
        })
        .collect();
    let charts = write_charts(&config.out, &records, &rows, &curves)?;
    let paragraph = complementarity(&rows);
    let mut markdown = report_markdown(
        &config,
        &notes,
        &rows,
        &records,
        &charts,
        paragraph.as_deref(),
        &plan,
    );
    if !benchmarks.is_empty() {
        let at = markdown
            .find("## Complementarity")
            .or_else(|| markdown.find("## Error per corruption"));
        let section = benchmark_markdown(&rows, &benchmarks);
        match at {
            Some(i) => markdown.insert_str(i, &section),
            None => markdown.push_str(&section),
        }
    }
    fs::write(config.out.join("report.md"), markdown).map_err(|e| format!("cannot write report.md: {e}"))?;
    if !benchmarks.is_empty() {
        let mut csv = String::from("recipe,");
        csv.push_str(&bench_csv_rows(&benchmarks));
        fs::write(config.out.join("benchmarks.csv"), csv)
            .map_err(|e| format!("cannot write benchmarks.csv: {e}"))?;
    }
    let mut text = crate::eval::report::summary_text(&rows);
    if !benchmarks.is_empty() {
        text.push('\n');
        text.push_str(&benchmark_text(&rows, &benchmarks));
    }
    if let Some(p) = &paragraph {
        text.push('\n');
        text.push_str(p);
        text.push('\n');
    }
    Ok(StudyOutcome {
        rows,
        records,
        benchmarks,
        text,
    })
}

enum RunState {
    Absent,
    Partial,
    Finished,
}

fn existing_run(run_dir: &Path, recipe: &Recipe, data: &RunData) -> Result<RunState, String> {
    let ck = checkpoint_path(run_dir);
    if !ck.exists() {
        // A directory without a checkpoint holds nothing worth keeping (a run killed in
        // its first epoch): start over.
        if run_dir.exists() {
            fs::remove_dir_all(run_dir).map_err(|e| format!("cannot clear {}: {e}", run_dir.display()))?;
        }
        return Ok(RunState::Absent);
    }
    let saved = fs::read_to_string(recipe_path(run_dir))
        .map_err(|e| format!("{}: unreadable recipe.toml ({e})", run_dir.display()))
        .and_then(|t| Recipe::from_toml(&t, &run_dir.display().to_string()).map_err(|e| e.to_string()))?;
    if saved != *recipe {
        return Err(format!(
            "{} holds a run of a different `{}` recipe; remove it or choose another --out",
            run_dir.display(),
            recipe.name
        ));
    }
    // Reusing a run trained on other data would report its numbers as this data's.
    if let Ok(saved) = RunData::read(run_dir)
        && saved != *data
    {
        return Err(format!(
            "{} holds a run trained on other data (`{}`, not `{}`); remove it or choose another --out",
            run_dir.display(),
            saved.spec,
            data.spec
        ));
    }
    let state = Checkpoint::load(&ck)?.state;
    Ok(if state.epochs_done >= recipe.train.epochs {
        RunState::Finished
    } else {
        RunState::Partial
    })
}

/// Sum of the epoch durations in a run's metrics log.
fn training_seconds(run_dir: &Path) -> f64 {
    fs::read_to_string(metrics_path(run_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "epoch")
        .filter_map(|v| v["seconds"].as_f64())
        .sum()
}

fn report_markdown(
    config: &StudyConfig,
    notes: &[String],
    rows: &[RecipeSummary],
    records: &[EvalRecord],
    charts: &[String],
    paragraph: Option<&str>,
    plan: &RobustnessPlan,
) -> String {
    let names: Vec<String> = config.recipes.iter().map(|r| r.name.clone()).collect();
    let mut md = String::from("# advbn study\n\n");
    md.push_str(&format!("Data: {}.\n\n", config.data_description));
    md.push_str(&format!(
        "Evaluation: BN branch `{}`; corruptions with the `{}` preset at severities {:?}; seed {}.\n\n",
        plan.branch, plan.preset, plan.severities, plan.seed
    ));
    md.push_str("## Summary\n\n");
    md.push_str(&summary_table(rows));
    md.push_str(
        "\nMean corruption error: plain mean over the 15 benchmark corruptions and the severities \
         (as in the AugMix paper's CIFAR tables). mCE: per corruption, the sum over severities of the \
         recipe's errors divided by the baseline's, averaged (ImageNet-C style; 100 = baseline). \
         Held-out: the 4 extra corruptions of ImageNet-C (speckle noise, gaussian blur, spatter, saturate).\n\n",
    );
    if let Some(p) = paragraph {
        md.push_str("## Complementarity\n\n");
        md.push_str(p);
        md.push_str("\n\n");
    }
    md.push_str("## Error per corruption (%, mean over severities)\n\n");
    md.push_str(&corruption_table(records, &names));
    md.push('\n');
    if !charts.is_empty() {
        md.push_str("## Charts\n\n");
    }
    if charts.iter().any(|c| c.starts_with("training_")) {
        md.push_str(
            "Training curves: mean loss and accuracy over each epoch's training batches (augmented as \
             the recipe trains), per recipe.\n\n",
        );
    }
    for chart in charts {
        md.push_str(&format!("![{chart}]({chart}.png) ([SVG]({chart}.svg))\n\n"));
    }
    if !notes.is_empty() {
        md.push_str("## Notes\n\n");
        for n in notes {
            md.push_str(&format!("- {n}\n"));
        }
    }
    md.push_str("\nPer-set results: `results.csv`. Runs (recipe, metrics, checkpoint): `runs/`.\n");
    md
}

/// Evaluates every candidate on every `--eval-data` set, each through its default branch
/// ([`default_branch`]), and returns the report's columns in [`COLUMN_ORDER`].
fn evaluate_benchmarks(config: &StudyConfig, candidates: &[Candidate]) -> Result<Vec<BenchColumn>, String> {
    let mut specs = config.eval_sets.clone();
    specs.sort_by_key(|s| COLUMN_ORDER.iter().position(|k| *k == s.kind));
    if let Some(w) = specs.windows(2).find(|w| w[0].kind == w[1].kind) {
        return Err(format!(
            "--eval-data names {} twice (`{}` and `{}`)",
            w[0].kind, w[0], w[1]
        ));
    }
    let classes = ModelClasses {
        count: config.data.classes().len(),
        names: Some(config.data.classes().to_vec()),
    };
    let mut columns = Vec::new();
    for spec in specs {
        let first = &config.recipes[0];
        let set = open_bench(&spec, &classes, first.data.file_options()).map_err(|e| e.to_string())?;
        for note in &set.notes {
            eprintln!("{spec}: {note}");
        }
        let mut cells = Vec::new();
        let mut records = Vec::new();
        let mut label = String::new();
        for (recipe, candidate) in config.recipes.iter().zip(candidates) {
            let variant = Variant {
                branch: default_branch(spec.kind, recipe),
                adapt: false,
            };
            let options = BenchOptions {
                normalization: candidate.normalization,
                batch_size: recipe.eval.batch_size,
                variants: vec![variant],
                preprocess: bench_preprocess(recipe, spec.kind),
                // `--test-limit` caps every test set, each benchmark subset included.
                limit: config.data_record.test_limit,
                seed: recipe.train.seed,
                progress: config.progress,
            };
            let found = evaluate_bench(&candidate.model, &set, &options, &config.device)
                .map_err(|e| format!("{}: {e}", recipe.name))?;
            let h = headline(spec.kind, &found, variant).ok_or_else(|| format!("{spec}: no results"))?;
            label = h.label;
            cells.push((recipe.name.clone(), h.value, variant.branch, h.partial));
            records.extend(found.into_iter().map(|r| (recipe.name.clone(), r)));
        }
        columns.push(BenchColumn {
            spec,
            label,
            cells,
            records,
        });
    }
    Ok(columns)
}

fn bench_csv_rows(columns: &[BenchColumn]) -> String {
    let mut out = String::from("set,corruption,severity,branch,error,accuracy,samples\n");
    for c in columns {
        for (recipe, r) in &c.records {
            out.push_str(&format!(
                "{recipe},{},{},{},{},{:.6},{:.6},{}\n",
                c.spec.kind.scheme(),
                r.corruption.as_deref().unwrap_or(""),
                r.severity.map(|s| s.to_string()).unwrap_or_default(),
                r.variant.branch,
                r.error,
                1.0 - r.error,
                r.samples
            ));
        }
    }
    out
}

/// The cells of the benchmark table: recipe, clean top-1, one figure per set (`*` marks a
/// partial figure, the branch follows in brackets when it is not clean).
fn benchmark_cells(rows: &[RecipeSummary], columns: &[BenchColumn]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["recipe".to_string(), "clean top-1 %".to_string()];
    header.extend(columns.iter().map(|c| c.label.clone()));
    let body = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.recipe.clone(), format!("{:.2}", 100.0 - row.clean_error)];
            for c in columns {
                cells.push(match c.cells.iter().find(|(r, ..)| *r == row.recipe) {
                    Some((_, value, branch, partial)) => format!(
                        "{value:.2}{}{}",
                        if *partial { "*" } else { "" },
                        if *branch == BnBranch::Clean {
                            String::new()
                        } else {
                            format!(" ({branch})")
                        }
                    ),
                    None => "n/a".into(),
                });
            }
            cells
        })
        .collect();
    (header, body)
}

fn benchmark_notes(columns: &[BenchColumn]) -> Vec<String> {
    let mut notes = vec![
        "Branch: each figure is measured with the clean batch-norm branch unless marked `(adv)`; \
         Stylized-ImageNet and ImageNet-Sketch use the adversarial branch for recipes that train AdvBN \
         with a dual batch norm, as the AdvBN reference evaluates them."
            .to_string(),
    ];
    if columns.iter().any(|c| c.cells.iter().any(|cell| cell.3)) {
        notes.push(
            "`*`: computed over the corruptions and severities present, not all 15 x 5: not comparable to published figures."
                .into(),
        );
    }
    if columns.iter().any(|c| c.spec.kind == BenchKind::ImagenetC) {
        notes.push(
            "ImageNet-C mCE: per corruption, the mean error over severities divided by AlexNet's (Hendrycks and \
             Dietterich 2019), averaged over the 15 benchmark corruptions; 100 = AlexNet."
                .into(),
        );
    }
    for c in columns {
        let images: std::collections::BTreeSet<usize> = c.records.iter().map(|(_, r)| r.samples).collect();
        let images: Vec<String> = images.iter().map(usize::to_string).collect();
        notes.push(format!(
            "{}: `{}`, {} images per subset.",
            c.spec.kind.title(),
            c.spec,
            images.join("/")
        ));
    }
    notes
}

fn benchmark_text(rows: &[RecipeSummary], columns: &[BenchColumn]) -> String {
    let (header, body) = benchmark_cells(rows, columns);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header[i])
                .chain(body.iter().map(|r| &r[i]))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                out.push_str(&format!("{cell:<w$}"));
            } else {
                out.push_str(&format!("  {cell:>w$}"));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for row in &body {
        out.push_str(&line(row));
    }
    for note in benchmark_notes(columns) {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

fn benchmark_markdown(rows: &[RecipeSummary], columns: &[BenchColumn]) -> String {
    let (header, body) = benchmark_cells(rows, columns);
    let mut md = String::from("## Published benchmarks\n\n");
    md.push_str(&format!("| {} |\n", header.join(" | ")));
    md.push_str(&format!("|---|{}\n", "---:|".repeat(header.len() - 1)));
    for row in &body {
        md.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    md.push('\n');
    for note in benchmark_notes(columns) {
        md.push_str(&format!("- {note}\n"));
    }
    md.push_str("\nPer-subset results: `benchmarks.csv`.\n\n");
    md
}
