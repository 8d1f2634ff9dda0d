//! `smarthost`: configure a relay host for a mail server. A thin layer over
//! the smarthost crates: parse the command line, call them, print.

mod args;
mod assets;
mod backend;
mod carry_out;
mod check;
mod command_line;
mod commands;
mod dns;
mod error;
mod exit;
mod health;
mod mailenable_learn;
mod output;
mod policy_input;
mod saved_plan;
mod smartermail_learn;

use std::io::Write;
use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    let cli = args::Cli::from_arg_matches(&args::command().get_matches()).unwrap_or_else(|e| e.exit());
    match commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let _ = std::io::stdout().flush();
            let mut message = format!("smarthost: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !message.contains(&text) {
                    message.push_str(&format!(": {text}"));
                }
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(err.exit_code())
        }
    }
}
