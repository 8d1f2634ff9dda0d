//! Routing beyond server and domain relays (issue 17), on the wire: a real
//! Postfix configured by this backend, local relays and a local "MX" on
//! 127.0.0.2:25 (127.0.0.0/8 only). Direct exceptions, backup relays,
//! mailboxes, recipient routes, bounces, and the forwarding warning.
//!
//! Needs root and Debian's `postfix` + `libsasl2-modules`: each test is
//! ignored by a plain `cargo test` and run by `--include-ignored`.
#![cfg(unix)] // a private Postfix instance

#[path = "support/matrix.rs"]
mod matrix;
#[path = "support/wire.rs"]
mod wire;

use std::sync::{Arc, Mutex, MutexGuard};

use postfix_backend::PostfixWriter;
use smarthost_core::{Bounces, ConfigWriter, Encryption, Mailbox, Policy, RelayHost, Smarthost};
use test_support::builders::domain;
use test_support::certs::TestCa;
use test_support::postfix::{Instance, WAIT};
use test_support::smtp::{Delivery, Options, Server};
use wire::{delivery, relay_at, smarthost};

/// The recipient's MX host for direct delivery: `user@[127.0.0.2]`.
const MX_ADDRESS: &str = "127.0.0.2:25";
const MX_RCPT: &str = "user@[127.0.0.2]";

/// One test at a time may play the MX on 127.0.0.2:25.
static MX: Mutex<()> = Mutex::new(());

fn mx() -> (MutexGuard<'static, ()>, Server) {
    let guard = MX.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start_at(
        MX_ADDRESS,
        Options {
            name: "mx".into(),
            ..Options::default()
        },
    );
    (guard, server)
}

fn writer(pf: &Instance) -> PostfixWriter {
    PostfixWriter::new(wire::options(pf))
}

/// Applies `policy`, then asserts that planning it again plans nothing
/// and that it reads back as itself.
fn apply(pf: &Instance, policy: &Policy) {
    let w = writer(pf);
    let (plan, applied) = w.converge(policy).unwrap();
    assert!(applied.changed, "{}", plan.render());
    let again = w.plan(policy).unwrap();
    assert!(again.is_empty(), "second plan not empty:\n{}", again.render());
    matrix::assert_rules_read_back(&w.read().unwrap(), policy, "live");
}

/// A relay without TLS that requires AUTH for `users` (in the clear).
fn plain_relay(name: &str, users: &[&str]) -> Server {
    Server::start(Options {
        name: name.to_owned(),
        accounts: users.iter().map(|u| (u.to_string(), format!("pw-{u}"))).collect(),
        ..Options::default()
    })
}

/// A relay offering STARTTLS with a certificate for `localhost` from `ca`.
fn tls_relay(ca: &TestCa, name: &str, users: &[&str]) -> Server {
    Server::start(Options {
        name: name.to_owned(),
        cert: Some(Arc::new(ca.leaf(&["localhost"]))),
        accounts: users.iter().map(|u| (u.to_string(), format!("pw-{u}"))).collect(),
        ..Options::default()
    })
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_direct_exception_reaches_the_mx_and_never_the_relay() {
    let (_guard, mx) = mx();
    let relay = plain_relay("server", &["server-user"]);
    let pf = Instance::start(None);
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&relay, Encryption::None, Some("server-user")))
        .unwrap();
    policy.set_direct(domain("direct.example")).unwrap();
    apply(&pf, &policy);
    let main = std::fs::read_to_string(pf.config_dir().join("main.cf")).unwrap();
    assert!(
        main.contains(&format!("default_transport = smtp:[localhost]:{}", relay.port())),
        "{main}"
    );

    pf.send("dora@direct.example", MX_RCPT);
    pf.send("otto@other.example", MX_RCPT);
    let d = delivery(&relay.wait_for(1, WAIT), "otto@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    let at_mx = mx.wait_for(1, WAIT);
    let d = delivery(&at_mx, "dora@direct.example");
    assert!(d.username.is_none(), "{d:?}");
    assert!(at_mx.iter().all(|d| d.mail_from != "otto@other.example"), "{at_mx:?}");
    assert!(
        relay.deliveries().iter().all(|d| d.mail_from != "dora@direct.example"),
        "the direct exception went through the relay: {:?}",
        relay.deliveries()
    );

    // Without the exception the server is back in relayhost mode.
    policy.direct.clear();
    apply(&pf, &policy);
    let main = std::fs::read_to_string(pf.config_dir().join("main.cf")).unwrap();
    assert!(
        main.contains(&format!("relayhost = [localhost]:{}", relay.port())),
        "{main}"
    );
    assert!(!main.contains("default_transport"), "{main}");
    pf.send("dora@direct.example", MX_RCPT);
    let all = relay.wait_for(2, WAIT);
    assert!(all.iter().any(|d| d.mail_from == "dora@direct.example"), "{all:?}");
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn the_backup_relay_takes_the_mail_when_the_primary_cannot_be_reached() {
    let primary_port = closed_port();
    let backup = plain_relay("backup", &["server-user"]);
    // A domain's own relay list (sender_dependent_relayhost_maps) as well.
    let domain_primary_port = closed_port();
    let domain_backup = plain_relay("domain-backup", &["b-user"]);
    let pf = Instance::start(None);
    let mut policy = Policy::default();
    let hop = |port: u16| RelayHost::parse(&format!("[localhost]:{port}")).unwrap();
    let server = relay_at(primary_port, Encryption::None, Some("server-user"))
        .with_backups(vec![hop(backup.port())])
        .unwrap();
    policy.set_server(server).unwrap();
    let domain_relay = relay_at(domain_primary_port, Encryption::None, Some("b-user"))
        .with_backups(vec![hop(domain_backup.port())])
        .unwrap();
    policy.set_domain(domain("b.example"), domain_relay).unwrap();
    apply(&pf, &policy);

    pf.send("otto@other.example", "rcpt@remote.example");
    pf.send("bea@b.example", "rcpt@remote.example");
    let d = delivery(&backup.wait_for(1, WAIT), "otto@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    pf.wait_for_log(&[
        &format!("connect to localhost[127.0.0.1]:{primary_port}"),
        "Connection refused",
    ]);
    let d = delivery(&domain_backup.wait_for(1, WAIT), "bea@b.example").clone();
    assert_eq!(d.username.as_deref(), Some("b-user"), "{d:?}");
    pf.wait_for_log(&[
        &format!("connect to localhost[127.0.0.1]:{domain_primary_port}"),
        "Connection refused",
    ]);
    assert_eq!(backup.deliveries().len(), 1, "{:?}", backup.deliveries());

    // Both up: the primary takes it.
    let primary = Server::start_at(
        &format!("127.0.0.1:{primary_port}"),
        Options {
            name: "primary".into(),
            accounts: vec![("server-user".into(), "pw-server-user".into())],
            ..Options::default()
        },
    );
    pf.send("paula@other.example", "rcpt@remote.example");
    let d = delivery(&primary.wait_for(1, WAIT), "paula@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    assert!(
        backup.deliveries().iter().all(|d| d.mail_from != "paula@other.example"),
        "{:?}",
        backup.deliveries()
    );
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn two_mailboxes_of_one_domain_use_their_own_relays_and_accounts() {
    let alice_relay = plain_relay("alice", &["alice-user"]);
    let bob_relay = plain_relay("bob", &["bob-user"]);
    let domain_relay = plain_relay("domain", &["m-user"]);
    let pf = Instance::start(None);
    let mut policy = Policy::default();
    policy
        .set_domain(
            domain("m.example"),
            smarthost(&domain_relay, Encryption::None, Some("m-user")),
        )
        .unwrap();
    for (who, relay) in [("alice", &alice_relay), ("bob", &bob_relay)] {
        let mailbox: Mailbox = format!("{who}@m.example").parse().unwrap();
        let user = format!("{who}-user");
        policy
            .set_mailbox(mailbox, smarthost(relay, Encryption::None, Some(&user)))
            .unwrap();
    }
    apply(&pf, &policy);

    pf.send("alice@m.example", "rcpt@remote.example");
    pf.send("bob@m.example", "rcpt@remote.example");
    pf.send("carol@m.example", "rcpt@remote.example");
    let d = delivery(&alice_relay.wait_for(1, WAIT), "alice@m.example").clone();
    assert_eq!(d.username.as_deref(), Some("alice-user"), "{d:?}");
    let d = delivery(&bob_relay.wait_for(1, WAIT), "bob@m.example").clone();
    assert_eq!(d.username.as_deref(), Some("bob-user"), "{d:?}");
    let d = delivery(&domain_relay.wait_for(1, WAIT), "carol@m.example").clone();
    assert_eq!(d.username.as_deref(), Some("m-user"), "{d:?}");
    assert_eq!(alice_relay.deliveries().len(), 1, "{:?}", alice_relay.deliveries());
    assert_eq!(bob_relay.deliveries().len(), 1, "{:?}", bob_relay.deliveries());
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_recipient_route_uses_its_relay_its_account_and_its_tls_policy() {
    let ca = TestCa::new();
    // The server relay is plain; s.example logs in there with its own
    // account. The route's relay has TLS with a certificate that is checked.
    let server_relay = plain_relay("server", &["server-user", "s-user"]);
    let route_relay = tls_relay(&ca, "route", &["route-user"]);
    let pf = Instance::start(Some(&ca.pem()));
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&server_relay, Encryption::None, Some("server-user")))
        .unwrap();
    policy
        .set_domain(
            domain("s.example"),
            smarthost(&server_relay, Encryption::None, Some("s-user")),
        )
        .unwrap();
    policy
        .set_recipient(
            domain("partner.example"),
            Some(smarthost(&route_relay, Encryption::Starttls, Some("route-user"))),
        )
        .unwrap();
    policy.set_recipient(domain("direct-partner.example"), None).unwrap();
    apply(&pf, &policy);
    let tls_policy = std::fs::read_to_string(pf.map_dir().join("tls_policy")).unwrap();
    assert!(
        tls_policy.contains(&format!("[localhost]:{} secure match=localhost", route_relay.port())),
        "{tls_policy}"
    );

    pf.send("alice@s.example", "someone@partner.example");
    pf.send("alice@s.example", "rcpt@remote.example");
    pf.send("alice@s.example", "someone@direct-partner.example");
    let d = delivery(&route_relay.wait_for(1, WAIT), "alice@s.example").clone();
    assert_eq!(d.rcpt_to, ["someone@partner.example"], "{d:?}");
    assert!(d.tls, "the route's relay was reached without TLS: {d:?}");
    assert_eq!(d.username.as_deref(), Some("route-user"), "{d:?}");
    pf.wait_for_log(&[
        "Verified TLS connection established",
        &format!("localhost[127.0.0.1]:{}", route_relay.port()),
    ]);
    let d = delivery(&server_relay.wait_for(1, WAIT), "alice@s.example").clone();
    assert_eq!(d.rcpt_to, ["rcpt@remote.example"], "{d:?}");
    assert!(!d.tls && d.username.as_deref() == Some("s-user"), "{d:?}");
    // The direct recipient route: delivered to the recipient domain itself
    // (which does not resolve here), not to any relay.
    pf.wait_for_log(&[
        "to=<someone@direct-partner.example>",
        "relay=none",
        "direct-partner.example",
    ]);
    let everything: Vec<Delivery> = server_relay
        .deliveries()
        .into_iter()
        .chain(route_relay.deliveries())
        .collect();
    assert!(
        everything
            .iter()
            .all(|d| !d.rcpt_to.iter().any(|r| r.ends_with("@direct-partner.example"))),
        "{everything:?}"
    );
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_bounce_takes_the_path_chosen_for_bounces() {
    let (_guard, mx) = mx();
    let server_relay = plain_relay("server", &["server-user"]);
    let bounce_relay = plain_relay("bounces", &["bounce-user"]);
    let pf = Instance::start(None);
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&server_relay, Encryption::None, Some("server-user")))
        .unwrap();
    policy.bounces = Bounces::Relay(smarthost(&bounce_relay, Encryption::None, Some("bounce-user")));
    apply(&pf, &policy);

    pf.send("<>", "rcpt@remote.example");
    pf.send("otto@other.example", "rcpt@remote.example");
    let d = delivery(&bounce_relay.wait_for(1, WAIT), "").clone();
    assert_eq!(d.username.as_deref(), Some("bounce-user"), "{d:?}");
    let d = delivery(&server_relay.wait_for(1, WAIT), "otto@other.example").clone();
    assert_eq!(d.username.as_deref(), Some("server-user"), "{d:?}");
    assert!(server_relay.deliveries().iter().all(|d| !d.mail_from.is_empty()));

    // bounces = direct: the null sender goes to the recipient's MX.
    policy.bounces = Bounces::Direct;
    apply(&pf, &policy);
    pf.send("<>", MX_RCPT);
    pf.send("paula@other.example", MX_RCPT);
    let d = delivery(&mx.wait_for(1, WAIT), "").clone();
    assert!(d.username.is_none(), "{d:?}");
    delivery(&server_relay.wait_for(2, WAIT), "paula@other.example");
    assert!(
        server_relay.deliveries().iter().all(|d| !d.mail_from.is_empty()),
        "{:?}",
        server_relay.deliveries()
    );
    assert!(
        mx.deliveries().iter().all(|d| d.mail_from.is_empty()),
        "{:?}",
        mx.deliveries()
    );
    assert_eq!(bounce_relay.deliveries().len(), 1);
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn forwarding_out_through_a_relay_that_needs_verified_senders_is_warned_until_srs() {
    let pf = Instance::create(None);
    let d = pf.dir.path();
    std::fs::write(
        d.join("virtual"),
        "hosted.example anything\ninfo@hosted.example someone@gmail.example, local@hosted.example\n",
    )
    .unwrap();
    let main_cf = pf.config_dir().join("main.cf");
    let mut main = std::fs::read_to_string(&main_cf).unwrap();
    main.push_str(&format!("virtual_alias_maps = texthash:{}/virtual\n", d.display()));
    std::fs::write(&main_cf, &main).unwrap();
    let mut policy = Policy::default();
    let ses = Smarthost::new(RelayHost::parse("[email-smtp.us-east-1.amazonaws.com]:587").unwrap())
        .with_encryption(Encryption::Starttls);
    policy.set_server(ses).unwrap();

    let plan = writer(&pf).plan(&policy).unwrap();
    let forwarded: Vec<&String> = plan
        .warnings
        .iter()
        .filter(|w| w.contains("mail forwarded to"))
        .collect();
    assert_eq!(forwarded.len(), 1, "{:#?}", plan.warnings);
    assert!(
        forwarded[0].contains("someone@gmail.example") && forwarded[0].contains("Amazon"),
        "{}",
        forwarded[0]
    );

    main.push_str("sender_canonical_maps = tcp:127.0.0.1:10001\n");
    std::fs::write(&main_cf, &main).unwrap();
    let plan = writer(&pf).plan(&policy).unwrap();
    assert!(
        plan.warnings.iter().all(|w| !w.contains("mail forwarded to")),
        "{:#?}",
        plan.warnings
    );
}
