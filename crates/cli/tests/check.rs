//! `smarthost check` and `set --check` against local test servers.

#[path = "../../smarthost-core/tests/support/smtp_server.rs"]
mod smtp_server;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use smtp_server::{Behaviour, Certs, Server};

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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts a server per behaviour on a runtime that lives as long as the guard.
struct Servers {
    _runtime: tokio::runtime::Runtime,
    servers: Vec<Server>,
}

fn start(behaviours: Vec<Behaviour>) -> Servers {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers = runtime.block_on(futures_join(behaviours));
    Servers {
        _runtime: runtime,
        servers,
    }
}

async fn futures_join(behaviours: Vec<Behaviour>) -> Vec<Server> {
    let mut out = Vec::new();
    for b in behaviours {
        out.push(Server::start(b).await);
    }
    out
}

#[test]
fn check_all_checks_each_distinct_relay_once_and_fails_when_one_fails() {
    let certs = Certs::new();
    let good = Behaviour {
        cert: Some(Arc::new(certs.good())),
        accounts: vec![("user".into(), SECRET.into())],
        ..Behaviour::default()
    };
    let running = start(vec![good.clone(), good]);
    let (a, b) = (running.servers[0].port, running.servers[1].port);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &certs.ca_pem).unwrap();
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
