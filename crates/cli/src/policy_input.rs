//! What the administrator asks for in files: the policy file and the
//! settings file, read with the administrator's trust (passwords from
//! their files and variables, see `smarthost_core::PolicyDocument`).

use std::path::{Path, PathBuf};

use smarthost_core::{Features, LocalSecrets, Policy, PolicyDocument};

use crate::args::Cli;
use crate::error::CliError;

/// The policy file with the administrator's settings applied: a feature is
/// on only if both leave it on.
pub(crate) fn policy_file(cli: &Cli) -> Result<Policy, CliError> {
    let (path, text) = policy_text(cli)?;
    policy_from_text(cli, &path, &text)
}

/// The `--policy` file's path and text (a regular file, capped).
pub(crate) fn policy_text(cli: &Cli) -> Result<(PathBuf, String), CliError> {
    let path = cli
        .policy
        .as_ref()
        .ok_or_else(|| CliError::Usage("this command needs --policy FILE".into()))?;
    Ok((path.clone(), smarthost_core::input::read_policy_file("policy", path)?))
}

/// A policy's text parsed as if read from `path` (which names it in errors
/// and is the base of relative `password_file`s), its passwords read with
/// [`LocalSecrets`], with the administrator's settings applied.
pub(crate) fn policy_from_text(cli: &Cli, path: &Path, text: &str) -> Result<Policy, CliError> {
    let mut policy = PolicyDocument::parse_and_resolve(path, text, &LocalSecrets)?;
    policy.features = settings(cli)?.and(policy.features);
    policy.validate()?;
    Ok(policy)
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
        None => settings_dir(cli).join("settings.toml"),
    };
    if cli.settings.is_none() && !path.exists() {
        return Ok(None);
    }
    Ok(Some(Features::load_settings(&path)?))
}

/// The settings folder: the folder of `--settings` when given, else
/// `ROOT/etc/smarthost` (Linux, and `--root` anywhere) or
/// `%ProgramData%\smarthost` (a live Windows server). What `mailenable
/// learn` and `smartermail learn` find is kept here too.
pub(crate) fn settings_dir(cli: &Cli) -> PathBuf {
    if let Some(parent) = cli.settings.as_deref().and_then(Path::parent) {
        return parent.to_owned();
    }
    if cfg!(windows) && cli.root.is_none() {
        let data = std::env::var_os("ProgramData").map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
        return data.join("smarthost");
    }
    cli.root.clone().unwrap_or_else(|| "/".into()).join("etc/smarthost")
}
