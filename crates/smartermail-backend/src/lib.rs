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
#![deny(missing_docs)]

mod apply;
mod client;
mod error;
mod plan;
pub mod schema;
mod state;

use std::path::PathBuf;
use std::time::Duration;

use smarthost_core::{Applied, Change, ConfigWriter, Plan, Policy, Secret};

pub use error::Error;

use client::Client;
use state::State;

/// Where the backend writes.
#[derive(Debug)]
enum Target {
    Api(Client),
    Render(PathBuf),
}

/// The SmarterMail [`ConfigWriter`].
#[derive(Debug)]
pub struct SmartermailWriter {
    target: Target,
}

impl SmartermailWriter {
    /// Talks to the server at `url` (e.g. `https://mail.example.com`) as a
    /// system administrator. Requests time out after `timeout`.
    pub fn connect(url: &str, username: &str, password: Secret, timeout: Duration) -> Self {
        SmartermailWriter {
            target: Target::Api(Client::new(url, username, password, timeout)),
        }
    }

    /// Renders the requests as JSON files into `dir` instead of calling the
    /// API (passwords redacted); `dir/state.json` remembers the result, so
    /// rendering the same policy again writes nothing.
    pub fn render_into(dir: impl Into<PathBuf>) -> Self {
        SmartermailWriter {
            target: Target::Render(dir.into()),
        }
    }

    fn state(&self, domains: &[&str]) -> Result<State, Error> {
        match &self.target {
            Target::Api(client) => State::fetch(client, domains),
            Target::Render(dir) => State::load(&dir.join("state.json")),
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
        let domains: Vec<&str> = desired.domains.keys().map(|d| d.as_str()).collect();
        let state = self.state(&domains)?;
        plan::plan(&state, desired, matches!(self.target, Target::Render(_)))
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        let before = self.state(&plan_domains(plan))?;
        match &self.target {
            Target::Api(client) => apply::apply(client, plan, &before),
            Target::Render(dir) => apply::render(dir, plan, &before, &before.after(plan)),
        }
    }
}
