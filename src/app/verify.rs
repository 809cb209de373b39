//! `rvenv verify`: 0 when the bundle matches its manifest, 1 when something differs.

use super::cli::VerifyArgs;
use crate::error::Result;
use std::process::ExitCode;

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let result = crate::read::verify::verify(&args.path, args.strict)?;
    let text = if args.json {
        result.json() + "\n"
    } else {
        result.render()
    };
    super::print_out(&text)?;
    Ok(if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
