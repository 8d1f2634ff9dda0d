//! The one error type of the Postfix backend.

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
    #[error("{path} changed since the plan was made; plan again")]
    Stale {
        /// The file.
        path: PathBuf,
    },
    /// Another run holds the lock.
    #[error("another smarthost run is applying changes (lock {path} is held)")]
    Locked {
        /// The lock file.
        path: PathBuf,
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
    #[error("{cause}; restoring the previous configuration ALSO failed: {restore}; backups are kept next to each file as *.smarthost-backup")]
    RollbackFailed {
        /// The failure that caused the rollback.
        cause: Box<Error>,
        /// Why restoring failed.
        restore: Box<Error>,
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
