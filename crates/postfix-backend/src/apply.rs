//! Carries a plan out: lock, check the plan is current, back up, write
//! atomically, compile tables, validate, reload; restore on failure.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use smarthost_core::{Applied, Change, FileChange, Plan, REDACTED};

use crate::error::Error;
use crate::maps;
use crate::read::read_optional;
use crate::PostfixOptions;

/// Suffix of the copy kept of every file before it is replaced.
pub(crate) const BACKUP_SUFFIX: &str = ".smarthost-backup";

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `text` to `path` through a temporary file in the same folder:
/// write, set the mode, fsync, rename, fsync the folder. Readers see the old
/// or the new file, never a mix.
pub(crate) fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = with_suffix(path, ".smarthost-tmp");
    #[cfg(not(unix))]
    let _ = mode; // permissions are the folder's ACL there
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Created with the final mode: a secret is never readable by others.
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Keeps the current file as `<file>.smarthost-backup`: a second name for
/// the same inode, which the atomic rename then leaves alone, so a backup of
/// a large table costs no copy. Where hard links are not possible, a copy
/// with mode 0600.
fn backup(path: &Path, content: &str) -> Result<PathBuf, Error> {
    let backup = with_suffix(path, BACKUP_SUFFIX);
    remove(&backup)?;
    if std::fs::hard_link(path, &backup).is_err() {
        write_atomic(&backup, content, 0o600)?;
    }
    Ok(backup)
}

/// Puts a file in the state `content` (`None`: absent).
fn put(file: &FileChange, content: Option<&str>, options: &PostfixOptions) -> Result<(), Error> {
    match content {
        Some(text) => write_atomic(file.path(), text, file.mode()),
        None => {
            remove(file.path())?;
            match options.map_type.compiled_suffix() {
                Some(suffix) => remove(&with_suffix(file.path(), suffix)),
                None => Ok(()),
            }
        }
    }
}

/// The passwords in the plan's secret files, to keep them out of command
/// output that is shown in errors.
fn secrets_of(plan: &Plan) -> Vec<String> {
    plan.files()
        .filter(|f| f.is_sensitive())
        .flat_map(|f| [f.before(), f.after()])
        .flatten()
        .flat_map(|text| maps::parse(text).into_values())
        .filter_map(|v| v.split_once(':').map(|(_, p)| p.to_owned()))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Runs a command; its output, part of the error when it fails, has every
/// password of the plan replaced (computed only then: the tables are large).
fn run(argv: &[String], plan: &Plan) -> Result<String, Error> {
    let command = argv.join(" ");
    let (program, args) = argv.split_first().ok_or_else(|| Error::Command {
        command: command.clone(),
        output: "empty command".into(),
    })?;
    let output = Command::new(program).args(args).output().map_err(|e| Error::Command {
        command: command.clone(),
        output: e.to_string(),
    })?;
    if output.status.success() {
        Ok(command)
    } else {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        for secret in secrets_of(plan) {
            text = text.replace(secret.as_str(), REDACTED);
        }
        let text = text.trim();
        let status = output
            .status
            .code()
            .map_or("a signal".to_owned(), |c| format!("status {c}"));
        Err(Error::Command {
            command,
            output: format!("exited with {status}: {text}"),
        })
    }
}

/// Holds the lock for the duration of an apply.
struct Lock(#[allow(dead_code)] File);

fn lock(options: &PostfixOptions) -> Result<Lock, Error> {
    let dir = options.on_disk(&options.config_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(".smarthost.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

pub(crate) fn apply(options: &PostfixOptions, plan: &Plan) -> Result<Applied, Error> {
    let _lock = lock(options)?;
    for file in plan.files() {
        if read_optional(file.path())?.as_deref() != file.before() {
            return Err(Error::Stale {
                path: file.path().to_owned(),
            });
        }
    }
    let mut applied = Applied::default();
    if plan.is_empty() {
        return Ok(applied);
    }
    // Backups first, so a manual rollback is possible whatever happens next.
    for file in plan.files() {
        if let Some(before) = file.before() {
            applied.backups.push(backup(file.path(), before)?);
        }
    }
    let mut written = Vec::new();
    let result = (|| {
        for file in plan.files() {
            written.push(file);
            put(file, file.after(), options)?;
        }
        for change in &plan.changes {
            if let Change::Command(c) = change {
                applied.ran.push(run(&c.argv, plan)?);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            applied.changed = true;
            Ok(applied)
        }
        Err(cause) => Err(rollback(options, &written, cause, plan)),
    }
}

/// Puts every written file back as it was, recompiles the tables that were
/// compiled, and reports the original failure.
fn rollback(options: &PostfixOptions, written: &[&FileChange], cause: Error, plan: &Plan) -> Error {
    let restore = || -> Result<(), Error> {
        for file in written.iter().rev() {
            put(file, file.before(), options)?;
        }
        if options.compile_maps && options.map_type.needs_postmap() {
            let map_dir = options.on_disk(&options.map_dir);
            for file in written
                .iter()
                .filter(|f| f.path().starts_with(&map_dir) && f.before().is_some())
            {
                run(&options.postmap_command(file.path()), plan)?;
            }
        }
        Ok(())
    };
    match restore() {
        Ok(()) => Error::RolledBack { cause: Box::new(cause) },
        Err(restore) => Error::RollbackFailed {
            cause: Box::new(cause),
            restore: Box::new(restore),
        },
    }
}
