//! Between the policy and MailEnable's values: what each smarthost becomes,
//! and what the values say back.

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

use crate::error::Error;
use crate::registry::{RegData, Registry};
use crate::schema;

/// The values for one smarthost (`None`: delete the value).
pub(crate) fn values(field: &str, s: &Smarthost) -> Result<Vec<(&'static str, Option<RegData>)>, Error> {
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
    Ok(vec![
        (schema::HOST, Some(RegData::Sz(host))),
        (schema::PORT, Some(RegData::Dword(u32::from(s.relay.port())))),
        (schema::AUTH, Some(RegData::Dword(auth))),
        (schema::USERNAME, user),
        (schema::PASSWORD, pass),
        (schema::TLS, Some(RegData::Dword(tls))),
    ])
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
fn smarthost(reg: &dyn Registry, key: &str) -> Result<Option<Smarthost>, Error> {
    let Some(host) = text(reg, key, schema::HOST)?.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let port = number(reg, key, schema::PORT)?.unwrap_or(25);
    let relay =
        RelayHost::parse(&format!("[{host}]:{port}")).map_err(|e| unreadable(key, schema::HOST, &e.to_string()))?;
    let encryption = if number(reg, key, schema::TLS)?.unwrap_or(0) == 1 {
        Encryption::Starttls
    } else {
        Encryption::None
    };
    let credentials = if number(reg, key, schema::AUTH)?.unwrap_or(0) == 1 {
        let user = text(reg, key, schema::USERNAME)?.unwrap_or_default();
        let pass = text(reg, key, schema::PASSWORD)?.unwrap_or_default();
        let user = Username::new(&user).map_err(|e| unreadable(key, schema::USERNAME, &e.to_string()))?;
        let pass =
            Secret::new(pass).map_err(|_| unreadable(key, schema::PASSWORD, "the password is empty or invalid"))?;
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

/// The policy the registry describes.
pub(crate) fn read(reg: &dyn Registry) -> Result<Policy, Error> {
    let mut policy = Policy::default();
    if number(reg, schema::SMTP_KEY, schema::ENABLED)? == Some(1) {
        policy.server = smarthost(reg, schema::SMTP_KEY)?;
    }
    for name in reg.subkeys(schema::DOMAINS_KEY)? {
        let key = format!("{}\\{name}", schema::DOMAINS_KEY);
        if let Some(s) = smarthost(reg, &key)? {
            let domain = DomainName::parse(&name).map_err(|e| unreadable(&key, "", &e.to_string()))?;
            policy.domains.insert(domain, s);
        }
    }
    Ok(policy)
}
