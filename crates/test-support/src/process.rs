//! Commands run by the tests.

use std::process::{Command, Output, Stdio};

/// What a finished command printed: stdout, then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with stdin closed; it must start and succeed (the test fails
/// with the command and its output otherwise). Returns stdout and stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    let text = text(&out);
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}
