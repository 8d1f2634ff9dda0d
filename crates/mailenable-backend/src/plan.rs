//! The plan: the registry values that turn the current values into a
//! policy's, each with the value it expects to replace, and the basis of
//! every managed value the plan was made from.

use smarthost_core::transaction::Basis;
use smarthost_core::{Change, CommandRun, Encryption, Plan, Policy, RegistryChange, RegistryValue, Secret, Smarthost};

use crate::error::Error;
use crate::names::{LevelNames, Names, Role};
use crate::registry::{self, RegData, Registry};
use crate::schema;

/// How plans name keys: the full path below the hive.
pub(crate) const HKLM_PREFIX: &str = "HKEY_LOCAL_MACHINE\\";

/// A plan's key as the [`Registry`] takes it (without the hive).
pub(crate) fn local_key(key: &str) -> &str {
    key.strip_prefix(HKLM_PREFIX).unwrap_or(key)
}

/// A value as a plan shows it: a password as a secret (redacted whenever
/// it is printed or serialized).
pub(crate) fn shown(secret: bool, data: &RegData) -> RegistryValue {
    match data {
        RegData::Dword(d) => RegistryValue::Dword(*d),
        RegData::Sz(s) if secret => {
            RegistryValue::SecretSz(Secret::new(s.clone()).unwrap_or_else(|_| Secret::new("?".into()).expect("valid")))
        }
        RegData::Sz(s) => RegistryValue::Sz(s.clone()),
    }
}

/// The registry data of a plan's value.
pub(crate) fn data(value: &RegistryValue) -> RegData {
    match value {
        RegistryValue::Dword(d) => RegData::Dword(*d),
        RegistryValue::Sz(s) => RegData::Sz(s.clone()),
        RegistryValue::SecretSz(s) => RegData::Sz(s.expose().to_owned()),
    }
}

/// Every value this backend manages: the server values, and the values of
/// each domain's subkey.
fn managed(reg: &dyn Registry, names: &Names) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = (names.server.values())
        .map(|name| (schema::SMTP_KEY.to_owned(), name.clone()))
        .collect();
    if let Some(domains) = &names.domains {
        for sub in reg.subkeys(&domains.key)? {
            let key = format!("{}\\{sub}", domains.key);
            out.extend(domains.values.values().map(|name| (key.clone(), name.clone())));
        }
    }
    Ok(out)
}

/// The fingerprint of every managed value (and of the list of domain
/// subkeys), so that an apply refuses a plan when any of them changed, not
/// only the ones it writes.
pub(crate) fn basis(reg: &dyn Registry, names: &Names) -> Result<Basis, Error> {
    let mut basis = Basis::new();
    if let Some(domains) = &names.domains {
        let mut subkeys: Vec<String> = reg.subkeys(&domains.key)?.iter().map(|s| s.to_lowercase()).collect();
        subkeys.sort();
        basis.add(
            format_args!("{HKLM_PREFIX}{} (its subkeys)", domains.key),
            Some(subkeys.join("\n").as_bytes()),
        );
    }
    for (key, name) in managed(reg, names)? {
        let bytes = reg.get(&key, &name)?.map(|d| match d {
            RegData::Sz(s) => [b"sz:".as_slice(), s.as_bytes()].concat(),
            RegData::Dword(d) => [b"dword:".as_slice(), &d.to_le_bytes()].concat(),
        });
        basis.add(format_args!("{HKLM_PREFIX}{key}\\{name}"), bytes.as_deref());
    }
    Ok(basis)
}

/// The registry changes that turn `reg`'s values into `desired`'s, each
/// with the value it replaces; and the plan's warnings.
pub(crate) fn changes(
    reg: &dyn Registry,
    desired: &Policy,
    names: &Names,
) -> Result<(Vec<RegistryChange>, Vec<String>), Error> {
    let mut wanted: Vec<(String, String, Option<RegData>)> = Vec::new();
    let mut warnings = desired.warnings();
    refuse_unchecked_certificates(desired)?;
    refuse_routing_rules(desired)?;
    let enabled = names.server(Role::Enabled);
    match &desired.server {
        Some(s) => {
            let enabled = enabled.ok_or(Error::Unlearned {
                field: "server".into(),
                role: Role::Enabled,
            })?;
            wanted.push((schema::SMTP_KEY.into(), enabled.to_owned(), Some(RegData::Dword(1))));
            for (name, value) in values(&names.server, "server", s)? {
                wanted.push((schema::SMTP_KEY.into(), name, value));
            }
        }
        None => {
            if let Some(enabled) = enabled {
                if reg.get(schema::SMTP_KEY, enabled)?.is_some() {
                    wanted.push((schema::SMTP_KEY.into(), enabled.to_owned(), Some(RegData::Dword(0))));
                }
            }
            for (role, name) in &names.server {
                if *role != Role::Enabled {
                    wanted.push((schema::SMTP_KEY.into(), name.clone(), None));
                }
            }
        }
    }
    if desired
        .server
        .iter()
        .chain(desired.domains.values())
        .any(|s| s.credentials.is_some())
    {
        warnings.push(
            "MailEnable's outbound TLS falls back to plain text when the relay does not offer it (MailEnable documentation, SMTP connector, Outbound TLS): the smart host's user name and password may be sent in clear".to_owned(),
        );
    }
    match &names.domains {
        None if !desired.domains.is_empty() => {
            let domain = desired.domains.keys().next().expect("not empty");
            return Err(Error::Policy(smarthost_core::Error::Invalid {
                field: format!("domains.{:?}", domain.as_str()),
                value: domain.to_string(),
                reason: "no public source shows where MailEnable keeps a smart host per sender domain, and the names learned from this server show none: set one domain's smart host by hand in MailEnable and run `smarthost mailenable learn --domain DOMAIN` with exports from before and after (see docs/backends/mailenable.md)".into(),
            }));
        }
        None => {}
        Some(domains) => {
            for (domain, s) in &desired.domains {
                let key = format!("{}\\{domain}", domains.key);
                for (name, value) in values(&domains.values, &format!("domains.{:?}", domain.as_str()), s)? {
                    wanted.push((key.clone(), name, value));
                }
            }
            for name in reg.subkeys(&domains.key)? {
                if !desired.domains.keys().any(|d| d.as_str().eq_ignore_ascii_case(&name)) {
                    let key = format!("{}\\{name}", domains.key);
                    for value in domains.values.values() {
                        wanted.push((key.clone(), value.clone(), None));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (key, name, value) in wanted {
        registry::guard(&key, &name)?;
        let current = reg.get(&key, &name)?;
        if current != value {
            let secret = names.is_password(&name);
            out.push(RegistryChange {
                key: format!("{HKLM_PREFIX}{key}"),
                name: name.clone(),
                value: value.as_ref().map(|v| shown(secret, v)),
                before: current.as_ref().map(|v| shown(secret, v)),
            });
        }
    }
    Ok((out, warnings))
}

/// MailEnable's smart host settings have no certificate check to turn off
/// (no public source names one): a policy that turns it off is refused,
/// not silently ignored.
fn refuse_unchecked_certificates(desired: &Policy) -> Result<(), Error> {
    let levels = [
        (
            "server",
            desired.server.is_some(),
            desired.features.server.check_certificate,
        ),
        (
            "domain",
            !desired.domains.is_empty(),
            desired.features.domain.check_certificate,
        ),
    ];
    for (level, used, check) in levels {
        if used && !check {
            return Err(Error::Policy(smarthost_core::Error::Invalid {
                field: format!("features.{level}.check_certificate"),
                value: "false".into(),
                reason: "MailEnable's smart host settings have no certificate check that smarthost could turn off: remove the setting (MailEnable decides on its own whether it verifies the relay's certificate)".into(),
            }));
        }
    }
    Ok(())
}

/// The plan for `desired`: the changes, then `restart` when anything
/// changes. The caller adds the basis.
pub(crate) fn plan(
    reg: &dyn Registry,
    desired: &Policy,
    names: &Names,
    restart: &[Vec<String>],
) -> Result<Plan, Error> {
    let (registry_changes, warnings) = changes(reg, desired, names)?;
    let mut plan = Plan::new("mailenable");
    plan.warnings = warnings;
    let changed = !registry_changes.is_empty();
    plan.changes = registry_changes.into_iter().map(Change::Registry).collect();
    if changed {
        for argv in restart {
            plan.changes.push(Change::Command(CommandRun {
                argv: argv.clone(),
                reason: "restart the SMTP connector so it reads the new settings".to_owned(),
            }));
        }
    }
    Ok(plan)
}

/// The values for one smarthost (`None`: delete the value), named by
/// `names`. A value the smarthost needs whose name is not known is an
/// error; one it does not need is left out when unknown.
fn values(names: &LevelNames, field: &str, s: &Smarthost) -> Result<Vec<(String, Option<RegData>)>, Error> {
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

/// Refuses every routing rule beyond the server-wide smart host (and the
/// learned domain level): MailEnable has one smart host host name, port
/// and account per server, and its domain-level setting is about INCOMING
/// mail (`notes/mailenable.md`).
fn refuse_routing_rules(desired: &Policy) -> Result<(), Error> {
    use smarthost_core::RoutingRule;
    match desired.routing_rules().into_iter().next() {
        None => Ok(()),
        Some((field, rule)) => Err(Error::Unsupported {
            field,
            reason: match rule {
                RoutingRule::Backup => "its smart host setting holds one host and port; no public source names a second one tried when the first cannot be reached",
                RoutingRule::DirectException => "the server-wide smart host carries every domain's outgoing mail, and no public source names a per-domain exception",
                RoutingRule::Mailbox => "no public source names a smart host per sender address",
                RoutingRule::Recipient => "no public source names a smart host per recipient domain",
                RoutingRule::Bounces => "no public source says how MailEnable relays the null sender, or how to choose a path for it",
            },
        }),
    }
}
