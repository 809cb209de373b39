//! A bundle without a venv: a target interpreter and a frozen requirements file become a venv
//! in a private temporary directory, which then goes through the same pipeline as any venv.
//! Wheels are chosen by the target's tags and installed here (see `wheel`); the target's
//! interpreter is never run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pep508_rs::PackageName;

use crate::elf::ElfFile;
use crate::python::requirements::{self, Pin, Requirements};
use crate::python::venv::{self, PythonVersion};
use crate::target::{GlibcVersion, Target};
use crate::wheel::{self, Tags, WheelName};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such file")]
    NoPython(PathBuf),
    #[error("{0}: not an ELF executable, so not an interpreter rvenv can bundle")]
    NotElf(PathBuf),
    #[error(
        "{0}: cannot tell the Python version: neither the file name (python3.X) nor a lib/python3.X/os.py above it says"
    )]
    NoVersion(PathBuf),
    #[error(transparent)]
    Venv(#[from] venv::Error),
    #[error(transparent)]
    Elf(#[from] crate::elf::Error),
    #[error(transparent)]
    Requirements(#[from] requirements::Error),
    #[error(transparent)]
    Wheel(#[from] wheel::Error),
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error("{}", missing_message(.missing, .tags, .searched))]
    NoWheel {
        missing: Vec<Missing>,
        tags: Vec<String>,
        searched: Vec<String>,
    },
    #[error("{file}: its sha256 {actual} is not among the --hash pins of {requirement}")]
    HashMismatch {
        requirement: String,
        file: PathBuf,
        actual: String,
    },
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    #[error("pip could not be run to fetch wheels ({command}): {message}")]
    Pip { command: String, message: String },
    #[error("{requirements}: the pinned set does not satisfy {} requirement(s) of its packages:\n  {}", .unmet.len(), .unmet.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Unmet {
        requirements: PathBuf,
        unmet: Vec<requirements::Unmet>,
    },
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::NoWheel { .. } => Some(
                "put a wheel built for the target in a --find-links folder (piwheels.org has armv6l/armv7l wheels), or pin a version that has one",
            ),
            Error::HashMismatch { .. } => Some(
                "the file is not the one the requirements were locked with; fetch it again or regenerate the hashes",
            ),
            Error::Pip { .. } => Some(
                "install pip for this machine's python3, or pass --no-index with --find-links folders that hold every wheel",
            ),
            Error::Unmet { .. } => Some(
                "add the missing packages to the requirements (`pip freeze --all` in a venv where the app works lists them all; plain `pip freeze` leaves out pip and setuptools), or pass --no-deps-check",
            ),
            Error::Requirements(e) => e.hint(),
            _ => None,
        }
    }
}

/// A requirement no wheel was found for, and the wheels of it that were found but do not fit.
#[derive(Debug)]
pub struct Missing {
    pub requirement: String,
    pub unfit: Vec<String>,
}

fn missing_message(missing: &[Missing], tags: &[String], searched: &[String]) -> String {
    let names: Vec<&str> = missing.iter().map(|m| m.requirement.as_str()).collect();
    let mut out = format!(
        "no wheel for the target for {} requirement(s): {}",
        missing.len(),
        names.join(", ")
    );
    let shown = match tags {
        [] => String::new(),
        [a, b, c, .., last] => format!("{a}, {b}, {c}, ..., {last}"),
        all => all.join(", "),
    };
    out.push_str(&format!(
        "\n  tags tried, best first: {shown} ({} in all)\n  searched: {}",
        tags.len(),
        searched.join(", ")
    ));
    for m in missing {
        for w in &m.unfit {
            out.push_str(&format!(
                "\n  {}: {w} does not fit the target",
                m.requirement
            ));
        }
    }
    out
}

/// Everything `bundle --python ... -r ...` was given.
#[derive(Debug, Clone)]
pub struct Options {
    pub requirements: PathBuf,
    pub find_links: Vec<PathBuf>,
    pub no_index: bool,
    pub index_url: Option<String>,
    pub no_deps_check: bool,
}

impl Options {
    /// The bundle's default name: the directory holding the requirements file (the project).
    pub fn name(&self) -> String {
        std::path::absolute(&self.requirements)
            .ok()
            .and_then(|p| p.canonicalize().ok().or(Some(p)))
            .and_then(|p| {
                p.parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "app".into())
    }
}

/// A target interpreter inside its installation tree, found without running it.
#[derive(Debug)]
pub struct Interpreter {
    /// Absolute, as given (the venv's `bin/python` will point here).
    pub path: PathBuf,
    pub elf: ElfFile,
    pub version: PythonVersion,
    pub stdlib: PathBuf,
}

/// `3.11.2` as a NUL-terminated string in CPython's read-only data (`PY_VERSION`), which the
/// interpreter or its libpython carries; the stdlib only knows `3.11`.
fn full_version(bytes: &[u8], version: &PythonVersion) -> Option<String> {
    let prefix = format!("{}.{}.", version.major, version.minor);
    memchr::memmem::find_iter(bytes, prefix.as_bytes())
        .filter(|&i| i == 0 || bytes[i - 1] == 0)
        .find_map(|i| {
            let rest = &bytes[i..];
            let end = rest.iter().position(|b| *b == 0)?;
            let s = std::str::from_utf8(&rest[..end]).ok()?;
            let micro = &s[prefix.len()..];
            (!micro.is_empty()
                && micro.len() <= 8
                && micro.starts_with(|c: char| c.is_ascii_digit())
                && micro.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| s.to_string())
        })
}

impl Interpreter {
    pub fn find(path: &Path) -> Result<Interpreter, Error> {
        let path = std::path::absolute(path).map_err(crate::error::io(path))?;
        let real = path
            .canonicalize()
            .map_err(|_| Error::NoPython(path.clone()))?;
        if !real.is_file() {
            return Err(Error::NoPython(path));
        }
        let bytes = std::fs::read(&real).map_err(crate::error::io(&real))?;
        if !crate::elf::is_elf(&bytes) {
            return Err(Error::NotElf(path));
        }
        let elf = ElfFile::parse(&bytes, &real)?;
        let mut version = venv::version_from_name(&path)
            .or_else(|| venv::version_from_name(&real))
            .or_else(|| {
                // `python3` alone: the one lib/python3.X/os.py above it says which.
                real.ancestors().skip(1).find_map(|dir| {
                    let lib = std::fs::read_dir(dir.join("lib")).ok()?;
                    lib.flatten().find_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let v = PythonVersion::parse(name.strip_prefix("python")?)?;
                        e.path().join("os.py").is_file().then_some(v)
                    })
                })
            })
            .ok_or_else(|| Error::NoVersion(path.clone()))?;
        let cfg = venv::PyvenvCfg::parse(String::new());
        let (base_prefix, stdlib) = venv::find_base(&real, &cfg, &version)?;
        let libpython = venv::find_libpython(&real, &elf, &base_prefix)?;
        let carrier = match &libpython {
            Some(lib) => std::fs::read(&lib.path).map_err(crate::error::io(&lib.path))?,
            None => bytes,
        };
        if let Some(full) = full_version(&carrier, &version) {
            version.full = full;
        }
        Ok(Interpreter {
            path,
            elf,
            version,
            stdlib,
        })
    }
}

/// The assembled venv; its directory goes away when this is dropped.
pub struct Assembly {
    _dir: tempfile::TempDir,
    pub venv: PathBuf,
    pub installed: Vec<wheel::Installed>,
    pub skipped: Vec<Pin>,
    pub downloaded: usize,
}

fn sha256_hex(path: &Path) -> Result<String, Error> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(crate::error::io(path))?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

fn scan(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, WheelName)>, Error> {
    let mut out = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(crate::error::io(dir))?;
        for entry in entries {
            let entry = entry.map_err(crate::error::io(dir))?;
            let path = entry.path();
            if let Some(name) = entry.file_name().to_str().and_then(WheelName::parse) {
                out.push((path, name));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The best wheel for a pin among `found`: tags ranked as pip ranks them, and with `--hash`
/// pins only a file whose hash is pinned.
fn choose(
    pin: &Pin,
    found: &[(PathBuf, WheelName)],
    tags: &Tags,
) -> Result<Result<PathBuf, Vec<String>>, Error> {
    let same: Vec<&(PathBuf, WheelName)> = found
        .iter()
        .filter(|(_, w)| w.name == pin.name && w.version == pin.version)
        .collect();
    let mut fit: Vec<(usize, &PathBuf)> = same
        .iter()
        .filter_map(|(p, w)| tags.rank(w).map(|r| (r, p)))
        .collect();
    fit.sort();
    let unfit = same
        .iter()
        .filter(|(_, w)| tags.rank(w).is_none())
        .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let Some(&(_, best)) = fit.first() else {
        return Ok(Err(unfit));
    };
    if pin.hashes.is_empty() {
        return Ok(Ok(best.clone()));
    }
    let pinned: Vec<String> = pin
        .hashes
        .iter()
        .filter_map(|h| h.strip_prefix("sha256:"))
        .map(str::to_ascii_lowercase)
        .collect();
    for (_, path) in &fit {
        if pinned.contains(&sha256_hex(path)?) {
            return Ok(Ok((*path).clone()));
        }
    }
    Err(Error::HashMismatch {
        requirement: pin.text.clone(),
        file: best.clone(),
        actual: sha256_hex(best)?,
    })
}

/// `pip download` of the missing pins, with every tag the target accepts spelled out.
fn pip_download(
    pins: &[&Pin],
    tags: &Tags,
    version: &PythonVersion,
    options: &requirements::FileOptions,
    config: &Options,
    dest: &Path,
) -> Result<String, Error> {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .arg("--dest")
        .arg(dest)
        .args(["--implementation", "cp"])
        .args([
            "--python-version",
            &format!("{}.{}", version.major, version.minor),
        ]);
    for abi in [tags.abi.as_str(), "abi3", "none"] {
        cmd.args(["--abi", abi]);
    }
    for platform in &tags.platforms {
        cmd.args(["--platform", platform]);
    }
    if let Some(url) = config.index_url.as_ref().or(options.index_url.as_ref()) {
        cmd.args(["--index-url", url]);
    }
    for url in &options.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    for pin in pins {
        cmd.arg(format!("{}=={}", pin.name, pin.version));
    }
    let shown = "python3 -m pip download --no-deps --only-binary=:all: ...".to_string();
    let out = cmd.output().map_err(|e| Error::Pip {
        command: shown.clone(),
        message: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named pip") {
        return Err(Error::Pip {
            command: shown,
            message: "this machine's python3 has no pip".into(),
        });
    }
    // A failure is reported by requirement below; pip's last lines say why.
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    Ok(tail[tail.len().saturating_sub(3)..].join(" / "))
}

/// venv's own activate templates from the target's stdlib, filled in as `python -m venv`
/// would (older templates quote in the text, newer ones expect quoted values).
fn activate_scripts(interp: &Interpreter, root: &Path, name: &str) -> Result<(), Error> {
    let prompt_name: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '$' | '`' | '\\'))
        .collect();
    let dir = root.to_string_lossy();
    for sub in ["common", "posix"] {
        let templates = interp.stdlib.join("venv/scripts").join(sub);
        let Ok(entries) = std::fs::read_dir(&templates) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let quoted_in_text = text.contains("\"__VENV_DIR__\"");
            let prompt = if text.contains("(__VENV_PROMPT__)") {
                prompt_name.clone()
            } else {
                format!("({prompt_name}) ")
            };
            let value = |v: &str| {
                if quoted_in_text {
                    v.to_string()
                } else {
                    format!("'{v}'")
                }
            };
            let out = text
                .replace("__VENV_DIR__", &value(&dir))
                .replace("__VENV_NAME__", &value(&prompt_name))
                .replace("__VENV_PROMPT__", &value(&prompt))
                .replace("__VENV_BIN_NAME__", &value("bin"))
                .replace("__VENV_PYTHON__", &value(&format!("{dir}/bin/python")));
            let dest = root.join("bin").join(entry.file_name());
            std::fs::write(&dest, out).map_err(crate::error::io(&dest))?;
        }
    }
    Ok(())
}

/// Builds the venv: pyvenv.cfg and `bin/python*` pointing at the target interpreter (as
/// `python -m venv` lays them out), activate scripts, then each chosen wheel installed.
pub fn assemble(
    interp: &Interpreter,
    target: &Target,
    glibc: Option<GlibcVersion>,
    config: &Options,
    name: &str,
    interrupted: &std::sync::atomic::AtomicBool,
    mut progress: impl FnMut(&str),
) -> Result<Assembly, Error> {
    let stop = || {
        if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            Err(Error::Interrupted(crate::interrupt::Interrupted))
        } else {
            Ok(())
        }
    };
    let env = requirements::marker_environment(target, &interp.version);
    let reqs: Requirements = requirements::read(&config.requirements, &env)?;
    let tags = Tags::new(
        interp.version.major,
        interp.version.minor,
        &target.platform_tags(glibc),
    );

    let mut dirs = config.find_links.clone();
    dirs.extend(reqs.options.find_links.iter().cloned());
    let no_index = config.no_index || reqs.options.no_index;
    let mut searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let dir = tempfile::Builder::new()
        .prefix("rvenv-assemble-")
        .tempdir()
        .map_err(crate::error::io(&std::env::temp_dir()))?;
    let downloads = dir.path().join("wheels");
    std::fs::create_dir(&downloads).map_err(crate::error::io(&downloads))?;

    let found = scan(&dirs)?;
    let mut chosen: BTreeMap<PackageName, PathBuf> = BTreeMap::new();
    let mut missing: Vec<(&Pin, Vec<String>)> = Vec::new();
    for pin in &reqs.pins {
        match choose(pin, &found, &tags)? {
            Ok(path) => {
                chosen.insert(pin.name.clone(), path);
            }
            Err(unfit) => missing.push((pin, unfit)),
        }
    }
    let mut downloaded = 0;
    if !missing.is_empty() && !no_index {
        let pins: Vec<&Pin> = missing.iter().map(|(p, _)| *p).collect();
        progress(&format!(
            "fetching {} wheel(s) for {} with pip",
            pins.len(),
            target.name
        ));
        let said = pip_download(
            &pins,
            &tags,
            &interp.version,
            &reqs.options,
            config,
            &downloads,
        )?;
        stop()?;
        searched.push(
            match config
                .index_url
                .as_ref()
                .or(reqs.options.index_url.as_ref())
            {
                Some(url) => url.clone(),
                None => "the index (pip's configuration)".into(),
            },
        );
        let fetched = scan(std::slice::from_ref(&downloads))?;
        let mut still = Vec::new();
        for (pin, mut unfit) in missing {
            match choose(pin, &fetched, &tags)? {
                Ok(path) => {
                    downloaded += 1;
                    chosen.insert(pin.name.clone(), path);
                }
                Err(more) => {
                    unfit.extend(more);
                    if !said.is_empty() {
                        unfit.push(format!("(pip said: {said})"));
                    }
                    still.push((pin, unfit));
                }
            }
        }
        missing = still;
    }
    if !missing.is_empty() {
        return Err(Error::NoWheel {
            missing: missing
                .into_iter()
                .map(|(pin, unfit)| Missing {
                    requirement: format!("{}=={}", pin.name, pin.version),
                    unfit: unfit
                        .into_iter()
                        .filter(|u| !u.starts_with("(pip"))
                        .collect(),
                })
                .collect(),
            tags: tags_list(&tags),
            searched,
        });
    }

    // The venv, laid out as `python -m venv --without-pip` would.
    let root = dir.path().join(name);
    let version = &interp.version;
    let site_packages = root
        .join("lib")
        .join(version.exe_name())
        .join("site-packages");
    for d in [root.join("bin"), site_packages.clone()] {
        std::fs::create_dir_all(&d).map_err(crate::error::io(&d))?;
    }
    let home = interp.path.parent().unwrap_or(Path::new("/"));
    let cfg = format!(
        "home = {}\ninclude-system-site-packages = false\nversion = {}\nexecutable = {}\n",
        home.display(),
        version.full,
        interp.path.display()
    );
    let cfg_path = root.join("pyvenv.cfg");
    std::fs::write(&cfg_path, cfg).map_err(crate::error::io(&cfg_path))?;
    let bin = root.join("bin");
    for (link, to) in [
        ("python", interp.path.clone()),
        ("python3", PathBuf::from("python")),
        (version.exe_name().as_str(), PathBuf::from("python")),
    ] {
        std::os::unix::fs::symlink(&to, bin.join(link))
            .map_err(crate::error::io(&bin.join(link)))?;
    }
    activate_scripts(interp, &root, name)?;

    let layout = wheel::Layout {
        site_packages: site_packages.clone(),
        scripts: bin.clone(),
        headers: root.join("include/site").join(version.exe_name()),
        data: root.clone(),
        python: bin.join("python").to_string_lossy().into_owned(),
    };
    let mut installed = Vec::new();
    for (name, path) in &chosen {
        stop()?;
        installed.push(wheel::install(path, name, &layout)?);
    }
    if !config.no_deps_check {
        let requires: BTreeMap<PackageName, Vec<String>> = installed
            .iter()
            .map(|i| (i.name.clone(), i.requires_dist.clone()))
            .collect();
        let unmet = requirements::unmet(&reqs.pins, &requires, &env);
        if !unmet.is_empty() {
            return Err(Error::Unmet {
                requirements: config.requirements.clone(),
                unmet,
            });
        }
    }
    Ok(Assembly {
        _dir: dir,
        venv: root,
        installed,
        skipped: reqs.skipped,
        downloaded,
    })
}

fn tags_list(tags: &Tags) -> Vec<String> {
    tags.ranked().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_version_from_read_only_data() {
        let v = PythonVersion::parse("3.11").unwrap();
        let data = b"junk\x003.11\x003.11.x\x00\x003.11.2\x00more 3.11.9 (main)\x00";
        assert_eq!(full_version(data, &v).as_deref(), Some("3.11.2"));
        assert_eq!(full_version(b"\x003.11.\x00", &v), None);
        let rc = b"\x003.13.0rc1\x00";
        assert_eq!(
            full_version(rc, &PythonVersion::parse("3.13").unwrap()).as_deref(),
            Some("3.13.0rc1")
        );
    }
}
