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
    let mut targets = Vec::new();
    for name in &args.target {
        let choice = config::target_choice(&super::cli::TargetArgs {
            target: Some(name.clone()),
            ..Default::default()
        })?;
        let target = choice.target.expect("a --target was named");
        crate::python::distro::distribution(&target)?;
        if targets
            .iter()
            .any(|t: &crate::target::Target| t.name == target.name)
        {
            return Err(Error::new(format!("--target {name}: named twice"))
                .with_hint("name each target once"));
        }
        targets.push(target);
    }
    if targets.len() > 1 && args.python.is_some() {
        return Err(
            Error::new("--python names one interpreter, and several --target were given")
                .with_hint("leave out --python: each preset's own CPython is fetched"),
        );
    }
    if targets.len() > 1 && args.format == image::Format::DockerArchive {
        return Err(Error::new(
            "--format docker-archive holds one platform, and several --target were given",
        )
        .with_hint("use --format oci-archive or oci-layout for a multi-platform image"));
    }
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
            // Only an earlier image layout (or an empty folder) is replaced.
            let empty = std::fs::read_dir(&output).is_ok_and(|mut d| d.next().is_none());
            if output.is_dir() && !empty && !output.join("oci-layout").is_file() {
                return Err(Error::new(format!(
                    "{}: a folder that is not an OCI image layout; rvenv replaces only an earlier layout",
                    output.display()
                ))
                .with_hint("name a new or empty folder"));
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
    // A venv's console scripts are known before anything is bundled.
    if let (Some(name), Some(venv)) = (&args.entrypoint, &args.venv)
        && venv.join("pyvenv.cfg").is_file()
        && !venv.join("bin").join(name).is_file()
    {
        return Err(image::Error::NoEntrypoint {
            name: name.clone(),
            scripts: std::fs::read_dir(venv.join("bin"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with("python") && !n.starts_with("activate"))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
        .into());
    }

    // The bundles, as `rvenv bundle` writes them, into a private folder.
    let work = tempfile::Builder::new()
        .prefix("rvenv-image-")
        .tempdir()
        .map_err(crate::error::io(&std::env::temp_dir()))?;
    let mut bundles = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let bundle_path: PathBuf = work.path().join(format!("app-{i}.tar"));
        let code = super::bundle::run(bundle_args(&args, &target.name, &bundle_path))?;
        if !bundle_path.is_file() {
            // The bundle was refused (a check failure); its messages are out already.
            return Ok(code);
        }
        bundles.push((bundle_path, target));
    }
    let options = image::Options {
        tag: tag.clone(),
        entrypoint: args.entrypoint.clone(),
        format: args.format,
        with_busybox: args.with_busybox,
        epoch,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let built = image::build(&bundles, &archive, &options, &output, interrupted)
        .map_err(|e| Error::from(e).naming_output(&output))?;
    for b in &built {
        for (soname, package) in &b.providers {
            if !args.quiet {
                ui::info(false, &format!("{}: {soname} from {package}", b.target));
            }
        }
        ui::info(
            args.quiet,
            &format!(
                "{}: image {}: base layer {} ({} package(s), {}), app layer {} ({})",
                b.target,
                b.manifest,
                &b.layers[0].0[..19],
                b.packages.len(),
                ui::human(b.layers[0].1),
                &b.layers[1].0[..19],
                ui::human(b.layers[1].1),
            ),
        );
    }
    ui::info(
        args.quiet,
        &format!(
            "wrote {} ({}, {tag}, {} platform(s))",
            output.display(),
            match args.format {
                image::Format::OciArchive => "oci-archive",
                image::Format::OciLayout => "oci-layout",
                image::Format::DockerArchive => "docker-archive",
            },
            built.len()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `rvenv bundle`'s arguments for one target's bundle: a plain tar, its top folder `app`.
fn bundle_args(args: &ImageArgs, target: &str, output: &Path) -> BundleArgs {
    BundleArgs {
        venv: args.venv.clone(),
        target: super::cli::TargetArgs {
            target: Some(target.to_string()),
            ..Default::default()
        },
        no_check: false,
        allow: args.allow.clone(),
        output: Some(output.to_path_buf()),
        arcroot: Some("app".into()),
        allow_editable: false,
        quiet: args.quiet,
        verbose: false,
        format: Some(crate::compress::Format::Tar),
        level: None,
        jobs: None,
        python: args.python.clone(),
        requirements: args.requirements.clone(),
        archive: args.archive.clone(),
        wheels: args.wheels.clone(),
        no_deps_check: false,
        size: args.size.clone(),
    }
}
