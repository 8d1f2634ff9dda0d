//! `smarthost check` and `set --check`: the connection check over the
//! policy's smarthosts, each distinct one once, many at a time.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;
use smarthost_core::check::{
    self, CheckOptions, CheckReport, CheckTarget, Checked, NameCheck, PostfixTrust, StepStatus,
};
use smarthost_core::{Smarthost, Via, JSON_SCHEMA};

use crate::args::{BackendName, CheckArgs, Cli, ProbeArgs};
use crate::backend;
use crate::error::CliError;
use crate::exit;
use crate::output;
use crate::policy_input::{self, policy_file};

/// Exit code when a check fails.
/// Checks run at the same time: enough that a fleet's distinct relays are
/// checked in one wave.
const PARALLEL: usize = 64;

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    ok: bool,
    checks: &'a [Checked],
}

/// The check's options. With `trust`, the trust anchors: `--ca-file`, else
/// for Postfix what the instance trusts ([`postfix_trust`]), else the
/// system store.
fn options(cli: &Cli, probe: &ProbeArgs, check_certificate: bool, trust: bool) -> Result<CheckOptions, CliError> {
    let postfix = cli.backend == BackendName::Postfix;
    let mut options = CheckOptions {
        step_timeout: Duration::from_secs(probe.timeout.max(1)),
        check_certificate,
        dns_server: probe.dns_server,
        // Windows mail servers check the relay's name or address.
        names: if postfix { NameCheck::Postfix } else { NameCheck::Relay },
        ..CheckOptions::default()
    };
    if !trust {
        return Ok(options);
    }
    if let Some(file) = &probe.ca_file {
        options.roots = Some(check::load_roots(file)?);
        options.trust_source = Some(format!("--ca-file {}", file.display()));
    } else if postfix {
        match postfix_trust(cli)? {
            Some(t) if !t.is_empty() => {
                options.roots = Some(t.load()?);
                options.trust_source = Some(t.describe());
            }
            // Postfix itself trusts no CA then; smarthost fills
            // smtp_tls_CAfile with the system bundle when it writes a
            // `secure` policy, so that is what the relay will meet.
            Some(_) => options.trust_source = Some(format!("the system CA store ({UNSET})")),
            None => options.trust_source = Some("the system CA store (no Postfix main.cf)".to_owned()),
        }
    }
    Ok(options)
}

/// Why the system store stands in for an empty Postfix setting.
const UNSET: &str = "smtp_tls_CAfile and smtp_tls_CApath are empty; smarthost sets smtp_tls_CAfile to the system bundle when it writes a `secure` policy";

/// Postfix's trust parameters, in the order `postconf` prints them.
const TRUST_PARAMS: [&str; 3] = ["smtp_tls_CAfile", "smtp_tls_CApath", "tls_append_default_CA"];

/// What the Postfix instance trusts: `smtp_tls_CAfile`, `smtp_tls_CApath`
/// and `tls_append_default_CA` of `--config-dir` (default /etc/postfix);
/// `None` without a main.cf.
///
/// Live: `postconf -c DIR -h -x` (the effective values, `$name`
/// expanded; main.cf is read directly when postconf is not installed).
/// With `--root`: ROOT/DIR/main.cf is read directly (no command runs), the
/// last occurrence of each parameter wins, only `$config_directory` is
/// expanded, and each path is taken inside the root when it exists there,
/// else on this machine (a rendered tree seldom holds the CA bundle).
pub(crate) fn postfix_trust(cli: &Cli) -> Result<Option<PostfixTrust>, CliError> {
    let config_dir = cli
        .config_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR));
    match &cli.root {
        None => {
            let main_cf = config_dir.join("main.cf");
            if !main_cf.is_file() {
                return Ok(None);
            }
            let values = match postconf(&config_dir)? {
                Some(values) => values,
                None => read_main_cf(&main_cf, &config_dir)?,
            };
            Ok(Some(trust_from(&values, |p| p.to_owned())))
        }
        Some(root) => {
            let on_disk = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
            let main_cf = on_disk(&config_dir).join("main.cf");
            if !main_cf.is_file() {
                return Ok(None);
            }
            let values = read_main_cf(&main_cf, &config_dir)?;
            Ok(Some(trust_from(&values, |p| {
                let inside = on_disk(p);
                if inside.exists() {
                    inside
                } else {
                    p.to_owned()
                }
            })))
        }
    }
}

const DEFAULT_CONFIG_DIR: &str = "/etc/postfix";

fn trust_from(values: &[String; 3], resolve: impl Fn(&Path) -> PathBuf) -> PostfixTrust {
    let path = |v: &String| (!v.is_empty()).then(|| resolve(Path::new(v)));
    PostfixTrust {
        ca_file: path(&values[0]),
        ca_path: path(&values[1]),
        append_default_ca: values[2].eq_ignore_ascii_case("yes") || values[2].eq_ignore_ascii_case("true"),
    }
}

/// `postconf -c DIR -h -x` of the trust parameters; `None` when postconf
/// is not installed.
fn postconf(config_dir: &Path) -> Result<Option<[String; 3]>, CliError> {
    let out = match Command::new("postconf")
        .arg("-c")
        .arg(config_dir)
        .args(["-h", "-x"])
        .args(TRUST_PARAMS)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(postconf_error(config_dir, &e.to_string())),
    };
    if !out.status.success() {
        return Err(postconf_error(config_dir, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    match lines.as_slice() {
        [file, path, append] => Ok(Some([file.to_string(), path.to_string(), append.to_string()])),
        _ => Err(postconf_error(config_dir, &format!("unexpected output {text:?}"))),
    }
}

fn postconf_error(config_dir: &Path, why: &str) -> CliError {
    CliError::Other(Box::new(std::io::Error::other(format!(
        "postconf -c {} -h -x {}: {why}",
        config_dir.display(),
        TRUST_PARAMS.join(" ")
    ))))
}

/// The trust parameters from a main.cf read directly: logical lines
/// (continuations start with whitespace), comments skipped, the last
/// occurrence wins, Postfix's defaults for the missing ones, and
/// `$config_directory` expanded to `config_dir`.
fn read_main_cf(path: &Path, config_dir: &Path) -> Result<[String; 3], CliError> {
    let text = std::fs::read(path).map_err(|source| smarthost_core::Error::Read {
        field: "main.cf".into(),
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut values = [String::new(), String::new(), "no".to_owned()];
    let mut logical: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match logical.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => logical.push(line.to_owned()),
        }
    }
    let dir = config_dir.display().to_string();
    for line in &logical {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if let Some(i) = TRUST_PARAMS.iter().position(|p| *p == name.trim()) {
            values[i] = value
                .trim()
                .replace("${config_directory}", &dir)
                .replace("$(config_directory)", &dir)
                .replace("$config_directory", &dir);
        }
    }
    Ok(values)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

pub(crate) fn run(cli: &Cli, args: &CheckArgs) -> Result<u8, CliError> {
    // A policy file comes with the settings file applied already.
    let policy = match &cli.policy {
        Some(_) => policy_file(cli)?,
        None => {
            let mut live = backend::open(cli)?.read()?;
            live.features = policy_input::settings(cli)?.and(live.features);
            live
        }
    };
    let (server_check, domain_check) = (
        policy.features.server.check_certificate,
        policy.features.domain.check_certificate,
    );
    let mut wanted: Vec<CheckTarget> = Vec::new();
    let mut want = |label: String, smarthost: &Smarthost, check_certificate: bool| {
        wanted.push(CheckTarget {
            label,
            smarthost: smarthost.clone(),
            check_certificate,
        })
    };
    if let Some(name) = &args.domain {
        let route = policy.route(name)?;
        let label = format!(
            "domain {}",
            route.sender_domain.as_ref().map(|d| d.as_str()).unwrap_or(name)
        );
        match route.via {
            Via::Domain(s) | Via::Mailbox(s) => want(label, s, domain_check),
            Via::Server(s) | Via::Recipient(s) | Via::Bounces(s) => want(label, s, server_check),
            Via::Direct => return Err(CliError::Usage(format!("{name} has no smarthost (direct delivery)"))),
        }
    } else {
        if let Some(s) = &policy.server {
            want("server".to_owned(), s, server_check);
        }
        if !args.server {
            for (d, s) in &policy.domains {
                want(format!("domain {d}"), s, domain_check);
            }
            // Mailboxes are domain-level rules, recipient routes and
            // bounces server-level ones (Policy::validate).
            for (m, s) in &policy.mailboxes {
                want(format!("mailbox {m}"), s, domain_check);
            }
            for (d, s) in &policy.recipients {
                want(format!("recipient {d}"), s, server_check);
            }
            if let Some(s) = policy.bounces.relay() {
                want("bounces".to_owned(), s, server_check);
            }
        }
    }
    // Each backup relay is checked as the smarthost it stands in for: the
    // same encryption and credentials.
    let backups: Vec<CheckTarget> = wanted
        .iter()
        .flat_map(|t| {
            t.smarthost.backups.iter().enumerate().map(|(i, relay)| CheckTarget {
                label: format!("{} (backup {})", t.label, i + 1),
                smarthost: Smarthost {
                    relay: relay.clone(),
                    backups: Vec::new(),
                    ..t.smarthost.clone()
                },
                check_certificate: t.check_certificate,
            })
        })
        .collect();
    wanted.extend(backups);
    if wanted.is_empty() {
        return Err(CliError::NothingToDo(
            "no smarthost is configured: nothing to check".into(),
        ));
    }
    let bar = (!cli.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(wanted.len() as u64);
        bar.set_message("checking smarthosts");
        bar
    });
    let tick = bar.clone();
    let any_certificate = wanted.iter().any(|t| t.check_certificate);
    let options = options(cli, &args.probe, true, any_certificate)?;
    if any_certificate && cli.policy.is_none() && args.probe.ca_file.is_none() {
        warn_untrusting(cli)?;
    }
    let checked = runtime()?.block_on(check::check_many(wanted, &options, PARALLEL, move || {
        if let Some(bar) = &tick {
            bar.inc(1);
        }
    }));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let ok = checked.iter().all(|c| c.report.ok);
    if cli.json {
        output::json(&Report {
            schema: JSON_SCHEMA,
            ok,
            checks: &checked,
        });
    } else {
        output::print(
            &checked
                .iter()
                .map(|c| render(&c.used_by, &c.report))
                .collect::<String>(),
        );
    }
    Ok(if ok { 0 } else { exit::CHECK_FAILED })
}

/// The live configuration has smarthosts whose certificate is checked, but
/// Postfix trusts no CA: say so, as the check uses the system store that
/// smarthost's next write puts in smtp_tls_CAfile.
fn warn_untrusting(cli: &Cli) -> Result<(), CliError> {
    if cli.backend != BackendName::Postfix {
        return Ok(());
    }
    if postfix_trust(cli)?.is_some_and(|t| t.is_empty()) {
        eprintln!(
            "warning: {UNSET}; until then Postfix verifies no relay certificate and defers mail to `secure` relays (\"Server certificate not verified\")"
        );
    }
    Ok(())
}

/// Checks one smarthost (for `set --check`).
pub(crate) fn probe_one(
    cli: &Cli,
    probe: &ProbeArgs,
    smarthost: &Smarthost,
    check_certificate: bool,
) -> Result<CheckReport, CliError> {
    let options = options(cli, probe, check_certificate, check_certificate)?;
    Ok(runtime()?.block_on(check::check(smarthost, &options)))
}

pub(crate) fn render(used_by: &[String], r: &CheckReport) -> String {
    let user = r.username.as_ref().map(|u| format!(", user {u}")).unwrap_or_default();
    let verdict = if r.ok { "OK" } else { "FAILED" };
    let mut out = format!(
        "{verdict}: {} ({}{user}), used by {}\n",
        r.relay,
        r.encryption,
        used_by.join(", ")
    );
    for s in &r.steps {
        let mark = if s.status == StepStatus::Ok { "ok  " } else { "FAIL" };
        out.push_str(&format!(
            "  {mark} {:<9} {:>5} ms  {}\n",
            s.name.to_string(),
            s.duration_ms,
            s.detail
        ));
        if let Some(advice) = &s.advice {
            out.push_str(&format!("       {advice}\n"));
        }
    }
    out
}
