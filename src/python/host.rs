//! CPythons of this machine: found by version (pyenv's, uv's managed ones, PATH, the usual
//! folders) for the work that must run Python here (`--compile`, cross builds of sdists).

use crate::elf::ElfFile;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// This machine's ELF `e_machine`, to tell whether a binary runs here.
pub fn machine() -> Option<u16> {
    Some(match std::env::consts::ARCH {
        "x86_64" => 62,
        "x86" => 3,
        "aarch64" => 183,
        "arm" => 40,
        "riscv64" => 243,
        "powerpc64" => 21,
        "s390x" => 22,
        "loongarch64" => 258,
        _ => return None,
    })
}

/// Whether an ELF binary is for this machine (so it runs here natively).
pub fn runs_here(elf: &ElfFile) -> bool {
    machine() == Some(elf.machine) && u32::from(elf.class) == usize::BITS
}

/// Runs `python` to ask its X.Y; `None` when it does not run.
pub fn version_of(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-S",
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Installations under `dir` named `<prefix><X.Y>.<patch>...`, newest patch first, as
/// `dir/<name>/bin/pythonX.Y`.
fn versions_in(dir: &Path, prefix: &str, version: &str) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name
                .strip_prefix(prefix)?
                .strip_prefix(version)?
                .strip_prefix('.')?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let patch = digits.parse().ok()?;
            // uv's folders go on with the platform; a freethreaded build is another ABI.
            if rest.contains("freethreaded") || rest.contains("+") {
                return None;
            }
            Some((patch, e.path().join("bin").join(format!("python{version}"))))
        })
        .collect();
    found.sort();
    found.into_iter().rev().map(|(_, p)| p).collect()
}

/// A CPython `X.Y` that runs here: `first` (in order), then pyenv's (newest first), uv's
/// managed ones, `pythonX.Y` on PATH, in /usr/local/bin or /usr/bin. Each is asked its
/// version. `Err` lists what was tried.
pub fn find(version: &str, first: Vec<PathBuf>) -> Result<PathBuf, String> {
    let exe = format!("python{version}");
    let mut candidates = first;
    let mut tried = Vec::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
    if let Some(root) = pyenv {
        let versions = root.join("versions");
        let found = versions_in(&versions, "", version);
        if found.is_empty() {
            tried.push(format!("{}/{version}.*", versions.display()));
        }
        candidates.extend(found);
    }
    let uv = std::env::var_os("UV_PYTHON_INSTALL_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::data_dir().map(|d| d.join("uv").join("python")));
    if let Some(dir) = uv {
        let found = versions_in(&dir, "cpython-", version);
        if found.is_empty() {
            tried.push(format!("{}/cpython-{version}.*", dir.display()));
        }
        candidates.extend(found);
    }
    match which::which(&exe) {
        Ok(found) => candidates.push(found),
        Err(_) => tried.push(format!("{exe} on PATH")),
    }
    for dir in ["/usr/local/bin", "/usr/bin"] {
        candidates.push(Path::new(dir).join(&exe));
    }
    let mut seen = HashSet::new();
    for python in candidates {
        if !seen.insert(python.clone()) || !python.exists() {
            continue;
        }
        match version_of(&python) {
            Some(v) if v == version => return Ok(python),
            Some(v) => tried.push(format!("{} (Python {v})", python.display())),
            None => tried.push(format!("{} (does not run)", python.display())),
        }
    }
    Err(tried.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installations_are_found_by_version_newest_patch_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "3.11.2",
            "3.11.10",
            "3.12.1",
            "3.1.5",
            "cpython-3.11.9-linux-x86_64-gnu",
            "cpython-3.11.11+freethreaded-linux-x86_64-gnu",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let names = |found: Vec<PathBuf>| -> Vec<String> {
            found
                .iter()
                .map(|p| {
                    p.strip_prefix(dir.path())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        };
        assert_eq!(
            names(versions_in(dir.path(), "", "3.11")),
            ["3.11.10/bin/python3.11", "3.11.2/bin/python3.11"]
        );
        assert_eq!(
            names(versions_in(dir.path(), "cpython-", "3.11")),
            ["cpython-3.11.9-linux-x86_64-gnu/bin/python3.11"]
        );
    }
}
