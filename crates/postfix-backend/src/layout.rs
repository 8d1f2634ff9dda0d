//! What Postfix should look like for a policy: main.cf parameters and the
//! contents of the lookup tables. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use smarthost_core::{Bounces, Credentials, Encryption, Host, Policy, RelayHost, Smarthost};

use crate::error::Error;
use crate::maps::{self, FastSet, TableText};
use crate::schema::*;
use crate::PostfixOptions;

/// The desired Postfix state for one policy.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Each managed parameter with its value, or `None` when it is not needed.
    pub(crate) params: Vec<(&'static str, Option<String>)>,
    /// Whether a `secure` TLS policy needs trust anchors in smtp_tls_CAfile.
    pub(crate) needs_ca_file: bool,
    /// The smarthost services master.cf needs ([`SERVICES`]), each with its
    /// entry.
    pub(crate) services: Vec<(&'static str, String)>,
    /// The text of each table, `None` when it has no entry.
    pub(crate) sender_relay: Option<String>,
    pub(crate) secrets: Option<String>,
    pub(crate) tls_policy: Option<String>,
    pub(crate) sender_transport: Option<String>,
    pub(crate) recipient_routes: Option<String>,
    pub(crate) nexthop_secrets: Option<String>,
    /// The field of the first smarthost that lists backup relays: they need
    /// Postfix 3.5 or later ([`BACKUPS_SINCE`]).
    pub(crate) backups: Option<String>,
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

fn tls_entry(relay: &RelayHost, encryption: Encryption, check_certificate: bool, warnings: &mut Vec<String>) -> String {
    match (encryption, check_certificate, relay.host()) {
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
                "{relay}: an IPv6 relay is checked with Postfix's default `nexthop, dot-nexthop` matching, which no certificate of an address relay passed on Postfix 3.7 (IPv4 tried); give the relay's host name"
            ));
            "secure".to_owned()
        }
    }
}

/// A smarthost's nexthop as Postfix reads it: the relay, then its backups,
/// as a list (`[a]:587, [b]:587`; Postfix 3.5 and later try them in order).
pub(crate) fn nexthops(s: &Smarthost) -> String {
    let mut out = s.relay.to_string();
    for backup in &s.backups {
        out.push_str(", ");
        out.push_str(&backup.to_string());
    }
    out
}

/// A table whose main part is streamed in key order (the domains of a
/// fleet) while a few other entries (server keys, mailboxes, `<>`) are
/// merged in at their place.
struct Ordered {
    text: TableText,
    extras: BTreeMap<String, String>,
}

impl Ordered {
    fn new(bytes: usize) -> Self {
        Ordered {
            text: TableText::with_capacity(bytes),
            extras: BTreeMap::new(),
        }
    }

    fn extra(&mut self, key: String, value: String) {
        self.extras.insert(key, value);
    }

    /// The extras before `key`, at their place.
    fn extras_before(&mut self, key: &str) {
        while !self.extras.is_empty() && self.extras.first_key_value().is_some_and(|(k, _)| k.as_str() < key) {
            let (k, v) = self.extras.pop_first().expect("just seen");
            self.text.push(k, v);
        }
    }

    /// Appends `key` with the value made of `parts` (see
    /// [`TableText::push_parts`]), after the extras that come before it.
    fn push_parts(&mut self, key: &str, parts: &[&str]) {
        self.extras_before(key);
        self.text.push_parts(key, parts);
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.extras.is_empty()
    }

    fn finish(mut self) -> Option<String> {
        while let Some((k, v)) = self.extras.pop_first() {
            self.text.push(k, v);
        }
        self.text.finish()
    }
}

/// The field of a smarthost in the policy, for errors and warnings.
fn field(kind: &str, key: &str) -> String {
    format!("{kind}.{key:?}")
}

/// Adds the nexthop-keyed credentials of a recipient route or of the bounce
/// relay; two of them on one nexthop with different accounts (or one with
/// and one without) would log in with each other's: refused.
fn nexthop_secrets<'p>(
    table: &mut BTreeMap<String, (String, Option<&'p Credentials>)>,
    who: String,
    s: &'p Smarthost,
) -> Result<(), Error> {
    for relay in s.relays() {
        let key = relay.to_string();
        match table.get(&key) {
            Some((other, creds)) if *creds != s.credentials.as_ref() => {
                return Err(Error::Unsupported {
                    field: who,
                    reason: format!(
                        "uses the relay {key} with another account than {other} (or one has none); Postfix keys these credentials by relay, so one would log in with the other's: give both the same account, or use another relay name or port"
                    ),
                });
            }
            Some(_) => {}
            None => {
                table.insert(key, (who.clone(), s.credentials.as_ref()));
            }
        }
    }
    Ok(())
}

impl Layout {
    pub(crate) fn new<'p>(policy: &'p Policy, options: &PostfixOptions) -> Result<Layout, Error> {
        let map = |name: &str| format!("{}:{}/{name}", options.map_type, options.map_dir.display());
        let mut l = Layout::default();
        let server = policy.server.as_ref();

        // TLS policy: one entry per relay nexthop (each relay of a backup
        // list). Domains share a few relays, so each distinct (relay,
        // encryption, check) is looked at once.
        let mut tls_policy: BTreeMap<String, String> = BTreeMap::new();
        let mut seen: FastSet<(&RelayHost, Encryption, bool)> = FastSet::default();
        // A smarthost's warnings depend on its relay, encryption and whether
        // it has credentials: each is said once, not once per domain (a
        // fleet of 100,000 domains on a few relays said it 100,000 times).
        let mut warned: FastSet<(&RelayHost, Encryption, bool)> = FastSet::default();
        // Each smarthost with its level (server-level certificate check or
        // not), the kind and key of its field: the field is only made for
        // a smarthost with backups (a fleet has 100,000 domains). One
        // closure called from plain loops, and a fast path for a relay
        // without backups already seen: the fleet's common case.
        let mut visit = |s: &'p Smarthost, server_level: bool, kind: &str, key: &dyn fmt::Display| {
            let check = if server_level {
                policy.features.server.check_certificate
            } else {
                policy.features.domain.check_certificate
            };
            if warned.insert((&s.relay, s.encryption, s.credentials.is_some())) {
                l.warnings.extend(s.warnings());
            }
            if !s.backups.is_empty() && l.backups.is_none() {
                l.backups = Some(match kind {
                    "server" | "bounces" => format!("{kind}.backup"),
                    _ => format!("{}.backup", field(kind, &key.to_string())),
                });
            }
            if s.backups.is_empty() && seen.contains(&(&s.relay, s.encryption, check)) {
                return;
            }
            for relay in s.relays() {
                if !seen.insert((relay, s.encryption, check)) {
                    continue;
                }
                let nexthop = relay.to_string();
                let entry = tls_entry(relay, s.encryption, check, &mut l.warnings);
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
        };
        if let Some(s) = server {
            visit(s, true, "server", &"");
        }
        for (d, s) in &policy.domains {
            visit(s, false, "domains", d);
        }
        for (m, s) in &policy.mailboxes {
            visit(s, false, "mailboxes", m);
        }
        for (d, s) in &policy.recipients {
            visit(s, true, "recipients", d);
        }
        if let Some(s) = policy.bounces.relay() {
            visit(s, true, "bounces", &"");
        }
        l.needs_ca_file = tls_policy.values().any(|v| v.starts_with("secure"));
        l.warnings.extend(rule_warnings(policy));

        // Direct mode: a server-wide relay and a sender that delivers
        // directly (a direct exception, or bounces = direct). Postfix takes
        // the nexthop from sender_dependent_default_transport_maps first,
        // whose entries cannot say "no relay" while relayhost is set; with
        // relayhost empty and the server relay as default_transport's
        // nexthop, an entry `smtp` (no nexthop) delivers directly
        // (postconf(5), default_transport; verified on Postfix 3.7).
        let direct_mode = server.is_some()
            && (policy.direct.iter().any(|d| !policy.domains.contains_key(d))
                || matches!(policy.bounces, Bounces::Direct));
        let server_wrapped = server.is_some_and(|s| s.encryption == Encryption::ImplicitTls);
        // Room for every line at once (about 40 bytes each).
        let lines = policy.domains.len() + 1;
        let mut sender_relay = Ordered::new(lines * 48);
        let mut secrets = Ordered::new(lines * 48);
        let mut transport = Ordered::new(if direct_mode || server_wrapped { lines * 48 } else { 0 });
        // The server's account is keyed by each of its nexthops.
        let mut server_keys: FastSet<&RelayHost> = FastSet::default();
        if let Some(s) = server {
            if let Some(c) = &s.credentials {
                for relay in s.relays() {
                    secrets.extra(relay.to_string(), Secret(c).to_string());
                    server_keys.insert(relay);
                }
            }
        }
        let mut services = std::collections::BTreeSet::new();
        // The transport of a sender-side smarthost: `None` when the
        // sender_dependent_relayhost_maps entry alone routes it right.
        let sender_service = |s: &Smarthost, no_auth: bool, explicit: bool| {
            match (s.encryption == Encryption::ImplicitTls, no_auth) {
                (true, false) => Some(TLS_WRAPPER_SERVICE),
                (true, true) => Some(TLS_NOAUTH_SERVICE),
                (false, true) => Some(NOAUTH_SERVICE),
                // Without this entry the sender would inherit the wrapper
                // transport (or the nexthop) of the server-wide relay.
                (false, false) if explicit => Some(SMTP_TRANSPORT),
                (false, false) => None,
            }
        };
        let shares_server_relay = |s: &Smarthost| {
            !server_keys.is_empty()
                && (server_keys.contains(&s.relay) || s.backups.iter().any(|r| server_keys.contains(r)))
        };
        // Mailboxes: their key is the whole address, looked up before the
        // domain's `@domain` key (postconf(5), sender_dependent_relayhost_maps;
        // smtp_sasl_password_maps with sender-dependent authentication).
        // Their transport is always explicit, so that their domain's entry
        // (a wrapper, a direct exception) is never inherited.
        for (mailbox, s) in &policy.mailboxes {
            let key = mailbox.to_string();
            let hops = nexthops(s);
            sender_relay.extra(key.clone(), hops.clone());
            if let Some(c) = &s.credentials {
                secrets.extra(key.clone(), Secret(c).to_string());
            }
            // Without credentials of its own, a mailbox would log in with
            // its domain's account (`@domain` is looked up next), or the
            // server's on a shared relay: SASL off for it.
            let domain_has_account = policy
                .domains
                .get(mailbox.domain())
                .is_some_and(|d| d.credentials.is_some());
            let no_auth = s.credentials.is_none() && (domain_has_account || shares_server_relay(s));
            let service = sender_service(s, no_auth, true).expect("explicit");
            if service != SMTP_TRANSPORT {
                services.insert(service);
            }
            transport.extra(key, format!("{service}:{hops}"));
        }
        // Direct exceptions: a transport without nexthop.
        for domain in policy.direct.iter().filter(|d| !policy.domains.contains_key(*d)) {
            transport.extra(format!("@{domain}"), SMTP_TRANSPORT.to_owned());
        }
        // Bounces: the null sender is looked up as `<>`
        // (empty_address_default_transport_maps_lookup_key).
        let mut by_nexthop: BTreeMap<String, (String, Option<&Credentials>)> = BTreeMap::new();
        let nexthop_service = |s: &Smarthost| {
            if s.encryption == Encryption::ImplicitTls {
                NEXTHOP_TLS_SERVICE
            } else {
                NEXTHOP_SERVICE
            }
        };
        match &policy.bounces {
            Bounces::Server => {}
            Bounces::Direct => transport.extra(NULL_SENDER.to_owned(), SMTP_TRANSPORT.to_owned()),
            Bounces::Relay(s) => {
                nexthop_secrets(&mut by_nexthop, "bounces".to_owned(), s)?;
                let service = nexthop_service(s);
                services.insert(service);
                transport.extra(NULL_SENDER.to_owned(), format!("{service}:{}", nexthops(s)));
            }
        }
        // Recipient routes: transport_maps, looked up before every sender
        // rule (trivial-rewrite); `smtp:` (empty nexthop) delivers to the
        // recipient domain (transport(5)).
        let mut routes: BTreeMap<String, String> = BTreeMap::new();
        for (domain, s) in &policy.recipients {
            nexthop_secrets(&mut by_nexthop, field("recipients", domain.as_str()), s)?;
            let service = nexthop_service(s);
            services.insert(service);
            routes.insert(domain.to_string(), format!("{service}:{}", nexthops(s)));
        }
        for domain in policy
            .direct_recipients
            .iter()
            .filter(|d| !policy.recipients.contains_key(*d))
        {
            routes.insert(domain.to_string(), format!("{SMTP_TRANSPORT}:"));
        }
        let mut hop_secrets = TableText::default();
        for (key, (_, creds)) in &by_nexthop {
            if let Some(c) = creds {
                hop_secrets.push(key, Secret(c));
            }
        }

        // Each relay's text is made once: a fleet shares a few relays.
        let mut relay_text: maps::FastMap<&RelayHost, String> = maps::FastMap::default();
        let mut key = String::new();
        for (domain, s) in &policy.domains {
            key.clear();
            key.push('@');
            key.push_str(domain.as_str());
            let hops_owned;
            let hops: &str = if s.backups.is_empty() {
                relay_text.entry(&s.relay).or_insert_with(|| s.relay.to_string())
            } else {
                hops_owned = nexthops(s);
                &hops_owned
            };
            sender_relay.push_parts(&key, &[hops]);
            if let Some(c) = &s.credentials {
                secrets.push_parts(&key, &[c.username().as_str(), ":", c.password().expose()]);
            }
            // Without credentials of its own, a domain on the server's relay
            // would log in with the server's account (Postfix falls back to
            // the next-hop key): its transport turns SASL off.
            let no_auth = s.credentials.is_none() && shares_server_relay(s);
            if let Some(service) = sender_service(s, no_auth, server_wrapped || direct_mode) {
                transport.push_parts(&key, &[service, ":", hops]);
                if service != SMTP_TRANSPORT {
                    services.insert(service);
                }
            }
        }
        if server_wrapped {
            services.insert(TLS_WRAPPER_SERVICE);
        }
        let hop_secrets = hop_secrets.finish();
        let hop_table = hop_secrets.as_ref().map(|_| map(NEXTHOP_SECRETS_MAP));
        l.services = SERVICES
            .iter()
            .copied()
            .filter(|s| services.contains(s))
            .map(|s| {
                let entry = if s == NEXTHOP_SERVICE || s == NEXTHOP_TLS_SERVICE {
                    nexthop_service_entry(s, hop_table.as_deref())
                } else {
                    service_entry(s)
                };
                (s, entry)
            })
            .collect();

        let any_auth = !secrets.is_empty();
        let has_senders = !policy.domains.is_empty() || !policy.mailboxes.is_empty();
        let has_transport = !transport.is_empty();
        let set = |on: bool, v: String| on.then_some(v);
        let server_service = if server_wrapped {
            TLS_WRAPPER_SERVICE
        } else {
            SMTP_TRANSPORT
        };
        let default_transport = match server {
            Some(s) if direct_mode => Some(format!("{server_service}:{}", nexthops(s))),
            _ => set(server_wrapped, TLS_WRAPPER_SERVICE.to_owned()),
        };
        l.params = vec![
            (RELAYHOST, server.filter(|_| !direct_mode).map(nexthops)),
            (DEFAULT_TRANSPORT, default_transport),
            (SASL_AUTH_ENABLE, set(any_auth, "yes".into())),
            (SASL_PASSWORD_MAPS, set(any_auth, map(SECRETS_MAP))),
            (SASL_SECURITY_OPTIONS, set(any_auth, "noanonymous".into())),
            (SASL_TLS_SECURITY_OPTIONS, set(any_auth, "noanonymous".into())),
            (SENDER_DEPENDENT_AUTH, set(has_senders, "yes".into())),
            (SENDER_RELAY_MAPS, set(has_senders, map(SENDER_RELAY_MAP))),
            (SENDER_TRANSPORT_MAPS, set(has_transport, map(SENDER_TRANSPORT_MAP))),
            (TLS_POLICY_MAPS, set(!tls_policy.is_empty(), map(TLS_POLICY_MAP))),
            (TRANSPORT_MAPS, set(!routes.is_empty(), map(RECIPIENT_ROUTES_MAP))),
        ];
        l.sender_relay = sender_relay.finish();
        l.secrets = secrets.finish();
        l.tls_policy = maps::render(&tls_policy);
        l.sender_transport = transport.finish();
        l.recipient_routes = maps::render(&routes);
        l.nexthop_secrets = hop_secrets;
        Ok(l)
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
            TRANSPORT_MAPS => map(RECIPIENT_ROUTES_MAP),
            _ => None,
        }
    }
}

/// The lookup key of the null sender `<>` (postconf(5),
/// empty_address_default_transport_maps_lookup_key and
/// empty_address_relayhost_maps_lookup_key, default `<>`).
pub(crate) const NULL_SENDER: &str = "<>";

/// The warnings of the policy's routing rules (direct exceptions without
/// a server relay, bounces through a relay that refuses the null sender),
/// without the per-smarthost warnings the layout already said once each.
fn rule_warnings(policy: &Policy) -> Vec<String> {
    let rules = Policy {
        server: policy.server.clone(),
        direct: policy.direct.clone(),
        bounces: policy.bounces.clone(),
        ..Policy::default()
    };
    let said: Vec<String> = rules
        .server
        .iter()
        .chain(rules.bounces.relay())
        .flat_map(Smarthost::warnings)
        .collect();
    rules.warnings().into_iter().filter(|w| !said.contains(w)).collect()
}

/// `user:password`, the value of a secrets table entry.
struct Secret<'a>(&'a Credentials);

impl fmt::Display for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.username(), self.0.password().expose())
    }
}
