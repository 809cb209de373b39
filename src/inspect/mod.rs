//! `rvenv inspect`: what a venv, an extracted bundle or a bundle tarball holds, read without
//! running anything (the interpreter may be for another CPU) and without extracting a tarball
//! (its stream is read once).
//!
//! A venv is inspected as `rvenv bundle` would pack it (the plan: its files, the interpreter
//! and standard library under `python/`, the rewrites), so sizes, binaries and leaks are those
//! of the bundle it would make; its `bin/` scripts are classified as they are in the venv.
//! Every file is recognised by its first bytes: binaries go to `elf::inspect`; text files (no
//! NUL byte) are scanned for the absolute paths they contain, matched at the end against the
//! build machine's paths, which a bundle no longer names but still carries in its compiled
//! bytecode (`co_filename`) and the base's `_sysconfigdata`.

pub mod probe;

use crate::bundle::plan;
use crate::python::{dist, rewrite, venv};
use crate::{elf, target};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0}: neither a venv (no pyvenv.cfg) nor an rvenv bundle (no rvenv.json) nor a tarball of one"
    )]
    NotAnEnvironment(PathBuf),
    #[error("{0}: no lib/python3.X/site-packages in it")]
    NoSitePackages(PathBuf),
    #[error(transparent)]
    Venv(#[from] venv::Error),
    #[error(transparent)]
    Dist(#[from] dist::Error),
    #[error(transparent)]
    Archive(#[from] crate::read::tarread::Error),
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Archive(e @ crate::read::tarread::Error::Unsafe { .. }) => e.hint(),
            Error::NotAnEnvironment(_) | Error::NoSitePackages(_) | Error::Archive(_) => Some(
                "give a venv's directory (holding pyvenv.cfg), an extracted bundle's top-level \
                 directory (holding rvenv.json) or a bundle tarball",
            ),
            Error::Venv(e) => e.hint(),
            _ => None,
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// What kind of thing a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Venv,
    Bundle,
    Tarball,
}

/// A directory holding `rvenv.json` is a bundle, one holding `pyvenv.cfg` a venv; a file is
/// read as a tarball.
pub fn layout(path: &Path) -> Result<Layout, Error> {
    let meta = std::fs::metadata(path).map_err(read_error(path))?;
    if !meta.is_dir() {
        return Ok(Layout::Tarball);
    }
    if path.join(crate::read::MANIFEST).is_file() {
        Ok(Layout::Bundle)
    } else if path.join("pyvenv.cfg").is_file() {
        Ok(Layout::Venv)
    } else {
        Err(Error::NotAnEnvironment(path.to_path_buf()))
    }
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// 1; changes only when a field changes meaning or disappears (docs/inspect-json.md).
    pub format: u32,
    pub path: String,
    pub kind: Layout,
    pub python: Python,
    pub target: TargetInfo,
    pub size: Sizes,
    /// Largest first.
    pub packages: Vec<Package>,
    pub elf: ElfSummary,
    pub scripts: Scripts,
    /// The build machine's paths looked for in text files.
    pub build_paths: Vec<String>,
    pub leaks: Vec<Leak>,
    pub editable: Vec<Editable>,
    /// For a venv: what `rvenv bundle` would change. `None` for a bundle.
    pub bundle_changes: Option<BundleChanges>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Python {
    pub implementation: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `--target`'s, or the one detected from the interpreter.
    pub name: Option<String>,
    pub detected: bool,
    /// The interpreter, as laid out in the bundle (`python/bin/python3.11`).
    pub interpreter: Option<String>,
    /// What the interpreter's ELF header says (`ELF64 AArch64`).
    pub interpreter_elf: Option<String>,
    /// The target's glibc (or `--glibc`); `None` for musl or when there is no target.
    pub glibc: Option<String>,
    /// The target recorded in a bundle's rvenv.json.
    pub bundle_target: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Bytes of regular files.
    pub total: u64,
    pub files: u64,
    /// By top-level entry, largest first.
    pub top_level: Vec<SizeRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeRow {
    pub name: String,
    pub size: u64,
    pub files: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    /// As written in METADATA; for files no RECORD claims, the top-level name in
    /// site-packages.
    pub name: String,
    pub version: Option<String>,
    pub size: u64,
    pub files: u64,
    /// The `.dist-info` (or `.egg-info`), `None` for unclaimed files.
    pub dist_info: Option<String>,
    /// `INSTALLER` (`pip`, `uv`, `rvenv`).
    pub installer: Option<String>,
    pub editable: bool,
    /// `direct_url.json`'s URL.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ElfSummary {
    pub files: u64,
    pub architectures: Vec<ArchRow>,
    pub foreign: Vec<Foreign>,
    pub malformed: Vec<Malformed>,
    pub glibc: Option<Needs>,
    pub glibcxx: Option<Needs>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchRow {
    /// `ELF64 AArch64`, `ELF32 ARM`.
    pub arch: String,
    pub count: u64,
    /// Same class, byte order and machine as the target; `None` without a target.
    pub matches_target: Option<bool>,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Foreign {
    pub path: String,
    pub format: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Malformed {
    pub path: String,
    pub message: String,
}

/// The highest symbol version needed, and the first file (in path order) that needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Needs {
    pub version: String,
    pub path: String,
    /// Whether the target provides it; `None` when the target does not say.
    pub fits_target: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scripts {
    /// Every form, with how many files of `bin/` have it (zero included).
    pub forms: BTreeMap<String, u64>,
    pub files: Vec<Script>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub path: String,
    /// A `ShebangForm` name, or `binary` for an ELF file.
    pub form: String,
    /// The first line, when it is a shebang.
    pub shebang: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Leak {
    pub path: String,
    pub build_paths: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Editable {
    pub path: String,
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleChanges {
    pub rewritten: Vec<Rewritten>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    pub path: String,
    /// `shebang`, `activate`, `pyvenv-cfg`, `record`, `runpath`, `generated`.
    pub rewrite: String,
}

// ---------------------------------------------------------------------------------------------
// Reading one file

/// The first read: enough to tell a binary, a NUL byte in most binary formats, and a script's
/// launcher lines.
const FIRST_READ: usize = 8 * 1024;
const CHUNK: usize = 256 * 1024;
/// What is kept of a `bin/` file to classify its launcher.
const HEAD: usize = 4096;
/// Metadata and configuration files are kept whole up to this size.
const KEEP_LIMIT: u64 = 16 << 20;
/// Longer runs of path characters are not paths.
const LONGEST_RUN: usize = 4096;

/// What one file contributed.
#[derive(Debug, Default)]
struct FileScan {
    path: PathBuf,
    size: u64,
    binary: Option<elf::Inspection>,
    /// Runs of path characters holding a `/`, for a text file.
    runs: Vec<Vec<u8>>,
    /// The whole file, for the few files read after the pass.
    kept: Option<Vec<u8>>,
    /// The first bytes of a `bin/` file.
    head: Option<Vec<u8>>,
    /// For a compiled module: the source path it was compiled from.
    compiled_from: Option<String>,
}

fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// `lib/python3.X/site-packages/REST` → `REST`'s components.
fn in_site_packages(parts: &[String]) -> Option<&[String]> {
    match parts {
        [lib, py, site, rest @ ..]
            if lib == "lib" && py.starts_with("python") && site == "site-packages" =>
        {
            Some(rest)
        }
        _ => None,
    }
}

/// Files read after the pass: the manifest and pyvenv.cfg, distribution metadata, `.pth` and
/// editable hooks in site-packages, the base's `_sysconfigdata`.
fn keep(parts: &[String]) -> bool {
    if let [only] = parts {
        return only == crate::read::MANIFEST || only == "pyvenv.cfg";
    }
    if let Some(rest) = in_site_packages(parts) {
        return match rest {
            [name] => {
                name.ends_with(".pth")
                    || name.starts_with("__editable__")
                    || name.ends_with(".egg-info")
            }
            [dir, file] if dir.ends_with(".dist-info") => {
                matches!(
                    file.as_str(),
                    "METADATA" | "RECORD" | "direct_url.json" | "INSTALLER"
                )
            }
            [dir, file] if dir.ends_with(".egg-info") => file == "PKG-INFO",
            _ => false,
        };
    }
    matches!(parts, [p, lib, py, name] if p == "python" && lib == "lib" && py.starts_with("python")
        && name.starts_with("_sysconfigdata") && name.ends_with(".py"))
}

/// A compiled module worth reading for the path it was compiled from: a `.pyc` in a
/// `__pycache__` of the venv's site-packages or of the base's standard library.
fn compiled_module(parts: &[String]) -> bool {
    compiled_module_source(parts).is_some()
}

/// For `.../pkg/__pycache__/mod.cpython-311.pyc`: whether it is in site-packages (else the
/// standard library) and its source's path below that (`pkg/mod.py`).
fn compiled_module_source(parts: &[String]) -> Option<(bool, String)> {
    let (site, below) = match in_site_packages(parts) {
        Some(rest) => (true, rest),
        None => match parts {
            [p, lib, py, rest @ ..]
                if p == "python" && lib == "lib" && py.starts_with("python") =>
            {
                (false, rest)
            }
            _ => return None,
        },
    };
    let [dirs @ .., cache, file] = below else {
        return None;
    };
    if cache != "__pycache__" || !file.ends_with(".pyc") {
        return None;
    }
    let stem = file.split('.').next()?;
    let mut module: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let name = format!("{stem}.py");
    module.push(&name);
    Some((site, module.join("/")))
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads one file as far as needed: a binary is inspected (mapped from `disk` when it is on
/// disk), a text file scanned to its end for paths, anything else read only as far as its
/// first NUL byte, unless it is kept.
fn scan(
    path: &Path,
    size: u64,
    reader: &mut dyn Read,
    disk: Option<&Path>,
    want_compiled: bool,
) -> std::io::Result<FileScan> {
    let parts = components(path);
    let mut out = FileScan {
        path: path.to_path_buf(),
        size,
        ..FileScan::default()
    };
    let mut first = vec![0u8; FIRST_READ];
    let n = read_full(reader, &mut first)?;
    first.truncate(n);
    let in_bin = parts.len() == 2 && parts[0] == "bin";
    if in_bin {
        out.head = Some(first[..n.min(HEAD)].to_vec());
    }
    if elf::is_binary_magic(&first) {
        out.binary = match disk {
            Some(disk) => elf::inspect_file(disk, path)?,
            None => {
                reader.read_to_end(&mut first)?;
                elf::inspect(path, &first)
            }
        };
        return Ok(out);
    }
    let keep = keep(&parts) && size <= KEEP_LIMIT;
    let compiled = want_compiled && compiled_module(&parts) && size <= KEEP_LIMIT;
    let mut kept = (keep || compiled).then(Vec::new);
    let mut runs = Some(RunScanner::default());
    let mut chunk = first;
    loop {
        if runs.is_some() && memchr::memchr(0, &chunk).is_some() {
            runs = None;
        }
        if let Some(r) = &mut runs {
            r.feed(&chunk);
        }
        if let Some(k) = &mut kept {
            k.extend_from_slice(&chunk);
        }
        if runs.is_none() && kept.is_none() {
            break;
        }
        chunk.resize(CHUNK, 0);
        let n = read_full(reader, &mut chunk)?;
        if n == 0 {
            break;
        }
        chunk.truncate(n);
    }
    out.runs = runs.map(RunScanner::finish).unwrap_or_default();
    if compiled {
        out.compiled_from = kept.as_deref().and_then(compiled_source);
    }
    out.kept = if keep { kept } else { None };
    Ok(out)
}

/// Characters that end a path in text: white space, quotes, brackets and list separators.
fn ends_path(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\''
                | b'`'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b','
                | b';'
                | b'|'
                | b'\\'
                | b'*'
                | b'?'
                | 0
        )
}

/// Collects the runs of path characters that contain a `/`, across chunk boundaries.
#[derive(Default)]
struct RunScanner {
    /// The unfinished run at the end of the last chunk.
    carry: Vec<u8>,
    /// Inside a run too long to be a path: skip to its end.
    skipping: bool,
    runs: std::collections::HashSet<Vec<u8>>,
}

impl RunScanner {
    fn feed(&mut self, chunk: &[u8]) {
        let mut chunk = chunk;
        if self.skipping {
            match chunk.iter().position(|&b| ends_path(b)) {
                Some(i) => {
                    self.skipping = false;
                    chunk = &chunk[i..];
                }
                None => return,
            }
        }
        let Some(last) = chunk.iter().rposition(|&b| ends_path(b)) else {
            self.carry.extend_from_slice(chunk);
            if self.carry.len() > LONGEST_RUN {
                self.carry.clear();
                self.skipping = true;
            }
            return;
        };
        let mut region = std::mem::take(&mut self.carry);
        region.extend_from_slice(&chunk[..=last]);
        self.runs_in(&region);
        self.carry = chunk[last + 1..].to_vec();
        if self.carry.len() > LONGEST_RUN {
            self.carry.clear();
            self.skipping = true;
        }
    }

    fn runs_in(&mut self, region: &[u8]) {
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'/', &region[pos..]) {
            let slash = pos + i;
            let start = region[pos..slash]
                .iter()
                .rposition(|&b| ends_path(b))
                .map_or(pos, |j| pos + j + 1);
            let end = region[slash..]
                .iter()
                .position(|&b| ends_path(b))
                .map_or(region.len(), |j| slash + j);
            let run = &region[start..end];
            if run.len() >= 3 && run.len() <= LONGEST_RUN {
                self.runs.insert(run.to_vec());
            }
            pos = end;
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.skipping {
            let carry = std::mem::take(&mut self.carry);
            self.runs_in(&carry);
        }
        self.runs.into_iter().collect()
    }
}

/// Whether `build_path` appears in a run as a whole path: not preceded or followed by a
/// character that would make it another name (`/opt/app` is not in `/opt/app2`).
fn run_contains(run: &[u8], build_path: &[u8]) -> bool {
    let name_char = |b: u8| b.is_ascii_alphanumeric() || b"._-~+@".contains(&b);
    memchr::memmem::find_iter(run, build_path).any(|at| {
        let end = at + build_path.len();
        (at == 0 || !name_char(run[at - 1])) && (end == run.len() || !name_char(run[end]))
    })
}

/// The source path a `.pyc` was compiled from (its code object's `co_filename`): an absolute
/// path ending in `.py` stored as a marshal string (`z`/`Z` with a one-byte length, or
/// `a`/`A`/`u` with a four-byte one, either possibly flagged as a reference) that holds
/// `/lib/python`.
fn compiled_source(pyc: &[u8]) -> Option<String> {
    let printable = |b: u8| (0x21..0x7f).contains(&b);
    for at in memchr::memmem::find_iter(pyc, b"/lib/python") {
        let mut start = at;
        while start > 0 && printable(pyc[start - 1]) && at - start < LONGEST_RUN {
            start -= 1;
        }
        for s in (start..=at).filter(|&s| pyc[s] == b'/') {
            let short = s >= 2 && matches!(pyc[s - 2] & 0x7f, b'z' | b'Z');
            let long = s >= 5 && matches!(pyc[s - 5] & 0x7f, b'a' | b'A' | b'u');
            let lens = [
                short.then(|| pyc[s - 1] as usize),
                long.then(|| u32::from_le_bytes(pyc[s - 4..s].try_into().unwrap()) as usize),
            ];
            for len in lens.into_iter().flatten() {
                let end = s + len;
                if end <= at || end > pyc.len() {
                    continue;
                }
                let text = &pyc[s..end];
                if text.ends_with(b".py") && text.iter().all(|&b| printable(b)) {
                    return String::from_utf8(text.to_vec()).ok();
                }
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Walking a venv's plan, a directory, a tarball

/// Everything the pass gathered, in path order.
#[derive(Default)]
struct Gathered {
    files: Vec<(PathBuf, u64)>,
    binaries: Vec<(PathBuf, elf::Inspection)>,
    kept: BTreeMap<PathBuf, Vec<u8>>,
    heads: BTreeMap<PathBuf, Vec<u8>>,
    /// Interned runs, and the runs of each text file.
    runs: Vec<Vec<u8>>,
    run_ids: HashMap<Vec<u8>, u32>,
    text_runs: Vec<(PathBuf, Vec<u32>)>,
    /// Where the venv and the base lived when the bytecode was compiled.
    compiled_venv: Option<String>,
    compiled_stdlib: Option<String>,
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
fn gather_plan(plan: &plan::Plan) -> Result<Gathered, Error> {
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
fn gather_dir(root: &Path) -> Result<Gathered, Error> {
    let mut files = Vec::new();
    for item in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| Error::Read {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e.into(),
        })?;
        if item.file_type().is_file() {
            let size = item.metadata().map_err(|e| Error::Read {
                path: item.path().to_path_buf(),
                source: e.into(),
            })?;
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
fn gather_tarball(path: &Path) -> Result<Gathered, Error> {
    gather_tarball_from(crate::read::tarread::open(path)?, path)
}

/// As `gather_tarball`, from a stream (`path` names it in messages).
fn gather_tarball_from<R: std::io::BufRead + 'static>(
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

// ---------------------------------------------------------------------------------------------
// From what was gathered to the report

/// What the caller knows about the environment beyond its files.
pub struct Context<'a> {
    pub path: &'a Path,
    pub kind: Layout,
    /// `--target` (and `--glibc`).
    pub choice: &'a crate::target::Choice,
}

/// `rvenv inspect` of a venv, given the plan `rvenv bundle` would follow.
pub fn of_venv(ctx: &Context, venv: &venv::Venv, plan: &plan::Plan) -> Result<Inspection, Error> {
    let gathered = gather_plan(plan)?;
    let interpreter = format!("python/bin/{}", venv.version.exe_name());
    let scripts = venv_scripts(&venv.real_root.join("bin"))?;
    let implementation = venv
        .cfg
        .get("implementation")
        .unwrap_or("CPython")
        .to_string();
    let python = Python {
        implementation,
        version: Some(venv.version.full.clone()),
    };
    let changes = BundleChanges {
        rewritten: plan
            .rewritten
            .iter()
            .map(|(p, r)| Rewritten {
                path: p.display().to_string(),
                rewrite: rewrite_name(*r).into(),
            })
            .collect(),
        warnings: plan.warnings.clone(),
    };
    let roots = [venv.root.clone(), venv.real_root.clone()];
    let inside = move |line: &Path| {
        roots.iter().any(|r| line.starts_with(r))
            || line
                .canonicalize()
                .is_ok_and(|t| roots.iter().any(|r| t.starts_with(r)))
    };
    Ok(build(
        ctx,
        gathered,
        python,
        Some((interpreter, venv.interpreter_elf.clone())),
        scripts,
        plan.build_paths.clone(),
        &inside,
        Some(changes),
    ))
}

/// `rvenv inspect` of an extracted bundle or a tarball.
pub fn of_bundle(ctx: &Context) -> Result<Inspection, Error> {
    let gathered = match ctx.kind {
        Layout::Tarball => gather_tarball(ctx.path)?,
        _ => gather_dir(ctx.path)?,
    };
    Ok(of_gathered(ctx, gathered))
}

/// `rvenv inspect` of a tarball read from a stream (`path` names it): the fuzz targets' way
/// in.
pub(crate) fn of_tarball_from<R: std::io::BufRead + 'static>(
    reader: R,
    path: &Path,
    choice: &crate::target::Choice,
) -> Result<Inspection, Error> {
    let ctx = Context {
        path,
        kind: Layout::Tarball,
        choice,
    };
    Ok(of_gathered(&ctx, gather_tarball_from(reader, path)?))
}

fn of_gathered(ctx: &Context, gathered: Gathered) -> Inspection {
    let manifest: serde_json::Value = gathered
        .kept
        .get(Path::new(crate::read::MANIFEST))
        .and_then(|m| serde_json::from_slice(m).ok())
        .unwrap_or_default();
    let cfg = gathered
        .kept
        .get(Path::new("pyvenv.cfg"))
        .map(|c| venv::PyvenvCfg::parse(String::from_utf8_lossy(c).into_owned()))
        .unwrap_or_default();
    let python = Python {
        implementation: manifest["python"]["implementation"]
            .as_str()
            .or(cfg.get("implementation"))
            .unwrap_or("CPython")
            .to_string(),
        version: manifest["python"]["version"]
            .as_str()
            .or(cfg.get("version"))
            .or(cfg.get("version_info"))
            .map(str::to_string),
    };
    let interpreter = gathered.binaries.iter().find_map(|(p, i)| match i {
        elf::Inspection::Elf(e) if p.starts_with("python/bin") => {
            Some((p.display().to_string(), (**e).clone()))
        }
        _ => None,
    });
    let scripts = classify_scripts(
        gathered
            .heads
            .iter()
            .map(|(p, h)| (p.display().to_string(), h.as_slice())),
    );
    let build_paths = bundle_build_paths(&gathered);
    // An absolute path is never inside a tarball; in an extracted bundle it may be.
    let root = ctx
        .path
        .canonicalize()
        .unwrap_or_else(|_| ctx.path.to_path_buf());
    let is_dir = ctx.kind == Layout::Bundle;
    let inside = move |line: &Path| is_dir && line.starts_with(&root);
    let mut inspection = build(
        ctx,
        gathered,
        python,
        interpreter,
        scripts,
        build_paths,
        &inside,
        None,
    );
    inspection.target.bundle_target = manifest["target"].as_str().map(str::to_string);
    inspection
}

fn rewrite_name(r: plan::Rewrite) -> &'static str {
    use plan::Rewrite::*;
    match r {
        None => "none",
        Shebang => "shebang",
        PyvenvCfg => "pyvenv-cfg",
        Activate => "activate",
        Record => "record",
        Runpath => "runpath",
        Generated => "generated",
        PycHeader { .. } => "pyc-header",
    }
}

/// As `plan::build_paths` computes them for a venv: the venv, and the base installation (its
/// standard library when the base is a system prefix), here learnt from the bytecode and the
/// base's `_sysconfigdata`.
fn bundle_build_paths(g: &Gathered) -> Vec<String> {
    let mut paths: Vec<String> = g.compiled_venv.iter().cloned().collect();
    let stdlib = g.compiled_stdlib.clone().or_else(|| {
        g.kept.iter().find_map(|(p, text)| {
            let name = p.file_name()?.to_str()?;
            name.starts_with("_sysconfigdata")
                .then(|| sysconfig_stdlib(&String::from_utf8_lossy(text), p))?
        })
    });
    if let Some(stdlib) = stdlib {
        let prefix = stdlib
            .rfind("/lib/python")
            .map(|i| &stdlib[..i])
            .unwrap_or("");
        let system = ["", "/usr", "/usr/local"].contains(&prefix);
        paths.push(if system {
            stdlib.clone()
        } else {
            prefix.to_string()
        });
    }
    paths.sort();
    paths.dedup();
    paths
}

/// `'prefix': '/usr'` in `_sysconfigdata*.py` (at `python/lib/python3.X/`) → `/usr/lib/python3.X`.
fn sysconfig_stdlib(text: &str, path: &Path) -> Option<String> {
    let at = text.find("'prefix': '")? + "'prefix': '".len();
    let prefix = &text[at..at + text[at..].find('\'')?];
    let dir = path.parent()?.file_name()?.to_str()?;
    Some(format!("{}/lib/{dir}", prefix.trim_end_matches('/')))
}

/// The venv's own `bin/` files, classified as they are before any rewrite.
fn venv_scripts(bin: &Path) -> Result<Scripts, Error> {
    let mut heads = Vec::new();
    let entries = std::fs::read_dir(bin).map_err(read_error(bin))?;
    for entry in entries {
        let path = entry.map_err(read_error(bin))?.path();
        let meta = path.symlink_metadata().map_err(read_error(&path))?;
        if !meta.is_file() {
            continue;
        }
        let mut head = vec![0u8; HEAD];
        let mut file = std::fs::File::open(&path).map_err(read_error(&path))?;
        let n = read_full(&mut file, &mut head).map_err(read_error(&path))?;
        head.truncate(n);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        heads.push((format!("bin/{name}"), head));
    }
    heads.sort();
    Ok(classify_scripts(
        heads.iter().map(|(p, h)| (p.clone(), h.as_slice())),
    ))
}

fn classify_scripts<'a>(heads: impl Iterator<Item = (String, &'a [u8])>) -> Scripts {
    let mut forms: BTreeMap<String, u64> = rewrite::ShebangForm::ALL
        .iter()
        .map(|f| (f.name().to_string(), 0))
        .chain([("binary".to_string(), 0)])
        .collect();
    let mut files = Vec::new();
    for (path, head) in heads {
        let (form, shebang) = if elf::is_binary_magic(head) {
            ("binary", None)
        } else {
            let form = rewrite::shebang_form(head);
            let shebang = head.starts_with(b"#!").then(|| {
                let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
                String::from_utf8_lossy(line)
                    .trim_end()
                    .chars()
                    .take(200)
                    .collect()
            });
            (form.name(), shebang)
        };
        *forms.entry(form.to_string()).or_default() += 1;
        files.push(Script {
            path,
            form: form.to_string(),
            shebang,
        });
    }
    Scripts { forms, files }
}

#[allow(clippy::too_many_arguments)]
fn build(
    ctx: &Context,
    g: Gathered,
    python: Python,
    interpreter: Option<(String, elf::ElfFile)>,
    scripts: Scripts,
    build_paths: Vec<String>,
    inside: &dyn Fn(&Path) -> bool,
    bundle_changes: Option<BundleChanges>,
) -> Inspection {
    let detected = interpreter
        .as_ref()
        .and_then(|(_, e)| elf::detect_target(e));
    let target = ctx.choice.target.as_ref().or(detected);
    let glibc = ctx
        .choice
        .glibc
        .or_else(|| target.and_then(|t| t.libc.glibc));
    let target_info = TargetInfo {
        name: target.map(|t| t.name.clone()),
        detected: ctx.choice.target.is_none() && target.is_some(),
        interpreter: interpreter.as_ref().map(|(p, _)| p.clone()),
        interpreter_elf: interpreter.as_ref().map(|(_, e)| e.describe()),
        glibc: target
            .filter(|t| t.libc.kind == target::LibcKind::Glibc)
            .and(glibc)
            .map(|g| g.to_string()),
        bundle_target: None,
    };
    let (dists, packages) = packages(&g);
    let editable = editable_findings(&g, &dists, inside);
    Inspection {
        format: 1,
        path: ctx.path.display().to_string(),
        kind: ctx.kind,
        python,
        size: sizes(&g.files),
        elf: elf_summary(&g.binaries, target, glibc),
        target: target_info,
        packages,
        scripts,
        leaks: leaks(&g, &build_paths),
        build_paths,
        editable,
        bundle_changes,
    }
}

fn sizes(files: &[(PathBuf, u64)]) -> Sizes {
    let mut top: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in files {
        let name = components(path).into_iter().next().unwrap_or_default();
        let row = top.entry(name).or_default();
        row.0 += size;
        row.1 += 1;
    }
    let mut top_level: Vec<SizeRow> = top
        .into_iter()
        .map(|(name, (size, files))| SizeRow { name, size, files })
        .collect();
    top_level.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Sizes {
        total: files.iter().map(|(_, s)| s).sum(),
        files: files.len() as u64,
        top_level,
    }
}

/// The distributions whose metadata was kept, in path order. `strict`: metadata that does
/// not parse is an error (for freeze, as for the bundle's requirements.txt), else it is left
/// out. Errors name the file under `base`.
fn kept_distributions(
    g: &Gathered,
    base: &Path,
    strict: bool,
) -> Result<Vec<dist::Distribution>, dist::Error> {
    let mut dists = Vec::new();
    for (path, bytes) in &g.kept {
        let parts = components(path);
        let Some(rest) = in_site_packages(&parts) else {
            continue;
        };
        let dist_info = match rest {
            [dir, file] if dir.ends_with(".dist-info") && file == "METADATA" => path.parent(),
            [dir, file] if dir.ends_with(".egg-info") && file == "PKG-INFO" => path.parent(),
            [file] if file.ends_with(".egg-info") => Some(path.as_path()),
            _ => None,
        };
        let Some(dist_info) = dist_info else { continue };
        let direct_url = g.kept.get(&dist_info.join("direct_url.json"));
        match dist::Distribution::from_parts(
            base.join(dist_info),
            bytes,
            direct_url.map(Vec::as_slice),
        ) {
            Ok(d) => dists.push(d),
            Err(e) if strict => return Err(e),
            Err(_) => {}
        }
    }
    dists.sort_by(|a, b| a.dist_info.cmp(&b.dist_info));
    Ok(dists)
}

/// Distributions from the kept metadata, each with the files its RECORD lists (and its own
/// metadata directory); files of site-packages no RECORD claims are grouped by their
/// top-level name.
fn packages(g: &Gathered) -> (Vec<dist::Distribution>, Vec<Package>) {
    // A damaged distribution is left to `freeze` to report; inspect shows what it can.
    let dists = kept_distributions(g, Path::new(""), false).unwrap_or_default();
    let sizes: HashMap<&Path, u64> = g.files.iter().map(|(p, s)| (p.as_path(), *s)).collect();
    let mut claimed: HashMap<&Path, usize> = HashMap::new();
    for (i, d) in dists.iter().enumerate() {
        let site = d.dist_info.parent().unwrap_or(Path::new(""));
        let record = g.kept.get(&d.dist_info.join("RECORD"));
        let listed = record.map(|r| dist::record_paths(r)).unwrap_or_default();
        for row in listed {
            if let Some(p) = crate::paths::normalize(&site.join(&row))
                && let Some((k, _)) = sizes.get_key_value(p.as_path())
            {
                claimed.entry(k).or_insert(i);
            }
        }
        for (p, _) in &g.files {
            if p.starts_with(&d.dist_info) {
                claimed.entry(p.as_path()).or_insert(i);
            }
        }
    }
    let mut rows: Vec<Package> = dists
        .iter()
        .map(|d| Package {
            name: d.name.clone(),
            version: Some(d.version.clone()),
            size: 0,
            files: 0,
            dist_info: Some(d.dist_info.display().to_string()),
            installer: g
                .kept
                .get(&d.dist_info.join("INSTALLER"))
                .map(|i| String::from_utf8_lossy(i).trim().to_string()),
            editable: d.is_editable(),
            url: d.direct_url.as_ref().map(|u| u.url.clone()),
        })
        .collect();
    let mut unclaimed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in &g.files {
        match claimed.get(path.as_path()) {
            Some(&i) => {
                rows[i].size += size;
                rows[i].files += 1;
            }
            None => {
                let parts = components(path);
                if let Some([first, ..]) = in_site_packages(&parts) {
                    let row = unclaimed.entry(first.clone()).or_default();
                    row.0 += size;
                    row.1 += 1;
                }
            }
        }
    }
    rows.extend(unclaimed.into_iter().map(|(name, (size, files))| Package {
        name,
        version: None,
        size,
        files,
        dist_info: None,
        installer: None,
        editable: false,
        url: None,
    }));
    rows.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    (dists, rows)
}

fn editable_findings(
    g: &Gathered,
    dists: &[dist::Distribution],
    inside: &dyn Fn(&Path) -> bool,
) -> Vec<Editable> {
    let mut found: Vec<dist::Finding> = dist::direct_url_findings(dists)
        .into_iter()
        .filter(|f| f.editable)
        .collect();
    for (path, bytes) in &g.kept {
        let parts = components(path);
        if let Some([name]) = in_site_packages(&parts)
            && let Ok(f) = dist::site_file_findings(path, name, || Ok(bytes.clone()), inside)
        {
            found.extend(f);
        }
    }
    found
        .into_iter()
        .map(|f| Editable {
            path: f.path.display().to_string(),
            what: f.what,
        })
        .collect()
}

fn elf_summary(
    binaries: &[(PathBuf, elf::Inspection)],
    target: Option<&target::Target>,
    glibc: Option<target::GlibcVersion>,
) -> ElfSummary {
    let mut arches: BTreeMap<String, ArchRow> = BTreeMap::new();
    let mut foreign = Vec::new();
    let mut malformed = Vec::new();
    let mut highest: Option<(target::GlibcVersion, &Path)> = None;
    let mut highest_cxx: Option<(target::GlibcxxVersion, &Path)> = None;
    let mut files = 0;
    for (path, inspection) in binaries {
        let p = path.display().to_string();
        match inspection {
            elf::Inspection::Elf(e) => {
                files += 1;
                let row = arches.entry(e.describe()).or_insert_with(|| ArchRow {
                    arch: e.describe(),
                    count: 0,
                    matches_target: target.map(|t| {
                        t.elf.class == e.class
                            && t.elf.endian == e.endian
                            && t.elf.machine == e.machine
                    }),
                    paths: Vec::new(),
                });
                row.count += 1;
                row.paths.push(p);
                if let Some((v, _)) = &e.glibc
                    && highest.is_none_or(|(h, _)| *v > h)
                {
                    highest = Some((*v, path));
                }
                if let Some(v) = e.glibcxx
                    && highest_cxx.is_none_or(|(h, _)| v > h)
                {
                    highest_cxx = Some((v, path));
                }
            }
            elf::Inspection::Malformed(message) => {
                files += 1;
                malformed.push(Malformed {
                    path: p,
                    message: message.clone(),
                });
            }
            elf::Inspection::Foreign(format) => foreign.push(Foreign {
                path: p,
                format: format.to_string(),
            }),
        }
    }
    let mut architectures: Vec<ArchRow> = arches.into_values().collect();
    architectures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.arch.cmp(&b.arch)));
    let is_glibc = target.is_some_and(|t| t.libc.kind == target::LibcKind::Glibc);
    ElfSummary {
        files,
        architectures,
        foreign,
        malformed,
        glibc: highest.map(|(v, p)| Needs {
            version: v.to_string(),
            path: p.display().to_string(),
            fits_target: match (target, glibc) {
                (Some(_), Some(g)) if is_glibc => Some(v <= g),
                (Some(_), _) if !is_glibc => Some(false),
                _ => None,
            },
        }),
        glibcxx: highest_cxx.map(|(v, p)| Needs {
            version: v.to_string(),
            path: p.display().to_string(),
            fits_target: target.and_then(|t| t.libc.glibcxx).map(|have| v <= have),
        }),
    }
}

fn leaks(g: &Gathered, build_paths: &[String]) -> Vec<Leak> {
    if build_paths.is_empty() {
        return Vec::new();
    }
    // Which build paths each distinct run holds, then each file's runs.
    let matches: Vec<u32> = g
        .runs
        .par_iter()
        .map(|run| {
            build_paths
                .iter()
                .enumerate()
                .filter(|(_, b)| run_contains(run, b.as_bytes()))
                .fold(0u32, |m, (i, _)| m | (1 << i.min(31)))
        })
        .collect();
    let mut out = Vec::new();
    for (path, ids) in &g.text_runs {
        let mask = ids.iter().fold(0, |m, &id| m | matches[id as usize]);
        if mask != 0 {
            out.push(Leak {
                path: path.display().to_string(),
                build_paths: build_paths
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (*i).min(31)) != 0)
                    .map(|(_, b)| b.clone())
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// At most `n` items, then how many more.
fn some<T>(items: &[T], n: usize, show: impl Fn(&T) -> String) -> Vec<String> {
    let mut out: Vec<String> = items.iter().take(n).map(show).collect();
    if items.len() > n {
        out.push(format!(
            "... and {} more (--json lists all)",
            items.len() - n
        ));
    }
    out
}

impl Inspection {
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("inspection serialises")
    }

    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let w = &mut s;
        let kind = match self.kind {
            Layout::Venv => "venv, as `rvenv bundle` would pack it",
            Layout::Bundle => "extracted bundle",
            Layout::Tarball => "bundle tarball",
        };
        let _ = writeln!(w, "{} ({kind})", self.path);
        let _ = writeln!(
            w,
            "Python:   {} {}",
            self.python.implementation,
            self.python
                .version
                .as_deref()
                .unwrap_or("(version unknown)")
        );
        let t = &self.target;
        let target = match (&t.name, &t.interpreter_elf) {
            (Some(name), Some(elf)) if t.detected => format!(
                "{name} (detected from {}: {elf})",
                t.interpreter.as_deref().unwrap_or("?")
            ),
            (Some(name), _) => format!("{name} (--target)"),
            (None, Some(elf)) => format!("unknown: no known target runs the interpreter ({elf})"),
            (None, None) => "unknown: no interpreter found".into(),
        };
        let _ = writeln!(w, "Target:   {target}");
        if let Some(b) = &t.bundle_target {
            let _ = writeln!(w, "Bundled:  for {b} (rvenv.json)");
        }
        let _ = writeln!(
            w,
            "\nSize: {} in {} files",
            crate::ui::human(self.size.total),
            self.size.files
        );
        for row in &self.size.top_level {
            let _ = writeln!(
                w,
                "  {:>10}  {:<20} {} files",
                crate::ui::human(row.size),
                row.name,
                row.files
            );
        }
        let versioned = self.packages.iter().filter(|p| p.version.is_some()).count();
        let _ = writeln!(w, "\nPackages ({versioned}), largest first:");
        if self.packages.is_empty() {
            let _ = writeln!(w, "  none");
        }
        for line in some(&self.packages, 25, |p| {
            let mut line = format!("  {:>10}  {}", crate::ui::human(p.size), p.name);
            match &p.version {
                Some(v) => line.push_str(&format!(" {v}")),
                None => line.push_str(" (no RECORD claims these files)"),
            }
            if p.editable {
                line.push_str(" [editable]");
            } else if let Some(u) = &p.url {
                line.push_str(&format!(" [{u}]"));
            }
            line
        }) {
            let _ = writeln!(w, "{line}");
        }
        let e = &self.elf;
        let _ = writeln!(w, "\nELF files: {}", e.files);
        for a in &e.architectures {
            let mark = match a.matches_target {
                Some(false) => "  <- not the target's architecture",
                _ => "",
            };
            let _ = writeln!(w, "  {:>6}  {}{mark}", a.count, a.arch);
            if a.matches_target == Some(false) {
                for line in some(&a.paths, 10, |p| format!("          {p}")) {
                    let _ = writeln!(w, "{line}");
                }
            }
        }
        for line in some(&e.foreign, 3, |f| {
            format!("  foreign ({}): {}", f.format, f.path)
        }) {
            let _ = writeln!(w, "{line}");
        }
        for m in &e.malformed {
            let _ = writeln!(w, "  malformed: {}: {}", m.path, m.message);
        }
        let fits = |f: Option<bool>| match f {
            Some(true) => " (the target has it)",
            Some(false) => " (NEWER than the target's: run `rvenv check`)",
            None => "",
        };
        match &e.glibc {
            Some(g) => {
                let _ = writeln!(
                    w,
                    "Highest glibc needed: GLIBC_{} by {}{}",
                    g.version,
                    g.path,
                    fits(g.fits_target)
                );
            }
            None => {
                let _ = writeln!(w, "Highest glibc needed: none");
            }
        }
        if let Some(g) = &e.glibcxx {
            let _ = writeln!(
                w,
                "Highest libstdc++ needed: GLIBCXX_{} by {}{}",
                g.version,
                g.path,
                fits(g.fits_target)
            );
        }
        let counts: Vec<String> = self
            .scripts
            .forms
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{n} {f}"))
            .collect();
        let _ = writeln!(
            w,
            "\nScripts in bin/: {}{}",
            self.scripts.files.len(),
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            }
        );
        for sc in &self.scripts.files {
            let detail = sc.shebang.as_deref().unwrap_or("");
            let _ = writeln!(w, "  {:<18} {:<28} {detail}", sc.form, sc.path);
        }
        let _ = writeln!(
            w,
            "\nBuild paths looked for: {}",
            if self.build_paths.is_empty() {
                "none known (no compiled bytecode or _sysconfigdata to learn them from)".into()
            } else {
                self.build_paths.join(", ")
            }
        );
        if self.leaks.is_empty() {
            let _ = writeln!(w, "Leaks: none");
        } else {
            let _ = writeln!(
                w,
                "Leaks ({} text files still name them):",
                self.leaks.len()
            );
            for line in some(&self.leaks, 20, |l| {
                format!("  {}: {}", l.path, l.build_paths.join(", "))
            }) {
                let _ = writeln!(w, "{line}");
            }
        }
        if self.editable.is_empty() {
            let _ = writeln!(w, "Editable installs: none");
        } else {
            let _ = writeln!(w, "Editable installs ({}):", self.editable.len());
            for f in &self.editable {
                let _ = writeln!(w, "  {}: {}", f.path, f.what);
            }
        }
        if let Some(c) = &self.bundle_changes {
            let _ = writeln!(
                w,
                "\n`rvenv bundle` would rewrite {} files:",
                c.rewritten.len()
            );
            for line in some(&c.rewritten, 30, |r| {
                format!("  {:<11} {}", r.rewrite, r.path)
            }) {
                let _ = writeln!(w, "{line}");
            }
            for warning in &c.warnings {
                let _ = writeln!(w, "  warning: {warning}");
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// For `rvenv freeze`

/// The distributions installed in a venv, an extracted bundle or a bundle tarball, with the
/// Python minor version (which decides what pip freeze hides).
pub fn distributions(path: &Path) -> Result<(Vec<dist::Distribution>, u32), Error> {
    match layout(path)? {
        Layout::Venv => {
            let venv = venv::Venv::discover(path)?;
            Ok((dist::find(&venv.site_packages())?, venv.version.minor))
        }
        Layout::Bundle => {
            let lib = path.join("lib");
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&lib).map_err(read_error(&lib))? {
                let dir = entry.map_err(read_error(&lib))?.path();
                if let Some(v) = venv::version_from_name(&dir)
                    && dir.join("site-packages").is_dir()
                {
                    found.push((dir.join("site-packages"), v.minor));
                }
            }
            found.sort();
            let (site, minor) = found
                .into_iter()
                .next()
                .ok_or_else(|| Error::NoSitePackages(path.to_path_buf()))?;
            Ok((dist::find(&site)?, minor))
        }
        Layout::Tarball => {
            let g = gather_tarball(path)?;
            let minor = g
                .files
                .iter()
                .find_map(|(p, _)| {
                    let parts = components(p);
                    in_site_packages(&parts)?;
                    venv::version_from_name(Path::new(&parts[1])).map(|v| v.minor)
                })
                .ok_or_else(|| Error::NoSitePackages(path.to_path_buf()))?;
            let dists = kept_distributions(&g, path, true)?;
            Ok((dists, minor))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = RunScanner::default();
        for c in chunks {
            s.feed(c);
        }
        let mut v: Vec<String> = s
            .finish()
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn path_runs_across_chunks() {
        assert_eq!(
            runs_of(&[b"prefix = '/opt/py", b"thon/3.11'\nPATH=/a:/b x/y ok"]),
            ["/opt/python/3.11", "PATH=/a:/b", "x/y"]
        );
        let long = vec![b'a'; LONGEST_RUN + 10];
        assert_eq!(runs_of(&[b"/x/", &long, b"/y /z/w"]), ["/z/w"]);
    }

    #[test]
    fn build_paths_match_whole_names() {
        assert!(run_contains(b"file:///opt/app/lib", b"/opt/app"));
        assert!(run_contains(b"PATH=/x:/opt/app", b"/opt/app"));
        assert!(!run_contains(b"/opt/app2/lib", b"/opt/app"));
        assert!(!run_contains(b"x/opt/app", b"/opt/app"));
    }

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

    #[test]
    fn sizes_are_human() {
        assert_eq!(crate::ui::human(1023), "1023 B");
        assert_eq!(crate::ui::human(1536), "1.5 KiB");
        assert_eq!(crate::ui::human(5 << 30), "5.0 GiB");
    }
}
