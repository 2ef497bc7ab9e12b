//! Measures the per-image l-alpha-beta statistics of the CIFAR-10 test set with
//! [`LabStats::of`], and prints the 5th and 95th percentiles of each statistic: what the
//! default random-target ranges of `color_transfer` were set from.
//!
//! ```text
//! cargo run --release -p advbn-augmenters --example lab_statistics -- cifar10-jpg.tar.gz
//! ```

use advbn_augmenters::stylize::LabStats;

#[path = "support/cifar.rs"]
mod cifar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: lab_statistics CIFAR_TAR_GZ")?;
    let stats: Vec<LabStats> = cifar::test_images(&path, usize::MAX)?
        .iter()
        .map(LabStats::of)
        .collect();
    println!("{} images", stats.len());
    let names = [
        "mean_l",
        "mean_alpha",
        "mean_beta",
        "std_l",
        "std_alpha",
        "std_beta",
    ];
    for (k, name) in names.iter().enumerate() {
        let mut v: Vec<f32> = stats
            .iter()
            .map(|s| if k < 3 { s.mean[k] } else { s.std[k - 3] })
            .collect();
        v.sort_by(f32::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "{name:<11} p5 {:>9.4}  p50 {:>9.4}  p95 {:>9.4}",
            q(0.05),
            q(0.5),
            q(0.95)
        );
    }
    Ok(())
}
