//! Datasets and the batcher.

mod batcher;

pub use batcher::{
    BatchError, BatchPlan, HostBatch, ImageSource, Normalization, Prefetcher, VecSource, batches,
    epoch_order, make_batch,
};
