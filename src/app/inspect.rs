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
    let discovered = match kind {
        inspect::Layout::Venv => Some(Venv::discover(path)),
        _ => None,
    };
    let inspection = match discovered {
        // A venv whose base is gone (or which sees the base's packages) is reported as its
        // files are, as an extracted bundle is: `bundle` refuses it, `inspect` says what it can.
        Some(Err(e)) if e.base_is_unusable() => {
            crate::ui::warning(&format!(
                "{e}: reported from the venv's own files, without the base installation or what `rvenv bundle` would change"
            ));
            inspect::of_bundle(&ctx)?
        }
        Some(discovered) => {
            let venv = discovered?;
            let not_interrupted = std::sync::atomic::AtomicBool::new(false);
            let mut plan = crate::bundle::plan::build(
                &venv,
                &super::plan_options(),
                &venv.name(),
                None,
                &not_interrupted,
            )?;
            // As `rvenv bundle` would pack it: with what it leaves out by default.
            crate::bundle::trim::apply(
                &mut plan,
                &venv,
                &crate::bundle::trim::Options::default(),
                &not_interrupted,
            )?;
            inspect::of_venv(&ctx, &venv, &plan)?
        }
        None => inspect::of_bundle(&ctx)?,
    };
    if args.json {
        super::print_out(&(inspection.json() + "\n"))?;
    } else {
        super::print_out(&inspection.render())?;
    }
    Ok(ExitCode::SUCCESS)
}
