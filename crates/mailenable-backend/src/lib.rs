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
//!
//! ```
//! use mailenable_backend::{MailEnableWriter, REG_FILE};
//! use smarthost_core::{ConfigWriter, Policy, RelayHost, Smarthost};
//!
//! let mut policy = Policy::default();
//! policy.set_server(Smarthost::new(RelayHost::parse("[smtp.example.net]:587")?))?;
//!
//! // Into a folder, on any OS: a .reg file to review or import with
//! // `regedit /S`. On Windows, `with_registry` writes the registry itself.
//! let dir = std::env::temp_dir().join(format!("mailenable-doc-{}", std::process::id()));
//! let writer = MailEnableWriter::render_into(&dir);
//! let plan = writer.plan(&policy)?;
//! print!("{}", plan.render());
//! writer.apply(&plan)?;
//!
//! let reg = std::fs::read(dir.join(REG_FILE))?;
//! assert!(!reg.is_empty());
//! assert!(writer.plan(&policy)?.is_empty()); // applying twice changes nothing
//! assert_eq!(MailEnableWriter::import(&dir.join(REG_FILE), &mailenable_backend::Names::builtin())?.server, policy.server);
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apply;
mod error;
mod folder;
pub mod learn;
pub mod names;
mod plan;
mod read;
pub mod regfile;
mod registry;
pub mod schema;
#[cfg(windows)]
mod windows;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use smarthost_core::transaction::{Recovered, SessionGuard};
use smarthost_core::{Applied, ConfigWriter, Plan, Policy};

pub use error::Error;
pub use names::{Names, Role};
pub use registry::{MemoryRegistry, RegData, Registry};
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub use windows::WindowsRegistry;

use folder::Folder;

/// Where the settings are written.
enum Target {
    /// A registry, and the commands that restart the SMTP connector.
    Registry(Mutex<Box<dyn Registry + Send>>, Vec<Vec<String>>),
    /// `smarthost.reg` in a folder, with its lock and journal.
    Folder(Folder),
}

/// The MailEnable [`ConfigWriter`].
///
/// Into a folder ([`MailEnableWriter::render_into`]), every read, plan and
/// apply first takes the folder's lock (`.smarthost.lock`) and rolls back
/// an interrupted apply (`.smarthost-journal`); the `.reg` file is replaced
/// through smarthost-core's transaction. Into a registry, a plan records
/// the value each change replaces and the state of every managed value,
/// and an apply refuses it when any of them changed.
pub struct MailEnableWriter {
    target: Target,
    names: Names,
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

impl MailEnableWriter {
    /// Writes into `registry` and runs `restart` after a change (empty: no
    /// restart).
    pub fn with_registry(registry: Box<dyn Registry + Send>, restart: Vec<Vec<String>>) -> Self {
        MailEnableWriter {
            target: Target::Registry(Mutex::new(registry), restart),
            names: Names::builtin(),
        }
    }

    /// Writes `DIR/smarthost.reg` (for review, packaging, or `regedit /S`).
    pub fn render_into(dir: impl Into<PathBuf>) -> Self {
        MailEnableWriter {
            target: Target::Folder(Folder::new(dir.into())),
            names: Names::builtin(),
        }
    }

    /// With a folder target: waits up to `wait` for another run that holds
    /// the folder's lock (default 10 s). A registry target has no lock.
    #[must_use]
    pub fn lock_wait(self, wait: std::time::Duration) -> Self {
        let target = match self.target {
            Target::Folder(folder) => Target::Folder(Folder::waiting(folder.dir().to_owned(), wait)),
            target => target,
        };
        MailEnableWriter { target, ..self }
    }

    /// Uses `names` (learned with [`learn::learn`]) instead of the built-in
    /// guesses. On a registry, a plan that would write a name neither
    /// learned nor present on the server is refused
    /// ([`Error::Unconfirmed`]).
    #[must_use]
    pub fn names(self, names: Names) -> Self {
        MailEnableWriter { names, ..self }
    }

    /// Reads a regedit export (or a file this backend wrote) into a policy,
    /// with `names`. A symbolic link, FIFO, device or folder there is
    /// refused.
    pub fn import(path: &Path, names: &Names) -> Result<Policy, Error> {
        read::read(&folder::load(path)?, names)
    }
}

/// Reads a `.reg` file (a `regedit /E` export or a file this backend
/// wrote) into a registry, safely: a symbolic link, FIFO, device or folder
/// is refused; an absent file is an empty registry.
pub fn regfile_load(path: &Path) -> Result<MemoryRegistry, Error> {
    folder::load(path)
}

/// A registry plan with its basis, refused when it would write a name this
/// server does not confirm.
fn registry_plan(reg: &dyn Registry, desired: &Policy, names: &Names, restart: &[Vec<String>]) -> Result<Plan, Error> {
    let mut plan = plan::plan(reg, desired, names, restart)?;
    let writes: Vec<(String, String)> = (plan.changes.iter())
        .filter_map(|c| match c {
            smarthost_core::Change::Registry(r) if r.value.is_some() => {
                Some((plan::local_key(&r.key).to_owned(), r.name.clone()))
            }
            _ => None,
        })
        .collect();
    let unconfirmed = names.unconfirmed(reg, &writes)?;
    if !unconfirmed.is_empty() {
        return Err(Error::Unconfirmed { names: unconfirmed });
    }
    plan.basis = Some(plan::basis(reg, names)?);
    Ok(plan)
}

impl ConfigWriter for MailEnableWriter {
    type Error = Error;

    fn backend(&self) -> &'static str {
        "mailenable"
    }

    fn read(&self) -> Result<Policy, Error> {
        match &self.target {
            Target::Registry(reg, _) => read::read(reg.lock().unwrap_or_else(|e| e.into_inner()).as_ref(), &self.names),
            Target::Folder(folder) => {
                let (_guard, _) = folder.enter(false)?;
                read::read(
                    &folder::parse(&folder.reg_path(), folder.read()?.as_deref())?,
                    &self.names,
                )
            }
        }
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        match &self.target {
            Target::Registry(reg, restart) => registry_plan(
                reg.lock().unwrap_or_else(|e| e.into_inner()).as_ref(),
                desired,
                &self.names,
                restart,
            ),
            Target::Folder(folder) => {
                let (_guard, recovered) = folder.enter(false)?;
                folder.plan(desired, &self.names, recovered)
            }
        }
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        match &self.target {
            Target::Registry(reg, _) => {
                let mut reg = reg.lock().unwrap_or_else(|e| e.into_inner());
                apply::apply(reg.as_mut(), plan, &self.names, true)
            }
            Target::Folder(folder) => {
                let (guard, _) = folder.enter(true)?;
                let guard = guard.expect("writing always locks");
                folder.apply(&guard, plan, &self.names)
            }
        }
    }

    /// Plans and applies with the registry (in this process) or the
    /// folder's lock held from the first read to the end.
    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), Error> {
        match &self.target {
            Target::Registry(reg, restart) => {
                let mut reg = reg.lock().unwrap_or_else(|e| e.into_inner());
                let plan = registry_plan(reg.as_ref(), desired, &self.names, restart)?;
                let applied = apply::apply(reg.as_mut(), &plan, &self.names, true)?;
                Ok((plan, applied))
            }
            Target::Folder(folder) => {
                let (guard, recovered) = folder.enter(true)?;
                let guard = guard.expect("writing always locks");
                let plan = folder.plan(desired, &self.names, recovered)?;
                let applied = folder.apply(&guard, &plan, &self.names)?;
                Ok((plan, applied))
            }
        }
    }

    /// The folder's lock; a registry has none (`None`).
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, Error> {
        match &self.target {
            Target::Registry(..) => Ok(None),
            Target::Folder(folder) => Ok(folder.enter(true)?.0),
        }
    }

    /// Rolls back an interrupted apply into a folder; a registry has no
    /// journal (`None`).
    fn recover(&self) -> Result<Option<Recovered>, Error> {
        match &self.target {
            Target::Registry(..) => Ok(None),
            Target::Folder(folder) => Ok(folder.enter(false)?.1),
        }
    }
}
