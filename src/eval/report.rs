//! The study's report: the summary table (clean error, mean corruption error, mCE relative
//! to the baseline, style-shift error, training time), per-corruption tables, the
//! complementarity paragraph, `results.csv`, `report.md` and the charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chart::{BarChart, ScatterChart, render_bar_chart, render_scatter};
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

/// Writes the two charts into `dir`; returns their file names.
pub fn write_charts(
    dir: &Path,
    records: &[EvalRecord],
    rows: &[RecipeSummary],
) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let recipes: Vec<String> = rows.iter().map(|r| r.recipe.clone()).collect();
    let corruptions: Vec<Corruption> = Corruption::ALL
        .into_iter()
        .filter(|c| {
            records
                .iter()
                .any(|r| r.kind == SetKind::Corruption && r.set == c.name())
        })
        .collect();
    if !corruptions.is_empty() {
        let series = recipes
            .iter()
            .map(|recipe| {
                let values = corruptions
                    .iter()
                    .map(|c| {
                        mean(
                            records
                                .iter()
                                .filter(|r| {
                                    r.recipe == *recipe && r.kind == SetKind::Corruption && r.set == c.name()
                                })
                                .map(|r| 100.0 * r.error),
                        )
                        .unwrap_or(f64::NAN)
                    })
                    .collect();
                (recipe.clone(), values)
            })
            .collect();
        let chart = BarChart {
            title: "Error per corruption (mean over severities)".into(),
            y_label: "top-1 error %".into(),
            categories: corruptions.iter().map(|c| c.name().to_string()).collect(),
            series,
        };
        let name = "error_per_corruption.png";
        render_bar_chart(&chart)
            .save(dir.join(name))
            .map_err(|e| format!("cannot write {name}: {e}"))?;
        written.push(name.to_string());
    }
    let points: Vec<(String, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            r.mean_corruption_error
                .map(|m| (r.recipe.clone(), r.clean_error, m))
        })
        .collect();
    if !points.is_empty() {
        let chart = ScatterChart {
            title: "Clean error vs mean corruption error".into(),
            x_label: "clean error %".into(),
            y_label: "mean corruption error %".into(),
            points,
        };
        let name = "clean_vs_corruption.png";
        render_scatter(&chart)
            .save(dir.join(name))
            .map_err(|e| format!("cannot write {name}: {e}"))?;
        written.push(name.to_string());
    }
    Ok(written)
}
