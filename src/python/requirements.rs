//! A frozen requirements file (`pip freeze` output, optionally with `--hash` pins), read into
//! exact pins and evaluated for the target's marker environment. Resolving is out of scope:
//! every requirement must be pinned with `==`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::pep440_rs::{Operator, Version};
use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, PackageName, Requirement, VersionOrUrl,
};

use crate::python::venv::PythonVersion;
use crate::target::Target;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error("{path}:{line}: --find-links {}: no such folder", .dir.display())]
    NoFolder {
        path: PathBuf,
        line: usize,
        dir: PathBuf,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}:{line}: '{name}' is not pinned with == (a frozen list is needed: rvenv does not resolve)"
    )]
    NotPinned {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("{path}: '{name}' is pinned twice, on lines {first} and {second}")]
    Duplicate {
        path: PathBuf,
        name: String,
        first: usize,
        second: usize,
    },
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::NotPinned { .. } => Some(
                "run `pip freeze --all` in a venv where the app works (or `pip-compile`), and pass that file",
            ),
            Error::NoFolder { .. } => Some(
                "create the folder or fix the path; a relative --find-links in a requirements file is taken from that file's folder",
            ),
            _ => None,
        }
    }
}

/// One pinned requirement that applies to the target.
#[derive(Debug, Clone)]
pub struct Pin {
    pub name: PackageName,
    pub version: Version,
    pub extras: Vec<ExtraName>,
    /// `sha256:<hex>` and the like, as written after `--hash=`.
    pub hashes: Vec<String>,
    /// The line as written, for messages.
    pub text: String,
    pub line: usize,
}

/// Index options a requirements file may carry (`pip freeze` writes none; `pip-compile` does).
#[derive(Debug, Default, Clone)]
pub struct FileOptions {
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub find_links: Vec<PathBuf>,
    /// The line of each `--find-links`.
    pub find_links_lines: Vec<usize>,
    pub no_index: bool,
}

#[derive(Debug)]
pub struct Requirements {
    pub path: PathBuf,
    /// Pins whose markers hold for the target, sorted by normalised name.
    pub pins: Vec<Pin>,
    /// Pins left out by their markers (for the report).
    pub skipped: Vec<Pin>,
    pub options: FileOptions,
}

/// The PEP 508 environment of the target: the board's, not this machine's.
pub fn marker_environment(target: &Target, python: &PythonVersion) -> MarkerEnvironment {
    let python_version = format!("{}.{}", python.major, python.minor);
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &python.full,
        os_name: "posix",
        platform_machine: target.machine_name(),
        platform_python_implementation: "CPython",
        // Unknown until the bundle runs; markers on them compare against the empty string.
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: &python.full,
        python_version: &python_version,
        sys_platform: "linux",
    })
    .expect("X.Y and X.Y.Z versions parse")
}

/// Joins `\` continuations and drops comments, keeping the first line number of each.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        // A comment starts at `#` at the line start or after whitespace (pip's rule), so URL
        // fragments like `#egg=` survive.
        let mut line = raw;
        if let Some(at) = raw
            .char_indices()
            .find(|&(j, c)| c == '#' && (j == 0 || raw[..j].ends_with(char::is_whitespace)))
            .map(|(j, _)| j)
        {
            line = &raw[..at];
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let done = std::mem::take(&mut current);
        if !done.trim().is_empty() {
            out.push((start, done.trim().to_string()));
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    out
}

/// `--opt=value` or `--opt value` (or `-o value`) at the start of `words`.
fn option_value<'a>(
    words: &mut std::iter::Peekable<std::slice::Iter<'a, &'a str>>,
    word: &'a str,
) -> Option<&'a str> {
    match word.split_once('=') {
        Some((_, v)) => Some(v),
        None => words.next().copied(),
    }
}

pub fn read(path: &Path, env: &MarkerEnvironment) -> Result<Requirements, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Error::Io(crate::error::PathError {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let reqs = parse(path, &text, env)?;
    // A folder that is not there is named with its line, before anything is fetched.
    for (dir, line) in reqs
        .options
        .find_links
        .iter()
        .zip(&reqs.options.find_links_lines)
    {
        if !dir.is_dir() {
            return Err(Error::NoFolder {
                path: path.to_path_buf(),
                line: *line,
                dir: dir.clone(),
            });
        }
    }
    Ok(reqs)
}

pub fn parse(path: &Path, text: &str, env: &MarkerEnvironment) -> Result<Requirements, Error> {
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: usize, message: String| Error::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut options = FileOptions::default();
    let mut pins: Vec<Pin> = Vec::new();
    let mut skipped = Vec::new();
    for (line, text) in logical_lines(text) {
        if text.starts_with('-') {
            let words: Vec<&str> = text.split_whitespace().collect();
            let mut it = words.iter().peekable();
            while let Some(&word) = it.next() {
                let name = word.split('=').next().unwrap_or(word);
                match name {
                    "-i" | "--index-url" => {
                        options.index_url = option_value(&mut it, word).map(str::to_string)
                    }
                    "--extra-index-url" => options
                        .extra_index_urls
                        .extend(option_value(&mut it, word).map(str::to_string)),
                    "-f" | "--find-links" => {
                        if let Some(d) = option_value(&mut it, word) {
                            if d.contains("://") {
                                return Err(bad(
                                    line,
                                    format!(
                                        "--find-links {d}: a URL; rvenv takes --find-links folders"
                                    ),
                                ));
                            }
                            options.find_links.push(base.join(d));
                            options.find_links_lines.push(line);
                        }
                    }
                    "--no-index" => options.no_index = true,
                    // Harmless here: rvenv only ever takes wheels, and never resolves.
                    "--prefer-binary" | "--pre" => {}
                    "--only-binary" | "--trusted-host" => {
                        option_value(&mut it, word);
                    }
                    "-e" | "--editable" => {
                        return Err(bad(
                            line,
                            "editable requirements cannot be bundled (their code stays on this machine)".into(),
                        ));
                    }
                    _ => {
                        return Err(bad(line, format!("option '{name}' is not supported here")));
                    }
                }
            }
            continue;
        }
        // `name==1.0 --hash=sha256:... --hash=...`: the hashes follow the requirement.
        let (spec, hashes) = match text.find(" --hash") {
            Some(at) => (&text[..at], &text[at..]),
            None => (text.as_str(), ""),
        };
        let mut pin_hashes = Vec::new();
        let mut words = hashes.split_whitespace().peekable();
        while let Some(word) = words.next() {
            let value = match word.strip_prefix("--hash") {
                Some(rest) if rest.starts_with('=') => rest[1..].to_string(),
                Some("") => words.next().unwrap_or_default().to_string(),
                _ => {
                    return Err(bad(
                        line,
                        format!("unexpected '{word}' after the requirement"),
                    ));
                }
            };
            if !value.contains(':') {
                return Err(bad(
                    line,
                    format!("--hash needs ALGORITHM:HEX, got '{value}'"),
                ));
            }
            pin_hashes.push(value);
        }
        let requirement = Requirement::<pep508_rs::VerbatimUrl>::from_str(spec)
            .map_err(|e| bad(line, e.message.to_string()))?;
        let version = match &requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) if specifiers.len() == 1 => {
                let s = &specifiers[0];
                matches!(s.operator(), Operator::Equal | Operator::ExactEqual)
                    .then(|| s.version().clone())
            }
            Some(VersionOrUrl::Url(_)) => {
                return Err(bad(
                    line,
                    format!(
                        "'{}' is a direct URL reference; give the wheel in a --find-links folder and pin its version with ==",
                        requirement.name
                    ),
                ));
            }
            _ => None,
        };
        let Some(version) = version else {
            return Err(Error::NotPinned {
                path: path.to_path_buf(),
                line,
                name: requirement.name.to_string(),
            });
        };
        let pin = Pin {
            name: requirement.name.clone(),
            version,
            extras: requirement.extras.clone(),
            hashes: pin_hashes,
            text: spec.trim().to_string(),
            line,
        };
        if !requirement.evaluate_markers(env, &[]) {
            skipped.push(pin);
            continue;
        }
        if let Some(first) = pins.iter().find(|p| p.name == pin.name) {
            return Err(Error::Duplicate {
                path: path.to_path_buf(),
                name: pin.name.to_string(),
                first: first.line,
                second: line,
            });
        }
        pins.push(pin);
    }
    pins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Requirements {
        path: path.to_path_buf(),
        pins,
        skipped,
        options,
    })
}

/// A `Requires-Dist` of an installed package that the pinned set does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub package: String,
    pub requirement: String,
    /// The pinned version when the name is pinned but at a version outside the specifier.
    pub pinned: Option<String>,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pinned {
            Some(v) => write!(
                f,
                "{} needs {}, but {v} is pinned",
                self.package, self.requirement
            ),
            None => write!(
                f,
                "{} needs {}, which is not pinned",
                self.package, self.requirement
            ),
        }
    }
}

/// Checks every package's `Requires-Dist` (after markers, with the extras asked of it anywhere
/// in the set) against the pins. `requires` maps a pinned name to its `Requires-Dist` lines.
pub fn unmet(
    pins: &[Pin],
    requires: &BTreeMap<PackageName, Vec<String>>,
    env: &MarkerEnvironment,
) -> Vec<Unmet> {
    let parsed: BTreeMap<&PackageName, Vec<Requirement>> = requires
        .iter()
        .map(|(name, lines)| {
            let reqs = lines
                .iter()
                .filter_map(|l| Requirement::from_str(l).ok())
                .collect();
            (name, reqs)
        })
        .collect();
    // Extras requested of each package, grown until nothing changes: an extra can pull in a
    // requirement that asks for another extra.
    let mut extras: BTreeMap<PackageName, Vec<ExtraName>> = pins
        .iter()
        .map(|p| (p.name.clone(), p.extras.clone()))
        .collect();
    loop {
        let mut changed = false;
        for (name, reqs) in &parsed {
            let own = extras.get(*name).cloned().unwrap_or_default();
            for r in reqs {
                if !r.evaluate_markers(env, &own) {
                    continue;
                }
                let entry = extras.entry(r.name.clone()).or_default();
                for e in &r.extras {
                    if !entry.contains(e) {
                        entry.push(e.clone());
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = Vec::new();
    for (name, reqs) in &parsed {
        let own = extras.get(*name).cloned().unwrap_or_default();
        let package = pins
            .iter()
            .find(|p| &p.name == *name)
            .map(|p| format!("{}=={}", p.name, p.version))
            .unwrap_or_else(|| name.to_string());
        for r in reqs {
            if !r.evaluate_markers(env, &own) {
                continue;
            }
            let pinned = pins.iter().find(|p| p.name == r.name);
            let satisfied = match (pinned, &r.version_or_url) {
                (None, _) => false,
                (Some(p), Some(VersionOrUrl::VersionSpecifier(s))) => s.contains(&p.version),
                (Some(_), _) => true,
            };
            if !satisfied {
                let mut text = r.name.to_string();
                if let Some(VersionOrUrl::VersionSpecifier(s)) = &r.version_or_url {
                    text.push_str(&s.to_string());
                }
                out.push(Unmet {
                    package: package.clone(),
                    requirement: text,
                    pinned: pinned.map(|p| p.version.to_string()),
                });
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MarkerEnvironment {
        let target = crate::target::find("aarch64").unwrap();
        marker_environment(target, &PythonVersion::parse("3.11.2").unwrap())
    }

    fn parse_text(text: &str) -> Result<Requirements, Error> {
        parse(Path::new("/app/requirements.txt"), text, &env())
    }

    #[test]
    fn frozen_lines_with_hashes_markers_and_continuations() {
        let r = parse_text(concat!(
            "# generated\n",
            "numpy==1.26.4 \\\n",
            "    --hash=sha256:aaaa \\\n",
            "    --hash sha256:bbbb\n",
            "Click==8.1.7  # a comment\n",
            "pywin32==306 ; sys_platform == 'win32'\n",
            "tomli==2.0.1; python_version < '3.11'\n",
            "uvloop==0.19.0; platform_machine == 'aarch64' and python_full_version >= '3.11.1'\n",
            "--find-links wheels\n",
        ))
        .unwrap();
        let names: Vec<String> = r.pins.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(names, ["click", "numpy", "uvloop"]);
        assert_eq!(r.pins[1].hashes, ["sha256:aaaa", "sha256:bbbb"]);
        assert_eq!(r.pins[1].line, 2);
        assert_eq!(r.pins[0].version.to_string(), "8.1.7");
        let skipped: Vec<String> = r.skipped.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(skipped, ["pywin32", "tomli"]);
        assert_eq!(r.options.find_links, [PathBuf::from("/app/wheels")]);
    }

    #[test]
    fn unpinned_editable_url_and_duplicates_are_refused() {
        for (text, words) in [
            ("numpy>=1.0\n", "'numpy' is not pinned with =="),
            ("numpy\n", "'numpy' is not pinned"),
            ("numpy==1.*\n", "not pinned"),
            ("numpy==1.0,<2\n", "not pinned"),
            ("-e git+https://x/y.git#egg=y\n", ":1: editable"),
            ("x @ https://h/x-1.0-py3-none-any.whl\n", "direct URL"),
            (
                "a==1\nb==2\nA==3\n",
                "'a' is pinned twice, on lines 1 and 3",
            ),
            ("-r other.txt\n", "option '-r' is not supported"),
            ("a==1 extra\n", ":1:"),
        ] {
            let e = parse_text(text).unwrap_err().to_string();
            assert!(e.contains(words), "{text:?}: {e}");
            assert!(e.starts_with("/app/requirements.txt:"), "{e}");
        }
    }

    #[test]
    fn markers_see_the_target_not_this_machine() {
        let armv7 = crate::target::find("armv7").unwrap();
        let py = PythonVersion::parse("3.13.0").unwrap();
        let env = marker_environment(armv7, &py);
        let r = parse(
            Path::new("r.txt"),
            "a==1; platform_machine == 'armv7l'\nb==1; platform_machine == 'x86_64'\nc==1; python_version >= '3.12'\n",
            &env,
        )
        .unwrap();
        let names: Vec<String> = r.pins.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn requires_dist_against_the_pins() {
        let r = parse_text("requests==2.31.0\nidna==3.6\ncharset-normalizer==2.0.0\nurllib3==2.1.0\nfoo[bar]==1.0\n").unwrap();
        let mut requires = BTreeMap::new();
        let name = |s: &str| PackageName::from_str(s).unwrap();
        requires.insert(
            name("requests"),
            vec![
                "charset-normalizer<4,>=2".into(),
                "idna<4,>=2.5".into(),
                "urllib3<3,>=1.21.1".into(),
                "certifi>=2017.4.17".into(),
                "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"".into(),
                "pywin32; sys_platform == 'win32'".into(),
            ],
        );
        requires.insert(name("foo"), vec!["baz>=2; extra == 'bar'".into()]);
        requires.insert(name("urllib3"), vec!["idna>=4".into()]);
        let unmet: Vec<String> = unmet(&r.pins, &requires, &env())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            unmet,
            [
                "foo==1.0 needs baz>=2, which is not pinned",
                "requests==2.31.0 needs certifi>=2017.4.17, which is not pinned",
                "urllib3==2.1.0 needs idna>=4, but 3.6 is pinned",
            ]
        );
    }
}
