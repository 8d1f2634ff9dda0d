//! What Postfix should look like for a policy: main.cf parameters and the
//! contents of the lookup tables. Pure: no I/O.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use smarthost_core::{Credentials, DomainName, Encryption, Host, Policy, RelayHost, Smarthost};

use crate::maps::{self, TableText};
use crate::schema::*;
use crate::PostfixOptions;

/// The desired Postfix state for one policy.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Each managed parameter with its value, or `None` when it is not needed.
    pub(crate) params: Vec<(&'static str, Option<String>)>,
    /// Whether a `secure` TLS policy needs trust anchors in smtp_tls_CAfile.
    pub(crate) needs_ca_file: bool,
    /// The smarthost services master.cf needs ([`SERVICES`]).
    pub(crate) services: Vec<&'static str>,
    /// The text of each table, `None` when it has no entry.
    pub(crate) sender_relay: Option<String>,
    pub(crate) secrets: Option<String>,
    pub(crate) tls_policy: Option<String>,
    pub(crate) sender_transport: Option<String>,
    pub(crate) warnings: Vec<String>,
}

/// How strictly a TLS policy entry protects the connection; the stronger of
/// two conflicting entries for one relay is kept.
fn strength(entry: &str) -> u8 {
    match entry.split_whitespace().next() {
        Some("secure") => 2,
        Some("encrypt") => 1,
        _ => 0,
    }
}

fn tls_entry(s: &Smarthost, check_certificate: bool, warnings: &mut Vec<String>) -> String {
    match (s.encryption, check_certificate, s.relay.host()) {
        (Encryption::None, _, _) => "may".to_owned(),
        (_, false, _) => "encrypt".to_owned(),
        (_, true, Host::Name(name)) => format!("secure match={name}"),
        // An IPv4 relay: the address in the certificate is matched. Plain
        // `secure` would use the default `nexthop, dot-nexthop`, which
        // OpenSSL reads as both the address and a name under it: no
        // certificate passes (seen on Postfix 3.7).
        (_, true, Host::Ipv4(_)) => "secure match=nexthop".to_owned(),
        (_, true, _) => {
            warnings.push(format!(
                "{}: an IPv6 relay is checked with Postfix's default `nexthop, dot-nexthop` matching, which no certificate of an address relay passed on Postfix 3.7 (IPv4 tried); give the relay's host name",
                s.relay
            ));
            "secure".to_owned()
        }
    }
}

impl Layout {
    pub(crate) fn new(policy: &Policy, options: &PostfixOptions) -> Layout {
        let map = |name: &str| format!("{}:{}/{name}", options.map_type, options.map_dir.display());
        let mut l = Layout::default();
        let server = policy.server.as_ref();

        // TLS policy: one entry per relay nexthop. Domains share a few relays,
        // so each distinct (relay, encryption, check) is looked at once.
        let mut tls_policy: BTreeMap<String, String> = BTreeMap::new();
        let mut seen: HashSet<(&RelayHost, Encryption, bool)> = HashSet::new();
        // A smarthost's warnings depend on its relay, encryption and whether
        // it has credentials: each is said once, not once per domain (a
        // fleet of 100,000 domains on a few relays said it 100,000 times).
        let mut warned: HashSet<(&RelayHost, Encryption, bool)> = HashSet::new();
        let levels = server
            .map(|s| (None, s))
            .into_iter()
            .chain(policy.domains.iter().map(|(d, s)| (Some(d), s)));
        for (domain, s) in levels {
            let check = policy.check_certificate(domain);
            if warned.insert((&s.relay, s.encryption, s.credentials.is_some())) {
                l.warnings.extend(s.warnings());
            }
            if !seen.insert((&s.relay, s.encryption, check)) {
                continue;
            }
            let nexthop = s.relay.to_string();
            let entry = tls_entry(s, check, &mut l.warnings);
            match tls_policy.get(&nexthop) {
                Some(old) if *old != entry => {
                    l.warnings.push(format!(
                        "{nexthop} is used with TLS policy {old:?} and {entry:?}; Postfix keys TLS settings by relay, so the stronger one applies to both"
                    ));
                    if strength(&entry) > strength(old) {
                        tls_policy.insert(nexthop, entry);
                    }
                }
                _ => {
                    tls_policy.insert(nexthop, entry);
                }
            }
        }
        l.needs_ca_file = tls_policy.values().any(|v| v.starts_with("secure"));

        // The other tables follow the domains' order, which is their key
        // order: every domain key starts with '@'.
        let server_wrapped = server.is_some_and(|s| s.encryption == Encryption::ImplicitTls);
        // Room for every line at once (about 40 bytes each).
        let lines = policy.domains.len() + 1;
        let mut sender_relay = TableText::with_capacity(lines * 48);
        let mut secrets = TableText::with_capacity(lines * 48);
        let mut transport = TableText::default();
        let server_secret = server.and_then(|s| s.credentials.as_ref().map(|c| (s.relay.to_string(), c)));
        if let Some((key, c)) = server_secret.as_ref().filter(|(key, _)| key.as_str() < "@") {
            secrets.push(key, Secret(c));
        }
        let mut services = std::collections::BTreeSet::new();
        let server_key = server_secret.as_ref().map(|(key, _)| key.as_str());
        // Each relay's text is made once: a fleet shares a few relays.
        let mut relay_text: maps::FastMap<&RelayHost, String> = maps::FastMap::default();
        for (domain, s) in &policy.domains {
            let key = At(domain);
            let relay = relay_text.entry(&s.relay).or_insert_with(|| s.relay.to_string());
            sender_relay.push(key, &*relay);
            if let Some(c) = &s.credentials {
                secrets.push(key, Secret(c));
            }
            // Without credentials of its own, a domain on the server's relay
            // would log in with the server's account (Postfix falls back to
            // the next-hop key): its transport turns SASL off.
            let no_auth = s.credentials.is_none() && server_key.is_some_and(|k| k == relay.as_str());
            let service = match (s.encryption == Encryption::ImplicitTls, no_auth) {
                (true, false) => Some(TLS_WRAPPER_SERVICE),
                (true, true) => Some(TLS_NOAUTH_SERVICE),
                (false, true) => Some(NOAUTH_SERVICE),
                // Without this entry the domain would inherit the wrapper
                // transport of the server-wide relay and fail on STARTTLS.
                (false, false) if server_wrapped => Some(SMTP_TRANSPORT),
                (false, false) => None,
            };
            if let Some(service) = service {
                transport.push(key, format_args!("{service}:{relay}"));
                if service != SMTP_TRANSPORT {
                    services.insert(service);
                }
            }
        }
        if let Some((key, c)) = server_secret.as_ref().filter(|(key, _)| key.as_str() > "@") {
            secrets.push(key, Secret(c));
        }
        if server_wrapped {
            services.insert(TLS_WRAPPER_SERVICE);
        }
        l.services = SERVICES.iter().copied().filter(|s| services.contains(s)).collect();

        let any_auth = !secrets.is_empty();
        let has_domains = !policy.domains.is_empty();
        let has_transport = !transport.is_empty();
        let set = |on: bool, v: String| on.then_some(v);
        l.params = vec![
            (RELAYHOST, server.map(|s| s.relay.to_string())),
            (DEFAULT_TRANSPORT, set(server_wrapped, TLS_WRAPPER_SERVICE.to_owned())),
            (SASL_AUTH_ENABLE, set(any_auth, "yes".into())),
            (SASL_PASSWORD_MAPS, set(any_auth, map(SECRETS_MAP))),
            (SASL_SECURITY_OPTIONS, set(any_auth, "noanonymous".into())),
            (SASL_TLS_SECURITY_OPTIONS, set(any_auth, "noanonymous".into())),
            (SENDER_DEPENDENT_AUTH, set(has_domains, "yes".into())),
            (SENDER_RELAY_MAPS, set(has_domains, map(SENDER_RELAY_MAP))),
            (SENDER_TRANSPORT_MAPS, set(has_transport, map(SENDER_TRANSPORT_MAP))),
            (TLS_POLICY_MAPS, set(!tls_policy.is_empty(), map(TLS_POLICY_MAP))),
        ];
        l.sender_relay = sender_relay.finish();
        l.secrets = secrets.finish();
        l.tls_policy = maps::render(&tls_policy);
        l.sender_transport = transport.finish();
        l
    }

    /// The value this backend writes for `name` whenever it writes it, used
    /// to recognise its own settings when they are no longer needed.
    pub(crate) fn own_value(name: &str, options: &PostfixOptions) -> Option<String> {
        let map = |file: &str| Some(format!("{}:{}/{file}", options.map_type, options.map_dir.display()));
        match name {
            DEFAULT_TRANSPORT => Some(TLS_WRAPPER_SERVICE.to_owned()),
            SASL_AUTH_ENABLE | SENDER_DEPENDENT_AUTH => Some("yes".to_owned()),
            SASL_SECURITY_OPTIONS | SASL_TLS_SECURITY_OPTIONS => Some("noanonymous".to_owned()),
            SASL_PASSWORD_MAPS => map(SECRETS_MAP),
            SENDER_RELAY_MAPS => map(SENDER_RELAY_MAP),
            SENDER_TRANSPORT_MAPS => map(SENDER_TRANSPORT_MAP),
            TLS_POLICY_MAPS => map(TLS_POLICY_MAP),
            _ => None,
        }
    }
}

/// A domain's table key, `@example.com`, written without allocating.
#[derive(Clone, Copy)]
struct At<'a>(&'a DomainName);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

/// `user:password`, the value of a secrets table entry.
struct Secret<'a>(&'a Credentials);

impl fmt::Display for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.username(), self.0.password().expose())
    }
}
