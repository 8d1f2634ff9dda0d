//! The API requests that turn the current gateways into the policy's, and
//! the names each request needs (for the preflight and the render's
//! marks).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use smarthost_core::{ApiRequest, Change, Encryption, Plan, Policy};

use crate::error::Error;
use crate::read::{self, password_known, State, PASSWORD_NOT_RETURNED};
use crate::schema::{self, role, Gateway, Names};

fn same(current: &Gateway, wanted: &Gateway, compare_password: bool) -> bool {
    let strip = |g: &Gateway| Gateway {
        id: String::new(),
        password: String::new(),
        ..g.clone()
    };
    strip(current) == strip(wanted) && (!compare_password || current.password == wanted.password)
}

struct Builder<'n> {
    names: &'n Names,
    plan: Plan,
}

impl Builder<'_> {
    fn gateway(&mut self, path: String, g: &Gateway) {
        let body = self.names.wrap_body(self.names.encode(g, &mut BTreeSet::new()));
        let secret_pointers = if g.use_authentication {
            vec![self.names.password_pointer()]
        } else {
            Vec::new()
        };
        self.plan.changes.push(Change::Api(ApiRequest {
            method: "POST".into(),
            path,
            body: Some(body),
            secret_pointers,
        }));
    }

    fn post(&mut self, path: String, body: Value) {
        self.plan.changes.push(Change::Api(ApiRequest {
            method: "POST".into(),
            path,
            body: Some(body),
            secret_pointers: Vec::new(),
        }));
    }

    fn link(&mut self, domain: &str, id: Value) {
        let mut settings = serde_json::Map::new();
        settings.insert(self.names.text(role::DOMAIN_LINK), id);
        self.post(
            schema::domain_settings(domain),
            json!({ schema::DOMAIN_SETTINGS_KEY: settings }),
        );
    }
}

/// `check_certificate = false` has no learned gateway field to map to, so
/// it is refused rather than ignored.
fn refuse_unchecked_certificates(desired: &Policy) -> Result<(), Error> {
    let encrypted = |s: &smarthost_core::Smarthost| s.encryption != Encryption::None;
    if !desired.features.server.check_certificate && desired.server.as_ref().is_some_and(encrypted) {
        return Err(Error::CertificateCheck {
            setting: "smarthost.server.checkConnection.checkCertificate ([features.server] check_certificate)",
        });
    }
    if !desired.features.domain.check_certificate && desired.domains.values().any(encrypted) {
        return Err(Error::CertificateCheck {
            setting: "smarthost.domain.checkConnection.checkCertificate ([features.domain] check_certificate)",
        });
    }
    Ok(())
}

/// `rendering`: the state comes from the last render, which keeps no
/// password, so passwords are not compared.
///
/// A new gateway is created disabled and limited to specific domains, and
/// enabled (and, for the server, widened to all domains) by a second
/// request, after the first was read back. A gateway that goes from
/// specific domains to all domains is likewise updated first and widened
/// last.
pub(crate) fn plan(names: &Names, current: &State, desired: &Policy, rendering: bool) -> Result<Plan, Error> {
    refuse_unchecked_certificates(desired)?;
    refuse_routing_rules(desired)?;
    let mut b = Builder {
        names,
        plan: Plan::new("smartermail"),
    };
    b.plan.warnings = desired.warnings();
    let mut wanted = Vec::new();
    if let Some(s) = &desired.server {
        wanted.push((None, read::gateway_for(None, s)?));
    }
    for (d, s) in &desired.domains {
        wanted.push((Some(d), read::gateway_for(Some(d), s)?));
    }

    for (_, g) in &wanted {
        let hidden = g.password == PASSWORD_NOT_RETURNED;
        let limited = Gateway {
            mode: schema::MODE_SPECIFIC_DOMAINS.to_owned(),
            ..g.clone()
        };
        match current.gateways.get(&g.description) {
            None if hidden => return Err(Error::PasswordHidden(g.description.clone())),
            None => {
                let name = schema::placeholder(&g.description);
                b.gateway(
                    names.endpoint(role::CREATE, ""),
                    &Gateway {
                        is_enabled: false,
                        ..limited
                    },
                );
                b.gateway(names.endpoint(role::UPDATE, &name), g);
            }
            Some(existing) => {
                let known = !rendering && password_known(existing);
                let differs = !same(existing, g, known && g.use_authentication && !hidden);
                let resend = g.use_authentication && !rendering && !known && !hidden;
                if hidden && differs {
                    return Err(Error::PasswordHidden(g.description.clone()));
                }
                if !differs && !resend {
                    continue;
                }
                if !differs {
                    b.plan.notes.push(format!(
                        "{}: SmarterMail does not return the gateway's password, so it is sent again",
                        g.description
                    ));
                }
                let path = names.endpoint(role::UPDATE, &existing.id);
                let widens = existing.mode == schema::MODE_SPECIFIC_DOMAINS && g.mode == schema::MODE_ALL_DOMAINS;
                if widens && !same(existing, &limited, false) {
                    b.gateway(path.clone(), &limited);
                }
                b.gateway(path, g);
            }
        }
    }
    for (domain, g) in &wanted {
        let Some(domain) = domain else { continue };
        let id = current
            .gateways
            .get(&g.description)
            .map(|e| e.id.clone())
            .unwrap_or_else(|| schema::placeholder(&g.description));
        if current.links.get(domain.as_str()) != Some(&id) {
            b.link(domain.as_str(), names.id_value(&id));
        }
    }
    for (description, existing) in &current.gateways {
        if wanted.iter().any(|(_, g)| &g.description == description) {
            continue;
        }
        for (domain, id) in &current.links {
            if id == &existing.id {
                b.link(domain, Value::String(String::new()));
            }
        }
        b.post(names.endpoint(role::DELETE, &existing.id), json!({}));
    }
    refuse_forbidden(&b.plan)?;
    Ok(b.plan)
}

/// Refuses a plan whose requests would write a field that decides where
/// INCOMING mail goes ([`schema::FORBIDDEN`]).
pub(crate) fn refuse_forbidden(plan: &Plan) -> Result<(), Error> {
    fn walk(value: &Value, path: &str) -> Result<(), Error> {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if schema::forbidden(k) {
                        return Err(Error::Forbidden {
                            path: path.to_owned(),
                            field: k.clone(),
                        });
                    }
                    walk(v, path)?;
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, path)),
            _ => Ok(()),
        }
    }
    for change in &plan.changes {
        if let Change::Api(r) = change {
            if let Some(body) = &r.body {
                walk(body, &r.path)?;
            }
        }
    }
    Ok(())
}

/// The roles (see [`role`]) a plan's requests need: the endpoints, the
/// wrapper, every field written and every enum value sent, and what
/// reading them back needs.
pub(crate) fn roles_of(names: &Names, plan: &Plan) -> BTreeSet<&'static str> {
    let mut used = BTreeSet::new();
    for change in &plan.changes {
        let Change::Api(r) = change else { continue };
        used.extend([role::LIST, role::LIST_KEY, role::ID]);
        if r.path.starts_with(&schema::domain_settings("")) {
            used.insert(role::DOMAIN_LINK);
            continue;
        }
        let Some((endpoint, _)) = names.classify(&r.path) else {
            continue;
        };
        used.insert(endpoint);
        if endpoint == role::DELETE {
            continue;
        }
        used.insert(role::WRAPPER);
        let Some(Value::Object(body)) = r.body.as_ref().and_then(|b| names.unwrap_body(b)) else {
            continue;
        };
        for field in [
            role::DESCRIPTION,
            role::ADDRESS,
            role::PORT,
            role::ENCRYPTION,
            role::ENABLED,
            role::MODE,
            role::AUTH,
            role::USERNAME,
            role::PASSWORD,
        ] {
            let Some(value) = body.get(&names.text(field)) else {
                continue;
            };
            used.insert(field);
            let choices: &[&'static str] = match field {
                role::ENCRYPTION => &[role::ENC_NONE, role::ENC_STARTTLS, role::ENC_IMPLICIT],
                role::MODE => &[role::MODE_ROUND_ROBIN, role::MODE_SPECIFIC],
                role::ENABLED => &[role::STATUS_ENABLED, role::STATUS_DISABLED],
                _ => &[],
            };
            let n = schema::normalize(value);
            used.extend(
                choices
                    .iter()
                    .filter(|c| names.get(c).is_some_and(|v| schema::normalize(&v) == n)),
            );
        }
    }
    used
}

/// The roles of `plan` that were not learned from the server.
pub(crate) fn unconfirmed(names: &Names, plan: &Plan) -> Vec<String> {
    roles_of(names, plan)
        .into_iter()
        .filter(|r| !names.confirmed(r))
        .map(|r| format!("{r} ({})", names.get(r).map(|v| v.to_string()).unwrap_or_default()))
        .collect()
}

/// Refuses every routing rule beyond a server-wide and per-domain
/// gateway: SmarterMail chooses an outbound gateway by sender domain only
/// (Round Robin for all, or Specific Domains), as far as public sources
/// say (`notes/smartermail.md`, KB a3624).
fn refuse_routing_rules(desired: &Policy) -> Result<(), Error> {
    use smarthost_core::RoutingRule;
    match desired.routing_rules().into_iter().next() {
        None => Ok(()),
        Some((field, rule)) => Err(Error::Unsupported {
            field,
            reason: match rule {
                RoutingRule::Backup => "several gateways in Round Robin mode take turns, they are not tried in order, and no public source names an ordered failover between gateways",
                RoutingRule::DirectException => "a Round Robin gateway carries the mail of every domain, and no public source names a way to exclude one domain from it",
                RoutingRule::Mailbox => "an outbound gateway is chosen for a whole domain, never for one sender address",
                RoutingRule::Recipient => "an outbound gateway is chosen by the sender's domain, never by the recipient's",
                RoutingRule::Bounces => "no public source says which gateway SmarterMail uses for the null sender, or how to choose one",
            },
        }),
    }
}
