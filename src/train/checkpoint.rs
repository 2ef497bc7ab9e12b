//! Checkpoints: one file holding the model, the optimizer state and the loop's position,
//! written atomically (temporary file, fsync, rename), so a crash or kill mid-write leaves
//! the previous checkpoint intact.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;

use crate::model::Arch;

const MAGIC: &[u8; 8] = b"ADVBNCK1";

/// Where the loop stands when a checkpoint is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub global_step: u64,
    /// Whether the adversarial BN copies have been initialised from the clean ones.
    pub adv_bn_initialised: bool,
    /// The architecture.
    pub arch: Arch,
    /// Number of classes.
    pub classes: usize,
    /// Base width of an ImageNet ResNet (`None`: the standard 64; checkpoints written before
    /// widths existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
}

/// A checkpoint in memory.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The loop's position.
    pub state: LoopState,
    /// burnpack bytes of the model.
    pub model: Vec<u8>,
    /// Bytes of the optimizer state.
    pub optimizer: Vec<u8>,
}

/// The checkpoint file of a run directory.
pub fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.bin")
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let state = serde_json::to_vec(&self.state).expect("state serializes");
        write_atomic(path, |file| {
            file.write_all(MAGIC)?;
            for part in [&state[..], &self.model[..], &self.optimizer[..]] {
                file.write_all(&(part.len() as u64).to_le_bytes())?;
                file.write_all(part)?;
            }
            Ok(())
        })
    }

    /// Whether a file's first 8 bytes are those of a checkpoint.
    pub fn is_magic(first_bytes: &[u8; 8]) -> bool {
        first_bytes == MAGIC
    }

    /// Reads a checkpoint; errors name the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let fail = |what: &str| format!("{}: {what}", path.display());
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| fail(&format!("cannot read checkpoint ({e})")))?;
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(fail("not an advbn checkpoint"));
        }
        let mut rest = &bytes[8..];
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            if rest.len() < 8 {
                return Err(fail("truncated checkpoint"));
            }
            let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
            rest = &rest[8..];
            if rest.len() < len {
                return Err(fail("truncated checkpoint"));
            }
            parts.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
        let optimizer = parts.pop().expect("three parts");
        let model = parts.pop().expect("three parts");
        let state: LoopState =
            serde_json::from_slice(&parts[0]).map_err(|e| fail(&format!("bad checkpoint state ({e})")))?;
        Ok(Self {
            state,
            model,
            optimizer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> Checkpoint {
        Checkpoint {
            state: LoopState {
                epochs_done: 3,
                global_step: 42,
                adv_bn_initialised: true,
                arch: Arch::Tiny,
                classes: 10,
                width: None,
            },
            model: vec![1, 2, 3],
            optimizer: vec![9; 5],
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        sample().save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.state, sample().state);
        assert_eq!(back.model, vec![1, 2, 3]);
        assert_eq!(back.optimizer, vec![9; 5]);
        assert!(!path.with_extension("bin.tmp").exists());
    }

    #[test]
    fn truncated_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        sample().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        for cut in [0, 5, 8, 20, bytes.len() - 1] {
            fs::write(&path, &bytes[..cut]).unwrap();
            let err = Checkpoint::load(&path).unwrap_err();
            assert!(err.contains("checkpoint"), "{err}");
        }
    }

    #[test]
    fn a_stale_temporary_file_does_not_hide_the_good_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        sample().save(&path).unwrap();
        // A crash mid-write leaves a partial temporary file behind.
        fs::write(path.with_extension("bin.tmp"), b"ADVBN").unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap().state.epochs_done, 3);
    }
}
