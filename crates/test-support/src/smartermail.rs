//! A fake SmarterMail web API on 127.0.0.1 that behaves as the documented
//! API does: login and bearer tokens that expire, `{success, message}`
//! envelopes (failures with HTTP 200), domain settings wrapped in
//! `domainSettings`, and gateway fields it does not know dropped silently.
//! Knobs in [`Fake`] make it fail, echo secrets, redirect or stall.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// The gateway fields the fake server keeps; others are dropped, as the
/// real one drops fields it does not know.
pub const KNOWN_FIELDS: &[&str] = &[
    "id",
    "description",
    "address",
    "port",
    "encryption",
    "isEnabled",
    "mode",
    "useAuthentication",
    "username",
    "password",
];

/// The domains the fake server hosts.
pub const DOMAINS: &[&str] = &["a.example", "b.example", "c.example"];

/// The fake server's data and knobs.
#[derive(Default)]
pub struct Fake {
    /// The administrator's user name.
    pub admin_user: String,
    /// The administrator's password.
    pub admin_password: String,
    /// Outbound gateways by id.
    pub gateways: BTreeMap<String, Value>,
    /// Domain -> the id of its outgoing gateway.
    pub links: BTreeMap<String, String>,
    /// The last gateway id handed out.
    pub next_id: u32,
    /// Tokens handed out, with the calls made with each.
    pub tokens: BTreeMap<String, u32>,
    /// Calls a token is good for before it expires (0: forever).
    pub token_lifetime: u32,
    /// A gateway field this server silently drops.
    pub drop_field: Option<String>,
    /// Fail the Nth write (1-based) with success:false.
    pub fail_write: Option<u32>,
    /// Writes (POST requests with a valid token) so far.
    pub writes: u32,
    /// `METHOD path` of each authorized request.
    pub log: Vec<String>,
    /// Login attempts so far.
    pub logins: u32,
    /// Failure messages repeat what was sent (passwords included), with
    /// terminal escape sequences.
    pub echo: bool,
    /// Bytes of padding appended to failure messages.
    pub padding: usize,
    /// Answer every request with a 302 to this Location.
    pub redirect: Option<String>,
    /// Wait this long before every answer.
    pub delay: Duration,
    /// Requests received, of any kind.
    pub requests: u32,
}

/// A running fake API; stopped when dropped.
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's data and knobs, shared with its thread.
    pub fake: Arc<Mutex<Fake>>,
    server: Arc<tiny_http::Server>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

impl Api {
    /// Starts the API for this administrator; `setup` sets the knobs
    /// before the first request.
    pub fn start(admin_user: &str, admin_password: &str, setup: impl FnOnce(&mut Fake)) -> Api {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let mut fake = Fake {
            admin_user: admin_user.to_owned(),
            admin_password: admin_password.to_owned(),
            ..Fake::default()
        };
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
                let (delay, redirect) = {
                    let mut fake = f.lock().unwrap();
                    fake.requests += 1;
                    (fake.delay, fake.redirect.clone())
                };
                std::thread::sleep(delay);
                if let Some(location) = redirect {
                    let header = tiny_http::Header::from_bytes("Location", location.as_bytes()).unwrap();
                    let _ = request.respond(reply(302, json!({})).with_header(header));
                    continue;
                }
                let (status, value) = f.lock().unwrap().handle(&method, request.url(), auth, body);
                let _ = request.respond(reply(status, value));
            }
        });
        Api { url, fake, server }
    }

    /// `POST path` of every write so far.
    pub fn writes(&self) -> Vec<String> {
        self.fake
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|l| l.starts_with("POST"))
            .cloned()
            .collect()
    }

    /// The gateways the server holds now.
    pub fn gateways(&self) -> Vec<Value> {
        self.fake.lock().unwrap().gateways.values().cloned().collect()
    }
}

fn reply(status: u16, body: Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body.to_string()).with_status_code(status)
}

impl Fake {
    /// One request: the HTTP status and the JSON body of the answer.
    fn handle(&mut self, method: &str, path: &str, auth: Option<String>, body: Value) -> (u16, Value) {
        let path = path.trim_start_matches('/');
        if path == "api/v1/auth/authenticate-user" {
            self.logins += 1;
            if body["username"] == self.admin_user.as_str() && body["password"] == self.admin_password.as_str() {
                let token = format!("token-{}", self.logins);
                self.tokens.insert(token.clone(), 0);
                return (
                    200,
                    json!({"success": true, "accessToken": token, "role": "SystemAdministrator"}),
                );
            }
            let message = if self.echo {
                format!(
                    "Invalid password \x1b]0;owned\x07'{}' for {}{}",
                    body["password"].as_str().unwrap_or_default(),
                    body["username"].as_str().unwrap_or_default(),
                    "x".repeat(self.padding)
                )
            } else {
                "Invalid username or password".to_owned()
            };
            return (200, json!({"success": false, "message": message}));
        }
        let token = auth.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
        let lifetime = self.token_lifetime;
        match token.and_then(|t| self.tokens.get_mut(&t)) {
            Some(uses) if lifetime == 0 || *uses < lifetime => *uses += 1,
            _ => return (401, json!({"success": false, "message": "Unauthorized"})),
        }
        self.log.push(format!("{method} {path}"));
        if method == "POST" {
            self.writes += 1;
            if self.fail_write == Some(self.writes) {
                let message = if self.echo {
                    format!(
                        "Internal error (injected) \x1b[2J\x1b]0;owned\x07 saving {body} as {}:{}{}",
                        self.admin_user,
                        self.admin_password,
                        "x".repeat(self.padding)
                    )
                } else {
                    "Internal error (injected)".to_owned()
                };
                return (200, json!({"success": false, "message": message}));
            }
        }
        let keep = |g: &Value, drop: &Option<String>| -> Value {
            let mut kept = serde_json::Map::new();
            for (k, v) in g.as_object().into_iter().flatten() {
                if KNOWN_FIELDS.contains(&k.as_str()) && Some(k) != drop.as_ref() {
                    kept.insert(k.clone(), v.clone());
                }
            }
            Value::Object(kept)
        };
        if path == "api/v1/settings/sysadmin/gateways" && method == "GET" {
            return (
                200,
                json!({"success": true, "gateways": self.gateways.values().cloned().collect::<Vec<_>>()}),
            );
        }
        if path == "api/v1/settings/sysadmin/gateway-put" {
            self.next_id += 1;
            let id = format!("gw-{}", self.next_id);
            let mut g = keep(&body["gateway"], &self.drop_field);
            g["id"] = json!(id);
            self.gateways.insert(id.clone(), g);
            return (200, json!({"success": true, "gateway": {"id": id}}));
        }
        if let Some(id) = path.strip_prefix("api/v1/settings/sysadmin/gateway-delete/") {
            return match self.gateways.remove(id) {
                Some(_) => (200, json!({"success": true})),
                None => (200, json!({"success": false, "message": "Gateway not found"})),
            };
        }
        if let Some(id) = path.strip_prefix("api/v1/settings/sysadmin/gateway/") {
            if !self.gateways.contains_key(id) {
                return (200, json!({"success": false, "message": "Gateway not found"}));
            }
            let mut g = keep(&body["gateway"], &self.drop_field);
            g["id"] = json!(id);
            self.gateways.insert(id.to_owned(), g);
            return (200, json!({"success": true}));
        }
        if let Some(domain) = path.strip_prefix("api/v1/settings/sysadmin/domain-settings/") {
            if !DOMAINS.contains(&domain) {
                return (200, json!({"success": false, "message": "Domain not found"}));
            }
            if method == "GET" {
                let id = self.links.get(domain).cloned().unwrap_or_default();
                return (
                    200,
                    json!({"success": true, "domainSettings": {"isEnabled": true, "outgoingGatewayId": id}}),
                );
            }
            // Unwrapped bodies are accepted and ignored, as one endpoint does.
            if let Some(id) = body
                .pointer("/domainSettings/outgoingGatewayId")
                .and_then(Value::as_str)
            {
                if id.is_empty() {
                    self.links.remove(domain);
                } else {
                    self.links.insert(domain.to_owned(), id.to_owned());
                }
            }
            return (200, json!({"success": true}));
        }
        (404, json!({"success": false, "message": "Not found"}))
    }
}
