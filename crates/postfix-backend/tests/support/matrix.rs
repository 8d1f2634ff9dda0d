//! The policies every Postfix test runs: snapshots, `postfix check`, e2e.

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

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

/// Builds a smarthost from a relay string, encryption and optional user.
pub(crate) fn relay(text: &str, encryption: Encryption, user: Option<&str>) -> Smarthost {
    let s = Smarthost::new(RelayHost::parse(text).unwrap()).with_encryption(encryption);
    match user {
        Some(u) => s.with_credentials(Credentials::new(
            Username::new(u).unwrap(),
            Secret::new(PASSWORD.to_owned()).unwrap(),
        )),
        None => s,
    }
}

fn domain(name: &str) -> DomainName {
    name.parse().unwrap()
}

/// Named policies covering the matrix of issue #11.
pub(crate) fn cases() -> Vec<(&'static str, Policy)> {
    use Encryption::*;
    let mut out = Vec::new();
    let mut p = Policy::default();
    p.server = Some(relay("[smtp.sendgrid.net]:587", Starttls, Some("apikey")));
    out.push(("server_only_starttls_auth", p.clone()));

    let mut both = p.clone();
    both.domains.insert(
        domain("a.example"),
        relay("[smtp.mailgun.org]:587", Starttls, Some("postmaster@mg.a.example")),
    );
    out.push(("server_and_domain_starttls", both));

    let mut p = Policy::default();
    p.domains.insert(
        domain("a.example"),
        relay("[smtp.mailgun.org]:587", Starttls, Some("user-a")),
    );
    p.domains.insert(
        domain("b.example"),
        relay("[smtp.mailgun.org]:587", Starttls, Some("user-b")),
    );
    p.domains
        .insert(domain("c.example"), relay("[relay.c.example]:25", None, Option::None));
    out.push(("domains_only_shared_relay_two_accounts", p));

    let mut p = Policy::default();
    p.server = Some(relay("[smtp.sendgrid.net]:465", ImplicitTls, Some("apikey")));
    p.domains.insert(
        domain("a.example"),
        relay("[smtp.mailgun.org]:587", Starttls, Some("user-a")),
    );
    out.push(("server_465_domain_587", p));

    let mut p = Policy::default();
    p.server = Some(relay("[smtp.sendgrid.net]:587", Starttls, Some("apikey")));
    p.domains.insert(
        domain("c.example"),
        relay("[smtp.mailgun.org]:465", ImplicitTls, Some("user-c")),
    );
    out.push(("server_587_domain_465", p));

    let mut p = Policy::default();
    p.server = Some(relay("[relay.internal.example]:25", None, Option::None));
    out.push(("server_encryption_not_required_no_auth", p));

    let mut p = Policy::default();
    p.server = Some(relay("[selfsigned.example]:587", Starttls, Some("u")));
    p.domains.insert(
        domain("a.example"),
        relay("[selfsigned.example]:2525", Starttls, Some("u")),
    );
    p.features.server.check_certificate = false;
    p.features.domain.check_certificate = false;
    out.push(("certificate_check_off", p));

    let mut p = Policy::default();
    p.server = Some(relay("mail.example.net:587", Starttls, Option::None));
    out.push(("mx_lookup_unbracketed_no_auth", p));

    let mut p = Policy::default();
    p.server = Some(relay("[2001:db8::25]:587", Starttls, Some("v6user")));
    p.domains.insert(
        domain("d.example"),
        relay("[192.0.2.25]:465", ImplicitTls, Option::None),
    );
    out.push(("ip_relays_ipv6_and_ipv4", p));

    out.push(("nothing", Policy::default()));
    out
}
