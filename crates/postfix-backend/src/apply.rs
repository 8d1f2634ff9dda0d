//! Carries a plan out as one transaction (smarthost-core's
//! [`transaction`](smarthost_core::transaction)): under the lock, check the
//! plan is current, stage every file and compile the tables from the staged
//! copies, commit, validate and reload; roll back when a step fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use smarthost_core::peer_text::Redactor;
use smarthost_core::transaction::{self, Committed, Lock, Transaction};
use smarthost_core::{Applied, Change, Plan};

use crate::compiled::{own_table, stale_compiled};
use crate::error::Error;
use crate::incremental;
use crate::maps;
use crate::plan;
use crate::prereq;
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
    run_with_input(argv, None, plan)
}

/// [`run`], with `input` written to the command's stdin and then closed
/// (without input, stdin is empty).
fn run_with_input(argv: &[String], input: Option<&str>, plan: &Plan) -> Result<String, Error> {
    let command = argv.join(" ");
    let (program, args) = argv.split_first().ok_or_else(|| Error::Command {
        command: command.clone(),
        output: "empty command".into(),
    })?;
    let failed = |e: std::io::Error| Error::Command {
        command: command.clone(),
        output: e.to_string(),
    };
    let output = match input {
        None => Command::new(program).args(args).output().map_err(failed)?,
        Some(input) => {
            let mut child = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(failed)?;
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // Written on its own thread: the child may fill its output
            // pipes before it has read all of its input.
            let writer = std::thread::spawn({
                let input = input.to_owned();
                move || stdin.write_all(input.as_bytes())
            });
            let output = child.wait_with_output().map_err(failed)?;
            let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // A child that exits early closes the pipe: its status says why.
            if output.status.success() {
                written.map_err(failed)?;
            }
            output
        }
    };
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
/// from, not only the files it changes. Every managed file is read once.
fn check_current(paths: &Paths, plan: &Plan) -> Result<(), Error> {
    let now = plan::Snapshot::read(paths)?;
    for file in plan.files() {
        let current = match now.get(file.path()) {
            Ok(text) => text == file.before(),
            Err(()) => transaction::safe_fs::read_text(file.path())?.as_deref() == file.before(),
        };
        if !current {
            return Err(Error::Stale {
                path: file.path().to_owned(),
            });
        }
    }
    if let Some(basis) = &plan.basis {
        if let Some(name) = basis.first_difference(&now.basis()) {
            return Err(Error::Stale { path: name.into() });
        }
    }
    Ok(())
}

/// Whether the configuration after `plan` has credentials: the secrets
/// tables (the senders' and the nexthops') as the plan leaves them.
fn relays_need_auth(paths: &Paths, plan: &Plan) -> Result<bool, Error> {
    for table in [crate::schema::SECRETS_MAP, crate::schema::NEXTHOP_SECRETS_MAP] {
        let secrets = paths.table(table);
        let after = match plan.files().find(|f| f.path() == secrets) {
            Some(file) => file.after().is_some(),
            None => transaction::safe_fs::check_file(&secrets)?,
        };
        if after {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One compiled table to make from a staged text table.
struct Compile {
    /// The compiled table (`relay_secrets.db`), its final path.
    target: PathBuf,
    mode: u32,
    sensitive: bool,
    /// Its staged copy, where postmap writes.
    staged: PathBuf,
    /// `postmap` of the whole staged text table.
    full: Vec<String>,
    /// The commands (each with its stdin) that update a staged copy of
    /// the current compiled table (copied first from `.0`) in place, when
    /// few keys changed.
    incremental: Option<(PathBuf, Vec<WithInput>)>,
}

/// A command line and what it reads on stdin.
type WithInput = (Vec<String>, String);

impl Compile {
    /// Makes the staged compiled table: in place when planned so (a
    /// failure there falls back to the full build, from the staged text
    /// table alone), else in full. Returns what ran.
    fn run(&self, plan: &Plan) -> Result<Vec<String>, Error> {
        let mut ran = Vec::new();
        if let Some((current, commands)) = &self.incremental {
            copy_compiled(current, &self.staged, self.mode)?;
            let updated = commands.iter().try_for_each(|(argv, input)| {
                ran.push(format!(
                    "{} ({} line(s) on stdin)",
                    argv.join(" "),
                    input.lines().count()
                ));
                run_with_input(argv, Some(input), plan).map(drop)
            });
            if updated.is_ok() {
                return Ok(ran);
            }
            ran.push("the update in place failed: compiled in full".to_owned());
            let _ = std::fs::remove_file(&self.staged);
        }
        ran.push(run(&self.full, plan)?);
        Ok(ran)
    }
}

/// Copies the current compiled table to `staged`, created with `mode`
/// before its first byte (the transaction fsyncs it when it adopts it).
fn copy_compiled(current: &Path, staged: &Path, mode: u32) -> Result<(), Error> {
    let mut from = transaction::safe_fs::open_regular(current)?.ok_or_else(|| {
        Error::io(
            current,
            std::io::Error::new(std::io::ErrorKind::NotFound, "the compiled table is gone"),
        )
    })?;
    let mut to = transaction::safe_fs::create_new(staged, mode)?;
    std::io::copy(&mut from, &mut to).map_err(|e| Error::io(staged, e))?;
    Ok(())
}

/// Stages every file of the plan, and compiles each changed table from its
/// staged copy into a staged compiled table (in place on a staged copy of
/// the current one when few keys changed, see [`crate::incremental`]), so
/// that the text and the compiled tables are replaced together. Compiled
/// tables of a map type main.cf no longer names are removed.
///
/// Each table is compiled on its own thread (postmap is a process per
/// table; the tables are independent), started as soon as its text is
/// staged, so that copying and updating one compiled table overlaps with
/// writing and fsyncing the next text. What ran is returned in the order
/// of the plan.
fn stage(options: &PostfixOptions, paths: &Paths, plan: &Plan, tx: &mut Transaction<'_>) -> Result<Vec<String>, Error> {
    let compile = options.compile_maps && options.map_type.needs_postmap();
    for stale in stale_compiled(options, paths, plan) {
        tx.remove(&stale.path, stale.sensitive)?;
    }
    let (compiled, results) = std::thread::scope(|scope| {
        let mut running = Vec::new();
        let staged = stage_files(options, paths, plan, tx, compile, |job| {
            let target = (job.target.clone(), job.mode, job.sensitive);
            running.push((target, scope.spawn(move || job.run(plan))));
        });
        // Every started compilation is waited for, also when staging failed.
        let results: Vec<_> = running
            .into_iter()
            .map(|(target, h)| {
                (
                    target,
                    h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                )
            })
            .collect();
        (staged, results)
    });
    compiled?;
    let mut ran = Vec::new();
    let mut targets = Vec::new();
    for (target, result) in results {
        ran.extend(result?);
        targets.push(target);
    }
    for (target, mode, sensitive) in targets {
        tx.adopt(&target, mode, sensitive)?;
    }
    Ok(ran)
}

/// Writes (or removes) each file of the plan in the transaction, and hands
/// each changed table's compilation to `start`.
fn stage_files(
    options: &PostfixOptions,
    paths: &Paths,
    plan: &Plan,
    tx: &mut Transaction<'_>,
    compile: bool,
    mut start: impl FnMut(Compile),
) -> Result<(), Error> {
    for file in plan.files() {
        paths.ensure_parent(file.path())?;
        let is_table = own_table(paths, file.path()).is_some();
        match file.after() {
            Some(text) => {
                tx.write(file.path(), text.as_bytes(), file.mode(), file.is_sensitive())?;
                if file.path() == paths.main_cf {
                    cool(&tx.staged_path(file.path())?)?;
                }
                if let (true, true, Some(db)) = (compile, is_table, options.map_type.compiled_path(file.path())) {
                    let staged_text = tx.staged_path(file.path())?;
                    let staged = tx.staged_path(&db)?;
                    let incremental = incremental::plan(options, file.path(), file.before(), text)
                        .map(|changes| (db.clone(), incremental::commands(options, &staged_text, &changes)));
                    start(Compile {
                        target: db,
                        mode: file.mode(),
                        sensitive: file.is_sensitive(),
                        staged,
                        full: options.postmap_command(&staged_text),
                        incremental,
                    });
                }
            }
            None => {
                tx.remove(file.path(), file.is_sensitive())?;
                if let (true, Some(db)) = (is_table, options.map_type.compiled_path(file.path())) {
                    tx.remove(&db, file.is_sensitive())?;
                }
            }
        }
    }
    Ok(())
}

/// How far in the past a new main.cf's modification time is set.
const COOLED: Duration = Duration::from_secs(2);

/// Dates a staged main.cf [`COOLED`] back. Postfix lets a main.cf that
/// changed within the last second "cool down" before it trusts what it
/// read (util/dict.c, `dict_load_file_xt`: read again every 300 ms while
/// `st_mtime >= now - 1`), so `postfix check`, `postconf` and `postfix
/// reload` right after a commit waited 1.5 to 2.3 s here. The guard is for
/// a file edited in place; this one is complete before it is renamed into
/// place whole, so there is nothing to wait for.
fn cool(staged: &Path) -> Result<(), Error> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(staged)
        .map_err(|e| Error::io(staged, e))?;
    let past = SystemTime::now().checked_sub(COOLED).unwrap_or(SystemTime::UNIX_EPOCH);
    file.set_modified(past).map_err(|e| Error::io(staged, e))
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
    check_current(paths, plan)?;
    let mut applied = Applied::default();
    if plan.is_empty() {
        return Ok(applied);
    }
    if options.prerequisites && relays_need_auth(paths, plan)? {
        if let Some(reason) = prereq::missing_sasl(&paths.root) {
            return Err(Error::Prerequisite { reason });
        }
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
            if options.is_postfix_reload(argv) {
                applied.ran.push(reload_postfix(options, argv, plan)?);
            } else {
                applied.ran.push(run(argv, plan)?);
            }
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

/// `postfix reload`, skipped when the instance is not running (by the
/// time of the reload, or of its failure): the new files are in place and
/// checked, and Postfix reads them when it starts. What `Applied::ran`
/// records says which. `postfix status` is asked only when the plan found
/// Postfix stopped (it may have started since) or the reload failed: the
/// plan already asked once.
fn reload_postfix(options: &PostfixOptions, argv: &[String], plan: &Plan) -> Result<String, Error> {
    let skipped = || {
        format!(
            "{}: skipped, Postfix is not running (`{}` failed); it loads the new configuration when it starts",
            argv.join(" "),
            options.postfix_command("status").join(" ")
        )
    };
    let stopped_when_planned = plan.notes.contains(&plan::not_running_note(options));
    if stopped_when_planned && !options.is_running() {
        return Ok(skipped());
    }
    match run(argv, plan) {
        Err(_) if !options.is_running() => Ok(skipped()),
        result => result,
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
