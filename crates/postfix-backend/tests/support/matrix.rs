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
