//! The target's own CPython, from its distribution's archive: for a preset that names a
//! release (`[distribution]` in `targets/*.toml`), the release's `python3.X-minimal`,
//! `libpython3.X-minimal` and `libpython3.X-stdlib` for the target's architecture, verified
//! through the signed chain (`debian`), unpacked into the user's cache and reused from there.
//! No apt state, no dpkg, no root.

use crate::debian::{self, packages::Package, release, sources, transport::Transport};
use crate::elf::ElfFile;
use crate::target::{self, Distribution, Target};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What `rvenv python fetch` and a bundle with no `--python` need to know.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cache folder: `--python-cache`, `RVENV_PYTHON_CACHE`, or the user's cache.
    pub cache: PathBuf,
    pub mirror: Option<String>,
    pub keyring: Option<PathBuf>,
    /// `X.Y`; the release's default when unset.
    pub version: Option<String>,
    /// Read the archive again even if the cache has the interpreter.
    pub refresh: bool,
    pub quiet: bool,
    /// Where the machine's apt sources are (`/etc/apt`).
    pub etc_apt: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "--target {target}: a plain architecture names no distribution, so there is no CPython to fetch for it{}",
        if .presets.is_empty() { String::new() } else { format!("; presets for the same CPU: {}", .presets.join(", ")) }
    )]
    NotAPreset {
        target: String,
        presets: Vec<String>,
    },
    #[error(
        "{}: {target} has Python {}{}",
        .asked.as_deref().map_or_else(|| format!("--python-version {}", .version), str::to_string),
        .has.join(", "),
        if .presets.is_empty() { String::new() } else { format!("; presets with {}: {}", .version, .presets.join(", ")) }
    )]
    NoVersion {
        /// What asked for the version, when not `--python-version` (a retargeted venv).
        asked: Option<String>,
        /// The preset and its release: `debian-12-armv7 (bookworm)`.
        target: String,
        version: String,
        has: Vec<String>,
        presets: Vec<String>,
    },
    #[error("{url}: no package {package} for {architecture}")]
    NotInIndex {
        url: String,
        package: String,
        architecture: String,
    },
    #[error("{release}: the interpreter needs libraries that {target} does not list as present on the board: {}", .missing.iter().map(|(lib, by)| format!("{lib} (needed by {by})")).collect::<Vec<_>>().join(", "))]
    MissingLibs {
        release: String,
        target: String,
        missing: Vec<(String, String)>,
    },
    #[error("{0}: the unpacked packages hold no such file")]
    NoInterpreter(PathBuf),
    #[error("no cache folder: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,
    #[error(transparent)]
    Archive(#[from] debian::Error),
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Archive(e) if e.interrupted())
    }

    fn hint(&self) -> Option<&str> {
        match self {
            Error::NotAPreset { .. } => Some(
                "pick a distribution preset with --target (rvenv python list shows them), or give the target's interpreter with --python PATH (a Debian sysroot's usr/bin/python3.X, a python-build-standalone build)",
            ),
            Error::NoVersion { .. } => {
                Some("pick a version the release has, or a preset whose release has yours")
            }
            Error::NotInIndex { .. } => Some(
                "the mirror may not carry this architecture or release; name another with --mirror URL",
            ),
            Error::MissingLibs { .. } => Some(
                "use a target file (--target-file) whose system_libs lists them, if the board has them",
            ),
            Error::NoInterpreter(_) => {
                Some("the archive's packages are not laid out as expected; report it")
            }
            Error::NoCacheDir => Some("name a cache folder with --python-cache DIR"),
            Error::Archive(e) => e.hint(),
            Error::Io(_) => Some("check that the cache folder is writable (--python-cache DIR)"),
        }
    }
}

/// Written last into an unpacked interpreter's folder: it says what the folder was made from,
/// and its presence says the folder is complete.
pub const RECORD: &str = "rvenv-python.json";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Record {
    pub distribution: String,
    pub release: String,
    pub architecture: String,
    pub python: String,
    /// Relative to the folder: `usr/bin/python3.11` (for a build sysroot, its `Python.h`).
    pub interpreter: String,
    pub mirror: String,
    /// The `Date` of the verified Release (Unix seconds).
    #[serde(default)]
    pub release_date: Option<i64>,
    pub packages: Vec<RecordPackage>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RecordPackage {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Fetched {
    /// The unpacked packages (`usr/bin`, `usr/lib/python3.X`, ...).
    pub root: PathBuf,
    /// `root/usr/bin/python3.X`.
    pub python: PathBuf,
    pub record: Record,
    /// `.deb` files downloaded by this call.
    pub downloaded: usize,
    /// Whether the archive's signed index was read (false: the cached folder was used as is).
    pub read_archive: bool,
}

/// `--python-cache`, else `RVENV_PYTHON_CACHE`, else `$XDG_CACHE_HOME/rvenv/python`
/// (`~/.cache/rvenv/python`).
pub fn cache_dir(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("RVENV_PYTHON_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir()
        .map(|d| d.join("rvenv").join("python"))
        .ok_or(Error::NoCacheDir)
}

/// The distribution of a preset, or an error naming the presets of the same CPU.
pub fn distribution(target: &Target) -> Result<&Distribution, Error> {
    target
        .distribution
        .as_ref()
        .ok_or_else(|| Error::NotAPreset {
            target: target.name.clone(),
            presets: target::catalogue()
                .iter()
                .filter(|t| t.distribution.is_some() && t.elf == target.elf && t.arm == target.arm)
                .map(|t| t.name.clone())
                .collect(),
        })
}

/// The version asked for, checked against what the release packages; decided before any
/// download.
pub fn choose_version(target: &Target, requested: Option<&str>) -> Result<String, Error> {
    let dist = distribution(target)?;
    let Some(wanted) = requested else {
        return Ok(dist.python[0].clone());
    };
    if dist.python.iter().any(|v| v == wanted) {
        return Ok(wanted.to_string());
    }
    Err(Error::NoVersion {
        asked: None,
        target: format!("{} ({})", target.name, dist.release),
        version: wanted.to_string(),
        has: dist.python.clone(),
        presets: target::catalogue()
            .iter()
            .filter(|t| {
                t.elf == target.elf
                    && t.distribution
                        .as_ref()
                        .is_some_and(|d| d.python.iter().any(|v| v == wanted))
            })
            .map(|t| t.name.clone())
            .collect(),
    })
}

/// The archive URL and where it came from: `--mirror`, `RVENV_<NAME>_MIRROR`, the machine's apt
/// sources (where the preset allows), the archive's public default.
pub fn mirror(dist: &Distribution, explicit: Option<&str>, etc_apt: &Path) -> (String, String) {
    let clean = |s: &str| s.trim_end_matches('/').to_string();
    if let Some(m) = explicit {
        return (clean(m), "--mirror".into());
    }
    let var = format!("RVENV_{}_MIRROR", dist.name.to_ascii_uppercase());
    if let Ok(m) = std::env::var(&var)
        && !m.trim().is_empty()
    {
        return (clean(&m), var);
    }
    if dist.apt_sources {
        let all = sources::read(etc_apt);
        if let Some(s) = sources::mirror_for(&all, &dist.release, Path::new(&dist.keyring)) {
            return (clean(&s.uri), format!("apt sources, {}", s.file.display()));
        }
    }
    (clean(&dist.mirror), "the archive's default".into())
}

fn folder_name(dist: &Distribution, version: &str) -> String {
    format!(
        "{}-{}-{}-python{version}",
        dist.name, dist.release, dist.architecture
    )
}

/// The interpreter from the cache if it is there, else from the archive.
pub fn fetch(
    target: &Target,
    options: &Options,
    interrupted: &AtomicBool,
) -> Result<Fetched, Error> {
    let dist = distribution(target)?;
    let version = choose_version(target, options.version.as_deref())?;
    let set = Set {
        folder: options
            .cache
            .join("pythons")
            .join(folder_name(dist, &version)),
        names: vec![
            format!("python{version}-minimal"),
            format!("libpython{version}-minimal"),
            format!("libpython{version}-stdlib"),
        ],
        with_libraries: Vec::new(),
        must_hold: format!("usr/bin/python{version}"),
        what: format!("Python {version}"),
        interpreter: true,
    };
    fetch_set(target, options, &version, &set, interrupted)
}

/// The headers and libraries a cross build of a C extension compiles against: the release's
/// `libpython3.X-dev` and the `-dev` packages named (each with the library packages it
/// depends on, where the `.so` link points), unpacked into `sysroots/` of the cache.
pub fn fetch_sysroot(
    target: &Target,
    options: &Options,
    version: &str,
    dev_packages: &[String],
    interrupted: &AtomicBool,
) -> Result<Fetched, Error> {
    let dist = distribution(target)?;
    let mut folder = format!("{}-dev", folder_name(dist, version));
    let mut extra: Vec<String> = dev_packages.to_vec();
    extra.sort();
    extra.dedup();
    if !extra.is_empty() {
        // One folder per set of packages, so a build never sees headers it did not ask for.
        let digest = sha256_hex(extra.join("\n").as_bytes());
        folder.push('-');
        folder.push_str(&digest[..12]);
    }
    let set = Set {
        folder: options.cache.join("sysroots").join(folder),
        names: vec![format!("libpython{version}-dev")],
        with_libraries: extra,
        must_hold: format!("usr/include/python{version}/Python.h"),
        what: "a build sysroot".into(),
        interpreter: false,
    };
    fetch_set(target, options, version, &set, interrupted)
}

/// Packages to fetch into one cache folder.
struct Set {
    folder: PathBuf,
    names: Vec<String>,
    /// Also fetched, each with the `lib*` packages it depends on (not libc's, which the cross
    /// toolchain brings).
    with_libraries: Vec<String>,
    /// A regular file the unpacked packages must hold (the record's `interpreter`).
    must_hold: String,
    what: String,
    /// An interpreter: checked for libraries the board lacks, given a `/lib` link.
    interpreter: bool,
}

fn fetch_set(
    target: &Target,
    options: &Options,
    version: &str,
    set: &Set,
    interrupted: &AtomicBool,
) -> Result<Fetched, Error> {
    let dist = distribution(target)?;
    let version = version.to_string();
    let root = set.folder.clone();
    let pythons = root.parent().expect("a folder in the cache").to_path_buf();
    if !options.refresh
        && let Some(fetched) = cached(&root)
    {
        return Ok(fetched);
    }
    let (mirror, transport, verified) =
        open_archive(target, dist, options, &set.what, interrupted)?;
    // Main suites carry no Valid-Until: an older Release than the one the cached copy came
    // from is refused, so --refresh never goes back to an older point release.
    if let (Some(new), Some(old)) = (
        verified.release_date,
        cached(&root).and_then(|c| c.record.release_date),
    ) && new < old
    {
        return Err(debian::Error::Rollback {
            url: verified.inrelease_url.clone(),
            date: release::fmt_time(new),
            cached: release::fmt_time(old),
        }
        .into());
    }
    let (index, index_url, index_path) = (
        &*verified.index,
        verified.index_url.clone(),
        verified.index_path.clone(),
    );
    let release_date = verified.release_date;

    let mut wanted: Vec<&Package> = Vec::new();
    let lookup = |name: &str| {
        index.get(name).ok_or_else(|| Error::NotInIndex {
            url: index_url.clone(),
            package: name.to_string(),
            architecture: dist.architecture.clone(),
        })
    };
    for name in &set.names {
        wanted.push(lookup(name)?);
    }
    // Each named package with what it depends on, all the way down (the `.so` link of
    // zlib1g-dev points into zlib1g), less what the cross toolchain brings (libc, libgcc,
    // libstdc++) and what is not a library; alternatives not in the index are skipped.
    let toolchain = |n: &str| {
        n.starts_with("libc6")
            || n.starts_with("libgcc")
            || n.starts_with("libstdc++")
            || n == "linux-libc-dev"
            || n.starts_with("libcrypt")
    };
    let mut queue: Vec<&Package> = Vec::new();
    for name in &set.with_libraries {
        queue.push(lookup(name)?);
    }
    let mut named = std::collections::BTreeSet::new();
    while let Some(p) = queue.pop() {
        if !named.insert(p.name.clone()) || named.len() > 200 {
            continue;
        }
        wanted.push(p);
        for dep in &p.depends {
            let library =
                dep.starts_with("lib") || dep.ends_with("-dev") || dep.starts_with("zlib");
            if library
                && !toolchain(dep)
                && let Some(d) = index.get(dep)
            {
                queue.push(d);
            }
        }
    }
    // Each once, in the order asked for.
    let mut seen = std::collections::BTreeSet::new();
    wanted.retain(|p| seen.insert(p.name.clone()));

    // Everything is downloaded and verified before anything is written to the cache.
    let debs = options.cache.join("debs");
    let (files, downloaded) = download_debs(
        &wanted,
        &mirror,
        &index_path,
        &debs,
        &transport,
        interrupted,
    )?;

    // Folders made here are removed again (if still empty) when anything below fails.
    let mut made = MadeDirs::create(&pythons)?;
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(&pythons)
        .map_err(crate::error::io(&pythons))?;
    for ((_, bytes, _), p) in files.iter().zip(&wanted) {
        debian::deb::unpack(bytes, &p.filename, partial.path())?;
    }
    let interpreter = set.must_hold.clone();
    let python = partial.path().join(&interpreter);
    // A regular file in the package, not a symlink that could point out of the folder.
    if !python.symlink_metadata().is_ok_and(|m| m.is_file()) {
        return Err(Error::NoInterpreter(root.join(&interpreter)));
    }
    if set.interpreter {
        let missing = missing_libs(partial.path(), &version, target)?;
        if !missing.is_empty() {
            return Err(Error::MissingLibs {
                release: format!("{} {} {}", dist.name, dist.release, dist.architecture),
                target: target.name.clone(),
                missing,
            });
        }
        // Merged /usr: what the release's other packages reach through /lib finds usr/lib.
        let lib = partial.path().join("lib");
        if lib.symlink_metadata().is_err() {
            std::os::unix::fs::symlink("usr/lib", &lib).map_err(crate::error::io(&lib))?;
        }
    }
    let record = Record {
        distribution: dist.name.clone(),
        release: dist.release.clone(),
        architecture: dist.architecture.clone(),
        python: version.clone(),
        interpreter,
        mirror: mirror.clone(),
        release_date,
        packages: wanted
            .iter()
            .map(|p| RecordPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                sha256: p.sha256.clone(),
                size: p.size,
            })
            .collect(),
    };
    let record_path = partial.path().join(RECORD);
    let json = serde_json::to_vec_pretty(&record).expect("a record serializes");
    std::fs::write(&record_path, json).map_err(crate::error::io(&record_path))?;

    keep_debs(&debs, &files)?;
    // Into place only once complete. An older copy (--refresh) is moved aside first and put
    // back if the new one cannot take its place.
    let aside = if root.exists() {
        let old = tempfile::Builder::new()
            .prefix(".old-")
            .tempdir_in(&pythons)
            .map_err(crate::error::io(&pythons))?;
        let to = old.path().join("x");
        std::fs::rename(&root, &to).map_err(crate::error::io(&root))?;
        Some((old, to))
    } else {
        None
    };
    if let Err(e) = std::fs::rename(partial.path(), &root) {
        if let Some((_, to)) = &aside {
            let _ = std::fs::rename(to, &root);
        }
        // Another rvenv finished the same fetch first: use its copy.
        if let Some(mut other) = cached(&root) {
            made.keep();
            other.read_archive = true;
            return Ok(other);
        }
        return Err(crate::error::io(&root)(e).into());
    }
    let _ = partial.keep();
    made.keep();
    let python = root.join(&record.interpreter);
    Ok(Fetched {
        root,
        python,
        record,
        downloaded,
        read_archive: true,
    })
}

/// The keyring, the mirror (said on stderr with `what` is fetched from it) and the release's
/// verified index.
fn open_archive(
    target: &Target,
    dist: &Distribution,
    options: &Options,
    what: &str,
    interrupted: &AtomicBool,
) -> Result<(String, Transport, Verified), Error> {
    let keyring_path = options
        .keyring
        .clone()
        .unwrap_or_else(|| PathBuf::from(&dist.keyring));
    let keyring = release::Keyring::load(&keyring_path)?;
    let (mirror, origin) = mirror(dist, options.mirror.as_deref(), &options.etc_apt);
    crate::ui::info(
        options.quiet,
        &format!(
            "fetching {what} for {} from {mirror} ({origin})",
            target.name
        ),
    );
    let transport = Transport::new(options.quiet);
    let verified = verified_index(
        dist,
        &mirror,
        &keyring_path,
        &keyring,
        &transport,
        interrupted,
    )?;
    Ok((mirror, transport, verified))
}

/// A release's `Packages` index, verified through its signed `InRelease`.
#[derive(Clone)]
struct Verified {
    /// Mirror, release, architecture, keyring.
    key: String,
    inrelease_url: String,
    index_url: String,
    /// `main/binary-armhf/Packages.xz`, as `Release` lists it.
    index_path: String,
    release_date: Option<i64>,
    index: std::sync::Arc<BTreeMap<String, Package>>,
    /// The signed Release's files: path → (size, SHA256).
    listed: std::sync::Arc<BTreeMap<String, (u64, String)>>,
}

/// Indexes verified by this process: a bundle that fetches the interpreter and then a build's
/// `-dev` packages reads the same index once.
static VERIFIED: std::sync::Mutex<Vec<Verified>> = std::sync::Mutex::new(Vec::new());

fn verified_index(
    dist: &Distribution,
    mirror: &str,
    keyring_path: &Path,
    keyring: &release::Keyring,
    transport: &Transport,
    interrupted: &AtomicBool,
) -> Result<Verified, Error> {
    let key = format!(
        "{mirror}|{}|{}|{}|{}",
        dist.release,
        dist.component,
        dist.architecture,
        keyring_path.display()
    );
    if let Some(v) = VERIFIED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|v| v.key == key)
    {
        return Ok(v.clone());
    }
    let inrelease_url = format!("{mirror}/dists/{}/InRelease", dist.release);
    let inrelease = transport.get(&inrelease_url, "InRelease", None, interrupted)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let release = release::verify(&inrelease, &inrelease_url, keyring, now)?;
    // As apt does: the signed Release must be the suite asked for, not another one the same
    // key signed (sid served as bookworm).
    if release.codename.as_deref() != Some(&dist.release)
        && release.suite.as_deref() != Some(&dist.release)
    {
        return Err(debian::Error::WrongSuite {
            url: inrelease_url,
            expected: dist.release.clone(),
            found: release
                .codename
                .clone()
                .or(release.suite.clone())
                .unwrap_or_else(|| "(none)".into()),
        }
        .into());
    }
    let index_dir = format!("{}/binary-{}", dist.component, dist.architecture);
    let (index_path, (size, sha)) = ["Packages.xz", "Packages.gz", "Packages"]
        .iter()
        .find_map(|name| {
            let path = format!("{index_dir}/{name}");
            release.sha256.get(&path).map(|v| (path, v.clone()))
        })
        .ok_or_else(|| debian::Error::NotInRelease {
            url: inrelease_url.clone(),
            index: format!("{index_dir}/Packages"),
        })?;
    let index_url = format!("{mirror}/dists/{}/{index_path}", dist.release);
    let compressed = transport.get(&index_url, &index_path, Some(size), interrupted)?;
    check(&compressed, &index_url, "InRelease", size, &sha)?;
    let text = decompress(&compressed, &index_url)?;
    let index = debian::packages::parse(&text, &index_url)?;
    let verified = Verified {
        key,
        inrelease_url,
        index_url,
        index_path,
        release_date: release.date,
        index: std::sync::Arc::new(index),
        listed: std::sync::Arc::new(release.sha256.clone()),
    };
    VERIFIED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(verified.clone());
    Ok(verified)
}

/// Each package's `.deb` from the cache (checked against the index) or the mirror (verified
/// in memory): (cache path, bytes, whether it is new), and how many were downloaded.
#[allow(clippy::type_complexity)]
fn download_debs(
    wanted: &[&Package],
    mirror: &str,
    index_path: &str,
    debs: &Path,
    transport: &Transport,
    interrupted: &AtomicBool,
) -> Result<(Vec<(PathBuf, Vec<u8>, bool)>, usize), Error> {
    let mut files = Vec::new();
    let mut downloaded = 0;
    for p in wanted {
        let cached = debs.join(format!("{}.deb", p.sha256));
        if let Ok(bytes) = std::fs::read(&cached)
            && bytes.len() as u64 == p.size
            && sha256_hex(&bytes) == p.sha256
        {
            files.push((cached, bytes, false));
            continue;
        }
        let url = format!("{mirror}/{}", p.filename);
        let label = p.filename.rsplit('/').next().unwrap_or(&p.filename);
        let bytes = transport.get(&url, label, Some(p.size), interrupted)?;
        check(&bytes, &url, index_path, p.size, &p.sha256)?;
        downloaded += 1;
        files.push((cached, bytes, true));
    }
    Ok((files, downloaded))
}

/// Writes the new `.deb`s into the cache, each whole or not at all.
fn keep_debs(debs: &Path, files: &[(PathBuf, Vec<u8>, bool)]) -> Result<(), Error> {
    std::fs::create_dir_all(debs).map_err(crate::error::io(debs))?;
    for (path, bytes, new) in files {
        if *new {
            let mut tmp = tempfile::NamedTempFile::new_in(debs).map_err(crate::error::io(debs))?;
            std::io::Write::write_all(&mut tmp, bytes).map_err(crate::error::io(path))?;
            tmp.persist(path)
                .map_err(|e| crate::error::io(path)(e.error))?;
        }
    }
    Ok(())
}

/// Packages of a release, verified, for an image's base layer.
pub struct Debs {
    /// Each package and its `.deb`, in name order.
    pub packages: Vec<(RecordPackage, Vec<u8>)>,
    /// The package that provides each soname asked for.
    pub providers: BTreeMap<String, String>,
    /// Sonames no package of the release provides.
    pub unprovided: Vec<String>,
    pub mirror: String,
}

/// The release's packages named in `names`, plus those providing `sonames` (found through the
/// release's `Contents-<arch>` index, verified against the signed Release), each with the
/// library packages it depends on (not `skip`), verified and cached as the interpreter's are.
pub fn fetch_debs(
    target: &Target,
    options: &Options,
    names: &[String],
    sonames: &[String],
    skip: &[&str],
    interrupted: &AtomicBool,
) -> Result<Debs, Error> {
    let dist = distribution(target)?;
    let (mirror, transport, verified) =
        open_archive(target, dist, options, "the base packages", interrupted)?;
    let mut providers = BTreeMap::new();
    let mut unprovided = Vec::new();
    if !sonames.is_empty() {
        let contents = contents_index(dist, &mirror, &verified, options, &transport, interrupted)?;
        for soname in sonames {
            match contents.get(soname) {
                Some(p) => {
                    providers.insert(soname.clone(), p.clone());
                }
                None => unprovided.push(soname.clone()),
            }
        }
    }
    let index = &*verified.index;
    let mut queue: Vec<&Package> = Vec::new();
    for name in names.iter().chain(providers.values()) {
        queue.push(index.get(name).ok_or_else(|| Error::NotInIndex {
            url: verified.index_url.clone(),
            package: name.clone(),
            architecture: dist.architecture.clone(),
        })?);
    }
    let mut wanted: Vec<&Package> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(p) = queue.pop() {
        if !seen.insert(p.name.clone()) {
            continue;
        }
        wanted.push(p);
        for dep in &p.depends {
            if dep.starts_with("lib")
                && !skip.contains(&dep.as_str())
                && let Some(d) = index.get(dep)
            {
                queue.push(d);
            }
        }
    }
    wanted.sort_by(|a, b| a.name.cmp(&b.name));
    let debs = options.cache.join("debs");
    let (files, _) = download_debs(
        &wanted,
        &mirror,
        &verified.index_path,
        &debs,
        &transport,
        interrupted,
    )?;
    keep_debs(&debs, &files)?;
    Ok(Debs {
        packages: wanted
            .iter()
            .zip(files)
            .map(|(p, (_, bytes, _))| {
                (
                    RecordPackage {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        sha256: p.sha256.clone(),
                        size: p.size,
                    },
                    bytes,
                )
            })
            .collect(),
        providers,
        unprovided,
        mirror,
    })
}

/// The release's `Contents-<arch>` index as soname → package: library file names under a
/// `lib` folder (`usr/lib/aarch64-linux-gnu/libffi.so.8 libs/libffi8`). Verified against the
/// signed Release and cached by its SHA256.
fn contents_index(
    dist: &Distribution,
    mirror: &str,
    verified: &Verified,
    options: &Options,
    transport: &Transport,
    interrupted: &AtomicBool,
) -> Result<BTreeMap<String, String>, Error> {
    let (path, (size, sha)) = [".gz", ".xz", ""]
        .iter()
        .find_map(|ext| {
            let path = format!("{}/Contents-{}{ext}", dist.component, dist.architecture);
            verified.listed.get(&path).map(|v| (path, v.clone()))
        })
        .ok_or_else(|| debian::Error::NotInRelease {
            url: verified.inrelease_url.clone(),
            index: format!("{}/Contents-{}", dist.component, dist.architecture),
        })?;
    let url = format!("{mirror}/dists/{}/{path}", dist.release);
    let indexes = options.cache.join("indexes");
    let cached = indexes.join(&sha);
    let bytes = match std::fs::read(&cached) {
        Ok(b) if b.len() as u64 == size && sha256_hex(&b) == sha => b,
        _ => {
            let b = transport.get(&url, &path, Some(size), interrupted)?;
            check(&b, &url, "InRelease", size, &sha)?;
            keep_debs(&indexes, &[(cached, b.clone(), true)])?;
            b
        }
    };
    // Read line by line: the index is over 100 MB once decompressed.
    use std::io::BufRead;
    let reader: Box<dyn std::io::Read + '_> = if path.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(bytes.as_slice()))
    } else if path.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(bytes.as_slice()))
    } else {
        Box::new(bytes.as_slice())
    };
    let mut out = BTreeMap::new();
    for line in std::io::BufReader::new(reader).split(b'\n') {
        let line = line.map_err(|e| debian::Error::BadIndex {
            url: url.clone(),
            message: format!("cannot be decompressed: {e}"),
        })?;
        let Ok(line) = std::str::from_utf8(&line) else {
            continue;
        };
        let Some((file, packages)) = line.rsplit_once(|c: char| c.is_whitespace()) else {
            continue;
        };
        let file = file.trim_end();
        let Some((dir, name)) = file.rsplit_once('/') else {
            continue;
        };
        if !name.contains(".so") || !(dir.ends_with("lib") || dir.contains("lib/")) {
            continue;
        }
        // `section/package[,section/package...]`: the first package.
        let package = packages
            .split(',')
            .next()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_default();
        if package.is_empty() {
            continue;
        }
        // The multiarch folder wins over others (lib32, lib64 variants of another ABI).
        let preferred = dir.ends_with("-linux-gnu")
            || dir.ends_with("-linux-gnueabihf")
            || dir.ends_with("-linux-gnueabi");
        match out.get(name) {
            Some((_, true)) if !preferred => {}
            _ => {
                out.insert(name.to_string(), (package.to_string(), preferred));
            }
        }
    }
    Ok(out.into_iter().map(|(k, (p, _))| (k, p)).collect())
}

/// The folders `create` made, removed again on drop (each only if empty) unless kept.
struct MadeDirs(Vec<PathBuf>);

impl MadeDirs {
    fn create(dir: &Path) -> Result<MadeDirs, Error> {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir).map_err(crate::error::io(dir))?;
        missing.reverse();
        Ok(MadeDirs(missing))
    }

    fn keep(&mut self) {
        self.0.clear();
    }
}

impl Drop for MadeDirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A complete folder from an earlier fetch (its record written last), or None.
pub fn cached(root: &Path) -> Option<Fetched> {
    let record: Record = serde_json::from_slice(&std::fs::read(root.join(RECORD)).ok()?).ok()?;
    let python = root.join(&record.interpreter);
    python.is_file().then(|| Fetched {
        root: root.to_path_buf(),
        python,
        record,
        downloaded: 0,
        read_archive: false,
    })
}

/// Where a preset's interpreter is cached, whether or not it is there yet.
pub fn cached_root(cache: &Path, dist: &Distribution, version: &str) -> PathBuf {
    cache.join("pythons").join(folder_name(dist, version))
}

fn check(bytes: &[u8], url: &str, listed_by: &str, size: u64, sha256: &str) -> Result<(), Error> {
    if bytes.len() as u64 != size {
        return Err(debian::Error::SizeMismatch {
            url: url.to_string(),
            listed_by: listed_by.to_string(),
            size: bytes.len() as u64,
            expected: size,
        }
        .into());
    }
    let actual = sha256_hex(bytes);
    if actual != sha256 {
        return Err(debian::Error::HashMismatch {
            url: url.to_string(),
            listed_by: listed_by.to_string(),
            expected: sha256.to_string(),
            actual,
        }
        .into());
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn decompress(bytes: &[u8], url: &str) -> Result<String, Error> {
    use std::io::Read;
    let mut text = String::new();
    let result = if url.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes).read_to_string(&mut text)
    } else if url.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)
    } else {
        std::str::from_utf8(bytes)
            .map(|s| text.push_str(s))
            .map(|_| 0)
            .map_err(std::io::Error::other)
    };
    result.map_err(|e| debian::Error::BadIndex {
        url: url.to_string(),
        message: format!("cannot be decompressed: {e}"),
    })?;
    Ok(text)
}

/// Libraries the interpreter and its `lib-dynload` modules load that are neither on the board
/// (the preset's `system_libs`) nor in the packages: (soname, the file that needs it).
fn missing_libs(
    root: &Path,
    version: &str,
    target: &Target,
) -> Result<Vec<(String, String)>, Error> {
    let mut files = vec![root.join(format!("usr/bin/python{version}"))];
    let dynload = root.join(format!("usr/lib/python{version}/lib-dynload"));
    if let Ok(dir) = std::fs::read_dir(&dynload) {
        let mut so: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        so.sort();
        files.extend(
            so.into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "so")),
        );
    }
    let present: std::collections::BTreeSet<String> = walkdir::WalkDir::new(root.join("usr/lib"))
        .into_iter()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let loaders = target.loader_names();
    let mut missing = BTreeMap::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(crate::error::io(&file))?;
        let Ok(elf) = ElfFile::parse(&bytes, &file) else {
            continue;
        };
        for lib in elf.needed {
            if !target.libc.system_libs.contains(&lib)
                && !present.contains(&lib)
                && !loaders.contains(&lib.as_str())
            {
                let by = file
                    .strip_prefix(root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                missing.entry(lib).or_insert(by);
            }
        }
    }
    Ok(missing.into_iter().collect())
}
