//! The routing keys of the policy file (docs/policy.md, "Routing"): what
//! they read as, what they refuse (naming the field), and the warnings.

use std::path::Path;

use smarthost_core::{Bounces, Encryption, Error, Mailbox, Policy, PolicyDocument, Rule, Secret, SecretSource, Via};

fn parse(text: &str) -> Result<PolicyDocument, Error> {
    PolicyDocument::parse(Path::new("/etc/smarthost/policy.toml"), text)
}

/// Resolves every password to a fixed test value.
fn resolved(text: &str) -> Policy {
    let fixed = |_: &str, _: &SecretSource| Secret::new("test-password".to_owned());
    parse(text).unwrap().resolve(&fixed).unwrap()
}

const ROUTING: &str = r#"
bounces = "direct"

[server]
relay = "[smtp.sendgrid.net]:587"
username = "apikey"
password_env = "SENDGRID_KEY"
backup = ["[smtp.backup.example]:587", "backup2.example:2525"]

[domains."Shop.Example"]
relay = "[smtp.eu.mailgun.org]:587"

[domains."blog.example"]
direct = true

[mailboxes."Alice@Shop.Example"]
relay = "[smtp.postmarkapp.com]:587"
username = "token"
password_file = "postmark.key"

[recipients."partner.example"]
relay = "[mx.partner.example]:25"
encryption = "starttls"

[recipients."internal.example"]
direct = true
"#;

#[test]
fn every_routing_key_reads_into_the_model() {
    let p = resolved(ROUTING);
    let server = p.server.as_ref().unwrap();
    let backups: Vec<String> = server.backups.iter().map(ToString::to_string).collect();
    assert_eq!(backups, ["[smtp.backup.example]:587", "backup2.example:2525"]);
    assert!(p.direct.iter().any(|d| d.as_str() == "blog.example"));
    assert!(p.domains.keys().any(|d| d.as_str() == "shop.example"));
    let alice: Mailbox = "alice@shop.example".parse().unwrap();
    let m = &p.mailboxes[&alice];
    assert_eq!(m.credentials.as_ref().unwrap().username().to_string(), "token");
    assert!(p.recipients.keys().any(|d| d.as_str() == "partner.example"));
    assert!(p.direct_recipients.iter().any(|d| d.as_str() == "internal.example"));
    assert_eq!(p.bounces, Bounces::Direct);
    assert!(p.validate().is_ok());

    // Every route of the precedence table, through the file.
    let rule = |from: &str, to: &str| p.route_to(from, Some(to)).unwrap().rule;
    assert_eq!(rule("bob@shop.example", "x@partner.example"), Rule::Recipient);
    assert_eq!(rule("<>", "x@other.example"), Rule::Bounces);
    assert_eq!(rule("ALICE@shop.example", "x@other.example"), Rule::Mailbox);
    assert_eq!(rule("bob@shop.example", "x@other.example"), Rule::Domain);
    assert_eq!(rule("bob@blog.example", "x@other.example"), Rule::DirectException);
    assert_eq!(rule("bob@elsewhere.example", "x@other.example"), Rule::Server);
    let internal = p.route_to("bob@shop.example", Some("x@internal.example")).unwrap();
    assert_eq!((internal.rule, internal.via), (Rule::Recipient, Via::Direct));
}

#[test]
fn the_passwords_of_the_new_tables_are_named_by_field() {
    let document = parse(ROUTING).unwrap();
    let fields: Vec<String> = document.secret_sources().map(|s| s.field).collect();
    assert_eq!(fields, ["server.password", "mailboxes.\"alice@shop.example\".password"]);
    let refuse = |field: &str, source: &SecretSource| -> Result<Secret, Error> {
        Err(Error::SecretRefused {
            field: field.to_owned(),
            from: source.to_string(),
        })
    };
    let text = ROUTING
        .replace("password_env = \"SENDGRID_KEY\"", "")
        .replace("username = \"apikey\"", "");
    let err = parse(&text).unwrap().resolve(&refuse).unwrap_err().to_string();
    assert!(err.starts_with("mailboxes.\"alice@shop.example\".password"), "{err}");
}

#[test]
fn bounces_take_a_word_a_relay_or_a_table() {
    assert_eq!(resolved("bounces = \"server\"\n").bounces, Bounces::Server);
    let relay = resolved("bounces = \"[bounces.example]:587\"\n");
    assert_eq!(
        relay.bounces.relay().unwrap().relay.to_string(),
        "[bounces.example]:587"
    );
    let table = resolved("[bounces]\nrelay = \"[b.example]:465\"\nusername = \"u\"\npassword_env = \"B\"\n");
    let b = table.bounces.relay().unwrap();
    assert_eq!(b.encryption, Encryption::ImplicitTls);
    assert!(b.credentials.is_some());
    let err = parse("bounces = \"smtp.example.com:99999\"\n").unwrap_err().to_string();
    assert!(err.starts_with("bounces"), "{err}");
}

/// Each refusal names the field where the problem is.
#[test]
fn refusals_name_the_field() {
    let cases = [
        (
            "[domains.\"a.example\"]\ndirect = true\nrelay = \"[r.example]:587\"\n",
            "domains.\"a.example\".direct",
            "takes no relay",
        ),
        (
            "[domains.\"a.example\"]\ndirect = false\n",
            "domains.\"a.example\".direct",
            "leave direct out",
        ),
        (
            "[domains.\"a.example\"]\ndirect = true\n[domains.\"A.example.\"]\nrelay = \"[r.example]:587\"\n",
            "domains.",
            "same domain as another entry",
        ),
        (
            "[server]\nrelay = \"[r.example]:587\"\ndirect = true\n",
            "server.direct",
            "only a [domains",
        ),
        (
            "[server]\nrelay = \"[r.example]:587\"\nbackup = [\"[r.example]:587\"]\n",
            "server.backup",
            "listed twice",
        ),
        (
            "[server]\nrelay = \"[r.example]:587\"\nbackup = [\"[b.example]:587\", \"[b.example]:587\"]\n",
            "server.backup",
            "listed twice",
        ),
        (
            "[server]\nrelay = \"[r.example]:587\"\nbackup = [\"[b.example]:587x\"]\n",
            "server.backup[0]",
            "",
        ),
        (
            "[mailboxes.\"example.com\"]\nrelay = \"[r.example]:587\"\n",
            "mailboxes.\"example.com\"",
            "has no '@'",
        ),
        (
            "[mailboxes.\"a#b@example.com\"]\nrelay = \"[r.example]:587\"\n",
            "mailboxes.\"a#b@example.com\"",
            "'#'",
        ),
        (
            "[mailboxes.\"a@example.com\"]\n[mailboxes.\"A@example.com\"]\nrelay = \"[r.example]:587\"\n",
            "mailboxes.",
            "",
        ),
        (
            "[recipients.\"bad domain\"]\nrelay = \"[r.example]:587\"\n",
            "recipients.\"bad domain\"",
            "",
        ),
        (
            "[features.server]\nenabled = false\n[recipients.\"p.example\"]\ndirect = true\n",
            "recipients.\"p.example\"",
            "features.server.enabled",
        ),
        (
            "bounces = \"direct\"\n[features.server]\nenabled = false\n",
            "bounces",
            "features.server.enabled",
        ),
        (
            "[features.domain]\nenabled = false\n[mailboxes.\"a@p.example\"]\nrelay = \"[r.example]:587\"\n",
            "mailboxes.\"a@p.example\"",
            "features.domain.enabled",
        ),
    ];
    for (text, field, words) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with(field), "{text}\n-> {err}");
        assert!(err.contains(words), "{text}\n-> {err}");
    }
    let nine: Vec<String> = (0..9).map(|i| format!("\"[b{i}.example]:587\"")).collect();
    let text = format!(
        "[server]\nrelay = \"[r.example]:587\"\nbackup = [{}]\n",
        nine.join(", ")
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("server.backup") && err.contains("more than 8"), "{err}");
}

#[test]
fn warnings_for_bounces_through_ses_and_useless_direct_exceptions() {
    let ses = resolved("[server]\nprovider = \"amazon-ses:eu-west-1\"\nusername = \"AKIA\"\npassword_env = \"K\"\n");
    let warnings = ses.validate().unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("refuses the null sender")),
        "{warnings:?}"
    );
    let mut direct = ses.clone();
    direct.bounces = Bounces::Direct;
    assert!(!direct.validate().unwrap().iter().any(|w| w.contains("null sender")));

    let lonely = resolved("[domains.\"a.example\"]\ndirect = true\n");
    assert!(lonely
        .validate()
        .unwrap()
        .iter()
        .any(|w| w.contains("change nothing without a server-wide smarthost")));
}

#[test]
fn forwarding_through_a_relay_that_needs_verified_senders_warns_with_the_choices() {
    let p = resolved("[server]\nprovider = \"sendgrid\"\npassword_env = \"K\"\n");
    let targets = vec!["someone@gmail.example".to_owned()];
    let warnings = p.forwarding_warnings(&targets, None);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.contains("someone@gmail.example") && w.contains("SRS") && w.contains("--direct"),
        "{w}"
    );
    assert!(p.forwarding_warnings(&targets, Some("postsrsd")).is_empty());
    // A relay that accepts any sender (Mailgun), or direct delivery: no warning.
    let mailgun = resolved("[server]\nprovider = \"mailgun\"\nusername = \"u\"\npassword_env = \"K\"\n");
    assert!(mailgun.forwarding_warnings(&targets, None).is_empty());
    assert!(Policy::default().forwarding_warnings(&targets, None).is_empty());
    // A direct route for the target's domain takes the forwarded mail off the relay.
    let mut routed = p.clone();
    routed.set_recipient("gmail.example".parse().unwrap(), None).unwrap();
    assert!(routed.forwarding_warnings(&targets, None).is_empty());
    let route = p.route_forwarded("someone@gmail.example").unwrap();
    assert_eq!(route.rule, Rule::Server);
    assert!(route.reason.contains("SRS"), "{}", route.reason);
}
