//! Cross builds of source distributions for the target, on this machine, without emulation:
//! a host CPython of the target's X.Y runs the PEP 517 backend, with the target's
//! `_sysconfigdata` (from its CPython) in place of its own, the target's headers (its
//! installation's `include/`, else the release's `libpython3.X-dev`), and Debian's cross
//! compiler for the target's CPU (`targets/*.toml`, `[cross]`). The mechanism is crossenv's;
//! `../shared/design/relocatable-python.md` section 6 has the facts it rests on. Built wheels
//! are cached by the sdist's SHA256, the target and the interpreter.

pub mod sdist;

use crate::python::distro;
use crate::python::venv::PythonVersion;
use crate::target::{Cross, LibcKind, Target};
use crate::wheel::{Tags, WheelName};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// `--build-python`, `--sysroot-package`, and the cache of built wheels.
#[derive(Debug, Clone)]
pub struct Options {
    pub build_python: Option<PathBuf>,
    /// The target's `-dev` packages a C extension compiles and links against.
    pub sysroot_packages: Vec<String>,
    /// `RVENV_BUILD_CACHE`, else `$XDG_CACHE_HOME/rvenv/builds`.
    pub cache: PathBuf,
}

/// Where pip looks for sdists.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub url: Option<String>,
    pub extra_urls: Vec<String>,
    /// `--find-links` folders, searched first.
    pub dirs: Vec<PathBuf>,
    /// Only `dirs`.
    pub no_index: bool,
}

impl Index {
    /// pip's options for this index.
    pub fn pip_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.no_index {
            args.push("--no-index".to_string());
        }
        if let Some(url) = &self.url {
            args.extend(["--index-url".to_string(), url.clone()]);
        }
        for url in &self.extra_urls {
            args.extend(["--extra-index-url".to_string(), url.clone()]);
        }
        for dir in &self.dirs {
            args.extend(["--find-links".to_string(), dir.display().to_string()]);
        }
        args
    }

    /// Where an sdist fetched through pip comes from, for the build cache.
    fn origin(&self) -> String {
        let mut out = self.url.clone().unwrap_or_else(|| "pip's index".into());
        for url in &self.extra_urls {
            out.push(' ');
            out.push_str(url);
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{pin}: no wheel for {target}, and rvenv knows no cross compiler for {target} to build its sdist{}",
        if .why.is_empty() { String::new() } else { format!(" ({})", .why) }
    )]
    NoCross {
        pin: String,
        target: String,
        why: String,
    },
    #[error(
        "{pin}: no wheel for {target}; building its sdist needs the cross compiler {gcc}, which is not on PATH"
    )]
    NoCompiler {
        pin: String,
        target: String,
        gcc: String,
        /// `apt-get install <package>`, and the alternatives.
        hint: String,
    },
    #[error("{pin}: building its sdist needs a CPython {version} that runs here; tried: {tried}")]
    NoBuildPython {
        pin: String,
        version: String,
        tried: String,
    },
    #[error("--build-python {python}: it is {found}, and the target's is Python {version}")]
    WrongBuildPython {
        python: PathBuf,
        found: String,
        version: String,
    },
    #[error("{0}: the target's standard library holds no _sysconfigdata_*.py to cross-build with")]
    NoSysconfig(PathBuf),
    #[error(
        "{pin}: no wheel for the target, and no source distribution either{}",
        if .said.is_empty() { String::new() } else { format!(" (pip: {})", .said) }
    )]
    NoSdist { pin: String, said: String },
    #[error("{file}: not a source distribution rvenv can read: {message}")]
    BadSdist { file: String, message: String },
    #[error(
        "{pin}: its build backend is {backend}, which rvenv cannot cross-build; rvenv builds setuptools projects (and pure-Python backends)"
    )]
    Unsupported { pin: String, backend: String },
    #[error(
        "{pin}: building from source for {target} failed; the last lines of the log:\n  {}\n  the whole log: {}",
        .tail.join("\n  "),
        .log.display()
    )]
    BuildFailed {
        pin: String,
        target: String,
        tail: Vec<String>,
        log: PathBuf,
    },
    #[error("{pin}: the build made {wheel}, which does not fit {target}'s tags")]
    NotForTarget {
        pin: String,
        target: String,
        wheel: String,
    },
    #[error("{file}: its sha256 {actual} is not among the --hash pins of {pin}")]
    HashMismatch {
        pin: String,
        file: PathBuf,
        actual: String,
    },
    #[error("{python}: pip could not be run ({message})")]
    Pip { python: PathBuf, message: String },
    #[error("{pin}: the target's headers: {message}")]
    NoHeaders { pin: String, message: String },
    #[error(transparent)]
    Distro(#[from] distro::Error),
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_)) || matches!(self, Error::Distro(e) if e.interrupted())
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::NoCross { .. } | Error::Unsupported { .. } => Some(
                "put a wheel built for the target in a --find-links folder (piwheels.org has armv6l/armv7l wheels for Raspberry Pi OS), or pin a version that has one",
            ),
            Error::NoCompiler { hint, .. } => Some(hint),
            Error::NoBuildPython { .. } | Error::WrongBuildPython { .. } => Some(
                "install that CPython here (pyenv install X.Y, uv python install X.Y, apt-get install pythonX.Y) or name one with --build-python PATH",
            ),
            Error::NoSysconfig(_) => Some(
                "give --python a CPython installation tree as the distribution packages it (a Debian sysroot's usr/bin/python3.X), or a preset whose CPython rvenv fetches",
            ),
            Error::NoSdist { .. } => Some(
                "put a wheel built for the target in a --find-links folder (piwheels.org has armv6l/armv7l wheels), or pin a version that has one",
            ),
            Error::BuildFailed { .. } => Some(
                "a package that links a C library needs its -dev package for the target: name it with --sysroot-package (libffi-dev, libssl-dev, ...); or put a wheel in a --find-links folder",
            ),
            Error::NoHeaders { .. } => Some(
                "use a distribution preset (its libpython3.X-dev is fetched), or a --python tree with include/python3.X",
            ),
            Error::HashMismatch { .. } => Some(
                "the file is not the one the requirements were locked with; fetch it again or regenerate the hashes",
            ),
            Error::Pip { .. } => Some("install pip for it, or name another with --build-python"),
            Error::NotForTarget { .. } => Some(
                "the project's build sets its own platform tag; put a wheel built for the target in a --find-links folder",
            ),
            Error::BadSdist { .. } => Some(
                "fetch the sdist again, or put a wheel built for the target in a --find-links folder",
            ),
            Error::Distro(e) => e.hint(),
            _ => None,
        }
    }
}

/// `RVENV_BUILD_CACHE`, else `$XDG_CACHE_HOME/rvenv/builds`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("RVENV_BUILD_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("rvenv").join("builds")))
        .unwrap_or_else(|| std::env::temp_dir().join("rvenv-builds"))
}

/// The target's cross compiler, or why there is none; decided before anything is fetched.
pub fn compiler<'t>(target: &'t Target, pin: &str) -> Result<&'t Cross, Error> {
    let no = |why: &str| Error::NoCross {
        pin: pin.to_string(),
        target: target.name.clone(),
        why: why.to_string(),
    };
    if target.libc.kind != LibcKind::Glibc {
        return Err(no("Debian's cross compilers link against glibc"));
    }
    let cross = target.cross.as_ref().ok_or_else(|| {
        no(
            if target
                .arm
                .as_ref()
                .is_some_and(|a| !a.cpu_arch.contains(&10))
            {
                "Debian's armhf compilers make ARMv7 code"
            } else {
                ""
            },
        )
    })?;
    if which::which(&cross.gcc).is_err() {
        return Err(Error::NoCompiler {
            pin: pin.to_string(),
            target: target.name.clone(),
            gcc: cross.gcc.clone(),
            hint: format!(
                "install Debian's {} (apt-get install {}), put a wheel built for the target in a --find-links folder, or pass --no-build to use wheels only",
                cross.package, cross.package
            ),
        });
    }
    Ok(cross)
}

/// The target's interpreter as a cross build needs it.
pub struct TargetPython<'a> {
    pub version: &'a PythonVersion,
    /// Its `lib/python3.X`.
    pub stdlib: &'a Path,
    /// Where its headers can come from when its tree has none.
    pub archive: Option<&'a distro::Options>,
}

/// Everything a build needs, set up once for a bundle.
pub struct Toolchain {
    target: String,
    cross: Cross,
    python: PathBuf,
    sysconfig_name: String,
    /// Holds the rewritten `_sysconfigdata` module; removed on drop.
    sysconfig: tempfile::TempDir,
    include: PathBuf,
    /// `python3.11`: the headers' folder under `include`.
    python_dir: String,
    libs: Vec<PathBuf>,
    /// What a cached wheel must have been built with, besides the sdist.
    key: String,
    cache: PathBuf,
}

impl Toolchain {
    /// `pin` names the first distribution that needs a build, for the messages.
    pub fn prepare(
        target: &Target,
        py: &TargetPython,
        options: &Options,
        pin: &str,
        interrupted: &AtomicBool,
    ) -> Result<Toolchain, Error> {
        let cross = compiler(target, pin)?.clone();
        let xy = format!("{}.{}", py.version.major, py.version.minor);
        let python = match &options.build_python {
            Some(p) => {
                let found = crate::python::host::version_of(p);
                if found.as_deref() != Some(xy.as_str()) {
                    let found = found.map_or("not a Python that runs here".into(), |v| {
                        format!("Python {v}")
                    });
                    return Err(Error::WrongBuildPython {
                        python: p.clone(),
                        found,
                        version: xy,
                    });
                }
                std::path::absolute(p).map_err(crate::error::io(p))?
            }
            None => crate::python::host::find(&xy, Vec::new()).map_err(|tried| {
                Error::NoBuildPython {
                    pin: pin.to_string(),
                    version: xy.clone(),
                    tried,
                }
            })?,
        };
        // The real module, not Debian's `_sysconfigdata__linux_<multiarch>` link to it.
        let mut modules: Vec<PathBuf> = std::fs::read_dir(py.stdlib)
            .map_err(crate::error::io(py.stdlib))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("_sysconfigdata_") && n.ends_with(".py"))
                    && p.symlink_metadata().is_ok_and(|m| m.is_file())
            })
            .collect();
        modules.sort();
        let module = modules
            .first()
            .ok_or_else(|| Error::NoSysconfig(py.stdlib.to_path_buf()))?;
        let text = std::fs::read_to_string(module).map_err(crate::error::io(module))?;

        // Headers: the installation's own include/, else the release's -dev package.
        let prefix = py
            .stdlib
            .parent()
            .and_then(Path::parent)
            .unwrap_or(py.stdlib);
        let own = prefix.join("include").join(format!("python{xy}"));
        let (root, from_archive) = if own.join("Python.h").is_file()
            && options.sysroot_packages.is_empty()
        {
            (prefix.to_path_buf(), false)
        } else {
            let archive = py.archive.ok_or_else(|| Error::NoHeaders {
                pin: pin.to_string(),
                message: format!(
                    "{} has no Python.h, and {} is not a distribution preset to fetch libpython{xy}-dev from",
                    own.display(),
                    target.name
                ),
            })?;
            let fetched = distro::fetch_sysroot(
                target,
                archive,
                &xy,
                &options.sysroot_packages,
                interrupted,
            )?;
            (fetched.root.join("usr"), true)
        };
        // Absolute: the build runs in the sdist's folder.
        let root = std::path::absolute(&root).map_err(crate::error::io(&root))?;
        let include = root.join("include");
        // Debian's sysconfig names /usr/include (INCLUDEPY, CFLAGS of some packages).
        let text = if from_archive {
            text.replace("'/usr/include", &format!("'{}", include.display()))
                .replace(" /usr/include", &format!(" {}", include.display()))
        } else {
            text
        };
        let sysconfig = tempfile::Builder::new()
            .prefix("rvenv-sysconfig-")
            .tempdir()
            .map_err(crate::error::io(&std::env::temp_dir()))?;
        let name = module
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("matched as UTF-8 above")
            .to_string();
        let dest = sysconfig.path().join(module.file_name().expect("a file"));
        std::fs::write(&dest, text).map_err(crate::error::io(&dest))?;
        let multiarch = cross.gcc.trim_end_matches("-gcc").to_string();
        let libs = vec![root.join("lib").join(&multiarch), root.join("lib")];
        let mut key = format!("{}|{}|{}", target.name, py.version.full, cross.gcc);
        for p in &options.sysroot_packages {
            key.push('|');
            key.push_str(p);
        }
        Ok(Toolchain {
            target: target.name.clone(),
            cross,
            python,
            sysconfig_name: name,
            sysconfig,
            include,
            python_dir: format!("python{xy}"),
            libs,
            key: hex::encode(sha2::Sha256::digest(key.as_bytes()))[..16].to_string(),
            cache: options.cache.clone(),
        })
    }

    pub fn build_python(&self) -> &Path {
        &self.python
    }

    /// The wheel for `name==version` from its sdist (fetched into `scratch` when `index.dirs`
    /// has none): from the cache, else built. `Ok((wheel, true))` when built now.
    #[allow(clippy::too_many_arguments)]
    pub fn wheel(
        &self,
        name: &str,
        version: &str,
        hashes: &[String],
        index: &Index,
        tags: &Tags,
        scratch: &Path,
        interrupted: &AtomicBool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(PathBuf, bool), Error> {
        let pin = format!("{name}=={version}");
        let project = self.cache.join(format!(
            "{}-{version}",
            crate::python::dist::canonicalize_name(name)
        ));
        let local = sdist::find(&index.dirs, name, version);
        // An earlier build of this version for this target and interpreter, found without
        // fetching the sdist again (PyPI never replaces a release's files); with --hash pins,
        // the sdist it was built from must be a pinned one. A local sdist is hashed instead:
        // it may have been rebuilt under the same version.
        if local.is_none()
            && let Some(found) = self.cached_build(&project, hashes, &index.origin(), tags)
        {
            return Ok((found, false));
        }
        let is_local = local.is_some();
        let sdist = match local {
            Some(found) => found,
            None if index.no_index => {
                return Err(Error::NoSdist {
                    pin,
                    said: "--no-index, and no sdist in the --find-links folders".into(),
                });
            }
            None => {
                progress(&format!("fetching the sdist of {name} {version} with pip"));
                std::fs::create_dir_all(scratch).map_err(crate::error::io(scratch))?;
                let got = sdist::download(&self.python, name, version, hashes, index, scratch)?;
                if interrupted.load(Ordering::Relaxed) {
                    return Err(crate::interrupt::Interrupted.into());
                }
                got.map_err(|said| Error::NoSdist {
                    pin: pin.clone(),
                    said,
                })?
            }
        };
        if interrupted.load(Ordering::Relaxed) {
            return Err(crate::interrupt::Interrupted.into());
        }
        let bytes = std::fs::read(&sdist).map_err(crate::error::io(&sdist))?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        if !hashes.is_empty()
            && !hashes
                .iter()
                .filter_map(|h| h.strip_prefix("sha256:"))
                .any(|h| h.eq_ignore_ascii_case(&sha))
        {
            return Err(Error::HashMismatch {
                pin,
                file: sdist,
                actual: sha,
            });
        }
        let slot = project.join(format!("{}-{}", &sha[..16], self.key));
        if let Some(cached) = cached_wheel(&slot, tags) {
            return Ok((cached, false));
        }
        progress(&format!(
            "building {name} {version} from its sdist for {} ({} with {})",
            self.target,
            self.python.display(),
            self.cross.gcc
        ));
        let system = sdist::build_system(&sdist)?;
        if let Some(backend) = system.unsupported() {
            return Err(Error::Unsupported {
                pin,
                backend: backend.to_string(),
            });
        }
        let work = tempfile::Builder::new()
            .prefix("rvenv-build-")
            .tempdir()
            .map_err(crate::error::io(&std::env::temp_dir()))?;
        let project = sdist::unpack(&sdist, &work.path().join("src"))?;
        let logs = self.cache.join("logs");
        std::fs::create_dir_all(&logs).map_err(crate::error::io(&logs))?;
        let log_path = logs.join(format!(
            "{}-{version}-{}-{}.log",
            crate::python::dist::canonicalize_name(name),
            self.target,
            self.key
        ));
        let mut log = std::fs::File::create(&log_path).map_err(crate::error::io(&log_path))?;
        let failed = |log_path: &Path| {
            let text = std::fs::read_to_string(log_path).unwrap_or_default();
            let lines: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect();
            Error::BuildFailed {
                pin: format!("{name}=={version}"),
                target: self.target.clone(),
                tail: lines[lines.len().saturating_sub(12)..].to_vec(),
                log: log_path.to_path_buf(),
            }
        };

        // The build tools, for this machine (setuptools, wheel, Cython run here).
        let tools = work.path().join("tools");
        let mut requires = system.requires.clone();
        requires.push("wheel".into());
        let status = Command::new(&self.python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--quiet", "--target"])
            .arg(&tools)
            .args(index.pip_args())
            .args(&requires)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(crate::error::io(&log_path))?)
            .stderr(log.try_clone().map_err(crate::error::io(&log_path))?)
            .status()
            .map_err(|e| Error::Pip {
                python: self.python.clone(),
                message: e.to_string(),
            })?;
        if interrupted.load(Ordering::Relaxed) {
            return Err(crate::interrupt::Interrupted.into());
        }
        if !status.success() {
            return Err(failed(&log_path));
        }

        // The backend, with the target's sysconfig in place of this machine's.
        let out = work.path().join("out");
        std::fs::create_dir(&out).map_err(crate::error::io(&out))?;
        let gxx = self.cross.gcc.replace("-gcc", "-g++");
        // The build folder and the cache's sysroot would otherwise be named in the debug
        // information of every object: paths of this machine in the bundle.
        let sysroot_usr = self.include.parent().unwrap_or(&self.include);
        // Debian puts architecture-specific headers (ffi.h, pyconfig.h) in a multiarch folder.
        let multiarch = self.cross.gcc.trim_end_matches("-gcc");
        let cflags = format!(
            "-I{} -isystem {} -isystem {} -ffile-prefix-map={}=/usr -ffile-prefix-map={}=/build -ffile-prefix-map={}=.",
            self.include.join(&self.python_dir).display(),
            self.include.join(multiarch).display(),
            self.include.display(),
            sysroot_usr.display(),
            work.path().display(),
            project.display(),
        );
        let ldflags: Vec<String> = self
            .libs
            .iter()
            .flat_map(|l| {
                [
                    format!("-L{}", l.display()),
                    format!("-Wl,-rpath-link,{}", l.display()),
                ]
            })
            .collect();
        let pythonpath = std::env::join_paths([tools.as_path(), self.sysconfig.path()])
            .map_err(|e| crate::error::io(&tools)(std::io::Error::other(e)))?;
        use std::io::Write;
        let _ = writeln!(
            log,
            "rvenv: building {name} {version} for {} with {} and {}",
            self.target,
            self.python.display(),
            self.cross.gcc
        );
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c")
            .arg(BUILD_SCRIPT)
            .arg(&system.backend)
            .arg(&out)
            .arg(&cflags)
            .arg(ldflags.join(" "))
            .args(&system.backend_path)
            .current_dir(&project)
            .env("_PYTHON_SYSCONFIGDATA_NAME", &self.sysconfig_name)
            .env("_PYTHON_HOST_PLATFORM", &self.cross.platform)
            .env("PYTHONPATH", pythonpath)
            .env("PYTHONNOUSERSITE", "1")
            .env("CC", &self.cross.gcc)
            .env_remove("LDSHARED")
            .env_remove("CFLAGS")
            .env_remove("LDFLAGS")
            .env_remove("CPPFLAGS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(crate::error::io(&log_path))?)
            .stderr(log.try_clone().map_err(crate::error::io(&log_path))?);
        if which::which(&gxx).is_ok() {
            cmd.env("CXX", &gxx);
        }
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            // Zip entry times in the wheel: fixed, so a rebuild gives the same file.
            cmd.env("SOURCE_DATE_EPOCH", "315532800");
        }
        let status = cmd.status().map_err(|e| Error::Pip {
            python: self.python.clone(),
            message: e.to_string(),
        })?;
        if interrupted.load(Ordering::Relaxed) {
            return Err(crate::interrupt::Interrupted.into());
        }
        let built: Vec<PathBuf> = std::fs::read_dir(&out)
            .map_err(crate::error::io(&out))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        let [wheel] = built.as_slice() else {
            return Err(failed(&log_path));
        };
        if !status.success() {
            return Err(failed(&log_path));
        }
        let file_name = wheel
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if WheelName::parse(&file_name)
            .and_then(|w| tags.rank(&w))
            .is_none()
        {
            return Err(Error::NotForTarget {
                pin,
                target: self.target.clone(),
                wheel: file_name,
            });
        }
        // Into the cache whole: a folder renamed into place.
        let parent = slot.parent().expect("a slot has a parent");
        std::fs::create_dir_all(parent).map_err(crate::error::io(parent))?;
        let partial = tempfile::Builder::new()
            .prefix(".partial-")
            .tempdir_in(parent)
            .map_err(crate::error::io(parent))?;
        let dest = partial.path().join(&file_name);
        std::fs::copy(wheel, &dest).map_err(crate::error::io(&dest))?;
        let record = partial.path().join(SDIST_SHA256);
        std::fs::write(&record, &sha).map_err(crate::error::io(&record))?;
        let from = partial.path().join(SDIST_ORIGIN);
        let origin = if is_local {
            "local".to_string()
        } else {
            index.origin()
        };
        std::fs::write(&from, origin).map_err(crate::error::io(&from))?;
        match std::fs::rename(partial.path(), &slot) {
            Ok(()) => {
                let _ = partial.keep();
            }
            // Another build of the same sdist finished first: its wheel is as good.
            Err(_) if slot.join(&file_name).is_file() => {}
            Err(e) => return Err(crate::error::io(&slot)(e).into()),
        }
        let _ = std::fs::remove_file(&log_path);
        Ok((slot.join(file_name), true))
    }
}

/// Written beside a cached wheel: the SHA256 of the sdist it was built from, and the index it
/// came from (`local` for a --find-links folder's).
const SDIST_SHA256: &str = "sdist.sha256";
const SDIST_ORIGIN: &str = "sdist.origin";

impl Toolchain {
    /// A wheel built earlier from some sdist of `project` (a `<name>-<version>` folder) for
    /// this toolchain, and, with `hashes`, from a pinned sdist.
    fn cached_build(
        &self,
        project: &Path,
        hashes: &[String],
        origin: &str,
        tags: &Tags,
    ) -> Option<PathBuf> {
        let suffix = format!("-{}", self.key);
        let mut slots: Vec<PathBuf> = std::fs::read_dir(project)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix) && !n.starts_with('.'))
            })
            .collect();
        slots.sort();
        slots.into_iter().find_map(|slot| {
            let sha = std::fs::read_to_string(slot.join(SDIST_SHA256)).ok()?;
            // Only a build of an sdist from the same index.
            if std::fs::read_to_string(slot.join(SDIST_ORIGIN)).ok()? != origin {
                return None;
            }
            let pinned = hashes.is_empty()
                || hashes
                    .iter()
                    .filter_map(|h| h.strip_prefix("sha256:"))
                    .any(|h| h.eq_ignore_ascii_case(sha.trim()));
            pinned.then(|| cached_wheel(&slot, tags)).flatten()
        })
    }
}

/// The wheel a finished build left in `slot`, if it fits.
fn cached_wheel(slot: &Path, tags: &Tags) -> Option<PathBuf> {
    std::fs::read_dir(slot).ok()?.flatten().find_map(|e| {
        let name = e.file_name().into_string().ok()?;
        let w = WheelName::parse(&name)?;
        tags.rank(&w)?;
        Some(e.path())
    })
}

/// PEP 517's `build_wheel`, called as a frontend would, after the target's compiler flags
/// are set from its sysconfig (setuptools takes `CFLAGS` from the environment in place of
/// sysconfig's, so the optimisation flags would otherwise be lost).
const BUILD_SCRIPT: &str = r#"
import importlib, os, sys, sysconfig
backend, outdir, cflags, ldflags = sys.argv[1:5]
for var, extra in (("CFLAGS", cflags), ("LDFLAGS", ldflags)):
    os.environ[var] = ((sysconfig.get_config_var(var) or "") + " " + extra).strip()
sys.path[:0] = [os.path.abspath(p) for p in sys.argv[5:]]
module, _, attr = backend.partition(":")
hooks = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    hooks = getattr(hooks, part)
print("rvenv: built", hooks.build_wheel(os.path.abspath(outdir)))
"#;
