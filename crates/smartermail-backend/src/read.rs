//! The smarthost part of a SmarterMail server: the gateways smarthost
//! manages and which domain uses which; read from the API (GET requests
//! only) or, when rendering into a folder, from the last render.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use smarthost_core::transaction::Basis;
use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::client::Client;
use crate::error::Error;
use crate::schema::{self, role, Gateway, Names};

/// Managed gateways (by smarthost's name) and domain links (domain →
/// gateway id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) gateways: BTreeMap<String, Gateway>,
    pub(crate) links: BTreeMap<String, String>,
}

/// The password `read` reports for a gateway whose password the server
/// does not return. A plan never sends it: a gateway that would have to be
/// written with it is refused ([`Error::PasswordHidden`]).
pub(crate) const PASSWORD_NOT_RETURNED: &str = "smarthost:password-not-returned-by-smartermail";

/// smarthost's name of the gateway for the server or a domain.
pub(crate) fn description(domain: Option<&DomainName>) -> String {
    match domain {
        None => format!("{}server", schema::MANAGED_PREFIX),
        Some(d) => format!("{}domain {d}", schema::MANAGED_PREFIX),
    }
}

pub(crate) fn domain_of(description: &str) -> Option<&str> {
    description
        .strip_prefix(schema::MANAGED_PREFIX)?
        .strip_prefix("domain ")
}

/// Whether a password read back is usable (SmarterMail may mask it).
pub(crate) fn password_known(g: &Gateway) -> bool {
    !g.password.is_empty() && g.password != PASSWORD_NOT_RETURNED && !g.password.chars().all(|c| c == '*' || c == '•')
}

/// The ids of smarthost's gateways on one server, kept in the settings
/// folder's `smartermail-gateways.json`: how smarthost recognises its
/// gateways on a server whose gateways have no description field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KnownGateways {
    /// smarthost's name → the server's id.
    pub(crate) gateways: BTreeMap<String, String>,
}

/// The gateways file: per server URL, so that one settings folder used
/// for two servers never takes one server's ids for the other's.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaysFile {
    version: u32,
    servers: BTreeMap<String, BTreeMap<String, String>>,
}

fn server_key(url: &str) -> String {
    url.trim_end_matches('/').to_ascii_lowercase()
}

fn load_file(path: &Path) -> Result<(GatewaysFile, Option<Vec<u8>>), Error> {
    let bytes = smarthost_core::transaction::safe_fs::read_bytes(path)?;
    let file = match &bytes {
        None => GatewaysFile::default(),
        Some(b) => serde_json::from_slice(b).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?,
    };
    Ok((file, bytes))
}

impl KnownGateways {
    /// This server's entry of the gateways file, and the file's bytes.
    pub(crate) fn load(path: &Path, url: &str) -> Result<(KnownGateways, Option<Vec<u8>>), Error> {
        let (mut file, bytes) = load_file(path)?;
        let gateways = file.servers.remove(&server_key(url)).unwrap_or_default();
        Ok((KnownGateways { gateways }, bytes))
    }

    /// Replaces this server's entry (other servers' stay).
    pub(crate) fn save(&self, path: &Path, url: &str) -> Result<(), Error> {
        let (mut file, _) = load_file(path)?;
        file.version = 1;
        if self.gateways.is_empty() {
            file.servers.remove(&server_key(url));
        } else {
            file.servers.insert(server_key(url), self.gateways.clone());
        }
        let text = serde_json::to_string_pretty(&file).unwrap_or_default();
        schema::write_file(path, (text + "\n").as_bytes())
    }
}

/// What a writer against the API reads with.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    pub(crate) client: &'a Client,
    pub(crate) names: &'a Names,
    /// The gateways file, when the writer has a settings folder.
    pub(crate) known_path: Option<&'a PathBuf>,
    /// The server's URL (the gateways file's key).
    pub(crate) url: &'a str,
    /// The schema file's bytes, part of every plan's basis.
    pub(crate) schema_bytes: Option<&'a [u8]>,
}

/// The server's gateways as read, with what a plan is based on.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    /// Every gateway on the server (smarthost's or not).
    pub(crate) all: Vec<Gateway>,
    pub(crate) known: KnownGateways,
    pub(crate) basis: Basis,
}

impl Reader<'_> {
    /// Every gateway, decoded; and the list without passwords, for the basis.
    pub(crate) fn gateways(&self) -> Result<(Vec<Gateway>, Vec<Value>), Error> {
        let path = self.names.text(role::LIST);
        let value = self.client.call("GET", &path, None)?;
        let items = self.names.list_items(&value).ok_or_else(|| Error::Http {
            method: "GET".into(),
            path: path.clone(),
            reason: format!("no gateway list under {:?}", self.names.text(role::LIST_KEY)),
        })?;
        let password = self.names.text(role::PASSWORD);
        let mut bare = Vec::new();
        let mut gateways = Vec::new();
        for item in items {
            gateways.push(self.names.decode(&item));
            let mut item = item;
            if let Some(map) = item.as_object_mut() {
                map.remove(&password);
            }
            bare.push(item);
        }
        Ok((gateways, bare))
    }

    /// The id of the gateway a domain's settings select (empty: none).
    pub(crate) fn link(&self, domain: &str) -> Result<String, Error> {
        let value = self.client.call("GET", &schema::domain_settings(domain), None)?;
        let field = self.names.text(role::DOMAIN_LINK);
        Ok(
            match value.get(schema::DOMAIN_SETTINGS_KEY).and_then(|s| s.get(&field)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) if n.as_i64() != Some(0) && n.as_i64() != Some(-1) => n.to_string(),
                _ => String::new(),
            },
        )
    }

    /// Reads the managed gateways, and the links of `domains` and of every
    /// domain a managed gateway is for. smarthost's gateways are those
    /// whose description starts with [`schema::MANAGED_PREFIX`] or whose id
    /// the gateways file remembers.
    pub(crate) fn fetch(&self, domains: &[&str]) -> Result<Snapshot, Error> {
        let (known, known_bytes) = match self.known_path {
            Some(p) => KnownGateways::load(p, self.url)?,
            None => (KnownGateways::default(), None),
        };
        let (all, bare) = self.gateways()?;
        let mut basis = Basis::new();
        basis.add(
            "the server's gateway list",
            Some(&serde_json::to_vec(&bare).unwrap_or_default()),
        );
        basis.add("the learned schema", self.schema_bytes);
        basis.add("the gateways file", known_bytes.as_deref());
        let mut state = State::default();
        for g in &all {
            let name = if g.description.starts_with(schema::MANAGED_PREFIX) {
                Some(g.description.clone())
            } else {
                known
                    .gateways
                    .iter()
                    .find(|(_, id)| !g.id.is_empty() && **id == g.id)
                    .map(|(name, _)| name.clone())
            };
            if let Some(name) = name {
                state.gateways.insert(
                    name.clone(),
                    Gateway {
                        description: name,
                        ..g.clone()
                    },
                );
            }
        }
        let mut names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        names.extend(state.gateways.keys().filter_map(|d| domain_of(d)).map(str::to_owned));
        names.sort();
        names.dedup();
        for d in names {
            let id = self.link(&d)?;
            basis.add(format!("the gateway selected by domain {d}"), Some(id.as_bytes()));
            if !id.is_empty() {
                state.links.insert(d, id);
            }
        }
        Ok(Snapshot {
            state,
            all,
            known,
            basis,
        })
    }
}

impl State {
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
    /// settings select its gateway. A password the server does not return
    /// reads as a placeholder that no plan ever sends.
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
        let password = if password_known(g) {
            g.password.clone()
        } else {
            PASSWORD_NOT_RETURNED.to_owned()
        };
        Some(Credentials::new(Username::new(&g.username)?, Secret::new(password)?))
    } else {
        None
    };
    Ok(Smarthost {
        relay,
        encryption,
        credentials,
        backups: Vec::new(),
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
    pub(crate) fn after(&self, names: &Names, plan: &smarthost_core::Plan) -> State {
        let mut state = self.clone();
        for (n, change) in plan.changes.iter().enumerate() {
            let smarthost_core::Change::Api(r) = change else {
                continue;
            };
            let gateway = r
                .body
                .as_ref()
                .and_then(|b| names.unwrap_body(b))
                .filter(|g| g.is_object())
                .map(|g| Gateway {
                    password: String::new(),
                    ..names.decode(g)
                });
            match (names.classify(&r.path), &gateway) {
                (Some((role::CREATE, _)), Some(g)) => {
                    let name = created_name(names, plan, n).unwrap_or_else(|| g.description.clone());
                    let id = schema::placeholder(&name);
                    state.gateways.insert(
                        name.clone(),
                        Gateway {
                            id,
                            description: name,
                            ..g.clone()
                        },
                    );
                }
                (Some((role::DELETE, id)), _) => state.gateways.retain(|_, g| g.id != id),
                (Some((role::UPDATE, id)), Some(g)) => {
                    let name = state
                        .gateways
                        .iter()
                        .find(|(_, e)| e.id == id)
                        .map(|(name, _)| name.clone())
                        .unwrap_or_else(|| g.description.clone());
                    state.gateways.insert(
                        name.clone(),
                        Gateway {
                            id: id.to_owned(),
                            description: name,
                            ..g.clone()
                        },
                    );
                }
                _ => {
                    if let Some(domain) = r.path.strip_prefix(&schema::domain_settings("")) {
                        let field = names.text(role::DOMAIN_LINK);
                        let id = match r
                            .body
                            .as_ref()
                            .and_then(|b| b.get(schema::DOMAIN_SETTINGS_KEY)?.get(&field))
                        {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Number(n)) => n.to_string(),
                            _ => String::new(),
                        };
                        if id.is_empty() {
                            state.links.remove(domain);
                        } else {
                            state.links.insert(domain.to_owned(), id);
                        }
                    }
                }
            }
        }
        state
    }
}

/// smarthost's name of the gateway that change `n` (a create) makes: a
/// plan always follows a create with the update that enables it, whose
/// path holds the new gateway's placeholder (`{new:NAME}`).
pub(crate) fn created_name(names: &Names, plan: &smarthost_core::Plan, n: usize) -> Option<String> {
    let smarthost_core::Change::Api(next) = plan.changes.get(n + 1)? else {
        return None;
    };
    let (role::UPDATE, id) = names.classify(&next.path)? else {
        return None;
    };
    id.strip_prefix("{new:")?.strip_suffix('}').map(str::to_owned)
}
