//! The report `rvenv inspect` prints or writes as JSON (docs/inspect-json.md): plain
//! serialisable types, filled in by `report` and shown by `render`.

use super::Layout;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Each RUNPATH/RPATH element naming a folder outside the bundle, by file: what `bundle`
    /// does with it (`becomes` is null when it is removed).
    pub runpath_leaks: Vec<RunpathLeak>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunpathLeak {
    pub path: String,
    pub element: String,
    pub becomes: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    pub path: String,
    /// `shebang`, `activate`, `pyvenv-cfg`, `record`, `runpath`, `generated`.
    pub rewrite: String,
}
