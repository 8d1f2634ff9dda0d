//! Postfix backend for smarthost.
//!
//! Writes a [`Policy`] into Postfix as a careful
//! administrator would by hand: a few parameters in main.cf (every other line
//! kept byte for byte), lookup tables for per-domain relays, credentials and
//! per-relay TLS, and, for implicit TLS (port 465), one master.cf transport.
//! The global `smtp_tls_security_level` is never touched.
//!
//! ```no_run
//! use postfix_backend::{PostfixOptions, PostfixWriter};
//! use smarthost_core::{ConfigWriter, Policy};
//!
//! let writer = PostfixWriter::new(PostfixOptions::render_into("demo"));
//! let policy = Policy::load("policy.toml".as_ref())?;
//! let plan = writer.plan(&policy)?;
//! print!("{}", plan.render());
//! writer.apply(&plan)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod apply;
mod cf;
mod error;
mod layout;
mod maps;
mod plan;
mod read;
pub mod schema;

use std::path::{Path, PathBuf};

use smarthost_core::{Applied, ConfigWriter, Plan, Policy};

pub use error::Error;
pub use maps::MapType;

/// Where the backend writes and which commands it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostfixOptions {
    /// The file system root: `/` on a live server, any folder otherwise.
    pub root: PathBuf,
    /// The folder of the lookup tables as Postfix sees it (absolute; below
    /// `root` on disk). Default [`schema::DEFAULT_MAP_DIR`].
    pub map_dir: PathBuf,
    /// The lookup table type.
    pub map_type: MapType,
    /// Compile tables with `postmap` after writing them (needed for `hash`
    /// and `lmdb` on a live server).
    pub run_postmap: bool,
    /// Validation command run after writing, e.g. `postfix check`; `None`
    /// skips it.
    pub check_command: Option<Vec<String>>,
    /// Reload command, e.g. `postfix reload`; `None` skips it.
    pub reload_command: Option<Vec<String>>,
}

impl PostfixOptions {
    /// A live server: root `/`, the map type chosen from `postconf -m`,
    /// tables compiled, `postfix check` and `postfix reload` run.
    pub fn live() -> Self {
        let map_type = std::process::Command::new("postconf")
            .arg("-m")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| MapType::from_supported(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or(MapType::Hash);
        PostfixOptions {
            root: PathBuf::from("/"),
            map_dir: PathBuf::from(schema::DEFAULT_MAP_DIR),
            map_type,
            run_postmap: true,
            check_command: Some(vec!["postfix".into(), "check".into()]),
            reload_command: Some(vec!["postfix".into(), "reload".into()]),
        }
    }

    /// Renders into a folder (tests, demos, packaging): `hash` tables, no
    /// command is run.
    pub fn render_into(root: impl Into<PathBuf>) -> Self {
        PostfixOptions {
            root: root.into(),
            map_dir: PathBuf::from(schema::DEFAULT_MAP_DIR),
            map_type: MapType::Hash,
            run_postmap: false,
            check_command: None,
            reload_command: None,
        }
    }

    /// Where a path as Postfix sees it (absolute) lives on disk.
    pub fn on_disk(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    pub(crate) fn map_file(&self, name: &str) -> PathBuf {
        self.on_disk(&self.map_dir.join(name))
    }
}

/// The Postfix [`ConfigWriter`].
#[derive(Clone, Debug)]
pub struct PostfixWriter {
    options: PostfixOptions,
}

impl PostfixWriter {
    /// A writer with these options.
    pub fn new(options: PostfixOptions) -> Self {
        PostfixWriter { options }
    }

    /// The options.
    pub fn options(&self) -> &PostfixOptions {
        &self.options
    }
}

impl ConfigWriter for PostfixWriter {
    type Error = Error;

    fn backend(&self) -> &'static str {
        "postfix"
    }

    fn read(&self) -> Result<Policy, Error> {
        read::read(&self.options)
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        plan::plan(&self.options, desired)
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        apply::apply(&self.options, plan)
    }
}
