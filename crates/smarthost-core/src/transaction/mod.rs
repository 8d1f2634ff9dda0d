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

/// What the managed items looked like when a plan was made: each item's
/// name (a path, a registry value, an API object) with a fingerprint of its
/// content or absence. A backend stores it in the [`Plan`](crate::Plan) and
/// refuses to apply the plan when the items read under the lock differ,
/// even when the item that changed is not one the plan replaces.
///
/// Fingerprints are valid within one build of smarthost (they are not
/// meant to be stored across upgrades).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Basis(Vec<(String, Option<u64>)>);

impl Basis {
    /// An empty basis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one managed item and its content, `None` when it does not exist.
    pub fn add(&mut self, name: impl std::fmt::Display, content: Option<&[u8]>) {
        self.0.push((name.to_string(), content.map(fingerprint)));
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

/// A 64-bit fingerprint of a content, four words at a time.
///
/// Not a defence against chosen collisions (whoever could write a managed
/// file could change it outright): it tells whether a file changed between
/// a plan and its apply. Every step is a bijection of the state for a given
/// word and of the word for a given state, so two contents of the same
/// length that differ in a single 8-byte word never collide. Four
/// independent lanes keep the processor busy: SipHash (`DefaultHasher`) of
/// a 250 KB main.cf, twice per run, was 4 % of a `server set`'s CPU.
fn fingerprint(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    let mut lanes = [1, 2, 3, 4].map(|i: u64| i.wrapping_mul(K));
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, chunk) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = step(*lane, word(chunk));
        }
    }
    let mut h = step(0, bytes.len() as u64);
    for lane in lanes {
        h = step(h, lane);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for chunk in &mut words {
        h = step(h, word(chunk));
    }
    for &b in words.remainder() {
        h = step(h, u64::from(b));
    }
    // Spread the last steps' bits over the whole word (murmur3's finalizer).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_any_byte_or_of_the_length_changes_the_fingerprint() {
        let text: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let original = fingerprint(&text);
        for at in 0..text.len() {
            let mut changed = text.clone();
            changed[at] ^= 0x20;
            assert_ne!(fingerprint(&changed), original, "byte {at}");
        }
        for len in 0..text.len() {
            assert_ne!(fingerprint(&text[..len]), original, "length {len}");
        }
    }

    #[test]
    fn a_missing_item_is_not_an_empty_one() {
        let (mut missing, mut empty) = (Basis::new(), Basis::new());
        missing.add("main.cf", None);
        empty.add("main.cf", Some(b""));
        assert_eq!(missing.first_difference(&empty), Some("main.cf"));
        assert_eq!(missing.first_difference(&missing.clone()), None);
    }
}
