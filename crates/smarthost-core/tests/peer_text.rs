//! Peer text in the connection check: a hostile relay on 127.0.0.1 echoes
//! the AUTH lines (and with them the password, base64-encoded), sends
//! terminal escape sequences and megabytes of reply. The report must show
//! none of the secret's forms, no control character, and stay short.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use smarthost_core::check::{check, CheckOptions, CheckReport, Failure, StepName};
use smarthost_core::{Credentials, Encryption, RelayHost, Secret, Smarthost, Username};
use test_support::smtp::{AuthReply, Banner, Options, Server};

const USER: &str = "postmaster@mg.example";

fn smarthost(port: u16, password: &str) -> Smarthost {
    Smarthost::new(RelayHost::parse(&format!("[127.0.0.1]:{port}")).unwrap())
        .with_encryption(Encryption::None)
        .with_credentials(Credentials::new(
            Username::new(USER).unwrap(),
            Secret::new(password.to_owned()).unwrap(),
        ))
}

fn options() -> CheckOptions {
    CheckOptions {
        step_timeout: Duration::from_secs(5),
        ..CheckOptions::default()
    }
}

/// Every string in the report, as a program reading its JSON sees it.
fn strings(report: &CheckReport) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&serde_json::to_value(report).unwrap(), &mut out);
    out
}

/// The secret's forms a relay can echo.
fn forms(password: &str) -> Vec<String> {
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        password.to_owned(),
        b64(password.to_owned()),
        b64(format!("\0{USER}\0{password}")),
        b64(format!("{USER}\0{USER}\0{password}")),
    ]
}

fn assert_safe(report: &CheckReport, password: &str) {
    let texts = strings(report);
    for text in &texts {
        for form in forms(password) {
            let form = form.trim_end_matches('=');
            assert!(!text.contains(form), "{form:?} leaked in {text:?}");
        }
        assert!(!text.chars().any(char::is_control), "control character in {text:?}");
        assert!(
            text.chars().count() < 1500,
            "{} chars: {text:.200}",
            text.chars().count()
        );
    }
    let json = serde_json::to_string(report).unwrap();
    assert!(json.len() < 16 * 1024, "report of {} bytes", json.len());
}

async fn run(password: &str, behaviour: Options) -> CheckReport {
    let server = Server::start(Options {
        starttls: false,
        accounts: vec![(USER.to_owned(), "the-right-one".to_owned())],
        ..behaviour
    });
    check(&smarthost(server.port(), password), &options()).await
}

fn auth_failure(report: &CheckReport) -> (u16, String, String) {
    let step = report.failed_step().expect("a failed step");
    assert_eq!(step.name, StepName::Auth, "{report:#?}");
    match step.failure.clone() {
        Some(Failure::AuthRejected(code, text)) => (code, text, step.advice.clone().unwrap()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_echoed_auth_plain_line_is_redacted() {
    let password = "echo-Secret-5b1c";
    let report = run(
        password,
        Options {
            auth_reply: AuthReply::Echo,
            ..Options::default()
        },
    )
    .await;
    let (code, text, advice) = auth_failure(&report);
    assert_eq!(code, 535);
    assert_eq!(text, r"5.7.8 \x1b]0;owned\x07rejected: AUTH PLAIN <redacted>");
    assert!(advice.contains("AUTH PLAIN <redacted>"), "{advice}");
    assert_safe(&report, password);
}

#[tokio::test]
async fn an_echoed_auth_login_exchange_is_redacted_but_the_user_shows() {
    let password = "login-Secret-77aa";
    let report = run(
        password,
        Options {
            mechanisms: "LOGIN".into(),
            auth_reply: AuthReply::Echo,
            ..Options::default()
        },
    )
    .await;
    let (_, text, _) = auth_failure(&report);
    let user = base64::engine::general_purpose::STANDARD.encode(USER);
    assert!(text.ends_with(&format!("AUTH LOGIN | {user} | <redacted>")), "{text}");
    assert_safe(&report, password);
}

#[tokio::test]
async fn a_short_password_is_redacted_in_its_encodings() {
    // Shorter than 8 characters: redacted as a whole token and in every
    // AUTH encoding, but not inside other words.
    let password = "pw4";
    let report = run(
        password,
        Options {
            auth_reply: AuthReply::Echo,
            ..Options::default()
        },
    )
    .await;
    let (_, text, _) = auth_failure(&report);
    assert!(text.ends_with("AUTH PLAIN <redacted>"), "{text}");
    for text in strings(&report) {
        for form in &forms(password)[1..] {
            assert!(!text.contains(form.trim_end_matches('=')), "{form} in {text}");
        }
    }
}

#[tokio::test]
async fn escape_sequences_in_the_banner_never_reach_the_report() {
    let password = "banner-Secret-0e0e";
    let report = run(
        password,
        Options {
            banner: Banner::Escapes,
            ..Options::default()
        },
    )
    .await;
    let banner = &report.steps.iter().find(|s| s.name == StepName::Banner).unwrap().detail;
    assert_eq!(
        banner,
        r"localhost \x1b]0;pwned title\x07ESMTP \x1b[2J\x1b[31mred\u{9b}0m"
    );
    assert_safe(&report, password);
}

#[tokio::test]
async fn a_huge_echoing_reply_is_cut_short() {
    let password = "huge-Secret-31f9";
    let report = run(
        password,
        Options {
            auth_reply: AuthReply::EchoHuge,
            ..Options::default()
        },
    )
    .await;
    let (_, text, _) = auth_failure(&report);
    assert!(
        text.starts_with(r"\x1b[31mAUTH PLAIN <redacted> \x1b[31m"),
        "{text:.200}"
    );
    assert!(text.contains(" … [") && text.ends_with(" more bytes]"), "{text:.200}");
    assert_safe(&report, password);
}

#[tokio::test]
async fn a_nine_megabyte_reply_line_is_refused() {
    let password = "nine-Secret-4d4d";
    let report = run(
        password,
        Options {
            auth_reply: AuthReply::NineMegabytes,
            ..Options::default()
        },
    )
    .await;
    let step = report.failed_step().unwrap();
    assert_eq!(
        (step.name, step.failure.clone()),
        (StepName::Auth, Some(Failure::LineTooLong))
    );
    assert_safe(&report, password);
}
