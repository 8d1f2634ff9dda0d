//! Carries out a plan against the API: each request is sent, read back and
//! compared, and undone in reverse order when a later one fails. Or, when
//! rendering, the requests are written as JSON files, through smarthost-core's
//! transaction ([`Render`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use smarthost_core::transaction::{self, safe_fs, Basis, Lock, Recovered, SessionGuard, StateDir, Transaction};
use smarthost_core::{Applied, Change, Plan};

use crate::error::Error;
use crate::read::{self, password_known, KnownGateways, Reader, Snapshot, State};
use crate::schema::{self, role, Gateway, Names};

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

fn resolve_value(names: &Names, value: &Value, ids: &BTreeMap<String, String>) -> Value {
    match value {
        // A placeholder that stands for a whole id becomes the id as the
        // server writes it (a number where it uses numbers).
        Value::String(s) if ids.contains_key(s) => names.id_value(&ids[s]),
        Value::String(s) => Value::String(resolve(s, ids)),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve_value(names, v, ids)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), resolve_value(names, v, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Compares what was sent with what the server kept.
fn verify_gateway(names: &Names, path: &str, sent: &Gateway, found: Option<&Gateway>) -> Result<(), Error> {
    let Some(found) = found else {
        return Err(Error::NotKept {
            path: path.into(),
            field: "gateway".into(),
            sent: sent.address.clone(),
            found: "nothing".into(),
        });
    };
    let field = |r: &str| names.text(r);
    let mut fields: Vec<(String, String, String)> = vec![
        (field(role::ADDRESS), sent.address.clone(), found.address.clone()),
        (field(role::PORT), sent.port.to_string(), found.port.to_string()),
        (
            field(role::ENCRYPTION),
            sent.encryption.clone(),
            found.encryption.clone(),
        ),
        (
            field(role::ENABLED),
            sent.is_enabled.to_string(),
            found.is_enabled.to_string(),
        ),
        (field(role::MODE), sent.mode.clone(), found.mode.clone()),
        (
            field(role::AUTH),
            sent.use_authentication.to_string(),
            found.use_authentication.to_string(),
        ),
    ];
    if names.get(role::DESCRIPTION).is_some() {
        fields.insert(
            0,
            (
                field(role::DESCRIPTION),
                sent.description.clone(),
                found.description.clone(),
            ),
        );
    }
    if sent.use_authentication {
        fields.push((field(role::USERNAME), sent.username.clone(), found.username.clone()));
    }
    for (field, sent_value, found) in fields {
        if sent_value != found {
            // What the server returned is peer text: escaped, capped, and
            // without the gateway's password should the server put it there.
            let found = smarthost_core::peer_text::Redactor::new()
                .with_secret(&sent.password)
                .sanitize(&found);
            return Err(Error::NotKept {
                path: path.into(),
                field,
                sent: sent_value,
                found,
            });
        }
    }
    if sent.use_authentication && password_known(found) && found.password != sent.password {
        let hidden = smarthost_core::REDACTED.to_owned();
        return Err(Error::NotKept {
            path: path.into(),
            field: field(role::PASSWORD),
            sent: hidden.clone(),
            found: hidden,
        });
    }
    Ok(())
}

fn find<'a>(list: &'a [Gateway], id: &str) -> Option<&'a Gateway> {
    list.iter().find(|g| g.id == id)
}

/// One apply against the API.
struct Run<'r, 'a> {
    reader: &'r Reader<'a>,
    names: &'a Names,
    before: &'r Snapshot,
    /// Placeholder → the id the server gave.
    ids: BTreeMap<String, String>,
    undo: Vec<Undo>,
}

impl Run<'_, '_> {
    fn gateways(&self) -> Result<Vec<Gateway>, Error> {
        Ok(self.reader.gateways()?.0)
    }

    fn sent_gateway(&self, path: &str, body: &Value) -> Result<Gateway, Error> {
        let object = self.names.unwrap_body(body).filter(|g| g.is_object());
        let object = object.ok_or_else(|| Error::Http {
            method: "POST".into(),
            path: path.into(),
            reason: "the request holds no gateway".into(),
        })?;
        Ok(self.names.decode(object))
    }

    /// Sends one request and checks it took effect. Once the request was
    /// accepted, how to undo it is recorded, even when the check that
    /// follows fails. `name` is smarthost's name of a created gateway.
    fn step(&mut self, path: &str, body: &Value, name: Option<String>) -> Result<(), Error> {
        let client = self.reader.client;
        match self.names.classify(path) {
            Some((role::CREATE, _)) => {
                let sent = self.sent_gateway(path, body)?;
                let reply = client.call("POST", path, Some(body))?;
                let id_field = self.names.text(role::ID);
                let wrapper = self.names.text(role::WRAPPER);
                let from_reply = [reply.get(&wrapper).and_then(|g| g.get(&id_field)), reply.get(&id_field)]
                    .into_iter()
                    .flatten()
                    .find_map(|v| match v {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                let now = self.gateways()?;
                // Else the one gateway that is new since the plan was read.
                let id = from_reply.or_else(|| {
                    let new: Vec<&Gateway> = now
                        .iter()
                        .filter(|g| find(&self.before.all, &g.id).is_none() && !self.ids.values().any(|i| i == &g.id))
                        .collect();
                    (new.len() == 1).then(|| new[0].id.clone())
                });
                let id = id.ok_or_else(|| Error::NotKept {
                    path: path.into(),
                    field: id_field,
                    sent: "(new gateway)".into(),
                    found: "no id in the reply and no single new gateway in the list".into(),
                })?;
                let name = name.unwrap_or_else(|| sent.description.clone());
                self.ids.insert(schema::placeholder(&name), id.clone());
                self.undo.push(Undo::Delete(id.clone()));
                verify_gateway(self.names, path, &sent, find(&now, &id))
            }
            Some((role::DELETE, id)) => {
                let previous = find(&self.before.all, id).cloned().ok_or(Error::Stale)?;
                client.call("POST", path, Some(body))?;
                if find(&self.gateways()?, id).is_some() {
                    return Err(Error::NotKept {
                        path: path.into(),
                        field: "gateway".into(),
                        sent: "delete".into(),
                        found: "still there".into(),
                    });
                }
                self.undo.push(Undo::Recreate(previous));
                Ok(())
            }
            Some((role::UPDATE, id)) => {
                let created_here = self.ids.values().any(|i| i == id);
                let previous = find(&self.before.all, id).cloned();
                if previous.is_none() && !created_here {
                    return Err(Error::Stale);
                }
                let sent = self.sent_gateway(path, body)?;
                client.call("POST", path, Some(body))?;
                if let Some(previous) = previous {
                    self.undo.push(Undo::Restore(previous));
                }
                verify_gateway(self.names, path, &sent, find(&self.gateways()?, id))
            }
            _ => {
                let Some(domain) = path.strip_prefix(&schema::domain_settings("")) else {
                    return Err(Error::Http {
                        method: "POST".into(),
                        path: path.into(),
                        reason: "not a request this backend makes".into(),
                    });
                };
                let previous = self.before.state.links.get(domain).cloned().unwrap_or_default();
                let field = self.names.text(role::DOMAIN_LINK);
                let wanted = match body.get(schema::DOMAIN_SETTINGS_KEY).and_then(|s| s.get(&field)) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                };
                client.call("POST", path, Some(body))?;
                self.undo.push(Undo::Relink(domain.to_owned(), previous));
                let found = self.reader.link(domain)?;
                if found != wanted {
                    return Err(Error::NotKept {
                        path: path.into(),
                        field,
                        sent: wanted,
                        found,
                    });
                }
                Ok(())
            }
        }
    }

    fn undo(&self, action: Undo) -> Result<(), Error> {
        let client = self.reader.client;
        let names = self.names;
        let body = |g: &Gateway| {
            let mut object = names.encode(g, &mut Default::default());
            if g.use_authentication && !password_known(g) {
                // Never write back a masked password; the server keeps the
                // one it has, or the gateway stays without (said in the docs).
                if let Some(map) = object.as_object_mut() {
                    map.remove(&names.text(role::PASSWORD));
                }
            }
            names.wrap_body(object)
        };
        match action {
            Undo::Delete(id) => client
                .call("POST", &names.endpoint(role::DELETE, &id), Some(&json!({})))
                .map(drop),
            Undo::Restore(g) => client
                .call("POST", &names.endpoint(role::UPDATE, &g.id), Some(&body(&g)))
                .map(drop),
            Undo::Recreate(g) => client
                .call("POST", &names.endpoint(role::CREATE, ""), Some(&body(&g)))
                .map(drop),
            Undo::Relink(domain, id) => {
                let mut settings = serde_json::Map::new();
                let value = if id.is_empty() {
                    Value::String(id)
                } else {
                    names.id_value(&id)
                };
                settings.insert(names.text(role::DOMAIN_LINK), value);
                client
                    .call(
                        "POST",
                        &schema::domain_settings(&domain),
                        Some(&json!({ schema::DOMAIN_SETTINGS_KEY: settings })),
                    )
                    .map(drop)
            }
        }
    }
}

/// Applies `plan` on the server whose state (read just now) is `before`;
/// refuses it when that state is not the one the plan was made from.
/// Returns what ran and smarthost's gateways' ids afterwards.
pub(crate) fn apply(reader: &Reader<'_>, plan: &Plan, before: &Snapshot) -> Result<(Applied, KnownGateways), Error> {
    if let Some(basis) = &plan.basis {
        if let Some(what) = basis.first_difference(&before.basis) {
            return Err(Error::Changed(what.to_owned()));
        }
    }
    let mut run = Run {
        reader,
        names: reader.names,
        before,
        ids: BTreeMap::new(),
        undo: Vec::new(),
    };
    let mut ran = Vec::new();
    let mut known = before.known.clone();
    for (n, change) in plan.changes.iter().enumerate() {
        let Change::Api(request) = change else { continue };
        let path = resolve(&request.path, &run.ids);
        let body = resolve_value(run.names, request.body.as_ref().unwrap_or(&Value::Null), &run.ids);
        let name = read::created_name(run.names, plan, n);
        match run.step(&path, &body, name.clone()) {
            Ok(()) => {
                ran.push(format!("{} {path}", request.method));
                match run.names.classify(&path) {
                    Some((role::CREATE, _)) => {
                        if let Some(name) = name {
                            let id = run.ids.get(&schema::placeholder(&name)).cloned().unwrap_or_default();
                            known.gateways.insert(name, id);
                        }
                    }
                    Some((role::DELETE, id)) => known.gateways.retain(|_, i| i != id),
                    _ => {}
                }
            }
            Err(cause) => {
                for u in std::mem::take(&mut run.undo).into_iter().rev() {
                    if let Err(e) = run.undo(u) {
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
    Ok((
        Applied {
            changed: !ran.is_empty(),
            backups: Vec::new(),
            ran,
        },
        known,
    ))
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
        let entered = self.state_dir.enter(writing, &[&self.requests()])?;
        Ok((entered.guard, entered.recovered))
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
    ///
    /// Each request file names the names it uses that were not learned
    /// from a server (`"unconfirmed"`).
    pub(crate) fn apply(&self, lock: &Lock, plan: &Plan, names: &Names) -> Result<Applied, Error> {
        let (before, bytes) = self.load()?;
        if let Some(basis) = &plan.basis {
            if basis.first_difference(&self.basis(bytes.as_deref())).is_some() {
                return Err(Error::Policy(smarthost_core::Error::Stale {
                    path: self.state_path(),
                }));
            }
        }
        let after = before.after(names, plan);
        let requests = self.requests();
        let mut files = Vec::new();
        for (n, change) in plan.changes.iter().enumerate() {
            let Change::Api(request) = change else { continue };
            let one = Plan {
                changes: vec![change.clone()],
                ..Plan::new("smartermail")
            };
            let text = serde_json::to_string_pretty(&json!({
                "method": request.method,
                "path": request.path,
                "body": request.redacted_body(),
                "unconfirmed": crate::plan::unconfirmed(names, &one),
            }))
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
