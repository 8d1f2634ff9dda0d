//! What Postfix should look like for a policy: main.cf parameters and the
//! contents of the lookup tables. Pure: no I/O.

use smarthost_core::{DomainName, Encryption, Host, Policy, Smarthost};

use crate::maps::Table;
use crate::schema::*;
use crate::PostfixOptions;

/// The desired Postfix state for one policy.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Each managed parameter with its value, or `None` when it is not needed.
    pub(crate) params: Vec<(&'static str, Option<String>)>,
    /// Whether a `secure` TLS policy needs trust anchors in smtp_tls_CAfile.
    pub(crate) needs_ca_file: bool,
    /// Whether master.cf needs the implicit-TLS transport.
    pub(crate) needs_wrapper: bool,
    pub(crate) sender_relay: Table,
    pub(crate) secrets: Table,
    pub(crate) tls_policy: Table,
    pub(crate) sender_transport: Table,
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
        (_, true, _) => {
            warnings.push(format!(
                "{}: the certificate is checked against an IP address; most relay certificates only name hosts, so give the relay's host name",
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
        let levels: Vec<(Option<&DomainName>, &Smarthost)> = server
            .map(|s| (None, s))
            .into_iter()
            .chain(policy.domains.iter().map(|(d, s)| (Some(d), s)))
            .collect();

        for (domain, s) in &levels {
            let nexthop = s.relay.to_string();
            let entry = tls_entry(s, policy.check_certificate(*domain), &mut l.warnings);
            match l.tls_policy.get(&nexthop) {
                Some(old) if *old != entry => {
                    l.warnings.push(format!(
                        "{nexthop} is used with TLS policy {old:?} and {entry:?}; Postfix keys TLS settings by relay, so the stronger one applies to both"
                    ));
                    if strength(&entry) > strength(old) {
                        l.tls_policy.insert(nexthop.clone(), entry);
                    }
                }
                _ => {
                    l.tls_policy.insert(nexthop.clone(), entry);
                }
            }
            if let Some(c) = &s.credentials {
                let key = match domain {
                    Some(d) => format!("@{d}"),
                    None => nexthop.clone(),
                };
                l.secrets
                    .insert(key, format!("{}:{}", c.username(), c.password().expose()));
            }
            l.warnings.extend(s.warnings());
        }

        let server_wrapped = server.is_some_and(|s| s.encryption == Encryption::ImplicitTls);
        for (domain, s) in &policy.domains {
            let key = format!("@{domain}");
            l.sender_relay.insert(key.clone(), s.relay.to_string());
            if s.encryption == Encryption::ImplicitTls {
                l.sender_transport
                    .insert(key, format!("{TLS_WRAPPER_SERVICE}:{}", s.relay));
            } else if server_wrapped {
                // Without this entry the domain would inherit the wrapper
                // transport of the server-wide relay and fail on STARTTLS.
                l.sender_transport.insert(key, format!("{SMTP_TRANSPORT}:{}", s.relay));
            }
        }

        let any_auth = !l.secrets.is_empty();
        let has_domains = !policy.domains.is_empty();
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
            (
                SENDER_TRANSPORT_MAPS,
                set(!l.sender_transport.is_empty(), map(SENDER_TRANSPORT_MAP)),
            ),
            (TLS_POLICY_MAPS, set(!l.tls_policy.is_empty(), map(TLS_POLICY_MAP))),
        ];
        l.needs_ca_file = l.tls_policy.values().any(|v| v.starts_with("secure"));
        l.needs_wrapper = server_wrapped || !l.sender_transport.values().all(|v| v.starts_with("smtp:"));
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
