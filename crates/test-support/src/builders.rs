//! Smarthosts and policies from short literals, as every suite writes them.

use smarthost_core::{
    Bounces, Credentials, DomainName, Encryption, Mailbox, Policy, RelayHost, RoutingRule, Secret, Smarthost, Username,
};

/// A smarthost for `relay` (as a user types it, e.g. `[smtp.example.com]:587`)
/// with `encryption`, logging in as `login`'s user with its password when
/// given. Panics on input the model refuses: tests pass valid literals.
pub fn relay(relay: &str, encryption: Encryption, login: Option<(&str, &str)>) -> Smarthost {
    let smarthost = Smarthost::new(RelayHost::parse(relay).unwrap()).with_encryption(encryption);
    match login {
        Some((user, password)) => smarthost.with_credentials(Credentials::new(
            Username::new(user).unwrap(),
            Secret::new(password.to_owned()).unwrap(),
        )),
        None => smarthost,
    }
}

/// Relay number `i` (`[relay{i}.example.net]:587`, default encryption),
/// logging in with account number `a` (`user{a}`, password
/// `test-secret-{a}`) when given: the relays of test fleets.
pub fn numbered_relay(i: usize, account: Option<usize>) -> Smarthost {
    let smarthost = Smarthost::new(RelayHost::parse(&format!("[relay{i}.example.net]:587")).unwrap());
    match account {
        Some(a) => smarthost.with_credentials(Credentials::new(
            Username::new(&format!("user{a}")).unwrap(),
            Secret::new(format!("test-secret-{a}")).unwrap(),
        )),
        None => smarthost,
    }
}

/// Customer domain number `i` (`customer{i}.example`) of a test fleet.
pub fn customer(i: usize) -> DomainName {
    domain(&format!("customer{i}.example"))
}

/// A domain name from a literal.
pub fn domain(name: &str) -> DomainName {
    name.parse().unwrap()
}

/// A policy with this server-wide smarthost and these per-domain ones;
/// the feature settings are the defaults.
pub fn policy(server: Option<Smarthost>, domains: &[(&str, Smarthost)]) -> Policy {
    Policy {
        server,
        domains: domains.iter().map(|(d, s)| (domain(d), s.clone())).collect(),
        ..Policy::default()
    }
}

/// `base` with exactly one routing rule beyond server-wide and per-domain
/// smarthosts added, for each [`RoutingRule`]: what the Windows backends
/// must refuse by name. Each comes with the field the refusal must name.
pub fn with_each_routing_rule(base: &Policy) -> Vec<(RoutingRule, &'static str, Policy)> {
    let backup = RelayHost::parse("[backup.example.net]:587").unwrap();
    let mut out = Vec::new();
    let mut p = base.clone();
    let server = p.server.take().expect("a base policy with a server-wide smarthost");
    p.server = Some(server.with_backups(vec![backup]).unwrap());
    out.push((RoutingRule::Backup, "server.backup", p));
    let mut p = base.clone();
    p.set_direct(domain("direct.example")).unwrap();
    out.push((RoutingRule::DirectException, "domains.\"direct.example\".direct", p));
    let mut p = base.clone();
    let alice = Mailbox::parse_field("mailbox", "alice@a.example").unwrap();
    p.set_mailbox(alice, relay("[alice.relay.example]:587", Encryption::Starttls, None))
        .unwrap();
    out.push((RoutingRule::Mailbox, "mailboxes.\"alice@a.example\"", p));
    let mut p = base.clone();
    let partner = relay("[partner.relay.example]:587", Encryption::Starttls, None);
    p.set_recipient(domain("partner.example"), Some(partner)).unwrap();
    out.push((RoutingRule::Recipient, "recipients.\"partner.example\"", p));
    let mut p = base.clone();
    p.bounces = Bounces::Direct;
    out.push((RoutingRule::Bounces, "bounces", p));
    out
}
