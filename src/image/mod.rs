//! A container image for the board, without a container engine: a base layer of the target
//! release's own packages (libc6 and exactly the libraries the bundle's ELF files need,
//! found through the release's `Contents` index, plus ca-certificates and tzdata) and the
//! bundle as its own layer at `/opt/app`. Written as an OCI image layout (a folder), an
//! `oci-archive` (that folder as a tar), or a `docker-archive` (the same with Docker's
//! `manifest.json`, as `docker save` writes since Docker 25). Every byte is a function of the
//! inputs and the epoch, so two builds give the same digests.

mod layer;

use crate::python::distro;
use crate::read::tarread;
use crate::target::Target;
use serde_json::json;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the bundle is in the image.
pub const APP: &str = "opt/app";
/// The user the entry point runs as (distroless's `nonroot`).
const USER: u32 = 65532;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An OCI image layout in a tar file (skopeo's and podman's `oci-archive:`)
    OciArchive,
    /// An OCI image layout folder (`oci:` for skopeo, umoci's `layout`)
    OciLayout,
    /// `docker load`'s format: the OCI layout plus Docker's manifest.json
    DockerArchive,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `name:tag`
    pub tag: String,
    /// A console script of the bundle's `bin/`; `None`: `bin/python3`.
    pub entrypoint: Option<String>,
    pub format: Format,
    pub with_busybox: bool,
    /// Every file time and the image's `created`.
    pub epoch: u64,
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--entrypoint {name}: the bundle has no bin/{name}{}", if .scripts.is_empty() { String::new() } else { format!("; its bin/ has {}", .scripts.join(", ")) })]
    NoEntrypoint { name: String, scripts: Vec<String> },
    #[error(
        "{target}: no package of {release} provides {}, which the bundle needs ({})",
        .sonames.join(", "),
        .needed_by.join(", ")
    )]
    Unprovided {
        target: String,
        release: String,
        sonames: Vec<String>,
        needed_by: Vec<String>,
    },
    #[error(transparent)]
    Read(#[from] tarread::Error),
    #[error(transparent)]
    Distro(#[from] distro::Error),
    #[error(transparent)]
    Deb(#[from] crate::debian::Error),
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_)) || matches!(self, Error::Distro(e) if e.interrupted())
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::NoEntrypoint { .. } => Some(
                "name one of the bundle's console scripts, or leave --entrypoint out for bin/python3",
            ),
            Error::Unprovided { .. } => Some(
                "a wheel that bundles its libraries (manylinux) needs none of the release's; rebuild that package for the release, or use a target file whose release has the library",
            ),
            Error::Distro(e) => e.hint(),
            Error::Deb(e) => e.hint(),
            _ => None,
        }
    }
}

/// What was written.
pub struct Built {
    pub target: String,
    /// The image manifest's digest (`sha256:...`).
    pub manifest: String,
    /// (digest, compressed size) of the base layer and the app layer.
    pub layers: Vec<(String, u64)>,
    pub packages: Vec<distro::RecordPackage>,
    /// Sonames and the package that provides each.
    pub providers: BTreeMap<String, String>,
}

/// OCI's platform of a target: `arm64`, `arm` + `v7`/`v6`, `amd64`, `riscv64`.
pub fn platform(target: &Target) -> (String, Option<String>) {
    match target.elf.machine {
        183 => ("arm64".into(), Some("v8".into())),
        40 => {
            let v7 = target
                .arm
                .as_ref()
                .is_some_and(|a| a.cpu_arch.contains(&10));
            ("arm".into(), Some(if v7 { "v7" } else { "v6" }.into()))
        }
        62 => ("amd64".into(), None),
        3 => ("386".into(), None),
        243 => ("riscv64".into(), None),
        21 => ("ppc64le".into(), None),
        22 => ("s390x".into(), None),
        _ => ("unknown".into(), None),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Reads the bundle: its members (for the app layer), the sonames its ELF files need that it
/// does not carry, the scripts of `bin/`, and `requirements.txt`.
struct Bundle {
    members: Vec<(tarread::Member, Vec<u8>)>,
    needed: BTreeMap<String, String>,
    scripts: Vec<String>,
    requirements: String,
}

fn read_bundle(path: &Path, target: &Target, interrupted: &AtomicBool) -> Result<Bundle, Error> {
    let mut members = Vec::new();
    tarread::read(path, |m, content| {
        if interrupted.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("interrupted"));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(content, &mut bytes)?;
        members.push((m.clone(), bytes));
        Ok(())
    })?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(crate::interrupt::Interrupted.into());
    }
    let mut carried = BTreeSet::new();
    let mut needs: BTreeMap<String, String> = BTreeMap::new();
    for (m, bytes) in &members {
        if let Some(name) = m.path.file_name().and_then(|n| n.to_str()) {
            carried.insert(name.to_string());
        }
        if m.kind == tarread::Kind::File
            && crate::elf::is_elf(bytes)
            && let Ok(elf) = crate::elf::ElfFile::parse(bytes, &m.path)
        {
            for lib in elf.needed {
                needs
                    .entry(lib)
                    .or_insert_with(|| m.path.display().to_string());
            }
        }
    }
    let loaders = target.loader_names();
    let needed = needs
        .into_iter()
        .filter(|(lib, _)| !carried.contains(lib) && !loaders.contains(&lib.as_str()))
        .collect();
    let scripts = members
        .iter()
        .filter(|(m, _)| m.path.parent() == Some(Path::new("bin")))
        .filter_map(|(m, _)| m.path.file_name()?.to_str().map(str::to_string))
        .collect();
    let requirements = members
        .iter()
        .find(|(m, _)| m.path == Path::new("requirements.txt"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    Ok(Bundle {
        members,
        needed,
        scripts,
        requirements,
    })
}

/// One platform's image, its blobs written into the layout's `blobs`.
struct Platform {
    manifest: String,
    manifest_size: usize,
    platform: serde_json::Map<String, serde_json::Value>,
    built: Built,
    config_digest: String,
}

/// Builds the image from bundle tarballs (`rvenv bundle --arcroot app` output), one per
/// target: one target gives an image, several give a multi-platform image index.
pub fn build(
    bundles: &[(std::path::PathBuf, &Target)],
    archive: &distro::Options,
    options: &Options,
    output: &Path,
    interrupted: &AtomicBool,
) -> Result<Vec<Built>, Error> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".rvenv-image-")
        .tempdir_in(parent)
        .map_err(crate::error::io(parent))?;
    let layout = work.path().join("layout");
    let blobs = layout.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(crate::error::io(&blobs))?;
    let mut platforms = Vec::new();
    for (i, (bundle, target)) in bundles.iter().enumerate() {
        let rootfs = work.path().join(format!("rootfs-{i}"));
        platforms.push(image_for(
            bundle,
            target,
            archive,
            options,
            &blobs,
            &rootfs,
            interrupted,
        )?);
        let _ = std::fs::remove_dir_all(&rootfs);
    }
    let (_, tag) = options
        .tag
        .rsplit_once(':')
        .unwrap_or((options.tag.as_str(), "latest"));
    let annotations = json!({
        "org.opencontainers.image.ref.name": tag,
        "io.containerd.image.name": options.tag,
    });
    let top = if let [one] = platforms.as_slice() {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": one.manifest,
            "size": one.manifest_size,
            "platform": serde_json::Value::Object(one.platform.clone()),
            "annotations": annotations,
        })
    } else {
        // Several platforms: an image index blob, which the layout's index.json names.
        let nested = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": platforms.iter().map(|p| json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": p.manifest,
                "size": p.manifest_size,
                "platform": serde_json::Value::Object(p.platform.clone()),
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&nested).expect("the index serializes");
        let digest = write_blob(&blobs, &bytes)?;
        json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": annotations,
        })
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [top],
    });
    write_file(
        &layout.join("index.json"),
        &serde_json::to_vec(&index).expect("the index serializes"),
    )?;
    write_file(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    if options.format == Format::DockerArchive {
        let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        let docker: Vec<serde_json::Value> = platforms
            .iter()
            .map(|p| {
                json!({
                    "Config": blob(&p.config_digest),
                    "RepoTags": [options.tag],
                    "Layers": p.built.layers.iter().map(|(d, _)| blob(d)).collect::<Vec<_>>(),
                })
            })
            .collect();
        write_file(
            &layout.join("manifest.json"),
            &serde_json::to_vec(&docker).expect("the manifest serializes"),
        )?;
    }
    if interrupted.load(Ordering::Relaxed) {
        return Err(crate::interrupt::Interrupted.into());
    }
    match options.format {
        Format::OciLayout => {
            if output.exists() {
                std::fs::remove_dir_all(output).map_err(crate::error::io(output))?;
            }
            std::fs::rename(&layout, output).map_err(crate::error::io(output))?;
        }
        Format::OciArchive | Format::DockerArchive => {
            let tmp = work.path().join("image.tar");
            layer::tar_folder(&layout, &tmp, options.epoch)?;
            std::fs::rename(&tmp, output).map_err(crate::error::io(output))?;
        }
    }
    Ok(platforms.into_iter().map(|p| p.built).collect())
}

/// One target's layers, config and manifest, written into `blobs`.
fn image_for(
    bundle_path: &Path,
    target: &Target,
    archive: &distro::Options,
    options: &Options,
    blobs: &Path,
    rootfs: &Path,
    interrupted: &AtomicBool,
) -> Result<Platform, Error> {
    let bundle = read_bundle(bundle_path, target, interrupted)?;
    let entry = match &options.entrypoint {
        Some(name) => {
            if !bundle.scripts.iter().any(|s| s == name) {
                return Err(Error::NoEntrypoint {
                    name: name.clone(),
                    scripts: bundle
                        .scripts
                        .iter()
                        .filter(|s| !s.starts_with("python") && !s.starts_with("activate"))
                        .cloned()
                        .collect(),
                });
            }
            vec![format!("/{APP}/bin/python3"), format!("/{APP}/bin/{name}")]
        }
        None => vec![format!("/{APP}/bin/python3")],
    };

    // The base: the release's libc6 (which brings the loader), the libraries the bundle
    // needs, certificates and time zones.
    let mut names: Vec<String> = ["libc6", "ca-certificates", "tzdata"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if options.with_busybox {
        names.push("busybox-static".into());
    }
    let sonames: Vec<String> = bundle.needed.keys().cloned().collect();
    let debs = distro::fetch_debs(target, archive, &names, &sonames, &[], interrupted)?;
    if !debs.unprovided.is_empty() {
        let dist = distro::distribution(target)?;
        return Err(Error::Unprovided {
            target: target.name.clone(),
            release: format!("{} {}", dist.name, dist.release),
            needed_by: debs
                .unprovided
                .iter()
                .filter_map(|s| bundle.needed.get(s).map(|by| format!("{s} by {by}")))
                .collect(),
            sonames: debs.unprovided,
        });
    }
    if interrupted.load(Ordering::Relaxed) {
        return Err(crate::interrupt::Interrupted.into());
    }

    std::fs::create_dir_all(rootfs).map_err(crate::error::io(rootfs))?;
    for (p, bytes) in &debs.packages {
        crate::debian::deb::unpack(bytes, &format!("{}_{}.deb", p.name, p.version), rootfs)?;
    }
    let sbom = sbom(&debs, &bundle.requirements, &options.tag, options.epoch);
    let base = layer::base(rootfs, blobs, options, USER)?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(crate::interrupt::Interrupted.into());
    }
    let app = layer::app(&bundle.members, &sbom, blobs, options)?;

    let (architecture, variant) = platform(target);
    let created = rfc3339(options.epoch);
    let (name, tag) = options
        .tag
        .rsplit_once(':')
        .unwrap_or((options.tag.as_str(), "latest"));
    let mut labels = serde_json::Map::new();
    labels.insert("org.opencontainers.image.title".into(), json!(name));
    labels.insert("org.opencontainers.image.version".into(), json!(tag));
    labels.insert("dev.rvenv.target".into(), json!(target.name));
    labels.insert(
        "dev.rvenv.requirements.sha256".into(),
        json!(sha256_hex(bundle.requirements.as_bytes())),
    );
    let mut platform_json = serde_json::Map::new();
    platform_json.insert("architecture".into(), json!(architecture));
    platform_json.insert("os".into(), json!("linux"));
    if let Some(v) = &variant {
        platform_json.insert("variant".into(), json!(v));
    }
    let mut config = platform_json.clone();
    config.insert("created".into(), json!(created));
    config.insert(
        "config".into(),
        json!({
            "User": format!("{USER}:{USER}"),
            "Env": [format!("PATH=/{APP}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Entrypoint": entry,
            "WorkingDir": format!("/{APP}"),
            "Labels": labels,
        }),
    );
    config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": [base.diff_id, app.diff_id]}),
    );
    config.insert(
        "history".into(),
        json!([
            {"created": created, "created_by": format!("rvenv image: {} package(s) of the release", debs.packages.len())},
            {"created": created, "created_by": "rvenv image: the bundle at /opt/app"},
        ]),
    );
    let config_bytes =
        serde_json::to_vec(&serde_json::Value::Object(config)).expect("the config serializes");
    let config_digest = write_blob(blobs, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [base.descriptor(), app.descriptor()],
        "annotations": {"org.opencontainers.image.created": created},
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("the manifest serializes");
    let manifest_digest = write_blob(blobs, &manifest_bytes)?;
    Ok(Platform {
        manifest: manifest_digest.clone(),
        manifest_size: manifest_bytes.len(),
        platform: platform_json,
        config_digest,
        built: Built {
            target: target.name.clone(),
            manifest: manifest_digest,
            layers: vec![(base.digest, base.size), (app.digest, app.size)],
            packages: debs.packages.into_iter().map(|(p, _)| p).collect(),
            providers: debs.providers,
        },
    })
}

/// `2023-11-14T22:13:20Z`
fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86400) as i64;
    let secs = epoch % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(crate::error::io(path))?;
    Ok(())
}

/// Stores `bytes` under its digest; returns `sha256:<hex>`.
fn write_blob(blobs: &Path, bytes: &[u8]) -> Result<String, Error> {
    let hex = sha256_hex(bytes);
    write_file(&blobs.join(&hex), bytes)?;
    Ok(format!("sha256:{hex}"))
}

/// An SPDX 2.3 document: every Debian package of the base (with its `.deb`'s SHA256) and
/// every Python distribution of the bundle (its pin).
fn sbom(debs: &distro::Debs, requirements: &str, tag: &str, epoch: u64) -> Vec<u8> {
    let mut packages = Vec::new();
    for (p, _) in &debs.packages {
        packages.push(json!({
            "SPDXID": format!("SPDXRef-deb-{}", spdx_id(&p.name)),
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": debs.mirror,
            "checksums": [{"algorithm": "SHA256", "checksumValue": p.sha256}],
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": format!("pkg:deb/debian/{}@{}", p.name, p.version)}],
        }));
    }
    for line in requirements.lines() {
        let Some((name, version)) = line.trim().split_once("==") else {
            continue;
        };
        packages.push(json!({
            "SPDXID": format!("SPDXRef-pypi-{}", spdx_id(name)),
            "name": name,
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": format!("pkg:pypi/{}@{}", name.to_ascii_lowercase(), version)}],
        }));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": tag,
        "documentNamespace": format!("https://rvenv.invalid/spdx/{}", sha256_hex(format!("{tag}{requirements}").as_bytes())),
        "creationInfo": {"created": rfc3339(epoch), "creators": ["Tool: rvenv"]},
        "packages": packages,
    });
    serde_json::to_vec_pretty(&doc).expect("the SBOM serializes")
}

fn spdx_id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn platforms_follow_oci_names() {
        let t = |n: &str| crate::target::find(n).unwrap();
        assert_eq!(platform(t("aarch64")), ("arm64".into(), Some("v8".into())));
        assert_eq!(platform(t("armv7")), ("arm".into(), Some("v7".into())));
        assert_eq!(platform(t("armv6")), ("arm".into(), Some("v6".into())));
        assert_eq!(platform(t("x86_64")), ("amd64".into(), None));
    }
}
