//! Issue 14, "Secrets at rest": every file under the root that holds a
//! password, backups included, is readable by its owner only (0600) after
//! every command, including when the content was already right and when the
//! file was world-readable before; once every smarthost is disabled, no
//! password is left anywhere under the root (searched as bytes, in UTF-8 and
//! in UTF-16LE for MailEnable's .reg).
#![cfg(unix)]

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postfix,
    MailEnable,
}

struct Run {
    backend: Backend,
    root: tempfile::TempDir,
    /// Password files and policies, outside the root.
    input: tempfile::TempDir,
    /// Every password used so far.
    passwords: Vec<String>,
}

impl Run {
    fn new(backend: Backend) -> Self {
        Run {
            backend,
            root: tempfile::tempdir().unwrap(),
            input: tempfile::tempdir().unwrap(),
            passwords: Vec::new(),
        }
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    /// A password file (outside the root) holding a new password.
    fn password_file(&mut self, name: &str) -> PathBuf {
        let password = format!("{name}-Secret{}x", self.passwords.len());
        let path = self.input.path().join(name);
        fs::write(&path, format!("{password}\n")).unwrap();
        self.passwords.push(password);
        path
    }

    fn smarthost(&self, args: &[&str]) -> Output {
        let mut all: Vec<OsString> = Vec::new();
        if self.backend == Backend::MailEnable {
            all.extend(["--backend".into(), "mailenable".into(), "--settings".into()]);
            all.push(learned_settings().into());
        }
        all.push("--root".into());
        all.push(self.root().into());
        all.extend(args.iter().map(OsString::from));
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a step that must succeed.
    fn step(&self, label: &str, args: &[&str]) {
        let out = self.smarthost(args);
        assert!(
            out.status.success(),
            "{label}: exit {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every regular file below `dir` with its mode and content.
fn regular_files(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, out);
            } else if meta.is_file() {
                let bytes = fs::read(&path).unwrap();
                out.push((path, meta.permissions().mode() & 0o7777, bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The passwords (of `passwords`) that `bytes` holds, as UTF-8 or UTF-16LE.
fn passwords_in<'p>(bytes: &[u8], passwords: &'p [String]) -> Vec<&'p str> {
    passwords
        .iter()
        .filter(|p| contains(bytes, p.as_bytes()) || contains(bytes, &utf16le(p)))
        .map(String::as_str)
        .collect()
}

/// Every file under the root that holds a password is readable by its owner
/// only.
fn assert_secret_files_private(run: &Run, after: &str) {
    let mut offenders = Vec::new();
    for (path, mode, bytes) in regular_files(run.root()) {
        let found = passwords_in(&bytes, &run.passwords);
        if !found.is_empty() && mode & 0o077 != 0 {
            offenders.push(format!(
                "  {} has mode {mode:04o} and holds {} password(s)",
                path.display(),
                found.len()
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "after {after}: files holding a password are readable by others (must be 0600):\n{}",
        offenders.join("\n")
    );
}

fn assert_no_password_left(run: &Run) {
    let mut offenders = Vec::new();
    for (path, mode, bytes) in regular_files(run.root()) {
        let found = passwords_in(&bytes, &run.passwords);
        if !found.is_empty() {
            offenders.push(format!("  {} (mode {mode:04o}) still holds {found:?}", path.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "with every smarthost disabled, passwords are still under the root:\n{}",
        offenders.join("\n")
    );
}

/// Enables a server-wide relay and two domains with passwords, changes each
/// password 5 times, disables everything; checks modes after every step and
/// that no password is left at the end.
fn enable_change_and_disable_everything(backend: Backend) {
    let mut run = Run::new(backend);
    // MailEnable has no implicit TLS per domain.
    let b_relay = match backend {
        Backend::Postfix => "[smtp.b.example]:465",
        Backend::MailEnable => "[smtp.b.example]:587",
    };
    for round in 0..=5 {
        let pw = run.password_file(&format!("server{round}"));
        run.step(
            &format!("server set (password {round})"),
            &[
                "server",
                "set",
                "--relay",
                "[smtp.example.com]:587",
                "--username",
                "server-user",
                "--password-file",
                pw.to_str().unwrap(),
            ],
        );
        assert_secret_files_private(&run, &format!("server set (password {round})"));
        for (domain, relay, user) in [
            ("a.example", "[smtp.a.example]:587", "a-user"),
            ("b.example", b_relay, "b-user"),
        ] {
            let pw = run.password_file(&format!("{domain}{round}"));
            let label = format!("domain set {domain} (password {round})");
            run.step(
                &label,
                &[
                    "domain",
                    "set",
                    domain,
                    "--relay",
                    relay,
                    "--username",
                    user,
                    "--password-file",
                    pw.to_str().unwrap(),
                ],
            );
            assert_secret_files_private(&run, &label);
        }
    }
    for (label, args) in [
        ("domain disable a.example", &["domain", "disable", "a.example"][..]),
        ("domain disable b.example", &["domain", "disable", "b.example"][..]),
        ("server disable", &["server", "disable"][..]),
    ] {
        run.step(label, args);
        assert_secret_files_private(&run, label);
    }
    assert_eq!(run.passwords.len(), 18, "test premise: 3 passwords, each set 6 times");
    assert_no_password_left(&run);
}

#[test]
fn postfix_no_password_is_left_under_the_root_once_everything_is_disabled() {
    enable_change_and_disable_everything(Backend::Postfix);
}

#[test]
fn mailenable_no_password_is_left_under_the_root_once_everything_is_disabled() {
    enable_change_and_disable_everything(Backend::MailEnable);
}

/// The file that holds the passwords, for each backend.
fn secret_file(backend: Backend) -> &'static str {
    match backend {
        Backend::Postfix => "var/spool/postfix/plesk/relay_secrets",
        Backend::MailEnable => "smarthost.reg",
    }
}

fn policy_with_password(run: &mut Run, name: &str) -> PathBuf {
    let pw = run.password_file(name);
    let policy = run.input.path().join(format!("{name}.toml"));
    fs::write(
        &policy,
        format!(
            "[server]\nrelay = \"[smtp.example.com]:587\"\nusername = \"server-user\"\npassword_file = \"{}\"\n",
            pw.display()
        ),
    )
    .unwrap();
    policy
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A secret file made world-readable by hand, whose content is already
/// what the policy wants, is 0600 again after apply, and no backup of it is
/// more permissive than 0600.
fn world_readable_secret_file_with_the_right_content_becomes_0600(backend: Backend) {
    let mut run = Run::new(backend);
    let policy = policy_with_password(&mut run, "same");
    let policy = policy.to_str().unwrap();
    run.step("first apply", &["--policy", policy, "apply"]);
    let file = run.root().join(secret_file(backend));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    run.step("second apply of the same policy", &["--policy", policy, "apply"]);
    assert!(
        mode(&file) == 0o600,
        "{} holds the password and is still mode {:04o} after apply",
        file.display(),
        mode(&file)
    );
    assert_secret_files_private(&run, "the second apply of the same policy");
}

#[test]
fn postfix_a_world_readable_relay_secrets_with_the_right_content_becomes_0600() {
    world_readable_secret_file_with_the_right_content_becomes_0600(Backend::Postfix);
}

#[test]
fn mailenable_a_world_readable_reg_file_with_the_right_content_becomes_0600() {
    world_readable_secret_file_with_the_right_content_becomes_0600(Backend::MailEnable);
}

/// A world-readable secret file replaced by a new password: the new file
/// and the backup of the old one (which holds the old password) are 0600.
fn backup_of_a_world_readable_secret_file_is_not_world_readable(backend: Backend) {
    let mut run = Run::new(backend);
    let first = policy_with_password(&mut run, "old");
    let second = policy_with_password(&mut run, "new");
    run.step("first apply", &["--policy", first.to_str().unwrap(), "apply"]);
    let file = run.root().join(secret_file(backend));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    run.step(
        "apply with a new password",
        &["--policy", second.to_str().unwrap(), "apply"],
    );
    assert!(
        mode(&file) == 0o600,
        "{} has mode {:04o} after apply, not 0600",
        file.display(),
        mode(&file)
    );
    assert_secret_files_private(&run, "the apply that replaced a world-readable secret file");
}

#[test]
fn postfix_the_backup_of_a_world_readable_relay_secrets_is_not_world_readable() {
    backup_of_a_world_readable_secret_file_is_not_world_readable(Backend::Postfix);
}

#[test]
fn mailenable_the_backup_of_a_world_readable_reg_file_is_not_world_readable() {
    backup_of_a_world_readable_secret_file_is_not_world_readable(Backend::MailEnable);
}

/// `--settings` in a folder whose learned MailEnable names include domain
/// level (see the fixture's comment).
fn learned_settings() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mailenable-learned/settings.toml")
}
