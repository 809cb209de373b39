//! `rvenv targets`: the catalogue.

use super::cli::TargetsArgs;
use crate::error::Result;
use crate::target;
use std::process::ExitCode;

pub fn run(args: TargetsArgs) -> Result<ExitCode> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(target::catalogue())?);
        return Ok(ExitCode::SUCCESS);
    }
    for t in target::catalogue() {
        let glibc = t.libc.glibc.map_or("musl".into(), |g| format!("glibc {g}"));
        println!("{:<24} {:<11} {}", t.name, glibc, t.description);
    }
    Ok(ExitCode::SUCCESS)
}
