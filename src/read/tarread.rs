//! The one reader of bundle tarballs: `rvenv verify`, `check`, `inspect` and `freeze` stream a
//! tarball (gzip, zstd or plain) through it once and never extract it. Every member is
//! checked before its caller sees it, and the first unsafe one stops the read with an error
//! naming it; nothing is followed and nothing is written.
//!
//! The tree is the archive's single top-level directory (a bundle has exactly one). Refused:
//! - names that are absolute or have a `..` component;
//! - character and block devices, FIFOs, and any member type other than a file, directory,
//!   symlink or hard link;
//! - a top-level member that is not a directory, and a member under a symlink or a file
//!   (an extractor would write through the symlink);
//! - symlinks that are empty, absolute, or whose target, resolved lexically from the
//!   member's directory, leaves the tree; then, once every member is known, symlinks that
//!   leave it through other symlinks of the archive (`a -> s/..` with `s -> .`);
//! - hard links whose target is absolute, has `..`, is outside the tree, or is not an
//!   earlier regular file (or hard link to one) of the archive;
//! - a name stored twice with a different type or content. The same directory twice, the
//!   same file twice with identical bytes, or the same link twice to the same target is
//!   accepted (as `tar -x` would leave the same result).

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] super::ReadError),
    #[error("{path}: not a readable {compression}tar archive: {source}")]
    NotATar {
        path: PathBuf,
        compression: &'static str,
        source: io::Error,
    },
    #[error("{archive}: cannot read its member {member}: {source}")]
    Member {
        archive: PathBuf,
        member: String,
        source: io::Error,
    },
    #[error("{archive}: refused member {member}: {reason}")]
    Unsafe {
        archive: PathBuf,
        member: String,
        reason: String,
    },
    #[error("{path}: not an rvenv bundle: {reason}")]
    NotABundle { path: PathBuf, reason: String },
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Unsafe { .. } => Some(
                "rvenv never writes such a member; this archive was not made by `rvenv bundle` \
                 or was altered since (nothing was extracted)",
            ),
            Error::NotATar { .. } | Error::NotABundle { .. } => Some(
                "give an extracted bundle's top-level directory or a tarball written by \
                 `rvenv bundle` (one top-level directory holding rvenv.json)",
            ),
            Error::Read(e) if e.source.kind() == io::ErrorKind::NotFound => Some(
                "give the path of an extracted bundle's top-level directory or of a bundle tarball",
            ),
            _ => None,
        }
    }
}

/// What a member is, as its caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// The target as written.
    Symlink(PathBuf),
    /// The earlier file it names, relative to the top-level directory.
    HardLink(PathBuf),
}

/// One member that passed the checks.
#[derive(Debug, Clone)]
pub struct Member {
    /// The name as stored, for messages.
    pub name: PathBuf,
    /// Relative to the top-level directory; never empty (the directory itself is not passed).
    pub path: PathBuf,
    pub kind: Kind,
    /// The content's size (0 but for files).
    pub size: u64,
    /// A file with an execute bit (bundles store 0755 or 0644).
    pub executable: bool,
}

/// The archive as a whole, once read.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The top-level directory's name (empty when the archive has no member).
    pub root: OsString,
    /// "gzip-compressed ", "zstd-compressed " or "".
    pub compression: &'static str,
}

/// A member's content as its caller reads it: hashed on the way, so a name stored twice can
/// be compared without keeping the first copy.
pub struct Content<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    sha256: Option<[u8; 32]>,
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sha256.is_some() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl Content<'_> {
    /// Reads what is left and returns the sha256 of the whole content.
    pub fn sha256(&mut self) -> io::Result<[u8; 32]> {
        if let Some(sha) = self.sha256 {
            return Ok(sha);
        }
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.inner.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let sha: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        self.sha256 = Some(sha);
        Ok(sha)
    }
}

/// What the reader remembers of each path of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    File {
        size: u64,
        sha256: [u8; 32],
    },
    /// A directory member, or one implied by the members under it.
    Dir,
    Symlink(PathBuf),
    HardLink(PathBuf),
}

impl Seen {
    fn what(&self) -> &'static str {
        match self {
            Seen::File { .. } => "a file",
            Seen::Dir => "a directory",
            Seen::Symlink(_) => "a symlink",
            Seen::HardLink(_) => "a hard link",
        }
    }
}

/// Reads the tarball at `path`; `visit` sees every member that passed the checks, in archive
/// order, with its content (empty for all but files). An error from `visit` is reported as
/// an error reading that member.
pub fn read(
    path: &Path,
    visit: impl FnMut(&Member, &mut Content) -> io::Result<()>,
) -> Result<Archive, Error> {
    read_from(open(path)?, path, visit)
}

/// The tarball at `path`, opened for [`read_from`]: the one way `check`, `verify`, `inspect`
/// and `freeze` open a bundle that is a file.
pub fn open(path: &Path) -> Result<io::BufReader<std::fs::File>, super::ReadError> {
    let file = std::fs::File::open(path).map_err(super::read_error(path))?;
    Ok(io::BufReader::with_capacity(1 << 20, file))
}

/// As `read`, from any stream; `path` names it in messages.
pub fn read_from<R: io::BufRead + 'static>(
    reader: R,
    path: &Path,
    mut visit: impl FnMut(&Member, &mut Content) -> io::Result<()>,
) -> Result<Archive, Error> {
    let (stream, compression) =
        crate::compress::decoder(reader).map_err(super::read_error(path))?;
    // A stream that is not tar (or is damaged) fails on a header or in the decompressor;
    // other errors are the file's.
    let as_tar = |source: io::Error| match source.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => Error::NotATar {
            path: path.to_path_buf(),
            compression,
            source,
        },
        _ => super::read_error(path)(source).into(),
    };
    let mut checker = Checker {
        archive: path,
        root: None,
        seen: HashMap::new(),
    };
    let mut tar = tar::Archive::new(stream);
    for entry in tar.entries().map_err(as_tar)? {
        let mut entry = entry.map_err(as_tar)?;
        let name = entry.path().map_err(as_tar)?.into_owned();
        let link = entry.link_name().map_err(as_tar)?.map(|l| l.into_owned());
        let kind = entry.header().entry_type();
        let Some(mut member) = checker.check(&name, kind, link, entry.size())? else {
            continue;
        };
        member.executable =
            member.kind == Kind::File && entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        let member_error = |source| Error::Member {
            archive: path.to_path_buf(),
            member: name.to_string_lossy().into_owned(),
            source,
        };
        let mut empty = io::empty();
        let inner: &mut dyn Read = if member.kind == Kind::File {
            &mut entry
        } else {
            &mut empty
        };
        let mut content = Content {
            inner,
            hasher: Sha256::new(),
            sha256: None,
        };
        visit(&member, &mut content).map_err(member_error)?;
        let sha256 = content.sha256().map_err(member_error)?;
        checker.record(&member, sha256)?;
    }
    checker.finish()?;
    Ok(Archive {
        root: checker.root.unwrap_or_default(),
        compression,
    })
}

/// The checks, member by member, and what they remember.
struct Checker<'a> {
    archive: &'a Path,
    root: Option<OsString>,
    seen: HashMap<PathBuf, Seen>,
}

impl Checker<'_> {
    fn refuse(&self, name: &Path, reason: impl Into<String>) -> Error {
        Error::Unsafe {
            archive: self.archive.to_path_buf(),
            member: name.to_string_lossy().into_owned(),
            reason: reason.into(),
        }
    }

    /// The member's path inside the tree, or the reason it is refused; `None` for the
    /// top-level directory itself and metadata-only members.
    fn check(
        &mut self,
        name: &Path,
        kind: tar::EntryType,
        link: Option<PathBuf>,
        size: u64,
    ) -> Result<Option<Member>, Error> {
        use tar::EntryType as T;
        let mut kind = match kind {
            T::Regular | T::Continuous | T::GNUSparse => Kind::File,
            T::Directory => Kind::Dir,
            T::Symlink => Kind::Symlink(link.clone().unwrap_or_default()),
            T::Link => Kind::HardLink(link.clone().unwrap_or_default()),
            // A pax global header only carries defaults for the members after it.
            T::XGlobalHeader => return Ok(None),
            T::Char => return Err(self.refuse(name, "a character device")),
            T::Block => return Err(self.refuse(name, "a block device")),
            T::Fifo => return Err(self.refuse(name, "a FIFO")),
            other => {
                return Err(self.refuse(
                    name,
                    format!(
                        "a member of type '{}' (not a file, directory or link)",
                        other.as_byte().escape_ascii()
                    ),
                ));
            }
        };
        let parts = self.parts(name, name)?;
        let Some(first) = parts.first() else {
            // `./`: the directory the archive is extracted into.
            if kind == Kind::Dir {
                return Ok(None);
            }
            return Err(self.refuse(name, "names the directory the archive is extracted into"));
        };
        match &self.root {
            None => self.root = Some(first.clone()),
            Some(r) if r == first => {}
            Some(r) => {
                return Err(Error::NotABundle {
                    path: self.archive.to_path_buf(),
                    reason: format!(
                        "more than one top-level directory ({} and {})",
                        r.to_string_lossy(),
                        first.to_string_lossy()
                    ),
                });
            }
        }
        let rel: PathBuf = parts[1..].iter().collect();
        if rel.as_os_str().is_empty() {
            return match kind {
                Kind::Dir => Ok(None),
                Kind::Symlink(_) | Kind::HardLink(_) => Err(self.refuse(
                    name,
                    "the top-level directory is a link (an extractor would write the whole \
                     archive through it)",
                )),
                _ => Err(Error::NotABundle {
                    path: self.archive.to_path_buf(),
                    reason: format!(
                        "{} is a file outside any directory (a bundle has one top-level directory)",
                        name.display()
                    ),
                }),
            };
        }
        // No member may be written through a symlink or under a file.
        for dir in rel.ancestors().skip(1) {
            if dir.as_os_str().is_empty() {
                break;
            }
            match self.seen.get(dir) {
                None | Some(Seen::Dir) => {}
                Some(other) => {
                    return Err(self.refuse(
                        name,
                        format!(
                            "it is under {}, which is {} (an extractor would write through it)",
                            dir.display(),
                            other.what()
                        ),
                    ));
                }
            }
        }
        match &mut kind {
            Kind::Symlink(target) => {
                if target.as_os_str().is_empty() {
                    return Err(self.refuse(name, "a symlink with an empty target"));
                }
                if target.is_absolute() {
                    return Err(self.refuse(
                        name,
                        format!(
                            "a symlink to the absolute path {} (outside the archive)",
                            target.display()
                        ),
                    ));
                }
                if crate::paths::lexical_target(&rel, target).is_none() {
                    return Err(self.refuse(
                        name,
                        format!(
                            "a symlink to {}, which leaves the archive's top-level directory",
                            target.display()
                        ),
                    ));
                }
            }
            Kind::HardLink(target) => {
                let written = target.clone();
                let parts = self.parts(name, &written)?;
                if parts.first() != self.root.as_ref() || parts.len() < 2 {
                    return Err(self.refuse(
                        name,
                        format!(
                            "a hard link to {}, outside the archive's top-level directory",
                            written.display()
                        ),
                    ));
                }
                let to: PathBuf = parts[1..].iter().collect();
                // Through hard links to hard links, to the file they all share.
                let mut at = to.clone();
                for _ in 0..=self.seen.len() {
                    match self.seen.get(&at) {
                        Some(Seen::HardLink(next)) => at = next.clone(),
                        Some(Seen::File { .. }) => break,
                        _ => {
                            return Err(self.refuse(
                                name,
                                format!(
                                    "a hard link to {}, which is not an earlier file of the archive",
                                    written.display()
                                ),
                            ));
                        }
                    }
                }
                *target = to;
            }
            _ => {}
        }
        let size = if kind == Kind::File { size } else { 0 };
        Ok(Some(Member {
            name: name.to_path_buf(),
            path: rel,
            kind,
            size,
            executable: false,
        }))
    }

    /// The normal components of `path` (a member's name or a hard link's target); absolute
    /// paths and `..` are refused, in the name of `member`.
    fn parts(&self, member: &Path, path: &Path) -> Result<Vec<OsString>, Error> {
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => parts.push(n.to_os_string()),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => {
                    let what = if member == path {
                        "name"
                    } else {
                        "link target"
                    };
                    return Err(
                        self.refuse(member, format!("an absolute {what} ({})", path.display()))
                    );
                }
                Component::ParentDir => {
                    let what = if member == path {
                        "name"
                    } else {
                        "link target"
                    };
                    return Err(
                        self.refuse(member, format!("a '..' in its {what} ({})", path.display()))
                    );
                }
            }
        }
        Ok(parts)
    }

    /// Remembers a member once read; a second copy of a name must be the same thing.
    fn record(&mut self, member: &Member, sha256: [u8; 32]) -> Result<(), Error> {
        let new = match &member.kind {
            Kind::File => Seen::File {
                size: member.size,
                sha256,
            },
            Kind::Dir => Seen::Dir,
            Kind::Symlink(t) => Seen::Symlink(t.clone()),
            Kind::HardLink(t) => Seen::HardLink(t.clone()),
        };
        if let Some(old) = self.seen.get(&member.path)
            && *old != new
        {
            let reason = if std::mem::discriminant(old) == std::mem::discriminant(&new) {
                let what = if matches!(new, Seen::File { .. }) {
                    "content"
                } else {
                    "targets"
                };
                format!("stored twice with different {what}")
            } else {
                format!("stored twice: as {} and as {}", old.what(), new.what())
            };
            return Err(self.refuse(&member.name, reason));
        }
        // Its directories, up to the first one already known (whose own are known too).
        for dir in member.path.ancestors().skip(1) {
            if dir.as_os_str().is_empty() || self.seen.contains_key(dir) {
                break;
            }
            self.seen.insert(dir.to_path_buf(), Seen::Dir);
        }
        self.seen.insert(member.path.clone(), new);
        Ok(())
    }

    /// Symlinks that stay inside on their own may still leave through another symlink.
    fn finish(&self) -> Result<(), Error> {
        let mut links: Vec<&PathBuf> = self
            .seen
            .iter()
            .filter(|(_, s)| matches!(s, Seen::Symlink(_)))
            .map(|(p, _)| p)
            .collect();
        links.sort();
        for link in links {
            if let Some(through) = leaves_through_links(link, &self.seen) {
                let Some(Seen::Symlink(target)) = self.seen.get(link) else {
                    continue;
                };
                let root = self.root.clone().unwrap_or_default();
                return Err(self.refuse(
                    &Path::new(&root).join(link),
                    format!(
                        "a symlink to {}, which leaves the archive's top-level directory \
                         through the symlink {}",
                        target.display(),
                        through.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What a path of the tree is, as [`resolve_symlink`] needs to know it.
pub enum Node<'a> {
    Absent,
    Dir,
    /// A file, or anything else that cannot be walked through.
    Other,
    Symlink(&'a Path),
}

/// Where a symlink of the tree ends up when followed like the kernel would, component by
/// component, through the tree's other symlinks.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    Inside,
    /// A `..` or an absolute target after the symlink `via` takes the path out of the tree.
    Leaves {
        via: PathBuf,
    },
    Dangles,
    Loops,
}

/// Resolves the symlink at `link` (relative to the tree) whose target is `target`, asking
/// `node` what each path on the way is. Shared by the tar reader (escapes) and verify (escapes,
/// dangling links and loops), so the two cannot disagree about where a link leads.
pub fn resolve_symlink<'a>(
    link: &Path,
    target: &Path,
    node: impl Fn(&Path) -> Node<'a>,
) -> Resolution {
    let mut at = link.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut queue: std::collections::VecDeque<Component> = target.components().collect();
    // The last symlink followed: the one an escape goes through.
    let mut via = link.to_path_buf();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !at.pop() {
                    return Resolution::Leaves { via };
                }
            }
            Component::RootDir | Component::Prefix(_) => return Resolution::Leaves { via },
            Component::Normal(n) => {
                let next = at.join(n);
                match node(&next) {
                    Node::Absent => return Resolution::Dangles,
                    Node::Dir => at = next,
                    Node::Other if queue.is_empty() => at = next,
                    Node::Other => return Resolution::Dangles,
                    Node::Symlink(t) => {
                        // Linux's own limit on symlinks followed in one lookup.
                        hops += 1;
                        if hops > 40 {
                            return Resolution::Loops;
                        }
                        for c in t.components().rev() {
                            queue.push_front(c);
                        }
                        via = next;
                    }
                }
            }
        }
    }
    Resolution::Inside
}

/// `Some(symlink)` when following `link` through the symlinks of `seen` leaves the tree after
/// that symlink. A path not seen is taken as a directory: a later member may still create it,
/// and only escapes are refused here (verify reports dangling links and loops).
fn leaves_through_links(link: &Path, seen: &HashMap<PathBuf, Seen>) -> Option<PathBuf> {
    let Some(Seen::Symlink(target)) = seen.get(link) else {
        return None;
    };
    let node = |p: &Path| match seen.get(p) {
        Some(Seen::Symlink(t)) => Node::Symlink(t),
        _ => Node::Dir,
    };
    match resolve_symlink(link, target, node) {
        Resolution::Leaves { via } => Some(via),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain tar built in memory (the integration tests build real archives with Python).
    fn tar_of(members: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in members {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn read_bytes(bytes: Vec<u8>) -> Result<Vec<(PathBuf, Kind)>, Error> {
        let mut seen = Vec::new();
        read_from(io::Cursor::new(bytes), Path::new("t.tar"), |m, _| {
            seen.push((m.path.clone(), m.kind.clone()));
            Ok(())
        })?;
        Ok(seen)
    }

    fn refused(members: &[(&str, tar::EntryType, &str, &[u8])]) -> String {
        match read_bytes(tar_of(members)) {
            Err(e @ Error::Unsafe { .. }) => e.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    use tar::EntryType as T;

    #[test]
    fn good_members_pass_in_order() {
        let seen = read_bytes(tar_of(&[
            ("app/", T::Directory, "", &b""[..]),
            ("app/bin/", T::Directory, "", &b""[..]),
            ("app/lib/x", T::Regular, "", &b"data"[..]),
            ("app/bin/l", T::Symlink, "../lib/x", &b""[..]),
            ("app/h", T::Link, "app/lib/x", &b""[..]),
            ("app/lib/x", T::Regular, "", &b"data"[..]),
            ("app/bin/", T::Directory, "", &b""[..]),
        ]))
        .unwrap();
        let names: Vec<_> = seen.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            ["bin", "lib/x", "bin/l", "h", "lib/x", "bin"],
            "{seen:?}"
        );
        assert_eq!(seen[3].1, Kind::HardLink("lib/x".into()));
    }

    #[test]
    fn each_unsafe_kind_is_refused_by_name() {
        for (members, words) in [
            (vec![("/app/x", T::Regular, "", &b""[..])], "absolute name"),
            (vec![("app/../x", T::Regular, "", &b""[..])], "'..'"),
            (
                vec![("app/x", T::Symlink, "/etc/passwd", &b""[..])],
                "absolute path",
            ),
            (vec![("app/x", T::Symlink, "../../etc", &b""[..])], "leaves"),
            (vec![("app/x", T::Symlink, "", &b""[..])], "empty target"),
            (
                vec![("app/x", T::Link, "/etc/passwd", &b""[..])],
                "absolute link target",
            ),
            (vec![("app/x", T::Link, "app/../../x", &b""[..])], "'..'"),
            (vec![("app/x", T::Link, "other/x", &b""[..])], "outside"),
            (
                vec![("app/x", T::Link, "app/y", &b""[..])],
                "not an earlier file",
            ),
            (
                vec![("app/x", T::Link, "app/x", &b""[..])],
                "not an earlier file",
            ),
            (vec![("app/x", T::Char, "", &b""[..])], "character device"),
            (vec![("app/x", T::Block, "", &b""[..])], "block device"),
            (vec![("app/x", T::Fifo, "", &b""[..])], "FIFO"),
            (
                vec![("app", T::Symlink, "elsewhere", &b""[..])],
                "top-level directory is a link",
            ),
            (
                vec![
                    ("app/x", T::Regular, "", &b"one"[..]),
                    ("app/x", T::Regular, "", &b"two"[..]),
                ],
                "different content",
            ),
            (
                vec![
                    ("app/x", T::Symlink, "a", &b""[..]),
                    ("app/x", T::Symlink, "b", &b""[..]),
                ],
                "different targets",
            ),
            (
                vec![
                    ("app/d/f", T::Regular, "", &b""[..]),
                    ("app/d", T::Regular, "", &b""[..]),
                ],
                "as a directory and as a file",
            ),
            (
                vec![
                    ("app/d", T::Symlink, "e", &b""[..]),
                    ("app/d/f", T::Regular, "", &b""[..]),
                ],
                "under d, which is a symlink",
            ),
            (
                vec![
                    ("app/s", T::Symlink, ".", &b""[..]),
                    ("app/a", T::Symlink, "s/..", &b""[..]),
                ],
                "through the symlink s",
            ),
        ] {
            let message = refused(&members);
            let name = if words.contains("through") {
                "app/a"
            } else {
                members.last().unwrap().0
            };
            assert!(
                message.contains(&format!("refused member {name}: ")) && message.contains(words),
                "{members:?}: {message}"
            );
        }
    }

    #[test]
    fn not_a_bundle_and_not_a_tar() {
        let e = read_bytes(tar_of(&[
            ("a/x", T::Regular, "", &b""[..]),
            ("b/x", T::Regular, "", &b""[..]),
        ]))
        .unwrap_err();
        assert!(
            e.to_string().contains("more than one top-level directory"),
            "{e}"
        );
        let e = read_bytes(b"not a tar at all, but long enough to fill a header? no".repeat(20))
            .unwrap_err();
        assert!(matches!(e, Error::NotATar { .. }), "{e}");
    }
}
