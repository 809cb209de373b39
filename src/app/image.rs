//! `rvenv image`: the bundle (as `rvenv bundle` makes it, re-created for the target when the
//! venv is for another CPU) and the target release's own packages as an OCI image.

use super::cli::{BundleArgs, ImageArgs};
use super::config;
use crate::error::{Error, Result};
use crate::image;
use crate::ui;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A name an image reference accepts: lower case, digits and `._-`, from the project folder
/// (the venv's parent when the venv is a hidden `.venv`).
fn default_name(args: &ImageArgs) -> String {
    let from = match (&args.requirements, &args.venv) {
        (Some(r), _) => crate::bundle::assemble::project_name(r),
        (None, Some(v)) => {
            let abs = std::path::absolute(v).unwrap_or_else(|_| v.clone());
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || name == "venv" {
                abs.parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(name)
            } else {
                name
            }
        }
        (None, None) => std::env::current_dir()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    };
    let clean: String = from
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if clean.is_empty() {
        "app".into()
    } else {
        clean
    }
}

pub fn run(args: ImageArgs) -> Result<ExitCode> {
    let interrupted = crate::interrupt::flag();
    let choice = config::target_choice(&args.target)?;
    let Some(target) = choice.target.clone() else {
        return Err(Error::new(
            "rvenv image needs --target: a distribution preset, whose release gives the base layer",
        )
        .with_hint("pick one with --target (rvenv python list shows them)"));
    };
    crate::python::distro::distribution(&target)?;
    let output = args.output.clone();
    // Refused before any work: where the image goes must be writable and of the right kind.
    match args.format {
        image::Format::OciLayout => {
            if output.is_file() {
                return Err(Error::new(format!(
                    "{}: a file; --format oci-layout writes a folder",
                    output.display()
                ))
                .with_hint("name a folder (it is replaced), or use --format oci-archive"));
            }
            let parent = output
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(Error::new(format!("{}: no such folder", parent.display()))
                    .with_hint("create it first, or name another output"));
            }
        }
        _ => config::check_output(&output)?,
    }
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if std::fs::metadata(&parent).is_ok_and(|m| m.permissions().readonly())
        || tempfile::tempfile_in(&parent).is_err()
    {
        return Err(
            Error::new(format!("{}: cannot write there", parent.display()))
                .with_hint("name an output in a folder you can write"),
        );
    }
    let tag = match &args.tag {
        Some(t) if t.contains(':') => t.clone(),
        Some(t) => format!("{t}:latest"),
        None => format!("{}:latest", default_name(&args)),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::new(format!("SOURCE_DATE_EPOCH={v}: not a number of seconds")))?,
        _ => 0,
    };
    let archive = config::archive_options(&args.archive, None, false, args.quiet)?;

    // The bundle, as `rvenv bundle` writes it, into a private folder.
    let work = tempfile::Builder::new()
        .prefix("rvenv-image-")
        .tempdir()
        .map_err(crate::error::io(&std::env::temp_dir()))?;
    let bundle_path: PathBuf = work.path().join("app.tar");
    let bundle = BundleArgs {
        venv: args.venv.clone(),
        target: args.target.clone(),
        no_check: false,
        output: Some(bundle_path.clone()),
        arcroot: Some("app".into()),
        keep_stdlib_tests: false,
        allow_editable: false,
        quiet: args.quiet,
        verbose: false,
        format: Some(crate::compress::Format::Tar),
        level: None,
        jobs: None,
        python: args.python.clone(),
        requirements: args.requirements.clone(),
        archive: args.archive.clone(),
        find_links: args.find_links.clone(),
        no_index: args.no_index,
        index_url: args.index_url.clone(),
        no_build: args.no_build,
        build_python: args.build_python.clone(),
        sysroot_package: args.sysroot_package.clone(),
        no_deps_check: false,
        exclude: args.exclude.clone(),
        keep: Vec::new(),
        strip_tests: args.strip_tests,
        no_pycache: args.no_pycache,
        compile: args.compile,
        strip_debug: false,
    };
    let code = super::bundle::run(bundle)?;
    if !bundle_path.is_file() {
        // The bundle was refused (a check failure); its messages are out already.
        return Ok(code);
    }
    let options = image::Options {
        tag: tag.clone(),
        entrypoint: args.entrypoint.clone(),
        format: args.format,
        with_busybox: args.with_busybox,
        epoch,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let built = image::build(
        &bundle_path,
        &target,
        &archive,
        &options,
        &output,
        interrupted,
    )
    .map_err(|e| Error::from(e).naming_output(&output))?;
    for (soname, package) in &built.providers {
        if args.quiet {
            break;
        }
        ui::info(false, &format!("{soname}: from {package}"));
    }
    ui::info(
        args.quiet,
        &format!(
            "wrote {} ({:?}, {tag}, {}): base layer {} ({} package(s), {}), app layer {} ({})",
            output.display(),
            args.format,
            built.manifest,
            &built.layers[0].0[..19],
            built.packages.len(),
            ui::human(built.layers[0].1),
            &built.layers[1].0[..19],
            ui::human(built.layers[1].1),
        ),
    );
    Ok(ExitCode::SUCCESS)
}
