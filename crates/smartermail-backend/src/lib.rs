//! SmarterMail backend for smarthost.
//!
//! SmarterMail has no "smarthost" setting: a smarthost is an outgoing
//! gateway. The server-wide smarthost is a gateway for all domains ("Round
//! Robin"); a domain's smarthost is a "Specific Domains" gateway that the
//! domain's settings select. smarthost names its gateways
//! `smarthost: server` and `smarthost: domain <name>` and leaves every
//! other gateway alone.
//!
//! Talks to SmarterMail's JSON API (bearer token; `success: false` is an
//! error even with HTTP 200), reads every write back and compares it, and
//! undoes earlier steps when a later one fails. No public source names the
//! gateway API, so the names are learned from the server ([`learn`], the
//! `smarthost smartermail learn` command) into a [`LearnedSchema`]; on a
//! live server a write that needs a name not learned is refused before any
//! write request ([`Error::Unconfirmed`]). The built-in guesses in
//! [`schema`] only serve rendering into a folder.
//!
//! ```
//! use smarthost_core::{ConfigWriter, Policy, RelayHost, Smarthost};
//! use smartermail_backend::SmartermailWriter;
//!
//! let mut policy = Policy::default();
//! policy.set_server(Smarthost::new(RelayHost::parse("[smtp.example.net]:587")?))?;
//!
//! // Render the API requests into a folder instead of calling the server
//! // (`SmartermailWriter::connect` talks to a live one).
//! let dir = std::env::temp_dir().join(format!("smartermail-doc-{}", std::process::id()));
//! let writer = SmartermailWriter::render_into(&dir);
//! let plan = writer.plan(&policy)?;
//! print!("{}", plan.render());
//! writer.apply(&plan)?;
//!
//! assert!(dir.join("requests/001.json").is_file());
//! assert!(writer.plan(&policy)?.is_empty()); // applying twice changes nothing
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apply;
mod client;
mod error;
mod learn;
mod plan;
mod read;
pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use smarthost_core::transaction::{Recovered, SessionGuard};
use smarthost_core::{Applied, Change, ConfigWriter, Plan, Policy, Secret};

pub use error::Error;
pub use learn::{learn, LearnInput, Learning, API_DOCUMENTATION_PAGE, OPENAPI_PATHS};
pub use schema::LearnedSchema;

use apply::Render;
use client::Client;
use read::{Reader, Snapshot};
use schema::Names;

/// Where the backend writes.
#[derive(Debug)]
enum Target {
    Api(Client),
    Render(Render),
}

/// The SmarterMail [`ConfigWriter`].
#[derive(Debug)]
pub struct SmartermailWriter {
    target: Target,
    names: Names,
    /// The schema file's bytes (part of a live plan's basis).
    schema_bytes: Option<Vec<u8>>,
    /// The settings folder: the schema file and the gateways file.
    settings_dir: Option<PathBuf>,
    /// The gateways file (`settings_dir/smartermail-gateways.json`).
    known_path: Option<PathBuf>,
    /// The URL (for the `learn` command named in a refusal).
    url: String,
}

impl SmartermailWriter {
    /// Talks to the server at `url` (e.g. `https://mail.example.com`) as a
    /// system administrator. Each call of [`ConfigWriter::read`], `plan` or
    /// `apply` must finish within `timeout`, all its requests together.
    /// Redirects are refused and response bodies capped (4 MiB).
    ///
    /// Without a learned schema ([`Self::settings_dir`] or
    /// [`Self::with_schema`]) it can read with the built-in guesses but
    /// refuses every write.
    pub fn connect(url: &str, username: &str, password: Secret, timeout: Duration) -> Self {
        SmartermailWriter {
            target: Target::Api(Client::new(url, username, password, timeout)),
            names: Names::default(),
            schema_bytes: None,
            settings_dir: None,
            known_path: None,
            url: url.to_owned(),
        }
    }

    /// Renders the requests as JSON files into `dir` instead of calling the
    /// API (passwords redacted); `dir/state.json` remembers the result, so
    /// rendering the same policy again writes nothing. Every read, plan and
    /// render takes the folder's lock (`.smarthost.lock`) first and rolls
    /// back an interrupted render (`.smarthost-journal`); the request files
    /// and `state.json` are replaced as one transaction, and a plan is
    /// refused when `state.json` changed since it was made. Each request
    /// file lists the names it uses that were not learned (`unconfirmed`).
    pub fn render_into(dir: impl Into<PathBuf>) -> Self {
        SmartermailWriter {
            target: Target::Render(Render::new(dir.into())),
            names: Names::default(),
            schema_bytes: None,
            settings_dir: None,
            known_path: None,
            url: String::new(),
        }
    }

    /// Uses the settings folder `dir`: the schema learned by `smarthost
    /// smartermail learn` ([`schema::SCHEMA_FILE`], when present) and, on a
    /// live server, the file that remembers smarthost's gateways
    /// ([`schema::GATEWAYS_FILE`]).
    pub fn settings_dir(mut self, dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        let path = dir.join(schema::SCHEMA_FILE);
        let bytes = smarthost_core::transaction::safe_fs::read_bytes(&path)?;
        if let Some(schema) = LearnedSchema::load(&path)? {
            self.names = Names::new(Some(schema));
        }
        self.schema_bytes = bytes;
        self.known_path = Some(dir.join(schema::GATEWAYS_FILE));
        self.settings_dir = Some(dir);
        Ok(self)
    }

    /// Uses this learned schema (instead of a settings folder's).
    #[must_use]
    pub fn with_schema(mut self, schema: LearnedSchema) -> Self {
        self.schema_bytes = Some(schema.to_text().into_bytes());
        self.names = Names::new(Some(schema));
        self
    }

    /// When rendering: waits up to `wait` for another run that holds the
    /// folder's lock (default 10 s). Talking to the API takes no lock.
    #[must_use]
    pub fn lock_wait(self, wait: Duration) -> Self {
        match self.target {
            Target::Render(render) => SmartermailWriter {
                target: Target::Render(Render::waiting(render.dir().to_owned(), wait)),
                ..self
            },
            target => SmartermailWriter { target, ..self },
        }
    }

    fn reader<'a>(&'a self, client: &'a Client) -> Reader<'a> {
        Reader {
            client,
            names: &self.names,
            known_path: self.known_path.as_ref(),
            url: &self.url,
            schema_bytes: self.schema_bytes.as_deref(),
        }
    }

    fn snapshot(&self, client: &Client, domains: &[&str]) -> Result<Snapshot, Error> {
        client.start_command();
        self.reader(client).fetch(domains)
    }

    /// The command that learns the names (for a refusal's message).
    fn learn_command(&self) -> String {
        let settings = match &self.settings_dir {
            Some(d) => format!(" --settings {}", d.join("settings.toml").display()),
            None => String::new(),
        };
        format!(
            "smarthost smartermail learn --url {}{settings} --relay HOST:PORT --username USER (of a gateway made by hand; see docs/backends/smartermail.md)",
            self.url
        )
    }

    /// Refuses a live plan that needs an unconfirmed name, or whose
    /// gateways could not be recognised again.
    fn preflight(&self, plan: &Plan) -> Result<(), Error> {
        // Names learned from another server confirm nothing here.
        if let Some(schema) = self.names.learned() {
            let same = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
            if same(&schema.server) != same(&self.url) && !plan.is_empty() {
                return Err(Error::Unconfirmed {
                    names: vec![format!(
                        "every gateway name: the learned schema is from {}, not from {}",
                        schema.server, self.url
                    )],
                    learn: self.learn_command(),
                });
            }
        }
        let names = plan::unconfirmed(&self.names, plan);
        if !names.is_empty() {
            return Err(Error::Unconfirmed {
                names,
                learn: self.learn_command(),
            });
        }
        let creates = plan.changes.iter().any(|c| match c {
            Change::Api(r) => self
                .names
                .classify(&r.path)
                .is_some_and(|(r, _)| r == schema::role::CREATE),
            _ => false,
        });
        if creates && self.names.get(schema::role::DESCRIPTION).is_none() && self.known_path.is_none() {
            return Err(Error::NoGatewaysFile);
        }
        plan::refuse_forbidden(plan)
    }
}

/// The domains a plan touches (their links are needed to undo it).
fn plan_domains(plan: &Plan) -> Vec<&str> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Api(r) => r.path.strip_prefix(schema::domain_settings("").as_str()),
            _ => None,
        })
        .collect()
}

impl ConfigWriter for SmartermailWriter {
    type Error = Error;

    fn backend(&self) -> &'static str {
        "smartermail"
    }

    fn read(&self) -> Result<Policy, Error> {
        match &self.target {
            Target::Api(client) => match self.snapshot(client, &[]) {
                Ok(snapshot) => snapshot.state.to_policy(),
                // Reading with the guessed list endpoint failed: say so.
                Err(Error::Http { method, path, reason }) if !self.names.confirmed(schema::role::LIST) => {
                    Err(Error::Http {
                        method,
                        path,
                        reason: format!(
                            "{reason}; that is smarthost's unconfirmed guess of the gateway list, learn this server's names first: {}",
                            self.learn_command()
                        ),
                    })
                }
                Err(e) => Err(e),
            },
            Target::Render(render) => {
                let (_guard, _) = render.enter(false)?;
                render.load()?.0.to_policy()
            }
        }
    }

    /// On a live server, a plan that needs a name not learned from it is
    /// refused (see [`Error::Unconfirmed`]); its basis is the gateway list
    /// (without passwords), the links read, the schema file and the
    /// gateways file.
    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        match &self.target {
            Target::Api(client) => {
                let mut domains: Vec<&str> = desired.domains.keys().map(|d| d.as_str()).collect();
                domains.sort();
                let snapshot = match self.snapshot(client, &domains) {
                    Ok(s) => s,
                    // Reading with a guessed name failed: say which names a
                    // write would need, as the preflight does.
                    Err(e) if !self.names.confirmed(schema::role::LIST) => {
                        let plan = plan::plan(&self.names, &read::State::default(), desired, false)?;
                        let mut names = vec![format!(
                            "{} ({}; reading it failed: {e})",
                            schema::role::LIST,
                            self.names.text(schema::role::LIST)
                        )];
                        names.extend(
                            plan::unconfirmed(&self.names, &plan)
                                .into_iter()
                                .filter(|n| !n.starts_with(schema::role::LIST)),
                        );
                        return Err(Error::Unconfirmed {
                            names,
                            learn: self.learn_command(),
                        });
                    }
                    Err(e) => return Err(e),
                };
                let mut plan = plan::plan(&self.names, &snapshot.state, desired, false)?;
                self.preflight(&plan)?;
                plan.basis = Some(snapshot.basis);
                Ok(plan)
            }
            Target::Render(render) => {
                let (_guard, recovered) = render.enter(false)?;
                render_plan(render, &self.names, desired, recovered)
            }
        }
    }

    /// On a live server: the preflight again (no write request unless every
    /// name is confirmed), then each request, read back; the gateways file
    /// is updated after the last one.
    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        match &self.target {
            Target::Api(client) => {
                self.preflight(plan)?;
                let mut domains = plan_domains(plan);
                domains.sort();
                domains.dedup();
                let before = self.snapshot(client, &domains)?;
                let (applied, known) = apply::apply(&self.reader(client), plan, &before)?;
                if let Some(path) = &self.known_path {
                    if known != before.known {
                        known.save(path, &self.url)?;
                    }
                }
                Ok(applied)
            }
            Target::Render(render) => {
                let (guard, _) = render.enter(true)?;
                let guard = guard.expect("writing always locks");
                render.apply(&guard, plan, &self.names)
            }
        }
    }

    /// Plans and applies; when rendering, with the folder's lock held from
    /// the first read to the end.
    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), Error> {
        match &self.target {
            Target::Api(_) => {
                let plan = self.plan(desired)?;
                let applied = self.apply(&plan)?;
                Ok((plan, applied))
            }
            Target::Render(render) => {
                let (guard, recovered) = render.enter(true)?;
                let guard = guard.expect("writing always locks");
                let plan = render_plan(render, &self.names, desired, recovered)?;
                let applied = render.apply(&guard, &plan, &self.names)?;
                Ok((plan, applied))
            }
        }
    }

    /// The render folder's lock; the API has none (`None`).
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, Error> {
        match &self.target {
            Target::Api(_) => Ok(None),
            Target::Render(render) => Ok(render.enter(true)?.0),
        }
    }

    /// Rolls back an interrupted render; the API has no journal (`None`).
    fn recover(&self) -> Result<Option<Recovered>, Error> {
        match &self.target {
            Target::Api(_) => Ok(None),
            Target::Render(render) => Ok(render.enter(false)?.1),
        }
    }
}

/// The plan of a render, from the last render's state, with its basis (the
/// bytes of `state.json`) and the recovery's message first. The caller
/// holds the lock (if the folder exists).
fn render_plan(render: &Render, names: &Names, desired: &Policy, recovered: Option<Recovered>) -> Result<Plan, Error> {
    let (state, bytes) = render.load()?;
    let mut plan = plan::plan(names, &state, desired, true)?;
    let unconfirmed = plan::unconfirmed(names, &plan);
    if !unconfirmed.is_empty() {
        plan.warnings.push(format!(
            "SmarterMail names not confirmed by a server (built-in guesses; a live server refuses them until `smarthost smartermail learn`): {}",
            unconfirmed.join(", ")
        ));
    }
    plan.basis = Some(render.basis(bytes.as_deref()));
    if let Some(r) = recovered {
        plan.warnings.insert(0, r.message());
    }
    Ok(plan)
}
