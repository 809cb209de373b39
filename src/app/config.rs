//! The command line, validated: `rvenv bundle`'s options as each stage's own options, and the
//! target choice every command that checks binaries takes. Everything here is decided before
//! any work is done.

use super::cli::{ArchiveArgs, BundleArgs, TargetArgs};
use crate::bundle::{assemble, plan, trim};
use crate::compress;
use crate::python::distro;
use crate::target::{self, Choice, GlibcVersion, Target};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Target(#[from] target::Error),
    #[error("--glibc '{0}': not a glibc version like 2.31")]
    BadGlibc(String),
    #[error("--allow '{rule}': {message}")]
    BadAllow { rule: String, message: String },
    #[error("--arcroot '{0}': must be one non-empty path component (no '/', not '.' or '..')")]
    BadArcroot(String),
    #[error("SOURCE_DATE_EPOCH '{0}': not a non-negative integer number of seconds")]
    BadSourceDateEpoch(String),
    #[error("{0}: the output's directory does not exist")]
    NoOutputDir(PathBuf),
    #[error("{0}: the output's directory is not a directory")]
    OutputDirNotADirectory(PathBuf),
    #[error("{0}: the output path is a directory")]
    OutputIsADirectory(PathBuf),
    #[error("{0}: the output exists and is not a regular file (a device, FIFO or socket)")]
    OutputNotAFile(PathBuf),
    #[error("{output}: the name says {named}, but --format is {format}")]
    FormatMismatch {
        output: PathBuf,
        named: &'static str,
        format: &'static str,
    },
    #[error("--level {level}: {format} takes {min} to {max}")]
    BadLevel {
        level: u32,
        format: &'static str,
        min: u32,
        max: u32,
    },
    #[error("--jobs 0: at least one thread is needed")]
    NoJobs,
    #[error(transparent)]
    Trim(#[from] crate::bundle::trim::Error),
    #[error(transparent)]
    Distro(#[from] distro::Error),
    #[error(
        "{0} is for the CPython fetched from a distribution's archive; --python names the interpreter itself"
    )]
    ArchiveWithPython(&'static str),
    #[error("-r without --python needs a distribution preset as --target, to fetch its CPython")]
    NoTargetForArchive,
    #[error(
        "{0} is for the CPython fetched for a distribution preset (with -r, or for a venv retargeted to another CPU), and no --target was given"
    )]
    ArchiveWithoutRequirements(&'static str),
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Trim(e) => e.hint(),
            Error::Target(e) => e.hint(),
            Error::Distro(e) => e.hint(),
            Error::ArchiveWithPython(_) => Some("leave out one of the two"),
            Error::BadAllow { .. } => Some(
                "write GLOB:KIND, e.g. '**/_rust.abi3.so:arm-arch'; KIND is one of architecture, os-abi, float-abi, arm-arch, loader, glibc, libstdcxx, missing-library, search-path, malformed, foreign",
            ),
            Error::ArchiveWithoutRequirements(_) => {
                Some("leave it out, or bundle from -r requirements.txt instead of a venv")
            }
            Error::NoTargetForArchive => Some(
                "add --target with a preset (rvenv python list shows them), or give the target's interpreter with --python PATH",
            ),
            Error::NoOutputDir(_) => {
                Some("create the directory first, or give -o a path in an existing one")
            }
            _ => None,
        }
    }
}

/// `--allow` rules, each checked before any work is done.
pub fn allow_rules(rules: &[String]) -> Result<Vec<crate::elf::Allow>, Error> {
    rules
        .iter()
        .map(|r| {
            crate::elf::Allow::parse(r).map_err(|message| Error::BadAllow {
                rule: r.clone(),
                message,
            })
        })
        .collect()
}

/// The target to check against, from `--target`, `--target-file` and `--glibc`.
pub fn target_choice(args: &TargetArgs) -> Result<Choice, Error> {
    let target = match (&args.target, &args.target_file) {
        (Some(name), _) => Some(target::find(name)?.clone()),
        (None, Some(file)) => Some(target::from_file(file)?),
        (None, None) => None,
    };
    let glibc = args
        .glibc
        .as_deref()
        .map(|g| GlibcVersion::parse(g).ok_or_else(|| Error::BadGlibc(g.to_string())))
        .transpose()?;
    Ok(Choice { target, glibc })
}

/// The interpreter a venv is assembled for.
#[derive(Debug, Clone)]
pub enum PythonSource {
    /// `--python PATH`.
    Given(PathBuf),
    /// The preset's own CPython, from its distribution's archive or the cache.
    Archive(distro::Options),
}

/// `--python-version`, `--mirror`, `--keyring` and the cache, as the archive client's options.
pub fn archive_options(
    args: &ArchiveArgs,
    cache: Option<PathBuf>,
    refresh: bool,
    quiet: bool,
) -> Result<distro::Options, Error> {
    Ok(distro::Options {
        cache: distro::cache_dir(cache.or_else(|| args.python_cache.clone()))?,
        mirror: args.mirror.clone(),
        keyring: args.keyring.clone(),
        version: args.python_version.clone(),
        refresh,
        quiet,
        etc_apt: PathBuf::from("/etc/apt"),
    })
}

/// `rvenv bundle`'s options, validated, as the options of each stage it runs.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    /// As given; `None`: `$VIRTUAL_ENV`, then `./.venv` (`venv::default_path`).
    pub venv: Option<PathBuf>,
    pub target: Choice,
    /// Violations become warnings.
    pub no_check: bool,
    /// `--allow GLOB:KIND`: problems the check accepts.
    pub allow: Vec<crate::elf::Allow>,
    /// `None`: `<venv-dir-name>-<target>.tar.gz` in the current directory.
    pub output: Option<PathBuf>,
    pub arcroot: Option<String>,
    pub quiet: bool,
    pub verbose: bool,
    pub plan: plan::Options,
    pub compression: compress::Settings,
    /// `--python`, or the preset's CPython for `-r` (for a venv, `None`: its own, or the
    /// preset's when it is retargeted).
    pub python: Option<PythonSource>,
    /// `-r`: no venv; one is assembled from wheels for the interpreter.
    pub requirements: Option<PathBuf>,
    /// The preset's archive options (`--mirror`, `--keyring`, the cache), when there is a
    /// cache folder.
    pub archive: Option<distro::Options>,
    /// Where wheels come from and how what has none is built (`-r`, a retargeted venv).
    pub wheels: assemble::Options,
    /// What to leave out or shrink; nothing by default.
    pub trim: trim::Options,
}

fn trim_options(args: &super::cli::SizeArgs) -> Result<trim::Options, Error> {
    let pycache = match (args.no_pycache, args.compile) {
        (true, _) => trim::Pycache::Drop,
        (false, true) => trim::Pycache::Compile,
        // clap's `conflicts_with` keeps the two apart.
        (false, false) => trim::Pycache::Keep,
    };
    Ok(trim::Options {
        exclude: trim::Exclude::new("--exclude", &args.exclude)?,
        strip_tests: args.strip_tests,
        pycache,
        strip_debug: args.strip_debug,
        keep_debug: args.keep_debug,
        keep: trim::Exclude::new("--keep", &args.keep)?,
        slim: args.slim,
    })
}

fn check_arcroot(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::BadArcroot(name.to_string()));
    }
    Ok(())
}

/// The output must land in an existing directory; checked before any work is done.
pub fn check_output(out: &Path) -> Result<(), Error> {
    if out.is_dir() {
        return Err(Error::OutputIsADirectory(out.to_path_buf()));
    }
    // The bundle is renamed over the output: a device or FIFO there (-o /dev/null) would be
    // replaced by a regular file.
    if let Ok(m) = std::fs::metadata(out)
        && !m.is_file()
    {
        return Err(Error::OutputNotAFile(out.to_path_buf()));
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::OutputDirNotADirectory(dir.to_path_buf())),
        Err(_) => Err(Error::NoOutputDir(dir.to_path_buf())),
    }
}

/// Format from `--format` or the output's name (they must agree), level and threads checked.
fn compression(args: &BundleArgs) -> Result<compress::Settings, Error> {
    use compress::Format;
    let named = args.output.as_deref().and_then(Format::from_name);
    let format = match (args.format, named) {
        (Some(f), Some(n)) if f != n => {
            return Err(Error::FormatMismatch {
                output: args.output.clone().unwrap_or_default(),
                named: n.extension(),
                format: f.extension(),
            });
        }
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => Format::TarGz,
    };
    let level = args.level.unwrap_or(format.default_level());
    let range = format.levels();
    if !range.contains(&level) {
        return Err(Error::BadLevel {
            level,
            format: format.extension(),
            min: *range.start(),
            max: *range.end(),
        });
    }
    let jobs = match args.jobs {
        Some(0) => return Err(Error::NoJobs),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(compress::Settings {
        format,
        level,
        jobs,
    })
}

impl BundleConfig {
    pub fn from_args(args: BundleArgs) -> Result<BundleConfig, Error> {
        let target = target_choice(&args.target)?;
        if let Some(a) = &args.arcroot {
            check_arcroot(a)?;
        }
        if let Some(out) = &args.output {
            check_output(out)?;
        }
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| Error::BadSourceDateEpoch(v.clone()))?,
            ),
            _ => None,
        };
        let compression = compression(&args)?;
        let trim = trim_options(&args.size)?;
        let archive_flags = [
            (args.archive.python_version.is_some(), "--python-version"),
            (args.archive.mirror.is_some(), "--mirror"),
            (args.archive.keyring.is_some(), "--keyring"),
            (args.archive.python_cache.is_some(), "--python-cache"),
        ];
        let given_flag = archive_flags.iter().find(|(set, _)| *set).map(|(_, f)| *f);
        let source = match (&args.python, &args.requirements, given_flag) {
            (Some(_), _, Some(flag)) => return Err(Error::ArchiveWithPython(flag)),
            (Some(python), _, None) => Some(PythonSource::Given(python.clone())),
            (None, Some(_), _) => {
                let Some(t) = &target.target else {
                    return Err(Error::NoTargetForArchive);
                };
                // Decided now, before anything is downloaded: a preset, and a version it has.
                distro::choose_version(t, args.archive.python_version.as_deref())?;
                Some(PythonSource::Archive(archive_options(
                    &args.archive,
                    None,
                    false,
                    args.quiet,
                )?))
            }
            (None, None, Some(flag)) if target.target.is_none() => {
                return Err(Error::ArchiveWithoutRequirements(flag));
            }
            // A venv: its interpreter, unless it is for another CPU (then retargeted, with the
            // preset's CPython of the venv's version).
            (None, None, _) => None,
        };
        // For the headers of a cross build and a retargeted venv's interpreter.
        let archive = match &source {
            Some(PythonSource::Archive(a)) => Some(a.clone()),
            _ => archive_options(&args.archive, None, false, args.quiet).ok(),
        };
        let wheels = assemble::Options {
            find_links: args.wheels.find_links,
            no_index: args.wheels.no_index,
            index_url: args.wheels.index_url,
            no_deps_check: args.no_deps_check,
            build: (!args.wheels.no_build).then(|| crate::cross::Options {
                build_python: args.wheels.build_python,
                sysroot_packages: args.wheels.sysroot_package,
                cache: crate::cross::cache_dir(),
            }),
        };
        Ok(BundleConfig {
            compression,
            python: source,
            requirements: args.requirements,
            archive,
            wheels,
            trim,
            venv: args.venv,
            target,
            no_check: args.no_check,
            allow: allow_rules(&args.allow)?,
            output: args.output,
            arcroot: args.arcroot,
            quiet: args.quiet,
            verbose: args.verbose,
            plan: plan::Options {
                source_date_epoch,
                keep_stdlib_tests: args.size.keep_stdlib_tests,
                allow_editable: args.allow_editable,
            },
        })
    }

    /// The archive root: `--arcroot`, else the venv directory's name (checked like `--arcroot`).
    pub fn arcroot_for(&self, venv_name: &str) -> Result<String, Error> {
        let name = self
            .arcroot
            .clone()
            .unwrap_or_else(|| venv_name.to_string());
        check_arcroot(&name)?;
        Ok(name)
    }

    pub fn output_for(&self, venv_name: &str, target: &Target) -> Result<PathBuf, Error> {
        let out = self.output.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "{venv_name}-{}.{}",
                target.name,
                self.compression.format.extension()
            ))
        });
        check_output(&out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcroot_rules() {
        assert!(check_arcroot("app").is_ok());
        for bad in ["", ".", "..", "a/b"] {
            assert!(check_arcroot(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_rules() {
        assert!(check_output(Path::new("x.tar.gz")).is_ok());
        assert!(matches!(
            check_output(Path::new("/no/such/dir/x.tar.gz")),
            Err(Error::NoOutputDir(_))
        ));
        assert!(matches!(
            check_output(Path::new("/")),
            Err(Error::OutputIsADirectory(_))
        ));
        assert!(matches!(
            check_output(Path::new("/dev/null")),
            Err(Error::OutputNotAFile(_))
        ));
    }
}
