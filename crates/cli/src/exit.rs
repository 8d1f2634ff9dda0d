//! The process exit codes, in one place (the man pages list them too).
//! 0 is success and 1 a failure; 2 is a usage error, as clap uses it.

/// A usage error: a bad option or value, as clap exits.
pub(crate) const USAGE: u8 = 2;

/// `plan --detailed-exitcode`: changes are pending; `dns`: SPF needs a
/// change.
pub(crate) const CHANGES_PENDING: u8 = 3;

/// `check` or `set --check`: a connection check failed; `test-send`: the
/// message was not delivered; `doctor`: a check failed.
pub(crate) const CHECK_FAILED: u8 = 4;
