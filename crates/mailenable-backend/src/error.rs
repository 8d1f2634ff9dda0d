//! The one error type of the MailEnable backend.

use smarthost_core::{Classify, ErrorKind};
/// What can go wrong with MailEnable's settings. No variant holds a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy cannot be expressed in MailEnable, a value is invalid, or
    /// a step of the core's transaction failed (the lock, a path that is
    /// not a regular file, a staged write, a restore).
    #[error(transparent)]
    Policy(#[from] smarthost_core::Error),
    /// The registry refused an operation.
    #[error("registry {key}\\{name}: {reason}")]
    Registry {
        /// The key.
        key: String,
        /// The value name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A `.reg` file could not be read.
    #[error("{path}, line {line}: {reason}")]
    RegFile {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// Why.
        reason: String,
    },
    /// A value read from the registry makes no sense.
    #[error("{key}\\{name}: {reason}")]
    Unreadable {
        /// The key.
        key: String,
        /// The value name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The service restart failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed, or why it did not start.
        output: String,
    },
    /// A step failed and the previous values were put back.
    #[error("{cause}; the previous values were restored")]
    RolledBack {
        /// The failure.
        cause: Box<Error>,
    },
    /// The registry value (`key\name`) or the `.reg` file a plan was made
    /// from changed before it was applied; nothing was written.
    #[error("{what} changed since the plan was made; nothing was written; plan again")]
    Stale {
        /// The first value (`HKEY_LOCAL_MACHINE\...\name`) or file found
        /// changed.
        what: String,
    },
    /// A step failed and some previous values could not be put back: the
    /// registry now holds a mix of the old and the new settings.
    #[error("{cause}; restoring the previous values FAILED for {} value(s): {}; every other value was restored", .failed.len(), .failed.join("; "))]
    RollbackFailed {
        /// The failure.
        cause: Box<Error>,
        /// Each value (`HKEY_LOCAL_MACHINE\...\name`) that still differs
        /// from its previous value, with the reason.
        failed: Vec<String>,
    },
    /// Writing the `.reg` file failed before it was replaced: the previous
    /// file is in place.
    #[error("{cause}; nothing was changed, {} is as it was", .path.display())]
    NotApplied {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        cause: Box<Error>,
    },
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Policy(e) => e.kind(),
            Error::Stale { .. } => ErrorKind::Stale,
            Error::RegFile { .. } => ErrorKind::Invalid,
            Error::NotApplied { cause, .. } | Error::RolledBack { cause, .. } => cause.kind(),
            _ => ErrorKind::Other,
        }
    }
}
