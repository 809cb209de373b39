//! Wheels (PEP 427): file names and their tags, ranking against the target, and installation
//! into a venv layout with every member checked against `RECORD`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::PackageName;
use pep508_rs::pep440_rs::Version;
use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error("{wheel}: not a readable wheel (zip): {message}")]
    Zip { wheel: PathBuf, message: String },
    #[error(
        "{wheel}: member '{member}' would be written outside the install (absolute, '..' or '\\' in its name)"
    )]
    UnsafeMember { wheel: PathBuf, member: String },
    #[error("{wheel}: {message}")]
    Malformed { wheel: PathBuf, message: String },
    #[error("{wheel}: '{member}' does not match RECORD ({detail})")]
    RecordMismatch {
        wheel: PathBuf,
        member: String,
        detail: String,
    },
    #[error("{wheel}: '{member}' is not listed in RECORD with a hash")]
    NotInRecord { wheel: PathBuf, member: String },
    #[error("{wheel}: RECORD lists '{member}', which the wheel does not contain")]
    MissingMember { wheel: PathBuf, member: String },
    #[error("{wheel}: would replace {path}, the environment's own interpreter link")]
    WouldReplaceInterpreter { wheel: PathBuf, path: PathBuf },
    #[error(
        "{wheel}: member '{member}' is a symlink (zip mode {mode:o}); a wheel holds regular files only"
    )]
    SymlinkMember {
        wheel: PathBuf,
        member: String,
        mode: u32,
    },
    #[error(
        "{wheel}: member '{member}' declares {declared} bytes from {compressed} compressed (more than {MAX_RATIO}:1): refused as a zip bomb"
    )]
    Ratio {
        wheel: PathBuf,
        member: String,
        declared: u64,
        compressed: u64,
    },
    #[error(
        "{wheel}: member '{member}' inflates to more than the {declared} bytes its zip header declares: refused as a zip bomb"
    )]
    Oversized {
        wheel: PathBuf,
        member: String,
        declared: u64,
    },
    #[error(
        "{wheel}: its files take {} ({needed} bytes) once installed, and {dir} has {} free",
        crate::ui::human(*needed),
        crate::ui::human(*free)
    )]
    NoSpace {
        wheel: PathBuf,
        needed: u64,
        dir: PathBuf,
        free: u64,
    },
}

impl crate::error::Hint for Error {}

/// A member may inflate to at most this many times its compressed size (DEFLATE reaches about
/// 1030:1 on a run of one byte; real wheels stay far below 100:1 on any large file).
pub const MAX_RATIO: u64 = 100;
/// Members up to this size are not held to `MAX_RATIO`: a small file of spaces is no threat.
const RATIO_FREE: u64 = 1 << 20;

/// Bytes available to this user on the file system holding `dir`.
fn free_space(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: PackageName,
    pub version: Version,
    /// Every `python-abi-platform` triple the compressed tag set expands to.
    pub tags: Vec<String>,
}

impl WheelName {
    pub fn parse(file_name: &str) -> Option<WheelName> {
        let stem = file_name.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, py, abi, plat) = match parts.as_slice() {
            [n, v, p, a, pl] | [n, v, _, p, a, pl] => (*n, *v, *p, *a, *pl),
            _ => return None,
        };
        let mut tags = Vec::new();
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    tags.push(format!("{p}-{a}-{pl}"));
                }
            }
        }
        Some(WheelName {
            name: PackageName::from_str(name).ok()?,
            version: Version::from_str(version).ok()?,
            tags,
        })
    }
}

/// The tags an interpreter accepts, in pip's order of preference (best first): its own ABI,
/// then abi3 down to 3.2, then no ABI; then pure `pyXY`/`py3` tags for the platforms, then
/// `any`.
#[derive(Debug, Clone)]
pub struct Tags {
    ranked: Vec<String>,
    rank: HashMap<String, usize>,
    /// `cp311`: for pip's `--abi` and messages.
    pub abi: String,
    pub platforms: Vec<String>,
}

impl Tags {
    pub fn new(major: u32, minor: u32, platforms: &[String]) -> Tags {
        let cp = format!("cp{major}{minor}");
        let mut ranked = Vec::new();
        let mut push = |py: &str, abi: &str, plats: &[&str]| {
            for p in plats {
                ranked.push(format!("{py}-{abi}-{p}"));
            }
        };
        let plats: Vec<&str> = platforms.iter().map(String::as_str).collect();
        push(&cp, &cp, &plats);
        push(&cp, "abi3", &plats);
        push(&cp, "none", &plats);
        for m in (2..minor).rev() {
            push(&format!("cp{major}{m}"), "abi3", &plats);
        }
        // pyXY, then py3, then older pyXY, as pip's interpreter range goes.
        let mut pure = vec![format!("py{major}{minor}"), format!("py{major}")];
        pure.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for py in &pure {
            push(py, "none", &plats);
        }
        push(&cp, "none", &["any"]);
        for py in &pure {
            push(py, "none", &["any"]);
        }
        let rank = ranked
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Tags {
            ranked,
            rank,
            abi: cp,
            platforms: platforms.to_vec(),
        }
    }

    /// The wheel's best rank (lower is better), or `None` if the target cannot use it.
    pub fn rank(&self, wheel: &WheelName) -> Option<usize> {
        wheel
            .tags
            .iter()
            .filter_map(|t| self.rank.get(t).copied())
            .min()
    }

    /// Every tag, best first.
    pub fn ranked(&self) -> &[String] {
        &self.ranked
    }
}

/// Where a wheel's parts go.
#[derive(Debug, Clone)]
pub struct Layout {
    pub site_packages: PathBuf,
    pub scripts: PathBuf,
    /// `include/site/pythonX.Y`: headers go under `<name>/` in it.
    pub headers: PathBuf,
    /// The environment's root, for `.data/data`.
    pub data: PathBuf,
    /// What script shebangs name (the environment's `bin/python`; the bundle makes them
    /// relocatable like any other script).
    pub python: String,
}

#[derive(Debug)]
pub struct Installed {
    pub name: PackageName,
    pub version: Version,
    /// `Requires-Dist` values from METADATA.
    pub requires_dist: Vec<String>,
    /// Files another wheel had already written (pip overwrites them too).
    pub overwritten: Vec<PathBuf>,
}

/// A member name is taken only if it is relative, in `/` form, and stays inside.
fn safe_member(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && !name.split('/').any(|c| c == ".." || c == ".")
        // A Windows drive (`C:`), which `Path` on Linux would take as a plain name.
        && name.as_bytes().get(1) != Some(&b':')
}

fn header_values<'a>(metadata: &'a str, key: &str) -> Vec<&'a str> {
    metadata
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
        .collect()
}

/// `[console_scripts]` and `[gui_scripts]` of entry_points.txt: (script name, module, attribute).
pub fn entry_points(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim();
            continue;
        }
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("entry point line '{line}' has no '='"))?;
        let name = name.trim();
        // Extras (`[extra]`) only say which extras the script needs; the code path is the same.
        let value = value.split('[').next().unwrap_or(value).trim();
        let (module, attr) = value.split_once(':').unwrap_or((value, ""));
        let dotted = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars().all(|c| c.is_alphanumeric() || c == '_')
                        && !p.starts_with(|c: char| c.is_ascii_digit())
                })
        };
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(format!("entry point name '{name}' is not a file name"));
        }
        if !dotted(module.trim()) || (!attr.is_empty() && !dotted(attr.trim())) {
            return Err(format!(
                "entry point '{name} = {value}' is not module:attribute"
            ));
        }
        out.push((
            name.to_string(),
            module.trim().to_string(),
            attr.trim().to_string(),
        ));
    }
    Ok(out)
}

/// The script written for a console or GUI entry point.
pub fn entry_point_script(python: &str, module: &str, attr: &str) -> String {
    let (import, call) = if attr.is_empty() {
        (format!("import {module}"), module.to_string())
    } else {
        let top = attr.split('.').next().unwrap_or(attr);
        (format!("from {module} import {top}"), attr.to_string())
    };
    format!(
        "#!{python}\nimport sys\n{import}\nif __name__ == \"__main__\":\n    if sys.argv[0].endswith(\".exe\"):\n        sys.argv[0] = sys.argv[0][:-4]\n    sys.exit({call}())\n"
    )
}

/// Creates a file of the install. The only symlinks in the environment are `bin/python*`, which
/// point at the target's interpreter: writing through one would overwrite the user's Python.
fn open_new(wheel: &Path, path: &Path, executable: bool) -> Result<(std::fs::File, bool), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(crate::error::io(parent))?;
    }
    let existing = path.symlink_metadata().ok();
    if existing
        .as_ref()
        .is_some_and(|m| m.file_type().is_symlink())
    {
        return Err(Error::WouldReplaceInterpreter {
            wheel: wheel.to_path_buf(),
            path: path.to_path_buf(),
        });
    }
    if existing.is_some() {
        // pip overwrites too; a new file gets the mode below rather than the old one's.
        std::fs::remove_file(path).map_err(crate::error::io(path))?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
        .map_err(crate::error::io(path))?;
    Ok((file, existing.is_some()))
}

/// The hashers RECORD may name; sha256 is always computed (the new RECORD uses it).
struct Hashers {
    sha256: sha2::Sha256,
    other: Option<(String, Box<dyn sha2::digest::DynDigest>)>,
}

impl Hashers {
    fn new(field: &str) -> Result<Hashers, String> {
        let algorithm = field.split_once('=').map_or(field, |(a, _)| a);
        let other: Option<Box<dyn sha2::digest::DynDigest>> = match algorithm {
            "sha256" => None,
            "sha384" => Some(Box::new(sha2::Sha384::new())),
            "sha512" => Some(Box::new(sha2::Sha512::new())),
            other => return Err(format!("hash algorithm '{other}' is not accepted")),
        };
        Ok(Hashers {
            sha256: sha2::Sha256::new(),
            other: other.map(|h| (algorithm.to_string(), h)),
        })
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some((_, h)) = &mut self.other {
            h.update(bytes);
        }
    }

    /// Checks `field` (`ALGORITHM=urlsafe-b64`); returns the sha256 either way.
    fn check(self, field: &str) -> (Result<(), String>, Vec<u8>) {
        use base64::Engine;
        let sha256 = self.sha256.finalize().to_vec();
        let (algorithm, actual) = match self.other {
            Some((name, h)) => (name, h.finalize().to_vec()),
            None => ("sha256".to_string(), sha256.clone()),
        };
        let expected = field.split_once('=').map_or("", |(_, v)| v);
        let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(actual);
        let result = if actual == expected.trim_end_matches('=') {
            Ok(())
        } else {
            Err(format!("{algorithm} is {actual}, RECORD says {expected}"))
        };
        (result, sha256)
    }
}

/// What a wheel's checks before anything is written found.
struct Checked {
    /// Index and name of every member that is not a directory.
    members: Vec<(usize, String)>,
    dist_info: String,
    version: Version,
    requires_dist: Vec<String>,
    /// RECORD: path → (hash field, size).
    rows: BTreeMap<String, (String, Option<u64>)>,
    /// Entry points: (script name, module, attribute).
    scripts: Vec<(String, String, String)>,
    record_name: String,
    /// What all members declare they expand to (checked against the free space).
    declared_total: u64,
}

/// RECORD itself and its signatures are the members RECORD does not list.
fn is_unsigned(record_name: &str, name: &str) -> bool {
    name == record_name
        || name.strip_prefix(record_name) == Some(".jws")
        || name.strip_prefix(record_name) == Some(".p7s")
}

/// Member names, the metadata, and RECORD's coverage: all checked before anything is written.
fn check_archive<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    wheel: &Path,
    expected: &PackageName,
) -> Result<Checked, Error> {
    let malformed = |message: String| Error::Malformed {
        wheel: wheel.to_path_buf(),
        message,
    };
    let zip_err = |e: zip::result::ZipError| Error::Zip {
        wheel: wheel.to_path_buf(),
        message: e.to_string(),
    };

    // Names first: every one must stay inside, and directories are not installed. Then what
    // each declares: a regular file (a symlink could point anywhere once written), at a sane
    // ratio, and all of them together fitting the disk.
    let mut members: Vec<(usize, String)> = Vec::new();
    let mut declared_total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(zip_err)?;
        let name = entry.name().map_err(zip_err)?.to_string();
        if !safe_member(name.trim_end_matches('/')) {
            return Err(Error::UnsafeMember {
                wheel: wheel.to_path_buf(),
                member: name,
            });
        }
        if let Some(mode) = entry.unix_mode()
            && mode & 0o170000 == 0o120000
        {
            return Err(Error::SymlinkMember {
                wheel: wheel.to_path_buf(),
                member: name,
                mode,
            });
        }
        let (declared, compressed) = (entry.size(), entry.compressed_size());
        if declared > RATIO_FREE && declared / compressed.max(1) > MAX_RATIO {
            return Err(Error::Ratio {
                wheel: wheel.to_path_buf(),
                member: name,
                declared,
                compressed,
            });
        }
        declared_total = declared_total.saturating_add(declared);
        if !entry.is_dir() {
            members.push((i, name));
        }
    }
    let dist_info = members
        .iter()
        .filter_map(|(_, m)| m.split('/').next().filter(|d| d.ends_with(".dist-info")))
        .find(|d| {
            d.strip_suffix(".dist-info")
                .and_then(|s| s.rsplit_once('-'))
                .and_then(|(n, _)| PackageName::from_str(n).ok())
                .is_some_and(|n| &n == expected)
        })
        .map(str::to_string)
        .ok_or_else(|| malformed(format!("no {expected}-<version>.dist-info directory")))?;
    let mut text = |member: &str| -> Result<Option<String>, Error> {
        let name = format!("{dist_info}/{member}");
        let mut entry = match zip.by_name(&name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_err(e)),
        };
        let mut out = String::new();
        entry
            .read_to_string(&mut out)
            .map_err(|e| malformed(format!("{name}: {e}")))?;
        Ok(Some(out))
    };
    let need = |t: Option<String>, member: &str| {
        t.ok_or_else(|| malformed(format!("{dist_info}/{member} is missing")))
    };
    let wheel_meta = need(text("WHEEL")?, "WHEEL")?;
    let metadata = need(text("METADATA")?, "METADATA")?;
    let record = need(text("RECORD")?, "RECORD")?;
    let entry_points_txt = text("entry_points.txt")?;
    match header_values(&wheel_meta, "Wheel-Version").first() {
        Some(v) if v.split('.').next() == Some("1") => {}
        Some(v) => {
            return Err(malformed(format!(
                "Wheel-Version {v} is not supported (1.x is)"
            )));
        }
        None => return Err(malformed("WHEEL has no Wheel-Version".into())),
    }
    let version = header_values(&metadata, "Version")
        .first()
        .and_then(|v| Version::from_str(v).ok())
        .ok_or_else(|| malformed("METADATA has no valid Version".into()))?;
    let requires_dist = header_values(&metadata, "Requires-Dist")
        .into_iter()
        .map(str::to_string)
        .collect();

    // RECORD covers every member but itself (and its signatures), and names nothing absent.
    let record_name = format!("{dist_info}/RECORD");
    let unsigned = |name: &str| is_unsigned(&record_name, name);
    let mut rows: BTreeMap<String, (String, Option<u64>)> = BTreeMap::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record.as_bytes());
    for row in reader.records() {
        let row = row.map_err(|e| malformed(format!("RECORD: {e}")))?;
        let path = row.get(0).unwrap_or_default().to_string();
        if path.is_empty() {
            continue;
        }
        if !safe_member(&path) {
            return Err(Error::UnsafeMember {
                wheel: wheel.to_path_buf(),
                member: path,
            });
        }
        let hash = row.get(1).unwrap_or_default().to_string();
        let size = row.get(2).and_then(|s| s.parse().ok());
        rows.insert(path, (hash, size));
    }
    for (_, name) in &members {
        if !unsigned(name) && rows.get(name).is_none_or(|(h, _)| h.is_empty()) {
            return Err(Error::NotInRecord {
                wheel: wheel.to_path_buf(),
                member: name.clone(),
            });
        }
    }
    if let Some(member) = rows
        .keys()
        .find(|r| !unsigned(r) && !members.iter().any(|(_, m)| m == *r))
    {
        return Err(Error::MissingMember {
            wheel: wheel.to_path_buf(),
            member: member.clone(),
        });
    }
    let scripts = match &entry_points_txt {
        Some(t) => entry_points(t).map_err(malformed)?,
        None => Vec::new(),
    };
    Ok(Checked {
        members,
        dist_info,
        version,
        requires_dist,
        rows,
        scripts,
        record_name,
        declared_total,
    })
}

/// A wheel read from any stream (`wheel` names it) as `install` reads it, writing nothing:
/// the checks before writing, then every member read and compared with RECORD.
pub fn check_from<R: Read + std::io::Seek>(
    reader: R,
    wheel: &Path,
    expected: &PackageName,
) -> Result<(), Error> {
    let zip_err = |e: zip::result::ZipError| Error::Zip {
        wheel: wheel.to_path_buf(),
        message: e.to_string(),
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(zip_err)?;
    let checked = check_archive(&mut zip, wheel, expected)?;
    for (index, name) in &checked.members {
        if is_unsigned(&checked.record_name, name) {
            continue;
        }
        let (field, size) = &checked.rows[name];
        let mismatch = |detail: String| Error::RecordMismatch {
            wheel: wheel.to_path_buf(),
            member: name.clone(),
            detail,
        };
        let mut hashers = Hashers::new(field).map_err(mismatch)?;
        let mut entry = zip.by_index(*index).map_err(zip_err)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut count = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| Error::Malformed {
                wheel: wheel.to_path_buf(),
                message: format!("{name}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            hashers.update(&buf[..n]);
            count += n as u64;
        }
        if let Some(size) = size
            && *size != count
        {
            return Err(mismatch(format!("{count} bytes, RECORD says {size}")));
        }
        hashers.check(field).0.map_err(mismatch)?;
    }
    Ok(())
}

/// Installs a wheel whose name says it is `expected`. Member names, RECORD's coverage and the
/// `.data` schemes are checked before anything is written; each member is then streamed to its
/// place (memory stays small for any wheel) and its hash and size checked against RECORD. A
/// refused wheel fails the whole assembly, whose temporary directory is then removed.
pub fn install(wheel: &Path, expected: &PackageName, layout: &Layout) -> Result<Installed, Error> {
    let malformed = |message: String| Error::Malformed {
        wheel: wheel.to_path_buf(),
        message,
    };
    let zip_err = |e: zip::result::ZipError| Error::Zip {
        wheel: wheel.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(wheel).map_err(crate::error::io(wheel))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
    let Checked {
        members,
        dist_info,
        version,
        requires_dist,
        rows,
        scripts,
        record_name,
        declared_total,
    } = check_archive(&mut zip, wheel, expected)?;
    let unsigned = |name: &str| is_unsigned(&record_name, name);

    // Where each member goes, all decided before anything is written.
    let data_prefix = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let mut places: Vec<(usize, String, PathBuf, bool)> = Vec::new();
    for (index, name) in &members {
        if unsigned(name) {
            continue;
        }
        let (dest, is_script) = match name.strip_prefix(&data_prefix) {
            Some(rest) => {
                let (scheme, path) = rest
                    .split_once('/')
                    .ok_or_else(|| malformed(format!("'{name}' is not in a .data scheme")))?;
                match scheme {
                    "purelib" | "platlib" => (layout.site_packages.join(path), false),
                    "scripts" => (layout.scripts.join(path), true),
                    "headers" => (layout.headers.join(expected.to_string()).join(path), false),
                    "data" => (layout.data.join(path), false),
                    other => {
                        return Err(malformed(format!(
                            "unknown .data scheme '{other}' in '{name}'"
                        )));
                    }
                }
            }
            None => (layout.site_packages.join(name), false),
        };
        places.push((*index, name.clone(), dest, is_script));
    }

    let free =
        free_space(&layout.site_packages).map_err(crate::error::io(&layout.site_packages))?;
    if declared_total > free {
        return Err(Error::NoSpace {
            wheel: wheel.to_path_buf(),
            needed: declared_total,
            dir: layout.site_packages.clone(),
            free,
        });
    }

    let mut written: Vec<(PathBuf, Vec<u8>, u64)> = Vec::new();
    let mut overwritten = Vec::new();
    for (index, name, dest, is_script) in places {
        let mut entry = zip.by_index(index).map_err(zip_err)?;
        let declared = entry.size();
        let oversized = || Error::Oversized {
            wheel: wheel.to_path_buf(),
            member: name.clone(),
            declared,
        };
        let executable = is_script || entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let (field, size) = rows[&name].clone();
        let mismatch = |detail: String| Error::RecordMismatch {
            wheel: wheel.to_path_buf(),
            member: name.clone(),
            detail,
        };
        let mut hashers = Hashers::new(&field).map_err(&mismatch)?;
        let mut out = open_new(wheel, &dest, executable)?;
        if out.1 {
            overwritten.push(dest.clone());
        }
        let mut count = 0u64;
        let mut sha_written = None;
        let mut buf = vec![0u8; 256 * 1024];
        // pip's rule: `#!python` (or `#!pythonw`) is replaced by the environment's interpreter.
        // Scripts are small; they are read whole to replace their first line.
        if is_script {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(declared)
                .read_to_end(&mut bytes)
                .map_err(|e| malformed(format!("{name}: {e}")))?;
            hashers.update(&bytes);
            count = bytes.len() as u64;
            if bytes.starts_with(b"#!python") {
                let rest = bytes
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(&[][..], |i| &bytes[i + 1..]);
                let mut new = format!("#!{}\n", layout.python).into_bytes();
                new.extend_from_slice(rest);
                bytes = new;
                sha_written = Some((sha2::Sha256::digest(&bytes).to_vec(), bytes.len() as u64));
            }
            out.0.write_all(&bytes).map_err(crate::error::io(&dest))?;
        } else {
            // Never more than the header declared (the free-space check counted on it).
            let mut limited = (&mut entry).take(declared);
            loop {
                let n = limited
                    .read(&mut buf)
                    .map_err(|e| malformed(format!("{name}: {e}")))?;
                if n == 0 {
                    break;
                }
                hashers.update(&buf[..n]);
                count += n as u64;
                out.0
                    .write_all(&buf[..n])
                    .map_err(crate::error::io(&dest))?;
            }
        }
        // One byte past the declared size: the zip reader fails on it, or returns it.
        match entry.read(&mut buf[..1]) {
            Ok(0) => {}
            Ok(_) => return Err(oversized()),
            // zip's own bound on the declared size (a checksum error is told apart by its text).
            Err(e)
                if e.kind() == std::io::ErrorKind::InvalidData
                    && e.to_string().contains("declared") =>
            {
                return Err(oversized());
            }
            Err(e) => return Err(malformed(format!("{name}: {e}"))),
        }
        if let Some(size) = size
            && size != count
        {
            return Err(mismatch(format!("{count} bytes, RECORD says {size}")));
        }
        let (checked, sha256) = hashers.check(&field);
        checked.map_err(&mismatch)?;
        let (sha, len) = sha_written.unwrap_or((sha256, count));
        written.push((dest, sha, len));
    }
    for (name, module, attr) in &scripts {
        let dest = layout.scripts.join(name);
        let bytes = entry_point_script(&layout.python, module, attr).into_bytes();
        let mut out = open_new(wheel, &dest, true)?;
        if out.1 {
            overwritten.push(dest.clone());
        }
        out.0.write_all(&bytes).map_err(crate::error::io(&dest))?;
        written.push((
            dest,
            sha2::Sha256::digest(&bytes).to_vec(),
            bytes.len() as u64,
        ));
    }
    let dist_dir = layout.site_packages.join(&dist_info);
    for (name, bytes) in [("INSTALLER", &b"rvenv\n"[..]), ("REQUESTED", &b""[..])] {
        let dest = dist_dir.join(name);
        open_new(wheel, &dest, false)?
            .0
            .write_all(bytes)
            .map_err(crate::error::io(&dest))?;
        written.push((
            dest,
            sha2::Sha256::digest(bytes).to_vec(),
            bytes.len() as u64,
        ));
    }

    // RECORD of the installed files, paths relative to site-packages as pip writes them.
    let mut rows: Vec<(String, String, String)> = written
        .iter()
        .map(|(path, sha, len)| {
            let rel = crate::paths::relative(&layout.site_packages, path);
            (
                rel.to_string_lossy().into_owned(),
                crate::python::rewrite::record_hash(sha),
                len.to_string(),
            )
        })
        .collect();
    rows.push((record_name.clone(), String::new(), String::new()));
    rows.sort();
    rows.dedup();
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for row in &rows {
        out.write_record([&row.0, &row.1, &row.2])
            .map_err(|e| malformed(format!("RECORD: {e}")))?;
    }
    let record_bytes = out
        .into_inner()
        .map_err(|e| malformed(format!("RECORD: {e}")))?;
    let record_path = layout.site_packages.join(&record_name);
    open_new(wheel, &record_path, false)?
        .0
        .write_all(&record_bytes)
        .map_err(crate::error::io(&record_path))?;

    Ok(Installed {
        name: expected.clone(),
        version,
        requires_dist,
        overwritten,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_expand_their_tag_sets() {
        let w = WheelName::parse(
            "numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        )
        .unwrap();
        assert_eq!(w.name.to_string(), "numpy");
        assert_eq!(w.version.to_string(), "1.26.4");
        assert_eq!(
            w.tags,
            [
                "cp311-cp311-manylinux_2_17_aarch64",
                "cp311-cp311-manylinux2014_aarch64"
            ]
        );
        let w = WheelName::parse("Foo_Bar-2.0-1build-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.name.to_string(), "foo-bar");
        assert_eq!(w.tags, ["py2-none-any", "py3-none-any"]);
        assert!(WheelName::parse("foo-1.0.tar.gz").is_none());
        assert!(WheelName::parse("foo-1.0-py3-none.whl").is_none());
    }

    #[test]
    fn tags_rank_as_pip_does() {
        let aarch64 = crate::target::find("aarch64").unwrap();
        let tags = Tags::new(3, 11, &aarch64.platform_tags(None));
        let rank = |f: &str| tags.rank(&WheelName::parse(f).unwrap());
        let own = rank("a-1-cp311-cp311-manylinux_2_28_aarch64.whl").unwrap();
        let older_glibc = rank("a-1-cp311-cp311-manylinux_2_17_aarch64.whl").unwrap();
        let abi3 = rank("a-1-cp38-abi3-manylinux_2_28_aarch64.whl").unwrap();
        let pure_plat = rank("a-1-py3-none-manylinux_2_28_aarch64.whl").unwrap();
        let any = rank("a-1-py3-none-any.whl").unwrap();
        assert!(own < older_glibc && older_glibc < abi3 && abi3 < pure_plat && pure_plat < any);
        assert!(rank("a-1-py311-none-any.whl").unwrap() < any);
        for foreign in [
            "a-1-cp311-cp311-manylinux_2_17_x86_64.whl",
            "a-1-cp311-cp311-manylinux_2_17_armv7l.whl",
            "a-1-cp312-cp312-manylinux_2_17_aarch64.whl",
            "a-1-cp311-cp311-manylinux_2_38_aarch64.whl",
            "a-1-cp311-cp311-musllinux_1_2_aarch64.whl",
            "a-1-cp311-cp311-win_amd64.whl",
            "a-1-cp311-cp311d-manylinux_2_17_aarch64.whl",
            "a-1-py2-none-any.whl",
        ] {
            assert_eq!(rank(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn platform_tags_expand_manylinux_and_end_with_linux() {
        let x86 = crate::target::find("x86_64").unwrap();
        let tags = x86.platform_tags(Some(crate::target::GlibcVersion(2, 17)));
        assert_eq!(tags.first().unwrap(), "manylinux_2_17_x86_64");
        assert_eq!(tags[1], "manylinux2014_x86_64");
        assert!(tags.contains(&"manylinux2010_x86_64".to_string()));
        assert_eq!(tags[tags.len() - 2], "manylinux1_x86_64");
        assert_eq!(tags.last().unwrap(), "linux_x86_64");
        let armv6 = crate::target::find("armv6").unwrap();
        assert_eq!(armv6.platform_tags(None), ["linux_armv6l"]);
        let musl = crate::target::find("x86_64-musl").unwrap();
        assert_eq!(
            musl.platform_tags(None),
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "linux_x86_64"
            ]
        );
    }

    #[test]
    fn member_names_that_leave_the_install_are_unsafe() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "C:/x",
            "a/./b",
            "",
        ] {
            assert!(!safe_member(bad), "{bad}");
        }
        for good in ["a/b.py", "pkg-1.0.data/scripts/x", "a..b/c"] {
            assert!(safe_member(good), "{good}");
        }
    }

    #[test]
    fn entry_points_and_their_scripts() {
        let eps = entry_points(
            "[console_scripts]\nfoo = pkg.cli:main\nbar=pkg:app.run [extra]\n\n[other]\nx = y:z\n[gui_scripts]\ng = pkg.gui\n",
        )
        .unwrap();
        assert_eq!(
            eps,
            [
                ("foo".into(), "pkg.cli".into(), "main".into()),
                ("bar".into(), "pkg".into(), "app.run".into()),
                ("g".into(), "pkg.gui".into(), "".into()),
            ]
        );
        assert!(entry_points("[console_scripts]\n../x = a:b\n").is_err());
        assert!(entry_points("[console_scripts]\nx = a b:c\n").is_err());
        let script = entry_point_script("/v/bin/python", "pkg", "app.run");
        assert!(script.starts_with("#!/v/bin/python\n"));
        assert!(script.contains("from pkg import app\n"));
        assert!(script.contains("sys.exit(app.run())"));
    }

    #[test]
    fn hashes() {
        let check = |field: &str, bytes: &[u8]| -> Result<(), String> {
            let mut h = Hashers::new(field)?;
            h.update(bytes);
            h.check(field).0
        };
        // sha256 and sha512 of "hello"
        let field = "sha256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";
        assert!(check(field, b"hello").is_ok());
        assert!(check(field, b"hellp").unwrap_err().contains("RECORD says"));
        let sha512 = "sha512=m3HSJL1i83hdltRq0-o9czGb-8KJDKra4t_3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw";
        assert!(check(sha512, b"hello").is_ok());
        assert!(
            check("md5=XUFAKrxLKna5cZ2REBfFkg", b"hello")
                .unwrap_err()
                .contains("not accepted")
        );
    }
}
