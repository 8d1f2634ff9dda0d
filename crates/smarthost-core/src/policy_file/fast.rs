//! The policy file's usual layout, read without building a TOML tree.
//!
//! A policy with 100,000 domains is 13 MB of TOML; the `toml` crate builds a
//! document of it first (about 270 ms and 230 MiB here). Almost every policy
//! file is written in one layout: `[server]` and `[domains."name"]` tables
//! of `key = "string"` lines, comments and blank lines. [`scan`] reads that
//! layout (and the `[features.*]` tables of booleans) line by line into the
//! same [`PolicyToml`] the `toml` crate would deserialize, except that each
//! domain table is checked as soon as it ends instead of being kept (a
//! table that fails the check leaves the text to the `toml` crate too), and
//! gives up (`None`) at anything else: escapes, multi-line
//! or non-string values, dotted or inline tables, unknown or repeated keys
//! and tables, control characters. The caller then parses the text with the
//! `toml` crate, which is the reference: whatever [`scan`] accepts, the
//! `toml` crate reads to the same value (tested in `tests/policy_fast.rs`
//! and by the `policy_toml` fuzz target), and every error comes from the
//! `toml` crate, with its line and column.
//!
//! Grammar used (TOML v1.0.0, <https://toml.io/en/v1.0.0>): a bare key is
//! `A-Za-z0-9_-`; a basic string is `"..."` without control characters
//! other than tab; a literal string `'...'`, likewise; a comment starts
//! with `#` and runs to the end of the line; a line ends with LF or CRLF.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{DomainTables, PolicyToml, SmarthostToml};
use crate::encryption::Encryption;
use crate::features::Features;

/// Which table the lines belong to.
enum Section {
    /// Before the first header: only comments and blank lines.
    Root,
    Server,
    /// The domain table being read.
    Domain,
    /// `[features]`: holds only the two tables below.
    Features,
    /// `[features.server]` (true) or `[features.domain]` (false).
    Level(bool),
}

/// The policy in the usual layout, or `None` when the text uses anything
/// else (then the `toml` crate reads it).
pub(super) fn scan<'a>(text: &'a str, base: &Path) -> Option<PolicyToml<'a>> {
    let mut server: Option<SmarthostToml<'_>> = None;
    // Each domain table is checked when the next header (or the end)
    // closes it; one that fails leaves the whole text to the toml crate.
    let mut domains = DomainTables::default();
    let mut domain: Option<(Cow<'_, str>, SmarthostToml<'_>)> = None;
    let mut features = Features::default();
    // Which of `[features]`, `[features.server]`, `[features.domain]` were
    // seen: each may appear once.
    let mut feature_tables = [false; 3];
    let mut level_keys = [[false; 2]; 2];
    let mut section = Section::Root;
    for line in lines(text) {
        let content = line.trim_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            if !comment_ok(content) {
                return None;
            }
            continue;
        }
        if content.starts_with('[') {
            if let Some((name, entry)) = domain.take() {
                domains.add(base, name, entry).ok()?;
            }
            section = match header(content)? {
                Header::Server if server.is_none() => {
                    server = Some(empty());
                    Section::Server
                }
                // A repeated name is found when the domains are validated,
                // which then leaves the error to the toml crate.
                Header::Domain(name) => {
                    domain = Some((Cow::Borrowed(name), empty()));
                    Section::Domain
                }
                Header::Features(which) if !feature_tables[which] => {
                    feature_tables[which] = true;
                    match which {
                        0 => Section::Features,
                        1 => Section::Level(true),
                        _ => Section::Level(false),
                    }
                }
                _ => return None,
            };
            continue;
        }
        let entry = match section {
            Section::Root | Section::Features => return None,
            Section::Level(is_server) => {
                let (key, Value::Bool(on)) = key_value(content)? else {
                    return None;
                };
                let level = if is_server {
                    &mut features.server
                } else {
                    &mut features.domain
                };
                let (slot, seen) = match key {
                    "enabled" => (&mut level.enabled, 0),
                    "check_certificate" => (&mut level.check_certificate, 1),
                    _ => return None,
                };
                let repeated = &mut level_keys[usize::from(!is_server)][seen];
                if *repeated {
                    return None;
                }
                *repeated = true;
                *slot = on;
                continue;
            }
            Section::Server => server.as_mut()?,
            Section::Domain => &mut domain.as_mut()?.1,
        };
        let (key, value) = key_value(content)?;
        set(entry, key, value)?;
    }
    if let Some((name, entry)) = domain {
        domains.add(base, name, entry).ok()?;
    }
    Some(PolicyToml {
        server,
        domains: Domains::Checked(domains),
        mailboxes: BTreeMap::new(),
        recipients: BTreeMap::new(),
        bounces: None,
        features,
    })
}

/// The lines of `text` without the LF or CRLF that ends them; a CR
/// anywhere else (even at the very end) stays, and is refused by the
/// scanner. A byte loop: the lines are short, and `str::split` spent more
/// time starting its search than searching.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line = match position(rest, b'\n') {
            Some(end) => {
                let line = &rest[..end];
                rest = &rest[end + 1..];
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => std::mem::take(&mut rest),
        };
        Some(line)
    })
}

/// Where the ASCII byte `byte` first is in `text`.
fn position(text: &str, byte: u8) -> Option<usize> {
    text.bytes().position(|b| b == byte)
}

fn empty<'a>() -> SmarthostToml<'a> {
    SmarthostToml {
        relay: None,
        provider: None,
        encryption: None,
        username: None,
        password_file: None,
        password_env: None,
        password: None,
        backup: None,
        direct: None,
    }
}

/// The domains of a policy: from the `toml` crate, sorted by key, not yet
/// checked; from [`scan`], checked one by one as they were read.
pub(super) enum Domains<'a> {
    Sorted(BTreeMap<String, SmarthostToml<'a>>),
    Checked(DomainTables<'a>),
}

impl Default for Domains<'_> {
    fn default() -> Self {
        Domains::Sorted(BTreeMap::new())
    }
}

impl<'de> Deserialize<'de> for Domains<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Domains::Sorted)
    }
}

enum Header<'a> {
    Server,
    Domain(&'a str),
    /// 0: `[features]`, 1: `[features.server]`, 2: `[features.domain]`.
    Features(usize),
}

/// `[server]`, `[domains."name"]`, `[domains.'name']`, `[domains.name]`,
/// `[features]`, `[features.server]`, `[features.domain]`; an optional
/// comment after it.
fn header(content: &str) -> Option<Header<'_>> {
    let close = content.find(']')?;
    let (inside, after) = (&content[1..close], &content[close + 1..]);
    if !rest_ok(after) {
        return None;
    }
    match inside {
        "server" => return Some(Header::Server),
        "features" => return Some(Header::Features(0)),
        "features.server" => return Some(Header::Features(1)),
        "features.domain" => return Some(Header::Features(2)),
        _ => {}
    }
    let key = inside.strip_prefix("domains.")?;
    let name = match key.as_bytes().first()? {
        b'"' | b'\'' => {
            let (name, rest) = string(key)?;
            if !rest.is_empty() {
                return None;
            }
            name
        }
        _ if bare(key) => key,
        _ => return None,
    };
    // `]` inside the quoted name would have ended `inside` early.
    Some(Header::Domain(name))
}

/// `key = value` where value is a string or a boolean, then an optional
/// comment.
fn key_value(content: &str) -> Option<(&str, Value<'_>)> {
    let eq = position(content, b'=')?;
    let key = content[..eq].trim_end_matches([' ', '\t']);
    if !bare(key) {
        return None;
    }
    let value = content[eq + 1..].trim_start_matches([' ', '\t']);
    let (value, after) = match value.as_bytes().first()? {
        b'"' | b'\'' => {
            let (text, after) = string(value)?;
            (Value::Str(text), after)
        }
        _ if value.starts_with("true") => (Value::Bool(true), &value[4..]),
        _ if value.starts_with("false") => (Value::Bool(false), &value[5..]),
        _ => return None,
    };
    rest_ok(after).then_some((key, value))
}

enum Value<'a> {
    Str(&'a str),
    /// A boolean: a feature setting, or a `password` (refused later).
    Bool(bool),
}

/// A one-line basic (`"`) or literal (`'`) string without escapes at the
/// start of `text`: its content and what follows it.
fn string(text: &str) -> Option<(&str, &str)> {
    let quote = *text.as_bytes().first()?;
    let body = &text[1..];
    let end = position(body, quote)?;
    let content = &body[..end];
    // Multi-line strings (`"""`, `'''`) start with an empty string
    // followed by a quote; escapes and control characters are left to the
    // toml crate.
    if content.is_empty() && body.as_bytes().get(end + 1) == Some(&quote) {
        return None;
    }
    // Printable ASCII and tab in one pass; anything else (a backslash in a
    // basic string, a control character, any non-ASCII character) is
    // checked again character by character.
    let plain = (content.bytes()).all(|b| matches!(b, b' '..=b'~' | b'\t') && !(quote == b'"' && b == b'\\'));
    if !plain {
        if content.contains('\\') && quote == b'"' {
            return None;
        }
        if content.chars().any(|c| c.is_control() && c != '\t') {
            return None;
        }
    }
    Some((content, &body[end + 1..]))
}

fn bare(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What may follow a value or a header: blanks, then nothing or a comment.
fn rest_ok(after: &str) -> bool {
    let after = after.trim_start_matches([' ', '\t']);
    after.is_empty() || (after.starts_with('#') && comment_ok(after))
}

/// A comment may hold tab but no other control character (TOML 1.0).
fn comment_ok(comment: &str) -> bool {
    !comment.chars().any(|c| c.is_control() && c != '\t')
}

/// Stores one key of a smarthost table; `None` for a key the table does
/// not have, a repeated key, or a value of the wrong type.
fn set<'a>(entry: &mut SmarthostToml<'a>, key: &str, value: Value<'a>) -> Option<()> {
    fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        if slot.is_some() {
            return None;
        }
        *slot = Some(value);
        Some(())
    }
    let Value::Str(text) = value else {
        return if key == "password" {
            once(&mut entry.password, IgnoredAny)
        } else {
            None
        };
    };
    match key {
        "relay" => once(&mut entry.relay, Cow::Borrowed(text)),
        "provider" => once(&mut entry.provider, Cow::Borrowed(text)),
        "encryption" => {
            let parsed =
                Encryption::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text))
                    .ok()?;
            once(&mut entry.encryption, parsed)
        }
        "username" => once(&mut entry.username, Cow::Borrowed(text)),
        "password_file" => once(&mut entry.password_file, text.into()),
        "password_env" => once(&mut entry.password_env, Cow::Borrowed(text)),
        "password" => once(&mut entry.password, IgnoredAny),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Whatever `scan` reads, the toml crate reads to the same document;
    //! and `parse` gives exactly what the toml crate alone gives, errors
    //! included.
    use std::path::Path;

    use proptest::prelude::*;

    use super::super::{Checked, PolicyDocument, SecretSource};
    use super::scan;
    use crate::{Error, Secret};

    fn same(text: &str) {
        let path = Path::new("/etc/smarthost/policy.toml");
        let reference = Checked::parse_with_toml(path, text).map(Checked::into_document);
        let parsed = PolicyDocument::parse(path, text);
        match (&reference, &parsed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
            _ => panic!("{text}\nreference: {reference:?}\nparsed: {parsed:?}"),
        }
        if let Some(raw) = scan(text, path.parent().unwrap()) {
            let fast = Checked::from_raw(path, raw).map(Checked::into_document);
            if let Ok(fast) = fast {
                assert_eq!(
                    Some(&fast),
                    reference.as_ref().ok(),
                    "scan read what toml refuses:\n{text}"
                );
            }
        }
        // parse_and_resolve is parse, then resolve: the same policy or the
        // same error (here: files are refused, variables give a secret).
        let resolver = |field: &str, source: &SecretSource| match source {
            SecretSource::File(_) => Err(Error::SecretRefused {
                field: field.to_owned(),
                from: source.to_string(),
            }),
            SecretSource::Env(name) => Secret::new(format!("secret-of-{name}")),
        };
        let both = PolicyDocument::parse_and_resolve(path, text, &resolver);
        let steps = parsed.and_then(|document| document.resolve(&resolver));
        match (&steps, &both) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
            _ => panic!("{text}\nin steps: {steps:?}\nin one: {both:?}"),
        }
    }

    fn header() -> impl Strategy<Value = String> {
        let domain = prop_oneof![
            Just("a.example"),
            Just("A.example"),
            Just("b.example."),
            Just("bücher.example"),
            Just("a..b"),
            Just("x]y.example"),
            Just("a.example\\u0041"),
            Just("tab\there.example"),
        ];
        prop_oneof![
            Just("[server]".to_owned()),
            Just("[server] # the server".to_owned()),
            Just("[ server ]".to_owned()),
            Just("[features]".to_owned()),
            Just("[features.server]".to_owned()),
            Just("[features.domain]".to_owned()),
            Just("[features.other]".to_owned()),
            Just("[domains]".to_owned()),
            Just("[[domains]]".to_owned()),
            Just("[domains.bare-key]".to_owned()),
            Just("[domains.a.example]".to_owned()),
            Just("[unknown]".to_owned()),
            domain.clone().prop_map(|d| format!("[domains.\"{d}\"]")),
            domain.prop_map(|d| format!("[domains.'{d}']")),
        ]
    }

    fn key_value() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("relay"),
            Just("provider"),
            Just("encryption"),
            Just("username"),
            Just("password_file"),
            Just("password_env"),
            Just("password"),
            Just("enabled"),
            Just("check_certificate"),
            Just("\"relay\""),
            Just("relya"),
            Just("relay.x"),
        ];
        let value = prop_oneof![
            Just("\"[smtp.example.com]:587\""),
            Just("'[smtp.example.com]:465'"),
            Just("\"smtp.example.com\""),
            Just("\"bad relay\""),
            Just("\"sendgrid\""),
            Just("\"amazon-ses:eu-west-1\""),
            Just("\"starttls\""),
            Just("\"tls\""),
            Just("\"ssl\""),
            Just("\"implicit-tls\""),
            Just("\"none\""),
            Just("\"rot13\""),
            Just("\"user@example.com\""),
            Just("\"keys/relay\""),
            Just("'C:\\keys'"),
            Just("\"RELAY_KEY\""),
            Just("\"a\\\"b\""),
            Just("\"\"\"multi\"\"\""),
            Just("\"\""),
            Just("true"),
            Just("false"),
            Just("truex"),
            Just("1"),
            Just("[1, 2]"),
            Just("{ a = 1 }"),
            Just("\"x\" # comment"),
            Just("\"x\" junk"),
        ];
        (key, "[ \t]{0,2}", value).prop_map(|(k, space, v)| format!("{k}{space}={space}{v}"))
    }

    /// A line that usually belongs where it is: mostly valid keys with
    /// valid values, sometimes anything else.
    fn entry_line() -> impl Strategy<Value = String> {
        let valid = prop_oneof![
            Just("relay = \"[smtp.example.com]:587\""),
            Just("relay = '[smtp.example.com]:465'"),
            Just("provider = \"sendgrid\""),
            Just("encryption = \"tls\""),
            Just("username = \"user@example.com\""),
            Just("password_env = \"RELAY_KEY\""),
            Just("password_file = 'keys/relay'"),
            Just("enabled = false"),
            Just("check_certificate = true"),
        ];
        prop_oneof![
            6 => valid.prop_map(str::to_owned),
            3 => key_value(),
            1 => Just(String::new()),
            1 => Just("# a comment".to_owned()),
            1 => Just("\u{7}".to_owned()),
        ]
        .prop_flat_map(|line| {
            prop_oneof![
                4 => Just(line.clone()),
                1 => Just(format!("  {line}")),
                1 => Just(format!("{line}\r")),
                1 => Just(format!("{line} # trailing")),
            ]
        })
    }

    fn section() -> impl Strategy<Value = String> {
        (header(), prop::collection::vec(entry_line(), 0..5)).prop_map(|(h, lines)| {
            let mut text = h;
            for line in lines {
                text.push('\n');
                text.push_str(&line);
            }
            text
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn parse_is_the_toml_crate(sections in prop::collection::vec(section(), 0..5)) {
            same(&sections.join("\n"));
        }

        #[test]
        fn well_formed_policies_take_the_fast_path(
            domains in prop::collection::btree_set("[a-z]{1,8}\\.example", 0..20),
            relay in "(\\[[a-z]{1,6}\\.example\\]:(25|465|587)|[a-z]{1,6}\\.example)",
            crlf in any::<bool>(),
        ) {
            let mut text = format!("# policy\n[server]\nrelay = \"{relay}\"\nusername = \"srv\"\npassword_env = \"KEY\"\n\n[features.domain]\ncheck_certificate = false\n");
            for d in &domains {
                text.push_str(&format!("\n[domains.\"{d}\"]  # customer\n  relay = '{relay}'\n  encryption = \"none\"\n"));
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            prop_assert!(scan(&text, Path::new("/etc/smarthost")).is_some(), "{}", text);
            same(&text);
        }
    }
}
