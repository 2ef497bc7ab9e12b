//! Image folders: `ROOT/train/<class>/*` with `ROOT/val/<class>/*` or `ROOT/test/<class>/*`,
//! the layout of torchvision's `ImageFolder` with one folder per split (ImageNet's is
//! `train` and `val`).
//!
//! Loading lists the files and decodes none: the sets are file-backed
//! ([`ImageDataset::from_files`]), decoded on the batcher's worker threads while training
//! runs, so memory holds the file index (and a bounded cache), never the decoded data set.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use advbn_augmenters::to_rgb8;
use image::{ImageReader, RgbImage};

use super::{DataError, DataSplits, ImageDataset, LoadOptions, stratified_indices};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
const LAYOUT: &str = "expected ROOT/train/<class>/* and ROOT/val/<class>/* or ROOT/test/<class>/* (.png, .jpg, .jpeg in any case)";

/// The evaluation split's folder names, in the order they are looked for.
const EVAL_SPLITS: [&str; 2] = ["val", "test"];

/// How far from the end of a JPEG file its end-of-image marker may lie (some writers pad).
const JPEG_EOI_WINDOW: usize = 64;

/// Decodes one image file to 8-bit RGB.
///
/// Every common mode is accepted: grey is replicated into the three channels; alpha is
/// discarded, as Pillow's `convert("RGB")` (what torchvision's loader calls) does, so a
/// transparent pixel keeps the colour stored under it; 16-bit samples are scaled to 8 bits
/// with rounding (`v * 255 / 65535`), which Pillow does not do for 16-bit grey (it clips);
/// palette PNGs are expanded; progressive JPEGs decode, and CMYK/YCCK (Adobe) JPEGs are
/// converted to RGB.
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
    decode_image_bytes(&bytes, path)
}

/// [`decode_image`] of a file's content already in memory (a member of an archive);
/// `path` names it in errors.
///
/// ```
/// let err = advbn::data::decode_image_bytes(&[0xFF, 0xD8, 0xFF], "a.tar:x.jpg".as_ref()).unwrap_err();
/// assert!(err.to_string().contains("a.tar:x.jpg: truncated JPEG"));
/// ```
pub fn decode_image_bytes(bytes: &[u8], path: &Path) -> Result<RgbImage, DataError> {
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
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
    // An RGB image moves out without a copy (converting it pixel by pixel costs 30% of a
    // 500x375 decode, measured); other modes are converted with rounding (16-bit:
    // (v + 128) / 257) and alpha dropped; the tests pin both.
    Ok(to_rgb8(decoded))
}

/// Sorted names of the visible subdirectories of `dir`.
pub(crate) fn class_dirs(dir: &Path) -> Result<Vec<String>, DataError> {
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

/// Sorted image files of one class directory (extensions matched in any case, so
/// ImageNet's `.JPEG` files count); an error when there are none.
pub(crate) fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
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
            "no .png, .jpg or .jpeg images in this class directory (extensions in any case)",
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

/// The evaluation split directory: `val` if present, else `test`.
fn eval_split_dir(root: &Path) -> Result<PathBuf, DataError> {
    EVAL_SPLITS
        .iter()
        .map(|split| root.join(split))
        .find(|dir| dir.is_dir())
        .ok_or_else(|| DataError::layout(root, format!("missing `val` (or `test`) directory ({LAYOUT})")))
}

/// Lists both splits (nothing is decoded); classes are the sorted class directory names
/// (torchvision's `ImageFolder` convention), which both splits must share. Limits pick
/// files by label, so a subset of a large folder lists only what it keeps.
pub(crate) fn load(root: &Path, opts: &LoadOptions) -> Result<DataSplits, DataError> {
    fs::metadata(root).map_err(|e| DataError::io(root, e))?;
    let train_dir = split_dir(root, "train")?;
    let test_dir = eval_split_dir(root)?;
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
        sets.push(ImageDataset::from_files(
            format!("{stem}-{split}"),
            files,
            labels,
            classes.clone(),
            opts.files,
        )?);
    }
    let test = sets.pop().expect("two splits");
    let train = sets.pop().expect("two splits");
    DataSplits::new(train, test, Vec::new())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::data::{FileOptions, ImageSource, OnCorrupt};

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

    fn pixel(set: &ImageDataset, i: usize) -> [u8; 3] {
        set.load(i).unwrap().get_pixel(0, 0).0
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
        for i in 0..splits.train.len() {
            let [c, s, _] = pixel(&splits.train, i);
            let name = ["bird", "ant", "cat"][c as usize];
            assert_eq!(splits.classes()[splits.train.label(i) as usize], name);
            assert_eq!(s, 0);
        }
        assert!(splits.train.name().ends_with("-train"));
        assert!(splits.shifts.is_empty());
    }

    #[test]
    fn val_is_the_evaluation_split_when_present() {
        let dir = tree();
        for class in ["ant", "bird", "cat"] {
            write_png(&dir.path().join("val").join(class).join("x.png"), [9, 9, 9], 4);
        }
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(splits.test.len(), 3);
        assert!(splits.test.path(0).unwrap().starts_with(dir.path().join("val")));
        fs::remove_dir_all(dir.path().join("val")).unwrap();
        fs::remove_dir_all(dir.path().join("test")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("missing `val` (or `test`) directory"), "{err}");
    }

    #[test]
    fn limits_are_stratified_and_deterministic() {
        let dir = tree();
        let opts = LoadOptions {
            train_limit: Some(9),
            test_limit: Some(4),
            seed: 5,
            ..Default::default()
        };
        let a = load(dir.path(), &opts).unwrap();
        assert_eq!(a.train.class_counts(), vec![3, 3, 3]);
        assert_eq!(a.test.class_counts(), vec![2, 1, 1]);
        assert_eq!(a, load(dir.path(), &opts).unwrap());
    }

    #[test]
    fn loading_decodes_nothing_and_a_corrupt_file_is_named_when_read() {
        let dir = tree();
        // Every train file is garbage: listing still succeeds, since nothing is decoded.
        let (files, _) = list_split(
            &dir.path().join("train"),
            &["ant".into(), "bird".into(), "cat".into()],
        )
        .unwrap();
        for f in &files {
            fs::write(f, b"garbage").unwrap();
        }
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(splits.train.len(), 18);
        let err = splits.train.load(4).unwrap_err().to_string();
        let named = splits.train.path(4).unwrap().display().to_string();
        assert!(
            err.starts_with("cannot decode image ") && err.contains(&named),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        assert!(!splits.train.skips_corrupt());
        let opts = LoadOptions {
            files: FileOptions {
                on_corrupt: OnCorrupt::Skip,
                ..FileOptions::default()
            },
            ..Default::default()
        };
        assert!(load(dir.path(), &opts).unwrap().train.skips_corrupt());
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

        fs::remove_dir_all(dir.path().join("train")).unwrap();
        let err = load(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("missing `train` directory"), "{err}");

        let err = load(&dir.path().join("absent"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read ") && err.contains("absent"), "{err}");
    }

    #[test]
    fn mixed_sizes_and_upper_case_extensions_load() {
        let dir = tree();
        write_png(&dir.path().join("test/ant/000.png"), [0, 0, 0], 5);
        RgbImage::from_pixel(7, 3, image::Rgb([200, 10, 10]))
            .save_with_format(dir.path().join("test/ant/photo.JPEG"), image::ImageFormat::Jpeg)
            .unwrap();
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(splits.test.class_counts(), vec![3, 2, 2]);
        let sizes: Vec<(u32, u32)> = (0..3)
            .map(|i| splits.test.load(i).unwrap().dimensions())
            .collect();
        assert_eq!(sizes, vec![(5, 5), (4, 4), (7, 3)]);
        assert_eq!(splits.test.image_size(), None);
    }

    #[test]
    fn decoded_images_are_cached_within_the_budget() {
        let dir = tree();
        // 4x4 RGB = 48 bytes an image: a budget of 100 bytes keeps two.
        let opts = LoadOptions {
            files: FileOptions {
                cache_bytes: 100,
                ..FileOptions::default()
            },
            ..Default::default()
        };
        let splits = load(dir.path(), &opts).unwrap();
        let kinds: Vec<bool> = (0..4)
            .map(|i| matches!(splits.train.load(i).unwrap(), Cow::Borrowed(_)))
            .collect();
        // Each load decodes; the first two loaded stay decoded and later loads borrow them.
        assert_eq!(kinds, vec![true, true, false, false]);
        assert!(matches!(splits.train.load(0).unwrap(), Cow::Borrowed(_)));
        assert!(matches!(splits.train.load(3).unwrap(), Cow::Owned(_)));
        let pixels_again: Vec<[u8; 3]> = (0..4).map(|i| pixel(&splits.train, i)).collect();
        let uncached = load(
            dir.path(),
            &LoadOptions {
                files: FileOptions {
                    cache_bytes: 0,
                    ..FileOptions::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        let fresh: Vec<[u8; 3]> = (0..4).map(|i| pixel(&uncached.train, i)).collect();
        assert_eq!(pixels_again, fresh);
        assert!(matches!(uncached.train.load(0).unwrap(), Cow::Owned(_)));
    }

    /// One file per common mode, each of a known colour, and what it must decode to
    /// (with a tolerance for the lossy ones).
    #[test]
    fn every_common_mode_decodes_to_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        let (w, h) = (9, 7);
        let red = [200u8, 10, 10];
        let mut cases: Vec<(PathBuf, [u8; 3], u8)> = Vec::new();

        RgbImage::from_pixel(w, h, image::Rgb(red))
            .save(at("rgb.png"))
            .unwrap();
        cases.push((at("rgb.png"), red, 0));
        // Alpha is discarded (Pillow's convert("RGB")), even where fully transparent.
        image::RgbaImage::from_pixel(w, h, image::Rgba([200, 10, 10, 0]))
            .save(at("rgba.png"))
            .unwrap();
        cases.push((at("rgba.png"), red, 0));
        image::GrayImage::from_pixel(w, h, image::Luma([77]))
            .save(at("grey.png"))
            .unwrap();
        cases.push((at("grey.png"), [77; 3], 0));
        image::GrayAlphaImage::from_pixel(w, h, image::LumaA([77, 128]))
            .save(at("grey_alpha.png"))
            .unwrap();
        cases.push((at("grey_alpha.png"), [77; 3], 0));
        // 16 bits: 51400 = 200 * 257 -> 200; 2700 rounds to 11 (2700 / 257 = 10.5).
        image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_pixel(w, h, image::Rgb([51400, 2700, 65535]))
            .save(at("rgb16.png"))
            .unwrap();
        cases.push((at("rgb16.png"), [200, 11, 255], 0));
        image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_pixel(w, h, image::Luma([19789]))
            .save(at("grey16.png"))
            .unwrap();
        cases.push((at("grey16.png"), [77; 3], 0));
        write_palette_png(&at("palette.png"), w, h, [[0, 0, 0], red]);
        cases.push((at("palette.png"), red, 0));

        RgbImage::from_pixel(w, h, image::Rgb(red))
            .save(at("baseline.jpg"))
            .unwrap();
        cases.push((at("baseline.jpg"), red, 4));
        let rgb = vec![red; (w * h) as usize].concat();
        let mut progressive = jpeg_encoder::Encoder::new_file(at("progressive.jpg"), 90).unwrap();
        progressive.set_progressive(true);
        progressive
            .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        cases.push((at("progressive.jpg"), red, 4));
        image::GrayImage::from_pixel(w, h, image::Luma([77]))
            .save(at("grey.jpg"))
            .unwrap();
        cases.push((at("grey.jpg"), [77; 3], 2));
        // CMYK as Adobe writes it (with the APP14 marker): C = 255 - R etc., K = 0.
        let cmyk = vec![[255 - red[0], 255 - red[1], 255 - red[2], 0]; (w * h) as usize].concat();
        for (name, kind) in [
            ("cmyk.jpg", jpeg_encoder::ColorType::Cmyk),
            ("ycck.jpg", jpeg_encoder::ColorType::CmykAsYcck),
        ] {
            jpeg_encoder::Encoder::new_file(at(name), 95)
                .unwrap()
                .encode(&cmyk, w as u16, h as u16, kind)
                .unwrap();
            cases.push((at(name), red, 8));
        }

        for (path, want, tolerance) in cases {
            let img = decode_image(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(img.dimensions(), (w, h), "{}", path.display());
            let got = img.get_pixel(w / 2, h / 2).0;
            for c in 0..3 {
                assert!(
                    got[c].abs_diff(want[c]) <= tolerance,
                    "{}: got {got:?}, want {want:?} within {tolerance}",
                    path.display()
                );
            }
        }
    }

    /// An 8-bit palette PNG whose left column uses entry 0 and the rest entry 1.
    fn write_palette_png(path: &Path, w: u32, h: u32, palette: [[u8; 3]; 2]) {
        let file = fs::File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette.concat());
        let mut writer = encoder.write_header().unwrap();
        let data: Vec<u8> = (0..w * h).map(|i| u8::from(i % w != 0)).collect();
        writer.write_image_data(&data).unwrap();
    }

    #[test]
    fn batches_of_a_folder_skip_or_stop_at_a_corrupt_file() {
        use crate::data::{BatchPlan, Normalization, make_batch};
        let dir = tree();
        let splits = load(dir.path(), &LoadOptions::default()).unwrap();
        let bad = splits.train.path(2).unwrap().to_path_buf();
        let mut bytes = fs::read(&bad).unwrap();
        bytes.truncate(bytes.len() / 2);
        fs::write(&bad, bytes).unwrap();
        let plan = BatchPlan::eval(Normalization::HALF);
        let err = make_batch(&splits.train, &[0, 1, 2, 3], &plan, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&bad.display().to_string()), "{err}");
        let skipping = load(
            dir.path(),
            &LoadOptions {
                files: FileOptions {
                    on_corrupt: OnCorrupt::Skip,
                    ..FileOptions::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        let batch = make_batch(&skipping.train as &dyn ImageSource, &[0, 1, 2, 3], &plan, 0).unwrap();
        assert_eq!(batch.indices, vec![0, 1, 3]);
        assert_eq!(batch.targets.len(), 3);
        assert_eq!(batch.skipped, vec![bad]);
        assert_eq!(batch.images.len(), 3 * 48);
    }
}
