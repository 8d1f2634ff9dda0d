//! Staging files next to their targets, committing them with backups and a
//! journal, and finishing or rolling the commit back.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::journal::{self, Entry, Journal};
use super::lock::Lock;
use super::safe_fs::{self, io};

/// Suffix of the second name that keeps a replaced file's previous content
/// (one generation).
pub const BACKUP_SUFFIX: &str = ".smarthost-backup";

/// Prefix of the private folders (mode 0700) that staged files are written
/// into, one per target folder.
pub const STAGE_PREFIX: &str = ".smarthost-tmp.";

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[derive(Debug)]
enum Action {
    /// Replace (or create) the target with this staged file.
    Replace(PathBuf),
    /// Remove the target.
    Remove,
}

#[derive(Debug)]
struct Planned {
    target: PathBuf,
    action: Action,
    /// Whether the file holds secrets: its previous content is tightened to
    /// 0600 before it is kept as a backup.
    secret: bool,
}

/// A set of file replacements and removals that become visible together:
/// stage them, then [`commit`](Transaction::commit). Dropping a transaction
/// that was not committed removes what it staged and changes nothing.
#[derive(Debug)]
pub struct Transaction<'l> {
    _lock: &'l Lock,
    journal: PathBuf,
    /// Target folder -> its private staging folder.
    stages: BTreeMap<PathBuf, PathBuf>,
    planned: Vec<Planned>,
}

impl<'l> Transaction<'l> {
    /// A transaction whose journal is `journal_path`; it needs the lock.
    pub fn new(lock: &'l Lock, journal_path: &Path) -> Self {
        Transaction {
            _lock: lock,
            journal: journal_path.to_owned(),
            stages: BTreeMap::new(),
            planned: Vec::new(),
        }
    }

    /// The private staging folder for files of `dir`, created on first use.
    fn stage_dir(&mut self, dir: &Path) -> Result<PathBuf> {
        if let Some(stage) = self.stages.get(dir) {
            return Ok(stage.clone());
        }
        let stage = tempfile::Builder::new()
            .prefix(STAGE_PREFIX)
            .tempdir_in(dir)
            .map_err(|e| io(dir, e))?
            .keep();
        self.stages.insert(dir.to_owned(), stage.clone());
        Ok(stage)
    }

    fn parent(target: &Path) -> Result<&Path> {
        target.parent().ok_or_else(|| Error::UnsafePath {
            path: target.to_owned(),
            reason: "has no parent folder".into(),
        })
    }

    /// Where the staged copy of `target` is (or will be) written: a tool
    /// that makes the file itself (a table compiler) writes it there, then
    /// [`adopt`](Transaction::adopt) takes it in. The target's folder must
    /// exist.
    pub fn staged_path(&mut self, target: &Path) -> Result<PathBuf> {
        let dir = Self::parent(target)?;
        let name = target.file_name().ok_or_else(|| Error::UnsafePath {
            path: target.to_owned(),
            reason: "has no file name".into(),
        })?;
        Ok(self.stage_dir(dir)?.join(name))
    }

    fn push(&mut self, target: &Path, action: Action, secret: bool) -> Result<()> {
        safe_fs::check_file(target)?;
        safe_fs::check_file(&with_suffix(target, BACKUP_SUFFIX))?;
        self.planned.retain(|p| p.target != target);
        self.planned.push(Planned {
            target: target.to_owned(),
            action,
            secret,
        });
        Ok(())
    }

    /// Stages `bytes` as the new content of `target`, created with `mode`
    /// before the first byte and fsynced. `secret`: the file holds secrets.
    pub fn write(&mut self, target: &Path, bytes: &[u8], mode: u32, secret: bool) -> Result<()> {
        safe_fs::check_file(target)?;
        let staged = self.staged_path(target)?;
        let mut file = safe_fs::create_new(&staged, mode)?;
        file.write_all(bytes).map_err(|e| io(target, e))?;
        file.sync_all().map_err(|e| io(target, e))?;
        self.push(target, Action::Replace(staged), secret)
    }

    /// Takes in a file a tool wrote at [`staged_path`](Transaction::staged_path)`(target)`:
    /// sets its mode and fsyncs it. A symbolic link or non-file there is
    /// refused.
    pub fn adopt(&mut self, target: &Path, mode: u32, secret: bool) -> Result<()> {
        let staged = self.staged_path(target)?;
        let file = safe_fs::open_regular(&staged)?.ok_or_else(|| {
            io(
                &staged,
                std::io::Error::new(std::io::ErrorKind::NotFound, "the staged file was not made"),
            )
        })?;
        safe_fs::set_mode(&file, &staged, mode)?;
        file.sync_all().map_err(|e| io(&staged, e))?;
        self.push(target, Action::Replace(staged), secret)
    }

    /// Removes `target` (if it exists) when the transaction commits.
    pub fn remove(&mut self, target: &Path, secret: bool) -> Result<()> {
        self.push(target, Action::Remove, secret)
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty()
    }

    /// Makes every staged change visible: keeps each existing target under
    /// a second name (`<file>.smarthost-backup`, replacing the previous
    /// generation), writes the journal, renames the staged files into place
    /// and fsyncs the folders. If a step fails, the files are put back and
    /// the error says whether that worked. `after_rollback` is recorded for
    /// a later recovery (e.g. a reload of the service).
    ///
    /// The journal stays until [`Committed::finish`]: a crash before then
    /// is rolled back by the next run.
    pub fn commit(mut self, after_rollback: Vec<Vec<String>>) -> Result<Committed> {
        // 1. Backups: the previous inode gets a second name. Secrets are
        //    tightened first, so no backup of a secret is readable by others.
        let mut entries = Vec::with_capacity(self.planned.len());
        let mut dirs = BTreeSet::new();
        // The folders where a backup was made or an old one removed.
        let mut backed_up = BTreeSet::new();
        for p in &self.planned {
            let exists = safe_fs::check_file(&p.target)?;
            let backup = with_suffix(&p.target, BACKUP_SUFFIX);
            safe_fs::check_file(&backup)?;
            let parent = Self::parent(&p.target)?;
            match std::fs::remove_file(&backup) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&backup, e)),
                Err(_) => {}
                Ok(()) => {
                    backed_up.insert(parent.to_owned());
                }
            }
            if exists {
                if p.secret {
                    tighten(&p.target)?;
                }
                std::fs::hard_link(&p.target, &backup).map_err(|e| io(&backup, e))?;
                backed_up.insert(parent.to_owned());
            }
            dirs.insert(parent.to_owned());
            entries.push(Entry {
                target: p.target.clone(),
                backup: exists.then_some(backup),
            });
        }
        // 2. The journal, durably, before the first replacement. Writing
        //    it fsyncs its own folder before any rename, which makes the
        //    backups made there durable too: only the other folders where
        //    a backup was made (or an old one removed) need their own fsync
        //    first. A folder whose files are all new needs none: the
        //    journal restores nothing there, it removes the new files.
        let journal_dir = Self::parent(&self.journal)?.to_owned();
        for dir in backed_up.iter().filter(|d| **d != journal_dir) {
            safe_fs::sync_dir(dir)?;
        }
        let journal_stage = self.stage_dir(&journal_dir)?;
        let record = Journal::new(entries, after_rollback);
        journal::write(&self.journal, &journal_stage, &record)?;

        // 3. The replacements.
        let result = (|| {
            for p in &self.planned {
                match &p.action {
                    Action::Replace(staged) => std::fs::rename(staged, &p.target).map_err(|e| io(&p.target, e))?,
                    Action::Remove => match std::fs::remove_file(&p.target) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&p.target, e)),
                        _ => {}
                    },
                }
            }
            for dir in &dirs {
                safe_fs::sync_dir(dir)?;
            }
            Ok(())
        })();
        let committed = Committed {
            journal_path: self.journal.clone(),
            journal: record,
            stages: std::mem::take(&mut self.stages).into_values().collect(),
            removed: self
                .planned
                .iter()
                .filter(|p| matches!(p.action, Action::Remove))
                .map(|p| p.target.clone())
                .collect(),
        };
        match result {
            Ok(()) => Ok(committed),
            Err(cause) => Err(committed.rollback().err().unwrap_or(cause)),
        }
    }
}

/// Makes an existing file 0600 (never wider than it was).
fn tighten(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if safe_fs::mode_of(path).is_some_and(|m| m & 0o077 != 0) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| io(path, e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        for stage in self.stages.values() {
            let _ = std::fs::remove_dir_all(stage);
        }
    }
}

/// A transaction whose files are in place but not yet confirmed: validate
/// and reload, then [`finish`](Committed::finish) it, or
/// [`rollback`](Committed::rollback). Dropped without either (a panic), it
/// stays in the journal and the next run rolls it back.
#[derive(Debug)]
#[must_use = "a committed transaction must be finished or rolled back"]
pub struct Committed {
    journal_path: PathBuf,
    journal: Journal,
    stages: Vec<PathBuf>,
    removed: Vec<PathBuf>,
}

impl Committed {
    /// Confirms the transaction: removes the journal (from here on a crash
    /// keeps the new files), then the staging folders, and the backups of
    /// removed files (a removed secrets table leaves no copy behind).
    /// Returns the backups kept, one per replaced file.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        journal::remove(&self.journal_path)?;
        for stage in &self.stages {
            let _ = std::fs::remove_dir_all(stage);
        }
        let mut kept = Vec::new();
        // The replacements were made durable by the commit and the journal's
        // removal by `journal::remove`: only a folder where the backup of a
        // removed file (a secrets table) went needs one more fsync, so that
        // no copy of it comes back after a crash.
        let mut emptied = BTreeSet::new();
        for entry in &self.journal.entries {
            let Some(backup) = &entry.backup else { continue };
            if self.removed.contains(&entry.target) {
                match std::fs::remove_file(backup) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(backup, e)),
                    _ => {}
                }
                emptied.insert(Transaction::parent(backup)?.to_owned());
            } else {
                kept.push(backup.clone());
            }
        }
        for dir in &emptied {
            safe_fs::sync_dir(dir)?;
        }
        Ok(kept)
    }

    /// Puts every file back as it was before the commit (by renaming the
    /// backups: no free space needed), continuing past errors, and removes
    /// the journal once all are back. The error lists exactly the files
    /// that could not be restored.
    pub fn rollback(self) -> Result<()> {
        let failed = self.journal.restore();
        for stage in &self.stages {
            let _ = std::fs::remove_dir_all(stage);
        }
        if !failed.is_empty() {
            return Err(Error::RestoreIncomplete {
                journal: self.journal_path,
                failed,
            });
        }
        journal::remove(&self.journal_path)
    }

    /// The commands recorded for a rollback.
    pub fn after_rollback(&self) -> &[Vec<String>] {
        &self.journal.after_rollback
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::super::{recover, Lock, JOURNAL_FILE, LOCK_FILE};
    use super::*;
    use std::time::Duration;

    fn setup() -> (tempfile::TempDir, Lock, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::acquire(&dir.path().join(LOCK_FILE), Duration::ZERO).unwrap();
        let journal = dir.path().join(JOURNAL_FILE);
        (dir, lock, journal)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_finish_replaces_creates_removes_and_keeps_one_backup() {
        let (dir, lock, journal) = setup();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&c, "old c").unwrap();
        let mut tx = Transaction::new(&lock, &journal);
        tx.write(&a, b"new a", 0o644, false).unwrap();
        tx.write(&b, b"new b", 0o600, true).unwrap();
        tx.remove(&c, true).unwrap();
        let kept = tx.commit(vec![]).unwrap().finish().unwrap();
        assert_eq!(kept, vec![with_suffix(&a, BACKUP_SUFFIX)]);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(safe_fs::mode_of(&b), Some(0o600));
        assert!(!c.exists());
        assert_eq!(
            std::fs::read_to_string(with_suffix(&a, BACKUP_SUFFIX)).unwrap(),
            "old a"
        );
        assert_eq!(names(dir.path()), [LOCK_FILE, "a", "a.smarthost-backup", "b"]);
    }

    #[test]
    fn rollback_and_recovery_restore_the_previous_files() {
        let (dir, lock, journal) = setup();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "old a").unwrap();
        let mut tx = Transaction::new(&lock, &journal);
        tx.write(&a, b"new a", 0o644, false).unwrap();
        tx.write(&b, b"new b", 0o644, false).unwrap();
        let committed = tx.commit(vec![vec!["reload".into()]]).unwrap();
        assert!(journal.exists());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        committed.rollback().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert!(!b.exists() && !journal.exists());

        // A commit left unfinished (a crash) is rolled back by recover.
        let mut tx = Transaction::new(&lock, &journal);
        tx.write(&a, b"newer a", 0o644, false).unwrap();
        std::mem::forget(tx.commit(vec![vec!["reload".into()]]).unwrap());
        let recovered = recover(&lock, &journal, &[dir.path()]).unwrap().unwrap();
        assert_eq!(recovered.restored, vec![a.clone()]);
        assert_eq!(recovered.after_rollback, vec![vec!["reload".to_owned()]]);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(names(dir.path()), [LOCK_FILE, "a"], "staging folders are swept");
        assert_eq!(recover(&lock, &journal, &[dir.path()]).unwrap(), None);
    }

    #[test]
    fn an_uncommitted_transaction_changes_nothing() {
        let (dir, lock, journal) = setup();
        let a = dir.path().join("a");
        let mut tx = Transaction::new(&lock, &journal);
        tx.write(&a, b"new", 0o600, true).unwrap();
        drop(tx);
        assert_eq!(names(dir.path()), [LOCK_FILE]);
    }

    #[test]
    fn secrets_are_tightened_before_they_are_kept() {
        let (dir, lock, journal) = setup();
        let s = dir.path().join("secrets");
        std::fs::write(&s, "old").unwrap();
        std::fs::set_permissions(&s, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let mut tx = Transaction::new(&lock, &journal);
        tx.write(&s, b"new", 0o600, true).unwrap();
        tx.commit(vec![]).unwrap().finish().unwrap();
        assert_eq!(safe_fs::mode_of(&with_suffix(&s, BACKUP_SUFFIX)), Some(0o600));
        assert_eq!(safe_fs::mode_of(&s), Some(0o600));
    }

    #[test]
    fn a_symlink_at_a_target_or_backup_is_refused() {
        let (dir, lock, journal) = setup();
        let outside = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::os::unix::fs::symlink(outside.path().join("x"), &a).unwrap();
        let mut tx = Transaction::new(&lock, &journal);
        let err = tx.write(&a, b"secret", 0o600, true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(outside.path().join("y"), with_suffix(&b, BACKUP_SUFFIX)).unwrap();
        assert!(tx.write(&b, b"secret", 0o600, true).is_err());
        drop(tx);
        assert_eq!(names(outside.path()), Vec::<String>::new());
    }
}
