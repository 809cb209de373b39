//! `rvenv check`: will every binary load on the target? A venv is checked as it would be
//! bundled; an extracted bundle or a tarball as it is. Exit 1 when something would not load.

use super::cli::CheckArgs;
use crate::error::{Error, Result};
use crate::python::venv::Venv;
use crate::read::contents;
use crate::{bundle, elf, ui};
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let interrupted = crate::interrupt::flag();
    let choice = super::config::target_choice(&args.target)?;
    let allow = super::config::allow_rules(&args.allow)?;
    let path = &crate::python::venv::default_path(args.path.clone())?;
    let meta = std::fs::metadata(path).map_err(crate::error::io(path))?;
    let (target, contents) = if meta.is_dir() && !path.join(crate::read::MANIFEST).is_file() {
        let venv = Venv::discover(path)?;
        let target =
            super::resolve_target(&choice, &venv.interpreter, &venv.interpreter_elf, args.json)?;
        let mut plan = bundle::plan::build(
            &venv,
            &super::plan_options(),
            &venv.name(),
            None,
            interrupted,
        )?;
        // What `rvenv bundle` leaves out by default is not checked (the static libpython's
        // objects, Windows launchers); debug sections change nothing the check reads.
        let defaults = bundle::trim::Options {
            keep_debug: true,
            ..Default::default()
        };
        bundle::trim::apply(&mut plan, &venv, &defaults, interrupted)?;
        if !args.json {
            let scripts = bundle::plan::site_script_line(&plan.site_scripts);
            for line in bundle::plan::search_path_lines(&plan.search_paths)
                .into_iter()
                .chain(scripts)
            {
                ui::warning(&format!("{line} by `rvenv bundle`"));
            }
        }
        let progress = ui::Progress::new(args.json, "checking", || plan.file_totals());
        let contents =
            bundle::archive::read_plan(&plan, interrupted, &|bytes| progress.file_done(bytes))?;
        progress.finish();
        (target, contents)
    } else {
        let contents = if meta.is_dir() {
            contents::read_dir_tree(path)?
        } else {
            contents::read_tarball(path)?
        };
        let interpreter = contents.binaries.iter().find_map(|(p, i)| match i {
            elf::Inspection::Elf(e) if p.starts_with("python/bin") => Some((p, e)),
            _ => None,
        });
        let target = match (&choice.target, interpreter) {
            (Some(t), _) => t.clone(),
            (None, Some((interp, elf))) => {
                super::resolve_target(&choice, &path.join(interp), elf, args.json)?
            }
            (None, None) => {
                return Err(Error::new(format!(
                    "{}: no interpreter under python/bin to detect the target from; give --target",
                    path.display()
                )));
            }
        };
        (target, contents)
    };
    let lib_dirs = [Path::new(bundle::archive::BUNDLE_LIB_DIR)];
    let mut report = elf::Report::build(
        &target,
        choice.glibc,
        contents.binaries,
        &|p| contents.present.contains(p),
        &lib_dirs,
    );
    report.allow(&allow);
    if args.json {
        println!("{}", report.json());
    } else {
        report.print(true);
        println!("{}", report.summary());
    }
    Ok(if report.offenders.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
