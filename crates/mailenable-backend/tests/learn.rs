//! `learn`: names matched from two exports by what the administrator typed,
//! never guessed; the learned names are what the backend then writes.
#![cfg(not(windows))]

use std::collections::BTreeMap;

use mailenable_backend::learn::{learn, Typed};
use mailenable_backend::{regfile, MailEnableWriter, MemoryRegistry, Names, Registry, Role};
use smarthost_core::{ConfigWriter, Credentials, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

const KEY: &str = r"[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Mail Enable\Mail Enable\Connectors\SMTP]";
const PASSWORD: &str = "typed-Pa55word";

/// A regedit export (UTF-16LE with a BOM, CRLF) of the SMTP connector key
/// with these extra lines.
fn export(lines: &[&str]) -> MemoryRegistry {
    let mut text = format!(
        "{}\r\n\r\n{KEY}\r\n\"Host Name\"=\"mail.example.com\"\r\n\"Outbound Interface\"=\"\"\r\n\"Max Retries\"=dword:00000019\r\n",
        regfile::HEADER
    );
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    let bytes = regfile::encode(&text);
    regfile::parse("export.reg", &regfile::decode(&bytes).unwrap()).unwrap()
}

fn before() -> MemoryRegistry {
    export(&[
        "\"Smart Host Enabled\"=dword:00000000",
        "\"Smart Host Port\"=dword:00000019",
    ])
}

fn after() -> MemoryRegistry {
    export(&[
        "\"Smart Host Enabled\"=dword:00000001",
        "\"Smart Host\"=\"smtp.relay.example\"",
        "\"Smart Host Port\"=dword:0000024b",
        "\"Smart Host Requires Auth\"=dword:00000001",
        "\"Smart Host Username\"=\"relay-user\"",
        &format!("\"Smart Host Password\"=\"{PASSWORD}\""),
    ])
}

fn typed() -> Typed {
    Typed {
        relay: RelayHost::parse("[smtp.relay.example]:587").unwrap(),
        username: Some(Username::new("relay-user").unwrap()),
        password: Some(Secret::new(PASSWORD.to_owned()).unwrap()),
        tls: false,
        domain: None,
        pinned: BTreeMap::new(),
    }
}

fn sources() -> Vec<String> {
    vec!["before.reg".into(), "after.reg".into()]
}

#[test]
fn names_are_learned_from_what_changed_to_what_was_typed() {
    let learned = learn(&before(), &after(), &typed(), &sources()).unwrap();
    let names = &learned.names;
    assert!(names.learned);
    assert_eq!(names.server(Role::Host), Some("Smart Host"));
    assert_eq!(names.server(Role::Port), Some("Smart Host Port"));
    assert_eq!(names.server(Role::Username), Some("Smart Host Username"));
    assert_eq!(names.server(Role::Password), Some("Smart Host Password"));
    assert_eq!(names.server(Role::Auth), Some("Smart Host Requires Auth"));
    assert_eq!(names.server(Role::Enabled), Some("Smart Host Enabled"));
    assert_eq!(names.server(Role::Tls), None, "TLS was not turned on: not learned");
    assert!(!learned.report.join("\n").contains(PASSWORD));
    insta::assert_snapshot!("learned_names", names.to_toml());

    // The file reads back to the same names.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.toml");
    std::fs::write(&path, names.to_toml()).unwrap();
    assert_eq!(Names::load(&path).unwrap().as_ref(), Some(names));
}

#[test]
fn the_backend_writes_the_learned_names_and_reads_them_back() {
    let names = learn(&before(), &after(), &typed(), &sources()).unwrap().names;
    let writer = MailEnableWriter::with_registry(Box::new(after()), Vec::new()).names(names.clone());
    let read = writer.read().unwrap();
    let server = read.server.unwrap();
    assert_eq!(server.relay.to_string(), "[smtp.relay.example]:587");
    assert_eq!(server.credentials.unwrap().password().expose(), PASSWORD);

    let mut policy = Policy::default();
    policy
        .set_server(
            Smarthost::new(RelayHost::parse("[smtp.other.example]:2525").unwrap())
                .with_encryption(Encryption::None)
                .with_credentials(Credentials::new(
                    Username::new("other").unwrap(),
                    Secret::new("other-Password".into()).unwrap(),
                )),
        )
        .unwrap();
    let (plan, _) = writer.converge(&policy).unwrap();
    let json = serde_json::to_string(&plan).unwrap();
    assert!(
        json.contains("Smart Host Port") && !json.contains("SmartHostPort"),
        "{json}"
    );
    assert_eq!(writer.read().unwrap().server, policy.server);
}

#[test]
fn a_password_kept_encoded_is_not_learned_and_not_written() {
    let after = export(&[
        "\"Smart Host Enabled\"=dword:00000001",
        "\"Smart Host\"=\"smtp.relay.example\"",
        "\"Smart Host Port\"=dword:0000024b",
        "\"Smart Host Requires Auth\"=dword:00000001",
        "\"Smart Host Username\"=\"relay-user\"",
        "\"Smart Host Password\"=\"ENC:9f8e7d6c5b4a\"",
    ]);
    let learned = learn(&before(), &after, &typed(), &sources()).unwrap();
    assert_eq!(learned.names.server(Role::Password), None);
    assert!(
        learned.report.iter().any(|l| l.contains("may keep it encoded")),
        "{:?}",
        learned.report
    );
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(learned.names);
    let mut policy = Policy::default();
    policy
        .set_server(
            Smarthost::new(RelayHost::parse("[smtp.relay.example]:587").unwrap()).with_credentials(Credentials::new(
                Username::new("relay-user").unwrap(),
                Secret::new(PASSWORD.into()).unwrap(),
            )),
        )
        .unwrap();
    let err = writer.plan(&policy).unwrap_err().to_string();
    assert!(err.contains("password value is not known"), "{err}");
}

#[test]
fn switches_that_cannot_be_told_apart_are_not_guessed() {
    let after = export(&[
        "\"Flag A\"=dword:00000001",
        "\"Flag B\"=dword:00000001",
        "\"Smart Host\"=\"smtp.relay.example\"",
        "\"Smart Host Port\"=dword:0000024b",
        "\"Smart Host Username\"=\"relay-user\"",
        &format!("\"Smart Host Password\"=\"{PASSWORD}\""),
    ]);
    let err = learn(&before(), &after, &typed(), &sources()).unwrap_err().to_string();
    assert!(
        err.contains("Flag A") && err.contains("Flag B") && err.contains("--value"),
        "{err}"
    );
    let mut pinned = typed();
    pinned.pinned.insert(Role::Auth, "Flag B".into());
    let names = learn(&before(), &after, &pinned, &sources()).unwrap().names;
    assert_eq!(names.server(Role::Auth), Some("Flag B"));
    assert_eq!(names.server(Role::Enabled), Some("Flag A"));
}

#[test]
fn a_port_left_at_its_default_must_be_unambiguous() {
    let after = export(&[
        "\"Smart Host Enabled\"=dword:00000001",
        "\"Smart Host\"=\"smtp.relay.example\"",
        // Left at the default: unchanged from before.
        "\"Smart Host Port\"=dword:00000019",
    ]);
    let mut typed = typed();
    typed.relay = RelayHost::parse("[smtp.relay.example]:25").unwrap();
    typed.username = None;
    typed.password = None;
    // "Max Retries" is 25 too: two values hold 25.
    let err = learn(&before(), &after, &typed, &sources()).unwrap_err().to_string();
    assert!(err.contains("port") && err.contains("--value port=NAME"), "{err}");
}

#[test]
fn domain_level_is_learned_only_where_the_export_shows_it() {
    let mut typed = typed();
    typed.domain = Some("shop.example".parse().unwrap());
    let err = learn(&before(), &after(), &typed, &sources()).unwrap_err().to_string();
    assert!(err.contains("domain level stays refused"), "{err}");

    let mut text = regfile::decode(&regfile::encode(&format!("{}\r\n", regfile::HEADER))).unwrap();
    text.push_str(&format!(
        "\r\n{}\r\n\"Outbound Host\"=\"smtp.relay.example\"\r\n\"Outbound Port\"=dword:0000024b\r\n\"Outbound Auth\"=dword:00000001\r\n\"Outbound User\"=\"relay-user\"\r\n\"Outbound Password\"=\"{PASSWORD}\"\r\n",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Mail Enable\Mail Enable\Domain Routes\Shop.Example]"
    ));
    let mut after = after();
    for (key, values) in regfile::parse("domain.reg", &text).unwrap().keys() {
        for (name, data) in values {
            after.set(key, name, data).unwrap();
        }
    }
    let names = learn(&before(), &after, &typed, &sources()).unwrap().names;
    let domains = names.domains.clone().unwrap();
    assert_eq!(domains.key, r"SOFTWARE\Mail Enable\Mail Enable\Domain Routes");
    assert_eq!(
        domains.values.get(&Role::Host).map(String::as_str),
        Some("Outbound Host")
    );
    assert_eq!(
        domains.values.get(&Role::Auth).map(String::as_str),
        Some("Outbound Auth")
    );
    assert!(!domains.values.contains_key(&Role::Enabled));

    // Domain level is now written there.
    let writer = MailEnableWriter::with_registry(Box::new(after), Vec::new()).names(names);
    let read = writer.read().unwrap();
    assert_eq!(read.domains.len(), 1, "{read:?}");
}
