//! The plan: the registry values that turn the current values into a
//! policy's, each with the value it expects to replace, and the basis of
//! every managed value the plan was made from.

use smarthost_core::transaction::Basis;
use smarthost_core::{Change, CommandRun, Plan, Policy, RegistryChange, RegistryValue, Secret};

use crate::error::Error;
use crate::model;
use crate::registry::{self, RegData, Registry};
use crate::schema;

/// How plans name keys: the full path below the hive.
pub(crate) const HKLM_PREFIX: &str = "HKEY_LOCAL_MACHINE\\";

/// A plan's key as the [`Registry`] takes it (without the hive).
pub(crate) fn local_key(key: &str) -> &str {
    key.strip_prefix(HKLM_PREFIX).unwrap_or(key)
}

/// A value as a plan shows it: the password as a secret (redacted
/// whenever it is printed or serialized).
pub(crate) fn shown(name: &str, data: &RegData) -> RegistryValue {
    match data {
        RegData::Dword(d) => RegistryValue::Dword(*d),
        RegData::Sz(s) if name == schema::PASSWORD => {
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
fn managed(reg: &dyn Registry) -> Result<Vec<(String, &'static str)>, Error> {
    let mut out: Vec<(String, &'static str)> = schema::SERVER_VALUES
        .iter()
        .map(|name| (schema::SMTP_KEY.to_owned(), *name))
        .collect();
    for sub in reg.subkeys(schema::DOMAINS_KEY)? {
        let key = format!("{}\\{sub}", schema::DOMAINS_KEY);
        out.extend(schema::DOMAIN_VALUES.iter().map(|name| (key.clone(), *name)));
    }
    Ok(out)
}

/// The fingerprint of every managed value (and of the list of domain
/// subkeys), so that an apply refuses a plan when any of them changed, not
/// only the ones it writes.
pub(crate) fn basis(reg: &dyn Registry) -> Result<Basis, Error> {
    let mut basis = Basis::new();
    let mut subkeys: Vec<String> = reg
        .subkeys(schema::DOMAINS_KEY)?
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    subkeys.sort();
    basis.add(
        format_args!("{HKLM_PREFIX}{} (its subkeys)", schema::DOMAINS_KEY),
        Some(subkeys.join("\n").as_bytes()),
    );
    for (key, name) in managed(reg)? {
        let bytes = reg.get(&key, name)?.map(|d| match d {
            RegData::Sz(s) => [b"sz:".as_slice(), s.as_bytes()].concat(),
            RegData::Dword(d) => [b"dword:".as_slice(), &d.to_le_bytes()].concat(),
        });
        basis.add(format_args!("{HKLM_PREFIX}{key}\\{name}"), bytes.as_deref());
    }
    Ok(basis)
}

/// The registry changes that turn `reg`'s values into `desired`'s, each
/// with the value it replaces; and the plan's warnings.
pub(crate) fn changes(reg: &dyn Registry, desired: &Policy) -> Result<(Vec<RegistryChange>, Vec<String>), Error> {
    let mut wanted: Vec<(String, &'static str, Option<RegData>)> = Vec::new();
    let mut warnings = desired.warnings();
    match &desired.server {
        Some(s) => {
            wanted.push((schema::SMTP_KEY.into(), schema::ENABLED, Some(RegData::Dword(1))));
            for (name, value) in model::values("server", s)? {
                wanted.push((schema::SMTP_KEY.into(), name, value));
            }
        }
        None => {
            if reg.get(schema::SMTP_KEY, schema::ENABLED)?.is_some() {
                wanted.push((schema::SMTP_KEY.into(), schema::ENABLED, Some(RegData::Dword(0))));
            }
            for name in &schema::SERVER_VALUES[1..] {
                wanted.push((schema::SMTP_KEY.into(), name, None));
            }
        }
    }
    if !desired.domains.is_empty() {
        warnings.push(format!(
            "domain-level smart hosts are written below {}\\{}, a location no public MailEnable source confirms: MailEnable may not use it; set features.domain.enabled = false to stop writing it (see docs/backends/mailenable.md)",
            HKLM_PREFIX.trim_end_matches('\\'),
            schema::DOMAINS_KEY
        ));
    }
    for (domain, s) in &desired.domains {
        let key = format!("{}\\{domain}", schema::DOMAINS_KEY);
        for (name, value) in model::values(&format!("domains.{:?}", domain.as_str()), s)? {
            wanted.push((key.clone(), name, value));
        }
    }
    for name in reg.subkeys(schema::DOMAINS_KEY)? {
        if !desired.domains.keys().any(|d| d.as_str().eq_ignore_ascii_case(&name)) {
            let key = format!("{}\\{name}", schema::DOMAINS_KEY);
            for value in schema::DOMAIN_VALUES {
                wanted.push((key.clone(), value, None));
            }
        }
    }
    let mut out = Vec::new();
    for (key, name, value) in wanted {
        registry::guard(&key, name)?;
        let current = reg.get(&key, name)?;
        if current != value {
            out.push(RegistryChange {
                key: format!("{HKLM_PREFIX}{key}"),
                name: name.to_owned(),
                value: value.as_ref().map(|v| shown(name, v)),
                before: current.as_ref().map(|v| shown(name, v)),
            });
        }
    }
    Ok((out, warnings))
}

/// The plan for `desired`: the changes, then `restart` when anything
/// changes. The caller adds the basis.
pub(crate) fn plan(reg: &dyn Registry, desired: &Policy, restart: &[Vec<String>]) -> Result<Plan, Error> {
    let (registry_changes, warnings) = changes(reg, desired)?;
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
