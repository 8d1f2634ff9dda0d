//! The man page (clap_mangen) and shell completions (clap_complete), made
//! from the same clap definition as the command line, for packaging.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;

pub(crate) fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut man = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut man)?;
    std::fs::write(dir.join("smarthost.1"), man)?;
    for (shell, name) in [
        (Shell::Bash, "smarthost.bash"),
        (Shell::Zsh, "_smarthost"),
        (Shell::Fish, "smarthost.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "smarthost", &mut out);
        std::fs::write(dir.join(name), out)?;
    }
    Ok(())
}
