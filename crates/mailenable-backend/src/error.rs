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
    /// A routing rule MailEnable's smart host settings cannot express;
    /// nothing was written.
    #[error("{field}: MailEnable cannot express this: {reason}; remove it from the policy (nothing was written)")]
    Unsupported {
        /// The rule's field in the policy file.
        field: String,
        /// Why MailEnable cannot express it.
        reason: &'static str,
    },
    /// A value the policy needs has no known name on this server.
    #[error("{field}: the name of MailEnable's {role} value is not known: run `smarthost mailenable learn` with exports made before and after setting it by hand (see docs/backends/mailenable.md)")]
    Unlearned {
        /// The policy field that needs it.
        field: String,
        /// The value's role.
        role: crate::names::Role,
    },
    /// A live write would use names this server does not confirm (not
    /// learned, not present); nothing was written.
    #[error("nothing was written: these MailEnable value names are smarthost's built-in guesses and this server does not confirm them: {}; export HKLM\\SOFTWARE\\WOW6432Node\\Mail Enable before and after setting the smart host by hand in MailEnable's console and run `smarthost mailenable learn --before BEFORE.reg --after AFTER.reg --relay HOST:PORT --username USER --password-file FILE` (see docs/backends/mailenable.md)", .names.join(", "))]
    Unconfirmed {
        /// `key\\name` of each unconfirmed value.
        names: Vec<String>,
    },
    /// A names file cannot be used.
    #[error("{}: {reason}", .path.display())]
    Names {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// `learn` could not match what was typed to the exports.
    #[error("learn: {0}")]
    Learn(String),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Policy(e) => e.kind(),
            Error::Stale { .. } => ErrorKind::Stale,
            Error::RegFile { .. }
            | Error::Unlearned { .. }
            | Error::Unconfirmed { .. }
            | Error::Unsupported { .. }
            | Error::Names { .. }
            | Error::Learn(_) => ErrorKind::Invalid,
            Error::NotApplied { cause, .. } | Error::RolledBack { cause, .. } => cause.kind(),
            _ => ErrorKind::Other,
        }
    }
}
