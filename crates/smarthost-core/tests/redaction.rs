//! Every public type that can hold a secret, built with a known secret:
//! the secret (and its base64 forms) appears in none of `{:?}`, `{:#?}`,
//! `Display` where the type has it, and JSON.

use std::path::PathBuf;

use base64::Engine as _;
use smarthost_core::peer_text::Redactor;
use smarthost_core::{
    ApiRequest, Change, Credentials, DomainName, Error, FileChange, Plan, Policy, RegistryChange, RegistryValue,
    RelayHost, Secret, Smarthost, Username,
};

const SECRET: &str = "Redaction-Test-Secret-4711";
const USER: &str = "apikey";

/// The forms in which a secret may leak: as is, base64 (AUTH LOGIN), and
/// the AUTH PLAIN payloads.
fn forms() -> Vec<String> {
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        SECRET.to_owned(),
        b64(SECRET.to_owned()),
        b64(format!("\0{USER}\0{SECRET}")),
        b64(format!("{USER}\0{USER}\0{SECRET}")),
    ]
}

fn assert_hidden(what: &str, how: &str, text: &str) {
    for form in forms() {
        assert!(!text.contains(&form), "{what}: {how} shows {form:?}:\n{text}");
    }
}

/// Debug (both forms) and JSON hide the secret.
fn assert_debug_and_json<T: std::fmt::Debug + serde::Serialize>(what: &str, value: &T) {
    assert_hidden(what, "{:?}", &format!("{value:?}"));
    assert_hidden(what, "{:#?}", &format!("{value:#?}"));
    assert_hidden(what, "JSON", &serde_json::to_string(value).unwrap());
    assert_hidden(what, "pretty JSON", &serde_json::to_string_pretty(value).unwrap());
}

fn secret() -> Secret {
    Secret::new(SECRET.to_owned()).unwrap()
}

fn credentials() -> Credentials {
    Credentials::new(Username::new(USER).unwrap(), secret())
}

fn smarthost() -> Smarthost {
    Smarthost::new(RelayHost::parse("[smtp.sendgrid.net]:587").unwrap()).with_credentials(credentials())
}

fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.set_server(smarthost()).unwrap();
    let domain: DomainName = "shop.example.com".parse().unwrap();
    policy.set_domain(domain, smarthost()).unwrap();
    policy
}

/// What a backend's redaction does with a secret file.
fn redact(text: &str) -> String {
    text.replace(SECRET, smarthost_core::REDACTED)
}

fn api_request() -> ApiRequest {
    ApiRequest {
        method: "POST".to_owned(),
        path: "/api/v1/settings/sysadmin/gateway".to_owned(),
        body: Some(serde_json::json!({
            "gateway": {"address": "smtp.sendgrid.net", "port": 587, "userName": USER, "password": SECRET},
        })),
        secret_pointers: vec!["/gateway/password".to_owned()],
    }
}

fn registry_change() -> RegistryChange {
    RegistryChange {
        key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Mail Enable\Mail Enable\Connectors\SMTP".to_owned(),
        name: "Smart Host Password".to_owned(),
        value: Some(RegistryValue::SecretSz(secret())),
        before: Some(RegistryValue::SecretSz(Secret::new(format!("{SECRET}-old")).unwrap())),
    }
}

fn file_change() -> FileChange {
    FileChange::sensitive(
        PathBuf::from("/etc/postfix/relay_secrets"),
        0o600,
        Some(format!("[smtp.old.example]:587 {USER}:{SECRET}-old\n")),
        Some(format!("[smtp.sendgrid.net]:587 {USER}:{SECRET}\n")),
        redact,
    )
}

fn plan() -> Plan {
    let mut plan = Plan::new("test");
    plan.changes.push(Change::File(file_change()));
    plan.changes.push(Change::Registry(registry_change()));
    plan.changes.push(Change::Api(api_request()));
    plan
}

#[test]
fn a_secret() {
    let s = secret();
    assert_debug_and_json("Secret", &s);
    assert_hidden("Secret", "Display", &s.to_string());
    assert_eq!(s.expose(), SECRET, "the value is still there for the writer");
}

#[test]
fn credentials_smarthost_and_policy() {
    assert_debug_and_json("Credentials", &credentials());
    assert_debug_and_json("Smarthost", &smarthost());
    let policy = policy();
    assert_debug_and_json("Policy", &policy);
    let route = policy.route("alice@shop.example.com").unwrap();
    assert_debug_and_json("Route", &route);
    assert_hidden("Route", "Display", &route.to_string());
}

#[test]
fn api_request_debug_shows_the_redacted_body() {
    let request = api_request();
    assert_debug_and_json("ApiRequest", &request);
    let debug = format!("{request:?}");
    assert!(debug.contains(smarthost_core::REDACTED), "{debug}");
    assert!(
        debug.contains("smtp.sendgrid.net"),
        "the rest of the body is shown: {debug}"
    );
    assert_eq!(request.body.as_ref().unwrap()["gateway"]["password"], SECRET);
}

#[test]
fn registry_values_and_changes() {
    assert_debug_and_json("RegistryValue::SecretSz", &RegistryValue::SecretSz(secret()));
    assert_debug_and_json("RegistryChange", &registry_change());
}

#[test]
fn a_plan_with_a_sensitive_file_a_registry_value_and_an_api_request() {
    let file = file_change();
    assert_debug_and_json("FileChange", &file);
    assert_hidden("FileChange", "diff", &file.diff());
    assert_eq!(
        file.after().unwrap(),
        format!("[smtp.sendgrid.net]:587 {USER}:{SECRET}\n")
    );
    let plan = plan();
    assert_debug_and_json("Plan", &plan);
    assert_hidden("Plan", "render", &plan.render());
    for change in &plan.changes {
        assert_debug_and_json("Change", change);
    }
}

#[test]
fn redactor() {
    let redactor = Redactor::new().with_secret(SECRET).with_credentials(&credentials());
    assert_hidden("Redactor", "{:?}", &format!("{redactor:?}"));
    assert_hidden("Redactor", "{:#?}", &format!("{redactor:#?}"));
    let echoed = forms().join(" ");
    assert_hidden("Redactor", "sanitize", &redactor.sanitize(&echoed));
    assert_hidden("Redactor", "sanitize_lines", &redactor.sanitize_lines(&echoed));
}

#[test]
fn errors_about_a_secret_do_not_hold_it() {
    let err: Error = Secret::new(format!("{SECRET} ")).unwrap_err();
    assert_hidden("Error", "Display", &err.to_string());
    assert_hidden("Error", "{:?}", &format!("{err:?}"));
    assert_hidden("Error", "{:#?}", &format!("{err:#?}"));
}

/// A relay on 127.0.0.1 that rejects AUTH and echoes what it got, and the
/// password in clear: the check's report shows neither.
#[cfg(feature = "check")]
#[tokio::test]
async fn a_check_report_of_a_relay_that_echoes_the_secret() {
    use smarthost_core::check::{check, CheckOptions};
    use smarthost_core::Encryption;
    use std::io::{BufRead, BufReader, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        out.write_all(format!("220 relay.example ESMTP {SECRET}\r\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let command = line.trim_end().to_owned();
            line.clear();
            let upper = command.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                format!("250-relay.example hello\r\n250-X-ECHO {SECRET}\r\n250 AUTH PLAIN LOGIN\r\n")
            } else if upper.starts_with("AUTH") {
                format!("535 5.7.8 {command} rejected: the password {SECRET} is wrong\r\n")
            } else if upper.starts_with("QUIT") {
                out.write_all(b"221 bye\r\n").unwrap();
                return;
            } else {
                format!("535 {command} {SECRET}\r\n")
            };
            out.write_all(reply.as_bytes()).unwrap();
        }
    });
    let relay = Smarthost::new(RelayHost::parse(&format!("[127.0.0.1]:{port}")).unwrap())
        .with_encryption(Encryption::None)
        .with_credentials(credentials());
    let options = CheckOptions {
        step_timeout: std::time::Duration::from_secs(5),
        ..CheckOptions::default()
    };
    let report = check(&relay, &options).await;
    assert!(!report.ok, "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.detail.contains("rejected") || format!("{s:?}").contains("rejected")),
        "the relay's reply is shown: {report:#?}"
    );
    assert_debug_and_json("CheckReport", &report);
    for step in &report.steps {
        assert_hidden("Step", "StepName Display", &step.name.to_string());
    }
    server.join().unwrap();
}

#[test]
fn a_resolved_policy_document_and_an_erased_error() {
    use smarthost_core::{PolicyDocument, SecretSource, WriterError};
    let text = "[server]\nrelay = \"[smtp.sendgrid.net]:587\"\nusername = \"apikey\"\npassword_env = \"KEY\"\n";
    let document = PolicyDocument::parse(std::path::Path::new("policy.toml"), text).unwrap();
    assert_hidden("PolicyDocument", "{:?}", &format!("{document:#?}"));
    let vault = |_: &str, _: &SecretSource| Ok(secret());
    let policy = document.resolve(&vault).unwrap();
    assert_eq!(
        policy
            .server
            .as_ref()
            .unwrap()
            .credentials
            .as_ref()
            .unwrap()
            .password()
            .expose(),
        SECRET
    );
    assert_debug_and_json("resolved Policy", &policy);
    let err = WriterError::new(Secret::new(format!("{SECRET} ")).unwrap_err());
    assert_hidden("WriterError", "Display", &err.to_string());
    assert_hidden("WriterError", "{:#?}", &format!("{err:#?}"));
}

#[cfg(feature = "check")]
#[test]
fn a_check_target() {
    let target = smarthost_core::check::CheckTarget {
        label: "server".into(),
        smarthost: smarthost(),
        check_certificate: true,
    };
    assert_hidden("CheckTarget", "{:#?}", &format!("{target:#?}"));
}
