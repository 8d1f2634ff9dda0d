//! Relay health from Postfix's own view: what Postfix does with real mail,
//! where `smarthost check` is a probe of our own.
//!
//! - [`classify`]: why a delivery failed, from Postfix's words; no I/O, so
//!   embedders can feed it their own log lines.
//! - [`log`]: mail log lines parsed (no I/O), and the instance's log found
//!   and read (`maillog_file`, the system's mail log, or the journal).
//! - [`queue`]: the queue from `postqueue -j`.
//! - [`follow`]: a test message submitted with `sendmail -C DIR` and
//!   followed to the relay's reply; [`follow::Follower`] is the part
//!   without I/O.
//! - [`status`]: deferred mail and delivery attempts per relay and sender
//!   domain, and a monitoring state (no I/O).
//! - [`doctor`]: the prerequisites of the configured relays.
//!
//! Postfix only. MailEnable and SmarterMail have no equivalent here: they
//! keep their queues and logs in their own formats on Windows (MailEnable's
//! SMTP logs and `Queues` folders, SmarterMail's spool and delivery logs
//! behind its web API), none of which this project has been able to run
//! and observe, so a classifier for them could not be tested against real
//! output (see `docs/health.md`).

pub mod classify;
pub mod doctor;
pub mod follow;
pub mod log;
pub mod queue;
pub mod status;

use std::process::{Command, Output, Stdio};

use smarthost_core::peer_text::Redactor;

use crate::error::Error;
use crate::PostfixOptions;

/// A command's stderr and stdout, escaped and capped (it may quote a
/// message or a relay).
pub(crate) fn sanitized_output(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    let status = out
        .status
        .code()
        .map_or("a signal".to_owned(), |c| format!("status {c}"));
    format!("exited with {status}: {}", Redactor::new().sanitize_lines(text.trim()))
}

/// Runs a command that reads nothing from stdin; its stdout when it
/// succeeds.
pub(crate) fn run(argv: &[String]) -> Result<String, Error> {
    let command = argv.join(" ");
    let (program, args) = argv.split_first().ok_or_else(|| Error::Command {
        command: command.clone(),
        output: "empty command".into(),
    })?;
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            output: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            output: sanitized_output(&out),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The effective values of main.cf parameters (`postconf [-c DIR] -h -x
/// NAME...`, `$name` expanded), in the order asked. Without a main.cf,
/// Postfix's defaults (`postconf -d`), so that no command pays Postfix's
/// one-second fatal path.
pub(crate) fn postconf(options: &PostfixOptions, names: &[&str]) -> Result<Vec<String>, Error> {
    let mut argv = vec!["postconf".to_owned()];
    if options.main_cf_exists() {
        argv.extend(options.config_args());
        argv.extend(["-h", "-x"].map(str::to_owned));
    } else {
        argv.extend(["-d", "-h"].map(str::to_owned));
    }
    argv.extend(names.iter().map(|n| (*n).to_owned()));
    let text = run(&argv)?;
    let values: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    if values.len() != names.len() {
        return Err(Error::Command {
            command: argv.join(" "),
            output: format!("expected {} lines, got {}", names.len(), values.len()),
        });
    }
    Ok(values)
}
