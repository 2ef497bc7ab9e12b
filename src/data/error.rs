//! The one error type of the data module.
//!
//! Every variant that concerns a file carries its path, so that a user can find and fix the
//! file from the message alone; every message is one line.

use std::path::{Path, PathBuf};

/// Why a dataset could not be parsed, found, read or generated.
///
/// ```
/// use advbn::data::DataSpec;
/// let err = "imagenet:/data".parse::<DataSpec>().unwrap_err();
/// assert!(err.to_string().contains("unknown scheme `imagenet`"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data spec string (e.g. `cifar10:PATH`) is malformed.
    #[error("invalid data spec `{spec}`: {reason}")]
    Spec {
        /// The spec as the user wrote it.
        spec: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// A file or directory could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An image file exists but does not decode (corrupt, truncated, not an image).
    #[error("cannot decode image {}: {reason}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A file's content does not follow its format (wrong size, bad header, bad label).
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, including what was expected.
        reason: String,
    },
    /// A directory does not have the layout a loader expects (missing split or class, no
    /// images, images of different sizes).
    #[error("{}: {reason}", path.display())]
    Layout {
        /// The directory (or file) where the layout breaks.
        path: PathBuf,
        /// What is wrong, including what was expected.
        reason: String,
    },
    /// Options or in-memory data that are inconsistent (e.g. labels and images of different
    /// lengths, a limit of zero).
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn layout(path: &Path, reason: impl Into<String>) -> Self {
        Self::Layout {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn spec(spec: &str, reason: impl Into<String>) -> Self {
        Self::Spec {
            spec: spec.to_string(),
            reason: reason.into(),
        }
    }
}
