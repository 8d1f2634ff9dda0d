//! Every prerequisite of the configured relays, each PASS, WARN or FAIL
//! with its fix: Postfix and its version, the instance running, the
//! parameters, services and tables smarthost manages as it wrote them,
//! compiled tables current, a SASL client mechanism the relays offer, the
//! CA bundle for certificate checks, the map type, and the queue.
//!
//! Which mechanisms a relay offers is learnt on the network, by the
//! caller (the CLI uses `smarthost_core::check`); without that answer only
//! the installed mechanisms are checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use smarthost_core::{ConfigWriter, Policy};

use super::status::{summarize, Severity, Thresholds};
use super::{log::Clock, queue};
use crate::cf::{CfFile, Kind};
use crate::schema::*;
use crate::{prereq, PostfixOptions, PostfixWriter};

/// How one check went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Grade {
    /// Fine.
    Pass,
    /// Works, but deserves a look.
    Warn,
    /// Mail through the relays fails (or will) until it is fixed.
    Fail,
    /// Not checked: an earlier check failed, or it does not apply.
    Skip,
}

impl Grade {
    /// `PASS`, `WARN`, `FAIL`, `SKIP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Pass => "PASS",
            Grade::Warn => "WARN",
            Grade::Fail => "FAIL",
            Grade::Skip => "SKIP",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check (`postfix`, `instance`, `relays`, `parameters`,
    /// `tables`, `sasl`, `ca`, `map_type`, `queue`).
    pub check: &'static str,
    /// What was checked, in words.
    pub title: String,
    /// How it went.
    pub grade: Grade,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it needs fixing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(check: &'static str, title: impl Into<String>, grade: Grade, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            title: title.into(),
            grade,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// What the caller learnt from the relays: per relay (Postfix form,
/// `[smtp.example.com]:587`), the AUTH mechanisms it offered, or why it
/// could not be asked.
pub type Offered = BTreeMap<String, Result<Vec<String>, String>>;

/// Cyrus SASL client plugins and the mechanisms each provides.
const PLUGINS: &[(&str, &[&str])] = &[
    ("libplain.so", &["PLAIN"]),
    ("liblogin.so", &["LOGIN"]),
    ("libcrammd5.so", &["CRAM-MD5"]),
    ("libdigestmd5.so", &["DIGEST-MD5"]),
    ("libscram.so", &["SCRAM-SHA-1", "SCRAM-SHA-256"]),
    ("libntlm.so", &["NTLM"]),
    ("libgssapiv2.so", &["GSSAPI"]),
    ("libgs2.so", &["GS2-KRB5", "GS2-IAKERB"]),
    ("libotp.so", &["OTP"]),
    ("libanonymous.so", &["ANONYMOUS"]),
];

/// The SASL client mechanisms whose Cyrus plugins are installed below
/// `root`: PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, SCRAM-SHA-1 and -256, NTLM,
/// GSSAPI, GS2, OTP, ANONYMOUS, in that order, those whose plugin is found.
pub fn installed_mechanisms(root: &Path) -> Vec<&'static str> {
    let mut names = Vec::new();
    for dir in prereq::plugin_dirs(root) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        names.extend(entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
    }
    PLUGINS
        .iter()
        .filter(|(plugin, _)| names.iter().any(|n| n.starts_with(plugin)))
        .flat_map(|(_, mechanisms)| mechanisms.iter().copied())
        .collect()
}

/// The main.cf parameters that name smarthost's tables, with the map type
/// and the table's file on disk.
fn our_tables(main: &CfFile, options: &PostfixOptions) -> Vec<(&'static str, String, PathBuf)> {
    let maps = options.map_dir.display().to_string();
    let mut out = Vec::new();
    for (param, table) in [
        (SENDER_RELAY_MAPS, SENDER_RELAY_MAP),
        (SASL_PASSWORD_MAPS, SECRETS_MAP),
        (TLS_POLICY_MAPS, TLS_POLICY_MAP),
        (SENDER_TRANSPORT_MAPS, SENDER_TRANSPORT_MAP),
        (TRANSPORT_MAPS, RECIPIENT_ROUTES_MAP),
    ] {
        let value = main.get(param).unwrap_or("");
        for item in value.split([',', ' ', '\t']).filter(|i| !i.is_empty()) {
            let Some((kind, path)) = item.split_once(':') else {
                continue;
            };
            if Path::new(path) == Path::new(&maps).join(table) {
                out.push((param, kind.to_owned(), options.on_disk(Path::new(path))));
            }
        }
    }
    out
}

/// Runs every check against the instance of `writer` (a live one: root
/// `/`). `offered` holds what the relays said (see [`Offered`]).
pub fn diagnose(writer: &PostfixWriter, offered: &Offered, thresholds: &Thresholds) -> Vec<Finding> {
    let options = writer.options();
    let config = options.on_disk(&options.config_dir);
    let postfix = |verb: &str| options.postfix_command(verb).join(" ");
    let mut out = Vec::new();

    // Postfix itself; `-d` reads no main.cf (never the one-second fatal path).
    let version = super::run(&["postconf", "-d", "-h", MAIL_VERSION].map(str::to_owned));
    match &version {
        Ok(v) => out.push(Finding::new(
            "postfix",
            "Postfix is installed",
            Grade::Pass,
            format!("Postfix {}", v.trim()),
        )),
        Err(e) => {
            out.push(
                Finding::new("postfix", "Postfix is installed", Grade::Fail, e.to_string())
                    .fix("install Postfix (Debian/Ubuntu: apt-get install postfix; RHEL and kin: dnf install postfix)"),
            );
            return out;
        }
    }
    if !options.main_cf_exists() {
        out.push(
            Finding::new(
                "instance",
                "the instance is running",
                Grade::Fail,
                format!("{} has no {MAIN_CF}", config.display()),
            )
            .fix("give the instance's configuration folder with --config-dir"),
        );
        return out;
    }
    out.push(if options.is_running() {
        Finding::new(
            "instance",
            "the instance is running",
            Grade::Pass,
            format!("`{}` succeeds", postfix("status")),
        )
    } else {
        Finding::new(
            "instance",
            "the instance is running",
            Grade::Fail,
            format!("`{}` fails: nothing leaves the queue", postfix("status")),
        )
        .fix(format!("start it: {}", postfix("start")))
    });

    let policy = match writer.read() {
        Ok(policy) => policy,
        Err(e) => {
            out.push(
                Finding::new(
                    "relays",
                    "smarthost's configuration can be read",
                    Grade::Fail,
                    e.to_string(),
                )
                .fix("`smarthost list` shows the same error; fix the named setting"),
            );
            return out;
        }
    };
    let relays = policy.server.iter().count() + policy.domains.len();
    if relays == 0 {
        out.push(Finding::new(
            "relays",
            "smarthosts are configured",
            Grade::Warn,
            "no smarthost is configured: mail goes direct",
        ));
        return out;
    }
    out.push(Finding::new(
        "relays",
        "smarthosts are configured",
        Grade::Pass,
        format!(
            "{}{} domain smarthost(s)",
            policy
                .server
                .as_ref()
                .map(|s| format!("server-wide {}, ", s.relay))
                .unwrap_or_default(),
            policy.domains.len()
        ),
    ));

    let main_text = std::fs::read_to_string(config.join(MAIN_CF)).unwrap_or_default();
    let main = CfFile::parse(&main_text, Kind::Main);
    // Compared with what smarthost writes in the map type main.cf uses,
    // not with a change of type.
    let mut kinds: Vec<String> = our_tables(&main, options)
        .into_iter()
        .map(|(_, kind, _)| kind)
        .collect();
    kinds.dedup();
    let same_type = match kinds.as_slice() {
        [kind] => kind.parse::<crate::MapType>().ok().filter(|t| *t != options.map_type),
        _ => None,
    }
    .map(|map_type| {
        PostfixWriter::new(PostfixOptions {
            map_type,
            ..options.clone()
        })
    });
    out.extend(drift(same_type.as_ref().unwrap_or(writer), &policy, &main));
    out.extend(compiled(&main, options));
    out.extend(sasl(&policy, offered, options));
    out.push(ca(options));
    out.push(map_type(&main, options));
    out.push(stuck(&policy, options, thresholds));
    out
}

/// The managed parameters, services and tables against what smarthost
/// writes for the configuration it reads back: any difference is a hand
/// edit (or a half-finished change) that `plan` would undo.
fn drift(writer: &PostfixWriter, policy: &Policy, main: &CfFile) -> Vec<Finding> {
    const PARAMS: &str = "main.cf and master.cf are as smarthost wrote them";
    const TABLES: &str = "the lookup tables are as smarthost wrote them";
    let fix = "see the difference with `smarthost plan --policy FILE` (or `smarthost list`), and write it again with `smarthost apply --policy FILE`";
    let plan = match writer.plan(policy) {
        Ok(plan) => plan,
        Err(e) => return vec![Finding::new("parameters", PARAMS, Grade::Fail, e.to_string())],
    };
    let paths = match writer.options().paths() {
        Ok(paths) => paths,
        Err(e) => return vec![Finding::new("parameters", PARAMS, Grade::Fail, e.to_string())],
    };
    let mut params = Vec::new();
    let mut tables = Vec::new();
    for file in plan.files() {
        if file.path() == paths.main_cf {
            let after = CfFile::parse(file.after().unwrap_or(""), Kind::Main);
            for name in MANAGED.iter().chain([&TLS_CA_FILE]) {
                let (now, wanted) = (main.get(name), after.get(name));
                if now != wanted {
                    params.push(format!(
                        "{name} is {}, smarthost writes {}",
                        now.map_or("unset".to_owned(), |v| format!("`{v}`")),
                        wanted.map_or("none".to_owned(), |v| format!("`{v}`"))
                    ));
                }
            }
            let duplicates: Vec<&str> = MANAGED.iter().copied().filter(|n| main.count(n) > 1).collect();
            if !duplicates.is_empty() {
                params.push(format!("{} appear(s) more than once", duplicates.join(", ")));
            }
        } else if file.path() == paths.master_cf {
            params.push(format!(
                "{MASTER_CF} lacks or changed smarthost's services ({})",
                SERVICES.join(", ")
            ));
        } else if TABLES_ON_DISK.iter().any(|t| file.path() == paths.table(t)) {
            let name = file
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            tables.push(match (file.before(), file.after()) {
                (None, _) => format!("{name} is missing"),
                (Some(b), Some(a)) if a == b => format!("{name}: {}", plan_note(&plan, &name)),
                _ => format!("{name} differs from what smarthost writes"),
            });
        }
    }
    let params = if params.is_empty() {
        Finding::new(
            "parameters",
            PARAMS,
            Grade::Pass,
            "every managed parameter and service is as smarthost writes it",
        )
    } else {
        Finding::new("parameters", PARAMS, Grade::Fail, params.join("; ")).fix(fix)
    };
    let tables = if tables.is_empty() {
        Finding::new("tables", TABLES, Grade::Pass, "every table is as smarthost writes it")
    } else {
        Finding::new("tables", TABLES, Grade::Fail, tables.join("; ")).fix(fix)
    };
    vec![params, tables]
}

/// The tables [`drift`] looks at.
const TABLES_ON_DISK: [&str; 6] = [
    SENDER_RELAY_MAP,
    SECRETS_MAP,
    TLS_POLICY_MAP,
    SENDER_TRANSPORT_MAP,
    RECIPIENT_ROUTES_MAP,
    NEXTHOP_SECRETS_MAP,
];

/// The plan's note about a table whose text is right (a wide mode, a stale
/// compiled table).
fn plan_note(plan: &smarthost_core::Plan, name: &str) -> String {
    plan.notes
        .iter()
        .find(|n| n.contains(name))
        .cloned()
        .unwrap_or_else(|| "is written again".to_owned())
}

/// Each compiled table (`.db`, `.lmdb`) exists and is not older than its
/// source: Postfix reads the compiled one.
fn compiled(main: &CfFile, options: &PostfixOptions) -> Option<Finding> {
    const TITLE: &str = "the compiled tables are current";
    let mut stale = Vec::new();
    let mut checked = 0;
    for (_, kind, source) in our_tables(main, options) {
        let suffix = match kind.as_str() {
            "hash" | "btree" => ".db",
            "lmdb" => ".lmdb",
            _ => continue,
        };
        checked += 1;
        let mut db = source.clone().into_os_string();
        db.push(suffix);
        let db = PathBuf::from(db);
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        match (modified(&source), modified(&db)) {
            (Some(_), None) => stale.push(format!("{} is missing", db.display())),
            (Some(s), Some(d)) if d < s => stale.push(format!("{} is older than its source", db.display())),
            _ => {}
        }
    }
    if checked == 0 {
        return None;
    }
    Some(if stale.is_empty() {
        Finding::new(
            "tables",
            TITLE,
            Grade::Pass,
            format!("{checked} compiled table(s), none older than its source"),
        )
    } else {
        let fix = format!(
            "compile them: postmap {}TYPE:FILE for each (smarthost apply does it)",
            options
                .config_args()
                .iter()
                .map(|a| format!("{a} "))
                .collect::<String>()
        );
        Finding::new("tables", TITLE, Grade::Fail, stale.join("; ")).fix(fix)
    })
}

/// A SASL client mechanism for each relay that needs AUTH.
fn sasl(policy: &Policy, offered: &Offered, options: &PostfixOptions) -> Vec<Finding> {
    let mut relays: Vec<String> = Vec::new();
    for s in policy.server.iter().chain(policy.domains.values()) {
        let relay = s.relay.to_string();
        if s.credentials.is_some() && !relays.contains(&relay) {
            relays.push(relay);
        }
    }
    if relays.is_empty() {
        return vec![Finding::new(
            "sasl",
            "a SASL client mechanism",
            Grade::Pass,
            "no relay needs AUTH",
        )];
    }
    let installed = installed_mechanisms(&options.root);
    let filter: Vec<String> = super::postconf(options, &[SASL_MECHANISM_FILTER])
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|f| {
            f.split([',', ' ', '\t'])
                .filter(|m| !m.is_empty())
                .map(str::to_ascii_uppercase)
                .collect()
        })
        .unwrap_or_default();
    let usable: Vec<&str> = installed
        .iter()
        .copied()
        .filter(|m| *m != "ANONYMOUS" && (filter.is_empty() || filter.iter().any(|f| f == m)))
        .collect();
    let package = prereq::sasl_package_advice(&options.root);
    relays
        .into_iter()
        .map(|relay| {
            let title = format!("a SASL client mechanism that {relay} offers");
            let has_plain = usable.iter().any(|m| *m == "PLAIN" || *m == "LOGIN");
            match offered.get(&relay) {
                Some(Ok(mechanisms)) if !mechanisms.is_empty() => {
                    let common: Vec<&str> = usable
                        .iter()
                        .copied()
                        .filter(|m| mechanisms.iter().any(|o| o.eq_ignore_ascii_case(m)))
                        .collect();
                    let detail = format!(
                        "the relay offers {}; Postfix can do {}",
                        mechanisms.join(" "),
                        if usable.is_empty() { "none".to_owned() } else { usable.join(" ") }
                    );
                    if !common.is_empty() {
                        Finding::new("sasl", title, Grade::Pass, format!("{detail}: {} in common", common.join(" ")))
                    } else if mechanisms.iter().any(|m| m.eq_ignore_ascii_case("PLAIN") || m.eq_ignore_ascii_case("LOGIN")) {
                        Finding::new("sasl", title, Grade::Fail, format!("{detail}: none in common")).fix(format!(
                            "{package}; then `postfix reload`"
                        ))
                    } else {
                        Finding::new("sasl", title, Grade::Fail, format!("{detail}: none in common; Postfix defers every message with \"no mechanism available\"")).fix(
                            "Cyrus SASL has no client plugin for what this relay offers (such as XOAUTH2): ask the provider for SMTP AUTH with PLAIN or LOGIN (an app password or SMTP credentials), or use another relay",
                        )
                    }
                }
                Some(Ok(_)) => Finding::new(
                    "sasl",
                    title,
                    Grade::Warn,
                    "the relay offered no AUTH after EHLO (and STARTTLS): Postfix sends mail without logging in",
                )
                .fix("check the relay's port and encryption with `smarthost check`"),
                answer => {
                    let asked = match answer {
                        Some(Err(why)) => format!("the relay could not be asked ({why})"),
                        _ => "the relay was not asked".to_owned(),
                    };
                    if has_plain {
                        Finding::new(
                            "sasl",
                            title,
                            Grade::Pass,
                            format!("Postfix can do {}; {asked}", usable.join(" ")),
                        )
                    } else {
                        Finding::new(
                            "sasl",
                            title,
                            Grade::Fail,
                            format!(
                                "no PLAIN or LOGIN client mechanism is installed (Postfix can do {}); {asked}",
                                if usable.is_empty() { "none".to_owned() } else { usable.join(" ") }
                            ),
                        )
                        .fix(format!("{package}; then `postfix reload`"))
                    }
                }
            }
        })
        .collect()
}

/// Trust anchors for relays whose certificate is checked (`secure`
/// entries of the TLS policy table).
fn ca(options: &PostfixOptions) -> Finding {
    const TITLE: &str = "smtp_tls_CAfile names an existing CA bundle";
    let tls_policy = options
        .paths()
        .ok()
        .and_then(|p| std::fs::read_to_string(p.table(TLS_POLICY_MAP)).ok())
        .unwrap_or_default();
    if !tls_policy
        .lines()
        .any(|l| l.split_whitespace().nth(1).is_some_and(|v| v == "secure"))
    {
        return Finding::new(
            "ca",
            TITLE,
            Grade::Pass,
            "no relay's certificate is checked (no `secure` entry)",
        );
    }
    let values = match super::postconf(options, &[TLS_CA_FILE, TLS_CA_PATH]) {
        Ok(values) => values,
        Err(e) => return Finding::new("ca", TITLE, Grade::Fail, e.to_string()),
    };
    let (file, dir) = (&values[0], &values[1]);
    let system = CA_BUNDLES.iter().find(|b| options.on_disk(Path::new(b)).is_file());
    let set_it = match system {
        Some(bundle) => format!("set {TLS_CA_FILE} = {bundle} (smarthost does on its next write of a `secure` relay)"),
        None => format!("install the ca-certificates package and set {TLS_CA_FILE} to its bundle"),
    };
    if !file.is_empty() {
        let path = options.on_disk(Path::new(file));
        return match std::fs::read_to_string(&path) {
            Ok(text) => {
                let count = text.matches("-----BEGIN CERTIFICATE-----").count();
                if count == 0 {
                    Finding::new(
                        "ca",
                        TITLE,
                        Grade::Fail,
                        format!("{TLS_CA_FILE} = {file} holds no certificate"),
                    )
                    .fix(set_it)
                } else {
                    let kind = if CA_BUNDLES.contains(&file.as_str()) {
                        "the system bundle"
                    } else {
                        "a bundle of the administrator's"
                    };
                    Finding::new(
                        "ca",
                        TITLE,
                        Grade::Pass,
                        format!("{TLS_CA_FILE} = {file} ({kind}, {count} certificate(s))"),
                    )
                }
            }
            Err(e) => Finding::new("ca", TITLE, Grade::Fail, format!("{TLS_CA_FILE} = {file}: {e}")).fix(set_it),
        };
    }
    if !dir.is_empty() && options.on_disk(Path::new(dir)).is_dir() {
        return Finding::new(
            "ca",
            TITLE,
            Grade::Pass,
            format!("{TLS_CA_FILE} is empty, {TLS_CA_PATH} = {dir}"),
        );
    }
    Finding::new(
        "ca",
        TITLE,
        Grade::Fail,
        format!("{TLS_CA_FILE} and {TLS_CA_PATH} are empty: Postfix trusts no CA and defers mail to `secure` relays (\"Server certificate not verified\")"),
    )
    .fix(set_it)
}

/// The map types of smarthost's tables are ones this Postfix supports
/// (`postconf -m`).
fn map_type(main: &CfFile, options: &PostfixOptions) -> Finding {
    const TITLE: &str = "Postfix supports the tables' map type";
    let mut argv = vec!["postconf".to_owned()];
    argv.extend(options.config_args());
    argv.push("-m".to_owned());
    let supported = match super::run(&argv) {
        Ok(text) => text.lines().map(|l| l.trim().to_owned()).collect::<Vec<_>>(),
        Err(e) => return Finding::new("map_type", TITLE, Grade::Fail, e.to_string()),
    };
    let mut used: Vec<String> = our_tables(main, options).into_iter().map(|(_, kind, _)| kind).collect();
    used.sort();
    used.dedup();
    if used.is_empty() {
        return Finding::new(
            "map_type",
            TITLE,
            Grade::Pass,
            "main.cf names none of smarthost's tables",
        );
    }
    let missing: Vec<&String> = used.iter().filter(|t| !supported.contains(t)).collect();
    if missing.is_empty() {
        Finding::new(
            "map_type",
            TITLE,
            Grade::Pass,
            format!("{} (postconf -m)", used.join(", ")),
        )
    } else {
        let best = crate::MapType::from_supported(&supported.join("\n"));
        Finding::new(
            "map_type",
            TITLE,
            Grade::Fail,
            format!(
                "main.cf uses {}, which this Postfix does not support (postconf -m: {})",
                missing.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
                supported.join(" ")
            ),
        )
        .fix(format!(
            "install the map type's package (Debian: postfix-lmdb for lmdb), or write the tables as {best} (--map-type {best})"
        ))
    }
}

/// Nothing of smarthost's relays stuck in the queue.
fn stuck(policy: &Policy, options: &PostfixOptions, thresholds: &Thresholds) -> Finding {
    const TITLE: &str = "nothing is stuck in the queue on smarthost's relays";
    let queue = match queue::read(options) {
        Ok(queue) => queue,
        Err(e) => return Finding::new("queue", TITLE, Grade::Fail, e.to_string()),
    };
    let now = Clock::system().now;
    let health = summarize(policy, &queue, &[], now, now);
    let detail = || {
        health
            .relays
            .iter()
            .filter(|r| r.deferred > 0)
            .map(|r| {
                format!(
                    "{}: {} deferred, oldest {} s: {}",
                    r.relay,
                    r.deferred,
                    r.oldest_seconds.unwrap_or(0),
                    r.reasons_text()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match health.severity(thresholds) {
        Severity::Ok => Finding::new(
            "queue",
            TITLE,
            Grade::Pass,
            match health.deferred() {
                0 => "no deferred message on smarthost's relays".to_owned(),
                n => format!("{n} deferred message(s), all younger than the warning age"),
            },
        ),
        Severity::Warning => Finding::new("queue", TITLE, Grade::Warn, detail())
            .fix("`smarthost status` shows why; Postfix retries by itself"),
        _ => Finding::new("queue", TITLE, Grade::Fail, detail()).fix(format!(
            "`smarthost status` shows why and what to do; after the fix, `{}` retries the deferred mail",
            std::iter::once("postqueue".to_owned())
                .chain(options.config_args())
                .chain(["-f".to_owned()])
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}
