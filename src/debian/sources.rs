//! The build machine's apt sources (`sources.list`, `sources.list.d/*.list` one-line entries
//! and `*.sources` deb822 files), read only to learn which mirror this machine uses.

use super::control;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suites: Vec<String>,
    pub signed_by: Option<String>,
    /// The file it was read from, to say where a mirror came from.
    pub file: PathBuf,
}

/// Every `deb` entry under `etc_apt` (normally `/etc/apt`), in apt's order: `sources.list`, then
/// `sources.list.d/` by name. Unreadable files are skipped: this only picks a default mirror.
pub fn read(etc_apt: &Path) -> Vec<Source> {
    let mut files = vec![etc_apt.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => out.extend(deb822(&text, &file)),
            Some("list") => out.extend(one_line(&text, &file)),
            _ => {}
        }
    }
    out
}

fn one_line(text: &str, file: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                continue;
            };
            for option in options.split_whitespace() {
                if let Some(v) = option.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(Source {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
            signed_by,
            file: file.to_path_buf(),
        });
    }
    out
}

fn deb822(text: &str, file: &Path) -> Vec<Source> {
    let Ok(stanzas) = control::parse(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in stanzas {
        let types = s.get("Types").unwrap_or("");
        if !types.split_whitespace().any(|t| t == "deb")
            || s.get("Enabled")
                .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let suites: Vec<String> = s
            .get("Suites")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // Signed-By may hold an inline key block; only a file path names a keyring.
        let signed_by = s
            .get("Signed-By")
            .filter(|v| v.starts_with('/') && !v.contains('\n'))
            .map(str::to_string);
        for uri in s.get("URIs").unwrap_or("").split_whitespace() {
            out.push(Source {
                uri: uri.to_string(),
                suites: suites.clone(),
                signed_by: signed_by.clone(),
                file: file.to_path_buf(),
            });
        }
    }
    out
}

/// The mirror this machine uses for a distribution: an entry for `release` itself, else one
/// signed by the distribution's `keyring`; security and update suites are not mirrors of the
/// release. Returned without a trailing `/`.
pub fn mirror_for<'a>(sources: &'a [Source], release: &str, keyring: &Path) -> Option<&'a Source> {
    // A mirror rvenv can read (not mirror+file:, cdrom:, tor+http:), of the release itself
    // (not security or updates), and not signed by another distribution's keyring (Raspbian
    // and Raspberry Pi's archives use the same codenames as Debian).
    let main_suite = |s: &Source| {
        s.suites
            .iter()
            .any(|suite| !suite.contains('-') && !suite.contains('/'))
            && !s.uri.contains("security")
            && ["http://", "https://", "file:/"]
                .iter()
                .any(|p| s.uri.starts_with(p))
            && s.signed_by
                .as_deref()
                .is_none_or(|k| Path::new(k) == keyring)
    };
    sources
        .iter()
        .find(|s| s.suites.iter().any(|x| x == release) && main_suite(s))
        .or_else(|| {
            sources
                .iter()
                .find(|s| main_suite(s) && s.signed_by.as_deref().map(Path::new) == Some(keyring))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_and_the_mirror_of_a_release() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.list"),
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\ndeb-src http://x/ bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://deb.example/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.example/debian-security\nSuites: trixie-security\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        )
        .unwrap();
        let s = read(dir.path());
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].uri, "http://mirror.example/debian");
        assert_eq!(s[0].signed_by.as_deref(), Some("/k.gpg"));
        let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
        assert_eq!(
            mirror_for(&s, "bookworm", Path::new("/k.gpg")).unwrap().uri,
            "http://mirror.example/debian"
        );
        // The bookworm entry is signed by another keyring: the one signed by this keyring.
        assert_eq!(
            mirror_for(&s, "bookworm", keyring).unwrap().uri,
            "http://deb.example/debian"
        );
        // No entry for bullseye: the one signed by the same keyring, not the security one.
        assert_eq!(
            mirror_for(&s, "bullseye", keyring).unwrap().uri,
            "http://deb.example/debian"
        );
        assert!(mirror_for(&s, "noble", Path::new("/ubuntu.gpg")).is_none());
        // The one-line entry is signed by another keyring: not a mirror of this archive.
        assert_eq!(
            mirror_for(&s, "bookworm", Path::new("/other.gpg")).map(|s| &s.uri),
            None
        );
        let odd = vec![Source {
            uri: "mirror+file:/etc/apt/mirrors.txt".into(),
            suites: vec!["bookworm".into()],
            signed_by: None,
            file: PathBuf::from("x.list"),
        }];
        assert!(mirror_for(&odd, "bookworm", keyring).is_none());
    }
}
