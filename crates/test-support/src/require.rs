//! Prerequisites of the tests that need more than `cargo test`: root, a real
//! Postfix, strace, a tool. Such tests are `#[ignore = "needs ..."]` and call
//! one of these first: when they are run (`cargo test -- --include-ignored`,
//! as `.ci/run` does as root) and the prerequisite is missing, they fail
//! with the reason instead of passing without having run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the tests run as root (effective user id 0).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn missing(what: &str, why: &str) -> ! {
    panic!(
        "this test needs {what}, and {why}. It is #[ignore]d for that reason: \
         `cargo test` skips it and says so; `cargo test -- --include-ignored` \
         (as root, after what .ci/run installs) runs it"
    )
}

/// Fails the test unless it runs as root; `what` says what needs root.
pub fn root(what: &str) {
    if !is_root() {
        missing(&format!("root ({what})"), "it does not run as root");
    }
}

/// Why a private Postfix instance cannot run here, if it cannot: Debian's
/// `postfix` package (postfix, postmap, master) and root.
pub fn postfix_unavailable() -> Option<String> {
    for bin in ["/usr/sbin/postfix", "/usr/sbin/postmap", "/usr/lib/postfix/sbin/master"] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} is missing (apt-get install postfix libsasl2-modules)"));
        }
    }
    if !is_root() {
        return Some("it does not run as root, which a private instance needs".into());
    }
    None
}

/// Fails the test unless a private Postfix instance can run here (root and
/// Debian's `postfix`).
pub fn postfix() {
    if let Some(why) = postfix_unavailable() {
        missing("root and Postfix 3.x", &why);
    }
}

/// The path of `program` on PATH; fails the test when it is not there.
/// `package` names what provides it.
pub fn tool(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            missing(
                &format!("`{program}`"),
                &format!("it is not on PATH (install {package})"),
            )
        })
}

/// Fails the test unless strace is installed and may trace here (ptrace
/// allowed).
pub fn strace() {
    let strace = tool("strace", "strace");
    let probe = Command::new(strace).args(["-o", "/dev/null", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing(
            "strace",
            &format!(
                "it cannot trace here (ptrace must be allowed): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => missing("strace", &format!("it does not start: {e}")),
    }
}
