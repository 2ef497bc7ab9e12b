//! What a run directory records about its data (`data.json`), so that `advbn eval` and a
//! resumed run load the same images.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;

/// The data a run was trained on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunData {
    /// The data spec (`synthetic`, `folder:PATH`, ...).
    pub spec: String,
    /// The training limit.
    pub train_limit: Option<usize>,
    /// The test limit.
    pub test_limit: Option<usize>,
}

/// `data.json` of a run directory.
pub fn run_data_path(run_dir: &Path) -> PathBuf {
    run_dir.join("data.json")
}

impl RunData {
    /// Writes `data.json` into `run_dir`.
    pub fn write(&self, run_dir: &Path) -> Result<(), String> {
        let path = run_data_path(run_dir);
        write_atomic(&path, |out| {
            serde_json::to_writer_pretty(out, self).map_err(std::io::Error::other)
        })
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Reads `data.json` from `run_dir`.
    pub fn read(run_dir: &Path) -> Result<Self, String> {
        let path = run_data_path(run_dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: not a run directory ({e})", run_dir.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
