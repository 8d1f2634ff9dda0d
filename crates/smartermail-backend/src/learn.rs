//! `smarthost smartermail learn`: the gateway endpoints, field names and
//! enum values, learned from the server with `GET` requests only (and the
//! login), from a gateway the administrator made by hand.
//!
//! 1. The server's OpenAPI/Swagger document, when it serves one at one of
//!    [`OPENAPI_PATHS`] (a guess about where such documents usually are,
//!    not a fact about SmarterMail), gives the endpoints whose path names
//!    a gateway, and the key that wraps a gateway in a create body.
//! 2. What the administrator read in the server's API documentation page
//!    (`--endpoint`, `--enum`, `--wrapper`, `--field`) overrides it.
//! 3. The gateway list is read and the hand-made gateway found by what the
//!    administrator typed (`--relay HOST:PORT`, `--username USER`); its
//!    field names are matched BY VALUE: the host field is the one whose
//!    value is HOST, and so on. Fields that cannot be told apart by value
//!    (booleans) are matched by name and presence, and named as such.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};
use smarthost_core::Secret;

use crate::client::Client;
use crate::error::Error;
use crate::schema::{self, normalize, role, Learned, LearnedSchema};

/// Where `learn` looks for an OpenAPI/Swagger document, in order. These
/// are the usual places of such documents in ASP.NET applications
/// (Swashbuckle, NSwag) and elsewhere; no public source says SmarterMail
/// serves one there.
pub const OPENAPI_PATHS: &[&str] = &[
    "swagger/v1/swagger.json",
    "swagger/docs/v1",
    "api/swagger.json",
    "openapi.json",
];

/// The server's API documentation page (Settings > API Documentation;
/// the shared notes place it at `/Documentation/api` on each server):
/// when no document is at [`OPENAPI_PATHS`], `learn` reads this page and
/// follows the links in it that look like an OpenAPI/Swagger JSON document
/// on the same server.
pub const API_DOCUMENTATION_PAGE: &str = "Documentation/api";

/// At most this many links of the documentation page are followed.
const MAX_DOC_LINKS: usize = 4;

/// The quoted strings of a page that look like a JSON API description on
/// the same server: relative, or absolute paths (never `//host` or
/// `scheme:`), with `.json`, `swagger` or `openapi` in them.
fn document_links(page: &str) -> Vec<String> {
    let mut links = Vec::new();
    for quote in ['"', '\''] {
        for (i, piece) in page.split(quote).enumerate() {
            if i % 2 == 0 || piece.len() > 300 || piece.contains(char::is_whitespace) || piece.contains('<') {
                continue;
            }
            let lower = piece.to_ascii_lowercase();
            let looks = lower.contains(".json") || lower.contains("swagger") || lower.contains("openapi");
            let same_host = !piece.starts_with("//") && !piece.contains(':') && !piece.contains('\\');
            if looks && same_host && !lower.ends_with(".js") && !lower.ends_with(".css") && !lower.ends_with(".html") {
                let link = piece.split('#').next().unwrap_or_default().trim_start_matches("./");
                let link = link.trim_start_matches('/').to_owned();
                if !link.is_empty() && !link.contains("..") && !links.contains(&link) {
                    links.push(link);
                }
            }
        }
    }
    links.truncate(MAX_DOC_LINKS);
    links
}

/// What the administrator tells `learn`.
#[derive(Clone, Debug, Default)]
pub struct LearnInput {
    /// `list`, `create`, `update`, `delete` → path (`update` and `delete`
    /// with `{id}`).
    pub endpoints: BTreeMap<String, String>,
    /// `mode.round-robin`, `mode.specific-domains`, `encryption.none`,
    /// `encryption.starttls`, `encryption.implicit-tls`, `status.enabled`,
    /// `status.disabled` → the value (a number or a string).
    pub enums: BTreeMap<String, String>,
    /// A field's name given outright: `enabled`, `use-authentication`,
    /// `password`, `description`, `id`, `address`, `port`, `encryption`,
    /// `mode`, `username` → name.
    pub fields: BTreeMap<String, String>,
    /// The key that wraps a gateway in a create or update body (`none`:
    /// the body is the gateway).
    pub wrapper: Option<String>,
    /// The hand-made gateway's server address, as typed.
    pub relay_host: String,
    /// Its port.
    pub relay_port: u16,
    /// Its authentication user name, as typed.
    pub username: Option<String>,
    /// A domain whose settings select the hand-made gateway (to learn the
    /// field that links a domain to a gateway).
    pub domain: Option<String>,
}

/// What `learn` found.
#[derive(Clone, Debug)]
pub struct Learning {
    /// The schema to write into the settings folder.
    pub schema: LearnedSchema,
    /// What was tried and found, in order.
    pub notes: Vec<String>,
    /// Roles still unconfirmed: writes that need them stay refused.
    pub unconfirmed: Vec<String>,
}

/// The roles a write may need; those not learned are reported.
const ALL: &[&str] = &[
    role::LIST,
    role::CREATE,
    role::UPDATE,
    role::DELETE,
    role::LIST_KEY,
    role::WRAPPER,
    role::ID,
    role::DESCRIPTION,
    role::ADDRESS,
    role::PORT,
    role::ENCRYPTION,
    role::ENABLED,
    role::MODE,
    role::AUTH,
    role::USERNAME,
    role::PASSWORD,
    role::DOMAIN_LINK,
    role::MODE_ROUND_ROBIN,
    role::MODE_SPECIFIC,
    role::ENC_NONE,
    role::ENC_STARTTLS,
    role::ENC_IMPLICIT,
    role::STATUS_ENABLED,
    role::STATUS_DISABLED,
];

struct Learner {
    names: BTreeMap<String, Learned>,
    notes: Vec<String>,
}

impl Learner {
    fn set(&mut self, name: &str, value: Value, source: impl Into<String>) -> Result<(), Error> {
        if name.starts_with("field.") {
            if let Value::String(field) = &value {
                if schema::forbidden(field) {
                    return Err(Error::Learn(format!(
                        "{name} would be {field:?}, a field that changes where INCOMING mail goes; smarthost never writes it"
                    )));
                }
            }
        }
        self.names.insert(
            name.to_owned(),
            Learned {
                value,
                source: source.into(),
            },
        );
        Ok(())
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.names.get(name)?.value.as_str().map(str::to_owned)
    }
}

/// A value typed by the administrator: a number, `true`/`false`, or text.
fn typed(value: &str) -> Value {
    if let Ok(n) = value.trim().parse::<i64>() {
        return Value::from(n);
    }
    match value.trim() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        v => Value::String(v.to_owned()),
    }
}

/// An endpoint path as kept: relative, every `{...}` parameter as `{id}`.
fn endpoint_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path.trim().trim_start_matches('/');
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str("{id}");
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn resolve_ref<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

/// Endpoints (and the create body's wrapper) from an OpenAPI or Swagger
/// document: the paths that name a gateway.
fn from_openapi(l: &mut Learner, doc: &Value, at: &str) -> Result<(), Error> {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut found: BTreeMap<&str, Vec<(String, &Value)>> = BTreeMap::new();
    for (path, item) in paths {
        let lower = path.to_ascii_lowercase();
        if !lower.contains("gateway") {
            continue;
        }
        let has_param = path.contains('{');
        for (method, op) in item.as_object().into_iter().flatten() {
            let role = match (method.as_str(), has_param) {
                ("get", false) => role::LIST,
                ("post" | "put" | "delete", true)
                    if ["delete", "remove"].iter().any(|w| lower.contains(w)) || method == "delete" =>
                {
                    role::DELETE
                }
                ("post" | "put", false)
                    if ["put", "add", "create", "new"]
                        .iter()
                        .any(|w| lower.rsplit('/').next().unwrap_or_default().contains(w)) =>
                {
                    role::CREATE
                }
                ("post" | "put", true) => role::UPDATE,
                _ => continue,
            };
            if method != "get" && method != "post" {
                l.notes.push(format!(
                    "{at}: {} {path} uses HTTP {method}, which smarthost does not send; ignored",
                    method.to_uppercase()
                ));
                continue;
            }
            found.entry(role).or_default().push((endpoint_path(path), op));
        }
    }
    for (name, candidates) in found {
        if candidates.len() != 1 {
            let list: Vec<&str> = candidates.iter().map(|(p, _)| p.as_str()).collect();
            l.notes.push(format!(
                "{at}: {name} is ambiguous ({}); give it with --endpoint",
                list.join(", ")
            ));
            continue;
        }
        let (path, op) = &candidates[0];
        l.set(
            name,
            Value::String(path.clone()),
            format!("the server's OpenAPI document ({at})"),
        )?;
        if name == role::CREATE {
            let body = op.pointer("/requestBody/content/application~1json/schema").or_else(|| {
                op.get("parameters")?
                    .as_array()?
                    .iter()
                    .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))?
                    .get("schema")
            });
            let props = body
                .map(|b| resolve_ref(doc, b))
                .and_then(|b| b.get("properties"))
                .and_then(Value::as_object);
            if let Some(props) = props {
                let mut gateway = props;
                if props.len() == 1 {
                    let (key, inner) = props.iter().next().expect("one property");
                    l.set(
                        role::WRAPPER,
                        Value::String(key.clone()),
                        format!("the create request's body in the server's OpenAPI document ({at})"),
                    )?;
                    if let Some(inner) = resolve_ref(doc, inner).get("properties").and_then(Value::as_object) {
                        gateway = inner;
                    }
                }
                enums_from_openapi(l, doc, gateway, at)?;
            }
        }
    }
    Ok(())
}

/// The values of an OpenAPI enum with their names: `x-enumNames` (NSwag)
/// for numeric enums, the values themselves for string enums.
fn enum_pairs(schema: &Value) -> Vec<(String, Value)> {
    let Some(values) = schema.get("enum").and_then(Value::as_array) else {
        return Vec::new();
    };
    let names = schema.get("x-enumNames").and_then(Value::as_array);
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let name = match (names.and_then(|n| n.get(i)), v) {
                (Some(Value::String(n)), _) => n.clone(),
                (_, Value::String(s)) => s.clone(),
                _ => return None,
            };
            Some((normalize(&Value::String(name)), v.clone()))
        })
        .collect()
}

/// Mode and encryption values from the gateway's properties in an OpenAPI
/// document: the enum that has a "Round Robin" value is the mode, the one
/// with a TLS or SSL value the encryption. Values without names (plain
/// numeric enums) teach nothing.
fn enums_from_openapi(l: &mut Learner, doc: &Value, gateway: &Map<String, Value>, at: &str) -> Result<(), Error> {
    type Test = fn(&str) -> bool;
    for (property, schema) in gateway {
        let mut schema = resolve_ref(doc, schema);
        if let Some(first) = schema.get("allOf").and_then(|a| a.get(0)) {
            schema = resolve_ref(doc, first);
        }
        let pairs = enum_pairs(schema);
        let has = |f: Test| pairs.iter().any(|(n, _)| f(n));
        let table: Vec<(&str, Test)> = if has(|n| n == "roundrobin") {
            vec![
                (role::MODE_ROUND_ROBIN, |n| n == "roundrobin"),
                (role::MODE_SPECIFIC, |n| n.contains("specificdomain")),
            ]
        } else if has(|n| n.contains("tls") || n.contains("ssl")) {
            vec![
                (role::ENC_NONE, |n| n == "none"),
                (role::ENC_STARTTLS, |n| n == "tls" || n == "starttls"),
                (role::ENC_IMPLICIT, |n| {
                    n == "ssl" || n == "implicittls" || n == "ssltls"
                }),
            ]
        } else {
            continue;
        };
        for (name, test) in table {
            let found: Vec<&(String, Value)> = pairs.iter().filter(|(n, _)| test(n)).collect();
            if let [(n, value)] = found.as_slice() {
                l.set(
                    name,
                    value.clone(),
                    format!("the server's OpenAPI document ({at}): value {n:?} of the gateway's {property}"),
                )?;
            }
        }
    }
    Ok(())
}

fn name_has(name: &str, parts: &[&str]) -> bool {
    let n = name.to_ascii_lowercase();
    parts.iter().any(|p| n.contains(p))
}

/// Picks the one field among `candidates`; with several, those whose name
/// has one of `hints`.
fn one(role: &str, candidates: Vec<String>, hints: &[&str], why: &str) -> Result<Option<String>, Error> {
    if candidates.len() <= 1 {
        return Ok(candidates.into_iter().next());
    }
    let hinted: Vec<&String> = candidates.iter().filter(|c| name_has(c, hints)).collect();
    if hinted.len() == 1 {
        return Ok(Some(hinted[0].clone()));
    }
    Err(Error::Learn(format!(
        "{role}: several fields of the hand-made gateway {why} ({}); name it with --field {}=NAME",
        candidates.join(", "),
        role.trim_start_matches("field.")
    )))
}

/// Learns the schema of the server at `url` (see the module's text).
/// Sends the login and `GET` requests only.
pub fn learn(
    url: &str,
    admin_user: &str,
    password: Secret,
    timeout: Duration,
    input: &LearnInput,
) -> Result<Learning, Error> {
    let client = Client::new(url, admin_user, password, timeout).read_only();
    client.start_command();
    let mut l = Learner {
        names: BTreeMap::new(),
        notes: Vec::new(),
    };

    // 1. An OpenAPI document, where the server serves one: at the usual
    // paths, else linked from the API documentation page.
    let mut found = false;
    for path in OPENAPI_PATHS {
        match client.call("GET", path, None) {
            Ok(doc) if doc.get("paths").is_some_and(Value::is_object) => {
                l.notes.push(format!("found an OpenAPI document at /{path}"));
                from_openapi(&mut l, &doc, &format!("/{path}"))?;
                found = true;
                break;
            }
            Ok(_) => l.notes.push(format!("/{path}: not an OpenAPI document")),
            Err(Error::Auth(m)) => return Err(Error::Auth(m)),
            Err(_) => l.notes.push(format!("/{path}: none served")),
        }
    }
    if !found {
        match client.get_text(API_DOCUMENTATION_PAGE) {
            Ok(page) => {
                let links = document_links(&page);
                if links.is_empty() {
                    l.notes.push(format!(
                        "/{API_DOCUMENTATION_PAGE}: links to no JSON document on this server"
                    ));
                }
                for link in links {
                    match client.call("GET", &link, None) {
                        Ok(doc) if doc.get("paths").is_some_and(Value::is_object) => {
                            l.notes.push(format!(
                                "found an OpenAPI document at /{link}, linked from /{API_DOCUMENTATION_PAGE}"
                            ));
                            from_openapi(&mut l, &doc, &format!("/{link}"))?;
                            break;
                        }
                        Ok(_) => l.notes.push(format!("/{link}: not an OpenAPI document")),
                        Err(Error::Auth(m)) => return Err(Error::Auth(m)),
                        Err(_) => l.notes.push(format!("/{link}: none served")),
                    }
                }
            }
            Err(Error::Auth(m)) => return Err(Error::Auth(m)),
            Err(_) => l.notes.push(format!("/{API_DOCUMENTATION_PAGE}: none served")),
        }
    }

    // 2. What the administrator gives.
    for (key, path) in &input.endpoints {
        let name = match key.as_str() {
            "list" => role::LIST,
            "create" => role::CREATE,
            "update" => role::UPDATE,
            "delete" => role::DELETE,
            other => {
                return Err(Error::Learn(format!(
                    "--endpoint {other}=...: one of list, create, update, delete"
                )))
            }
        };
        if path.contains("://") || path.contains('?') || path.contains(char::is_whitespace) {
            return Err(Error::Learn(format!(
                "--endpoint {key}={path}: give the path below --url"
            )));
        }
        let path = endpoint_path(path);
        if matches!(key.as_str(), "update" | "delete") != path.contains("{id}") {
            return Err(Error::Learn(format!(
                "--endpoint {key}={path}: update and delete take the gateway's {{id}}, list and create do not"
            )));
        }
        l.set(
            name,
            Value::String(path),
            format!("given by the administrator (--endpoint {key})"),
        )?;
    }
    const ENUMS: [(&str, &str); 7] = [
        ("mode.round-robin", role::MODE_ROUND_ROBIN),
        ("mode.specific-domains", role::MODE_SPECIFIC),
        ("encryption.none", role::ENC_NONE),
        ("encryption.starttls", role::ENC_STARTTLS),
        ("encryption.implicit-tls", role::ENC_IMPLICIT),
        ("status.enabled", role::STATUS_ENABLED),
        ("status.disabled", role::STATUS_DISABLED),
    ];
    for (key, value) in &input.enums {
        let Some((_, name)) = ENUMS.iter().find(|(k, _)| k == key) else {
            let keys: Vec<&str> = ENUMS.iter().map(|(k, _)| *k).collect();
            return Err(Error::Learn(format!("--enum {key}=...: one of {}", keys.join(", "))));
        };
        l.set(name, typed(value), format!("given by the administrator (--enum {key})"))?;
    }
    if let Some(w) = &input.wrapper {
        let w = if w == "none" { "" } else { w.as_str() };
        l.set(
            role::WRAPPER,
            Value::String(w.to_owned()),
            "given by the administrator (--wrapper)",
        )?;
    }

    // 3. The hand-made gateway, matched by value.
    let list_path = l.text(role::LIST).ok_or_else(|| {
        Error::Learn(format!(
            "the server serves no OpenAPI document (tried /{} and the links of /{API_DOCUMENTATION_PAGE}), so the gateway endpoints are unknown: open Settings > API Documentation on the server and give them with --endpoint list=PATH --endpoint create=PATH --endpoint update=PATH/{{id}} --endpoint delete=PATH/{{id}}",
            OPENAPI_PATHS.join(", /")
        ))
    })?;
    let response = client.call("GET", &list_path, None)?;
    let (list_key, items) = match &response {
        Value::Array(items) => (String::new(), items.clone()),
        Value::Object(map) => {
            let arrays: Vec<(&String, &Vec<Value>)> =
                map.iter().filter_map(|(k, v)| v.as_array().map(|a| (k, a))).collect();
            match arrays.as_slice() {
                [(k, a)] => ((*k).clone(), (*a).clone()),
                _ => {
                    let with: Vec<_> = arrays
                        .iter()
                        .filter(|(_, a)| a.iter().any(|g| matches(g, input)))
                        .collect();
                    match with.as_slice() {
                        [(k, a)] => ((*k).clone(), (*a).clone()),
                        _ => {
                            return Err(Error::Learn(format!(
                                "GET {list_path}: no single list of gateways in the answer"
                            )))
                        }
                    }
                }
            }
        }
        _ => {
            return Err(Error::Learn(format!(
                "GET {list_path}: the answer is not a gateway list"
            )))
        }
    };
    l.set(
        role::LIST_KEY,
        Value::String(list_key),
        format!("the answer of GET {list_path}"),
    )?;
    let hand_made: Vec<&Value> = items.iter().filter(|g| matches(g, input)).collect();
    let gateway = match hand_made.as_slice() {
        [g] => g.as_object().cloned().unwrap_or_default(),
        [] => {
            return Err(Error::Learn(format!(
                "none of the {} gateways of GET {list_path} has server address {} and port {}: create one by hand in SmarterMail (Settings > Gateways) with what you give as --relay, then run learn again",
                items.len(),
                input.relay_host,
                input.relay_port
            )))
        }
        _ => {
            return Err(Error::Learn(format!(
                "{} gateways have server address {} and port {}; give a --relay that only the hand-made one has",
                hand_made.len(),
                input.relay_host,
                input.relay_port
            )))
        }
    };
    l.notes.push(format!(
        "found the hand-made gateway {}:{} in GET {list_path} ({} fields)",
        input.relay_host,
        input.relay_port,
        gateway.len()
    ));
    match_fields(&mut l, &gateway, input)?;

    // 4. The domain setting that selects a gateway.
    if let Some(domain) = &input.domain {
        let id = l
            .text(role::ID)
            .and_then(|f| gateway.get(&f))
            .map(normalize)
            .unwrap_or_default();
        let path = schema::domain_settings(domain);
        let settings = client.call("GET", &path, None)?;
        let keys: Vec<String> = settings
            .get(schema::DOMAIN_SETTINGS_KEY)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, v)| !id.is_empty() && normalize(v) == id)
            .map(|(k, _)| k.clone())
            .collect();
        match one(role::DOMAIN_LINK, keys, &["gateway"], "hold the gateway's id")? {
            Some(k) => l.set(role::DOMAIN_LINK, Value::String(k), format!("the field of GET {path} whose value is the hand-made gateway's id"))?,
            None => {
                return Err(Error::Learn(format!(
                    "GET {path}: no setting holds the hand-made gateway's id; select the gateway in {domain}'s settings first"
                )))
            }
        }
    }

    let unconfirmed = ALL.iter().filter(|r| !l.has(r)).map(|r| (*r).to_owned()).collect();
    Ok(Learning {
        schema: LearnedSchema {
            version: schema::SCHEMA_VERSION,
            server: url.trim_end_matches('/').to_owned(),
            names: l.names,
        },
        notes: l.notes,
        unconfirmed,
    })
}

/// Whether a gateway has the typed server address and port.
fn matches(g: &Value, input: &LearnInput) -> bool {
    let Some(map) = g.as_object() else { return false };
    let host = map.values().any(|v| {
        v.as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(&input.relay_host))
    });
    let port = input.relay_port.to_string();
    host && map.values().any(|v| normalize(v) == port)
}

fn match_fields(l: &mut Learner, gateway: &Map<String, Value>, input: &LearnInput) -> Result<(), Error> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    const GIVEN: [(&str, &str); 10] = [
        ("id", role::ID),
        ("description", role::DESCRIPTION),
        ("address", role::ADDRESS),
        ("port", role::PORT),
        ("encryption", role::ENCRYPTION),
        ("enabled", role::ENABLED),
        ("mode", role::MODE),
        ("use-authentication", role::AUTH),
        ("username", role::USERNAME),
        ("password", role::PASSWORD),
    ];
    for (key, field) in &input.fields {
        let Some((_, name)) = GIVEN.iter().find(|(k, _)| k == key) else {
            let keys: Vec<&str> = GIVEN.iter().map(|(k, _)| *k).collect();
            return Err(Error::Learn(format!("--field {key}=...: one of {}", keys.join(", "))));
        };
        if !gateway.contains_key(field) {
            return Err(Error::Learn(format!(
                "--field {key}={field}: the hand-made gateway has no field {field:?}"
            )));
        }
        l.set(
            name,
            Value::String(field.clone()),
            format!("given by the administrator (--field {key}), present in the hand-made gateway"),
        )?;
        taken.insert(field.clone());
    }
    let free = |taken: &BTreeSet<String>| -> Vec<(String, Value)> {
        gateway
            .iter()
            .filter(|(k, _)| !taken.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let pick = |l: &mut Learner,
                taken: &mut BTreeSet<String>,
                name: &str,
                test: &dyn Fn(&str, &Value) -> bool,
                hints: &[&str],
                why: &str,
                source: String|
     -> Result<Option<Value>, Error> {
        if l.has(name) {
            let field = l.text(name).unwrap_or_default();
            return Ok(gateway.get(&field).cloned());
        }
        let candidates: Vec<String> = free(taken)
            .into_iter()
            .filter(|(k, v)| test(k, v))
            .map(|(k, _)| k)
            .collect();
        match one(name, candidates, hints, why)? {
            Some(field) => {
                l.set(name, Value::String(field.clone()), source)?;
                taken.insert(field.clone());
                Ok(gateway.get(&field).cloned())
            }
            None => Ok(None),
        }
    };

    let host = input.relay_host.clone();
    let address = pick(
        l,
        &mut taken,
        role::ADDRESS,
        &|_, v| v.as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case(&host)),
        &["address", "host", "server"],
        "hold the --relay host",
        format!("the hand-made gateway's field whose value is {host}"),
    )?;
    if address.is_none() {
        return Err(Error::Learn(format!("no field of the hand-made gateway holds {host}")));
    }
    let port = input.relay_port.to_string();
    let port_value = pick(
        l,
        &mut taken,
        role::PORT,
        &|_, v| normalize(v) == port,
        &["port"],
        "hold the --relay port",
        format!("the hand-made gateway's field whose value is {port}"),
    )?;
    if let Some(Value::String(_)) = port_value {
        l.set(
            role::PORT_FORMAT,
            Value::String("string".into()),
            "the hand-made gateway writes its port as text",
        )?;
    }
    if let Some(user) = &input.username {
        let found = pick(
            l,
            &mut taken,
            role::USERNAME,
            &|_, v| v.as_str() == Some(user.as_str()),
            &["user"],
            "hold the --username",
            format!("the hand-made gateway's field whose value is {user}"),
        )?;
        if found.is_none() {
            return Err(Error::Learn(format!(
                "no field of the hand-made gateway holds the user name {user}: did you enable authentication on it?"
            )));
        }
    }
    // Enums: the fields whose value is one of the values given.
    for (field, roles, hints, what) in [
        (
            role::MODE,
            [role::MODE_ROUND_ROBIN, role::MODE_SPECIFIC].as_slice(),
            ["mode", "type"].as_slice(),
            "mode",
        ),
        (
            role::ENCRYPTION,
            [role::ENC_NONE, role::ENC_STARTTLS, role::ENC_IMPLICIT].as_slice(),
            ["encrypt", "ssl", "tls", "security"].as_slice(),
            "encryption",
        ),
    ] {
        let values: Vec<String> = roles
            .iter()
            .filter_map(|r| l.names.get(*r).map(|v| normalize(&v.value)))
            .collect();
        if values.is_empty() && !l.has(field) {
            l.notes.push(format!(
                "{what}: no --enum {what}.* value given, so its field and values stay unconfirmed"
            ));
            continue;
        }
        let found = pick(
            l,
            &mut taken,
            field,
            &|_, v| !v.is_boolean() && values.contains(&normalize(v)),
            hints,
            &format!("hold one of the --enum {what}.* values"),
            format!("the hand-made gateway's field whose value is one of the {what} values given"),
        )?;
        match found {
            Some(v) if values.contains(&normalize(&v)) || values.is_empty() => {}
            Some(v) => {
                return Err(Error::Learn(format!(
                    "the hand-made gateway's {what} is {v}, none of the --enum {what}.* values given"
                )))
            }
            None => {
                return Err(Error::Learn(format!(
                    "no field of the hand-made gateway holds one of the --enum {what}.* values given"
                )))
            }
        }
    }
    // Status: by the values given, else a boolean field named so.
    let status_values: Vec<String> = [role::STATUS_ENABLED, role::STATUS_DISABLED]
        .iter()
        .filter_map(|r| l.names.get(*r).map(|v| normalize(&v.value)))
        .collect();
    let status = if status_values.is_empty() {
        pick(
            l,
            &mut taken,
            role::ENABLED,
            &|k, v| v.is_boolean() && name_has(k, &["enabl", "status", "active"]) && !name_has(k, &["auth"]),
            &["enabl"],
            "are booleans named like a status",
            "the one boolean field of the hand-made gateway named like a status (enabled/status/active)".to_owned(),
        )?
    } else {
        pick(
            l,
            &mut taken,
            role::ENABLED,
            &|_, v| status_values.contains(&normalize(v)),
            &["enabl", "status", "active"],
            "hold one of the --enum status.* values",
            "the hand-made gateway's field whose value is one of the status values given".to_owned(),
        )?
    };
    if let Some(Value::Bool(_)) = status {
        for (r, b) in [(role::STATUS_ENABLED, true), (role::STATUS_DISABLED, false)] {
            if !l.has(r) {
                l.set(r, Value::Bool(b), "the status field is a boolean")?;
            }
        }
    }
    pick(
        l,
        &mut taken,
        role::AUTH,
        &|k, v| v.is_boolean() && name_has(k, &["auth"]),
        &["enable", "use"],
        "are booleans named like authentication",
        "the one boolean field of the hand-made gateway named like authentication".to_owned(),
    )?;
    pick(
        l,
        &mut taken,
        role::PASSWORD,
        &|k, v| (v.is_string() || v.is_null()) && name_has(k, &["password", "pass"]),
        &["password"],
        "are named like a password",
        "the field of the hand-made gateway named like a password (its value is not read)".to_owned(),
    )?;
    let id = pick(
        l,
        &mut taken,
        role::ID,
        &|k, v| {
            (v.is_string() || v.is_number()) && (k == "id" || name_has(k, &["id", "guid"]) && !name_has(k, &["ip"]))
        },
        &["id"],
        "are named like an id",
        "the field of the hand-made gateway named like an id".to_owned(),
    )?;
    if let Some(Value::Number(_)) = id {
        l.set(
            role::ID_FORMAT,
            Value::String("number".into()),
            "the hand-made gateway's id is a number",
        )?;
    }
    let description = pick(
        l,
        &mut taken,
        role::DESCRIPTION,
        &|k, v| (v.is_string() || v.is_null()) && name_has(k, &["description"]),
        &["description"],
        "are named like a description",
        "the field of the hand-made gateway named like a description".to_owned(),
    )?;
    if description.is_none() && !l.has(role::DESCRIPTION) {
        l.set(
            role::DESCRIPTION,
            Value::Null,
            "the hand-made gateway has no description field: smarthost recognises its gateways by the ids in the settings folder",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::document_links;

    #[test]
    fn only_same_server_json_links_are_followed() {
        let page = r#"<script src="/js/app.js"></script>
            <script>SwaggerUIBundle({url: "/api/docs/v1.json", other: 'swagger/spec.json'})</script>
            <a href="https://evil.example/openapi.json">x</a> <a href="//evil.example/swagger.json">y</a>
            <a href="../../etc/openapi.json">z</a> <a href="docs.html">d</a>"#;
        assert_eq!(document_links(page), ["api/docs/v1.json", "swagger/spec.json"]);
    }
}
