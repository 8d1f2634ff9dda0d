//! MailEnable backend for smarthost.
//!
//! MailEnable keeps its SMTP connector's settings in the Windows registry
//! (32-bit view). The server-wide smart host is a handful of values there;
//! changes take effect when the SMTP connector service restarts. This
//! backend writes them through a [`Registry`]: the Windows registry on
//! Windows, or a `.reg` file in a folder on any OS (`--root`).
//!
//! The domain-level "Act as Smart Host" setting of MailEnable redirects a
//! domain's INBOUND mail, so this backend never writes it. Where MailEnable
//! keeps outbound smart hosts per sender domain is not publicly documented:
//! the location used is marked UNVERIFIED and every plan that writes it
//! says so. Value names no public source settles are marked UNVERIFIED in
//! [`schema`].
#![deny(missing_docs)]

mod error;
mod model;
pub mod regfile;
mod registry;
pub mod schema;
#[cfg(windows)]
mod windows;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use smarthost_core::{Applied, Change, CommandRun, ConfigWriter, Plan, Policy, RegistryChange, RegistryValue, Secret};

pub use error::Error;
pub use registry::{MemoryRegistry, RegData, Registry};
#[cfg(windows)]
pub use windows::WindowsRegistry;

use regfile::RegLine;

/// Where the settings are written.
enum Target {
    /// A registry, and the commands that restart the SMTP connector.
    Registry(Mutex<Box<dyn Registry + Send>>, Vec<Vec<String>>),
    /// `smarthost.reg` in a folder.
    Folder(PathBuf),
}

/// The MailEnable [`ConfigWriter`].
pub struct MailEnableWriter {
    target: Target,
}

impl std::fmt::Debug for MailEnableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailEnableWriter")
    }
}

/// The name of the file written into a folder.
pub const REG_FILE: &str = "smarthost.reg";

/// The default restart: `net stop MESMTPCS`, `net start MESMTPCS`.
pub fn default_restart() -> Vec<Vec<String>> {
    ["stop", "start"]
        .iter()
        .map(|verb| vec!["net".to_owned(), (*verb).to_owned(), schema::SERVICE.to_owned()])
        .collect()
}

const HKLM_PREFIX: &str = "HKEY_LOCAL_MACHINE\\";

impl MailEnableWriter {
    /// Writes into `registry` and runs `restart` after a change (empty: no
    /// restart).
    pub fn with_registry(registry: Box<dyn Registry + Send>, restart: Vec<Vec<String>>) -> Self {
        MailEnableWriter {
            target: Target::Registry(Mutex::new(registry), restart),
        }
    }

    /// Writes `DIR/smarthost.reg` (for review, packaging, or `regedit /S`).
    pub fn render_into(dir: impl Into<PathBuf>) -> Self {
        MailEnableWriter {
            target: Target::Folder(dir.into()),
        }
    }

    /// Reads a regedit export (or a file this backend wrote) into a policy.
    pub fn import(path: &Path) -> Result<Policy, Error> {
        let registry = load(path)?;
        model::read(&registry)
    }

    fn with_registry_read<T>(&self, f: impl FnOnce(&dyn Registry) -> Result<T, Error>) -> Result<T, Error> {
        match &self.target {
            Target::Registry(reg, _) => f(reg.lock().unwrap_or_else(|e| e.into_inner()).as_ref()),
            Target::Folder(dir) => f(&load(&dir.join(REG_FILE))?),
        }
    }
}

/// A `.reg` file's contents; a missing file is an empty registry.
fn load(path: &Path) -> Result<MemoryRegistry, Error> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = regfile::decode(&bytes).ok_or_else(|| Error::RegFile {
                path: path.display().to_string(),
                line: 1,
                reason: "neither UTF-16LE with a BOM nor UTF-8".into(),
            })?;
            regfile::parse(&path.display().to_string(), &text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MemoryRegistry::new()),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn shown(name: &str, data: &RegData) -> RegistryValue {
    match data {
        RegData::Dword(d) => RegistryValue::Dword(*d),
        RegData::Sz(s) if name == schema::PASSWORD => {
            RegistryValue::SecretSz(Secret::new(s.clone()).unwrap_or_else(|_| Secret::new("?".into()).expect("valid")))
        }
        RegData::Sz(s) => RegistryValue::Sz(s.clone()),
    }
}

fn data(value: &RegistryValue) -> RegData {
    match value {
        RegistryValue::Dword(d) => RegData::Dword(*d),
        RegistryValue::Sz(s) => RegData::Sz(s.clone()),
        RegistryValue::SecretSz(s) => RegData::Sz(s.expose().to_owned()),
    }
}

/// The registry changes that turn `reg`'s values into `desired`'s.
fn changes(reg: &dyn Registry, desired: &Policy) -> Result<(Vec<RegistryChange>, Vec<String>), Error> {
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
        if reg.get(&key, name)? != value {
            out.push(RegistryChange {
                key: format!("{HKLM_PREFIX}{key}"),
                name: name.to_owned(),
                value: value.as_ref().map(|v| shown(name, v)),
            });
        }
    }
    Ok((out, warnings))
}

impl ConfigWriter for MailEnableWriter {
    type Error = Error;

    fn backend(&self) -> &'static str {
        "mailenable"
    }

    fn read(&self) -> Result<Policy, Error> {
        self.with_registry_read(model::read)
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        let (registry_changes, warnings) = self.with_registry_read(|reg| changes(reg, desired))?;
        let mut plan = Plan::new("mailenable");
        plan.warnings = warnings;
        let changed = !registry_changes.is_empty();
        plan.changes = registry_changes.into_iter().map(Change::Registry).collect();
        if let (true, Target::Registry(_, restart)) = (changed, &self.target) {
            for argv in restart {
                let reason = "restart the SMTP connector so it reads the new settings".to_owned();
                plan.changes.push(Change::Command(CommandRun {
                    argv: argv.clone(),
                    reason,
                }));
            }
        }
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        match &self.target {
            Target::Registry(reg, _) => {
                let mut reg = reg.lock().unwrap_or_else(|e| e.into_inner());
                apply_registry(reg.as_mut(), plan)
            }
            Target::Folder(dir) => {
                let path = dir.join(REG_FILE);
                let mut reg = load(&path)?;
                let mut applied = apply_registry(&mut reg, plan)?;
                if applied.changed {
                    write_reg(&path, &reg)?;
                    applied.ran.push(format!("wrote {}", path.display()));
                }
                Ok(applied)
            }
        }
    }
}

/// Writes every key of `reg` into a `.reg` file, mode 0600 (it holds the
/// password), through a temporary file and a rename.
fn write_reg(path: &Path, reg: &MemoryRegistry) -> Result<(), Error> {
    // Values smarthost manages but that are absent are written as
    // deletions, so that importing the file onto a live registry (regedit
    // /S) also removes what a disable removed.
    let managed = |key: &str| -> &'static [&'static str] {
        if key.eq_ignore_ascii_case(schema::SMTP_KEY) {
            schema::SERVER_VALUES
        } else if key
            .to_lowercase()
            .starts_with(&format!("{}\\", schema::DOMAINS_KEY.to_lowercase()))
        {
            schema::DOMAIN_VALUES
        } else {
            &[]
        }
    };
    let sections: Vec<(String, Vec<RegLine>)> = reg
        .keys()
        .map(|(key, values)| {
            let mut lines: Vec<RegLine> = values.iter().map(|(n, d)| RegLine::Set(n.clone(), d.clone())).collect();
            lines.extend(
                managed(key)
                    .iter()
                    .filter(|n| !values.contains_key(**n))
                    .map(|n| RegLine::Delete((*n).to_owned())),
            );
            (key.to_owned(), lines)
        })
        .filter(|(_, lines)| !lines.is_empty())
        .collect();
    let bytes = regfile::encode(&regfile::render(&sections)?);
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("reg.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes the plan's values, then runs its commands; on a failure puts the
/// previous values back.
fn apply_registry(reg: &mut dyn Registry, plan: &Plan) -> Result<Applied, Error> {
    let mut previous: Vec<(String, String, Option<RegData>)> = Vec::new();
    let mut applied = Applied::default();
    let result = (|| {
        for change in &plan.changes {
            match change {
                Change::Registry(r) => {
                    let key = r.key.strip_prefix(HKLM_PREFIX).unwrap_or(&r.key);
                    registry::guard(key, &r.name)?;
                    previous.push((key.to_owned(), r.name.clone(), reg.get(key, &r.name)?));
                    match &r.value {
                        Some(v) => reg.set(key, &r.name, &data(v))?,
                        None => reg.delete(key, &r.name)?,
                    }
                    applied.changed = true;
                }
                Change::Command(c) => {
                    let command = c.argv.join(" ");
                    let (program, args) = c.argv.split_first().ok_or_else(|| Error::Command {
                        command: command.clone(),
                        output: "empty".into(),
                    })?;
                    let out = std::process::Command::new(program)
                        .args(args)
                        .output()
                        .map_err(|e| Error::Command {
                            command: command.clone(),
                            output: e.to_string(),
                        })?;
                    if !out.status.success() {
                        let output = format!(
                            "{}{}",
                            String::from_utf8_lossy(&out.stderr),
                            String::from_utf8_lossy(&out.stdout)
                        );
                        return Err(Error::Command {
                            command,
                            output: output.trim().to_owned(),
                        });
                    }
                    applied.ran.push(command);
                }
                _ => {}
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(applied),
        Err(cause) => {
            for (key, name, value) in previous.into_iter().rev() {
                let _ = match value {
                    Some(v) => reg.set(&key, &name, &v),
                    None => reg.delete(&key, &name),
                };
            }
            Err(Error::RolledBack { cause: Box::new(cause) })
        }
    }
}
