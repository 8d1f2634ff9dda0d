//! Policies shared by the native and the Wine tests.
#![allow(dead_code)] // each test binary uses a part

use smarthost_core::{Encryption, Policy, Smarthost};

pub(crate) const PASSWORD: &str = "me-Pa55\"quote\\back wörd";

/// A smarthost whose user (if any) logs in with [`PASSWORD`].
pub(crate) fn relay(text: &str, encryption: Encryption, user: Option<&str>) -> Smarthost {
    test_support::builders::relay(text, encryption, user.map(|u| (u, PASSWORD)))
}

pub(crate) use test_support::builders::policy;

/// server only, domain only, both, with and without auth, and disabled.
pub(crate) fn cases() -> Vec<(&'static str, Policy)> {
    let sendgrid = || relay("[smtp.sendgrid.net]:587", Encryption::Starttls, Some("apikey"));
    let internal = || relay("[192.0.2.25]:25", Encryption::None, None);
    vec![
        ("server_auth", policy(Some(sendgrid()), &[])),
        ("server_no_auth", policy(Some(internal()), &[])),
        ("domain_only", policy(None, &[("a.example", sendgrid())])),
        (
            "both",
            policy(
                Some(internal()),
                &[("a.example", sendgrid()), ("b.example", internal())],
            ),
        ),
        ("disabled", Policy::default()),
    ]
}

/// Names as `learn` would save them on a server that uses the built-in
/// names and keeps domain-level smart hosts below `Sender Smart Hosts`: the
/// tests' stand-in for a learned server (no public source says MailEnable
/// does either).
pub(crate) fn learned() -> mailenable_backend::Names {
    use mailenable_backend::names::DomainNames;
    use mailenable_backend::Role;
    let mut names = mailenable_backend::Names::builtin();
    names.learned = true;
    let mut values = names.server.clone();
    values.remove(&Role::Enabled);
    names.domains = Some(DomainNames {
        key: r"SOFTWARE\Mail Enable\Mail Enable\Connectors\SMTP\Sender Smart Hosts".to_owned(),
        values,
    });
    names
}
