//! Computes the exact file changes for a desired policy.

use std::path::{Path, PathBuf};

use smarthost_core::transaction::{safe_fs, Basis};
use smarthost_core::{Change, CommandRun, FileChange, Plan, Policy};

use crate::cf::{CfFile, Kind};
use crate::edit;
use crate::error::Error;
use crate::incremental;
use crate::layout::Layout;
use crate::maps;
use crate::prereq;
use crate::read::read_optional;
use crate::schema::*;
use crate::state::{State, STATE_FILE};
use crate::{Paths, PostfixOptions};

/// Every managed file as read once under the lock: main.cf, master.cf,
/// the state file and the tables' texts. The plan's texts and its
/// [`Basis`] come from the same read, and so does the check that a plan is
/// still current.
pub(crate) struct Snapshot(Vec<(PathBuf, Option<String>)>);

impl Snapshot {
    /// Reads every managed file.
    pub(crate) fn read(paths: &Paths) -> Result<Snapshot, Error> {
        let files = [
            paths.main_cf.clone(),
            paths.master_cf.clone(),
            paths.maps.join(STATE_FILE),
        ]
        .into_iter()
        .chain(TABLES.iter().map(|(name, _)| paths.table(name)));
        let mut read = Vec::new();
        for path in files {
            let text = read_optional(&path)?;
            read.push((path, text));
        }
        Ok(Snapshot(read))
    }

    /// The fingerprint of every managed file.
    pub(crate) fn basis(&self) -> Basis {
        let mut basis = Basis::new();
        for (path, text) in &self.0 {
            basis.add(path.display(), text.as_deref().map(str::as_bytes));
        }
        basis
    }

    /// The text of `path` as read: `None` when it does not exist; `Err`
    /// with nothing when it is not a managed file.
    pub(crate) fn get(&self, path: &Path) -> Result<Option<&str>, ()> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, text)| text.as_deref())
            .ok_or(())
    }

    /// Takes the text of a managed file out (each is used once by the plan).
    fn take(&mut self, path: &Path) -> Option<String> {
        self.0.iter_mut().find(|(p, _)| p == path).and_then(|(_, t)| t.take())
    }
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

/// Adds the change of one file when its content differs; `rewrite` also
/// rewrites a file whose content is right (a wrong mode, a stale compiled
/// table).
fn push_file(
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

/// The CA bundle to name in smtp_tls_CAfile: the first of the known
/// distributions' bundles that exists on the target. On a live server none
/// is an error (a `secure` relay could never be verified); when rendering
/// into a folder, Debian's path with a warning.
fn ca_bundle(paths: &Paths) -> Result<(&'static str, Option<String>), Error> {
    for bundle in CA_BUNDLES {
        if safe_fs::under_root(&paths.root, Path::new(bundle)).is_ok_and(|p| p.is_file()) {
            return Ok((bundle, None));
        }
    }
    if paths.root == Path::new("/") {
        return Err(Error::Unreadable {
            path: paths.main_cf.clone(),
            what: TLS_CA_FILE.into(),
            reason: format!(
                "a relay's certificate is checked, but no CA bundle was found (looked for {}); install the ca-certificates package or set smtp_tls_CAfile",
                CA_BUNDLES.join(", ")
            ),
        });
    }
    Ok((
        SYSTEM_CA_FILE,
        Some(format!(
            "no CA bundle under {}; smtp_tls_CAfile names Debian's {SYSTEM_CA_FILE}: on another distribution set it to its bundle",
            paths.root.display()
        )),
    ))
}

/// Why a table whose text is right must be written again, if it must: a
/// secrets table (or its compiled table) readable by others, or a compiled
/// table that is missing or older than its source.
fn rewrite_reason(options: &PostfixOptions, path: &Path, sensitive: bool) -> Option<String> {
    let compiled = options.map_type.compiled_path(path).filter(|_| options.compile_maps);
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
    let snapshot = Snapshot::read(paths)?;
    // The layout says each smarthost's warnings (`Policy::warnings`), once
    // per distinct relay, encryption and credentials.
    let layout = Layout::new(desired, options)?;
    plan_layout(options, paths, snapshot, layout, desired)
}

/// The plan that turns the files of `snapshot` into `layout`, the layout
/// of `desired` (or one whose tables were edited by key to the same
/// effect, see `domain_change`).
pub(crate) fn plan_layout(
    options: &PostfixOptions,
    paths: &Paths,
    mut snapshot: Snapshot,
    layout: Layout,
    desired: &Policy,
) -> Result<Plan, Error> {
    let mut plan = Plan::new("postfix");
    plan.basis = Some(snapshot.basis());
    plan.warnings.extend(layout.warnings.iter().cloned());
    if let Some(field) = &layout.backups {
        plan.warnings.extend(backups_supported(paths, field)?);
    }

    let mut layout = layout;
    let needs_auth = layout.secrets.is_some() || layout.nexthop_secrets.is_some();
    let tables: [(&str, &mut Option<String>, bool); 6] = [
        (SENDER_RELAY_MAP, &mut layout.sender_relay, false),
        (SECRETS_MAP, &mut layout.secrets, true),
        (TLS_POLICY_MAP, &mut layout.tls_policy, false),
        (SENDER_TRANSPORT_MAP, &mut layout.sender_transport, false),
        (RECIPIENT_ROUTES_MAP, &mut layout.recipient_routes, false),
        (NEXTHOP_SECRETS_MAP, &mut layout.nexthop_secrets, true),
    ];
    let mut compile = Vec::new();
    for (name, table, sensitive) in tables {
        let path = paths.table(name);
        let before = snapshot.take(&path);
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
            let changes = after
                .as_deref()
                .and_then(|a| incremental::plan(options, &path, before.as_deref(), a));
            let commands = match changes {
                // What apply runs on a staged copy of the compiled table.
                Some(changes) => incremental::commands(options, &path, &changes)
                    .into_iter()
                    .map(|(argv, input)| CommandRun {
                        reason: if argv.iter().any(|a| a == "-d") {
                            format!(
                                "delete {} key(s) from the compiled table, in place (keys on stdin)",
                                input.lines().count()
                            )
                        } else {
                            format!(
                                "insert or replace {} entr(ies) in the compiled table, in place (entries on stdin)",
                                input.lines().count()
                            )
                        },
                        argv,
                    })
                    .collect(),
                None => vec![CommandRun {
                    argv: options.postmap_command(&path),
                    reason: "compile the lookup table".into(),
                }],
            };
            compile.push(commands);
        }
        if let Some(reason) = &rewrite {
            plan.notes.push(reason.clone());
        }
        push_file(&mut plan, path, mode, before, after, sensitive, rewrite.is_some());
    }

    let master_path = paths.master_cf.clone();
    let master_before = snapshot.take(&master_path);
    let master_text = master_before.clone().unwrap_or_default();
    let master_after = edit::master_cf(&master_text, &layout.services);
    if master_after != master_text {
        let mode = file_mode(&master_path, MAP_MODE);
        // A master.cf left empty held only smarthost's services (it created
        // the file): it goes again.
        let after = (!master_after.is_empty()).then_some(master_after);
        push_file(&mut plan, master_path, mode, master_before, after, false, false);
    }

    let main_path = paths.main_cf.clone();
    let main_before = snapshot.take(&main_path);
    if main_before.is_none() {
        plan.warnings.push(format!(
            "{} does not exist; it is created with the managed parameters only",
            main_path.display()
        ));
    }
    let main_text = main_before.clone().unwrap_or_default();
    let mut main = CfFile::parse(&main_text, Kind::Main);
    // Mail forwarded out keeps its outside sender: said before anything is
    // edited, from the administrator's alias tables (bounded).
    plan.warnings
        .extend(crate::forwarding::warnings(desired, &main, options));
    let state_path = paths.maps.join(STATE_FILE);
    let state_before = snapshot.take(&state_path);
    let mut state = match &state_before {
        Some(text) => State::parse(text).map_err(|reason| Error::Unreadable {
            path: state_path.clone(),
            what: "state".into(),
            reason,
        })?,
        None => State::default(),
    };
    if needs_auth && options.prerequisites {
        plan.warnings.extend(prereq::missing_sasl(&paths.root));
    }
    let ca_bundle = if layout.needs_ca_file {
        let (bundle, warning) = ca_bundle(paths)?;
        plan.warnings.extend(warning);
        bundle
    } else {
        SYSTEM_CA_FILE
    };
    let report = edit::main_cf(&mut main, &layout, options, &mut state, ca_bundle);
    plan.warnings.extend(report.warnings);
    let main_after = main.render();
    if main_after != main_text {
        plan.notes.extend(report.notes);
        let mode = file_mode(&main_path, MAP_MODE);
        push_file(&mut plan, main_path, mode, main_before, Some(main_after), false, false);
    }
    let state_after = state.render();
    let state_mode = file_mode(&state_path, MAP_MODE);
    push_file(
        &mut plan,
        state_path,
        state_mode,
        state_before,
        state_after,
        false,
        false,
    );

    if plan.is_empty() {
        return Ok(plan);
    }
    if options.compile_maps {
        for command in compile.into_iter().flatten() {
            plan.changes.push(Change::Command(command));
        }
    } else if !compile.is_empty() {
        plan.warnings.push(format!(
            "the {} tables are not compiled here; run postmap on each of them on the target server",
            options.map_type
        ));
    }
    for stale in crate::compiled::stale_compiled(options, paths, &plan) {
        plan.notes.push(format!(
            "{} is removed: main.cf no longer uses it (another map type, or no table)",
            stale.path.display()
        ));
    }
    // `postfix check` validates main.cf and master.cf; a change of tables
    // only needs postmap and the reload.
    let config_changed = plan
        .files()
        .any(|f| f.path() == paths.main_cf || f.path() == paths.master_cf);
    if options.check && config_changed {
        let argv = options.postfix_command("check");
        plan.changes.push(Change::Command(CommandRun {
            argv,
            reason: "validate the configuration".into(),
        }));
    }
    if let Some(argv) = options.reload_command() {
        if options.is_postfix_reload(&argv) && !options.is_running() {
            plan.notes.push(not_running_note(options));
        }
        plan.changes.push(Change::Command(CommandRun {
            argv,
            reason: "load the new configuration".into(),
        }));
    }
    Ok(plan)
}

/// Backup relays are a nexthop list, which Postfix reads from 3.5 on
/// ([`BACKUPS_SINCE`]). On a live server (root `/`) the installed version
/// is asked (`postconf -d -h mail_version`, which reads no main.cf and
/// never sleeps) and an older one refuses the policy, naming `field`; when
/// rendering into a folder, the target cannot be asked: a warning.
fn backups_supported(paths: &Paths, field: &str) -> Result<Option<String>, Error> {
    let needed = format!("{}.{}", BACKUPS_SINCE.0, BACKUPS_SINCE.1);
    if paths.root != Path::new("/") {
        return Ok(Some(format!(
            "{field}: backup relays are written as a nexthop list, which needs Postfix {needed} or later on the target server"
        )));
    }
    let out = std::process::Command::new("postconf")
        .args(["-d", "-h", MAIL_VERSION])
        .stdin(std::process::Stdio::null())
        .output();
    let version = match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        // No Postfix to ask: nothing to refuse, but say it.
        _ => {
            return Ok(Some(format!(
                "{field}: backup relays need Postfix {needed} or later, and the installed version could not be asked (postconf -d -h mail_version)"
            )))
        }
    };
    check_backups(field, &version).map(|()| None)
}

/// Refuses backup relays (`field`) when Postfix `version` (`3.7.11`) is
/// older than [`BACKUPS_SINCE`].
pub(crate) fn check_backups(field: &str, version: &str) -> Result<(), Error> {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    let major_minor = (parts.next().flatten(), parts.next().flatten());
    let (since_major, since_minor) = BACKUPS_SINCE;
    match major_minor {
        (Some(major), Some(minor)) if (major, minor) >= (since_major, since_minor) => Ok(()),
        (Some(_), Some(_)) => Err(Error::Unsupported {
            field: field.to_owned(),
            reason: format!(
                "backup relays need Postfix {since_major}.{since_minor} or later, which reads a list of destinations in relayhost and in a transport's nexthop (postconf(5), relayhost); this server runs Postfix {version}: remove the backups or upgrade Postfix"
            ),
        }),
        _ => Err(Error::Unsupported {
            field: field.to_owned(),
            reason: format!(
                "backup relays need Postfix {since_major}.{since_minor} or later, and the installed version {version:?} could not be read"
            ),
        }),
    }
}

/// The plan's note that Postfix was not running when it was made. Apply
/// reads it: without it, `postfix reload` runs at once (and `postfix
/// status` only if the reload fails), so a live apply asks for the status
/// once, in the plan.
pub(crate) fn not_running_note(options: &PostfixOptions) -> String {
    format!(
        "Postfix is not running (`{}` failed): the reload is skipped, and Postfix loads the new configuration when it starts",
        options.postfix_command("status").join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_refused_before_postfix_3_5_naming_the_field() {
        assert!(check_backups("server.backup", "3.5.0").is_ok());
        assert!(check_backups("server.backup", "3.7.11").is_ok());
        assert!(check_backups("server.backup", "4.0-20250101").is_ok());
        for old in ["3.4.13", "2.11.3"] {
            let err = check_backups("domains.\"a.example\".backup", old)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("domains.\"a.example\".backup: backup relays need Postfix 3.5"),
                "{err}"
            );
            assert!(err.contains(old) && err.contains("nothing was changed"), "{err}");
        }
        assert!(check_backups("server.backup", "unknown").is_err());
    }
}
