//! The journal: what a transaction replaces and where the previous files
//! are, written durably before the first replacement; and the recovery that
//! the next run does when it finds one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::lock::Lock;
use super::safe_fs::{self, io};
use super::stage::STAGE_PREFIX;

/// The journal's name, in the backend's state folder.
pub const JOURNAL_FILE: &str = ".smarthost-journal";

const VERSION: u32 = 1;

/// One replaced or removed file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file.
    pub(crate) target: PathBuf,
    /// The second name of its previous content; `None`: it did not exist.
    pub(crate) backup: Option<PathBuf>,
}

/// The journal's content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Journal {
    pub(crate) version: u32,
    /// In the order they are replaced.
    pub(crate) entries: Vec<Entry>,
    /// Commands that make the service load the restored files.
    pub(crate) after_rollback: Vec<Vec<String>>,
}

impl Journal {
    pub(crate) fn new(entries: Vec<Entry>, after_rollback: Vec<Vec<String>>) -> Self {
        Journal {
            version: VERSION,
            entries,
            after_rollback,
        }
    }

    /// The folders whose entries the transaction changes.
    pub(crate) fn dirs(&self) -> BTreeSet<PathBuf> {
        self.entries
            .iter()
            .filter_map(|e| e.target.parent().map(Path::to_path_buf))
            .collect()
    }

    /// Puts every file back as it was, continuing past errors; returns the
    /// files that could not be restored, with the reason.
    pub(crate) fn restore(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for entry in self.entries.iter().rev() {
            if let Err(e) = restore_one(entry) {
                failed.push(format!("{}: {e}", entry.target.display()));
            }
        }
        for dir in self.dirs() {
            if let Err(e) = safe_fs::sync_dir(&dir) {
                failed.push(e.to_string());
            }
        }
        failed
    }
}

fn restore_one(entry: &Entry) -> std::io::Result<()> {
    match &entry.backup {
        // The previous inode goes back under its name. A missing backup
        // means an earlier recovery already moved it back.
        Some(backup) => match std::fs::rename(backup, &entry.target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && entry.target.exists() => Ok(()),
            other => other,
        },
        None => match std::fs::remove_file(&entry.target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    }
}

/// Writes the journal durably: a staged file, fsynced, renamed into place,
/// the folder fsynced.
pub(crate) fn write(path: &Path, stage: &Path, journal: &Journal) -> Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_vec_pretty(journal).expect("a journal always serializes");
    let staged = stage.join(JOURNAL_FILE);
    let mut file = safe_fs::create_new(&staged, 0o600)?;
    file.write_all(&text).map_err(|e| io(&staged, e))?;
    file.sync_all().map_err(|e| io(&staged, e))?;
    safe_fs::check_file(path)?;
    std::fs::rename(&staged, path).map_err(|e| io(path, e))?;
    safe_fs::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Removes the journal durably: the transaction is final.
pub(crate) fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| io(path, e))?;
    safe_fs::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// What [`recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The files put back as they were before the interrupted run.
    pub restored: Vec<PathBuf>,
    /// Commands the interrupted run wanted run after a rollback (a reload),
    /// for the backend to run now.
    pub after_rollback: Vec<Vec<String>>,
    /// Leftover staged files and folders that were removed.
    pub swept: Vec<PathBuf>,
}

impl Recovered {
    /// Whether an interrupted transaction was rolled back.
    pub fn rolled_back(&self) -> bool {
        !self.restored.is_empty() || !self.after_rollback.is_empty()
    }

    /// One line for the administrator, e.g. on stderr.
    pub fn message(&self) -> String {
        let mut text = format!(
            "recovered an interrupted apply: restored the previous configuration ({} file(s): {})",
            self.restored.len(),
            self.restored
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !self.swept.is_empty() {
            text.push_str(&format!("; removed {} leftover staging folder(s)", self.swept.len()));
        }
        text
    }
}

/// Finds an interrupted transaction and rolls it back, then removes leftover
/// staging folders in `dirs`. Needs the lock, so that no other run is
/// staging or committing meanwhile. `Ok(None)`: nothing to recover.
pub fn recover(_lock: &Lock, journal_path: &Path, dirs: &[&Path]) -> Result<Option<Recovered>> {
    let mut recovered = Recovered::default();
    if let Some(bytes) = safe_fs::read_bytes(journal_path)? {
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Io {
            path: journal_path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the journal of an interrupted apply cannot be read ({e}); compare each file with its .smarthost-backup and remove the journal by hand"),
            ),
        })?;
        let failed = journal.restore();
        if !failed.is_empty() {
            return Err(Error::RestoreIncomplete {
                journal: journal_path.to_owned(),
                failed,
            });
        }
        remove(journal_path)?;
        recovered.restored = journal.entries.iter().map(|e| e.target.clone()).collect();
        recovered.after_rollback = journal.after_rollback;
    }
    for dir in dirs {
        recovered.swept.extend(sweep(dir)?);
    }
    Ok((recovered.rolled_back() || !recovered.swept.is_empty()).then_some(recovered))
}

/// Removes staging folders left by a run that was killed before its
/// journal existed (they may hold secrets).
fn sweep(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut swept = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(STAGE_PREFIX) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| io(&path, e))?.is_dir();
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| io(&path, e))?;
        swept.push(path);
    }
    if !swept.is_empty() {
        safe_fs::sync_dir(dir)?;
    }
    Ok(swept)
}
