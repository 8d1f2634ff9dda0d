//! What the administrator asks for in files: the policy file and the
//! settings file, read with the administrator's trust (passwords from
//! their files and variables, see `smarthost_core::PolicyDocument`).

use smarthost_core::{Features, Policy};

use crate::args::Cli;
use crate::error::CliError;

/// The policy file with the administrator's settings applied: a feature is
/// on only if both leave it on.
pub(crate) fn policy_file(cli: &Cli) -> Result<Policy, CliError> {
    let path = cli
        .policy
        .as_ref()
        .ok_or_else(|| CliError::Usage("this command needs --policy FILE".into()))?;
    let mut policy = Policy::load(path)?;
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
