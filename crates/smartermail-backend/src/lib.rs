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
//! undoes earlier steps when a later one fails. API names that no public
//! source settles are marked UNVERIFIED in [`schema`].
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
mod plan;
pub mod schema;
mod state;

use std::path::PathBuf;
use std::time::Duration;

use smarthost_core::transaction::{Recovered, SessionGuard};
use smarthost_core::{Applied, Change, ConfigWriter, Plan, Policy, Secret};

pub use error::Error;

use apply::Render;
use client::Client;
use state::State;

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
}

impl SmartermailWriter {
    /// Talks to the server at `url` (e.g. `https://mail.example.com`) as a
    /// system administrator. Each call of [`ConfigWriter::read`], `plan` or
    /// `apply` must finish within `timeout`, all its requests together.
    /// Redirects are refused and response bodies capped (4 MiB).
    pub fn connect(url: &str, username: &str, password: Secret, timeout: Duration) -> Self {
        SmartermailWriter {
            target: Target::Api(Client::new(url, username, password, timeout)),
        }
    }

    /// Renders the requests as JSON files into `dir` instead of calling the
    /// API (passwords redacted); `dir/state.json` remembers the result, so
    /// rendering the same policy again writes nothing. Every read, plan and
    /// render takes the folder's lock (`.smarthost.lock`) first and rolls
    /// back an interrupted render (`.smarthost-journal`); the request files
    /// and `state.json` are replaced as one transaction, and a plan is
    /// refused when `state.json` changed since it was made.
    pub fn render_into(dir: impl Into<PathBuf>) -> Self {
        SmartermailWriter {
            target: Target::Render(Render::new(dir.into())),
        }
    }

    /// When rendering: waits up to `wait` for another run that holds the
    /// folder's lock (default 10 s). Talking to the API takes no lock.
    #[must_use]
    pub fn lock_wait(self, wait: Duration) -> Self {
        match self.target {
            Target::Render(render) => SmartermailWriter {
                target: Target::Render(Render::waiting(render.dir().to_owned(), wait)),
            },
            target => SmartermailWriter { target },
        }
    }

    fn state(&self, domains: &[&str]) -> Result<State, Error> {
        match &self.target {
            Target::Api(client) => {
                client.start_command();
                State::fetch(client, domains)
            }
            Target::Render(render) => {
                let (_guard, _) = render.enter(false)?;
                Ok(render.load()?.0)
            }
        }
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
        self.state(&[])?.to_policy()
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        match &self.target {
            Target::Api(_) => {
                let domains: Vec<&str> = desired.domains.keys().map(|d| d.as_str()).collect();
                let state = self.state(&domains)?;
                plan::plan(&state, desired, false)
            }
            Target::Render(render) => {
                let (_guard, recovered) = render.enter(false)?;
                render_plan(render, desired, recovered)
            }
        }
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        match &self.target {
            Target::Api(client) => {
                let before = self.state(&plan_domains(plan))?;
                apply::apply(client, plan, &before)
            }
            Target::Render(render) => {
                let (guard, _) = render.enter(true)?;
                let guard = guard.expect("writing always locks");
                render.apply(&guard, plan)
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
                let plan = render_plan(render, desired, recovered)?;
                let applied = render.apply(&guard, &plan)?;
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
fn render_plan(render: &Render, desired: &Policy, recovered: Option<Recovered>) -> Result<Plan, Error> {
    let (state, bytes) = render.load()?;
    let mut plan = plan::plan(&state, desired, true)?;
    plan.basis = Some(render.basis(bytes.as_deref()));
    if let Some(r) = recovered {
        plan.warnings.insert(0, r.message());
    }
    Ok(plan)
}
