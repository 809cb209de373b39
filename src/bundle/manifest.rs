//! What the board learns about a bundle: the manifest stored in it (`rvenv.json`).

use super::archive::{Digest, FileDigest};
use super::plan::Plan;
use crate::python::venv::Venv;
use crate::target::Target;
use serde::Serialize;
use std::fmt::Write as _;

pub use crate::read::MANIFEST;

#[derive(Debug, Serialize)]
struct ManifestHead<'a> {
    rvenv_version: &'static str,
    target: &'a str,
    python: PythonInfo,
    arcroot: &'a str,
}

#[derive(Debug, Serialize)]
struct PythonInfo {
    implementation: &'static str,
    version: String,
    interpreter: String,
}

/// `rvenv.json`: every other file of the bundle with its size and sha256, one JSON object per
/// line inside one document. It is produced piece by piece as it is stored, so a venv of any
/// number of files never holds the whole document in memory.
pub struct Manifest<'a> {
    head: Vec<u8>,
    plan: &'a Plan,
    files: &'a [FileDigest],
}

impl<'a> Manifest<'a> {
    pub fn new(plan: &'a Plan, digest: &'a Digest, venv: &Venv, target: &Target) -> Manifest<'a> {
        let head = ManifestHead {
            rvenv_version: env!("CARGO_PKG_VERSION"),
            target: &target.name,
            python: PythonInfo {
                implementation: "CPython",
                version: venv.version.full.clone(),
                interpreter: format!("python/bin/{}", venv.version.exe_name()),
            },
            arcroot: &plan.arcroot,
        };
        let mut head = serde_json::to_vec(&head).expect("manifest head serialises");
        head.pop(); // the closing brace: the file list follows
        head.extend_from_slice(b",\"files\":[");
        Manifest {
            head,
            plan,
            files: &digest.files,
        }
    }

    /// Piece `i` of the document: the head, one line per file, then the end.
    fn piece(&self, i: usize, out: &mut Vec<u8>) -> bool {
        out.clear();
        if i == 0 {
            out.extend_from_slice(&self.head);
        } else if let Some(f) = self.files.get(i - 1) {
            out.extend_from_slice(if i == 1 { b"\n" } else { b",\n" });
            let path = self.plan.entries[f.entry].path.as_os_str();
            out.extend_from_slice(b"{\"path\":");
            serde_json::to_writer(&mut *out, &path.to_string_lossy()).expect("a string serialises");
            // JSON strings are Unicode: a name that is not UTF-8 is also given byte for byte.
            if path.to_str().is_none() {
                use base64::Engine as _;
                use std::os::unix::ffi::OsStrExt as _;
                let exact = base64::engine::general_purpose::STANDARD.encode(path.as_bytes());
                let _ = write!(PieceWriter(out), ",\"path_base64\":\"{exact}\"");
            }
            let _ = write!(
                PieceWriter(out),
                ",\"size\":{},\"sha256\":\"{}\"}}",
                f.size,
                hex::encode(f.sha256)
            );
        } else if i == self.files.len() + 1 {
            out.extend_from_slice(b"\n]}\n");
        } else {
            return false;
        }
        true
    }

    /// The document's length in bytes (the tar header needs it before the content).
    pub fn len(&self) -> u64 {
        let mut buf = Vec::new();
        let mut len = 0;
        for i in 0.. {
            if !self.piece(i, &mut buf) {
                break;
            }
            len += buf.len() as u64;
        }
        len
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The document as a reader.
    pub fn reader(&self) -> ManifestReader<'_, 'a> {
        ManifestReader {
            manifest: self,
            next: 0,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// The whole document (for tests and small bundles).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut self.reader(), &mut out).expect("memory reads");
        out
    }
}

/// `write!` into a byte buffer.
struct PieceWriter<'b>(&'b mut Vec<u8>);

impl std::fmt::Write for PieceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub struct ManifestReader<'m, 'a> {
    manifest: &'m Manifest<'a>,
    next: usize,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for ManifestReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            if !self.manifest.piece(self.next, &mut self.buf) {
                return Ok(0);
            }
            self.next += 1;
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
