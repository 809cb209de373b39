//! Reading what rvenv wrote: `tarread` is the one checked reader of bundle tarballs,
//! `contents` gives `rvenv check` the binaries of a bundle (directory or tarball), and
//! `verify` compares a bundle with its manifest.

pub mod contents;
pub mod tarread;
pub mod verify;

/// The manifest every bundle carries at its root: every other file with its size and sha256.
pub const MANIFEST: &str = "rvenv.json";

/// A file of a bundle (or the bundle itself) that cannot be read: `PATH: cannot be read: cause`.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot be read: {source}", path.display())]
pub struct ReadError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: `path` cannot be read.
pub fn read_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError {
        path: path.to_path_buf(),
        source,
    }
}

/// The one walk of a bundle that is a directory (`check`, `verify`, `inspect`): every entry
/// under `root` with its path relative to `root` (the root itself first, as ""), sorted by
/// name, symlinks not followed.
pub fn walk(
    root: &std::path::Path,
) -> impl Iterator<Item = Result<(std::path::PathBuf, walkdir::DirEntry), ReadError>> + '_ {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(move |item| {
            let item = item.map_err(|e| ReadError {
                path: e.path().unwrap_or(root).to_path_buf(),
                source: e.into(),
            })?;
            let rel = item
                .path()
                .strip_prefix(root)
                .expect("the walk stays under its root")
                .to_path_buf();
            Ok((rel, item))
        })
}
