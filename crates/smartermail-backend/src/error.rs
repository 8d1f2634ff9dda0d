//! The one error type of the SmarterMail backend.

use smarthost_core::{Classify, ErrorKind};
/// What can go wrong talking to SmarterMail. No variant holds a token or a
/// password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy cannot be expressed in SmarterMail.
    #[error(transparent)]
    Policy(#[from] smarthost_core::Error),
    /// The server could not be reached or answered something unreadable.
    #[error("{method} {path}: {reason}")]
    Http {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What happened.
        reason: String,
    },
    /// The writer call did not finish within its time (all its requests
    /// together).
    #[error("{method} {path}: SmarterMail did not answer within the {} s allowed for one command", .limit.as_secs_f32())]
    Deadline {
        /// HTTP method of the request that ran out of time.
        method: String,
        /// API path.
        path: String,
        /// The time one command may take.
        limit: std::time::Duration,
    },
    /// A response body was larger than the cap; it was not read further.
    #[error("{method} {path}: the response is larger than {limit} bytes, the most this client reads; is --url a SmarterMail server?")]
    ResponseTooLarge {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The server answered with a redirect, which is never followed: the
    /// credentials would go wherever it points.
    #[error("{method} {path}: the server redirects (HTTP {status}) to {}; redirects are not followed: {}", redirect_target(.to, *.other_host), redirect_fix(*.other_host))]
    Redirect {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The other host's name, or the `Location` when on the same host
        /// (sanitized: it is the server's text).
        to: String,
        /// Whether the redirect points to another host.
        other_host: bool,
    },
    /// The administrator's credentials were refused.
    #[error("SmarterMail refused the administrator login: {0}")]
    Auth(String),
    /// The API answered `success: false`.
    #[error("{path}: SmarterMail answered: {message}")]
    Api {
        /// API path.
        path: String,
        /// SmarterMail's message.
        message: String,
    },
    /// A write was accepted but reading it back shows a different value:
    /// the server ignored or changed the field.
    #[error("{path}: the server did not keep {field} (sent {sent}, read back {found}); its API may name this field differently (see docs/backends/smartermail.md)")]
    NotKept {
        /// API path.
        path: String,
        /// The field.
        field: String,
        /// What was sent (never a password).
        sent: String,
        /// What was read back.
        found: String,
    },
    /// The server's state changed since the plan was made.
    #[error("SmarterMail's gateways changed since the plan was made; plan again")]
    Stale,
    /// A gateway password cannot be read back, so the current state cannot
    /// be turned into a policy (only a full policy file can be applied).
    #[error("SmarterMail does not return the password of gateway {0:?}; use apply --policy with the full policy instead of set/disable")]
    PasswordHidden(String),
    /// Writing the rendered requests failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// On a live server, a write needs names that were not learned from
    /// it; nothing was written.
    #[error("refusing to write to SmarterMail: these names are not confirmed by this server (no write request was sent): {}; learn them from the server first: {learn}", .names.join(", "))]
    Unconfirmed {
        /// The unconfirmed roles and the guesses they would use.
        names: Vec<String>,
        /// The command that learns them.
        learn: String,
    },
    /// A request would write a field that decides where INCOMING mail
    /// goes.
    #[error("{path}: refusing to write {field}: it changes where a domain's INCOMING mail goes, which smarthost never touches")]
    Forbidden {
        /// API path.
        path: String,
        /// The field.
        field: String,
    },
    /// A routing rule SmarterMail's gateways cannot express; nothing was
    /// written.
    #[error("{field}: SmarterMail cannot express this: {reason}; remove it from the policy (no request was sent)")]
    Unsupported {
        /// The rule's field in the policy file.
        field: String,
        /// Why SmarterMail cannot express it.
        reason: &'static str,
    },
    /// `check_certificate = false` cannot be expressed in SmarterMail.
    #[error("{setting} = false: SmarterMail's gateways have no learned setting to skip the certificate check, so it cannot be honoured; remove the setting or use a relay with a valid certificate")]
    CertificateCheck {
        /// The setting, as the settings file names it.
        setting: &'static str,
    },
    /// What a plan was made from changed before it was applied.
    #[error("{0} changed since the plan was made; plan again (nothing was written)")]
    Changed(String),
    /// The server's gateways have no description field and the writer has
    /// no settings folder for the file that remembers smarthost's gateways.
    #[error("this server's gateways have no description field, so smarthost can only recognise its gateways by the ids it keeps in the settings folder, and none is set; nothing was written")]
    NoGatewaysFile,
    /// `learn` could not learn what it needs.
    #[error("learning from SmarterMail: {0}")]
    Learn(String),
    /// A step failed and the steps before it were undone.
    #[error("{cause}; the changes made before it were undone")]
    RolledBack {
        /// The failure.
        cause: Box<Error>,
    },
    /// A step failed and undoing the steps before it failed too.
    #[error("{cause}; undoing the earlier changes ALSO failed: {undo}")]
    RollbackFailed {
        /// The failure.
        cause: Box<Error>,
        /// Why undoing failed.
        undo: Box<Error>,
    },
}

fn redirect_target(to: &str, other_host: bool) -> String {
    if other_host {
        format!("another host, {to}")
    } else {
        to.to_owned()
    }
}

fn redirect_fix(other_host: bool) -> &'static str {
    if other_host {
        "check --url, and never send the administrator's password there"
    } else {
        "give the address it redirects to as --url"
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Policy(e) => e.kind(),
            Error::Stale | Error::Changed(_) => ErrorKind::Stale,
            Error::Unconfirmed { .. }
            | Error::Forbidden { .. }
            | Error::CertificateCheck { .. }
            | Error::Unsupported { .. }
            | Error::NoGatewaysFile
            | Error::Learn(_) => ErrorKind::Invalid,
            Error::Http { .. } | Error::Deadline { .. } => ErrorKind::Transient,
            Error::PasswordHidden(_) => ErrorKind::Invalid,
            Error::RolledBack { cause } => cause.kind(),
            _ => ErrorKind::Other,
        }
    }
}
