//! Timing the generation of a whole corrupted test suite (what `advbn bench --corruptions`
//! reports): every corruption at every severity over a set of images, rayon over images.

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use super::{CorruptError, Corrupter, Corruption, Preset};

/// How long the suite took, in total and per corruption (all five severities).
#[derive(Clone, Debug, Serialize)]
pub struct SuiteTiming {
    /// Images per (corruption, severity).
    pub images: usize,
    /// The preset used.
    pub preset: Preset,
    /// Rayon threads that ran it.
    pub threads: usize,
    /// (corruption, wall time for its five severities).
    pub per_corruption: Vec<(Corruption, Duration)>,
    /// Wall time of the whole suite.
    pub total: Duration,
}

impl SuiteTiming {
    /// Corrupted images produced per second over the whole suite.
    pub fn images_per_second(&self) -> f64 {
        let n = self.images * self.per_corruption.len() * 5;
        n as f64 / self.total.as_secs_f64().max(1e-9)
    }

    /// A small human-readable table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} images x {} corruptions x 5 severities, preset {}, {} threads\n",
            self.images,
            self.per_corruption.len(),
            self.preset,
            self.threads
        );
        for (c, d) in &self.per_corruption {
            s.push_str(&format!("{:<18} {:>8.2} s\n", c.name(), d.as_secs_f64()));
        }
        s.push_str(&format!(
            "{:<18} {:>8.2} s ({:.0} images/s)\n",
            "total",
            self.total.as_secs_f64(),
            self.images_per_second()
        ));
        s
    }
}

/// Generates `corruptions` x severities 1..=5 over `images` on the current rayon pool and
/// times it; the outputs are dropped as they are made (only one (corruption, severity) set is
/// alive at a time). `progress` is called after each corruption.
///
/// ```
/// use advbn_augmenters::corrupt::{Corruption, Preset, time_suite};
/// let imgs = vec![image::RgbImage::from_pixel(32, 32, image::Rgb([1, 2, 3])); 4];
/// let t = time_suite(&imgs, &[Corruption::Contrast], Preset::Cifar, 0, |_, _| {}).unwrap();
/// assert_eq!(t.per_corruption.len(), 1);
/// assert!(t.table().contains("contrast"));
/// ```
pub fn time_suite(
    images: &[RgbImage],
    corruptions: &[Corruption],
    preset: Preset,
    run_seed: u64,
    mut progress: impl FnMut(Corruption, Duration),
) -> Result<SuiteTiming, CorruptError> {
    let start = Instant::now();
    let mut per_corruption = Vec::with_capacity(corruptions.len());
    for &c in corruptions {
        let t0 = Instant::now();
        for severity in 1..=5 {
            let out = Corrupter::with(c, severity, preset)?.corrupt_many(images, run_seed);
            std::hint::black_box(&out);
        }
        let d = t0.elapsed();
        progress(c, d);
        per_corruption.push((c, d));
    }
    Ok(SuiteTiming {
        images: images.len(),
        preset,
        threads: rayon::current_num_threads(),
        per_corruption,
        total: start.elapsed(),
    })
}
