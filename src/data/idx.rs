//! IDX files (the MNIST family's format), gzipped or not, and the Fashion-MNIST dataset.
//!
//! An IDX file is: two zero bytes, a type byte (0x08 for unsigned bytes, the only type these
//! datasets use), the number of dimensions, each dimension as a big-endian u32, then the
//! data, row-major.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use image::RgbImage;
use rayon::prelude::*;

use super::{DataError, DataSplits, ImageDataset, LoadOptions, stratified_indices};

/// The class names of Fashion-MNIST, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// A parsed IDX array of unsigned bytes.
#[derive(Debug)]
struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

/// `dir/name`, or `dir/name.gz` when only that exists.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if plain.is_file() {
        Ok(plain)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(DataError::layout(dir, format!("missing `{name}` or `{name}.gz`")))
    }
}

/// The file's bytes, gunzipped when they start with the gzip magic (whatever the name).
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| DataError::format(path, format!("corrupt gzip data: {e}")))?;
    Ok(out)
}

/// Parses an IDX array of unsigned bytes with `ndims` dimensions.
fn parse(path: &Path, bytes: Vec<u8>, ndims: usize) -> Result<Idx, DataError> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            "not an IDX file (it must start with two zero bytes)",
        ));
    }
    if bytes[2] != TYPE_U8 {
        return Err(DataError::format(
            path,
            format!(
                "IDX data type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        ));
    }
    if usize::from(bytes[3]) != ndims {
        return Err(DataError::format(
            path,
            format!("expected an IDX array of {ndims} dimensions, found {}", bytes[3]),
        ));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            format!(
                "truncated header: {} bytes, expected at least {header}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes(d.try_into().expect("4 bytes")) as usize)
        .collect();
    let payload = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match payload.and_then(|p| p.checked_add(header)) {
        Some(total) if total == bytes.len() => {}
        Some(total) => {
            let shape = dims.iter().map(usize::to_string).collect::<Vec<_>>().join(" x ");
            return Err(DataError::format(
                path,
                format!(
                    "size {} bytes (uncompressed) does not match its header: expected {total} bytes \
                     ({header}-byte header + {shape} data)",
                    bytes.len()
                ),
            ));
        }
        None => return Err(DataError::format(path, "header dimensions overflow")),
    }
    let mut data = bytes;
    data.drain(..header);
    Ok(Idx { dims, data })
}

/// Reads an IDX file (gzipped or not) of `ndims` dimensions.
fn read_idx(path: &Path, ndims: usize) -> Result<Idx, DataError> {
    parse(path, read_maybe_gz(path)?, ndims)
}

/// A grey image (row-major, one byte per pixel) as RGB, the grey value copied to all three
/// channels, so that grey datasets go through the same RGB pipeline as colour ones.
pub(crate) fn grey_to_rgb(width: u32, height: u32, grey: &[u8]) -> RgbImage {
    let raw = grey.iter().flat_map(|&v| [v, v, v]).collect();
    RgbImage::from_raw(width, height, raw).expect("grey buffer of width x height bytes")
}

/// One split: `{prefix}-images-idx3-ubyte(.gz)` and `{prefix}-labels-idx1-ubyte(.gz)`.
fn split(
    dir: &Path,
    prefix: &str,
    name: &str,
    classes: &[String],
    limit: Option<usize>,
    seed: u64,
) -> Result<ImageDataset, DataError> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (images, labels) = rayon::join(|| read_idx(&images_path, 3), || read_idx(&labels_path, 1));
    let (images, labels) = (images?, labels?);
    let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        return Err(DataError::format(
            &labels_path,
            format!(
                "has {} labels but {} has {n} images",
                labels.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some((i, &l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes.len())
    {
        return Err(DataError::format(
            &labels_path,
            format!("label {l} of sample {i} is outside 0..{}", classes.len()),
        ));
    }
    let all_labels: Vec<u32> = labels.data.iter().map(|&l| u32::from(l)).collect();
    let keep: Vec<usize> = match limit {
        Some(k) => stratified_indices(&all_labels, classes.len(), k, seed),
        None => (0..n).collect(),
    };
    let pixels = rows * cols;
    let rgb = keep
        .par_iter()
        .map(|&i| {
            grey_to_rgb(
                cols as u32,
                rows as u32,
                &images.data[i * pixels..(i + 1) * pixels],
            )
        })
        .collect();
    let kept_labels = keep.iter().map(|&i| all_labels[i]).collect();
    ImageDataset::new(name, rgb, kept_labels, classes.to_vec())
}

/// Loads Fashion-MNIST from `dir` (`train-*` and `t10k-*` IDX files), 28x28 grey as RGB.
pub(crate) fn load_fashion_mnist(dir: &Path, opts: &LoadOptions) -> Result<DataSplits, DataError> {
    fs::metadata(dir).map_err(|e| DataError::io(dir, e))?;
    let classes: Vec<String> = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
    let (train, test) = rayon::join(
        || {
            split(
                dir,
                "train",
                "fashion-mnist-train",
                &classes,
                opts.train_limit,
                opts.seed,
            )
        },
        || {
            split(
                dir,
                "t10k",
                "fashion-mnist-test",
                &classes,
                opts.test_limit,
                opts.seed,
            )
        },
    );
    DataSplits::new(train?, test?, Vec::new())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, TYPE_U8, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// `n` images of 3x2 pixels; image i has pixel value i*10 + position; label i % 10.
    fn write_split(dir: &Path, prefix: &str, n: usize, compress: bool) {
        let pixels: Vec<u8> = (0..n)
            .flat_map(|i| (0..6).map(move |p| (i * 10 + p) as u8))
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = idx_bytes(&[n as u32, 2, 3], &pixels);
        let labels = idx_bytes(&[n as u32], &labels);
        let (img_name, lbl_name) = (
            format!("{prefix}-images-idx3-ubyte"),
            format!("{prefix}-labels-idx1-ubyte"),
        );
        if compress {
            fs::write(dir.join(img_name + ".gz"), gz(&images)).unwrap();
            fs::write(dir.join(lbl_name + ".gz"), gz(&labels)).unwrap();
        } else {
            fs::write(dir.join(img_name), images).unwrap();
            fs::write(dir.join(lbl_name), labels).unwrap();
        }
    }

    #[test]
    fn grey_is_replicated_into_three_channels() {
        let img = grey_to_rgb(2, 1, &[5, 250]);
        assert_eq!(img.as_raw(), &vec![5, 5, 5, 250, 250, 250]);
    }

    #[test]
    fn loads_plain_and_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 20, true);
        write_split(dir.path(), "t10k", 10, false);
        let splits = load_fashion_mnist(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (20, 10));
        assert_eq!(splits.classes()[9], "Ankle boot");
        let (img, label) = (splits.train.load(13).unwrap(), splits.train.label(13));
        assert_eq!(label, 3);
        assert_eq!(img.dimensions(), (3, 2));
        // Row 1, column 2 is position 5.
        assert_eq!(img.get_pixel(2, 1).0, [135, 135, 135]);
        let opts = LoadOptions {
            train_limit: Some(10),
            test_limit: Some(5),
            seed: 2,
            ..Default::default()
        };
        let some = load_fashion_mnist(dir.path(), &opts).unwrap();
        assert_eq!(some.train.class_counts(), vec![1; 10]);
        assert_eq!(some.test.len(), 5);
    }

    #[test]
    fn wrong_sizes_and_headers_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "t10k", 10, false);
        // 4 images declared, data for 3.
        let short = dir.path().join("train-images-idx3-ubyte");
        fs::write(&short, idx_bytes(&[4, 2, 3], &[0; 18])).unwrap();
        fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            idx_bytes(&[4], &[0, 1, 2, 3]),
        )
        .unwrap();
        let err = load_fashion_mnist(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&short.display().to_string()), "{err}");
        assert!(
            err.contains("expected 40 bytes (16-byte header + 4 x 2 x 3 data)"),
            "{err}"
        );

        fs::write(&short, idx_bytes(&[3, 2, 3], &[0; 18])).unwrap();
        let err = load_fashion_mnist(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-labels-idx1-ubyte: has 4 labels but"), "{err}");

        fs::write(&short, [0, 0, 0x0D, 3]).unwrap();
        let err = load_fashion_mnist(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("data type 0x0d is not supported"), "{err}");

        fs::write(&short, &gz(b"abc")[..10]).unwrap();
        let err = load_fashion_mnist(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt gzip data"), "{err}");

        fs::remove_file(&short).unwrap();
        let err = load_fashion_mnist(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing `train-images-idx3-ubyte` or `train-images-idx3-ubyte.gz`"),
            "{err}"
        );
    }
}
