//! A small client for SmarterMail's JSON API: bearer token, envelopes
//! (`success`/`message`, where HTTP 200 can still be a failure), one
//! re-login when the token has expired, timeouts. It never logs, and no
//! error it returns holds a token or a password.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use smarthost_core::Secret;

use crate::error::Error;
use crate::schema;

/// An authenticated connection to one SmarterMail server.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    username: String,
    password: Secret,
    token: Mutex<Option<String>>,
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

impl Client {
    pub(crate) fn new(base: &str, username: &str, password: Secret, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password,
            token: Mutex::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn login(&self) -> Result<String, Error> {
        let body = json!({"username": self.username, "password": self.password.expose()});
        let (status, value) = self.send("POST", schema::AUTHENTICATE, Some(&body), None)?;
        let token = value
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        match token {
            Some(t) if status == 200 => Ok(t.to_owned()),
            _ => Err(Error::Auth(message(&value).unwrap_or_else(|| format!("HTTP {status}")))),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Result<(u16, Value), Error> {
        let url = self.url(path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut req = self.agent.get(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            (_, body) => {
                let mut req = self.agent.post(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send_json(body.cloned().unwrap_or(Value::Object(Default::default())))
            }
        };
        let mut response = response.map_err(|e| http(method, path, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| http(method, path, e))?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| http(method, path, format!("HTTP {status}, not JSON")))?
        };
        Ok((status, value))
    }

    /// Calls the API; logs in first, and once more when the token expired.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if token.is_none() {
            *token = Some(self.login()?);
        }
        let (mut status, mut value) = self.send(method, path, body, token.as_deref())?;
        if status == 401 {
            *token = Some(self.login()?);
            (status, value) = self.send(method, path, body, token.as_deref())?;
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
                    message(&value).map(|m| format!(": {m}")).unwrap_or_default()
                ),
            ));
        }
        if value.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(Error::Api {
                path: path.to_owned(),
                message: message(&value).unwrap_or_else(|| "no message".into()),
            });
        }
        Ok(value)
    }
}

fn message(value: &Value) -> Option<String> {
    value
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}
