//! Installed distributions, read from `.dist-info` without running Python: the bundle's
//! `requirements.txt` (pip freeze's format) and the editable installs that cannot travel.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    BadMetadata { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub name: String,
    pub version: String,
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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
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

fn read_direct_url(path: &Path) -> Result<Option<DirectUrl>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let bad = |message: String| Error::BadMetadata {
        path: path.to_path_buf(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let url = json["url"]
        .as_str()
        .ok_or_else(|| bad("no 'url' string".into()))?
        .to_string();
    let editable = json["dir_info"]["editable"].as_bool().unwrap_or(false);
    let vcs = json["vcs_info"]["vcs"].as_str().map(|vcs| {
        let commit = json["vcs_info"]["commit_id"].as_str().unwrap_or("");
        (vcs.to_string(), commit.to_string())
    });
    Ok(Some(DirectUrl { url, editable, vcs }))
}

/// Every `*.dist-info` directly in `site_packages`, sorted by directory name.
pub fn find(site_packages: &Path) -> Result<Vec<Distribution>, Error> {
    let mut dists = Vec::new();
    let entries = match std::fs::read_dir(site_packages) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dists),
        Err(e) => return Err(io(site_packages)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(site_packages))?;
        let dir = entry.path();
        if dir.extension().is_none_or(|e| e != "dist-info") || !dir.is_dir() {
            continue;
        }
        let metadata_path = dir.join("METADATA");
        let bytes = std::fs::read(&metadata_path).map_err(io(&metadata_path))?;
        let text = String::from_utf8_lossy(&bytes);
        let (name, version) = name_and_version(&text);
        let missing = |field: &str| Error::BadMetadata {
            path: metadata_path.clone(),
            message: format!("no '{field}' field"),
        };
        dists.push(Distribution {
            name: name.ok_or_else(|| missing("Name"))?,
            version: version.ok_or_else(|| missing("Version"))?,
            direct_url: read_direct_url(&dir.join("direct_url.json"))?,
            dist_info: dir,
        });
    }
    dists.sort_by(|a, b| a.dist_info.cmp(&b.dist_info));
    Ok(dists)
}

/// pip freeze's output for these distributions. Like pip on the venv's Python, it leaves out
/// pip itself, and setuptools, wheel and distribute before Python 3.12.
pub fn freeze(dists: &[Distribution], python_minor: u32) -> String {
    let mut skip = vec!["pip"];
    if python_minor < 12 {
        skip.extend(["setuptools", "wheel", "distribute"]);
    }
    let mut lines: Vec<(String, String)> = dists
        .iter()
        .filter(|d| !skip.contains(&d.name.to_ascii_lowercase().as_str()))
        .map(|d| {
            let line = match &d.direct_url {
                Some(u) if u.editable => format!("-e {}", u.url),
                Some(DirectUrl {
                    url,
                    vcs: Some((vcs, commit)),
                    ..
                }) => format!("{} @ {vcs}+{url}@{commit}", d.name),
                Some(u) => format!("{} @ {}", d.name, u.url),
                None => format!("{}=={}", d.name, d.version),
            };
            (d.name.to_ascii_lowercase(), line)
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, l)| l + "\n").collect()
}

/// Something in site-packages that points at the build machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub what: String,
    /// Editable installs are errors without `--allow-editable`; other findings are warnings.
    pub editable: bool,
}

/// Editable installs (`direct_url.json` editable, `__editable__` finders, `.pth` lines naming
/// directories outside the venv) and `file://` URLs.
pub fn build_machine_links(
    site_packages: &Path,
    dists: &[Distribution],
    venv_roots: &[&Path],
) -> Result<Vec<Finding>, Error> {
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
    let Ok(entries) = std::fs::read_dir(site_packages) else {
        return Ok(found);
    };
    let mut pths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    pths.sort();
    for path in pths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("__editable__") {
            found.push(Finding {
                path: path.clone(),
                what: "an editable-install hook".into(),
                editable: true,
            });
            continue;
        }
        if !name.ends_with(".pth") {
            continue;
        }
        let text = std::fs::read(&path).map_err(io(&path))?;
        for line in String::from_utf8_lossy(&text).lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("import") {
                continue;
            }
            let target = site_packages.join(line);
            let inside = venv_roots.iter().any(|r| target.starts_with(r))
                || target
                    .canonicalize()
                    .is_ok_and(|t| venv_roots.iter().any(|r| t.starts_with(r)));
            if Path::new(line).is_absolute() && !inside {
                found.push(Finding {
                    path: path.clone(),
                    what: format!("adds {line} to sys.path (an editable install)"),
                    editable: true,
                });
            }
        }
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
            dist(
                "web",
                "0.1",
                Some(DirectUrl {
                    url: "https://x/web-0.1.tar.gz".into(),
                    editable: false,
                    vcs: None,
                }),
            ),
            dist(
                "tool",
                "0.2",
                Some(DirectUrl {
                    url: "https://g/tool".into(),
                    editable: false,
                    vcs: Some(("git".into(), "abc123".into())),
                }),
            ),
        ];
        assert_eq!(
            freeze(&dists, 11),
            "Alpha==2.0\ntool @ git+https://g/tool@abc123\nweb @ https://x/web-0.1.tar.gz\nzeta==1.0\n"
        );
        assert!(freeze(&dists, 12).contains("setuptools==65.5.0\n"));
    }
}
