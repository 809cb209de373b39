//! What `rvenv check` needs of an existing environment (an extracted bundle or a bundle
//! tarball): every binary, inspected, and every path present.

use super::tarread;
use crate::elf;
use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::read::ReadError),
    #[error(transparent)]
    Archive(#[from] tarread::Error),
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Archive(e) => e.hint(),
            Error::Read(_) => None,
        }
    }
}

/// The binaries of an existing environment (an extracted bundle or a bundle tarball), for
/// `rvenv check`: what each binary is, and every path present, relative to the root.
#[derive(Debug, Default)]
pub struct Contents {
    pub binaries: Vec<(PathBuf, elf::Inspection)>,
    /// Files and directories, and the symlinks that lead to one of them inside the tree.
    pub present: HashSet<PathBuf>,
}

/// Adds the symlinks (path → target as written) that resolve, inside the tree, to something
/// present: a dangling link, or one leaving the tree, does not make a library "found".
fn add_resolved_links(present: &mut HashSet<PathBuf>, links: &[(PathBuf, PathBuf)]) {
    let map: std::collections::HashMap<&Path, &Path> = links
        .iter()
        .map(|(l, t)| (l.as_path(), t.as_path()))
        .collect();
    for (link, _) in links {
        let mut at = link.clone();
        for _ in 0..40 {
            match map.get(at.as_path()) {
                Some(target) if target.is_relative() => {
                    let joined = at.parent().unwrap_or(Path::new("")).join(target);
                    match crate::paths::normalize(&joined) {
                        Some(next) => at = next,
                        None => break,
                    }
                }
                Some(_) => break, // absolute: leaves the tree
                None => {
                    if present.contains(&at) {
                        present.insert(link.clone());
                    }
                    break;
                }
            }
        }
    }
}

/// Walks a directory (symlinks are not followed).
pub fn read_dir_tree(root: &Path) -> Result<Contents, Error> {
    let mut contents = Contents::default();
    let mut links = Vec::new();
    for item in super::walk(root) {
        let (rel, item) = item?;
        if item.file_type().is_file() {
            let inspection =
                elf::inspect_file(item.path(), &rel).map_err(super::read_error(item.path()))?;
            if let Some(i) = inspection {
                contents.binaries.push((rel.clone(), i));
            }
        }
        if item.path_is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(super::read_error(item.path()))?;
            links.push((rel, target));
        } else {
            contents.present.insert(rel);
        }
    }
    add_resolved_links(&mut contents.present, &links);
    Ok(contents)
}

/// Reads a bundle tarball (gzip, zstd or plain) through the checked reader, without
/// extracting it; paths are relative to its single top-level directory.
pub fn read_tarball(path: &Path) -> Result<Contents, Error> {
    read_tarball_from(tarread::open(path)?, path)
}

/// As `read_tarball`, from a stream (`path` names it in messages).
pub fn read_tarball_from<R: std::io::BufRead + 'static>(
    reader: R,
    path: &Path,
) -> Result<Contents, Error> {
    let mut contents = Contents::default();
    let mut links = Vec::new();
    super::tarread::read_from(reader, path, |member, content| {
        match &member.kind {
            super::tarread::Kind::File => {
                // Only a binary is read whole (as from a directory); the header's size is
                // not trusted for an allocation: the read grows as data comes.
                let mut bytes = Vec::with_capacity(4);
                content.by_ref().take(4).read_to_end(&mut bytes)?;
                if elf::is_binary_magic(&bytes) {
                    bytes.reserve(member.size.min(1 << 20) as usize);
                    content.read_to_end(&mut bytes)?;
                    if let Some(i) = elf::inspect(&member.path, &bytes) {
                        contents.binaries.push((member.path.clone(), i));
                    }
                }
                contents.present.insert(member.path.clone());
            }
            super::tarread::Kind::Symlink(target) => {
                links.push((member.path.clone(), target.clone()));
            }
            _ => {
                contents.present.insert(member.path.clone());
            }
        }
        Ok(())
    })?;
    add_resolved_links(&mut contents.present, &links);
    Ok(contents)
}
