//! Helpers shared by the smarthost test suites, in one place instead of a
//! copy per suite (issue 20).
//!
//! - [`builders`]: smarthosts and policies from short literals.
//! - `certs` (feature `tls`): a test CA, leaf and self-signed certificates.
//! - `smtp` (feature `smtp`): one fake SMTP server, configurable from a
//!   well-behaved relay that records each message to a hostile peer.
//! - `smartermail` (feature `smartermail`): a fake SmarterMail web API.
//! - `postfix` (feature `postfix`, Unix): a private Postfix instance.
//! - [`require`]: prerequisites (root, Postfix, a tool) that fail the test
//!   loudly when missing. Tests that need them are `#[ignore = "why"]`, so
//!   that `cargo test` shows them as ignored and `--include-ignored` (as
//!   `.ci/run` does, as root) really runs them.
//! - [`process`]: the text of a finished command, a command that must
//!   succeed, a command waited for with a deadline.
//! - [`fs`]: scratch folders and sorted listings.
//!
//! Every server binds 127.0.0.1 on a free port and stops when dropped.
#![deny(missing_docs)]

pub mod builders;
#[cfg(feature = "tls")]
pub mod certs;
pub mod fs;
#[cfg(all(unix, feature = "postfix"))]
pub mod postfix;
pub mod process;
pub mod require;
#[cfg(feature = "smartermail")]
pub mod smartermail;
#[cfg(feature = "smtp")]
pub mod smtp;

/// Runs `f` on another thread and returns what it returns; fails the test
/// (saying that `what` hung) when it does not end within `limit`.
pub fn within<T: Send + 'static>(limit: std::time::Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what} hung"))
}

/// A port on 127.0.0.1 that nothing listens on (bound for a moment by the
/// system's choice, then released): a connection to it is refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
