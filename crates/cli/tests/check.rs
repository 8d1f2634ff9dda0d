//! `smarthost check` and `set --check` against local test servers.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use test_support::certs::TestCa;
use test_support::process::text;
use test_support::smtp::{Options, Server};

const SECRET: &str = "cli-check-Secret-5a4b";

fn smarthost(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Starts a server for each of `options`.
fn start(options: Vec<Options>) -> Vec<Server> {
    options.into_iter().map(Server::start).collect()
}

#[test]
fn check_all_checks_each_distinct_relay_once_and_fails_when_one_fails() {
    let certs = TestCa::new();
    let good = Options {
        cert: Some(Arc::new(certs.good())),
        accounts: vec![("user".into(), SECRET.into())],
        ..Options::default()
    };
    let running = start(vec![good.clone(), good]);
    let (a, b) = (running[0].port(), running[1].port());
    let closed = test_support::closed_port();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    std::fs::write(dir.path().join("ca.pem"), certs.pem()).unwrap();
    let policy = format!(
        "[server]\nrelay = \"[localhost]:{a}\"\nusername = \"user\"\npassword_file = \"secret\"\n\
         [domains.\"one.example\"]\nrelay = \"[localhost]:{a}\"\nusername = \"user\"\npassword_file = \"secret\"\n\
         [domains.\"two.example\"]\nrelay = \"[localhost]:{b}\"\nusername = \"user\"\npassword_file = \"secret\"\n\
         [domains.\"down.example\"]\nrelay = \"[localhost]:{closed}\"\n"
    );
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let policy = dir.path().join("policy.toml");
    let ca = dir.path().join("ca.pem");
    let args = [
        "--policy",
        policy.to_str().unwrap(),
        "--json",
        "check",
        "--all",
        "--ca-file",
        ca.to_str().unwrap(),
        "--timeout",
        "3",
    ];
    let out = smarthost(dir.path(), &args);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(!text(&out).contains(SECRET));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "server and one.example share a check: {v:#}");
    let shared = checks
        .iter()
        .find(|c| c["used_by"].as_array().unwrap().len() == 2)
        .unwrap();
    assert_eq!(shared["used_by"], serde_json::json!(["server", "domain one.example"]));
    assert_eq!(shared["ok"], true);
    let down = checks
        .iter()
        .find(|c| c["used_by"][0] == "domain down.example")
        .unwrap();
    assert_eq!(
        down["steps"].as_array().unwrap().last().unwrap()["failure"]["kind"],
        "refused"
    );

    let out = smarthost(
        dir.path(),
        &[
            "--policy",
            policy.to_str().unwrap(),
            "check",
            "--domain",
            "two.example",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("OK: [localhost]:"),
        "{}",
        text(&out)
    );
}

#[test]
fn set_with_check_refuses_a_failing_relay_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let closed = test_support::closed_port();
    let relay = format!("[localhost]:{closed}");
    let out = smarthost(
        dir.path(),
        &[
            "domain",
            "set",
            "a.example",
            "--relay",
            &relay,
            "--check",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the connection check failed; nothing was changed"),
        "{stderr}"
    );
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!dir.path().join("etc/postfix/main.cf").exists(), "nothing written");

    let out = smarthost(
        dir.path(),
        &[
            "domain",
            "set",
            "a.example",
            "--relay",
            &relay,
            "--check",
            "--force",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("applying anyway (--force)"));
    assert!(std::fs::read_to_string(dir.path().join("etc/postfix/main.cf"))
        .unwrap()
        .contains("sender_dependent_relayhost_maps"));
}

#[test]
fn check_all_covers_mailboxes_recipient_routes_bounces_and_backup_relays() {
    // Closed ports: each check fails at once, and the report says who uses
    // which relay.
    let ports: Vec<u16> = (0..5).map(|_| test_support::closed_port()).collect();
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "bounces = \"[localhost]:{b}\"\n\
         [server]\nrelay = \"[localhost]:{s}\"\nencryption = \"none\"\nbackup = [\"[127.0.0.1]:{s2}\"]\n\
         [mailboxes.\"alice@one.example\"]\nrelay = \"[localhost]:{m}\"\nencryption = \"none\"\n\
         [recipients.\"partner.example\"]\nrelay = \"[localhost]:{r}\"\nencryption = \"none\"\n",
        s = ports[0],
        s2 = ports[1],
        m = ports[2],
        r = ports[3],
        b = ports[4],
    );
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let policy = dir.path().join("policy.toml");
    let out = smarthost(
        dir.path(),
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--json",
            "check",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let used: Vec<(String, String)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["used_by"][0].as_str().unwrap().to_owned(),
                c["relay"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = |label: &str, port: u16, host: &str| (label.to_owned(), format!("[{host}]:{port}"));
    assert_eq!(
        used,
        [
            want("server", ports[0], "localhost"),
            want("mailbox alice@one.example", ports[2], "localhost"),
            want("recipient partner.example", ports[3], "localhost"),
            want("bounces", ports[4], "localhost"),
            want("server (backup 1)", ports[1], "127.0.0.1"),
        ]
    );
}
