//! Layers as deterministic tars: sorted names, one time, uid and gid 0, normalised modes;
//! gzip-compressed with the parallel compressor while both digests (the compressed blob's and
//! the tar's own, the `diff_id`) are computed on the way.

use super::{APP, Error, Options};
use crate::read::tarread;
use sha2::Digest;
use std::io::Write;
use std::path::Path;

/// A layer blob in `blobs/sha256/`.
pub struct Layer {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
}

impl Layer {
    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": self.digest,
            "size": self.size,
        })
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hashing<W: Write>(inner: W) -> Hashing<W> {
    Hashing {
        inner,
        hasher: sha2::Sha256::new(),
        written: 0,
    }
}

type LayerTar = tar::Builder<Hashing<crate::compress::ParallelGz<Hashing<std::fs::File>>>>;

/// A layer being written into a temporary file in `blobs`.
struct Writer {
    tar: LayerTar,
    tmp: std::path::PathBuf,
    epoch: u64,
    blobs: std::path::PathBuf,
}

impl Writer {
    fn new(blobs: &Path, options: &Options) -> Result<Writer, Error> {
        let tmp = blobs.join(format!(".layer-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(crate::error::io(&tmp))?;
        let gz = crate::compress::ParallelGz::new(hashing(file), 6, options.jobs.max(1))
            .map_err(crate::error::io(&tmp))?;
        let mut tar = tar::Builder::new(hashing(gz));
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(Writer {
            tar,
            tmp,
            epoch: options.epoch,
            blobs: blobs.to_path_buf(),
        })
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(self.epoch);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<(), Error> {
        self.dir_owned(path, mode, 0)
    }

    fn dir_owned(&mut self, path: &str, mode: u32, owner: u32) -> Result<(), Error> {
        let mut h = self.header(tar::EntryType::Directory, mode, 0);
        h.set_uid(owner.into());
        h.set_gid(owner.into());
        let name = format!("{}/", path.trim_end_matches('/'));
        self.tar
            .append_data(&mut h, name, std::io::empty())
            .map_err(crate::error::io(&self.tmp))?;
        Ok(())
    }

    fn file(&mut self, path: &str, mode: u32, bytes: &[u8]) -> Result<(), Error> {
        let mut h = self.header(tar::EntryType::Regular, mode, bytes.len() as u64);
        self.tar
            .append_data(&mut h, path, bytes)
            .map_err(crate::error::io(&self.tmp))?;
        Ok(())
    }

    fn symlink(&mut self, path: &str, to: &Path) -> Result<(), Error> {
        let mut h = self.header(tar::EntryType::Symlink, 0o777, 0);
        self.tar
            .append_link(&mut h, path, to)
            .map_err(crate::error::io(&self.tmp))?;
        Ok(())
    }

    fn finish(self) -> Result<Layer, Error> {
        let tee = self.tar.into_inner().map_err(crate::error::io(&self.tmp))?;
        let diff_id = hex::encode(tee.hasher.finalize());
        let file = tee.inner.finish().map_err(crate::error::io(&self.tmp))?;
        let digest = hex::encode(file.hasher.finalize());
        let size = file.written;
        let dest = self.blobs.join(&digest);
        std::fs::rename(&self.tmp, &dest).map_err(crate::error::io(&dest))?;
        Ok(Layer {
            digest: format!("sha256:{digest}"),
            diff_id: format!("sha256:{diff_id}"),
            size,
        })
    }
}

/// Is `rel` (a path in a package) left out of the base: documentation and manuals (the
/// copyright files stay), lintian's notes, translations of messages.
fn left_out(rel: &str) -> bool {
    let doc = rel.starts_with("usr/share/doc/") && !rel.ends_with("/copyright");
    doc && rel.matches('/').count() > 3
        || [
            "usr/share/man",
            "usr/share/info",
            "usr/share/lintian",
            "usr/share/locale",
        ]
        .iter()
        .any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
}

/// The base layer from the unpacked packages in `rootfs`, with what their maintainer scripts
/// would have made: the certificate bundle, a user for the entry point, `/tmp`.
pub fn base(rootfs: &Path, blobs: &Path, options: &Options, user: u32) -> Result<Layer, Error> {
    let mut w = Writer::new(blobs, options)?;
    let mut generated: Vec<(String, u32, Vec<u8>)> = Vec::new();
    // update-ca-certificates: every certificate of the package, in one file.
    let mut certs = Vec::new();
    let shared = rootfs.join("usr/share/ca-certificates");
    let mut pems: Vec<_> = walkdir::WalkDir::new(&shared)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "crt"))
        .map(|e| e.into_path())
        .collect();
    pems.sort();
    for pem in pems {
        let bytes = std::fs::read(&pem).map_err(crate::error::io(&pem))?;
        certs.extend_from_slice(&bytes);
        if !bytes.ends_with(b"\n") {
            certs.push(b'\n');
        }
    }
    generated.push(("etc/ssl/certs/ca-certificates.crt".into(), 0o644, certs));
    generated.push((
        "etc/passwd".into(),
        0o644,
        format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{user}:{user}:nonroot:/home/nonroot:/sbin/nologin\n")
            .into_bytes(),
    ));
    generated.push((
        "etc/group".into(),
        0o644,
        format!("root:x:0:\nnonroot:x:{user}:\n").into_bytes(),
    ));

    let mut entries: Vec<(String, walkdir::DirEntry)> = Vec::new();
    for e in walkdir::WalkDir::new(rootfs).sort_by_file_name() {
        let e = e.map_err(|e| crate::error::io(rootfs)(std::io::Error::other(e)))?;
        let rel = e
            .path()
            .strip_prefix(rootfs)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        if rel.is_empty() || left_out(&rel) {
            continue;
        }
        entries.push((rel, e));
    }
    let mut names: std::collections::BTreeMap<String, Option<walkdir::DirEntry>> =
        entries.into_iter().map(|(r, e)| (r, Some(e))).collect();
    for (path, _, _) in &generated {
        let mut dir = Path::new(path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            names
                .entry(d.to_string_lossy().into_owned())
                .or_insert(None);
            dir = d.parent();
        }
    }
    for d in ["tmp", "home", "home/nonroot"] {
        names.entry(d.into()).or_insert(None);
    }
    let generated_at: std::collections::BTreeMap<&str, &(String, u32, Vec<u8>)> =
        generated.iter().map(|g| (g.0.as_str(), g)).collect();
    for (rel, entry) in &names {
        if generated_at.contains_key(rel.as_str()) {
            continue;
        }
        match entry {
            None => {
                let mode = if rel == "tmp" { 0o1777 } else { 0o755 };
                // The user's home is its own, so the app can write there.
                let owner = if rel == "home/nonroot" { user } else { 0 };
                w.dir_owned(rel, mode, owner)?;
            }
            Some(e) if e.file_type().is_dir() => w.dir(rel, 0o755)?,
            Some(e) if e.file_type().is_symlink() => {
                let to = std::fs::read_link(e.path()).map_err(crate::error::io(e.path()))?;
                w.symlink(rel, &to)?;
            }
            Some(e) => {
                let meta = e
                    .metadata()
                    .map_err(|x| crate::error::io(e.path())(std::io::Error::other(x)))?;
                let mode =
                    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0 {
                        0o755
                    } else {
                        0o644
                    };
                let bytes = std::fs::read(e.path()).map_err(crate::error::io(e.path()))?;
                w.file(rel, mode, &bytes)?;
            }
        }
    }
    for (path, mode, bytes) in &generated {
        w.file(path, *mode, bytes)?;
    }
    w.finish()
}

/// The app layer: the bundle's members under `/opt/app`, and the SBOM beside them.
pub fn app(
    members: &[(tarread::Member, Vec<u8>)],
    sbom: &[u8],
    blobs: &Path,
    options: &Options,
) -> Result<Layer, Error> {
    let mut w = Writer::new(blobs, options)?;
    w.dir("opt", 0o755)?;
    w.dir(APP, 0o755)?;
    for (m, bytes) in members {
        let path = format!("{APP}/{}", m.path.to_string_lossy());
        match &m.kind {
            tarread::Kind::Dir => w.dir(&path, 0o755)?,
            tarread::Kind::Symlink(to) => w.symlink(&path, to)?,
            tarread::Kind::HardLink(to) => {
                // Stored as a copy: the earlier file's bytes.
                let earlier = members
                    .iter()
                    .find(|(o, _)| &o.path == to)
                    .map(|(_, b)| b.as_slice())
                    .unwrap_or_default();
                w.file(&path, 0o644, earlier)?;
            }
            tarread::Kind::File => {
                w.file(&path, if m.executable { 0o755 } else { 0o644 }, bytes)?;
            }
        }
    }
    w.file(&format!("{APP}/sbom.spdx.json"), 0o644, sbom)?;
    w.finish()
}

/// The image layout folder as one tar (for `oci-archive` and `docker-archive`).
pub fn tar_folder(dir: &Path, out: &Path, epoch: u64) -> Result<(), Error> {
    let file = std::fs::File::create(out).map_err(crate::error::io(out))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    tar.mode(tar::HeaderMode::Deterministic);
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.map_err(|e| crate::error::io(dir)(std::io::Error::other(e)))?;
        let rel = e.path().strip_prefix(dir).expect("under the folder");
        if rel.as_os_str().is_empty() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mtime(epoch);
        h.set_uid(0);
        h.set_gid(0);
        if e.file_type().is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, rel, std::io::empty())
                .map_err(crate::error::io(out))?;
        } else {
            let f = std::fs::File::open(e.path()).map_err(crate::error::io(e.path()))?;
            let len = f.metadata().map_err(crate::error::io(e.path()))?.len();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(len);
            tar.append_data(&mut h, rel, f)
                .map_err(crate::error::io(out))?;
        }
    }
    let mut inner = tar.into_inner().map_err(crate::error::io(out))?;
    inner.flush().map_err(crate::error::io(out))?;
    Ok(())
}
