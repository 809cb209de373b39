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
        /// `--no-build` was given (else: no sdist to build from either).
        no_build: bool,
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
    #[error(transparent)]
    Build(#[from] crate::cross::Error),
    #[error(transparent)]
    Dist(#[from] crate::python::dist::Error),
    #[error(
        "{venv}: {} editable install(s) cannot be retargeted (their code stays on this machine): {}",
        .names.len(), .names.join(", ")
    )]
    Editable { venv: PathBuf, names: Vec<String> },
    #[error(
        "{venv}: {} file(s) built for this machine belong to no distribution, so no wheel for the target can replace them: {}",
        .files.len(), .files.join(", ")
    )]
    Unowned { venv: PathBuf, files: Vec<String> },
    #[error(
        "{venv}: {dist} {version}: version '{version}' is not a PEP 440 version, so no wheel for the target can be looked up"
    )]
    BadVersion {
        venv: PathBuf,
        dist: String,
        version: String,
    },
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
            Error::NoWheel { no_build: true, .. } => Some(
                "put a wheel built for the target in a --find-links folder (piwheels.org has armv6l/armv7l wheels), pin a version that has one, or leave out --no-build to build it from its sdist",
            ),
            Error::NoWheel { .. } => Some(
                "put a wheel built for the target, or the sdist to build one from, in a --find-links folder (piwheels.org has armv6l/armv7l wheels), or pin a version that has one",
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
            Error::Build(e) => e.hint(),
            Error::Editable { .. } => Some(
                "install them without -e (pip install .) in the venv, or bundle the venv for this machine's CPU",
            ),
            Error::Unowned { .. } => Some(
                "install that code as a package (a wheel or sdist the target can get), or move it out of site-packages",
            ),
            _ => None,
        }
    }
}

/// A requirement no wheel was found for, and the wheels of it that were found but do not fit.
#[derive(Debug)]
pub struct Missing {
    pub requirement: String,
    pub unfit: Vec<String>,
    /// With `--no-build` and an index: whether the index has the sdist.
    pub sdist_on_index: Option<bool>,
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
        match m.sdist_on_index {
            Some(true) => out.push_str(&format!(
                "\n  {}: the index has its sdist, which rvenv can cross-build without --no-build",
                m.requirement
            )),
            Some(false) => out.push_str(&format!(
                "\n  {}: the index has no sdist of it either",
                m.requirement
            )),
            None => {}
        }
    }
    out
}

/// Whether the index lists an sdist of `name==version`: `pip index versions --no-binary :all:`
/// reads the index page only (nothing is downloaded or run). `None` when pip cannot tell
/// (no pip, no network, a pip without `index`).
fn sdist_on_index(
    name: &str,
    version: &str,
    index_url: Option<&String>,
    options: &requirements::FileOptions,
) -> Option<bool> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "index",
        "versions",
        name,
        "--no-binary",
        ":all:",
    ])
    .args(["--disable-pip-version-check", "--no-input"]);
    if let Some(url) = index_url {
        cmd.args(["--index-url", url]);
    }
    for url in &options.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // pip's words when the index has nothing that is not a wheel.
        return stderr
            .contains("No matching distribution found")
            .then_some(false);
    }
    let want = crate::python::dist::normalize_version(version)?;
    let listed = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Available versions:"))?;
    Some(listed.split(',').any(|v| {
        crate::python::dist::normalize_version(v.trim()).as_deref() == Some(want.as_str())
    }))
}

/// Where wheels come from, for `-r` and for a retargeted venv.
#[derive(Debug, Clone)]
pub struct Options {
    pub find_links: Vec<PathBuf>,
    pub no_index: bool,
    pub index_url: Option<String>,
    pub no_deps_check: bool,
    /// How to build what has no wheel for the target; `None`: `--no-build`.
    pub build: Option<crate::cross::Options>,
}

/// The bundle's default name for `-r`: the directory holding the requirements file (the
/// project).
pub fn project_name(requirements: &Path) -> String {
    std::path::absolute(requirements)
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

/// Where a distribution of the assembled venv came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A `--find-links` folder's wheel.
    Folder(String),
    /// Fetched from the index.
    Index(String),
    /// Built from its sdist now.
    Built(String),
    /// Built from the same sdist by an earlier run.
    Cached(String),
    /// Copied from the venv as it is (pure Python).
    Copied,
}

/// One distribution of the assembled venv and where it came from.
#[derive(Debug, Clone)]
pub struct Placed {
    pub name: String,
    pub version: String,
    pub origin: Origin,
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
    /// Every distribution, sorted by name, with its origin.
    pub placed: Vec<Placed>,
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
/// `tick` runs about four times a second while pip does (pip is quiet, and a long list takes
/// it tens of seconds).
fn pip_download(
    pins: &[&Pin],
    tags: &Tags,
    version: &PythonVersion,
    options: &requirements::FileOptions,
    index_url: Option<&String>,
    dest: &Path,
    tick: &mut dyn FnMut(),
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
    if let Some(url) = index_url {
        cmd.args(["--index-url", url]);
    }
    for url in &options.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    for pin in pins {
        cmd.arg(format!("{}=={}", pin.name, pin.version));
    }
    let shown = "python3 -m pip download --no-deps --only-binary=:all: ...".to_string();
    let failed = |e: std::io::Error| Error::Pip {
        command: shown.clone(),
        message: e.to_string(),
    };
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let out = std::thread::scope(|scope| {
        let waiting = scope.spawn(move || child.wait_with_output());
        while !waiting.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(250));
            tick();
        }
        waiting.join().expect("waiting for pip panicked")
    })
    .map_err(failed)?;
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

/// What every assembly shares: the target, its tags, where wheels come from.
pub struct Context<'a> {
    pub interp: &'a Interpreter,
    pub target: &'a Target,
    pub glibc: Option<GlibcVersion>,
    pub options: &'a Options,
    /// The preset's archive, for the headers of a cross build.
    pub archive: Option<&'a crate::python::distro::Options>,
    pub interrupted: &'a std::sync::atomic::AtomicBool,
}

impl Context<'_> {
    fn stop(&self) -> Result<(), Error> {
        if self.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            Err(Error::Interrupted(crate::interrupt::Interrupted))
        } else {
            Ok(())
        }
    }

    fn tags(&self) -> Tags {
        Tags::new(
            self.interp.version.major,
            self.interp.version.minor,
            &self.target.platform_tags(self.glibc),
        )
    }
}

/// The wheel for each pin: a `--find-links` folder's, else the index's (pip), else built from
/// the sdist for the target (unless `--no-build`).
fn gather(
    ctx: &Context,
    pins: &[Pin],
    file_options: &requirements::FileOptions,
    scratch: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<BTreeMap<PackageName, (PathBuf, Origin)>, Error> {
    let config = ctx.options;
    let target = ctx.target;
    let tags = ctx.tags();
    let mut dirs = config.find_links.clone();
    dirs.extend(file_options.find_links.iter().cloned());
    let no_index = config.no_index || file_options.no_index;
    let mut searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let downloads = scratch.join("wheels");
    std::fs::create_dir_all(&downloads).map_err(crate::error::io(&downloads))?;
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };

    let found = scan(&dirs)?;
    let mut chosen: BTreeMap<PackageName, (PathBuf, Origin)> = BTreeMap::new();
    let mut missing: Vec<(&Pin, Vec<String>)> = Vec::new();
    for pin in pins {
        match choose(pin, &found, &tags)? {
            Ok(path) => {
                let origin = Origin::Folder(file_name(&path));
                chosen.insert(pin.name.clone(), (path, origin));
            }
            Err(unfit) => missing.push((pin, unfit)),
        }
    }
    let index_url = config
        .index_url
        .as_ref()
        .or(file_options.index_url.as_ref());
    if !missing.is_empty() && !no_index {
        let pins: Vec<&Pin> = missing.iter().map(|(p, _)| *p).collect();
        progress(&format!(
            "fetching {} wheel(s) for {} with pip",
            pins.len(),
            target.name
        ));
        // pip stops at the first pin it finds nothing for, so each pin is asked for on its
        // own (a few at a time): one missing wheel neither hides the rest nor takes pip's
        // reason with it. A long list goes in one run first, and only what it left is retried.
        let each = |pins: &[&Pin], progress: &mut dyn FnMut(&str)| -> Result<String, Error> {
            let mut reasons = Vec::new();
            let mut done = 0;
            for group in pins.chunks(4) {
                ctx.stop()?;
                let results: Vec<Result<String, Error>> = std::thread::scope(|scope| {
                    let handles: Vec<_> = group
                        .iter()
                        .map(|pin| {
                            let (downloads, tags) = (&downloads, &tags);
                            scope.spawn(move || {
                                pip_download(
                                    &[*pin],
                                    tags,
                                    &ctx.interp.version,
                                    file_options,
                                    index_url,
                                    downloads,
                                    &mut || {},
                                )
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a pip download thread panicked"))
                        .collect()
                });
                for r in results {
                    reasons.push(r?);
                }
                done += group.len();
                if done < pins.len() {
                    progress(&format!("asked pip for {done} of {} wheels", pins.len()));
                }
            }
            Ok(reasons
                .into_iter()
                .rfind(|r| !r.is_empty())
                .unwrap_or_default())
        };
        let said = if pins.len() <= 8 {
            each(&pins, progress)?
        } else {
            // Progress: the wheels pip has written so far, at most a line every two seconds.
            let count = || {
                std::fs::read_dir(&downloads).map_or(0, |d| {
                    d.flatten()
                        .filter(|e| e.path().extension().is_some_and(|x| x == "whl"))
                        .count()
                })
            };
            let before = count();
            let (mut shown, mut last) = (0, std::time::Instant::now());
            let said = pip_download(
                &pins,
                &tags,
                &ctx.interp.version,
                file_options,
                index_url,
                &downloads,
                &mut || {
                    let now = count().saturating_sub(before);
                    if now != shown && last.elapsed() >= std::time::Duration::from_secs(2) {
                        progress(&format!("fetched {now} of {} wheels", pins.len()));
                        (shown, last) = (now, std::time::Instant::now());
                    }
                },
            )?;
            ctx.stop()?;
            let have = scan(std::slice::from_ref(&downloads))?;
            let left: Vec<&Pin> = pins
                .iter()
                .copied()
                .filter(|p| !matches!(choose(p, &have, &tags), Ok(Ok(_))))
                .collect();
            if left.is_empty() {
                said
            } else {
                let more = each(&left, progress)?;
                if more.is_empty() { said } else { more }
            }
        };
        ctx.stop()?;
        searched.push(match index_url {
            Some(url) => url.clone(),
            None => "the index (pip's configuration)".into(),
        });
        let fetched = scan(std::slice::from_ref(&downloads))?;
        let mut still = Vec::new();
        for (pin, mut unfit) in missing {
            match choose(pin, &fetched, &tags)? {
                Ok(path) => {
                    let origin = Origin::Index(file_name(&path));
                    chosen.insert(pin.name.clone(), (path, origin));
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
    if missing.is_empty() {
        return Ok(chosen);
    }
    // With only local folders, a pin whose sdist is not there either is reported with every
    // wheel that did not fit, as without builds.
    let no_sdist = config.build.is_none()
        || (no_index
            && missing.iter().any(|(p, _)| {
                crate::cross::sdist::find(&dirs, p.name.as_ref(), &p.version.to_string()).is_none()
            }));
    if no_sdist {
        if config.build.is_some() {
            searched.push("(no sdist there either)".into());
            missing.retain(|(p, _)| {
                crate::cross::sdist::find(&dirs, p.name.as_ref(), &p.version.to_string()).is_none()
            });
        }
        return Err(Error::NoWheel {
            no_build: config.build.is_none(),
            missing: missing
                .into_iter()
                .map(|(pin, unfit)| Missing {
                    requirement: format!("{}=={}", pin.name, pin.version),
                    unfit: unfit
                        .into_iter()
                        .filter(|u| !u.starts_with("(pip"))
                        .collect(),
                    sdist_on_index: (config.build.is_none() && !no_index)
                        .then(|| {
                            sdist_on_index(
                                pin.name.as_ref(),
                                &pin.version.to_string(),
                                index_url,
                                file_options,
                            )
                        })
                        .flatten(),
                })
                .collect(),
            tags: tags_list(&tags),
            searched,
        });
    }
    let Some(build) = &config.build else {
        unreachable!("no_sdist holds without a build")
    };
    // What has no wheel is built from its sdist; the cross compiler is checked first, before
    // anything more is fetched.
    let first = format!("{}=={}", missing[0].0.name, missing[0].0.version);
    let py = crate::cross::TargetPython {
        version: &ctx.interp.version,
        stdlib: &ctx.interp.stdlib,
        archive: ctx.archive,
    };
    let toolchain = crate::cross::Toolchain::prepare(target, &py, build, &first, ctx.interrupted)?;
    let index = crate::cross::Index {
        url: index_url.cloned(),
        extra_urls: file_options.extra_index_urls.clone(),
        dirs,
        no_index,
    };
    for (pin, _) in missing {
        ctx.stop()?;
        let (name, version) = (pin.name.to_string(), pin.version.to_string());
        let (wheel, new) = toolchain.wheel(
            &name,
            &version,
            &pin.hashes,
            &index,
            &tags,
            &scratch.join("sdists"),
            ctx.interrupted,
            progress,
        )?;
        let origin = if new {
            Origin::Built(file_name(&wheel))
        } else {
            Origin::Cached(file_name(&wheel))
        };
        chosen.insert(pin.name.clone(), (wheel, origin));
    }
    Ok(chosen)
}

/// The venv's frame, laid out as `python -m venv --without-pip` would: pyvenv.cfg,
/// `bin/python*` pointing at the target interpreter, activate scripts. Returns the wheel
/// layout.
fn skeleton(interp: &Interpreter, root: &Path, name: &str) -> Result<wheel::Layout, Error> {
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
    activate_scripts(interp, root, name)?;
    Ok(wheel::Layout {
        site_packages,
        scripts: bin.clone(),
        headers: root.join("include/site").join(version.exe_name()),
        data: root.to_path_buf(),
        python: bin.join("python").to_string_lossy().into_owned(),
    })
}

fn temp_dir() -> Result<tempfile::TempDir, Error> {
    Ok(tempfile::Builder::new()
        .prefix("rvenv-assemble-")
        .tempdir()
        .map_err(crate::error::io(&std::env::temp_dir()))?)
}

/// How many of the chosen wheels pip fetched from the index.
fn fetched(chosen: &BTreeMap<PackageName, (PathBuf, Origin)>) -> usize {
    chosen
        .values()
        .filter(|(_, o)| matches!(o, Origin::Index(_)))
        .count()
}

/// Installs the chosen wheels; returns what was installed and where each came from.
fn install_all(
    ctx: &Context,
    chosen: BTreeMap<PackageName, (PathBuf, Origin)>,
    layout: &wheel::Layout,
) -> Result<(Vec<wheel::Installed>, Vec<Placed>), Error> {
    let mut installed = Vec::new();
    let mut placed = Vec::new();
    for (name, (path, origin)) in chosen {
        ctx.stop()?;
        let i = wheel::install(&path, &name, layout)?;
        placed.push(Placed {
            name: i.name.to_string(),
            version: i.version.to_string(),
            origin,
        });
        installed.push(i);
    }
    Ok((installed, placed))
}

/// `bundle -r`: a venv for the target from a frozen requirements file.
pub fn assemble(
    ctx: &Context,
    requirements_path: &Path,
    name: &str,
    mut progress: impl FnMut(&str),
) -> Result<Assembly, Error> {
    let env = requirements::marker_environment(ctx.target, &ctx.interp.version);
    let reqs: Requirements = requirements::read(requirements_path, &env)?;
    let dir = temp_dir()?;
    let chosen = gather(ctx, &reqs.pins, &reqs.options, dir.path(), &mut progress)?;
    let downloaded = fetched(&chosen);
    let root = dir.path().join(name);
    let layout = skeleton(ctx.interp, &root, name)?;
    let (installed, placed) = install_all(ctx, chosen, &layout)?;
    if !ctx.options.no_deps_check {
        let requires: BTreeMap<PackageName, Vec<String>> = installed
            .iter()
            .map(|i| (i.name.clone(), i.requires_dist.clone()))
            .collect();
        let unmet = requirements::unmet(&reqs.pins, &requires, &env);
        if !unmet.is_empty() {
            return Err(Error::Unmet {
                requirements: requirements_path.to_path_buf(),
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
        placed,
    })
}

/// Whether the file starts with the ELF magic (a compiled extension or library).
fn is_elf_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && crate::elf::is_elf(&magic)
}

/// What refuses a venv's retargeting, decided before anything is fetched: editable installs
/// (their code stays on this machine), and compiled files in site-packages that no
/// distribution owns (no wheel for the target can replace them).
pub fn check_retargetable(venv: &crate::python::venv::Venv) -> Result<(), Error> {
    use crate::python::dist;
    let site = venv.site_packages();
    let dists = dist::find(&site)?;
    let editable: Vec<String> = dists
        .iter()
        .filter(|d| d.is_editable())
        .map(|d| format!("{} {}", d.name, d.version))
        .collect();
    if !editable.is_empty() {
        return Err(Error::Editable {
            venv: venv.root.clone(),
            names: editable,
        });
    }
    let mut owned = std::collections::BTreeSet::new();
    for d in &dists {
        let record = std::fs::read(d.dist_info.join("RECORD")).unwrap_or_default();
        owned.extend(
            dist::record_paths(&record)
                .iter()
                .filter_map(|p| crate::paths::normalize(&site.join(p))),
        );
    }
    let unowned: Vec<String> = walkdir::WalkDir::new(&site)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && !owned.contains(e.path()))
        .filter(|e| is_elf_file(e.path()))
        .filter_map(|e| {
            e.path()
                .strip_prefix(&site)
                .ok()
                .map(|p| p.display().to_string())
        })
        .collect();
    if !unowned.is_empty() {
        return Err(Error::Unowned {
            venv: venv.root.clone(),
            files: unowned,
        });
    }
    Ok(())
}

/// A venv for one CPU re-created for the target: the same distributions at the same
/// versions, pure-Python ones copied as they are (so unpublished packages keep working), the
/// others replaced by the target's wheel of the same version, or built from the sdist.
pub fn retarget(
    ctx: &Context,
    venv: &crate::python::venv::Venv,
    name: &str,
    mut progress: impl FnMut(&str),
) -> Result<Assembly, Error> {
    use crate::python::dist;
    let site = venv.site_packages();
    check_retargetable(venv)?;
    let dists = dist::find(&site)?;
    // Files of distributions with compiled code: replaced, not copied.
    let mut replaced: std::collections::BTreeSet<PathBuf> = Default::default();
    let mut pins = Vec::new();
    let mut pure = Vec::new();
    for d in &dists {
        let record_path = d.dist_info.join("RECORD");
        let record = std::fs::read(&record_path).unwrap_or_default();
        let files: Vec<PathBuf> = dist::record_paths(&record)
            .iter()
            .filter_map(|p| crate::paths::normalize(&site.join(p)))
            .collect();
        if !files.iter().any(|f| is_elf_file(f)) {
            pure.push((d, files));
            continue;
        }
        let bad_version = || Error::BadVersion {
            venv: venv.root.clone(),
            dist: d.name.clone(),
            version: d.version.clone(),
        };
        let pin_name: PackageName = d.name.parse().map_err(|_| bad_version())?;
        let version = d.version.parse().map_err(|_| bad_version())?;
        pins.push(Pin {
            name: pin_name,
            version,
            extras: Vec::new(),
            hashes: Vec::new(),
            text: format!("{}=={}", d.name, d.version),
            line: 0,
        });
        replaced.extend(files);
        replaced.insert(d.dist_info.clone());
    }
    pins.sort_by(|a, b| a.name.cmp(&b.name));

    let dir = temp_dir()?;
    let chosen = gather(
        ctx,
        &pins,
        &requirements::FileOptions::default(),
        dir.path(),
        &mut progress,
    )?;
    let downloaded = fetched(&chosen);
    let root = dir.path().join(name);
    let layout = skeleton(ctx.interp, &root, name)?;

    // site-packages as it is, less what is replaced (and bytecode of replaced modules); an
    // ELF file no distribution owns was refused by check_retargetable.
    let walk = walkdir::WalkDir::new(&site).sort_by_file_name().into_iter();
    let mut walk = walk;
    while let Some(entry) = walk.next() {
        ctx.stop()?;
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&site).to_path_buf();
            crate::error::io(&path)(std::io::Error::other(e))
        })?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(&site) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if replaced.contains(path) {
            if entry.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        if is_bytecode_of(path, &replaced) {
            continue;
        }
        let dest = layout.site_packages.join(rel);
        copy_entry(path, &dest, entry.file_type())?;
    }
    // Files of pure distributions outside site-packages (bin/ scripts, data), with a
    // shebang that named the venv's interpreter pointed at the new one.
    let old_bin = venv.root.join("bin");
    let new_python = format!("#!{}", layout.python);
    for (_, files) in &pure {
        for file in files {
            if file.starts_with(&site) || file.starts_with(venv.real_root.join("lib")) {
                continue;
            }
            let Some(rel) = file
                .strip_prefix(&venv.root)
                .or_else(|_| file.strip_prefix(&venv.real_root))
                .ok()
            else {
                continue;
            };
            let Ok(meta) = file.symlink_metadata() else {
                continue;
            };
            let dest = root.join(rel);
            copy_entry(file, &dest, meta.file_type())?;
            if meta.is_file()
                && let Ok(text) = std::fs::read(&dest)
                && let Some(rest) = text.strip_prefix(b"#!")
            {
                let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
                let first = String::from_utf8_lossy(&rest[..line_end]).into_owned();
                let interp = first.split_whitespace().next().unwrap_or_default();
                if Path::new(interp).starts_with(&old_bin)
                    || Path::new(interp).starts_with(venv.real_root.join("bin"))
                {
                    let mut out = new_python.clone().into_bytes();
                    out.extend_from_slice(&rest[line_end..]);
                    std::fs::write(&dest, out).map_err(crate::error::io(&dest))?;
                }
            }
        }
    }
    let (installed, mut placed) = install_all(ctx, chosen, &layout)?;
    placed.extend(pure.iter().map(|(d, _)| Placed {
        name: d.name.clone(),
        version: d.version.clone(),
        origin: Origin::Copied,
    }));
    placed.sort_by_key(|p| dist::canonicalize_name(&p.name));
    Ok(Assembly {
        _dir: dir,
        venv: root,
        installed,
        skipped: Vec::new(),
        downloaded,
        placed,
    })
}

/// `__pycache__/mod.cpython-311.pyc` of a `mod.py` that is replaced.
fn is_bytecode_of(path: &Path, replaced: &std::collections::BTreeSet<PathBuf>) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    if dir.file_name().is_none_or(|n| n != "__pycache__") {
        return false;
    }
    let Some(stem) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
    else {
        return false;
    };
    dir.parent()
        .is_some_and(|pkg| replaced.contains(&pkg.join(format!("{stem}.py"))))
}

/// A file, symlink or folder copied as it is (permissions kept).
fn copy_entry(from: &Path, to: &Path, kind: std::fs::FileType) -> Result<(), Error> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(crate::error::io(parent))?;
    }
    if kind.is_dir() {
        std::fs::create_dir_all(to).map_err(crate::error::io(to))?;
    } else if kind.is_symlink() {
        let link = std::fs::read_link(from).map_err(crate::error::io(from))?;
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(link, to).map_err(crate::error::io(to))?;
    } else {
        std::fs::copy(from, to).map_err(crate::error::io(to))?;
    }
    Ok(())
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
