//! [`ConfigWriter`]: the one trait every backend implements, and
//! [`RecordingWriter`], an in-memory implementation for embedders' tests.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use crate::domain::DomainName;
use crate::error_kind::{Classify, ErrorKind};
use crate::plan::{Change, FileChange, Plan};
use crate::policy::Policy;
use crate::transaction::{Recovered, SessionGuard};

/// What [`ConfigWriter::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Whether anything was changed.
    pub changed: bool,
    /// Backups of the files that were replaced, for a manual rollback.
    pub backups: Vec<PathBuf>,
    /// Commands that ran (map compilation, validation, reload).
    pub ran: Vec<String>,
}

/// A mail server backend, in three steps: read the current state, plan the
/// changes towards a desired policy, apply a plan.
pub trait ConfigWriter {
    /// The backend's error type; [`Classify`] says what kind of failure
    /// it is (stale plan, lock held, invalid input, transient).
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// Short name of the backend (`postfix`, `mailenable`, `smartermail`).
    fn backend(&self) -> &'static str;

    /// Reads the relaying currently configured on the system into a policy
    /// (features are the defaults: the system does not store them).
    fn read(&self) -> Result<Policy, Self::Error>;

    /// Computes the changes that turn the current state into `desired`. Pure
    /// apart from reading; the same inputs give the same plan, and planning
    /// the policy that was just applied gives an empty plan.
    fn plan(&self, desired: &Policy) -> Result<Plan, Self::Error>;

    /// Reads the configuration for a change of one sender domain: a policy
    /// with every rule that bears on `domain`'s entries. A backend whose
    /// tables are large may leave out other domains that the change cannot
    /// affect (Postfix keeps one domain of each kind of relay setting), so
    /// this policy is only for [`ConfigWriter::plan_for_domain`]: change
    /// `domain` in it (its smarthost, its direct exception, `features`) and
    /// nothing else. The default reads everything ([`ConfigWriter::read`]).
    fn read_for_domain(&self, domain: &DomainName) -> Result<Policy, Self::Error> {
        let _ = domain;
        self.read()
    }

    /// Plans `desired`: the policy of [`ConfigWriter::read_for_domain`]
    /// with only `domain` (and `features`) changed. The plan is the one
    /// [`ConfigWriter::plan`] gives for the whole configuration with that
    /// change; a backend may compute it by key. A `desired` that differs
    /// elsewhere is refused (a backend that read only part of the domains
    /// cannot tell what the others should be). Hold the lock
    /// ([`ConfigWriter::hold`]) from the read to the apply. The default is
    /// [`ConfigWriter::plan`].
    fn plan_for_domain(&self, domain: &DomainName, desired: &Policy) -> Result<Plan, Self::Error> {
        let _ = domain;
        self.plan(desired)
    }

    /// Carries a plan out: atomically, with backups, validation and reload,
    /// restoring the previous configuration when a step fails. A plan made
    /// from a state that has changed since is refused.
    fn apply(&self, plan: &Plan) -> Result<Applied, Self::Error>;

    /// Plans and applies in one step, under one hold of the lock.
    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), Self::Error> {
        let _held = self.hold()?;
        let plan = self.plan(desired)?;
        let applied = self.apply(&plan)?;
        Ok((plan, applied))
    }

    /// Takes the backend's lock and keeps it until the guard is dropped, so
    /// that a read, a plan and an apply see one state that no other run
    /// changes in between (`read`, `plan` and `apply` take it on their own
    /// too; holding it makes them one step). `None`: the backend has no lock.
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, Self::Error> {
        Ok(None)
    }

    /// Finds an apply that was interrupted (killed, power lost) and rolls it
    /// back, so that the configuration is the one before it. Every other
    /// method does this too; call it first to learn what was recovered.
    fn recover(&self) -> Result<Option<Recovered>, Self::Error> {
        Ok(None)
    }
}

/// The error of [`RecordingWriter`].
#[derive(Debug, thiserror::Error)]
#[error("recording writer: {message}")]
pub struct RecordingError {
    kind: ErrorKind,
    message: &'static str,
}

impl Classify for RecordingError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// A [`ConfigWriter`] that keeps the "system" in memory and records every
/// plan it applies; for testing code that drives a backend.
///
/// Its plans change one pseudo-file, `policy`, a redacted text summary of
/// the routes. Applying a plan makes the policy it was planned for current.
#[derive(Debug, Default)]
pub struct RecordingWriter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    current: Policy,
    planned: Vec<(String, Policy)>,
    applied: Vec<Plan>,
}

impl RecordingWriter {
    /// A writer whose system currently has `current`.
    pub fn new(current: Policy) -> Self {
        RecordingWriter {
            state: Mutex::new(State {
                current,
                ..State::default()
            }),
        }
    }

    /// The plans applied so far, oldest first.
    pub fn applied(&self) -> Vec<Plan> {
        self.lock().applied.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One line per route, no secrets: what the recording writer "writes".
fn summary(policy: &Policy) -> String {
    let mut out = String::new();
    let mut line = |who: &str, s: &crate::Smarthost| {
        let user = s.credentials.as_ref().map(|c| c.username().as_str()).unwrap_or("-");
        let _ = writeln!(out, "{who} {} {} {user}", s.relay, s.encryption);
    };
    if let Some(s) = &policy.server {
        line("*", s);
    }
    for (d, s) in &policy.domains {
        line(d.as_str(), s);
    }
    out
}

impl ConfigWriter for RecordingWriter {
    type Error = RecordingError;

    fn backend(&self) -> &'static str {
        "recording"
    }

    fn read(&self) -> Result<Policy, RecordingError> {
        Ok(self.lock().current.clone())
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, RecordingError> {
        let mut state = self.lock();
        let mut plan = Plan::new(self.backend());
        // Credentials are compared too: a new password is a change.
        if state.current.server != desired.server || state.current.domains != desired.domains {
            let (before, after) = (summary(&state.current), summary(desired));
            plan.changes.push(Change::File(FileChange::new(
                "policy".into(),
                0o600,
                Some(before.clone()),
                Some(after.clone()),
            )));
            state.planned.push((after, desired.clone()));
        }
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, RecordingError> {
        let mut state = self.lock();
        let Some(file) = plan.files().next() else {
            state.applied.push(plan.clone());
            return Ok(Applied::default());
        };
        if file.before() != Some(summary(&state.current).as_str()) {
            return Err(RecordingError {
                kind: ErrorKind::Stale,
                message: "the state changed since the plan was made",
            });
        }
        let desired = state
            .planned
            .iter()
            .rev()
            .find(|(text, _)| Some(text.as_str()) == file.after())
            .map(|(_, p)| p.clone())
            .ok_or(RecordingError {
                kind: ErrorKind::Invalid,
                message: "this plan was not made by this writer",
            })?;
        state.current = Policy {
            features: state.current.features,
            ..desired
        };
        state.applied.push(plan.clone());
        Ok(Applied {
            changed: true,
            ..Applied::default()
        })
    }
}
