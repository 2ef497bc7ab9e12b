//! burn's data vocabulary over advbn's data sets and pixel pipelines: a [`SampleDataset`]
//! implementing burn's `Dataset`, and an [`AugmentBatcher`] implementing burn's `Batcher`,
//! for `DataLoaderBuilder` (batch size, shuffle, workers) and burn-train's `Learner`.
//!
//! Seeds: every sample is augmented from its own stream `(run seed, epoch, dataset index)`,
//! exactly as in `advbn train`, so a sample's views do not depend on the number of workers,
//! on the shuffle, or on which samples share its batch. burn's loaders tell the batcher
//! neither the index nor the epoch, so the data set puts both into each item: the index is
//! the one `get` was called with, and the epoch is *the number of times that sample was read
//! before*. Every epoch of a burn loader reads each sample exactly once (shuffled or not,
//! split over workers or devices or not), so this counts epochs per sample without any
//! shared "current epoch" that worker threads could read too early or too late.
//!
//! ```
//! use std::sync::Arc;
//! use advbn::augmenters::{AugMix, Pipeline, PixelStage};
//! use advbn::data::{AugmentBatcher, BatchPlan, Normalization, SampleDataset, VecSource};
//! use burn::data::dataloader::DataLoaderBuilder;
//!
//! let source = Arc::new(VecSource {
//!     images: vec![image::RgbImage::new(8, 8); 6],
//!     labels: vec![0, 1, 0, 1, 0, 1],
//! });
//! let plan = BatchPlan {
//!     pipeline: Pipeline::new(vec![PixelStage::Augmix(AugMix::default())]).unwrap(),
//!     augmented_views: 2,
//!     include_clean: true,
//!     normalization: Normalization::HALF,
//!     run_seed: 7,
//! };
//! let loader = DataLoaderBuilder::new(AugmentBatcher::new(plan))
//!     .batch_size(4)
//!     .shuffle(1)
//!     .num_workers(2)
//!     .build(SampleDataset::new(source));
//! let batch = loader.iter().next().unwrap().unwrap();
//! // Clean view, then two AugMix views, view-major.
//! assert_eq!(batch.images.dims()[0], 3 * batch.targets.dims()[0]);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor};
use image::RgbImage;
use rayon::prelude::*;

use super::batcher::{BatchPlan, ImageSource, augment_loaded, lay_out};

/// One sample as burn's loader carries it from [`SampleDataset::get`] to
/// [`AugmentBatcher::batch`]: decoded, with what seeds its random streams.
#[derive(Clone)]
pub struct LoadedSample {
    /// Index in the data set (seeds the sample's stream).
    pub index: usize,
    /// How many times this sample was read before: its epoch.
    pub epoch: u64,
    /// Its class.
    pub label: u32,
    /// The decoded image (shared, so that burn's clones of items copy no pixels).
    pub image: Arc<RgbImage>,
}

impl fmt::Debug for LoadedSample {
    // The pixels are left out: a debug print of a batch should not print photos.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedSample")
            .field("index", &self.index)
            .field("epoch", &self.epoch)
            .field("label", &self.label)
            .field("size", &self.image.dimensions())
            .finish()
    }
}

/// Any [`ImageSource`] (an [`ImageDataset`](super::ImageDataset), a [`VecSource`](super::VecSource),
/// your own) as burn's `Dataset` of [`LoadedSample`]s. `get` decodes the file on the
/// loader's worker thread; a file that does not decode is the loader's `Err` item naming it.
///
/// Clones share the read counters (they are the same data set to a loader).
#[derive(Clone)]
pub struct SampleDataset {
    source: Arc<dyn ImageSource>,
    reads: Arc<Vec<AtomicU64>>,
}

impl SampleDataset {
    /// The data set over `source`, every sample at epoch 0.
    pub fn new(source: Arc<dyn ImageSource>) -> Self {
        Self::starting_at_epoch(source, 0)
    }

    /// The data set over `source` with every sample at `epoch` (resuming a run whose
    /// earlier epochs are done).
    pub fn starting_at_epoch(source: Arc<dyn ImageSource>, epoch: u64) -> Self {
        let reads = (0..source.len()).map(|_| AtomicU64::new(epoch)).collect();
        Self {
            source,
            reads: Arc::new(reads),
        }
    }

    /// The source, for the batcher's partner images ([`AugmentBatcher::with_partners`]).
    pub fn source(&self) -> Arc<dyn ImageSource> {
        Arc::clone(&self.source)
    }
}

impl Dataset<LoadedSample> for SampleDataset {
    fn get(&self, index: usize) -> Result<LoadedSample, DatasetError> {
        let counter = self.reads.get(index).ok_or_else(|| {
            DatasetError::new(OutOfRange {
                index,
                len: self.reads.len(),
            })
        })?;
        let image = self.source.load(index).map_err(DatasetError::new)?.into_owned();
        Ok(LoadedSample {
            index,
            epoch: counter.fetch_add(1, Ordering::Relaxed),
            label: self.source.label(index),
            image: Arc::new(image),
        })
    }

    fn len(&self) -> usize {
        self.source.len()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sample {index} is out of range: the data set has {len}")]
struct OutOfRange {
    index: usize,
    len: usize,
}

/// A training batch on its device: the views of every sample view-major, as
/// `advbn train`'s step takes them.
///
/// Shapes: `images` `[views * N, 3, H, W]` (all samples' first view, then all second
/// views, ...), `targets` `[N]`.
#[derive(Clone, Debug)]
pub struct AugmentedBatch {
    /// The images, normalized, view-major.
    pub images: Tensor<4>,
    /// The class of each sample.
    pub targets: Tensor<1, Int>,
    /// Views per sample (with the clean view first when the plan includes it).
    pub views: usize,
    /// The data-set index of each sample.
    pub indices: Vec<usize>,
    /// The epoch of each sample.
    pub epochs: Vec<u64>,
}

/// burn's `Batcher` running a recipe's pixel pipeline ([`BatchPlan`]) over
/// [`LoadedSample`]s, in parallel (rayon), each sample from its own stream.
#[derive(Clone)]
pub struct AugmentBatcher {
    plan: Arc<BatchPlan>,
    partners: Option<Arc<dyn ImageSource>>,
}

impl AugmentBatcher {
    /// A batcher for `plan`. Partner-using stylizers (`fourier_mix`, `color_transfer`) use
    /// their documented random target unless [`AugmentBatcher::with_partners`] is given.
    pub fn new(plan: BatchPlan) -> Self {
        Self {
            plan: Arc::new(plan),
            partners: None,
        }
    }

    /// Partner images come from `source` (normally [`SampleDataset::source`]), chosen per
    /// sample as `advbn train` chooses them.
    pub fn with_partners(mut self, source: Arc<dyn ImageSource>) -> Self {
        self.partners = Some(source);
        self
    }

    /// The plan.
    pub fn plan(&self) -> &BatchPlan {
        &self.plan
    }
}

impl Batcher<LoadedSample, AugmentedBatch> for AugmentBatcher {
    /// # Panics
    /// When the samples differ in size after the pipeline's shared stages (a recipe for
    /// photos must start with `random_resized_crop` or `center_crop`), or a partner file
    /// does not decode: burn's `Batcher` cannot return an error. The message names the
    /// samples and the fix.
    fn batch(&self, items: Vec<LoadedSample>, device: &Device) -> AugmentedBatch {
        let plan = self.plan.as_ref();
        let partners = self.partners.as_deref();
        let kept: Vec<_> = items
            .par_iter()
            .map(|s| {
                augment_loaded(&s.image, s.index, partners, plan, s.epoch)
                    .map(|views| (s.index, s.label, views))
            })
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        let host = lay_out(&kept, plan).unwrap_or_else(|e| panic!("{e}"));
        let (images, targets) = host.to_tensors(device);
        AugmentedBatch {
            images,
            targets,
            views: host.views,
            indices: host.indices,
            epochs: items.iter().map(|s| s.epoch).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use burn::data::dataloader::DataLoaderBuilder;

    use super::*;
    use crate::augmenters::stylize::ColorTransfer;
    use crate::augmenters::{AugMix, HorizontalFlip, Pipeline, PixelStage, RandomCrop};
    use crate::data::{Normalization, VecSource, make_batch};

    fn source(n: usize) -> Arc<VecSource> {
        Arc::new(VecSource {
            images: (0..n)
                .map(|i| {
                    RgbImage::from_fn(12, 12, |x, y| {
                        image::Rgb([(i * 9) as u8, (x * 20) as u8, (y as usize * 13 + i) as u8])
                    })
                })
                .collect(),
            labels: (0..n as u32).map(|i| i % 3).collect(),
        })
    }

    fn plan() -> BatchPlan {
        BatchPlan {
            pipeline: Pipeline::new(vec![
                PixelStage::RandomCrop(RandomCrop { padding: 2 }),
                PixelStage::HorizontalFlip(HorizontalFlip::default()),
                PixelStage::Augmix(AugMix::default()),
                PixelStage::ColorTransfer(ColorTransfer::default()),
            ])
            .unwrap(),
            augmented_views: 2,
            include_clean: true,
            normalization: Normalization::HALF,
            run_seed: 11,
        }
    }

    /// Every image of two epochs, by (epoch, sample, view), as burn's loader with
    /// `workers` worker threads delivers them.
    fn through_burn(workers: usize) -> BTreeMap<(u64, usize, usize), Vec<f32>> {
        let src = source(21);
        let dataset = SampleDataset::new(src.clone());
        let batcher = AugmentBatcher::new(plan()).with_partners(dataset.source());
        let loader = DataLoaderBuilder::new(batcher)
            .batch_size(4)
            .shuffle(5)
            .num_workers(workers)
            .build(dataset);
        let mut rows = BTreeMap::new();
        for _ in 0..2 {
            for batch in loader.iter() {
                let batch = batch.unwrap();
                let n = batch.indices.len();
                let values: Vec<f32> = batch.images.into_data().try_to_vec().unwrap();
                let per_image = values.len() / (batch.views * n);
                for v in 0..batch.views {
                    for (s, (&index, &epoch)) in batch.indices.iter().zip(&batch.epochs).enumerate() {
                        let start = (v * n + s) * per_image;
                        let old = rows.insert((epoch, index, v), values[start..start + per_image].to_vec());
                        assert!(old.is_none(), "sample {index} twice in epoch {epoch}");
                    }
                }
            }
        }
        rows
    }

    #[test]
    fn batches_do_not_depend_on_workers_and_match_advbn_train() {
        let one = through_burn(1);
        assert_eq!(one.len(), 2 * 21 * 3, "every sample, view and epoch once");
        assert!(one == through_burn(4), "1 and 4 workers gave different images");
        assert!(one == through_burn(0), "no workers gave different images");
        // The same images as advbn's own loop makes for those (seed, epoch, index).
        let src = source(21);
        for epoch in 0..2 {
            let batch = make_batch(src.as_ref(), &[3, 17], &plan(), epoch).unwrap();
            let per_image = batch.images.len() / 6;
            for v in 0..3 {
                for (s, index) in [3, 17].into_iter().enumerate() {
                    let start = (v * 2 + s) * per_image;
                    assert_eq!(one[&(epoch, index, v)], batch.images[start..start + per_image]);
                }
            }
        }
        // The epoch reached the batcher: a sample's augmented view changes between epochs.
        assert_ne!(one[&(0, 5, 1)], one[&(1, 5, 1)]);
    }

    #[test]
    fn resumed_data_set_starts_at_its_epoch() {
        let dataset = SampleDataset::starting_at_epoch(source(3), 4);
        assert_eq!(dataset.get(2).unwrap().epoch, 4);
        assert_eq!(dataset.get(2).unwrap().epoch, 5);
        assert_eq!(dataset.get(1).unwrap().epoch, 4);
        let err = dataset.get(3).unwrap_err().to_string();
        assert_eq!(err, "sample 3 is out of range: the data set has 3");
    }
}
