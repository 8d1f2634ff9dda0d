//! Hostile and malformed inputs: each is rejected with its own message that
//! names the field.

use smarthost_core::{DomainName, Error, RelayHost, Secret, Username};

fn long_label() -> String {
    format!("{}.example", "a".repeat(64))
}

fn long_name() -> String {
    vec!["abcdefghi"; 26].join(".") + ".example"
}

#[test]
fn relay_hosts_are_rejected_with_a_reason() {
    let cases: Vec<(String, &str, &str)> = vec![
        ("".into(), "relay", "is empty"),
        ("smtp.example.com\nrelayhost = evil".into(), "relay", "line break"),
        ("smtp.example.com\r".into(), "relay", "carriage return"),
        ("smtp.example.com\0".into(), "relay", "NUL"),
        ("smtp example.com".into(), "relay", "whitespace"),
        ("smtp.example.com\t".into(), "relay", "whitespace"),
        ("smtp.example.com#587".into(), "relay", "'#'"),
        ("a.example,b.example".into(), "relay", "','"),
        ("relayhost=evil.example".into(), "relay", "'='"),
        ("[smtp.example.com".into(), "relay", "without a closing"),
        ("smtp.example.com]".into(), "relay", "without an opening"),
        ("smtp[.example.com]".into(), "relay", "enclose the whole host"),
        ("[[smtp.example.com]]".into(), "relay", "enclose the whole host"),
        ("[smtp.example.com]x".into(), "relay", "only ':port'"),
        ("smtp.example.com:0".into(), "relay.port", "port 0"),
        ("smtp.example.com:65536".into(), "relay.port", "out of range"),
        ("smtp.example.com:99999999999".into(), "relay.port", "out of range"),
        ("smtp.example.com:".into(), "relay.port", "is empty"),
        ("smtp.example.com:smtp".into(), "relay.port", "not a number"),
        ("smtp.example.com:-1".into(), "relay.port", "not a number"),
        ("[]:587".into(), "relay.host", "is empty"),
        (":587".into(), "relay.host", "is empty"),
        ("a:b:c".into(), "relay", "more than one ':'"),
        ("[ipv6:nonsense]:25".into(), "relay.host", "not a valid IPv6"),
        ("[2001:db8::zz]:25".into(), "relay.host", "not a valid IPv6"),
        ("256.1.1.1".into(), "relay.host", "not a valid IPv4"),
        ("smtp..example.com".into(), "relay.host", "empty label"),
        (".example.com".into(), "relay.host", "empty label"),
        (long_label(), "relay.host", "at most 63"),
        (long_name(), "relay.host", "at most 253"),
        ("-smtp.example.com".into(), "relay.host", "starts or ends with '-'"),
        ("smtp_relay.example.com".into(), "relay.host", "only letters, digits"),
        ("smtp.example.com/x".into(), "relay.host", "only letters, digits"),
        ("user@smtp.example.com".into(), "relay.host", "'@'"),
        ("smtp.example.com\u{7}".into(), "relay", "control character"),
        ("smtp.example.com\u{a0}".into(), "relay", "Unicode whitespace"),
    ];
    assert!(cases.len() >= 30);
    for (input, field, needle) in &cases {
        let err = RelayHost::parse(input).expect_err(input);
        let text = err.to_string();
        assert_eq!(err.field(), Some(*field), "field for {input:?}: {text}");
        assert!(
            text.contains(needle),
            "message for {input:?} should mention {needle:?}: {text}"
        );
        assert!(
            !text.contains('\n'),
            "message for {input:?} must stay on one line: {text}"
        );
        assert!(
            text.starts_with(&format!("{field}: ")),
            "message names the field: {text}"
        );
    }
}

#[test]
fn domains_are_rejected_with_a_reason() {
    let cases = [
        ("", "is empty"),
        ("example.com\n", "line break"),
        ("exa mple.com", "whitespace"),
        ("user@example.com", "'@'"),
        ("example.com:25", "':'"),
        ("[example.com]", "brackets"),
        ("192.0.2.1", "IP address"),
        ("ex#ample.com", "'#'"),
    ];
    for (input, needle) in cases {
        let err = DomainName::parse(input).expect_err(input);
        assert!(err.to_string().contains(needle), "{input:?}: {err}");
        assert_eq!(err.field(), Some("domain"));
    }
}

#[test]
fn usernames_are_rejected_with_a_reason() {
    let cases = [
        ("", "is empty"),
        ("user:name", "':'"),
        ("user name", "whitespace"),
        ("user\nname", "line break"),
        ("user,name", "','"),
    ];
    for (input, needle) in cases {
        let err = Username::new(input).expect_err(input);
        assert!(err.to_string().contains(needle), "{input:?}: {err}");
    }
    assert!(Username::new("postmaster@mg.example.com").is_ok());
    assert!(Username::new(&"u".repeat(257)).is_err());
}

#[test]
fn bad_passwords_are_rejected_without_showing_them() {
    for (input, needle) in [
        ("hunter2\nsecond", "line break"),
        ("hunter2\0", "NUL"),
        ("", "is empty"),
        (" hunter2", "whitespace"),
        ("hunter2\r", "carriage return"),
    ] {
        let err = Secret::new(input.to_owned()).expect_err(input);
        let text = err.to_string();
        assert!(text.contains(needle), "{text}");
        assert!(matches!(err, Error::InvalidSecret { .. }));
        if !input.trim().is_empty() {
            assert!(!text.contains(input.trim()), "the secret leaked: {text}");
        }
    }
    // A colon is fine in a password: Postfix splits at the first one.
    assert!(Secret::new("pa:ss".into()).is_ok());
}
