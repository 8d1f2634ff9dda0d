//! `smarthost check` and `set --check`: the connection check over the
//! policy's smarthosts, each distinct one once, many at a time.

use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;
use smarthost_core::check::{self, CheckOptions, CheckReport, Checked, StepStatus};
use smarthost_core::{Smarthost, Via, JSON_SCHEMA};

use crate::args::{CheckArgs, Cli, ProbeArgs};
use crate::backend;
use crate::commands::policy_file;
use crate::error::CliError;
use crate::output;

/// Exit code when a check fails.
pub(crate) const CHECK_FAILED: u8 = 4;
/// Checks run at the same time: enough that a fleet's distinct relays are
/// checked in one wave.
const PARALLEL: usize = 64;

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    ok: bool,
    checks: &'a [Checked],
}

fn options(probe: &ProbeArgs, check_certificate: bool) -> Result<CheckOptions, CliError> {
    let roots = probe.ca_file.as_deref().map(check::load_roots).transpose()?;
    Ok(CheckOptions {
        step_timeout: Duration::from_secs(probe.timeout.max(1)),
        check_certificate,
        roots,
        dns_server: probe.dns_server,
        ..CheckOptions::default()
    })
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
            live.features = backend::settings(cli)?.and(live.features);
            live
        }
    };
    let (server_check, domain_check) = (
        policy.features.server.check_certificate,
        policy.features.domain.check_certificate,
    );
    let mut wanted: Vec<(String, Smarthost, bool)> = Vec::new();
    if let Some(name) = &args.domain {
        let route = policy.route(name)?;
        let label = format!(
            "domain {}",
            route.sender_domain.as_ref().map(|d| d.as_str()).unwrap_or(name)
        );
        match route.via {
            Via::Domain(s) => wanted.push((label, s.clone(), domain_check)),
            Via::Server(s) => wanted.push((label, s.clone(), server_check)),
            Via::Direct => return Err(CliError::Usage(format!("{name} has no smarthost (direct delivery)"))),
        }
    } else {
        if let Some(s) = &policy.server {
            wanted.push(("server".to_owned(), s.clone(), server_check));
        }
        if !args.server {
            for (d, s) in &policy.domains {
                wanted.push((format!("domain {d}"), s.clone(), domain_check));
            }
        }
    }
    if wanted.is_empty() {
        return Err(CliError::Usage("no smarthost is configured: nothing to check".into()));
    }
    let bar = (!cli.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(wanted.len() as u64);
        bar.set_message("checking smarthosts");
        bar
    });
    let tick = bar.clone();
    let options = options(&args.probe, true)?;
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
    Ok(if ok { 0 } else { CHECK_FAILED })
}

/// Checks one smarthost (for `set --check`).
pub(crate) fn probe_one(
    probe: &ProbeArgs,
    smarthost: &Smarthost,
    check_certificate: bool,
) -> Result<CheckReport, CliError> {
    let options = options(probe, check_certificate)?;
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
