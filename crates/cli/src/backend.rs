//! Picks the backend from the command line, as a [`BoxedWriter`].

use std::path::{Path, PathBuf};

use std::time::Duration;

use mailenable_backend::MailEnableWriter;
use postfix_backend::{PostfixOptions, PostfixWriter, Reload};
use smartermail_backend::SmartermailWriter;
use smarthost_core::{boxed, BoxedWriter, ConfigWriter, SecretSource};

use crate::args::{BackendName, Cli};
use crate::error::CliError;

/// The backend the command line asks for, after it recovered an
/// interrupted apply (said on stderr).
pub(crate) fn open(cli: &Cli) -> Result<BoxedWriter<'static>, CliError> {
    let backend = writer(cli)?;
    if let Some(recovered) = backend.recover()? {
        eprintln!("smarthost: {}", recovered.message());
    }
    Ok(backend)
}

fn writer(cli: &Cli) -> Result<BoxedWriter<'static>, CliError> {
    match cli.backend {
        BackendName::Postfix => Ok(boxed(PostfixWriter::new(postfix_options(cli)?))),
        BackendName::Mailenable => {
            if let Some(root) = &cli.root {
                let writer = MailEnableWriter::render_into(root)
                    .lock_wait(Duration::from_secs(cli.lock_timeout))
                    .names(mailenable_names(cli)?);
                return Ok(boxed(writer));
            }
            mailenable_live(cli)
        }
        BackendName::Smartermail => {
            if let Some(root) = &cli.root {
                let writer = SmartermailWriter::render_into(root)
                    .lock_wait(Duration::from_secs(cli.lock_timeout))
                    .settings_dir(crate::policy_input::settings_dir(cli))
                    .map_err(smarthost_core::WriterError::new)?;
                return Ok(boxed(writer));
            }
            let url = cli.url.as_deref().ok_or_else(|| {
                CliError::Usage("--backend smartermail needs --url (or --root DIR to render the requests)".into())
            })?;
            let source = match &cli.admin_password_file {
                Some(file) => SecretSource::File(file.clone()),
                None => SecretSource::Env("SMARTERMAIL_PASSWORD".into()),
            };
            let password = source.read("admin_password")?;
            // The names learned by `smartermail learn`: without them every
            // write is refused.
            let writer = SmartermailWriter::connect(url, &cli.admin_user, password, Duration::from_secs(30))
                .settings_dir(crate::policy_input::settings_dir(cli))
                .map_err(smarthost_core::WriterError::new)?;
            Ok(boxed(writer))
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
        Err(e) => return Err(CliError::Backend(smarthost_core::WriterError::new(e))),
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
        options.reload = Reload::Command(crate::command_line::split("--reload-command", command)?);
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

/// The MailEnable value names learned on this server (`mailenable learn`),
/// else the built-in guesses (which a live write refuses).
pub(crate) fn mailenable_names(cli: &Cli) -> Result<mailenable_backend::Names, CliError> {
    let path = crate::policy_input::settings_dir(cli).join(mailenable_backend::names::NAMES_FILE);
    let names = mailenable_backend::Names::load(&path).map_err(smarthost_core::WriterError::new)?;
    Ok(names.unwrap_or_else(mailenable_backend::Names::builtin))
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
fn mailenable_live(cli: &Cli) -> Result<BoxedWriter<'static>, CliError> {
    let restart = if cli.no_reload {
        Vec::new()
    } else if let Some(command) = &cli.reload_command {
        vec![crate::command_line::split("--reload-command", command)?]
    } else {
        mailenable_backend::default_restart()
    };
    let writer = MailEnableWriter::with_registry(Box::new(mailenable_backend::WindowsRegistry), restart)
        .names(mailenable_names(cli)?);
    Ok(boxed(writer))
}

#[cfg(not(windows))]
fn mailenable_live(_: &Cli) -> Result<BoxedWriter<'static>, CliError> {
    Err(CliError::Usage(
        "MailEnable's settings live in the Windows registry: on this OS use --root DIR to write a .reg file".into(),
    ))
}
