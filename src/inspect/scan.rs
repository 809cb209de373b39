//! Reading one file: a binary is inspected, a text file scanned for the paths it names, a few
//! files kept whole, a compiled module read for the source path it was compiled from.

use crate::elf;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The first read: enough to tell a binary, a NUL byte in most binary formats, and a script's
/// launcher lines.
const FIRST_READ: usize = 8 * 1024;
const CHUNK: usize = 256 * 1024;
/// What is kept of a `bin/` file to classify its launcher.
pub(super) const HEAD: usize = 4096;
/// Metadata and configuration files are kept whole up to this size.
const KEEP_LIMIT: u64 = 16 << 20;
/// Longer runs of path characters are not paths.
const LONGEST_RUN: usize = 4096;

/// What one file contributed.
#[derive(Debug, Default)]
pub(super) struct FileScan {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) binary: Option<elf::Inspection>,
    /// Runs of path characters holding a `/`, for a text file.
    pub(super) runs: Vec<Vec<u8>>,
    /// The whole file, for the few files read after the pass.
    pub(super) kept: Option<Vec<u8>>,
    /// The first bytes of a `bin/` file.
    pub(super) head: Option<Vec<u8>>,
    /// For a compiled module: the source path it was compiled from.
    pub(super) compiled_from: Option<String>,
}

pub(super) fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// `lib/python3.X/site-packages/REST` → `REST`'s components.
pub(super) fn in_site_packages(parts: &[String]) -> Option<&[String]> {
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
pub(super) fn compiled_module(parts: &[String]) -> bool {
    compiled_module_source(parts).is_some()
}

/// For `.../pkg/__pycache__/mod.cpython-311.pyc`: whether it is in site-packages (else the
/// standard library) and its source's path below that (`pkg/mod.py`).
pub(super) fn compiled_module_source(parts: &[String]) -> Option<(bool, String)> {
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

pub(super) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
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
pub(super) fn scan(
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
pub(super) fn run_contains(run: &[u8], build_path: &[u8]) -> bool {
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
pub(super) fn compiled_source(pyc: &[u8]) -> Option<String> {
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
}
