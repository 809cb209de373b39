//! `rvenv probe`: this machine (or `--root`) as a target file.

use super::cli::ProbeArgs;
use crate::error::Result;
use std::process::ExitCode;

pub fn run(args: ProbeArgs) -> Result<ExitCode> {
    crate::inspect::probe::run(&args.root, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
