//! Reads the relaying configured in Postfix back into a [`Policy`]. This is
//! also how a hand-made configuration is taken over.

use std::path::{Path, PathBuf};

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::cf::{CfFile, Kind};
use crate::error::Error;
use crate::maps::{self, Table};
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

/// Every entry of the tables a main.cf parameter names.
fn tables(main: &CfFile, param: &str, options: &PostfixOptions) -> Result<Table, Error> {
    let mut table = Table::new();
    for file in table_files(main.get(param).unwrap_or(""), options) {
        if let Some(text) = read_optional(&file)? {
            for (k, v) in maps::parse(&text) {
                table.entry(k).or_insert(v);
            }
        }
    }
    Ok(table)
}

struct Current {
    main_path: PathBuf,
    default_transport: Option<String>,
    global_level: String,
    secrets: Table,
    tls_policy: Table,
    sender_transport: Table,
    /// Whether a relay with certificate check off (`encrypt`) was read, per
    /// level: (server, domain).
    unchecked: (bool, bool),
}

impl Current {
    fn unreadable(&self, what: &str, reason: impl Into<String>) -> Error {
        Error::Unreadable {
            path: self.main_path.clone(),
            what: what.to_owned(),
            reason: reason.into(),
        }
    }

    fn smarthost(
        &mut self,
        what: &str,
        relay_text: &str,
        secret_key: &str,
        transport: Option<&str>,
    ) -> Result<Smarthost, Error> {
        let relay = RelayHost::parse(relay_text).map_err(|e| self.unreadable(what, e.to_string()))?;
        let tls = self
            .tls_policy
            .get(&relay_text.to_ascii_lowercase())
            .or_else(|| self.tls_policy.get(&relay.to_string()))
            .cloned()
            .unwrap_or_else(|| self.global_level.clone());
        let level = tls.split_whitespace().next().unwrap_or("");
        let wrapped = transport.is_some_and(|t| t == TLS_WRAPPER_SERVICE || t == TLS_NOAUTH_SERVICE);
        let encryption = match level {
            _ if wrapped => Encryption::ImplicitTls,
            "encrypt" | "secure" | "verify" | "fingerprint" | "dane-only" => Encryption::Starttls,
            _ => Encryption::None,
        };
        if level == "encrypt" {
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
            relay,
            encryption,
            credentials,
        })
    }
}

pub(crate) fn read(options: &PostfixOptions, paths: &Paths) -> Result<Policy, Error> {
    let main_path = paths.main_cf.clone();
    let main = CfFile::parse(&read_optional(&main_path)?.unwrap_or_default(), Kind::Main);
    let mut current = Current {
        main_path: main_path.clone(),
        default_transport: main.get(DEFAULT_TRANSPORT).map(str::to_owned),
        global_level: main.get(TLS_SECURITY_LEVEL).unwrap_or("none").to_owned(),
        secrets: tables(&main, SASL_PASSWORD_MAPS, options)?,
        tls_policy: tables(&main, TLS_POLICY_MAPS, options)?,
        sender_transport: tables(&main, SENDER_TRANSPORT_MAPS, options)?,
        unchecked: (false, false),
    };
    let mut policy = Policy::default();
    if let Some(relayhost) = main.get(RELAYHOST).filter(|v| !v.is_empty()) {
        let transport = current.default_transport.clone();
        let key = relayhost.to_ascii_lowercase();
        policy.server = Some(current.smarthost(RELAYHOST, relayhost, &key, transport.as_deref())?);
    }
    for (key, relay) in tables(&main, SENDER_RELAY_MAPS, options)? {
        let Some(name) = key.strip_prefix('@') else {
            // Keys for one address are not a domain smarthost; leave them.
            continue;
        };
        let what = format!("{SENDER_RELAY_MAPS} {key}");
        let domain = DomainName::parse(name).map_err(|e| current.unreadable(&what, e.to_string()))?;
        let transport = current
            .sender_transport
            .get(&key)
            .and_then(|t| t.split_once(':'))
            .map(|(t, _)| t.to_owned());
        let smarthost = current.smarthost(&what, &relay, &key, transport.as_deref())?;
        policy.domains.insert(domain, smarthost);
    }
    // A relay whose TLS policy is `encrypt` has its certificate check off.
    policy.features.server.check_certificate = !current.unchecked.0;
    policy.features.domain.check_certificate = !current.unchecked.1;
    Ok(policy)
}
