//! The deterministic tarball, written in one pass: files are read, hashed, recognised as
//! binaries and scanned for build paths ahead of the writer, on the thread pool, and stored as
//! they were read. The tarball goes to a temporary file beside the output; it is renamed into
//! place by `Writer::finish` only, once the checks passed and the manifest (its last member)
//! is written. A `Writer` dropped unfinished removes its temporary file.

use crate::bundle::plan::{Entry, Kind, Plan, Rewrite, Source};
use crate::compress::Sink;
use crate::elf;
use crate::read::contents::Contents;
use crate::target::{GlibcVersion, Target};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::read::ReadError),
    #[error("{path}: changed while the bundle was being written")]
    Changed { path: PathBuf },
    #[error("{path}: cannot write the bundle here: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: its directory {} was removed while the bundle was being written", dir.display())]
    DirGone { path: PathBuf, dir: PathBuf },
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }
}

/// One file of the bundle as it was stored.
#[derive(Debug, Clone)]
pub struct FileDigest {
    /// Its entry's index in the plan.
    pub entry: usize,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// A build path left in a text file after rewriting.
#[derive(Debug, Clone)]
pub struct Leak {
    pub path: PathBuf,
    pub build_path: String,
}

/// What was stored: every file's hash, the check of every binary, the build paths left.
#[derive(Debug, Default)]
pub struct Digest {
    pub files: Vec<FileDigest>,
    pub elf: elf::Report,
    pub leaks: Vec<Leak>,
}

fn read(entry: &Entry) -> Result<Vec<u8>, Error> {
    entry.read().map_err(read_error(entry))
}

fn read_error(entry: &Entry) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| {
        crate::read::ReadError {
            path: entry.origin_or_path(),
            source,
        }
        .into()
    }
}

fn changed(entry: &Entry) -> Error {
    Error::Changed {
        path: entry.origin_or_path(),
    }
}

/// Files up to this size are read whole ahead of the writer; larger ones stream through it.
const WHOLE_MAX: u64 = 1 << 20;
/// At most this many bytes of whole files are read ahead and not yet written, whatever the
/// venv's size; past it, files stream through the writer instead of waiting in memory.
const READ_AHEAD: u64 = 4 << 20;
/// A streamed file is read from disk in pieces of this size.
const STREAM_BUFFER: usize = 1 << 20;
/// Files prepared together on the thread pool while the writer stores the previous batch.
const BATCH: usize = 64;

/// What is learnt from a file's bytes as they pass: hash, size, first bytes, and whether it is
/// text (no NUL byte) holding a build path.
struct Scan<'a> {
    needles: &'a [memchr::memmem::Finder<'static>],
    longest: usize,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    text: bool,
    found: Vec<bool>,
    /// The end of the previous chunk, so a build path split across two chunks is still found.
    carry: Vec<u8>,
}

impl<'a> Scan<'a> {
    fn new(needles: &'a [memchr::memmem::Finder<'static>], longest: usize) -> Scan<'a> {
        Scan {
            needles,
            longest,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
            text: true,
            found: vec![false; needles.len()],
            carry: Vec::new(),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        if self.head.len() < 64 {
            let take = chunk.len().min(64 - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        if self.text && memchr::memchr(0, chunk).is_some() {
            self.text = false;
        }
        if !self.text || self.needles.is_empty() {
            return;
        }
        let keep = self.longest.saturating_sub(1);
        let mut seam = std::mem::take(&mut self.carry);
        let had_carry = !seam.is_empty();
        seam.extend_from_slice(&chunk[..chunk.len().min(keep)]);
        if had_carry {
            self.search(&seam);
        }
        self.search(chunk);
        // The last `keep` bytes seen (`seam` is the old carry and all of a short chunk).
        self.carry = if chunk.len() >= keep {
            chunk[chunk.len() - keep..].to_vec()
        } else {
            seam[seam.len().saturating_sub(keep)..].to_vec()
        };
    }

    fn search(&mut self, bytes: &[u8]) {
        for (found, needle) in self.found.iter_mut().zip(self.needles) {
            *found |= needle.find(bytes).is_some();
        }
    }

    fn is_binary(&self) -> bool {
        elf::is_binary_magic(&self.head)
    }

    /// The file's digest, and its leaks if it is text and not a binary.
    fn finish(
        self,
        index: usize,
        entry: &Entry,
        build_paths: &[String],
    ) -> (FileDigest, Vec<Leak>) {
        let leaks = if self.text && !self.is_binary() {
            self.found
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
            entry: index,
            size: self.size,
            sha256: self.hasher.finalize().into(),
        };
        (file, leaks)
    }
}

/// How many bytes of a streamed file pass between two looks at the interrupt flag: a file of
/// gigabytes must not delay Ctrl-C until it is stored.
const INTERRUPT_EVERY: u64 = 256 << 10;

/// A reader that scans what passes through it, remembers whether reading failed (so a source
/// error is not reported as a write error), and stops when the run is interrupted.
struct Scanning<'s, 'n, R> {
    inner: R,
    scan: &'s mut Scan<'n>,
    failed: bool,
    interrupted: &'s AtomicBool,
    stopped: bool,
    unchecked: u64,
}

impl<R: Read> Read for Scanning<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.unchecked >= INTERRUPT_EVERY {
            self.unchecked = 0;
            if self.interrupted.load(Ordering::Relaxed) {
                self.stopped = true;
                // Not ErrorKind::Interrupted, which copy loops retry.
                return Err(std::io::Error::other("interrupted"));
            }
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.scan.update(&buf[..n]);
                self.unchecked += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = e.kind() != std::io::ErrorKind::Interrupted;
                Err(e)
            }
        }
    }
}

enum Content<'a> {
    /// Read whole (small files, and generated ones), stored from memory; `budget` is what it
    /// holds of `READ_AHEAD`.
    Whole {
        bytes: Cow<'a, [u8]>,
        file: FileDigest,
        leaks: Vec<Leak>,
        budget: u64,
    },
    /// Streamed through the writer, which hashes and scans it: large files.
    Stream {
        reader: Box<dyn Read + Send + 'a>,
        size: u64,
    },
}

/// A file made ready for the writer.
struct Prepared<'a> {
    index: usize,
    entry: &'a Entry,
    content: Content<'a>,
    inspection: Option<elf::Inspection>,
}

struct Scanner<'a> {
    needles: &'a [memchr::memmem::Finder<'static>],
    longest: usize,
    build_paths: &'a [String],
}

impl Scanner<'_> {
    fn scan(&self) -> Scan<'_> {
        Scan::new(self.needles, self.longest)
    }
}

/// Reads a small file whole (its bytes must be the length it had when opened), or opens a
/// large one for streaming; binaries are inspected either way.
fn prepare<'a>(
    index: usize,
    entry: &'a Entry,
    scanner: &Scanner<'_>,
    in_flight: &AtomicU64,
) -> Result<Prepared<'a>, Error> {
    let Kind::File {
        source, rewrite, ..
    } = &entry.kind
    else {
        unreachable!("only files are prepared")
    };
    let whole = |bytes: Cow<'a, [u8]>, budget: u64| {
        let mut scan = scanner.scan();
        scan.update(&bytes);
        let inspection = if scan.is_binary() {
            elf::inspect(&entry.path, &bytes)
        } else {
            None
        };
        let (file, leaks) = scan.finish(index, entry, scanner.build_paths);
        Prepared {
            index,
            entry,
            content: Content::Whole {
                bytes,
                file,
                leaks,
                budget,
            },
            inspection,
        }
    };
    if let Source::Bytes(bytes) = source {
        return Ok(whole(Cow::Borrowed(bytes), 0));
    }
    let (mut reader, size) = entry.open().map_err(read_error(entry))?;
    // A binary whose RUNPATH was confined is already whole in memory (it had to be parsed to
    // be patched), and is checked as patched.
    if matches!(rewrite, Rewrite::Binary(_)) {
        let mut bytes = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut bytes).map_err(read_error(entry))?;
        return Ok(whole(Cow::Owned(bytes), 0));
    }
    let fits = size <= WHOLE_MAX
        && in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                (f + size <= READ_AHEAD).then_some(f + size)
            })
            .is_ok();
    if fits {
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut reader)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error(entry))?;
        if bytes.len() as u64 != size {
            return Err(changed(entry));
        }
        return Ok(whole(Cow::Owned(bytes), size));
    }
    // Binaries are mapped and only the pages the parser touches are read; a large pyc is not
    // a binary.
    let inspection = match (source, rewrite, entry.source_path()) {
        (Source::Disk(_) | Source::Tree { .. }, Rewrite::None, Some(disk)) => {
            elf::inspect_file(&disk, &entry.path).map_err(read_error(entry))?
        }
        _ => None,
    };
    Ok(Prepared {
        index,
        entry,
        content: Content::Stream { reader, size },
        inspection,
    })
}

/// Where the bundle keeps the interpreter's own shared libraries (libpython).
pub const BUNDLE_LIB_DIR: &str = "python/lib";

/// The directory the output goes to.
fn output_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The start of the temporary files' names for `output`: `.NAME.`.
fn temp_prefix(output: &Path) -> String {
    format!(
        ".{}.",
        output.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// The bundle being written: `.NAME.XXXXXX.rvenv-tmp` beside the output (the plan never packs
/// such files), locked (flock) for as long as this run writes it, so another run can tell a
/// file in use from one left by a run that was killed. Dropped without being renamed into
/// place, it is removed; if it cannot be (its directory was made read-only meanwhile), it is
/// emptied and named in a warning.
struct TempOutput {
    file: Option<std::fs::File>,
    path: PathBuf,
}

impl TempOutput {
    fn create(output: &Path) -> Result<TempOutput, Error> {
        let dir = output_dir(output);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(output))
            .suffix(crate::bundle::plan::TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        // A file system without locks only loses the clean-up of leftovers (see `remove_stale`).
        let _ = temp.as_file().try_lock();
        let (file, path) = temp.into_parts();
        let path = path.keep().map_err(|e| Error::Write {
            path: output.to_path_buf(),
            source: e.error,
        })?;
        Ok(TempOutput {
            file: Some(file),
            path,
        })
    }

    fn file(&self) -> &std::fs::File {
        self.file
            .as_ref()
            .expect("the file is taken only by persist")
    }

    /// Renames the finished file over `output` (atomically: a reader sees the old file or the
    /// new one, never a part).
    fn persist(mut self, output: &Path) -> Result<(), Error> {
        match std::fs::rename(&self.path, output) {
            Ok(()) => {
                self.file.take();
                Ok(())
            }
            Err(source) => {
                let dir = output_dir(output);
                if source.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
                    return Err(Error::DirGone {
                        path: output.to_path_buf(),
                        dir: dir.to_path_buf(),
                    });
                }
                Err(Error::Write {
                    path: output.to_path_buf(),
                    source,
                })
            }
        }
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let what = match file.set_len(0) {
                    Ok(()) => "emptied it".to_string(),
                    Err(t) => format!("and cannot empty it either ({t})"),
                };
                crate::ui::warning(&format!(
                    "{}: the unfinished bundle cannot be removed ({e}); {what}: delete it by hand",
                    self.path.display()
                ));
            }
        }
    }
}

/// Temporary files of `output` left by runs that were killed (SIGKILL, a crash, a power cut):
/// not locked by a running rvenv, and not modified for a few seconds (so a file another run has
/// just created, and not yet locked, is never taken for one). They are removed; their paths
/// are returned.
fn remove_stale(output: &Path) -> Vec<PathBuf> {
    let dir = output_dir(output);
    let prefix = temp_prefix(output);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(&prefix) || !name.ends_with(crate::bundle::plan::TEMP_SUFFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let old = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= std::time::Duration::from_secs(2));
        if old && file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// A bundle being written. Entries go in plan order with uid/gid 0, no owner names,
/// normalised modes and the plan's mtimes; the compressed stream carries no time or name.
pub struct Writer {
    tar: tar::Builder<Sink<BufWriter<std::fs::File>>>,
    output: PathBuf,
    root: PathBuf,
    /// Temporary files of earlier, killed runs for the same output, removed before this one
    /// started.
    pub removed_stale: Vec<PathBuf>,
    /// Last, so it is dropped after the tar stream (which flushes into it) when the run fails.
    temp: TempOutput,
}

impl Writer {
    /// Starts the bundle of `plan` in a temporary file beside `output`, with its root directory.
    pub fn create(
        output: &Path,
        plan: &Plan,
        compression: &crate::compress::Settings,
    ) -> Result<Writer, Error> {
        let removed_stale = remove_stale(output);
        let temp = TempOutput::create(output)?;
        let write_err = |source| Error::Write {
            path: output.to_path_buf(),
            source,
        };
        let file = temp.file().try_clone().map_err(write_err)?;
        let sink = Sink::new(
            BufWriter::with_capacity(1 << 20, file),
            compression.format,
            compression.level,
            compression.jobs,
        )
        .map_err(write_err)?;
        let mut writer = Writer {
            tar: tar::Builder::new(sink),
            output: output.to_path_buf(),
            root: PathBuf::from(&plan.arcroot),
            removed_stale,
            temp,
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(plan.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
        header.set_size(0);
        let root = writer.root.clone();
        writer
            .tar
            .append_data(&mut header, &root, std::io::empty())
            .map_err(write_err)?;
        Ok(writer)
    }

    fn write_err(&self) -> impl FnOnce(std::io::Error) -> Error + '_ {
        |source| Error::Write {
            path: self.output.clone(),
            source,
        }
    }

    /// Stores every entry of the plan, in order, each file read once; returns what was stored
    /// and the check of every binary against the target (needed libraries are resolved over
    /// the whole bundle). `stored` is called with each file's size once it is written.
    pub fn append_plan(
        &mut self,
        plan: &Plan,
        target: &Target,
        glibc: Option<GlibcVersion>,
        interrupted: &AtomicBool,
        stored: &dyn Fn(u64),
    ) -> Result<Digest, Error> {
        let needles: Vec<memchr::memmem::Finder<'static>> = plan
            .build_paths
            .iter()
            .map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned())
            .collect();
        let scanner = Scanner {
            needles: &needles,
            longest: plan.build_paths.iter().map(String::len).max().unwrap_or(0),
            build_paths: &plan.build_paths,
        };
        let files: Vec<(usize, &Entry)> = plan
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.kind, Kind::File { .. }))
            .collect();
        let in_flight = AtomicU64::new(0);
        let mut digest = Digest {
            files: Vec::with_capacity(files.len()),
            ..Digest::default()
        };
        let mut binaries = Vec::new();
        std::thread::scope(|s| -> Result<(), Error> {
            // One batch is read while the writer stores the one before; the channel holds one
            // more, so at most three batches (and READ_AHEAD bytes of whole files) exist.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Prepared>, Error>>(1);
            let (files, scanner, in_flight) = (&files, &scanner, &in_flight);
            s.spawn(move || {
                for batch in files.chunks(BATCH) {
                    let prepared = if interrupted.load(Ordering::Relaxed) {
                        Err(Error::Interrupted(crate::interrupt::Interrupted))
                    } else {
                        batch
                            .par_iter()
                            .map(|&(index, entry)| prepare(index, entry, scanner, in_flight))
                            .collect()
                    };
                    let failed = prepared.is_err();
                    if tx.send(prepared).is_err() || failed {
                        return;
                    }
                }
            });
            let mut ready = Vec::new().into_iter();
            for entry in &plan.entries {
                if interrupted.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted(crate::interrupt::Interrupted));
                }
                if !matches!(entry.kind, Kind::File { .. }) {
                    self.append_other(entry)?;
                    continue;
                }
                let prepared = match ready.next() {
                    Some(p) => p,
                    None => {
                        let batch = rx
                            .recv()
                            .map_err(|_| Error::Interrupted(crate::interrupt::Interrupted))??;
                        ready = batch.into_iter();
                        ready.next().expect("batches are never empty")
                    }
                };
                debug_assert!(std::ptr::eq(prepared.entry, entry));
                let budget = match &prepared.content {
                    Content::Whole { budget, .. } => *budget,
                    Content::Stream { .. } => 0,
                };
                let Prepared {
                    index,
                    content,
                    inspection,
                    ..
                } = prepared;
                let (file, leaks) =
                    self.append_file(index, entry, content, scanner, interrupted)?;
                in_flight.fetch_sub(budget, Ordering::AcqRel);
                stored(file.size);
                if let Some(i) = inspection {
                    binaries.push((entry.path.clone(), i));
                }
                digest.files.push(file);
                digest.leaks.extend(leaks);
            }
            Ok(())
        })?;
        let present = |p: &Path| {
            plan.entries
                .binary_search_by(|e| crate::paths::path_order(&e.path, p))
                .is_ok()
        };
        digest.elf = elf::Report::build(
            target,
            glibc,
            binaries,
            &present,
            &[Path::new(BUNDLE_LIB_DIR)],
        );
        Ok(digest)
    }

    fn header(entry: &Entry) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode());
        header.set_mtime(entry.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn append_other(&mut self, entry: &Entry) -> Result<(), Error> {
        let path = self.root.join(&entry.path);
        let mut header = Self::header(entry);
        header.set_size(0);
        let result = match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                self.tar.append_data(&mut header, &path, std::io::empty())
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                self.tar.append_link(&mut header, &path, target)
            }
            Kind::File { .. } => unreachable!("files are appended by append_file"),
        };
        result.map_err(self.write_err())
    }

    fn append_file(
        &mut self,
        index: usize,
        entry: &Entry,
        content: Content<'_>,
        scanner: &Scanner<'_>,
        interrupted: &AtomicBool,
    ) -> Result<(FileDigest, Vec<Leak>), Error> {
        let path = self.root.join(&entry.path);
        let mut header = Self::header(entry);
        header.set_entry_type(tar::EntryType::Regular);
        match content {
            Content::Whole {
                bytes, file, leaks, ..
            } => {
                header.set_size(bytes.len() as u64);
                self.tar
                    .append_data(&mut header, &path, &*bytes)
                    .map_err(self.write_err())?;
                Ok((file, leaks))
            }
            Content::Stream { reader, size } => {
                let mut scan = scanner.scan();
                // The tar writer copies in 8 KiB pieces: read the file in large ones (one
                // buffer, only for the file being stored).
                let reader = std::io::BufReader::with_capacity(STREAM_BUFFER, reader);
                let mut scanning = Scanning {
                    inner: reader.take(size),
                    scan: &mut scan,
                    failed: false,
                    interrupted,
                    stopped: false,
                    unchecked: 0,
                };
                header.set_size(size);
                let result = self.tar.append_data(&mut header, &path, &mut scanning);
                let (failed, stopped) = (scanning.failed, scanning.stopped);
                let mut rest = scanning.inner.into_inner();
                match result {
                    Err(_) if stopped => {
                        return Err(Error::Interrupted(crate::interrupt::Interrupted));
                    }
                    Err(e) if failed => return Err(read_error(entry)(e)),
                    Err(e) => return Err(self.write_err()(e)),
                    Ok(()) => {}
                }
                // Shorter than its header says, or grown since it was opened: the stored bytes
                // would not be the file.
                let mut one = [0u8; 1];
                let grew = rest.read(&mut one).map_err(read_error(entry))? != 0;
                if scan.size != size || grew {
                    return Err(changed(entry));
                }
                Ok(scan.finish(index, entry, scanner.build_paths))
            }
        }
    }

    /// Appends the manifest (`len` bytes, the last member), then makes the bundle whole: the
    /// stream is finished, synced to disk and renamed over `output`.
    pub fn finish(
        mut self,
        name: &str,
        len: u64,
        manifest: impl Read,
        mtime: u64,
    ) -> Result<(), Error> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(len);
        let path = self.root.join(name);
        self.tar
            .append_data(&mut header, &path, manifest)
            .map_err(self.write_err())?;
        let Writer {
            temp, tar, output, ..
        } = self;
        let write_err = |source| Error::Write {
            path: output.clone(),
            source,
        };
        let sink = tar.into_inner().map_err(write_err)?;
        let buffered = sink.finish().map_err(write_err)?;
        let file = buffered
            .into_inner()
            .map_err(|e| write_err(e.into_error()))?;
        // Written through to the disk before the rename, so a crash leaves the old file or the
        // whole new one (ENOSPC on delayed allocation shows here too).
        file.sync_all().map_err(write_err)?;
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(write_err)?;
        drop(file);
        temp.persist(&output)
    }
}

/// The binaries of a plan (a venv as it would be bundled), read as `inspect_file` reads them,
/// in parallel; nothing is hashed.
pub fn read_plan(
    plan: &Plan,
    interrupted: &AtomicBool,
    done: &(dyn Fn(u64) + Sync),
) -> Result<Contents, Error> {
    let binaries = plan
        .entries
        .par_iter()
        .filter_map(|entry| {
            if interrupted.load(Ordering::Relaxed) {
                return Some(Err(Error::Interrupted(crate::interrupt::Interrupted)));
            }
            let inspection = match (&entry.kind, entry.source_path()) {
                (
                    Kind::File {
                        rewrite: Rewrite::None | Rewrite::PycHeader { .. },
                        ..
                    },
                    Some(disk),
                ) => elf::inspect_file(&disk, &entry.path).map_err(read_error(entry)),
                (Kind::File { .. }, _) => {
                    read(entry).map(|bytes| elf::inspect(&entry.path, &bytes))
                }
                _ => Ok(None),
            };
            if matches!(entry.kind, Kind::File { .. }) {
                done(
                    entry
                        .origin()
                        .and_then(|p| p.metadata().ok())
                        .map_or(0, |m| m.len()),
                );
            }
            inspection
                .map(|i| i.map(|i| (entry.path.clone(), i)))
                .transpose()
        })
        .collect::<Result<_, Error>>()?;
    let present = plan.entries.iter().map(|e| e.path.clone()).collect();
    Ok(Contents { binaries, present })
}
