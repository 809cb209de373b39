//! `rvenv completions SHELL`: the shell's completion script, from clap.

use super::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use std::process::ExitCode;

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rvenv", &mut out);
    super::print_out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
