//! `smarthost dns`: the DNS assistant over one domain or all of them.

use std::sync::Arc;

use serde::Serialize;
use smarthost_core::dns::{DnsChecker, DomainReport, SpfStatus};
use smarthost_core::{DomainName, Smarthost, JSON_SCHEMA};

use crate::args::{Cli, DnsArgs};
use crate::backend;
use crate::error::CliError;
use crate::exit;
use crate::output;
use crate::policy_input::policy_file;

/// Domains checked at the same time with `--all`.
const PARALLEL: usize = 16;

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    domains: &'a [DomainReport],
}

pub(crate) fn run(cli: &Cli, args: &DnsArgs) -> Result<u8, CliError> {
    let policy = match &cli.policy {
        Some(_) => policy_file(cli)?,
        None => backend::open(cli)?.read()?,
    };
    let targets: Vec<(DomainName, Smarthost)> = if args.all {
        policy.domains.iter().map(|(d, s)| (d.clone(), s.clone())).collect()
    } else {
        let name = args.domain.as_deref().unwrap_or_default();
        let route = policy.route(name)?;
        let domain = route
            .sender_domain
            .clone()
            .ok_or_else(|| CliError::Usage("give a domain".into()))?;
        match route.via.smarthost() {
            Some(s) => vec![(domain, s.clone())],
            None => {
                return Err(CliError::Usage(format!(
                    "{domain} has no smarthost (direct delivery): there is no relay to authorize"
                )))
            }
        }
    };
    if targets.is_empty() {
        return Err(CliError::Usage("the policy has no domain smarthost to check".into()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let reports = runtime.block_on(check_all(args, targets))?;
    if cli.json {
        output::json(&Report {
            schema: JSON_SCHEMA,
            domains: &reports,
        });
    } else {
        output::print(&reports.iter().map(render).collect::<String>());
    }
    let pending = reports.iter().any(|r| r.spf.status == SpfStatus::NotAuthorized);
    Ok(if pending { exit::CHANGES_PENDING } else { 0 })
}

async fn check_all(args: &DnsArgs, targets: Vec<(DomainName, Smarthost)>) -> Result<Vec<DomainReport>, CliError> {
    let checker = match args.dns_server {
        Some(server) => DnsChecker::with_server(server)?,
        None => DnsChecker::system()?,
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (domain, smarthost)) in targets.into_iter().enumerate() {
        let (checker, limit, selectors) = (checker.clone(), limit.clone(), args.dkim_selectors.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            (index, checker.check(&domain, &smarthost, &selectors).await)
        });
    }
    let mut reports = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (index, report) = done.map_err(|e| CliError::Usage(format!("a DNS check stopped: {e}")))?;
        reports.push((index, report?));
    }
    reports.sort_by_key(|(index, _)| *index);
    Ok(reports.into_iter().map(|(_, r)| r).collect())
}

fn render(r: &DomainReport) -> String {
    let mut out = format!("{} (relay {})\n", r.domain, r.relay);
    match &r.spf.status {
        SpfStatus::Authorized => {
            let lookups = r.spf.lookups.map(|n| format!(", {n} DNS lookups")).unwrap_or_default();
            out.push_str(&format!("  SPF: the relay is authorized{lookups}\n"));
        }
        SpfStatus::NotNeeded(why) => out.push_str(&format!("  SPF: nothing to add: {why}\n")),
        SpfStatus::NotAuthorized => {
            out.push_str("  SPF: the relay is NOT authorized\n");
            for p in &r.spf.published {
                out.push_str(&format!("    published: {p}\n"));
            }
            if let Some(m) = &r.spf.publish {
                out.push_str(&format!(
                    "    publish this one TXT record at {} instead:\n      {}\n",
                    r.domain, m.record
                ));
            }
        }
    }
    match &r.dmarc {
        Some(d) => out.push_str(&format!("  DMARC: {d}\n")),
        None => out.push_str("  DMARC: missing\n"),
    }
    for k in &r.dkim {
        let state = if k.found { "published" } else { "missing" };
        out.push_str(&format!("  DKIM {}._domainkey: {state}\n", k.selector));
    }
    for w in &r.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    out
}
