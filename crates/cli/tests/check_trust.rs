//! `smarthost check` and `set --check` trust what the Postfix instance
//! trusts (smtp_tls_CAfile, smtp_tls_CApath), read from main.cf under
//! `--root` or with `postconf -c` live; `server set --check/--force`.
//! Local servers on 127.0.0.1 only.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use test_support::certs::{openssl_self_signed, Cert, TestCa};
use test_support::closed_port;
use test_support::process::text;
use test_support::smtp::{Options, Server};

fn smarthost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A relay (STARTTLS) for each certificate.
fn start(certs: Vec<Cert>) -> Vec<Server> {
    certs
        .into_iter()
        .map(|cert| {
            Server::start(Options {
                cert: Some(Arc::new(cert)),
                ..Options::default()
            })
        })
        .collect()
}

/// A rendered root whose main.cf has these lines.
fn root_with_main_cf(lines: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc/postfix")).unwrap();
    std::fs::write(root.path().join("etc/postfix/main.cf"), lines).unwrap();
    root
}

fn policy(dir: &Path, relay: &str) -> String {
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("[server]\nrelay = \"{relay}\"\n")).unwrap();
    path.display().to_string()
}

fn check_json(root: &Path, policy: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = smarthost(&[
        "--root",
        root.to_str().unwrap(),
        "--policy",
        policy,
        "--json",
        "check",
        "--timeout",
        "3",
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), v, text(&out))
}

fn failure_kind(v: &serde_json::Value) -> String {
    let steps = v["checks"][0]["steps"].as_array().unwrap();
    steps.last().unwrap()["failure"]["kind"].as_str().unwrap().to_owned()
}

#[test]
fn check_trusts_the_private_ca_of_smtp_tls_ca_file_in_main_cf() {
    let ca = TestCa::named("private relay CA");
    let relays = start(vec![ca.leaf(&["localhost"])]);
    let port = relays[0].port();

    // main.cf names the CA file as Postfix sees it; it lives in the root.
    let root = root_with_main_cf(
        "# a comment\nsmtp_tls_CAfile = /etc/postfix/old.pem\nsmtp_tls_CAfile =\n    $config_directory/relay-ca.pem\n",
    );
    std::fs::write(root.path().join("etc/postfix/relay-ca.pem"), ca.pem()).unwrap();
    let policy = policy(root.path(), &format!("[localhost]:{port}"));
    let (code, v, out) = check_json(root.path(), &policy);
    assert_eq!(code, Some(0), "{out}");
    let trust = v["checks"][0]["trust"].as_str().unwrap();
    assert!(
        trust.contains("smtp_tls_CAfile") && trust.ends_with("relay-ca.pem, secure match=localhost"),
        "{trust}"
    );

    // The same relay when main.cf trusts another CA: a certificate
    // diagnosis naming the file, exit 4.
    std::fs::write(
        root.path().join("etc/postfix/relay-ca.pem"),
        TestCa::named("another CA").pem(),
    )
    .unwrap();
    let (code, v, out) = check_json(root.path(), &policy);
    assert_eq!(code, Some(4), "{out}");
    assert_eq!(failure_kind(&v), "certificate-untrusted", "{v:#}");
    let advice = v["checks"][0]["steps"].as_array().unwrap().last().unwrap()["advice"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(advice.contains("relay-ca.pem"), "{advice}");

    // --ca-file still wins over main.cf.
    let ca_file = root.path().join("given.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let out = smarthost(&[
        "--root",
        root.path().to_str().unwrap(),
        "--policy",
        &policy,
        "check",
        "--ca-file",
        ca_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verified: chain to --ca-file"), "{}", text(&out));
}

#[test]
fn check_accepts_a_self_signed_relay_pinned_in_smtp_tls_ca_file() {
    let (cert, pem) = openssl_self_signed("localhost");
    let relays = start(vec![cert]);
    let port = relays[0].port();
    let root = root_with_main_cf("smtp_tls_CAfile = /etc/postfix/pinned.pem\n");
    std::fs::write(root.path().join("etc/postfix/pinned.pem"), &pem).unwrap();
    let policy = policy(root.path(), &format!("[localhost]:{port}"));
    let (code, v, out) = check_json(root.path(), &policy);
    assert_eq!(code, Some(0), "{out}");
    assert!(v["checks"][0]["trust"].as_str().unwrap().starts_with("pinned"), "{v:#}");

    // Not pinned: a diagnosis, not Other(OtherError(CaUsedAsEndEntity)).
    std::fs::write(
        root.path().join("etc/postfix/pinned.pem"),
        TestCa::named("unrelated").pem(),
    )
    .unwrap();
    let (code, v, out) = check_json(root.path(), &policy);
    assert_eq!(code, Some(4), "{out}");
    assert_eq!(failure_kind(&v), "certificate-self-signed", "{v:#}");
    assert!(!out.contains("OtherError"), "{out}");
}

#[test]
fn check_reports_a_name_mismatch_as_postfix_match_would() {
    let ca = TestCa::named("names CA");
    let relays = start(vec![ca.leaf(&["mx.wrong.test"])]);
    let port = relays[0].port();
    let root = root_with_main_cf("smtp_tls_CApath = /etc/postfix/certs\n");
    std::fs::create_dir_all(root.path().join("etc/postfix/certs")).unwrap();
    std::fs::write(root.path().join("etc/postfix/certs/0a1b2c3d.0"), ca.pem()).unwrap();
    let policy = policy(root.path(), &format!("[localhost]:{port}"));
    let (code, v, out) = check_json(root.path(), &policy);
    assert_eq!(code, Some(4), "{out}");
    assert_eq!(failure_kind(&v), "certificate-wrong-name", "{v:#}");
    let step = v["checks"][0]["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(step["failure"]["detail"], serde_json::json!(["mx.wrong.test"]));
    assert!(
        step["advice"].as_str().unwrap().contains("secure match=localhost"),
        "{step:#}"
    );
}

#[test]
#[ignore = "needs Postfix's postconf (run with --include-ignored after apt-get install postfix; .ci/run does)"]
fn check_uses_postconf_of_a_live_instance() {
    test_support::require::tool("postconf", "postfix");
    let ca = TestCa::named("live CA");
    let relays = start(vec![ca.leaf(&["localhost"])]);
    let port = relays[0].port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etc");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("relay-ca.pem"), ca.pem()).unwrap();
    // postconf expands $config_directory to the -c folder.
    std::fs::write(
        config.join("main.cf"),
        "smtp_tls_CAfile = $config_directory/relay-ca.pem\n",
    )
    .unwrap();
    let policy = policy(dir.path(), &format!("[localhost]:{port}"));
    let run = || {
        smarthost(&[
            "--config-dir",
            config.to_str().unwrap(),
            "--policy",
            &policy,
            "check",
            "--timeout",
            "3",
        ])
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("chain to smtp_tls_CAfile {}/relay-ca.pem", config.display())),
        "{}",
        text(&out)
    );

    std::fs::write(config.join("main.cf"), "smtp_tls_CAfile =\n").unwrap();
    let out = run();
    // Nothing set: the system store stands in (what smarthost writes), and
    // it does not hold the private CA.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("the system CA store"), "{}", text(&out));
}

#[test]
fn server_set_check_refuses_a_closed_port_unless_forced() {
    let root = tempfile::tempdir().unwrap();
    let relay = format!("[localhost]:{}", closed_port());
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--root",
            root.path().to_str().unwrap(),
            "server",
            "set",
            "--relay",
            &relay,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| smarthost(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let out = run(args(&["--check", "--timeout", "2"]));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the connection check failed; nothing was changed"),
        "{stderr}"
    );
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing written: {:?}",
        std::fs::read_dir(root.path()).unwrap().collect::<Vec<_>>()
    );

    let out = run(args(&["--check", "--force", "--timeout", "2"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("applying anyway (--force)"));
    let main_cf = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
    assert!(main_cf.contains(&format!("relayhost = {relay}")), "{main_cf}");
}

#[test]
fn server_set_check_uses_the_server_level_certificate_setting_and_main_cf_trust() {
    let (cert, pem) = openssl_self_signed("localhost");
    let relays = start(vec![cert]);
    let relay = format!("[localhost]:{}", relays[0].port());
    let root = tempfile::tempdir().unwrap();
    let set = |root: &Path| {
        smarthost(&[
            "--root",
            root.to_str().unwrap(),
            "server",
            "set",
            "--relay",
            &relay,
            "--check",
            "--timeout",
            "3",
        ])
    };

    // No main.cf yet: the system store, which does not pin this relay.
    let out = set(root.path());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("self-signed and not pinned"), "{}", text(&out));
    assert!(!root.path().join("etc/postfix/main.cf").exists());

    // The server level's check_certificate = false: the check passes.
    std::fs::create_dir_all(root.path().join("etc/smarthost")).unwrap();
    std::fs::write(
        root.path().join("etc/smarthost/settings.toml"),
        "[features.server]\ncheck_certificate = false\n",
    )
    .unwrap();
    let out = set(root.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let main_cf = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
    assert!(main_cf.contains(&format!("relayhost = {relay}")), "{main_cf}");

    // With the check on again, the certificate pinned in main.cf's
    // smtp_tls_CAfile passes.
    let pinned = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(pinned.path().join("etc/postfix")).unwrap();
    std::fs::write(pinned.path().join("etc/postfix/relay.pem"), &pem).unwrap();
    std::fs::write(
        pinned.path().join("etc/postfix/main.cf"),
        "smtp_tls_CAfile = /etc/postfix/relay.pem\n",
    )
    .unwrap();
    let out = set(pinned.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
