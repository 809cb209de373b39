//! `rvenv inspect`: what a venv, an extracted bundle or a bundle tarball holds, read without
//! running anything (the interpreter may be for another CPU) and without extracting a tarball
//! (its stream is read once).
//!
//! A venv is inspected as `rvenv bundle` would pack it (the plan: its files, the interpreter
//! and standard library under `python/`, the rewrites), so sizes, binaries and leaks are those
//! of the bundle it would make; its `bin/` scripts are classified as they are in the venv.
//! Every file is recognised by its first bytes: binaries go to `elf::inspect`; text files (no
//! NUL byte) are scanned for the absolute paths they contain, matched at the end against the
//! build machine's paths, which a bundle no longer names but still carries in its compiled
//! bytecode (`co_filename`) and the base's `_sysconfigdata`.

pub mod probe;

mod freeze;
mod gather;
mod model;
mod render;
mod report;
mod scan;

pub use freeze::distributions;
pub use model::{
    ArchRow, BundleChanges, Editable, ElfSummary, Foreign, Inspection, Leak, Malformed, Needs,
    Package, Python, Rewritten, Script, Scripts, SizeRow, Sizes, TargetInfo,
};
pub(crate) use report::of_tarball_from;
pub use report::{Context, of_bundle, of_venv};

use crate::python::{dist, venv};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::read::ReadError),
    #[error(
        "{0}: neither a venv (no pyvenv.cfg) nor an rvenv bundle (no rvenv.json) nor a tarball of one"
    )]
    NotAnEnvironment(PathBuf),
    #[error("{0}: no lib/python3.X/site-packages in it")]
    NoSitePackages(PathBuf),
    #[error(transparent)]
    Venv(#[from] venv::Error),
    #[error(transparent)]
    Dist(#[from] dist::Error),
    #[error(transparent)]
    Archive(#[from] crate::read::tarread::Error),
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Archive(e @ crate::read::tarread::Error::Unsafe { .. }) => e.hint(),
            Error::NotAnEnvironment(_) | Error::NoSitePackages(_) | Error::Archive(_) => Some(
                "give a venv's directory (holding pyvenv.cfg), an extracted bundle's top-level \
                 directory (holding rvenv.json) or a bundle tarball",
            ),
            Error::Venv(e) => e.hint(),
            _ => None,
        }
    }
}

use crate::read::read_error;

/// What kind of thing a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Venv,
    Bundle,
    Tarball,
}

/// A directory holding `rvenv.json` is a bundle, one holding `pyvenv.cfg` a venv; a file is
/// read as a tarball.
pub fn layout(path: &Path) -> Result<Layout, Error> {
    let meta = std::fs::metadata(path).map_err(read_error(path))?;
    if !meta.is_dir() {
        return Ok(Layout::Tarball);
    }
    if path.join(crate::read::MANIFEST).is_file() {
        Ok(Layout::Bundle)
    } else if path.join("pyvenv.cfg").is_file() {
        Ok(Layout::Venv)
    } else {
        Err(Error::NotAnEnvironment(path.to_path_buf()))
    }
}
