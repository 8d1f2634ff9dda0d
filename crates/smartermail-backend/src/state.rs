//! The smarthost part of a SmarterMail server: the gateways smarthost
//! manages and which domain uses which; read from the API or, when
//! rendering into a folder, from the last render.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::client::Client;
use crate::error::Error;
use crate::schema::{self, Gateway};

/// Managed gateways (by description) and domain links (domain → gateway id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) gateways: BTreeMap<String, Gateway>,
    pub(crate) links: BTreeMap<String, String>,
}

/// The description of the gateway for the server or a domain.
pub(crate) fn description(domain: Option<&DomainName>) -> String {
    match domain {
        None => format!("{}server", schema::MANAGED_PREFIX),
        Some(d) => format!("{}domain {d}", schema::MANAGED_PREFIX),
    }
}

fn domain_of(description: &str) -> Option<&str> {
    description
        .strip_prefix(schema::MANAGED_PREFIX)?
        .strip_prefix("domain ")
}

/// Whether a password read back is usable (SmarterMail may mask it).
pub(crate) fn password_known(g: &Gateway) -> bool {
    !g.password.is_empty() && !g.password.chars().all(|c| c == '*' || c == '•')
}

pub(crate) fn gateways(client: &Client) -> Result<Vec<Gateway>, Error> {
    let value = client.call("GET", schema::GATEWAYS, None)?;
    let list = value.get("gateways").cloned().unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(list).map_err(|e| Error::Http {
        method: "GET".into(),
        path: schema::GATEWAYS.into(),
        reason: format!("unexpected gateway list: {e}"),
    })
}

pub(crate) fn link(client: &Client, domain: &str) -> Result<String, Error> {
    let value = client.call("GET", &schema::domain_settings(domain), None)?;
    Ok(value
        .pointer(&format!("/domainSettings/{}", schema::DOMAIN_GATEWAY_FIELD))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

impl State {
    /// Reads the managed gateways, and the links of `domains` and of every
    /// domain a managed gateway is for.
    pub(crate) fn fetch(client: &Client, domains: &[&str]) -> Result<State, Error> {
        let mut state = State::default();
        for g in gateways(client)? {
            if g.description.starts_with(schema::MANAGED_PREFIX) {
                state.gateways.insert(g.description.clone(), g);
            }
        }
        let mut names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        names.extend(state.gateways.keys().filter_map(|d| domain_of(d)).map(str::to_owned));
        names.sort();
        names.dedup();
        for d in names {
            let id = link(client, &d)?;
            if !id.is_empty() {
                state.links.insert(d, id);
            }
        }
        Ok(state)
    }

    /// The last render's state from `path` (`state.json`): its bytes
    /// (`None`: absent, an empty state), read without following a symbolic
    /// link and without blocking on a FIFO; anything but a regular file is
    /// refused.
    pub(crate) fn load(path: &Path) -> Result<(State, Option<Vec<u8>>), Error> {
        let bytes = smarthost_core::transaction::safe_fs::read_bytes(path)?;
        Ok((State::parse(path, bytes.as_deref())?, bytes))
    }

    /// The state in a `state.json`'s bytes; `None` is the empty state.
    pub(crate) fn parse(path: &Path, bytes: Option<&[u8]>) -> Result<State, Error> {
        let Some(bytes) = bytes else {
            return Ok(State::default());
        };
        serde_json::from_slice(bytes).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Whether a gateway of this state keeps a password (a render never
    /// writes one, but a hand-made `state.json` may hold one).
    pub(crate) fn holds_password(&self) -> bool {
        self.gateways.values().any(|g| !g.password.is_empty())
    }

    /// The policy this state expresses. A domain counts only when its
    /// settings select its gateway.
    pub(crate) fn to_policy(&self) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        for (description, g) in &self.gateways {
            let smarthost = smarthost_of(g)?;
            if description == &self::description(None) {
                policy.server = Some(smarthost);
            } else if let Some(domain) = domain_of(description) {
                if self.links.get(domain) == Some(&g.id) {
                    policy.domains.insert(DomainName::parse(domain)?, smarthost);
                }
            }
        }
        Ok(policy)
    }
}

fn smarthost_of(g: &Gateway) -> Result<Smarthost, Error> {
    let relay = RelayHost::parse(&format!(
        "[{}]:{}",
        g.address.trim_start_matches('[').trim_end_matches(']'),
        g.port
    ))?;
    let encryption = match g.encryption.as_str() {
        schema::ENCRYPTION_SSL => Encryption::ImplicitTls,
        schema::ENCRYPTION_TLS => Encryption::Starttls,
        _ => Encryption::None,
    };
    let credentials = if g.use_authentication {
        if !password_known(g) {
            return Err(Error::PasswordHidden(g.description.clone()));
        }
        Some(Credentials::new(
            Username::new(&g.username)?,
            Secret::new(g.password.clone())?,
        ))
    } else {
        None
    };
    Ok(Smarthost {
        relay,
        encryption,
        credentials,
    })
}

/// The gateway a smarthost becomes. SmarterMail always connects to the host
/// itself, so a relay that asks for an MX lookup is refused.
pub(crate) fn gateway_for(domain: Option<&DomainName>, s: &Smarthost) -> Result<Gateway, Error> {
    if s.relay.mx_lookup() {
        return Err(Error::Policy(smarthost_core::Error::Invalid {
            field: match domain {
                Some(d) => format!("domains.{:?}.relay", d.as_str()),
                None => "server.relay".into(),
            },
            value: s.relay.to_string(),
            reason: "SmarterMail connects to the host itself and cannot look up MX records: write it in brackets, as [host]:port".into(),
        }));
    }
    let address = s.relay.host().to_string();
    let encryption = match s.encryption {
        Encryption::None => schema::ENCRYPTION_NONE,
        Encryption::Starttls => schema::ENCRYPTION_TLS,
        Encryption::ImplicitTls => schema::ENCRYPTION_SSL,
    };
    let (use_authentication, username, password) = match &s.credentials {
        Some(c) => (true, c.username().to_string(), c.password().expose().to_owned()),
        None => (false, String::new(), String::new()),
    };
    Ok(Gateway {
        id: String::new(),
        description: description(domain),
        address,
        port: s.relay.port(),
        encryption: encryption.to_owned(),
        is_enabled: true,
        mode: if domain.is_some() {
            schema::MODE_SPECIFIC_DOMAINS
        } else {
            schema::MODE_ALL_DOMAINS
        }
        .to_owned(),
        use_authentication,
        username,
        password,
    })
}

impl State {
    /// The state after `plan`'s requests, as the render keeps it: created
    /// gateways get their placeholder as id, passwords are not kept.
    pub(crate) fn after(&self, plan: &smarthost_core::Plan) -> State {
        let mut state = self.clone();
        for change in &plan.changes {
            let smarthost_core::Change::Api(r) = change else {
                continue;
            };
            let gateway = r
                .body
                .as_ref()
                .and_then(|b| b.get("gateway"))
                .and_then(|g| serde_json::from_value::<Gateway>(g.clone()).ok())
                .map(|g| Gateway {
                    password: String::new(),
                    ..g
                });
            if let (true, Some(g)) = (r.path == schema::GATEWAY_PUT, &gateway) {
                let id = crate::schema::placeholder(&g.description);
                state
                    .gateways
                    .insert(g.description.clone(), Gateway { id, ..g.clone() });
            } else if let Some(id) = r.path.strip_prefix(&schema::gateway_delete("")) {
                state.gateways.retain(|_, g| g.id != id);
            } else if let (Some(id), Some(g)) = (r.path.strip_prefix(&schema::gateway("")), &gateway) {
                state.gateways.insert(
                    g.description.clone(),
                    Gateway {
                        id: id.to_owned(),
                        ..g.clone()
                    },
                );
            } else if let Some(domain) = r.path.strip_prefix(&schema::domain_settings("")) {
                let pointer = format!("/domainSettings/{}", schema::DOMAIN_GATEWAY_FIELD);
                let id = r
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer(&pointer))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if id.is_empty() {
                    state.links.remove(domain);
                } else {
                    state.links.insert(domain.to_owned(), id.to_owned());
                }
            }
        }
        state
    }
}
