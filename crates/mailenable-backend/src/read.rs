//! Reading: the policy MailEnable's values describe, under the learned (or
//! built-in) names.

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::error::Error;
use crate::names::{LevelNames, Names, Role};
use crate::registry::{RegData, Registry};
use crate::schema;

fn unreadable(key: &str, name: &str, reason: &str) -> Error {
    Error::Unreadable {
        key: key.to_owned(),
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn text(reg: &dyn Registry, key: &str, name: &str) -> Result<Option<String>, Error> {
    match reg.get(key, name)? {
        Some(RegData::Sz(s)) => Ok(Some(s)),
        Some(RegData::Dword(_)) => Err(unreadable(key, name, "expected a string")),
        None => Ok(None),
    }
}

fn number(reg: &dyn Registry, key: &str, name: &str) -> Result<Option<u32>, Error> {
    match reg.get(key, name)? {
        Some(RegData::Dword(d)) => Ok(Some(d)),
        Some(RegData::Sz(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| unreadable(key, name, "expected a number")),
        None => Ok(None),
    }
}

/// The smarthost the values under `key` describe, if they name a host.
fn smarthost(reg: &dyn Registry, key: &str, names: &LevelNames) -> Result<Option<Smarthost>, Error> {
    let name = |role: Role| names.get(&role).map(String::as_str);
    let Some(host_name) = name(Role::Host) else {
        return Ok(None);
    };
    let Some(host) = text(reg, key, host_name)?.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let number_of = |role: Role| match name(role) {
        Some(n) => number(reg, key, n),
        None => Ok(None),
    };
    let port = number_of(Role::Port)?.unwrap_or(25);
    let relay =
        RelayHost::parse(&format!("[{host}]:{port}")).map_err(|e| unreadable(key, host_name, &e.to_string()))?;
    let encryption = if number_of(Role::Tls)?.unwrap_or(0) == 1 {
        Encryption::Starttls
    } else {
        Encryption::None
    };
    let credentials = if number_of(Role::Auth)?.unwrap_or(0) == 1 {
        let (Some(user_name), Some(pass_name)) = (name(Role::Username), name(Role::Password)) else {
            return Err(unreadable(
                key,
                name(Role::Auth).unwrap_or_default(),
                "authentication is on, but the user name or password value is not known: run learn",
            ));
        };
        let user = text(reg, key, user_name)?.unwrap_or_default();
        let pass = text(reg, key, pass_name)?.unwrap_or_default();
        let user = Username::new(&user).map_err(|e| unreadable(key, user_name, &e.to_string()))?;
        let pass = Secret::new(pass).map_err(|_| unreadable(key, pass_name, "the password is empty or invalid"))?;
        Some(Credentials::new(user, pass))
    } else {
        None
    };
    Ok(Some(Smarthost {
        relay,
        encryption,
        credentials,
        backups: Vec::new(),
    }))
}

/// The policy the registry describes, read with `names`.
pub(crate) fn read(reg: &dyn Registry, names: &Names) -> Result<Policy, Error> {
    let mut policy = Policy::default();
    let enabled = match names.server(Role::Enabled) {
        Some(n) => number(reg, schema::SMTP_KEY, n)? == Some(1),
        None => false,
    };
    if enabled {
        policy.server = smarthost(reg, schema::SMTP_KEY, &names.server)?;
    }
    if let Some(domains) = &names.domains {
        for name in reg.subkeys(&domains.key)? {
            let key = format!("{}\\{name}", domains.key);
            if let Some(s) = smarthost(reg, &key, &domains.values)? {
                let domain = DomainName::parse(&name).map_err(|e| unreadable(&key, "", &e.to_string()))?;
                policy.domains.insert(domain, s);
            }
        }
    }
    Ok(policy)
}
