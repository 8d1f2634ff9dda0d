//! The SmarterMail backend against a fake SmarterMail API on 127.0.0.1 that
//! behaves as the documented API does: login and bearer tokens that expire,
//! `{success, message}` envelopes (failures with HTTP 200), domain settings
//! wrapped in `domainSettings`, and fields it does not know dropped silently.

use std::time::Duration;

use serde_json::json;
use smartermail_backend::schema::Learned;
use smartermail_backend::{Error, LearnedSchema, SmartermailWriter};
use smarthost_core::{ConfigWriter, Encryption, Policy, Secret, Smarthost};
use test_support::builders::{self, policy};
use test_support::smartermail::{Api, Fake};

const ADMIN_PASSWORD: &str = "admin-Secret-42";
const RELAY_PASSWORD: &str = "relay-Secret-7f3a";

/// The fake API with the administrator these tests log in as.
fn start(setup: impl FnOnce(&mut Fake)) -> Api {
    Api::start("admin", ADMIN_PASSWORD, setup)
}

/// Writers logged in to the fake API.
trait Writers {
    fn writer(&self) -> SmartermailWriter;
    fn writer_as(&self, password: &str) -> SmartermailWriter;
}

impl Writers for Api {
    fn writer(&self) -> SmartermailWriter {
        self.writer_as(ADMIN_PASSWORD)
    }

    fn writer_as(&self, password: &str) -> SmartermailWriter {
        writer_for(&self.url, password, Duration::from_secs(5))
    }
}

fn writer_for(url: &str, password: &str, timeout: Duration) -> SmartermailWriter {
    SmartermailWriter::connect(url, "admin", Secret::new(password.to_owned()).unwrap(), timeout)
        .with_schema(fake_schema(url))
}

/// The schema of this fake: the built-in names, confirmed as `learn` would
/// (this fake serves exactly those).
fn fake_schema(url: &str) -> LearnedSchema {
    let roles = [
        "endpoint.list",
        "endpoint.create",
        "endpoint.update",
        "endpoint.delete",
        "list.key",
        "body.wrapper",
        "field.id",
        "field.description",
        "field.address",
        "field.port",
        "field.encryption",
        "field.enabled",
        "field.mode",
        "field.use-authentication",
        "field.username",
        "field.password",
        "field.domain-link",
        "enum.mode.round-robin",
        "enum.mode.specific-domains",
        "enum.encryption.none",
        "enum.encryption.starttls",
        "enum.encryption.implicit-tls",
        "enum.status.enabled",
        "enum.status.disabled",
    ];
    LearnedSchema {
        version: smartermail_backend::schema::SCHEMA_VERSION,
        server: url.to_owned(),
        names: roles
            .iter()
            .map(|r| {
                let learned = Learned {
                    value: smartermail_backend::schema::builtin(r).unwrap(),
                    source: "the test's fake API".into(),
                };
                (r.to_string(), learned)
            })
            .collect(),
    }
}

/// A smarthost whose user (if any) logs in with [`RELAY_PASSWORD`].
fn relay(text: &str, encryption: Encryption, user: Option<&str>) -> Smarthost {
    builders::relay(text, encryption, user.map(|u| (u, RELAY_PASSWORD)))
}

fn both() -> Policy {
    policy(
        Some(relay("[smtp.sendgrid.net]:587", Encryption::Starttls, Some("apikey"))),
        &[
            (
                "a.example",
                relay(
                    "[smtp.eu.mailgun.org]:465",
                    Encryption::ImplicitTls,
                    Some("postmaster@mg.a.example"),
                ),
            ),
            ("b.example", relay("[192.0.2.25]:25", Encryption::None, None)),
        ],
    )
}

fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(RELAY_PASSWORD) && !text.contains(ADMIN_PASSWORD),
        "secret leaked: {text}"
    );
}

#[test]
fn server_only_domains_only_and_both_read_back_as_applied() {
    for desired in [
        policy(
            Some(relay("[smtp.sendgrid.net]:587", Encryption::Starttls, Some("apikey"))),
            &[],
        ),
        policy(
            None,
            &[(
                "a.example",
                relay("[smtp.mailgun.org]:587", Encryption::Starttls, Some("u")),
            )],
        ),
        both(),
    ] {
        let server = start(|_| {});
        let writer = server.writer();
        let (plan, applied) = writer.converge(&desired).unwrap();
        assert!(applied.changed);
        assert_no_secret(&plan.render());
        assert_no_secret(&serde_json::to_string(&plan).unwrap());
        let read = writer.read().unwrap();
        assert_eq!(read.server, desired.server);
        assert_eq!(read.domains, desired.domains);

        let writes = server.writes().len();
        let again = writer.plan(&desired).unwrap();
        assert!(again.is_empty(), "{}", again.render());
        assert!(!writer.apply(&again).unwrap().changed);
        assert_eq!(
            server.writes().len(),
            writes,
            "an idempotent re-apply makes no write request"
        );
    }
}

#[test]
fn the_planned_requests() {
    let server = start(|_| {});
    let plan = server.writer().plan(&both()).unwrap();
    insta::assert_json_snapshot!("plan_both", plan);
}

#[test]
fn an_update_touches_only_what_changed() {
    let server = start(|_| {});
    let writer = server.writer();
    writer.converge(&both()).unwrap();
    let before = server.writes().len();
    let mut changed = both();
    changed.server = Some(relay("[smtp.sendgrid.net]:2525", Encryption::Starttls, Some("apikey")));
    let plan = writer.plan(&changed).unwrap();
    let paths: Vec<String> = plan
        .changes
        .iter()
        .map(|c| serde_json::to_value(c).unwrap()["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["api/v1/settings/sysadmin/gateway/gw-1"]);
    writer.apply(&plan).unwrap();
    assert_eq!(server.writes().len(), before + 1);
    assert_eq!(writer.read().unwrap().server, changed.server);
}

#[test]
fn disabling_unlinks_and_deletes() {
    let server = start(|_| {});
    let writer = server.writer();
    writer.converge(&both()).unwrap();
    writer.converge(&policy(None, &[])).unwrap();
    assert!(server.gateways().is_empty());
    assert!(server.fake.lock().unwrap().links.is_empty());
    assert_eq!(writer.read().unwrap(), Policy::default());
}

#[test]
fn other_gateways_are_left_alone() {
    let server = start(|fake| {
        fake.gateways.insert(
            "gw-manual".into(),
            json!({"id": "gw-manual", "description": "backup relay", "address": "relay.example", "port": 25}),
        );
    });
    let writer = server.writer();
    writer.converge(&both()).unwrap();
    writer.converge(&policy(None, &[])).unwrap();
    assert_eq!(server.gateways().len(), 1, "the hand-made gateway stays");
}

#[test]
fn a_refused_login_is_an_error_without_the_password() {
    let server = start(|_| {});
    let err = server.writer_as("wrong-Admin-pass").plan(&both()).unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert!(err.to_string().contains("Invalid username or password"), "{err}");
    assert!(!err.to_string().contains("wrong-Admin-pass"));
}

#[test]
fn an_expired_token_is_renewed() {
    let server = start(|fake| fake.token_lifetime = 2);
    let writer = server.writer();
    writer.converge(&both()).unwrap();
    assert!(server.fake.lock().unwrap().logins > 1, "logged in again");
    assert_eq!(writer.read().unwrap().domains, both().domains);
}

#[test]
fn a_dropped_field_is_detected_and_undone() {
    let server = start(|fake| fake.drop_field = Some("mode".into()));
    let err = server.writer().converge(&both()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::RolledBack { .. }), "{text}");
    assert!(text.contains("did not keep mode"), "{text}");
    assert!(server.gateways().is_empty(), "the created gateway was deleted again");
    assert_no_secret(&text);
}

#[test]
fn a_failure_half_way_undoes_the_steps_before_it() {
    let server = start(|_| {});
    let writer = server.writer();
    writer
        .converge(&policy(
            Some(relay("[old.example]:587", Encryption::Starttls, None)),
            &[],
        ))
        .unwrap();
    let before = server.gateways();
    // Writes: update server gateway, create a.example (disabled), enable
    // it, create b.example, enable it, link a (fails).
    server.fake.lock().unwrap().fail_write = Some(server.writes().len() as u32 + 6);
    let err = writer.converge(&both()).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("Internal error (injected)"), "{err}");
    assert_eq!(server.gateways(), before, "every earlier step was undone");
    assert!(server.fake.lock().unwrap().links.is_empty());
}

#[test]
fn mx_lookup_is_refused_at_plan_time() {
    let server = start(|_| {});
    let err = server
        .writer()
        .plan(&policy(
            Some(relay("smtp.example.com:587", Encryption::Starttls, None)),
            &[],
        ))
        .unwrap_err();
    assert!(err.to_string().contains("cannot look up MX records"), "{err}");
    assert!(server.writes().is_empty());
}

#[test]
fn rendering_writes_request_files_once() {
    let dir = std::env::temp_dir().join(format!("smartermail-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let writer = SmartermailWriter::render_into(&dir);
    let (_, applied) = writer.converge(&both()).unwrap();
    assert_eq!(
        applied.ran.len(),
        8,
        "3 gateways created disabled, 3 enabled after, 2 links"
    );
    let first = std::fs::read_to_string(dir.join("requests/001.json")).unwrap();
    assert!(first.contains("gateway-put") && first.contains("<redacted>"), "{first}");
    for entry in std::fs::read_dir(dir.join("requests")).unwrap() {
        assert_no_secret(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert_no_secret(&std::fs::read_to_string(dir.join("state.json")).unwrap());
    assert!(
        writer.plan(&both()).unwrap().is_empty(),
        "rendering the same policy again writes nothing"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The text of an error and all its causes.
fn full_text(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Standard base64, padded: what a server might echo.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_test_base64_is_right() {
    assert_eq!(base64(b"admin-Secret-42"), "YWRtaW4tU2VjcmV0LTQy");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"a"), "YQ==");
}

/// What a hostile server's text must not bring along: the passwords in any
/// form the client sent them, raw control characters, megabytes.
fn assert_peer_text_safe(text: &str) {
    assert_no_secret(text);
    for secret in [ADMIN_PASSWORD, RELAY_PASSWORD] {
        let encoded = base64(secret.as_bytes());
        assert!(
            !text.contains(encoded.trim_end_matches('=')),
            "encoded secret leaked: {text}"
        );
    }
    assert!(!text.chars().any(char::is_control), "control character in {text:?}");
    assert!(text.len() < 4000, "{} bytes: {text:.300}", text.len());
}

#[test]
fn a_login_error_that_echoes_the_admin_password_is_redacted() {
    let server = start(|fake| {
        fake.echo = true;
        fake.padding = 1 << 20;
    });
    let err = server.writer_as("wrong-Admin-pass-99").plan(&both()).unwrap_err();
    let text = full_text(&err);
    assert!(matches!(err, Error::Auth(_)), "{text:.300}");
    assert!(
        text.contains(r"Invalid password \x1b]0;owned\x07'<redacted>' for admin"),
        "{text:.300}"
    );
    assert!(text.contains(" more bytes]"), "a 1 MB message is cut: {text:.300}");
    assert!(!text.contains("wrong-Admin-pass-99"), "{text}");
    assert_peer_text_safe(&text);
}

#[test]
fn a_write_error_that_echoes_the_passwords_is_redacted() {
    let server = start(|fake| {
        fake.echo = true;
        fake.fail_write = Some(1);
    });
    let err = server.writer().converge(&both()).unwrap_err();
    let text = full_text(&err);
    assert!(text.contains("Internal error (injected) \\x1b[2J"), "{text}");
    assert!(text.contains("as admin:<redacted>"), "{text}");
    assert!(
        text.contains(r#""password":"<redacted>""#),
        "the gateway password: {text}"
    );
    assert_peer_text_safe(&text);
}

#[test]
fn a_redirect_to_another_host_is_refused() {
    let server = start(|fake| fake.redirect = Some("http://evil.example:8080/api/v1/auth/authenticate-user".into()));
    let err = server.writer().plan(&both()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Redirect { status: 302, other_host: true, to, .. } if to == "evil.example"),
        "{text}"
    );
    assert!(text.contains("to another host, evil.example"), "{text}");
    assert_eq!(server.fake.lock().unwrap().requests, 1, "the redirect was not followed");
    assert_no_secret(&text);
}

#[test]
fn a_redirect_on_the_same_host_is_not_followed_either() {
    let server = start(|fake| fake.redirect = Some("/smartermail/api/v1/auth/authenticate-user".into()));
    let err = server.writer().plan(&both()).unwrap_err();
    assert!(
        matches!(&err, Error::Redirect { other_host: false, to, .. } if to.starts_with("/smartermail/")),
        "{err}"
    );
    assert_eq!(server.fake.lock().unwrap().requests, 1);
}

/// A server on 127.0.0.1 that runs `serve` for each connection.
fn raw_server(serve: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

/// Reads the request head, so the client is waiting for the answer.
fn read_head(stream: &mut std::net::TcpStream) {
    use std::io::Read as _;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
}

#[test]
fn an_endless_body_is_capped() {
    let url = raw_server(|mut stream| {
        use std::io::Write as _;
        read_head(&mut stream);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let chunk = format!("1000\r\n{}\r\n", " ".repeat(0x1000));
        if stream.write_all(head.as_bytes()).is_ok() {
            while stream.write_all(chunk.as_bytes()).is_ok() {}
        }
    });
    let start = std::time::Instant::now();
    let err = writer_for(&url, ADMIN_PASSWORD, Duration::from_secs(20))
        .plan(&both())
        .unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 4194304, .. }), "{err}");
    assert!(err.to_string().contains("larger than 4194304 bytes"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(15), "{:?}", start.elapsed());
}

#[test]
fn a_server_that_never_answers_ends_by_the_deadline() {
    let url = raw_server(|mut stream| {
        read_head(&mut stream);
        std::thread::sleep(Duration::from_secs(30));
    });
    let start = std::time::Instant::now();
    let err = writer_for(&url, ADMIN_PASSWORD, Duration::from_secs(1))
        .plan(&both())
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::Deadline { .. }), "{err}");
    assert!(
        err.to_string().contains("within the 1 s allowed for one command"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn all_requests_of_one_call_share_the_deadline() {
    // plan: login, gateways, 2 domain settings = 4 answers of 300 ms each,
    // every one well within 1 s, together not.
    let server = start(|fake| fake.delay = Duration::from_millis(300));
    let writer = writer_for(&server.url, ADMIN_PASSWORD, Duration::from_secs(1));
    let start = std::time::Instant::now();
    let err = writer.plan(&both()).unwrap_err();
    assert!(matches!(err, Error::Deadline { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    // The next call has its own deadline: reading (the gateways, logged in
    // already or not) fits.
    assert_eq!(writer.read().unwrap(), Policy::default());
}
