//! The `.reg` file target (`--root DIR`): `DIR/smarthost.reg`, read and
//! written through smarthost-core's [`transaction`]: the lock
//! `DIR/.smarthost.lock` is taken before the file is read, an interrupted
//! apply (journal `DIR/.smarthost-journal`) is rolled back first, and the
//! new file is staged and committed with a backup, never written in place.

use std::path::{Path, PathBuf};

use smarthost_core::transaction::{self, safe_fs, Basis, Lock, Recovered, SessionGuard, StateDir, Transaction};
use smarthost_core::{Applied, Plan, Policy};

use crate::apply;
use crate::error::Error;
use crate::names::Names;
use crate::plan;
use crate::regfile::{self, RegLine};
use crate::registry::{MemoryRegistry, RegData};
use crate::schema;
use crate::REG_FILE;

/// The `.reg` file's mode: it holds the password.
const REG_MODE: u32 = 0o600;

/// A folder that holds `smarthost.reg`.
#[derive(Debug)]
pub(crate) struct Folder {
    dir: PathBuf,
    state_dir: StateDir,
}

impl Folder {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self::waiting(dir, transaction::DEFAULT_LOCK_WAIT)
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same, waiting up to `wait` for another run's lock.
    pub(crate) fn waiting(dir: PathBuf, wait: std::time::Duration) -> Self {
        let state_dir = StateDir::new(dir.clone(), wait);
        Folder { dir, state_dir }
    }

    /// `DIR/smarthost.reg`.
    pub(crate) fn reg_path(&self) -> PathBuf {
        self.dir.join(REG_FILE)
    }

    fn journal(&self) -> PathBuf {
        self.state_dir.journal()
    }

    /// Takes the lock and rolls back an interrupted apply (see
    /// [`StateDir::enter`]).
    pub(crate) fn enter(&self, writing: bool) -> Result<(Option<SessionGuard<'_>>, Option<Recovered>), Error> {
        let entered = self.state_dir.enter(writing, &[])?;
        Ok((entered.guard, entered.recovered))
    }

    /// The file's bytes (`None`: absent), read without following a
    /// symbolic link and without blocking on a FIFO.
    pub(crate) fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(safe_fs::read_bytes(&self.reg_path())?)
    }

    /// The plan for `desired`, under the lock the caller holds (if the
    /// folder exists), with the recovery's message first.
    pub(crate) fn plan(&self, desired: &Policy, names: &Names, recovered: Option<Recovered>) -> Result<Plan, Error> {
        let bytes = self.read()?;
        let reg = parse(&self.reg_path(), bytes.as_deref())?;
        let mut plan = plan::plan(&reg, desired, names, &[])?;
        if !names.learned && !plan.is_empty() {
            plan.warnings.push(format!(
                "the value names in {} are smarthost's built-in guesses, which no public MailEnable source confirms: before importing it, run `smarthost mailenable learn` on the server (see docs/backends/mailenable.md)",
                self.reg_path().display()
            ));
        }
        plan.basis = Some(self.basis(bytes.as_deref()));
        if let (Some(mode), Some(_)) = (self.loose_mode(), &bytes) {
            plan.warnings.push(format!(
                "{} has mode {mode:04o}; it may hold a password and is rewritten with mode 0600",
                self.reg_path().display()
            ));
        }
        if let Some(r) = recovered {
            plan.warnings.insert(0, r.message());
        }
        Ok(plan)
    }

    /// The file's mode when others may read it (it holds the password and
    /// must be 0600); `None` when it is private or absent.
    pub(crate) fn loose_mode(&self) -> Option<u32> {
        safe_fs::mode_of(&self.reg_path()).filter(|m| m & 0o077 != 0)
    }

    /// What a plan made from these bytes of the file is based on.
    pub(crate) fn basis(&self, bytes: Option<&[u8]>) -> Basis {
        let mut basis = Basis::new();
        basis.add(self.reg_path().display(), bytes);
        basis
    }

    /// Applies `plan` to the file, under `lock`: refuses a stale plan,
    /// then stages the new file (0600) and commits it.
    pub(crate) fn apply(&self, lock: &Lock, plan: &Plan, names: &Names) -> Result<Applied, Error> {
        let path = self.reg_path();
        let bytes = self.read()?;
        if let Some(basis) = &plan.basis {
            if basis.first_difference(&self.basis(bytes.as_deref())).is_some() {
                return Err(Error::Stale {
                    what: path.display().to_string(),
                });
            }
        }
        let mut reg = parse(&path, bytes.as_deref())?;
        let had_password = holds_password(&reg, names);
        let mut applied = apply::apply(&mut reg, plan, names, false)?;
        // A file readable by others is rewritten 0600 even when its values
        // are already right (its content is kept as it is).
        let loose = self.loose_mode();
        if !applied.changed && loose.is_none() {
            return Ok(applied);
        }
        let not_applied = |cause: smarthost_core::Error| Error::NotApplied {
            path: path.clone(),
            cause: Box::new(cause.into()),
        };
        let new = match (applied.changed, bytes) {
            (false, Some(bytes)) => bytes,
            _ => render(&reg, names)?,
        };
        applied.changed = true;
        let mut tx = Transaction::new(lock, &self.journal());
        tx.write(&path, &new, REG_MODE, true).map_err(not_applied)?;
        let committed = tx.commit(Vec::new()).map_err(|cause| match cause {
            restore @ smarthost_core::Error::RestoreIncomplete { .. } => Error::Policy(restore),
            cause => not_applied(cause),
        })?;
        let backups = committed.finish()?;
        if !had_password || holds_password(&reg, names) {
            applied.backups = backups;
        } else {
            // The previous file holds the password that was just removed:
            // with no password left in the file, no copy of it stays.
            for backup in backups {
                std::fs::remove_file(&backup).map_err(|source| Error::Io { path: backup, source })?;
            }
            safe_fs::sync_dir(&self.dir)?;
        }
        applied.ran.push(format!("wrote {}", path.display()));
        Ok(applied)
    }
}

/// Whether any password value is set.
fn holds_password(reg: &MemoryRegistry, names: &Names) -> bool {
    reg.keys().any(|(_, values)| {
        (values.iter()).any(|(name, data)| names.is_password(name) && matches!(data, RegData::Sz(s) if !s.is_empty()))
    })
}

/// A `.reg` file's registry from its bytes; an absent file is an empty
/// registry.
pub(crate) fn parse(path: &Path, bytes: Option<&[u8]>) -> Result<MemoryRegistry, Error> {
    let Some(bytes) = bytes else {
        return Ok(MemoryRegistry::new());
    };
    let text = regfile::decode(bytes).ok_or_else(|| Error::RegFile {
        path: path.display().to_string(),
        line: 1,
        reason: "neither UTF-16LE with a BOM nor UTF-8".into(),
    })?;
    regfile::parse(&path.display().to_string(), &text)
}

/// A `.reg` file's registry (a regedit export, or a file this backend
/// wrote), read safely; an absent file is an empty registry.
pub(crate) fn load(path: &Path) -> Result<MemoryRegistry, Error> {
    parse(path, safe_fs::read_bytes(path)?.as_deref())
}

/// The bytes of a `.reg` file with every key of `reg`. Values smarthost
/// manages but that are absent are written as deletions, so that importing
/// the file onto a live registry (`regedit /S`) also removes what a disable
/// removed. Names that were not learned are listed in a comment at the top.
pub(crate) fn render(reg: &MemoryRegistry, names: &Names) -> Result<Vec<u8>, Error> {
    let managed = |key: &str| -> Vec<&String> {
        if key.eq_ignore_ascii_case(schema::SMTP_KEY) {
            return names.server.values().collect();
        }
        match &names.domains {
            Some(d) if key.to_lowercase().starts_with(&format!("{}\\", d.key.to_lowercase())) => {
                d.values.values().collect()
            }
            _ => Vec::new(),
        }
    };
    let sections: Vec<(String, Vec<RegLine>)> = reg
        .keys()
        .map(|(key, values)| {
            let mut lines: Vec<RegLine> = values.iter().map(|(n, d)| RegLine::Set(n.clone(), d.clone())).collect();
            lines.extend(
                managed(key)
                    .into_iter()
                    .filter(|n| !values.contains_key(*n))
                    .map(|n| RegLine::Delete(n.clone())),
            );
            (key.to_owned(), lines)
        })
        .filter(|(_, lines)| !lines.is_empty())
        .collect();
    let mut text = regfile::render(&sections)?;
    if !names.learned {
        let mut note = String::from(
            "; UNCONFIRMED: these value names are smarthost's built-in guesses, which no\r\n; public MailEnable source confirms. Run `smarthost mailenable learn` on the\r\n; server before importing this file. Names:",
        );
        for name in names.server.values() {
            note.push_str(&format!("\r\n;   {name}"));
        }
        note.push_str("\r\n");
        let header_end = regfile::HEADER.len() + 2;
        text.insert_str(header_end, &note);
    }
    Ok(regfile::encode(&text))
}
