//! Saved plans (issue 19): `plan --out FILE` saves what `apply FILE` applies
//! exactly, or refuses when planning again now gives anything else; the
//! file holds no password.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use test_support::process::text;

const PASSWORD: &str = "saved-plan-Secret-4711";

fn smarthost(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file under `dir` with its bytes, but the lock file (an empty file
/// that any command taking the lock creates).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if !path.ends_with(".smarthost.lock") {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// A folder with a password file and a policy: the server relay with an
/// account, one domain without.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(dir.path().join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    policy(dir.path(), &[]);
    dir
}

fn policy(dir: &Path, extra_domains: &[&str]) {
    let mut text = String::from(
        "[server]\nrelay = \"[smtp.server.example]:587\"\nusername = \"srv\"\npassword_file = \"key\"\n\n\
         [domains.\"one.example\"]\nrelay = \"[relay.one.example]:587\"\n",
    );
    for d in extra_domains {
        text.push_str(&format!("\n[domains.\"{d}\"]\nrelay = \"[relay.{d}]:25\"\n"));
    }
    std::fs::write(dir.join("policy.toml"), text).unwrap();
}

fn plan_out(dir: &Path) -> Output {
    let out = smarthost(
        dir,
        &["--root", "r", "--policy", "policy.toml", "plan", "--out", "saved.plan"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    out
}

#[test]
fn a_saved_plan_applies_what_was_shown_and_holds_no_password() {
    let dir = setup();
    let shown = plan_out(dir.path());
    assert!(
        text(&shown).contains("Saved the plan to saved.plan"),
        "{}",
        text(&shown)
    );
    let saved = std::fs::read_to_string(dir.path().join("saved.plan")).unwrap();
    assert!(!saved.contains(PASSWORD), "{saved}");
    let mode = std::fs::metadata(dir.path().join("saved.plan"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        tree(&dir.path().join("r")).is_empty(),
        "plan --out writes nothing under the root"
    );

    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Applied 5 change(s)."), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));

    // The same result as applying the policy directly.
    let direct = smarthost(dir.path(), &["--root", "direct", "--policy", "policy.toml", "apply"]);
    assert_eq!(direct.status.code(), Some(0), "{}", text(&direct));
    assert_eq!(tree(&dir.path().join("r")), tree(&dir.path().join("direct")));
    let secrets = std::fs::read_to_string(dir.path().join("r/var/spool/postfix/plesk/relay_secrets")).unwrap();
    assert!(secrets.contains(PASSWORD), "the password is read again when applying");

    // Applied once: the saved plan is now stale, and nothing changes.
    let before = tree(&dir.path().join("r"));
    let again = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("plan again"), "{}", text(&again));
    assert_eq!(tree(&dir.path().join("r")), before);
}

#[test]
fn a_change_of_the_system_since_the_plan_is_refused() {
    let dir = setup();
    plan_out(dir.path());
    let set = smarthost(
        dir.path(),
        &[
            "--root",
            "r",
            "domain",
            "set",
            "two.example",
            "--relay",
            "[relay.two.example]:25",
        ],
    );
    assert_eq!(set.status.code(), Some(0), "{}", text(&set));
    let before = tree(&dir.path().join("r"));

    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("gives a different plan") && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(tree(&dir.path().join("r")), before);
}

#[test]
fn a_password_changed_since_the_plan_is_refused() {
    let dir = setup();
    let first = smarthost(dir.path(), &["--root", "r", "--policy", "policy.toml", "apply"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    // The saved plan adds a domain and leaves the secrets table as it is...
    policy(dir.path(), &["two.example"]);
    plan_out(dir.path());
    // ...then the password file changes: applying would change the secrets
    // table, which the saved plan did not show.
    std::fs::write(dir.path().join("key"), "another-Password-99\n").unwrap();
    let before = tree(&dir.path().join("r"));
    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a password changed"), "{}", text(&out));
    assert!(!text(&out).contains("another-Password-99"));
    assert_eq!(tree(&dir.path().join("r")), before);

    // With the password back, the plan applies.
    std::fs::write(dir.path().join("key"), format!("{PASSWORD}\n")).unwrap();
    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_edited_plan_file_is_refused_not_trusted() {
    let dir = setup();
    plan_out(dir.path());
    let path = dir.path().join("saved.plan");
    let saved = std::fs::read_to_string(&path).unwrap();
    // The policy inside is what is planned again: a different relay there
    // gives a different plan than the one whose fingerprint was saved.
    let edited = saved.replace("relay.one.example", "relay.evil.example");
    assert_ne!(saved, edited);
    std::fs::write(&path, edited).unwrap();
    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(tree(&dir.path().join("r")).is_empty());

    // Another smarthost version plans again.
    let other = saved.replace("\"smarthost\": \"", "\"smarthost\": \"0.0.0-other+");
    std::fs::write(&path, other).unwrap();
    let out = smarthost(dir.path(), &["--root", "r", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("made by smarthost 0.0.0-other+"), "{}", text(&out));
    assert!(tree(&dir.path().join("r")).is_empty());
}

#[test]
fn misuse_is_a_usage_error_that_names_the_problem() {
    let dir = setup();
    plan_out(dir.path());
    // Another target.
    let out = smarthost(dir.path(), &["--root", "elsewhere", "apply", "saved.plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("this plan was made with --backend postfix --root"),
        "{}",
        text(&out)
    );
    // The same target through another path is the same target.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let out = smarthost(
        &dir.path().join("sub"),
        &["--root", "../r", "apply", "--dry-run", "../saved.plan"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).ends_with("Dry run: nothing was written.\n"),
        "{}",
        text(&out)
    );
    assert!(tree(&dir.path().join("r")).is_empty(), "a dry run writes nothing");
    // A policy as well as a plan.
    let out = smarthost(
        dir.path(),
        &["--root", "r", "--policy", "policy.toml", "apply", "saved.plan"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("drop --policy"), "{}", text(&out));
    // Not a plan.
    let out = smarthost(dir.path(), &["--root", "r", "apply", "policy.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a saved plan"), "{}", text(&out));
    assert!(tree(&dir.path().join("r")).is_empty());
}
