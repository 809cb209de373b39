//! `rvenv freeze`: pip freeze's text, from the metadata.

use super::cli::FreezeArgs;
use crate::error::Result;
use std::process::ExitCode;

pub fn run(args: FreezeArgs) -> Result<ExitCode> {
    let (dists, minor) =
        crate::inspect::distributions(&crate::python::venv::default_path(args.path)?)?;
    super::print_out(&crate::python::dist::freeze(&dists, minor))?;
    Ok(ExitCode::SUCCESS)
}
