//! Carries a plan out as one transaction (smarthost-core's
//! [`transaction`](smarthost_core::transaction)): under the lock, check the
//! plan is current, stage every file and compile the tables from the staged
//! copies, commit, validate and reload; roll back when a step fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use smarthost_core::peer_text::Redactor;
use smarthost_core::transaction::{self, Committed, Lock, Transaction};
use smarthost_core::{Applied, Change, Plan};

use crate::error::Error;
use crate::maps;
use crate::plan;
use crate::{Paths, PostfixOptions};

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

/// Runs a command and ignores what it says (a reload after a recovery,
/// when the service may not be running).
pub(crate) fn run_quiet(argv: &[String]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a command; its output, part of the error when it fails, is shown
/// through a [`Redactor`] holding every password of the plan (computed only
/// then: the tables are large): whole-token redaction, escaped control
/// characters, a capped length.
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
        return Ok(command);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let redactor = secrets_of(plan)
        .iter()
        .fold(Redactor::new(), |r, secret| r.with_secret(secret));
    let text = redactor.sanitize_lines(&text);
    let status = output
        .status
        .code()
        .map_or("a signal".to_owned(), |c| format!("status {c}"));
    Err(Error::Command {
        command,
        output: format!("exited with {status}: {}", text.trim()),
    })
}

/// Refuses the plan when any managed file differs from what it was made
/// from, not only the files it changes.
fn check_current(options: &PostfixOptions, paths: &Paths, plan: &Plan) -> Result<(), Error> {
    for file in plan.files() {
        let now = transaction::safe_fs::read_text(file.path())?;
        if now.as_deref() != file.before() {
            return Err(Error::Stale {
                path: file.path().to_owned(),
            });
        }
    }
    if let Some(basis) = &plan.basis {
        let now = plan::basis(options, paths)?;
        if let Some(name) = basis.first_difference(&now) {
            return Err(Error::Stale { path: name.into() });
        }
    }
    Ok(())
}

/// The compiled table next to a table's source, if the map type has one.
fn compiled(options: &PostfixOptions, file: &Path) -> Option<PathBuf> {
    options.map_type.compiled_suffix().map(|suffix| {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Stages every file of the plan, and compiles each changed table from its
/// staged copy into a staged compiled table, so that the text and the
/// compiled tables are replaced together.
fn stage(options: &PostfixOptions, paths: &Paths, plan: &Plan, tx: &mut Transaction<'_>) -> Result<Vec<String>, Error> {
    let mut ran = Vec::new();
    let compile = options.compile_maps && options.map_type.needs_postmap();
    for file in plan.files() {
        paths.ensure_parent(file.path())?;
        let is_table = file.path().parent() == Some(paths.maps.as_path())
            && file.path() != paths.main_cf
            && file.path() != paths.master_cf;
        match file.after() {
            Some(text) => {
                tx.write(file.path(), text.as_bytes(), file.mode(), file.is_sensitive())?;
                if let (true, true, Some(db)) = (compile, is_table, compiled(options, file.path())) {
                    let staged = tx.staged_path(file.path())?;
                    ran.push(run(&options.postmap_command(&staged), plan)?);
                    tx.adopt(&db, file.mode(), file.is_sensitive())?;
                }
            }
            None => {
                tx.remove(file.path(), file.is_sensitive())?;
                if let (true, Some(db)) = (is_table, compiled(options, file.path())) {
                    tx.remove(&db, file.is_sensitive())?;
                }
            }
        }
    }
    Ok(ran)
}

/// The commands that follow the commit: validation and reload (tables were
/// compiled before it).
fn after_commit(plan: &Plan) -> impl Iterator<Item = &[String]> {
    plan.changes.iter().filter_map(|c| match c {
        Change::Command(c) if c.argv.first().map(String::as_str) != Some("postmap") => Some(c.argv.as_slice()),
        _ => None,
    })
}

pub(crate) fn apply(options: &PostfixOptions, paths: &Paths, lock: &Lock, plan: &Plan) -> Result<Applied, Error> {
    check_current(options, paths, plan)?;
    let mut applied = Applied::default();
    if plan.is_empty() {
        return Ok(applied);
    }
    let mut tx = Transaction::new(lock, &paths.journal);
    applied.ran = stage(options, paths, plan, &mut tx).map_err(|cause| Error::NotApplied { cause: Box::new(cause) })?;
    // A crash after the reload is rolled back by the next run, which then
    // reloads again so that Postfix runs with the restored files.
    let committed = tx
        .commit(options.reload_command().into_iter().collect())
        .map_err(|cause| match cause {
            restore @ smarthost_core::Error::RestoreIncomplete { .. } => Error::Policy(restore),
            cause => Error::NotApplied {
                cause: Box::new(cause.into()),
            },
        })?;
    let confirmed = (|| {
        for argv in after_commit(plan) {
            applied.ran.push(run(argv, plan)?);
        }
        Ok(())
    })();
    match confirmed {
        Ok(()) => {
            applied.backups = committed.finish()?;
            applied.changed = true;
            Ok(applied)
        }
        Err(cause) => Err(rollback(committed, cause)),
    }
}

/// Puts the previous files back (text and compiled tables alike, by
/// renaming the backups) and reports the original failure.
fn rollback(committed: Committed, cause: Error) -> Error {
    match committed.rollback() {
        Ok(()) => Error::RolledBack { cause: Box::new(cause) },
        Err(restore) => Error::RollbackFailed {
            cause: Box::new(cause),
            restore: Box::new(restore.into()),
        },
    }
}
