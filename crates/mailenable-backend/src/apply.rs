//! Carries a plan out on a [`Registry`]: refuse a stale plan before the
//! first write, write every value, run the restart commands, and put every
//! previous value back when a step fails, saying exactly which ones could
//! not be restored.

use smarthost_core::peer_text::Redactor;
use smarthost_core::{Applied, Change, Plan, RegistryChange, RegistryValue};

use crate::error::Error;
use crate::names::Names;
use crate::plan::{self, local_key};
use crate::registry::{self, RegData, Registry};

/// `key\name` of a change, as plans and errors name values.
fn full_name(change: &RegistryChange) -> String {
    format!("{}\\{}", change.key, change.name)
}

fn registry_changes(plan: &Plan) -> impl Iterator<Item = &RegistryChange> {
    plan.changes.iter().filter_map(|c| match c {
        Change::Registry(r) => Some(r),
        _ => None,
    })
}

/// Refuses the plan when a value it changes is not the one it expects to
/// replace (its `before`), checking every change before anything is
/// written.
pub(crate) fn check_values(reg: &dyn Registry, plan: &Plan) -> Result<(), Error> {
    for change in registry_changes(plan) {
        let key = local_key(&change.key);
        registry::guard(key, &change.name)?;
        let secret = [&change.value, &change.before]
            .into_iter()
            .any(|v| matches!(v, Some(RegistryValue::SecretSz(_))));
        let now = reg.get(key, &change.name)?.map(|d| plan::shown(secret, &d));
        if now != change.before {
            return Err(Error::Stale {
                what: full_name(change),
            });
        }
    }
    Ok(())
}

/// Refuses the plan when any managed value differs from what the plan was
/// made from, also one the plan does not change.
pub(crate) fn check_basis(reg: &dyn Registry, plan: &Plan, names: &Names) -> Result<(), Error> {
    if let Some(basis) = &plan.basis {
        let now = plan::basis(reg, names)?;
        if let Some(name) = basis.first_difference(&now) {
            return Err(Error::Stale { what: name.to_owned() });
        }
    }
    Ok(())
}

/// The passwords of a plan, to keep them out of command output.
fn redactor(plan: &Plan) -> Redactor {
    registry_changes(plan)
        .flat_map(|r| [&r.value, &r.before])
        .flatten()
        .fold(Redactor::new(), |redactor, value| match value {
            RegistryValue::SecretSz(s) => redactor.with_secret(s.expose()),
            _ => redactor,
        })
}

/// Runs one command of the plan; its output, part of the error when it
/// fails, is sanitized (control characters escaped, length capped,
/// passwords redacted).
fn run(argv: &[String], plan: &Plan) -> Result<String, Error> {
    let command = argv.join(" ");
    let (program, args) = argv.split_first().ok_or_else(|| Error::Command {
        command: command.clone(),
        output: "empty command".into(),
    })?;
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            output: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(command);
    }
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    Err(Error::Command {
        command,
        output: redactor(plan).sanitize(output.trim()),
    })
}

/// A value as it was before the apply touched it.
struct Previous {
    /// `HKEY_LOCAL_MACHINE\...\name`, for the error.
    full: String,
    key: String,
    name: String,
    data: Option<RegData>,
}

/// Checks the plan is current, writes its values, then runs its commands.
/// On a failure every value written so far is put back.
///
/// `on_registry`: `reg` is the target itself, so the plan's basis (every
/// managed value) is checked and its commands run. Otherwise `reg` is the
/// content of a `.reg` file: the caller checked the file's basis, and
/// rendering runs no command. Every change's `before` is checked either
/// way, before the first write.
pub(crate) fn apply(reg: &mut dyn Registry, plan: &Plan, names: &Names, on_registry: bool) -> Result<Applied, Error> {
    check_values(reg, plan)?;
    if on_registry {
        check_basis(reg, plan, names)?;
    }
    let run_commands = on_registry;
    let mut previous: Vec<Previous> = Vec::new();
    let mut applied = Applied::default();
    let result = (|| {
        for change in registry_changes(plan) {
            let key = local_key(&change.key);
            // Recorded before the write: a write that fails half-way is
            // put back too.
            previous.push(Previous {
                full: full_name(change),
                key: key.to_owned(),
                name: change.name.clone(),
                data: reg.get(key, &change.name)?,
            });
            match &change.value {
                Some(v) => reg.set(key, &change.name, &plan::data(v))?,
                None => reg.delete(key, &change.name)?,
            }
            applied.changed = true;
        }
        if run_commands {
            for change in &plan.changes {
                if let Change::Command(c) = change {
                    applied.ran.push(run(&c.argv, plan)?);
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(applied),
        Err(cause) => Err(rollback(reg, previous, cause)),
    }
}

/// Puts every previous value back, newest first, continuing past errors.
/// A value whose restore failed but that reads back as its previous value
/// (the failed write never changed it) counts as restored.
fn rollback(reg: &mut dyn Registry, previous: Vec<Previous>, cause: Error) -> Error {
    let mut failed = Vec::new();
    for p in previous.into_iter().rev() {
        let restored = match &p.data {
            Some(d) => reg.set(&p.key, &p.name, d),
            None => reg.delete(&p.key, &p.name),
        };
        if let Err(e) = restored {
            if matches!(reg.get(&p.key, &p.name), Ok(now) if now == p.data) {
                continue;
            }
            let reason = match e {
                Error::Registry { reason, .. } => reason,
                other => other.to_string(),
            };
            failed.push(format!("{}: {reason}", p.full));
        }
    }
    if failed.is_empty() {
        Error::RolledBack { cause: Box::new(cause) }
    } else {
        failed.reverse();
        Error::RollbackFailed {
            cause: Box::new(cause),
            failed,
        }
    }
}
