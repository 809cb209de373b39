//! Static discovery of a virtual environment: its `pyvenv.cfg`, its real interpreter, the base
//! installation and a shared libpython. The venv's interpreter is never run: it may be built
//! for another CPU.

use crate::elf::ElfFile;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error("no venv named: $VIRTUAL_ENV is not set and there is no ./.venv here")]
    NoDefaultVenv,
    #[error("{0}: $VIRTUAL_ENV names this venv, which does not exist")]
    StaleVirtualEnv(PathBuf),
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("{0}: no pyvenv.cfg here, so this is not a virtual environment")]
    NoPyvenvCfg(PathBuf),
    #[error("{path}: {message}")]
    BadPyvenvCfg { path: PathBuf, message: String },
    #[error("{venv}: no Python interpreter in bin/ (looked for {tried})")]
    NoInterpreter { venv: PathBuf, tried: String },
    #[error("{link}: the interpreter symlink is broken: {message}")]
    BrokenInterpreterLink { link: PathBuf, message: String },
    #[error("{0}: the interpreter is not an ELF executable")]
    InterpreterNotElf(PathBuf),
    #[error("{0}: a directory where the venv's interpreter should be")]
    InterpreterIsADirectory(PathBuf),
    #[error(
        "{interpreter}: base installation not found: no {landmark} above the interpreter or pyvenv.cfg's home"
    )]
    BaseNotFound {
        interpreter: PathBuf,
        landmark: String,
    },
    #[error("{cfg}: include-system-site-packages = true is not supported")]
    SystemSitePackages { cfg: PathBuf },
    #[error(
        "{interpreter}: links {name}, which is not found in its RUNPATH/RPATH or the base's lib/"
    )]
    LibpythonNotFound { interpreter: PathBuf, name: String },
    #[error(transparent)]
    Elf(#[from] crate::elf::Error),
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
}

impl Error {
    /// The venv's own files are there, but its base interpreter is gone or cannot be used
    /// for a bundle (or the venv also sees the base's packages): what reads only the venv's
    /// files (`freeze`, `inspect`) still can.
    pub fn base_is_unusable(&self) -> bool {
        matches!(
            self,
            Error::NoInterpreter { .. }
                | Error::BrokenInterpreterLink { .. }
                | Error::InterpreterNotElf(_)
                | Error::InterpreterIsADirectory(_)
                | Error::BaseNotFound { .. }
                | Error::SystemSitePackages { .. }
                | Error::LibpythonNotFound { .. }
        )
    }
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::NoDefaultVenv => Some(
                "name the venv (rvenv bundle path/to/venv), activate it so $VIRTUAL_ENV is set, or assemble one with -r requirements.txt",
            ),
            Error::StaleVirtualEnv(_) => {
                Some("deactivate the old venv (or unset VIRTUAL_ENV), or name the venv to use")
            }
            Error::NoPyvenvCfg(_) => Some(
                "give the venv's directory (the one holding pyvenv.cfg), or activate it so $VIRTUAL_ENV is set",
            ),
            Error::SystemSitePackages { .. } => Some(
                "the base's packages would not be in the bundle; recreate the venv without --system-site-packages and install what it needs into it",
            ),
            Error::BrokenInterpreterLink { .. } | Error::BaseNotFound { .. } => Some(
                "the Python this venv was made with has moved or been removed; recreate the venv",
            ),
            _ => None,
        }
    }
}

/// `pyvenv.cfg` as CPython reads it: `key = value` lines, keys compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct PyvenvCfg {
    pub text: String,
    pub entries: Vec<(String, String)>,
}

/// A `pyvenv.cfg` is a few lines; anything much larger is not one.
pub const PYVENV_CFG_MAX: u64 = 64 * 1024;

impl PyvenvCfg {
    /// Reads and checks a venv's `pyvenv.cfg`: UTF-8 text of at most `PYVENV_CFG_MAX` bytes,
    /// without NUL or other control bytes, with at least one `key = value` line and no key
    /// twice. CPython itself would take the last of two keys silently; a bundle must not guess
    /// which `home` or `version` was meant.
    pub fn read(path: &Path) -> Result<PyvenvCfg, Error> {
        use std::io::Read;
        let bad = |message: String| Error::BadPyvenvCfg {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(crate::error::io(path))?;
        let mut bytes = Vec::new();
        file.take(PYVENV_CFG_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(crate::error::io(path))?;
        if bytes.len() as u64 > PYVENV_CFG_MAX {
            return Err(bad(format!(
                "larger than {} KiB: not a pyvenv.cfg (a few key = value lines)",
                PYVENV_CFG_MAX / 1024
            )));
        }
        if let Some(at) = bytes
            .iter()
            .position(|&b| b == 0 || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
        {
            return Err(bad(format!(
                "binary data (byte 0x{:02x} at offset {at}), not key = value text",
                bytes[at]
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            bad(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let cfg = PyvenvCfg::parse(text);
        if cfg.entries.is_empty() {
            return Err(bad(if cfg.text.trim().is_empty() {
                "empty: a venv's pyvenv.cfg holds at least its home and version".into()
            } else {
                "no 'key = value' line".into()
            }));
        }
        let mut seen = std::collections::HashMap::new();
        for (line, (key, _)) in cfg.lines_of_entries() {
            if let Some(first) = seen.insert(key.as_str(), line) {
                return Err(bad(format!(
                    "the key '{key}' is given twice (lines {first} and {line})"
                )));
            }
        }
        Ok(cfg)
    }

    /// Each entry with the 1-based number of the line it was read from.
    fn lines_of_entries(&self) -> impl Iterator<Item = (usize, &(String, String))> {
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains('='))
            .map(|(i, _)| i + 1)
            .zip(&self.entries)
    }

    pub fn parse(text: String) -> PyvenvCfg {
        let entries = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        PyvenvCfg { text, entries }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        // The last one wins, as in CPython's readers.
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `3.11.7` → major 3, minor 11.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
    pub full: String,
}

impl PythonVersion {
    pub fn parse(text: &str) -> Option<PythonVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let micro: String = parts
            .next()
            .map(|m| m.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        let full = if micro.is_empty() {
            format!("{major}.{minor}")
        } else {
            format!("{major}.{minor}.{micro}")
        };
        Some(PythonVersion { major, minor, full })
    }

    /// `python3.11`
    pub fn exe_name(&self) -> String {
        format!("python{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone)]
pub struct LibPython {
    /// The `DT_NEEDED` name (`libpython3.11.so.1.0`): the bundle stores the library under it.
    pub needed: String,
    /// The real file found for it.
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Venv {
    /// Absolute, as the user named it (the form build paths were written with).
    pub root: PathBuf,
    /// With symlinks resolved: where the files are read from.
    pub real_root: PathBuf,
    pub cfg: PyvenvCfg,
    pub version: PythonVersion,
    /// The real interpreter file (symlinks followed).
    pub interpreter: PathBuf,
    pub interpreter_elf: ElfFile,
    /// The directory holding `lib/pythonX.Y/os.py`.
    pub base_prefix: PathBuf,
    pub stdlib: PathBuf,
    pub libpython: Option<LibPython>,
}

/// `VENV` argument, else `$VIRTUAL_ENV`, else `./.venv`.
pub fn default_path(arg: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(path) = arg {
        return Ok(path);
    }
    if let Some(env) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(env);
        if !path.exists() {
            return Err(Error::StaleVirtualEnv(path));
        }
        return Ok(path);
    }
    let local = PathBuf::from(".venv");
    if local.symlink_metadata().is_err() {
        return Err(Error::NoDefaultVenv);
    }
    Ok(local)
}

impl Venv {
    pub fn discover(path: &Path) -> Result<Venv, Error> {
        // Lexically normalised, so `..` and `.` do not become the venv's name.
        let root = crate::paths::normalize_absolute(
            &std::path::absolute(path).map_err(crate::error::io(path))?,
        );
        let meta = std::fs::metadata(&root).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(root.clone()),
            _ => Error::Io(crate::error::PathError {
                path: root.clone(),
                source: e,
            }),
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory(root));
        }
        let real_root = root.canonicalize().map_err(crate::error::io(&root))?;
        let cfg_path = real_root.join("pyvenv.cfg");
        if !cfg_path.is_file() {
            return Err(Error::NoPyvenvCfg(root));
        }
        let cfg = PyvenvCfg::read(&cfg_path)?;
        if cfg
            .get("include-system-site-packages")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(Error::SystemSitePackages { cfg: cfg_path });
        }

        let (link, interpreter) = find_interpreter(&real_root, &cfg)?;
        let bytes = std::fs::read(&interpreter).map_err(crate::error::io(&interpreter))?;
        if !crate::elf::is_elf(&bytes) {
            return Err(Error::InterpreterNotElf(interpreter));
        }
        let interpreter_elf = ElfFile::parse(&bytes, &interpreter)?;
        let version = cfg
            .get("version")
            .or_else(|| cfg.get("version_info"))
            .and_then(PythonVersion::parse)
            .or_else(|| version_from_name(&link))
            .or_else(|| version_from_name(&interpreter))
            .ok_or_else(|| Error::BadPyvenvCfg {
                path: cfg_path.clone(),
                message: "no 'version' key, and the interpreter's name carries none".into(),
            })?;
        let (base_prefix, stdlib) = find_base(&interpreter, &cfg, &version)?;
        let libpython = find_libpython(&interpreter, &interpreter_elf, &base_prefix)?;
        Ok(Venv {
            root,
            real_root,
            cfg,
            version,
            interpreter,
            interpreter_elf,
            base_prefix,
            stdlib,
            libpython,
        })
    }

    pub fn site_packages(&self) -> PathBuf {
        self.real_root
            .join("lib")
            .join(self.version.exe_name())
            .join("site-packages")
    }

    /// The bundle's name: the venv folder's, or, for a project's `.venv` (any hidden folder),
    /// the project folder's, so that `~/app/.venv` gives `app-….tar.gz` with everything under
    /// `app/`. A visible name (`venv`, `env`) is the user's choice and is kept.
    pub fn name(&self) -> String {
        let own = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = own(&self.root).unwrap_or_else(|| "venv".into());
        if !name.starts_with('.') {
            return name;
        }
        std::path::absolute(&self.root)
            .ok()
            .and_then(|p| p.parent().and_then(own))
            .filter(|p| !p.starts_with('.') && !p.is_empty())
            .unwrap_or(name)
    }
}

/// The next step for a venv with editable installs, in the words of the tool that made it: uv
/// (its `uv = ` key in pyvenv.cfg, or a `uv.lock` beside the venv), Poetry (a `poetry.lock` or a
/// `[tool.poetry]` pyproject beside it), else pip.
pub fn editable_hint(venv_root: &Path, cfg_text: &str) -> &'static str {
    let project = venv_root.parent().unwrap_or(Path::new("."));
    let uv = cfg_text
        .lines()
        .any(|l| l.split('=').next().is_some_and(|k| k.trim() == "uv"))
        || project.join("uv.lock").is_file();
    let poetry = project.join("poetry.lock").is_file()
        || std::fs::read_to_string(project.join("pyproject.toml"))
            .is_ok_and(|t| t.contains("[tool.poetry]"));
    if uv {
        "uv installs the project editable: `uv sync --no-editable` installs it as a wheel; or pass --allow-editable to bundle them anyway"
    } else if poetry {
        "Poetry installs the project editable: `poetry build`, then `pip install --no-deps --force-reinstall dist/*.whl` into the venv; or pass --allow-editable to bundle them anyway"
    } else {
        "reinstall those packages without -e (pip install .), or pass --allow-editable to bundle them anyway"
    }
}

pub fn version_from_name(path: &Path) -> Option<PythonVersion> {
    let name = path.file_name()?.to_str()?;
    PythonVersion::parse(name.strip_prefix("python")?)
}

/// The venv's `bin/python*` and the real file behind it.
fn find_interpreter(root: &Path, cfg: &PyvenvCfg) -> Result<(PathBuf, PathBuf), Error> {
    let mut names = Vec::new();
    if let Some(v) = cfg.get("version").and_then(PythonVersion::parse) {
        names.push(v.exe_name());
    }
    names.extend(["python3".to_string(), "python".to_string()]);
    // A directory under one of these names would be copied into the bundle where its
    // interpreter link goes.
    for name in &names {
        let path = root.join("bin").join(name);
        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Error::InterpreterIsADirectory(path));
        }
    }
    for name in &names {
        let link = root.join("bin").join(name);
        if link.symlink_metadata().is_err() {
            continue;
        }
        let real = link
            .canonicalize()
            .map_err(|e| Error::BrokenInterpreterLink {
                link: link.clone(),
                message: if e.raw_os_error() == Some(libc::ELOOP) {
                    "symlink loop".into()
                } else {
                    e.to_string()
                },
            })?;
        if !real.is_file() {
            return Err(Error::BrokenInterpreterLink {
                link,
                message: format!("{} is not a file", real.display()),
            });
        }
        return Ok((link, real));
    }
    Err(Error::NoInterpreter {
        venv: root.to_path_buf(),
        tried: names
            .iter()
            .map(|n| format!("bin/{n}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// CPython's own rule: search upward from the real interpreter's directory for the landmark
/// `lib/pythonX.Y/os.py`; `home` and `executable` from pyvenv.cfg are tried after it.
pub fn find_base(
    interpreter: &Path,
    cfg: &PyvenvCfg,
    version: &PythonVersion,
) -> Result<(PathBuf, PathBuf), Error> {
    let lib = Path::new("lib").join(version.exe_name());
    let mut starts: Vec<PathBuf> = interpreter
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    starts.extend(cfg.get("home").map(PathBuf::from));
    starts.extend(
        cfg.get("executable")
            .and_then(|e| Path::new(e).parent().map(Path::to_path_buf)),
    );
    for start in starts {
        let Ok(start) = start.canonicalize() else {
            continue;
        };
        for dir in start.ancestors() {
            if dir.join(&lib).join("os.py").is_file() {
                return Ok((dir.to_path_buf(), dir.join(&lib)));
            }
        }
    }
    Err(Error::BaseNotFound {
        interpreter: interpreter.to_path_buf(),
        landmark: lib.join("os.py").display().to_string(),
    })
}

/// A shared libpython named in `DT_NEEDED`, found the way the loader would: RUNPATH/RPATH with
/// `$ORIGIN` expanded, then the base's `lib/`.
pub fn find_libpython(
    interpreter: &Path,
    elf: &ElfFile,
    base_prefix: &Path,
) -> Result<Option<LibPython>, Error> {
    let Some(needed) = elf.needed.iter().find(|n| n.starts_with("libpython")) else {
        return Ok(None);
    };
    let origin = interpreter.parent().unwrap_or(Path::new("/"));
    let origin = origin.to_string_lossy();
    let dirs = elf
        .search_path
        .iter()
        .map(|d| PathBuf::from(d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
        .chain([base_prefix.join("lib")]);
    for dir in dirs {
        let candidate = dir.join(needed);
        if let Ok(real) = candidate.canonicalize()
            && real.is_file()
        {
            return Ok(Some(LibPython {
                needed: needed.clone(),
                path: real,
            }));
        }
    }
    Err(Error::LibpythonNotFound {
        interpreter: interpreter.to_path_buf(),
        name: needed.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_parsing() {
        let cfg = PyvenvCfg::parse(
            "home = /usr/bin\nInclude-System-Site-Packages = false\nversion = 3.11.2\nno equals here\nversion = 3.11.4\n".into(),
        );
        assert_eq!(cfg.get("home"), Some("/usr/bin"));
        assert_eq!(cfg.get("include-system-site-packages"), Some("false"));
        assert_eq!(cfg.get("version"), Some("3.11.4"));
        assert_eq!(cfg.get("executable"), None);
    }

    #[test]
    fn versions() {
        let v = PythonVersion::parse("3.11.7").unwrap();
        assert_eq!((v.major, v.minor, v.full.as_str()), (3, 11, "3.11.7"));
        assert_eq!(
            PythonVersion::parse("3.13.0.final.0").unwrap().full,
            "3.13.0"
        );
        assert_eq!(
            PythonVersion::parse("3.12").unwrap().exe_name(),
            "python3.12"
        );
        assert_eq!(PythonVersion::parse("3.12.0rc1").unwrap().full, "3.12.0");
        assert!(PythonVersion::parse("three").is_none());
    }

    #[test]
    fn the_editable_hint_names_the_tool_that_made_the_venv() {
        let d = tempfile::tempdir().unwrap();
        let venv = d.path().join(".venv");
        std::fs::create_dir(&venv).unwrap();
        assert!(editable_hint(&venv, "home = /usr/bin\n").contains("pip install ."));
        assert!(
            editable_hint(&venv, "home = /usr/bin\nuv = 0.13.9\n")
                .contains("uv sync --no-editable")
        );
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[tool.poetry]\nname = 'x'\n",
        )
        .unwrap();
        assert!(editable_hint(&venv, "home = /usr/bin\n").contains("poetry build"));
        std::fs::write(d.path().join("uv.lock"), "").unwrap();
        assert!(editable_hint(&venv, "home = /usr/bin\n").contains("uv sync"));
    }
}
