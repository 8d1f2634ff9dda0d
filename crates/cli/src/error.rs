//! The CLI's one error type; printed once by `main`, with its causes.

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Invalid input or an unreadable policy.
    #[error(transparent)]
    Core(#[from] smarthost_core::Error),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] smarthost_core::WriterError),
    /// Another step failed (a health report, an assets folder).
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// A command needs an option that was not given.
    #[error("{0}")]
    Usage(String),
    /// The async runtime for network checks could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `set --check`: the connection check failed; the rendered report.
    #[error("the connection check failed; nothing was changed (add --force to apply anyway):\n{0}")]
    CheckFailed(String),
    /// Nothing to do (disabling what is not set): not a failure; `run`
    /// prints the message and exits 0.
    #[error("{0}")]
    NothingToDo(String),
    /// A saved plan no longer matches the system (`apply FILE`); nothing
    /// was changed.
    #[error("{0}")]
    StalePlan(String),
    /// Reading standard input failed.
    #[error("reading the password from standard input: {0}")]
    Stdin(#[source] std::io::Error),
}

impl CliError {
    /// The process exit code: 2 for usage errors (as clap), 1 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => crate::exit::USAGE,
            CliError::CheckFailed(_) => crate::exit::CHECK_FAILED,
            _ => 1,
        }
    }
}
