//! `mailenable learn`: MailEnable's value names from the administrator's
//! own exports, saved into the settings folder.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use mailenable_backend::learn::{self, Typed};
use mailenable_backend::names::NAMES_FILE;
use mailenable_backend::Role;
use serde::Serialize;
use smarthost_core::{DomainName, RelayHost, Username, WriterError, JSON_SCHEMA};

use crate::args::{Cli, LearnArgs};
use crate::error::CliError;
use crate::{commands, output, policy_input};

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    file: String,
    names: &'a mailenable_backend::Names,
    report: &'a [String],
}

/// Reads both exports, learns the names, writes them (whole or not at all)
/// and prints what was learned.
pub(crate) fn run(cli: &Cli, args: &LearnArgs) -> Result<u8, CliError> {
    let relay = RelayHost::parse(&args.relay).map_err(|e| e.in_field("relay"))?;
    let given = args.password_file.is_some() || args.password_env.is_some() || args.password_stdin;
    // With a user name and no password option: asked at a terminal (not
    // echoed), an error anywhere else.
    let ask = args.username.is_some() && !given;
    if ask && !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "--username needs the password typed: --password-file, --password-env or --password-stdin".into(),
        ));
    }
    let password = commands::password(
        args.password_file.as_deref(),
        args.password_env.as_deref(),
        args.password_stdin || ask,
    )?;
    let mut pinned = BTreeMap::new();
    for value in &args.values {
        let (role, name) = value
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--value {value:?}: give ROLE=NAME")))?;
        let role = Role::ALL
            .into_iter()
            .find(|r| r.as_str() == role.trim())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--value {value:?}: {role:?} is not a role (enabled, host, port, auth, username, password, tls)"
                ))
            })?;
        pinned.insert(role, name.to_owned());
    }
    let typed = Typed {
        relay,
        username: args.username.as_deref().map(Username::new).transpose()?,
        password,
        tls: args.tls,
        domain: args.domain.as_deref().map(DomainName::parse).transpose()?,
        pinned,
    };
    let before = mailenable_backend::regfile_load(&args.before).map_err(WriterError::new)?;
    let after = mailenable_backend::regfile_load(&args.after).map_err(WriterError::new)?;
    let sources = [args.before.display().to_string(), args.after.display().to_string()];
    let learned = learn::learn(&before, &after, &typed, &sources).map_err(WriterError::new)?;
    let dir = policy_input::settings_dir(cli);
    let file = dir.join(NAMES_FILE);
    smarthost_core::transaction::safe_fs::replace_file(&file, learned.names.to_toml().as_bytes(), 0o600)?;
    if cli.json {
        output::json(&Report {
            schema: JSON_SCHEMA,
            file: file.display().to_string(),
            names: &learned.names,
            report: &learned.report,
        });
    } else {
        let mut text = String::new();
        for line in &learned.report {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!("Saved the learned names to {}.\n", file.display()));
        output::print(&text);
    }
    Ok(0)
}
