//! The one error type of the SmarterMail backend.

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
