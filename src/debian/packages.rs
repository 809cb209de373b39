//! A `Packages` index: one stanza per binary package, with the file's path in the pool and
//! the SHA256 apt checks it against.

use super::{Error, control};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path under the mirror's root (`pool/main/p/python3.11/python3.11-minimal_…_arm64.deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// The package names of `Pre-Depends` and `Depends`, every alternative, without versions.
    pub depends: Vec<String>,
}

/// Parses the index; for a name listed twice, the last stanza wins (as one suite lists one
/// version per package and architecture).
pub fn parse(text: &str, url: &str) -> Result<BTreeMap<String, Package>, Error> {
    let bad = |message: String| Error::BadIndex {
        url: url.to_string(),
        message,
    };
    let mut out = BTreeMap::new();
    for stanza in control::parse(text).map_err(bad)? {
        let field = |name: &str| {
            stanza.get(name).map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "the stanza of {} has no {name} field",
                    stanza.get("Package").unwrap_or("a package")
                ))
            })
        };
        let name = field("Package")?;
        let size = field("Size")?
            .parse()
            .map_err(|_| bad(format!("{name}: Size is not a number")))?;
        let sha256 = field("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("{name}: SHA256 is not 64 hex digits")));
        }
        let depends = ["Pre-Depends", "Depends"]
            .iter()
            .filter_map(|f| stanza.get(f))
            .flat_map(|v| v.split([',', '|']))
            .filter_map(|d| {
                let n = d.trim().split([' ', '(', ':']).next()?.trim();
                (!n.is_empty()).then(|| n.to_string())
            })
            .collect();
        let package = Package {
            version: field("Version")?,
            architecture: field("Architecture")?,
            filename: field("Filename")?,
            size,
            sha256,
            depends,
            name: name.clone(),
        };
        if package
            .filename
            .split('/')
            .any(|c| c == ".." || c.is_empty())
        {
            return Err(bad(format!(
                "{name}: Filename '{}' is not a path under the mirror",
                package.filename
            )));
        }
        out.insert(name, package);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANZA: &str = "Package: python3.11-minimal
Version: 3.11.2-6+deb12u6
Architecture: arm64
Pre-Depends: libc6 (>= 2.36)
Depends: libpython3.11-minimal (= 3.11.2-6+deb12u6), libexpat1 (>= 2.1~beta3), zlib1g (>= 1:1.2.0) | libz-ng:any
Filename: pool/main/p/python3.11/python3.11-minimal_3.11.2-6+deb12u6_arm64.deb
Size: 1779652
SHA256: 6F0dd0b3e8f38e68a1b96bb3c1fa0d4f5eb4a89f1c3f8d8a7ae3c6a6f37f4ad1
Description: Minimal subset of the Python language
 a continuation
";

    #[test]
    fn a_stanza_as_debian_writes_it() {
        let p = parse(STANZA, "Packages").unwrap();
        let m = &p["python3.11-minimal"];
        assert_eq!(m.version, "3.11.2-6+deb12u6");
        assert_eq!(m.size, 1779652);
        assert!(m.sha256.starts_with("6f0dd0"));
        assert_eq!(
            m.depends,
            [
                "libc6",
                "libpython3.11-minimal",
                "libexpat1",
                "zlib1g",
                "libz-ng"
            ]
        );
    }

    #[test]
    fn refuses_a_filename_outside_the_mirror_and_a_bad_hash() {
        let evil = STANZA.replace("pool/main/p/", "pool/../../");
        assert!(parse(&evil, "Packages").is_err());
        let short = STANZA.replace("SHA256: 6F0d", "SHA256: 6F");
        assert!(parse(&short, "Packages").is_err());
    }
}
