//! Printing: text for people, JSON (docs/json.md) for programs. A closed pipe
//! (`smarthost list | head`) is not an error.

use std::io::Write;

use serde::Serialize;
use smarthost_core::{
    Applied, Bounces, Change, Plan, Policy, Provider, Route, Rule, Smarthost, SpfRequirement, JSON_SCHEMA, PROVIDERS,
};

/// Writes to stdout; a broken pipe ends output quietly.
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub(crate) fn json(value: &impl Serialize) {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serializes");
    text.push('\n');
    print(&text);
}

pub(crate) fn plan(plan: &Plan, as_json: bool) {
    if as_json {
        return json(plan);
    }
    if plan.is_empty() {
        let mut text = String::from("No changes: the system already matches the policy.\n");
        for w in &plan.warnings {
            text.push_str(&format!("warning: {w}\n"));
        }
        print(&text);
    } else {
        print(&plan.render());
    }
}

#[derive(Serialize)]
struct ApplyReport<'a> {
    schema: u32,
    backend: &'a str,
    changed: bool,
    changes: &'a [smarthost_core::Change],
    warnings: &'a [String],
    notes: &'a [String],
    backups: &'a [std::path::PathBuf],
    ran: &'a [String],
}

/// A command that found nothing to do (disabling what is not set,
/// checking with nothing configured).
pub(crate) fn nothing_to_do(message: &str, as_json: bool) {
    if as_json {
        return json(&serde_json::json!({"schema": JSON_SCHEMA, "changed": false, "message": message}));
    }
    print(&format!("{message}\n"));
}

pub(crate) fn applied(plan: &Plan, applied: &Applied, as_json: bool) {
    if as_json {
        return json(&ApplyReport {
            schema: JSON_SCHEMA,
            backend: &plan.backend,
            changed: applied.changed,
            changes: &plan.changes,
            warnings: &plan.warnings,
            notes: &plan.notes,
            backups: &applied.backups,
            ran: &applied.ran,
        });
    }
    let mut text = if applied.changed { plan.render() } else { String::new() };
    if applied.changed {
        // Files, registry values and API requests: every change but the
        // commands that follow them.
        let changes = plan.changes.iter().filter(|c| !matches!(c, Change::Command(_))).count();
        text.push_str(&format!("Applied {changes} change(s).\n"));
    } else {
        text.push_str("No changes: the system already matches the policy.\n");
        for w in &plan.warnings {
            text.push_str(&format!("warning: {w}\n"));
        }
    }
    print(&text);
}

fn describe(s: &Smarthost) -> String {
    let mut text = format!("{} ({})", s.relay, s.encryption);
    if let Some(c) = &s.credentials {
        text.push_str(&format!(", user {}", c.username()));
    }
    if s.relay.mx_lookup() {
        text.push_str(", MX lookup");
    }
    if !s.backups.is_empty() {
        let backups: Vec<String> = s.backups.iter().map(ToString::to_string).collect();
        text.push_str(&format!("; backups, in order: {}", backups.join(", ")));
    }
    text
}

#[derive(Serialize)]
struct ListReport<'a> {
    schema: u32,
    backend: &'a str,
    #[serde(flatten)]
    policy: &'a Policy,
}

pub(crate) fn list(backend: &str, policy: &Policy, as_json: bool) {
    if as_json {
        return json(&ListReport {
            schema: JSON_SCHEMA,
            backend,
            policy,
        });
    }
    print(&list_text(policy));
}

/// `list` for people: one line per rule, in the order of the policy file
/// (server, domains, mailboxes, recipients, bounces).
fn list_text(policy: &Policy) -> String {
    let mut text = match &policy.server {
        Some(s) => format!("server-wide: {}\n", describe(s)),
        None => "server-wide: none (direct delivery)\n".to_owned(),
    };
    if policy.domains.is_empty() && policy.direct.is_empty() {
        text.push_str("domains: none has its own smarthost\n");
    }
    // Domains in name order, a direct exception where its smarthost would be.
    let mut domains: Vec<(&smarthost_core::DomainName, String)> =
        policy.domains.iter().map(|(d, s)| (d, describe(s))).collect();
    for d in &policy.direct {
        let what = if policy.server.is_some() {
            "direct delivery (a direct exception to the server-wide smarthost)"
        } else {
            "direct delivery (a direct exception; there is no server-wide smarthost)"
        };
        domains.push((d, what.to_owned()));
    }
    domains.sort();
    for (d, what) in domains {
        text.push_str(&format!("domain {d}: {what}\n"));
    }
    for (m, s) in &policy.mailboxes {
        text.push_str(&format!("mailbox {m}: {}\n", describe(s)));
    }
    let mut recipients: Vec<(&smarthost_core::DomainName, String)> =
        policy.recipients.iter().map(|(d, s)| (d, describe(s))).collect();
    for d in &policy.direct_recipients {
        recipients.push((d, "direct delivery".to_owned()));
    }
    recipients.sort();
    for (d, what) in recipients {
        text.push_str(&format!("recipient {d}: {what}, whoever sends it\n"));
    }
    // The default path of bounces is the server-wide one, as for any
    // sender: said only when chosen otherwise.
    match &policy.bounces {
        Bounces::Server => {}
        Bounces::Direct => text.push_str("bounces: direct delivery (chosen for bounces)\n"),
        Bounces::Relay(s) => text.push_str(&format!("bounces: {}\n", describe(s))),
    }
    text
}

/// What `route` was asked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Asked<'a> {
    /// A sender, and maybe a recipient.
    Sender { sender: &'a str, to: Option<&'a str> },
    /// A forwarding target.
    Forwarded(&'a str),
}

#[derive(Serialize)]
struct RouteReport<'a> {
    schema: u32,
    /// The sender as given; absent for `--forwarded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'a str>,
    /// The recipient as given (`--to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    /// The forwarding target (`--forwarded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarded: Option<&'a str>,
    #[serde(flatten)]
    route: &'a Route<'a>,
    /// Forwarding warnings (`--forwarded`), as the plan gives them.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The rule's name in text output.
fn rule_text(rule: Rule) -> &'static str {
    match rule {
        Rule::Recipient => "recipient route",
        Rule::Bounces => "bounces",
        Rule::Mailbox => "mailbox smarthost",
        Rule::Domain => "domain smarthost",
        Rule::DirectException => "direct exception",
        Rule::Server => "server-wide smarthost",
        Rule::None => "none (no rule applies)",
    }
}

pub(crate) fn route(asked: Asked<'_>, route: &Route<'_>, warnings: &[String], as_json: bool) {
    if as_json {
        let (sender, recipient, forwarded) = match asked {
            Asked::Sender { sender, to } => (Some(sender), to, None),
            Asked::Forwarded(target) => (None, None, Some(target)),
        };
        return json(&RouteReport {
            schema: JSON_SCHEMA,
            sender,
            recipient,
            forwarded,
            route,
            warnings,
        });
    }
    let way = match route.via.smarthost() {
        Some(s) => format!("relayed via {}", describe(s)),
        None => "delivered directly to the recipient's MX hosts".to_owned(),
    };
    let mut text = match asked {
        Asked::Sender { sender, to: Some(to) } => format!("{sender} -> {to}: {way}\n"),
        Asked::Sender { sender, to: None } => format!("{sender}: {way}\n"),
        Asked::Forwarded(target) => format!("mail forwarded to {target} from an outside sender: {way}\n"),
    };
    text.push_str(&format!(
        "  rule: {}\n  because {}\n",
        rule_text(route.rule),
        route.reason
    ));
    match asked {
        Asked::Forwarded(_) => {
            text.push_str(
                "  note: forwarded mail keeps its outside sender unless sender rewriting (SRS, e.g. postsrsd) is in place; with SRS it takes the route of the forwarding domain\n",
            );
            for w in warnings {
                text.push_str(&format!("warning (without SRS): {w}\n"));
            }
        }
        Asked::Sender { .. } => text.push_str("  forwarded mail: see `route --forwarded TARGET`\n"),
    }
    print(&text);
}

#[derive(Serialize)]
struct ProvidersReport {
    schema: u32,
    providers: &'static [Provider],
}

pub(crate) fn providers(as_json: bool) {
    if as_json {
        return json(&ProvidersReport {
            schema: JSON_SCHEMA,
            providers: PROVIDERS,
        });
    }
    let mut text = String::new();
    for p in PROVIDERS {
        let name = if p.regional {
            format!("{}:REGION", p.name)
        } else {
            p.name.to_owned()
        };
        let spf = match p.spf {
            SpfRequirement::Include(d) => format!("SPF include:{d}"),
            SpfRequirement::NotNeeded(_) => "SPF: nothing to add".to_owned(),
        };
        text.push_str(&format!(
            "{name:<24} [{}]:{} {}  {spf}\n    {}: {}\n",
            p.host, p.port, p.encryption, p.title, p.credentials
        ));
    }
    print(&text);
}
