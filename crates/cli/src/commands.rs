//! One function per command.

use std::io::IsTerminal;

use smarthost_core::{
    Bounces, BoxedWriter, ConfigWriter, Credentials, DomainName, Encryption, Mailbox, Policy, Preset, RelayHost,
    SecretSource, Smarthost, Username,
};

use crate::args::{
    BouncePath, BouncesCommand, ChangeArgs, Cli, Command, DomainCommand, MailboxCommand, MailenableCommand,
    RecipientCommand, RouteArgs, ServerCommand, SetArgs, SmartermailCommand,
};
use crate::backend;
use crate::error::CliError;
use crate::policy_input::{self, policy_file};
use crate::{carry_out, check, dns, exit, output, saved_plan};

pub(crate) fn run(cli: &Cli) -> Result<u8, CliError> {
    match dispatch(cli) {
        Err(CliError::NothingToDo(message)) => {
            output::nothing_to_do(&message, cli.json);
            Ok(0)
        }
        other => other,
    }
}

fn dispatch(cli: &Cli) -> Result<u8, CliError> {
    match &cli.command {
        Command::Plan { detailed_exitcode, out } => {
            let plan = match out {
                Some(out) => saved_plan::save(cli, out)?,
                None => backend::open(cli)?.plan(&policy_file(cli)?)?,
            };
            output::plan(&plan, cli.json);
            if let Some(out) = out {
                // On stderr with --json, which stays JSON.
                let line = format!("Saved the plan to {}; apply it with `apply {0}`.", out.display());
                if cli.json {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            Ok(if *detailed_exitcode && !plan.is_empty() {
                exit::CHANGES_PENDING
            } else {
                0
            })
        }
        Command::Apply {
            dry_run,
            plan_file: Some(file),
            ..
        } => saved_plan::apply(cli, file, *dry_run),
        Command::Apply { dry_run, .. } => {
            let desired = policy_file(cli)?;
            let backend = backend::open(cli)?;
            let _held = backend.hold()?;
            converge(cli, &backend, &desired, *dry_run)
        }
        Command::List => {
            let policy = current_or_file(cli)?;
            output::list(&format!("{:?}", cli.backend).to_lowercase(), &policy, cli.json);
            Ok(0)
        }
        Command::Dns(args) => dns::run(cli, args),
        Command::Check(args) => check::run(cli, args),
        Command::Assets { dir } => {
            crate::assets::write(dir)
                .map_err(|e| CliError::Usage(format!("writing assets into {}: {e}", dir.display())))?;
            Ok(0)
        }
        Command::Mailenable(MailenableCommand::Learn(args)) => crate::mailenable_learn::run(cli, args),
        Command::Mailenable(MailenableCommand::Import { file }) => {
            let names = backend::mailenable_names(cli)?;
            let policy =
                mailenable_backend::MailEnableWriter::import(file, &names).map_err(smarthost_core::WriterError::new)?;
            output::list("mailenable", &policy, cli.json);
            Ok(0)
        }
        Command::Smartermail(SmartermailCommand::Learn(args)) => crate::smartermail_learn::run(cli, args),
        Command::Providers => {
            output::providers(cli.json);
            Ok(0)
        }
        Command::Route(args) => route(cli, args),
        Command::Server(ServerCommand::Set(set)) => {
            // Input is validated (and checked, with --check) before
            // anything is locked or read.
            let new = checked(cli, set, policy_input::settings(cli)?.server.check_certificate)?;
            change(cli, &set.change, None, |policy| {
                policy.set_server(new).map_err(Into::into)
            })
        }
        Command::Server(ServerCommand::Disable(args)) => change(cli, args, None, |policy| {
            if policy.server.take().is_none() {
                return Err(CliError::NothingToDo(
                    "nothing to disable: no server-wide smarthost is set".into(),
                ));
            }
            Ok(())
        }),
        Command::Domain(DomainCommand::Set { domain, direct, set }) => {
            let domain = DomainName::parse(domain)?;
            let scope = domain.clone();
            if *direct {
                return change(cli, &set.change, Some(&scope), |policy| {
                    policy.set_direct(domain).map_err(Into::into)
                });
            }
            let new = checked(cli, set, policy_input::settings(cli)?.domain.check_certificate)?;
            change(cli, &set.change, Some(&scope), |policy| {
                policy.set_domain(domain, new).map_err(Into::into)
            })
        }
        Command::Mailbox(MailboxCommand::Set { address, set }) => {
            let mailbox = Mailbox::parse_field("mailbox", address)?;
            let new = checked(cli, set, policy_input::settings(cli)?.domain.check_certificate)?;
            change(cli, &set.change, None, |policy| {
                policy.set_mailbox(mailbox, new).map_err(Into::into)
            })
        }
        Command::Mailbox(MailboxCommand::Disable { address, change: args }) => {
            let mailbox = Mailbox::parse_field("mailbox", address)?;
            change(cli, args, None, |policy| {
                if policy.mailboxes.remove(&mailbox).is_none() {
                    return Err(CliError::NothingToDo(format!(
                        "nothing to disable: mailbox {mailbox} has no smarthost"
                    )));
                }
                Ok(())
            })
        }
        Command::Recipient(RecipientCommand::Set { domain, direct, set }) => {
            let domain = recipient_domain(domain)?;
            let new = if *direct {
                None
            } else {
                Some(checked(
                    cli,
                    set,
                    policy_input::settings(cli)?.server.check_certificate,
                )?)
            };
            change(cli, &set.change, None, |policy| {
                policy.set_recipient(domain, new).map_err(Into::into)
            })
        }
        Command::Recipient(RecipientCommand::Disable { domain, change: args }) => {
            let domain = recipient_domain(domain)?;
            change(cli, args, None, |policy| {
                let relayed = policy.recipients.remove(&domain).is_some();
                if !relayed && !policy.direct_recipients.remove(&domain) {
                    return Err(CliError::NothingToDo(format!(
                        "nothing to disable: recipient domain {domain} has no route"
                    )));
                }
                Ok(())
            })
        }
        Command::Bounces(BouncesCommand::Set { path, set }) => {
            let bounces = match path {
                Some(BouncePath::Server) => Bounces::Server,
                Some(BouncePath::Direct) => Bounces::Direct,
                None => Bounces::Relay(checked(
                    cli,
                    set,
                    policy_input::settings(cli)?.server.check_certificate,
                )?),
            };
            change(cli, &set.change, None, |policy| Ok(policy.set_bounces(bounces)?))
        }
        Command::TestSend(args) => crate::health::test_send(cli, args),
        Command::Status(args) => crate::health::status(cli, args),
        Command::Doctor(args) => crate::health::doctor(cli, args),
        Command::Domain(DomainCommand::Disable { domain, change: args }) => {
            let domain = DomainName::parse(domain)?;
            change(cli, args, Some(&domain), |policy| {
                let relayed = policy.domains.remove(&domain).is_some();
                if !relayed && !policy.direct.remove(&domain) {
                    return Err(CliError::NothingToDo(format!(
                        "nothing to disable: domain {domain} has no smarthost and is no direct exception"
                    )));
                }
                Ok(())
            })
        }
    }
}

/// The policy of `--policy FILE` when given, else the live configuration.
fn current_or_file(cli: &Cli) -> Result<Policy, CliError> {
    match &cli.policy {
        Some(_) => policy_file(cli),
        None => Ok(backend::open(cli)?.read()?),
    }
}

/// `route`: a sender's route (to a recipient), or a forwarded message's.
fn route(cli: &Cli, args: &RouteArgs) -> Result<u8, CliError> {
    let policy = current_or_file(cli)?;
    let asked = match (&args.forwarded, &args.sender) {
        (Some(target), _) => output::Asked::Forwarded(target),
        (None, Some(sender)) => output::Asked::Sender {
            sender,
            to: args.to.as_deref(),
        },
        (None, None) => return Err(CliError::Usage("route needs a SENDER or --forwarded TARGET".into())),
    };
    let route = match asked {
        output::Asked::Forwarded(target) => policy.route_forwarded(target)?,
        output::Asked::Sender { sender, to } => policy.route_to(sender, to)?,
    };
    // Without knowing whether SRS rewrites senders here, the warning says
    // what happens when nothing does.
    let warnings = match asked {
        output::Asked::Forwarded(target) => policy.forwarding_warnings(&[(*target).to_owned()], None),
        output::Asked::Sender { .. } => Vec::new(),
    };
    output::route(asked, &route, &warnings, cli.json);
    Ok(0)
}

/// A recipient domain from the command line; errors name `recipient`.
fn recipient_domain(text: &str) -> Result<DomainName, CliError> {
    DomainName::parse(text).map_err(|e| rename_field(e, "domain", "recipient").into())
}

/// The same error with its field `from` (or `from.sub`) called `to`.
fn rename_field(e: smarthost_core::Error, from: &str, to: &str) -> smarthost_core::Error {
    match e {
        smarthost_core::Error::Invalid { field, value, reason } => {
            let field = match field.strip_prefix(from) {
                Some(rest) if rest.is_empty() || rest.starts_with('.') => format!("{to}{rest}"),
                _ => field,
            };
            smarthost_core::Error::Invalid { field, value, reason }
        }
        other => other,
    }
}

/// Reads the current state, changes it, then plans and applies. Features
/// come from the settings file. A change of one sender domain (`domain`)
/// reads and plans only what bears on it (`ConfigWriter::read_for_domain`):
/// on a large Postfix server, its lines are changed by key.
fn change(
    cli: &Cli,
    args: &ChangeArgs,
    domain: Option<&DomainName>,
    edit: impl FnOnce(&mut Policy) -> Result<(), CliError>,
) -> Result<u8, CliError> {
    let settings = policy_input::settings_file(cli)?;
    let backend = backend::open(cli)?;
    // One hold of the lock from the read to the commit: no other run can
    // change the configuration between what this one read and what it writes.
    let _held = backend.hold()?;
    let mut policy = match domain {
        Some(domain) => backend.read_for_domain(domain)?,
        None => backend.read()?,
    };
    // Without a settings file the certificate checks stay as the current
    // configuration has them, so a change of one domain leaves every other
    // relay's TLS entry as it is.
    if let Some(features) = settings {
        policy.features = features;
    }
    edit(&mut policy)?;
    let plan = match domain {
        Some(domain) => backend.plan_for_domain(domain, &policy)?,
        None => backend.plan(&policy)?,
    };
    carry_out::plan(cli, &backend, &plan, args.dry_run)
}

fn converge(cli: &Cli, backend: &BoxedWriter<'_>, desired: &Policy, dry_run: bool) -> Result<u8, CliError> {
    let plan = backend.plan(desired)?;
    carry_out::plan(cli, backend, &plan, dry_run)
}

/// The smarthost of `set`, checked first with `--check`: a failed check
/// refuses the change unless `--force`.
fn checked(cli: &Cli, set: &SetArgs, check_certificate: bool) -> Result<Smarthost, CliError> {
    let new = smarthost(set)?;
    if set.check {
        let report = check::probe_one(cli, &set.probe, &new, check_certificate)?;
        if !report.ok {
            let text = check::render(&["this change".to_owned()], &report);
            if !set.force {
                return Err(CliError::CheckFailed(text));
            }
            if !cli.json {
                eprintln!("{text}warning: applying anyway (--force)");
            }
        }
    }
    Ok(new)
}

/// Says so on stderr when a password file can be read by other users.
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_file() && mode & 0o044 != 0 {
                eprintln!(
                    "smarthost: warning: {} has mode {mode:04o}: other users can read the password; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The password from the one source given (none: `None`). Every source is
/// capped (smarthost_core::input): /dev/zero or an endless pipe is an
/// error, not an out-of-memory.
pub(crate) fn password(
    file: Option<&std::path::Path>,
    env: Option<&str>,
    stdin: bool,
) -> Result<Option<smarthost_core::Secret>, CliError> {
    Ok(if let Some(file) = file {
        warn_if_readable_by_others(file);
        Some(SecretSource::File(file.to_owned()).read("password")?)
    } else if let Some(var) = env {
        Some(SecretSource::Env(var.to_owned()).read("password")?)
    } else if stdin && std::io::stdin().is_terminal() {
        // Typed at a terminal: not echoed.
        eprint!("Password: ");
        let line = rpassword::read_password().map_err(CliError::Stdin)?;
        let read = smarthost_core::input::read_secret_stdin("password", std::io::Cursor::new(line + "\n"));
        Some(read?)
    } else if stdin {
        let read = smarthost_core::input::read_secret_stdin("password", std::io::stdin().lock());
        Some(read.map_err(|e| match e {
            smarthost_core::Error::Stdin { source, .. } => CliError::Stdin(source),
            other => other.into(),
        })?)
    } else {
        None
    })
}

/// The smarthost that `set` describes, validated: a preset's values unless
/// given explicitly.
fn smarthost(set: &SetArgs) -> Result<Smarthost, CliError> {
    if set.password.is_some() {
        return Err(CliError::Usage(
            "--password is not accepted: a password on the command line is visible to every user of the machine; use --password-file, --password-env or --password-stdin".into(),
        ));
    }
    let encryption = set.encryption.map(Encryption::from);
    let choice = Preset::combine(set.provider.as_deref(), set.relay.as_deref(), encryption)?;
    let preset_user = choice.username;
    let secret = password(
        set.password_file.as_deref(),
        set.password_env.as_deref(),
        set.password_stdin,
    )?;
    let credentials = match (set.username.as_deref().or(preset_user), secret) {
        (Some(user), Some(secret)) => Some(Credentials::new(Username::new(user)?, secret)),
        (None, None) => None,
        (Some(user), None) if set.username.is_none() => {
            return Err(CliError::Usage(format!(
                "this provider's user name is {user}: give its password with --password-file, --password-env or --password-stdin"
            )))
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--username needs a password: --password-file, --password-env or --password-stdin".into(),
            ))
        }
        (None, Some(_)) => return Err(CliError::Usage("a password needs --username".into())),
    };
    let backups = set
        .backup_relays
        .iter()
        .enumerate()
        .map(|(i, text)| RelayHost::parse(text).map_err(|e| rename_field(e, "relay", &format!("backup-relay[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    let smarthost = Smarthost {
        relay: choice.relay,
        encryption: choice.encryption,
        credentials,
        backups: Vec::new(),
    };
    Ok(smarthost
        .with_backups(backups)
        .map_err(|e| rename_field(e, "backup", "backup-relay"))?)
}
