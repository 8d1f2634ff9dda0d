//! PolicyDocument: parsing reads nothing; secrets come only through the
//! caller's resolver, with errors naming the field.

use std::cell::RefCell;
use std::path::Path;

use smarthost_core::{Classify, Error, ErrorKind, LocalSecrets, Policy, PolicyDocument, Secret, SecretSource};

const TEXT: &str = r#"
[server]
relay = "[smtp.server.example]:587"
username = "srv"
password_env = "SMARTHOST_TEST_VARIABLE_THAT_IS_NEVER_SET"

[domains."shop.example"]
provider = "sendgrid"
password_file = "/nonexistent/smarthost-test/key"

[domains."plain.example"]
relay = "[relay.plain.example]:25"
encryption = "none"
"#;

fn parse(text: &str) -> Result<PolicyDocument, Error> {
    PolicyDocument::parse(Path::new("/etc/smarthost/policy.toml"), text)
}

#[test]
fn parsing_reads_neither_the_file_nor_the_variable() {
    // Both sources would fail if they were read.
    let document = parse(TEXT).unwrap();
    let sources: Vec<(String, SecretSource)> = document.secret_sources().map(|s| (s.field, s.source.clone())).collect();
    assert_eq!(
        sources,
        [
            (
                "server.password".to_owned(),
                SecretSource::Env("SMARTHOST_TEST_VARIABLE_THAT_IS_NEVER_SET".into())
            ),
            (
                r#"domains."shop.example".password"#.to_owned(),
                SecretSource::File("/nonexistent/smarthost-test/key".into())
            ),
        ]
    );
    // The preset filled in what the file left out.
    let shop = &document.domains[&"shop.example".parse().unwrap()];
    assert_eq!(shop.relay.to_string(), "[smtp.sendgrid.net]:587");
    assert_eq!(shop.credentials.as_ref().unwrap().username.as_str(), "apikey");
}

#[test]
fn the_local_resolver_reads_and_names_the_field_that_failed() {
    let err = parse(TEXT).unwrap().resolve(&LocalSecrets).unwrap_err();
    assert_eq!(err.field(), Some("server.password"), "{err}");
    assert!(err.is_invalid(), "{err}");
}

#[test]
fn a_caller_resolver_decides_what_is_read() {
    let asked = RefCell::new(Vec::new());
    let vault = |field: &str, source: &SecretSource| {
        asked.borrow_mut().push(field.to_owned());
        match source {
            SecretSource::Env(_) => Secret::new("from-the-vault".to_owned()),
            SecretSource::File(_) => Err(Error::SecretRefused {
                field: field.to_owned(),
                from: source.to_string(),
            }),
        }
    };
    let err = parse(TEXT).unwrap().resolve(&vault).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"domains."shop.example".password: refused to read the password from file /nonexistent/smarthost-test/key"#
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(
        *asked.borrow(),
        ["server.password", r#"domains."shop.example".password"#]
    );

    let accept_all = |_: &str, _: &SecretSource| Secret::new("from-the-vault".to_owned());
    let policy: Policy = parse(TEXT).unwrap().resolve(&accept_all).unwrap();
    let server = policy.server.as_ref().unwrap();
    assert_eq!(
        server.credentials.as_ref().unwrap().password().expose(),
        "from-the-vault"
    );
    assert!(policy.domains[&"plain.example".parse().unwrap()].credentials.is_none());
}

#[test]
fn a_disabled_level_is_refused_before_any_secret_is_asked_for() {
    let text = format!("{TEXT}\n[features.server]\nenabled = false\n");
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, Error::FeatureDisabled { .. }), "{err}");
}

#[test]
fn relative_password_files_are_joined_to_the_policy_folder_without_reading() {
    let document = PolicyDocument::parse(
        Path::new("/srv/policies/customer.toml"),
        "[server]\nrelay = \"r.example\"\nusername = \"u\"\npassword_file = \"keys/relay\"\n",
    )
    .unwrap();
    let source = document.secret_sources().next().unwrap().source;
    assert_eq!(*source, SecretSource::File("/srv/policies/keys/relay".into()));
    assert_eq!(source.to_string(), "file /srv/policies/keys/relay");
}

#[test]
fn without_secrets_keeps_the_routes() {
    let document = parse(TEXT).unwrap();
    let policy = document.without_secrets();
    assert_eq!(policy.domains.len(), 2);
    assert!(policy.server.as_ref().unwrap().credentials.is_none());
    assert!(policy.route("a@shop.example").is_ok());
}
