//! Computes the exact file changes for a desired policy.

use std::path::{Path, PathBuf};

use smarthost_core::transaction::{safe_fs, Basis};
use smarthost_core::{Change, CommandRun, FileChange, Plan, Policy};

use crate::cf::{CfFile, Kind};
use crate::error::Error;
use crate::layout::Layout;
use crate::maps;
use crate::read::read_optional;
use crate::schema::*;
use crate::{Paths, PostfixOptions};

/// The tables this backend owns, with whether each holds secrets.
const TABLES: [(&str, bool); 4] = [
    (SENDER_RELAY_MAP, false),
    (SECRETS_MAP, true),
    (TLS_POLICY_MAP, false),
    (SENDER_TRANSPORT_MAP, false),
];

/// The fingerprint of every managed file: main.cf, master.cf and the
/// tables' sources.
pub(crate) fn basis(options: &PostfixOptions, paths: &Paths) -> Result<Basis, Error> {
    let _ = options;
    let mut basis = Basis::new();
    let files = [paths.main_cf.clone(), paths.master_cf.clone()]
        .into_iter()
        .chain(TABLES.iter().map(|(name, _)| paths.table(name)));
    for path in files {
        let bytes = safe_fs::read_bytes(&path)?;
        basis.add(path.display(), bytes.as_deref());
    }
    Ok(basis)
}

const MAP_MODE: u32 = 0o644;
const SECRET_MODE: u32 = 0o600;

fn file_mode(path: &Path, default: u32) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            return meta.permissions().mode() & 0o7777;
        }
    }
    let _ = path;
    default
}

/// What editing main.cf found: problems, and the takeover report.
#[derive(Default)]
struct MainReport {
    warnings: Vec<String>,
    notes: Vec<String>,
}

/// Edits main.cf towards the layout.
fn edit_main(main: &mut CfFile, layout: &Layout, options: &PostfixOptions) -> MainReport {
    let mut report = MainReport::default();
    for (name, wanted) in &layout.params {
        let count = main.count(name);
        if count > 1 {
            report.warnings.push(format!(
                "main.cf: {name} appears {count} times (Postfix uses the last one and warns); collapsed into one"
            ));
        }
        match (wanted, main.get(name)) {
            (Some(value), Some(old)) if old != value && !old.is_empty() => {
                report
                    .notes
                    .push(format!("main.cf: replaces {name} = {old} with {value}"));
                main.set(name, value);
            }
            (Some(value), _) => main.set(name, value),
            // relayhost is ours to manage; emptied in place, so a Debian
            // main.cf gets its `relayhost =` line back as it was.
            (None, Some(old)) if *name == RELAYHOST => {
                if !old.is_empty() {
                    main.set(name, "");
                }
            }
            // Other parameters are removed only when this backend wrote them.
            (None, Some(old)) if Layout::own_value(name, options).as_deref() == Some(old) => main.remove(name),
            (None, Some(old)) => report.warnings.push(format!(
                "main.cf: {name} = {old} is not needed by the policy but was not written by smarthost; left as it is"
            )),
            (None, None) => {}
        }
    }
    if layout.needs_ca_file && main.get(TLS_CA_FILE).unwrap_or("").is_empty() {
        main.set(TLS_CA_FILE, SYSTEM_CA_FILE);
    }
    if let Some(level) = main.get(TLS_SECURITY_LEVEL) {
        if !matches!(level, "" | "none" | "may") {
            report.warnings.push(format!(
                "main.cf: smtp_tls_security_level = {level} applies to every direct delivery too; smarthost sets TLS per relay and leaves it as it is"
            ));
        }
    }
    let kept: Vec<&str> = main
        .names()
        .into_iter()
        .filter(|n| !MANAGED.contains(n) && *n != TLS_CA_FILE)
        .collect();
    if !kept.is_empty() {
        report.notes.push(format!(
            "main.cf: keeps {} other parameter(s) byte for byte: {}",
            kept.len(),
            kept.join(", ")
        ));
    }
    report
}

fn edit_master(text: &str, needed: bool) -> String {
    let mut master = CfFile::parse(text, Kind::Master);
    if needed {
        if master.count(TLS_WRAPPER_SERVICE) == 0 || master.entries(TLS_WRAPPER_SERVICE).count() > 1 {
            master.replace(TLS_WRAPPER_SERVICE, &tls_wrapper_entry(), Kind::Master);
        }
    } else {
        master.remove(TLS_WRAPPER_SERVICE);
    }
    master.render()
}

fn push_file(
    plan: &mut Plan,
    path: PathBuf,
    mode: u32,
    before: Option<String>,
    after: Option<String>,
    sensitive: bool,
) {
    push_file_forced(plan, path, mode, before, after, sensitive, false);
}

/// Like `push_file`; `rewrite` also rewrites a file whose content is right
/// (a wrong mode, a stale compiled table).
fn push_file_forced(
    plan: &mut Plan,
    path: PathBuf,
    mode: u32,
    before: Option<String>,
    after: Option<String>,
    sensitive: bool,
    rewrite: bool,
) {
    if before == after && !rewrite {
        return;
    }
    let change = if sensitive {
        FileChange::sensitive(path, mode, before, after, maps::redact_secrets)
    } else {
        FileChange::new(path, mode, before, after)
    };
    plan.changes.push(Change::File(change));
}

/// Why a table whose text is right must be written again, if it must: a
/// secrets table (or its compiled table) readable by others, or a compiled
/// table that is missing or older than its source.
fn rewrite_reason(options: &PostfixOptions, path: &Path, sensitive: bool) -> Option<String> {
    let compiled = options
        .map_type
        .compiled_suffix()
        .filter(|_| options.compile_maps)
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        });
    if sensitive {
        for file in std::iter::once(path.to_owned()).chain(compiled.clone()) {
            if let Some(mode) = safe_fs::mode_of(&file).filter(|m| m & 0o077 != 0) {
                return Some(format!(
                    "{} has mode {mode:04o}; it holds passwords and is rewritten with mode 0600",
                    file.display()
                ));
            }
        }
    }
    let compiled = compiled?;
    let modified = |p: &Path| std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok();
    match (modified(path), modified(&compiled)) {
        (Some(_), None) => Some(format!(
            "{} is missing; the table is compiled again",
            compiled.display()
        )),
        (Some(source), Some(db)) if db < source => Some(format!(
            "{} is older than its source; the table is compiled again",
            compiled.display()
        )),
        _ => None,
    }
}

pub(crate) fn plan(options: &PostfixOptions, paths: &Paths, desired: &Policy) -> Result<Plan, Error> {
    let mut plan = Plan::new("postfix");
    plan.basis = Some(basis(options, paths)?);
    plan.warnings = desired.warnings();
    let layout = Layout::new(desired, options);
    plan.warnings.extend(layout.warnings.iter().cloned());

    let mut layout = layout;
    let tables: [(&str, &mut Option<String>, bool); 4] = [
        (SENDER_RELAY_MAP, &mut layout.sender_relay, false),
        (SECRETS_MAP, &mut layout.secrets, true),
        (TLS_POLICY_MAP, &mut layout.tls_policy, false),
        (SENDER_TRANSPORT_MAP, &mut layout.sender_transport, false),
    ];
    let mut compile = Vec::new();
    for (name, table, sensitive) in tables {
        let path = paths.table(name);
        let before = read_optional(&path)?;
        let after = table.take();
        let mode = if sensitive {
            SECRET_MODE
        } else {
            file_mode(&path, MAP_MODE)
        };
        let rewrite = match (&before, &after) {
            (Some(b), Some(a)) if b == a => rewrite_reason(options, &path, sensitive),
            _ => None,
        };
        if (before != after || rewrite.is_some()) && after.is_some() && options.map_type.needs_postmap() {
            compile.push(path.clone());
        }
        if let Some(reason) = &rewrite {
            plan.notes.push(reason.clone());
        }
        push_file_forced(&mut plan, path, mode, before, after, sensitive, rewrite.is_some());
    }

    let master_path = paths.master_cf.clone();
    let master_before = read_optional(&master_path)?;
    let master_text = master_before.clone().unwrap_or_default();
    let master_after = edit_master(&master_text, layout.needs_wrapper);
    if master_after != master_text {
        let mode = file_mode(&master_path, MAP_MODE);
        push_file(&mut plan, master_path, mode, master_before, Some(master_after), false);
    }

    let main_path = paths.main_cf.clone();
    let main_before = read_optional(&main_path)?;
    if main_before.is_none() {
        plan.warnings.push(format!(
            "{} does not exist; it is created with the managed parameters only",
            main_path.display()
        ));
    }
    let main_text = main_before.clone().unwrap_or_default();
    let mut main = CfFile::parse(&main_text, Kind::Main);
    let report = edit_main(&mut main, &layout, options);
    plan.warnings.extend(report.warnings);
    let main_after = main.render();
    if main_after != main_text {
        plan.notes.extend(report.notes);
        let mode = file_mode(&main_path, MAP_MODE);
        push_file(&mut plan, main_path, mode, main_before, Some(main_after), false);
    }

    if plan.is_empty() {
        return Ok(plan);
    }
    if options.compile_maps {
        for path in compile {
            let argv = options.postmap_command(&path);
            plan.changes.push(Change::Command(CommandRun {
                argv,
                reason: "compile the lookup table".into(),
            }));
        }
    } else if !compile.is_empty() {
        plan.warnings.push(format!(
            "the {} tables are not compiled here; run postmap on each of them on the target server",
            options.map_type
        ));
    }
    if options.check {
        let argv = options.postfix_command("check");
        plan.changes.push(Change::Command(CommandRun {
            argv,
            reason: "validate the configuration".into(),
        }));
    }
    if let Some(argv) = options.reload_command() {
        plan.changes.push(Change::Command(CommandRun {
            argv,
            reason: "load the new configuration".into(),
        }));
    }
    Ok(plan)
}
