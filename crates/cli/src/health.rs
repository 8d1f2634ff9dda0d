//! `test-send`, `status` and `doctor`: relay health from Postfix's own
//! view (the queue and the mail log), over `postfix_backend::health`.
//! Postfix only: MailEnable and SmarterMail are not covered (see
//! docs/health.md).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postfix_backend::health::classify::Reason;
use postfix_backend::health::doctor::{self, Grade};
use postfix_backend::health::follow::{self, TestMessage, Verdict};
use postfix_backend::health::log::{parse_line, Clock, LogSettings};
use postfix_backend::health::queue;
use postfix_backend::health::status::{self, Health, Severity, Thresholds};
use postfix_backend::PostfixOptions;
use serde::Serialize;
use smarthost_core::peer_text::Redactor;
use smarthost_core::transaction::safe_fs;
use smarthost_core::{Policy, JSON_SCHEMA};

use crate::args::{BackendName, Cli, DoctorArgs, StatusArgs, TestSendArgs};
use crate::backend;
use crate::error::CliError;
use crate::exit;
use crate::output;

fn backend_error(e: postfix_backend::Error) -> CliError {
    match e {
        postfix_backend::Error::InvalidAddress { field, reason } => CliError::Usage(format!("--{field}: {reason}")),
        e => CliError::Backend(smarthost_core::WriterError::new(e)),
    }
}

/// The live Postfix instance the command line names: these commands read
/// its queue and log, so neither another backend nor `--root` will do.
fn live_options(cli: &Cli) -> Result<PostfixOptions, CliError> {
    if cli.backend != BackendName::Postfix {
        return Err(CliError::Usage(
            "test-send, status and doctor read Postfix's queue and log; MailEnable and SmarterMail are not covered (see docs/health.md)".into(),
        ));
    }
    if cli.root.is_some() {
        return Err(CliError::Usage(
            "test-send, status and doctor need the live Postfix instance, not --root".into(),
        ));
    }
    crate::backend::postfix_options(cli)
}

/// Redacts every password of the configuration from peer text.
fn redactor(policy: &Policy) -> Redactor {
    policy
        .server
        .iter()
        .chain(policy.domains.values())
        .filter_map(|s| s.credentials.as_ref())
        .fold(Redactor::new(), |r, c| r.with_credentials(c))
}

/// `postqueue`/`postsuper` with the instance's `-c DIR`.
fn postfix_tool(options: &PostfixOptions, tool: &str, rest: &str) -> String {
    let config = if options.config_dir == Path::new(postfix_backend::schema::DEFAULT_CONFIG_DIR) {
        String::new()
    } else {
        format!(" -c {}", options.config_dir.display())
    };
    format!("{tool}{config} {rest}")
}

/// The advice for a reason, refined with what is installed here.
fn advice(reason: Reason, options: &PostfixOptions) -> String {
    if reason == Reason::NoSaslMechanism {
        let mut installed = doctor::installed_mechanisms(&options.root);
        // smarthost sets smtp_sasl_security_options = noanonymous.
        installed.retain(|m| *m != "ANONYMOUS");
        if installed.iter().any(|m| *m == "PLAIN" || *m == "LOGIN") {
            return format!(
                "Postfix can do {} here, so the relay offers none of them (`smarthost doctor` asks it): Cyrus SASL has no client plugin for mechanisms such as XOAUTH2; ask the provider for SMTP AUTH with PLAIN or LOGIN",
                installed.join(" ")
            );
        }
    }
    reason.advice().to_owned()
}

#[derive(Serialize)]
struct TlsReport {
    trust: String,
    verified: bool,
    protocol: String,
    cipher: String,
}

#[derive(Serialize)]
struct TestSendReport {
    schema: u32,
    from: String,
    to: String,
    header: String,
    message_id: String,
    verdict: Verdict,
    delivered: bool,
    queue_id: Option<String>,
    route: String,
    configured_relay: Option<String>,
    configured_user: Option<String>,
    relay: Option<String>,
    tls: Option<TlsReport>,
    dsn: Option<String>,
    reply: Option<String>,
    reason: Option<Reason>,
    reason_label: Option<&'static str>,
    advice: Option<String>,
    elapsed_ms: u128,
    postfix_delay: Option<f64>,
    queue_name: Option<String>,
    log: Option<String>,
    log_error: Option<String>,
}

pub(crate) fn test_send(cli: &Cli, args: &TestSendArgs) -> Result<u8, CliError> {
    let options = live_options(cli)?;
    let message = TestMessage::new(&args.from, &args.to).map_err(backend_error)?;
    let policy = backend::open(cli)?.read()?;
    let route = policy.route_to(message.from(), Some(&args.to))?;
    let (configured_relay, configured_user) = match route.via.smarthost() {
        Some(s) => (
            Some(s.relay.to_string()),
            s.credentials.as_ref().map(|c| c.username().to_string()),
        ),
        None => (None, None),
    };
    let route_text = route.to_string();
    let followed =
        follow::send_and_follow(&options, &message, Duration::from_secs(args.timeout.max(1))).map_err(backend_error)?;
    let o = &followed.outcome;
    let redactor = redactor(&policy);
    let report = TestSendReport {
        schema: JSON_SCHEMA,
        from: args.from.clone(),
        to: args.to.clone(),
        header: format!("{}: {}", follow::TEST_HEADER, message.token()),
        message_id: message.message_id(),
        verdict: o.verdict,
        delivered: o.verdict == Verdict::Delivered,
        queue_id: o.queue_id.clone(),
        route: route_text,
        configured_relay,
        configured_user,
        relay: o.relay.as_ref().map(ToString::to_string),
        tls: o.tls.as_ref().map(|t| TlsReport {
            trust: t.trust.clone(),
            verified: t.is_verified(),
            protocol: t.protocol.clone(),
            cipher: t.cipher.clone(),
        }),
        dsn: o.dsn.clone(),
        reply: o.text.as_deref().map(|t| redactor.sanitize(t)),
        reason: o.reason,
        reason_label: o.reason.map(Reason::label),
        advice: o.reason.map(|r| advice(r, &options)),
        elapsed_ms: followed.elapsed.as_millis(),
        postfix_delay: o.postfix_delay,
        queue_name: o.queue_name.clone(),
        log: followed.log.clone(),
        log_error: followed.log_error.clone(),
    };
    if cli.json {
        output::json(&report);
    } else {
        output::print(&render_test_send(&report, &options, args.timeout));
    }
    Ok(if report.delivered { 0 } else { exit::CHECK_FAILED })
}

fn render_test_send(r: &TestSendReport, options: &PostfixOptions, timeout: u64) -> String {
    let mut out = format!("Test message from {} to {} ({})\n", r.from, r.to, r.header);
    let mut row = |name: &str, value: &str| out.push_str(&format!("  {name:<10} {value}\n"));
    row("route", &r.route);
    if let Some(id) = &r.queue_id {
        row("queue ID", id);
    }
    let seconds = r.elapsed_ms as f64 / 1000.0;
    let result = match (r.verdict, r.reason) {
        (Verdict::Delivered, _) => format!("DELIVERED in {seconds:.1} s"),
        (Verdict::Pending, _) => format!("NO ANSWER within {timeout} s"),
        (v, Some(reason)) => format!("{} after {seconds:.1} s: {reason}", v.label().to_uppercase()),
        (v, None) => format!("{} after {seconds:.1} s", v.label().to_uppercase()),
    };
    row("result", &result);
    if let Some(relay) = &r.relay {
        row("relay", relay);
    }
    if let Some(tls) = &r.tls {
        let trust = if tls.verified {
            "certificate verified"
        } else {
            "certificate NOT verified"
        };
        row(
            "TLS",
            &format!("{} ({trust}), {} {}", tls.trust, tls.protocol, tls.cipher),
        );
    } else if r.relay.is_some() {
        row("TLS", "none logged for this delivery (no TLS, or a reused connection)");
    }
    if let Some(user) = &r.configured_user {
        row(
            "SASL user",
            &format!("{user} (from the configuration: Postfix does not log it)"),
        );
    }
    if let Some(reply) = &r.reply {
        row("reply", reply);
    }
    if let Some(advice) = &r.advice {
        row("advice", advice);
    }
    if let Some(why) = &r.log_error {
        row("log", &format!("not read ({why}); only the queue was followed"));
    }
    if r.verdict == Verdict::Pending && r.queue_name.as_deref().is_none_or(|q| q == "maildrop") {
        out.push_str(&format!(
            "Postfix has not picked the message up: is the instance running? ({})\n",
            postfix_tool(options, "postfix", "status")
        ));
    }
    if let (Some(queue), Some(id), false) = (&r.queue_name, &r.queue_id, r.delivered) {
        out.push_str(&format!(
            "The message waits in the {queue} queue and Postfix retries it; remove it with: {}\n",
            postfix_tool(options, "postsuper", &format!("-d {id}"))
        ));
    }
    out
}

/// The lines of the log since `since`, and where they came from (or why
/// there are none).
fn log_lines(options: &PostfixOptions, since: i64, clock: &Clock) -> (Vec<String>, Result<String, String>) {
    match LogSettings::locate(options).and_then(|s| Ok((s.read_since(since, clock)?, s))) {
        Ok((lines, settings)) => (lines, Ok(settings.source.to_string())),
        Err(e) => (Vec::new(), Err(e.to_string())),
    }
}

#[derive(Serialize)]
struct StatusReport<'a> {
    schema: u32,
    severity: Severity,
    summary: String,
    log: Option<String>,
    log_error: Option<String>,
    #[serde(flatten)]
    health: &'a Health,
}

pub(crate) fn status(cli: &Cli, args: &StatusArgs) -> Result<u8, CliError> {
    let thresholds = Thresholds {
        warning_age: i64::try_from(args.warning_age).unwrap_or(i64::MAX),
        critical_age: i64::try_from(args.critical_age).unwrap_or(i64::MAX),
    };
    let read = || -> Result<(Health, Policy, Result<String, String>), CliError> {
        let options = live_options(cli)?;
        let policy = backend::open(cli)?.read()?;
        let clock = Clock::system();
        let since = clock.now - i64::try_from(args.since).unwrap_or(i64::MAX / 2);
        let queue = queue::read(&options).map_err(backend_error)?;
        let (text, log) = log_lines(&options, since, &clock);
        let lines: Vec<_> = text.iter().filter_map(|l| parse_line(l, &clock)).collect();
        let health = status::summarize(&policy, &queue, &lines, clock.now, since);
        Ok((health, policy, log))
    };
    let (health, policy, log) = match read() {
        Ok(read) => read,
        Err(e) => {
            if let Some(file) = &args.prometheus {
                write_prometheus(file, &prometheus_failed())?;
            }
            if args.nagios {
                output::print(&format!("SMARTHOST UNKNOWN - {}\n", nagios_text(&e.to_string())));
                return Ok(Severity::Unknown.code());
            }
            return Err(e);
        }
    };
    let severity = health.severity(&thresholds);
    if let Some(file) = &args.prometheus {
        write_prometheus(file, &prometheus(&health, severity))?;
    }
    let summary = summary(&health, severity);
    if args.nagios {
        output::print(&nagios(&health, severity, &summary, &thresholds));
        return Ok(severity.code());
    }
    let redactor = redactor(&policy);
    if cli.json {
        let mut health = health.clone();
        for reasons in health
            .relays
            .iter_mut()
            .map(|r| &mut r.reasons)
            .chain(health.domains.iter_mut().map(|d| &mut d.reasons))
        {
            for c in reasons {
                c.example = redactor.sanitize(&c.example);
            }
        }
        output::json(&StatusReport {
            schema: JSON_SCHEMA,
            severity,
            summary,
            log: log.as_ref().ok().cloned(),
            log_error: log.err(),
            health: &health,
        });
    } else if args.prometheus.is_none() {
        output::print(&render_status(&health, severity, &summary, &log, args.since, &redactor));
    }
    Ok(0)
}

/// `90 s`, `12 min`, `3 h`, `2 d`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The state in one sentence: what is deferred where, and why.
fn summary(health: &Health, severity: Severity) -> String {
    let deferred = health.deferred();
    if deferred == 0 {
        return format!("no mail deferred on {} smarthost relay(s)", health.relays.len());
    }
    let relays: Vec<String> = health
        .relays
        .iter()
        .filter(|r| r.deferred > 0)
        .map(|r| format!("{}: {}", r.relay, r.reasons_text()))
        .collect();
    format!(
        "{deferred} message(s) deferred, oldest {}{}: {}",
        age(health.oldest_seconds().unwrap_or(0)),
        if severity == Severity::Critical {
            ", needs the administrator"
        } else {
            ""
        },
        relays.join("; ")
    )
}

/// Text for a Nagios line: one line, no `|` (which starts perfdata).
fn nagios_text(text: &str) -> String {
    smarthost_core::peer_text::sanitize(text).replace('|', "/")
}

fn nagios(health: &Health, severity: Severity, summary: &str, t: &Thresholds) -> String {
    let log = health.log_counts();
    format!(
        "SMARTHOST {} - {} | deferred={};;;0 oldest={}s;{};{};0 sent={};;;0 bounced={};;;0\n",
        severity.as_str(),
        nagios_text(summary),
        health.deferred(),
        health.oldest_seconds().unwrap_or(0),
        t.warning_age,
        t.critical_age,
        log.sent,
        log.bounced,
    )
}

fn render_status(
    health: &Health,
    severity: Severity,
    summary: &str,
    log: &Result<String, String>,
    since: u64,
    redactor: &Redactor,
) -> String {
    let mut out = format!("{}: {summary}\n", severity.as_str());
    let period = age(i64::try_from(since).unwrap_or(i64::MAX));
    for r in &health.relays {
        out.push_str(&format!("\n{}  (used by {})\n", r.relay, r.used_by.join(", ")));
        match r.oldest_seconds {
            Some(oldest) => out.push_str(&format!("  deferred: {}, oldest {}\n", r.deferred, age(oldest))),
            None => out.push_str("  deferred: 0\n"),
        }
        for c in &r.reasons {
            out.push_str(&format!(
                "    {} ({}): {}\n      {}\n",
                c.reason,
                c.messages,
                redactor.sanitize(&c.example),
                c.reason.advice()
            ));
        }
        if log.is_ok() {
            out.push_str(&format!(
                "  last {period} (log): {} sent, {} deferred, {} bounced\n",
                r.log.sent, r.log.deferred, r.log.bounced
            ));
        }
    }
    if !health.domains.is_empty() {
        out.push_str("\nDeferred by sender domain:\n");
        for d in &health.domains {
            let reasons: Vec<&str> = d.reasons.iter().map(|c| c.reason.label()).collect();
            out.push_str(&format!(
                "  {:<24} {:<28} {} deferred, oldest {}: {}\n",
                d.sender_domain,
                d.relay,
                d.deferred,
                age(d.oldest_seconds.unwrap_or(0)),
                reasons.join(", ")
            ));
        }
    }
    if health.other_deferred > 0 {
        out.push_str(&format!(
            "\n{} other deferred message(s) go direct (no smarthost)\n",
            health.other_deferred
        ));
    }
    match log {
        Ok(source) => out.push_str(&format!("\nLog: {source}\n")),
        Err(why) => out.push_str(&format!("\nLog: not read ({why}); the counts are missing\n")),
    }
    out
}

/// A Prometheus label value, escaped (`\`, `"`, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The node_exporter textfile of a status.
fn prometheus(health: &Health, severity: Severity) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    family(
        "smarthost_status_success",
        "Whether the queue and configuration could be read (1) or not (0).",
        vec![(String::new(), "1".into())],
    );
    family(
        "smarthost_status_severity",
        "The monitoring state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (thresholds in docs/health.md).",
        vec![(String::new(), severity.code().to_string())],
    );
    family(
        "smarthost_status_timestamp_seconds",
        "When this file was written, seconds since the Unix epoch.",
        vec![(String::new(), health.now.to_string())],
    );
    family(
        "smarthost_log_window_seconds",
        "The period the log counts cover (status --since).",
        vec![(String::new(), (health.now - health.since).to_string())],
    );
    let relay = |r: &str| format!("{{relay=\"{}\"}}", label(r));
    family(
        "smarthost_relay_deferred_messages",
        "Messages in Postfix's deferred queue whose sender routes to this relay.",
        health
            .relays
            .iter()
            .map(|r| (relay(&r.relay), r.deferred.to_string()))
            .collect(),
    );
    family(
        "smarthost_relay_oldest_deferred_seconds",
        "Age of the oldest deferred message of this relay (0 when none).",
        health
            .relays
            .iter()
            .map(|r| (relay(&r.relay), r.oldest_seconds.unwrap_or(0).to_string()))
            .collect(),
    );
    let mut by_reason = Vec::new();
    for r in &health.relays {
        for c in &r.reasons {
            by_reason.push((
                format!("{{relay=\"{}\",reason=\"{}\"}}", label(&r.relay), c.reason.id()),
                c.messages.to_string(),
            ));
        }
    }
    family(
        "smarthost_relay_deferred_by_reason_messages",
        "Deferred messages of this relay by classified reason (absent when none).",
        by_reason,
    );
    family(
        "smarthost_domain_deferred_messages",
        "Deferred messages by sender domain and the relay it takes.",
        health
            .domains
            .iter()
            .map(|d| {
                (
                    format!(
                        "{{sender_domain=\"{}\",relay=\"{}\"}}",
                        label(&d.sender_domain),
                        label(&d.relay)
                    ),
                    d.deferred.to_string(),
                )
            })
            .collect(),
    );
    let mut attempts = Vec::new();
    for r in &health.relays {
        for (status, n) in [
            ("sent", r.log.sent),
            ("deferred", r.log.deferred),
            ("bounced", r.log.bounced),
            ("expired", r.log.expired),
        ] {
            attempts.push((
                format!("{{relay=\"{}\",status=\"{status}\"}}", label(&r.relay)),
                n.to_string(),
            ));
        }
    }
    family(
        "smarthost_relay_log_deliveries",
        "Delivery attempts in the mail log over the last smarthost_log_window_seconds, by relay and status.",
        attempts,
    );
    family(
        "smarthost_other_deferred_messages",
        "Deferred messages that go direct (no smarthost).",
        vec![(String::new(), health.other_deferred.to_string())],
    );
    out
}

/// The textfile when the status could not be read.
fn prometheus_failed() -> String {
    "# HELP smarthost_status_success Whether the queue and configuration could be read (1) or not (0).\n\
     # TYPE smarthost_status_success gauge\n\
     smarthost_status_success 0\n\
     # HELP smarthost_status_severity The monitoring state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (thresholds in docs/health.md).\n\
     # TYPE smarthost_status_severity gauge\n\
     smarthost_status_severity 3\n"
        .to_owned()
}

/// Writes `text` to `file` atomically: a new file next to it (a name the
/// textfile collector ignores: it reads `*.prom` only), synced, renamed
/// over it. A reader sees the old file or the new one, never a part.
fn write_prometheus(file: &Path, text: &str) -> Result<(), CliError> {
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Other(Box::new(std::io::Error::other(format!(
            "--prometheus {}: {e}",
            file.display()
        ))))
    };
    let name = file
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("--prometheus {}: not a file name", file.display())))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = dir.join(format!(
        ".{}.{}.{nanos:x}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<(), CliError> {
        let mut f = safe_fs::create_new(&temp, 0o644).map_err(|e| failed(&e))?;
        f.write_all(text.as_bytes()).map_err(|e| failed(&e))?;
        f.sync_all().map_err(|e| failed(&e))?;
        std::fs::rename(&temp, file).map_err(|e| failed(&e))?;
        safe_fs::sync_dir(&dir).map_err(|e| failed(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[derive(Serialize)]
struct DoctorReport<'a> {
    schema: u32,
    ok: bool,
    findings: &'a [doctor::Finding],
}

/// Asks each relay that needs AUTH which mechanisms it offers (EHLO after
/// STARTTLS or implicit TLS; the certificate is not checked here, `check`
/// does that).
fn offered(policy: &Policy, timeout: u64) -> Result<doctor::Offered, CliError> {
    let targets: Vec<smarthost_core::check::CheckTarget> = policy
        .server
        .iter()
        .map(|s| ("server".to_owned(), s))
        .chain(policy.domains.iter().map(|(d, s)| (format!("domain {d}"), s)))
        .filter(|(_, s)| s.credentials.is_some())
        .map(|(label, s)| smarthost_core::check::CheckTarget {
            label,
            smarthost: s.clone(),
            check_certificate: false,
        })
        .collect();
    if targets.is_empty() {
        return Ok(BTreeMap::new());
    }
    let options = smarthost_core::check::CheckOptions {
        step_timeout: Duration::from_secs(timeout.max(1)),
        check_certificate: false,
        ..smarthost_core::check::CheckOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let checked = runtime.block_on(smarthost_core::check::check_many(targets, &options, 16, || {}));
    let mut out = doctor::Offered::new();
    for c in checked {
        let r = c.report;
        let answer = if !r.auth_mechanisms.is_empty() {
            Ok(r.auth_mechanisms.clone())
        } else {
            match r.failed_step() {
                Some(step) if step.name != smarthost_core::check::StepName::Auth => {
                    use smarthost_core::check::Failure;
                    let why = match &step.failure {
                        Some(Failure::Refused) => "connection refused".to_owned(),
                        Some(Failure::Timeout) => "timed out".to_owned(),
                        Some(other) => format!("{other:?}"),
                        None => step.detail.clone(),
                    };
                    Err(format!("{} step: {why}", step.name))
                }
                _ => Ok(Vec::new()),
            }
        };
        // The first answer with mechanisms wins (one relay, several accounts).
        let keep = match out.get(&r.relay) {
            Some(Ok(m)) => m.is_empty(),
            Some(Err(_)) => answer.is_ok(),
            None => true,
        };
        if keep {
            out.insert(r.relay.clone(), answer);
        }
    }
    Ok(out)
}

pub(crate) fn doctor(cli: &Cli, args: &DoctorArgs) -> Result<u8, CliError> {
    let options = live_options(cli)?;
    // Recovers an interrupted apply first, as every command does.
    let backend = backend::open(cli)?;
    let offered = if args.no_probe {
        BTreeMap::new()
    } else {
        match backend.read() {
            Ok(policy) => offered(&policy, args.timeout)?,
            // diagnose() reports it.
            Err(_) => BTreeMap::new(),
        }
    };
    let writer = postfix_backend::PostfixWriter::new(options);
    let findings = doctor::diagnose(&writer, &offered, &Thresholds::default());
    let ok = !findings.iter().any(|f| f.grade == Grade::Fail);
    if cli.json {
        output::json(&DoctorReport {
            schema: JSON_SCHEMA,
            ok,
            findings: &findings,
        });
    } else {
        let mut out = String::new();
        for f in &findings {
            out.push_str(&format!("{}  {}: {}\n", f.grade.as_str(), f.title, f.detail));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        output::print(&out);
    }
    Ok(if ok { 0 } else { exit::CHECK_FAILED })
}
