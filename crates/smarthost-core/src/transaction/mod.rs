//! One transaction mechanism for every backend that writes files: a lock,
//! staged files, hard-link backups, a durable journal, and recovery of an
//! interrupted run by the next one.
//!
//! ```text
//! Lock::acquire ── recover ── read ── plan ── Transaction::write/remove/adopt
//!        │                                         │ (files staged in private folders,
//!        │                                         │  final mode before the first byte)
//!        │                                   commit: backups (hard links) → journal
//!        │                                           → renames → folder fsyncs
//!        │                                         │
//!        │                        validate, reload ─┴─ ok: Committed::finish (journal removed)
//!        │                                           └ fail: Committed::rollback
//!        └── held until here
//! ```
//!
//! A crash at any point leaves either the old files (no journal, or a
//! journal that the next run rolls back) or the new ones (journal removed),
//! never a mix once the next run has recovered. Recovery always rolls BACK:
//! the journal is written before the first replacement and removed only
//! after validation and reload succeeded, so while it exists the new
//! configuration was never confirmed.
//!
//! Rollback needs no free space: every replaced file's previous inode is
//! kept as `<file>.smarthost-backup` (a second name, made before the
//! journal), and restoring is a rename. A restore error on one file does not
//! stop the others; the journal is kept until every file is back.
//!
//! Staged files live in a folder `.smarthost-tmp.<random>` (mode 0700,
//! created with an unpredictable name) next to their target, on the same
//! file system, so the final rename is atomic and no other user can plant
//! a file, a FIFO or a symbolic link where smarthost writes. Files are
//! created with `O_CREAT | O_EXCL | O_NOFOLLOW` and their final mode before
//! any byte is written. Every managed path is checked: a symbolic link, a
//! FIFO, a device or a folder where a file belongs is refused, without
//! opening it for writing and without blocking.

mod journal;
mod lock;
pub mod safe_fs;
mod stage;
mod state_dir;

pub use journal::{recover, Recovered, JOURNAL_FILE};
pub use lock::{Lock, Session, SessionGuard, DEFAULT_LOCK_WAIT, LOCK_FILE};
pub use stage::{Committed, Transaction, BACKUP_SUFFIX, STAGE_PREFIX};
pub use state_dir::{Entered, StateDir};

use std::hash::{Hash, Hasher};

/// What the managed items looked like when a plan was made: each item's
/// name (a path, a registry value, an API object) with a fingerprint of its
/// content or absence. A backend stores it in the [`Plan`](crate::Plan) and
/// refuses to apply the plan when the items read under the lock differ,
/// even when the item that changed is not one the plan replaces.
///
/// Fingerprints are valid within one build of smarthost (they are not
/// meant to be stored across upgrades).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Basis(Vec<(String, u64)>);

impl Basis {
    /// An empty basis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one managed item and its content, `None` when it does not exist.
    pub fn add(&mut self, name: impl std::fmt::Display, content: Option<&[u8]>) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match content {
            Some(bytes) => {
                1u8.hash(&mut hasher);
                bytes.hash(&mut hasher);
            }
            None => 0u8.hash(&mut hasher),
        }
        self.0.push((name.to_string(), hasher.finish()));
    }

    /// The first item of `self` that is different (or missing) in `now`:
    /// `None` when both describe the same state.
    pub fn first_difference(&self, now: &Basis) -> Option<&str> {
        if let Some((name, _)) = self.0.iter().find(|item| !now.0.contains(item)) {
            return Some(name);
        }
        (self.0.len() != now.0.len()).then(|| self.0.first().map_or("the managed configuration", |(n, _)| n))
    }
}
