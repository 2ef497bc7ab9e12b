//! From dataset samples to training batches: the image-space stack per sample (with the
//! sample's own random streams), in parallel, normalized into CHW floats, prefetched on a
//! worker thread ahead of the training step.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::tensor::{Device, Int, Tensor, TensorData};
use image::RgbImage;
use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::DataError;
use crate::augmenters::{Image, Pipeline, SampleKey, StageContext, Views};

/// Anything that holds labelled RGB images addressable by index: in memory, or files
/// decoded on demand (the batcher calls [`ImageSource::load`] on its worker threads).
pub trait ImageSource: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The image of sample `index` (borrowed when held in memory, decoded otherwise).
    fn load(&self, index: usize) -> Result<Cow<'_, RgbImage>, DataError>;
    /// The class of sample `index`.
    fn label(&self, index: usize) -> u32;
    /// Whether a sample whose file does not decode is left out of its batch (with a
    /// warning) instead of stopping the run.
    fn skips_corrupt(&self) -> bool {
        false
    }
    /// The file sample `index` is read from, for sources backed by files.
    fn path(&self, _index: usize) -> Option<&std::path::Path> {
        None
    }
}

/// Per-channel normalization applied after the image-space stack: `(x - mean) / std` on
/// values in [0, 1].
///
/// ```
/// use advbn::data::Normalization;
/// assert_eq!(Normalization::HALF.apply(1.0, 0), 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Per-channel mean (RGB).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (RGB).
    pub std: [f32; 3],
}

impl Normalization {
    /// mean 0.5, std 0.5 (the AugMix reference's CIFAR preprocessing).
    pub const HALF: Normalization = Normalization {
        mean: [0.5; 3],
        std: [0.5; 3],
    };

    /// ImageNet's mean and standard deviation (torchvision's models and every ImageNet
    /// recipe).
    pub const IMAGENET: Normalization = Normalization {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Normalizes one value of channel `c`.
    pub fn apply(&self, value: f32, c: usize) -> f32 {
        (value - self.mean[c]) / self.std[c]
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Self::HALF
    }
}

/// How batches are made: the image-space pipeline, which views go into the batch, the
/// normalization and the run seed.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    /// The image-space stack.
    pub pipeline: Pipeline,
    /// Augmented views per sample (0 = train on the pipeline's clean output only).
    pub augmented_views: usize,
    /// Put the clean view in front of the augmented ones (for consistency losses).
    pub include_clean: bool,
    /// Normalization after the stack.
    pub normalization: Normalization,
    /// The run seed of the per-sample streams.
    pub run_seed: u64,
}

impl BatchPlan {
    /// A plan that only normalizes (evaluation).
    pub fn eval(normalization: Normalization) -> Self {
        Self {
            pipeline: Pipeline::default(),
            augmented_views: 0,
            include_clean: true,
            normalization,
            run_seed: 0,
        }
    }

    /// Number of images per sample in a batch.
    pub fn views_per_sample(&self) -> usize {
        let clean = usize::from(self.include_clean || self.augmented_views == 0);
        clean + self.augmented_views
    }
}

/// A batch in host memory: images view-major (`views` blocks of `n` samples each).
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// CHW floats of `views * n` images, view-major.
    pub images: Vec<f32>,
    /// Number of views per sample.
    pub views: usize,
    /// `[channels, height, width]` of each image.
    pub image_shape: [usize; 3],
    /// Class of each sample.
    pub targets: Vec<i64>,
    /// Dataset index of each sample.
    pub indices: Vec<usize>,
    /// Files left out of this batch because they did not decode (only with
    /// `data.on_corrupt = "skip"`).
    pub skipped: Vec<PathBuf>,
}

impl HostBatch {
    /// Number of samples (not images).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The samples in `range` (every view of each), as a batch of their own.
    ///
    /// ```
    /// use advbn::data::HostBatch;
    /// let batch = HostBatch { images: (0..12).map(|v| v as f32).collect(), views: 2, image_shape: [3, 1, 1],
    ///     targets: vec![5, 6], indices: vec![0, 1], skipped: vec![] };
    /// let second = batch.samples(1..2);
    /// assert_eq!(second.images, vec![3.0, 4.0, 5.0, 9.0, 10.0, 11.0]);
    /// assert_eq!(second.targets, vec![6]);
    /// ```
    pub fn samples(&self, range: std::ops::Range<usize>) -> HostBatch {
        let per_image: usize = self.image_shape.iter().product();
        let n = self.len();
        let images = (0..self.views)
            .flat_map(|v| &self.images[(v * n + range.start) * per_image..(v * n + range.end) * per_image])
            .copied()
            .collect();
        HostBatch {
            images,
            views: self.views,
            image_shape: self.image_shape,
            targets: self.targets[range.clone()].to_vec(),
            indices: self.indices[range].to_vec(),
            skipped: Vec::new(),
        }
    }

    /// The images `[views * n, C, H, W]` and targets `[n]` on `device`.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let [c, h, w] = self.image_shape;
        let images = Tensor::<4>::from_data(
            TensorData::new(self.images.clone(), [self.views * self.len(), c, h, w]),
            device,
        );
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(self.targets.clone(), [self.len()]), device);
        (images, targets)
    }
}

/// An error while making a batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Images of one batch differ in size after the pipeline's shared stages.
    #[error(
        "sample {index} is {}x{} but sample {first} is {}x{} after the recipe's shared pixel stages: a batch needs one size; for photos of mixed sizes start the recipe with `random_resized_crop` (training) and set `data.image_size` (evaluation: `center_crop`)",
        got.0, got.1, expected.0, expected.1
    )]
    SizeMismatch {
        /// The odd sample.
        index: usize,
        /// Its size (width, height).
        got: (u32, u32),
        /// The first sample of the batch.
        first: usize,
        /// The first sample's size.
        expected: (u32, u32),
    },
    /// A sample could not be read or decoded.
    #[error("{0}")]
    Data(#[from] DataError),
    /// Every sample of the batch was skipped as corrupt.
    #[error("every file of a batch was skipped as corrupt (first: {})", .0.display())]
    AllSkipped(PathBuf),
}

/// Files already warned about as corrupt in this process: one warning per file, however
/// many epochs meet it.
static WARNED_CORRUPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn warn_corrupt_once(error: &DataError) {
    let DataError::Decode { path, .. } = error else {
        return;
    };
    let mut warned = WARNED_CORRUPT.lock().unwrap_or_else(|e| e.into_inner());
    if warned.get_or_insert_with(HashSet::new).insert(path.clone()) {
        eprintln!("warning: skipping {error} (data.on_corrupt = \"skip\")");
    }
}

/// Sample `index`'s image: `Ok(None)` when its file is corrupt and the source skips corrupt
/// files (warned once per file).
fn load_or_skip(source: &dyn ImageSource, index: usize) -> Result<Option<Cow<'_, RgbImage>>, DataError> {
    match source.load(index) {
        Ok(image) => Ok(Some(image)),
        Err(e @ DataError::Decode { .. }) if source.skips_corrupt() => {
            warn_corrupt_once(&e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// One sample through the pipeline: `Ok(None)` when its file is corrupt and the source
/// skips corrupt files.
fn augment_sample(
    source: &dyn ImageSource,
    index: usize,
    plan: &BatchPlan,
    epoch: u64,
) -> Result<Option<Views>, DataError> {
    let Some(image) = load_or_skip(source, index)? else {
        return Ok(None);
    };
    augment_loaded(&image, index, Some(source), plan, epoch).map(Some)
}

/// Runs the pipeline over an image already loaded: sample `index` of `source`, in `epoch`.
///
/// Stylizers that need a partner (fourier_mix, color_transfer) get another sample of
/// `source`, drawn from the sample's own stream: independent of the batch's composition.
/// Without a source, or with a skipped (corrupt) partner, they use their documented random
/// target.
pub(crate) fn augment_loaded(
    image: &RgbImage,
    index: usize,
    source: Option<&dyn ImageSource>,
    plan: &BatchPlan,
    epoch: u64,
) -> Result<Views, DataError> {
    let key = SampleKey::new(plan.run_seed, epoch, index as u64);
    let partner = match source {
        Some(source) if plan.pipeline.needs_partner() => match key.partner_index(source.len() as u64) {
            Some(j) => load_or_skip(source, j as usize)?,
            None => None,
        },
        _ => None,
    };
    let context = StageContext {
        partner: partner.as_deref(),
    };
    Ok(plan.pipeline.run_with(image, key, plan.augmented_views, context))
}

/// Runs the stack over `indices` of `source` and lays the result out.
///
/// Each sample is loaded (decoded, for file-backed sets) and augmented on rayon's worker
/// threads, with its own random streams, so the batch does not depend on the thread count
/// or on which other samples share the batch. A corrupt file is an error naming it, unless
/// the source skips corrupt files: then the sample is left out and listed in
/// [`HostBatch::skipped`].
pub fn make_batch(
    source: &dyn ImageSource,
    indices: &[usize],
    plan: &BatchPlan,
    epoch: u64,
) -> Result<HostBatch, BatchError> {
    let outputs: Vec<Result<Option<Views>, DataError>> = indices
        .par_iter()
        .map(|&i| augment_sample(source, i, plan, epoch))
        .collect();
    let mut kept: Vec<(usize, u32, Views)> = Vec::with_capacity(indices.len());
    let mut skipped = Vec::new();
    for (&i, out) in indices.iter().zip(outputs) {
        match out? {
            Some(views) => kept.push((i, source.label(i), views)),
            None => skipped.push(i),
        }
    }
    let skipped: Vec<PathBuf> = skipped.iter().map(|&i| source_path(source, i)).collect();
    if kept.is_empty() {
        return Err(BatchError::AllSkipped(
            skipped.into_iter().next().unwrap_or_default(),
        ));
    }
    let mut batch = lay_out(&kept, plan)?;
    batch.skipped = skipped;
    Ok(batch)
}

/// Lays augmented samples `(index, label, views)` out as one view-major batch of normalized
/// CHW floats; every sample must have the first one's size.
pub(crate) fn lay_out(kept: &[(usize, u32, Views)], plan: &BatchPlan) -> Result<HostBatch, BatchError> {
    let dims = |views: &Views| {
        let size = views.clean.size();
        (size.width, size.height)
    };
    let (first, _, first_views) = &kept[0];
    let (w0, h0) = dims(first_views);
    for (i, _, views) in kept {
        let got = dims(views);
        if got != (w0, h0) {
            return Err(BatchError::SizeMismatch {
                index: *i,
                got,
                first: *first,
                expected: (w0, h0),
            });
        }
    }
    let n = kept.len();
    let views = plan.views_per_sample();
    let plane = (w0 * h0) as usize;
    let per_image = 3 * plane;
    let mut images = vec![0f32; views * n * per_image];
    let with_clean = plan.include_clean || plan.augmented_views == 0;
    for (s, (_, _, out)) in kept.iter().enumerate() {
        let mut chosen: Vec<&Image> = Vec::with_capacity(views);
        if with_clean {
            chosen.push(&out.clean);
        }
        chosen.extend(out.augmented.iter());
        for (v, img) in chosen.into_iter().enumerate() {
            let dst = &mut images[(v * n + s) * per_image..(v * n + s + 1) * per_image];
            write_normalized_chw(img, &plan.normalization, dst);
        }
    }
    Ok(HostBatch {
        images,
        views,
        image_shape: [3, h0 as usize, w0 as usize],
        targets: kept.iter().map(|&(_, label, _)| i64::from(label)).collect(),
        indices: kept.iter().map(|&(i, _, _)| i).collect(),
        skipped: Vec::new(),
    })
}

/// The file behind a skipped sample, for the warning and the metrics (the error that
/// skipped it named the file; sources without paths never skip).
fn source_path(source: &dyn ImageSource, index: usize) -> PathBuf {
    source.path(index).map(PathBuf::from).unwrap_or_default()
}

fn write_normalized_chw(img: &Image, norm: &Normalization, dst: &mut [f32]) {
    let plane = dst.len() / 3;
    let (red, rest) = dst.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    match img {
        Image::Rgb8(rgb) => {
            // The same expression as `Normalization::apply`, tabulated once per value.
            let table: [[f32; 256]; 3] =
                std::array::from_fn(|c| std::array::from_fn(|v| norm.apply(v as f32 / 255.0, c)));
            for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
                red[i] = table[0][usize::from(px[0])];
                green[i] = table[1][usize::from(px[1])];
                blue[i] = table[2][usize::from(px[2])];
            }
        }
        Image::Float(f) => {
            for (i, px) in f.as_slice().chunks_exact(3).enumerate() {
                red[i] = norm.apply(px[0], 0);
                green[i] = norm.apply(px[1], 1);
                blue[i] = norm.apply(px[2], 2);
            }
        }
    }
}

/// The order of the samples in `epoch`: a Fisher-Yates shuffle from the run seed and the
/// epoch (so a resumed run sees the same order).
pub fn epoch_order(len: usize, run_seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = SampleKey::new(run_seed, epoch, u64::MAX).substream(0x5_4FF1E);
    for i in (1..len).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// Splits `order` into batches of `batch_size`; a final batch of a single sample is dropped
/// (batch norm needs two), any other remainder is kept.
pub fn batches(order: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    order
        .chunks(batch_size)
        .filter(|c| c.len() > 1 || order.len() == 1)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Makes batches on a worker thread, `depth` ahead of the consumer.
pub struct Prefetcher {
    receiver: Receiver<Result<HostBatch, BatchError>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts making `batches` of `source` for `epoch`.
    pub fn start(
        source: Arc<dyn ImageSource>,
        batches: Vec<Vec<usize>>,
        plan: Arc<BatchPlan>,
        epoch: u64,
        depth: usize,
    ) -> Self {
        let (sender, receiver): (SyncSender<_>, _) = sync_channel(depth.max(1));
        let worker = std::thread::Builder::new()
            .name("advbn-prefetch".into())
            .spawn(move || {
                for indices in batches {
                    let batch = make_batch(source.as_ref(), &indices, &plan, epoch);
                    let failed = batch.is_err();
                    if sender.send(batch).is_err() || failed {
                        break;
                    }
                }
            })
            .expect("spawning the prefetch thread");
        Self {
            receiver,
            worker: Some(worker),
        }
    }
}

impl Iterator for Prefetcher {
    type Item = Result<HostBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Unblock the worker (its sends fail once the receiver is gone), then join it.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dummy));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// An in-memory [`ImageSource`] (for tests and simple uses).
#[derive(Clone, Debug, Default)]
pub struct VecSource {
    /// The images.
    pub images: Vec<RgbImage>,
    /// Their classes.
    pub labels: Vec<u32>,
}

impl ImageSource for VecSource {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn load(&self, index: usize) -> Result<Cow<'_, RgbImage>, DataError> {
        Ok(Cow::Borrowed(&self.images[index]))
    }
    fn label(&self, index: usize) -> u32 {
        self.labels[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augmenters::{HorizontalFlip, PixelStage, RandomCrop};

    fn source(n: usize) -> VecSource {
        VecSource {
            images: (0..n)
                .map(|i| {
                    RgbImage::from_fn(4, 4, |x, y| {
                        image::Rgb([(i * 10) as u8, x as u8 * 60, y as u8 * 60])
                    })
                })
                .collect(),
            labels: (0..n as u32).collect(),
        }
    }

    #[test]
    fn layout_is_view_major_and_normalized() {
        let src = source(3);
        let plan = BatchPlan::eval(Normalization::HALF);
        let batch = make_batch(&src, &[2, 0], &plan, 0).unwrap();
        assert_eq!(batch.views, 1);
        assert_eq!(batch.targets, vec![2, 0]);
        // First image, red plane, pixel 0: (20/255 - 0.5) / 0.5.
        assert!((batch.images[0] - (20.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
        // Green plane of the first image starts after 16 values.
        assert!((batch.images[16] - (0.0 - 0.5) / 0.5).abs() < 1e-6);
    }

    #[test]
    fn clean_view_comes_first() {
        let src = source(4);
        let plan = BatchPlan {
            pipeline: Pipeline::new(vec![
                PixelStage::RandomCrop(RandomCrop { padding: 1 }),
                PixelStage::HorizontalFlip(HorizontalFlip::default()),
            ])
            .unwrap(),
            augmented_views: 2,
            include_clean: true,
            normalization: Normalization::HALF,
            run_seed: 3,
        };
        let batch = make_batch(&src, &[0, 1, 2, 3], &plan, 0).unwrap();
        assert_eq!(batch.views, 3);
        assert_eq!(batch.images.len(), 3 * 4 * 48);
        // Only shared stages: every view equals the clean one.
        assert_eq!(batch.images[..4 * 48], batch.images[4 * 48..8 * 48]);
    }

    #[test]
    fn sizes_must_agree() {
        let mut src = source(2);
        src.images[1] = RgbImage::new(5, 4);
        let err = make_batch(&src, &[0, 1], &BatchPlan::eval(Normalization::HALF), 0).unwrap_err();
        assert!(
            err.to_string().contains("sample 1 is 5x4 but sample 0 is 4x4"),
            "{err}"
        );
        assert!(err.to_string().contains("random_resized_crop"), "{err}");
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(100, 1, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 1, 0));
        assert_ne!(a, epoch_order(100, 1, 1));
        assert_ne!(a, epoch_order(100, 2, 0));
    }

    #[test]
    fn prefetcher_yields_every_batch_in_order() {
        let src: Arc<dyn ImageSource> = Arc::new(source(10));
        let order = epoch_order(10, 0, 0);
        let plan = Arc::new(BatchPlan::eval(Normalization::HALF));
        let got: Vec<Vec<usize>> = Prefetcher::start(src, batches(&order, 4), plan, 0, 2)
            .map(|b| b.unwrap().indices)
            .collect();
        assert_eq!(got, batches(&order, 4));
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[test]
    fn single_sample_remainder_is_dropped() {
        let order: Vec<usize> = (0..9).collect();
        assert_eq!(batches(&order, 4).len(), 2);
        assert_eq!(batches(&order[..6], 4).len(), 2);
    }
}
