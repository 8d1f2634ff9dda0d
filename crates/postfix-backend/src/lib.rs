//! Postfix backend for smarthost.
//!
//! Writes a [`Policy`] into Postfix as a careful
//! administrator would by hand: a few parameters in main.cf (every other line
//! kept byte for byte), lookup tables for per-domain relays, credentials and
//! per-relay TLS, and, for implicit TLS (port 465), one master.cf transport.
//! The global `smtp_tls_security_level` is never touched.
//!
//! ```
//! use postfix_backend::{PostfixOptions, PostfixWriter};
//! use smarthost_core::{ConfigWriter, Policy};
//!
//! // Render into a folder: the files a live server would get under /,
//! // and no command (postmap, postfix reload) is run.
//! let dir = tempfile::tempdir()?;
//! let policy_file = dir.path().join("policy.toml");
//! std::fs::write(&policy_file, "[server]\nrelay = \"[smtp.example.net]:587\"\n")?;
//! let policy = Policy::load(&policy_file)?;
//!
//! let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path().join("root")));
//! let plan = writer.plan(&policy)?; // pure: reads, never writes
//! print!("{}", plan.render()); // unified diffs, passwords redacted
//! writer.apply(&plan)?;
//!
//! let main_cf = std::fs::read_to_string(dir.path().join("root/etc/postfix/main.cf"))?;
//! assert!(main_cf.contains("relayhost = [smtp.example.net]:587"));
//! assert!(writer.plan(&policy)?.is_empty()); // applying twice changes nothing
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod apply;
mod cf;
mod compiled;
mod domain_change;
mod edit;
mod error;
mod forwarding;
pub mod health;
mod incremental;
mod layout;
mod maps;
mod paths;
mod plan;
mod prereq;
mod read;
pub mod schema;
mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use smarthost_core::transaction::{self, Recovered, Session, SessionGuard};
use smarthost_core::{Applied, ConfigWriter, DomainName, Plan, Policy};

pub use error::Error;
pub use maps::MapType;
pub use paths::Paths;

/// How Postfix is told to load a new configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// `postfix [-c CONFIG_DIR] reload`, skipped when the instance is not
    /// running (`postfix [-c CONFIG_DIR] status` fails): a stopped
    /// instance is configured all the same, and reads the new
    /// configuration when it starts.
    Postfix,
    /// This command instead. It must succeed: when it fails, the apply is
    /// rolled back.
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
    /// The folder of the lookup tables. Default [`schema::DEFAULT_MAP_DIR`]
    /// for the default instance; [`PostfixOptions::instance`] puts a second
    /// instance's tables in its own configuration folder.
    pub map_dir: PathBuf,
    /// The lookup table type.
    pub map_type: MapType,
    /// Compile changed `hash`/`lmdb` tables with `postmap`.
    pub compile_maps: bool,
    /// Run `postfix check` after writing main.cf or master.cf (a change of
    /// tables only is compiled and reloaded, not checked).
    pub check: bool,
    /// How Postfix loads the new configuration after a change.
    pub reload: Reload,
    /// How long to wait for another run that holds the lock.
    pub lock_wait: Duration,
    /// Check what the system must have for the relays to work (a SASL
    /// client mechanism when relays need AUTH): `plan` warns and `apply`
    /// refuses when it is missing. On for a live server; off when
    /// rendering into a folder, whose target cannot be inspected.
    pub prerequisites: bool,
}

impl PostfixOptions {
    /// The default instance of a live server ([`schema::DEFAULT_CONFIG_DIR`]):
    /// [`PostfixOptions::live_instance`] of that folder.
    pub fn live() -> Self {
        Self::live_instance(schema::DEFAULT_CONFIG_DIR)
    }

    /// The Postfix instance of a live server (root `/`) whose configuration
    /// folder is `config_dir`, as [`PostfixOptions::instance`] places it:
    /// tables compiled, `postfix check` when Postfix is installed (after a
    /// change of main.cf or master.cf), and `postfix reload` (skipped while
    /// the instance is not running).
    ///
    /// Postfix is asked once, about this instance and without a penalty:
    /// `postconf -c DIR -m` when its main.cf exists (the map type is the
    /// best it lists: hash, else lmdb, else texthash), otherwise
    /// `postconf -d -h mail_version`, which reads no main.cf, only to learn
    /// whether Postfix is installed (the map type stays `hash`). Never
    /// `postfix -V`, which Postfix 3.7 does not know, nor a command that
    /// reads a missing main.cf: both exit through Postfix's fatal-error
    /// path, which sleeps a second.
    ///
    /// When main.cf already names smarthost's tables, their type is one
    /// this Postfix reads: it is kept and Postfix is not asked at all (a
    /// `postconf` costs as much as a command that changes nothing); that
    /// Postfix is installed is then learnt from `postconf` being on PATH.
    pub fn live_instance(config_dir: impl Into<PathBuf>) -> Self {
        Self::live_instance_with_maps(config_dir, None)
    }

    /// [`PostfixOptions::live_instance`] with the tables in `map_dir` (as
    /// Postfix sees it) when given, so that the type of the tables found
    /// there is known before Postfix would be asked.
    pub fn live_instance_with_maps(config_dir: impl Into<PathBuf>, map_dir: Option<PathBuf>) -> Self {
        let mut options = PostfixOptions {
            compile_maps: true,
            reload: Reload::Postfix,
            prerequisites: true,
            ..PostfixOptions::render_into("/")
        }
        .instance(config_dir);
        if let Some(dir) = map_dir {
            options.map_dir = dir;
        }
        if options.paths().is_err() {
            // Refused with its reason by every use of these options; a
            // folder that could not be written into main.cf is not asked
            // about either.
            return options;
        }
        if let Some(kind) = options.current_map_type() {
            options.map_type = kind;
            options.check = on_path("postconf");
            return options;
        }
        let probe = options.probe();
        options.check = probe.installed;
        if let Some(types) = &probe.map_types {
            options.map_type = MapType::from_supported(types);
        }
        options
    }

    /// Keeps the map type main.cf already names smarthost's tables with (a
    /// type Postfix has been using), so that a run without an explicit type
    /// does not switch an instance from, say, `texthash` back to `hash`.
    /// Nothing changes when main.cf names none of them.
    pub fn keep_current_map_type(&mut self) {
        if let Some(kind) = self.current_map_type() {
            self.map_type = kind;
        }
    }

    /// The map type main.cf names smarthost's tables with, if it names any.
    fn current_map_type(&self) -> Option<MapType> {
        let paths = self.paths().ok()?;
        let text = transaction::safe_fs::read_text(&paths.main_cf).ok()??;
        let main = cf::CfFile::parse(&text, cf::Kind::Main);
        let ours: Vec<String> = schema::TABLES
            .iter()
            .map(|(name, _)| self.map_dir.join(name).display().to_string())
            .collect();
        [
            schema::SENDER_RELAY_MAPS,
            schema::SASL_PASSWORD_MAPS,
            schema::TLS_POLICY_MAPS,
            schema::SENDER_TRANSPORT_MAPS,
            schema::TRANSPORT_MAPS,
        ]
        .iter()
        .filter_map(|param| main.get(param))
        .flat_map(|value| value.split([',', ' ', '\t']))
        .filter_map(|item| item.split_once(':'))
        .find(|(_, path)| ours.iter().any(|o| o == path))
        .and_then(|(kind, _)| kind.parse::<MapType>().ok())
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
            lock_wait: transaction::DEFAULT_LOCK_WAIT,
            prerequisites: false,
        }
    }

    /// Serves the Postfix instance whose configuration folder is
    /// `config_dir`. A second instance (any folder but
    /// [`schema::DEFAULT_CONFIG_DIR`]) keeps its tables in its own folder
    /// unless the map folder was already chosen, so that it never rewrites
    /// the default instance's tables.
    #[must_use]
    pub fn instance(mut self, config_dir: impl Into<PathBuf>) -> Self {
        self.config_dir = config_dir.into();
        if self.map_dir == Path::new(schema::DEFAULT_MAP_DIR)
            && self.config_dir != Path::new(schema::DEFAULT_CONFIG_DIR)
        {
            self.map_dir = self.config_dir.clone();
        }
        self
    }

    /// The validated paths of these options: every folder absolute, inside
    /// the root, and free of what would break main.cf (whitespace, `,`,
    /// `=`, `#`, control characters).
    pub fn paths(&self) -> Result<Paths, Error> {
        Paths::new(self)
    }

    /// Chooses the map type from `postconf -c DIR -m` of this instance
    /// (hash, else lmdb, else texthash); keeps the current one when main.cf
    /// is missing or postconf fails. [`PostfixOptions::live_instance`]
    /// already did this: call it only after changing the instance.
    pub fn detect_map_type(&mut self) {
        if let Some(types) = &self.probe().map_types {
            self.map_type = MapType::from_supported(types);
        }
    }

    /// Asks the installed Postfix about this instance: one `postconf`, and
    /// none that sleeps (see [`PostfixOptions::live_instance`]).
    fn probe(&self) -> Probe {
        let quiet = |args: &[String]| {
            std::process::Command::new("postconf")
                .args(args)
                .stdin(std::process::Stdio::null())
                .output()
        };
        if !self.main_cf_exists() {
            // `-d` reads no main.cf: whether postconf starts at all tells
            // whether Postfix is installed.
            let args = ["-d", "-h", "mail_version"].map(str::to_owned);
            return Probe {
                installed: quiet(&args).is_ok(),
                map_types: None,
            };
        }
        let mut args = self.config_args();
        args.push("-m".to_owned());
        match quiet(&args) {
            Err(_) => Probe {
                installed: false,
                map_types: None,
            },
            Ok(out) => Probe {
                installed: true,
                map_types: out
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned()),
            },
        }
    }

    /// Whether this instance's main.cf exists (without it, every Postfix
    /// command that reads it fails after sleeping a second).
    pub(crate) fn main_cf_exists(&self) -> bool {
        self.on_disk(&self.config_dir).join(schema::MAIN_CF).is_file()
    }

    /// Whether this instance is running: `postfix [-c DIR] status` exits 0
    /// (it exits 1, at once, when the instance is stopped; measured on
    /// Postfix 3.7.11). An instance without main.cf cannot be running, and
    /// is not asked.
    pub(crate) fn is_running(&self) -> bool {
        self.main_cf_exists() && apply::run_quiet(&self.postfix_command("status"))
    }

    /// Whether the reload is `postfix reload`, skipped while the instance
    /// is not running, and `argv` is it.
    pub(crate) fn is_postfix_reload(&self, argv: &[String]) -> bool {
        self.reload == Reload::Postfix && argv == self.postfix_command("reload").as_slice()
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

    /// The command that makes Postfix load a new configuration, if any.
    pub(crate) fn reload_command(&self) -> Option<Vec<String>> {
        match &self.reload {
            Reload::Postfix => Some(self.postfix_command("reload")),
            Reload::Command(argv) => Some(argv.clone()),
            Reload::Skip => None,
        }
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

/// Whether an executable `program` is in a folder of PATH (what starting
/// it by name would find).
fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let Ok(meta) = std::fs::metadata(dir.join(program)) else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.is_file() && meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        {
            meta.is_file()
        }
    })
}

/// What one `postconf` run said about an instance.
#[derive(Debug)]
struct Probe {
    /// Whether postconf could be started.
    installed: bool,
    /// The output of `postconf -c DIR -m`, when it was asked and answered.
    map_types: Option<String>,
}

/// The Postfix [`ConfigWriter`].
#[derive(Clone, Debug)]
pub struct PostfixWriter {
    options: PostfixOptions,
    session: Session,
    /// What the last `read_for_domain` read, for its plan.
    remembered: std::sync::Arc<std::sync::Mutex<domain_change::Remembered>>,
}

impl PostfixWriter {
    /// A writer with these options.
    pub fn new(options: PostfixOptions) -> Self {
        let lock = options.on_disk(&options.config_dir).join(transaction::LOCK_FILE);
        let session = Session::new(lock, options.lock_wait);
        PostfixWriter {
            options,
            session,
            remembered: Default::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &PostfixOptions {
        &self.options
    }

    /// Takes the lock and recovers an interrupted apply. For reading, a
    /// configuration folder that does not exist needs no lock: there is
    /// nothing to read, and nothing is created.
    fn enter(&self, writing: bool) -> Result<(Paths, Option<SessionGuard<'_>>, Option<Recovered>), Error> {
        let paths = self.options.paths()?;
        if !writing && !paths.config.is_dir() {
            return Ok((paths, None, None));
        }
        paths.ensure_state_dir()?;
        let guard = self.session.enter()?;
        let recovered = transaction::recover(&guard, &paths.journal, &[&paths.config, &paths.maps])?;
        if let Some(r) = &recovered {
            for argv in &r.after_rollback {
                // Best effort; a stopped instance is not asked to reload
                // (Postfix would sleep a second before it fails).
                if self.options.is_postfix_reload(argv) && !self.options.is_running() {
                    continue;
                }
                let _ = apply::run_quiet(argv);
            }
        }
        Ok((paths, Some(guard), recovered))
    }
}

impl ConfigWriter for PostfixWriter {
    type Error = Error;

    fn backend(&self) -> &'static str {
        "postfix"
    }

    fn read(&self) -> Result<Policy, Error> {
        let (paths, _guard, _) = self.enter(false)?;
        read::read(&self.options, &paths)
    }

    fn plan(&self, desired: &Policy) -> Result<Plan, Error> {
        let (paths, _guard, recovered) = self.enter(false)?;
        let mut plan = plan::plan(&self.options, &paths, desired)?;
        if let Some(r) = recovered {
            plan.warnings.insert(0, r.message());
        }
        Ok(plan)
    }

    /// The tables are read as a small policy: every rule, the domain's own
    /// entries, and one other domain of each kind of relay setting (see
    /// [`ConfigWriter::read_for_domain`]); the whole configuration when
    /// the tables are not in this backend's own form.
    fn read_for_domain(&self, domain: &DomainName) -> Result<Policy, Error> {
        let (paths, _guard, _) = self.enter(false)?;
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        domain_change::read_for_domain(&self.options, &paths, domain, &mut remembered)
    }

    /// Changes the domain's lines in the tables by key (the compiled
    /// tables with `postmap -i`/`-d` as for any small change) when nothing
    /// else changes; else plans the whole configuration with that change.
    fn plan_for_domain(&self, domain: &DomainName, desired: &Policy) -> Result<Plan, Error> {
        let (paths, _guard, recovered) = self.enter(false)?;
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut plan = domain_change::plan_for_domain(&self.options, &paths, domain, desired, &mut remembered)?;
        if let Some(r) = recovered {
            plan.warnings.insert(0, r.message());
        }
        Ok(plan)
    }

    fn apply(&self, plan: &Plan) -> Result<Applied, Error> {
        let (paths, guard, _) = self.enter(true)?;
        let guard = guard.expect("writing always locks");
        apply::apply(&self.options, &paths, &guard, plan)
    }

    fn converge(&self, desired: &Policy) -> Result<(Plan, Applied), Error> {
        let (paths, guard, recovered) = self.enter(true)?;
        let guard = guard.expect("writing always locks");
        let mut plan = plan::plan(&self.options, &paths, desired)?;
        if let Some(r) = recovered {
            plan.warnings.insert(0, r.message());
        }
        let applied = apply::apply(&self.options, &paths, &guard, &plan)?;
        Ok((plan, applied))
    }

    fn hold(&self) -> Result<Option<SessionGuard<'_>>, Error> {
        let (_, guard, _) = self.enter(true)?;
        Ok(guard)
    }

    fn recover(&self) -> Result<Option<Recovered>, Error> {
        let (_, _guard, recovered) = self.enter(false)?;
        Ok(recovered)
    }
}
