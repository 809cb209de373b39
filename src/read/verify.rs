//! `rvenv verify`: an extracted bundle or a bundle tarball compared with its own manifest,
//! `rvenv.json`, which lists every file rvenv stored with its size and sha256.
//!
//! The manifest records regular files only (not directories, symlinks or modes), so:
//! - a manifest file that is missing, has another size or content, or is now a directory, a
//!   symlink or a special file is *changed* or *missing*;
//! - a file (or special file) the manifest does not list is *extra*, except the bytecode caches
//!   CPython writes when the bundle runs (`__pycache__/NAME.TAG[.opt-N].pyc` beside a `NAME.py`
//!   of the bundle), which are *written since* and only count with `--strict`;
//! - a symlink is not in the manifest, so it can be neither missing nor extra; rvenv only
//!   stores relative symlinks that resolve inside the bundle, so one that dangles, loops or
//!   leads out of the bundle is *broken*;
//! - directories are not compared (an added empty directory is not reported).
//!
//! A directory's files are hashed in parallel; a tarball is streamed once, never extracted.

use crate::read::MANIFEST;
use crate::read::tarread::{Node, Resolution, resolve_symlink};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::read::ReadError),
    #[error("{}: no {MANIFEST} in it: not an rvenv bundle{}", path.display(), nested_note(nested))]
    NoManifest {
        path: PathBuf,
        /// A directory below `path` that holds a manifest (the user gave the parent).
        nested: Option<PathBuf>,
    },
    #[error("{path}: not a manifest written by rvenv: {reason}")]
    BadManifest { path: PathBuf, reason: String },
    #[error("{path}: not an rvenv bundle: {reason}")]
    NotABundle { path: PathBuf, reason: String },
    #[error(transparent)]
    Archive(#[from] crate::read::tarread::Error),
}

fn nested_note(nested: &Option<PathBuf>) -> String {
    match nested {
        Some(n) => format!(" ({} is one)", n.display()),
        None => String::new(),
    }
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Read(e) if e.source.kind() == std::io::ErrorKind::NotFound => Some(
                "give the path of an extracted bundle's top-level directory or of a bundle tarball",
            ),
            Error::Read(_) => None,
            Error::NoManifest {
                nested: Some(_), ..
            } => Some("give the bundle's own top-level directory, the one holding rvenv.json"),
            Error::NoManifest { nested: None, .. } => Some(
                "give an extracted bundle's top-level directory (the one holding rvenv.json) or a \
                 bundle tarball made by `rvenv bundle`; if rvenv.json was deleted, the bundle \
                 cannot be verified",
            ),
            Error::BadManifest { .. } => Some(
                "rvenv.json itself was edited or damaged, so the bundle cannot be verified \
                 against it; compare it with a copy of the original bundle",
            ),
            Error::NotABundle { .. } => Some(
                "give an extracted bundle's top-level directory or the .tar.gz written by \
                 `rvenv bundle` (one top-level directory holding rvenv.json)",
            ),
            Error::Archive(e) => e.hint(),
        }
    }
}

/// The part of `rvenv.json` verify reads; other keys are ignored.
#[derive(Debug, Deserialize)]
struct ManifestIn {
    rvenv_version: String,
    target: String,
    files: Vec<ManifestFileIn>,
}

#[derive(Debug, Deserialize)]
struct ManifestFileIn {
    path: String,
    /// The exact bytes of a name that is not UTF-8 (`path` then has U+FFFD in their place).
    #[serde(default)]
    path_base64: Option<String>,
    size: u64,
    sha256: String,
}

/// What is at a path of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// `sha256` is computed only when it is needed (a manifest file of the right size).
    File {
        size: u64,
        sha256: Option<[u8; 32]>,
    },
    Dir,
    Symlink(PathBuf),
    /// A special file or a tar hard link: `what` names it.
    Other(&'static str),
}

/// Every path of the bundle, relative to its top-level directory, byte for byte (names that are
/// not UTF-8 included).
struct Tree {
    entries: BTreeMap<PathBuf, Found>,
    /// Where the manifest was read from, for error messages.
    manifest_path: PathBuf,
    manifest: Vec<u8>,
}

/// The expected side of a difference: a manifest row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Expected {
    pub size: u64,
    pub sha256: String,
}

/// The found side: what is at the path now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FoundOut {
    File {
        size: u64,
        /// Absent when the size already differs (not computed).
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    Directory,
    Symlink {
        target: String,
    },
    Other {
        what: &'static str,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub path: String,
    /// `size`, `content` or `kind`.
    pub reason: &'static str,
    pub expected: Expected,
    pub found: FoundOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub path: String,
    pub expected: Expected,
}

#[derive(Debug, Clone, Serialize)]
pub struct Extra {
    pub path: String,
    pub found: FoundOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokenLink {
    pub path: String,
    pub target: String,
    /// `dangles`, `leaves the bundle` or `loops`.
    pub problem: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub path: String,
    pub size: u64,
}

/// The outcome (docs/verify-json.md).
#[derive(Debug, Serialize)]
pub struct Verification {
    pub format: u32,
    pub bundle: String,
    pub manifest: ManifestInfo,
    pub strict: bool,
    pub ok: bool,
    /// Files listed by the manifest (each was compared).
    pub checked: usize,
    /// Symlinks present; the manifest does not record them, each was checked to resolve
    /// inside the bundle.
    pub symlinks: usize,
    pub changed: Vec<Changed>,
    pub missing: Vec<Missing>,
    pub extra: Vec<Extra>,
    pub broken_symlinks: Vec<BrokenLink>,
    pub written_since: Vec<Written>,
}

#[derive(Debug, Serialize)]
pub struct ManifestInfo {
    pub path: String,
    pub sha256: String,
    pub rvenv_version: String,
    pub target: String,
}

/// A path as reports write it (names that are not UTF-8 with U+FFFD).
fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Hashes a stream in chunks (files may be larger than memory allows).
fn sha256_of(mut reader: impl Read) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// Verifies `path`, an extracted bundle's top-level directory or a bundle tarball.
pub fn verify(path: &Path, strict: bool) -> Result<Verification, Error> {
    let meta = std::fs::metadata(path).map_err(crate::read::read_error(path))?;
    let (tree, manifest) = if meta.is_dir() {
        let mut tree = read_dir(path)?;
        let manifest = parse_manifest(&tree)?;
        hash_dir_files(path, &mut tree, &manifest)?;
        (tree, manifest)
    } else if meta.is_file() {
        let tree = read_tarball(path)?;
        let manifest = parse_manifest(&tree)?;
        (tree, manifest)
    } else {
        return Err(Error::NotABundle {
            path: path.to_path_buf(),
            reason: "neither a directory nor a file".into(),
        });
    };
    Ok(conclude(path, tree, &manifest, strict))
}

/// A bundle tarball read from a stream (`path` names it in messages): the fuzz targets' way
/// in.
pub(crate) fn verify_tarball_from<R: std::io::BufRead + 'static>(
    reader: R,
    path: &Path,
    strict: bool,
) -> Result<Verification, Error> {
    let tree = read_tarball_from(reader, path)?;
    let manifest = parse_manifest(&tree)?;
    Ok(conclude(path, tree, &manifest, strict))
}

fn conclude(path: &Path, mut tree: Tree, manifest: &ParsedManifest, strict: bool) -> Verification {
    let manifest_sha = hex::encode(Sha256::digest(&tree.manifest));
    let manifest_path = key(&tree.manifest_path);
    tree.manifest.clear();
    let info = ManifestInfo {
        path: manifest_path,
        sha256: manifest_sha,
        rvenv_version: manifest.rvenv_version.clone(),
        target: manifest.target.clone(),
    };
    compare(path, &tree, manifest, info, strict)
}

/// A parsed manifest: path → expected row, in manifest order.
struct ParsedManifest {
    rvenv_version: String,
    target: String,
    files: Vec<(PathBuf, Expected, [u8; 32])>,
}

fn parse_manifest(tree: &Tree) -> Result<ParsedManifest, Error> {
    let bad = |reason: String| Error::BadManifest {
        path: tree.manifest_path.clone(),
        reason,
    };
    let m: ManifestIn = serde_json::from_slice(&tree.manifest).map_err(|e| bad(e.to_string()))?;
    let mut files = Vec::with_capacity(m.files.len());
    for f in m.files {
        let p = match &f.path_base64 {
            None => PathBuf::from(&f.path),
            Some(exact) => {
                use base64::Engine as _;
                use std::os::unix::ffi::OsStringExt as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(exact)
                    .map_err(|e| bad(format!("{}: path_base64 is not base64: {e}", f.path)))?;
                let p = PathBuf::from(std::ffi::OsString::from_vec(bytes));
                if key(&p) != f.path {
                    return Err(bad(format!(
                        "{}: path_base64 names another file ({})",
                        f.path,
                        key(&p)
                    )));
                }
                p
            }
        };
        let plain = !f.path.is_empty()
            && p.components().all(|c| matches!(c, Component::Normal(_)))
            && p != Path::new(MANIFEST);
        if !plain {
            return Err(bad(format!("{:?} is not a path inside the bundle", f.path)));
        }
        let mut sha = [0u8; 32];
        let digits = f.sha256.as_bytes();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad(format!("{}: {:?} is not a sha256", f.path, f.sha256)));
        }
        for (i, pair) in digits.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).expect("hex digits are ASCII");
            sha[i] = u8::from_str_radix(s, 16).expect("checked hex digits");
        }
        let expected = Expected {
            size: f.size,
            sha256: f.sha256.to_ascii_lowercase(),
        };
        files.push((p, expected, sha));
    }
    Ok(ParsedManifest {
        rvenv_version: m.rvenv_version,
        target: m.target,
        files,
    })
}

/// Walks an extracted bundle without following symlinks; files are not read yet.
fn read_dir(root: &Path) -> Result<Tree, Error> {
    let manifest_path = root.join(MANIFEST);
    let mut entries = BTreeMap::new();
    for item in crate::read::walk(root) {
        let (rel, item) = item?;
        if rel.as_os_str().is_empty() {
            continue; // the root itself
        }
        let ft = item.file_type();
        let found = if ft.is_symlink() {
            let target =
                std::fs::read_link(item.path()).map_err(crate::read::read_error(item.path()))?;
            Found::Symlink(target)
        } else if ft.is_dir() {
            Found::Dir
        } else if ft.is_file() {
            let meta = item
                .metadata()
                .map_err(|e| crate::read::read_error(item.path())(e.into()))?;
            Found::File {
                size: meta.len(),
                sha256: None,
            }
        } else {
            Found::Other(special_kind(&ft))
        };
        entries.insert(rel, found);
    }
    let manifest = match entries.get(Path::new(MANIFEST)) {
        Some(Found::File { .. }) => {
            std::fs::read(&manifest_path).map_err(crate::read::read_error(&manifest_path))?
        }
        Some(_) => {
            return Err(Error::BadManifest {
                path: manifest_path,
                reason: "not a regular file".into(),
            });
        }
        None => {
            return Err(Error::NoManifest {
                path: root.to_path_buf(),
                nested: nested_bundle(root),
            });
        }
    };
    Ok(Tree {
        entries,
        manifest_path,
        manifest,
    })
}

/// A subdirectory of `dir` holding a manifest: the user gave the directory the bundle was
/// extracted into rather than the bundle.
fn nested_bundle(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.join(MANIFEST).is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// Hashes, in parallel, the manifest's files that are present with the expected size (a size
/// that differs already tells).
fn hash_dir_files(root: &Path, tree: &mut Tree, manifest: &ParsedManifest) -> Result<(), Error> {
    let todo: Vec<&Path> = manifest
        .files
        .iter()
        .filter(|(p, e, _)| {
            matches!(tree.entries.get(p), Some(Found::File { size, .. }) if *size == e.size)
        })
        .map(|(p, _, _)| p.as_path())
        .collect();
    let hashed: Vec<(PathBuf, [u8; 32])> = todo
        .par_iter()
        .map(|rel| {
            let full = root.join(rel);
            let read_err = |source| crate::read::read_error(&full)(source);
            let file = std::fs::File::open(&full).map_err(read_err)?;
            let sha = sha256_of(file).map_err(read_err)?;
            Ok((rel.to_path_buf(), sha))
        })
        .collect::<Result<_, Error>>()?;
    for (rel, sha) in hashed {
        if let Some(Found::File { sha256, .. }) = tree.entries.get_mut(&rel) {
            *sha256 = Some(sha);
        }
    }
    Ok(())
}

/// Streams a tarball (gzip, zstd or plain) once through the checked reader, hashing every
/// file; paths are taken relative to its single top-level directory. A member rvenv would
/// never write (an absolute or `..` name, a link out of the tree, a device...) is refused
/// there, with exit status 2.
/// A manifest lists about 150 bytes per file: this is millions of files. A larger one is not
/// read into memory (a compressed tarball can hold a huge member in a small file).
const MANIFEST_MAX: u64 = 256 << 20;

fn read_tarball(path: &Path) -> Result<Tree, Error> {
    read_tarball_from(crate::read::tarread::open(path)?, path)
}

fn read_tarball_from<R: std::io::BufRead + 'static>(reader: R, path: &Path) -> Result<Tree, Error> {
    let mut entries = BTreeMap::new();
    let mut manifest = None;
    let archive = crate::read::tarread::read_from(reader, path, |member, content| {
        let found = match &member.kind {
            crate::read::tarread::Kind::File => {
                if member.path == Path::new(MANIFEST) && member.size <= MANIFEST_MAX {
                    // The header's size is not trusted for an allocation.
                    let mut bytes = Vec::with_capacity(member.size.min(1 << 24) as usize);
                    content.read_to_end(&mut bytes)?;
                    manifest = Some(bytes);
                }
                Found::File {
                    size: member.size,
                    sha256: Some(content.sha256()?),
                }
            }
            crate::read::tarread::Kind::Dir => Found::Dir,
            crate::read::tarread::Kind::Symlink(target) => Found::Symlink(target.clone()),
            crate::read::tarread::Kind::HardLink(_) => Found::Other("hard link"),
        };
        entries.insert(member.path.clone(), found);
        Ok(())
    })?;
    let manifest_path = path.join(&archive.root).join(MANIFEST);
    if let Some(Found::File { size, .. }) = entries.get(Path::new(MANIFEST))
        && *size > MANIFEST_MAX
    {
        return Err(Error::BadManifest {
            path: manifest_path,
            reason: format!("{size} bytes, more than any manifest rvenv writes"),
        });
    }
    match (manifest, entries.get(Path::new(MANIFEST))) {
        (Some(bytes), Some(Found::File { .. })) => Ok(Tree {
            entries,
            manifest_path,
            manifest: bytes,
        }),
        (_, Some(_)) => Err(Error::BadManifest {
            path: manifest_path,
            reason: "not a regular file".into(),
        }),
        (_, None) => Err(Error::NoManifest {
            path: path.to_path_buf(),
            nested: None,
        }),
    }
}

fn found_out(found: &Found, with_sha: bool) -> FoundOut {
    match found {
        Found::File { size, sha256 } => FoundOut::File {
            size: *size,
            sha256: if with_sha {
                sha256.map(hex::encode)
            } else {
                None
            },
        },
        Found::Dir => FoundOut::Directory,
        Found::Symlink(t) => FoundOut::Symlink { target: key(t) },
        Found::Other(what) => FoundOut::Other { what },
    }
}

/// `__pycache__/NAME.TAG.pyc` or `NAME.TAG.opt-N.pyc` whose `NAME.py` is a file of the bundle:
/// what CPython writes when it imports that module.
fn is_written_bytecode(p: &Path, entries: &BTreeMap<PathBuf, Found>) -> bool {
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    if dir.file_name() != Some("__pycache__".as_ref()) {
        return false;
    }
    let Some(stem) = name.strip_suffix(".pyc") else {
        return false;
    };
    let stem = stem
        .strip_suffix(".opt-1")
        .or_else(|| stem.strip_suffix(".opt-2"))
        .unwrap_or(stem);
    let Some((module, tag)) = stem.rsplit_once('.') else {
        return false;
    };
    if module.is_empty() || tag.is_empty() {
        return false;
    }
    let source = dir
        .parent()
        .unwrap_or(Path::new(""))
        .join(format!("{module}.py"));
    matches!(entries.get(&source), Some(Found::File { .. }))
}

/// Follows a symlink inside the tree, component by component (symlinks on the way included).
/// `None` when it resolves to something present inside the bundle.
fn broken_link(link: &Path, entries: &BTreeMap<PathBuf, Found>) -> Option<&'static str> {
    let Some(Found::Symlink(target)) = entries.get(link) else {
        return None;
    };
    let node = |p: &Path| match entries.get(p) {
        None => Node::Absent,
        Some(Found::Dir) => Node::Dir,
        Some(Found::Symlink(t)) => Node::Symlink(t),
        Some(_) => Node::Other,
    };
    match resolve_symlink(link, target, node) {
        Resolution::Inside => None,
        Resolution::Leaves { .. } => Some("leaves the bundle"),
        Resolution::Dangles => Some("dangles"),
        Resolution::Loops => Some("loops"),
    }
}

fn compare(
    bundle: &Path,
    tree: &Tree,
    manifest: &ParsedManifest,
    info: ManifestInfo,
    strict: bool,
) -> Verification {
    let mut changed = Vec::new();
    let mut missing = Vec::new();
    let mut listed = std::collections::HashSet::with_capacity(manifest.files.len());
    for (path, expected, sha) in &manifest.files {
        listed.insert(path.as_path());
        let change = |reason, found: &Found, with_sha| Changed {
            path: key(path),
            reason,
            expected: expected.clone(),
            found: found_out(found, with_sha),
        };
        match tree.entries.get(path) {
            None => missing.push(Missing {
                path: key(path),
                expected: expected.clone(),
            }),
            Some(f @ Found::File { size, sha256 }) => {
                if *size != expected.size {
                    changed.push(change("size", f, false));
                } else if sha256.as_ref() != Some(sha) {
                    changed.push(change("content", f, true));
                }
            }
            Some(f) => changed.push(change("kind", f, false)),
        }
    }
    let mut extra = Vec::new();
    let mut broken_symlinks = Vec::new();
    let mut written_since = Vec::new();
    let mut symlinks = 0;
    for (path, found) in &tree.entries {
        if path == Path::new(MANIFEST) || listed.contains(path.as_path()) {
            continue;
        }
        match found {
            Found::Dir => {}
            Found::Symlink(target) => {
                symlinks += 1;
                if let Some(problem) = broken_link(path, &tree.entries) {
                    broken_symlinks.push(BrokenLink {
                        path: key(path),
                        target: key(target),
                        problem,
                    });
                }
            }
            Found::File { size, .. } if is_written_bytecode(path, &tree.entries) => {
                if strict {
                    extra.push(Extra {
                        path: key(path),
                        found: found_out(found, false),
                    });
                } else {
                    written_since.push(Written {
                        path: key(path),
                        size: *size,
                    });
                }
            }
            _ => extra.push(Extra {
                path: key(path),
                found: found_out(found, false),
            }),
        }
    }
    changed.sort_by(|a, b| a.path.cmp(&b.path));
    missing.sort_by(|a, b| a.path.cmp(&b.path));
    let ok =
        changed.is_empty() && missing.is_empty() && extra.is_empty() && broken_symlinks.is_empty();
    Verification {
        format: 1,
        bundle: key(bundle),
        manifest: info,
        strict,
        ok,
        checked: manifest.files.len(),
        symlinks,
        changed,
        missing,
        extra,
        broken_symlinks,
        written_since,
    }
}

fn describe(found: &FoundOut) -> String {
    match found {
        FoundOut::File { size, .. } => format!("a file of {size} bytes"),
        FoundOut::Directory => "a directory".into(),
        FoundOut::Symlink { target } => format!("a symlink to {target}"),
        FoundOut::Other { what } => format!("a {what}"),
    }
}

impl Verification {
    /// The human report: one line per offender (all of them), then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.changed {
            let line = match (c.reason, &c.found) {
                ("size", FoundOut::File { size, .. }) => format!(
                    "changed  {}: {size} bytes, the manifest says {}",
                    c.path, c.expected.size
                ),
                ("content", FoundOut::File { sha256, .. }) => format!(
                    "changed  {}: content differs (sha256 {}, the manifest says {})",
                    c.path,
                    sha256.as_deref().unwrap_or("?"),
                    c.expected.sha256
                ),
                (_, found) => format!(
                    "changed  {}: now {}, the manifest lists a file",
                    c.path,
                    describe(found)
                ),
            };
            out.push_str(&line);
            out.push('\n');
        }
        for m in &self.missing {
            out.push_str(&format!(
                "missing  {} ({} bytes)\n",
                m.path, m.expected.size
            ));
        }
        for e in &self.extra {
            out.push_str(&format!(
                "extra    {}: {}, not in the manifest\n",
                e.path,
                describe(&e.found)
            ));
        }
        for b in &self.broken_symlinks {
            out.push_str(&format!(
                "broken   {} -> {}: {} (rvenv stores only symlinks that resolve inside the bundle)\n",
                b.path, b.target, b.problem
            ));
        }
        if !self.written_since.is_empty() {
            out.push_str(&format!(
                "written since: {} bytecode file(s) under __pycache__, which Python writes when the \
                 bundle runs (not counted; --strict counts them, --json lists them)\n",
                self.written_since.len()
            ));
        }
        let about = format!(
            "{} (rvenv {}, target {})",
            MANIFEST, self.manifest.rvenv_version, self.manifest.target
        );
        if self.ok {
            out.push_str(&format!(
                "{}: all {} files match {about}; {} symlink(s) resolve inside the bundle\n",
                self.bundle, self.checked, self.symlinks
            ));
        } else {
            let mut parts = Vec::new();
            for (n, what) in [
                (self.changed.len(), "changed"),
                (self.missing.len(), "missing"),
                (self.extra.len(), "extra"),
                (self.broken_symlinks.len(), "broken symlink(s)"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            out.push_str(&format!(
                "{}: differs from its manifest: {}; {} files listed in {about}\n",
                self.bundle,
                parts.join(", "),
                self.checked
            ));
        }
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("verification serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(items: &[(&str, Found)]) -> BTreeMap<PathBuf, Found> {
        items
            .iter()
            .map(|(p, f)| (PathBuf::from(p), f.clone()))
            .collect()
    }

    fn file() -> Found {
        Found::File {
            size: 1,
            sha256: None,
        }
    }

    fn link(t: &str) -> Found {
        Found::Symlink(PathBuf::from(t))
    }

    #[test]
    fn symlinks_resolve_through_other_symlinks_inside_the_tree() {
        let t = tree(&[
            ("bin", Found::Dir),
            ("bin/python3.11", link("../python/bin/python3.11")),
            ("bin/python3", link("python3.11")),
            ("python", Found::Dir),
            ("python/bin", Found::Dir),
            ("python/bin/python3.11", file()),
            ("lib64", link("lib")),
            ("lib", Found::Dir),
            ("lib/x", file()),
            ("via", link("lib64/x")),
            ("dangling", link("lib/nope")),
            ("out", link("../../etc/passwd")),
            ("abs", link("/etc/passwd")),
            ("loop-a", link("loop-b")),
            ("loop-b", link("loop-a")),
            ("through-file", link("lib/x/y")),
        ]);
        assert_eq!(broken_link(Path::new("bin/python3"), &t), None);
        assert_eq!(broken_link(Path::new("bin/python3.11"), &t), None);
        assert_eq!(broken_link(Path::new("lib64"), &t), None);
        assert_eq!(broken_link(Path::new("via"), &t), None);
        assert_eq!(broken_link(Path::new("dangling"), &t), Some("dangles"));
        assert_eq!(broken_link(Path::new("out"), &t), Some("leaves the bundle"));
        assert_eq!(broken_link(Path::new("abs"), &t), Some("leaves the bundle"));
        assert_eq!(broken_link(Path::new("loop-a"), &t), Some("loops"));
        assert_eq!(broken_link(Path::new("through-file"), &t), Some("dangles"));
    }

    #[test]
    fn bytecode_counts_as_written_only_beside_its_source() {
        let t = tree(&[
            ("lib/m.py", file()),
            ("lib/__pycache__/m.cpython-311.pyc", file()),
            ("lib/__pycache__/m.cpython-311.opt-1.pyc", file()),
            ("lib/__pycache__/other.cpython-311.pyc", file()),
            ("lib/m.cpython-311.pyc", file()),
        ]);
        assert!(is_written_bytecode(
            Path::new("lib/__pycache__/m.cpython-311.pyc"),
            &t
        ));
        assert!(is_written_bytecode(
            Path::new("lib/__pycache__/m.cpython-311.opt-1.pyc"),
            &t
        ));
        assert!(!is_written_bytecode(
            Path::new("lib/__pycache__/other.cpython-311.pyc"),
            &t
        ));
        assert!(!is_written_bytecode(Path::new("lib/m.cpython-311.pyc"), &t));
    }
}
