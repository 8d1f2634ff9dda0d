//! CLI habits people already have (issue 19): nothing to disable is not an
//! error, a dry run says nothing was written, counts include registry and
//! API changes, a held lock is waited for, and passwords are not shown or
//! left readable without a word.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_support::process::text;

fn smarthost(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn key(dir: &Path, mode: u32) -> std::path::PathBuf {
    let path = dir.join("key");
    std::fs::write(&path, "a-relay-password-9\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    path
}

#[test]
fn disabling_what_is_not_set_exits_0_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let out = smarthost(root.path(), &["domain", "disable", "nothing.example"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to disable"), "{}", text(&out));
    let out = smarthost(root.path(), &["server", "disable"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to disable"), "{}", text(&out));
    let out = smarthost(root.path(), &["--json", "server", "disable"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changed"], false);
}

#[test]
fn check_with_nothing_configured_exits_0_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let out = smarthost(root.path(), &["check", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to check"), "{}", text(&out));
}

#[test]
fn a_dry_run_ends_by_saying_nothing_was_written() {
    let root = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let key = key(secrets.path(), 0o600);
    let key = key.to_str().unwrap();
    let args = [
        "server",
        "set",
        "--relay",
        "[smtp.example.com]:587",
        "--username",
        "u",
        "--password-file",
        key,
    ];
    let out = smarthost(root.path(), &[&args[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("Dry run: nothing was written."), "{stdout}");
    assert!(!root.path().join("etc/postfix/main.cf").exists());
}

#[test]
fn the_change_count_includes_registry_values() {
    let root = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let key = key(secrets.path(), 0o600);
    let out = smarthost(
        root.path(),
        &[
            "--backend",
            "mailenable",
            "server",
            "set",
            "--relay",
            "[smtp.example.com]:587",
            "--username",
            "u",
            "--password-file",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let registry = stdout.lines().filter(|l| l.starts_with("# registry")).count();
    assert!(registry > 1, "{stdout}");
    assert!(stdout.contains(&format!("Applied {registry} change(s).")), "{stdout}");
}

#[cfg(unix)]
#[test]
fn a_held_lock_is_waited_for_up_to_the_lock_timeout() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc/postfix");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".smarthost.lock")).unwrap();
    lock.lock().unwrap();
    let start = Instant::now();
    let out = smarthost(root.path(), &["--lock-timeout", "1", "server", "disable"]);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "did not wait: {:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("lock"), "{}", text(&out));

    // Released while a run waits: that run goes on.
    let child = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("--root")
        .arg(root.path())
        .args(["--lock-timeout", "20", "server", "disable"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[cfg(unix)]
#[test]
fn a_password_file_readable_by_others_gets_a_warning() {
    let root = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        let key = key(secrets.path(), mode);
        let out = smarthost(
            root.path(),
            &[
                "server",
                "set",
                "--relay",
                "[smtp.example.com]:587",
                "--username",
                "u",
                "--password-file",
                key.to_str().unwrap(),
                "--dry-run",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.contains("other users can read the password"),
            warned,
            "{mode:o}: {stderr}"
        );
    }
}

/// `--password-stdin` at a terminal: typed without echo. `script` gives the
/// command a terminal; what the terminal showed must not hold the password.
#[cfg(unix)]
#[test]
#[ignore = "needs util-linux script (run with --include-ignored; .ci/run does)"]
fn a_password_typed_at_a_terminal_is_not_echoed() {
    test_support::require::tool("script", "util-linux (bsdutils)");
    let root = tempfile::tempdir().unwrap();
    let command = format!(
        "{} --root {} server set --relay '[smtp.example.com]:587' --username u --password-stdin --dry-run",
        env!("CARGO_BIN_EXE_smarthost"),
        root.path().display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        stdin.write_all(b"typed-Secret-42\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("Password:"), "{shown}");
    assert!(!shown.contains("typed-Secret-42"), "the password was echoed: {shown}");
    assert!(shown.contains("Dry run: nothing was written."), "{shown}");
}
