//! A source distribution: found in a folder or fetched with pip, its `[build-system]` read
//! without running it, and unpacked with tar's checked `unpack_in`.

use super::Error;
use crate::python::dist::canonicalize_name;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// PEP 517's table, or setuptools' legacy defaults when the sdist has no `pyproject.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSystem {
    pub requires: Vec<String>,
    /// `module:object`
    pub backend: String,
    /// In-tree backend folders, relative to the project.
    pub backend_path: Vec<String>,
}

impl BuildSystem {
    fn legacy() -> BuildSystem {
        BuildSystem {
            requires: vec!["setuptools>=40.8.0".into()],
            backend: "setuptools.build_meta:__legacy__".into(),
            backend_path: Vec::new(),
        }
    }

    /// Backends that compile through a build tool of their own, which the environment
    /// variables of a setuptools cross build do not reach.
    pub fn unsupported(&self) -> Option<&'static str> {
        let module = self.backend.split(':').next().unwrap_or_default();
        let known: &[(&str, &str)] = &[
            ("mesonpy", "meson-python (it needs a meson cross file)"),
            (
                "maturin",
                "maturin (it needs a Rust target and its own cross set-up)",
            ),
            (
                "scikit_build_core.build",
                "scikit-build-core (it needs a CMake toolchain file)",
            ),
            ("pymsbuild", "pymsbuild"),
        ];
        known.iter().find(|(m, _)| *m == module).map(|(_, s)| *s)
    }

    /// From the text of `pyproject.toml` (PEP 517/518 defaults where the table is partial).
    pub fn parse(text: &str, file: &str) -> Result<BuildSystem, Error> {
        let value: toml::Table = toml::from_str(text).map_err(|e| Error::BadSdist {
            file: file.to_string(),
            message: format!("pyproject.toml: {}", e.message()),
        })?;
        let Some(table) = value.get("build-system").and_then(|v| v.as_table()) else {
            return Ok(BuildSystem::legacy());
        };
        let strings = |key: &str| -> Vec<String> {
            table
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let backend = table
            .get("build-backend")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(BuildSystem {
            requires: if table.contains_key("requires") {
                strings("requires")
            } else {
                BuildSystem::legacy().requires
            },
            backend: backend.unwrap_or_else(|| BuildSystem::legacy().backend),
            backend_path: strings("backend-path"),
        })
    }
}

/// `name-version.tar.gz` in one of `dirs` (the name as the sdist spells it: `_` or `-`, any
/// case).
pub fn find(dirs: &[PathBuf], name: &str, version: &str) -> Option<PathBuf> {
    let want = canonicalize_name(name);
    dirs.iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let Some(file) = p.file_name().and_then(|f| f.to_str()) else {
                    return false;
                };
                let Some(stem) = file.strip_suffix(".tar.gz") else {
                    return false;
                };
                stem.rsplit_once('-').is_some_and(|(n, v)| {
                    canonicalize_name(n) == want
                        && crate::python::dist::normalize_version(v)
                            == crate::python::dist::normalize_version(version)
                })
            })
            .collect();
        found.sort();
        found.into_iter().next()
    })
}

/// `pip download --no-binary :all:` of one pin into `dest`. `Ok(None)`: the index has no sdist
/// of it (pip's last line says why).
pub fn download(
    python: &Path,
    name: &str,
    version: &str,
    hashes: &[String],
    index: &super::Index,
    dest: &Path,
) -> Result<Result<PathBuf, String>, Error> {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--no-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .arg("--dest")
        .arg(dest);
    // With --hash pins, pip checks the download before it runs anything of it (preparing an
    // sdist's metadata runs its build backend here).
    let sha256: Vec<&str> = hashes
        .iter()
        .filter_map(|h| h.strip_prefix("sha256:"))
        .collect();
    if sha256.is_empty() {
        cmd.arg(format!("{name}=={version}"));
    } else {
        let mut line = format!("{name}=={version}");
        for h in &sha256 {
            line.push_str(&format!(" --hash=sha256:{h}"));
        }
        let file = dest.join("rvenv-sdist-requirement.txt");
        std::fs::write(&file, line + "\n").map_err(crate::error::io(&file))?;
        cmd.arg("--require-hashes").arg("-r").arg(&file);
    }
    let mut index = index.clone();
    index.dirs.clear();
    cmd.args(index.pip_args());
    let out = cmd.output().map_err(|e| Error::Pip {
        python: python.to_path_buf(),
        message: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named pip") {
        return Err(Error::Pip {
            python: python.to_path_buf(),
            message: "it has no pip".into(),
        });
    }
    if let Some(found) = find(&[dest.to_path_buf()], name, version) {
        return Ok(Ok(found));
    }
    let said = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no source distribution")
        .to_string();
    Ok(Err(said))
}

/// The sdist's top folder's `pyproject.toml`, read from the archive without unpacking it.
pub fn build_system(sdist: &Path) -> Result<BuildSystem, Error> {
    let file = sdist.display().to_string();
    let bad = |message: String| Error::BadSdist {
        file: file.clone(),
        message,
    };
    let f = std::fs::File::open(sdist).map_err(crate::error::io(sdist))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path.components().count() == 2 && path.ends_with("pyproject.toml") {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("pyproject.toml: {e}")))?;
            return BuildSystem::parse(&text, &file);
        }
    }
    Ok(BuildSystem::legacy())
}

/// Unpacks the sdist into `dest` and returns its one top folder.
pub fn unpack(sdist: &Path, dest: &Path) -> Result<PathBuf, Error> {
    let file = sdist.display().to_string();
    let bad = |message: String| Error::BadSdist {
        file: file.clone(),
        message,
    };
    std::fs::create_dir_all(dest).map_err(crate::error::io(dest))?;
    let f = std::fs::File::open(sdist).map_err(crate::error::io(sdist))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    archive.set_preserve_permissions(false);
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        // unpack_in refuses paths that leave `dest` (`..`, absolute).
        entry.unpack_in(dest).map_err(|e| bad(e.to_string()))?;
    }
    let tops: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(crate::error::io(dest))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match tops.as_slice() {
        [top] => Ok(top.clone()),
        _ => Err(bad("it does not hold exactly one top folder".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_system_defaults_follow_pep_517_and_518() {
        let legacy = BuildSystem::parse("[project]\nname='x'\n", "x").unwrap();
        assert_eq!(legacy, BuildSystem::legacy());
        let partial = BuildSystem::parse(
            "[build-system]\nrequires=['setuptools>=61','cython']\n",
            "x",
        )
        .unwrap();
        assert_eq!(partial.requires, ["setuptools>=61", "cython"]);
        assert_eq!(partial.backend, "setuptools.build_meta:__legacy__");
        let meson = BuildSystem::parse(
            "[build-system]\nbuild-backend='mesonpy'\nrequires=['meson-python']\n",
            "x",
        )
        .unwrap();
        assert!(meson.unsupported().unwrap().contains("meson"));
        assert!(partial.unsupported().is_none());
        let in_tree = BuildSystem::parse(
            "[build-system]\nrequires=[]\nbuild-backend='backend'\nbackend-path=['_build']\n",
            "x",
        )
        .unwrap();
        assert_eq!(in_tree.backend_path, ["_build"]);
        assert!(BuildSystem::parse("[build-system\n", "x").is_err());
    }

    #[test]
    fn sdists_are_found_by_normalised_name_and_version() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "RPi.GPIO-0.7.1.tar.gz",
            "psutil-5.9.8.tar.gz",
            "psutil-5.9.80.tar.gz",
            "psutil-5.9.8-cp36-abi3-linux_armv7l.whl",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let dirs = [dir.path().to_path_buf()];
        let name = |p: Option<PathBuf>| p.map(|p| p.file_name().unwrap().to_owned());
        assert_eq!(
            name(find(&dirs, "psutil", "5.9.8")),
            Some("psutil-5.9.8.tar.gz".into())
        );
        assert_eq!(
            name(find(&dirs, "rpi-gpio", "0.7.1")),
            Some("RPi.GPIO-0.7.1.tar.gz".into())
        );
        assert_eq!(find(&dirs, "psutil", "5.9.9"), None);
    }
}
