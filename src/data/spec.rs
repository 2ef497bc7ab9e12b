//! The data spec string of the command line (`cifar10:PATH`, `folder:PATH`,
//! `fashion-mnist[:PATH]`, `synthetic[:KEY=VAL,...]`) and the one entry point that loads it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::synthetic::SyntheticConfig;
use super::{DataError, DataSplits, cifar, folder, idx, synthetic};

/// Where Debian's `dataset-fashion-mnist` package installs the Fashion-MNIST IDX files; what
/// `fashion-mnist` without a path loads.
pub const FASHION_MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The valid schemes, in the order error messages list them.
pub const SCHEMES: [&str; 4] = ["cifar10", "folder", "fashion-mnist", "synthetic"];

/// Which dataset to load, as written on the command line.
///
/// ```
/// use advbn::data::DataSpec;
/// let spec: DataSpec = "cifar10:/data/cifar-10-batches-bin".parse().unwrap();
/// assert_eq!(spec, DataSpec::Cifar10("/data/cifar-10-batches-bin".into()));
/// assert_eq!(spec.to_string(), "cifar10:/data/cifar-10-batches-bin");
/// let synth: DataSpec = "synthetic:train=500,seed=3".parse().unwrap();
/// assert_eq!(synth.to_string(), "synthetic:train=500,test=1000,seed=3,size=32");
/// let err = "cifar10".parse::<DataSpec>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid data spec `cifar10`: missing path, write `cifar10:PATH`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    /// The CIFAR-10 binary version: a directory with `data_batch_1.bin` .. `data_batch_5.bin`,
    /// `test_batch.bin` and optionally `batches.meta.txt` (or its parent, holding
    /// `cifar-10-batches-bin/`).
    Cifar10(PathBuf),
    /// An image folder: `PATH/train/<class>/*` and `PATH/val/<class>/*` (or `test`), images
    /// of any size and mode, decoded while training runs.
    Folder(PathBuf),
    /// Fashion-MNIST IDX files (gzipped or not) in a directory.
    FashionMnist(PathBuf),
    /// The built-in procedurally generated dataset.
    Synthetic(SyntheticConfig),
}

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let (scheme, rest) = match s.split_once(':') {
            Some((scheme, rest)) => (scheme, Some(rest)),
            None => (s, None),
        };
        let path = |rest: Option<&str>| match rest {
            Some(p) if !p.trim().is_empty() => Ok(PathBuf::from(p)),
            _ => Err(DataError::spec(s, format!("missing path, write `{scheme}:PATH`"))),
        };
        match scheme {
            "cifar10" => Ok(Self::Cifar10(path(rest)?)),
            "folder" => Ok(Self::Folder(path(rest)?)),
            "fashion-mnist" => match rest {
                None => Ok(Self::FashionMnist(PathBuf::from(FASHION_MNIST_DEFAULT_DIR))),
                Some(_) => Ok(Self::FashionMnist(path(rest)?)),
            },
            "synthetic" => SyntheticConfig::from_options(rest.unwrap_or(""))
                .map(Self::Synthetic)
                .map_err(|reason| DataError::spec(s, reason)),
            bench if super::BENCH_SCHEMES.contains(&bench) => Err(DataError::spec(
                s,
                format!(
                    "`{bench}` is an evaluation set (a published robustness benchmark), not training data; \
                     evaluate a run on it with `advbn eval --run DIR --data {bench}:PATH` or `advbn study --eval-data {bench}:PATH`"
                ),
            )),
            "" => Err(DataError::spec(
                s,
                format!("missing scheme (valid: {})", SCHEMES.join(", ")),
            )),
            other => Err(DataError::spec(
                s,
                format!("unknown scheme `{other}` (valid: {})", SCHEMES.join(", ")),
            )),
        }
    }
}

impl fmt::Display for DataSpec {
    /// The canonical spec; it parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cifar10(p) => write!(f, "cifar10:{}", p.display()),
            Self::Folder(p) => write!(f, "folder:{}", p.display()),
            Self::FashionMnist(p) => write!(f, "fashion-mnist:{}", p.display()),
            Self::Synthetic(c) => write!(f, "synthetic:{}", c.to_options()),
        }
    }
}

/// How much of a dataset to load.
///
/// Limits are totals per split, shared out evenly over the classes (see
/// [`super::stratified_indices`]); a limit above a split's size loads all of it. The test
/// limit applies to each style-shift test set too. `seed` picks which samples a limit
/// keeps; it does not change the synthetic dataset, whose content is fixed by its own
/// `seed=` option, so that runs with different training seeds see the same data.
///
/// ```
/// use advbn::data::LoadOptions;
/// let opts = LoadOptions { train_limit: Some(300), test_limit: Some(100), ..Default::default() };
/// assert_eq!(opts.seed, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// At most this many training images (all when `None`).
    pub train_limit: Option<usize>,
    /// At most this many images in each test set (all when `None`).
    pub test_limit: Option<usize>,
    /// Seed of the stratified choice of samples.
    pub seed: u64,
    /// Cache and corrupt-file policy of file-backed sets (`folder:`).
    pub files: super::FileOptions,
}

impl LoadOptions {
    fn check(&self) -> Result<(), DataError> {
        for (name, limit) in [("train_limit", self.train_limit), ("test_limit", self.test_limit)] {
            if limit == Some(0) {
                return Err(DataError::Invalid(format!(
                    "{name} is 0; it must be at least 1 (or unset for all)"
                )));
            }
        }
        Ok(())
    }
}

/// Loads (or generates) the dataset a spec names.
///
/// In-memory formats are decoded here, in parallel; a missing, unreadable, corrupt or wrongly
/// sized file is an error naming it, never a silently smaller dataset. Image folders are
/// only listed: their files are decoded when a batch needs them (see
/// [`super::ImageDataset::from_files`]).
///
/// ```
/// use advbn::data::{load, DataSpec, LoadOptions};
/// let spec: DataSpec = "synthetic".parse().unwrap();
/// let opts = LoadOptions { train_limit: Some(100), test_limit: Some(50), ..Default::default() };
/// let splits = load(&spec, &opts).unwrap();
/// assert_eq!(splits.train.class_counts(), vec![10; 10]);
/// assert_eq!(splits.shifts[0].1.len(), 50);
///
/// let missing: DataSpec = "folder:/no/such/dir".parse().unwrap();
/// let err = load(&missing, &opts).unwrap_err();
/// assert!(err.to_string().contains("/no/such/dir"));
/// ```
pub fn load(spec: &DataSpec, opts: &LoadOptions) -> Result<DataSplits, DataError> {
    opts.check()?;
    match spec {
        DataSpec::Cifar10(path) => cifar::load(path, opts),
        DataSpec::Folder(path) => folder::load(path, opts),
        DataSpec::FashionMnist(path) => idx::load_fashion_mnist(path, opts),
        DataSpec::Synthetic(config) => synthetic::load(config, opts),
    }
}

impl DataSpec {
    /// Same as [`load`].
    pub fn load(&self, opts: &LoadOptions) -> Result<DataSplits, DataError> {
        load(self, opts)
    }

    /// The directory the spec reads from, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Cifar10(p) | Self::Folder(p) | Self::FashionMnist(p) => Some(p),
            Self::Synthetic(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<DataSpec>().unwrap_err().to_string()
    }

    #[test]
    fn parses_every_scheme() {
        assert_eq!(
            "folder:a/b".parse::<DataSpec>().unwrap(),
            DataSpec::Folder("a/b".into())
        );
        // Only the first colon separates the scheme.
        assert_eq!(
            "folder:a:b".parse::<DataSpec>().unwrap(),
            DataSpec::Folder("a:b".into())
        );
        assert_eq!(
            "fashion-mnist".parse::<DataSpec>().unwrap(),
            DataSpec::FashionMnist(FASHION_MNIST_DEFAULT_DIR.into())
        );
        assert_eq!(
            "fashion-mnist:x".parse::<DataSpec>().unwrap(),
            DataSpec::FashionMnist("x".into())
        );
        assert_eq!(
            "synthetic".parse::<DataSpec>().unwrap(),
            DataSpec::Synthetic(SyntheticConfig::default())
        );
        let custom = "synthetic:test=7,size=48".parse::<DataSpec>().unwrap();
        assert_eq!(
            custom,
            DataSpec::Synthetic(SyntheticConfig {
                test: 7,
                size: 48,
                ..SyntheticConfig::default()
            })
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "cifar10:/x/y",
            "folder:rel/dir",
            "fashion-mnist:/usr/z",
            "synthetic:seed=9,train=40",
        ] {
            let spec: DataSpec = s.parse().unwrap();
            assert_eq!(spec.to_string().parse::<DataSpec>().unwrap(), spec, "{s}");
        }
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            err("imagenet:/x"),
            "invalid data spec `imagenet:/x`: unknown scheme `imagenet` (valid: cifar10, folder, fashion-mnist, synthetic)"
        );
        assert_eq!(
            err("folder:"),
            "invalid data spec `folder:`: missing path, write `folder:PATH`"
        );
        assert_eq!(
            err("cifar10"),
            "invalid data spec `cifar10`: missing path, write `cifar10:PATH`"
        );
        assert!(err(":x").contains("missing scheme"));
        let e = err("imagenet-c:/x");
        assert!(
            e.contains("`imagenet-c` is an evaluation set")
                && e.contains("advbn eval --run DIR --data imagenet-c:PATH"),
            "{e}"
        );
        assert!(err("fashion-mnist:").contains("missing path"));
        let e = err("synthetic:train=abc");
        assert!(e.contains("`train`") && e.contains("abc"), "{e}");
        let e = err("synthetic:colour=red");
        assert!(
            e.contains("unknown key `colour`") && e.contains("train, test, seed, size"),
            "{e}"
        );
        assert!(err("synthetic:train").contains("KEY=VALUE"));
    }

    #[test]
    fn zero_limits_are_rejected() {
        let spec = DataSpec::Synthetic(SyntheticConfig::default());
        let opts = LoadOptions {
            train_limit: Some(0),
            ..Default::default()
        };
        let e = load(&spec, &opts).unwrap_err().to_string();
        assert!(e.contains("train_limit is 0"), "{e}");
    }
}
