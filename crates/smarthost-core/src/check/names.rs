//! Certificate names matched the way Postfix matches them: Postfix gives
//! OpenSSL the names of the TLS policy's `match=` list (`SSL_add1_host`)
//! and OpenSSL checks them with `X509_check_host` (no partial wildcards)
//! and, for a name that is an IP address, `X509_check_ip`.
//!
//! Rules (OpenSSL 3, as Postfix 3.7 uses it; measured on the wire, see
//! docs/check.md):
//! - a host name matches a subjectAltName dNSName; the subject's
//!   CommonName is used only when the certificate has no dNSName at all;
//! - `*` is allowed only as the whole left-most label and matches one
//!   label (`*.example.com` matches `a.example.com`, not `example.com` nor
//!   `a.b.example.com`);
//! - a reference name starting with `.` (Postfix's `dot-nexthop`) matches
//!   any name that ends with it;
//! - an IP address matches only an iPAddress subjectAltName;
//! - when both host names and an address are to be checked, both must
//!   match (`X509_VERIFY_PARAM` checks hosts, then the address).

use std::net::IpAddr;

use x509_parser::prelude::*;

use crate::relay::{Host, RelayHost};

/// The most names a failure lists.
const MAX_SHOWN: usize = 100;

/// What a certificate must name, as one TLS policy entry asks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameRule {
    /// Host names, one of which must match (empty: no host check).
    hosts: Vec<String>,
    /// An address that must match, if any.
    ip: Option<IpAddr>,
    /// The policy in Postfix's words, for the report.
    pub(crate) written: String,
}

/// The names a certificate offers, as OpenSSL reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CertNames {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) common_names: Vec<String>,
}

impl CertNames {
    pub(crate) fn of(cert: &X509Certificate<'_>) -> CertNames {
        let mut names = CertNames::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => names.dns.push(d.to_string()),
                    GeneralName::IPAddress(ip) => {
                        if let Some(ip) = ip_from_bytes(ip) {
                            names.ips.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        names.common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        names
    }

    /// The names a host check looks at: the dNSNames, or the CommonNames
    /// when there is no dNSName; then the addresses.
    pub(crate) fn shown(&self) -> Vec<String> {
        let hosts = if self.dns.is_empty() {
            self.common_names.iter().map(|cn| format!("CN={cn}")).collect()
        } else {
            self.dns.clone()
        };
        let all: Vec<String> = hosts
            .into_iter()
            .chain(self.ips.iter().map(|ip| ip.to_string()))
            .collect();
        let more = all.len().saturating_sub(MAX_SHOWN);
        let mut shown: Vec<String> = all.into_iter().take(MAX_SHOWN).collect();
        if more > 0 {
            shown.push(format!("… [{more} more names]"));
        }
        shown
    }
}

fn ip_from_bytes(ip: &[u8]) -> Option<IpAddr> {
    match ip.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(ip).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(ip).ok()?)),
        _ => None,
    }
}

impl NameRule {
    /// The rule of the TLS policy smarthost writes for `relay` (see
    /// postfix-backend's `tls_entry`): `secure match=HOST` for a host
    /// name; `secure match=nexthop` for an IPv4 address (the address in the
    /// certificate); plain `secure` for an IPv6 address, which uses Postfix's default
    /// `smtp_tls_secure_cert_match = nexthop, dot-nexthop`: the address
    /// (nexthop) and any name ending in `.ADDRESS` (dot-nexthop), both
    /// required by OpenSSL, which no certificate satisfies.
    pub(crate) fn postfix(relay: &RelayHost) -> NameRule {
        match relay.host() {
            Host::Name(name) => NameRule {
                hosts: vec![name.as_str().to_ascii_lowercase()],
                ip: None,
                written: format!("secure match={name}"),
            },
            // `secure match=nexthop`: the address alone.
            Host::Ipv4(a) => NameRule {
                hosts: Vec::new(),
                ip: Some(IpAddr::V4(*a)),
                written: "secure match=nexthop".to_owned(),
            },
            host => {
                // Postfix's nexthop: the bracketed part without brackets.
                let nexthop = match host {
                    Host::Ipv6(a) => format!("ipv6:{a}"),
                    other => other.to_string(),
                };
                // `nexthop`: SSL_add1_host takes a string that parses as an
                // address as the address to check.
                let (mut hosts, ip) = match nexthop.parse::<IpAddr>() {
                    Ok(ip) => (Vec::new(), Some(ip)),
                    Err(_) => (vec![nexthop.clone()], None),
                };
                // `dot-nexthop`.
                hosts.push(format!(".{nexthop}"));
                NameRule {
                    hosts,
                    ip,
                    written: "secure (match=nexthop, dot-nexthop)".to_owned(),
                }
            }
        }
    }

    /// The relay's host name or address, as most mail servers check it.
    pub(crate) fn relay(relay: &RelayHost) -> NameRule {
        match relay.host() {
            Host::Name(name) => NameRule {
                hosts: vec![name.as_str().to_ascii_lowercase()],
                ip: None,
                written: format!("name {name}"),
            },
            Host::Ipv4(a) => NameRule {
                hosts: Vec::new(),
                ip: Some(IpAddr::V4(*a)),
                written: format!("address {a}"),
            },
            Host::Ipv6(a) => NameRule {
                hosts: Vec::new(),
                ip: Some(IpAddr::V6(*a)),
                written: format!("address {a}"),
            },
        }
    }

    /// Whether the rule is one that only an IP relay gets from Postfix's
    /// defaults (nexthop, dot-nexthop).
    pub(crate) fn is_dot_nexthop(&self) -> bool {
        self.hosts.iter().any(|h| h.starts_with('.'))
    }

    /// Whether `names` satisfy the rule.
    pub(crate) fn matches(&self, names: &CertNames) -> bool {
        let hosts_ok = self.hosts.is_empty() || self.hosts.iter().any(|h| host_matches(names, h));
        let ip_ok = self.ip.is_none_or(|ip| names.ips.contains(&ip));
        hosts_ok && ip_ok
    }
}

/// `X509_check_host`: dNSNames, else CommonNames.
fn host_matches(names: &CertNames, reference: &str) -> bool {
    let candidates = if names.dns.is_empty() {
        &names.common_names
    } else {
        &names.dns
    };
    candidates.iter().any(|p| pattern_matches(p, reference))
}

/// One certificate name against one reference name, ignoring ASCII case.
fn pattern_matches(pattern: &str, reference: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let reference = reference.to_ascii_lowercase();
    if pattern.contains('\0') || pattern.is_empty() {
        return false;
    }
    if reference.len() > 1 && reference.starts_with('.') {
        // Sub-domains of the reference: the pattern's tail equals it.
        return pattern.len() >= reference.len() && pattern.ends_with(&reference);
    }
    if let Some(rest) = pattern.strip_prefix("*.") {
        // A whole-label wildcard over at least two more labels.
        if rest.contains('.') && !rest.starts_with('.') && !rest.contains('*') {
            return match reference.split_once('.') {
                Some((first, tail)) => !first.is_empty() && tail == rest,
                None => false,
            };
        }
        return false;
    }
    pattern == reference
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str], ips: &[&str], cn: &[&str]) -> CertNames {
        CertNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            common_names: cn.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn rule(relay: &str) -> NameRule {
        NameRule::postfix(&relay.parse().unwrap())
    }

    #[test]
    fn host_names_as_openssl_matches_them() {
        let r = rule("[relay.example]:587");
        assert_eq!(r.written, "secure match=relay.example");
        assert!(r.matches(&names(&["relay.example"], &[], &[])));
        assert!(r.matches(&names(&["RELAY.Example"], &[], &[])));
        assert!(
            !r.matches(&names(&["*.example"], &[], &[])),
            "*.example has one label after the star"
        );
        assert!(rule("[smtp.relay.example]:587").matches(&names(&["*.relay.example"], &[], &[])));
        assert!(!rule("[a.smtp.relay.example]:587").matches(&names(&["*.relay.example"], &[], &[])));
        assert!(!rule("[smtp.relay.example]:587").matches(&names(&["s*.relay.example"], &[], &[])));
        // CommonName only without any dNSName.
        assert!(r.matches(&names(&[], &[], &["relay.example"])));
        assert!(!r.matches(&names(&["other.example"], &[], &["relay.example"])));
        // An address SAN does not stop the CommonName fallback.
        assert!(r.matches(&names(&[], &["192.0.2.1"], &["relay.example"])));
        assert!(!r.matches(&names(&["other.example"], &[], &[])));
    }

    #[test]
    fn an_ipv4_relay_is_matched_by_its_address_an_ipv6_one_by_the_default_rule() {
        // `secure match=nexthop` (what postfix-backend writes for IPv4): the
        // address in the certificate, as Postfix matched it on the wire.
        let r = rule("[192.0.2.1]:587");
        assert!(!r.is_dot_nexthop());
        assert!(r.matches(&names(&["localhost"], &["192.0.2.1"], &[])));
        assert!(!r.matches(&names(&["192.0.2.1"], &["192.0.2.2"], &[])));
        // Plain `secure` (IPv6): the default `nexthop, dot-nexthop`, which
        // no certificate of an address relay passes.
        let v6 = rule("[ipv6:2001:db8::1]:587");
        assert!(!v6.matches(&names(&["relay.example"], &["2001:db8::1"], &[])));
        // The plain rule (other mail servers) takes the address.
        let plain = NameRule::relay(&"[192.0.2.1]:587".parse().unwrap());
        assert!(plain.matches(&names(&[], &["192.0.2.1"], &[])));
        assert!(!plain.matches(&names(&["192.0.2.1"], &[], &[])));
    }
}
