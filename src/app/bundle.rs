//! `rvenv bundle`: a venv (or one assembled from an interpreter and pinned requirements)
//! planned, trimmed, checked and written as one deterministic tarball, in that order. Every
//! refusal that does not need the files' contents happens before anything is compressed.

use super::cli::BundleArgs;
use super::config::{BundleConfig, PythonSource};
use crate::bundle::{archive, assemble, manifest, plan, trim};
use crate::error::Result;
use crate::python::venv::Venv;
use crate::ui;
use std::process::ExitCode;

pub fn run(args: BundleArgs) -> Result<ExitCode> {
    let interrupted = crate::interrupt::flag();
    let config = BundleConfig::from_args(args)?;
    // Without a venv, one is assembled from the interpreter and the requirements; a venv for
    // another CPU is re-created for the target. Either lives in a temporary directory until
    // the bundle is written.
    let (venv, target, _assembly) = match &config.requirements {
        None => {
            let path = crate::python::venv::default_path(config.venv.clone())?;
            let venv = Venv::discover(&path)?;
            let target = super::resolve_target(
                &config.target,
                &venv.interpreter,
                &venv.interpreter_elf,
                config.quiet,
            )?;
            let foreign = super::foreign_interpreter(
                &target,
                &venv.interpreter,
                &venv.interpreter_elf,
                Some(&venv.root),
            );
            match foreign {
                Some(_) if config.python.is_some() || target.distribution.is_some() => {
                    let assembly = retarget(&config, &venv, &target, interrupted)?;
                    let venv = Venv::discover(&assembly.venv)?;
                    (venv, target, Some(assembly))
                }
                Some((message, hint)) if !config.no_check => {
                    ui::error(&message, Some(&hint));
                    return Ok(ExitCode::from(1));
                }
                _ => (venv, target, None),
            }
        }
        Some(requirements) => {
            let python = match &config.python {
                Some(PythonSource::Given(path)) => path.clone(),
                Some(PythonSource::Archive(archive)) => {
                    let target = config
                        .target
                        .target
                        .as_ref()
                        .expect("config requires a preset for the archive");
                    super::python::fetch_for(target, archive, interrupted)?.python
                }
                None => unreachable!("config gives -r an interpreter source"),
            };
            let interp = assemble::Interpreter::find(&python)?;
            let target =
                super::resolve_target(&config.target, &interp.path, &interp.elf, config.quiet)?;
            if !config.no_check
                && let Some((message, hint)) =
                    super::foreign_interpreter(&target, &interp.path, &interp.elf, None)
            {
                ui::error(&message, Some(&hint));
                return Ok(ExitCode::from(1));
            }
            let name = config.arcroot_for(&assemble::project_name(requirements))?;
            let ctx = assemble::Context {
                interp: &interp,
                target: &target,
                glibc: config.target.glibc,
                options: &config.wheels,
                archive: config.archive.as_ref(),
                interrupted,
            };
            let assembly =
                assemble::assemble(&ctx, requirements, &name, |m| ui::info(config.quiet, m))?;
            for pin in &assembly.skipped {
                ui::info(
                    config.quiet,
                    &format!(
                        "{}=={}: markers leave it out for {}",
                        pin.name, pin.version, target.name
                    ),
                );
            }
            for p in &assembly.placed {
                if let Some(line) = origin_line(p, &target.name) {
                    ui::info(config.quiet, &line);
                }
            }
            ui::info(
                config.quiet,
                &format!(
                    "installed {} wheel(s) ({} fetched) for Python {} on {}",
                    assembly.installed.len(),
                    assembly.downloaded,
                    interp.version.full,
                    target.name
                ),
            );
            warn_overwritten(&assembly);
            let venv = Venv::discover(&assembly.venv)?;
            (venv, target, Some(assembly))
        }
    };
    let name = venv.name();
    let arcroot = config.arcroot_for(&name)?;
    let output = config.output_for(&name, &target)?;
    let naming_output = |e: crate::error::Error| e.naming_output(&output);

    let started = std::time::Instant::now();
    let mut plan = plan::build(&venv, &config.plan, &arcroot, Some(&output), interrupted)
        .map_err(|e| naming_output(e.into()))?;
    // Last, so the options see the bundle as it would otherwise be (rewritten files,
    // requirements.txt) and nothing later brings back what they left out.
    trim::apply(&mut plan, &venv, &config.trim, interrupted)
        .map_err(|e| naming_output(e.into()))?;
    if config.verbose {
        ui::info(
            false,
            &format!(
                "planned {} entries in {:.2} s",
                plan.entries.len(),
                started.elapsed().as_secs_f64()
            ),
        );
        for (path, rewrite) in &plan.rewritten {
            ui::info(false, &format!("rewrites {} ({rewrite:?})", path.display()));
        }
    }
    for w in &plan.warnings {
        ui::warning(w);
    }
    for line in plan::search_path_lines(&plan.search_paths) {
        ui::info(config.quiet, &line);
    }
    if let Some(line) = plan::site_script_line(&plan.site_scripts) {
        ui::info(config.quiet, &line);
    }
    for line in &plan.trimmed {
        ui::info(config.quiet, line);
    }
    // One pass: every file is read once, hashed, checked and stored; the bundle is renamed
    // into place only if the checks pass.
    let mut writer = archive::Writer::create(&output, &plan, &config.compression)?;
    for stale in &writer.removed_stale {
        ui::info(
            config.quiet,
            &format!(
                "removed {}, left by an earlier run that was killed",
                stale.display()
            ),
        );
    }
    let progress = ui::Progress::new(config.quiet, "bundling", || plan.file_totals());
    let started = std::time::Instant::now();
    let mut digest = writer
        .append_plan(&plan, &target, config.target.glibc, interrupted, &|bytes| {
            progress.file_done(bytes)
        })
        .map_err(|e| naming_output(e.into()))?;
    digest.elf.allow(&config.allow);
    progress.finish();
    if config.verbose {
        let bytes: u64 = digest.files.iter().map(|f| f.size).sum();
        ui::info(
            false,
            &format!(
                "read, checked and compressed {} files ({} bytes) in {:.2} s",
                digest.files.len(),
                bytes,
                started.elapsed().as_secs_f64()
            ),
        );
    }
    warn_leaks(&digest, config.quiet);
    if digest.elf.offenders.is_empty() {
        digest.elf.print(false);
    } else {
        digest.elf.print(!config.no_check);
        if !config.no_check {
            drop(writer);
            ui::error(
                &format!(
                    "{} problem(s) in {} ELF files for {}; {} was not written",
                    digest.elf.offenders.len(),
                    digest.elf.checked,
                    target.name,
                    output.display()
                ),
                Some(
                    "give the --target the venv was built for, rebuild the venv for this target, or pass --no-check to write it anyway",
                ),
            );
            return Ok(ExitCode::from(1));
        }
    }
    let mtime = config
        .plan
        .source_date_epoch
        .unwrap_or_else(|| plan.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
    let manifest = manifest::Manifest::new(&plan, &digest, &venv, &target);
    writer.finish(manifest::MANIFEST, manifest.len(), manifest.reader(), mtime)?;
    ui::info(config.quiet, &digest.elf.summary_with(config.no_check));
    // Distribution packages and wheels carry (almost) no bytecode: without --compile, the board
    // compiles every module on first start and writes __pycache__ into the install folder.
    // Suggested rather than the default: it needs a CPython of the same X.Y here and makes the
    // bundle about a third larger.
    if config.trim.pycache == crate::bundle::trim::Pycache::Keep {
        let count = |ext: &str| {
            plan.entries
                .iter()
                .filter(|e| e.path.extension().is_some_and(|x| x == ext))
                .count()
        };
        let (py, pyc) = (count("py"), count("pyc"));
        if py > 0 && pyc * 2 < py {
            ui::info(
                config.quiet,
                &format!(
                    "the bundle has bytecode for only {pyc} of its {py} modules: the board compiles the rest on first import and writes __pycache__ next to them (a read-only root cannot); --compile makes them here"
                ),
            );
        }
    }
    ui::info(
        config.quiet,
        &format!(
            "wrote {} ({} entries, {} files rewritten)",
            output.display(),
            plan.entries.len() + 2,
            plan.rewritten.len()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// Leaks are grouped per file: one warning names the file and the paths it still holds.
/// The base's build configuration holds them by design: one line for all of it, not a warning.
fn warn_leaks(digest: &archive::Digest, quiet: bool) {
    let (config, leaks): (Vec<_>, Vec<_>) = digest
        .leaks
        .iter()
        .partition(|l| plan::is_build_configuration(&l.path));
    let mut names: Vec<String> = config
        .iter()
        .map(|l| {
            l.path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.dedup();
    if !names.is_empty() {
        ui::info(
            quiet,
            &format!(
                "kept as built: the base's build configuration ({}) names the folder CPython was built in; only extension builds read it",
                names.join(", ")
            ),
        );
    }
    let mut by_file: std::collections::BTreeMap<_, Vec<&str>> = Default::default();
    for leak in leaks {
        by_file
            .entry(&leak.path)
            .or_default()
            .push(&leak.build_path);
    }
    for (path, paths) in by_file {
        ui::warning(&format!(
            "{}: still contains the build path {} (it will not exist on the target)",
            path.display(),
            paths.join(" and ")
        ));
    }
}

/// What a distribution's origin is worth a line for: anything not taken as it is.
fn origin_line(p: &assemble::Placed, target: &str) -> Option<String> {
    use assemble::Origin;
    let how = match &p.origin {
        Origin::Copied | Origin::Folder(_) | Origin::Index(_) => return None,
        Origin::Built(w) => format!("built from source for {target} ({w})"),
        Origin::Cached(w) => format!("built from source for {target} (an earlier build: {w})"),
    };
    Some(format!("{} {}: {how}", p.name, p.version))
}

fn warn_overwritten(assembly: &assemble::Assembly) {
    for w in &assembly.installed {
        for path in &w.overwritten {
            ui::warning(&format!(
                "{}: {} overwrote a file another wheel had installed",
                path.strip_prefix(&assembly.venv).unwrap_or(path).display(),
                w.name
            ));
        }
    }
}

/// A venv for another CPU, re-created for the target: the interpreter is `--python`'s or the
/// preset's CPython of the venv's X.Y; what has compiled code gets the target's wheel or is
/// built from its sdist. Says what it did, per distribution not copied as it is.
fn retarget(
    config: &BundleConfig,
    venv: &Venv,
    target: &crate::target::Target,
    interrupted: &std::sync::atomic::AtomicBool,
) -> Result<assemble::Assembly> {
    let xy = format!("{}.{}", venv.version.major, venv.version.minor);
    ui::info(
        config.quiet,
        &format!(
            "{}: a venv for {}; re-creating it for {} (Python {xy})",
            venv.root.display(),
            crate::elf::detect_target(&venv.interpreter_elf)
                .map_or_else(|| venv.interpreter_elf.describe(), |t| t.name.clone()),
            target.name
        ),
    );
    assemble::check_retargetable(venv)?;
    let python = match &config.python {
        Some(PythonSource::Given(path)) => path.clone(),
        _ => {
            let mut archive = config
                .archive
                .clone()
                .ok_or(crate::python::distro::Error::NoCacheDir)?;
            if let Some(asked) = &archive.version
                && asked != &xy
            {
                return Err(crate::error::Error::new(format!(
                    "--python-version {asked}: {} is a Python {xy} venv; its packages need the same X.Y",
                    venv.root.display()
                ))
                .with_hint("leave out --python-version: a retargeted venv gets the preset's CPython of its own version"));
            }
            archive.version = Some(xy.clone());
            crate::python::distro::choose_version(target, Some(&xy)).map_err(|e| match e {
                crate::python::distro::Error::NoVersion {
                    target,
                    version,
                    has,
                    presets,
                    ..
                } => crate::python::distro::Error::NoVersion {
                    asked: Some(format!("{}: a Python {version} venv", venv.root.display())),
                    target,
                    version,
                    has,
                    presets,
                },
                e => e,
            })?;
            super::python::fetch_for(target, &archive, interrupted)?.python
        }
    };
    let interp = assemble::Interpreter::find(&python)?;
    if (interp.version.major, interp.version.minor) != (venv.version.major, venv.version.minor) {
        return Err(crate::error::Error::new(format!(
            "--python {}: it is Python {}, and {} is a Python {xy} venv",
            interp.path.display(),
            interp.version.full,
            venv.root.display()
        ))
        .with_hint("give the target's CPython of the venv's X.Y, or recreate the venv with the target's version"));
    }
    if let Some((message, hint)) =
        super::foreign_interpreter(target, &interp.path, &interp.elf, None)
    {
        return Err(crate::error::Error::new(message).with_hint(hint));
    }
    let name = config.arcroot_for(&venv.name())?;
    let ctx = assemble::Context {
        interp: &interp,
        target,
        glibc: config.target.glibc,
        options: &config.wheels,
        archive: config.archive.as_ref(),
        interrupted,
    };
    let assembly = assemble::retarget(&ctx, venv, &name, |m| ui::info(config.quiet, m))?;
    let (mut copied, mut fetched, mut built) = (0, 0, 0);
    for p in &assembly.placed {
        match &p.origin {
            assemble::Origin::Copied => copied += 1,
            assemble::Origin::Built(_) | assemble::Origin::Cached(_) => built += 1,
            assemble::Origin::Folder(w) | assemble::Origin::Index(w) => {
                fetched += 1;
                ui::info(
                    config.quiet,
                    &format!(
                        "{} {}: the wheel for {} ({w})",
                        p.name, p.version, target.name
                    ),
                );
            }
        }
        if let Some(line) = origin_line(p, &target.name) {
            ui::info(config.quiet, &line);
        }
    }
    ui::info(
        config.quiet,
        &format!(
            "retargeted {} distribution(s) to {} on Python {}: {copied} copied as they are, {fetched} wheel(s) for the target, {built} built from source",
            assembly.placed.len(),
            target.name,
            interp.version.full
        ),
    );
    warn_overwritten(&assembly);
    Ok(assembly)
}
