//! In-memory labelled image sets and their deterministic stratified subsets.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use advbn_augmenters::{Pipeline, SampleKey};
use image::RgbImage;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{DataError, decode_image};

/// Salt of the random stream that picks a stratified subset, so that it never coincides
/// with an augmenter's stream for the same seed and index.
const SUBSET_SALT: u64 = 0x5B5E_7000_0000_0001;

/// A labelled set of RGB images: decoded in memory, or a file index decoded on demand.
///
/// In-memory sets ([`ImageDataset::new`]) hold images of one size (checked once at
/// construction). File-backed sets ([`ImageDataset::from_files`], what `folder:` loads)
/// hold only the paths: [`ImageDataset::load`] decodes an image when it is asked for (on the
/// batcher's worker threads), keeping it decoded while a memory budget lasts, and their
/// images may have any size. Either kind may carry a *preprocess* pipeline of deterministic
/// stages (the evaluation `center_crop` of photo recipes) that `load` applies.
///
/// ```
/// use advbn::data::ImageDataset;
/// use image::RgbImage;
/// let images = vec![RgbImage::new(4, 4), RgbImage::new(4, 4), RgbImage::new(4, 4)];
/// let ds = ImageDataset::new("toy", images, vec![0, 1, 1], vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!(ds.len(), 3);
/// assert_eq!(ds.class_counts(), vec![1, 2]);
/// assert_eq!(ds.label(2), 1);
/// assert_eq!(ds.load(2).unwrap().dimensions(), (4, 4));
/// assert_eq!(ds.image_size(), Some((4, 4)));
/// ```
#[derive(Clone, Debug)]
pub struct ImageDataset {
    name: String,
    images: Images,
    labels: Vec<u32>,
    classes: Vec<String>,
    preprocess: Option<Arc<Pipeline>>,
}

/// Where the pixels of a dataset are.
#[derive(Clone, Debug)]
enum Images {
    Decoded(Vec<RgbImage>),
    Files(Arc<FileImages>),
}

impl PartialEq for ImageDataset {
    /// Equal names, labels, classes, preprocessing and pixels (file-backed sets: the same
    /// files with the same options).
    fn eq(&self, other: &Self) -> bool {
        let same_images = match (&self.images, &other.images) {
            (Images::Decoded(a), Images::Decoded(b)) => a == b,
            (Images::Files(a), Images::Files(b)) => a.same_files(b),
            _ => false,
        };
        self.name == other.name
            && self.labels == other.labels
            && self.classes == other.classes
            && self.preprocess == other.preprocess
            && same_images
    }
}

/// Checks labels against classes: one label per sample, each naming a class.
fn check_labels(name: &str, samples: usize, labels: &[u32], classes: &[String]) -> Result<(), DataError> {
    if classes.is_empty() {
        return Err(DataError::Invalid(format!("dataset `{name}` has no classes")));
    }
    if samples != labels.len() {
        return Err(DataError::Invalid(format!(
            "dataset `{name}` has {samples} images but {} labels",
            labels.len()
        )));
    }
    if let Some((i, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= classes.len())
    {
        return Err(DataError::Invalid(format!(
            "dataset `{name}`: label {label} of sample {i} is out of range (it has {} classes)",
            classes.len()
        )));
    }
    Ok(())
}

impl ImageDataset {
    /// A dataset from images, their labels (indices into `classes`) and the class names.
    ///
    /// Errors when the lengths differ, a label is out of range, there are no classes, or
    /// the images are not all of one size.
    pub fn new(
        name: impl Into<String>,
        images: Vec<RgbImage>,
        labels: Vec<u32>,
        classes: Vec<String>,
    ) -> Result<Self, DataError> {
        let name = name.into();
        check_labels(&name, images.len(), &labels, &classes)?;
        if let Some(first) = images.first() {
            let size = first.dimensions();
            if let Some((i, img)) = images
                .iter()
                .enumerate()
                .find(|(_, img)| img.dimensions() != size)
            {
                return Err(DataError::Invalid(format!(
                    "dataset `{name}`: image {i} is {}x{} but image 0 is {}x{}; all images must have one size",
                    img.width(),
                    img.height(),
                    size.0,
                    size.1
                )));
            }
        }
        Ok(Self {
            name,
            images: Images::Decoded(images),
            labels,
            classes,
            preprocess: None,
        })
    }

    /// A file-backed dataset: `files[i]` is decoded by [`ImageDataset::load`] when sample
    /// `i` is asked for. Nothing is read here. See [`FileOptions`] for the cache and what
    /// happens to corrupt files.
    ///
    /// ```
    /// use advbn::data::{FileOptions, ImageDataset};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("a.png");
    /// image::RgbImage::new(5, 3).save(&path).unwrap();
    /// let ds = ImageDataset::from_files("toy", vec![path], vec![0], vec!["a".into()], FileOptions::default()).unwrap();
    /// assert_eq!(ds.image_size(), None); // files may have any size
    /// assert_eq!(ds.load(0).unwrap().dimensions(), (5, 3));
    /// ```
    pub fn from_files(
        name: impl Into<String>,
        files: Vec<PathBuf>,
        labels: Vec<u32>,
        classes: Vec<String>,
        options: FileOptions,
    ) -> Result<Self, DataError> {
        let name = name.into();
        check_labels(&name, files.len(), &labels, &classes)?;
        Ok(Self {
            name,
            images: Images::Files(Arc::new(FileImages::new(files, options))),
            labels,
            classes,
            preprocess: None,
        })
    }

    /// The same dataset with `pipeline` applied to every image that [`ImageDataset::load`]
    /// returns (replacing any earlier preprocessing). Meant for deterministic stages such as
    /// `center_crop`; a random stage draws from the stream of (seed 0, epoch 0, sample index),
    /// so it is the same at every call.
    pub fn with_preprocess(self, pipeline: Pipeline) -> Self {
        Self {
            preprocess: Some(Arc::new(pipeline)),
            ..self
        }
    }

    /// The dataset's name (e.g. `cifar10-train`), used in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The image of sample `index`, preprocessed: borrowed when it is held decoded and
    /// needs no preprocessing, otherwise decoded (and preprocessed) now. A file that cannot
    /// be read or decoded is an error naming it.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn load(&self, index: usize) -> Result<Cow<'_, RgbImage>, DataError> {
        let raw = match &self.images {
            Images::Decoded(images) => Cow::Borrowed(&images[index]),
            Images::Files(files) => files.load(index)?,
        };
        Ok(match &self.preprocess {
            None => raw,
            Some(pipeline) => {
                let views = pipeline.run(&raw, SampleKey::new(0, 0, index as u64), 0);
                Cow::Owned(views.clean.into_rgb8())
            }
        })
    }

    /// The path of sample `index` when the dataset is file-backed.
    pub fn path(&self, index: usize) -> Option<&Path> {
        match &self.images {
            Images::Decoded(_) => None,
            Images::Files(files) => files.paths.get(index).map(PathBuf::as_path),
        }
    }

    /// The decoded images when the dataset holds them in memory without preprocessing
    /// (`None` for file-backed or preprocessed sets: use [`ImageDataset::load`]).
    pub fn decoded(&self) -> Option<&[RgbImage]> {
        match (&self.images, &self.preprocess) {
            (Images::Decoded(images), None) => Some(images),
            _ => None,
        }
    }

    /// Whether a corrupt file is skipped (with a warning) rather than an error.
    pub fn skips_corrupt(&self) -> bool {
        match &self.images {
            Images::Decoded(_) => false,
            Images::Files(files) => files.options.on_corrupt == OnCorrupt::Skip,
        }
    }

    /// The class of sample `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn label(&self, index: usize) -> u32 {
        self.labels[index]
    }

    /// All labels, in sample order.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The class names; label `l` names `classes()[l]`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes (including classes without samples in this set).
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Width and height shared by all images: `None` when empty or file-backed (files may
    /// have any size) or preprocessed.
    pub fn image_size(&self) -> Option<(u32, u32)> {
        self.decoded()?.first().map(RgbImage::dimensions)
    }

    /// Number of samples per class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        class_counts(&self.labels, self.classes.len())
    }

    /// The same dataset under another name.
    pub fn renamed(self, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..self
        }
    }

    /// A deterministic stratified subset of at most `limit` samples (see
    /// [`stratified_indices`]); the whole dataset when `limit >= len()`. A file-backed set's
    /// subset lists the kept files and decodes nothing.
    ///
    /// ```
    /// use advbn::data::ImageDataset;
    /// use image::RgbImage;
    /// let labels: Vec<u32> = (0..100).map(|i| i % 4).collect();
    /// let images = vec![RgbImage::new(2, 2); 100];
    /// let classes = (0..4).map(|c| c.to_string()).collect();
    /// let ds = ImageDataset::new("toy", images, labels, classes).unwrap();
    /// let sub = ds.subset(10, 7);
    /// assert_eq!(sub.class_counts(), vec![3, 3, 2, 2]);
    /// assert_eq!(sub, ds.subset(10, 7));
    /// ```
    pub fn subset(&self, limit: usize, seed: u64) -> Self {
        if limit >= self.len() {
            return self.clone();
        }
        let keep = stratified_indices(&self.labels, self.classes.len(), limit, seed);
        let images = match &self.images {
            Images::Decoded(images) => Images::Decoded(keep.iter().map(|&i| images[i].clone()).collect()),
            Images::Files(files) => Images::Files(Arc::new(FileImages::new(
                keep.iter().map(|&i| files.paths[i].clone()).collect(),
                files.options,
            ))),
        };
        Self {
            name: self.name.clone(),
            images,
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            preprocess: self.preprocess.clone(),
        }
    }
}

/// What a file-backed set does with a file that cannot be decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCorrupt {
    /// Stop with an error naming the file (the default: nothing is dropped silently).
    #[default]
    Error,
    /// Leave the sample out of its batch, warn once per file and count it in the metrics.
    Skip,
}

/// Options of a file-backed dataset.
///
/// ```
/// use advbn::data::{FileOptions, OnCorrupt};
/// let opts = FileOptions::default();
/// assert_eq!(opts.on_corrupt, OnCorrupt::Error);
/// assert_eq!(opts.cache_bytes, 256 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOptions {
    /// Decoded images are kept in memory while their total stays within this many bytes
    /// (RGB, 3 bytes a pixel): a set that fits (CIFAR-10's 60,000 images take 176 MiB) is
    /// decoded once, during the first epoch; a larger one keeps the first images met and
    /// decodes the others every time. 0 disables the cache.
    pub cache_bytes: u64,
    /// Error or skip on a corrupt file.
    pub on_corrupt: OnCorrupt,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            cache_bytes: DEFAULT_CACHE_BYTES,
            on_corrupt: OnCorrupt::Error,
        }
    }
}

/// The default decoded-image cache of a file-backed set: 256 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// The file index of a file-backed set and its bounded cache of decoded images.
#[derive(Debug)]
struct FileImages {
    paths: Vec<PathBuf>,
    options: FileOptions,
    /// One cell per file (empty when the cache is off).
    cache: Vec<OnceLock<RgbImage>>,
    cached_bytes: AtomicU64,
}

impl FileImages {
    fn new(paths: Vec<PathBuf>, options: FileOptions) -> Self {
        let cells = if options.cache_bytes > 0 { paths.len() } else { 0 };
        Self {
            cache: (0..cells).map(|_| OnceLock::new()).collect(),
            paths,
            options,
            cached_bytes: AtomicU64::new(0),
        }
    }

    fn same_files(&self, other: &Self) -> bool {
        self.paths == other.paths && self.options == other.options
    }

    fn load(&self, index: usize) -> Result<Cow<'_, RgbImage>, DataError> {
        let cell = self.cache.get(index);
        if let Some(image) = cell.and_then(OnceLock::get) {
            return Ok(Cow::Borrowed(image));
        }
        let image = decode_image(&self.paths[index])?;
        let bytes = image.as_raw().len() as u64;
        let Some(cell) = cell else {
            return Ok(Cow::Owned(image));
        };
        // Reserve room in the budget first; give it back if over, or if another thread
        // filled the cell meanwhile.
        let before = self.cached_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.options.cache_bytes {
            self.cached_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return Ok(Cow::Owned(image));
        }
        match cell.set(image) {
            Ok(()) => {}
            Err(_) => {
                self.cached_bytes.fetch_sub(bytes, Ordering::Relaxed);
            }
        }
        Ok(Cow::Borrowed(cell.get().expect("set above")))
    }
}

/// A dataset's splits: what a run trains on, what it is tested on, and the dataset's own
/// style-shift test sets.
///
/// `shifts` holds test sets whose style differs from training by construction (the
/// synthetic dataset's held-out styles); it is empty for datasets that have none.
///
/// ```
/// use advbn::data::{load, DataSpec, LoadOptions};
/// let spec: DataSpec = "synthetic:train=20,test=10".parse().unwrap();
/// let splits = load(&spec, &LoadOptions::default()).unwrap();
/// assert_eq!((splits.train.len(), splits.test.len()), (20, 10));
/// assert_eq!(splits.shifts[0].0, "synthetic-heldout-style");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DataSplits {
    /// The training set.
    pub train: ImageDataset,
    /// The in-distribution test set.
    pub test: ImageDataset,
    /// Named style-shift test sets.
    pub shifts: Vec<(String, ImageDataset)>,
}

impl DataSplits {
    /// Splits that share one list of classes and one image size (checked).
    pub fn new(
        train: ImageDataset,
        test: ImageDataset,
        shifts: Vec<(String, ImageDataset)>,
    ) -> Result<Self, DataError> {
        let others = std::iter::once(&test).chain(shifts.iter().map(|(_, ds)| ds));
        for other in others {
            if other.classes != train.classes {
                return Err(DataError::Invalid(format!(
                    "datasets `{}` and `{}` have different classes",
                    train.name, other.name
                )));
            }
            if let (Some(a), Some(b)) = (train.image_size(), other.image_size())
                && a != b
            {
                return Err(DataError::Invalid(format!(
                    "datasets `{}` ({}x{}) and `{}` ({}x{}) have different image sizes",
                    train.name, a.0, a.1, other.name, b.0, b.1
                )));
            }
        }
        Ok(Self { train, test, shifts })
    }

    /// The class names shared by all splits.
    pub fn classes(&self) -> &[String] {
        self.train.classes()
    }

    /// The style-shift test set called `name`.
    pub fn shift(&self, name: &str) -> Option<&ImageDataset> {
        self.shifts.iter().find(|(n, _)| n == name).map(|(_, ds)| ds)
    }

    /// The splits with `pipeline` as the preprocessing of the test and shift sets (the
    /// evaluation transform of a photo recipe); the training set keeps its images, since
    /// its own pipeline starts with the random crop.
    pub fn with_test_preprocess(self, pipeline: &Pipeline) -> Self {
        Self {
            train: self.train,
            test: self.test.with_preprocess(pipeline.clone()),
            shifts: self
                .shifts
                .into_iter()
                .map(|(name, set)| (name, set.with_preprocess(pipeline.clone())))
                .collect(),
        }
    }
}

/// Number of labels equal to each class in `0..num_classes` (labels beyond are ignored).
pub(crate) fn class_counts(labels: &[u32], num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0; num_classes];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts
}

/// The indices (ascending) of a deterministic stratified sample of at most `limit` of the
/// samples labelled `labels`.
///
/// The limit is shared out as evenly as the classes allow: every class gets `limit / k`
/// (k = classes that have samples), the remainder goes one by one to the lowest labels,
/// and what a small class cannot take goes to the others. Within a class the samples are
/// a uniform random choice from a ChaCha8 stream keyed by `seed` and the class, so the
/// result depends on nothing but the labels, the limit and the seed; and for a fixed
/// quota the choice is a prefix of the same random order, so a smaller subset of a class
/// is contained in a larger one. Labels `>= num_classes` are never selected.
///
/// Loaders call this on labels alone, before decoding, so that a small subset of a large
/// image folder decodes only the files it keeps.
///
/// ```
/// use advbn::data::stratified_indices;
/// let labels = [0, 0, 0, 0, 1, 1, 2];
/// let picked = stratified_indices(&labels, 3, 5, 0);
/// assert_eq!(picked.len(), 5);
/// // class 2 has one sample, so classes 0 and 1 take the rest: 2 + 2 + 1
/// assert_eq!(picked.iter().filter(|&&i| labels[i] == 2).count(), 1);
/// assert_eq!(picked.iter().filter(|&&i| labels[i] == 0).count(), 2);
/// ```
pub fn stratified_indices(labels: &[u32], num_classes: usize, limit: usize, seed: u64) -> Vec<usize> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(m) = members.get_mut(l as usize) {
            m.push(i);
        }
    }
    let available: usize = members.iter().map(Vec::len).sum();
    let mut remaining = limit.min(available);
    let mut quota = vec![0usize; num_classes];
    // Round-robin: one sample per class per round, so quotas differ by at most one
    // except where a class runs out.
    while remaining > 0 {
        for (c, m) in members.iter().enumerate() {
            if remaining > 0 && quota[c] < m.len() {
                quota[c] += 1;
                remaining -= 1;
            }
        }
    }
    let mut picked = Vec::with_capacity(limit.min(available));
    for (c, mut m) in members.into_iter().enumerate() {
        let q = quota[c];
        if q == m.len() {
            picked.extend(m);
            continue;
        }
        let mut rng = SampleKey::new(seed, 0, c as u64).substream(SUBSET_SALT);
        // Partial Fisher-Yates: the first q positions become a uniform random q-subset.
        for j in 0..q {
            let k = rng.random_range(j..m.len());
            m.swap(j, k);
        }
        picked.extend_from_slice(&m[..q]);
    }
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(labels: Vec<u32>, classes: usize) -> ImageDataset {
        // Each image stores its own index, so a subset's images can be traced back.
        let images = (0..labels.len())
            .map(|i| RgbImage::from_pixel(1, 1, image::Rgb([i as u8, (i >> 8) as u8, 0])))
            .collect();
        ImageDataset::new(
            "toy",
            images,
            labels,
            (0..classes).map(|c| format!("c{c}")).collect(),
        )
        .unwrap()
    }

    #[test]
    fn new_rejects_inconsistent_data() {
        let two = vec![RgbImage::new(2, 2), RgbImage::new(2, 2)];
        let classes = vec!["a".to_string()];
        let err = ImageDataset::new("x", two.clone(), vec![0], classes.clone()).unwrap_err();
        assert!(err.to_string().contains("2 images but 1 labels"), "{err}");
        let err = ImageDataset::new("x", two.clone(), vec![0, 1], classes.clone()).unwrap_err();
        assert!(
            err.to_string().contains("label 1 of sample 1 is out of range"),
            "{err}"
        );
        let mixed = vec![RgbImage::new(2, 2), RgbImage::new(3, 2)];
        let err = ImageDataset::new("x", mixed, vec![0, 0], classes).unwrap_err();
        assert!(
            err.to_string().contains("image 1 is 3x2 but image 0 is 2x2"),
            "{err}"
        );
        let err = ImageDataset::new("x", two, vec![0, 0], vec![]).unwrap_err();
        assert!(err.to_string().contains("no classes"), "{err}");
    }

    #[test]
    fn stratified_quotas_are_even_and_respect_small_classes() {
        // class sizes 50, 3, 20, 0
        let mut labels = vec![0u32; 50];
        labels.extend([1; 3]);
        labels.extend([2; 20]);
        let picked = stratified_indices(&labels, 4, 30, 1);
        let counts = class_counts(&picked.iter().map(|&i| labels[i]).collect::<Vec<_>>(), 4);
        assert_eq!(counts, vec![14, 3, 13, 0]);
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "ascending and unique");
        // A limit above the total takes everything.
        assert_eq!(
            stratified_indices(&labels, 4, 1000, 1),
            (0..73).collect::<Vec<_>>()
        );
        assert!(stratified_indices(&labels, 4, 0, 1).is_empty());
    }

    #[test]
    fn stratified_choice_depends_on_seed_only_and_nests() {
        let labels: Vec<u32> = (0..1000).map(|i| (i % 10) as u32).collect();
        let a = stratified_indices(&labels, 10, 100, 3);
        assert_eq!(a, stratified_indices(&labels, 10, 100, 3));
        assert_ne!(a, stratified_indices(&labels, 10, 100, 4));
        let big = stratified_indices(&labels, 10, 300, 3);
        assert!(
            a.iter().all(|i| big.binary_search(i).is_ok()),
            "smaller subset inside larger"
        );
        // Not simply the first samples of each class.
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn subset_keeps_images_with_their_labels() {
        let labels: Vec<u32> = (0..60).map(|i| (i * 7 % 3) as u32).collect();
        let ds = toy(labels.clone(), 3);
        let sub = ds.subset(12, 9);
        assert_eq!(sub.class_counts(), vec![4, 4, 4]);
        for (img, &label) in sub.decoded().unwrap().iter().zip(sub.labels()) {
            let original = img.get_pixel(0, 0)[0] as usize;
            assert_eq!(labels[original], label);
        }
        assert_eq!(ds.subset(60, 9), ds);
    }

    #[test]
    fn splits_must_agree_on_classes_and_size() {
        let a = toy(vec![0, 1], 2);
        let b = toy(vec![0], 3);
        let err = DataSplits::new(a.clone(), b, vec![]).unwrap_err();
        assert!(err.to_string().contains("different classes"), "{err}");
        let big = ImageDataset::new("big", vec![RgbImage::new(2, 2)], vec![0], a.classes().to_vec()).unwrap();
        let err = DataSplits::new(a.clone(), a.clone(), vec![("s".into(), big)]).unwrap_err();
        assert!(err.to_string().contains("different image sizes"), "{err}");
        let ok = DataSplits::new(a.clone(), a.clone(), vec![("s".into(), a.clone())]).unwrap();
        assert_eq!(ok.shift("s"), Some(&a));
        assert_eq!(ok.shift("t"), None);
    }
}
