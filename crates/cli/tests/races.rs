//! Issue 14, "Lock first": concurrent applies are serialised, a waiting run
//! waits for the lock and then reads the state the holder committed, and a
//! plan made against a state that has changed since is refused, even when
//! it changes other files than the change that made it stale.
//!
//! The parallel tests run the real binary 16 times at once, with 16
//! different policies, over one root, several trials per backend. Every
//! policy differs from a common base in one "slot": the even ones change
//! only a password (Postfix: relay_secrets only), the odd ones only a
//! domain's relay (Postfix: sender_relay and tls_policy only). Two runs of different slots
//! that both planned against the base change disjoint files; if both were
//! applied, the result is a mix that is none of the 16 policies.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, LocalSecrets, Policy, PolicyDocument};
use test_support::process::{self, Finished, Running};

const POLICIES: usize = 16;
/// Trials of the parallel tests (Postfix, MailEnable). Under the old code
/// about one MailEnable trial in three ends in a mix.
const TRIALS: [usize; 2] = [5, 10];
/// Domains shared by every policy of the parallel tests: they make each run
/// read, plan and write more, so that the runs overlap.
const COMMON_DOMAINS: usize = 300;
/// How long one batch of parallel runs may take.
const DEADLINE: Duration = Duration::from_secs(90);
const LOCK: &str = "etc/postfix/.smarthost.lock";

// ------------------------------------------------------------------ running

/// Starts the binary with `args`, stdin closed.
fn spawn(args: &[OsString]) -> Running {
    process::spawn(
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(args)
            .stdin(Stdio::null()),
    )
}

/// Starts the binary with `args` and a pipe on its stdin.
fn spawn_with_stdin(args: &[OsString]) -> (Running, std::process::ChildStdin) {
    let mut running = process::spawn(
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(args)
            .stdin(Stdio::piped()),
    );
    let stdin = running.take_stdin().unwrap();
    (running, stdin)
}

fn run(args: &[OsString]) -> Finished {
    spawn(args).finish(Instant::now() + DEADLINE)
}

fn assert_ok(what: &str, out: &Finished) {
    assert_eq!(out.code, Some(0), "{what}: {}", out.describe());
}

// ---------------------------------------------------------------- snapshots

/// Every file below a root with its mode and bytes, except backups, the
/// lock and the journal. Anything that is not a regular file or a folder
/// (a leftover symlink, FIFO...) is recorded too, as mode u32::MAX.
type Files = BTreeMap<PathBuf, (u32, Vec<u8>)>;

fn files(root: &Path) -> Files {
    fn walk(dir: &Path, base: &Path, out: &mut Files) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".smarthost-backup") || name == ".smarthost.lock" || name == ".smarthost-journal" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(base).unwrap().to_owned();
            if meta.is_dir() {
                walk(&path, base, out);
            } else if meta.is_file() {
                out.insert(rel, (meta.mode() & 0o7777, fs::read(&path).unwrap()));
            } else {
                out.insert(rel, (u32::MAX, Vec::new()));
            }
        }
    }
    let mut out = Files::new();
    walk(root, root, &mut out);
    out
}

fn files_diff(a: &Files, b: &Files) -> String {
    let mut out = String::new();
    for (path, (mode, bytes)) in a {
        match b.get(path) {
            None => out.push_str(&format!("    only in the result: {}\n", path.display())),
            Some((m, b)) if (m, b) != (mode, bytes) => out.push_str(&format!(
                "    {} differs (mode {mode:o} vs {m:o}, {} vs {} bytes)\n",
                path.display(),
                bytes.len(),
                b.len()
            )),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push_str(&format!("    missing from the result: {}\n", path.display()));
    }
    out
}

// ----------------------------------------------------------------- policies

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postfix,
    MailEnable,
}

impl Backend {
    fn args(self, root: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self == Backend::MailEnable {
            args.push("--backend".into());
            args.push("mailenable".into());
            args.push("--settings".into());
            args.push(learned_settings().into());
        }
        args.push("--root".into());
        args.push(root.into());
        args
    }
}

/// The base policy and the 16 variants, as files in `dir`.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inputs = Inputs { dir };
        let pw = |name: &str, value: &str| {
            let path = inputs.dir.path().join(name);
            fs::write(&path, format!("{value}\n")).unwrap();
            path.display().to_string()
        };
        let server_base = pw("pw-server-base", "server-base-pass");
        let b_pw = pw("pw-b", "b-domain-pass");
        // Postfix: domain b.example on implicit TLS, so every policy has the
        // same main.cf parameters and master.cf (only table contents vary).
        // MailEnable has no implicit TLS per domain.
        let b_domain = match backend {
            Backend::Postfix => format!(
                "[domains.\"b.example\"]\nrelay = \"[relay-b.example]:465\"\nencryption = \"implicit-tls\"\nusername = \"b-user\"\npassword_file = \"{b_pw}\"\n"
            ),
            Backend::MailEnable => format!(
                "[domains.\"b.example\"]\nrelay = \"[relay-b.example]:587\"\nusername = \"b-user\"\npassword_file = \"{b_pw}\"\n"
            ),
        };
        let common: String = (0..COMMON_DOMAINS)
            .map(|k| format!("[domains.\"common-{k}.example\"]\nrelay = \"[relay-common.example]:587\"\n\n"))
            .collect();
        let policy = |server_pw: &str, a_relay: &str| {
            format!(
                "[server]\nrelay = \"[smtp.example.com]:587\"\nusername = \"server-user\"\npassword_file = \"{server_pw}\"\n\n[domains.\"a.example\"]\nrelay = \"{a_relay}\"\n\n{b_domain}\n{common}"
            )
        };
        fs::write(inputs.path("base.toml"), policy(&server_base, "[relay-a.example]:587")).unwrap();
        for i in 0..POLICIES {
            let text = if i % 2 == 0 {
                // Slot 1: only the server's password.
                policy(
                    &pw(&format!("pw-server-{i}"), &format!("server-pass-{i}")),
                    "[relay-a.example]:587",
                )
            } else {
                // Slot 2: only domain a.example's relay.
                policy(&server_base, &format!("[relay-a-{i}.example]:587"))
            };
            fs::write(inputs.path(&format!("policy-{i}.toml")), text).unwrap();
        }
        inputs
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn apply_args(&self, backend: Backend, root: &Path, policy: &str) -> Vec<OsString> {
        let mut args = backend.args(root);
        args.push("--policy".into());
        args.push(self.path(policy).into());
        args.push("apply".into());
        args
    }
}

/// The files a clean render of each policy gives, each in its own folder;
/// checks the premise that applying a policy over the base gives the same.
fn references(backend: Backend, inputs: &Inputs) -> Vec<Files> {
    (0..POLICIES)
        .map(|i| {
            let policy = format!("policy-{i}.toml");
            let clean = tempfile::tempdir().unwrap();
            assert_ok(
                "test setup: clean render",
                &run(&inputs.apply_args(backend, clean.path(), &policy)),
            );
            let over = tempfile::tempdir().unwrap();
            assert_ok(
                "test setup: base",
                &run(&inputs.apply_args(backend, over.path(), "base.toml")),
            );
            assert_ok(
                "test setup: policy over the base",
                &run(&inputs.apply_args(backend, over.path(), &policy)),
            );
            let reference = files(clean.path());
            let sequential = files(over.path());
            assert!(
                reference == sequential,
                "test premise: {policy} applied over the base must equal its clean render:\n{}",
                files_diff(&sequential, &reference)
            );
            reference
        })
        .collect()
}

fn parallel_applies_give_exactly_one_policy(backend: Backend) {
    let inputs = Inputs::new(backend);
    let references = references(backend, &inputs);
    let mut failures = Vec::new();
    let mut winners = Vec::new();
    let trials = match backend {
        Backend::Postfix => TRIALS[0],
        Backend::MailEnable => TRIALS[1],
    };
    for trial in 0..trials {
        let root = tempfile::tempdir().unwrap();
        assert_ok(
            "test setup: base",
            &run(&inputs.apply_args(backend, root.path(), "base.toml")),
        );
        let args: Vec<_> = (0..POLICIES)
            .map(|i| inputs.apply_args(backend, root.path(), &format!("policy-{i}.toml")))
            .collect();
        let running: Vec<Running> = args.iter().map(|a| spawn(a)).collect();
        let deadline = Instant::now() + DEADLINE;
        let outcomes: Vec<Finished> = running.into_iter().map(|r| r.finish(deadline)).collect();
        for (i, out) in outcomes.iter().enumerate() {
            if out.blocked
                || !matches!(out.code, Some(0 | 1))
                || out.stderr.contains("panicked")
                || (out.code == Some(1) && !out.stderr.starts_with("smarthost: error: "))
            {
                failures.push(format!("trial {trial}: policy-{i}: {}", out.describe()));
            }
        }
        let succeeded = outcomes.iter().filter(|o| o.code == Some(0)).count();
        if succeeded == 0 {
            failures.push(format!("trial {trial}: no run succeeded"));
        }
        let result = files(root.path());
        match references.iter().position(|r| *r == result) {
            Some(i) => winners.push((i, succeeded)),
            None => {
                let closest = references
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, r)| files_diff(&result, r).lines().count())
                    .unwrap();
                let summary: Vec<String> = outcomes
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("      policy-{i}: {}", o.describe()))
                    .collect();
                failures.push(format!(
                    "trial {trial}: the result is none of the {POLICIES} policies ({succeeded} runs succeeded); closest is policy-{}:\n{}  runs:\n{}",
                    closest.0,
                    files_diff(&result, closest.1),
                    summary.join("\n")
                ));
            }
        }
    }
    eprintln!("{backend:?}: (the winning policy, how many runs succeeded) of each trial: {winners:?}");
    assert!(
        failures.is_empty(),
        "{backend:?}: {} problem(s) in {trials} trials of {POLICIES} parallel applies:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parallel_postfix_applies_leave_exactly_one_policy_never_a_mix() {
    parallel_applies_give_exactly_one_policy(Backend::Postfix);
}

#[test]
fn parallel_mailenable_applies_leave_exactly_one_policy_never_a_mix() {
    parallel_applies_give_exactly_one_policy(Backend::MailEnable);
}

// --------------------------------------------------------------------- lock

/// Takes the lock the way a running apply holds it.
fn hold_lock(root: &Path) -> fs::File {
    let path = root.join(LOCK);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    file.lock().unwrap();
    file
}

fn server_set_args(root: &Path, relay: &str, pw_file: &Path) -> Vec<OsString> {
    let mut args = Backend::Postfix.args(root);
    for a in [
        "server",
        "set",
        "--relay",
        relay,
        "--username",
        "server-user",
        "--password-file",
    ] {
        args.push(a.into());
    }
    args.push(pw_file.into());
    args
}

#[test]
fn a_run_waits_for_a_held_lock_then_fails_saying_the_lock_is_held() {
    let root = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let pw = input.path().join("pw");
    fs::write(&pw, "waiting-pass\n").unwrap();
    let _lock = hold_lock(root.path());
    let before = files(root.path());
    let out = run(&server_set_args(root.path(), "[smtp.example.com]:587", &pw));
    let stderr = out.stderr.to_lowercase();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        stderr.contains("lock") && stderr.contains("held"),
        "the error must say the lock is held: {}",
        out.describe()
    );
    assert!(
        out.elapsed >= Duration::from_secs(1),
        "the run gave up at once instead of waiting a few seconds for the lock: {}",
        out.describe()
    );
    assert!(
        out.elapsed <= Duration::from_secs(60),
        "the run waited too long: {}",
        out.describe()
    );
    let after = files(root.path());
    assert!(
        before == after,
        "a run that did not get the lock wrote files:\n{}",
        files_diff(&after, &before)
    );
}

/// The lock covers reading: a `set` that waits for the lock reads the state
/// the holder committed, and keeps the holder's change.
#[test]
fn a_set_that_waits_for_the_lock_reads_the_state_the_holder_committed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let committed = dir.path().join("committed");
    let pw = dir.path().join("pw");
    fs::write(&pw, "server-pass\n").unwrap();
    let policy = dir.path().join("with-a.toml");
    fs::write(
        &policy,
        format!(
            "[server]\nrelay = \"[smtp.example.com]:587\"\nusername = \"server-user\"\npassword_file = \"{}\"\n\n[domains.\"a.example\"]\nrelay = \"[relay-a.example]:587\"\n",
            pw.display()
        ),
    )
    .unwrap();
    // The state before: the server-wide relay only.
    assert_ok(
        "test setup: server set",
        &run(&server_set_args(&root, "[smtp.example.com]:587", &pw)),
    );
    // What the lock holder commits: the same plus domain a.example.
    let mut args = Backend::Postfix.args(&committed);
    args.extend(["--policy".into(), policy.clone().into(), "apply".into()]);
    assert_ok("test setup: the holder's state", &run(&args));

    let lock = hold_lock(&root);
    let mut args = Backend::Postfix.args(&root);
    for a in ["domain", "set", "b.example", "--relay", "[relay-b.example]:587"] {
        args.push(a.into());
    }
    let waiting = spawn(&args);
    std::thread::sleep(Duration::from_millis(1000));
    // The holder commits, then releases the lock.
    for (rel, (mode, bytes)) in files(&committed) {
        let path = root.join(&rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    drop(lock);
    let out = waiting.finish(Instant::now() + DEADLINE);
    assert_eq!(
        out.code,
        Some(0),
        "the set must wait for the lock and then succeed: {}",
        out.describe()
    );
    let sender_relay = fs::read_to_string(root.join("var/spool/postfix/plesk/sender_relay")).unwrap();
    assert!(
        sender_relay.contains("@b.example"),
        "the set's own change is missing:\n{sender_relay}"
    );
    assert!(
        sender_relay.contains("@a.example"),
        "the set read the state before it held the lock and dropped the holder's domain a.example:\n{sender_relay}"
    );
}

/// `server set --password-stdin` reads the state, then its password, then
/// plans and applies. Another run that commits in between must not be
/// undone: either it waits for the lock (and may give up), or the set reads
/// the state after it.
#[test]
fn a_set_does_not_undo_a_change_committed_while_it_was_reading_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let pw = dir.path().join("pw");
    fs::write(&pw, "old-server-pass\n").unwrap();
    assert_ok(
        "test setup: server set",
        &run(&server_set_args(&root, "[smtp.example.com]:587", &pw)),
    );

    let mut args = Backend::Postfix.args(&root);
    for a in [
        "server",
        "set",
        "--relay",
        "[smtp.example.com]:587",
        "--username",
        "server-user",
        "--password-stdin",
    ] {
        args.push(a.into());
    }
    let (slow, mut stdin) = spawn_with_stdin(&args);
    std::thread::sleep(Duration::from_millis(500));

    let mut args = Backend::Postfix.args(&root);
    for a in ["domain", "set", "c.example", "--relay", "[relay-c.example]:587"] {
        args.push(a.into());
    }
    let other = run(&args);

    use std::io::Write;
    stdin.write_all(b"new-server-pass\n").unwrap();
    drop(stdin);
    let slow = slow.finish(Instant::now() + DEADLINE);

    for (what, out) in [("server set", &slow), ("domain set", &other)] {
        assert!(
            matches!(out.code, Some(0 | 1)) && !out.stderr.contains("panicked"),
            "{what}: {}",
            out.describe()
        );
    }
    let read = |rel: &str| fs::read_to_string(root.join(rel)).unwrap_or_default();
    if other.code == Some(0) {
        assert!(
            read("var/spool/postfix/plesk/sender_relay").contains("@c.example"),
            "domain c.example, committed by another run after `server set` had read the state, was removed by `server set` (lost update).\n  domain set: {}\n  server set: {}\nmain.cf:\n{}",
            other.describe(),
            slow.describe(),
            read("etc/postfix/main.cf")
        );
    } else {
        assert!(
            other.stderr.to_lowercase().contains("lock"),
            "domain set failed for another reason than the lock: {}",
            other.describe()
        );
    }
    if slow.code == Some(0) {
        assert!(
            read("var/spool/postfix/plesk/relay_secrets").contains("new-server-pass"),
            "server set succeeded but its password is not in relay_secrets"
        );
    }
}

// ------------------------------------------------------ stale plans (library)

fn policy(text: &str) -> Policy {
    // These policies name no password: nothing is read.
    PolicyDocument::parse(Path::new("policy.toml"), text)
        .unwrap()
        .resolve(&LocalSecrets)
        .unwrap()
}

const BASE: &str = r#"
[server]
relay = "[smtp.one.example]:587"

[domains."a.example"]
relay = "[relay.example]:587"
"#;
/// Changes the server-wide relay: main.cf's relayhost and tls_policy.
const PLAN_A: &str = r#"
[server]
relay = "[smtp.two.example]:587"

[domains."a.example"]
relay = "[relay.example]:587"
"#;
/// Adds a domain on a relay already in use: sender_relay only (Postfix).
const PLAN_B: &str = r#"
[server]
relay = "[smtp.one.example]:587"

[domains."a.example"]
relay = "[relay.example]:587"

[domains."c.example"]
relay = "[relay.example]:587"
"#;

fn changed_files(plan: &smarthost_core::Plan) -> Vec<PathBuf> {
    plan.files().map(|f| f.path().to_owned()).collect()
}

#[test]
fn a_postfix_plan_made_before_another_apply_is_refused_as_stale_even_for_other_files() {
    let root = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    let base = writer.plan(&policy(BASE)).unwrap();
    writer.apply(&base).unwrap();

    let plan_a = writer.plan(&policy(PLAN_A)).unwrap();
    let plan_b = writer.plan(&policy(PLAN_B)).unwrap();
    let (files_a, files_b) = (changed_files(&plan_a), changed_files(&plan_b));
    assert!(
        !files_a.is_empty() && !files_b.is_empty(),
        "test premise: both plans change something"
    );
    assert!(
        files_a.iter().all(|f| !files_b.contains(f)),
        "test premise: the plans change different files: A {files_a:?}, B {files_b:?}"
    );

    writer.apply(&plan_a).unwrap();
    let after_a = files(root.path());
    match writer.apply(&plan_b) {
        Ok(_) => panic!(
            "plan B was made before plan A was applied, yet it was applied: the result is a state neither asked for (A changed {files_a:?}, B changed {files_b:?})"
        ),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("changed since the plan"),
                "the error must say the state changed since the plan was made: {message}"
            );
        }
    }
    let after_b = files(root.path());
    assert!(
        after_a == after_b,
        "a refused stale plan wrote files:\n{}",
        files_diff(&after_b, &after_a)
    );
}

#[test]
fn a_mailenable_plan_made_before_another_apply_is_refused_as_stale_even_for_other_values() {
    use mailenable_backend::MailEnableWriter;
    let root = tempfile::tempdir().unwrap();
    let names = mailenable_backend::Names::load(&learned_settings().with_file_name("mailenable-names.toml"))
        .unwrap()
        .unwrap();
    let writer = MailEnableWriter::render_into(root.path()).names(names);
    let base = writer.plan(&policy(BASE)).unwrap();
    writer.apply(&base).unwrap();

    let plan_a = writer.plan(&policy(PLAN_A)).unwrap();
    let plan_b = writer.plan(&policy(PLAN_B)).unwrap();
    assert!(
        !plan_a.is_empty() && !plan_b.is_empty(),
        "test premise: both plans change something"
    );

    writer.apply(&plan_a).unwrap();
    let after_a = files(root.path());
    match writer.apply(&plan_b) {
        Ok(_) => panic!(
            "plan B was made before plan A was applied, yet it was applied: the .reg now holds a state neither asked for"
        ),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("changed since the plan"),
                "the error must say the state changed since the plan was made: {message}"
            );
        }
    }
    let after_b = files(root.path());
    assert!(
        after_a == after_b,
        "a refused stale plan wrote files:\n{}",
        files_diff(&after_b, &after_a)
    );
}

/// `--settings` in a folder whose learned MailEnable names include domain
/// level (see the fixture's comment).
fn learned_settings() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mailenable-learned/settings.toml")
}
