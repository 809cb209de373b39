//! Paths worked out without the file system: the one lexical normaliser, relative paths, the
//! order of a bundle's entries, and where a symlink of a tree leads.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Lexical `a/b/../c` → `a/c`; `None` when it climbs above its start (a relative path leaving
/// its tree, or an absolute one above `/`).
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// An absolute path as the kernel reads it, lexically: `/a/b/../c/.` → `/a/c`, and `/..` is `/`.
pub fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The relative path from directory `from` to `to`, both absolute and resolved.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Where the symlink at `link` (relative to a tree) leads, resolved lexically from its
/// directory: `None` when it leaves the tree (an absolute target, or `..` above the root).
pub fn lexical_target(link: &Path, target: &Path) -> Option<PathBuf> {
    if target.has_root() {
        return None;
    }
    normalize(&link.parent().unwrap_or(Path::new("")).join(target))
}

/// Path order, component by component (parents before their children), as `Path`'s own `Ord`,
/// but comparing bytes with the separator before every other byte: the two agree on the
/// normalised relative paths of a plan, and this one is several times faster on 50,000 paths.
pub fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn lexical_paths() {
        assert_eq!(
            normalize(Path::new("lib/python3.11/site-packages/../../../bin/app")),
            Some(p("bin/app"))
        );
        assert_eq!(normalize(Path::new("a/../../x")), None);
        assert_eq!(normalize(Path::new("/a/../..")), None);
        assert_eq!(normalize_absolute(Path::new("/a/b/../c/.")), p("/a/c"));
        assert_eq!(normalize_absolute(Path::new("/../x")), p("/x"));
        assert_eq!(relative(Path::new("/v"), Path::new("/v/lib")), p("lib"));
        assert_eq!(
            relative(Path::new("/v/lib/x"), Path::new("/v/share/y")),
            p("../../share/y")
        );
        assert_eq!(relative(Path::new("/v/a"), Path::new("/v/a")), p("."));
    }

    #[test]
    fn symlink_targets() {
        assert_eq!(
            lexical_target(&p("bin/x"), &p("../lib/y")),
            Some(p("lib/y"))
        );
        assert_eq!(lexical_target(&p("x"), &p("y/../z")), Some(p("z")));
        assert_eq!(lexical_target(&p("x"), &p("..")), None);
        assert_eq!(lexical_target(&p("a/b/x"), &p("../../..")), None);
        assert_eq!(lexical_target(&p("a/x"), &p("/etc")), None);
    }

    #[test]
    fn parents_sort_before_children() {
        let mut v = vec![p("a-b"), p("a/b"), p("a"), p("a.b")];
        v.sort_by(|a, b| path_order(a, b));
        let mut by_path = v.clone();
        by_path.sort();
        assert_eq!(v, by_path);
    }
}
