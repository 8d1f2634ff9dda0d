#![allow(dead_code)] // each test binary uses a part of the matrix
//! The policies every Postfix test runs: snapshots, `postfix check`, e2e.

use smarthost_core::{Encryption, Policy, Smarthost};
use test_support::builders::{self, policy};

/// The one password every test credential uses, so tests can assert that it
/// never leaks and redact it in snapshots.
pub(crate) const PASSWORD: &str = "Pa55-w0rd:with-colon";

/// A Debian-like main.cf, written for these tests: comments, a continuation,
/// and parameters the backend must keep byte for byte.
pub(crate) const BASE_MAIN_CF: &str = "\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
readme_directory = no
compatibility_level = 3.6

# TLS parameters
smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem
smtpd_tls_key_file=/etc/ssl/private/ssl-cert-snakeoil.key
smtpd_tls_security_level=may
smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache

smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated
    defer_unauth_destination
myhostname = mx.example.org
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
mydestination = $myhostname, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
";

/// A smarthost from a relay string, encryption and optional user, who logs
/// in with [`PASSWORD`].
pub(crate) fn relay(text: &str, encryption: Encryption, user: Option<&str>) -> Smarthost {
    builders::relay(text, encryption, user.map(|u| (u, PASSWORD)))
}

/// Named policies covering the matrix of issue #11.
pub(crate) fn cases() -> Vec<(&'static str, Policy)> {
    use Encryption::{ImplicitTls, Starttls};
    let sendgrid = || relay("[smtp.sendgrid.net]:587", Starttls, Some("apikey"));
    let mut unchecked = policy(
        Some(relay("[selfsigned.example]:587", Starttls, Some("u"))),
        &[("a.example", relay("[selfsigned.example]:2525", Starttls, Some("u")))],
    );
    unchecked.features.server.check_certificate = false;
    unchecked.features.domain.check_certificate = false;
    vec![
        ("server_only_starttls_auth", policy(Some(sendgrid()), &[])),
        (
            "server_and_domain_starttls",
            policy(
                Some(sendgrid()),
                &[(
                    "a.example",
                    relay("[smtp.mailgun.org]:587", Starttls, Some("postmaster@mg.a.example")),
                )],
            ),
        ),
        (
            "domains_only_shared_relay_two_accounts",
            policy(
                None,
                &[
                    ("a.example", relay("[smtp.mailgun.org]:587", Starttls, Some("user-a"))),
                    ("b.example", relay("[smtp.mailgun.org]:587", Starttls, Some("user-b"))),
                    ("c.example", relay("[relay.c.example]:25", Encryption::None, None)),
                ],
            ),
        ),
        (
            "server_465_domain_587",
            policy(
                Some(relay("[smtp.sendgrid.net]:465", ImplicitTls, Some("apikey"))),
                &[("a.example", relay("[smtp.mailgun.org]:587", Starttls, Some("user-a")))],
            ),
        ),
        (
            "server_587_domain_465",
            policy(
                Some(sendgrid()),
                &[(
                    "c.example",
                    relay("[smtp.mailgun.org]:465", ImplicitTls, Some("user-c")),
                )],
            ),
        ),
        (
            "server_encryption_not_required_no_auth",
            policy(Some(relay("[relay.internal.example]:25", Encryption::None, None)), &[]),
        ),
        ("certificate_check_off", unchecked),
        (
            "mx_lookup_unbracketed_no_auth",
            policy(Some(relay("mail.example.net:587", Starttls, None)), &[]),
        ),
        (
            "ip_relays_ipv6_and_ipv4",
            policy(
                Some(relay("[2001:db8::25]:587", Starttls, Some("v6user"))),
                &[("d.example", relay("[192.0.2.25]:465", ImplicitTls, None))],
            ),
        ),
        (
            "domain_without_credentials_on_the_server_relay",
            policy(
                Some(sendgrid()),
                &[
                    ("n.example", relay("[smtp.sendgrid.net]:587", Starttls, None)),
                    ("t.example", relay("[smtp.sendgrid.net]:465", ImplicitTls, None)),
                ],
            ),
        ),
        ("nothing", Policy::default()),
    ]
}

/// Named policies of the routing items (issue 17): direct exceptions (and
/// the direct mode they need), backup relays, mailboxes, recipient routes
/// and bounces.
pub(crate) fn routing_cases() -> Vec<(&'static str, Policy)> {
    use smarthost_core::{Bounces, Mailbox, RelayHost};
    use Encryption::{ImplicitTls, Starttls};
    let d = |name: &str| builders::domain(name);
    let hop = |text: &str| RelayHost::parse(text).unwrap();
    let mailbox = |text: &str| text.parse::<Mailbox>().unwrap();

    let mut direct_mode = policy(
        Some(relay("[smtp.sendgrid.net]:587", Starttls, Some("apikey"))),
        &[("a.example", relay("[a-relay.example]:587", Starttls, Some("a-user")))],
    );
    direct_mode.direct.insert(d("b.example"));

    let mut wrapped_bounces_direct = policy(
        Some(relay("[smtp.relay.example]:465", ImplicitTls, Some("server-user"))),
        &[("c.example", relay("[c-relay.example]:587", Starttls, None))],
    );
    wrapped_bounces_direct.bounces = Bounces::Direct;

    let backups = policy(
        Some(
            relay("[primary.example]:587", Starttls, Some("server-user"))
                .with_backups(vec![hop("[backup.example]:587"), hop("[192.0.2.7]:587")])
                .unwrap(),
        ),
        &[(
            "d.example",
            relay("[d-relay.example]:465", ImplicitTls, Some("d-user"))
                .with_backups(vec![hop("[d-backup.example]:465")])
                .unwrap(),
        )],
    );

    let mut mailboxes = policy(
        Some(relay("[smtp.relay.example]:587", Starttls, Some("server-user"))),
        &[("m.example", relay("[m-relay.example]:587", Starttls, Some("m-user")))],
    );
    mailboxes.mailboxes.insert(
        mailbox("alice@m.example"),
        relay("[alice-relay.example]:465", ImplicitTls, Some("alice-user")),
    );
    // No account of its own: it must not log in with m.example's.
    mailboxes
        .mailboxes
        .insert(mailbox("bob@m.example"), relay("[m-relay.example]:587", Starttls, None));
    mailboxes.mailboxes.insert(
        mailbox("1st@x.example"),
        relay("[x-relay.example]:587", Starttls, Some("x-user")),
    );

    let mut routes = policy(
        Some(relay("[smtp.relay.example]:587", Starttls, Some("server-user"))),
        &[],
    );
    routes.recipients.insert(
        d("partner.example"),
        relay("[partner-relay.example]:587", Starttls, Some("partner-user")),
    );
    routes.recipients.insert(
        d("secure.example"),
        relay("[secure-relay.example]:465", ImplicitTls, Some("secure-user"))
            .with_backups(vec![hop("[secure-backup.example]:465")])
            .unwrap(),
    );
    routes.recipients.insert(
        d("open.example"),
        relay("[open-relay.example]:25", Encryption::None, None),
    );
    routes.direct_recipients.insert(d("direct.example"));
    routes.bounces = Bounces::Relay(relay("[bounce-relay.example]:587", Starttls, Some("bounce-user")));

    let mut routes_without_accounts = Policy::default();
    routes_without_accounts.recipients.insert(
        d("partner.example"),
        relay("[partner-relay.example]:587", Starttls, None),
    );

    let mut direct_without_server = Policy::default();
    direct_without_server.direct.insert(d("a.example"));
    direct_without_server.bounces = Bounces::Direct;

    vec![
        ("routing_direct_mode", direct_mode),
        (
            "routing_direct_mode_implicit_tls_bounces_direct",
            wrapped_bounces_direct,
        ),
        ("routing_backups", backups),
        ("routing_mailboxes", mailboxes),
        ("routing_recipient_routes_and_bounce_relay", routes),
        ("routing_recipient_route_without_accounts", routes_without_accounts),
        ("routing_direct_without_server", direct_without_server),
    ]
}

/// Asserts that `read` (what the backend read back) has every routing rule
/// of `policy`, naming the first that differs; `what` names the case.
/// (The feature settings are not compared: certificate checks read back
/// from the TLS policy.)
pub(crate) fn assert_rules_read_back(read: &Policy, policy: &Policy, what: &str) {
    assert_eq!(read.server, policy.server, "{what}: server read back");
    assert_eq!(read.domains, policy.domains, "{what}: domains read back");
    assert_eq!(read.direct, policy.direct, "{what}: direct read back");
    assert_eq!(read.mailboxes, policy.mailboxes, "{what}: mailboxes read back");
    assert_eq!(read.recipients, policy.recipients, "{what}: recipients read back");
    assert_eq!(
        read.direct_recipients, policy.direct_recipients,
        "{what}: direct recipients read back"
    );
    assert_eq!(read.bounces, policy.bounces, "{what}: bounces read back");
}
