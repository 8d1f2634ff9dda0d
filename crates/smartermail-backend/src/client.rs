//! A small client for SmarterMail's JSON API: bearer token, envelopes
//! (`success`/`message`, where HTTP 200 can still be a failure), one
//! re-login when the token has expired. It never logs, and no error it
//! returns holds a token or a password.
//!
//! The server is not trusted: all the requests of one writer call share
//! one deadline, a response body is read up to [`MAX_BODY`] bytes, a
//! redirect is never followed (and one to another host is named as such),
//! and every text taken from a response goes through a [`Redactor`] that
//! knows the administrator's password and the gateway passwords sent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smarthost_core::peer_text::Redactor;
use smarthost_core::Secret;

use crate::error::Error;
use crate::schema;

/// The largest response body read (4 MiB); a larger one is an error.
pub(crate) const MAX_BODY: u64 = 4 * 1024 * 1024;

/// An authenticated connection to one SmarterMail server.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    username: String,
    password: Secret,
    token: Mutex<Option<String>>,
    guard: Box<Guard>,
    /// Only `GET` requests (and the login): how `learn` talks.
    read_only: bool,
}

/// What keeps a hostile or stuck server in check.
struct Guard {
    /// `host:port` of the base URL, lowercase, to tell a redirect to
    /// another host.
    authority: Option<String>,
    /// The time one writer call may take, all its requests together.
    budget: Duration,
    /// When the current writer call must be done.
    deadline: Mutex<Option<Instant>>,
    /// Redacts the administrator's password from the server's text.
    redactor: Redactor,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn http(method: &str, path: &str, reason: impl std::fmt::Display) -> Error {
    Error::Http {
        method: method.to_owned(),
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// `host:port` of a URL, lowercase, with the scheme's default port.
fn authority(url: &str) -> Option<String> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
    Some(format!("{host}:{port}"))
}

/// Adds every `password` in a request body (with its sibling `username`)
/// to `redactor`: the gateway credentials the server might repeat.
fn with_body_secrets(mut redactor: Redactor, body: &Value) -> Redactor {
    match body {
        Value::Object(map) => {
            if let Some(password) = map.get("password").and_then(Value::as_str) {
                redactor = match map.get("username").and_then(Value::as_str) {
                    Some(user) => redactor.with_login(user, password),
                    None => redactor.with_secret(password),
                };
            }
            map.values().fold(redactor, with_body_secrets)
        }
        Value::Array(items) => items.iter().fold(redactor, with_body_secrets),
        _ => redactor,
    }
}

impl Client {
    /// A client whose writer calls each get `budget` for all their
    /// requests together.
    pub(crate) fn new(base: &str, username: &str, password: Secret, budget: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(budget))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let redactor = Redactor::new().with_login(username, password.expose());
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password,
            token: Mutex::new(None),
            guard: Box::new(Guard {
                authority: authority(base),
                budget,
                deadline: Mutex::new(None),
                redactor,
            }),
            read_only: false,
        }
    }

    /// The same client, refusing every request but `GET` (the login
    /// excepted): what `learn` uses.
    pub(crate) fn read_only(mut self) -> Client {
        self.read_only = true;
        self
    }

    /// Starts a writer call: its requests, together, must be done within
    /// the budget from now.
    pub(crate) fn start_command(&self) {
        *self.guard.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + self.guard.budget);
    }

    fn deadline_error(&self, method: &str, path: &str) -> Error {
        Error::Deadline {
            method: method.to_owned(),
            path: path.to_owned(),
            limit: self.guard.budget,
        }
    }

    /// The time left for the next request; an error once it is all used.
    fn remaining(&self, method: &str, path: &str) -> Result<Duration, Error> {
        let mut deadline = self.guard.deadline.lock().unwrap_or_else(|e| e.into_inner());
        let at = *deadline.get_or_insert_with(|| Instant::now() + self.guard.budget);
        match at.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.deadline_error(method, path)),
        }
    }

    /// A transport error as this crate's error, the server's text sanitized.
    fn transport(&self, method: &str, path: &str, e: ureq::Error, redactor: &Redactor) -> Error {
        match e {
            ureq::Error::Timeout(_) => self.deadline_error(method, path),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => self.deadline_error(method, path),
            ureq::Error::BodyExceedsLimit(limit) => Error::ResponseTooLarge {
                method: method.to_owned(),
                path: path.to_owned(),
                limit,
            },
            other => http(method, path, redactor.sanitize(&other.to_string())),
        }
    }

    /// A 3xx answer: never followed.
    fn redirect(&self, method: &str, path: &str, status: u16, location: Option<&str>) -> Error {
        let location = location.unwrap_or_default();
        let target = authority(location);
        let other_host = target.is_some() && target != self.guard.authority;
        let to = match (other_host, location.parse::<ureq::http::Uri>()) {
            (true, Ok(uri)) => uri.host().unwrap_or_default().to_owned(),
            _ if location.is_empty() => "(no Location)".to_owned(),
            _ => location.to_owned(),
        };
        Error::Redirect {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            to: self.guard.redactor.sanitize(&to),
            other_host,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn login(&self) -> Result<String, Error> {
        let body = json!({"username": self.username, "password": self.password.expose()});
        let (status, value) = self.send("POST", schema::AUTHENTICATE, Some(&body), None, &self.guard.redactor)?;
        let token = value
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        match token {
            Some(t) if status == 200 => Ok(t.to_owned()),
            _ => Err(Error::Auth(
                message(&value, &self.guard.redactor).unwrap_or_else(|| format!("HTTP {status}")),
            )),
        }
    }

    /// One request, within what is left of the deadline; the body is read
    /// up to [`MAX_BODY`]; a redirect is an error.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        redactor: &Redactor,
    ) -> Result<(u16, Value), Error> {
        let (status, text) = self.send_text(method, path, body, token, redactor)?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| http(method, path, format!("HTTP {status}, not JSON")))?
        };
        Ok((status, value))
    }

    /// [`Self::send`], the body as text.
    fn send_text(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        redactor: &Redactor,
    ) -> Result<(u16, String), Error> {
        let url = self.url(path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let left = Some(self.remaining(method, path)?);
        let response = match (method, body) {
            ("GET", _) => {
                let mut req = self.agent.get(&url).config().timeout_global(left).build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            (_, body) => {
                let mut req = self.agent.post(&url).config().timeout_global(left).build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send_json(body.cloned().unwrap_or(Value::Object(Default::default())))
            }
        };
        let mut response = response.map_err(|e| self.transport(method, path, e, redactor))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            return Err(self.redirect(method, path, status, location.as_deref()));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| self.transport(method, path, e, redactor))?;
        Ok((status, text))
    }

    /// A page that is not JSON (the server's API documentation page), with
    /// the token; an error unless HTTP 2xx.
    pub(crate) fn get_text(&self, path: &str) -> Result<String, Error> {
        let redactor = self.guard.redactor.clone();
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if token.is_none() {
            *token = Some(self.login()?);
        }
        let (status, text) = self.send_text("GET", path, None, token.as_deref(), &redactor)?;
        if !(200..300).contains(&status) {
            return Err(http("GET", path, format!("HTTP {status}")));
        }
        Ok(text)
    }

    /// Calls the API; logs in first, and once more when the token expired.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        if self.read_only && method != "GET" {
            return Err(http(method, path, "refused: this client only reads (GET)"));
        }
        let redactor = match body {
            Some(body) => with_body_secrets(self.guard.redactor.clone(), body),
            None => self.guard.redactor.clone(),
        };
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if token.is_none() {
            *token = Some(self.login()?);
        }
        let (mut status, mut value) = self.send(method, path, body, token.as_deref(), &redactor)?;
        if status == 401 {
            *token = Some(self.login()?);
            (status, value) = self.send(method, path, body, token.as_deref(), &redactor)?;
        }
        if status == 401 || status == 403 {
            return Err(Error::Auth(format!("{path}: HTTP {status}")));
        }
        if !(200..300).contains(&status) {
            return Err(http(
                method,
                path,
                format!(
                    "HTTP {status}{}",
                    message(&value, &redactor).map(|m| format!(": {m}")).unwrap_or_default()
                ),
            ));
        }
        if value.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(Error::Api {
                path: path.to_owned(),
                message: message(&value, &redactor).unwrap_or_else(|| "no message".into()),
            });
        }
        Ok(value)
    }
}

/// The envelope's `message`, sanitized: it is the server's text and may
/// repeat what it was sent.
fn message(value: &Value, redactor: &Redactor) -> Option<String> {
    value
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(|m| redactor.sanitize(m))
}
