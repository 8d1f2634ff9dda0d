//! Reads the relaying configured in Postfix back into a [`Policy`]. This is
//! also how a hand-made configuration is taken over.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::cf::{CfFile, Kind};
use crate::error::Error;
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
fn table_files(value: &str, options: &PostfixOptions) -> Vec<PathBuf> {
    value
        .split([',', ' ', '\t'])
        .filter_map(|item| item.split_once(':'))
        .filter(|(kind, _)| matches!(*kind, "hash" | "btree" | "lmdb" | "texthash" | "cdb" | "dbm"))
        // A path that would lead outside the root is not read.
        .filter_map(|(_, path)| safe_fs::under_root(&options.root, Path::new(path)).ok())
        .collect()
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
    tls_policy: FastMap<Cow<'t, str>, Cow<'t, str>>,
    sender_transport: FastMap<Cow<'t, str>, Cow<'t, str>>,
    /// Relay text -> (transport, what it reads as); a fleet uses a few,
    /// looked up without allocating.
    relays: FastMap<String, Vec<(Option<String>, RelayView)>>,
    /// Whether a relay with certificate check off (`encrypt`) was read, per
    /// level: (server, domain).
    unchecked: (bool, bool),
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
        let wrapped = transport.is_some_and(|t| t == TLS_WRAPPER_SERVICE || t == TLS_NOAUTH_SERVICE);
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

    fn smarthost(
        &mut self,
        what: &str,
        relay_text: &str,
        secret_key: &str,
        transport: Option<&str>,
    ) -> Result<Smarthost, Error> {
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
        if view.unchecked {
            if secret_key.starts_with('@') {
                self.unchecked.1 = true;
            } else {
                self.unchecked.0 = true;
            }
        }
        let credentials = match self.secrets.get(secret_key) {
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
            backups: Vec::new(),
        })
    }
}

pub(crate) fn read(options: &PostfixOptions, paths: &Paths) -> Result<Policy, Error> {
    let main_path = paths.main_cf.clone();
    let main = CfFile::parse(&read_optional(&main_path)?.unwrap_or_default(), Kind::Main);
    let secrets = table_texts(&main, SASL_PASSWORD_MAPS, options)?;
    let tls_policy = table_texts(&main, TLS_POLICY_MAPS, options)?;
    let sender_transport = table_texts(&main, SENDER_TRANSPORT_MAPS, options)?;
    let sender_relay = table_texts(&main, SENDER_RELAY_MAPS, options)?;
    let mut current = Current {
        main_path: main_path.clone(),
        default_transport: main.get(DEFAULT_TRANSPORT).map(str::to_owned),
        global_level: main.get(TLS_SECURITY_LEVEL).unwrap_or("none").to_owned(),
        secrets: tables(&secrets),
        tls_policy: tables(&tls_policy),
        sender_transport: tables(&sender_transport),
        relays: FastMap::default(),
        unchecked: (false, false),
    };
    let mut policy = Policy::default();
    if let Some(relayhost) = main.get(RELAYHOST).filter(|v| !v.is_empty()) {
        let transport = current.default_transport.clone();
        let key = relayhost.to_ascii_lowercase();
        policy.server = Some(current.smarthost(RELAYHOST, relayhost, &key, transport.as_deref())?);
    }
    let mut domains = Vec::new();
    for (key, relay) in sorted_entries(&sender_relay) {
        let Some(name) = key.strip_prefix('@') else {
            // Keys for one address are not a domain smarthost; leave them.
            continue;
        };
        let domain = DomainName::parse(name)
            .map_err(|e| current.unreadable(&format!("{SENDER_RELAY_MAPS} {key}"), e.to_string()))?;
        let transport = current
            .sender_transport
            .get(key.as_ref())
            .and_then(|t| t.split_once(':'))
            .map(|(t, _)| t.to_owned());
        let smarthost = current
            .smarthost(SENDER_RELAY_MAPS, &relay, &key, transport.as_deref())
            .map_err(|e| match e {
                Error::Unreadable { path, what, reason } if what == SENDER_RELAY_MAPS => Error::Unreadable {
                    path,
                    what: format!("{SENDER_RELAY_MAPS} {key}"),
                    reason,
                },
                other => other,
            })?;
        domains.push((domain, smarthost));
    }
    // From sorted keys, the map is built in one pass (a later duplicate
    // wins, as with insert).
    policy.domains = domains.into_iter().collect();
    // A relay whose TLS policy is `encrypt` has its certificate check off.
    policy.features.server.check_certificate = !current.unchecked.0;
    policy.features.domain.check_certificate = !current.unchecked.1;
    Ok(policy)
}
