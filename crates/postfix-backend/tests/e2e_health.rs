//! Server health from Postfix's own view, against a real Postfix: a private
//! instance configured by this backend sends test messages through local
//! test relays (127.0.0.1 only), one per failure the classifier knows,
//! and `health::follow` must report what the relays did; `health::status`
//! and `health::doctor` then read the same instance.
//!
//! Needs root and Debian's `postfix` + `libsasl2-modules`: ignored by a
//! plain `cargo test`, run by `cargo test -- --include-ignored` (as .ci/run
//! does, as root), where a missing prerequisite fails it.
#![cfg(unix)] // a private Postfix instance

#[path = "support/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postfix_backend::health::classify::Reason;
use postfix_backend::health::doctor::{self, Grade};
use postfix_backend::health::follow::{self, TestMessage, Verdict};
use postfix_backend::health::log::{parse_line, Clock, LogSettings, LogSource};
use postfix_backend::health::queue;
use postfix_backend::health::status::{self, Severity, Thresholds};
use postfix_backend::PostfixWriter;
use smarthost_core::{ConfigWriter, Credentials, Encryption, Policy, RelayHost, Secret, Smarthost, Username};
use test_support::certs::TestCa;
use test_support::postfix::Instance;
use test_support::process::run;
use test_support::smtp::{Banner, Options, Server};

/// Each test message gets this long; the slowest case (a relay that never
/// greets) takes `smtp_helo_timeout`, 3 s here.
const FOLLOW: Duration = Duration::from_secs(20);

/// A relay offering STARTTLS with a certificate from `ca`, one account,
/// behaving as `options` say otherwise.
fn relay(ca: &TestCa, options: Options) -> Server {
    Server::start(Options {
        name: "relay".into(),
        cert: Some(Arc::new(ca.leaf(&["localhost"]))),
        accounts: vec![("user".into(), "pw-user".into())],
        ..options
    })
}

fn smarthost(target: &str, password: Option<&str>) -> Smarthost {
    let s = Smarthost::new(RelayHost::parse(target).unwrap()).with_encryption(Encryption::Starttls);
    match password {
        Some(p) => s.with_credentials(Credentials::new(
            Username::new("user").unwrap(),
            Secret::new(p.to_owned()).unwrap(),
        )),
        None => s,
    }
}

/// One case: the sender domain, its relay, and what follow must say.
struct Case {
    domain: &'static str,
    target: String,
    password: Option<&'static str>,
    verdict: Verdict,
    reason: Option<Reason>,
}

fn refusing(ca: &TestCa, f: impl FnOnce(&mut Options)) -> Server {
    let mut b = Options::default();
    f(&mut b);
    relay(ca, b)
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn test_messages_are_followed_to_each_relays_answer_then_grouped_and_diagnosed() {
    let started = Instant::now();
    let ca = TestCa::new();
    let good = relay(&ca, Options::default());
    let other_ca = TestCa::new();
    let untrusted = Server::start(Options {
        name: "untrusted".into(),
        cert: Some(Arc::new(other_ca.leaf(&["localhost"]))),
        accounts: vec![("user".into(), "pw-user".into())],
        ..Options::default()
    });
    let xoauth = refusing(&ca, |b| b.mechanisms = "XOAUTH2".into());
    let no_tls = refusing(&ca, |b| b.starttls = false);
    let sendgrid = refusing(&ca, |b| {
        b.mail_reply = Some("550 The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.".into())
    });
    let ses = refusing(&ca, |b| {
        b.data_reply = Some("554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: s@ses.example".into())
    });
    let rcpt = refusing(&ca, |b| {
        b.rcpt_reply = Some("550 5.1.1 <r@remote.example>: Recipient address rejected: User unknown".into())
    });
    let silent = refusing(&ca, |b| b.banner = Banner::Silent);
    let stopped = relay(&ca, Options::default());
    let stopped_port = stopped.port();
    drop(stopped);

    let pf = Instance::create(Some(&ca.pem()));
    run(Command::new("postconf").args(pf.config_args()).args([
        "-e",
        "smtp_helo_timeout = 3s",
        "smtp_connect_timeout = 3s",
    ]));
    pf.postfix("start");
    let at = |r: &Server| format!("[localhost]:{}", r.port());
    let cases = [
        Case {
            domain: "ok.example",
            target: at(&good),
            password: Some("pw-user"),
            verdict: Verdict::Delivered,
            reason: None,
        },
        Case {
            domain: "badpw.example",
            target: at(&good),
            password: Some("wrong"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::AuthRejected),
        },
        Case {
            domain: "noauth.example",
            target: at(&good),
            password: None,
            verdict: Verdict::Bounced,
            reason: Some(Reason::AuthRequired),
        },
        Case {
            domain: "cert.example",
            target: at(&untrusted),
            password: Some("pw-user"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::CertificateNotVerified),
        },
        Case {
            domain: "xoauth.example",
            target: at(&xoauth),
            password: Some("pw-user"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::NoSaslMechanism),
        },
        Case {
            domain: "notls.example",
            target: at(&no_tls),
            password: Some("pw-user"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::TlsNotOffered),
        },
        Case {
            domain: "sendgrid.example",
            target: at(&sendgrid),
            password: Some("pw-user"),
            verdict: Verdict::Bounced,
            reason: Some(Reason::SenderRefused),
        },
        Case {
            domain: "ses.example",
            target: at(&ses),
            password: Some("pw-user"),
            verdict: Verdict::Bounced,
            reason: Some(Reason::SenderRefused),
        },
        Case {
            domain: "rcpt.example",
            target: at(&rcpt),
            password: Some("pw-user"),
            verdict: Verdict::Bounced,
            reason: Some(Reason::RecipientRefused),
        },
        Case {
            domain: "silent.example",
            target: at(&silent),
            password: Some("pw-user"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::TimedOut),
        },
        Case {
            domain: "down.example",
            target: format!("[localhost]:{stopped_port}"),
            password: Some("pw-user"),
            verdict: Verdict::Deferred,
            reason: Some(Reason::ConnectionRefused),
        },
        Case {
            domain: "dns.example",
            target: "[relay.nonexistent.invalid]:2525".into(),
            password: Some("pw-user"),
            verdict: Verdict::Bounced,
            reason: Some(Reason::Dns),
        },
    ];
    let mut policy = Policy::default();
    for case in &cases {
        policy
            .domains
            .insert(case.domain.parse().unwrap(), smarthost(&case.target, case.password));
    }
    let writer = PostfixWriter::new(wire::options(&pf));
    writer.converge(&policy).unwrap();

    // Every case at once: each follows its own message by its Message-ID.
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| {
                let options = wire::options(&pf);
                scope.spawn(move || {
                    let message = TestMessage::new(&format!("s@{}", case.domain), "r@remote.example").unwrap();
                    (
                        message.clone(),
                        follow::send_and_follow(&options, &message, FOLLOW).unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let log = pf.log();
    for (case, (message, followed)) in cases.iter().zip(&results) {
        let o = &followed.outcome;
        let context = format!("{}: {o:#?}\n{log}", case.domain);
        assert_eq!((o.verdict, o.reason), (case.verdict, case.reason), "{context}");
        assert!(o.queue_id.is_some(), "{context}");
        assert!(followed.elapsed < FOLLOW, "{context}");
        assert!(
            log.contains(&format!("message-id=<{}>", message.message_id())),
            "{context}"
        );
        assert_eq!(
            followed.log.as_deref(),
            Some(pf.dir.path().join("maillog").to_str().unwrap()),
            "{context}"
        );
    }
    let ok = &results[0].1.outcome;
    assert_eq!(ok.relay.as_ref().and_then(|r| r.port), Some(good.port()), "{ok:?}");
    assert!(ok.tls.as_ref().is_some_and(|t| t.is_verified()), "{ok:?}");
    assert_eq!(ok.text.as_deref(), Some("250 2.0.0 Ok: queued"));
    assert_eq!(ok.dsn.as_deref(), Some("2.0.0"));
    let delivered = good.wait_for(1, Duration::from_secs(5));
    let d = delivered.iter().find(|d| d.mail_from == "s@ok.example").unwrap();
    assert_eq!(d.username.as_deref(), Some("user"));
    assert!(
        d.data.contains(&format!("X-Smarthost-Test: {}", results[0].0.token())),
        "{}",
        d.data
    );
    let cert = &results[3].1.outcome;
    assert!(
        cert.tls
            .as_ref()
            .is_some_and(|t| !t.is_verified() && t.trust == "Untrusted"),
        "{cert:?}"
    );
    let down = &results[10].1.outcome;
    assert_eq!(
        (down.relay.as_ref(), down.dsn.as_deref()),
        (None, Some("4.4.1")),
        "{down:?}"
    );

    // Status: the deferred ones, grouped by relay and by sender domain.
    let options = wire::options(&pf);
    let clock = Clock::system();
    let settings = LogSettings::locate(&options).unwrap();
    assert_eq!(settings.source, LogSource::File(pf.dir.path().join("maillog")));
    let text = settings.read_since(clock.now - 600, &clock).unwrap();
    let lines: Vec<_> = text.iter().filter_map(|l| parse_line(l, &clock)).collect();
    let queue = queue::read(&options).unwrap();
    let health = status::summarize(&policy, &queue, &lines, clock.now, clock.now - 600);
    let relay_of = |target: &str| health.relays.iter().find(|r| r.relay == target).unwrap();
    let shared = relay_of(&at(&good));
    assert_eq!(shared.used_by, ["badpw.example", "noauth.example", "ok.example"]);
    assert_eq!(shared.deferred, 1, "{health:#?}");
    assert_eq!(shared.reasons[0].reason, Reason::AuthRejected);
    assert_eq!(
        (shared.log.sent, shared.log.deferred, shared.log.bounced),
        (1, 1, 1),
        "{health:#?}"
    );
    let refused = relay_of(&format!("[localhost]:{stopped_port}"));
    assert_eq!(
        (refused.deferred, refused.reasons[0].reason),
        (1, Reason::ConnectionRefused)
    );
    assert_eq!(
        refused.log.deferred, 1,
        "relay=none is counted through the sender's route"
    );
    let deferred_domains: BTreeMap<&str, Reason> = health
        .domains
        .iter()
        .map(|d| (d.sender_domain.as_str(), d.reasons[0].reason))
        .collect();
    assert_eq!(
        deferred_domains,
        BTreeMap::from([
            ("badpw.example", Reason::AuthRejected),
            ("cert.example", Reason::CertificateNotVerified),
            ("down.example", Reason::ConnectionRefused),
            ("notls.example", Reason::TlsNotOffered),
            ("silent.example", Reason::TimedOut),
            ("xoauth.example", Reason::NoSaslMechanism),
        ])
    );
    assert_eq!(health.deferred(), 6);
    assert_eq!(health.severity(&Thresholds::default()), Severity::Critical);

    // Doctor: what the relays offer, as the CLI learns it from them.
    let offered: doctor::Offered = BTreeMap::from([
        (at(&xoauth), Ok(vec!["XOAUTH2".to_owned()])),
        (at(&good), Ok(vec!["PLAIN".to_owned(), "LOGIN".to_owned()])),
    ]);
    let findings = doctor::diagnose(&writer, &offered, &Thresholds::default());
    let grade = |check: &str, title: &str| {
        findings
            .iter()
            .find(|f| f.check == check && f.title.contains(title))
            .unwrap_or_else(|| panic!("no {check} {title}: {findings:#?}"))
            .grade
    };
    for check in ["postfix", "instance", "relays", "parameters", "ca", "map_type"] {
        assert_eq!(grade(check, ""), Grade::Pass, "{findings:#?}");
    }
    assert_eq!(grade("tables", "as smarthost wrote"), Grade::Pass, "{findings:#?}");
    assert_eq!(grade("tables", "compiled"), Grade::Pass, "{findings:#?}");
    assert_eq!(grade("sasl", &at(&good)), Grade::Pass, "{findings:#?}");
    assert_eq!(grade("sasl", &at(&xoauth)), Grade::Fail, "{findings:#?}");
    assert_eq!(
        grade("sasl", &at(&no_tls)),
        Grade::Pass,
        "not asked: PLAIN and LOGIN are installed"
    );
    assert_eq!(grade("queue", ""), Grade::Fail, "{findings:#?}");

    // Drift by hand, a stale compiled table, a stopped instance.
    run(Command::new("postsuper").args(pf.config_args()).args(["-d", "ALL"]));
    run(Command::new("postconf")
        .args(pf.config_args())
        .args(["-e", "smtp_sasl_auth_enable = no"]));
    std::fs::remove_file(pf.map_dir().join("sender_relay.db")).unwrap();
    pf.postfix("stop");
    let findings = doctor::diagnose(&writer, &BTreeMap::new(), &Thresholds::default());
    let find = |check: &str, title: &str| {
        findings
            .iter()
            .find(|f| f.check == check && f.title.contains(title))
            .unwrap_or_else(|| panic!("no {check}: {findings:#?}"))
            .clone()
    };
    assert_eq!(find("instance", "").grade, Grade::Fail);
    let params = find("parameters", "");
    assert_eq!(params.grade, Grade::Fail);
    assert!(
        params
            .detail
            .contains("smtp_sasl_auth_enable is `no`, smarthost writes `yes`"),
        "{params:?}"
    );
    let compiled = find("tables", "compiled");
    assert_eq!(compiled.grade, Grade::Fail);
    assert!(compiled.detail.contains("sender_relay.db is missing"), "{compiled:?}");
    assert_eq!(find("queue", "").grade, Grade::Pass, "the queue was emptied");
    eprintln!("e2e_health: {:.1} s", started.elapsed().as_secs_f64());
}
