//! A real Postfix, configured by this backend, relays mail to local test
//! smarthosts (127.0.0.1 only) over STARTTLS and implicit TLS with AUTH.
//!
//! Needs root and Debian's `postfix` + `libsasl2-modules` (`.ci/run`
//! installs them): each test is ignored by a plain `cargo test`, and run by
//! `cargo test -- --include-ignored`, where a missing prerequisite fails it.
#![cfg(unix)] // a private Postfix instance

#[path = "support/matrix.rs"]
mod matrix;

#[path = "support/wire.rs"]
mod wire;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postfix_backend::PostfixWriter;
use smarthost_core::{ConfigWriter, Encryption, Policy};
use test_support::builders::domain;
use test_support::certs::TestCa;
use test_support::postfix::{Instance, WAIT};
use test_support::process::run;
use test_support::smtp::{Options, Server};
use wire::{delivery, smarthost};

/// What these tests do with an instance beyond the shared harness.
trait Configure {
    fn writer(&self) -> PostfixWriter;
    fn apply(&self, policy: &Policy);
    fn flush(&self);
}

impl Configure for Instance {
    fn writer(&self) -> PostfixWriter {
        PostfixWriter::new(wire::options(self))
    }

    /// Applies `policy`; `postfix check` runs whenever main.cf or master.cf
    /// changed (a change of tables alone needs none).
    fn apply(&self, policy: &Policy) {
        let (plan, applied) = self.writer().converge(policy).unwrap();
        assert!(applied.changed, "{}", plan.render());
        let cf_changed = plan
            .files()
            .any(|f| f.path().ends_with("main.cf") || f.path().ends_with("master.cf"));
        assert_eq!(
            applied.ran.iter().any(|c| c.ends_with(" check")),
            cf_changed,
            "{:?}",
            applied.ran
        );
    }

    fn flush(&self) {
        self.postfix("flush");
    }
}

/// How a relay speaks TLS.
#[derive(Clone, Copy)]
enum Mode {
    /// Plain SMTP offering STARTTLS (port 587 style).
    Starttls,
    /// TLS from the first byte (port 465 style).
    ImplicitTls,
}

fn start_relay(ca: &TestCa, name: &str, mode: Mode, cert_name: &str, users: &[&str]) -> Server {
    Server::start(Options {
        name: name.to_owned(),
        cert: Some(Arc::new(ca.leaf(&[cert_name]))),
        implicit_tls: matches!(mode, Mode::ImplicitTls),
        accounts: users.iter().map(|u| (u.to_string(), format!("pw-{u}"))).collect(),
        ..Options::default()
    })
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_server_starttls_with_a_domain_on_implicit_tls() {
    let ca = TestCa::new();
    let starttls = start_relay(&ca, "starttls", Mode::Starttls, "localhost", &["server-user"]);
    let wrapped = start_relay(&ca, "implicit", Mode::ImplicitTls, "localhost", &["c-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&starttls, Encryption::Starttls, Some("server-user")))
        .unwrap();
    policy.domains.insert(
        domain("c.example"),
        smarthost(&wrapped, Encryption::ImplicitTls, Some("c-user")),
    );
    pf.apply(&policy);

    pf.send("alice@c.example", "rcpt@remote.example");
    pf.send("bob@other.example", "rcpt@remote.example");
    let c = wrapped.wait_for(1, WAIT);
    let d = delivery(&c, "alice@c.example");
    assert!(d.tls && d.username.as_deref() == Some("c-user"), "{d:?}");
    let s = starttls.wait_for(1, WAIT);
    let d = delivery(&s, "bob@other.example");
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
    assert!(c.iter().all(|d| d.mail_from != "bob@other.example"));
    pf.wait_for_log(&[
        "Verified TLS connection established",
        &format!("localhost[127.0.0.1]:{}", wrapped.port()),
    ]);
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn b_server_on_implicit_tls_with_a_domain_on_starttls() {
    let ca = TestCa::new();
    let wrapped = start_relay(&ca, "implicit", Mode::ImplicitTls, "localhost", &["server-user"]);
    let starttls = start_relay(&ca, "starttls", Mode::Starttls, "localhost", &["a-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&wrapped, Encryption::ImplicitTls, Some("server-user")))
        .unwrap();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&starttls, Encryption::Starttls, Some("a-user")),
    );
    pf.apply(&policy);

    pf.send("alice@a.example", "rcpt@remote.example");
    pf.send("bob@other.example", "rcpt@remote.example");
    let d = delivery(&starttls.wait_for(1, WAIT), "alice@a.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("a-user"), "{d:?}");
    let d = delivery(&wrapped.wait_for(1, WAIT), "bob@other.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn c_two_domains_share_a_relay_with_their_own_accounts() {
    let ca = TestCa::new();
    let relay = start_relay(&ca, "shared", Mode::Starttls, "localhost", &["a-user", "b-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&relay, Encryption::Starttls, Some("a-user")),
    );
    policy.domains.insert(
        domain("b.example"),
        smarthost(&relay, Encryption::Starttls, Some("b-user")),
    );
    pf.apply(&policy);

    pf.send("alice@a.example", "rcpt@remote.example");
    pf.send("bob@b.example", "rcpt@remote.example");
    let all = relay.wait_for(2, WAIT);
    assert_eq!(
        delivery(&all, "alice@a.example").username.as_deref(),
        Some("a-user"),
        "{all:?}"
    );
    assert_eq!(
        delivery(&all, "bob@b.example").username.as_deref(),
        Some("b-user"),
        "{all:?}"
    );
    assert!(all.iter().all(|d| d.tls));
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn d_domain_only_leaves_other_senders_off_the_relay() {
    let ca = TestCa::new();
    let relay = start_relay(&ca, "domain", Mode::Starttls, "localhost", &["a-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&relay, Encryption::Starttls, Some("a-user")),
    );
    pf.apply(&policy);

    pf.send("bob@other.example", "rcpt@remote.example");
    pf.send("alice@a.example", "rcpt@remote.example");
    relay.wait_for(1, WAIT);
    // bob's mail went to direct delivery, which cannot resolve
    // remote.example here (no DNS): no relay was used for it.
    pf.wait_for_log(&[
        "to=<rcpt@remote.example>",
        "relay=none",
        "unable to look up host remote.example",
    ]);
    let all = relay.deliveries();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].mail_from, "alice@a.example");
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn e_a_certificate_for_another_host_is_refused_unless_the_check_is_off() {
    let ca = TestCa::new();
    let relay = start_relay(&ca, "wrong-name", Mode::Starttls, "wrong.test", &["server-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&relay, Encryption::Starttls, Some("server-user")))
        .unwrap();
    pf.apply(&policy);

    pf.send("bob@other.example", "rcpt@remote.example");
    pf.wait_for_log(&["status=deferred", "Server certificate not verified"]);
    assert!(relay.deliveries().is_empty());

    policy.features.server.check_certificate = false;
    pf.apply(&policy);
    pf.flush();
    let d = delivery(&relay.wait_for(1, WAIT), "bob@other.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn postfix_check_accepts_every_matrix_configuration() {
    let ca = TestCa::new();
    let pf = Instance::start(Some(&ca.pem()));
    for (name, policy) in matrix::cases().into_iter().chain(matrix::routing_cases()) {
        let writer = pf.writer();
        let (plan, applied) = writer.converge(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cf_changed = plan
            .files()
            .any(|f| f.path().ends_with("main.cf") || f.path().ends_with("master.cf"));
        assert_eq!(
            applied.ran.iter().any(|c| c.ends_with(" check")),
            cf_changed,
            "{name}: {:?}",
            applied.ran
        );
        assert!(writer.plan(&policy).unwrap().is_empty(), "{name}: {}", plan.render());
        let postconf = run(Command::new("postconf").args(pf.config_args()).arg("-n"));
        assert!(!postconf.contains("warning"), "{name}: {postconf}");
    }
}

/// Appends the administrator's own settings to the instance's main.cf and
/// writes their tables; returns main.cf as it then is.
fn admin_settings(pf: &Instance, lines: &str, tables: &[(&str, String)]) -> String {
    let d = pf.dir.path();
    for (name, text) in tables {
        std::fs::write(d.join(name), text).unwrap();
    }
    let path = pf.config_dir().join("main.cf");
    let mut main = std::fs::read_to_string(&path).unwrap();
    main.push_str(&lines.replace("{d}", &d.display().to_string()));
    std::fs::write(&path, &main).unwrap();
    main
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn f_an_admins_secure_partner_policy_survives_server_set_and_disable() {
    let ca = TestCa::new();
    let relay = start_relay(&ca, "server", Mode::Starttls, "localhost", &["server-user"]);
    // The partner's certificate names another host: the admin's `secure
    // match=partner.test` must keep refusing it.
    let partner = start_relay(&ca, "partner", Mode::Starttls, "wrong.test", &[]);
    let pf = Instance::start(Some(&ca.pem()));
    let nexthop = format!("[localhost]:{}", partner.port());
    let base = admin_settings(
        &pf,
        "transport_maps = texthash:{d}/transport\nsmtp_tls_policy_maps = texthash:{d}/partner_tls\n",
        &[
            ("transport", format!("partner.example smtp:{nexthop}\n")),
            ("partner_tls", format!("{nexthop} secure match=partner.test\n")),
        ],
    );
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&relay, Encryption::Starttls, Some("server-user")))
        .unwrap();
    pf.apply(&policy);

    pf.send("bob@other.example", "rcpt@remote.example");
    pf.send("bob@other.example", "someone@partner.example");
    let d = delivery(&relay.wait_for(1, WAIT), "bob@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    pf.wait_for_log(&[
        "to=<someone@partner.example>",
        "status=deferred",
        "Server certificate not verified",
    ]);
    assert!(partner.deliveries().is_empty(), "{:?}", partner.deliveries());

    // Disabled: main.cf is the administrator's again, byte for byte, and
    // the partner is still refused.
    let (_, applied) = pf.writer().converge(&Policy::default()).unwrap();
    assert!(applied.changed);
    assert_eq!(std::fs::read_to_string(pf.config_dir().join("main.cf")).unwrap(), base);
    pf.flush();
    let start = Instant::now();
    while pf.log().matches("Server certificate not verified").count() < 2 {
        assert!(start.elapsed() < WAIT, "the partner was not tried again:\n{}", pf.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(partner.deliveries().is_empty(), "{:?}", partner.deliveries());
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn g_a_domain_without_credentials_on_the_server_relay_sends_no_auth() {
    let ca = TestCa::new();
    // The relay requires AUTH: mail sent without it is refused (530), mail
    // sent with the server's account is accepted and recorded with it.
    let relay = start_relay(&ca, "server", Mode::Starttls, "localhost", &["server-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&relay, Encryption::Starttls, Some("server-user")))
        .unwrap();
    policy
        .domains
        .insert(domain("n.example"), smarthost(&relay, Encryption::Starttls, None));
    pf.apply(&policy);
    let listed = pf.writer().read().unwrap();
    assert!(listed.domains[&domain("n.example")].credentials.is_none());

    pf.send("nora@n.example", "rcpt@remote.example");
    pf.send("bob@other.example", "rcpt@remote.example");
    let d = delivery(&relay.wait_for(1, WAIT), "bob@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    // Sent without AUTH: the relay refuses it (a 5xx, so Postfix bounces it).
    pf.wait_for_log(&[
        "to=<rcpt@remote.example>",
        "status=bounced",
        "530 5.7.0 Authentication required",
    ]);
    let all = relay.deliveries();
    assert!(
        all.iter().all(|d| d.mail_from != "nora@n.example"),
        "n.example's mail went out with an account that is not its own: {all:?}"
    );
}
