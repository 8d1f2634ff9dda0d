//! The one error type of the Postfix backend.

use smarthost_core::{Classify, ErrorKind};
use std::path::PathBuf;

/// What can go wrong while reading, planning or applying Postfix settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy or a value is invalid.
    #[error(transparent)]
    Policy(#[from] smarthost_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A setting found on the system cannot be understood.
    #[error("{path}: {what}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The parameter or map key.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A file changed between `plan` and `apply`.
    #[error("{} changed since the plan was made; plan again", .path.display())]
    Stale {
        /// The file.
        path: PathBuf,
    },
    /// A folder option cannot be used.
    #[error("{option}: {path:?}: {reason}")]
    InvalidPath {
        /// The option (`config_dir`, `map_dir`).
        option: String,
        /// The folder given.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// Something the system must have for the configuration to work is
    /// missing (`PostfixOptions::prerequisites`).
    #[error("{reason}; nothing was changed (force it to apply anyway)")]
    Prerequisite {
        /// What is missing and how to install it.
        reason: String,
    },
    /// A step before the first replacement failed (staging, compiling a
    /// table, the journal): no file was changed.
    #[error("{cause}; nothing was changed, the previous configuration is in place")]
    NotApplied {
        /// The failure.
        cause: Box<Error>,
    },
    /// A command (postmap, postfix check, reload) failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed, or why it could not start.
        output: String,
    },
    /// A step of `apply` failed and the previous files were put back.
    #[error("{cause}; the previous configuration was restored")]
    RolledBack {
        /// The failure that caused the rollback.
        cause: Box<Error>,
    },
    /// A step of `apply` failed and restoring the previous files failed too.
    #[error("{cause}; restoring the previous configuration ALSO failed: {restore}")]
    RollbackFailed {
        /// The failure that caused the rollback.
        cause: Box<Error>,
        /// Why restoring failed.
        restore: Box<Error>,
    },
    /// An address given for a test message cannot be used.
    #[error("{field}: {reason}")]
    InvalidAddress {
        /// Which address (`from`, `to`).
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// A health command needs a live Postfix instance (root `/`), not a
    /// folder rendered into.
    #[error("this needs the live Postfix instance, not a configuration rendered into {}", .root.display())]
    NotLive {
        /// The root given.
        root: PathBuf,
    },
    /// The policy asks for something this Postfix cannot express (backup
    /// relays before 3.5, two accounts on one relay where Postfix keys the
    /// account by relay). Nothing is planned or changed.
    #[error("{field}: {reason}; nothing was changed")]
    Unsupported {
        /// The field of the policy (`server.backup`, `recipients."a.example"`).
        field: String,
        /// Why Postfix cannot do it, and what to do instead.
        reason: String,
    },
    /// No mail log of the instance was found.
    #[error("no mail log found: {looked}")]
    NoMailLog {
        /// Where it was looked for.
        looked: String,
    },
    /// `postqueue -j` printed something that is not its JSON.
    #[error("postqueue -j: {reason}")]
    QueueReport {
        /// What could not be read.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Policy(e) => e.kind(),
            Error::Stale { .. } => ErrorKind::Stale,
            Error::InvalidPath { .. }
            | Error::InvalidAddress { .. }
            | Error::Prerequisite { .. }
            | Error::Unsupported { .. } => ErrorKind::Invalid,
            Error::NotApplied { cause } | Error::RolledBack { cause, .. } => cause.kind(),
            _ => ErrorKind::Other,
        }
    }
}
