//! The folder a backend keeps its lock and journal in, and the one way in:
//! take the lock, then recover an interrupted transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;

use super::journal::{recover, Recovered, JOURNAL_FILE};
use super::lock::{Session, SessionGuard, LOCK_FILE};

/// A backend's state folder: `<dir>/.smarthost.lock` and
/// `<dir>/.smarthost-journal`.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
    session: Session,
}

impl StateDir {
    /// The state folder `dir`, waiting up to `wait` for another run's lock.
    pub fn new(dir: PathBuf, wait: Duration) -> Self {
        let session = Session::new(dir.join(LOCK_FILE), wait);
        StateDir { dir, session }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The journal of a transaction in progress.
    pub fn journal(&self) -> PathBuf {
        self.dir.join(JOURNAL_FILE)
    }

    /// Takes the lock, then rolls back an interrupted transaction and
    /// removes leftover staging folders in `sweep` (and the state folder).
    /// For reading (`writing == false`) a folder that does not exist needs
    /// no lock: there is nothing to read, and nothing is created. For
    /// writing, the folder is created if needed (callers that must refuse
    /// symbolic links on the way create it first with
    /// [`safe_fs::ensure_dir`](super::safe_fs::ensure_dir)).
    pub fn enter(&self, writing: bool, sweep: &[&Path]) -> Result<Entered<'_>> {
        if !writing && !self.dir.is_dir() {
            return Ok(Entered {
                guard: None,
                recovered: None,
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| super::safe_fs::io(&self.dir, e))?;
        let guard = self.session.enter()?;
        let mut dirs = vec![self.dir.as_path()];
        dirs.extend(sweep.iter().copied().filter(|d| *d != self.dir));
        let recovered = recover(&guard, &self.journal(), &dirs)?;
        Ok(Entered {
            guard: Some(guard),
            recovered,
        })
    }
}

/// What [`StateDir::enter`] gives.
#[derive(Debug)]
pub struct Entered<'a> {
    /// The lock, held until dropped; `None` when reading a folder that does
    /// not exist.
    pub guard: Option<SessionGuard<'a>>,
    /// The interrupted transaction that was rolled back, if any.
    pub recovered: Option<Recovered>,
}
