//! The connection check against local test servers (127.0.0.1 only): each
//! case asserts the step that fails, its failure, and the advice.

use std::sync::Arc;
use std::time::Duration;

use smarthost_core::check::{check, CheckOptions, CheckReport, Failure, StepName};
use smarthost_core::{Credentials, Encryption, RelayHost, Secret, Smarthost, Username};
use test_support::certs::{self_signed_leaf, TestCa};
use test_support::smtp::{Banner, Options, Server};

const SECRET: &str = "check-Secret-9f8e7d";

fn smarthost(port: u16, encryption: Encryption, user: Option<&str>) -> Smarthost {
    let s = Smarthost::new(RelayHost::parse(&format!("[localhost]:{port}")).unwrap()).with_encryption(encryption);
    match user {
        Some(u) => s.with_credentials(Credentials::new(
            Username::new(u).unwrap(),
            Secret::new(SECRET.to_owned()).unwrap(),
        )),
        None => s,
    }
}

fn options(certs: &TestCa) -> CheckOptions {
    CheckOptions {
        step_timeout: Duration::from_millis(1500),
        roots: Some(vec![certs.der()]),
        ..CheckOptions::default()
    }
}

fn account() -> Vec<(String, String)> {
    vec![("user".to_owned(), SECRET.to_owned())]
}

/// The failed step, its failure and its advice.
fn failed(report: &CheckReport) -> (StepName, Failure, String) {
    assert!(!report.ok, "{report:#?}");
    let step = report.failed_step().expect("a failed step");
    (step.name, step.failure.clone().unwrap(), step.advice.clone().unwrap())
}

fn assert_no_secret(report: &CheckReport) {
    let json = serde_json::to_string(report).unwrap();
    assert!(
        !json.contains(SECRET) && !format!("{report:?}").contains(SECRET),
        "secret leaked: {json}"
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("\0user\0{SECRET}"));
    assert!(!json.contains(&encoded), "encoded secret leaked");
}

#[tokio::test]
async fn all_good_over_starttls() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        cert: Some(Arc::new(certs.good())),
        accounts: account(),
        ..Options::default()
    });
    let report = check(
        &smarthost(server.port(), Encryption::Starttls, Some("user")),
        &options(&certs),
    )
    .await;
    assert!(report.ok, "{report:#?}");
    let names: Vec<StepName> = report.steps.iter().map(|s| s.name).collect();
    use StepName::*;
    assert_eq!(names, [Resolve, Connect, Banner, Ehlo, Starttls, EhloTls, Auth, Quit]);
    let tls = report.tls.as_ref().unwrap();
    assert!(
        tls.version.contains("TLS") && tls.names == ["localhost"] && tls.days_left > 300,
        "{tls:?}"
    );
    assert_eq!(report.auth_mechanisms, ["PLAIN", "LOGIN"]);
    assert!(report.steps[6].detail.contains("accepted: AUTH PLAIN as user"));
    assert_no_secret(&report);
}

#[tokio::test]
async fn all_good_over_implicit_tls() {
    let certs = TestCa::new();
    let b = Options {
        implicit_tls: true,
        cert: Some(Arc::new(certs.good())),
        accounts: account(),
        ..Options::default()
    };
    let server = Server::start(b);
    let report = check(
        &smarthost(server.port(), Encryption::ImplicitTls, Some("user")),
        &options(&certs),
    )
    .await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.steps[2].name, StepName::Tls);
    assert_no_secret(&report);
}

#[tokio::test]
async fn starttls_not_offered() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        starttls: false,
        ..Options::default()
    });
    let (step, failure, advice) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!((step, failure), (StepName::Starttls, Failure::NoStarttls));
    assert!(advice.contains("server does not offer STARTTLS"), "{advice}");
}

#[tokio::test]
async fn implicit_tls_chosen_but_the_server_speaks_plain_smtp() {
    let certs = TestCa::new();
    let server = Server::start(Options::default());
    let (step, failure, advice) = failed(
        &check(
            &smarthost(server.port(), Encryption::ImplicitTls, None),
            &options(&certs),
        )
        .await,
    );
    assert_eq!((step, failure), (StepName::Tls, Failure::PlainOnTlsPort));
    assert!(
        advice.contains("speaks plain SMTP, not TLS: choose STARTTLS"),
        "{advice}"
    );
}

#[tokio::test]
async fn starttls_chosen_on_an_implicit_tls_port() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        implicit_tls: true,
        cert: Some(Arc::new(certs.good())),
        ..Options::default()
    });
    let (step, failure, advice) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!((step, failure), (StepName::Banner, Failure::NoBanner));
    assert!(advice.contains("expect TLS immediately (implicit TLS"), "{advice}");
}

#[tokio::test]
async fn an_expired_certificate() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        cert: Some(Arc::new(certs.expired())),
        ..Options::default()
    });
    let (step, failure, advice) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!(step, StepName::Starttls);
    assert_eq!(failure, Failure::CertificateExpired("2021-01-01 00:00:00 UTC".into()));
    assert!(advice.starts_with("certificate expired on 2021-01-01"), "{advice}");
}

#[tokio::test]
async fn a_self_signed_certificate_fails_unless_the_check_is_off() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        cert: Some(Arc::new(self_signed_leaf(&["localhost"]))),
        ..Options::default()
    });
    let relay = smarthost(server.port(), Encryption::Starttls, None);
    let (step, failure, advice) = failed(&check(&relay, &options(&certs)).await);
    assert_eq!((step, failure), (StepName::Starttls, Failure::CertificateSelfSigned));
    assert!(advice.contains("self-signed and not pinned"), "{advice}");

    let unchecked = CheckOptions {
        check_certificate: false,
        ..options(&certs)
    };
    let report = check(&relay, &unchecked).await;
    assert!(report.ok, "{report:#?}");
    assert!(report
        .steps
        .iter()
        .any(|s| s.detail.contains("certificate NOT checked")));
}

#[tokio::test]
async fn a_certificate_for_another_host() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        cert: Some(Arc::new(certs.wrong_name())),
        ..Options::default()
    });
    let (step, failure, advice) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!(
        (step, failure),
        (
            StepName::Starttls,
            Failure::CertificateWrongName(vec!["mx.wrong.test".into()])
        )
    );
    assert!(
        advice.starts_with("certificate is for mx.wrong.test, not localhost"),
        "{advice}"
    );
}

#[tokio::test]
async fn authentication_rejected() {
    let certs = TestCa::new();
    let accounts = vec![("user".to_owned(), "another-password".to_owned())];
    let server = Server::start(Options {
        cert: Some(Arc::new(certs.good())),
        accounts,
        ..Options::default()
    });
    let report = check(
        &smarthost(server.port(), Encryption::Starttls, Some("user")),
        &options(&certs),
    )
    .await;
    let (step, failure, advice) = failed(&report);
    assert_eq!(step, StepName::Auth);
    assert!(matches!(failure, Failure::AuthRejected(535, _)), "{failure:?}");
    assert!(advice.starts_with("authentication rejected (535"), "{advice}");
    assert_no_secret(&report);
}

#[tokio::test]
async fn authentication_not_offered() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        cert: Some(Arc::new(certs.good())),
        ..Options::default()
    });
    let (step, failure, _) = failed(
        &check(
            &smarthost(server.port(), Encryption::Starttls, Some("user")),
            &options(&certs),
        )
        .await,
    );
    assert_eq!((step, failure), (StepName::Auth, Failure::AuthNotOffered));
}

#[tokio::test]
async fn no_banner_times_out() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        banner: Banner::Silent,
        ..Options::default()
    });
    let start = std::time::Instant::now();
    let (step, failure, _) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!((step, failure), (StepName::Banner, Failure::NoBanner));
    assert!(start.elapsed() < Duration::from_secs(4), "bounded by the step timeout");
}

#[tokio::test]
async fn an_oversized_line_an_endless_banner_and_tls_garbage() {
    let certs = TestCa::new();
    for (banner, expected) in [
        (Banner::Huge, Failure::LineTooLong),
        (Banner::Endless, Failure::ReplyTooLong),
    ] {
        let server = Server::start(Options {
            banner,
            ..Options::default()
        });
        let (step, failure, _) =
            failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
        assert_eq!((step, failure), (StepName::Banner, expected));
    }
    let server = Server::start(Options {
        banner: Banner::TlsGarbage,
        ..Options::default()
    });
    let (step, failure, _) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert!(
        step == StepName::Banner && matches!(failure, Failure::NotSmtp(_)),
        "{step:?} {failure:?}"
    );
    // TLS garbage where TLS is expected: a handshake error, not a hang.
    let server = Server::start(Options {
        banner: Banner::TlsGarbage,
        ..Options::default()
    });
    let (step, failure, _) = failed(
        &check(
            &smarthost(server.port(), Encryption::ImplicitTls, None),
            &options(&certs),
        )
        .await,
    );
    assert!(
        step == StepName::Tls && matches!(failure, Failure::Handshake(_)),
        "{step:?} {failure:?}"
    );
}

#[tokio::test]
async fn a_stall_in_the_middle_of_a_reply() {
    let certs = TestCa::new();
    let server = Server::start(Options {
        stall_in_ehlo: true,
        ..Options::default()
    });
    let (step, failure, advice) =
        failed(&check(&smarthost(server.port(), Encryption::Starttls, None), &options(&certs)).await);
    assert_eq!((step, failure), (StepName::Ehlo, Failure::Timeout));
    assert!(advice.contains("stopped answering during ehlo"), "{advice}");
}

#[tokio::test]
async fn connection_refused() {
    let certs = TestCa::new();
    let port = test_support::closed_port();
    let report = check(&smarthost(port, Encryption::Starttls, None), &options(&certs)).await;
    let (step, failure, advice) = failed(&report);
    assert_eq!((step, failure), (StepName::Connect, Failure::Refused));
    assert!(advice.starts_with("connection refused"), "{advice}");
}
