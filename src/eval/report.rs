//! The study's report: the summary table (clean error, mean corruption error, mCE relative
//! to the baseline, style-shift error, training time), per-corruption tables, the
//! complementarity paragraph, `results.csv`, `report.md` and the charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chart::{BarChart, Line, LineChart, ScatterChart, write_chart};
use super::robustness::{EvalRecord, SetKind};
use crate::augmenters::corrupt::Corruption;

/// One row of the summary table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecipeSummary {
    /// Recipe name.
    pub recipe: String,
    /// Clean top-1 error, %.
    pub clean_error: f64,
    /// Mean error over the 15 benchmark corruptions and the evaluated severities, % (the
    /// plain mean of the AugMix paper's CIFAR tables).
    pub mean_corruption_error: Option<f64>,
    /// Mean error over the 4 held-out corruptions, %.
    pub held_out_error: Option<f64>,
    /// mCE relative to the baseline recipe, % (ImageNet-C style: per corruption, the sum
    /// over severities of this recipe's errors divided by the baseline's; then the mean).
    pub mce_vs_baseline: Option<f64>,
    /// Mean error over the style-shift sets, %.
    pub shift_error: Option<f64>,
    /// Training time in seconds.
    pub train_seconds: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Per recipe: corruption name -> sum of errors over severities.
fn corruption_sums(records: &[EvalRecord], recipe: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.recipe == recipe && r.kind == SetKind::Corruption)
    {
        *sums.entry(r.set.clone()).or_insert(0.0) += r.error;
    }
    sums
}

/// Builds the summary rows; `baseline` names the reference recipe for mCE (if present).
pub fn summarize(
    records: &[EvalRecord],
    recipes: &[(String, f64)],
    baseline: Option<&str>,
) -> Vec<RecipeSummary> {
    let benchmark: Vec<&str> = Corruption::BENCHMARK_15.iter().map(|c| c.name()).collect();
    let baseline_sums = baseline.map(|b| corruption_sums(records, b));
    recipes
        .iter()
        .map(|(recipe, seconds)| {
            let of = |kind: SetKind| {
                records
                    .iter()
                    .filter(move |r| r.recipe == *recipe && r.kind == kind)
            };
            let clean = of(SetKind::Clean).map(|r| r.error).next().unwrap_or(f64::NAN);
            let corr = of(SetKind::Corruption);
            let (bench, held): (Vec<&EvalRecord>, Vec<&EvalRecord>) =
                corr.partition(|r| benchmark.contains(&r.set.as_str()));
            let sums = corruption_sums(records, recipe);
            let mce = baseline_sums.as_ref().and_then(|base| {
                mean(
                    sums.iter()
                        .filter(|(name, _)| benchmark.contains(&name.as_str()))
                        .filter_map(|(name, s)| base.get(name).filter(|b| **b > 0.0).map(|b| s / b)),
                )
            });
            RecipeSummary {
                recipe: recipe.clone(),
                clean_error: 100.0 * clean,
                mean_corruption_error: mean(bench.iter().map(|r| r.error)).map(|e| 100.0 * e),
                held_out_error: mean(held.iter().map(|r| r.error)).map(|e| 100.0 * e),
                mce_vs_baseline: mce.map(|m| 100.0 * m),
                shift_error: mean(of(SetKind::Shift).map(|r| r.error)).map(|e| 100.0 * e),
                train_seconds: *seconds,
            }
        })
        .collect()
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.2}"))
}

/// One summary row's cells, in the table's column order.
fn cells(r: &RecipeSummary) -> [String; 7] {
    [
        r.recipe.clone(),
        format!("{:.2}", r.clean_error),
        pct(r.mean_corruption_error),
        pct(r.mce_vs_baseline),
        pct(r.held_out_error),
        pct(r.shift_error),
        duration(r.train_seconds),
    ]
}

/// The summary as a Markdown table.
pub fn summary_table(rows: &[RecipeSummary]) -> String {
    let mut out = String::new();
    out.push_str("| recipe | clean error % | mean corruption error % | mCE vs baseline % | held-out corruptions error % | style-shift error % | training time |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    out
}

/// `1h 02m`, `3m 05s`, `42s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The summary as aligned plain text (for the terminal).
pub fn summary_text(rows: &[RecipeSummary]) -> String {
    let mut out = format!(
        "{:<22} {:>8} {:>10} {:>8} {:>9} {:>8} {:>9}\n",
        "recipe", "clean %", "mean corr %", "mCE %", "held-out %", "shift %", "time"
    );
    for r in rows {
        let [recipe, clean, mean_corr, mce, held, shift, time] = cells(r);
        let _ = writeln!(
            out,
            "{recipe:<22} {clean:>8} {mean_corr:>11} {mce:>8} {held:>10} {shift:>8} {time:>9}"
        );
    }
    out
}

/// The complementarity paragraph: does the combined recipe beat each of its parts, on
/// each axis, by the measured numbers.
pub fn complementarity(rows: &[RecipeSummary]) -> Option<String> {
    let find = |name: &str| rows.iter().find(|r| r.recipe == name);
    let (both, augmix, advbn) = (find("augmix+advbn")?, find("augmix")?, find("advbn")?);
    let mut text = String::new();
    type Axis = (&'static str, fn(&RecipeSummary) -> Option<f64>);
    let axes: [Axis; 3] = [
        ("mean corruption error", |r| r.mean_corruption_error),
        ("style-shift error", |r| r.shift_error),
        ("clean error", |r| Some(r.clean_error)),
    ];
    for (axis, get) in axes {
        let (Some(b), Some(a), Some(v)) = (get(both), get(augmix), get(advbn)) else {
            continue;
        };
        let verdict = match (b < a, b < v) {
            (true, true) => "beats both of its parts",
            (true, false) => "beats augmix but not advbn",
            (false, true) => "beats advbn but not augmix",
            (false, false) => "beats neither of its parts",
        };
        let _ = write!(
            text,
            "On {axis}, augmix+advbn ({b:.2}%) {verdict} (augmix {a:.2}%, advbn {v:.2}%). "
        );
    }
    (!text.is_empty()).then(|| text.trim_end().to_string())
}

/// Error per corruption (mean over severities) per recipe, as a Markdown table.
pub fn corruption_table(records: &[EvalRecord], recipes: &[String]) -> String {
    let mut out = String::from("| corruption |");
    for r in recipes {
        let _ = write!(out, " {r} |");
    }
    out.push('\n');
    out.push_str("|---|");
    out.push_str(&"---:|".repeat(recipes.len()));
    out.push('\n');
    for c in Corruption::ALL {
        let row: Vec<Option<f64>> = recipes
            .iter()
            .map(|recipe| {
                mean(
                    records
                        .iter()
                        .filter(|r| r.recipe == *recipe && r.kind == SetKind::Corruption && r.set == c.name())
                        .map(|r| 100.0 * r.error),
                )
            })
            .collect();
        if row.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(out, "| {} |", c.name());
        for v in row {
            let _ = write!(out, " {} |", pct(v));
        }
        out.push('\n');
    }
    out
}

/// Writes `results.csv`.
pub fn write_csv(path: &Path, records: &[EvalRecord]) -> std::io::Result<()> {
    let mut out = String::from("recipe,kind,set,severity,error,accuracy,loss,samples\n");
    for r in records {
        let kind = match r.kind {
            SetKind::Clean => "clean",
            SetKind::Corruption => "corruption",
            SetKind::Shift => "shift",
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{:.6},{:.6},{:.6},{}",
            r.recipe,
            kind,
            r.set,
            r.severity.map(|s| s.to_string()).unwrap_or_default(),
            r.error,
            1.0 - r.error,
            r.loss,
            r.samples
        );
    }
    std::fs::write(path, out)
}

/// Error per corruption (%, mean over severities) per recipe as grouped bars, the
/// corruptions in the suite's order; `None` without corruption results.
pub fn corruption_chart(records: &[EvalRecord], recipes: &[String]) -> Option<BarChart> {
    let corruptions: Vec<&str> = Corruption::ALL
        .iter()
        .map(|c| c.name())
        .filter(|c| {
            records
                .iter()
                .any(|r| r.kind == SetKind::Corruption && r.set == *c)
        })
        .collect();
    let error = |recipe: &str, set: &str| {
        let of = records
            .iter()
            .filter(|r| r.recipe == recipe && r.kind == SetKind::Corruption && r.set == set);
        mean(of.map(|r| 100.0 * r.error)).unwrap_or(f64::NAN)
    };
    (!corruptions.is_empty()).then(|| BarChart {
        title: "Error per corruption (mean over severities)".into(),
        value_label: "top-1 error (%)".into(),
        categories: corruptions.iter().map(|c| c.to_string()).collect(),
        series: (recipes.iter())
            .map(|recipe| {
                (
                    recipe.clone(),
                    corruptions.iter().map(|c| error(recipe, c)).collect(),
                )
            })
            .collect(),
    })
}

/// Clean error against mean corruption error (%), one point per recipe that has both;
/// `None` when none has.
pub fn clean_vs_corruption_chart(rows: &[RecipeSummary]) -> Option<ScatterChart> {
    let points: Vec<(String, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            r.mean_corruption_error
                .map(|m| (r.recipe.clone(), r.clean_error, m))
        })
        .collect();
    (!points.is_empty()).then(|| ScatterChart {
        title: "Clean error vs mean corruption error".into(),
        x_label: "clean error (%)".into(),
        y_label: "mean corruption error (%)".into(),
        points,
    })
}

/// One epoch line of a run's `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochPoint {
    /// The epoch, counted from 1.
    pub epoch: u64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean training accuracy, a fraction.
    pub train_acc: f64,
    /// Test loss, where the run had a test set.
    pub test_loss: Option<f64>,
    /// Test accuracy, a fraction, where the run had a test set.
    pub test_acc: Option<f64>,
}

/// Reads the epoch lines of a run's `metrics.jsonl` text (other lines and unreadable ones
/// are skipped), in epoch order; a repeated epoch keeps its last line.
pub fn epochs_from_metrics(text: &str) -> Vec<EpochPoint> {
    let mut epochs = BTreeMap::new();
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if v["kind"] != "epoch" {
            continue;
        }
        let (Some(epoch), Some(train_loss), Some(train_acc)) = (
            v["epoch"].as_u64(),
            v["train_loss"].as_f64(),
            v["train_acc"].as_f64(),
        ) else {
            continue;
        };
        let (test_loss, test_acc) = (v["test_loss"].as_f64(), v["test_acc"].as_f64());
        let point = EpochPoint {
            epoch: epoch + 1,
            train_loss,
            train_acc,
            test_loss,
            test_acc,
        };
        epochs.insert(epoch, point);
    }
    epochs.into_values().collect()
}

/// Training curves per recipe, `[loss, accuracy]`: training solid, test dashed (where the
/// run had a test set), one colour per recipe; `None` when no run has an epoch line.
pub fn training_charts(runs: &[(String, Vec<EpochPoint>)]) -> Option<[LineChart; 2]> {
    type Pick = fn(&EpochPoint) -> Option<f64>;
    let chart = |title: &str, y_label: &str, train: Pick, test: Pick| {
        let mut lines = Vec::new();
        for (color, (recipe, epochs)) in runs.iter().enumerate() {
            for (what, pick, dashed) in [("train", train, false), ("test", test, true)] {
                let points: Vec<(f64, f64)> = epochs
                    .iter()
                    .filter_map(|e| pick(e).map(|v| (e.epoch as f64, v)))
                    .collect();
                if !points.is_empty() {
                    lines.push(Line {
                        name: format!("{recipe} ({what})"),
                        color,
                        dashed,
                        points,
                    });
                }
            }
        }
        let (title, x_label, y_label) = (title.into(), "epoch".into(), y_label.into());
        LineChart {
            title,
            x_label,
            y_label,
            lines,
        }
    };
    runs.iter().any(|(_, e)| !e.is_empty()).then(|| {
        [
            chart(
                "Loss per epoch",
                "cross-entropy loss",
                |e| Some(e.train_loss),
                |e| e.test_loss,
            ),
            chart(
                "Accuracy per epoch",
                "top-1 accuracy (%)",
                |e| Some(100.0 * e.train_acc),
                |e| e.test_acc.map(|a| 100.0 * a),
            ),
        ]
    })
}

/// Writes the charts into `dir`, each as `NAME.png` and `NAME.svg`: error per corruption,
/// clean vs corruption error, and the training curves of `runs` (recipe, epochs); returns
/// the names written, without extension.
pub fn write_charts(
    dir: &Path,
    records: &[EvalRecord],
    rows: &[RecipeSummary],
    runs: &[(String, Vec<EpochPoint>)],
) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let recipes: Vec<String> = rows.iter().map(|r| r.recipe.clone()).collect();
    if let Some(chart) = corruption_chart(records, &recipes) {
        write_chart(dir, "error_per_corruption", &chart)?;
        written.push("error_per_corruption".to_string());
    }
    if let Some(chart) = clean_vs_corruption_chart(rows) {
        write_chart(dir, "clean_vs_corruption", &chart)?;
        written.push("clean_vs_corruption".to_string());
    }
    if let Some([loss, accuracy]) = training_charts(runs) {
        write_chart(dir, "training_loss", &loss)?;
        write_chart(dir, "training_accuracy", &accuracy)?;
        written.extend(["training_loss".to_string(), "training_accuracy".to_string()]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(recipe: &str, kind: SetKind, set: &str, severity: Option<u8>, error: f64) -> EvalRecord {
        let (recipe, set) = (recipe.to_string(), set.to_string());
        EvalRecord {
            recipe,
            kind,
            set,
            severity,
            error,
            loss: 1.0,
            samples: 10,
        }
    }

    #[test]
    fn corruption_chart_holds_the_mean_over_severities_in_suite_order() {
        let records = vec![
            record("a", SetKind::Clean, "clean", None, 0.1),
            record("a", SetKind::Corruption, "fog", Some(1), 0.2),
            record("a", SetKind::Corruption, "fog", Some(5), 0.4),
            record("a", SetKind::Corruption, "gaussian_noise", Some(3), 0.5),
            record("b", SetKind::Corruption, "fog", Some(1), 0.1),
        ];
        let chart = corruption_chart(&records, &["a".into(), "b".into()]).unwrap();
        assert_eq!(chart.categories, ["gaussian_noise", "fog"]);
        assert_eq!(chart.value_label, "top-1 error (%)");
        assert_eq!(chart.series[0], ("a".to_string(), vec![50.0, 30.0]));
        let (name, b) = &chart.series[1];
        assert!(
            name == "b" && b[0].is_nan() && (b[1] - 10.0).abs() < 1e-9,
            "{b:?}"
        );
        assert!(corruption_chart(&records[..1], &["a".into()]).is_none());
    }

    #[test]
    fn scatter_takes_the_recipes_with_a_corruption_error() {
        let row = |recipe: &str, clean, corr| RecipeSummary {
            recipe: recipe.into(),
            clean_error: clean,
            mean_corruption_error: corr,
            held_out_error: None,
            mce_vs_baseline: None,
            shift_error: None,
            train_seconds: 1.0,
        };
        let chart = clean_vs_corruption_chart(&[row("a", 5.0, Some(26.0)), row("b", 6.0, None)]).unwrap();
        assert_eq!(chart.points, [("a".to_string(), 5.0, 26.0)]);
        assert_eq!(
            (chart.x_label.as_str(), chart.y_label.as_str()),
            ("clean error (%)", "mean corruption error (%)")
        );
        assert!(clean_vs_corruption_chart(&[row("b", 6.0, None)]).is_none());
    }

    #[test]
    fn epochs_are_read_from_epoch_lines_and_counted_from_one() {
        let text = concat!(
            "{\"kind\":\"step\",\"epoch\":0,\"step\":1,\"loss\":2.0}\n",
            "{\"kind\":\"epoch\",\"epoch\":0,\"train_loss\":2.0,\"train_acc\":0.2,\"test_acc\":null,\"test_loss\":null}\n",
            "not json\n",
            "{\"kind\":\"epoch\",\"epoch\":1,\"train_loss\":1.9,\"train_acc\":0.25,\"test_acc\":0.3,\"test_loss\":1.7}\n",
            "{\"kind\":\"epoch\",\"epoch\":1,\"train_loss\":1.5,\"train_acc\":0.4,\"test_acc\":0.5,\"test_loss\":1.4}\n",
            "{\"kind\":\"epoch\",\"epoch\":2}\n",
        );
        let epochs = epochs_from_metrics(text);
        let point = |epoch, train_loss, train_acc, test_loss, test_acc| EpochPoint {
            epoch,
            train_loss,
            train_acc,
            test_loss,
            test_acc,
        };
        assert_eq!(
            epochs,
            [
                point(1, 2.0, 0.2, None, None),
                point(2, 1.5, 0.4, Some(1.4), Some(0.5))
            ]
        );
    }

    #[test]
    fn training_charts_draw_train_solid_and_test_dashed_per_recipe() {
        let point = |epoch, test: bool| EpochPoint {
            epoch,
            train_loss: 2.0 / epoch as f64,
            train_acc: 0.1 * epoch as f64,
            test_loss: test.then_some(1.0),
            test_acc: test.then_some(0.5),
        };
        let runs = vec![
            ("baseline".to_string(), vec![point(1, false), point(2, false)]),
            ("augmix".to_string(), vec![point(1, true)]),
            ("empty".to_string(), vec![]),
        ];
        let [loss, accuracy] = training_charts(&runs).unwrap();
        assert_eq!(
            (loss.x_label.as_str(), loss.y_label.as_str()),
            ("epoch", "cross-entropy loss")
        );
        assert_eq!(accuracy.y_label, "top-1 accuracy (%)");
        let summary: Vec<(&str, usize, bool)> = accuracy
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.color, l.dashed))
            .collect();
        assert_eq!(
            summary,
            [
                ("baseline (train)", 0, false),
                ("augmix (train)", 1, false),
                ("augmix (test)", 1, true)
            ]
        );
        assert_eq!(loss.lines[0].points, [(1.0, 2.0), (2.0, 1.0)]);
        assert_eq!(accuracy.lines[0].points, [(1.0, 10.0), (2.0, 20.0)]);
        assert_eq!(accuracy.lines[2].points, [(1.0, 50.0)]);
        assert!(training_charts(&runs[2..]).is_none());
    }
}
