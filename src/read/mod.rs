//! Reading what rvenv wrote: `tarread` is the one checked reader of bundle tarballs,
//! `contents` gives `rvenv check` the binaries of a bundle (directory or tarball), and
//! `verify` compares a bundle with its manifest.

pub mod contents;
pub mod tarread;
pub mod verify;

/// The manifest every bundle carries at its root: every other file with its size and sha256.
pub const MANIFEST: &str = "rvenv.json";
