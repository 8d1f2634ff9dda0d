//! The one error type of the MailEnable backend.

/// What can go wrong with MailEnable's settings. No variant holds a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy cannot be expressed in MailEnable, or a value is invalid.
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
}
