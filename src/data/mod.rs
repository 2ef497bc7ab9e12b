//! Datasets: loading (CIFAR-10 binary, image folders, Fashion-MNIST IDX) and the built-in
//! synthetic style-shift dataset, as in-memory [`ImageDataset`]s of [`image::RgbImage`];
//! and the batcher, which turns them into training batches.
//!
//! A dataset is named on the command line by a [`DataSpec`] (`cifar10:PATH`,
//! `folder:PATH`, `fashion-mnist[:PATH]`, `synthetic[:KEY=VAL,...]`) and loaded by [`load`]
//! into [`DataSplits`]: train, test, and the dataset's own style-shift test sets.
//!
//! ```
//! use advbn::data::{load, DataSpec, LoadOptions};
//! let spec: DataSpec = "synthetic:train=100,test=50".parse().unwrap();
//! let splits = load(&spec, &LoadOptions::default()).unwrap();
//! assert_eq!(splits.classes().len(), 10);
//! assert_eq!(splits.train.image_size(), Some((32, 32)));
//! ```

mod batcher;
mod benchmark;
mod cifar;
mod dataset;
mod error;
mod folder;
mod idx;
mod imagenet;
mod loader;
mod npy;
mod sheet;
mod spec;
mod synthetic;

pub use batcher::{
    BatchError, BatchPlan, HostBatch, ImageSource, Normalization, Prefetcher, VecSource, batches,
    epoch_order, make_batch,
};
pub use benchmark::{
    BENCH_SCHEMES, BenchKind, BenchSet, BenchSpec, BenchSubset, MAX_SEVERITIES, ModelClasses, open_bench,
    severity_count,
};
pub use cifar::{CIFAR10_CLASSES, CIFAR10_RECORD_BYTES};
pub use dataset::{
    DEFAULT_CACHE_BYTES, DataSplits, FileOptions, ImageDataset, OnCorrupt, stratified_indices,
};
pub use error::DataError;
pub use folder::{decode_image, decode_image_bytes};
pub use idx::FASHION_MNIST_CLASSES;
pub use imagenet::{
    CIFAR100_CLASSES, ImageNetClass, imagenet_a_wnids, imagenet_class_index, imagenet_classes,
    imagenet_r_wnids, imagenet_wnids, is_wnid,
};
pub use loader::{AugmentBatcher, AugmentedBatch, LoadedSample, SampleDataset};
pub use npy::write_npy;
pub use sheet::{contact_sheet, write_contact_sheet};
pub use spec::{DataSpec, FASHION_MNIST_DEFAULT_DIR, LoadOptions, SCHEMES, load};
pub use synthetic::{
    HELDOUT_SHIFT_NAME, SYNTHETIC_CLASSES, SyntheticConfig, SyntheticSplit, generate_synthetic,
    synthetic_sample,
};

impl ImageSource for ImageDataset {
    fn len(&self) -> usize {
        ImageDataset::len(self)
    }

    fn load(&self, index: usize) -> Result<std::borrow::Cow<'_, image::RgbImage>, DataError> {
        ImageDataset::load(self, index)
    }

    fn label(&self, index: usize) -> u32 {
        ImageDataset::label(self, index)
    }

    fn skips_corrupt(&self) -> bool {
        ImageDataset::skips_corrupt(self)
    }

    fn path(&self, index: usize) -> Option<&std::path::Path> {
        ImageDataset::path(self, index)
    }
}
