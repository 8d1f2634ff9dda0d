//! Policy: routing precedence, feature settings, the policy file and redaction.

use std::path::Path;

use proptest::prelude::*;
use smarthost_core::{
    Bounces, Credentials, DomainName, Encryption, Error, Features, FileChange, Mailbox, Plan, Policy, RelayHost, Rule,
    Secret, Smarthost, Username, Via,
};

const SECRET: &str = "S3cr3t-Pa55w0rd-value";

fn smarthost(relay: &str) -> Smarthost {
    Smarthost::new(RelayHost::parse(relay).unwrap())
}

fn with_auth(relay: &str, user: &str) -> Smarthost {
    smarthost(relay).with_credentials(Credentials::new(
        Username::new(user).unwrap(),
        Secret::new(SECRET.to_owned()).unwrap(),
    ))
}

fn domain(d: &str) -> DomainName {
    d.parse().unwrap()
}

fn sample() -> Policy {
    let mut p = Policy::default();
    p.set_server(with_auth("[smtp.sendgrid.net]:587", "apikey")).unwrap();
    p.set_domain(
        domain("shop.example"),
        with_auth("[smtp.mailgun.org]:587", "postmaster@mg.shop.example"),
    )
    .unwrap();
    p
}

#[test]
fn domain_smarthost_wins_over_server() {
    let p = sample();
    let r = p.route("alice@Shop.Example").unwrap();
    assert!(
        matches!(r.via, Via::Domain(s) if s.relay.to_string() == "[smtp.mailgun.org]:587"),
        "{r}"
    );
    let r = p.route("bob@other.example").unwrap();
    assert!(
        matches!(r.via, Via::Server(s) if s.relay.to_string() == "[smtp.sendgrid.net]:587"),
        "{r}"
    );
}

#[test]
fn subdomains_do_not_inherit_their_parent() {
    let p = sample();
    let r = p.route("eve@eu.shop.example").unwrap();
    assert!(matches!(r.via, Via::Server(_)), "{r}");
    assert!(r.reason.contains("subdomains do not inherit"), "{}", r.reason);
}

#[test]
fn without_any_smarthost_mail_goes_direct() {
    let mut p = sample();
    p.server = None;
    assert_eq!(p.route("bob@other.example").unwrap().via, Via::Direct);
    assert_eq!(p.route("<>").unwrap().via, Via::Direct);
    assert!(matches!(p.route("@shop.example").unwrap().via, Via::Domain(_)));
    assert!(matches!(p.route("shop.example").unwrap().via, Via::Domain(_)));
}

#[test]
fn the_null_sender_takes_the_server_smarthost() {
    let p = sample();
    assert!(matches!(p.route("<>").unwrap().via, Via::Server(_)));
    assert_eq!(sample().route("").unwrap().sender_domain, None);
}

#[test]
fn a_bad_sender_is_an_error_naming_it() {
    let err = sample().route("bob@exa mple.com").unwrap_err();
    assert_eq!(err.field(), Some("sender"));
}

#[test]
fn disabled_levels_refuse_set() {
    let mut p = Policy::default();
    p.features.server.enabled = false;
    let err = p.set_server(smarthost("[smtp.example.com]:587")).unwrap_err();
    assert!(matches!(err, Error::FeatureDisabled { .. }));
    assert_eq!(
        err.to_string(),
        "server: server-level smarthosts are disabled by the feature settings (features.server.enabled = false)"
    );
    assert!(p.server.is_none());

    let mut p = Policy::default();
    p.features.domain.enabled = false;
    let err = p
        .set_domain(domain("a.example"), smarthost("[smtp.example.com]:587"))
        .unwrap_err();
    assert!(err.to_string().contains("features.domain.enabled = false"), "{err}");
    assert!(p.domains.is_empty());

    // Bounces: a path of their own is server-level; the default stays allowed.
    let mut p = Policy::default();
    p.features.server.enabled = false;
    let err = p.set_bounces(Bounces::Direct).unwrap_err();
    assert!(err.to_string().starts_with("bounces: server-level"), "{err}");
    assert_eq!(p.bounces, Bounces::Server);
    p.set_bounces(Bounces::Server).unwrap();
}

#[test]
fn settings_can_only_turn_features_off() {
    let admin =
        Features::from_settings_toml(Path::new("settings.toml"), "[features.domain]\nenabled = false\n").unwrap();
    let mut from_policy = Features::default();
    from_policy.server.check_certificate = false;
    let both = admin.and(from_policy);
    assert!(!both.domain.enabled);
    assert!(!both.server.check_certificate);
    assert!(both.server.enabled && both.domain.check_certificate);
    let err =
        Features::from_settings_toml(Path::new("settings.toml"), "[features.server]\nenable = false\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `enable`"), "{err}");
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn policy_file_reads_secrets_from_files_and_env() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mailgun.secret", &format!("{SECRET}\n"));
    std::env::set_var("SMARTHOST_TEST_KEY", SECRET);
    let path = write(
        dir.path(),
        "policy.toml",
        r#"
[server]
relay = "[smtp.sendgrid.net]:587"
username = "apikey"
password_env = "SMARTHOST_TEST_KEY"

[domains."Shop.Example."]
relay = "[smtp.mailgun.org]:465"
username = "postmaster@mg.shop.example"
password_file = "mailgun.secret"

[domains."legacy.example"]
relay = "[192.0.2.25]"
encryption = "none"

[features.domain]
check_certificate = false
"#,
    );
    let p = Policy::load(&path).unwrap();
    let server = p.server.as_ref().unwrap();
    assert_eq!(server.credentials.as_ref().unwrap().password().expose(), SECRET);
    assert_eq!(server.encryption, Encryption::Starttls);
    let shop = &p.domains[&domain("shop.example")];
    assert_eq!(
        shop.credentials.as_ref().unwrap().password().expose(),
        SECRET,
        "trailing newline removed"
    );
    assert_eq!(
        shop.encryption,
        Encryption::ImplicitTls,
        "port 465 defaults to implicit TLS"
    );
    assert_eq!(p.domains[&domain("legacy.example")].encryption, Encryption::None);
    assert!(!p.features.domain.check_certificate);
    assert!(p.features.server.check_certificate);
}

#[test]
fn policy_file_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nrelay = \"smtp.example.com:0\"\n", "server.relay.port"),
        ("[domains.\"bad domain\"]\nrelay = \"[smtp.example.com]\"\n", "domains.\"bad domain\""),
        ("[domains.\"a.example\"]\nrelay = \"[smtp.example.com]\"\nusername = \"u:x\"\npassword_env = \"X\"\n", "domains.\"a.example\".username"),
        ("[server]\nrelay = \"[smtp.example.com]\"\nusername = \"u\"\n", "server.password_file"),
        ("[server]\nrelay = \"[smtp.example.com]\"\nusername = \"u\"\npassword_env = \"SMARTHOST_TEST_UNSET_VAR\"\n", "server.password"),
        ("[server]\nrelay = \"[smtp.example.com]\"\nusername = \"u\"\npassword_file = \"missing.secret\"\n", "server.password"),
        ("[server]\nrelay = \"[smtp.example.com]\"\npassword = \"inline\"\n", "server.password"),
        ("[domains.\"a.example\"]\nrelay = \"[smtp.example.com]\"\n[domains.\"A.EXAMPLE\"]\nrelay = \"[smtp.example.com]\"\n", "domains.\"a.example\""),
        ("[features.domain]\nenabled = false\n[domains.\"a.example\"]\nrelay = \"[smtp.example.com]\"\n", "domains.\"a.example\""),
    ];
    for (text, field) in cases {
        let path = write(dir.path(), "policy.toml", text);
        let err = Policy::load(&path).expect_err(text);
        assert_eq!(err.field(), Some(field), "{text}: {err}");
        assert!(!err.to_string().contains("inline"), "{err}");
    }
    let path = write(
        dir.path(),
        "policy.toml",
        "[server]\nrelay = \"[smtp.example.com]\"\nrelay_host = \"x\"\n",
    );
    let err = Policy::load(&path).unwrap_err();
    assert!(err.to_string().contains("unknown field `relay_host`"), "{err}");
}

#[test]
fn secrets_never_appear_in_debug_display_json_or_plans() {
    let p = sample();
    let creds = p.server.as_ref().unwrap().credentials.as_ref().unwrap();
    assert!(!format!("{p:?}").contains(SECRET));
    assert!(!format!("{creds:?} {}", creds.password()).contains(SECRET));
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains(SECRET), "{json}");
    assert!(json.contains("<redacted>"));
    let route = p.route("a@shop.example").unwrap();
    assert!(!serde_json::to_string(&route).unwrap().contains(SECRET));

    let mut plan = Plan::new("test");
    let text = format!("[smtp.sendgrid.net]:587 apikey:{SECRET}\n");
    let change = FileChange::sensitive("/etc/secrets".into(), 0o600, None, Some(text.clone()), |t| {
        t.replace(SECRET, "<redacted>")
    });
    assert_eq!(
        change.after(),
        Some(text.as_str()),
        "the real content is kept for writing"
    );
    plan.changes.push(smarthost_core::Change::File(change));
    assert!(!plan.render().contains(SECRET), "{}", plan.render());
    assert!(!format!("{plan:?}").contains(SECRET));
    assert!(!serde_json::to_string(&plan).unwrap().contains(SECRET));

    let err = Secret::new(format!("{SECRET}\n")).unwrap_err();
    assert!(!err.to_string().contains(SECRET));
}

fn arb_domain() -> impl Strategy<Value = DomainName> {
    prop::sample::select(vec!["a.example", "b.example", "sub.a.example", "c.test", "d.test"]).prop_map(domain)
}

/// What the docs' precedence table says (docs/guide.md, "Routing"),
/// written independently of `Policy::route_to`: the rule and the relay.
fn reference(p: &Policy, local: &str, sender: Option<&DomainName>, recipient: &DomainName) -> (Rule, Option<String>) {
    let relay = |s: &Smarthost| Some(s.relay.to_string());
    if let Some(s) = p.recipients.get(recipient) {
        return (Rule::Recipient, relay(s));
    }
    if p.direct_recipients.contains(recipient) {
        return (Rule::Recipient, None);
    }
    let Some(sender) = sender else {
        return match (&p.bounces, &p.server) {
            (Bounces::Relay(s), _) => (Rule::Bounces, relay(s)),
            (Bounces::Direct, _) => (Rule::Bounces, None),
            (Bounces::Server, Some(s)) => (Rule::Server, relay(s)),
            (Bounces::Server, None) => (Rule::None, None),
        };
    };
    let mailbox = Mailbox::parse_field("m", &format!("{local}@{sender}")).unwrap();
    if let Some(s) = p.mailboxes.get(&mailbox) {
        return (Rule::Mailbox, relay(s));
    }
    if let Some(s) = p.domains.get(sender) {
        return (Rule::Domain, relay(s));
    }
    if p.direct.contains(sender) {
        return (Rule::DirectException, None);
    }
    match &p.server {
        Some(s) => (Rule::Server, relay(s)),
        None => (Rule::None, None),
    }
}

/// One rule to add to a policy, from small pools so that rules collide.
#[derive(Clone, Debug)]
enum Add {
    Domain(DomainName),
    Direct(DomainName),
    Mailbox(String, DomainName),
    Recipient(DomainName),
    DirectRecipient(DomainName),
    BouncesDirect,
    BouncesRelay,
}

fn arb_add() -> impl Strategy<Value = Add> {
    let local = || prop::sample::select(vec!["alice", "bob"]).prop_map(str::to_owned);
    prop_oneof![
        arb_domain().prop_map(Add::Domain),
        arb_domain().prop_map(Add::Direct),
        (local(), arb_domain()).prop_map(|(l, d)| Add::Mailbox(l, d)),
        arb_domain().prop_map(Add::Recipient),
        arb_domain().prop_map(Add::DirectRecipient),
        Just(Add::BouncesDirect),
        Just(Add::BouncesRelay),
    ]
}

proptest! {
    /// `route_to` agrees with the precedence table of the docs for every
    /// mix of rules: recipient route, bounces, mailbox, domain, direct
    /// exception, server, none.
    #[test]
    fn routing_precedence(
        adds in prop::collection::vec(arb_add(), 0..8),
        server in any::<bool>(),
        local in prop::sample::select(vec!["alice", "bob", "carol"]),
        sender in prop::option::of(arb_domain()),
        recipient in arb_domain(),
    ) {
        let mut p = Policy::default();
        if server {
            p.set_server(smarthost("[server.relay.example]:587")).unwrap();
        }
        for add in adds {
            match add {
                Add::Domain(d) => { let s = smarthost(&format!("[relay.{d}]:587")); p.set_domain(d, s).unwrap() }
                Add::Direct(d) => p.set_direct(d).unwrap(),
                Add::Mailbox(l, d) => {
                    let m = Mailbox::parse_field("m", &format!("{l}@{d}")).unwrap();
                    p.set_mailbox(m, smarthost(&format!("[{l}.{d}]:587"))).unwrap()
                }
                Add::Recipient(d) => { let s = smarthost(&format!("[to.{d}]:587")); p.set_recipient(d, Some(s)).unwrap() }
                Add::DirectRecipient(d) => p.set_recipient(d, None).unwrap(),
                Add::BouncesDirect => p.bounces = Bounces::Direct,
                Add::BouncesRelay => p.bounces = Bounces::Relay(smarthost("[bounces.example]:587")),
            }
        }
        prop_assert!(p.validate().is_ok());
        let from = match &sender {
            Some(d) => format!("{local}@{}", d.as_str().to_uppercase()),
            None => "<>".to_owned(),
        };
        let to = format!("someone@{recipient}");
        let route = p.route_to(&from, Some(&to)).unwrap();
        let (rule, relay) = reference(&p, local, sender.as_ref(), &recipient);
        prop_assert_eq!(route.rule, rule);
        prop_assert_eq!(route.via.smarthost().map(|s| s.relay.to_string()), relay);
        prop_assert_eq!(matches!(route.via, Via::Direct), route.via.smarthost().is_none());
    }
}
