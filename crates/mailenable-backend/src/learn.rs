//! `learn`: the value names MailEnable really uses, read from the
//! administrator's own server.
//!
//! No public source gives MailEnable's smart host value names. The
//! administrator exports the MailEnable key (`regedit /E`) before and
//! after setting a smart host by hand in MailEnable's console, and tells
//! what was typed there (relay, user name, password; optionally that TLS
//! was turned on and one domain's smart host). [`learn`] compares the two
//! exports and matches each changed value to what was typed: the value
//! that became the typed host is the host's name, and so on. Switches that
//! became 1 (enabled, authentication, TLS) cannot be told apart by value:
//! a name that says `auth` or `tls`/`ssl` decides, else the administrator
//! names it (`pinned`). Nothing is guessed: a role that cannot be matched
//! exactly once is an error, or (the password, which MailEnable may keep
//! encoded) is left out, so that writing it is refused later.

use std::collections::BTreeMap;

use smarthost_core::{DomainName, RelayHost, Secret, Username};

use crate::error::Error;
use crate::names::{DomainNames, LevelNames, Names, Role, NAMES_VERSION};
use crate::registry::{self, MemoryRegistry, RegData};
use crate::schema;

/// What the administrator typed into MailEnable's console between the two
/// exports.
#[derive(Clone, Debug)]
pub struct Typed {
    /// The smart host and port.
    pub relay: RelayHost,
    /// The user name, when authentication was turned on.
    pub username: Option<Username>,
    /// The password typed (compared, never shown).
    pub password: Option<Secret>,
    /// Whether TLS towards the smart host was turned on.
    pub tls: bool,
    /// The domain whose own smart host was set, to learn where MailEnable
    /// keeps domain-level smart hosts (if it has them).
    pub domain: Option<DomainName>,
    /// Names the administrator gives for roles the exports cannot settle.
    pub pinned: BTreeMap<Role, String>,
}

/// What [`learn`] found.
#[derive(Clone, Debug)]
pub struct Learned {
    /// The names, to save with [`Names::to_toml`].
    pub names: Names,
    /// One line per role: which value it is and how it was matched.
    pub report: Vec<String>,
}

/// Compares the `before` and `after` exports (named `sources` in the names
/// file) and matches the changed values to `typed`.
pub fn learn(
    before: &MemoryRegistry,
    after: &MemoryRegistry,
    typed: &Typed,
    sources: &[String],
) -> Result<Learned, Error> {
    let mut report = Vec::new();
    let server = level(before, after, schema::SMTP_KEY, typed, true, &mut report)?;
    let domains = match &typed.domain {
        None => None,
        Some(domain) => Some(domain_level(before, after, domain, typed, &mut report)?),
    };
    Ok(Learned {
        names: Names {
            version: NAMES_VERSION,
            learned: true,
            learned_from: sources.to_vec(),
            server,
            domains,
        },
        report,
    })
}

fn learn_error(text: impl Into<String>) -> Error {
    Error::Learn(text.into())
}

/// The values of `key` that differ between the exports.
fn changed<'a>(before: &MemoryRegistry, after: &'a MemoryRegistry, key: &str) -> Vec<(&'a String, &'a RegData)> {
    let old = before.values(key);
    (after.values(key).into_iter().flatten())
        .filter(|(name, data)| old.and_then(|o| o.get(*name)) != Some(*data))
        .collect()
}

/// Matches the roles of one level (the SMTP connector key, or a domain's
/// key).
fn level(
    before: &MemoryRegistry,
    after: &MemoryRegistry,
    key: &str,
    typed: &Typed,
    server: bool,
    report: &mut Vec<String>,
) -> Result<LevelNames, Error> {
    let values = after.values(key).ok_or_else(|| {
        learn_error(format!(
            "the export made after has no key {key}: export HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Mail Enable"
        ))
    })?;
    let changed = changed(before, after, key);
    let mut names = LevelNames::new();
    let mut found: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut take = |role: Role, name: &str, how: &str, names: &mut LevelNames| -> Result<(), Error> {
        registry::guard(key, name)?;
        found.push(format!("{role}: {key}\\{name} ({how})"));
        names.insert(role, name.to_owned());
        Ok(())
    };
    // Pinned names first: they must exist after.
    for (role, name) in &typed.pinned {
        if !server && *role == Role::Enabled {
            continue;
        }
        if !values.contains_key(name) {
            return Err(learn_error(format!(
                "--value {role}={name}: {key} has no value {name:?} in the export made after"
            )));
        }
        take(*role, name, "named with --value", &mut names)?;
    }
    let text_is = |names: &LevelNames, want: &str, case: bool| {
        (changed.iter())
            .filter(|(name, data)| {
                !names_taken(names, name)
                    && matches!(data, RegData::Sz(s) if if case { s.eq_ignore_ascii_case(want) } else { s == want })
            })
            .map(|(name, _)| (*name).clone())
            .collect::<Vec<String>>()
    };
    let one = |role: Role, found: Vec<String>, typed_what: &str| -> Result<Option<String>, Error> {
        match found.as_slice() {
            [name] => Ok(Some(name.clone())),
            [] => Ok(None),
            many => Err(learn_error(format!(
                "{role}: {} values of {key} changed to the {typed_what}: {}; name the right one with --value {role}=NAME",
                many.len(),
                many.join(", ")
            ))),
        }
    };
    if !names.contains_key(&Role::Host) {
        let host = typed.relay.host().to_string();
        match one(Role::Host, text_is(&names, &host, true), "host typed")? {
            Some(name) => take(Role::Host, &name, "changed to the host typed", &mut names)?,
            None => {
                return Err(learn_error(format!(
                    "host: no value of {key} changed to {host}: were the exports made before and after setting the smart host, of HKLM\\SOFTWARE\\WOW6432Node\\Mail Enable?"
                )))
            }
        }
    }
    if !names.contains_key(&Role::Port) {
        let port = u32::from(typed.relay.port());
        let is_port = |data: &RegData| match data {
            RegData::Dword(d) => *d == port,
            RegData::Sz(s) => s.trim() == port.to_string(),
        };
        let mut ports: Vec<String> = (changed.iter())
            .filter(|(name, data)| !names_taken(&names, name) && is_port(data))
            .map(|(name, _)| (*name).clone())
            .collect();
        let mut how = "changed to the port typed";
        if ports.is_empty() {
            // A port left at its default does not change.
            ports = (values.iter())
                .filter(|(name, data)| !names_taken(&names, name) && is_port(data))
                .map(|(name, _)| name.clone())
                .collect();
            how = "holds the port typed";
        }
        match one(Role::Port, ports, "port typed")? {
            Some(name) => take(Role::Port, &name, how, &mut names)?,
            None => {
                return Err(learn_error(format!(
                    "port: no value of {key} holds {port}: learn with a port other than the default (587) or name it with --value port=NAME"
                )))
            }
        }
    }
    if let Some(user) = &typed.username {
        if !names.contains_key(&Role::Username) {
            match one(Role::Username, text_is(&names, user.as_str(), false), "user name typed")? {
                Some(name) => take(Role::Username, &name, "changed to the user name typed", &mut names)?,
                None => {
                    return Err(learn_error(format!(
                        "username: no value of {key} changed to {}",
                        user.as_str()
                    )))
                }
            }
        }
    }
    if let Some(password) = &typed.password {
        if !names.contains_key(&Role::Password) {
            match one(Role::Password, text_is(&names, password.expose(), false), "password typed")? {
                Some(name) => take(Role::Password, &name, "changed to the password typed", &mut names)?,
                None => notes.push(format!(
                    "password: no value of {key} changed to the password as typed: MailEnable may keep it encoded, so smarthost cannot write it; authentication will be refused (set it in MailEnable's console)"
                )),
            }
        }
    }
    // The switches that were turned on.
    let mut wanted: Vec<Role> = Vec::new();
    if server {
        wanted.push(Role::Enabled);
    }
    if typed.username.is_some() {
        wanted.push(Role::Auth);
    }
    if typed.tls {
        wanted.push(Role::Tls);
    }
    wanted.retain(|r| !names.contains_key(r));
    let mut switches: Vec<String> = (changed.iter())
        .filter(|(name, data)| !names_taken(&names, name) && **data == RegData::Dword(1))
        .map(|(name, _)| (*name).clone())
        .collect();
    let hint = |role: Role, name: &str| {
        let lower = name.to_lowercase();
        match role {
            Role::Auth => lower.contains("auth"),
            Role::Tls => lower.contains("tls") || lower.contains("ssl"),
            _ => false,
        }
    };
    for role in [Role::Auth, Role::Tls] {
        if !wanted.contains(&role) {
            continue;
        }
        let hinted: Vec<&String> = switches.iter().filter(|n| hint(role, n)).collect();
        if let [name] = hinted.as_slice() {
            let name = (*name).clone();
            take(role, &name, "turned on; its name says so", &mut names)?;
            switches.retain(|n| *n != name);
            wanted.retain(|r| *r != role);
        }
    }
    match (wanted.as_slice(), switches.as_slice()) {
        ([], _) => {}
        ([role], [name]) => {
            let (role, name) = (*role, name.clone());
            take(role, &name, "the one other value turned on", &mut names)?;
        }
        (roles, found) => {
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            return Err(learn_error(format!(
                "{}: cannot tell which of the values of {key} turned on ({}) is which; name them with --value ROLE=NAME",
                roles.join(", "),
                if found.is_empty() { "none".to_owned() } else { found.join(", ") }
            )));
        }
    }
    report.extend(found);
    report.extend(notes);
    Ok(names)
}

fn names_taken(names: &LevelNames, name: &str) -> bool {
    names.values().any(|n| n == name)
}

/// Finds the key named after `domain` that holds the typed host in the
/// export made after, and learns the names inside it.
fn domain_level(
    before: &MemoryRegistry,
    after: &MemoryRegistry,
    domain: &DomainName,
    typed: &Typed,
    report: &mut Vec<String>,
) -> Result<DomainNames, Error> {
    let host = typed.relay.host().to_string();
    let keys: Vec<&str> = (after.keys())
        .filter(|(key, values)| {
            key.rsplit('\\')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(domain.as_str()))
                && values
                    .values()
                    .any(|d| matches!(d, RegData::Sz(s) if s.eq_ignore_ascii_case(&host)))
        })
        .map(|(key, _)| key)
        .collect();
    let key = match keys.as_slice() {
        [key] => (*key).to_owned(),
        [] => {
            return Err(learn_error(format!(
                "domain: no key named {domain} holding {host} is in the export made after: MailEnable shows no per-domain smart host there, so domain level stays refused"
            )))
        }
        many => return Err(learn_error(format!("domain: several keys are named {domain}: {}", many.join(", ")))),
    };
    let parent = key.rsplit_once('\\').map(|(p, _)| p.to_owned()).unwrap_or_default();
    let mut typed = typed.clone();
    typed.pinned.clear();
    report.push(format!("domain level: one subkey per domain below {parent}"));
    let values = level(before, after, &key, &typed, false, report)?;
    Ok(DomainNames { key: parent, values })
}
