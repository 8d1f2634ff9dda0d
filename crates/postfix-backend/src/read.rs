//! Reads the relaying configured in Postfix back into a [`Policy`]. This is
//! also how a hand-made configuration is taken over.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use smarthost_core::{
    Bounces, Credentials, DomainName, Encryption, Mailbox, Policy, RelayHost, Secret, Smarthost, Username,
};

use crate::cf::{CfFile, Kind};
use crate::error::Error;
use crate::layout::NULL_SENDER;
use crate::maps::{self, FastMap};
use crate::schema::*;
use crate::{Paths, PostfixOptions};
use smarthost_core::transaction::safe_fs;

/// A file's text; a missing file reads as `None`. A symbolic link, FIFO,
/// device or folder is refused without blocking.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    Ok(safe_fs::read_text(path)?)
}

/// The source files of the tables a parameter names (`hash:/a, texthash:/b`).
pub(crate) fn table_files(value: &str, options: &PostfixOptions) -> Vec<PathBuf> {
    value
        .split([',', ' ', '\t'])
        .filter_map(|item| table_file(item, options))
        .collect()
}

/// The source file of one table item (`hash:/etc/aliases`) of a type with
/// a text source, under the root; `None` for any other item, and for a
/// path that would lead outside the root (it is not read).
pub(crate) fn table_file(item: &str, options: &PostfixOptions) -> Option<PathBuf> {
    let (kind, path) = item.split_once(':')?;
    if !matches!(kind, "hash" | "btree" | "lmdb" | "texthash" | "cdb" | "dbm") {
        return None;
    }
    safe_fs::under_root(&options.root, Path::new(path)).ok()
}

/// Every entry of the tables a main.cf parameter names: within one file the
/// last entry of a key wins (as [`maps::parse`] reads it), across files the
/// first file that has the key. Keys and values borrow from `texts` unless
/// they had to be lowercased or joined (continuation lines).
fn tables<'t>(texts: &'t [String]) -> FastMap<Cow<'t, str>, Cow<'t, str>> {
    let mut table = FastMap::default();
    for text in texts {
        let mut file: FastMap<Cow<'t, str>, Cow<'t, str>> = FastMap::default();
        maps::for_each_entry(text, |k, v| {
            file.insert(k, v);
        });
        for (k, v) in file {
            table.entry(k).or_insert(v);
        }
    }
    table
}

/// The entries of [`tables`], sorted by key. A single table in key order
/// without duplicates (as this backend writes them) is taken as it is.
fn sorted_entries<'t>(texts: &'t [String]) -> Vec<(Cow<'t, str>, Cow<'t, str>)> {
    if let [text] = texts {
        let mut entries = Vec::new();
        maps::for_each_entry(text, |k, v| entries.push((k, v)));
        if entries.windows(2).all(|w| w[0].0 < w[1].0) {
            return entries;
        }
    }
    let mut entries: Vec<_> = tables(texts).into_iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// The text of every table a main.cf parameter names (files that do not
/// exist are left out).
fn table_texts(main: &CfFile, param: &str, options: &PostfixOptions) -> Result<Vec<String>, Error> {
    let mut texts = Vec::new();
    for file in table_files(main.get(param).unwrap_or(""), options) {
        texts.extend(read_optional(&file)?);
    }
    Ok(texts)
}

/// What a relay reads as, the same for every domain that uses it with the
/// same transport: parsed and looked up once.
#[derive(Clone)]
struct RelayView {
    relay: RelayHost,
    encryption: Encryption,
    /// Its TLS policy is `encrypt`: the certificate check is off.
    unchecked: bool,
}

struct Current<'t> {
    main_path: PathBuf,
    default_transport: Option<String>,
    global_level: String,
    secrets: FastMap<Cow<'t, str>, Cow<'t, str>>,
    /// The nexthop-keyed credentials of recipient routes and bounces.
    hop_secrets: FastMap<Cow<'t, str>, Cow<'t, str>>,
    tls_policy: FastMap<Cow<'t, str>, Cow<'t, str>>,
    sender_transport: FastMap<Cow<'t, str>, Cow<'t, str>>,
    /// Relay text -> (transport, what it reads as); a fleet uses a few,
    /// looked up without allocating.
    relays: FastMap<String, Vec<(Option<String>, RelayView)>>,
    /// Whether a relay with certificate check off (`encrypt`) was read, per
    /// level: (server, domain).
    unchecked: (bool, bool),
}

/// The relays of a nexthop list (`[a]:587, [b]:587`), in order.
fn hops(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', ' ', '\t']).filter(|h| !h.is_empty())
}

/// Which level a smarthost belongs to, and which credentials table keys it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The server-wide relay: relay_secrets keyed by nexthop.
    Server,
    /// A domain or mailbox: relay_secrets keyed by sender.
    Sender,
    /// A recipient route or the bounce relay: nexthop_secrets.
    Nexthop,
}

impl Current<'_> {
    fn unreadable(&self, what: &str, reason: impl Into<String>) -> Error {
        Error::Unreadable {
            path: self.main_path.clone(),
            what: what.to_owned(),
            reason: reason.into(),
        }
    }

    fn relay_view(&self, what: &str, relay_text: &str, transport: Option<&str>) -> Result<RelayView, Error> {
        let relay = RelayHost::parse(relay_text).map_err(|e| self.unreadable(what, e.to_string()))?;
        let tls = self
            .tls_policy
            .get(relay_text.to_ascii_lowercase().as_str())
            .or_else(|| self.tls_policy.get(relay.to_string().as_str()))
            .map_or(self.global_level.as_str(), |v| v.as_ref());
        let level = tls.split_whitespace().next().unwrap_or("");
        let wrapped =
            transport.is_some_and(|t| t == TLS_WRAPPER_SERVICE || t == TLS_NOAUTH_SERVICE || t == NEXTHOP_TLS_SERVICE);
        let encryption = match level {
            _ if wrapped => Encryption::ImplicitTls,
            "encrypt" | "secure" | "verify" | "fingerprint" | "dane-only" => Encryption::Starttls,
            _ => Encryption::None,
        };
        Ok(RelayView {
            relay,
            encryption,
            unchecked: level == "encrypt",
        })
    }

    /// The smarthost of a nexthop list `hop_list`, whose credentials are
    /// keyed by `secret_key` (the first nexthop, when `None`).
    fn smarthost(
        &mut self,
        what: &str,
        hop_list: &str,
        secret_key: Option<&str>,
        transport: Option<&str>,
        level: Level,
    ) -> Result<Smarthost, Error> {
        let mut list = hops(hop_list);
        let relay_text = list.next().ok_or_else(|| self.unreadable(what, "names no relay"))?;
        let cached = self
            .relays
            .get(relay_text)
            .and_then(|views| views.iter().find(|(t, _)| t.as_deref() == transport))
            .map(|(_, view)| view.clone());
        let view = match cached {
            Some(view) => view,
            None => {
                let view = self.relay_view(what, relay_text, transport)?;
                self.relays
                    .entry(relay_text.to_owned())
                    .or_default()
                    .push((transport.map(str::to_owned), view.clone()));
                view
            }
        };
        let mut backups = Vec::new();
        for backup in list {
            backups.push(RelayHost::parse(backup).map_err(|e| self.unreadable(what, e.to_string()))?);
        }
        if view.unchecked {
            if level == Level::Sender {
                self.unchecked.1 = true;
            } else {
                self.unchecked.0 = true;
            }
        }
        let first_hop = relay_text.to_ascii_lowercase();
        let secret_key = secret_key.unwrap_or(&first_hop);
        let table = if level == Level::Nexthop {
            &self.hop_secrets
        } else {
            &self.secrets
        };
        let credentials = match table.get(secret_key) {
            Some(value) => {
                let (user, password) = value
                    .split_once(':')
                    .ok_or_else(|| self.unreadable(secret_key, "credentials are not of the form user:password"))?;
                let username = Username::new(user).map_err(|e| self.unreadable(secret_key, e.to_string()))?;
                let password =
                    Secret::new(password.to_owned()).map_err(|e| self.unreadable(secret_key, e.to_string()))?;
                Some(Credentials::new(username, password))
            }
            None => None,
        };
        Ok(Smarthost {
            relay: view.relay,
            encryption: view.encryption,
            credentials,
            backups,
        })
    }

    /// The transport of a sender-dependent key (`@a.example`, `alice@a.example`, `<>`).
    fn transport_of(&self, key: &str) -> Option<(String, String)> {
        self.sender_transport.get(key).map(|t| match t.split_once(':') {
            Some((service, hops)) => (service.to_owned(), hops.to_owned()),
            None => (t.to_string(), String::new()),
        })
    }
}

/// Whether a transport entry delivers directly: the smtp transport without
/// nexthop (`smtp` in sender_dependent_default_transport_maps, `smtp:` in
/// transport_maps).
fn is_direct(service: &str, hops: &str) -> bool {
    service == SMTP_TRANSPORT && hops.trim().is_empty()
}

/// The texts of every table the read looks at, each a list of files (a
/// parameter may name several).
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) secrets: Vec<String>,
    pub(crate) tls_policy: Vec<String>,
    pub(crate) sender_transport: Vec<String>,
    pub(crate) sender_relay: Vec<String>,
    /// smarthost's own recipient routes, when main.cf's transport_maps
    /// names them.
    pub(crate) routes: Vec<String>,
    pub(crate) hop_secrets: Vec<String>,
}

impl Sources {
    /// Reads the tables main.cf names.
    fn read(main: &CfFile, options: &PostfixOptions, paths: &Paths) -> Result<Sources, Error> {
        let routes_path = paths.table(RECIPIENT_ROUTES_MAP);
        let ours_named = names_own_routes(main, options, paths);
        Ok(Sources {
            secrets: table_texts(main, SASL_PASSWORD_MAPS, options)?,
            tls_policy: table_texts(main, TLS_POLICY_MAPS, options)?,
            sender_transport: table_texts(main, SENDER_TRANSPORT_MAPS, options)?,
            sender_relay: table_texts(main, SENDER_RELAY_MAPS, options)?,
            routes: if ours_named {
                read_optional(&routes_path)?.into_iter().collect()
            } else {
                Vec::new()
            },
            hop_secrets: read_optional(&paths.table(NEXTHOP_SECRETS_MAP))?.into_iter().collect(),
        })
    }
}

/// Whether main.cf's transport_maps names smarthost's recipient routes.
/// Only those are read back: the administrator's transport tables route
/// other things (local transports, relays of their own).
pub(crate) fn names_own_routes(main: &CfFile, options: &PostfixOptions, paths: &Paths) -> bool {
    table_files(main.get(TRANSPORT_MAPS).unwrap_or(""), options).contains(&paths.table(RECIPIENT_ROUTES_MAP))
}

pub(crate) fn read(options: &PostfixOptions, paths: &Paths) -> Result<Policy, Error> {
    let main = CfFile::parse(&read_optional(&paths.main_cf)?.unwrap_or_default(), Kind::Main);
    let sources = Sources::read(&main, options, paths)?;
    from_sources(&paths.main_cf, &main, &sources)
}

/// The policy of main.cf (at `main_path`, for errors) and the tables'
/// texts.
pub(crate) fn from_sources(main_path: &Path, main: &CfFile, sources: &Sources) -> Result<Policy, Error> {
    let Sources {
        secrets,
        tls_policy,
        sender_transport,
        sender_relay,
        routes,
        hop_secrets,
    } = sources;
    let mut current = Current {
        main_path: main_path.to_owned(),
        default_transport: main.get(DEFAULT_TRANSPORT).map(str::to_owned),
        global_level: main.get(TLS_SECURITY_LEVEL).unwrap_or("none").to_owned(),
        secrets: tables(secrets),
        hop_secrets: tables(hop_secrets),
        tls_policy: tables(tls_policy),
        sender_transport: tables(sender_transport),
        relays: FastMap::default(),
        unchecked: (false, false),
    };
    let mut policy = Policy::default();
    if let Some(relayhost) = main.get(RELAYHOST).filter(|v| !v.is_empty()) {
        let transport = current.default_transport.clone();
        policy.server = Some(current.smarthost(RELAYHOST, relayhost, None, transport.as_deref(), Level::Server)?);
    } else if let Some((service, list)) = current
        .default_transport
        .clone()
        .as_deref()
        .and_then(|t| t.split_once(':'))
        .filter(|(service, list)| {
            (*service == SMTP_TRANSPORT || *service == TLS_WRAPPER_SERVICE) && !list.trim().is_empty()
        })
    {
        // Direct mode: the server relay is default_transport's nexthop.
        policy.server = Some(current.smarthost(DEFAULT_TRANSPORT, list, None, Some(service), Level::Server)?);
    }
    let mut domains = Vec::new();
    for (key, relay) in sorted_entries(sender_relay) {
        let what = || format!("{SENDER_RELAY_MAPS} {key}");
        let transport = current.transport_of(&key).map(|(service, _)| service);
        let rename = |e: Error| match e {
            Error::Unreadable { path, what, reason } if what == SENDER_RELAY_MAPS => Error::Unreadable {
                path,
                what: format!("{SENDER_RELAY_MAPS} {key}"),
                reason,
            },
            other => other,
        };
        if !key.contains('@') {
            continue;
        }
        let smarthost = current
            .smarthost(
                SENDER_RELAY_MAPS,
                &relay,
                Some(&key),
                transport.as_deref(),
                Level::Sender,
            )
            .map_err(rename)?;
        if let Some(name) = key.strip_prefix('@') {
            let domain = DomainName::parse(name).map_err(|e| current.unreadable(&what(), e.to_string()))?;
            domains.push((domain, smarthost));
        } else {
            let mailbox =
                Mailbox::parse_field(&what(), &key).map_err(|e| current.unreadable(&what(), e.to_string()))?;
            policy.mailboxes.insert(mailbox, smarthost);
        }
    }
    // From sorted keys, the map is built in one pass (a later duplicate
    // wins, as with insert).
    policy.domains = domains.into_iter().collect();
    // Direct exceptions and bounces: sender_dependent_default_transport_maps
    // entries without a relay entry.
    let mut direct = Vec::new();
    let mut bounce = None;
    for (key, value) in sorted_entries(sender_transport) {
        let (service, list) = value.split_once(':').unwrap_or((&value, ""));
        if key == NULL_SENDER {
            bounce = Some((service.to_owned(), list.to_owned()));
        } else if let Some(name) = key.strip_prefix('@').filter(|_| is_direct(service, list)) {
            let domain = DomainName::parse(name)
                .map_err(|e| current.unreadable(&format!("{SENDER_TRANSPORT_MAPS} {key}"), e.to_string()))?;
            if !policy.domains.contains_key(&domain) {
                direct.push(domain);
            }
        }
    }
    policy.direct = direct.into_iter().collect();
    match bounce {
        Some((service, list)) if is_direct(&service, &list) => policy.bounces = Bounces::Direct,
        Some((service, list)) if service == NEXTHOP_SERVICE || service == NEXTHOP_TLS_SERVICE => {
            let what = format!("{SENDER_TRANSPORT_MAPS} {NULL_SENDER}");
            policy.bounces = Bounces::Relay(current.smarthost(&what, &list, None, Some(&service), Level::Nexthop)?);
        }
        _ => {}
    }
    for (key, value) in sorted_entries(routes) {
        let what = format!("{TRANSPORT_MAPS} {key}");
        let Some((service, list)) = value.split_once(':') else {
            continue;
        };
        let domain = DomainName::parse(&key).map_err(|e| current.unreadable(&what, e.to_string()))?;
        if is_direct(service, list) {
            policy.direct_recipients.insert(domain);
        } else if service == NEXTHOP_SERVICE || service == NEXTHOP_TLS_SERVICE {
            let s = current.smarthost(&what, list, None, Some(service), Level::Nexthop)?;
            policy.recipients.insert(domain, s);
        }
    }
    // A relay whose TLS policy is `encrypt` has its certificate check off.
    policy.features.server.check_certificate = !current.unchecked.0;
    policy.features.domain.check_certificate = !current.unchecked.1;
    Ok(policy)
}
