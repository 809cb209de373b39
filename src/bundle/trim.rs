//! Making the bundle smaller. Always, unless `--keep`/`--keep-debug` say otherwise: what only a
//! build uses, optimised bytecode, Windows launchers, the interpreter's debug sections. When
//! asked: `--exclude`, `--strip-tests`, `--slim`, `--no-pycache` or `--compile`, and
//! `--strip-debug`. They work on the finished plan, in that order, and each reports what it
//! saved in bytes (before compression). The venv is never modified: stripped copies and
//! compiled bytecode go to a temporary directory the plan owns.

use crate::bundle::plan::{Entry, Kind, Plan, Rewrite, Source};
use crate::elf;
use crate::paths::normalize;
use crate::python::host;
use crate::python::venv::Venv;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{option} '{pattern}': {message}")]
    BadPattern {
        option: &'static str,
        pattern: String,
        message: String,
    },
    #[error("--exclude '{pattern}': would leave out {path}, which the bundle needs to run")]
    Protected { pattern: String, path: PathBuf },
    #[error("--compile: no CPython {version} runs on this machine (tried {tried})")]
    NoPython { version: String, tried: String },
    #[error("{python}: compiling bytecode failed: {message}")]
    CompileFailed { python: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error(transparent)]
    Dist(#[from] crate::python::dist::Error),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::Protected { .. } => Some(
                "narrow the pattern: the interpreter, pyvenv.cfg, the standard library's startup modules (os.py, encodings/, ...) and rvenv.json must stay",
            ),
            Error::BadPattern { .. } => Some(
                "patterns follow .gitignore rules against paths inside the bundle, e.g. 'lib/python3.11/site-packages/*/docs/' or '*.pyi'",
            ),
            Error::NoPython { .. } => Some(
                "install CPython of the venv's X.Y here (apt-get install pythonX.Y, pyenv install X.Y, uv python install X.Y), or leave --compile out: the board then compiles on first import",
            ),
            _ => None,
        }
    }
}

/// `--exclude` patterns, compiled once (bad ones are refused before any work is done).
#[derive(Debug, Clone)]
pub struct Exclude {
    patterns: Vec<String>,
    matcher: ignore::gitignore::Gitignore,
}

impl Exclude {
    /// `None` when there is no pattern; `option` (`--exclude`, `--keep`) names them in errors.
    pub fn new(option: &'static str, patterns: &[String]) -> Result<Option<Exclude>, Error> {
        if patterns.is_empty() {
            return Ok(None);
        }
        // Paths given to the matcher are relative to the bundle's root; "." is the root the
        // matcher never strips from them.
        let mut builder = ignore::gitignore::GitignoreBuilder::new(".");
        builder.allow_unclosed_class(false);
        for pattern in patterns {
            let bad = |message: &str| Error::BadPattern {
                option,
                pattern: pattern.clone(),
                message: message.to_string(),
            };
            if pattern.trim().is_empty() {
                return Err(bad("an empty pattern matches nothing"));
            }
            // In a .gitignore these would be a comment and a no-op: say so rather than match
            // nothing.
            if pattern.starts_with('#') {
                return Err(bad(
                    "a pattern starting with '#' is a comment in .gitignore syntax; write '\\#' for a name starting with '#'",
                ));
            }
            builder
                .add_line(None, pattern)
                .map_err(|e| bad(&glob_message(&e)))?;
        }
        let matcher = builder.build().map_err(|e| Error::BadPattern {
            option,
            pattern: patterns.join("' '"),
            message: glob_message(&e),
        })?;
        Ok(Some(Exclude {
            patterns: patterns.to_vec(),
            matcher,
        }))
    }

    /// The pattern that leaves `path` out on its own (not through a parent directory).
    fn matched(&self, path: &Path, is_dir: bool) -> Option<String> {
        match self.matcher.matched(path, is_dir) {
            ignore::Match::Ignore(glob) => Some(glob.original().to_string()),
            _ => None,
        }
    }

    /// Whether `path` or a directory above it is left out.
    fn excludes(&self, path: &Path, is_dir: bool) -> bool {
        self.matcher
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
    }
}

/// What is wrong with a glob, without the crate's wrapping (the pattern is named already).
fn glob_message(e: &ignore::Error) -> String {
    match e {
        ignore::Error::Glob { err, .. } => err.clone(),
        ignore::Error::WithLineNumber { err, .. }
        | ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. } => glob_message(err),
        other => other.to_string(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The content size of an entry as it goes into the archive.
fn entry_size(entry: &Entry) -> u64 {
    match &entry.kind {
        Kind::File {
            source: Source::Bytes(b),
            ..
        } => b.len() as u64,
        Kind::File { .. } => entry
            .source_path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len()),
        _ => 0,
    }
}

/// What a removal took out: files and symlinks (directories are not counted) and their bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Removed {
    files: usize,
    bytes: u64,
}

/// The plan's entries by path, while the options add and remove some.
struct Tree {
    entries: BTreeMap<PathBuf, Entry>,
}

impl Tree {
    /// Removes `roots` and everything under them; then the symlinks that no longer resolve
    /// inside the bundle (named in `warnings`), and the directories this left empty.
    fn remove(&mut self, roots: &BTreeSet<PathBuf>, warnings: &mut Vec<String>) -> Removed {
        let had_children: HashSet<PathBuf> = self
            .entries
            .keys()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        let mut gone = Removed::default();
        let mut take = |tree: &mut Tree, path: &Path| {
            if let Some(e) = tree.entries.remove(path)
                && !matches!(e.kind, Kind::Dir)
            {
                gone.files += 1;
                gone.bytes += entry_size(&e);
            }
        };
        for root in roots {
            let under: Vec<PathBuf> = self
                .entries
                .range(root.clone()..)
                .map(|(p, _)| p)
                .take_while(|p| p.starts_with(root))
                .cloned()
                .collect();
            for p in under {
                take(self, &p);
            }
        }
        loop {
            let dangling: Vec<PathBuf> = self
                .entries
                .values()
                .filter(|e| matches!(e.kind, Kind::Symlink { .. }))
                .filter(|e| !self.resolves(&e.path))
                .map(|e| e.path.clone())
                .collect();
            if dangling.is_empty() {
                break;
            }
            for p in dangling {
                warnings.push(format!(
                    "{}: symlink left out: what it points to was left out",
                    p.display()
                ));
                take(self, &p);
            }
        }
        let mut children: HashMap<PathBuf, usize> = HashMap::new();
        for p in self.entries.keys() {
            if let Some(parent) = p.parent() {
                *children.entry(parent.to_path_buf()).or_default() += 1;
            }
        }
        let dirs: Vec<PathBuf> = self
            .entries
            .values()
            .filter(|e| matches!(e.kind, Kind::Dir))
            .map(|e| e.path.clone())
            .collect();
        // Deepest first, so a chain of directories emptied by the removal goes as a whole.
        for dir in dirs.into_iter().rev() {
            if had_children.contains(&dir) && children.get(&dir).copied().unwrap_or(0) == 0 {
                self.entries.remove(&dir);
                if let Some(parent) = dir.parent()
                    && let Some(n) = children.get_mut(parent)
                {
                    *n -= 1;
                }
            }
        }
        gone
    }

    /// Whether `path` leads, through the bundle's (relative) symlinks, to something present.
    fn resolves(&self, path: &Path) -> bool {
        let mut path = path.to_path_buf();
        'hop: for _ in 0..40 {
            let parts: Vec<_> = path.components().collect();
            let mut at = PathBuf::new();
            for (i, part) in parts.iter().enumerate() {
                at.push(part);
                match self.entries.get(&at).map(|e| &e.kind) {
                    None => return false,
                    Some(Kind::Symlink { target }) if target.is_relative() => {
                        let mut next = at.parent().unwrap_or(Path::new("")).join(target);
                        for rest in &parts[i + 1..] {
                            next.push(rest);
                        }
                        match normalize(&next) {
                            Some(n) => path = n,
                            None => return false,
                        }
                        continue 'hop;
                    }
                    Some(Kind::Symlink { .. }) => return false,
                    Some(_) => {}
                }
            }
            return true;
        }
        false
    }
}

/// What happens to `__pycache__/*.pyc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pycache {
    /// Stored as they are in the venv (the default).
    #[default]
    Keep,
    /// `--no-pycache`: left out; the board compiles on first import.
    Drop,
    /// `--compile`: every .py compiled here, as unchecked-hash pycs.
    Compile,
}

/// The size-trimming options of `rvenv bundle`, each off by default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--exclude`, compiled; `None` without patterns.
    pub exclude: Option<Exclude>,
    pub strip_tests: bool,
    pub pycache: Pycache,
    pub strip_debug: bool,
    /// `--keep-debug`: the base interpreter's debug sections stay (they are left out by
    /// default, see `drop_interpreter_debug`), and `--slim` does not strip.
    pub keep_debug: bool,
    /// `--keep`: what matches is never left out by default (build-only files) or by `--slim`.
    pub keep: Option<Exclude>,
    /// `--slim`: also leave out what most deployments never use (`slim::STDLIB`, pip and
    /// setuptools) unless the app imports it, with `--strip-tests` and `--strip-debug`.
    pub slim: bool,
}

/// Files only a build uses, left out of every bundle unless `--keep` names them: the static
/// libpython (`libpython3.11.a`, 45 MB in pyenv's 3.11), object files and Debian's link to the
/// shared libpython in the base's `config-3.X-*/`, which only link programs that embed Python;
/// nothing loads them at run time.
fn build_only(path: &Path) -> bool {
    let mut parts = path.components().map(|c| c.as_os_str().to_string_lossy());
    let (Some(a), Some(b), Some(c), Some(config)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(name) = parts.next() else {
        return false;
    };
    a == "python"
        && b == "lib"
        && c.starts_with("python3")
        && config.starts_with("config-3")
        && parts.next().is_none()
        && (name.ends_with(".a")
            || name.ends_with(".o")
            // Debian's link to the shared libpython, for `-L config -lpython3.X` only; stored
            // dereferenced it would be a second 7 MB libpython.
            || (name.starts_with("libpython") && name.ends_with(".so")))
}

/// Bytecode only `python -O` (`.opt-1.pyc`) and `-OO` (`.opt-2.pyc`) read: two thirds of a
/// pyenv build's `__pycache__` that a board running plain `python` never opens.
fn optimised_bytecode(path: &Path) -> bool {
    is_cached_pyc(path)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(".opt-1.") || n.contains(".opt-2."))
}

/// What is left out of every bundle unless `--keep` names it, one line for each kind.
fn drop_build_only(tree: &mut Tree, plan: &mut Plan, keep: Option<&Exclude>) {
    drop_unless_kept(
        tree,
        plan,
        keep,
        |e| build_only(&e.path),
        |names| format!("what only a build uses ({})", crate::ui::few(names)),
    );
    drop_unless_kept(
        tree,
        plan,
        keep,
        |e| optimised_bytecode(&e.path),
        |_| "bytecode only python -O/-OO reads (*.opt-1.pyc, *.opt-2.pyc)".to_string(),
    );
    drop_unless_kept(tree, plan, keep, windows_program, |names| {
        format!(
            "Windows programs a Linux target never runs ({})",
            crate::ui::few(names)
        )
    });
}

/// The Windows launchers pip's distlib and setuptools carry (`t64.exe`, `cli-arm64.exe`, ...):
/// they write them beside scripts only when installing on Windows. A `.exe` in site-packages
/// that the ELF module recognises as a PE file.
fn windows_program(entry: &Entry) -> bool {
    let named = entry.path.starts_with("lib")
        && entry
            .path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("exe"));
    named
        && entry.source_path().is_some_and(|disk| {
            matches!(
                elf::inspect_file(&disk, &entry.path),
                Ok(Some(elf::Inspection::Foreign("PE")))
            )
        })
}

fn drop_unless_kept(
    tree: &mut Tree,
    plan: &mut Plan,
    keep: Option<&Exclude>,
    matches: impl Fn(&Entry) -> bool,
    what: impl Fn(&[String]) -> String,
) {
    let roots: BTreeSet<PathBuf> = tree
        .entries
        .values()
        .filter(|e| matches!(e.kind, Kind::File { .. }) && matches(e))
        .filter(|e| !keep.is_some_and(|k| k.excludes(&e.path, false)))
        .map(|e| e.path.clone())
        .collect();
    if roots.is_empty() {
        return;
    }
    let mut names: Vec<String> = roots
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.dedup();
    let gone = tree.remove(&roots, &mut plan.warnings);
    plan.trimmed.push(format!(
        "left out {}: {}, {} (--keep GLOB brings it back)",
        what(&names),
        plural(gone.files, "file", "files"),
        crate::ui::human(gone.bytes)
    ));
}

/// The base interpreter's debug sections, left out by default: pyenv and other source builds
/// compile with `-g` (24 MiB of DWARF in CPython 3.11's libpython and lib-dynload), which no
/// board reads and which names the build machine's folders (`/tmp/python-build.*`). Packages'
/// own binaries are left as their wheels ship them (`--strip-debug` strips those too).
fn drop_interpreter_debug(
    tree: &mut Tree,
    plan: &mut Plan,
    interrupted: &AtomicBool,
) -> Result<(), Error> {
    let done = remove_debug(
        tree,
        plan,
        interrupted,
        |p| p.starts_with("python"),
        |_| true,
    )?;
    if !done.kept.is_empty() {
        plan.warnings.push(format!(
            "debug sections kept as built in {}: {}",
            plural(done.kept.len(), "file", "files"),
            done.kept.join("; ")
        ));
    }
    if done.stripped.is_empty() {
        return Ok(());
    }
    plan.trimmed.push(format!(
        "left out the interpreter's debug sections ({}): {}, {} (--keep-debug keeps them)",
        crate::ui::few(&done.stripped),
        plural(done.stripped.len(), "file", "files"),
        crate::ui::human(done.saved)
    ));
    Ok(())
}

/// `--strip-debug`: every ELF file of the interpreter's architecture, packages' too.
fn strip_debug(
    tree: &mut Tree,
    plan: &mut Plan,
    venv: &Venv,
    interrupted: &AtomicBool,
) -> Result<String, Error> {
    let want = (venv.interpreter_elf.machine, venv.interpreter_elf.class);
    let done = remove_debug(
        tree,
        plan,
        interrupted,
        |_| true,
        |file| (file.machine, file.class) == want,
    )?;
    if !done.kept.is_empty() {
        plan.warnings.push(format!(
            "--strip-debug: stored as they were: {}",
            done.kept.join("; ")
        ));
    }
    Ok(format!(
        "--strip-debug: {} of {} stripped, {} saved{}",
        done.stripped.len(),
        plural(done.elf_files, "ELF file", "ELF files"),
        crate::ui::human(done.saved),
        if done.kept.is_empty() {
            String::new()
        } else {
            format!(
                " ({} kept as they were: stripping would have changed what loads)",
                done.kept.len()
            )
        }
    ))
}

/// What `remove_debug` did: the names of the files it stripped (largest saving first), the
/// ELF files it looked at, and each file it left as it was, with why.
struct Stripped {
    stripped: Vec<String>,
    elf_files: usize,
    saved: u64,
    kept: Vec<String>,
}

/// Removes the debug sections of the ELF files at the paths `at` picks (before any is read)
/// that `wanted` picks, in process (`elf::without_debug`:
/// only the non-loaded tail of a file is rewritten, `.symtab` stays, so gdb, perf and py-spy
/// still name functions), so no strip for the target is needed and the output is the same on
/// every machine. A copy is used only if every byte the loader maps is unchanged
/// (`elf::loads_the_same`). Copies go to the plan's scratch directory; the venv is never
/// modified. A file on disk with a `Rewrite::Binary` (RUNPATH, home pinning) keeps it: the fix
/// applies to the copy when it is read, at the same offsets.
fn remove_debug(
    tree: &mut Tree,
    plan: &mut Plan,
    interrupted: &AtomicBool,
    at: impl Fn(&Path) -> bool,
    wanted: impl Fn(&elf::ElfFile) -> bool + Sync,
) -> Result<Stripped, Error> {
    let files: Vec<&Entry> = tree
        .entries
        .values()
        .filter(|e| matches!(e.kind, Kind::File { .. }) && at(&e.path))
        .collect();
    // Per ELF file picked: (path, the stripped copy and bytes saved, or why it stays). Copies
    // of files on disk go to the scratch directory as they are made, so only one per thread
    // is in memory.
    type Outcome = (PathBuf, Option<Result<(Source, u64), String>>);
    // The scratch directory is made by the first copy (most bundles have none to write).
    let existing = plan.scratch.as_ref().map(|d| d.path().to_path_buf());
    let made: std::sync::Mutex<Option<tempfile::TempDir>> = std::sync::Mutex::new(None);
    let out_root = || -> Result<PathBuf, Error> {
        let root = match &existing {
            Some(dir) => dir.clone(),
            None => {
                let mut made = made.lock().expect("no thread panics holding it");
                if made.is_none() {
                    *made = Some(
                        tempfile::Builder::new()
                            .prefix("rvenv-trim-")
                            .tempdir()
                            .map_err(crate::error::io(&std::env::temp_dir()))?,
                    );
                }
                made.as_ref().expect("made above").path().to_path_buf()
            }
        };
        Ok(root.join("without-debug"))
    };
    let found: Vec<Option<Outcome>> = files
        .par_iter()
        .map(|entry| {
            if interrupted.load(Ordering::Relaxed) {
                return Err(crate::interrupt::Interrupted.into());
            }
            let Kind::File {
                source, rewrite, ..
            } = &entry.kind
            else {
                return Ok(None);
            };
            let mapped;
            let bytes: &[u8] = match source {
                Source::Bytes(b) => b,
                Source::Disk(_) | Source::Tree { .. } => {
                    let disk = entry.source_path().expect("a file on disk");
                    match elf::inspect_file(&disk, &entry.path) {
                        Ok(Some(elf::Inspection::Elf(file))) if wanted(&file) => {}
                        Ok(_) => return Ok(None),
                        Err(e) => return Err(crate::error::io(&disk)(e).into()),
                    }
                    mapped = map(&disk)?;
                    &mapped
                }
            };
            if let Source::Bytes(_) = source {
                match elf::inspect(&entry.path, bytes) {
                    Some(elf::Inspection::Elf(file)) if wanted(&file) => {}
                    _ => return Ok(None),
                }
            }
            let path = entry.path.clone();
            if elf::debug_size(bytes) == 0 {
                return Ok(Some((path, None)));
            }
            let out = match elf::without_debug(bytes) {
                Ok(Some(out)) => out,
                Ok(None) => return Ok(Some((path, None))),
                Err(why) => return Ok(Some((path, Some(Err(why.to_string()))))),
            };
            let Some(saved) = bytes.len().checked_sub(out.len()).filter(|n| *n > 0) else {
                return Ok(Some((path, None)));
            };
            if !elf::loads_the_same(bytes, &out) {
                let why = "the copy would not load as the original".to_string();
                return Ok(Some((path, Some(Err(why)))));
            }
            // A file rewritten when read (RUNPATH, home pinning) must still take its fix.
            if let (Rewrite::Binary(fix), Source::Disk(_) | Source::Tree { .. }) = (rewrite, source)
                && let Err(e) = fix.apply(out.clone(), &entry.path)
            {
                return Ok(Some((path, Some(Err(e.to_string())))));
            }
            let copy = match source {
                Source::Bytes(_) => Source::Bytes(out),
                Source::Disk(_) | Source::Tree { .. } => {
                    let disk = out_root()?.join(&entry.path);
                    write_file(&disk, &out)?;
                    Source::Disk(disk)
                }
            };
            Ok(Some((path, Some(Ok((copy, saved as u64))))))
        })
        .collect::<Result<_, Error>>()?;
    if let Some(dir) = made.into_inner().expect("no thread panicked holding it") {
        plan.scratch = Some(std::sync::Arc::new(dir));
    }
    let found: Vec<Outcome> = found.into_iter().flatten().collect();
    let mut done = Stripped {
        stripped: Vec::new(),
        elf_files: found.len(),
        saved: 0,
        kept: Vec::new(),
    };
    let mut names = Vec::new();
    for (path, outcome) in found {
        let (copy, saved) = match outcome {
            None => continue,
            Some(Ok(done)) => done,
            Some(Err(why)) => {
                done.kept.push(format!("{}: {why}", path.display()));
                continue;
            }
        };
        let entry = tree.entries.get_mut(&path).expect("listed above");
        if matches!(copy, Source::Disk(_)) {
            entry.derived_from = entry.origin().map(Cow::into_owned);
        }
        if let Kind::File { source, .. } = &mut entry.kind {
            *source = copy;
        }
        if let Some(name) = path.file_name() {
            names.push((saved, name.to_string_lossy().into_owned()));
        }
        done.saved += saved;
    }
    // The largest first: libpython is most of the interpreter's.
    names.sort_by(|a, b| b.cmp(a));
    done.stripped = names.into_iter().map(|(_, n)| n).collect();
    Ok(done)
}

/// Applies the options of `config` to `plan`, last, so they see the bundle as it would
/// otherwise be (rewritten files, requirements.txt) and nothing later brings back what they
/// left out; one line per option goes to `plan.trimmed`.
pub fn apply(
    plan: &mut Plan,
    venv: &Venv,
    config: &Options,
    interrupted: &AtomicBool,
) -> Result<(), Error> {
    let mut tree = Tree {
        entries: std::mem::take(&mut plan.entries)
            .into_iter()
            .map(|e| (e.path.clone(), e))
            .collect(),
    };
    let result = apply_to(&mut tree, plan, venv, config, interrupted);
    plan.entries = tree.entries.into_values().collect();
    result
}

fn apply_to(
    tree: &mut Tree,
    plan: &mut Plan,
    venv: &Venv,
    config: &Options,
    interrupted: &AtomicBool,
) -> Result<(), Error> {
    drop_build_only(tree, plan, config.keep.as_ref());
    // First, like the other defaults, so that every later line counts the bytes the bundle
    // would otherwise hold (a file --slim then leaves out was stripped for nothing: cheap).
    if !config.keep_debug {
        drop_interpreter_debug(tree, plan, interrupted)?;
    }
    if let Some(exclude) = &config.exclude {
        let line = exclude_paths(tree, plan, venv, exclude)?;
        plan.trimmed.push(line);
    }
    if config.strip_tests || config.slim {
        let site = Path::new("lib")
            .join(venv.version.exe_name())
            .join("site-packages");
        let line = strip_tests(tree, plan, &site, "--strip-tests")?;
        plan.trimmed.push(line);
    }
    if config.slim {
        slim(tree, plan, venv, config.keep.as_ref())?;
        // The standard library's own packages carry tests too (unittest/test, ctypes/test,
        // distutils/tests: 4 MiB in 3.11), beside the top-level test/ left out by default.
        let stdlib = Path::new("python/lib").join(venv.version.exe_name());
        let line = strip_tests(
            tree,
            plan,
            &stdlib,
            "--slim: the standard library's package tests",
        )?;
        plan.trimmed.push(line);
    }
    match config.pycache {
        Pycache::Keep => {}
        Pycache::Drop => {
            let roots: BTreeSet<PathBuf> = tree
                .entries
                .values()
                .filter(|e| is_cached_pyc(&e.path) && matches!(e.kind, Kind::File { .. }))
                .map(|e| e.path.clone())
                .collect();
            let gone = tree.remove(&roots, &mut plan.warnings);
            plan.trimmed.push(format!(
                "--no-pycache: {}, {} left out",
                plural(gone.files, "file", "files"),
                crate::ui::human(gone.bytes)
            ));
        }
        Pycache::Compile => {
            let scratch = scratch(plan)?;
            let line = compile(tree, plan, venv, config, &scratch, interrupted)?;
            plan.trimmed.push(line);
        }
    }
    if (config.strip_debug || config.slim) && !config.keep_debug {
        let line = strip_debug(tree, plan, venv, interrupted)?;
        plan.trimmed.push(line);
    }
    Ok(())
}

/// The plan's temporary directory, made on first use.
fn scratch(plan: &mut Plan) -> Result<PathBuf, Error> {
    if plan.scratch.is_none() {
        let dir = tempfile::Builder::new()
            .prefix("rvenv-trim-")
            .tempdir()
            .map_err(crate::error::io(&std::env::temp_dir()))?;
        plan.scratch = Some(std::sync::Arc::new(dir));
    }
    Ok(plan
        .scratch
        .as_ref()
        .expect("made above")
        .path()
        .to_path_buf())
}

/// One part `--slim` may leave out: its label, the import names (or distribution) that keep
/// it, and its paths in the bundle (everything under a folder goes with it).
struct SlimPart {
    label: String,
    modules: BTreeSet<String>,
    /// For a distribution: its canonical name, which another's `Requires-Dist` keeps.
    dist: Option<String>,
    roots: BTreeSet<PathBuf>,
}

/// The text of a file entry (rewritten bytes, or the file on disk).
fn entry_text(entry: &Entry) -> Result<Option<Vec<u8>>, Error> {
    match &entry.kind {
        Kind::File {
            source: Source::Bytes(b),
            ..
        } => Ok(Some(b.clone())),
        Kind::File { .. } => {
            let Some(disk) = entry.source_path() else {
                return Ok(None);
            };
            std::fs::read(&disk)
                .map(Some)
                .map_err(|e| crate::error::io(&disk)(e).into())
        }
        _ => Ok(None),
    }
}

/// A module file's own bytecode beside it: `dir/__pycache__/name.*.pyc` for `dir/name.py`.
fn with_bytecode(tree: &Tree, file: &Path, roots: &mut BTreeSet<PathBuf>) {
    let (Some(dir), Some(stem)) = (file.parent(), file.file_stem()) else {
        return;
    };
    let prefix = format!("{}.", stem.to_string_lossy());
    let cache = dir.join("__pycache__");
    for (p, _) in tree.entries.range(cache.clone()..) {
        if !p.starts_with(&cache) {
            break;
        }
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        {
            roots.insert(p.clone());
        }
    }
}

/// `--slim`'s parts that are in this bundle: the standard library's (`slim::STDLIB`) and the
/// installers' distributions, each with every file its RECORD lists (`bin/pip` included).
fn slim_parts(
    tree: &Tree,
    venv: &Venv,
    dists: &[crate::python::dist::Distribution],
) -> Result<Vec<SlimPart>, Error> {
    let exe = venv.version.exe_name();
    let stdlib = Path::new("python/lib").join(&exe);
    let site = Path::new("lib").join(&exe).join("site-packages");
    let mut parts = Vec::new();
    for part in crate::bundle::slim::STDLIB {
        let mut roots = BTreeSet::new();
        for rel in part.paths {
            if let Some(prefix) = rel.strip_prefix("lib-dynload/") {
                let dir = stdlib.join("lib-dynload");
                roots.extend(
                    tree.entries
                        .range(dir.clone()..)
                        .map(|(p, _)| p)
                        .take_while(|p| p.starts_with(&dir))
                        .filter(|p| {
                            p.parent() == Some(dir.as_path())
                                && p.file_name()
                                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                        })
                        .cloned(),
                );
                continue;
            }
            let path = stdlib.join(rel);
            if tree.entries.contains_key(&path) {
                if rel.ends_with(".py") {
                    with_bytecode(tree, &path, &mut roots);
                }
                roots.insert(path);
            }
        }
        if !roots.is_empty() {
            parts.push(SlimPart {
                label: part.label.to_string(),
                modules: part.modules.iter().map(|m| m.to_string()).collect(),
                dist: None,
                roots,
            });
        }
    }
    for d in dists {
        let name = d.canonical_name();
        if !crate::bundle::slim::TOOLS.contains(&name.as_str()) {
            continue;
        }
        let Ok(record) = std::fs::read(d.dist_info.join("RECORD")) else {
            continue;
        };
        let Some(dist_info) = d.dist_info.file_name() else {
            continue;
        };
        let mut roots = BTreeSet::from([site.join(dist_info)]);
        let mut modules = BTreeSet::new();
        for listed in crate::python::dist::record_paths(&record) {
            let Some(path) = normalize(&site.join(&listed)) else {
                continue;
            };
            let mut top = Path::new(&listed).components();
            let first = top
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            let nested = top.next().is_some();
            match first {
                Some(first) if nested && first != ".." && !first.ends_with(".dist-info") => {
                    if first != "__pycache__" {
                        modules.insert(first.clone());
                        roots.insert(site.join(first));
                    } else if tree.entries.contains_key(&path) {
                        roots.insert(path);
                    }
                }
                Some(first) if !nested => {
                    if let Some(stem) = first.strip_suffix(".py") {
                        modules.insert(stem.to_string());
                    }
                    if tree.entries.contains_key(&path) {
                        roots.insert(path);
                    }
                }
                _ if tree.entries.contains_key(&path) => {
                    roots.insert(path);
                }
                _ => {}
            }
        }
        roots.retain(|r| tree.entries.contains_key(r));
        parts.push(SlimPart {
            label: format!("{} {}", d.name, d.version),
            modules,
            dist: Some(name),
            roots,
        });
    }
    Ok(parts)
}

/// `--slim`: each part of `slim_parts` goes, one line each with its size, unless a module
/// outside it imports it (site-packages, `.pth` files, `bin/` scripts), another
/// distribution's `Requires-Dist` needs it, or `--keep` names a file of it. requirements.txt
/// then lists only what is shipped.
fn slim(
    tree: &mut Tree,
    plan: &mut Plan,
    venv: &Venv,
    keep: Option<&Exclude>,
) -> Result<(), Error> {
    let dists = crate::python::dist::find(&venv.site_packages())?;
    let parts = slim_parts(tree, venv, &dists)?;
    if parts.is_empty() {
        return Ok(());
    }
    let exe = venv.version.exe_name();
    let site = Path::new("lib").join(&exe).join("site-packages");
    let inside = |p: &Path| {
        parts
            .iter()
            .any(|part| part.roots.iter().any(|r| p.starts_with(r)))
    };
    // Why each part stays, if it does.
    let mut kept: BTreeMap<usize, String> = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        let named = tree
            .entries
            .values()
            .filter(|e| part.roots.iter().any(|r| e.path.starts_with(r)))
            .find(|e| keep.is_some_and(|k| k.excludes(&e.path, matches!(e.kind, Kind::Dir))));
        if let Some(e) = named {
            kept.insert(i, format!("--keep matches {}", e.path.display()));
        }
    }
    let scanned = tree.entries.values().filter(|e| {
        let p = &e.path;
        let source = p.starts_with(&site) && p.extension().is_some_and(|x| x == "py" || x == "pth");
        let script = p.parent() == Some(Path::new("bin"));
        (source || script) && matches!(e.kind, Kind::File { .. }) && !inside(p)
    });
    // Parts imported only under `try: ... except ImportError`, and by which file.
    let mut optional: BTreeMap<usize, String> = BTreeMap::new();
    for entry in scanned {
        if kept.len() == parts.len() {
            break;
        }
        let Some(bytes) = entry_text(entry)? else {
            continue;
        };
        if entry.path.starts_with("bin") && !bytes.starts_with(b"#!") {
            continue;
        }
        let imports = crate::bundle::slim::scan_imports(&String::from_utf8_lossy(&bytes));
        let shown = entry.path.strip_prefix(&site).unwrap_or(&entry.path);
        for (i, part) in parts.iter().enumerate() {
            if kept.contains_key(&i) {
                continue;
            }
            if let Some(m) = part.modules.iter().find(|m| imports.required.contains(*m)) {
                kept.insert(i, format!("{} imports {m}", shown.display()));
            } else if let Some(m) = part.modules.iter().find(|m| imports.optional.contains(*m)) {
                optional.entry(i).or_insert_with(|| {
                    format!(
                        "{} imports {m} only under try/except ImportError",
                        shown.display()
                    )
                });
            }
        }
    }
    for d in &dists {
        let Ok(metadata) = std::fs::read_to_string(
            d.dist_info
                .join(crate::python::dist::metadata_name(&d.dist_info)),
        ) else {
            continue;
        };
        let needs = crate::bundle::slim::required_names(&metadata);
        for (i, part) in parts.iter().enumerate() {
            if let Some(name) = &part.dist
                && *name != d.canonical_name()
                && needs.contains(name)
                && !kept.contains_key(&i)
            {
                kept.insert(i, format!("{} {} requires it", d.name, d.version));
            }
        }
    }
    let mut dropped_dists = BTreeSet::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(why) = kept.get(&i) {
            plan.trimmed
                .push(format!("--slim: kept {}: {why}", part.label));
            continue;
        }
        let gone = tree.remove(&part.roots, &mut plan.warnings);
        if let Some(name) = &part.dist {
            dropped_dists.insert(name.clone());
        }
        let note = optional
            .get(&i)
            .map(|why| format!("; {why}"))
            .unwrap_or_default();
        plan.trimmed.push(format!(
            "--slim: left out {}: {}, {}{note} (--keep GLOB brings it back)",
            part.label,
            plural(gone.files, "file", "files"),
            crate::ui::human(gone.bytes)
        ));
    }
    let requirements = Path::new("requirements.txt");
    if !dropped_dists.is_empty()
        && let Some(entry) = tree.entries.get_mut(requirements)
        && let Kind::File {
            source: Source::Bytes(bytes),
            ..
        } = &mut entry.kind
    {
        let shipped: Vec<_> = dists
            .into_iter()
            .filter(|d| !dropped_dists.contains(&d.canonical_name()))
            .collect();
        *bytes = crate::python::dist::freeze(&shipped, venv.version.minor).into_bytes();
    }
    Ok(())
}

fn is_cached_pyc(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "pyc")
        && path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "__pycache__")
}

/// What CPython reads before any code of the bundle runs: the interpreter and its links,
/// libpython, pyvenv.cfg, the stdlib landmark `os.py` and the modules imported at startup
/// (3.11+ freezes most, 3.8-3.10 read them from disk), and the manifest.
fn protected(venv: &Venv) -> Vec<PathBuf> {
    let exe = venv.version.exe_name();
    let mut paths: Vec<PathBuf> = vec![
        "pyvenv.cfg".into(),
        crate::read::MANIFEST.into(),
        Path::new("bin").join(&exe),
        "bin/python3".into(),
        "bin/python".into(),
        Path::new("python/bin").join(&exe),
    ];
    if let Some(lib) = &venv.libpython {
        paths.push(Path::new("python/lib").join(&lib.needed));
    }
    let stdlib = Path::new("python/lib").join(&exe);
    for module in [
        "os.py",
        "site.py",
        "codecs.py",
        "io.py",
        "abc.py",
        "stat.py",
        "posixpath.py",
        "genericpath.py",
        "_collections_abc.py",
        "_sitebuiltins.py",
        "_bootlocale.py",
        "encodings/__init__.py",
        "encodings/aliases.py",
        "encodings/utf_8.py",
        "encodings/ascii.py",
        "encodings/latin_1.py",
    ] {
        paths.push(stdlib.join(module));
    }
    paths
}

fn exclude_paths(
    tree: &mut Tree,
    plan: &mut Plan,
    venv: &Venv,
    exclude: &Exclude,
) -> Result<String, Error> {
    let mut roots = BTreeSet::new();
    let mut by_pattern: BTreeMap<String, usize> = BTreeMap::new();
    // Sorted component by component, so everything under a left-out directory follows it.
    let mut inside: Option<(PathBuf, String)> = None;
    let mut why: HashMap<PathBuf, String> = HashMap::new();
    for entry in tree.entries.values() {
        if let Some((dir, pattern)) = &inside {
            if entry.path.starts_with(dir) {
                why.insert(entry.path.clone(), pattern.clone());
                continue;
            }
            inside = None;
        }
        let is_dir = matches!(entry.kind, Kind::Dir);
        if let Some(pattern) = exclude.matched(&entry.path, is_dir) {
            *by_pattern.entry(pattern.clone()).or_default() += 1;
            roots.insert(entry.path.clone());
            why.insert(entry.path.clone(), pattern.clone());
            if is_dir {
                inside = Some((entry.path.clone(), pattern));
            }
        }
    }
    for path in protected(venv) {
        let generated = path == Path::new(crate::read::MANIFEST);
        let pattern = if generated {
            exclude.matched(&path, false)
        } else {
            why.get(&path).cloned()
        };
        if let Some(pattern) = pattern {
            return Err(Error::Protected { pattern, path });
        }
    }
    for pattern in &exclude.patterns {
        if !pattern.starts_with('!') && !by_pattern.contains_key(pattern) {
            plan.warnings.push(format!(
                "--exclude '{pattern}': left nothing out (it matches nothing in the bundle, or only what other patterns left out)"
            ));
        }
    }
    let gone = tree.remove(&roots, &mut plan.warnings);
    Ok(format!(
        "--exclude: {}, {} left out",
        plural(gone.files, "file", "files"),
        crate::ui::human(gone.bytes)
    ))
}

/// `--strip-tests`: directories named `tests` or `test` inside a package of `site` (site-packages,
/// or for `--slim` also the standard library), reported on a line that starts with `label`.
fn strip_tests(
    tree: &mut Tree,
    plan: &mut Plan,
    site: &Path,
    label: &str,
) -> Result<String, Error> {
    let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
    for entry in tree.entries.values() {
        let Ok(rel) = entry.path.strip_prefix(site) else {
            continue;
        };
        let named = rel.file_name().is_some_and(|n| n == "tests" || n == "test");
        let parent = entry.path.parent().unwrap_or(Path::new(""));
        if matches!(entry.kind, Kind::Dir)
            && named
            && rel.components().count() >= 2
            && tree.entries.contains_key(&parent.join("__init__.py"))
            && !candidates.iter().any(|c| entry.path.starts_with(c))
        {
            candidates.insert(entry.path.clone());
        }
    }
    let kept = imported_tests(tree, site, &candidates)?;
    let mut report_kept = Vec::new();
    for (dir, importer) in &kept {
        candidates.remove(dir);
        report_kept.push(format!(
            "{} (imported by {})",
            dir.strip_prefix(site).unwrap_or(dir).display(),
            importer.strip_prefix(site).unwrap_or(importer).display()
        ));
    }
    let folders = candidates.len();
    let gone = tree.remove(&candidates, &mut plan.warnings);
    let mut line = format!(
        "{label}: {} in {}, {} left out",
        plural(gone.files, "file", "files"),
        plural(folders, "test folder", "test folders"),
        crate::ui::human(gone.bytes)
    );
    if !report_kept.is_empty() {
        line.push_str(&format!(
            "; kept {} that other modules import: {}",
            report_kept.len(),
            report_kept.join(", ")
        ));
    }
    Ok(line)
}

/// Test folders that code outside them imports (Django's `django.test` is a public API):
/// each with a module that imports it. A module inside a kept folder counts too; pytest's own
/// files (`conftest.py`, `test_*.py`, `*_test.py`) do not, as only pytest loads them.
fn imported_tests(
    tree: &Tree,
    site: &Path,
    candidates: &BTreeSet<PathBuf>,
) -> Result<BTreeMap<PathBuf, PathBuf>, Error> {
    if candidates.is_empty() {
        return Ok(BTreeMap::new());
    }
    let dotted: HashMap<String, &PathBuf> = candidates
        .iter()
        .filter_map(|c| {
            let parts: Vec<String> = c
                .strip_prefix(site)
                .ok()?
                .components()
                .map(|p| p.as_os_str().to_string_lossy().into_owned())
                .collect();
            Some((parts.join("."), c))
        })
        .collect();
    // Module → the test folders it imports, for every module of site-packages.
    let mut imports: Vec<(PathBuf, Option<PathBuf>, BTreeSet<PathBuf>)> = Vec::new();
    for entry in tree.entries.values() {
        if entry.path.extension().is_none_or(|x| x != "py")
            || !entry.path.starts_with(site)
            || is_pytest_file(&entry.path)
        {
            continue;
        }
        let Some(text) = entry_text(entry)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        let found = references(&entry.path, &text, &dotted, candidates);
        if !found.is_empty() {
            let container = candidates
                .iter()
                .find(|c| entry.path.starts_with(c))
                .cloned();
            imports.push((entry.path.clone(), container, found));
        }
    }
    let mut kept: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    loop {
        let before = kept.len();
        for (module, container, found) in &imports {
            let counts = container.as_ref().is_none_or(|c| kept.contains_key(c));
            if !counts {
                continue;
            }
            for dir in found {
                if container.as_ref() != Some(dir) && !kept.contains_key(dir) {
                    kept.insert(dir.clone(), module.clone());
                }
            }
        }
        if kept.len() == before {
            return Ok(kept);
        }
    }
}

fn is_pytest_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "conftest.py" || name.starts_with("test_") || name.ends_with("_test.py")
}

/// The candidate test folders that the module at `path` (inside the bundle) imports, by
/// absolute dotted name anywhere in its text (also in strings, as for `import_module`), or
/// by a relative `from .tests import ...` / `from .. import tests`. `dotted` maps each
/// candidate's dotted name (`numpy._core.tests`) to it.
fn references(
    path: &Path,
    text: &str,
    dotted: &HashMap<String, &PathBuf>,
    candidates: &BTreeSet<PathBuf>,
) -> BTreeSet<PathBuf> {
    static RELATIVE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let relative = RELATIVE.get_or_init(|| {
        regex::Regex::new(
            r"(?m)^[ \t]*from[ \t]+(\.+)[ \t]*([A-Za-z_][\w.]*)?[ \t]+import[ \t]+\(?([^\n#)]*)",
        )
        .expect("valid regex")
    });
    let mut found = BTreeSet::new();
    // Every `.test` or `.tests` word ends a dotted name: the whole name, read backwards, is
    // looked up, so the text is scanned once whatever the number of candidates.
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    for at in memchr::memmem::find_iter(bytes, b".test") {
        let mut end = at + ".test".len();
        if bytes.get(end) == Some(&b's') {
            end += 1;
        }
        if bytes.get(end).is_some_and(|b| ident(*b)) {
            continue;
        }
        // A whole-line comment runs nothing ("tests come from within unittest.test.").
        let line = bytes[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        if bytes[line..at].trim_ascii_start().starts_with(b"#") {
            continue;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|b| !(ident(*b) || *b == b'.'))
            .map_or(0, |i| i + 1);
        if let Some(c) = text
            .get(start..end)
            .and_then(|name| dotted.get(name.trim_start_matches('.')))
            && !path.starts_with(c)
        {
            found.insert((*c).clone());
        }
    }
    let package = path.parent().unwrap_or(Path::new(""));
    for cap in relative.captures_iter(text) {
        let dots = cap.get(1).map_or(0, |m| m.as_str().len());
        let mut base = package.to_path_buf();
        for _ in 1..dots {
            if !base.pop() {
                break;
            }
        }
        let targets: Vec<PathBuf> = match cap.get(2) {
            Some(module) => vec![base.join(module.as_str().replace('.', "/"))],
            None => cap
                .get(3)
                .map_or("", |m| m.as_str())
                .split(',')
                .filter_map(|n| n.split_whitespace().next())
                .map(|n| base.join(n))
                .collect(),
        };
        for target in targets {
            if let Some(c) = candidates
                .iter()
                .find(|c| target.starts_with(c) && !path.starts_with(c))
            {
                found.insert(c.clone());
            }
        }
    }
    found
}

/// A CPython of the venv's X.Y that runs here: the venv's own interpreter if it is for this
/// machine, else `python::host::find`'s.
fn find_python(venv: &Venv) -> Result<PathBuf, Error> {
    let version = format!("{}.{}", venv.version.major, venv.version.minor);
    let (first, foreign) = if host::runs_here(&venv.interpreter_elf) {
        (vec![venv.interpreter.clone()], None)
    } else {
        (
            Vec::new(),
            Some(format!(
                "{} (for {})",
                venv.interpreter.display(),
                elf::machine_name(venv.interpreter_elf.machine)
            )),
        )
    };
    host::find(&version, first).map_err(|tried| Error::NoPython {
        version,
        tried: foreign
            .into_iter()
            .chain(Some(tried))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Compiles the files listed on stdin (NUL-separated source, cfile, dfile triples) as
/// unchecked-hash pycs; each failure is written to stdout as `dfile NUL message NUL`.
const COMPILE_SCRIPT: &str = r#"
import os, sys, py_compile
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
items = sys.stdin.buffer.read().split(b"\0")
out = sys.stdout.buffer
for i in range(0, len(items) - 2, 3):
    src, cfile, dfile = (os.fsdecode(x) for x in items[i:i + 3])
    try:
        py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True, invalidation_mode=mode)
    except Exception as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        out.write(items[i + 2] + b"\0" + lines[-1].strip().encode("utf-8", "replace") + b"\0")
"#;

/// Files per compiler process: a fixed number, so the output never depends on the machine.
const COMPILE_CHUNK: usize = 256;

struct ToCompile {
    source: PathBuf,
    /// The .py inside the bundle.
    path: PathBuf,
    /// `__pycache__/NAME.cpython-XY.pyc` inside the bundle.
    pyc: PathBuf,
    mtime: u64,
}

fn compile(
    tree: &mut Tree,
    plan: &mut Plan,
    venv: &Venv,
    config: &Options,
    scratch: &Path,
    interrupted: &AtomicBool,
) -> Result<String, Error> {
    let python = find_python(venv)?;
    let tag = format!("cpython-{}{}", venv.version.major, venv.version.minor);
    let out_root = scratch.join("compiled");
    let exe = venv.version.exe_name();
    let roots = [
        Path::new("lib").join(&exe),
        Path::new("python/lib").join(&exe),
    ];
    let mut work = Vec::new();
    for entry in tree.entries.values() {
        let (
            Kind::File {
                source: Source::Disk(_) | Source::Tree { .. },
                rewrite: crate::bundle::plan::Rewrite::None,
                ..
            },
            Some(source),
        ) = (&entry.kind, entry.source_path())
        else {
            continue;
        };
        let Some(name) = entry.path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".py") else {
            continue;
        };
        if stem.is_empty() || !roots.iter().any(|r| entry.path.starts_with(r)) {
            continue;
        }
        let pyc = entry
            .path
            .parent()
            .unwrap_or(Path::new(""))
            .join("__pycache__")
            .join(format!("{stem}.{tag}.pyc"));
        // Left out by --exclude: compiling it would bring it back.
        if config
            .exclude
            .as_ref()
            .is_some_and(|x| x.excludes(&pyc, false))
        {
            continue;
        }
        work.push(ToCompile {
            source: source.into_owned(),
            path: entry.path.clone(),
            pyc,
            mtime: entry.mtime,
        });
    }
    let failures: Vec<(PathBuf, String)> = work
        .par_chunks(COMPILE_CHUNK)
        .map(|chunk| {
            if interrupted.load(Ordering::Relaxed) {
                return Err(crate::interrupt::Interrupted.into());
            }
            compile_chunk(&python, chunk, &out_root, interrupted)
        })
        .collect::<Result<Vec<_>, Error>>()?
        .into_iter()
        .flatten()
        .collect();
    // Failures come back by their path inside the bundle (the dfile).
    let failed: HashSet<&Path> = failures.iter().map(|(p, _)| p.as_path()).collect();
    let mut written = 0usize;
    let mut added = 0u64;
    let mut replaced = 0u64;
    for item in &work {
        if failed.contains(item.path.as_path()) {
            continue;
        }
        let disk = out_root.join(&item.pyc);
        let size = std::fs::metadata(&disk)
            .map_err(crate::error::io(&disk))?
            .len();
        let cache = item.pyc.parent().expect("in __pycache__");
        if !tree.entries.contains_key(cache) {
            let parent_mtime = item
                .path
                .parent()
                .and_then(|p| tree.entries.get(p))
                .map_or(item.mtime, |e| e.mtime);
            tree.entries.insert(
                cache.to_path_buf(),
                Entry {
                    path: cache.to_path_buf(),
                    kind: Kind::Dir,
                    mtime: parent_mtime,
                    derived_from: None,
                },
            );
        }
        let entry = Entry {
            path: item.pyc.clone(),
            kind: Kind::File {
                source: Source::Disk(disk),
                executable: false,
                rewrite: crate::bundle::plan::Rewrite::None,
            },
            mtime: item.mtime,
            derived_from: Some(item.source.clone()),
        };
        if let Some(old) = tree.entries.insert(item.pyc.clone(), entry) {
            replaced += entry_size(&old);
        }
        written += 1;
        added += size;
    }
    if !failures.is_empty() {
        let shown: Vec<String> = failures
            .iter()
            .take(5)
            .map(|(path, message)| format!("{} ({message})", path.display()))
            .collect();
        let more = match failures.len() {
            n if n > 5 => format!(", and {} more", n - 5),
            _ => String::new(),
        };
        plan.warnings.push(format!(
            "--compile: {} stored as source only, as Python {} cannot compile them: {}{more}",
            plural(failures.len(), "file", "files"),
            venv.version.full,
            shown.join(", ")
        ));
    }
    let net = if added >= replaced {
        format!("{} added", crate::ui::human(added - replaced))
    } else {
        format!("{} saved", crate::ui::human(replaced - added))
    };
    Ok(format!(
        "--compile: {} compiled by {} (unchecked-hash pycs), {net}{}",
        plural(written, "file", "files"),
        python.display(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(", {} not compiled", failures.len())
        }
    ))
}

fn compile_chunk(
    python: &Path,
    chunk: &[ToCompile],
    out_root: &Path,
    interrupted: &AtomicBool,
) -> Result<Vec<(PathBuf, String)>, Error> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut input = Vec::new();
    for item in chunk {
        for part in [
            item.source.as_os_str(),
            out_root.join(&item.pyc).as_os_str(),
            item.path.as_os_str(),
        ] {
            input.extend_from_slice(part.as_bytes());
            input.push(0);
        }
    }
    let failed = |message: String| Error::CompileFailed {
        python: python.to_path_buf(),
        message,
    };
    // A clean environment and a fixed hash seed, so frozenset constants (ordered by string
    // hashes) come out the same on every run; -E would ignore PYTHONHASHSEED.
    let mut child = Command::new(python)
        .args(["-S", "-B", "-X", "utf8", "-c", COMPILE_SCRIPT])
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let _ = writer.join();
    if interrupted.load(Ordering::Relaxed) {
        return Err(crate::interrupt::Interrupted.into());
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(failed(
            stderr
                .lines()
                .last()
                .unwrap_or(&out.status.to_string())
                .to_string(),
        ));
    }
    let fields: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    Ok(fields
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| {
            (
                PathBuf::from(std::ffi::OsStr::from_bytes(pair[0])),
                String::from_utf8_lossy(pair[1]).into_owned(),
            )
        })
        .collect())
}

fn map(path: &Path) -> Result<memmap2::Mmap, Error> {
    let file = std::fs::File::open(path).map_err(crate::error::io(path))?;
    // SAFETY: read-only, private to this call; the files are the venv's or our own copies.
    Ok(unsafe { memmap2::Mmap::map(&file) }.map_err(crate::error::io(path))?)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = path.parent().expect("under the scratch directory");
    std::fs::create_dir_all(parent).map_err(crate::error::io(parent))?;
    Ok(std::fs::write(path, bytes).map_err(crate::error::io(path))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_while_trimming_is_an_interruption() {
        use crate::error::Hint as _;
        let e = Error::from(crate::interrupt::Interrupted);
        assert!(e.interrupted());
        assert_eq!(crate::error::Error::from(e).exit_code(), 130);
    }

    #[test]
    fn build_only_files_are_the_static_libpython_and_objects_of_config() {
        for yes in [
            "python/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a",
            "python/lib/python3.8/config-3.8-x86_64-linux-gnu/python.o",
            "python/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.so",
        ] {
            assert!(build_only(Path::new(yes)), "{yes}");
        }
        for no in [
            "python/lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile",
            "lib/python3.11/site-packages/numpy/_core/lib/libnpymath.a",
            "python/lib/python3.11/config-3.11-x86_64-linux-gnu/sub/x.a",
            "python/lib/libpython3.11.so.1.0",
        ] {
            assert!(!build_only(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn optimised_bytecode_is_what_only_python_o_reads() {
        assert!(optimised_bytecode(Path::new(
            "python/lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc"
        )));
        assert!(optimised_bytecode(Path::new(
            "lib/python3.11/site-packages/click/__pycache__/core.cpython-311.opt-2.pyc"
        )));
        assert!(!optimised_bytecode(Path::new(
            "python/lib/python3.11/__pycache__/os.cpython-311.pyc"
        )));
        assert!(!optimised_bytecode(Path::new("lib/data/x.opt-1.pyc")));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(crate::ui::human(0), "0 B");
        assert_eq!(crate::ui::human(1023), "1023 B");
        assert_eq!(crate::ui::human(1536), "1.5 KiB");
        assert_eq!(crate::ui::human(40_055_603), "38.2 MiB");
        assert_eq!(crate::ui::human(3 << 30), "3.0 GiB");
    }

    fn exclude(patterns: &[&str]) -> Exclude {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Exclude::new("--exclude", &patterns).unwrap().unwrap()
    }

    #[test]
    fn patterns_follow_gitignore_rules() {
        let x = exclude(&["*.pyi", "lib/python3.11/site-packages/*/docs/", "/share"]);
        // No slash: the name in any directory.
        assert!(x.excludes(Path::new("a.pyi"), false));
        assert!(x.excludes(Path::new("lib/python3.11/site-packages/n/x.pyi"), false));
        // Anchored at the root; '*' is one directory; trailing '/' is directories only.
        assert!(x.excludes(Path::new("lib/python3.11/site-packages/n/docs"), true));
        assert!(!x.excludes(Path::new("lib/python3.11/site-packages/n/docs"), false));
        assert!(x.excludes(
            Path::new("lib/python3.11/site-packages/n/docs/a.txt"),
            false
        ));
        assert!(!x.excludes(Path::new("lib/python3.11/site-packages/n/m/docs"), true));
        assert!(!x.excludes(
            Path::new("python/lib/python3.11/site-packages/n/docs"),
            true
        ));
        assert!(x.excludes(Path::new("share"), true));
        assert!(!x.excludes(Path::new("lib/share"), true));
        let y = exclude(&["**/tests/**", "!keep.py"]);
        assert!(y.matched(Path::new("a/tests"), true).is_none());
        assert!(y.excludes(Path::new("a/tests/b.py"), false));
        assert!(!y.excludes(Path::new("a/tests/keep.py"), false));
        assert!(!y.excludes(Path::new("a/tests"), true));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "  ", "#x", "a/[b"] {
            let err = Exclude::new("--exclude", &[bad.to_string()]).unwrap_err();
            assert!(matches!(err, Error::BadPattern { .. }), "{bad}: {err}");
        }
        assert!(Exclude::new("--exclude", &[]).unwrap().is_none());
    }

    #[test]
    fn imports_of_test_folders_are_found() {
        let site = Path::new("lib/python3.11/site-packages");
        let site_paths = [
            site.join("django/test"),
            site.join("pkg/sub/tests"),
            site.join("numpy/tests"),
        ];
        let candidates: BTreeSet<PathBuf> = site_paths.iter().cloned().collect();
        let dotted: HashMap<String, &PathBuf> = [
            ("django.test".to_string(), &site_paths[0]),
            ("pkg.sub.tests".to_string(), &site_paths[1]),
            ("numpy.tests".to_string(), &site_paths[2]),
        ]
        .into_iter()
        .collect();
        let found =
            |path: &str, text: &str| references(&site.join(path), text, &dotted, &candidates);
        assert_eq!(
            found(
                "django/contrib/staticfiles/testing.py",
                "from django.test import LiveServerTestCase\n"
            ),
            [site.join("django/test")].into()
        );
        assert_eq!(
            found("pkg/sub/__init__.py", "from .tests import helper\n"),
            [site.join("pkg/sub/tests")].into()
        );
        assert_eq!(
            found("pkg/sub/x/y.py", "from ..tests.a import b\n"),
            [site.join("pkg/sub/tests")].into()
        );
        assert_eq!(
            found("pkg/sub/z.py", "from . import a, tests as t\n"),
            [site.join("pkg/sub/tests")].into()
        );
        // numpy.testing is not numpy.tests; a module inside the folder does not count.
        assert!(
            found(
                "numpy/__init__.py",
                "import numpy.testing\nfrom . import testing\n"
            )
            .is_empty()
        );
        assert!(found("numpy/tests/test_a.py", "import numpy.tests.helpers\n").is_empty());
        assert!(found("pkg/sub/a.py", "from .testsuite import x\n").is_empty());
        assert_eq!(
            found(
                "other/x.py",
                "m = importlib.import_module('pkg.sub.tests')\n"
            ),
            [site.join("pkg/sub/tests")].into()
        );
        assert!(
            found(
                "other/x.py",
                "import numpy.testsuite, xnumpy.tests, a.numpy.tests\n"
            )
            .is_empty()
        );
        // A whole-line comment runs nothing; a comment after code still counts.
        assert!(found("other/x.py", "x = 1\n    # from numpy.tests\n").is_empty());
        assert_eq!(
            found("other/x.py", "f('numpy.tests')  # numpy.tests\n"),
            [site.join("numpy/tests")].into()
        );
    }
}
