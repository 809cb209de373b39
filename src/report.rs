//! What the user and the board learn about a bundle: the manifest stored in it, and the
//! diagnostics printed on stderr.

use crate::archive::Digest;
use crate::plan::Plan;
use crate::target::Target;
use crate::venv::Venv;
use serde::Serialize;
use std::fmt::Write as _;

pub const MANIFEST: &str = "rvenv.json";

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub rvenv_version: &'static str,
    pub target: String,
    pub python: PythonInfo,
    pub arcroot: String,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Serialize)]
pub struct PythonInfo {
    pub implementation: &'static str,
    pub version: String,
    pub interpreter: String,
}

#[derive(Debug, Serialize)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `rvenv.json`: every other file of the bundle with its size and sha256.
pub fn manifest(plan: &Plan, digest: &Digest, venv: &Venv, target: &Target) -> Vec<u8> {
    let manifest = Manifest {
        rvenv_version: env!("CARGO_PKG_VERSION"),
        target: target.name.clone(),
        python: PythonInfo {
            implementation: "CPython",
            version: venv.version.full.clone(),
            interpreter: format!("python/bin/{}", venv.version.exe_name()),
        },
        arcroot: plan.arcroot.clone(),
        files: digest
            .files
            .iter()
            .map(|f| ManifestFile {
                path: f.path.to_string_lossy().into_owned(),
                size: f.size,
                sha256: hex(&f.sha256),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    out.push(b'\n');
    out
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
