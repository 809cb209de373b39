//! The bundle as a sorted list of entries: archive path, source, mode and rewrite. Building the
//! plan reads the tree's metadata and the few small files that are rewritten (scripts, activate,
//! pyvenv.cfg, RECORD, the interpreter); every other file is read once, by the archive stage.

use crate::elf;
use crate::paths::{normalize, path_order, relative};
use crate::python::venv::Venv;
use crate::python::{dist, rewrite};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: dangling symlink (its target {target} does not exist)")]
    DanglingSymlink { path: PathBuf, target: PathBuf },
    #[error("{0}: symlink loop")]
    SymlinkLoop(PathBuf),
    #[error("{path}: symlink leaves the venv (points to {target})")]
    SymlinkLeaves { path: PathBuf, target: PathBuf },
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error("{path}: cannot be rewritten: {source}")]
    Rewrite {
        path: PathBuf,
        source: rewrite::Error,
    },
    #[error(
        "{0}: links a shared libpython but has no RUNPATH or RPATH to point at the bundle's copy"
    )]
    NoRunpath(PathBuf),
    #[error("{}", editable_message(.0))]
    Editable(Vec<dist::Finding>, &'static str),
    #[error(
        "{0}: the venv has its own top-level '{1}', where the bundle keeps the base installation"
    )]
    Conflict(PathBuf, &'static str),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    #[error(transparent)]
    Elf(#[from] elf::Error),
    #[error(transparent)]
    Dist(#[from] dist::Error),
}

fn editable_message(findings: &[dist::Finding]) -> String {
    let list: Vec<String> = findings
        .iter()
        .map(|f| format!("{}: {}", f.path.display(), f.what))
        .collect();
    format!(
        "editable installs point at this machine and would not import from the bundle:\n  {}",
        list.join("\n  ")
    )
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::Editable(_, hint) => Some(hint),
            Error::SymlinkLeaves { .. } => {
                Some("replace the link with a copy of the file, or move its target into the venv")
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    Disk(PathBuf),
    /// The file at the entry's own path, less its first `skip` components, under `root`: a
    /// copied tree's files share one root instead of each holding its whole path.
    Tree {
        root: Arc<Path>,
        skip: usize,
    },
    Bytes(Vec<u8>),
}

/// Which rewrite produced an entry's content; `PycHeader` is applied when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    None,
    Shebang,
    PyvenvCfg,
    Activate,
    Record,
    Runpath,
    /// A binary changed in place when read (its size and layout kept): RUNPATH/RPATH elements
    /// outside the bundle, and CPython's home search pinned to the bundle (`BinaryFix`).
    Binary(Arc<BinaryFix>),
    Generated,
    /// Timestamp pyc: its recorded source mtime becomes the source's mtime in the archive.
    PycHeader {
        source_size: u64,
        source_mtime: u32,
        mtime: u32,
    },
}

#[derive(Debug, Clone)]
pub enum Kind {
    Dir,
    File {
        source: Source,
        executable: bool,
        rewrite: Rewrite,
    },
    Symlink {
        target: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the archive root.
    pub path: PathBuf,
    pub kind: Kind,
    pub mtime: u64,
    /// For content rvenv made from a file (a stripped copy, compiled bytecode, a rewritten
    /// interpreter): that file, named in messages instead of the temporary copy.
    pub derived_from: Option<PathBuf>,
}

impl Entry {
    pub fn mode(&self) -> u32 {
        match &self.kind {
            Kind::Dir => 0o755,
            Kind::File {
                executable: true, ..
            } => 0o755,
            Kind::File { .. } => 0o644,
            Kind::Symlink { .. } => 0o777,
        }
    }

    /// The file's bytes as they go into the archive, as a stream, with their size when opened
    /// (the file's length then): large files are never held whole in memory. A timestamp pyc
    /// gets its header patched on the way.
    pub fn open(&self) -> std::io::Result<(Box<dyn std::io::Read + Send + '_>, u64)> {
        use std::io::Read;
        let Kind::File {
            source, rewrite, ..
        } = &self.kind
        else {
            return Ok((Box::new(std::io::empty()), 0));
        };
        match source {
            Source::Bytes(b) => Ok((Box::new(b.as_slice()), b.len() as u64)),
            Source::Disk(_) | Source::Tree { .. } => {
                let path = self.source_path().expect("a file on disk");
                let mut file = std::fs::File::open(&path)?;
                let size = file.metadata()?.len();
                if let Rewrite::Binary(fix) = rewrite {
                    let mut bytes = Vec::with_capacity(size as usize);
                    file.read_to_end(&mut bytes)?;
                    let new = fix.apply(bytes, &path)?;
                    let len = new.len() as u64;
                    return Ok((Box::new(std::io::Cursor::new(new)), len));
                }
                let Rewrite::PycHeader {
                    source_size,
                    source_mtime,
                    mtime,
                } = *rewrite
                else {
                    return Ok((Box::new(file), size));
                };
                let mut head = Vec::with_capacity(16);
                (&mut file).take(16).read_to_end(&mut head)?;
                if let Some(header) = rewrite::pyc_header(&head, source_size, source_mtime, mtime) {
                    head.copy_from_slice(&header);
                }
                Ok((Box::new(std::io::Cursor::new(head).chain(file)), size))
            }
        }
    }

    /// The whole file as it goes into the archive (for small files and tests).
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open()?.0.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Where the content is read from on disk.
    pub fn source_path(&self) -> Option<Cow<'_, Path>> {
        match &self.kind {
            Kind::File {
                source: Source::Disk(p),
                ..
            } => Some(Cow::Borrowed(p)),
            Kind::File {
                source: Source::Tree { root, skip },
                ..
            } => Some(Cow::Owned(
                root.join(self.path.components().skip(*skip).collect::<PathBuf>()),
            )),
            _ => None,
        }
    }

    /// The venv's file the content comes from (for a stripped copy, its original), for
    /// messages.
    pub fn origin(&self) -> Option<Cow<'_, Path>> {
        match &self.derived_from {
            Some(from) => Some(Cow::Borrowed(from)),
            None => self.source_path(),
        }
    }

    /// The origin on disk, or the path inside the bundle for generated content: for messages.
    pub fn origin_or_path(&self) -> PathBuf {
        self.origin()
            .map_or_else(|| self.path.clone(), Cow::into_owned)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub arcroot: String,
    /// Sorted by path, component by component; parents come before their children.
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
    /// Build-machine paths that must not remain in text files.
    pub build_paths: Vec<String>,
    /// Paths (inside the bundle) of files whose content rvenv changed, with the rewrite.
    pub rewritten: Vec<(PathBuf, Rewrite)>,
    /// Each RUNPATH/RPATH element that named a folder outside the bundle, and what it became.
    pub search_paths: Vec<SearchPathChange>,
    /// Console scripts `pip install --target` wrote into site-packages/bin, with the
    /// interpreter their shebang named: rewritten to run the bundle's.
    pub site_scripts: Vec<(PathBuf, String)>,
    /// One line per size-trimming option given: what it left out or changed, in bytes.
    pub trimmed: Vec<String>,
    /// Stripped copies and compiled bytecode the entries point at; removed with the plan.
    pub scratch: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Plan {
    /// Adds a generated file (manifest, requirements) at its sorted place, replacing any file of
    /// the same name.
    pub fn add_generated(&mut self, path: &str, bytes: Vec<u8>, mtime: u64) {
        let path = PathBuf::from(path);
        self.entries.retain(|e| e.path != path);
        // One more, not double: plans of many files are large.
        self.entries.reserve_exact(1);
        let at = self.entries.partition_point(|e| e.path < path);
        self.entries.insert(
            at,
            Entry {
                path,
                kind: Kind::File {
                    source: Source::Bytes(bytes),
                    executable: false,
                    rewrite: Rewrite::Generated,
                },
                mtime,
                derived_from: None,
            },
        );
    }
}

impl Plan {
    /// The files and their bytes as they will be stored (one stat per file on disk), for
    /// progress.
    pub fn file_totals(&self) -> (u64, u64) {
        let mut totals = (0, 0);
        for entry in &self.entries {
            let Kind::File { source, .. } = &entry.kind else {
                continue;
            };
            totals.0 += 1;
            totals.1 += match source {
                Source::Bytes(b) => b.len() as u64,
                _ => entry
                    .source_path()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len()),
            };
        }
        totals
    }
}

/// The suffix of rvenv's temporary output files, never packed.
pub const TEMP_SUFFIX: &str = ".rvenv-tmp";

/// Whether a regular file starts with `magic`, reading only that much.
fn starts_with(path: &Path, magic: &[u8]) -> Result<bool, Error> {
    use std::io::Read;
    let mut head = vec![0u8; magic.len()];
    let mut file = std::fs::File::open(path).map_err(crate::error::io(path))?;
    match file.read_exact(&mut head) {
        Ok(()) => Ok(head == magic),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(crate::error::io(path)(e).into()),
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// The system's error behind a walk error, so the message is "PATH: Permission denied" rather
/// than walkdir's own wording around it.
fn walk_error(e: walkdir::Error) -> std::io::Error {
    if e.io_error().is_some() {
        e.into_io_error().expect("checked")
    } else {
        e.into()
    }
}

/// How symlinks of a copied tree are handled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkPolicy {
    /// The venv: links must stay inside it; dangling links and loops are errors.
    Strict,
    /// The base's standard library: a link leaving it is copied as the file it points to, a
    /// dangling one is skipped with a warning (distributions link config files into it).
    Dereference,
}

struct Builder<'a> {
    venv: &'a Venv,
    config: &'a Options,
    /// In insertion order until `sort`; a later entry replaces an earlier one of the same path.
    entries: Vec<Entry>,
    warnings: Vec<String>,
    rewritten: Vec<(PathBuf, Rewrite)>,
    search_paths: Vec<SearchPathChange>,
    site_scripts: Vec<(PathBuf, String)>,
    /// Other shells' activate scripts that name the venv's path, left out.
    left_out_activate: Vec<String>,
    /// bin/ scripts rewritten, by venv-relative path → (RECORD hash, size).
    new_hashes: BTreeMap<PathBuf, (String, u64)>,
    /// The venv's time for generated entries when SOURCE_DATE_EPOCH is not set.
    default_mtime: u64,
    /// The output file when it lies inside the venv.
    output_in_venv: Option<PathBuf>,
    interrupted: &'a std::sync::atomic::AtomicBool,
}

impl Builder<'_> {
    fn mtime(&self, meta: &std::fs::Metadata) -> u64 {
        self.config
            .source_date_epoch
            .unwrap_or_else(|| meta.mtime().max(0) as u64)
    }

    fn generated_mtime(&self) -> u64 {
        self.config.source_date_epoch.unwrap_or(self.default_mtime)
    }

    fn insert(&mut self, path: PathBuf, kind: Kind, mtime: u64) {
        if let Kind::File { rewrite, .. } = &kind
            && !matches!(rewrite, Rewrite::None | Rewrite::PycHeader { .. })
        {
            self.rewritten.push((path.clone(), rewrite.clone()));
        }
        self.entries.push(Entry {
            path,
            kind,
            mtime,
            derived_from: None,
        });
    }

    /// Sorts the entries by `path_order`; of several with one path, the last inserted stays.
    /// The venv's own root ("") is not an entry.
    fn sort(&mut self) {
        self.entries.sort_by(|a, b| path_order(&a.path, &b.path));
        self.entries.dedup_by(|later, kept| {
            let same = later.path == kept.path;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        self.entries.retain(|e| !e.path.as_os_str().is_empty());
    }

    fn find_mut(&mut self, path: &Path) -> Option<&mut Entry> {
        let at = self
            .entries
            .binary_search_by(|e| path_order(&e.path, path))
            .ok()?;
        Some(&mut self.entries[at])
    }

    fn file(&mut self, dest: PathBuf, src: &Path, meta: &std::fs::Metadata) {
        let rewrite = self.pyc_rewrite(src).unwrap_or(Rewrite::None);
        let kind = Kind::File {
            source: Source::Disk(src.to_path_buf()),
            executable: meta.permissions().mode() & 0o111 != 0,
            rewrite,
        };
        self.insert(dest, kind, self.mtime(meta));
    }

    /// With SOURCE_DATE_EPOCH every source gets a new mtime, so timestamp pycs that are valid
    /// for their source (CPython's rule: same mtime and size) are patched to match; stale ones
    /// stay stale, as CPython would treat them. Without it, mtimes and pycs are kept.
    fn pyc_rewrite(&self, pyc: &Path) -> Option<Rewrite> {
        let epoch = self.config.source_date_epoch?;
        let name = pyc.file_name()?.to_str()?;
        let cache = pyc.parent()?;
        if !name.ends_with(".pyc") || cache.file_name()? != "__pycache__" {
            return None;
        }
        let module = name.split('.').next()?;
        let source = cache.parent()?.join(format!("{module}.py"));
        let meta = std::fs::metadata(source).ok()?;
        Some(Rewrite::PycHeader {
            source_size: meta.len(),
            source_mtime: meta.mtime() as u32,
            mtime: epoch as u32,
        })
    }

    /// Copies the tree at `src` to `dest`, skipping what `skip` says (given the path relative
    /// to `src`).
    fn tree(
        &mut self,
        src: &Path,
        dest: &Path,
        link_root: &Path,
        policy: LinkPolicy,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<(), Error> {
        let walk = walkdir::WalkDir::new(src)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.path()
                    .strip_prefix(src)
                    .map_or(true, |rel| rel.as_os_str().is_empty() || !skip(rel))
            });
        let root: Arc<Path> = Arc::from(src);
        let skip = dest.components().count();
        for item in walk {
            if self.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(crate::interrupt::Interrupted.into());
            }
            let item = item.map_err(|e| {
                let path = e.path().unwrap_or(src).to_path_buf();
                Error::Io(crate::error::PathError {
                    path,
                    source: walk_error(e),
                })
            })?;
            let path = item.path();
            let rel = path.strip_prefix(src).expect("walk stays under its root");
            let out = dest.join(rel);
            let meta = item.metadata().map_err(|e| {
                Error::Io(crate::error::PathError {
                    path: path.to_path_buf(),
                    source: walk_error(e),
                })
            })?;
            let ft = meta.file_type();
            if ft.is_dir() {
                self.insert(out, Kind::Dir, self.mtime(&meta));
            } else if ft.is_file() {
                let rewrite = self.pyc_rewrite(path).unwrap_or(Rewrite::None);
                let kind = Kind::File {
                    source: Source::Tree {
                        root: root.clone(),
                        skip,
                    },
                    executable: meta.permissions().mode() & 0o111 != 0,
                    rewrite,
                };
                self.insert(out, kind, self.mtime(&meta));
            } else if ft.is_symlink() {
                self.symlink(path, link_root, out, policy, &meta)?;
            } else {
                self.warnings.push(format!(
                    "{}: skipped: not a regular file, directory or symlink (a socket, FIFO or device)",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    fn symlink(
        &mut self,
        link: &Path,
        tree_root: &Path,
        dest: PathBuf,
        policy: LinkPolicy,
        meta: &std::fs::Metadata,
    ) -> Result<(), Error> {
        let target = std::fs::read_link(link).map_err(crate::error::io(link))?;
        let resolved = match link.canonicalize() {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::SymlinkLoop(link.to_path_buf()));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(crate::error::io(link)(e).into());
            }
            Err(_) if policy == LinkPolicy::Dereference => {
                self.warnings.push(format!(
                    "{}: skipped: dangling symlink to {}",
                    link.display(),
                    target.display()
                ));
                return Ok(());
            }
            Err(_) => {
                return Err(Error::DanglingSymlink {
                    path: link.to_path_buf(),
                    target,
                });
            }
        };
        let parent = link.parent().unwrap_or(tree_root);
        let parent = parent.canonicalize().map_err(crate::error::io(parent))?;
        let inside = resolved.starts_with(tree_root);
        if !inside && policy == LinkPolicy::Strict {
            return Err(Error::SymlinkLeaves {
                path: link.to_path_buf(),
                target: resolved,
            });
        }
        let target_meta = std::fs::metadata(&resolved).map_err(crate::error::io(&resolved))?;
        if !target_meta.is_file() && !target_meta.is_dir() {
            // The special file itself is skipped; a link to it would dangle in the bundle.
            self.warnings.push(format!(
                "{}: skipped: symlink to {}, not a regular file or directory (a socket, FIFO or device)",
                link.display(),
                resolved.display()
            ));
            return Ok(());
        }
        if inside {
            let kind = Kind::Symlink {
                target: relative(&parent, &resolved),
            };
            self.insert(dest, kind, self.mtime(meta));
            return Ok(());
        }
        // Dereference (a strict tree returned above): the file is copied.
        if target_meta.is_file() {
            self.file(dest, &resolved, &target_meta);
        } else {
            self.warnings.push(format!(
                "{}: skipped: symlink to a directory outside the standard library ({})",
                link.display(),
                resolved.display()
            ));
        }
        Ok(())
    }

    /// The venv's bin/: interpreter links are replaced by the bundle's own, activate scripts and
    /// Python scripts are rewritten, everything else is copied.
    fn bin(&mut self) -> Result<(), Error> {
        let bin = self.venv.real_root.join("bin");
        let meta = std::fs::metadata(&bin).map_err(crate::error::io(&bin))?;
        self.insert(PathBuf::from("bin"), Kind::Dir, self.mtime(&meta));
        let mut children: Vec<_> = std::fs::read_dir(&bin)
            .map_err(crate::error::io(&bin))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(crate::error::io(&bin))?;
        children.sort();
        let exe = self.venv.version.exe_name();
        for path in children {
            let name = path.file_name().expect("read_dir names").to_owned();
            let dest = Path::new("bin").join(&name);
            let meta = path.symlink_metadata().map_err(crate::error::io(&path))?;
            let name = name.to_string_lossy();
            let is_interpreter = rewrite::is_python_name(&name)
                && (meta.file_type().is_symlink()
                    || (meta.is_file() && starts_with(&path, elf::MAGIC)?));
            if is_interpreter
                || self.output_in_venv.as_deref() == Some(&path)
                || name.ends_with(TEMP_SUFFIX)
            {
                continue;
            }
            if meta.file_type().is_symlink()
                && path.canonicalize().ok().as_deref() == Some(self.venv.interpreter.as_path())
            {
                self.insert(
                    dest,
                    Kind::Symlink {
                        target: exe.clone().into(),
                    },
                    self.mtime(&meta),
                );
                continue;
            }
            if !meta.file_type().is_file() {
                let skip = |_: &Path| false;
                let root = self.venv.real_root.clone();
                if meta.is_dir() {
                    self.tree(&path, &dest, &root, LinkPolicy::Strict, &skip)?;
                } else if meta.file_type().is_symlink() {
                    self.symlink(&path, &root, dest, LinkPolicy::Strict, &meta)?;
                } else {
                    self.warnings.push(format!(
                        "{}: skipped: not a regular file, directory or symlink",
                        path.display()
                    ));
                }
                continue;
            }
            self.bin_file(&path, dest, &name, &meta)?;
        }
        let mtime = self.generated_mtime();
        let linked = PathBuf::from("../python/bin").join(&exe);
        self.insert(
            Path::new("bin").join(&exe),
            Kind::Symlink { target: linked },
            mtime,
        );
        for alias in ["python3", "python"] {
            if alias != exe {
                let kind = Kind::Symlink {
                    target: exe.clone().into(),
                };
                self.insert(Path::new("bin").join(alias), kind, mtime);
            }
        }
        Ok(())
    }

    fn bin_file(
        &mut self,
        path: &Path,
        dest: PathBuf,
        name: &str,
        meta: &std::fs::Metadata,
    ) -> Result<(), Error> {
        let executable = meta.permissions().mode() & 0o111 != 0;
        let is_script = starts_with(path, b"#!")?;
        let rewrite_error = |source| Error::Rewrite {
            path: path.to_path_buf(),
            source,
        };
        let text = |bytes: Vec<u8>| {
            String::from_utf8(bytes).map_err(|_| {
                Error::Io(crate::error::PathError {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
                })
            })
        };
        let venv_paths: Vec<String> = [&self.venv.root, &self.venv.real_root]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let venv_paths: Vec<&str> = venv_paths.iter().map(String::as_str).collect();
        let new = match name {
            "activate" => {
                let s = text(std::fs::read(path).map_err(crate::error::io(path))?)?;
                let new = rewrite::activate_sh(&s, &venv_paths)
                    .unwrap_or_else(|_| rewrite::own_activate_sh(&self.prompt()));
                Some((new.into_bytes(), Rewrite::Activate))
            }
            "activate.fish" => {
                let s = text(std::fs::read(path).map_err(crate::error::io(path))?)?;
                let new = rewrite::activate_fish(&s, &venv_paths)
                    .unwrap_or_else(|_| rewrite::own_activate_fish(&self.prompt()));
                Some((new.into_bytes(), Rewrite::Activate))
            }
            // Other shells' scripts (nushell, xonsh, cmd, PowerShell) and virtualenv's
            // activate_this.py that name the venv's own path cannot be trusted to follow the
            // bundle: they are left out, and said so.
            "activate.csh" => Some((rewrite::activate_csh().into_bytes(), Rewrite::Activate)),
            _ if OTHER_ACTIVATE.contains(&name) && {
                let bytes = std::fs::read(path).map_err(crate::error::io(path))?;
                let text = String::from_utf8_lossy(&bytes);
                rewrite::mentions(&text, &venv_paths)
            } =>
            {
                self.left_out_activate.push(name.to_string());
                return Ok(());
            }
            _ if is_script => {
                let bytes = std::fs::read(path).map_err(crate::error::io(path))?;
                match rewrite::parse_launcher(&bytes) {
                    None => None,
                    Some(launcher) => {
                        let exe = self.venv.version.exe_name();
                        let python = if ["python", "python3", exe.as_str()]
                            .contains(&launcher.python.as_str())
                        {
                            launcher.python
                        } else {
                            exe
                        };
                        rewrite::relocatable_script(&bytes, &python)
                            .map_err(rewrite_error)?
                            .map(|b| (b, Rewrite::Shebang))
                    }
                }
            }
            _ => None,
        };
        match new {
            Some((bytes, rewrite)) => {
                let hash = rewrite::record_hash(&sha256(&bytes));
                self.new_hashes
                    .insert(dest.clone(), (hash, bytes.len() as u64));
                let kind = Kind::File {
                    source: Source::Bytes(bytes),
                    executable,
                    rewrite,
                };
                self.insert(dest, kind, self.mtime(meta));
            }
            None => self.file(dest, path, meta),
        }
        Ok(())
    }

    /// `pip install --target <site-packages>` puts console scripts in site-packages/bin with
    /// the interpreter pip ran under in their shebang (the build machine's): they get the
    /// bundle's launcher, pointed at bin/ four levels up.
    fn site_scripts(&mut self) -> Result<(), Error> {
        let exe = self.venv.version.exe_name();
        let dir = Path::new("lib")
            .join(&exe)
            .join("site-packages")
            .join("bin");
        let scripts: Vec<(PathBuf, PathBuf, bool, u64)> = self
            .entries
            .iter()
            .filter(|e| e.path.parent() == Some(dir.as_path()))
            .filter_map(|e| match &e.kind {
                Kind::File { executable, .. } => e
                    .source_path()
                    .map(|p| (e.path.clone(), p.into_owned(), *executable, e.mtime)),
                _ => None,
            })
            .collect();
        for (dest, src, executable, mtime) in scripts {
            if !starts_with(&src, b"#!")? {
                continue;
            }
            let bytes = std::fs::read(&src).map_err(crate::error::io(&src))?;
            let Some(launcher) = rewrite::parse_launcher(&bytes) else {
                continue;
            };
            let shebang =
                String::from_utf8_lossy(bytes.split(|b| *b == b'\n').next().unwrap_or(&[]))
                    .trim_start_matches("#!")
                    .trim()
                    .to_string();
            let name = if ["python", "python3", exe.as_str()].contains(&launcher.python.as_str()) {
                launcher.python
            } else {
                exe.clone()
            };
            let Some(new) = rewrite::relocatable_script(&bytes, &format!("../../../../bin/{name}"))
                .map_err(|source| Error::Rewrite {
                    path: src.clone(),
                    source,
                })?
            else {
                continue;
            };
            let hash = rewrite::record_hash(&sha256(&new));
            self.new_hashes
                .insert(dest.clone(), (hash, new.len() as u64));
            let kind = Kind::File {
                source: Source::Bytes(new),
                executable,
                rewrite: Rewrite::Shebang,
            };
            self.insert(dest.clone(), kind, mtime);
            self.site_scripts.push((dest, shebang));
        }
        Ok(())
    }

    /// RECORD rows of rewritten bin/ scripts get their new hashes and sizes.
    fn records(&mut self) -> Result<(), Error> {
        let records: Vec<(PathBuf, PathBuf)> = self
            .entries
            .iter()
            .filter(|e| e.path.ends_with("RECORD"))
            .filter(|e| {
                e.path
                    .parent()
                    .is_some_and(|p| p.extension().is_some_and(|x| x == "dist-info"))
            })
            .filter_map(|e| e.source_path().map(|o| (e.path.clone(), o.into_owned())))
            .collect();
        for (dest, src) in records {
            let site = dest
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new(""));
            let bytes = std::fs::read(&src).map_err(crate::error::io(&src))?;
            dist::check_record(&src, &bytes)?;
            let changed = |row: &str| {
                normalize(&site.join(row)).and_then(|p| self.new_hashes.get(&p).cloned())
            };
            let new = rewrite::record(&bytes, changed).map_err(|source| Error::Rewrite {
                path: src.clone(),
                source,
            })?;
            let Some(new) = new else { continue };
            let meta = std::fs::metadata(&src).map_err(crate::error::io(&src))?;
            let kind = Kind::File {
                source: Source::Bytes(new),
                executable: false,
                rewrite: Rewrite::Record,
            };
            self.insert(dest, kind, self.mtime(&meta));
        }
        Ok(())
    }

    /// python/: the interpreter (RUNPATH pointed at the bundle), libpython and the stdlib.
    fn base(&mut self) -> Result<(), Error> {
        let venv = self.venv;
        let exe = venv.version.exe_name();
        let interp = &venv.interpreter;
        let meta = std::fs::metadata(interp).map_err(crate::error::io(interp))?;
        let dest = Path::new("python/bin").join(&exe);
        if let Some(lib) = &venv.libpython {
            let bytes = std::fs::read(interp).map_err(crate::error::io(interp))?;
            let slot = elf::runpath_slot(&bytes, interp)?
                .ok_or_else(|| Error::NoRunpath(interp.clone()))?;
            let new = rewrite::replace_c_string(&bytes, slot.offset, slot.len, "$ORIGIN/../lib")
                .map_err(|source| Error::Rewrite {
                    path: interp.clone(),
                    source,
                })?;
            let kind = Kind::File {
                source: Source::Bytes(new),
                executable: true,
                rewrite: Rewrite::Runpath,
            };
            self.insert(dest, kind, self.mtime(&meta));
            if let Some(entry) = self.entries.last_mut() {
                entry.derived_from = Some(interp.clone());
            }
            let lib_meta = std::fs::metadata(&lib.path).map_err(crate::error::io(&lib.path))?;
            self.file(
                Path::new("python/lib").join(&lib.needed),
                &lib.path,
                &lib_meta,
            );
        } else {
            self.file(dest, interp, &meta);
        }
        // python3 and python beside pythonX.Y, as an installation has them: the names a venv
        // made from the bundle's bin/python3 or bin/python runs (see BASE_EXECUTABLE_LINE).
        let mtime = self.generated_mtime();
        for alias in ["python3", "python"] {
            if alias != exe {
                let kind = Kind::Symlink {
                    target: exe.clone().into(),
                };
                self.insert(Path::new("python/bin").join(alias), kind, mtime);
            }
        }
        let keep_tests = self.config.keep_stdlib_tests;
        let skip = move |rel: &Path| {
            let top_only = rel.components().count() == 1;
            top_only
                && (rel == Path::new("site-packages")
                    || rel == Path::new("dist-packages")
                    || (!keep_tests && rel == Path::new("test")))
        };
        let stdlib = venv.stdlib.clone();
        self.tree(
            &stdlib,
            &Path::new("python/lib").join(&exe),
            &stdlib,
            LinkPolicy::Dereference,
            &skip,
        )?;
        self.include()
    }

    /// python/include/pythonX.Y: the headers, so that `sysconfig.get_paths()['include']` names
    /// a folder of the bundle and an extension builds against it on the board. Debian's
    /// `pyconfig.h` only includes `<TRIPLET/pythonX.Y/pyconfig.h>` from the system's include
    /// folder, which a board does not have: the bundle carries that file in its place.
    fn include(&mut self) -> Result<(), Error> {
        let exe = self.venv.version.exe_name();
        let src = self.venv.base_prefix.join("include").join(&exe);
        if !src.is_dir() {
            return Ok(());
        }
        let dest = Path::new("python/include").join(&exe);
        self.tree(&src, &dest, &src, LinkPolicy::Dereference, &|_| false)?;
        let wrapper = src.join("pyconfig.h");
        let Ok(text) = std::fs::read_to_string(&wrapper) else {
            return Ok(());
        };
        let real = text.lines().find_map(|l| {
            let inc = l.trim_start_matches(['#', ' ']).strip_prefix("include <")?;
            let inc = inc.strip_suffix('>')?;
            inc.ends_with(&format!("/{exe}/pyconfig.h"))
                .then(|| self.venv.base_prefix.join("include").join(inc))
                .filter(|p| p.is_file() && self.multiarch_matches(p))
        });
        if let Some(real) = real {
            let meta = std::fs::metadata(&real).map_err(crate::error::io(&real))?;
            self.file(dest.join("pyconfig.h"), &real, &meta);
        }
        Ok(())
    }

    /// Whether the multiarch folder of `pyconfig` (`include/TRIPLET/pythonX.Y/pyconfig.h`) is
    /// the interpreter's: its `MULTIARCH` in the standard library's `_sysconfigdata`.
    fn multiarch_matches(&self, pyconfig: &Path) -> bool {
        let Some(triplet) = pyconfig
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|t| t.to_str())
        else {
            return false;
        };
        std::fs::read_dir(&self.venv.stdlib)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("_sysconfigdata") && name.ends_with(&format!("{triplet}.py"))
            })
    }

    /// The prompt the venv's own activate scripts show: pyvenv.cfg's `prompt`, else the
    /// venv's folder name (CPython's rule).
    fn prompt(&self) -> String {
        self.venv
            .cfg
            .text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                let v = v.trim();
                let unquoted = [('\'', '\''), ('"', '"')]
                    .iter()
                    .find_map(|(a, b)| v.strip_prefix(*a).and_then(|r| r.strip_suffix(*b)));
                (k.trim() == "prompt").then(|| unquoted.unwrap_or(v).to_string())
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                self.venv
                    .root
                    .file_name()
                    .map_or_else(|| "venv".into(), |n| n.to_string_lossy().into_owned())
            })
    }

    /// Build-machine folders and where they are in the bundle, most specific first: the venv,
    /// and the base installation (only its standard library and libpython's folder when it is
    /// a system prefix, whose other folders the bundle does not carry).
    fn roots(&self) -> Vec<(PathBuf, PathBuf)> {
        let venv = self.venv;
        let exe = venv.version.exe_name();
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let mut roots = vec![
            (canon(&venv.stdlib), Path::new("python/lib").join(&exe)),
            (canon(&venv.real_root), PathBuf::new()),
            (venv.root.clone(), PathBuf::new()),
        ];
        if let Some(dir) = venv.libpython.as_ref().and_then(|l| l.path.parent()) {
            roots.push((canon(dir), PathBuf::from("python/lib")));
        }
        let system = ["/", "/usr", "/usr/local"]
            .iter()
            .any(|s| venv.base_prefix == Path::new(s));
        if !system {
            roots.push((canon(&venv.base_prefix), PathBuf::from("python")));
        }
        roots.sort_by_key(|(from, _)| std::cmp::Reverse(from.components().count()));
        roots
    }

    /// RUNPATH/RPATH elements of every copied ELF file that name a folder outside the bundle
    /// are pointed inside it or left out (see `confine_search_path`). Only files named like
    /// shared libraries or marked executable are opened, and only their headers are read.
    fn search_paths(&mut self) -> Result<(), Error> {
        let roots = self.roots();
        let map = |dir: &Path| {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            roots.iter().find_map(|(from, to)| {
                dir.strip_prefix(from).ok().map(|rest| {
                    if rest.as_os_str().is_empty() {
                        to.clone()
                    } else {
                        to.join(rest)
                    }
                })
            })
        };
        let entries = &self.entries;
        let is_dir = |p: &Path| {
            p.as_os_str().is_empty()
                || entries
                    .binary_search_by(|e| path_order(&e.path, p))
                    .is_ok_and(|i| matches!(entries[i].kind, Kind::Dir))
        };
        let mut fixes = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if self.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(crate::interrupt::Interrupted.into());
            }
            let Kind::File {
                source: Source::Disk(_) | Source::Tree { .. },
                rewrite: Rewrite::None,
                executable,
            } = &entry.kind
            else {
                continue;
            };
            let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
            if !(*executable || name.ends_with(".so") || name.contains(".so.")) {
                continue;
            }
            let disk = entry.source_path().expect("a file on disk");
            let Some(strings) =
                elf::search_path_strings_file(&disk).map_err(crate::error::io(&disk))?
            else {
                continue;
            };
            let dir = entry.path.parent().unwrap_or(Path::new(""));
            let origin = disk.parent().unwrap_or(Path::new("/"));
            let mut fix = elf::SearchPathFix::new();
            let mut changes_here = Vec::new();
            for (tag, value) in strings {
                let (new, changes) = confine_search_path(&value, dir, origin, &map, &is_dir);
                if changes.is_empty() {
                    continue;
                }
                // A longer value cannot be written in place: the file is left as it is and
                // the check reports the element.
                if new.len() > value.len() {
                    continue;
                }
                for (old, to) in changes {
                    changes_here.push(SearchPathChange {
                        path: entry.path.clone(),
                        old,
                        new: to,
                    });
                }
                fix.push((tag, (!new.is_empty()).then_some(new)));
            }
            // Planned only when it applies to this file: a RUNPATH string shared with another
            // dynamic string, or a dynamic array goblin reads otherwise, is left as it is (and
            // the check reports the element).
            if !fix.is_empty() {
                let bytes = std::fs::read(&disk).map_err(crate::error::io(&disk))?;
                if elf::apply_search_path_fix(&bytes, &disk, &fix).is_ok() {
                    fixes.push((i, fix, changes_here));
                }
            }
        }
        for (i, search_path, changes) in fixes {
            self.search_paths.extend(changes);
            let rewrite = Rewrite::Binary(Arc::new(BinaryFix {
                search_path,
                strings: Vec::new(),
            }));
            let entry = &mut self.entries[i];
            if let Kind::File { rewrite: r, .. } = &mut entry.kind {
                *r = rewrite.clone();
            }
            self.rewritten.push((entry.path.clone(), rewrite));
        }
        Ok(())
    }

    /// CPython 3.11+ (getpath.py): see `home_pins`. Returns whether the home was pinned (the
    /// landmark file is then added); a build laid out otherwise keeps its search, with a warning.
    fn pin_home(&mut self) -> Result<bool, Error> {
        let venv = self.venv;
        if (venv.version.major, venv.version.minor) < (3, 11) {
            return Ok(false);
        }
        let exe = venv.version.exe_name();
        let target = match &venv.libpython {
            Some(l) => Path::new("python/lib").join(&l.needed),
            None => Path::new("python/bin").join(&exe),
        };
        let prefixes = compiled_prefixes(&venv.stdlib);
        let Some(entry) = self.find_mut(&target) else {
            return Ok(false);
        };
        let Some(disk) = entry.source_path().map(Cow::into_owned) else {
            return Ok(false);
        };
        let bytes = std::fs::read(&disk).map_err(crate::error::io(&disk))?;
        let Some(strings) = home_pins(&bytes, &prefixes) else {
            self.warnings.push(format!(
                "{}: CPython's home search could not be pinned to the bundle (its getpath is not laid out as rvenv expects); started under a name it cannot resolve (exec -a), the interpreter may use another installation's standard library",
                disk.display()
            ));
            return Ok(false);
        };
        let Kind::File { rewrite, .. } = &mut entry.kind else {
            return Ok(false);
        };
        let fix = match rewrite {
            Rewrite::Binary(fix) => BinaryFix {
                strings,
                ..(**fix).clone()
            },
            _ => BinaryFix {
                search_path: Vec::new(),
                strings,
            },
        };
        *rewrite = Rewrite::Binary(Arc::new(fix));
        let rewrite = rewrite.clone();
        match self.rewritten.iter_mut().find(|(p, _)| *p == target) {
            Some((_, r)) => *r = rewrite,
            None => self.rewritten.push((target, rewrite)),
        }
        Ok(true)
    }

    /// Directories the bundle creates itself (python/, python/bin, ...); the entries are sorted.
    fn parents(&mut self) {
        let mtime = self.generated_mtime();
        let present = |p: &Path| {
            self.entries
                .binary_search_by(|e| path_order(&e.path, p))
                .is_ok()
        };
        // Up to the first ancestor present: that one is an entry, and its own ancestors are
        // looked at for it (50,000 paths × every ancestor was 4% of a bundle's CPU).
        let mut missing: Vec<PathBuf> = self
            .entries
            .iter()
            .flat_map(|e| {
                e.path
                    .ancestors()
                    .skip(1)
                    .take_while(|a| !a.as_os_str().is_empty() && !present(a))
            })
            .map(Path::to_path_buf)
            .collect();
        missing.sort_by(|a, b| path_order(a, b));
        missing.dedup();
        self.entries.extend(missing.into_iter().map(|dir| Entry {
            path: dir,
            kind: Kind::Dir,
            mtime,
            derived_from: None,
        }));
        self.entries.sort_by(|a, b| path_order(&a.path, &b.path));
    }
}

/// What `Rewrite::Binary` changes in a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinaryFix {
    pub search_path: elf::SearchPathFix,
    /// Byte strings that occur exactly once, each replaced by one of the same length.
    pub strings: Vec<(Vec<u8>, Vec<u8>)>,
}

impl BinaryFix {
    pub fn apply(&self, mut bytes: Vec<u8>, path: &Path) -> std::io::Result<Vec<u8>> {
        if !self.search_path.is_empty() {
            bytes = elf::apply_search_path_fix(&bytes, path, &self.search_path)
                .map_err(std::io::Error::other)?;
        }
        for (old, new) in &self.strings {
            let at = memchr::memmem::find(&bytes, old).ok_or_else(|| {
                std::io::Error::other(format!(
                    "{}: changed since it was planned ({} no longer in it)",
                    path.display(),
                    String::from_utf8_lossy(old).trim_matches('\0')
                ))
            })?;
            bytes[at..at + new.len()].copy_from_slice(new);
        }
        Ok(bytes)
    }
}

/// The file CPython's home search looks for in a bundle, instead of `os.py` (see `pin_home`).
pub const HOME_LANDMARK: &str = "rvenv";

const HOME_LANDMARK_TEXT: &str = "This file marks the bundle's standard library for CPython's home search, in place of\nos.py (rvenv pinned the interpreter's search to it; see docs/reliability.md).\n";

/// Activation scripts of other shells (nushell, xonsh, cmd, PowerShell) and virtualenv's
/// `activate_this.py` and `deactivate.*`: left out when they name the venv's path.
const OTHER_ACTIVATE: &[&str] = &[
    "activate.nu",
    "activate.xsh",
    "activate.bat",
    "activate.ps1",
    "Activate.ps1",
    "activate_this.py",
    "deactivate.bat",
    "deactivate.csh",
    "deactivate.nu",
];

/// The `.pth` file that gives a bundle's `sys._base_executable` the real interpreter.
pub const BASE_EXECUTABLE_PTH: &str = "_rvenv_base_executable.pth";

/// The same name in python/bin (which has python, python3 and pythonX.Y), so that a venv made
/// from `bin/python3` runs `python3` as CPython's venv module expects.
const BASE_EXECUTABLE_LINE: &str = "import os, sys; e = sys.executable; b = os.path.join(os.path.dirname(os.path.realpath(e)), os.path.basename(e)) if e else ''; sys._base_executable = (b if os.path.isfile(b) else os.path.realpath(e)) if e and sys.prefix != sys.base_prefix and sys._base_executable == e else sys._base_executable\n";

/// The replacements that pin CPython's home search (getpath, frozen in libpython or the
/// interpreter) to the bundle: the landmark constants `/os.py` and `/os.pyc` of the marshalled
/// getpath module become `/rvenv` (a file only a bundle's standard library has) and
/// `/rvenv/` (never a file), and the compiled-in prefixes become a folder that does not exist
/// (`/usr` → `/?sr`). Only the prefix's second byte changes: linkers merge string tails, so
/// the end of the prefix may be another string (pyenv's `…/versions/3.11.7` ends in
/// `PY_VERSION`, and `/usr` may end in a `"r"`), and the tail from the second byte on would
/// have to be a string of its own.
/// Started under a name it cannot resolve, CPython searches upward from the current directory
/// and then falls back to the compiled-in prefix: either could be another installation's
/// standard library of the same version; now it is the bundle's or none, and then it stops at
/// once. `None` unless each string occurs exactly once in `bytes`.
pub fn home_pins(bytes: &[u8], prefixes: &[String]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut pins: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (old, new) in [("/os.py", "/rvenv"), ("/os.pyc", "/rvenv/")] {
        // A marshalled short ASCII string: type 'z' (or 'Z'), with or without the reference
        // flag, then its length byte.
        let found: Vec<Vec<u8>> = [b'z', b'Z', b'z' | 0x80, b'Z' | 0x80]
            .iter()
            .map(|t| [&[*t, old.len() as u8][..], old.as_bytes()].concat())
            .flat_map(|pat| {
                let n = memchr::memmem::find_iter(bytes, &pat).count();
                std::iter::repeat_n(pat, n)
            })
            .collect();
        let [pat] = found.as_slice() else {
            return None;
        };
        let mut to = pat[..2].to_vec();
        to.extend_from_slice(new.as_bytes());
        pins.push((pat.clone(), to));
    }
    let mut seen = Vec::new();
    for prefix in prefixes {
        if prefix.is_empty() || seen.contains(prefix) {
            continue;
        }
        seen.push(prefix.clone());
        let old = [b"\0", prefix.as_bytes(), b"\0"].concat();
        if memchr::memmem::find_iter(bytes, &old).count() != 1 {
            return None;
        }
        if !prefix.starts_with('/') || prefix.len() < 2 {
            return None;
        }
        let mut new = old.clone();
        new[2] = if new[2] == b'?' { b'!' } else { b'?' };
        pins.push((old, new));
    }
    (!seen.is_empty()).then_some(pins)
}

/// `prefix` and `exec_prefix` as compiled in, from the standard library's `_sysconfigdata`.
fn compiled_prefixes(stdlib: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(stdlib) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("_sysconfigdata") && n.ends_with(".py"))
        })
        .collect();
    names.sort();
    for name in names {
        let Ok(text) = std::fs::read_to_string(&name) else {
            continue;
        };
        let value = |key: &str| {
            let at = text.find(&format!("'{key}': '"))? + key.len() + 5;
            text[at..].split('\'').next().map(str::to_string)
        };
        if let Some(prefix) = value("prefix") {
            let mut out = vec![prefix];
            out.extend(value("exec_prefix"));
            return out;
        }
    }
    Vec::new()
}

/// A RUNPATH/RPATH element that named a folder outside the bundle: `new` is its `$ORIGIN`
/// form, or `None` when it was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPathChange {
    pub path: PathBuf,
    pub old: String,
    pub new: Option<String>,
}

/// One RUNPATH/RPATH string confined to the bundle, with each element changed. For a file in
/// bundle folder `dir`, copied from disk folder `origin`: an `$ORIGIN` element that stays in
/// the bundle is kept; any other element whose folder (`map`) is a folder of the bundle
/// (`is_dir`) becomes `$ORIGIN/<relative>`; everything else (a build folder, a system folder
/// the loader searches anyway, a relative or empty element, which the loader resolves against
/// the current directory) is left out, as auditwheel does.
pub fn confine_search_path(
    value: &str,
    dir: &Path,
    origin: &Path,
    map: &dyn Fn(&Path) -> Option<PathBuf>,
    is_dir: &dyn Fn(&Path) -> bool,
) -> (String, Vec<(String, Option<String>)>) {
    let mut kept: Vec<String> = Vec::new();
    let mut changes = Vec::new();
    for element in value.split(':') {
        let rest = element
            .strip_prefix("$ORIGIN")
            .or_else(|| element.strip_prefix("${ORIGIN}"))
            .filter(|r| r.is_empty() || r.starts_with('/'));
        let inside = rest
            .and_then(|r| normalize(&dir.join(r.trim_start_matches('/'))))
            .filter(|_| !element.is_empty());
        let new = if inside.is_some() {
            Some(element.to_string())
        } else {
            let on_disk = match rest {
                Some(r) => Some(crate::paths::normalize_absolute(
                    &origin.join(r.trim_start_matches('/')),
                )),
                None if element.starts_with('/') && !element.contains('$') => {
                    Some(crate::paths::normalize_absolute(Path::new(element)))
                }
                None => None,
            };
            on_disk
                .and_then(|d| map(&d))
                .filter(|d| is_dir(d))
                .map(|to| {
                    let rel = relative(dir, &to);
                    if rel == Path::new(".") {
                        "$ORIGIN".to_string()
                    } else {
                        format!("$ORIGIN/{}", rel.display())
                    }
                })
        };
        if new.as_deref() != Some(element) {
            changes.push((element.to_string(), new.clone()));
        }
        if let Some(n) = new
            && !kept.contains(&n)
        {
            kept.push(n);
        }
    }
    (kept.join(":"), changes)
}

/// One line for the console scripts of site-packages/bin that `bundle` rewrites, if any.
pub fn site_script_line(scripts: &[(PathBuf, String)]) -> Option<String> {
    let (first, shebang) = scripts.first()?;
    let dir = first.parent().unwrap_or(Path::new(""));
    let names: Vec<String> = scripts
        .iter()
        .filter_map(|(p, _)| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    Some(format!(
        "{}: {} console script{} that `pip install --target` wrote ({}) start with #!{shebang}: rewritten to run the bundle's interpreter",
        dir.display(),
        scripts.len(),
        if scripts.len() == 1 { "" } else { "s" },
        crate::ui::few(&names)
    ))
}

/// The changes grouped by element and outcome, one line each: how many files, the first of
/// them, and what the element became.
pub fn search_path_lines(changes: &[SearchPathChange]) -> Vec<String> {
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<&Path>> = BTreeMap::new();
    for c in changes {
        groups
            .entry((c.old.as_str(), c.new.as_deref().map(|_| "")))
            .or_default()
            .push(&c.path);
    }
    groups
        .into_iter()
        .map(|((old, rewritten), files)| {
            let shown = if old.is_empty() {
                "'' (the current directory)".to_string()
            } else {
                old.to_string()
            };
            let more = match files.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            format!(
                "RUNPATH {shown} points outside the bundle in {}{more}: {}",
                files[0].display(),
                if rewritten.is_some() {
                    "rewritten to the $ORIGIN path of its copy in the bundle"
                } else {
                    "left out (that folder is not in the bundle)"
                }
            )
        })
        .collect()
}

/// The base installation's build configuration: `_sysconfigdata*.py`, the `config-X.Y-*/`
/// folder (Makefile, python-config.py, Setup files) and `bin/pythonX.Y-config`. It records
/// where CPython was built, by design: only extension builds read it, and what they need from
/// it (compiler flags, suffixes) is still right. Not a leak to warn about in every bundle.
pub fn is_build_configuration(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let in_stdlib = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
    };
    (name.starts_with("_sysconfigdata")
        && name.ends_with(".py")
        && path.parent().is_some_and(in_stdlib))
        || path.ancestors().skip(1).any(|a| {
            a.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("config-3"))
                && a.parent().is_some_and(in_stdlib)
        })
        || (name.starts_with("python3") && name.ends_with("-config"))
}

/// Paths that must not survive in the bundle's text files: the venv as named and as resolved,
/// and the base installation (its stdlib directory when the base is a system prefix, which
/// every text file would otherwise "contain").
fn build_paths(venv: &Venv) -> Vec<String> {
    let mut paths = vec![venv.root.clone(), venv.real_root.clone()];
    let system = ["/", "/usr", "/usr/local"]
        .iter()
        .any(|s| venv.base_prefix == Path::new(s));
    paths.push(if system {
        venv.stdlib.clone()
    } else {
        venv.base_prefix.clone()
    });
    let mut paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    paths.sort();
    paths.dedup();
    paths
}

/// How a venv becomes a plan; the defaults are `rvenv bundle`'s.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Every entry's mtime when set.
    pub source_date_epoch: Option<u64>,
    /// The standard library's `test/` package is kept.
    pub keep_stdlib_tests: bool,
    /// Editable installs are bundled (with a warning) instead of refused.
    pub allow_editable: bool,
}

/// The plan of `venv` under `arcroot`. `output`, when given, is the file the bundle will be
/// written to: inside the venv, it is left out of the plan.
pub fn build(
    venv: &Venv,
    config: &Options,
    arcroot: &str,
    output: Option<&Path>,
    interrupted: &std::sync::atomic::AtomicBool,
) -> Result<Plan, Error> {
    if venv.real_root.join("python").symlink_metadata().is_ok() {
        return Err(Error::Conflict(venv.root.clone(), "python"));
    }
    let cfg_path = venv.real_root.join("pyvenv.cfg");
    let cfg_meta = std::fs::metadata(&cfg_path).map_err(crate::error::io(&cfg_path))?;
    let output_in_venv = output
        .and_then(Path::parent)
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .and_then(|d| d.canonicalize().ok())
        .zip(output.and_then(Path::file_name))
        .map(|(d, n)| d.join(n))
        .filter(|o| o.starts_with(&venv.real_root));
    let mut b = Builder {
        venv,
        config,
        entries: Vec::new(),
        warnings: Vec::new(),
        rewritten: Vec::new(),
        search_paths: Vec::new(),
        site_scripts: Vec::new(),
        left_out_activate: Vec::new(),
        new_hashes: BTreeMap::new(),
        default_mtime: cfg_meta.mtime().max(0) as u64,
        output_in_venv: output_in_venv.clone(),
        interrupted,
    };

    let site_packages = venv.site_packages();
    let dists = dist::find(&site_packages)?;
    let links = dist::build_machine_links(&site_packages, &dists, &[&venv.root, &venv.real_root])?;
    let (editable, other): (Vec<_>, Vec<_>) = links.into_iter().partition(|f| f.editable);
    if !editable.is_empty() && !config.allow_editable {
        return Err(Error::Editable(
            editable,
            crate::python::venv::editable_hint(&venv.root, &venv.cfg.text),
        ));
    }
    for f in editable.iter().chain(&other) {
        b.warnings.push(format!("{}: {}", f.path.display(), f.what));
    }

    // Everything of the venv but bin/ and pyvenv.cfg, which are rewritten, and the output itself.
    let real_root = venv.real_root.clone();
    let out_rel =
        output_in_venv.and_then(|o| o.strip_prefix(&real_root).ok().map(Path::to_path_buf));
    // virtualenv --copies puts a copy of libpython in the venv's lib/ for its copied
    // interpreter; the bundle's bin/ links to python/bin, whose interpreter never loads it.
    let own_libpython = |rel: &Path| {
        rel.parent() == Some(Path::new("lib"))
            && rel
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libpython"))
    };
    let left_out: Vec<(PathBuf, u64)> = std::fs::read_dir(real_root.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| own_libpython(&Path::new("lib").join(e.file_name())))
        .map(|e| (e.path(), e.metadata().map_or(0, |m| m.len())))
        .collect();
    let skip = |rel: &Path| {
        rel == Path::new("bin")
            || own_libpython(rel)
            || rel == Path::new("pyvenv.cfg")
            || out_rel.as_deref() == Some(rel)
            || rel.to_string_lossy().ends_with(TEMP_SUFFIX)
    };
    b.tree(
        &real_root,
        Path::new(""),
        &real_root,
        LinkPolicy::Strict,
        &skip,
    )?;
    b.bin()?;
    b.site_scripts()?;
    if !b.left_out_activate.is_empty() {
        b.warnings.push(format!(
            "{}: left out of the bundle: {} name this venv's path and would activate it, not the bundle (bin/activate and bin/activate.fish work from anywhere)",
            venv.root.join("bin").display(),
            b.left_out_activate.join(", ")
        ));
    }
    b.records()?;
    b.base()?;
    let cfg = rewrite::pyvenv_cfg(&venv.cfg.text, &venv.version.full);
    let kind = Kind::File {
        source: Source::Bytes(cfg.into_bytes()),
        executable: false,
        rewrite: Rewrite::PyvenvCfg,
    };
    let mtime = b.mtime(&cfg_meta);
    b.insert(PathBuf::from("pyvenv.cfg"), kind, mtime);
    b.sort();
    // Writing the output changes its directory's time: directories holding it get the
    // generated time, so the next run packs the same bytes.
    if let Some(rel) = &out_rel {
        let mtime = b.generated_mtime();
        for dir in rel.ancestors().skip(1) {
            if let Some(entry) = b.find_mut(dir) {
                entry.mtime = mtime;
            }
        }
    }
    b.parents();
    b.search_paths()?;
    let pinned = b.pin_home()?;

    let mut plan = Plan {
        arcroot: arcroot.to_string(),
        entries: b.entries,
        warnings: b.warnings,
        build_paths: build_paths(venv),
        rewritten: b.rewritten,
        search_paths: b.search_paths,
        site_scripts: b.site_scripts,
        trimmed: Vec::new(),
        scratch: None,
    };
    for generated in ["requirements.txt", crate::read::MANIFEST] {
        if plan.entries.iter().any(|e| e.path == Path::new(generated)) {
            plan.warnings.push(format!(
                "{}: replaced in the bundle by the one rvenv writes",
                venv.root.join(generated).display()
            ));
            plan.entries.retain(|e| e.path != Path::new(generated));
        }
    }
    if !left_out.is_empty() {
        plan.trimmed.push(format!(
            "left out the venv's own copy of libpython ({}, virtualenv --copies): {}; the bundle's interpreter is python/bin's",
            left_out
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            crate::ui::human(left_out.iter().map(|(_, n)| n).sum())
        ));
    }
    let requirements = dist::freeze(&dists, venv.version.minor);
    let mtime = config.source_date_epoch.unwrap_or(b.default_mtime);
    plan.add_generated("requirements.txt", requirements.into_bytes(), mtime);
    if pinned {
        let exe = venv.version.exe_name();
        plan.add_generated(
            &format!("python/lib/{exe}/{HOME_LANDMARK}"),
            HOME_LANDMARK_TEXT.as_bytes().to_vec(),
            mtime,
        );
        // The bundle is a venv whose pyvenv.cfg cannot name its base (`home` is resolved
        // against the current directory), so CPython leaves sys._base_executable at the venv's
        // own interpreter; `python -m venv` then makes venvs whose home is the bundle's bin/,
        // where no standard library is. site.py runs this line at start-up.
        plan.add_generated(
            &format!("lib/{exe}/site-packages/{BASE_EXECUTABLE_PTH}"),
            BASE_EXECUTABLE_LINE.as_bytes().to_vec(),
            mtime,
        );
    }
    Ok(plan)
}

#[cfg(test)]
mod search_path_tests {
    use super::*;

    fn confine(value: &str, dir: &str, origin: &str) -> (String, Vec<(String, Option<String>)>) {
        let map = |d: &Path| {
            d.strip_prefix("/opt/py/lib")
                .ok()
                .map(|r| Path::new("python/lib").join(r))
        };
        let is_dir = |d: &Path| {
            [
                "python/lib",
                "python/lib/python3.11",
                "lib/python3.11/site-packages/pkg.libs",
            ]
            .iter()
            .any(|x| Path::new(x) == d)
        };
        confine_search_path(value, Path::new(dir), Path::new(origin), &map, &is_dir)
    }

    #[test]
    fn a_base_folder_becomes_its_origin_path() {
        let (new, changes) = confine(
            "/opt/py/lib",
            "python/lib/python3.11/lib-dynload",
            "/opt/py/lib/python3.11/lib-dynload",
        );
        assert_eq!(new, "$ORIGIN/../..");
        assert_eq!(
            changes,
            vec![("/opt/py/lib".into(), Some("$ORIGIN/../..".into()))]
        );
        let (new, _) = confine("/opt/py/lib/", "python/lib", "/opt/py/lib");
        assert_eq!(new, "$ORIGIN");
    }

    #[test]
    fn origin_paths_inside_stay_and_outside_ones_go() {
        let dir = "lib/python3.11/site-packages/pkg";
        let origin = "/home/u/venv/lib/python3.11/site-packages/pkg";
        let (new, changes) = confine("$ORIGIN/../pkg.libs", dir, origin);
        assert_eq!((new.as_str(), changes.len()), ("$ORIGIN/../pkg.libs", 0));
        // Leaves the bundle, and its folder on disk is not one the bundle carries.
        let (new, changes) = confine("$ORIGIN/../../../../../../build/lib", dir, origin);
        assert_eq!(new, "");
        assert_eq!(changes[0].1, None);
    }

    #[test]
    fn build_system_relative_and_empty_elements_are_left_out() {
        let (new, changes) = confine(
            "/tmp/build/lib::lib:/usr/lib/x86_64-linux-gnu:$ORIGIN/../pkg.libs:/opt/py/lib/$LIB",
            "lib/python3.11/site-packages/pkg",
            "/v/lib/python3.11/site-packages/pkg",
        );
        assert_eq!(new, "$ORIGIN/../pkg.libs");
        let gone: Vec<&str> = changes
            .iter()
            .filter(|(_, n)| n.is_none())
            .map(|(o, _)| o.as_str())
            .collect();
        assert_eq!(
            gone,
            [
                "/tmp/build/lib",
                "",
                "lib",
                "/usr/lib/x86_64-linux-gnu",
                "/opt/py/lib/$LIB"
            ]
        );
    }

    #[test]
    fn build_configuration_is_told_apart() {
        for yes in [
            "python/lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py",
            "app/python/lib/python3.12/config-3.12-x86_64-linux-gnu/Makefile",
            "python/lib/python3.11/config-3.11-x86_64-linux-gnu/python-config.py",
            "python/bin/python3.11-config",
        ] {
            assert!(is_build_configuration(Path::new(yes)), "{yes}");
        }
        for no in [
            "lib/python3.11/site-packages/pkg/_sysconfigdata_fake.py",
            "lib/python3.11/site-packages/pkg/config.py",
            "bin/activate",
            "python/lib/python3.11/os.py",
        ] {
            assert!(!is_build_configuration(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn lines_group_files_by_element() {
        let change = |p: &str, new: Option<&str>| SearchPathChange {
            path: PathBuf::from(p),
            old: "/b/lib".into(),
            new: new.map(str::to_string),
        };
        let lines = search_path_lines(&[
            change("a.so", Some("$ORIGIN")),
            change("b.so", Some("$ORIGIN/..")),
            change("c.so", None),
        ]);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("in a.so and 1 more: rewritten")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("in c.so: left out")),
            "{lines:?}"
        );
    }
}
