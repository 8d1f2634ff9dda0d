//! Carries out a plan against the API: each request is sent, read back and
//! compared, and undone in reverse order when a later one fails. Or, when
//! rendering, the requests are written as JSON files, through smarthost-core's
//! transaction ([`Render`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use smarthost_core::transaction::{self, safe_fs, Basis, Lock, Recovered, SessionGuard, StateDir, Transaction};
use smarthost_core::{Applied, Change, Plan};

use crate::client::Client;
use crate::error::Error;
use crate::schema::{self, Gateway};
use crate::state::{self, password_known, State};

/// How to undo one request.
enum Undo {
    Delete(String),
    Restore(Gateway),
    Recreate(Gateway),
    Relink(String, String),
}

fn resolve(text: &str, ids: &BTreeMap<String, String>) -> String {
    ids.iter()
        .fold(text.to_owned(), |t, (placeholder, id)| t.replace(placeholder, id))
}

fn resolve_value(value: &Value, ids: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(resolve(s, ids)),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve_value(v, ids)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), resolve_value(v, ids))).collect()),
        other => other.clone(),
    }
}

/// Compares what was sent with what the server kept.
fn verify_gateway(path: &str, sent: &Gateway, found: Option<&Gateway>) -> Result<(), Error> {
    let Some(found) = found else {
        return Err(Error::NotKept {
            path: path.into(),
            field: "gateway".into(),
            sent: sent.description.clone(),
            found: "nothing".into(),
        });
    };
    let fields: [(&str, String, String); 8] = [
        ("description", sent.description.clone(), found.description.clone()),
        ("address", sent.address.clone(), found.address.clone()),
        ("port", sent.port.to_string(), found.port.to_string()),
        ("encryption", sent.encryption.clone(), found.encryption.clone()),
        ("isEnabled", sent.is_enabled.to_string(), found.is_enabled.to_string()),
        ("mode", sent.mode.clone(), found.mode.clone()),
        (
            "useAuthentication",
            sent.use_authentication.to_string(),
            found.use_authentication.to_string(),
        ),
        ("username", sent.username.clone(), found.username.clone()),
    ];
    for (field, sent_value, found) in fields {
        if sent_value != found {
            // What the server returned is peer text: escaped, capped, and
            // without the gateway's password should the server put it there.
            let found = smarthost_core::peer_text::Redactor::new()
                .with_secret(&sent.password)
                .sanitize(&found);
            return Err(Error::NotKept {
                path: path.into(),
                field: field.into(),
                sent: sent_value,
                found,
            });
        }
    }
    if sent.use_authentication && password_known(found) && found.password != sent.password {
        let hidden = smarthost_core::REDACTED.to_owned();
        return Err(Error::NotKept {
            path: path.into(),
            field: "password".into(),
            sent: hidden.clone(),
            found: hidden,
        });
    }
    Ok(())
}

fn find<'a>(list: &'a [Gateway], id: &str) -> Option<&'a Gateway> {
    list.iter().find(|g| g.id == id)
}

/// Sends one request and checks it took effect. Once the request was
/// accepted, how to undo it is recorded in `undo`, even when the check that
/// follows fails.
fn step(
    client: &Client,
    path: &str,
    body: &Value,
    before: &State,
    ids: &mut BTreeMap<String, String>,
    undo: &mut Vec<Undo>,
) -> Result<(), Error> {
    let gateway_body = || -> Result<Gateway, Error> {
        serde_json::from_value(body.get("gateway").cloned().unwrap_or(Value::Null)).map_err(|e| Error::Http {
            method: "POST".into(),
            path: path.into(),
            reason: e.to_string(),
        })
    };
    if path == schema::GATEWAY_PUT {
        let sent = gateway_body()?;
        let reply = client.call("POST", path, Some(body))?;
        let id = reply
            .pointer("/gateway/id")
            .or_else(|| reply.get("id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::NotKept {
                path: path.into(),
                field: "id".into(),
                sent: "(new gateway)".into(),
                found: "no id in the reply".into(),
            })?
            .to_owned();
        ids.insert(crate::schema::placeholder(&sent.description), id.clone());
        undo.push(Undo::Delete(id.clone()));
        return verify_gateway(path, &sent, find(&state::gateways(client)?, &id));
    }
    if let Some(id) = path.strip_prefix(&schema::gateway_delete("")) {
        let previous = before
            .gateways
            .values()
            .find(|g| g.id == id)
            .cloned()
            .ok_or(Error::Stale)?;
        client.call("POST", path, Some(body))?;
        if find(&state::gateways(client)?, id).is_some() {
            return Err(Error::NotKept {
                path: path.into(),
                field: "gateway".into(),
                sent: "delete".into(),
                found: "still there".into(),
            });
        }
        undo.push(Undo::Recreate(previous));
        return Ok(());
    }
    if let Some(id) = path.strip_prefix(&schema::gateway("")) {
        let previous = before
            .gateways
            .values()
            .find(|g| g.id == id)
            .cloned()
            .ok_or(Error::Stale)?;
        let sent = gateway_body()?;
        client.call("POST", path, Some(body))?;
        undo.push(Undo::Restore(previous));
        return verify_gateway(path, &sent, find(&state::gateways(client)?, id));
    }
    if let Some(domain) = path.strip_prefix(&schema::domain_settings("")) {
        let previous = before.links.get(domain).cloned().unwrap_or_default();
        let wanted = body
            .pointer(&format!("/domainSettings/{}", schema::DOMAIN_GATEWAY_FIELD))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        client.call("POST", path, Some(body))?;
        undo.push(Undo::Relink(domain.to_owned(), previous));
        let found = state::link(client, domain)?;
        if found != wanted {
            return Err(Error::NotKept {
                path: path.into(),
                field: schema::DOMAIN_GATEWAY_FIELD.into(),
                sent: wanted,
                found,
            });
        }
        return Ok(());
    }
    Err(Error::Http {
        method: "POST".into(),
        path: path.into(),
        reason: "not a request this backend makes".into(),
    })
}

fn undo(client: &Client, action: Undo) -> Result<(), Error> {
    match action {
        Undo::Delete(id) => client
            .call("POST", &schema::gateway_delete(&id), Some(&json!({})))
            .map(drop),
        Undo::Restore(g) => client
            .call("POST", &schema::gateway(&g.id), Some(&json!({"gateway": g})))
            .map(drop),
        Undo::Recreate(g) => {
            let g = Gateway { id: String::new(), ..g };
            client
                .call("POST", schema::GATEWAY_PUT, Some(&json!({"gateway": g})))
                .map(drop)
        }
        Undo::Relink(domain, id) => {
            let body = json!({"domainSettings": {schema::DOMAIN_GATEWAY_FIELD: id}});
            client
                .call("POST", &schema::domain_settings(&domain), Some(&body))
                .map(drop)
        }
    }
}

pub(crate) fn apply(client: &Client, plan: &Plan, before: &State) -> Result<Applied, Error> {
    let mut ids = BTreeMap::new();
    let mut done: Vec<Undo> = Vec::new();
    let mut ran = Vec::new();
    for change in &plan.changes {
        let Change::Api(request) = change else { continue };
        let path = resolve(&request.path, &ids);
        let body = resolve_value(request.body.as_ref().unwrap_or(&Value::Null), &ids);
        match step(client, &path, &body, before, &mut ids, &mut done) {
            Ok(()) => ran.push(format!("{} {path}", request.method)),
            Err(cause) => {
                for u in done.into_iter().rev() {
                    if let Err(e) = undo(client, u) {
                        return Err(Error::RollbackFailed {
                            cause: Box::new(cause),
                            undo: Box::new(e),
                        });
                    }
                }
                return Err(Error::RolledBack { cause: Box::new(cause) });
            }
        }
    }
    Ok(Applied {
        changed: !ran.is_empty(),
        backups: Vec::new(),
        ran,
    })
}

/// The render folder (`--root DIR`): `DIR/requests/NNN.json` and
/// `DIR/state.json`, read and written through smarthost-core's
/// [`transaction`]: the lock `DIR/.smarthost.lock` is taken before
/// `state.json` is read, an interrupted render (journal
/// `DIR/.smarthost-journal`) is rolled back first, and the request files and
/// `state.json` are replaced together, so that a kill never leaves them out
/// of step.
#[derive(Debug)]
pub(crate) struct Render {
    dir: PathBuf,
    state_dir: StateDir,
}

/// The mode of files that hold no secret.
const PUBLIC_MODE: u32 = 0o644;
/// The mode of a `state.json` that keeps a password.
const SECRET_MODE: u32 = 0o600;

impl Render {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self::waiting(dir, transaction::DEFAULT_LOCK_WAIT)
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same, waiting up to `wait` for another run's lock.
    pub(crate) fn waiting(dir: PathBuf, wait: std::time::Duration) -> Self {
        let state_dir = StateDir::new(dir.clone(), wait);
        Render { dir, state_dir }
    }

    /// `DIR/state.json`.
    pub(crate) fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn requests(&self) -> PathBuf {
        self.dir.join(REQUESTS_DIR)
    }

    fn journal(&self) -> PathBuf {
        self.state_dir.journal()
    }

    /// Takes the lock and rolls back an interrupted render (see
    /// [`StateDir::enter`]).
    pub(crate) fn enter(&self, writing: bool) -> Result<(Option<SessionGuard<'_>>, Option<Recovered>), Error> {
        Ok(self.state_dir.enter(writing, &[&self.requests()])?)
    }

    /// The state of the last render and the bytes of `state.json`.
    pub(crate) fn load(&self) -> Result<(State, Option<Vec<u8>>), Error> {
        State::load(&self.state_path())
    }

    /// What a plan made from these bytes of `state.json` is based on.
    pub(crate) fn basis(&self, bytes: Option<&[u8]>) -> Basis {
        let mut basis = Basis::new();
        basis.add(self.state_path().display(), bytes);
        basis
    }

    /// Renders `plan` under `lock`: refuses it when `state.json` changed
    /// since it was made, then writes the plan's requests (passwords
    /// redacted) as numbered JSON files, removes the request files of an
    /// earlier render, and writes the resulting state (without passwords)
    /// for the next plan; all of it as one transaction.
    pub(crate) fn apply(&self, lock: &Lock, plan: &Plan) -> Result<Applied, Error> {
        let (before, bytes) = self.load()?;
        if let Some(basis) = &plan.basis {
            if basis.first_difference(&self.basis(bytes.as_deref())).is_some() {
                return Err(Error::Policy(smarthost_core::Error::Stale {
                    path: self.state_path(),
                }));
            }
        }
        let after = before.after(plan);
        let requests = self.requests();
        let mut files = Vec::new();
        for (n, change) in plan.changes.iter().enumerate() {
            let Change::Api(request) = change else { continue };
            let text = serde_json::to_string_pretty(
                &json!({"method": request.method, "path": request.path, "body": request.redacted_body()}),
            )
            .unwrap_or_default();
            files.push((requests.join(format!("{:03}.json", n + 1)), text + "\n"));
        }
        if files.is_empty() && before == after {
            return Ok(Applied::default());
        }
        let mut tx = Transaction::new(lock, &self.journal());
        if !files.is_empty() {
            safe_fs::ensure_dir(&self.dir, &requests)?;
            for old in request_files(&requests)? {
                if !files.iter().any(|(path, _)| path == &old) {
                    tx.remove(&old, false)?;
                }
            }
            for (path, text) in &files {
                tx.write(path, text.as_bytes(), PUBLIC_MODE, false)?;
            }
        }
        if before != after {
            let text = serde_json::to_string_pretty(&after).unwrap_or_default() + "\n";
            let mode = if after.holds_password() {
                SECRET_MODE
            } else {
                PUBLIC_MODE
            };
            let secret = before.holds_password() || after.holds_password();
            tx.write(&self.state_path(), text.as_bytes(), mode, secret)?;
        }
        let backups = tx.commit(Vec::new())?.finish()?;
        // The request files' backups are of no use once the render is
        // final; only state.json's is kept, for a manual rollback.
        let mut kept = Vec::new();
        for backup in backups {
            if backup.parent() == Some(requests.as_path()) {
                std::fs::remove_file(&backup).map_err(|source| Error::Io { path: backup, source })?;
            } else {
                kept.push(backup);
            }
        }
        Ok(Applied {
            changed: !files.is_empty(),
            backups: kept,
            ran: files.into_iter().map(|(path, _)| path.display().to_string()).collect(),
        })
    }
}

/// The state file of a render folder.
const STATE_FILE: &str = "state.json";
/// The folder of the request files.
const REQUESTS_DIR: &str = "requests";

/// The request files (`NNN.json`) of an earlier render.
fn request_files(requests: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: requests.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(requests).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if name
            .strip_suffix(".json")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            out.push(requests.join(&*name));
        }
    }
    out.sort();
    Ok(out)
}
