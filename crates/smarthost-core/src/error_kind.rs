//! [`ErrorKind`]: what a caller can do about an error, the same for every
//! backend, so that code holding "some backend" can decide without knowing
//! its error type.

/// The kinds of failure a caller reacts to differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was refused (a field, a policy, a path, a feature
    /// setting): fix the input; retrying the same call fails again.
    Invalid,
    /// The configuration changed since the plan was made: plan again.
    Stale,
    /// Another run held the lock for longer than this one waited: retry
    /// later.
    Locked,
    /// A failure that may pass by itself (a network error, a deadline, a
    /// server's 5xx): retry later.
    Transient,
    /// Anything else (a failed command, an I/O error, a rollback): read the
    /// message.
    Other,
}

/// An error that says its [`ErrorKind`]. Every backend's error implements
/// it; [`ConfigWriter::Error`](crate::ConfigWriter::Error) requires it.
pub trait Classify {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;

    /// Whether the input was refused ([`ErrorKind::Invalid`]).
    fn is_invalid(&self) -> bool {
        self.kind() == ErrorKind::Invalid
    }

    /// Whether the plan is stale ([`ErrorKind::Stale`]).
    fn is_stale(&self) -> bool {
        self.kind() == ErrorKind::Stale
    }

    /// Whether the lock was held ([`ErrorKind::Locked`]).
    fn is_locked(&self) -> bool {
        self.kind() == ErrorKind::Locked
    }

    /// Whether retrying later may succeed ([`ErrorKind::Transient`] or
    /// [`ErrorKind::Locked`]).
    fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Transient | ErrorKind::Locked)
    }
}

impl Classify for crate::Error {
    fn kind(&self) -> ErrorKind {
        use crate::Error;
        match self {
            Error::Invalid { .. }
            | Error::InvalidSecret { .. }
            | Error::SecretRefused { .. }
            | Error::Missing { .. }
            | Error::FeatureDisabled { .. }
            | Error::PolicySyntax { .. }
            | Error::Env { .. }
            | Error::TooLarge { .. }
            | Error::NotRegularFile { .. }
            | Error::Read { .. }
            | Error::Stdin { .. } => ErrorKind::Invalid,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Stale { .. } => ErrorKind::Stale,
            Error::Dns { .. } => ErrorKind::Transient,
            _ => ErrorKind::Other,
        }
    }
}
