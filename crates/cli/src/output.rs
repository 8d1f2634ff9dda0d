//! Printing: text for people, JSON (schema 1) for programs. A closed pipe
//! (`smarthost list | head`) is not an error.

use std::io::Write;

use serde::Serialize;
use smarthost_core::{
    Applied, Change, Plan, Policy, Provider, Route, Smarthost, SpfRequirement, JSON_SCHEMA, PROVIDERS,
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
    let mut text = match &policy.server {
        Some(s) => format!("server-wide: {}\n", describe(s)),
        None => "server-wide: none (direct delivery)\n".to_owned(),
    };
    if policy.domains.is_empty() {
        text.push_str("domains: none has its own smarthost\n");
    }
    for (d, s) in &policy.domains {
        text.push_str(&format!("domain {d}: {}\n", describe(s)));
    }
    print(&text);
}

#[derive(Serialize)]
struct RouteReport<'a> {
    schema: u32,
    sender: &'a str,
    #[serde(flatten)]
    route: &'a Route<'a>,
}

pub(crate) fn route(sender: &str, route: &Route<'_>, as_json: bool) {
    if as_json {
        return json(&RouteReport {
            schema: JSON_SCHEMA,
            sender,
            route,
        });
    }
    let way = match route.via.smarthost() {
        Some(s) => format!("relayed via {}", describe(s)),
        None => "delivered directly to the recipient's MX hosts".to_owned(),
    };
    print(&format!(
        "{sender}: {way}\n  because {}\n  note: forwarded mail keeps its original sender and so routes by that sender's domain\n",
        route.reason
    ));
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
