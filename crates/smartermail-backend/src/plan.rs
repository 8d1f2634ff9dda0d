//! The API requests that turn the current gateways into the policy's.

use serde_json::json;
use smarthost_core::{ApiRequest, Change, Plan, Policy};

use crate::error::Error;
use crate::schema::{self, Gateway};
use crate::state::{self, password_known, State};

fn same(current: &Gateway, wanted: &Gateway, compare_password: bool) -> bool {
    let strip = |g: &Gateway| Gateway {
        id: String::new(),
        password: String::new(),
        ..g.clone()
    };
    strip(current) == strip(wanted) && (!compare_password || current.password == wanted.password)
}

fn request(path: String, body: serde_json::Value, secret: bool) -> Change {
    let secret_pointers = if secret {
        vec![schema::PASSWORD_POINTER.to_owned()]
    } else {
        Vec::new()
    };
    Change::Api(ApiRequest {
        method: "POST".into(),
        path,
        body: Some(body),
        secret_pointers,
    })
}

/// `rendering`: the state comes from the last render, which keeps no
/// password, so passwords are not compared.
pub(crate) fn plan(current: &State, desired: &Policy, rendering: bool) -> Result<Plan, Error> {
    let mut plan = Plan::new("smartermail");
    plan.warnings = desired.warnings();
    let mut wanted = Vec::new();
    if let Some(s) = &desired.server {
        wanted.push((None, state::gateway_for(None, s)?));
    }
    for (d, s) in &desired.domains {
        wanted.push((Some(d), state::gateway_for(Some(d), s)?));
    }

    for (_, g) in &wanted {
        let secret = g.use_authentication;
        match current.gateways.get(&g.description) {
            None => plan
                .changes
                .push(request(schema::GATEWAY_PUT.into(), json!({"gateway": g}), secret)),
            Some(existing) => {
                let known = !rendering && password_known(existing);
                if !same(existing, g, known && g.use_authentication) {
                    plan.changes
                        .push(request(schema::gateway(&existing.id), json!({"gateway": g}), secret));
                } else if g.use_authentication && !rendering && !known {
                    plan.notes.push(format!(
                        "{}: SmarterMail does not return the gateway's password, so it is sent again",
                        g.description
                    ));
                    plan.changes
                        .push(request(schema::gateway(&existing.id), json!({"gateway": g}), secret));
                }
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
            let body = json!({"domainSettings": {schema::DOMAIN_GATEWAY_FIELD: id}});
            plan.changes
                .push(request(schema::domain_settings(domain.as_str()), body, false));
        }
    }
    for (description, existing) in &current.gateways {
        if wanted.iter().any(|(_, g)| &g.description == description) {
            continue;
        }
        for (domain, id) in &current.links {
            if id == &existing.id {
                let body = json!({"domainSettings": {schema::DOMAIN_GATEWAY_FIELD: ""}});
                plan.changes.push(request(schema::domain_settings(domain), body, false));
            }
        }
        plan.changes
            .push(request(schema::gateway_delete(&existing.id), json!({}), false));
    }
    Ok(plan)
}
