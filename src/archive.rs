//! The deterministic tarball: a digest pass (hashes, ELF checks, leak scan) over the plan, then
//! the tar.gz written to a temporary file next to the output and renamed into place.

use crate::elf;
use crate::plan::{Entry, Kind, Plan};
use crate::target::{GlibcVersion, Target};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: changed while the bundle was being written")]
    Changed { path: PathBuf },
    #[error("{path}: cannot write the bundle here: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted; nothing was written")]
    Interrupted,
}

/// One file of the bundle as it will be stored.
#[derive(Debug, Clone)]
pub struct FileDigest {
    /// The entry's path inside the bundle.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// A build path left in a text file after rewriting.
#[derive(Debug, Clone)]
pub struct Leak {
    pub path: PathBuf,
    pub build_path: String,
}

#[derive(Debug, Default)]
pub struct Digest {
    pub files: Vec<FileDigest>,
    pub elf: elf::Report,
    pub leaks: Vec<Leak>,
}

impl Digest {
    /// Records a file rvenv generated after the digest pass (the manifest).
    pub fn add_generated(&mut self, path: &str, bytes: &[u8]) {
        self.files.push(FileDigest {
            path: PathBuf::from(path),
            size: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
        });
    }
}

fn read(entry: &Entry) -> Result<Vec<u8>, Error> {
    entry.read().map_err(read_error(entry))
}

fn read_error(entry: &Entry) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: entry.origin().unwrap_or(&entry.path).to_path_buf(),
        source,
    }
}

/// Bytes read at a time: files stream through this, however large.
const CHUNK: usize = 256 * 1024;

type Item = (FileDigest, Option<elf::Inspection>, Vec<Leak>);

/// One file, streamed: its hash, its inspection if it is a binary (ELF files are mapped, and
/// only the pages the parser touches are read), and the build paths in it if it is text (no
/// NUL byte anywhere).
fn digest_entry(
    entry: &Entry,
    needles: &[memchr::memmem::Finder],
    build_paths: &[String],
) -> Result<Item, Error> {
    use std::io::Read;
    let mut reader = entry.open().map_err(read_error(entry))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let longest = build_paths.iter().map(String::len).max().unwrap_or(0);
    let mut text = true;
    let mut found = vec![false; needles.len()];
    // The end of the previous chunk, so a build path split across two chunks is still found.
    let mut carry: Vec<u8> = Vec::new();
    let mut head = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(entry)(e)),
        };
        let chunk = &buf[..n];
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
        }
        hasher.update(chunk);
        size += n as u64;
        if text && memchr::memchr(0, chunk).is_some() {
            text = false;
        }
        if text && !needles.is_empty() {
            carry.extend_from_slice(chunk);
            for (i, needle) in needles.iter().enumerate() {
                found[i] |= needle.find(&carry).is_some();
            }
            let keep = longest.saturating_sub(1).min(carry.len());
            carry.drain(..carry.len() - keep);
        }
    }
    let inspection = match (&entry.kind, elf::is_binary_magic(&head)) {
        (_, false) => None,
        (
            Kind::File {
                source: crate::plan::Source::Disk(p),
                rewrite: crate::plan::Rewrite::None,
                ..
            },
            true,
        ) => elf::inspect_file(p, &entry.path).map_err(read_error(entry))?,
        (_, true) => elf::inspect(&entry.path, &read(entry)?),
    };
    let leaks = if text && inspection.is_none() {
        found
            .iter()
            .zip(build_paths)
            .filter(|(f, _)| **f)
            .map(|(_, build_path)| Leak {
                path: entry.path.clone(),
                build_path: build_path.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let file = FileDigest {
        path: entry.path.clone(),
        size,
        sha256: hasher.finalize().into(),
    };
    Ok((file, inspection, leaks))
}

/// Reads every file of the plan (in parallel), hashing it, recognising binaries and scanning
/// text files for build paths; then checks every binary against the target, resolving needed
/// libraries over the whole bundle.
pub fn digest(
    plan: &Plan,
    target: &Target,
    glibc: Option<GlibcVersion>,
    interrupted: &AtomicBool,
) -> Result<Digest, Error> {
    let needles: Vec<memchr::memmem::Finder> = plan
        .build_paths
        .iter()
        .map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned())
        .collect();
    let results: Vec<Item> = plan
        .entries
        .par_iter()
        .filter(|e| matches!(e.kind, Kind::File { .. }))
        .map(|entry| {
            if interrupted.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            digest_entry(entry, &needles, &plan.build_paths)
        })
        .collect::<Result<_, Error>>()?;
    let mut digest = Digest::default();
    let mut binaries = Vec::new();
    for (file, inspection, leaks) in results {
        if let Some(i) = inspection {
            binaries.push((file.path.clone(), i));
        }
        digest.files.push(file);
        digest.leaks.extend(leaks);
    }
    let present: HashSet<PathBuf> = plan.entries.iter().map(|e| e.path.clone()).collect();
    digest.elf = elf::Report::build(
        target,
        glibc,
        binaries,
        &present,
        &[Path::new(BUNDLE_LIB_DIR)],
    );
    Ok(digest)
}

/// Where the bundle keeps the interpreter's own shared libraries (libpython).
pub const BUNDLE_LIB_DIR: &str = "python/lib";

/// `.NAME.XXXXXX.rvenv-tmp` beside the output; the plan never packs such files.
fn temp_file(output: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(crate::plan::TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes the plan as a gzip-compressed tar. Entries go in plan order with uid/gid 0, no
/// owner names, normalised modes and the plan's mtimes; the gzip header carries no time or
/// name. Each file is hashed again as it is written and must match `digest`, so the manifest
/// never describes content other than what was stored.
pub fn write(
    plan: &Plan,
    digest: &Digest,
    output: &Path,
    compression: &Compression,
    interrupted: &AtomicBool,
) -> Result<(), Error> {
    let temp = temp_file(output)?;
    let write_err = |source| Error::Write {
        path: output.to_path_buf(),
        source,
    };
    let buffered = std::io::BufWriter::with_capacity(1 << 20, temp.as_file());
    let sink = crate::compress::Sink::new(
        buffered,
        compression.format,
        compression.level,
        compression.jobs,
    )
    .map_err(write_err)?;
    let mut tar = tar::Builder::new(sink);
    let expected: std::collections::HashMap<&Path, &FileDigest> =
        digest.files.iter().map(|f| (f.path.as_path(), f)).collect();
    let root = PathBuf::from(&plan.arcroot);

    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_mtime(plan.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
    header.set_size(0);
    tar.append_data(&mut header, &root, std::io::empty())
        .map_err(write_err)?;

    for entry in &plan.entries {
        if interrupted.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let path = root.join(&entry.path);
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode());
        header.set_mtime(entry.mtime);
        header.set_uid(0);
        header.set_gid(0);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &path, std::io::empty())
                    .map_err(write_err)?;
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &path, target)
                    .map_err(write_err)?;
            }
            Kind::File { .. } => {
                let changed = || Error::Changed {
                    path: entry.origin().unwrap_or(&entry.path).to_path_buf(),
                };
                let want = expected.get(entry.path.as_path()).ok_or_else(changed)?;
                // Streamed in, hashed on the way: the stored bytes must be the digested ones.
                let mut reader = Hashing {
                    inner: std::io::Read::take(entry.open().map_err(read_error(entry))?, want.size),
                    hasher: Sha256::new(),
                    read: 0,
                };
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(want.size);
                tar.append_data(&mut header, &path, &mut reader)
                    .map_err(write_err)?;
                let sha: [u8; 32] = reader.hasher.finalize().into();
                if sha != want.sha256 || reader.read != want.size {
                    return Err(changed());
                }
            }
        }
    }
    let sink = tar.into_inner().map_err(write_err)?;
    let buffered = sink.finish().map_err(write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(write_err)?;
    temp.persist(output).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// How the tar stream is compressed.
#[derive(Debug, Clone)]
pub struct Compression {
    pub format: crate::compress::Format,
    pub level: u32,
    pub jobs: usize,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Makes sure partial output is never left behind on Ctrl-C or SIGTERM: the handler only sets
/// a flag; the stage that notices it returns `Interrupted` and the temporary file is dropped.
pub fn interrupt_flag() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Failing to install leaves the default behaviour (the process dies, the temporary file
        // may remain): worth a warning, not a refusal.
        if let Err(e) = ctrlc::set_handler(|| FLAG.store(true, Ordering::SeqCst)) {
            let _ = writeln!(std::io::stderr(), "warning: cannot catch Ctrl-C: {e}");
        }
    });
    &FLAG
}

/// The binaries of a plan (a venv as it would be bundled), read as `inspect_file` reads them,
/// in parallel; nothing is hashed.
pub fn read_plan(plan: &Plan, interrupted: &AtomicBool) -> Result<Contents, Error> {
    let binaries = plan
        .entries
        .par_iter()
        .filter_map(|entry| {
            if interrupted.load(Ordering::Relaxed) {
                return Some(Err(Error::Interrupted));
            }
            let inspection = match &entry.kind {
                Kind::File {
                    source: crate::plan::Source::Disk(disk),
                    rewrite: crate::plan::Rewrite::None | crate::plan::Rewrite::PycHeader { .. },
                    ..
                } => elf::inspect_file(disk, &entry.path).map_err(|source| Error::Read {
                    path: disk.clone(),
                    source,
                }),
                Kind::File { .. } => read(entry).map(|bytes| elf::inspect(&entry.path, &bytes)),
                _ => Ok(None),
            };
            inspection
                .map(|i| i.map(|i| (entry.path.clone(), i)))
                .transpose()
        })
        .collect::<Result<_, Error>>()?;
    let present = plan.entries.iter().map(|e| e.path.clone()).collect();
    Ok(Contents { binaries, present })
}

/// The binaries of an existing environment (an extracted bundle or a bundle tarball), for
/// `rvenv check`: what each binary is, and every path present, relative to the root.
#[derive(Debug, Default)]
pub struct Contents {
    pub binaries: Vec<(PathBuf, elf::Inspection)>,
    /// Files and directories, and the symlinks that lead to one of them inside the tree.
    pub present: HashSet<PathBuf>,
}

/// Adds the symlinks (path → target as written) that resolve, inside the tree, to something
/// present: a dangling link, or one leaving the tree, does not make a library "found".
fn add_resolved_links(present: &mut HashSet<PathBuf>, links: &[(PathBuf, PathBuf)]) {
    let map: std::collections::HashMap<&Path, &Path> = links
        .iter()
        .map(|(l, t)| (l.as_path(), t.as_path()))
        .collect();
    for (link, _) in links {
        let mut at = link.clone();
        for _ in 0..40 {
            match map.get(at.as_path()) {
                Some(target) if target.is_relative() => {
                    let joined = at.parent().unwrap_or(Path::new("")).join(target);
                    match crate::plan::normalize(&joined) {
                        Some(next) => at = next,
                        None => break,
                    }
                }
                Some(_) => break, // absolute: leaves the tree
                None => {
                    if present.contains(&at) {
                        present.insert(link.clone());
                    }
                    break;
                }
            }
        }
    }
}

/// Walks a directory (symlinks are not followed).
pub fn read_dir_tree(root: &Path) -> Result<Contents, Error> {
    let mut contents = Contents::default();
    let mut links = Vec::new();
    for item in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| Error::Read {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e.into(),
        })?;
        let rel = item
            .path()
            .strip_prefix(root)
            .expect("under root")
            .to_path_buf();
        if item.file_type().is_file() {
            let inspection =
                elf::inspect_file(item.path(), &rel).map_err(|source| Error::Read {
                    path: item.path().to_path_buf(),
                    source,
                })?;
            if let Some(i) = inspection {
                contents.binaries.push((rel.clone(), i));
            }
        }
        if item.path_is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|source| Error::Read {
                path: item.path().to_path_buf(),
                source,
            })?;
            links.push((rel, target));
        } else {
            contents.present.insert(rel);
        }
    }
    add_resolved_links(&mut contents.present, &links);
    Ok(contents)
}

/// Reads a bundle tarball (gzip-compressed or plain) without extracting it; paths are relative
/// to its single top-level directory.
pub fn read_tarball(path: &Path) -> Result<Contents, Error> {
    use std::io::Read;
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let reader = std::io::BufReader::new(file);
    let (stream, _) = crate::compress::decoder(reader).map_err(read_err)?;
    let mut archive = tar::Archive::new(stream);
    let mut contents = Contents::default();
    let mut links = Vec::new();
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = entry.path().map_err(read_err)?.into_owned();
        // Strip the bundle's root directory.
        let rel: PathBuf = name.components().skip(1).collect();
        if rel.as_os_str().is_empty() {
            continue;
        }
        if entry.header().entry_type().is_file() {
            // The header's size is not trusted for an allocation: the read grows as data comes.
            let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
            entry.read_to_end(&mut bytes).map_err(read_err)?;
            if let Some(i) = elf::inspect(&rel, &bytes) {
                contents.binaries.push((rel.clone(), i));
            }
        }
        if entry.header().entry_type().is_symlink() {
            let target = entry.link_name().map_err(read_err)?.unwrap_or_default();
            links.push((rel, target.into_owned()));
        } else {
            contents.present.insert(rel);
        }
    }
    add_resolved_links(&mut contents.present, &links);
    Ok(contents)
}
