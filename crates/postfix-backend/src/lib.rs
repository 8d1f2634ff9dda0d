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

/// How Postfix is told to load a new configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// `postfix [-c CONFIG_DIR] reload`.
    Postfix,
    /// This command instead.
    Command(Vec<String>),
    /// Nothing: the caller reloads (or Postfix is not running).
    Skip,
}

/// Where the backend writes and which commands it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostfixOptions {
    /// The file system root: `/` on a live server, any folder otherwise.
    /// Every path below is as Postfix sees it and lives below this root.
    pub root: PathBuf,
    /// Postfix's configuration folder (`postfix -c`); default
    /// [`schema::DEFAULT_CONFIG_DIR`]. Another one serves a second instance.
    pub config_dir: PathBuf,
    /// The folder of the lookup tables. Default [`schema::DEFAULT_MAP_DIR`].
    pub map_dir: PathBuf,
    /// The lookup table type.
    pub map_type: MapType,
    /// Compile changed `hash`/`lmdb` tables with `postmap`.
    pub compile_maps: bool,
    /// Run `postfix check` after writing.
    pub check: bool,
    /// How Postfix loads the new configuration after a change.
    pub reload: Reload,
}

impl PostfixOptions {
    /// A live server: root `/`, the map type chosen from `postconf -m`,
    /// tables compiled, `postfix check` (when Postfix is installed) and
    /// `postfix reload` run.
    pub fn live() -> Self {
        // Whether the binary starts at all tells whether Postfix is installed.
        let installed = std::process::Command::new("postfix")
            .arg("-V")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok();
        let mut options = PostfixOptions {
            root: PathBuf::from("/"),
            compile_maps: true,
            check: installed,
            reload: Reload::Postfix,
            ..PostfixOptions::render_into("/")
        };
        options.detect_map_type();
        options
    }

    /// Renders into a folder (tests, demos, packaging): `hash` tables, no
    /// command is run.
    pub fn render_into(root: impl Into<PathBuf>) -> Self {
        PostfixOptions {
            root: root.into(),
            config_dir: PathBuf::from(schema::DEFAULT_CONFIG_DIR),
            map_dir: PathBuf::from(schema::DEFAULT_MAP_DIR),
            map_type: MapType::Hash,
            compile_maps: false,
            check: false,
            reload: Reload::Skip,
        }
    }

    /// Chooses the map type from `postconf -m` of this configuration (hash,
    /// else lmdb, else texthash); keeps the current one when postconf fails.
    pub fn detect_map_type(&mut self) {
        let mut cmd = std::process::Command::new("postconf");
        cmd.args(self.config_args()).arg("-m");
        if let Some(out) = cmd.output().ok().filter(|o| o.status.success()) {
            self.map_type = MapType::from_supported(&String::from_utf8_lossy(&out.stdout));
        }
    }

    /// Where a path as Postfix sees it (absolute) lives on disk.
    pub fn on_disk(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// `-c DIR` for Postfix commands when the configuration is not the default one.
    pub(crate) fn config_args(&self) -> Vec<String> {
        if self.config_dir == Path::new(schema::DEFAULT_CONFIG_DIR) {
            Vec::new()
        } else {
            vec!["-c".to_owned(), self.on_disk(&self.config_dir).display().to_string()]
        }
    }

    pub(crate) fn main_cf(&self) -> PathBuf {
        self.on_disk(&self.config_dir.join(schema::MAIN_CF))
    }

    pub(crate) fn master_cf(&self) -> PathBuf {
        self.on_disk(&self.config_dir.join(schema::MASTER_CF))
    }

    pub(crate) fn map_file(&self, name: &str) -> PathBuf {
        self.on_disk(&self.map_dir.join(name))
    }

    /// `postfix [-c DIR] <verb>`.
    pub(crate) fn postfix_command(&self, verb: &str) -> Vec<String> {
        let mut argv = vec!["postfix".to_owned()];
        argv.extend(self.config_args());
        argv.push(verb.to_owned());
        argv
    }

    /// `postmap [-c DIR] type:file`.
    pub(crate) fn postmap_command(&self, file: &Path) -> Vec<String> {
        let mut argv = vec!["postmap".to_owned()];
        argv.extend(self.config_args());
        argv.push(format!("{}:{}", self.map_type, file.display()));
        argv
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
