//! Between the policy and MailEnable's values: what each smarthost becomes,
//! and what the values say back.

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::error::Error;
use crate::names::{LevelNames, Names, Role};
use crate::registry::{RegData, Registry};
use crate::schema;

/// The values for one smarthost (`None`: delete the value), named by
/// `names`. A value the smarthost needs whose name is not known is an
/// error; one it does not need is left out when unknown.
pub(crate) fn values(names: &LevelNames, field: &str, s: &Smarthost) -> Result<Vec<(String, Option<RegData>)>, Error> {
    let invalid = |reason: &str| {
        Error::Policy(smarthost_core::Error::Invalid {
            field: format!("{field}.relay"),
            value: s.relay.to_string(),
            reason: reason.into(),
        })
    };
    if s.relay.mx_lookup() {
        return Err(invalid(
            "MailEnable connects to the smart host itself and does no MX lookup: write it in brackets, as [host]:port",
        ));
    }
    let tls = match s.encryption {
        Encryption::None => 0,
        Encryption::Starttls => 1,
        Encryption::ImplicitTls => {
            return Err(invalid("MailEnable's smart host settings offer no implicit TLS (port 465) in any public source: use STARTTLS, usually on port 587"))
        }
    };
    let host = s.relay.host().to_string();
    let (auth, user, pass) = match &s.credentials {
        Some(c) => (
            1,
            Some(RegData::Sz(c.username().to_string())),
            Some(RegData::Sz(c.password().expose().to_owned())),
        ),
        None => (0, None, None),
    };
    let needed = [
        (Role::Host, Some(RegData::Sz(host)), true),
        (Role::Port, Some(RegData::Dword(u32::from(s.relay.port()))), true),
        (Role::Auth, Some(RegData::Dword(auth)), auth == 1),
        (Role::Username, user, auth == 1),
        (Role::Password, pass, auth == 1),
        (Role::Tls, Some(RegData::Dword(tls)), tls == 1),
    ];
    let mut out = Vec::new();
    for (role, data, required) in needed {
        match names.get(&role) {
            Some(name) => out.push((name.clone(), data)),
            None if required => {
                return Err(Error::Unlearned {
                    field: field.to_owned(),
                    role,
                })
            }
            None => {}
        }
    }
    Ok(out)
}

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
