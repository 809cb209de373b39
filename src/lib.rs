//! rvenv: a Python virtual environment becomes a relocatable, self-contained tarball.
//!
//! The pipeline, one module per stage: `cli` → `config` → `venv` → `plan` → `rewrite` → `elf`
//! → `archive` → `report`; `target` holds the catalogue and `dist` the installed packages.

pub mod archive;
pub mod cli;
pub mod config;
pub mod dist;
pub mod elf;
pub mod plan;
pub mod report;
pub mod rewrite;
pub mod target;
pub mod venv;

use std::process::ExitCode;

/// 0 ok, 1 check failures, 2 usage or input errors, 130 interrupted.
pub fn run(cli: cli::Cli) -> ExitCode {
    let result = match cli.command {
        cli::Command::Bundle(args) => bundle(args),
        cli::Command::Targets => targets(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report::error(&e.to_string(), hint(&e));
            let interrupted = matches!(e.downcast_ref(), Some(archive::Error::Interrupted))
                || matches!(e.downcast_ref(), Some(plan::Error::Interrupted));
            if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn hint(e: &anyhow::Error) -> Option<&'static str> {
    if let Some(e) = e.downcast_ref::<venv::Error>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<plan::Error>() {
        return e.hint();
    }
    if let Some(config::Error::NoOutputDir(_)) = e.downcast_ref::<config::Error>() {
        return Some("create the directory first, or give -o a path in an existing one");
    }
    None
}

fn targets() -> anyhow::Result<ExitCode> {
    for t in target::catalogue() {
        println!(
            "{:<10} {}  (aliases: {})",
            t.name,
            t.description,
            t.aliases.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bundle(args: cli::BundleArgs) -> anyhow::Result<ExitCode> {
    let interrupted = archive::interrupt_flag();
    let config = config::BundleConfig::from_args(args)?;
    let venv = venv::Venv::discover(&config.venv)?;
    let target = match config.target {
        Some(t) => t,
        None => {
            let e = &venv.interpreter_elf;
            let t = target::detect(e.class, e.endian, e.machine).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no known target for ELF{} e_machine {}; give --target",
                    venv.interpreter.display(),
                    e.class,
                    e.machine
                )
            })?;
            report::info(
                config.quiet,
                &format!(
                    "target: {} (detected from {})",
                    t.name,
                    venv.interpreter.display()
                ),
            );
            t
        }
    };
    let name = venv.name();
    let arcroot = config.arcroot_for(&name)?;
    let output = config.output_for(&name, target)?;

    let mut plan = plan::build(&venv, &config, &arcroot, &output, interrupted)?;
    for w in &plan.warnings {
        report::warning(w);
    }
    let mut digest = archive::digest(&plan, target, interrupted)?;
    report::leaks(&digest);
    if !digest.elf.offenders.is_empty() {
        for o in &digest.elf.offenders {
            report::error(&format!("{}: {}", o.path, o.problem), None);
        }
        report::error(
            &format!(
                "{} of {} ELF files will not run on {}; {} was not written",
                digest.elf.offenders.len(),
                digest.elf.checked,
                target.name,
                output.display()
            ),
            Some("give the --target the venv was built for, or rebuild the venv for this target"),
        );
        return Ok(ExitCode::from(1));
    }
    let mtime = config
        .source_date_epoch
        .unwrap_or_else(|| plan.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
    let manifest = report::manifest(&plan, &digest, &venv, target);
    digest.add_generated(report::MANIFEST, &manifest);
    plan.add_generated(report::MANIFEST, manifest, mtime);
    archive::write(&plan, &digest, &output, interrupted)?;
    report::info(
        config.quiet,
        &format!(
            "wrote {} ({} entries, {} ELF files checked for {}, {} files rewritten)",
            output.display(),
            plan.entries.len() + 1,
            digest.elf.checked,
            target.name,
            plan.rewritten.len()
        ),
    );
    Ok(ExitCode::SUCCESS)
}
