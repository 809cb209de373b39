//! What the user and the board learn about a bundle: the manifest stored in it, and the
//! diagnostics printed on stderr.

use crate::archive::{Digest, FileDigest};
use crate::plan::Plan;
use crate::target::Target;
use crate::venv::Venv;
use serde::Serialize;
use std::fmt::Write as _;

pub const MANIFEST: &str = "rvenv.json";

#[derive(Debug, Serialize)]
struct ManifestHead<'a> {
    rvenv_version: &'static str,
    target: &'a str,
    python: PythonInfo,
    arcroot: &'a str,
}

#[derive(Debug, Serialize)]
struct PythonInfo {
    implementation: &'static str,
    version: String,
    interpreter: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `rvenv.json`: every other file of the bundle with its size and sha256, one JSON object per
/// line inside one document. It is produced piece by piece as it is stored, so a venv of any
/// number of files never holds the whole document in memory.
pub struct Manifest<'a> {
    head: Vec<u8>,
    plan: &'a Plan,
    files: &'a [FileDigest],
}

impl<'a> Manifest<'a> {
    pub fn new(plan: &'a Plan, digest: &'a Digest, venv: &Venv, target: &Target) -> Manifest<'a> {
        let head = ManifestHead {
            rvenv_version: env!("CARGO_PKG_VERSION"),
            target: &target.name,
            python: PythonInfo {
                implementation: "CPython",
                version: venv.version.full.clone(),
                interpreter: format!("python/bin/{}", venv.version.exe_name()),
            },
            arcroot: &plan.arcroot,
        };
        let mut head = serde_json::to_vec(&head).expect("manifest head serialises");
        head.pop(); // the closing brace: the file list follows
        head.extend_from_slice(b",\"files\":[");
        Manifest {
            head,
            plan,
            files: &digest.files,
        }
    }

    /// Piece `i` of the document: the head, one line per file, then the end.
    fn piece(&self, i: usize, out: &mut Vec<u8>) -> bool {
        out.clear();
        if i == 0 {
            out.extend_from_slice(&self.head);
        } else if let Some(f) = self.files.get(i - 1) {
            out.extend_from_slice(if i == 1 { b"\n" } else { b",\n" });
            let path = self.plan.entries[f.entry].path.as_os_str();
            out.extend_from_slice(b"{\"path\":");
            serde_json::to_writer(&mut *out, &path.to_string_lossy()).expect("a string serialises");
            // JSON strings are Unicode: a name that is not UTF-8 is also given byte for byte.
            if path.to_str().is_none() {
                use base64::Engine as _;
                use std::os::unix::ffi::OsStrExt as _;
                let exact = base64::engine::general_purpose::STANDARD.encode(path.as_bytes());
                let _ = write!(PieceWriter(out), ",\"path_base64\":\"{exact}\"");
            }
            let _ = write!(
                PieceWriter(out),
                ",\"size\":{},\"sha256\":\"{}\"}}",
                f.size,
                hex(&f.sha256)
            );
        } else if i == self.files.len() + 1 {
            out.extend_from_slice(b"\n]}\n");
        } else {
            return false;
        }
        true
    }

    /// The document's length in bytes (the tar header needs it before the content).
    pub fn len(&self) -> u64 {
        let mut buf = Vec::new();
        let mut len = 0;
        for i in 0.. {
            if !self.piece(i, &mut buf) {
                break;
            }
            len += buf.len() as u64;
        }
        len
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The document as a reader.
    pub fn reader(&self) -> ManifestReader<'_, 'a> {
        ManifestReader {
            manifest: self,
            next: 0,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// The whole document (for tests and small bundles).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut self.reader(), &mut out).expect("memory reads");
        out
    }
}

/// `write!` into a byte buffer.
struct PieceWriter<'b>(&'b mut Vec<u8>);

impl std::fmt::Write for PieceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub struct ManifestReader<'m, 'a> {
    manifest: &'m Manifest<'a>,
    next: usize,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for ManifestReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            if !self.manifest.piece(self.next, &mut self.buf) {
                return Ok(0);
            }
            self.next += 1;
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A size as people write it: `1023 B`, `1.5 KiB`, `38.2 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Diagnostics go to stderr: `error:`, `warning:` and `hint:` lines. The prefix is coloured
/// only when stderr is a terminal that supports colour; never with `NO_COLOR` set (non-empty)
/// or `TERM=dumb` (anstream decides, and strips the escapes everywhere else).
fn prefix(label: &str, color: anstyle::AnsiColor) -> String {
    let style = anstyle::Style::new().bold().fg_color(Some(color.into()));
    format!("{style}{label}:{style:#}")
}

pub fn warning(message: &str) {
    anstream::eprintln!(
        "{} {message}",
        prefix("warning", anstyle::AnsiColor::Yellow)
    );
}

pub fn error(message: &str, hint: Option<&str>) {
    anstream::eprintln!("{} {message}", prefix("error", anstyle::AnsiColor::Red));
    if let Some(h) = hint {
        self::hint(h);
    }
}

pub fn hint(message: &str) {
    anstream::eprintln!("{} {message}", prefix("hint", anstyle::AnsiColor::Cyan));
}

pub fn info(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("{message}");
    }
}

/// A progress bar on stderr (files and bytes, rate, time left) for long work; drawn only when
/// stderr is a terminal, so pipes and CI logs never see it.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    files: std::sync::atomic::AtomicU64,
    total_files: u64,
}

impl Progress {
    /// `totals` gives the files and their bytes (asked only when the bar is drawn); `verb`
    /// says what is done to them ("bundling").
    pub fn new(quiet: bool, verb: &'static str, totals: impl FnOnce() -> (u64, u64)) -> Progress {
        use std::io::IsTerminal;
        let show = !quiet && std::io::stderr().is_terminal();
        let (total_files, total_bytes) = if show { totals() } else { (0, 0) };
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total_bytes),
                indicatif::ProgressDrawTarget::stderr_with_hz(10),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(verb);
            // An error ends the run with the bar cleared, not frozen above the message.
            let bar = bar.with_finish(indicatif::ProgressFinish::AndClear);
            bar.set_message(format!("0/{total_files} files"));
            bar
        });
        Progress {
            bar,
            files: Default::default(),
            total_files,
        }
    }

    /// One more file of `bytes` done.
    pub fn file_done(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            let n = self
                .files
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            bar.set_message(format!("{n}/{} files", self.total_files));
            bar.inc(bytes);
        }
    }

    /// Removes the bar before the summary lines.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Leaks are grouped per file: one warning names the file and the paths it still holds.
pub fn leaks(digest: &Digest) {
    let mut by_file: std::collections::BTreeMap<_, Vec<&str>> = Default::default();
    for leak in &digest.leaks {
        by_file
            .entry(&leak.path)
            .or_default()
            .push(&leak.build_path);
    }
    for (path, paths) in by_file {
        warning(&format!(
            "{}: still contains the build path {} (it will not exist on the target)",
            path.display(),
            paths.join(" and ")
        ));
    }
}

/// One `error:` (or `warning:`) line per offender, with its hint; then the warnings.
pub fn offenders(report: &crate::elf::Report, as_errors: bool) {
    for w in &report.warnings {
        warning(&format!(
            "{}: {} (this optional standard-library module will not import there)",
            w.path, w.problem.message
        ));
    }
    for o in &report.offenders {
        let line = format!("{}: {}", o.path, o.problem.message);
        if as_errors {
            error(&line, o.problem.hint.as_deref());
        } else {
            warning(&line);
            if let Some(h) = &o.problem.hint {
                hint(h);
            }
        }
    }
}

/// `rvenv check --json`: the report with a format version (docs/check-json.md).
pub fn check_json(report: &crate::elf::Report) -> String {
    let doc = serde_json::json!({
        "format": 1,
        "target": report.target,
        "glibc": report.glibc,
        "checked": report.checked,
        "kinds": report.kinds,
        "ok": report.offenders.is_empty(),
        "offenders": report.offenders,
        "warnings": report.warnings,
        "foreign_ignored": report.foreign_ignored,
    });
    serde_json::to_string_pretty(&doc).expect("report serialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(super::hex(&[0, 15, 255]), "000fff");
    }
}
