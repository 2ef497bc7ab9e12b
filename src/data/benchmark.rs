//! The published robustness benchmarks, read in the layouts their authors release them in.
//! They are evaluation sets only: a [`BenchSpec`] names one, [`open_bench`] lists it (nothing
//! is decoded) as subsets whose labels are the evaluated model's class indices.
//!
//! | spec | layout |
//! |---|---|
//! | `cifar10-c:PATH[,severities=S]`, `cifar100-c:PATH[,severities=S]` | `PATH/<corruption>.npy` (uint8 `[N, 32, 32, 3]`, severities 1..S in blocks of N/S) and `PATH/labels.npy` (`[N]`, any integer dtype) |
//! | `imagenet-c:PATH` | `PATH/<corruption>/<severity>/<wnid>/*.JPEG`, severity folders `1`..`5` |
//! | `imagenet-r:PATH`, `imagenet-a:PATH` | `PATH/<wnid>/*` over (some of) their 200 classes |
//! | `imagenet-sketch:PATH`, `stylized-imagenet:PATH` | `PATH/<wnid>/*` over (some of) ImageNet's 1000 classes |
//!
//! **Severities of CIFAR-C.** The releases hold 5 severities of 10,000 images in order, and
//! `labels.npy` is the test labels repeated 5 times. The number of severities `S` is read
//! from the labels' period: the `S` in 2..=5 for which `labels.npy` is `S` repetitions of its
//! first `N/S` labels (1 when none is). When the labels repeat for more than one such `S` (a
//! test set whose own labels are periodic), the spec must say which with `,severities=S`;
//! an explicit `S` is checked against the labels.
//!
//! **Corruptions.** Which files (folders) are present decides which corruptions are
//! evaluated: any of the 15 benchmark corruptions and the 4 extra ones of the releases
//! (speckle_noise, gaussian_blur, spatter, saturate); other `.npy` files or folders are
//! ignored and listed in [`BenchSet::notes`].
//!
//! **Classes.** A wnid folder maps to the model's class of that name (the run's
//! `classes.txt`), or, for a model with 1000 unnamed classes, to its index among ImageNet's
//! sorted wnids. CIFAR-C labels map by class name when the model's classes are named, else
//! as they are. A folder that is not a wnid, not among the model's classes, or (for the
//! 200-class sets) not one of the set's 200 classes is an error naming it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::folder::{class_dirs, image_files};
use super::imagenet::{
    CIFAR100_CLASSES, imagenet_a_wnids, imagenet_class_index, imagenet_r_wnids, imagenet_wnids, is_wnid,
};
use super::npy::{NpyInfo, image_array_info, read_images, read_labels};
use super::{CIFAR10_CLASSES, DataError, FileOptions, ImageDataset};
use crate::augmenters::corrupt::Corruption;

/// The schemes of the benchmark sets, in the order error messages list them.
pub const BENCH_SCHEMES: [&str; 7] = [
    "cifar10-c",
    "cifar100-c",
    "imagenet-c",
    "imagenet-r",
    "imagenet-a",
    "imagenet-sketch",
    "stylized-imagenet",
];

/// The largest number of severities a CIFAR-C file holds (the releases' 5).
pub const MAX_SEVERITIES: u8 = 5;

/// Which published benchmark a spec names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BenchKind {
    /// CIFAR-10-C (Hendrycks and Dietterich, ICLR 2019), `.npy` arrays.
    Cifar10C,
    /// CIFAR-100-C, `.npy` arrays.
    Cifar100C,
    /// ImageNet-C, a JPEG tree per corruption and severity.
    ImagenetC,
    /// ImageNet-R (renditions, Hendrycks et al. 2021), 200 classes.
    ImagenetR,
    /// ImageNet-A (natural adversarial examples, Hendrycks et al. 2021), 200 classes.
    ImagenetA,
    /// ImageNet-Sketch (Wang et al. 2019), 1000 classes.
    ImagenetSketch,
    /// Stylized-ImageNet (Geirhos et al. 2019), 1000 classes.
    StylizedImagenet,
}

impl BenchKind {
    /// All kinds, in [`BENCH_SCHEMES`] order.
    pub const ALL: [BenchKind; 7] = [
        BenchKind::Cifar10C,
        BenchKind::Cifar100C,
        BenchKind::ImagenetC,
        BenchKind::ImagenetR,
        BenchKind::ImagenetA,
        BenchKind::ImagenetSketch,
        BenchKind::StylizedImagenet,
    ];

    /// The spec scheme (`imagenet-c`).
    pub fn scheme(self) -> &'static str {
        BENCH_SCHEMES[self as usize]
    }

    /// The name the papers use (`ImageNet-C`).
    pub fn title(self) -> &'static str {
        match self {
            BenchKind::Cifar10C => "CIFAR-10-C",
            BenchKind::Cifar100C => "CIFAR-100-C",
            BenchKind::ImagenetC => "ImageNet-C",
            BenchKind::ImagenetR => "ImageNet-R",
            BenchKind::ImagenetA => "ImageNet-A",
            BenchKind::ImagenetSketch => "ImageNet-Sketch",
            BenchKind::StylizedImagenet => "Stylized-ImageNet",
        }
    }

    /// Whether the set is a suite of corruptions at severities (CIFAR-C, ImageNet-C).
    pub fn is_corruption_suite(self) -> bool {
        matches!(
            self,
            BenchKind::Cifar10C | BenchKind::Cifar100C | BenchKind::ImagenetC
        )
    }

    /// The set's own class subset, for the 200-class sets (their authors evaluate with the
    /// logits restricted to these classes).
    pub fn class_subset(self) -> Option<&'static [&'static str]> {
        match self {
            BenchKind::ImagenetR => Some(imagenet_r_wnids()),
            BenchKind::ImagenetA => Some(imagenet_a_wnids()),
            _ => None,
        }
    }

    fn from_scheme(scheme: &str) -> Option<Self> {
        BENCH_SCHEMES
            .iter()
            .position(|s| *s == scheme)
            .map(|i| BenchKind::ALL[i])
    }
}

impl fmt::Display for BenchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// A benchmark set as written on the command line: `SCHEME:PATH`, and for CIFAR-C
/// optionally `,severities=S` after the path.
///
/// ```
/// use advbn::data::{BenchKind, BenchSpec};
/// let spec: BenchSpec = "imagenet-c:/data/ImageNet-C".parse().unwrap();
/// assert_eq!((spec.kind, spec.path.to_str()), (BenchKind::ImagenetC, Some("/data/ImageNet-C")));
/// let small: BenchSpec = "cifar10-c:/tmp/c10c,severities=2".parse().unwrap();
/// assert_eq!(small.severities, Some(2));
/// assert_eq!(small.to_string(), "cifar10-c:/tmp/c10c,severities=2");
/// assert!(BenchSpec::is_bench("imagenet-r:x") && !BenchSpec::is_bench("folder:x"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchSpec {
    /// Which benchmark.
    pub kind: BenchKind,
    /// Its directory.
    pub path: PathBuf,
    /// CIFAR-C only: the number of severities, when given (else read from the labels).
    pub severities: Option<u8>,
}

impl BenchSpec {
    /// Whether `spec` names a benchmark scheme (whatever the rest).
    pub fn is_bench(spec: &str) -> bool {
        let scheme = spec.split_once(':').map_or(spec, |(scheme, _)| scheme);
        BenchKind::from_scheme(scheme).is_some()
    }

    /// A short name for reports: the benchmark's title.
    pub fn title(&self) -> &'static str {
        self.kind.title()
    }
}

impl FromStr for BenchSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let (scheme, rest) = s.split_once(':').unwrap_or((s, ""));
        let Some(kind) = BenchKind::from_scheme(scheme) else {
            return Err(DataError::spec(
                s,
                format!(
                    "unknown benchmark `{scheme}` (valid: {})",
                    BENCH_SCHEMES.join(", ")
                ),
            ));
        };
        let mut path = rest;
        let mut severities = None;
        if let Some((before, option)) = rest.rsplit_once(',')
            && let Some(value) = option.strip_prefix("severities=")
        {
            if !matches!(kind, BenchKind::Cifar10C | BenchKind::Cifar100C) {
                return Err(DataError::spec(
                    s,
                    format!(
                        "`severities=` applies to cifar10-c and cifar100-c; {scheme} has one folder per severity"
                    ),
                ));
            }
            let n: u8 = value
                .parse()
                .ok()
                .filter(|n| (1..=MAX_SEVERITIES).contains(n))
                .ok_or_else(|| {
                    DataError::spec(s, format!("`severities={value}`: expected 1 to {MAX_SEVERITIES}"))
                })?;
            severities = Some(n);
            path = before;
        }
        if path.trim().is_empty() {
            return Err(DataError::spec(s, format!("missing path, write `{scheme}:PATH`")));
        }
        Ok(Self {
            kind,
            path: PathBuf::from(path),
            severities,
        })
    }
}

impl fmt::Display for BenchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.scheme(), self.path.display())?;
        if let Some(s) = self.severities {
            write!(f, ",severities={s}")?;
        }
        Ok(())
    }
}

/// The classes of the model a benchmark is evaluated on: how many, and their names when the
/// run recorded them.
///
/// ```
/// use advbn::data::ModelClasses;
/// let imagenet = ModelClasses { count: 1000, names: None };
/// assert_eq!(imagenet.wnid_label("n01443537").unwrap(), 1); // goldfish: ImageNet's order
/// let named = ModelClasses { count: 2, names: Some(vec!["n02085620".into(), "n01443537".into()]) };
/// assert_eq!(named.wnid_label("n01443537").unwrap(), 1); // the run's own order
/// assert!(named.wnid_label("n01440764").unwrap_err().contains("not among the model's 2 classes"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelClasses {
    /// Number of classes (the model's output width).
    pub count: usize,
    /// Their names in label order, when known.
    pub names: Option<Vec<String>>,
}

impl ModelClasses {
    /// The names used for the sets' class lists: the model's, else ImageNet's wnids for
    /// 1000 classes, else the indices.
    pub fn display_names(&self) -> Vec<String> {
        match &self.names {
            Some(n) => n.clone(),
            None if self.count == 1000 => imagenet_wnids(),
            None => (0..self.count).map(|i| i.to_string()).collect(),
        }
    }

    /// The model's class index of WordNet id `wnid`.
    pub fn wnid_label(&self, wnid: &str) -> Result<u32, String> {
        let position = match &self.names {
            Some(names) => names.iter().position(|n| n == wnid),
            None if self.count == 1000 => imagenet_class_index(wnid),
            None => {
                return Err(format!(
                    "the model has {} classes without names (its run has no classes.txt) and not ImageNet's 1000, \
                     so wnid folders cannot be mapped to its classes",
                    self.count
                ));
            }
        };
        position.map(|p| p as u32).ok_or_else(|| {
            format!(
                "`{wnid}` is not among the model's {} classes{}",
                self.count,
                match &self.names {
                    Some(n) => format!(" ({})", preview(n)),
                    None => " (ImageNet-1k)".into(),
                }
            )
        })
    }

    /// The model's class index of each label of a CIFAR set whose classes are `names`.
    fn dataset_labels(&self, title: &str, names: &[&str]) -> Result<Vec<u32>, String> {
        match &self.names {
            Some(model) => names
                .iter()
                .map(|n| {
                    model
                        .iter()
                        .position(|m| m == n)
                        .map(|p| p as u32)
                        .ok_or_else(|| {
                            format!(
                                "{title} class `{n}` is not among the model's {} classes ({})",
                                model.len(),
                                preview(model)
                            )
                        })
                })
                .collect(),
            None if self.count == names.len() => Ok((0..names.len() as u32).collect()),
            None => Err(format!(
                "{title} has {} classes, the model {}",
                names.len(),
                self.count
            )),
        }
    }
}

fn preview(names: &[String]) -> String {
    let mut text = names.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 4 {
        text.push_str(", ...");
    }
    text
}

/// One subset of a benchmark: a corruption at a severity, or the whole set.
#[derive(Clone, Debug)]
pub struct BenchSubset {
    /// The corruption (suites only).
    pub corruption: Option<Corruption>,
    /// The severity (suites only).
    pub severity: Option<u8>,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// Rows `start..start + labels.len()` of a `.npy` image array.
    Npy {
        file: PathBuf,
        info: NpyInfo,
        start: u64,
        labels: Vec<u32>,
        classes: Vec<String>,
    },
    /// A file index. The dataset (and its cache of decoded images) is made anew by each
    /// [`BenchSubset::dataset`] call, so a cache lives only while its subset is evaluated
    /// (75 ImageNet-C subsets with a full cache each would hold gigabytes).
    Files(FileIndex),
}

#[derive(Clone, Debug)]
struct FileIndex {
    name: String,
    paths: Vec<PathBuf>,
    labels: Vec<u32>,
    classes: Vec<String>,
    options: FileOptions,
}

impl BenchSubset {
    /// `fog-3`, or the set's scheme for a set without subsets.
    pub fn name(&self, set: BenchKind) -> String {
        match (self.corruption, self.severity) {
            (Some(c), Some(s)) => format!("{}-{s}", c.name()),
            _ => set.scheme().to_string(),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Npy { labels, .. } => labels.len(),
            Source::Files(index) => index.labels.len(),
        }
    }

    /// Whether the subset has no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The subset as a dataset, at most `limit` images (a stratified choice by `seed`):
    /// `.npy` rows are read now, files stay on disk until loaded.
    pub fn dataset(&self, limit: Option<usize>, seed: u64) -> Result<ImageDataset, DataError> {
        let name = match (self.corruption, self.severity) {
            (Some(c), Some(s)) => format!("{}-{s}", c.name()),
            _ => "benchmark".into(),
        };
        match &self.source {
            Source::Files(index) => {
                let ds = ImageDataset::from_files(
                    index.name.clone(),
                    index.paths.clone(),
                    index.labels.clone(),
                    index.classes.clone(),
                    index.options,
                )?;
                Ok(match limit {
                    Some(n) => ds.subset(n, seed),
                    None => ds,
                })
            }
            Source::Npy {
                file,
                info,
                start,
                labels,
                classes,
            } => {
                let images = read_images(file, info, *start, labels.len() as u64)?;
                let ds = ImageDataset::new(name, images, labels.clone(), classes.clone())?;
                Ok(match limit {
                    Some(n) => ds.subset(n, seed),
                    None => ds,
                })
            }
        }
    }
}

/// A benchmark set, listed: its subsets (corruption x severity for the suites, else one),
/// the model classes the logits are restricted to (200-class sets), and what was left out.
#[derive(Clone, Debug)]
pub struct BenchSet {
    /// The spec it was opened from.
    pub spec: BenchSpec,
    /// The subsets, corruptions in the suite's order, severities ascending.
    pub subsets: Vec<BenchSubset>,
    /// For ImageNet-R/-A: the model's class indices of the set's classes (ascending); the
    /// evaluation takes the argmax over these logits only.
    pub mask: Option<Vec<u32>>,
    /// Things a user should know: ignored files, the severity count and how it was decided.
    pub notes: Vec<String>,
}

impl BenchSet {
    /// The kind of benchmark.
    pub fn kind(&self) -> BenchKind {
        self.spec.kind
    }

    /// The corruptions present, in the suite's order.
    pub fn corruptions(&self) -> Vec<Corruption> {
        let mut out: Vec<Corruption> = Vec::new();
        for c in self.subsets.iter().filter_map(|s| s.corruption) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

/// Lists the benchmark set `spec` names for a model with `classes`; nothing is decoded
/// (`.npy` headers and labels are read and checked). Errors name the file or folder.
///
/// ```
/// use advbn::data::{open_bench, BenchSpec, FileOptions, ModelClasses};
/// let dir = tempfile::tempdir().unwrap();
/// let spec: BenchSpec = format!("imagenet-r:{}", dir.path().display()).parse().unwrap();
/// let classes = ModelClasses { count: 1000, names: None };
/// let err = open_bench(&spec, &classes, FileOptions::default()).unwrap_err().to_string();
/// assert!(err.contains("no class folders"), "{err}");
/// ```
pub fn open_bench(
    spec: &BenchSpec,
    classes: &ModelClasses,
    files: FileOptions,
) -> Result<BenchSet, DataError> {
    std::fs::metadata(&spec.path).map_err(|e| DataError::io(&spec.path, e))?;
    match spec.kind {
        BenchKind::Cifar10C => open_cifar_c(spec, classes, &CIFAR10_CLASSES),
        BenchKind::Cifar100C => open_cifar_c(spec, classes, &CIFAR100_CLASSES),
        BenchKind::ImagenetC => open_imagenet_c(spec, classes, files),
        _ => open_wnid_folder(spec, classes, files),
    }
}

/// The number of severities in a label array of the releases' layout: see the module
/// documentation. `explicit` is what the spec says.
///
/// ```
/// use advbn::data::severity_count;
/// let base = [3, 1, 4, 1, 5];
/// let tiled: Vec<i64> = base.iter().cycle().take(10).copied().collect();
/// assert_eq!(severity_count(&tiled, None).unwrap(), 2);
/// assert_eq!(severity_count(&base, None).unwrap(), 1);
/// let periodic: Vec<i64> = (0..20).map(|i| i % 2).collect();
/// assert!(severity_count(&periodic, None).unwrap_err().contains("severities=S"));
/// assert_eq!(severity_count(&periodic, Some(5)).unwrap(), 5);
/// assert!(severity_count(&periodic, Some(4)).is_err()); // period 5 does not fit 0, 1, 0, 1, ...
/// ```
pub fn severity_count(labels: &[i64], explicit: Option<u8>) -> Result<u8, String> {
    let n = labels.len();
    let repeats = |s: usize| {
        n.is_multiple_of(s) && {
            let period = n / s;
            period > 0 && (period..n).all(|i| labels[i] == labels[i - period])
        }
    };
    if let Some(s) = explicit {
        if !repeats(s as usize) {
            return Err(format!(
                "severities={s} but its {n} labels are not {s} repetitions of the first {}",
                if n.is_multiple_of(s as usize) {
                    (n / s as usize).to_string()
                } else {
                    format!("{n}/{s}")
                }
            ));
        }
        return Ok(s);
    }
    let candidates: Vec<u8> = (2..=MAX_SEVERITIES).filter(|&s| repeats(s as usize)).collect();
    match candidates.as_slice() {
        [] => Ok(1),
        [s] => Ok(*s),
        several => Err(format!(
            "its {n} labels repeat with the periods of {} severities: add `,severities=S` to the spec to say how many it holds",
            several
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(" and of ")
        )),
    }
}

fn open_cifar_c(spec: &BenchSpec, classes: &ModelClasses, names: &[&str]) -> Result<BenchSet, DataError> {
    let dir = &spec.path;
    let title = spec.kind.title();
    let labels_path = dir.join("labels.npy");
    if !labels_path.is_file() {
        return Err(DataError::layout(
            dir,
            format!("missing labels.npy ({title} holds <corruption>.npy arrays and labels.npy)"),
        ));
    }
    let raw_labels = read_labels(&labels_path)?;
    if raw_labels.is_empty() {
        return Err(DataError::format(&labels_path, "no labels: the set is empty"));
    }
    if let Some((i, l)) = raw_labels
        .iter()
        .enumerate()
        .find(|(_, l)| !(0..names.len() as i64).contains(l))
    {
        return Err(DataError::format(
            &labels_path,
            format!(
                "label {l} at index {i} is out of range ({title} has {} classes)",
                names.len()
            ),
        ));
    }
    let severities =
        severity_count(&raw_labels, spec.severities).map_err(|e| DataError::format(&labels_path, e))?;
    let to_model = classes.dataset_labels(title, names).map_err(DataError::Invalid)?;
    let labels: Vec<u32> = raw_labels.iter().map(|&l| to_model[l as usize]).collect();
    let per_severity = labels.len() / severities as usize;
    let model_classes = classes.display_names();

    let mut entries: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        entries.push(entry.file_name().to_string_lossy().into_owned());
    }
    entries.sort();
    let mut ignored = Vec::new();
    let mut found = Vec::new();
    for name in &entries {
        let Some(stem) = name.strip_suffix(".npy") else {
            continue;
        };
        if stem == "labels" {
            continue;
        }
        match Corruption::from_name(stem) {
            Ok(c) => found.push(c),
            Err(_) => ignored.push(name.clone()),
        }
    }
    found.sort_by_key(|c| Corruption::ALL.iter().position(|a| a == c));
    if found.is_empty() {
        return Err(DataError::layout(
            dir,
            format!(
                "no corruption arrays: expected <corruption>.npy files named after the corruptions ({}, ...)",
                Corruption::BENCHMARK_15[..3]
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut subsets = Vec::new();
    for corruption in found {
        let file = dir.join(format!("{}.npy", corruption.name()));
        let info = image_array_info(&file)?;
        if info.shape[0] != labels.len() as u64 {
            return Err(DataError::format(
                &file,
                format!(
                    "holds {} images but labels.npy has {} labels; they must match one to one",
                    info.shape[0],
                    labels.len()
                ),
            ));
        }
        for s in 0..severities as usize {
            let range = s * per_severity..(s + 1) * per_severity;
            subsets.push(BenchSubset {
                corruption: Some(corruption),
                severity: Some(s as u8 + 1),
                source: Source::Npy {
                    file: file.clone(),
                    info: info.clone(),
                    start: range.start as u64,
                    labels: labels[range].to_vec(),
                    classes: model_classes.clone(),
                },
            });
        }
    }
    let mut notes = vec![format!(
        "{severities} severities of {per_severity} images ({})",
        match spec.severities {
            Some(_) => "as the spec says, checked against labels.npy",
            None if severities == MAX_SEVERITIES =>
                "the releases' layout, read from the period of labels.npy",
            None => "read from the period of labels.npy",
        }
    )];
    Ok(suite(spec, subsets, &mut notes, &ignored))
}

/// A corruption suite's set, with a note listing what was `ignored`.
fn suite(
    spec: &BenchSpec,
    subsets: Vec<BenchSubset>,
    notes: &mut Vec<String>,
    ignored: &[String],
) -> BenchSet {
    if !ignored.is_empty() {
        notes.push(format!(
            "ignored (not a corruption of the benchmark): {}",
            ignored.join(", ")
        ));
    }
    BenchSet {
        spec: spec.clone(),
        subsets,
        mask: None,
        notes: std::mem::take(notes),
    }
}

/// Lists `dir/<wnid>/*` as one file index labelled with the model's classes; `allowed`
/// restricts the wnids (the 200-class sets).
fn wnid_dataset(
    dir: &Path,
    name: String,
    classes: &ModelClasses,
    allowed: Option<(&str, &[&str])>,
    files: FileOptions,
) -> Result<FileIndex, DataError> {
    let folders = class_dirs(dir)?;
    if folders.is_empty() {
        return Err(DataError::layout(
            dir,
            "no class folders: expected one folder per class named by its WordNet id (n01440764/, ...)",
        ));
    }
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for folder in &folders {
        let path = dir.join(folder);
        if !is_wnid(folder) {
            return Err(DataError::layout(
                &path,
                "folder name is not a WordNet id (n and 8 digits, e.g. n01440764)",
            ));
        }
        if let Some((title, subset)) = allowed
            && subset.binary_search(&folder.as_str()).is_err()
        {
            return Err(DataError::layout(
                &path,
                format!("`{folder}` is not one of {title}'s 200 classes"),
            ));
        }
        let label = classes
            .wnid_label(folder)
            .map_err(|e| DataError::layout(&path, e))?;
        let found = image_files(&path)?;
        labels.extend(std::iter::repeat_n(label, found.len()));
        paths.extend(found);
    }
    Ok(FileIndex {
        name,
        paths,
        labels,
        classes: classes.display_names(),
        options: files,
    })
}

fn open_wnid_folder(
    spec: &BenchSpec,
    classes: &ModelClasses,
    files: FileOptions,
) -> Result<BenchSet, DataError> {
    let subset = spec.kind.class_subset();
    let ds = wnid_dataset(
        &spec.path,
        spec.kind.scheme().to_string(),
        classes,
        subset.map(|s| (spec.kind.title(), s)),
        files,
    )?;
    let mask = match subset {
        None => None,
        Some(wnids) => {
            let mut mask: Vec<u32> = wnids.iter().filter_map(|w| classes.wnid_label(w).ok()).collect();
            mask.sort_unstable();
            Some(mask)
        }
    };
    let mut notes = Vec::new();
    if let Some(mask) = &mask {
        notes.push(format!(
            "logits restricted to the {} of the set's 200 classes the model has (argmax over those only, as the set's authors evaluate)",
            mask.len()
        ));
    }
    Ok(BenchSet {
        spec: spec.clone(),
        subsets: vec![BenchSubset {
            corruption: None,
            severity: None,
            source: Source::Files(ds),
        }],
        mask,
        notes,
    })
}

fn open_imagenet_c(
    spec: &BenchSpec,
    classes: &ModelClasses,
    files: FileOptions,
) -> Result<BenchSet, DataError> {
    let root = &spec.path;
    let mut ignored = Vec::new();
    let mut found = Vec::new();
    for name in class_dirs(root)? {
        match Corruption::from_name(&name) {
            Ok(c) => found.push(c),
            Err(_) => ignored.push(format!("{name}/")),
        }
    }
    found.sort_by_key(|c| Corruption::ALL.iter().position(|a| a == c));
    if found.is_empty() {
        return Err(DataError::layout(
            root,
            "no corruption folders: expected <corruption>/<severity>/<wnid>/*.JPEG (gaussian_noise/1/n01440764/...)",
        ));
    }
    let mut subsets = Vec::new();
    for corruption in found {
        let dir = root.join(corruption.name());
        let severities = class_dirs(&dir)?;
        if severities.is_empty() {
            return Err(DataError::layout(&dir, "no severity folders (1 to 5)"));
        }
        for name in severities {
            let severity: u8 = name
                .parse()
                .ok()
                .filter(|s| (1..=MAX_SEVERITIES).contains(s))
                .ok_or_else(|| DataError::layout(&dir.join(&name), "severity folders are named 1 to 5"))?;
            let ds = wnid_dataset(
                &dir.join(&name),
                format!("{}-{severity}", corruption.name()),
                classes,
                None,
                files,
            )?;
            subsets.push(BenchSubset {
                corruption: Some(corruption),
                severity: Some(severity),
                source: Source::Files(ds),
            });
        }
    }
    subsets.sort_by_key(|s| s.severity);
    subsets.sort_by_key(|s| {
        s.corruption
            .and_then(|c| Corruption::ALL.iter().position(|a| *a == c))
    });
    Ok(suite(spec, subsets, &mut Vec::new(), &ignored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::write_npy;

    fn cifar_dir(severities: usize, per: usize, files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        // Base labels without a shorter period: class (i * 7 + i / 10) % 10.
        let base: Vec<u8> = (0..per).map(|i| ((i * 7 + i / 10) % 10) as u8).collect();
        let labels: Vec<u8> = base.iter().cycle().take(per * severities).copied().collect();
        write_npy(
            &dir.path().join("labels.npy"),
            "|u1",
            &[labels.len() as u64],
            &labels,
        )
        .unwrap();
        for f in files {
            let n = labels.len();
            let data: Vec<u8> = (0..n * 4 * 4 * 3).map(|i| (i / 48) as u8).collect();
            write_npy(&dir.path().join(f), "|u1", &[n as u64, 4, 4, 3], &data).unwrap();
        }
        dir
    }

    fn spec(s: &str, path: &Path) -> BenchSpec {
        format!("{s}:{}", path.display()).parse().unwrap()
    }

    const TEN: ModelClasses = ModelClasses {
        count: 10,
        names: None,
    };

    #[test]
    fn specs_parse_and_errors_are_clear() {
        for s in [
            "cifar10-c:/a/b",
            "imagenet-sketch:rel",
            "cifar100-c:x,severities=3",
            "stylized-imagenet:a,b",
        ] {
            let spec: BenchSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        let spec: BenchSpec = "imagenet-r:a,b".parse().unwrap();
        assert_eq!(spec.path, PathBuf::from("a,b"));
        let err = |s: &str| s.parse::<BenchSpec>().unwrap_err().to_string();
        assert!(err("imagenet-c:").contains("missing path"));
        assert!(err("imagenet-c:x,severities=2").contains("applies to cifar10-c and cifar100-c"));
        assert!(err("cifar10-c:x,severities=9").contains("expected 1 to 5"));
        assert!(err("imagenet-x:y").contains("unknown benchmark `imagenet-x`"));
    }

    #[test]
    fn cifar_c_lists_present_corruptions_and_reads_severity_blocks() {
        let dir = cifar_dir(
            2,
            30,
            &["fog.npy", "gaussian_noise.npy", "saturate.npy", "extra.npy"],
        );
        let set = open_bench(&spec("cifar10-c", dir.path()), &TEN, FileOptions::default()).unwrap();
        assert_eq!(
            set.corruptions(),
            [Corruption::GaussianNoise, Corruption::Fog, Corruption::Saturate]
        );
        assert_eq!(set.subsets.len(), 6);
        assert!(
            set.notes[0].starts_with("2 severities of 30 images"),
            "{:?}",
            set.notes
        );
        assert!(set.notes[1].contains("extra.npy"));
        let fog2 = &set.subsets[3];
        assert_eq!((fog2.corruption, fog2.severity), (Some(Corruption::Fog), Some(2)));
        let ds = fog2.dataset(None, 0).unwrap();
        assert_eq!(ds.len(), 30);
        // Image i of the array is filled with i: severity 2 starts at row 30.
        assert_eq!(ds.load(0).unwrap().get_pixel(0, 0).0, [30, 30, 30]);
        assert_eq!(ds.label(0), 0);
        assert_eq!(ds.label(1), 7);
        let sub = fog2.dataset(Some(10), 1).unwrap();
        assert_eq!(sub.class_counts(), vec![1; 10]);
    }

    #[test]
    fn cifar_c_errors_name_the_file() {
        let dir = cifar_dir(2, 30, &["fog.npy"]);
        let s = spec("cifar10-c", dir.path());
        // Wrong shape.
        write_npy(&dir.path().join("fog.npy"), "|u1", &[60, 48], &vec![0u8; 60 * 48]).unwrap();
        let e = open_bench(&s, &TEN, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fog.npy") && e.contains("shape [60, 48]"), "{e}");
        // Count mismatch.
        write_npy(
            &dir.path().join("fog.npy"),
            "|u1",
            &[50, 4, 4, 3],
            &vec![0u8; 50 * 48],
        )
        .unwrap();
        let e = open_bench(&s, &TEN, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds 50 images but labels.npy has 60 labels"), "{e}");
        // Missing labels.
        std::fs::remove_file(dir.path().join("labels.npy")).unwrap();
        let e = open_bench(&s, &TEN, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing labels.npy"), "{e}");
        // Class mismatch with the model.
        let dir = cifar_dir(1, 30, &["fog.npy"]);
        let shapes = ModelClasses {
            count: 10,
            names: Some((0..10).map(|i| format!("shape{i}")).collect()),
        };
        let e = open_bench(&spec("cifar10-c", dir.path()), &shapes, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CIFAR-10-C class `airplane` is not among the model's 10 classes"),
            "{e}"
        );
        let e = open_bench(&spec("cifar100-c", dir.path()), &TEN, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("CIFAR-100-C has 100 classes, the model 10"), "{e}");
    }

    #[test]
    fn named_cifar_classes_map_by_name() {
        let dir = cifar_dir(1, 20, &["fog.npy"]);
        let mut names: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
        names.reverse();
        let classes = ModelClasses {
            count: 10,
            names: Some(names),
        };
        let set = open_bench(&spec("cifar10-c", dir.path()), &classes, FileOptions::default()).unwrap();
        let ds = set.subsets[0].dataset(None, 0).unwrap();
        // CIFAR label 7 (horse) is the reversed model's class 2.
        assert_eq!(ds.label(1), 2);
    }

    fn write_tree(root: &Path, rel: &[&str]) {
        for r in rel {
            let p = root.join(r);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::RgbImage::new(8, 8).save(&p).unwrap();
        }
    }

    #[test]
    fn imagenet_c_tree_lists_corruptions_and_severities() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[
                "fog/2/n01443537/a.png",
                "fog/1/n01443537/a.png",
                "fog/1/n01440764/b.png",
                "contrast/1/n01440764/c.png",
                "README/x.png",
            ],
        );
        let imagenet = ModelClasses {
            count: 1000,
            names: None,
        };
        let set = open_bench(&spec("imagenet-c", dir.path()), &imagenet, FileOptions::default()).unwrap();
        let names: Vec<String> = set.subsets.iter().map(|s| s.name(BenchKind::ImagenetC)).collect();
        assert_eq!(names, ["fog-1", "fog-2", "contrast-1"]);
        let fog1 = set.subsets[0].dataset(None, 0).unwrap();
        assert_eq!(fog1.labels(), [0, 1]);
        assert!(set.notes[0].contains("README/"));
        write_tree(dir.path(), &["fog/6/n01440764/a.png"]);
        let e = open_bench(&spec("imagenet-c", dir.path()), &imagenet, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fog/6: severity folders are named 1 to 5"), "{e}");
    }

    #[test]
    fn wnid_folders_are_checked_and_200_class_sets_get_their_mask() {
        let dir = tempfile::tempdir().unwrap();
        let r = imagenet_r_wnids();
        write_tree(
            dir.path(),
            &[&format!("{}/a.png", r[0]), &format!("{}/b.png", r[5])],
        );
        let imagenet = ModelClasses {
            count: 1000,
            names: None,
        };
        let set = open_bench(&spec("imagenet-r", dir.path()), &imagenet, FileOptions::default()).unwrap();
        let mask = set.mask.as_ref().unwrap();
        assert_eq!(mask.len(), 200);
        let ds = set.subsets[0].dataset(None, 0).unwrap();
        assert!(ds.labels().iter().all(|l| mask.binary_search(l).is_ok()));
        // Sketch has no mask; the same folders load.
        let set = open_bench(
            &spec("imagenet-sketch", dir.path()),
            &imagenet,
            FileOptions::default(),
        )
        .unwrap();
        assert!(set.mask.is_none());
        // A wnid outside ImageNet-R's 200.
        let outside = imagenet_wnids()
            .into_iter()
            .find(|w| r.binary_search(&w.as_str()).is_err())
            .unwrap();
        write_tree(dir.path(), &[&format!("{outside}/c.png")]);
        let e = open_bench(&spec("imagenet-r", dir.path()), &imagenet, FileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("`{outside}` is not one of ImageNet-R's 200 classes")),
            "{e}"
        );
        // Not a wnid; not among a named model's classes.
        write_tree(dir.path(), &["cats/c.png"]);
        let e = open_bench(
            &spec("imagenet-sketch", dir.path()),
            &imagenet,
            FileOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cats: folder name is not a WordNet id"), "{e}");
        std::fs::remove_dir_all(dir.path().join("cats")).unwrap();
        let small = ModelClasses {
            count: 1,
            names: Some(vec![r[0].to_string()]),
        };
        let e = open_bench(
            &spec("imagenet-sketch", dir.path()),
            &small,
            FileOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not among the model's 1 classes"), "{e}");
    }
}
