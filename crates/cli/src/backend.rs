//! Picks the backend from the command line and hides its error type.

use std::path::{Path, PathBuf};

use std::time::Duration;

use mailenable_backend::MailEnableWriter;
use postfix_backend::{PostfixOptions, PostfixWriter, Reload};
use smartermail_backend::SmartermailWriter;
use smarthost_core::transaction::{Recovered, SessionGuard};
use smarthost_core::{Applied, ConfigWriter, Features, Plan, Policy, SecretSource};

use crate::args::{BackendName, Cli};
use crate::error::CliError;

/// A [`ConfigWriter`] whose errors are [`CliError`]s.
pub(crate) trait Backend {
    fn read(&self) -> Result<Policy, CliError>;
    fn plan(&self, desired: &Policy) -> Result<Plan, CliError>;
    fn apply(&self, plan: &Plan) -> Result<Applied, CliError>;
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, CliError>;
    fn recover(&self) -> Result<Option<Recovered>, CliError>;
}

impl<W: ConfigWriter> Backend for W {
    fn hold(&self) -> Result<Option<SessionGuard<'_>>, CliError> {
        ConfigWriter::hold(self).map_err(|e| CliError::Backend(Box::new(e)))
    }
    fn recover(&self) -> Result<Option<Recovered>, CliError> {
        ConfigWriter::recover(self).map_err(|e| CliError::Backend(Box::new(e)))
    }
    fn read(&self) -> Result<Policy, CliError> {
        ConfigWriter::read(self).map_err(|e| CliError::Backend(Box::new(e)))
    }
    fn plan(&self, desired: &Policy) -> Result<Plan, CliError> {
        ConfigWriter::plan(self, desired).map_err(|e| CliError::Backend(Box::new(e)))
    }
    fn apply(&self, plan: &Plan) -> Result<Applied, CliError> {
        ConfigWriter::apply(self, plan).map_err(|e| CliError::Backend(Box::new(e)))
    }
}

/// The backend the command line asks for, after it recovered an
/// interrupted apply (said on stderr).
pub(crate) fn open(cli: &Cli) -> Result<Box<dyn Backend>, CliError> {
    let backend = writer(cli)?;
    if let Some(recovered) = backend.recover()? {
        eprintln!("smarthost: {}", recovered.message());
    }
    Ok(backend)
}

fn writer(cli: &Cli) -> Result<Box<dyn Backend>, CliError> {
    match cli.backend {
        BackendName::Postfix => Ok(Box::new(PostfixWriter::new(postfix_options(cli)?))),
        BackendName::Mailenable => {
            if let Some(root) = &cli.root {
                let writer = MailEnableWriter::render_into(root).lock_wait(Duration::from_secs(cli.lock_timeout));
                return Ok(Box::new(writer));
            }
            mailenable_live(cli)
        }
        BackendName::Smartermail => {
            if let Some(root) = &cli.root {
                let writer = SmartermailWriter::render_into(root).lock_wait(Duration::from_secs(cli.lock_timeout));
                return Ok(Box::new(writer));
            }
            let url = cli.url.as_deref().ok_or_else(|| {
                CliError::Usage("--backend smartermail needs --url (or --root DIR to render the requests)".into())
            })?;
            let source = match &cli.admin_password_file {
                Some(file) => SecretSource::File(file.clone()),
                None => SecretSource::Env("SMARTERMAIL_PASSWORD".into()),
            };
            let password = source.read("admin_password")?;
            Ok(Box::new(SmartermailWriter::connect(
                url,
                &cli.admin_user,
                password,
                Duration::from_secs(30),
            )))
        }
    }
}

/// The Postfix options the command line asks for: the instance of
/// `--config-dir` (probed once), live or rendered into `--root`, with the
/// folders validated.
pub(crate) fn postfix_options(cli: &Cli) -> Result<PostfixOptions, CliError> {
    let config_dir = match &cli.config_dir {
        Some(dir) => absolute("--config-dir", dir)?,
        None => PathBuf::from(postfix_backend::schema::DEFAULT_CONFIG_DIR),
    };
    let map_dir = match &cli.map_dir {
        Some(dir) => Some(absolute("--map-dir", dir)?),
        None => None,
    };
    // Postfix is asked at most once, about the instance configured, and
    // not at all when main.cf already names the tables of --map-dir.
    let mut options = match &cli.root {
        Some(root) => {
            let mut options = PostfixOptions::render_into(root).instance(config_dir);
            if let Some(dir) = map_dir {
                options.map_dir = dir;
            }
            options
        }
        None => PostfixOptions::live_instance_with_maps(config_dir, map_dir),
    };
    if let Some(t) = cli.map_type {
        options.map_type = t;
    }
    match options.paths() {
        Err(postfix_backend::Error::InvalidPath { option, path, reason }) => {
            let option = option.replace('_', "-");
            return Err(CliError::Usage(format!("--{option}: {path:?}: {reason}")));
        }
        Err(e) => return Err(CliError::Backend(Box::new(e))),
        Ok(_) => {}
    }
    if cli.no_reload {
        options.reload = Reload::Skip;
    }
    if forced(cli) {
        options.prerequisites = false;
    }
    options.lock_wait = Duration::from_secs(cli.lock_timeout);
    if let Some(command) = &cli.reload_command {
        options.reload = Reload::Command(command.split_whitespace().map(str::to_owned).collect());
    }
    Ok(options)
}

/// Whether the command says `--force`.
fn forced(cli: &Cli) -> bool {
    use crate::args::{Command, DomainCommand, ServerCommand};
    match &cli.command {
        Command::Apply { force, .. } => *force,
        Command::Server(ServerCommand::Set(set)) | Command::Domain(DomainCommand::Set { set, .. }) => set.force,
        _ => false,
    }
}

/// The administrator's feature settings.
pub(crate) fn settings(cli: &Cli) -> Result<Features, CliError> {
    Ok(settings_file(cli)?.unwrap_or_default())
}

/// The administrator's feature settings, `None` when there is no settings
/// file (neither `--settings` nor the default one exists).
pub(crate) fn settings_file(cli: &Cli) -> Result<Option<Features>, CliError> {
    let path = match &cli.settings {
        Some(p) => p.clone(),
        None => cli
            .root
            .clone()
            .unwrap_or_else(|| "/".into())
            .join("etc/smarthost/settings.toml"),
    };
    if cli.settings.is_none() && !path.exists() {
        return Ok(None);
    }
    Ok(Some(Features::load_settings(&path)?))
}

/// Paths given as Postfix sees them must be absolute.
fn absolute(option: &str, dir: &Path) -> Result<PathBuf, CliError> {
    if dir.is_absolute() {
        Ok(dir.to_owned())
    } else {
        Err(CliError::Usage(format!(
            "{option}: {} is not absolute; give the folder as Postfix sees it",
            dir.display()
        )))
    }
}

/// The live MailEnable registry: Windows only.
#[cfg(windows)]
fn mailenable_live(cli: &Cli) -> Result<Box<dyn Backend>, CliError> {
    let restart = if cli.no_reload {
        Vec::new()
    } else if let Some(command) = &cli.reload_command {
        vec![command.split_whitespace().map(str::to_owned).collect()]
    } else {
        mailenable_backend::default_restart()
    };
    Ok(Box::new(MailEnableWriter::with_registry(
        Box::new(mailenable_backend::WindowsRegistry),
        restart,
    )))
}

#[cfg(not(windows))]
fn mailenable_live(_: &Cli) -> Result<Box<dyn Backend>, CliError> {
    Err(CliError::Usage(
        "MailEnable's settings live in the Windows registry: on this OS use --root DIR to write a .reg file".into(),
    ))
}
