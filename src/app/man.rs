//! `rvenv man [COMMAND]`: rvenv(1), or rvenv-COMMAND(1).

use super::cli::{Cli, ManArgs};
use crate::error::{Error, Result};
use std::process::ExitCode;

pub fn run(args: ManArgs) -> Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let page = match &args.command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                return Err(Error::new(format!("man {name}: no such command"))
                    .with_hint(format!("one of: {}", known.join(", "))));
            }
        },
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    super::print_out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
