//! The render mode (`--root DIR`) as a transaction: the lock, the journal
//! and its recovery, stale plans, and hostile files at `state.json`.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use smartermail_backend::{Error, SmartermailWriter};
use smarthost_core::transaction::{Lock, Transaction, JOURNAL_FILE, LOCK_FILE};
use smarthost_core::{ConfigWriter, Encryption, Policy, Smarthost};
use test_support::builders::{self, policy};
use test_support::fs::{names, TempDir};
use test_support::within;

const PASSWORD: &str = "render-Secret-91b";

/// A folder removed when the test ends.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new("smartermail-tx", name)
}

/// A STARTTLS smarthost whose user (if any) logs in with [`PASSWORD`].
fn relay(text: &str, user: Option<&str>) -> Smarthost {
    builders::relay(text, Encryption::Starttls, user.map(|u| (u, PASSWORD)))
}

/// Server and two domains: 3 gateways (each created, then enabled) and 2 links.
fn both() -> Policy {
    policy(
        Some(relay("[smtp.sendgrid.net]:587", Some("apikey"))),
        &[
            (
                "a.example",
                relay("[smtp.eu.mailgun.org]:587", Some("postmaster@mg.a.example")),
            ),
            ("b.example", relay("[192.0.2.25]:25", None)),
        ],
    )
}

fn server_only(port: u16) -> Policy {
    policy(Some(relay(&format!("[relay.example]:{port}"), None)), &[])
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn requests_and_state_are_replaced_together() {
    let dir = temp_dir("together");
    let writer = SmartermailWriter::render_into(dir.path());
    let (_, applied) = writer.converge(&both()).unwrap();
    // Each gateway is created disabled and enabled by a second request.
    assert_eq!(applied.ran.len(), 8);
    assert_eq!(
        names(&dir.path().join("requests")),
        ["001.json", "002.json", "003.json", "004.json", "005.json", "006.json", "007.json", "008.json"]
    );
    for name in names(&dir.path().join("requests")) {
        let path = dir.path().join("requests").join(&name);
        assert_eq!(mode(&path), 0o644, "{name} holds no secret");
        assert!(!read(&path).contains(PASSWORD), "{name}");
    }
    assert_eq!(mode(&dir.path().join("state.json")), 0o644);
    assert!(!read(&dir.path().join("state.json")).contains(PASSWORD));

    // A smaller render replaces the requests: none of the earlier render
    // stays next to them, and no backup of them either.
    let smaller = policy(Some(relay("[smtp.sendgrid.net]:587", Some("apikey"))), &[]);
    let (plan, applied) = writer.converge(&smaller).unwrap();
    assert_eq!(plan.changes.len(), 4, "two unlinks, two deletes: {}", plan.render());
    assert_eq!(applied.ran.len(), 4);
    assert_eq!(
        names(&dir.path().join("requests")),
        ["001.json", "002.json", "003.json", "004.json"]
    );
    assert!(read(&dir.path().join("requests/004.json")).contains("gateway-delete"));
    assert!(writer.plan(&smaller).unwrap().is_empty());
    assert_eq!(
        names(dir.path()),
        [
            ".smarthost.lock",
            "requests",
            "state.json",
            "state.json.smarthost-backup"
        ],
        "no journal, no staging folder"
    );
}

#[test]
fn a_stale_state_is_refused_and_nothing_is_written() {
    let dir = temp_dir("stale");
    let writer = SmartermailWriter::render_into(dir.path());
    writer.converge(&server_only(587)).unwrap();
    let plan = writer.plan(&both()).unwrap();

    // Another run renders meanwhile.
    SmartermailWriter::render_into(dir.path())
        .converge(&server_only(2525))
        .unwrap();
    let state = read(&dir.path().join("state.json"));
    let requests = names(&dir.path().join("requests"));
    let first = read(&dir.path().join("requests/001.json"));

    let err = writer.apply(&plan).unwrap_err();
    assert!(
        matches!(err, Error::Policy(smarthost_core::Error::Stale { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("state.json"), "{err}");
    assert_eq!(read(&dir.path().join("state.json")), state);
    assert_eq!(names(&dir.path().join("requests")), requests);
    assert_eq!(read(&dir.path().join("requests/001.json")), first);

    // A plan made now applies.
    writer.converge(&both()).unwrap();
    assert!(writer.plan(&both()).unwrap().is_empty());
}

#[test]
fn a_symlink_or_fifo_at_state_json_is_refused_without_hanging() {
    for kind in ["symlink", "fifo"] {
        let dir = temp_dir(kind);
        let outside = temp_dir("outside");
        let state = dir.path().join("state.json");
        match kind {
            "symlink" => {
                std::fs::write(outside.path().join("real.json"), "{\"gateways\": {}, \"links\": {}}").unwrap();
                std::os::unix::fs::symlink(outside.path().join("real.json"), &state).unwrap()
            }
            _ => assert!(std::process::Command::new("mkfifo")
                .arg(&state)
                .status()
                .unwrap()
                .success()),
        }
        let dir_path = dir.path().to_owned();
        let errors = within(Duration::from_secs(10), kind, move || {
            let writer = SmartermailWriter::render_into(&dir_path);
            let plan = SmartermailWriter::render_into(dir_path.join("elsewhere"))
                .plan(&both())
                .unwrap();
            vec![
                writer.read().unwrap_err().to_string(),
                writer.plan(&both()).unwrap_err().to_string(),
                writer.converge(&both()).unwrap_err().to_string(),
                writer.apply(&plan).unwrap_err().to_string(),
            ]
        });
        let word = if kind == "symlink" { "symbolic link" } else { "FIFO" };
        for e in &errors {
            assert!(e.contains(word) && e.contains("state.json"), "{kind}: {e}");
        }
        let outside_names: Vec<String> = names(outside.path());
        assert!(
            outside_names.len() <= 1,
            "{kind}: nothing written outside: {outside_names:?}"
        );
        if kind == "symlink" {
            assert_eq!(
                read(&outside.path().join("real.json")),
                "{\"gateways\": {}, \"links\": {}}"
            );
        }
        assert_eq!(names(dir.path()), [".smarthost.lock", "state.json"], "{kind}");
    }
}

#[test]
fn an_interrupted_render_is_rolled_back_by_the_next_command() {
    let dir = temp_dir("recover");
    let writer = SmartermailWriter::render_into(dir.path());
    writer.converge(&both()).unwrap();
    let state = read(&dir.path().join("state.json"));
    let first = read(&dir.path().join("requests/001.json"));

    // A run killed after its commit, before it confirmed.
    {
        let lock = Lock::acquire(&dir.path().join(LOCK_FILE), Duration::ZERO).unwrap();
        let mut tx = Transaction::new(&lock, &dir.path().join(JOURNAL_FILE));
        tx.write(&dir.path().join("requests/001.json"), b"{}", 0o644, false)
            .unwrap();
        tx.write(&dir.path().join("requests/009.json"), b"{}", 0o644, false)
            .unwrap();
        tx.write(
            &dir.path().join("state.json"),
            b"{\"gateways\": {}, \"links\": {}}",
            0o644,
            false,
        )
        .unwrap();
        std::mem::forget(tx.commit(Vec::new()).unwrap());
    }
    let plan = writer.plan(&both()).unwrap();
    assert!(
        plan.warnings[0].contains("recovered an interrupted apply"),
        "{:?}",
        plan.warnings
    );
    assert!(plan.is_empty(), "{}", plan.render());
    assert_eq!(read(&dir.path().join("state.json")), state);
    assert_eq!(read(&dir.path().join("requests/001.json")), first);
    assert!(!dir.path().join("requests/009.json").exists());
    assert!(!dir.path().join(JOURNAL_FILE).exists());
}

#[test]
fn parallel_renders_leave_one_consistent_result() {
    let dir = temp_dir("race");
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12u16)
            .map(|i| {
                let dir = dir.path().to_owned();
                s.spawn(
                    move || match SmartermailWriter::render_into(&dir).converge(&server_only(2000 + i)) {
                        Ok(_) => true,
                        Err(Error::Policy(
                            smarthost_core::Error::Locked { .. } | smarthost_core::Error::Stale { .. },
                        )) => false,
                        Err(e) => panic!("unexpected error: {e}"),
                    },
                )
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().any(|ok| *ok));
    let writer = SmartermailWriter::render_into(dir.path());
    let current: Vec<u16> = (0..12u16)
        .filter(|i| writer.plan(&server_only(2000 + i)).unwrap().is_empty())
        .collect();
    assert_eq!(current.len(), 1, "state.json is exactly one of the renders");
    let port = (2000 + current[0]).to_string();
    let requests: String = names(&dir.path().join("requests"))
        .iter()
        .map(|n| read(&dir.path().join("requests").join(n)))
        .collect();
    assert!(
        requests.contains(&port),
        "the requests are those of the same render: {requests}"
    );
}
