//! Postfix agrees with `check`: a private Postfix instance (shared notes,
//! postfix-e2e.md) configured by `smarthost server set --check` relays to
//! local relays (127.0.0.1 only). Where the check passes, Postfix logs
//! "Verified TLS connection established" with the same smtp_tls_CAfile;
//! where the check refuses the certificate, Postfix defers with "Server
//! certificate not verified".
//!
//! Needs root and Debian's `postfix`: ignored by a plain `cargo test`, run
//! by `cargo test -- --include-ignored` (as .ci/run does, as root), where a
//! missing prerequisite fails it.
#![cfg(unix)] // a private Postfix instance

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use test_support::certs::{openssl_self_signed, Cert, TestCa};
use test_support::postfix::{Instance, WAIT};
use test_support::process::text;
use test_support::smtp::{Options, Server};

/// `smarthost server set --check` on this instance, live.
fn server_set(pf: &Instance, relay: &str, extra: &[&str]) -> Output {
    let settings = pf.dir.path().join("no-settings.toml");
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("--config-dir")
        .arg(pf.config_dir())
        .arg("--settings")
        .arg(settings)
        .args(["server", "set", "--relay", relay, "--check", "--timeout", "5"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A relay offering STARTTLS with `cert`, without accounts.
fn relay(cert: Cert, name: &str) -> Server {
    Server::start(Options {
        name: name.to_owned(),
        cert: Some(Arc::new(cert)),
        ..Options::default()
    })
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn postfix_verifies_what_the_check_passes_and_refuses_what_it_refuses() {
    let pf = Instance::start(None);

    // A private CA in smtp_tls_CAfile: the check passes, Postfix verifies.
    let ca = TestCa::new();
    pf.trust("relay-ca.pem", &ca.pem());
    let trusted = relay(ca.leaf(&["localhost"]), "trusted");
    let target = format!("[localhost]:{}", trusted.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("a@a.example", "rcpt@remote.example");
    let line = pf.wait_for_log(&["Verified TLS connection established", &format!(":{}", trusted.port())]);
    eprintln!("{line}");
    assert_eq!(
        trusted.wait_for(1, WAIT).len(),
        1,
        "delivered through the verified relay"
    );

    // A relay signed by another CA: the check refuses it (exit 4, nothing
    // changed); forced, Postfix refuses it too.
    let other = relay(TestCa::new().leaf(&["localhost"]), "other CA");
    let target = format!("[localhost]:{}", other.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("certificate is not signed by a trusted authority"),
        "{}",
        text(&out)
    );
    let main_cf = std::fs::read_to_string(pf.config_dir().join("main.cf")).unwrap();
    assert!(!main_cf.contains(&target), "nothing changed: {main_cf}");
    let out = server_set(&pf, &target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("b@b.example", "rcpt@remote.example");
    pf.wait_for_log(&["Server certificate not verified", &format!(":{}", other.port())]);
    eprintln!(
        "{}",
        pf.wait_for_log(&["certificate verification failed", &format!(":{}", other.port())])
    );
    assert!(other.deliveries().is_empty());
    pf.drop_queue();

    // A self-signed relay certificate pinned in smtp_tls_CAfile: both
    // accept it (webpki alone would say CaUsedAsEndEntity).
    let (cert, pem) = openssl_self_signed("localhost");
    let pinned = relay(cert, "pinned");
    pf.trust("pinned.pem", &pem);
    let target = format!("[localhost]:{}", pinned.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("c@c.example", "rcpt@remote.example");
    pf.wait_for_log(&["Verified TLS connection established", &format!(":{}", pinned.port())]);
    assert_eq!(pinned.wait_for(1, WAIT).len(), 1);

    // A certificate for another name: the check says so, and Postfix's
    // `secure match=localhost` says "hostname mismatch".
    let misnamed = relay(ca.leaf(&["mx.wrong.test"]), "misnamed");
    pf.trust("relay-ca.pem", &ca.pem());
    let target = format!("[localhost]:{}", misnamed.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("certificate is for mx.wrong.test, not localhost"),
        "{}",
        text(&out)
    );
    let out = server_set(&pf, &target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("d@d.example", "rcpt@remote.example");
    pf.wait_for_log(&["hostname mismatch", &format!(":{}", misnamed.port())]);
    pf.wait_for_log(&["Server certificate not verified", &format!(":{}", misnamed.port())]);
    assert!(misnamed.deliveries().is_empty());
    pf.drop_queue();

    // A relay given by IPv4 address: `secure match=nexthop` checks the
    // address in the certificate. With it, both the check and Postfix
    // accept the relay; without it, both refuse.
    let by_address = relay(ca.leaf(&["localhost", "127.0.0.1"]), "by address");
    let target = format!("[127.0.0.1]:{}", by_address.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("e@e.example", "rcpt@remote.example");
    pf.wait_for_log(&[
        "Verified TLS connection established",
        &format!("127.0.0.1[127.0.0.1]:{}", by_address.port()),
    ]);
    assert_eq!(by_address.wait_for(1, WAIT).len(), 1);

    let no_address = relay(ca.leaf(&["localhost"]), "no address");
    let target = format!("[127.0.0.1]:{}", no_address.port());
    let out = server_set(&pf, &target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let out = server_set(&pf, &target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("f@f.example", "rcpt@remote.example");
    pf.wait_for_log(&[
        "Server certificate not verified",
        &format!("127.0.0.1[127.0.0.1]:{}", no_address.port()),
    ]);
    assert!(no_address.deliveries().is_empty());
}
