//! `rvenv python fetch` and `rvenv python list`: a distribution preset's own CPython, from its
//! archive into the cache (or a folder to carry offline).

use super::cli::{PythonArgs, PythonCommand, PythonFetchArgs, PythonListArgs};
use super::config::{self, archive_options};
use crate::error::Result;
use crate::python::distro;
use crate::target::{self, Target};
use crate::ui;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

pub fn run(args: PythonArgs) -> Result<ExitCode> {
    match args.command {
        PythonCommand::Fetch(a) => fetch(a),
        PythonCommand::List(a) => list(a),
    }
}

/// The interpreter for `target`, from the cache or the archive, with one line saying which.
pub fn fetch_for(
    target: &Target,
    options: &distro::Options,
    interrupted: &AtomicBool,
) -> Result<distro::Fetched> {
    let fetched = distro::fetch(target, options, interrupted)?;
    let r = &fetched.record;
    let what = r
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(", ");
    let how = match (fetched.read_archive, fetched.downloaded) {
        (false, _) => format!(
            "from the cache (fetched from {}; --refresh reads the archive again)",
            r.mirror
        ),
        (true, 0) => "verified against the archive's index, packages from the cache".to_string(),
        (true, n) => format!("{n} package(s) downloaded and verified"),
    };
    ui::info(
        options.quiet,
        &format!(
            "python: {} {} {} ({what}), {how}",
            r.distribution, r.release, r.architecture
        ),
    );
    Ok(fetched)
}

fn fetch(args: PythonFetchArgs) -> Result<ExitCode> {
    let target = target::find(&args.target).map_err(config::Error::from)?;
    distro::choose_version(target, args.archive.python_version.as_deref())
        .map_err(config::Error::from)?;
    let options = archive_options(&args.archive, args.output, args.refresh, args.quiet)?;
    let fetched = fetch_for(target, &options, crate::interrupt::flag())?;
    super::print_out(&format!("{}\n", fetched.python.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn list(args: PythonListArgs) -> Result<ExitCode> {
    let presets: Vec<&Target> = match &args.target {
        Some(name) => {
            let t = target::find(name).map_err(config::Error::from)?;
            distro::distribution(t).map_err(config::Error::from)?;
            vec![t]
        }
        None => target::catalogue()
            .iter()
            .filter(|t| t.distribution.is_some())
            .collect(),
    };
    let cache = distro::cache_dir(args.python_cache).ok();
    let mut rows = vec![[
        "PRESET".to_string(),
        "RELEASE".into(),
        "ARCH".into(),
        "PYTHON".into(),
        "CACHED".into(),
    ]];
    for t in presets {
        let d = t.distribution.as_ref().expect("filtered to presets");
        let cached: Vec<String> = d
            .python
            .iter()
            .filter(|v| {
                cache
                    .as_ref()
                    .is_some_and(|c| distro::cached(&distro::cached_root(c, d, v)).is_some())
            })
            .cloned()
            .collect();
        rows.push([
            t.name.clone(),
            format!("{} {}", d.name, d.release),
            d.architecture.clone(),
            d.python.join(", "),
            if cached.is_empty() {
                "-".into()
            } else {
                cached.join(", ")
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    super::print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}
