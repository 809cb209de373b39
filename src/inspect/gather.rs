//! Walking a venv's plan, an extracted bundle's directory or a tarball: every file scanned,
//! what was found collected in a `Gathered`.

use super::scan::{
    FileScan, compiled_module, compiled_module_source, compiled_source, components,
    in_site_packages, scan,
};
use super::{Error, read_error};
use crate::bundle::plan;
use crate::elf;
use crate::python::venv;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Everything the pass gathered, in path order.
#[derive(Default)]
pub(super) struct Gathered {
    pub(super) files: Vec<(PathBuf, u64)>,
    pub(super) binaries: Vec<(PathBuf, elf::Inspection)>,
    pub(super) kept: BTreeMap<PathBuf, Vec<u8>>,
    pub(super) heads: BTreeMap<PathBuf, Vec<u8>>,
    /// Interned runs, and the runs of each text file.
    pub(super) runs: Vec<Vec<u8>>,
    run_ids: HashMap<Vec<u8>, u32>,
    pub(super) text_runs: Vec<(PathBuf, Vec<u32>)>,
    /// Where the venv and the base lived when the bytecode was compiled.
    pub(super) compiled_venv: Option<String>,
    pub(super) compiled_stdlib: Option<String>,
}

impl Gathered {
    fn add(&mut self, scan: FileScan) {
        self.files.push((scan.path.clone(), scan.size));
        if let Some(b) = scan.binary {
            self.binaries.push((scan.path.clone(), b));
        }
        if let Some(k) = scan.kept {
            self.kept.insert(scan.path.clone(), k);
        }
        if let Some(h) = scan.head {
            self.heads.insert(scan.path.clone(), h);
        }
        if let Some(source) = scan.compiled_from {
            self.learn(&scan.path, &source);
        }
        if !scan.runs.is_empty() {
            let mut ids: Vec<u32> = scan
                .runs
                .into_iter()
                .map(|r| {
                    let next = self.runs.len() as u32;
                    *self.run_ids.entry(r).or_insert_with_key(|r| {
                        self.runs.push(r.clone());
                        next
                    })
                })
                .collect();
            ids.sort_unstable();
            self.text_runs.push((scan.path, ids));
        }
    }

    /// What the path a `.pyc` (at `pyc`, inside the environment) was compiled from says about
    /// where things were: `/v/lib/python3.11/site-packages/six.py` for
    /// `lib/python3.11/site-packages/__pycache__/six.cpython-311.pyc` → the venv was `/v`;
    /// `/usr/lib/python3.11/os.py` for `python/lib/python3.11/__pycache__/os...pyc` → the
    /// standard library was `/usr/lib/python3.11`. Bytecode compiled elsewhere (pip
    /// `--target` compiles in a temporary directory) teaches nothing.
    fn learn(&mut self, pyc: &Path, source: &str) {
        let parts = components(pyc);
        let Some((site, module)) = compiled_module_source(&parts) else {
            return;
        };
        let Some(dir) = source.strip_suffix(&format!("/{module}")) else {
            return;
        };
        let Some(lib) = dir.rfind("/lib/python") else {
            return;
        };
        let version = dir[lib + "/lib/".len()..].split('/').next().unwrap_or("");
        if venv::version_from_name(Path::new(version)).is_none() {
            return;
        }
        let tail = &dir[lib + "/lib/".len() + version.len()..];
        match (site, tail) {
            (true, "/site-packages") if lib > 0 => {
                self.compiled_venv
                    .get_or_insert_with(|| dir[..lib].to_string());
            }
            (false, "") => {
                self.compiled_stdlib.get_or_insert_with(|| dir.to_string());
            }
            _ => {}
        }
    }

    fn wants_compiled(&self) -> bool {
        self.compiled_venv.is_none() || self.compiled_stdlib.is_none()
    }
}

/// A venv as `rvenv bundle` would lay it out: every file of the plan, read in parallel.
pub(super) fn gather_plan(plan: &plan::Plan) -> Result<Gathered, Error> {
    use plan::{Kind, Rewrite, Source};
    let scans: Vec<FileScan> = plan
        .entries
        .par_iter()
        .filter_map(|entry| {
            let Kind::File {
                source, rewrite, ..
            } = &entry.kind
            else {
                return None;
            };
            let origin = entry.origin_or_path();
            let result = (|| {
                let disk = match (source, rewrite) {
                    (Source::Bytes(_), _) => None,
                    (_, Rewrite::None | Rewrite::PycHeader { .. }) => entry.source_path(),
                    _ => None,
                };
                let (mut reader, size) = entry.open()?;
                scan(&entry.path, size, &mut reader, disk.as_deref(), false)
            })();
            Some(result.map_err(read_error(&origin)))
        })
        .collect::<Result<_, _>>()?;
    let mut gathered = Gathered::default();
    for s in scans {
        gathered.add(s);
    }
    Ok(gathered)
}

/// An extracted bundle: every regular file under `root`, read in parallel; then compiled
/// modules one by one until the build paths are known.
pub(super) fn gather_dir(root: &Path) -> Result<Gathered, Error> {
    let mut files = Vec::new();
    for item in crate::read::walk(root) {
        let (_, item) = item?;
        if item.file_type().is_file() {
            let size = item
                .metadata()
                .map_err(|e| crate::read::read_error(item.path())(e.into()))?;
            files.push((item.path().to_path_buf(), size.len()));
        }
    }
    let scans: Vec<FileScan> = files
        .par_iter()
        .map(|(disk, size)| {
            let rel = disk.strip_prefix(root).expect("walk stays under its root");
            let mut file = std::fs::File::open(disk).map_err(read_error(disk))?;
            scan(rel, *size, &mut file, Some(disk), false).map_err(read_error(disk))
        })
        .collect::<Result<_, _>>()?;
    let mut gathered = Gathered::default();
    for s in scans {
        gathered.add(s);
    }
    let compiled: Vec<PathBuf> = gathered
        .files
        .iter()
        .filter(|(p, _)| compiled_module(&components(p)))
        .map(|(p, _)| p.clone())
        .collect();
    for rel in compiled {
        if !gathered.wants_compiled() {
            break;
        }
        let parts = components(&rel);
        let site = in_site_packages(&parts).is_some();
        if (site && gathered.compiled_venv.is_some())
            || (!site && gathered.compiled_stdlib.is_some())
        {
            continue;
        }
        let disk = root.join(&rel);
        let bytes = std::fs::read(&disk).map_err(read_error(&disk))?;
        if let Some(source) = compiled_source(&bytes) {
            gathered.learn(&rel, &source);
        }
    }
    Ok(gathered)
}

/// A tarball, streamed once through the checked reader: paths are relative to its single
/// top-level directory.
pub(super) fn gather_tarball(path: &Path) -> Result<Gathered, Error> {
    gather_tarball_from(crate::read::tarread::open(path)?, path)
}

/// As `gather_tarball`, from a stream (`path` names it in messages).
pub(super) fn gather_tarball_from<R: std::io::BufRead + 'static>(
    reader: R,
    path: &Path,
) -> Result<Gathered, Error> {
    let mut gathered = Gathered::default();
    crate::read::tarread::read_from(reader, path, |member, content| {
        if member.kind != crate::read::tarread::Kind::File {
            return Ok(());
        }
        let parts = components(&member.path);
        let site = in_site_packages(&parts).is_some();
        let want = if site {
            gathered.compiled_venv.is_none()
        } else {
            gathered.compiled_stdlib.is_none()
        };
        let scanned = scan(&member.path, member.size, content, None, want)?;
        gathered.add(scanned);
        Ok(())
    })?;
    if gathered.files.is_empty()
        || !gathered
            .kept
            .keys()
            .any(|p| p == Path::new(crate::read::MANIFEST) || p == Path::new("pyvenv.cfg"))
    {
        return Err(Error::NotAnEnvironment(path.to_path_buf()));
    }
    Ok(gathered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_filename_from_marshal_strings() {
        let mut pyc = b"\xe3\x00\x00junk\xfa\x31".to_vec();
        pyc.extend_from_slice(b"/root/.pyenv/versions/3.11.7/lib/python3.11/os.py");
        pyc.extend_from_slice(b"\xda\x07_exists");
        assert_eq!(
            compiled_source(&pyc).as_deref(),
            Some("/root/.pyenv/versions/3.11.7/lib/python3.11/os.py")
        );
        let name = b"/v/lib/python3.11/site-packages/six.py";
        let mut long = b"\x00\x00\xe1".to_vec();
        long.extend_from_slice(&(name.len() as u32).to_le_bytes());
        long.extend_from_slice(name);
        long.push(0);
        assert_eq!(
            compiled_source(&long).as_deref(),
            Some(&*String::from_utf8_lossy(name))
        );
        assert_eq!(compiled_source(b"no path /lib/python3.11/x.py here"), None);
        let mut g = Gathered::default();
        let site = Path::new("lib/python3.11/site-packages/__pycache__/six.cpython-311.pyc");
        let stdlib =
            Path::new("python/lib/python3.11/json/__pycache__/decoder.cpython-311.opt-1.pyc");
        // pip --target compiles in a temporary directory: nothing learnt.
        g.learn(site, "/tmp/pip-target-x/lib/python/six.py");
        g.learn(site, "/v/lib/python3.11/site-packages/other.py");
        assert_eq!((&g.compiled_venv, &g.compiled_stdlib), (&None, &None));
        g.learn(site, "/v/lib/python3.11/site-packages/six.py");
        g.learn(stdlib, "/usr/lib/python3.11/json/decoder.py");
        assert_eq!(g.compiled_venv.as_deref(), Some("/v"));
        assert_eq!(g.compiled_stdlib.as_deref(), Some("/usr/lib/python3.11"));
    }
}
