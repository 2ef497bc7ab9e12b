//! The CIFAR-10 binary version (`cifar-10-binary.tar.gz`): fixed-size records of one label
//! byte followed by the 32x32 image as three 1024-byte planes (red, green, blue), rows
//! top to bottom.

use std::fs;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use super::{DataError, DataSplits, ImageDataset, LoadOptions, stratified_indices};

/// Bytes per record: 1 label byte + 3 x 32 x 32 pixel bytes.
pub const CIFAR10_RECORD_BYTES: usize = 1 + 3 * 1024;

/// Records in one file of the official distribution.
const RECORDS_PER_FILE: usize = 10_000;

/// The class names of CIFAR-10, by label; used when `batches.meta.txt` is absent.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_FILE: &str = "test_batch.bin";
const META_FILE: &str = "batches.meta.txt";

/// The directory that holds the batch files: `path` itself, or the
/// `cifar-10-batches-bin` folder the official archive unpacks to, when `path` is its parent.
fn batch_dir(path: &Path) -> Result<PathBuf, DataError> {
    fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    let nested = path.join("cifar-10-batches-bin");
    if !path.join(TRAIN_FILES[0]).exists() && nested.is_dir() {
        return Ok(nested);
    }
    Ok(path.to_path_buf())
}

fn read_classes(dir: &Path) -> Result<Vec<String>, DataError> {
    let meta = dir.join(META_FILE);
    if !meta.exists() {
        return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    }
    let text = fs::read_to_string(&meta).map_err(|e| DataError::io(&meta, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != CIFAR10_CLASSES.len() {
        return Err(DataError::format(
            &meta,
            format!(
                "expected {} class names, one per line, found {}",
                CIFAR10_CLASSES.len(),
                names.len()
            ),
        ));
    }
    Ok(names)
}

/// One batch file, checked: a whole, non-zero number of records with valid labels.
struct Batch {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Batch {
    fn read(path: PathBuf, num_classes: usize) -> Result<Self, DataError> {
        let bytes = fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR10_RECORD_BYTES) {
            return Err(DataError::format(
                &path,
                format!(
                    "size {} bytes is not a positive multiple of the {CIFAR10_RECORD_BYTES}-byte CIFAR-10 record \
                     (an official batch file is {} bytes)",
                    bytes.len(),
                    CIFAR10_RECORD_BYTES * RECORDS_PER_FILE
                ),
            ));
        }
        let batch = Self { path, bytes };
        if let Some((i, label)) = batch
            .labels()
            .enumerate()
            .find(|&(_, l)| l as usize >= num_classes)
        {
            return Err(DataError::format(
                &batch.path,
                format!("record {i} has label {label}, outside 0..{num_classes}"),
            ));
        }
        Ok(batch)
    }

    fn labels(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes
            .chunks_exact(CIFAR10_RECORD_BYTES)
            .map(|r| u32::from(r[0]))
    }

    fn record(&self, i: usize) -> &[u8] {
        &self.bytes[i * CIFAR10_RECORD_BYTES..(i + 1) * CIFAR10_RECORD_BYTES]
    }
}

/// The image of one record: planar RGB -> interleaved.
fn record_image(record: &[u8]) -> RgbImage {
    let planes = &record[1..];
    let mut raw = vec![0u8; 3 * 1024];
    for (i, px) in raw.chunks_exact_mut(3).enumerate() {
        px[0] = planes[i];
        px[1] = planes[1024 + i];
        px[2] = planes[2048 + i];
    }
    RgbImage::from_raw(32, 32, raw).expect("3072 bytes make a 32x32 RGB image")
}

/// The samples of several batch files, in file order, limited to a stratified subset.
fn split(
    name: &str,
    batches: &[Batch],
    classes: &[String],
    limit: Option<usize>,
    seed: u64,
) -> Result<ImageDataset, DataError> {
    let locations: Vec<(usize, usize)> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.bytes.len() / CIFAR10_RECORD_BYTES).map(move |r| (b, r)))
        .collect();
    let labels: Vec<u32> = batches.iter().flat_map(Batch::labels).collect();
    let keep: Vec<usize> = match limit {
        Some(n) => stratified_indices(&labels, classes.len(), n, seed),
        None => (0..labels.len()).collect(),
    };
    let images = keep
        .par_iter()
        .map(|&i| {
            let (b, r) = locations[i];
            record_image(batches[b].record(r))
        })
        .collect();
    let labels = keep.iter().map(|&i| labels[i]).collect();
    ImageDataset::new(name, images, labels, classes.to_vec())
}

/// Loads `data_batch_1..5.bin` as the training set and `test_batch.bin` as the test set.
pub(crate) fn load(path: &Path, opts: &LoadOptions) -> Result<DataSplits, DataError> {
    let dir = batch_dir(path)?;
    let classes = read_classes(&dir)?;
    let paths: Vec<PathBuf> = TRAIN_FILES
        .iter()
        .chain([&TEST_FILE])
        .map(|f| dir.join(f))
        .collect();
    let read: Vec<Result<Batch, DataError>> = paths
        .into_par_iter()
        .map(|p| Batch::read(p, classes.len()))
        .collect();
    // The first failing file in the fixed order, so the message does not depend on timing.
    let mut batches = read.into_iter().collect::<Result<Vec<_>, _>>()?;
    let test = batches.split_off(TRAIN_FILES.len());
    let train = split("cifar10-train", &batches, &classes, opts.train_limit, opts.seed)?;
    let test = split("cifar10-test", &test, &classes, opts.test_limit, opts.seed)?;
    DataSplits::new(train, test, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record whose pixels encode (record id, channel, position), so the test can check
    /// where every byte lands.
    fn record(label: u8, id: u8) -> Vec<u8> {
        let mut r = vec![label];
        for channel in 0..3u8 {
            r.extend((0..1024).map(|i| id.wrapping_mul(7) ^ (channel * 85) ^ (i % 251) as u8));
        }
        r
    }

    fn write_batches(dir: &Path, per_file: usize) {
        for (f, name) in TRAIN_FILES.iter().chain([&TEST_FILE]).enumerate() {
            let bytes: Vec<u8> = (0..per_file)
                .flat_map(|r| record(((f * per_file + r) % 10) as u8, (f * per_file + r) as u8))
                .collect();
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn record_planes_become_interleaved_pixels() {
        let r = record(3, 9);
        let img = record_image(&r);
        for (x, y) in [(0, 0), (5, 0), (31, 31), (7, 20)] {
            let i = (y * 32 + x) as usize;
            assert_eq!(img.get_pixel(x, y).0, [r[1 + i], r[1025 + i], r[2049 + i]]);
        }
    }

    #[test]
    fn loads_all_files_in_order_with_limits() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), 20);
        let all = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!((all.train.len(), all.test.len()), (100, 20));
        assert_eq!(all.train.class_counts(), vec![10; 10]);
        assert_eq!(all.classes()[9], "truck");
        // Sample 45 is record 5 of data_batch_3.
        assert_eq!(*all.train.load(45).unwrap(), record_image(&record(5, 45)));
        assert_eq!(*all.test.load(3).unwrap(), record_image(&record(3, 103)));
        let opts = LoadOptions {
            train_limit: Some(30),
            test_limit: Some(10),
            seed: 1,
            ..Default::default()
        };
        let some = load(dir.path(), &opts).unwrap();
        assert_eq!(some.train.class_counts(), vec![3; 10]);
        assert_eq!(some.test.class_counts(), vec![1; 10]);
    }

    #[test]
    fn meta_file_names_the_classes() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), 10);
        let names: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        fs::write(dir.path().join(META_FILE), names.join("\n") + "\n\n").unwrap();
        assert_eq!(
            load(dir.path(), &LoadOptions::default()).unwrap().classes(),
            &names[..]
        );
        fs::write(dir.path().join(META_FILE), "a\nb\n").unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(
            err.contains("batches.meta.txt") && err.contains("expected 10 class names"),
            "{err}"
        );
    }

    #[test]
    fn official_archive_layout_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cifar-10-batches-bin");
        fs::create_dir(&nested).unwrap();
        write_batches(&nested, 10);
        assert_eq!(load(dir.path(), &LoadOptions::default()).unwrap().train.len(), 50);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), 10);
        let third = dir.path().join("data_batch_3.bin");
        fs::write(&third, vec![0u8; CIFAR10_RECORD_BYTES * 2 + 5]).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains(&third.display().to_string()), "{err}");
        assert!(
            err.contains("6151 bytes") && err.contains("30730000 bytes"),
            "{err}"
        );

        fs::write(&third, record(10, 0)).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("data_batch_3.bin: record 0 has label 10"), "{err}");

        fs::remove_file(&third).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("data_batch_3.bin"),
            "{err}"
        );

        let err = load(&dir.path().join("nope"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
