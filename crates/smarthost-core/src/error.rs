//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the core: invalid input, an unreadable
/// policy or secret, or a level that the feature settings forbid.
///
/// Every variant names the field it is about. Values are shown with `{:?}` so
/// that control characters are visible; secrets are never part of an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value was rejected by validation.
    #[error("{field}: {value:?} is invalid: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `domains."a.example".relay`.
        field: String,
        /// The rejected value (never a secret).
        value: String,
        /// Why it was rejected, in plain words.
        reason: String,
    },
    /// A secret was rejected; its value is deliberately not part of the error.
    #[error("{field}: the secret is invalid: {reason}")]
    InvalidSecret {
        /// Dotted path of the field.
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A [`SecretResolver`](crate::SecretResolver) refused to read a
    /// password source (e.g. a hosting panel that resolves customers'
    /// policies only from its own vault).
    #[error("{field}: refused to read the password from {from}")]
    SecretRefused {
        /// Dotted path of the field.
        field: String,
        /// The source, `file PATH` or `env NAME` (never the secret).
        from: String,
    },
    /// A required field is missing.
    #[error("{field}: missing: {reason}")]
    Missing {
        /// Dotted path of the field.
        field: String,
        /// What is expected there.
        reason: String,
    },
    /// The feature settings forbid smarthosts at this level.
    #[error("{field}: {level} smarthosts are disabled by the feature settings ({setting} = false)")]
    FeatureDisabled {
        /// Dotted path of the field that asked for the level.
        field: String,
        /// `server-level` or `domain-level`.
        level: &'static str,
        /// The setting that disables it.
        setting: &'static str,
    },
    /// The policy or settings file is not valid TOML or has unknown keys.
    #[error("{path}: {message}")]
    PolicySyntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A file could not be read.
    #[error("{field}: cannot read {path}: {source}")]
    Read {
        /// Dotted path of the field that named the file.
        field: String,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A DNS query failed (not: the name or record does not exist).
    #[error("DNS lookup of {name} failed: {reason}")]
    Dns {
        /// The name looked up.
        name: String,
        /// The resolver's message.
        reason: String,
    },
    /// A secret's environment variable is not set or not Unicode.
    #[error("{field}: environment variable {var} is not set or not valid UTF-8")]
    Env {
        /// Dotted path of the field.
        field: String,
        /// The variable's name.
        var: String,
    },
    /// An input is larger than its cap (a password source, a policy file).
    #[error("{field}: {from} is larger than {cap} bytes, the limit for this input")]
    TooLarge {
        /// Dotted path of the field.
        field: String,
        /// Where the input came from: a path, `environment variable NAME`
        /// or `standard input`.
        from: String,
        /// The cap, in bytes.
        cap: u64,
    },
    /// An input file is a folder, device, FIFO or socket where a regular
    /// file is expected; refused without reading from it.
    #[error("{field}: {path} is {kind}, not {expected}")]
    NotRegularFile {
        /// Dotted path of the field.
        field: String,
        /// The file.
        path: PathBuf,
        /// What it is: `a directory`, `a character device`, ...
        kind: &'static str,
        /// What is accepted: `a regular file`, `a regular file or a pipe`.
        expected: &'static str,
    },
    /// Standard input could not be read.
    #[error("{field}: cannot read standard input: {source}")]
    Stdin {
        /// Dotted path of the field.
        field: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A managed path is not a plain file (or folder) and is left alone.
    #[error("{path}: {reason}; smarthost only reads and replaces regular files it can trust, and changed nothing")]
    UnsafePath {
        /// The path.
        path: PathBuf,
        /// What it is instead (a symbolic link, a FIFO, ...).
        reason: String,
    },
    /// Another smarthost run holds the lock for longer than the wait allows.
    #[error("another smarthost run is changing this configuration (lock {path} held for more than {waited_secs} s); try again when it ends")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long this run waited.
        waited_secs: u64,
    },
    /// The files a plan was made from changed before it was applied.
    #[error("{path} changed since the plan was made; plan again")]
    Stale {
        /// The first managed file found changed.
        path: PathBuf,
    },
    /// A failed or interrupted transaction could not put every file back.
    #[error("restoring the previous configuration failed for {}: {}; the other files were restored, and the journal {journal} is kept so that the next run tries again", .failed.len(), .failed.join("; "))]
    RestoreIncomplete {
        /// The journal that still describes the transaction.
        journal: PathBuf,
        /// Each file that could not be restored, with the reason.
        failed: Vec<String>,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Puts `prefix` in front of the field path, so that a value parsed on
    /// its own (`relay`) is reported where it was found
    /// (`domains."a.example".relay`).
    #[must_use]
    pub fn in_field(mut self, prefix: &str) -> Self {
        let field = match &mut self {
            Error::Invalid { field, .. }
            | Error::InvalidSecret { field, .. }
            | Error::SecretRefused { field, .. }
            | Error::Missing { field, .. }
            | Error::FeatureDisabled { field, .. }
            | Error::Read { field, .. }
            | Error::Env { field, .. }
            | Error::TooLarge { field, .. }
            | Error::NotRegularFile { field, .. }
            | Error::Stdin { field, .. } => field,
            _ => return self,
        };
        *field = if field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{field}")
        };
        self
    }

    /// The dotted path of the field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. }
            | Error::InvalidSecret { field, .. }
            | Error::SecretRefused { field, .. }
            | Error::Missing { field, .. }
            | Error::FeatureDisabled { field, .. }
            | Error::Read { field, .. }
            | Error::Env { field, .. }
            | Error::TooLarge { field, .. }
            | Error::NotRegularFile { field, .. }
            | Error::Stdin { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
