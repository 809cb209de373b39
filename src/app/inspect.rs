//! `rvenv inspect`: a report, never a verdict (exit 0 unless the input cannot be read).

use super::cli::InspectArgs;
use crate::error::Result;
use crate::inspect;
use crate::python::venv::Venv;
use std::process::ExitCode;

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let choice = super::config::target_choice(&args.target)?;
    let path = &crate::python::venv::default_path(args.path.clone())?;
    let kind = inspect::layout(path)?;
    let ctx = inspect::Context {
        path,
        kind,
        choice: &choice,
    };
    let inspection = match kind {
        inspect::Layout::Venv => {
            let venv = Venv::discover(path)?;
            let not_interrupted = std::sync::atomic::AtomicBool::new(false);
            let plan = crate::bundle::plan::build(
                &venv,
                &super::plan_options(),
                &venv.name(),
                None,
                &not_interrupted,
            )?;
            inspect::of_venv(&ctx, &venv, &plan)?
        }
        _ => inspect::of_bundle(&ctx)?,
    };
    if args.json {
        super::print_out(&(inspection.json() + "\n"))?;
    } else {
        super::print_out(&inspection.render())?;
    }
    Ok(ExitCode::SUCCESS)
}
