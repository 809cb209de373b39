//! Installed distributions, read from `.dist-info` (and legacy `.egg-info`) without running
//! Python: `pip freeze`'s output (the bundle's `requirements.txt` and `rvenv freeze`), package
//! files from `RECORD`, and the editable installs that cannot travel.
//!
//! `freeze` follows pip's own `pip freeze` (pip/_internal/operations/freeze.py): names as
//! written in METADATA, versions normalised as `packaging` prints them, sorted by the name in
//! lower case, PEP 610 `direct_url.json` for `name @ url` lines and editable installs, and the
//! packages pip hides depending on the pip version installed and the Python version.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    BadMetadata { path: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
}

impl crate::error::Hint for Error {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// `Name:` as written in METADATA (pip prints it so).
    pub name: String,
    /// `Version:` as written in METADATA.
    pub version: String,
    /// The `.dist-info` (or `.egg-info`) directory.
    pub dist_info: PathBuf,
    pub direct_url: Option<DirectUrl>,
}

/// The parts of PEP 610's `direct_url.json` that freeze and the editable check need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectUrl {
    pub url: String,
    pub editable: bool,
    /// `(vcs, commit_id)` for VCS installs.
    pub vcs: Option<(String, String)>,
    /// `archive_info.hash` (`sha256=...`): pip freeze appends it as the URL's fragment.
    pub archive_hash: Option<String>,
    pub subdirectory: Option<String>,
}

/// `Name:` and `Version:` from the header part of a METADATA file (RFC 822 style; written by
/// hand because only two fields are needed and the format stops at the first blank line).
fn name_and_version(metadata: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut version) = (None, None);
    for line in metadata.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v.trim().to_string()),
                "version" => version = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    (name, version)
}

/// PEP 610, as pip reads it: exactly one of `vcs_info`, `archive_info` and `dir_info`.
fn parse_direct_url(path: &Path, text: &[u8]) -> Result<DirectUrl, Error> {
    let bad = |message: String| Error::BadMetadata {
        path: path.to_path_buf(),
        message,
    };
    let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
    let url = json["url"]
        .as_str()
        .ok_or_else(|| bad("no 'url' string".into()))?
        .to_string();
    let infos = ["vcs_info", "archive_info", "dir_info"]
        .iter()
        .filter(|k| json[**k].is_object())
        .count();
    if infos != 1 {
        return Err(bad(
            "needs exactly one of vcs_info, archive_info and dir_info".into(),
        ));
    }
    let editable = json["dir_info"]["editable"].as_bool().unwrap_or(false);
    let vcs = json["vcs_info"]["vcs"].as_str().map(|vcs| {
        let commit = json["vcs_info"]["commit_id"].as_str().unwrap_or("");
        (vcs.to_string(), commit.to_string())
    });
    Ok(DirectUrl {
        url,
        editable,
        vcs,
        archive_hash: json["archive_info"]["hash"].as_str().map(str::to_string),
        subdirectory: json["subdirectory"].as_str().map(str::to_string),
    })
}

impl Distribution {
    /// A distribution from the bytes of its metadata file (`METADATA`, or `PKG-INFO` for an
    /// `.egg-info`) and of its `direct_url.json`, if any; `dist_info` names it in errors.
    pub fn from_parts(
        dist_info: PathBuf,
        metadata: &[u8],
        direct_url: Option<&[u8]>,
    ) -> Result<Distribution, Error> {
        let metadata_path = dist_info.join(metadata_name(&dist_info));
        let bad = |message: String| Error::BadMetadata {
            path: metadata_path.clone(),
            message,
        };
        // Core metadata is UTF-8; distutils' PKG-INFO of old .egg-info predates the rule.
        let text = if dist_info.extension().is_some_and(|e| e == "dist-info") {
            std::str::from_utf8(metadata)
                .map(Cow::Borrowed)
                .map_err(|e| {
                    bad(format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.valid_up_to()
                    ))
                })?
        } else {
            String::from_utf8_lossy(metadata)
        };
        let (name, version) = name_and_version(&text);
        let missing = |field: &str| bad(format!("no '{field}' field"));
        let name = name.ok_or_else(|| missing("Name"))?;
        let version = version.ok_or_else(|| missing("Version"))?;
        // requirements.txt gets `name==version` (or `===`): both must be writable there.
        if name.parse::<pep508_rs::PackageName>().is_err() {
            return Err(bad(format!(
                "Name '{name}' is not a valid project name (letters, digits, '.', '-' and '_', PEP 508)"
            )));
        }
        if !is_version_token(&version) {
            return Err(bad(format!(
                "Version '{version}' is not a version (PEP 440, or at least one word of letters, digits and '.+!_-')"
            )));
        }
        let direct_url = direct_url
            .map(|bytes| parse_direct_url(&dist_info.join("direct_url.json"), bytes))
            .transpose()?;
        Ok(Distribution {
            name,
            version,
            dist_info,
            direct_url,
        })
    }

    /// PEP 503's normalised name: what pip compares (`PyYAML` → `pyyaml`).
    pub fn canonical_name(&self) -> String {
        canonicalize_name(&self.name)
    }

    pub fn is_editable(&self) -> bool {
        self.direct_url
            .as_ref()
            .is_some_and(|u| u.editable && u.url.starts_with("file:"))
    }

    /// pip's `name==version` with the version normalised (`1.0.0-beta` → `1.0.0b0`); a version
    /// that is not PEP 440 is pinned with `===` as written.
    pub fn pin(&self) -> String {
        match normalize_version(&self.version) {
            Some(v) => format!("{}=={v}", self.name),
            None => format!("{}==={}", self.name, self.version),
        }
    }
}

/// A version pip can pin: PEP 440, or a legacy version pinned with `===` (PEP 440's arbitrary
/// equality), which must still be one token of the characters PEP 508 allows in a version.
fn is_version_token(version: &str) -> bool {
    normalize_version(version).is_some()
        || (!version.is_empty()
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+!".contains(&b)))
}

/// Checks a `.dist-info/RECORD` as PEP 376 and the wheel spec define it: UTF-8 CSV, every row
/// three fields (path, hash, size), the path not empty. rvenv rewrites rows of this file and
/// pip uninstalls by it, so a damaged one is refused rather than carried.
pub fn check_record(path: &Path, record: &[u8]) -> Result<(), Error> {
    let bad = |message: String| Error::BadMetadata {
        path: path.to_path_buf(),
        message,
    };
    std::str::from_utf8(record).map_err(|e| {
        bad(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record);
    for row in reader.records() {
        let row = row.map_err(|e| bad(format!("not valid CSV: {e}")))?;
        let line = row.position().map_or(0, |p| p.line());
        if row.len() == 1 && row[0].trim().is_empty() {
            continue;
        }
        if row.len() != 3 {
            return Err(bad(format!(
                "line {line} has {} field(s); a RECORD row is path,hash,size",
                row.len()
            )));
        }
        if row[0].is_empty() {
            return Err(bad(format!("line {line} has no path")));
        }
    }
    Ok(())
}

/// `METADATA` in a `.dist-info`, `PKG-INFO` in an `.egg-info`.
pub fn metadata_name(dist_info: &Path) -> &'static str {
    if dist_info.extension().is_some_and(|e| e == "egg-info") {
        "PKG-INFO"
    } else {
        "METADATA"
    }
}

/// PEP 503: runs of `-`, `_` and `.` become one `-`, in lower case (a name that is not valid
/// at all is only lower-cased).
pub fn canonicalize_name(name: &str) -> String {
    name.parse::<pep508_rs::PackageName>()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| name.to_lowercase())
}

/// The version as `packaging` prints it (PEP 440 normal form), `None` when it is not PEP 440.
pub fn normalize_version(version: &str) -> Option<String> {
    version
        .trim()
        .parse::<pep508_rs::pep440_rs::Version>()
        .ok()
        .map(|v| v.to_string())
}

/// Every `*.dist-info` and `*.egg-info` directly in `site_packages`, sorted by name.
pub fn find(site_packages: &Path) -> Result<Vec<Distribution>, Error> {
    let mut dists = Vec::new();
    let entries = match std::fs::read_dir(site_packages) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dists),
        Err(e) => return Err(crate::error::io(site_packages)(e).into()),
    };
    for entry in entries {
        let entry = entry.map_err(crate::error::io(site_packages))?;
        let dir = entry.path();
        let Some(ext) = dir.extension() else { continue };
        let metadata_path = if ext == "dist-info" && dir.is_dir() {
            dir.join("METADATA")
        } else if ext == "egg-info" && dir.is_dir() {
            dir.join("PKG-INFO")
        } else if ext == "egg-info" && dir.is_file() {
            // distutils wrote the metadata itself as a file named like the directory.
            dir.clone()
        } else {
            continue;
        };
        let metadata = std::fs::read(&metadata_path).map_err(crate::error::io(&metadata_path))?;
        let direct_url_path = dir.join("direct_url.json");
        let direct_url = match std::fs::read(&direct_url_path) {
            Ok(bytes) => Some(bytes),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::NotADirectory =>
            {
                None
            }
            Err(e) => return Err(crate::error::io(&direct_url_path)(e).into()),
        };
        dists.push(Distribution::from_parts(
            dir,
            &metadata,
            direct_url.as_deref(),
        )?);
    }
    dists.sort_by(|a, b| a.dist_info.cmp(&b.dist_info));
    Ok(dists)
}

/// The file paths a `RECORD` lists (first column), as written (relative to site-packages).
pub fn record_paths(record: &[u8]) -> Vec<String> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record)
        .records()
        .filter_map(Result::ok)
        .filter_map(|row| row.get(0).map(str::to_string))
        .filter(|p| !p.is_empty())
        .collect()
}

/// `"23.2.1"` ≥ `(23, 2)`.
fn version_at_least(version: &str, want: (u64, u64)) -> bool {
    let Ok(v) = version.trim().parse::<pep508_rs::pep440_rs::Version>() else {
        return true;
    };
    let release = v.release();
    let major = release.first().copied().unwrap_or(0);
    let minor = release.get(1).copied().unwrap_or(0);
    (major, minor) >= want
}

/// What pip freeze leaves out: `python`, `wsgiref` and `argparse` always, pip itself, and
/// setuptools, distribute and wheel before Python 3.12 (pip before 23.2 leaves those out on
/// every Python). `pip_version` is the pip installed, if any (else today's rule).
fn hidden(pip_version: Option<&str>, python_minor: u32) -> Vec<&'static str> {
    let mut skip = vec!["python", "wsgiref", "argparse", "pip"];
    let old_pip = pip_version.is_some_and(|v| !version_at_least(v, (23, 2)));
    if python_minor < 12 || old_pip {
        skip.extend(["setuptools", "distribute", "wheel"]);
    }
    skip
}

/// pip freeze's output for these distributions, as the pip installed among them would print
/// it on Python 3.`python_minor`. The first distribution of each normalised name counts, as
/// in pip (which stops at the first one on `sys.path`).
pub fn freeze(dists: &[Distribution], python_minor: u32) -> String {
    let pip_version = dists
        .iter()
        .find(|d| d.canonical_name() == "pip")
        .map(|d| d.version.as_str());
    let skip = hidden(pip_version, python_minor);
    let mut seen = std::collections::HashSet::new();
    let mut entries: Vec<(String, String)> = dists
        .iter()
        .filter(|d| seen.insert(d.canonical_name()))
        .filter(|d| !skip.contains(&d.canonical_name().as_str()))
        .map(|d| (d.name.to_lowercase(), frozen(d)))
        .collect();
    // pip sorts by `name.lower()` (not the normalised name: `typing-inspect` comes before
    // `typing_extensions`); a stable sort on that key alone.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, text)| text).collect()
}

/// One distribution's lines in pip freeze's output, newline-terminated.
fn frozen(d: &Distribution) -> String {
    let (comments, requirement) = match &d.direct_url {
        Some(u) if d.is_editable() => {
            let (comments, req) = editable(d, &url_to_path(&u.url));
            (comments, format!("-e {req}"))
        }
        Some(u) => (Vec::new(), direct_reference(d, u)),
        None => (Vec::new(), d.pin()),
    };
    let mut out = String::new();
    for c in comments {
        out.push_str(&c);
        out.push('\n');
    }
    out.push_str(&requirement);
    out.push('\n');
    out
}

/// pip's `name @ url` for a PEP 610 install that is not editable.
fn direct_reference(d: &Distribution, u: &DirectUrl) -> String {
    let url = redact_auth(&u.url);
    let mut req = match &u.vcs {
        Some((vcs, commit)) => format!("{} @ {vcs}+{url}@{commit}", d.name),
        None => format!("{} @ {url}", d.name),
    };
    let mut fragments = Vec::new();
    if u.vcs.is_none() {
        fragments.extend(u.archive_hash.clone());
    }
    if let Some(sub) = &u.subdirectory {
        fragments.push(format!("subdirectory={sub}"));
    }
    if !fragments.is_empty() {
        req.push('#');
        req.push_str(&fragments.join("&"));
    }
    req
}

/// Python's `urllib.parse.quote` with its default safe set (letters, digits, `_.-~` and `/`).
const PY_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// pip's `redact_auth_from_url`: a password becomes `****`, a lone user name (a token) too.
fn redact_auth(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (netloc, tail) = rest.split_at(end);
    let Some((auth, host)) = netloc.rsplit_once('@') else {
        return url.to_string();
    };
    let auth = match auth.split_once(':') {
        Some((user, _)) => {
            let user = percent_decode_str(user).decode_utf8_lossy();
            format!("{}:****", utf8_percent_encode(&user, PY_QUOTE))
        }
        None => "****".to_string(),
    };
    format!("{scheme}://{auth}@{host}{tail}")
}

/// pip's `url_to_path` then `os.path.abspath`: the path of a `file:` URL, percent-decoded
/// and normalised.
pub fn url_to_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("file:").unwrap_or(url);
    let path = match rest.strip_prefix("//") {
        // file://localhost/x and file:///x; another host is not a local path.
        Some(after) => match after.find('/') {
            Some(i) => &after[i..],
            None => "/",
        },
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    normpath(&decoded)
}

/// `posixpath.normpath`: `.` and `..` resolved lexically, repeated slashes collapsed (two
/// leading slashes kept, as POSIX allows them a meaning).
fn normpath(path: &str) -> PathBuf {
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if !leading.is_empty() => {}
            other => parts.push(other),
        }
    }
    let joined = format!("{leading}{}", parts.join("/"));
    PathBuf::from(if joined.is_empty() {
        ".".into()
    } else {
        joined
    })
}

/// pip's comments and requirement for an editable install at `location`: the project's git
/// remote and commit when it is in a git work tree (read from `.git`, as `git rev-parse` and
/// `git config` would answer), else the path with a comment saying why.
fn editable(d: &Distribution, location: &Path) -> (Vec<String>, String) {
    let path = location.display().to_string();
    let Some(repo) = git::Repo::find(location) else {
        let comment = format!("# Editable install with no version control ({})", d.pin());
        return (vec![comment], path);
    };
    let remote = match repo.remote_url() {
        git::Remote::None => {
            let comment = format!("# Editable Git install with no remote ({})", d.pin());
            return (vec![comment], path);
        }
        git::Remote::Invalid(url) => {
            let comments = vec![
                format!(
                    "# Editable Git install ({}) with either a deleted local remote or invalid URI:",
                    d.pin()
                ),
                format!("# '{url}'"),
            ];
            return (comments, path);
        }
        git::Remote::Url(url) => url,
    };
    let Some(commit) = repo.head_commit() else {
        return (
            vec!["## !! Could not determine repository location".into()],
            path,
        );
    };
    let url = if remote.to_lowercase().starts_with("git:") {
        remote
    } else {
        format!("git+{remote}")
    };
    let mut req = format!("{url}@{commit}#egg={}", d.name.replace('-', "_"));
    if let Some(sub) = git::project_subdirectory(location, &repo.root) {
        req.push_str(&format!("&subdirectory={sub}"));
    }
    (Vec::new(), req)
}

/// Just enough of a git repository, read from its files, to give pip's answers for an
/// editable install: the work tree root, the remote's URL and the commit checked out.
mod git {
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    pub struct Repo {
        /// The work tree's top directory.
        pub root: PathBuf,
        git_dir: PathBuf,
        /// Where refs, packed-refs and config live (a linked work tree shares them).
        common_dir: PathBuf,
    }

    pub enum Remote {
        None,
        Invalid(String),
        Url(String),
    }

    impl Repo {
        /// The innermost directory at or above `location` holding `.git`, as `git rev-parse
        /// --show-toplevel` finds it; git refuses a repository owned by another user (its
        /// `safe.directory` rule), and so does this. A location that does not exist has none.
        pub fn find(location: &Path) -> Option<Repo> {
            if !location.is_dir() {
                return None;
            }
            let root = location.ancestors().find(|d| d.join(".git").exists())?;
            let dot_git = root.join(".git");
            let git_dir = if dot_git.is_dir() {
                dot_git
            } else {
                // A linked work tree or submodule: `gitdir: PATH`.
                let text = std::fs::read_to_string(&dot_git).ok()?;
                let target = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
                root.join(target)
            };
            let euid = rustix::process::geteuid().as_raw();
            if std::fs::metadata(root).ok()?.uid() != euid {
                return None;
            }
            let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
                Ok(c) => git_dir.join(c.trim()),
                Err(_) => git_dir.clone(),
            };
            Some(Repo {
                root: root.to_path_buf(),
                git_dir,
                common_dir,
            })
        }

        /// `remote.origin.url`, else the first remote's, converted as pip converts it.
        pub fn remote_url(&self) -> Remote {
            let config =
                std::fs::read_to_string(self.common_dir.join("config")).unwrap_or_default();
            let remotes = remote_urls(&config);
            let Some(first) = remotes.first() else {
                return Remote::None;
            };
            let url = remotes
                .iter()
                .find(|(name, _)| name == "origin")
                .unwrap_or(first)
                .1
                .clone();
            // pip splits `git config` output on spaces and keeps the second word.
            let url = url.split(' ').next().unwrap_or("").to_string();
            to_pip_url(&url)
        }

        /// The commit HEAD points at (through a branch, loose or packed), `None` on a branch
        /// without commits.
        pub fn head_commit(&self) -> Option<String> {
            let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
            let head = head.trim();
            let Some(reference) = head.strip_prefix("ref:") else {
                return is_sha(head).then(|| head.to_string());
            };
            let reference = reference.trim();
            for dir in [&self.git_dir, &self.common_dir] {
                if let Ok(sha) = std::fs::read_to_string(dir.join(reference)) {
                    let sha = sha.trim();
                    if is_sha(sha) {
                        return Some(sha.to_string());
                    }
                }
            }
            let packed = std::fs::read_to_string(self.common_dir.join("packed-refs")).ok()?;
            packed.lines().find_map(|line| {
                let (sha, name) = line.split_once(' ')?;
                (name.trim() == reference && is_sha(sha)).then(|| sha.to_string())
            })
        }
    }

    fn is_sha(s: &str) -> bool {
        (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// `(remote name, url)` in the order of the config file.
    fn remote_urls(config: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut remote: Option<String> = None;
        for line in config.lines() {
            let line = line.trim();
            if let Some(header) = line.strip_prefix('[') {
                let header = header.split(']').next().unwrap_or("");
                remote = header
                    .strip_prefix("remote")
                    .map(str::trim)
                    .and_then(|n| n.strip_prefix('"'))
                    .and_then(|n| n.strip_suffix('"'))
                    .map(str::to_string);
                continue;
            }
            let Some(name) = &remote else { continue };
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("url") {
                out.push((name.clone(), config_value(value)));
            }
        }
        out
    }

    /// A config value: quotes removed, a comment (`#`, `;`) outside quotes ends it.
    fn config_value(raw: &str) -> String {
        let mut out = String::new();
        let mut quoted = false;
        let mut chars = raw.trim().chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' => out.extend(chars.next()),
                '#' | ';' if !quoted => break,
                c => out.push(c),
            }
        }
        out.trim_end().to_string()
    }

    /// pip's `_git_remote_to_pip_url`: a URL with a scheme as it is, an existing local path as
    /// a `file://` URI, scp-like `user@host:path` as `ssh://user@host/path`.
    fn to_pip_url(url: &str) -> Remote {
        let scheme_len = url
            .find("://")
            .filter(|&i| i > 0 && url[..i].chars().all(|c| c.is_alphanumeric() || c == '_'));
        if scheme_len.is_some() {
            return Remote::Url(url.to_string());
        }
        if Path::new(url).is_absolute() && Path::new(url).exists() {
            let encoded = percent_encoding::utf8_percent_encode(url, super::PY_QUOTE);
            return Remote::Url(format!("file://{encoded}"));
        }
        if let Some((user_host, path)) = url.split_once(':') {
            let (user, host) = match user_host.split_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, user_host),
            };
            let word =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
            let user_ok = user.is_none_or(word);
            let host_ok = !host.is_empty() && !host.contains('/');
            let path_ok = path
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !path.contains(':');
            if user_ok && host_ok && path_ok {
                let user = user.map(|u| format!("{u}@")).unwrap_or_default();
                return Remote::Url(format!("ssh://{user}{host}/{path}"));
            }
        }
        Remote::Invalid(url.to_string())
    }

    /// pip's subdirectory: from the project's directory up to the first one with
    /// `pyproject.toml` or `setup.py`, relative to the repository root (`None` when that is
    /// the root itself, or no project is found).
    pub fn project_subdirectory(location: &Path, root: &Path) -> Option<String> {
        let project = location
            .ancestors()
            .find(|d| d.join("pyproject.toml").is_file() || d.join("setup.py").is_file())?;
        let rel = project.strip_prefix(root).ok()?;
        (!rel.as_os_str().is_empty()).then(|| rel.display().to_string())
    }
}

/// Something in site-packages that points at the build machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub what: String,
    /// Editable installs are errors without `--allow-editable`; other findings are warnings.
    pub editable: bool,
}

/// Editable installs and `file://` installs, as their `direct_url.json` says.
pub fn direct_url_findings(dists: &[Distribution]) -> Vec<Finding> {
    let mut found = Vec::new();
    for d in dists {
        if let Some(u) = &d.direct_url {
            let path = d.dist_info.join("direct_url.json");
            if u.editable {
                found.push(Finding {
                    path,
                    what: format!("{} is an editable install of {}", d.name, u.url),
                    editable: true,
                });
            } else if u.url.starts_with("file://") {
                found.push(Finding {
                    path,
                    what: format!("{} was installed from {}", d.name, u.url),
                    editable: false,
                });
            }
        }
    }
    found
}

/// A file directly in site-packages that makes an editable install: an `__editable__` hook
/// (`name`), or a `.pth` file whose lines add directories outside the environment to
/// `sys.path` (`inside` tells whether an absolute path is inside it).
pub fn site_file_findings(
    path: &Path,
    name: &str,
    content: impl FnOnce() -> Result<Vec<u8>, Error>,
    inside: impl Fn(&Path) -> bool,
) -> Result<Vec<Finding>, Error> {
    if name.starts_with("__editable__") {
        return Ok(vec![Finding {
            path: path.to_path_buf(),
            what: "an editable-install hook".into(),
            editable: true,
        }]);
    }
    if !name.ends_with(".pth") {
        return Ok(Vec::new());
    }
    let text = content()?;
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("import") {
            continue;
        }
        if Path::new(line).is_absolute() && !inside(Path::new(line)) {
            found.push(Finding {
                path: path.to_path_buf(),
                what: format!("adds {line} to sys.path (an editable install)"),
                editable: true,
            });
        }
    }
    Ok(found)
}

/// Editable installs (`direct_url.json` editable, `__editable__` finders, `.pth` lines naming
/// directories outside the venv) and `file://` URLs.
pub fn build_machine_links(
    site_packages: &Path,
    dists: &[Distribution],
    venv_roots: &[&Path],
) -> Result<Vec<Finding>, Error> {
    let mut found = direct_url_findings(dists);
    let Ok(entries) = std::fs::read_dir(site_packages) else {
        return Ok(found);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let inside = |line: &Path| {
        let target = site_packages.join(line);
        venv_roots.iter().any(|r| target.starts_with(r))
            || target
                .canonicalize()
                .is_ok_and(|t| venv_roots.iter().any(|r| t.starts_with(r)))
    };
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let read = || Ok(std::fs::read(&path).map_err(crate::error::io(&path))?);
        found.extend(site_file_findings(&path, &name, read, inside)?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, version: &str, direct_url: Option<DirectUrl>) -> Distribution {
        Distribution {
            name: name.into(),
            version: version.into(),
            dist_info: PathBuf::from(format!("{name}-{version}.dist-info")),
            direct_url,
        }
    }

    fn url(url: &str) -> DirectUrl {
        DirectUrl {
            url: url.into(),
            editable: false,
            vcs: None,
            archive_hash: None,
            subdirectory: None,
        }
    }

    #[test]
    fn metadata_header_only() {
        let (n, v) = name_and_version(
            "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.0\n\nName: not-this\n",
        );
        assert_eq!((n.as_deref(), v.as_deref()), (Some("Flask"), Some("3.0.0")));
    }

    #[test]
    fn freeze_format() {
        let dists = vec![
            dist("pip", "23.2.1", None),
            dist("setuptools", "65.5.0", None),
            dist("zeta", "1.0", None),
            dist("Alpha", "2.0", None),
            dist("typing_extensions", "4.0", None),
            dist("typing-inspect", "0.9", None),
            dist("wsgiref", "0.1", None),
            dist("web", "0.1", Some(url("https://x/web-0.1.tar.gz"))),
            dist(
                "tool",
                "0.2",
                Some(DirectUrl {
                    vcs: Some(("git".into(), "abc123".into())),
                    ..url("https://user:secret@g/tool")
                }),
            ),
            dist(
                "whl",
                "1.0",
                Some(DirectUrl {
                    archive_hash: Some("sha256=ab".into()),
                    subdirectory: Some("sub".into()),
                    ..url("file:///w/whl-1.0-py3-none-any.whl")
                }),
            ),
        ];
        assert_eq!(
            freeze(&dists, 11),
            "Alpha==2.0\ntool @ git+https://user:****@g/tool@abc123\ntyping-inspect==0.9\n\
             typing_extensions==4.0\nweb @ https://x/web-0.1.tar.gz\n\
             whl @ file:///w/whl-1.0-py3-none-any.whl#sha256=ab&subdirectory=sub\nzeta==1.0\n"
        );
        // Python 3.12 with pip 23.2+ shows setuptools; pip 23.0 still hides it.
        assert!(freeze(&dists, 12).contains("setuptools==65.5.0\n"));
        let mut old = dists.clone();
        old[0].version = "23.0.1".into();
        assert!(!freeze(&old, 12).contains("setuptools"));
    }

    #[test]
    fn names_versions_and_urls_as_pip_writes_them() {
        assert_eq!(canonicalize_name("Zope__.Interface"), "zope-interface");
        assert_eq!(normalize_version("1.0.0-Beta").as_deref(), Some("1.0.0b0"));
        assert_eq!(normalize_version("not a version"), None);
        assert_eq!(
            dist("odd", "not.a.version!", None).pin(),
            "odd===not.a.version!"
        );
        assert_eq!(redact_auth("https://tok@h/x"), "https://****@h/x");
        assert_eq!(redact_auth("https://u:p@h/x@y"), "https://u:****@h/x@y");
        assert_eq!(redact_auth("file:///a@b"), "file:///a@b");
        assert_eq!(
            url_to_path("file:///tmp/a%20b/./c/"),
            PathBuf::from("/tmp/a b/c")
        );
        assert_eq!(url_to_path("file://localhost/x/../y"), PathBuf::from("/y"));
        assert_eq!(normpath("//net/x"), PathBuf::from("//net/x"));
        assert_eq!(normpath("///x//y"), PathBuf::from("/x/y"));
    }

    #[test]
    fn direct_url_needs_one_kind() {
        let p = Path::new("d/direct_url.json");
        assert!(parse_direct_url(p, br#"{"url": "file:///x", "dir_info": {}}"#).is_ok());
        assert!(parse_direct_url(p, br#"{"url": "file:///x"}"#).is_err());
        let u = parse_direct_url(
            p,
            br#"{"url": "file:///w.whl", "archive_info": {"hash": "sha256=1", "hashes": {"sha256": "1"}}}"#,
        )
        .unwrap();
        assert_eq!(u.archive_hash.as_deref(), Some("sha256=1"));
    }

    #[test]
    fn metadata_and_record_are_checked() {
        let d = PathBuf::from("x-1.0.dist-info");
        let ok = Distribution::from_parts(d.clone(), b"Name: x\nVersion: 1.0\n", None);
        assert_eq!(ok.unwrap().pin(), "x==1.0");
        let legacy = Distribution::from_parts(d.clone(), b"Name: x\nVersion: 2004d\n", None);
        assert_eq!(legacy.unwrap().pin(), "x===2004d");
        for bad in [
            &b"Version: 1.0\n"[..],
            b"Name: x\n",
            b"Name: x\nVersion: \n",
            b"Name: x\nVersion: one two\n",
            b"Name: x y\nVersion: 1.0\n",
            b"Name: x\nVersion: 1.0\xff\n",
        ] {
            let e = Distribution::from_parts(d.clone(), bad, None).unwrap_err();
            assert!(
                e.to_string().starts_with("x-1.0.dist-info/METADATA: "),
                "{e}"
            );
        }
        let p = Path::new("RECORD");
        assert!(check_record(p, b"a.py,sha256=x,3\n\"b,c\",,\nRECORD,,\n\n").is_ok());
        let e = check_record(p, b"a.py,sha256=x,3\nb.py,sha256=y\n").unwrap_err();
        assert!(e.to_string().contains("line 2 has 2 field(s)"), "{e}");
        let e = check_record(p, b"a.py,sha256=x,3,4\n").unwrap_err();
        assert!(e.to_string().contains("line 1 has 4 field(s)"), "{e}");
        let e = check_record(p, b"a\xff.py,,\n").unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn record_rows() {
        assert_eq!(
            record_paths(b"a/__init__.py,sha256=x,3\n\"b,c.py\",,\n../../../bin/x,,\n\n"),
            ["a/__init__.py", "b,c.py", "../../../bin/x"]
        );
    }
}
