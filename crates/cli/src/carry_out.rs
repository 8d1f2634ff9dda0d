//! The last step of every changing command: show the plan (a dry run) or
//! apply it and show what was done.

use smarthost_core::{BoxedWriter, ConfigWriter, Plan};

use crate::args::Cli;
use crate::error::CliError;
use crate::output;

/// Applies `plan` and reports it; with `dry_run`, only shows it and says
/// that nothing was written.
pub(crate) fn plan(cli: &Cli, backend: &BoxedWriter<'_>, plan: &Plan, dry_run: bool) -> Result<u8, CliError> {
    if dry_run {
        output::plan(plan, cli.json);
        // Last, where it is seen; on stderr with --json, which stays JSON.
        let line = "Dry run: nothing was written.";
        if cli.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        return Ok(0);
    }
    let applied = backend.apply(plan)?;
    output::applied(plan, &applied, cli.json);
    Ok(0)
}
