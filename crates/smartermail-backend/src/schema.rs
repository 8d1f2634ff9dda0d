//! Every SmarterMail name this backend uses, with its source, and the
//! names learned from a server (`smarthost smartermail learn`).
//!
//! SmarterMail's web API is documented on each server (Settings > API
//! Documentation) but not in public material for gateways. A name is
//! *confirmed* when a public source settles it (the login, the domain
//! settings) or when it was learned from the server itself and kept in a
//! [`LearnedSchema`] file. Every other name is a built-in guess, used only
//! to render requests into a folder (`--root`); on a live server a write
//! that needs an unconfirmed name is refused before any write request. See
//! `docs/backends/smartermail.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// Verified: `POST` with `{"username","password"}`, returns `accessToken`
/// (public WHMCS module SmarterMailApi.php; SolidCP SmarterMail100 provider).
pub const AUTHENTICATE: &str = "api/v1/auth/authenticate-user";

/// Verified: a domain's settings, `GET` and `POST` with
/// `{"domainSettings": {...}}` (public WHMCS and SolidCP clients).
pub fn domain_settings(domain: &str) -> String {
    format!("api/v1/settings/sysadmin/domain-settings/{domain}")
}

/// Verified: the wrapper of a domain's settings.
pub const DOMAIN_SETTINGS_KEY: &str = "domainSettings";

/// The version of the schema file layout this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The schema file's name in the settings folder.
pub const SCHEMA_FILE: &str = "smartermail-schema.json";

/// The file in the settings folder that remembers the ids of smarthost's
/// gateways (for servers whose gateways have no description field).
pub const GATEWAYS_FILE: &str = "smartermail-gateways.json";

/// How smarthost names its gateways (and, where the server has a
/// description field, how it recognises them).
pub const MANAGED_PREFIX: &str = "smarthost: ";

/// Gateway fields smarthost never writes: they choose where a domain's
/// INCOMING mail goes (SmarterTools KB a3109). Compared without case and
/// separators; any field whose name contains one of [`FORBIDDEN_PARTS`] is
/// refused too.
pub const FORBIDDEN: &[&str] = &[
    "domainLocation",
    "domainLocationAddress",
    "deliverLocallyForExternalDomain",
];

/// Parts of a field name that make it forbidden (compared as
/// [`FORBIDDEN`]): anything about incoming or inbound delivery.
pub const FORBIDDEN_PARTS: &[&str] = &["domainlocation", "deliverlocally", "incoming", "inbound"];

/// Whether a field name may never be written.
pub fn forbidden(field: &str) -> bool {
    let n = normalize_name(field);
    FORBIDDEN.iter().any(|f| normalize_name(f) == n) || FORBIDDEN_PARTS.iter().any(|p| n.contains(p))
}

fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The roles of names, as keys of a schema file. Endpoints with `{id}`
/// take the gateway's id.
pub mod role {
    /// `GET`: the gateway list.
    pub const LIST: &str = "endpoint.list";
    /// `POST`: create a gateway.
    pub const CREATE: &str = "endpoint.create";
    /// `POST`: update gateway `{id}`.
    pub const UPDATE: &str = "endpoint.update";
    /// `POST`: delete gateway `{id}`.
    pub const DELETE: &str = "endpoint.delete";
    /// The key of the list response that holds the gateways.
    pub const LIST_KEY: &str = "list.key";
    /// The key that wraps a gateway in a create or update body (`""`: none).
    pub const WRAPPER: &str = "body.wrapper";
    /// Gateway field: id.
    pub const ID: &str = "field.id";
    /// Gateway field: description (`null`: the server has none).
    pub const DESCRIPTION: &str = "field.description";
    /// Gateway field: server address.
    pub const ADDRESS: &str = "field.address";
    /// Gateway field: port.
    pub const PORT: &str = "field.port";
    /// Gateway field: encryption.
    pub const ENCRYPTION: &str = "field.encryption";
    /// Gateway field: status (enabled or not).
    pub const ENABLED: &str = "field.enabled";
    /// Gateway field: mode (Round Robin, Specific Domains).
    pub const MODE: &str = "field.mode";
    /// Gateway field: whether it authenticates.
    pub const AUTH: &str = "field.use-authentication";
    /// Gateway field: SMTP user name.
    pub const USERNAME: &str = "field.username";
    /// Gateway field: SMTP password.
    pub const PASSWORD: &str = "field.password";
    /// Domain settings field that selects a gateway.
    pub const DOMAIN_LINK: &str = "field.domain-link";
    /// Enum value: Round Robin.
    pub const MODE_ROUND_ROBIN: &str = "enum.mode.round-robin";
    /// Enum value: Specific Domains.
    pub const MODE_SPECIFIC: &str = "enum.mode.specific-domains";
    /// Enum value: no encryption.
    pub const ENC_NONE: &str = "enum.encryption.none";
    /// Enum value: STARTTLS.
    pub const ENC_STARTTLS: &str = "enum.encryption.starttls";
    /// Enum value: implicit TLS.
    pub const ENC_IMPLICIT: &str = "enum.encryption.implicit-tls";
    /// Enum value: status enabled.
    pub const STATUS_ENABLED: &str = "enum.status.enabled";
    /// Enum value: status disabled.
    pub const STATUS_DISABLED: &str = "enum.status.disabled";
    /// Format: `"number"` or `"string"`, how the server writes the port.
    pub const PORT_FORMAT: &str = "format.port";
    /// Format: `"number"` or `"string"`, how the server writes ids.
    pub const ID_FORMAT: &str = "format.id";
}

/// The built-in guesses: the most likely form of each name, **not
/// confirmed by any public source**. Used to render into a folder; never
/// written to a live server unless learned.
pub fn builtin(name: &str) -> Option<Value> {
    let s = |v: &str| Some(Value::String(v.to_owned()));
    match name {
        role::LIST => s("api/v1/settings/sysadmin/gateways"),
        role::CREATE => s("api/v1/settings/sysadmin/gateway-put"),
        role::UPDATE => s("api/v1/settings/sysadmin/gateway/{id}"),
        role::DELETE => s("api/v1/settings/sysadmin/gateway-delete/{id}"),
        role::LIST_KEY => s("gateways"),
        role::WRAPPER => s("gateway"),
        role::ID => s("id"),
        role::DESCRIPTION => s("description"),
        role::ADDRESS => s("address"),
        role::PORT => s("port"),
        role::ENCRYPTION => s("encryption"),
        role::ENABLED => s("isEnabled"),
        role::MODE => s("mode"),
        role::AUTH => s("useAuthentication"),
        role::USERNAME => s("username"),
        role::PASSWORD => s("password"),
        role::DOMAIN_LINK => s("outgoingGatewayId"),
        role::MODE_ROUND_ROBIN => s(MODE_ALL_DOMAINS),
        role::MODE_SPECIFIC => s(MODE_SPECIFIC_DOMAINS),
        role::ENC_NONE => s(ENCRYPTION_NONE),
        role::ENC_STARTTLS => s(ENCRYPTION_TLS),
        role::ENC_IMPLICIT => s(ENCRYPTION_SSL),
        role::STATUS_ENABLED => Some(Value::Bool(true)),
        role::STATUS_DISABLED => Some(Value::Bool(false)),
        // Formats (`format.*`) have no guess: numbers unless learned.
        _ => None,
    }
}

/// smarthost's own name of a mode: all domains ("Round Robin").
pub const MODE_ALL_DOMAINS: &str = "RoundRobin";
/// smarthost's own name of a mode: chosen per domain ("Specific Domains").
pub const MODE_SPECIFIC_DOMAINS: &str = "SpecificDomains";
/// smarthost's own name of an encryption: none.
pub const ENCRYPTION_NONE: &str = "None";
/// smarthost's own name of an encryption: STARTTLS (the UI's "TLS").
pub const ENCRYPTION_TLS: &str = "TLS";
/// smarthost's own name of an encryption: implicit TLS (the UI's "SSL").
pub const ENCRYPTION_SSL: &str = "SSL";

/// One learned name and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    /// The name or value (a string, a number, a boolean; `null` for "the
    /// server has no such field").
    pub value: Value,
    /// How it was learned.
    pub source: String,
}

/// The schema file: what `smarthost smartermail learn` learned from one
/// server. Holds no secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedSchema {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// The URL it was learned from.
    pub server: String,
    /// Role (see [`role`]) → learned name.
    pub names: BTreeMap<String, Learned>,
}

impl LearnedSchema {
    /// Reads a schema file; `None` when there is none. Refuses another
    /// version.
    pub fn load(path: &Path) -> Result<Option<LearnedSchema>, Error> {
        let Some(bytes) = smarthost_core::transaction::safe_fs::read_bytes(path)? else {
            return Ok(None);
        };
        let invalid = |reason: String| Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        };
        let schema: LearnedSchema = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if schema.version != SCHEMA_VERSION {
            return Err(invalid(format!(
                "schema version {} (this smarthost reads version {SCHEMA_VERSION}); run `smarthost smartermail learn` again",
                schema.version
            )));
        }
        Ok(Some(schema))
    }

    /// The file's text (pretty JSON, a final newline).
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Writes the file into `dir` (created if needed), through a temporary
    /// file and a rename; returns its path.
    pub fn write_into(&self, dir: &Path) -> Result<std::path::PathBuf, Error> {
        let path = dir.join(SCHEMA_FILE);
        write_file(&path, self.to_text().as_bytes())?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` whole or not at all (readable by others, as
/// it holds no secret).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    Ok(smarthost_core::transaction::safe_fs::replace_file(path, bytes, 0o644)?)
}

/// The names a writer uses: learned ones first, else the built-in guesses.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    learned: Option<LearnedSchema>,
}

impl Names {
    pub(crate) fn new(learned: Option<LearnedSchema>) -> Names {
        Names { learned }
    }

    /// The schema learned, if any.
    pub(crate) fn learned(&self) -> Option<&LearnedSchema> {
        self.learned.as_ref()
    }

    /// The value of a role: learned, else the built-in guess. `None` for
    /// `null` (the server has no such field).
    pub(crate) fn get(&self, name: &str) -> Option<Value> {
        let value = match self.learned.as_ref().and_then(|l| l.names.get(name)) {
            Some(l) => l.value.clone(),
            None => builtin(name)?,
        };
        (!value.is_null()).then_some(value)
    }

    /// The role's value as text (a field or endpoint name).
    pub(crate) fn text(&self, name: &str) -> String {
        match self.get(name) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// Whether the role was learned from the server. (No public source
    /// settles any gateway name; the verified names, the login and the
    /// domain settings, are not roles.)
    pub(crate) fn confirmed(&self, name: &str) -> bool {
        self.learned.as_ref().is_some_and(|l| l.names.contains_key(name))
    }

    /// An endpoint with `{id}` replaced.
    pub(crate) fn endpoint(&self, name: &str, id: &str) -> String {
        self.text(name).replace("{id}", id)
    }

    /// Which gateway endpoint `path` is, and its id.
    pub(crate) fn classify<'p>(&self, path: &'p str) -> Option<(&'static str, &'p str)> {
        for name in [role::CREATE, role::DELETE, role::UPDATE] {
            let template = self.text(name);
            match template.split_once("{id}") {
                None if template == path => return Some((name, "")),
                Some((pre, post)) => {
                    if let Some(id) = path.strip_prefix(pre).and_then(|rest| rest.strip_suffix(post)) {
                        if !id.is_empty() && !id.contains('/') || id.starts_with("{new:") {
                            return Some((name, id));
                        }
                    }
                }
                None => {}
            }
        }
        None
    }

    /// The JSON pointer of the password in a create or update body.
    pub(crate) fn password_pointer(&self) -> String {
        let esc = |s: &str| s.replace('~', "~0").replace('/', "~1");
        let wrapper = self.text(role::WRAPPER);
        let field = esc(&self.text(role::PASSWORD));
        if wrapper.is_empty() {
            format!("/{field}")
        } else {
            format!("/{}/{field}", esc(&wrapper))
        }
    }

    /// The gateway object of a create or update body.
    pub(crate) fn unwrap_body<'b>(&self, body: &'b Value) -> Option<&'b Value> {
        let wrapper = self.text(role::WRAPPER);
        if wrapper.is_empty() {
            Some(body)
        } else {
            body.get(&wrapper)
        }
    }

    /// A create or update body around a gateway object.
    pub(crate) fn wrap_body(&self, gateway: Value) -> Value {
        let wrapper = self.text(role::WRAPPER);
        if wrapper.is_empty() {
            gateway
        } else {
            let mut map = Map::new();
            map.insert(wrapper, gateway);
            Value::Object(map)
        }
    }

    /// The gateways in a list response (the array under `list.key`; the
    /// response itself when it is an array).
    pub(crate) fn list_items(&self, response: &Value) -> Option<Vec<Value>> {
        if let Value::Array(items) = response {
            return Some(items.clone());
        }
        match response.get(self.text(role::LIST_KEY)) {
            Some(Value::Array(items)) => Some(items.clone()),
            None | Some(Value::Null) => Some(Vec::new()),
            Some(_) => None,
        }
    }
}

/// A value compared without regard to its JSON type, case or separators:
/// `1`, `"1"` and `" 1 "` are the same; `"Round Robin"` and `"roundrobin"`
/// too.
pub fn normalize(value: &Value) -> String {
    match value {
        Value::String(s) => normalize_name(s.trim()),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A gateway as smarthost models it, whatever the server calls its
/// fields. Enum fields hold smarthost's own names ([`MODE_ALL_DOMAINS`],
/// [`ENCRYPTION_TLS`], ...); a value the schema does not know is kept as
/// `?` and the server's value. This is also the form of a render's
/// `state.json`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    /// The server's identifier; empty before creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// smarthost's name of the gateway ([`MANAGED_PREFIX`]...), also its
    /// description where the server has that field.
    #[serde(default)]
    pub description: String,
    /// Server address (host name or IP).
    #[serde(default)]
    pub address: String,
    /// Port.
    #[serde(default)]
    pub port: u16,
    /// [`ENCRYPTION_NONE`], [`ENCRYPTION_TLS`] or [`ENCRYPTION_SSL`].
    #[serde(default)]
    pub encryption: String,
    /// Status.
    #[serde(default)]
    pub is_enabled: bool,
    /// [`MODE_ALL_DOMAINS`] or [`MODE_SPECIFIC_DOMAINS`].
    #[serde(default)]
    pub mode: String,
    /// Whether the gateway authenticates.
    #[serde(default)]
    pub use_authentication: bool,
    /// SMTP user name.
    #[serde(default)]
    pub username: String,
    /// SMTP password; never shown by this crate. Empty when the server
    /// does not return it.
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("id", &self.id)
            .field("description", &self.description)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("encryption", &self.encryption)
            .field("is_enabled", &self.is_enabled)
            .field("mode", &self.mode)
            .field("use_authentication", &self.use_authentication)
            .field("username", &self.username)
            .field("password", &smarthost_core::REDACTED)
            .finish()
    }
}

const MODES: [(&str, &str); 2] = [
    (role::MODE_ROUND_ROBIN, MODE_ALL_DOMAINS),
    (role::MODE_SPECIFIC, MODE_SPECIFIC_DOMAINS),
];
const ENCRYPTIONS: [(&str, &str); 3] = [
    (role::ENC_NONE, ENCRYPTION_NONE),
    (role::ENC_STARTTLS, ENCRYPTION_TLS),
    (role::ENC_IMPLICIT, ENCRYPTION_SSL),
];

fn as_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => matches!(normalize_name(s).as_str(), "true" | "yes" | "1" | "on"),
        _ => false,
    }
}

impl Names {
    fn field<'v>(&self, object: &'v Value, name: &str) -> Option<&'v Value> {
        let field = self.get(name)?;
        object.get(field.as_str()?)
    }

    fn enum_name(&self, value: Option<&Value>, table: &[(&str, &str)]) -> String {
        let Some(value) = value else {
            return String::new();
        };
        let n = normalize(value);
        table
            .iter()
            .find(|(r, _)| self.get(r).is_some_and(|v| normalize(&v) == n))
            .map(|(_, ours)| (*ours).to_owned())
            .unwrap_or_else(|| format!("?{n}"))
    }

    /// A gateway read from the server. Never fails: a missing or odd field
    /// reads as empty, unexpected fields are ignored.
    pub(crate) fn decode(&self, object: &Value) -> Gateway {
        let port = match self.field(object, role::PORT) {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        };
        let enabled = self.field(object, role::ENABLED);
        let is_enabled = match (enabled, self.get(role::STATUS_ENABLED)) {
            (Some(v), Some(on)) if !on.is_boolean() => normalize(v) == normalize(&on),
            (v, _) => truthy(v),
        };
        Gateway {
            id: as_text(self.field(object, role::ID)),
            description: as_text(self.field(object, role::DESCRIPTION)),
            address: as_text(self.field(object, role::ADDRESS)),
            port,
            encryption: self.enum_name(self.field(object, role::ENCRYPTION), &ENCRYPTIONS),
            is_enabled,
            mode: self.enum_name(self.field(object, role::MODE), &MODES),
            use_authentication: truthy(self.field(object, role::AUTH)),
            username: as_text(self.field(object, role::USERNAME)),
            password: as_text(self.field(object, role::PASSWORD)),
        }
    }

    fn enum_value(&self, ours: &str, table: &[(&str, &'static str)], used: &mut BTreeSet<String>) -> Value {
        let role = table.iter().find(|(_, o)| *o == ours).map_or(table[0].0, |(r, _)| *r);
        used.insert(role.to_owned());
        self.get(role).unwrap_or(Value::Null)
    }

    /// A gateway as the server's JSON (without its id); every role used is
    /// added to `used`.
    pub(crate) fn encode(&self, g: &Gateway, used: &mut BTreeSet<String>) -> Value {
        let mut map = Map::new();
        let mut put = |map: &mut Map<String, Value>, role: &str, value: Value| {
            used.insert(role.to_owned());
            if let Some(Value::String(field)) = self.get(role) {
                map.insert(field, value);
            }
        };
        if self.get(role::DESCRIPTION).is_some() {
            put(&mut map, role::DESCRIPTION, Value::String(g.description.clone()));
        }
        put(&mut map, role::ADDRESS, Value::String(g.address.clone()));
        let port = match self.get(role::PORT_FORMAT) {
            Some(Value::String(f)) if f == "string" => Value::String(g.port.to_string()),
            _ => Value::from(g.port),
        };
        put(&mut map, role::PORT, port);
        let mut enums = BTreeSet::new();
        let encryption = self.enum_value(&g.encryption, &ENCRYPTIONS, &mut enums);
        put(&mut map, role::ENCRYPTION, encryption);
        let status = if g.is_enabled {
            role::STATUS_ENABLED
        } else {
            role::STATUS_DISABLED
        };
        enums.insert(status.to_owned());
        put(
            &mut map,
            role::ENABLED,
            self.get(status).unwrap_or(Value::Bool(g.is_enabled)),
        );
        let mode = self.enum_value(&g.mode, &MODES, &mut enums);
        put(&mut map, role::MODE, mode);
        put(&mut map, role::AUTH, Value::Bool(g.use_authentication));
        if g.use_authentication {
            put(&mut map, role::USERNAME, Value::String(g.username.clone()));
            put(&mut map, role::PASSWORD, Value::String(g.password.clone()));
        }
        used.extend(enums);
        Value::Object(map)
    }

    /// An id as the server writes it (a number where it uses numbers).
    pub(crate) fn id_value(&self, id: &str) -> Value {
        match (self.get(role::ID_FORMAT), id.parse::<u64>()) {
            (Some(Value::String(f)), Ok(n)) if f == "number" => Value::from(n),
            _ => Value::String(id.to_owned()),
        }
    }
}

/// What a created gateway's id is called in a plan until the server
/// assigns it (smarthost's own notation; never sent as an id).
pub(crate) fn placeholder(description: &str) -> String {
    format!("{{new:{description}}}")
}
