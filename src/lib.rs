//! rvenv: a Python virtual environment becomes a relocatable, self-contained tarball.
//!
//! The pipeline, one module per stage: `cli` → `config` → `venv` → `plan` → `rewrite` → `elf`
//! → `archive` → `report`; `target` holds the catalogue and `dist` the installed packages;
//! `probe` describes a board as a target file; `inspect` reports what an environment holds;
//! `tarread` is the one checked reader of bundle tarballs (verify, check, inspect).

pub mod archive;
pub mod assemble;
pub mod cli;
pub mod compress;
pub mod config;
pub mod dist;
pub mod elf;
#[doc(hidden)]
pub mod fuzzing;
pub mod inspect;
pub mod plan;
pub mod probe;
pub mod report;
pub mod requirements;
pub mod rewrite;
pub mod target;
pub mod tarread;
pub mod trim;
pub mod venv;
pub mod verify;
pub mod wheel;

use std::path::Path;
use std::process::ExitCode;

/// glibc's allocator keeps what a thread frees in that thread's arena, and raises its mmap
/// threshold after the first large free, so the buffers of files read ahead on the thread pool
/// (up to 1 MiB each) would stay in the heap: about 30 MiB more peak memory on a venv of 50,000
/// files. A fixed threshold returns them to the system when freed, and two arenas are enough.
fn bounded_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first, before any other thread exists; mallopt only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// 0 ok, 1 check failures (verify: differences), 2 usage or input errors, 130 interrupted.
pub fn run(cli: cli::Cli) -> ExitCode {
    // Output piped into `head` ends quietly, as for any Unix tool, instead of a panic on EPIPE.
    // SAFETY: done first, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    bounded_heap();
    let result = match cli.command {
        cli::Command::Bundle(args) => bundle(args),
        cli::Command::Check(args) => check(args),
        cli::Command::Targets(args) => targets(args),
        cli::Command::Probe(args) => probe::run(&args.root, args.output.as_deref())
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
        cli::Command::Verify(args) => verify(args),
        cli::Command::Inspect(args) => inspect(args),
        cli::Command::Freeze(args) => freeze(args),
        cli::Command::Completions(args) => completions(args),
        cli::Command::Man(args) => man(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report::error(&e.to_string(), hint(&e));
            if is_interrupted(&e) {
                ExitCode::from(130)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn is_interrupted(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(archive::Error::Interrupted))
        || matches!(e.downcast_ref(), Some(plan::Error::Interrupted))
        || matches!(e.downcast_ref(), Some(assemble::Error::Interrupted))
}

/// An interruption while the bundle is planned or written names the output it leaves out.
fn naming_output(output: &Path) -> impl Fn(anyhow::Error) -> anyhow::Error + '_ {
    move |e| {
        if is_interrupted(&e) {
            e.context(format!(
                "{}: interrupted; nothing was written",
                output.display()
            ))
        } else {
            e
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
    if let Some(e) = e.downcast_ref::<assemble::Error>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<verify::Error>() {
        return e.hint();
    }
    if let Some(config::Error::Trim(e)) = e.downcast_ref::<config::Error>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<inspect::Error>() {
        return e.hint();
    }
    if let Some(archive::Error::Archive(e)) = e.downcast_ref::<archive::Error>() {
        return e.hint();
    }
    if let Some(config::Error::NoOutputDir(_)) = e.downcast_ref::<config::Error>() {
        return Some("create the directory first, or give -o a path in an existing one");
    }
    None
}

/// `rvenv verify`: 0 when the bundle matches its manifest, 1 when something differs.
fn verify(args: cli::VerifyArgs) -> anyhow::Result<ExitCode> {
    let result = verify::verify(&args.path, args.strict)?;
    let text = if args.json {
        result.json() + "\n"
    } else {
        result.render()
    };
    // `rvenv verify ... | head` closes the pipe early: not an error (println! would panic).
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            anyhow::bail!("standard output: {e}")
        }
        _ => {}
    }
    Ok(if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn targets(args: cli::TargetsArgs) -> anyhow::Result<ExitCode> {
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

/// The chosen target, or the one the interpreter's ELF header names (printed).
fn resolve_target(
    choice: &config::TargetChoice,
    interpreter: &Path,
    elf: &elf::ElfFile,
    quiet: bool,
) -> anyhow::Result<target::Target> {
    if let Some(t) = &choice.target {
        return Ok(t.clone());
    }
    let t = elf::detect_target(elf).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no known target runs {}; give --target",
            interpreter.display(),
            elf.describe()
        )
    })?;
    report::info(
        quiet,
        &format!(
            "target: {} (detected from {})",
            t.name,
            interpreter.display()
        ),
    );
    Ok(t.clone())
}

fn bundle(args: cli::BundleArgs) -> anyhow::Result<ExitCode> {
    let interrupted = archive::interrupt_flag();
    let config = config::BundleConfig::from_args(args)?;
    // Without a venv, one is assembled from the interpreter and the requirements; it lives in
    // a temporary directory until the bundle is written.
    let (venv, target, _assembly) = match &config.assemble {
        None => {
            let venv = venv::Venv::discover(&config.venv)?;
            let target = resolve_target(
                &config.target,
                &venv.interpreter,
                &venv.interpreter_elf,
                config.quiet,
            )?;
            (venv, target, None)
        }
        Some(assemble) => {
            let interp = assemble::Interpreter::find(&assemble.python)?;
            let target = resolve_target(&config.target, &interp.path, &interp.elf, config.quiet)?;
            let name = config.arcroot_for(&assemble.name())?;
            let assembly = assemble::assemble(
                &interp,
                &target,
                config.target.glibc,
                assemble,
                &name,
                interrupted,
                |m| report::info(config.quiet, m),
            )?;
            for pin in &assembly.skipped {
                report::info(
                    config.quiet,
                    &format!(
                        "{}=={}: markers leave it out for {}",
                        pin.name, pin.version, target.name
                    ),
                );
            }
            report::info(
                config.quiet,
                &format!(
                    "installed {} wheel(s) ({} fetched) for Python {} on {}",
                    assembly.installed.len(),
                    assembly.downloaded,
                    interp.version.full,
                    target.name
                ),
            );
            for w in &assembly.installed {
                for path in &w.overwritten {
                    report::warning(&format!(
                        "{}: {} overwrote a file another wheel had installed",
                        path.strip_prefix(&assembly.venv).unwrap_or(path).display(),
                        w.name
                    ));
                }
            }
            let venv = venv::Venv::discover(&assembly.venv)?;
            (venv, target, Some(assembly))
        }
    };
    let name = venv.name();
    let arcroot = config.arcroot_for(&name)?;
    let output = config.output_for(&name, &target)?;

    let started = std::time::Instant::now();
    let plan = plan::build(&venv, &config, &arcroot, &output, interrupted)
        .map_err(|e| naming_output(&output)(e.into()))?;
    if config.verbose {
        report::info(
            false,
            &format!(
                "planned {} entries in {:.2} s",
                plan.entries.len(),
                started.elapsed().as_secs_f64()
            ),
        );
        for (path, rewrite) in &plan.rewritten {
            report::info(false, &format!("rewrites {} ({rewrite:?})", path.display()));
        }
    }
    for w in &plan.warnings {
        report::warning(w);
    }
    for line in &plan.trimmed {
        report::info(config.quiet, line);
    }
    // One pass: every file is read once, hashed, checked and stored; the bundle is renamed
    // into place only if the checks pass.
    let mut writer = archive::Writer::create(&output, &plan, &config.compression)?;
    for stale in &writer.removed_stale {
        report::info(
            config.quiet,
            &format!(
                "removed {}, left by an earlier run that was killed",
                stale.display()
            ),
        );
    }
    let progress = report::Progress::new(config.quiet, "bundling", || plan.file_totals());
    let started = std::time::Instant::now();
    let digest = writer
        .append_plan(&plan, &target, config.target.glibc, interrupted, &|bytes| {
            progress.file_done(bytes)
        })
        .map_err(|e| naming_output(&output)(e.into()))?;
    progress.finish();
    if config.verbose {
        let bytes: u64 = digest.files.iter().map(|f| f.size).sum();
        report::info(
            false,
            &format!(
                "read, checked and compressed {} files ({} bytes) in {:.2} s",
                digest.files.len(),
                bytes,
                started.elapsed().as_secs_f64()
            ),
        );
    }
    report::leaks(&digest);
    if digest.elf.offenders.is_empty() {
        report::offenders(&digest.elf, false);
    } else {
        report::offenders(&digest.elf, !config.no_check);
        if !config.no_check {
            drop(writer);
            report::error(
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
        .source_date_epoch
        .unwrap_or_else(|| plan.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
    let manifest = report::Manifest::new(&plan, &digest, &venv, &target);
    writer.finish(report::MANIFEST, manifest.len(), manifest.reader(), mtime)?;
    report::info(config.quiet, &digest.elf.summary());
    report::info(
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

/// The options `check` and `inspect` build a venv's plan with: as `rvenv bundle` would, with
/// editable installs allowed (they are reported, not refused) and nothing written.
fn plan_config(path: &Path, choice: &config::TargetChoice) -> config::BundleConfig {
    config::BundleConfig {
        venv: path.to_path_buf(),
        target: choice.clone(),
        no_check: false,
        output: None,
        arcroot: None,
        keep_stdlib_tests: false,
        allow_editable: true,
        quiet: true,
        verbose: false,
        source_date_epoch: None,
        assemble: None,
        trim: config::TrimConfig::default(),
        compression: archive::Compression {
            format: compress::Format::Tar,
            level: 0,
            jobs: 1,
        },
    }
}

/// `rvenv check`: a venv is checked as it would be bundled; an extracted bundle or a tarball as
/// it is.
fn check(args: cli::CheckArgs) -> anyhow::Result<ExitCode> {
    let interrupted = archive::interrupt_flag();
    let choice = config::TargetChoice::from_args(&args.target)?;
    let path = &args.path;
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // A venv is checked as it would be bundled; a bundle (directory or tarball) as it is.
    let (target, contents) = if meta.is_dir() && !path.join(report::MANIFEST).is_file() {
        let venv = venv::Venv::discover(path)?;
        let target = resolve_target(&choice, &venv.interpreter, &venv.interpreter_elf, args.json)?;
        let config = plan_config(path, &choice);
        let nowhere = Path::new("/nonexistent/rvenv-check.tar.gz");
        let plan = plan::build(&venv, &config, &venv.name(), nowhere, interrupted)?;
        let progress = report::Progress::new(args.json, "checking", || plan.file_totals());
        let contents = archive::read_plan(&plan, interrupted, &|bytes| progress.file_done(bytes))?;
        progress.finish();
        (target, contents)
    } else {
        let contents = if meta.is_dir() {
            archive::read_dir_tree(path)?
        } else {
            archive::read_tarball(path)?
        };
        let interpreter = contents.binaries.iter().find_map(|(p, i)| match i {
            elf::Inspection::Elf(e) if p.starts_with("python/bin") => Some((p, e)),
            _ => None,
        });
        let target = match (&choice.target, interpreter) {
            (Some(t), _) => t.clone(),
            (None, Some((interp, elf))) => {
                resolve_target(&choice, &path.join(interp), elf, args.json)?
            }
            (None, None) => anyhow::bail!(
                "{}: no interpreter under python/bin to detect the target from; give --target",
                path.display()
            ),
        };
        (target, contents)
    };
    let lib_dirs = [Path::new(archive::BUNDLE_LIB_DIR)];
    let report = elf::Report::build(
        &target,
        choice.glibc,
        contents.binaries,
        &|p| contents.present.contains(p),
        &lib_dirs,
    );
    if args.json {
        println!("{}", report::check_json(&report));
    } else {
        report::offenders(&report, true);
        println!("{}", report.summary());
    }
    Ok(if report.offenders.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes `text` to standard output; a reader that stops early (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            anyhow::bail!("standard output: {e}")
        }
        _ => Ok(()),
    }
}

/// `rvenv inspect`: a report, never a verdict (exit 0 unless the input cannot be read).
fn inspect(args: cli::InspectArgs) -> anyhow::Result<ExitCode> {
    let choice = config::TargetChoice::from_args(&args.target)?;
    let path = &args.path;
    let kind = inspect::layout(path)?;
    let ctx = inspect::Context {
        path,
        kind,
        choice: &choice,
    };
    let inspection = match kind {
        inspect::Layout::Venv => {
            let venv = venv::Venv::discover(path)?;
            let config = plan_config(path, &choice);
            let not_interrupted = std::sync::atomic::AtomicBool::new(false);
            let nowhere = Path::new("/nonexistent/rvenv-inspect.tar.gz");
            let plan = plan::build(&venv, &config, &venv.name(), nowhere, &not_interrupted)?;
            inspect::of_venv(&ctx, &venv, &plan)?
        }
        _ => inspect::of_bundle(&ctx)?,
    };
    if args.json {
        print_out(&(inspection.json() + "\n"))?;
    } else {
        print_out(&inspection.render())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `rvenv freeze`: pip freeze's text, from the metadata.
fn freeze(args: cli::FreezeArgs) -> anyhow::Result<ExitCode> {
    let (dists, minor) = inspect::distributions(&args.path)?;
    print_out(&dist::freeze(&dists, minor))?;
    Ok(ExitCode::SUCCESS)
}

fn completions(args: cli::CompletionsArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cli::Cli::command(), "rvenv", &mut out);
    print_out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

/// `rvenv man [COMMAND]`: rvenv(1), or rvenv-COMMAND(1).
fn man(args: cli::ManArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut cmd = cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let page = match &args.command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                report::error(
                    &format!("man {name}: no such command"),
                    Some(&format!("one of: {}", known.join(", "))),
                );
                return Ok(ExitCode::from(2));
            }
        },
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    print_out(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
