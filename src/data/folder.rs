//! Image folders: `ROOT/{train,test}/<class>/*.{png,jpg,jpeg}`, the layout of
//! torchvision's `ImageFolder` with one folder per split.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageReader, RgbImage};
use rayon::prelude::*;

use super::{DataError, DataSplits, ImageDataset, LoadOptions, stratified_indices};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
const LAYOUT: &str = "expected ROOT/{train,test}/<class>/*.png|jpg|jpeg";

/// How far from the end of a JPEG file its end-of-image marker may lie (some writers pad).
const JPEG_EOI_WINDOW: usize = 64;

/// Decodes one image file to 8-bit RGB (grey is replicated, alpha dropped, 16-bit scaled).
///
/// The format comes from the file's content, not its extension, so a PNG named `.jpg`
/// still loads. A JPEG must end with its end-of-image marker (within 64 bytes of padding):
/// the JPEG decoder fills a truncated image's missing blocks without complaint, and a run
/// must not train on half-grey images of truncated downloads.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.png");
/// image::RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3])).save(&path).unwrap();
/// assert_eq!(advbn::data::decode_image(&path).unwrap().dimensions(), (3, 2));
/// std::fs::write(&path, b"not a png").unwrap();
/// let err = advbn::data::decode_image(&path).unwrap_err().to_string();
/// assert!(err.starts_with("cannot decode image") && err.contains("x.png"));
/// ```
pub fn decode_image(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    let fail = |reason: String| DataError::Decode {
        path: path.to_path_buf(),
        // Decoder messages may span lines; the error is one line.
        reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let tail = &bytes[bytes.len().saturating_sub(JPEG_EOI_WINDOW)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(fail(
                "truncated JPEG: no end-of-image marker at the end of the file".into(),
            ));
        }
    }
    let reader = ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
    Ok(decoded.to_rgb8())
}

/// Sorted names of the visible subdirectories of `dir`.
fn class_dirs(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Sorted image files of one class directory; an error when there are none.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_image && !hidden && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::layout(
            dir,
            "no .png, .jpg or .jpeg images in this class directory",
        ));
    }
    files.sort();
    Ok(files)
}

fn split_dir(root: &Path, split: &str) -> Result<PathBuf, DataError> {
    let dir = root.join(split);
    if !dir.is_dir() {
        return Err(DataError::layout(
            root,
            format!("missing `{split}` directory ({LAYOUT})"),
        ));
    }
    Ok(dir)
}

/// The files of one split and their labels, listed but not decoded.
fn list_split(dir: &Path, classes: &[String]) -> Result<(Vec<PathBuf>, Vec<u32>), DataError> {
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let found = image_files(&dir.join(class))?;
        labels.extend(std::iter::repeat_n(label as u32, found.len()));
        files.extend(found);
    }
    Ok((files, labels))
}

/// Decodes `files` in parallel; the first failure in file order wins, so the message is
/// the same however the threads are scheduled.
fn decode_all(files: &[PathBuf]) -> Result<Vec<RgbImage>, DataError> {
    let decoded: Vec<Result<RgbImage, DataError>> = files.par_iter().map(|p| decode_image(p)).collect();
    decoded.into_iter().collect()
}

/// The path of the first image whose size differs from `size`, and its size.
fn check_size(
    files: &[PathBuf],
    images: &[RgbImage],
    size: (u32, u32),
    like: &Path,
) -> Result<(), DataError> {
    if let Some((path, img)) = files.iter().zip(images).find(|(_, img)| img.dimensions() != size) {
        return Err(DataError::layout(
            path,
            format!(
                "image is {}x{} but {} is {}x{}; all images of a dataset must have one size",
                img.width(),
                img.height(),
                like.display(),
                size.0,
                size.1
            ),
        ));
    }
    Ok(())
}

/// Loads both splits; classes are the sorted class directory names, which both splits must
/// share. Limits pick files before decoding, so a small subset of a large folder is cheap.
pub(crate) fn load(root: &Path, opts: &LoadOptions) -> Result<DataSplits, DataError> {
    fs::metadata(root).map_err(|e| DataError::io(root, e))?;
    let train_dir = split_dir(root, "train")?;
    let test_dir = split_dir(root, "test")?;
    let classes = class_dirs(&train_dir)?;
    let test_classes = class_dirs(&test_dir)?;
    if classes.is_empty() {
        return Err(DataError::layout(
            &train_dir,
            format!("no class directories ({LAYOUT})"),
        ));
    }
    for (have, have_dir, lack, lack_dir) in [
        (&classes, &train_dir, &test_classes, &test_dir),
        (&test_classes, &test_dir, &classes, &train_dir),
    ] {
        if let Some(missing) = have.iter().find(|c| !lack.contains(c)) {
            return Err(DataError::layout(
                lack_dir,
                format!(
                    "class `{missing}` is in {} but not here; both splits need the same classes",
                    have_dir.display()
                ),
            ));
        }
    }
    let stem = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "folder".to_string());

    let mut sets = Vec::new();
    let mut reference: Option<(PathBuf, (u32, u32))> = None;
    for (split, dir, limit) in [
        ("train", &train_dir, opts.train_limit),
        ("test", &test_dir, opts.test_limit),
    ] {
        let (files, labels) = list_split(dir, &classes)?;
        let keep: Vec<usize> = match limit {
            Some(n) => stratified_indices(&labels, classes.len(), n, opts.seed),
            None => (0..files.len()).collect(),
        };
        let files: Vec<PathBuf> = keep.iter().map(|&i| files[i].clone()).collect();
        let labels: Vec<u32> = keep.iter().map(|&i| labels[i]).collect();
        let images = decode_all(&files)?;
        let (like, size) = reference.get_or_insert_with(|| (files[0].clone(), images[0].dimensions()));
        check_size(&files, &images, *size, like)?;
        sets.push(ImageDataset::new(
            format!("{stem}-{split}"),
            images,
            labels,
            classes.clone(),
        )?);
    }
    let test = sets.pop().expect("two splits");
    let train = sets.pop().expect("two splits");
    DataSplits::new(train, test, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, colour: [u8; 3], size: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(size, size, image::Rgb(colour))
            .save(path)
            .unwrap();
    }

    /// root/{train,test}/{bird,ant,cat}, 6 train and 2 test images per class, each image
    /// filled with (class, split, index) so the test can trace it.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (c, class) in ["bird", "ant", "cat"].iter().enumerate() {
            for (s, (split, n)) in [("train", 6), ("test", 2)].iter().enumerate() {
                for i in 0..*n {
                    let p = dir.path().join(split).join(class).join(format!("{i:03}.png"));
                    write_png(&p, [c as u8, s as u8, i as u8], 4);
                }
            }
        }
        dir
    }

    #[test]
    fn loads_sorted_classes_and_all_images() {
        let dir = tree();
        // Files that are not images, and hidden entries, are not samples.
        fs::write(dir.path().join("train/ant/notes.txt"), "x").unwrap();
        fs::write(dir.path().join("train/ant/.hidden.png"), "x").unwrap();
        fs::create_dir(dir.path().join("train/.cache")).unwrap();
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(splits.classes(), ["ant", "bird", "cat"]);
        assert_eq!(splits.train.class_counts(), vec![6, 6, 6]);
        assert_eq!(splits.test.class_counts(), vec![2, 2, 2]);
        for (img, &label) in splits.train.images().iter().zip(splits.train.labels()) {
            let [c, s, _] = img.get_pixel(0, 0).0;
            let name = ["bird", "ant", "cat"][c as usize];
            assert_eq!(splits.classes()[label as usize], name);
            assert_eq!(s, 0);
        }
        assert!(splits.train.name().ends_with("-train"));
        assert!(splits.shifts.is_empty());
    }

    #[test]
    fn limits_are_stratified_and_deterministic() {
        let dir = tree();
        let opts = LoadOptions {
            train_limit: Some(9),
            test_limit: Some(4),
            seed: 5,
        };
        let a = load(dir.path(), &opts).unwrap();
        assert_eq!(a.train.class_counts(), vec![3, 3, 3]);
        assert_eq!(a.test.class_counts(), vec![2, 1, 1]);
        assert_eq!(a, load(dir.path(), &opts).unwrap());
    }

    #[test]
    fn unneeded_files_are_not_decoded() {
        let dir = tree();
        // Corrupt every train image but those a limit of 3 with seed 0 keeps: loading must
        // still succeed, which it can only do without decoding the corrupt ones.
        let (files, labels) = list_split(
            &dir.path().join("train"),
            &["ant".into(), "bird".into(), "cat".into()],
        )
        .unwrap();
        let keep = stratified_indices(&labels, 3, 3, 0);
        for (i, f) in files.iter().enumerate() {
            if !keep.contains(&i) {
                fs::write(f, b"garbage").unwrap();
            }
        }
        let opts = LoadOptions {
            train_limit: Some(3),
            ..Default::default()
        };
        assert_eq!(load(dir.path(), &opts).unwrap().train.len(), 3);
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Decode { .. }), "{err}");
    }

    #[test]
    fn corrupt_file_is_named() {
        let dir = tree();
        let bad = dir.path().join("test/cat/001.png");
        let mut bytes = fs::read(&bad).unwrap();
        bytes.truncate(bytes.len() / 2);
        fs::write(&bad, bytes).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot decode image ") && err.contains(&bad.display().to_string()),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }

    #[test]
    fn truncated_jpeg_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jpg");
        let noisy = RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, (x * y) as u8])
        });
        noisy.save(&path).unwrap();
        let whole = fs::read(&path).unwrap();
        assert_eq!(decode_image(&path).unwrap().dimensions(), (32, 32));
        // Cut inside the entropy-coded data, where the decoder alone would not notice.
        fs::write(&path, &whole[..whole.len() - 80]).unwrap();
        let err = decode_image(&path).unwrap_err().to_string();
        assert!(err.contains("x.jpg: truncated JPEG"), "{err}");
        // Padding after the marker is tolerated.
        let mut padded = whole.clone();
        padded.extend([0u8; 16]);
        fs::write(&path, padded).unwrap();
        assert!(decode_image(&path).is_ok());
    }

    #[test]
    fn layout_errors_are_clear() {
        let dir = tree();
        fs::remove_dir_all(dir.path().join("test/bird")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        let test_dir = dir.path().join("test").display().to_string();
        assert!(
            err.starts_with(&format!("{test_dir}: class `bird` is in ")),
            "{err}"
        );

        fs::create_dir_all(dir.path().join("test/bird")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("test/bird: no .png, .jpg or .jpeg images"), "{err}");

        fs::create_dir_all(dir.path().join("test/dog")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(
            err.contains("class `dog` is in") && err.contains("train: class"),
            "{err}"
        );

        fs::remove_dir_all(dir.path().join("test")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("missing `test` directory"), "{err}");

        let err = load(&dir.path().join("absent"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read ") && err.contains("absent"), "{err}");
    }

    #[test]
    fn mixed_sizes_name_the_odd_file() {
        let dir = tree();
        let odd = dir.path().join("test/ant/000.png");
        write_png(&odd, [0, 0, 0], 5);
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(
            err.starts_with(&odd.display().to_string()) && err.contains("image is 5x5"),
            "{err}"
        );
    }

    #[test]
    fn grey_and_jpeg_files_become_rgb() {
        let dir = tree();
        let grey = image::GrayImage::from_pixel(4, 4, image::Luma([77]));
        grey.save(dir.path().join("train/ant/grey.png")).unwrap();
        RgbImage::from_pixel(4, 4, image::Rgb([200, 10, 10]))
            .save(dir.path().join("train/ant/red.JPG"))
            .unwrap();
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(splits.train.class_counts()[0], 8);
        let ant: Vec<&RgbImage> = (0..splits.train.len())
            .filter_map(|i| splits.train.get(i))
            .filter(|(_, l)| *l == 0)
            .map(|(i, _)| i)
            .collect();
        // Sorted by file name: 000..005, grey.png, red.JPG.
        assert_eq!(ant[6].get_pixel(1, 1).0, [77, 77, 77]);
        let [r, g, b] = ant[7].get_pixel(1, 1).0;
        assert!(r > 150 && g < 60 && b < 60, "{r} {g} {b}");
    }
}
