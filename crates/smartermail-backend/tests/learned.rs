//! `learn` and the preflight against a fake SmarterMail API on 127.0.0.1
//! whose names differ from every built-in guess: other endpoints
//! (`outbound-gateway-add`, ...), another list key and body wrapper,
//! numeric ids and enums, no description field, masked passwords, and
//! unexpected fields. Self-contained (its own fake), so that moving the
//! other tests' helpers into a shared crate does not touch it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use smartermail_backend::{learn, Error, LearnInput, LearnedSchema, SmartermailWriter};
use smarthost_core::{
    ConfigWriter, Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username,
};

const ADMIN_PASSWORD: &str = "admin-Secret-42";
const RELAY_PASSWORD: &str = "relay-Secret-7f3a";
const BASE: &str = "api/v1/settings/sysadmin/";

/// The fields this server keeps; others are dropped silently.
const KNOWN: &[&str] = &[
    "serverAddress",
    "serverPort",
    "encryptionType",
    "isActive",
    "gatewayMode",
    "enableAuthentication",
    "authUsername",
    "authPassword",
    "priority",
    "smtpTimeout",
];
const DOMAINS: &[&str] = &["a.example", "b.example", "c.example"];

#[derive(Default)]
struct Fake {
    gateways: BTreeMap<u64, Value>,
    /// Passwords kept, never returned by the list.
    passwords: BTreeMap<u64, String>,
    links: BTreeMap<String, u64>,
    next_id: u64,
    token: Option<String>,
    /// Serve an OpenAPI document at /swagger/v1/swagger.json.
    swagger: bool,
    /// Serve an API documentation page (HTML) that links to an OpenAPI
    /// document elsewhere.
    doc_page: bool,
    /// Every request: "METHOD path".
    log: Vec<String>,
    /// Every write's body.
    bodies: Vec<(String, Value)>,
}

/// The gateway the administrator made by hand, as this server lists it.
fn hand_made() -> Value {
    json!({
        "gatewayId": 1,
        "serverAddress": "relay.handmade.example",
        "serverPort": 2525,
        "encryptionType": 1,
        "isActive": true,
        "gatewayMode": 4,
        "enableAuthentication": true,
        "authUsername": "handmade-user",
        "authPassword": "",
        "priority": 1,
        "smtpTimeout": 30,
        "lastError": null,
        "stats": {"sent": 12, "failed": [1, 2]},
    })
}

fn swagger() -> Value {
    let body = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayRequest"}}}});
    json!({
        "openapi": "3.0.1",
        "paths": {
            "/api/v1/settings/sysadmin/outbound-gateways": {"get": {}},
            "/api/v1/settings/sysadmin/outbound-gateway-add": {"post": {"requestBody": body}},
            "/api/v1/settings/sysadmin/outbound-gateway-save/{gatewayId}": {"post": {"requestBody": body}},
            "/api/v1/settings/sysadmin/outbound-gateway-remove/{gatewayId}": {"post": {}},
            "/api/v1/settings/sysadmin/domain-settings/{domain}": {"get": {}, "post": {}},
        },
        "components": {"schemas": {
            "GatewayRequest": {"type": "object", "properties": {"outboundGateway": {"$ref": "#/components/schemas/Gateway"}}},
            "Gateway": {"type": "object", "properties": {
                "serverAddress": {"type": "string"},
                "encryptionType": {"$ref": "#/components/schemas/EncryptionType"},
                "gatewayMode": {"allOf": [{"$ref": "#/components/schemas/GatewayMode"}]},
            }},
            "EncryptionType": {"type": "integer", "enum": [0, 1, 2], "x-enumNames": ["None", "TLS", "SSL"]},
            "GatewayMode": {"type": "integer", "enum": [0, 1, 2, 3, 4],
                            "x-enumNames": ["Inbound", "InboundFailover", "OutboundFailover", "RoundRobin", "SpecificDomains"]},
        }},
    })
}

fn kept(body: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        if KNOWN.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn handle(fake: &mut Fake, method: &str, path: &str, auth: Option<String>, body: Value) -> (u16, Value) {
    let path = path.trim_start_matches('/');
    fake.log.push(format!("{method} {path}"));
    if path == "api/v1/auth/authenticate-user" {
        if body["username"] == "admin" && body["password"] == ADMIN_PASSWORD {
            fake.token = Some("token-1".into());
            return (200, json!({"success": true, "accessToken": "token-1"}));
        }
        return (
            200,
            json!({"success": false, "message": "Invalid username or password"}),
        );
    }
    if fake.swagger && path == "swagger/v1/swagger.json" && method == "GET" {
        return (200, swagger());
    }
    if fake.doc_page && method == "GET" {
        if path == "Documentation/api" {
            let html = r#"<html><script src="/js/docs.js"></script>
                <script>ui({url: "/api/docs/gateways-v1.json"})</script>
                <a href="https://docs.example/openapi.json">elsewhere</a></html>"#;
            return (200, Value::String(html.into()));
        }
        if path == "api/docs/gateways-v1.json" {
            return (200, swagger());
        }
    }
    if auth.is_none() || auth != fake.token.as_ref().map(|t| format!("Bearer {t}")) {
        return (401, json!({"success": false, "message": "Unauthorized"}));
    }
    if method == "POST" {
        fake.bodies.push((path.to_owned(), body.clone()));
    }
    let Some(rest) = path.strip_prefix(BASE) else {
        return (404, json!({"success": false, "message": "Not found"}));
    };
    let id_of = |s: &str| s.parse::<u64>().ok();
    match (method, rest) {
        ("GET", "outbound-gateways") => {
            let list: Vec<Value> = fake.gateways.values().cloned().collect();
            (200, json!({"success": true, "outboundGateways": list}))
        }
        ("POST", "outbound-gateway-add") => {
            fake.next_id += 1;
            let id = fake.next_id;
            let g = &body["outboundGateway"];
            let mut stored = kept(g);
            if let Some(p) = g["authPassword"].as_str() {
                fake.passwords.insert(id, p.to_owned());
            }
            stored["authPassword"] = json!("");
            stored["gatewayId"] = json!(id);
            fake.gateways.insert(id, stored);
            // No id in the reply: the client finds the new gateway in the list.
            (200, json!({"success": true}))
        }
        ("POST", r) if r.starts_with("outbound-gateway-save/") => {
            let Some(id) = id_of(&r["outbound-gateway-save/".len()..]).filter(|id| fake.gateways.contains_key(id))
            else {
                return (200, json!({"success": false, "message": "Gateway not found"}));
            };
            let g = &body["outboundGateway"];
            let mut stored = fake.gateways[&id].clone();
            for (k, v) in kept(g).as_object().unwrap() {
                stored[k] = v.clone();
            }
            if let Some(p) = g["authPassword"].as_str() {
                fake.passwords.insert(id, p.to_owned());
            }
            stored["authPassword"] = json!("");
            fake.gateways.insert(id, stored);
            (200, json!({"success": true}))
        }
        ("POST", r) if r.starts_with("outbound-gateway-remove/") => {
            match id_of(&r["outbound-gateway-remove/".len()..]).and_then(|id| fake.gateways.remove(&id)) {
                Some(_) => (200, json!({"success": true})),
                None => (200, json!({"success": false, "message": "Gateway not found"})),
            }
        }
        (_, r) if r.starts_with("domain-settings/") => {
            let domain = &r["domain-settings/".len()..];
            if !DOMAINS.contains(&domain) {
                return (200, json!({"success": false, "message": "Domain not found"}));
            }
            if method == "GET" {
                let id = fake.links.get(domain).copied().unwrap_or(0);
                return (
                    200,
                    json!({"success": true, "domainSettings": {"isEnabled": true, "maxSize": 0, "outboundGatewayId": id}}),
                );
            }
            match body.pointer("/domainSettings/outboundGatewayId") {
                Some(Value::Number(n)) if n.as_u64() != Some(0) => {
                    fake.links.insert(domain.to_owned(), n.as_u64().unwrap());
                }
                Some(Value::String(s)) if s.is_empty() => {
                    fake.links.remove(domain);
                }
                Some(Value::Number(_)) => {
                    fake.links.remove(domain);
                }
                // A string id is not this server's type: kept nothing.
                _ => {}
            }
            (200, json!({"success": true}))
        }
        _ => (404, json!({"success": false, "message": "Not found"})),
    }
}

struct Server {
    url: String,
    fake: Arc<Mutex<Fake>>,
    server: Arc<tiny_http::Server>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn start(setup: impl FnOnce(&mut Fake)) -> Server {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let mut fake = Fake {
        next_id: 1,
        ..Fake::default()
    };
    fake.gateways.insert(1, hand_made());
    fake.links.insert("c.example".into(), 1);
    setup(&mut fake);
    let fake = Arc::new(Mutex::new(fake));
    let (s, f) = (server.clone(), fake.clone());
    std::thread::spawn(move || {
        for mut request in s.incoming_requests() {
            let mut text = String::new();
            let _ = request.as_reader().read_to_string(&mut text);
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            let auth = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string());
            let method = request.method().to_string();
            let (status, value) = handle(&mut f.lock().unwrap(), &method, request.url(), auth, body);
            let text = match value {
                Value::String(page) => page,
                other => other.to_string(),
            };
            let _ = request.respond(tiny_http::Response::from_string(text).with_status_code(status));
        }
    });
    Server { url, fake, server }
}

impl Server {
    /// Every request but the login that is not a GET.
    fn writes(&self) -> Vec<String> {
        let fake = self.fake.lock().unwrap();
        fake.log
            .iter()
            .filter(|l| !l.starts_with("GET ") && !l.ends_with("authenticate-user"))
            .cloned()
            .collect()
    }

    fn gateway(&self, id: u64) -> Value {
        self.fake.lock().unwrap().gateways[&id].clone()
    }

    fn connect(&self) -> SmartermailWriter {
        SmartermailWriter::connect(
            &self.url,
            "admin",
            Secret::new(ADMIN_PASSWORD.to_owned()).unwrap(),
            Duration::from_secs(5),
        )
    }

    fn learn(&self, input: &LearnInput) -> Result<smartermail_backend::Learning, Error> {
        learn(
            &self.url,
            "admin",
            Secret::new(ADMIN_PASSWORD.to_owned()).unwrap(),
            Duration::from_secs(5),
            input,
        )
    }
}

/// What an administrator reads off the API documentation page and types.
fn input() -> LearnInput {
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LearnInput {
        endpoints: map(&[
            ("list", "api/v1/settings/sysadmin/outbound-gateways"),
            ("create", "api/v1/settings/sysadmin/outbound-gateway-add"),
            ("update", "/api/v1/settings/sysadmin/outbound-gateway-save/{gatewayId}"),
            ("delete", "api/v1/settings/sysadmin/outbound-gateway-remove/{id}"),
        ]),
        enums: map(&[
            ("mode.round-robin", "3"),
            ("mode.specific-domains", "4"),
            ("encryption.none", "0"),
            ("encryption.starttls", "1"),
            ("encryption.implicit-tls", "2"),
        ]),
        wrapper: Some("outboundGateway".into()),
        relay_host: "relay.handmade.example".into(),
        relay_port: 2525,
        username: Some("handmade-user".into()),
        domain: Some("c.example".into()),
        ..LearnInput::default()
    }
}

/// A folder removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smartermail-learn-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn relay(text: &str, encryption: Encryption, user: Option<&str>) -> Smarthost {
    let s = Smarthost::new(RelayHost::parse(text).unwrap()).with_encryption(encryption);
    match user {
        Some(u) => s.with_credentials(Credentials::new(
            Username::new(u).unwrap(),
            Secret::new(RELAY_PASSWORD.to_owned()).unwrap(),
        )),
        None => s,
    }
}

fn both() -> Policy {
    Policy {
        server: Some(relay("[smtp.sendgrid.net]:587", Encryption::Starttls, Some("apikey"))),
        domains: [
            (
                "a.example".parse::<DomainName>().unwrap(),
                relay(
                    "[smtp.eu.mailgun.org]:465",
                    Encryption::ImplicitTls,
                    Some("postmaster@mg.a.example"),
                ),
            ),
            (
                "b.example".parse().unwrap(),
                relay("[192.0.2.25]:25", Encryption::None, None),
            ),
        ]
        .into_iter()
        .collect(),
        ..Policy::default()
    }
}

/// Learns into a settings folder and returns a writer that uses it.
fn learned_writer(server: &Server, settings: &Path) -> SmartermailWriter {
    let learning = server.learn(&input()).unwrap();
    learning.schema.write_into(settings).unwrap();
    server.connect().settings_dir(settings).unwrap()
}

fn snapshot_text(mut schema: LearnedSchema) -> LearnedSchema {
    schema.server = "http://127.0.0.1:PORT".into();
    schema
}

#[test]
fn learn_sends_only_get_requests_and_matches_fields_by_value() {
    let server = start(|_| {});
    let learning = server.learn(&input()).unwrap();
    assert!(server.writes().is_empty(), "learn wrote: {:?}", server.writes());
    assert!(
        learning.unconfirmed.is_empty(),
        "every name learned: {:?}",
        learning.unconfirmed
    );
    insta::assert_json_snapshot!("learned_from_options", snapshot_text(learning.schema));
}

#[test]
fn learn_uses_the_servers_openapi_document_for_endpoints_wrapper_and_enums() {
    let server = start(|fake| fake.swagger = true);
    let mut given = input();
    given.endpoints.clear();
    given.enums.clear();
    given.wrapper = None;
    let learning = server.learn(&given).unwrap();
    assert!(server.writes().is_empty());
    assert!(learning.unconfirmed.is_empty(), "{:?}", learning.unconfirmed);
    assert!(
        learning.notes.iter().any(|n| n.contains("/swagger/v1/swagger.json")),
        "{:?}",
        learning.notes
    );
    let value = |role: &str| learning.schema.names[role].value.clone();
    assert_eq!(
        value("endpoint.update"),
        "api/v1/settings/sysadmin/outbound-gateway-save/{id}"
    );
    assert_eq!(value("body.wrapper"), "outboundGateway");
    assert_eq!(value("enum.mode.round-robin"), 3);
    assert_eq!(value("enum.encryption.implicit-tls"), 2);
    insta::assert_json_snapshot!("learned_from_openapi", snapshot_text(learning.schema));
}

#[test]
fn without_an_openapi_document_or_endpoints_learn_says_what_to_give() {
    let server = start(|_| {});
    let mut given = input();
    given.endpoints.clear();
    let err = server.learn(&given).unwrap_err().to_string();
    assert!(err.contains("--endpoint list=PATH"), "{err}");
    assert!(err.contains("swagger/v1/swagger.json"), "{err}");
    assert!(server.writes().is_empty());
}

#[test]
fn after_learn_apply_works_with_numeric_enums_and_other_names() {
    let server = start(|_| {});
    let settings = TempDir::new("apply");
    let writer = learned_writer(&server, settings.path());
    let (plan, applied) = writer.converge(&both()).unwrap();
    assert!(applied.changed);
    assert!(!plan.render().contains(RELAY_PASSWORD));

    // What the server keeps: its own names and numbers.
    let server_gateway = server
        .fake
        .lock()
        .unwrap()
        .gateways
        .values()
        .find(|g| g["serverAddress"] == "smtp.sendgrid.net")
        .cloned()
        .unwrap();
    assert_eq!(server_gateway["encryptionType"], 1);
    assert_eq!(server_gateway["gatewayMode"], 3);
    assert_eq!(server_gateway["isActive"], true);
    assert!(server
        .fake
        .lock()
        .unwrap()
        .passwords
        .values()
        .any(|p| p == RELAY_PASSWORD));
    assert_eq!(server.gateway(1), hand_made(), "the hand-made gateway is untouched");

    // Read back through the schema (passwords are not returned).
    let read = writer.read().unwrap();
    assert_eq!(read.server.as_ref().unwrap().relay, both().server.unwrap().relay);
    assert_eq!(
        read.domains.keys().collect::<Vec<_>>(),
        both().domains.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        read.domains[&"a.example".parse::<DomainName>().unwrap()].encryption,
        Encryption::ImplicitTls
    );
    let links = server.fake.lock().unwrap().links.clone();
    assert_eq!(links.len(), 3, "c.example keeps the hand-made gateway: {links:?}");
    assert_eq!(links["c.example"], 1);
}

#[test]
fn without_learn_a_write_is_refused_and_no_write_request_is_sent() {
    let server = start(|_| {});
    let settings = TempDir::new("refused");
    let writer = server.connect().settings_dir(settings.path()).unwrap();
    let err = writer.converge(&both()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unconfirmed { .. }), "{text}");
    for name in [
        "endpoint.create",
        "field.mode",
        "enum.encryption.starttls",
        "field.domain-link",
    ] {
        assert!(text.contains(name), "{name} named: {text}");
    }
    assert!(
        text.contains(&format!("smarthost smartermail learn --url {}", server.url)),
        "{text}"
    );
    assert!(server.writes().is_empty(), "no write request: {:?}", server.writes());
    // list: reading with the guessed endpoint fails, and says to learn.
    let err = writer.read().unwrap_err().to_string();
    assert!(
        err.contains("unconfirmed guess") && err.contains("smartermail learn"),
        "{err}"
    );
    assert_eq!(server.fake.lock().unwrap().gateways.len(), 1);

    // The same with a plan made elsewhere (e.g. saved): apply refuses too.
    let rendered = SmartermailWriter::render_into(settings.path().join("render"))
        .plan(&both())
        .unwrap();
    let err = writer.apply(&rendered).unwrap_err();
    assert!(matches!(err, Error::Unconfirmed { .. }), "{err}");
    assert!(server.writes().is_empty(), "no write request: {:?}", server.writes());
}

#[test]
fn a_new_gateway_is_created_disabled_and_limited_then_enabled_and_widened() {
    let server = start(|_| {});
    let settings = TempDir::new("disabled");
    let writer = learned_writer(&server, settings.path());
    let only_server = Policy {
        server: both().server,
        ..Policy::default()
    };
    writer.converge(&only_server).unwrap();
    let bodies = server.fake.lock().unwrap().bodies.clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let (create, first) = &bodies[0];
    assert!(create.ends_with("outbound-gateway-add"), "{create}");
    assert_eq!(first["outboundGateway"]["isActive"], false, "created disabled");
    assert_eq!(
        first["outboundGateway"]["gatewayMode"], 4,
        "and limited to specific domains"
    );
    let (update, second) = &bodies[1];
    assert!(update.ends_with("outbound-gateway-save/2"), "{update}");
    assert_eq!(second["outboundGateway"]["isActive"], true);
    assert_eq!(
        second["outboundGateway"]["gatewayMode"], 3,
        "widened to all domains last"
    );
}

#[test]
fn enums_are_compared_normalised() {
    let server = start(|_| {});
    let settings = TempDir::new("normalised");
    let writer = learned_writer(&server, settings.path());
    let only_b = Policy {
        domains: both()
            .domains
            .into_iter()
            .filter(|(d, _)| d.as_str() == "b.example")
            .collect(),
        ..Policy::default()
    };
    writer.converge(&only_b).unwrap();
    // The server now answers with strings ("0", " 4") instead of numbers.
    {
        let mut fake = server.fake.lock().unwrap();
        let g = fake.gateways.get_mut(&2).unwrap();
        g["encryptionType"] = json!("0");
        g["gatewayMode"] = json!(" 4");
        g["serverPort"] = json!("25");
    }
    let plan = writer.plan(&only_b).unwrap();
    assert!(plan.is_empty(), "{}", plan.render());
}

#[test]
fn a_hand_made_gateway_with_unexpected_fields_never_breaks_reading() {
    let server = start(|fake| {
        fake.gateways.insert(
            7,
            json!({"gatewayId": "seven", "serverAddress": 12, "serverPort": "not a port", "encryptionType": {"odd": true},
                   "gatewayMode": [1], "isActive": "maybe", "extra": {"nested": [null]}}),
        );
        fake.gateways.insert(8, json!({}));
    });
    let settings = TempDir::new("unexpected");
    let writer = learned_writer(&server, settings.path());
    assert_eq!(writer.read().unwrap(), Policy::default(), "none of them is smarthost's");
    writer.converge(&both()).unwrap();
    assert_eq!(server.fake.lock().unwrap().gateways.len(), 6, "3 hand-made + 3 ours");
}

#[test]
fn a_forbidden_field_is_never_learned_nor_written() {
    let server = start(|fake| {
        fake.gateways.get_mut(&1).unwrap()["domainLocation"] = json!(0);
    });
    let mut given = input();
    given.fields.insert("description".into(), "domainLocation".into());
    let err = server.learn(&given).unwrap_err().to_string();
    assert!(err.contains("INCOMING"), "{err}");

    // A schema file edited by hand to point a field at one: refused before
    // any write.
    let settings = TempDir::new("forbidden");
    let mut schema = server.learn(&input()).unwrap().schema;
    schema.names.get_mut("field.address").unwrap().value = json!("domainLocationAddress");
    schema.write_into(settings.path()).unwrap();
    let err = server
        .connect()
        .settings_dir(settings.path())
        .unwrap()
        .converge(&both())
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    assert!(server.writes().is_empty(), "{:?}", server.writes());
}

#[test]
fn list_works_without_gateway_passwords() {
    let server = start(|_| {});
    let settings = TempDir::new("passwords");
    let writer = learned_writer(&server, settings.path());
    writer.converge(&both()).unwrap();
    // The server returns no password; list still works, and shows none.
    let read = writer.read().unwrap();
    assert!(read.server.as_ref().unwrap().credentials.is_some());
    assert!(!format!("{read:?}").contains(RELAY_PASSWORD));

    // set/disable (read, edit, apply): the gateways whose passwords were
    // not returned are left as they are, and never sent a placeholder.
    let before = server.fake.lock().unwrap().bodies.len();
    let mut edited = read.clone();
    edited.domains.remove(&"b.example".parse::<DomainName>().unwrap());
    writer.converge(&edited).unwrap();
    let fake = server.fake.lock().unwrap();
    let bodies = &fake.bodies[before..];
    assert!(
        bodies.iter().all(|(path, _)| !path.contains("outbound-gateway-save")),
        "no gateway rewritten: {bodies:?}"
    );
    assert!(fake.passwords.values().all(|p| p == RELAY_PASSWORD));
    drop(fake);

    // Changing such a gateway needs its password: refused, nothing sent.
    let mut changed = writer.read().unwrap();
    changed.server.as_mut().unwrap().relay = RelayHost::parse("[smtp.sendgrid.net]:2525").unwrap();
    let writes = server.writes().len();
    let err = writer.converge(&changed).unwrap_err();
    assert!(matches!(err, Error::PasswordHidden(_)), "{err}");
    assert_eq!(server.writes().len(), writes);
}

#[test]
fn our_gateways_are_recognised_by_the_gateways_file_without_a_description() {
    let server = start(|_| {});
    let settings = TempDir::new("known");
    learned_writer(&server, settings.path()).converge(&both()).unwrap();
    let file = std::fs::read_to_string(settings.path().join("smartermail-gateways.json")).unwrap();
    assert!(
        file.contains("smarthost: server") && !file.contains(RELAY_PASSWORD),
        "{file}"
    );

    // Another run with the same settings folder knows them (and, as the
    // server returns no passwords, only re-sends them: nothing is created).
    let again = server.connect().settings_dir(settings.path()).unwrap();
    let read = again.read().unwrap();
    assert!(read.server.is_some());
    assert_eq!(read.domains.len(), 2);
    let plan = again.plan(&both()).unwrap();
    assert!(!plan.render().contains("outbound-gateway-add"), "{}", plan.render());

    // Without a settings folder (schema only), nothing can be recognised
    // later, so creating is refused.
    let mut schema = LearnedSchema::load(&settings.path().join("smartermail-schema.json"))
        .unwrap()
        .unwrap();
    let fresh = start(|_| {});
    schema.server = fresh.url.clone();
    let err = fresh.connect().with_schema(schema).converge(&both()).unwrap_err();
    assert!(matches!(err, Error::NoGatewaysFile), "{err}");
    assert!(fresh.writes().is_empty());
}

#[test]
fn a_stale_plan_is_refused() {
    let server = start(|_| {});
    let settings = TempDir::new("stale");
    let writer = learned_writer(&server, settings.path());
    let plan = writer.plan(&both()).unwrap();
    // Someone edits the hand-made gateway between plan and apply.
    server.fake.lock().unwrap().gateways.get_mut(&1).unwrap()["serverPort"] = json!(2526);
    let err = writer.apply(&plan).unwrap_err();
    assert!(matches!(err, Error::Changed(_)), "{err}");
    assert!(err.to_string().contains("gateway list"), "{err}");
    assert!(server.writes().is_empty());

    // A domain selection changed: stale too.
    let plan = writer.plan(&both()).unwrap();
    server.fake.lock().unwrap().links.insert("a.example".into(), 1);
    let err = writer.apply(&plan).unwrap_err();
    assert!(err.to_string().contains("domain a.example"), "{err}");
    assert!(server.writes().is_empty());
}

#[test]
fn check_certificate_false_is_refused_naming_the_setting() {
    let server = start(|_| {});
    let settings = TempDir::new("certificate");
    let writer = learned_writer(&server, settings.path());
    let mut policy = both();
    policy.features.domain.check_certificate = false;
    let err = writer.plan(&policy).unwrap_err().to_string();
    assert!(
        err.contains("smarthost.domain.checkConnection.checkCertificate"),
        "{err}"
    );
    assert!(server.writes().is_empty());

    // Rendering refuses it as well: it would be silently lost.
    let dir = TempDir::new("certificate-render");
    let err = SmartermailWriter::render_into(dir.path()).plan(&policy).unwrap_err();
    assert!(matches!(err, Error::CertificateCheck { .. }), "{err}");
}

#[test]
fn rendered_files_name_the_unconfirmed_names() {
    let dir = TempDir::new("render");
    let writer = SmartermailWriter::render_into(dir.path().join("out"));
    let (plan, _) = writer.converge(&both()).unwrap();
    assert!(
        plan.warnings.iter().any(|w| w.contains("not confirmed")),
        "{:?}",
        plan.warnings
    );
    let first: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/requests/001.json")).unwrap()).unwrap();
    let unconfirmed: Vec<&str> = first["unconfirmed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        unconfirmed.iter().any(|n| n.starts_with("endpoint.create")),
        "{unconfirmed:?}"
    );

    // With a learned schema in the settings folder, nothing is unconfirmed.
    let server = start(|_| {});
    let settings = dir.path().join("etc");
    server.learn(&input()).unwrap().schema.write_into(&settings).unwrap();
    let writer = SmartermailWriter::render_into(dir.path().join("learned"))
        .settings_dir(&settings)
        .unwrap();
    writer.converge(&both()).unwrap();
    let first: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("learned/requests/001.json")).unwrap()).unwrap();
    assert_eq!(first["unconfirmed"], json!([]));
    assert!(first["path"].as_str().unwrap().ends_with("outbound-gateway-add"));
}

#[test]
fn a_schema_or_gateway_ids_from_another_server_confirm_nothing() {
    let first = start(|_| {});
    let settings = TempDir::new("other-server");
    learned_writer(&first, settings.path()).converge(&both()).unwrap();

    // A second server (another URL) with the same settings folder: the
    // schema learned from the first is not taken as confirmation...
    let second = start(|fake| {
        // ...and its gateway 2, a hand-made one, is not taken for ours
        // although the first server's gateway 2 is.
        let mut other = hand_made();
        other["gatewayId"] = json!(2);
        other["serverAddress"] = json!("other.example");
        fake.gateways.insert(2, other);
        fake.next_id = 2;
    });
    let writer = second.connect().settings_dir(settings.path()).unwrap();
    assert_eq!(
        writer.read().unwrap(),
        Policy::default(),
        "no gateway of the second server is ours"
    );
    let err = writer.converge(&both()).unwrap_err();
    assert!(matches!(err, Error::Unconfirmed { .. }), "{err}");
    assert!(err.to_string().contains("learned schema is from"), "{err}");
    assert!(second.writes().is_empty(), "{:?}", second.writes());
}

#[test]
fn an_existing_gateway_is_widened_to_all_domains_last() {
    let server = start(|_| {});
    let settings = TempDir::new("widen");
    let writer = learned_writer(&server, settings.path());
    let only_server = Policy {
        server: both().server,
        ..Policy::default()
    };
    writer.converge(&only_server).unwrap();
    // Someone limits our server gateway to specific domains by hand.
    server.fake.lock().unwrap().gateways.get_mut(&2).unwrap()["gatewayMode"] = json!(4);
    let mut changed = only_server.clone();
    changed.server = Some(relay("[smtp.sendgrid.net]:2525", Encryption::Starttls, Some("apikey")));
    let before = server.fake.lock().unwrap().bodies.len();
    writer.converge(&changed).unwrap();
    let bodies = server.fake.lock().unwrap().bodies[before..].to_vec();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0].1["outboundGateway"]["serverPort"], 2525, "the change first");
    assert_eq!(bodies[0].1["outboundGateway"]["gatewayMode"], 4, "still limited");
    assert_eq!(bodies[1].1["outboundGateway"]["gatewayMode"], 3, "widened last");
    assert_eq!(server.gateway(2)["gatewayMode"], 3);
}

#[test]
fn learn_follows_the_api_documentation_page_to_its_openapi_document() {
    let server = start(|fake| fake.doc_page = true);
    let mut given = input();
    given.endpoints.clear();
    given.enums.clear();
    given.wrapper = None;
    let learning = server.learn(&given).unwrap();
    assert!(learning.unconfirmed.is_empty(), "{:?}", learning.unconfirmed);
    assert!(
        learning
            .notes
            .iter()
            .any(|n| n.contains("/api/docs/gateways-v1.json, linked from /Documentation/api")),
        "{:?}",
        learning.notes
    );
    let log = server.fake.lock().unwrap().log.clone();
    assert!(log.iter().all(|l| !l.contains("docs.example")), "{log:?}");
    assert!(server.writes().is_empty());
}

#[test]
fn a_schema_file_of_another_version_is_refused() {
    let settings = TempDir::new("version");
    std::fs::write(
        settings.path().join("smartermail-schema.json"),
        r#"{"version": 2, "server": "http://127.0.0.1:1", "names": {}}"#,
    )
    .unwrap();
    let err = SmartermailWriter::render_into(settings.path().join("out"))
        .settings_dir(settings.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("schema version 2") && err.contains("learn"), "{err}");
}

/// Every routing rule beyond server-wide and per-domain gateways is refused
/// by its field, live (no request sent) and rendered (nothing written).
#[test]
fn routing_rules_smartermail_cannot_express_are_refused_by_name() {
    let server = start(|_| {});
    let settings = TempDir::new("routing");
    let writer = learned_writer(&server, settings.path());
    for (rule, field, policy) in test_support::builders::with_each_routing_rule(&both()) {
        let err = writer.plan(&policy).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Unsupported { .. }), "{rule:?}: {text}");
        assert!(text.starts_with(field), "{rule:?}: {text}");
        assert!(server.writes().is_empty(), "{rule:?}: a write request was sent");

        let dir = TempDir::new("routing-render");
        let rendered = SmartermailWriter::render_into(dir.path().join("out"));
        assert!(rendered.plan(&policy).is_err(), "{rule:?} refused when rendering");
        assert!(!dir.path().join("out").exists(), "nothing rendered for {rule:?}");
    }
}
