//! Odd but valid input: each bundles and round-trips exactly. The bundle is extracted by GNU
//! tar and compared with the venv (bytes, modes as rvenv normalises them, symlink targets,
//! file times), and `rvenv verify` accepts it, as a tarball and extracted.

use crate::common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn site(venv: &Path) -> PathBuf {
    venv.join("lib/python3.11/site-packages")
}

/// A name of exactly 255 bytes (the longest Linux allows).
fn long_name() -> String {
    let mut n = "n".repeat(252);
    n.push_str(".py");
    assert_eq!(n.len(), 255);
    n
}

/// Five directories of 60 bytes: a path inside the bundle far over 255 bytes.
fn deep_dir() -> PathBuf {
    (0..5).map(|i| format!("{i}{}", "d".repeat(59))).collect()
}

fn bad_utf8() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9-\xff.txt")
}

/// The shared case: one venv holding every odd name, link, empty entry and mode under
/// `site-packages/odd/`, bundled once as a plain tar and extracted once by GNU tar.
struct Case {
    venv: PathBuf,
    tarball: PathBuf,
    /// The extracted bundle's top directory.
    bundle: PathBuf,
}

fn case() -> &'static Case {
    static CASE: OnceLock<Case> = OnceLock::new();
    CASE.get_or_init(|| {
        let root = shared_scratch().join("odd_input");
        std::fs::create_dir(&root).unwrap();
        let venv = root.join("app");
        make_bare_venv(&venv);
        let odd = site(&venv).join("odd");
        std::fs::create_dir(&odd).unwrap();
        let write = |rel: &Path, bytes: &[u8]| {
            let p = odd.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        // Names.
        write(Path::new("with space.py"), b"SPACE = 1\n");
        write(Path::new("new\nline.txt"), b"newline\n");
        write(Path::new("quote\"d 'both'.txt"), b"quotes\n");
        write(Path::new(bad_utf8()), b"not utf-8 name\n");
        let bad_dir = Path::new(OsStr::from_bytes(b"dir-\xc3\x28"));
        write(
            &bad_dir.join("inner.txt"),
            b"inside a non-UTF-8 directory\n",
        );
        // Lengths.
        write(Path::new(&long_name()), b"LONG = 255\n");
        write(&deep_dir().join("deep.py"), b"DEEP = 1\n");
        // Empty entries.
        write(Path::new("empty.txt"), b"");
        std::fs::create_dir_all(odd.join("emptydir/nested-empty")).unwrap();
        // Modes.
        for (name, mode) in [
            ("owner_x", 0o700),
            ("owner_rw", 0o600),
            ("owner_rwx_others_r", 0o744),
            ("group_x_only", 0o610),
            ("all_x", 0o755),
            ("setuid", 0o4755),
            ("read_only", 0o444),
        ] {
            write(
                Path::new(name),
                format!("#!/bin/sh\necho {name}\n").as_bytes(),
            );
            chmod(&odd.join(name), mode);
        }
        // Links inside the venv.
        write(Path::new("sub/target.txt"), b"target\n");
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, odd.join(name)).unwrap();
        };
        link("link_rel", Path::new("sub/target.txt"));
        link("link_abs", &odd.join("sub/target.txt"));
        link("link_dir", Path::new("sub"));
        link("link_abs_dir", &odd.join("sub"));
        link("link_chain", Path::new("link_rel"));
        link("link_up", Path::new("../odd/with space.py"));
        link("link to space", Path::new("with space.py"));
        let tarball = root.join("app.tar");
        bundle_ok(&venv, &tarball, &["--format", "tar"]);
        let x = root.join("x");
        extract(&tarball, &x);
        Case {
            venv,
            tarball,
            bundle: x.join("app"),
        }
    })
}

fn odd_src() -> PathBuf {
    site(&case().venv).join("odd")
}

fn odd_out() -> PathBuf {
    site(&case().bundle).join("odd")
}

/// What rvenv stores: 0755 for a directory or a file with any execute bit, 0644 for others.
fn normalised(mode: u32, is_dir: bool) -> u32 {
    if is_dir || mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Compares one entry of the venv with the bundle's: kind, bytes, normalised mode, file time.
fn same_entry(src: &Path, out: &Path) {
    let s = src.symlink_metadata().unwrap();
    let o = out
        .symlink_metadata()
        .unwrap_or_else(|e| panic!("{} is not in the bundle: {e}", out.display()));
    let what = out.display();
    if s.file_type().is_symlink() {
        assert!(o.file_type().is_symlink(), "{what} is not a symlink");
        // Stored relative, resolving to the same entry.
        let target = std::fs::read_link(out).unwrap();
        assert!(target.is_relative(), "{what} -> {}", target.display());
        let (rs, ro) = (src.canonicalize().unwrap(), out.canonicalize().unwrap());
        assert_eq!(
            rs.strip_prefix(&case().venv).unwrap(),
            ro.strip_prefix(&case().bundle).unwrap(),
            "{what} resolves elsewhere"
        );
        return;
    }
    assert_eq!(s.is_dir(), o.is_dir(), "{what}: kind");
    assert_eq!(
        o.mode() & 0o7777,
        normalised(s.mode() & 0o7777, s.is_dir()),
        "{what}: mode (venv {:o})",
        s.mode() & 0o7777
    );
    if s.is_file() {
        assert_eq!(
            std::fs::read(src).unwrap(),
            std::fs::read(out).unwrap(),
            "{what}: bytes"
        );
        assert_eq!(s.mtime(), o.mtime(), "{what}: time");
    }
}

/// The relative paths under `dir` (byte for byte), symlinks not followed.
fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

#[test]
fn the_odd_tree_round_trips_exactly() {
    let (src, out) = (odd_src(), odd_out());
    let paths = paths_under(&src);
    assert_eq!(paths, paths_under(&out), "other entries in the bundle");
    assert!(paths.len() > 25, "{paths:?}");
    for rel in &paths {
        same_entry(&src.join(rel), &out.join(rel));
    }
}

#[test]
fn names_with_spaces_newlines_quotes_and_bytes_that_are_not_utf8() {
    let out = odd_out();
    for name in [
        OsStr::new("with space.py"),
        OsStr::new("new\nline.txt"),
        OsStr::new("quote\"d 'both'.txt"),
        bad_utf8(),
    ] {
        same_entry(&odd_src().join(name), &out.join(name));
    }
    let inner = Path::new(OsStr::from_bytes(b"dir-\xc3\x28")).join("inner.txt");
    same_entry(&odd_src().join(&inner), &out.join(&inner));
    // The manifest gives each name: lossy in `path`, byte for byte in `path_base64`.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case().bundle.join("rvenv.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let exact: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|f| f["path_base64"].as_str())
        .map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).unwrap()
        })
        .collect();
    let want = |rel: &Path| {
        Path::new("lib/python3.11/site-packages/odd")
            .join(rel)
            .as_os_str()
            .as_bytes()
            .to_vec()
    };
    assert_eq!(exact.len(), 2, "{exact:?}");
    assert!(exact.contains(&want(Path::new(bad_utf8()))), "{exact:?}");
    assert!(exact.contains(&want(&inner)), "{exact:?}");
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "lib/python3.11/site-packages/odd/new\nline.txt"),
        "the newline name"
    );
}

#[test]
fn verify_accepts_the_bundle_and_compares_names_that_are_not_utf8() {
    for path in [&case().tarball, &case().bundle] {
        let o = run(Command::new(RVENV).arg("verify").arg(path));
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    // A copy of the bundle where the file with a non-UTF-8 name changed: verify names it, so
    // that name is compared and not skipped.
    let s = scratch();
    let copy = s.path().join("app");
    run_ok(Command::new("cp").arg("-a").arg(&case().bundle).arg(&copy));
    let changed = site(&copy).join("odd").join(bad_utf8());
    std::fs::write(&changed, b"not utf-8 NAME\n").unwrap();
    let o = run(Command::new(RVENV).arg("verify").arg(&copy));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(
            "changed  lib/python3.11/site-packages/odd/caf\u{fffd}-\u{fffd}.txt: content differs"
        ),
        "{}",
        stdout(&o)
    );
    // And a file of the same lossy name but other bytes is not taken for it.
    std::fs::remove_file(&changed).unwrap();
    std::fs::write(
        site(&copy).join("odd").join("caf\u{fffd}-\u{fffd}.txt"),
        b"not utf-8 name\n",
    )
    .unwrap();
    let o = run(Command::new(RVENV).arg("verify").arg(&copy));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("missing  lib/python3.11/site-packages/odd/caf"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("extra    lib/python3.11/site-packages/odd/caf"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_255_byte_name_and_a_path_over_255_bytes() {
    let name = long_name();
    same_entry(&odd_src().join(&name), &odd_out().join(&name));
    let deep = deep_dir().join("deep.py");
    let in_bundle = Path::new("app/lib/python3.11/site-packages/odd").join(&deep);
    assert!(in_bundle.as_os_str().len() > 255);
    same_entry(&odd_src().join(&deep), &odd_out().join(&deep));
    // GNU tar lists the full names (stored as GNU long-name records).
    let list = run_ok(Command::new("tar").arg("-tf").arg(&case().tarball));
    assert!(list.lines().any(|l| l.ends_with(&name)), "{name}");
    assert!(
        list.lines().any(|l| l == in_bundle.to_str().unwrap()),
        "{}",
        in_bundle.display()
    );
}

#[test]
fn symlinks_inside_the_venv_are_kept_relative() {
    let out = odd_out();
    let target = |n: &str| std::fs::read_link(out.join(n)).unwrap();
    // Relative links as written; links through other links and absolute ones rewritten to
    // the relative path of what they resolve to.
    assert_eq!(target("link_rel"), Path::new("sub/target.txt"));
    assert_eq!(target("link_abs"), Path::new("sub/target.txt"));
    assert_eq!(target("link_dir"), Path::new("sub"));
    assert_eq!(target("link_abs_dir"), Path::new("sub"));
    assert_eq!(target("link_chain"), Path::new("sub/target.txt"));
    assert_eq!(target("link_up"), Path::new("with space.py"));
    assert_eq!(target("link to space"), Path::new("with space.py"));
    assert_eq!(
        std::fs::read(out.join("link_dir/target.txt")).unwrap(),
        b"target\n"
    );
    for n in [
        "link_rel",
        "link_abs",
        "link_dir",
        "link_abs_dir",
        "link_chain",
        "link_up",
    ] {
        same_entry(&odd_src().join(n), &out.join(n));
    }
}

#[test]
fn empty_files_and_directories() {
    let out = odd_out();
    assert_eq!(out.join("empty.txt").metadata().unwrap().len(), 0);
    assert!(out.join("emptydir/nested-empty").is_dir());
    assert_eq!(
        std::fs::read_dir(out.join("emptydir/nested-empty"))
            .unwrap()
            .count(),
        0
    );
    same_entry(&odd_src().join("empty.txt"), &out.join("empty.txt"));
}

#[test]
fn modes_are_normalised() {
    let out = odd_out();
    for (name, stored) in [
        ("owner_x", 0o755),
        ("owner_rw", 0o644),
        ("owner_rwx_others_r", 0o755),
        ("group_x_only", 0o755),
        ("all_x", 0o755),
        ("setuid", 0o755),
        ("read_only", 0o644),
    ] {
        let mode = out.join(name).metadata().unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, stored, "{name}: {mode:o}");
    }
    // Entries are owned by root in the tarball (uid/gid 0, no names).
    let list = run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&case().tarball),
    );
    let line = list.lines().find(|l| l.ends_with("/odd/owner_x")).unwrap();
    assert!(line.starts_with("-rwxr-xr-x 0/0 "), "{line}");
}

/// /dev/shm (a tmpfs) when there is one, else the temporary directory.
fn shm_or_tmp() -> PathBuf {
    if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

/// 50,000 files in one directory (on /dev/shm when there is one).
#[test]
fn fifty_thousand_files_in_one_directory() {
    let s = tempfile::Builder::new()
        .prefix("rvenv-test-many-")
        .tempdir_in(shm_or_tmp())
        .unwrap();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let many = site(&venv).join("many");
    std::fs::create_dir(&many).unwrap();
    const N: usize = 50_000;
    for i in 0..N {
        std::fs::write(many.join(format!("m{i:05}.py")), format!("N = {i}\n")).unwrap();
    }
    let tarball = s.path().join("app.tar");
    bundle_ok(&venv, &tarball, &["--format", "tar"]);
    let x = s.path().join("x");
    extract(&tarball, &x);
    let out = site(&x.join("app")).join("many");
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(names.len(), N);
    for i in (0..N).step_by(997).chain([N - 1]) {
        let name = format!("m{i:05}.py");
        assert_eq!(
            std::fs::read_to_string(out.join(&name)).unwrap(),
            format!("N = {i}\n")
        );
    }
    let o = run(Command::new(RVENV).arg("verify").arg(x.join("app")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("all "), "{}", stdout(&o));
}

/// A sparse file of more than 8 GiB (past the 11 octal digits of a ustar size field): the tar
/// header carries its size, the bytes round-trip. It costs no disk: the file is sparse, the
/// zstd tarball of its zeros is small, and the extracted copy is streamed (`tar -xO`) and
/// checked as it passes, never written. The machine must have 1 GiB free on /dev/shm or in
/// TMPDIR, on a file system that keeps files sparse (tmpfs, ext4, xfs, btrfs do): the test
/// fails, saying so, where it has not.
#[test]
fn a_sparse_file_larger_than_8_gib() {
    use std::io::{Read, Seek, SeekFrom, Write};
    // tmpfs reads a hole without allocating page cache for it (ext4 fills 8 GiB of it): /dev/shm
    // first, TMPDIR where /dev/shm is missing or small (a container's is often 64 MiB).
    let free = |dir: &Path| {
        let st = rustix::fs::statvfs(dir).unwrap();
        st.f_bavail * st.f_frsize
    };
    let places = [PathBuf::from("/dev/shm"), std::env::temp_dir()];
    let place = places
        .iter()
        .find(|dir| dir.is_dir() && free(dir) >= 1 << 30)
        .unwrap_or_else(|| {
            let said: Vec<String> = places
                .iter()
                .filter(|dir| dir.is_dir())
                .map(|dir| format!("{} MiB free under {}", free(dir) >> 20, dir.display()))
                .collect();
            panic!(
                "this test needs 1 GiB free on /dev/shm or in TMPDIR (for the venv with a \
                 sparse 8 GiB file, and its bundle): {}",
                said.join(", ")
            )
        });
    let s = tempfile::Builder::new()
        .prefix("rvenv-test-sparse-")
        .tempdir_in(place)
        .unwrap();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let huge = site(&venv).join("huge.bin");
    const SIZE: u64 = (8 << 30) + 4096 + 17;
    let marks: [(u64, &[u8]); 3] = [(0, b"HEAD"), (4 << 30, b"MIDDLE"), (SIZE - 4, b"TAIL")];
    {
        let mut f = std::fs::File::create(&huge).unwrap();
        f.set_len(SIZE).unwrap();
        for (at, bytes) in marks {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(bytes).unwrap();
        }
    }
    let used = huge.metadata().unwrap().blocks() * 512;
    assert!(
        used <= 64 << 20,
        "this test needs a file system that keeps files sparse: {} does not ({used} bytes used \
         by an 8 GiB file with 14 bytes written)",
        s.path().display()
    );
    let tarball = s.path().join("app.tar.zst");
    bundle_ok(&venv, &tarball, &[]);
    assert!(
        tarball.metadata().unwrap().len() < 64 << 20,
        "the zeros did not compress"
    );
    // verify hashes the 8 GiB again from the tarball, meanwhile.
    let verify = Command::new(RVENV)
        .arg("verify")
        .arg(&tarball)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The member then the manifest, streamed in one pass (1 MiB records: GNU tar writes to the
    // pipe in pieces of its record size): the member's length, the marks, zeros everywhere
    // else; the manifest's row for it.
    let mut child = Command::new("tar")
        .args(["-b", "2048", "-xOf"])
        .arg(&tarball)
        .arg("app/lib/python3.11/site-packages/huge.bin")
        .arg("app/rvenv.json")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = child.stdout.take().unwrap();
    let zeros = vec![0u8; 4 << 20];
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0u64;
    let mut marks_seen = 0;
    let mut manifest = Vec::new();
    loop {
        let want = (SIZE - at).min(buf.len() as u64) as usize;
        if want == 0 {
            stream.read_to_end(&mut manifest).unwrap();
            break;
        }
        let n = stream.read(&mut buf[..want]).unwrap();
        assert!(n > 0, "the member ends at {at} of {SIZE} bytes");
        let chunk = &mut buf[..n];
        for (m, bytes) in marks {
            for (k, b) in bytes.iter().enumerate() {
                let p = m + k as u64;
                if p >= at && p < at + n as u64 {
                    assert_eq!(chunk[(p - at) as usize], *b, "byte {p}");
                    chunk[(p - at) as usize] = 0;
                    marks_seen += 1;
                }
            }
        }
        assert!(chunk == &zeros[..n], "other bytes near offset {at}");
        at += n as u64;
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(marks_seen, 4 + 6 + 4);
    let manifest = String::from_utf8(manifest).unwrap();
    assert!(
        manifest.contains(&format!(
            "\"path\":\"lib/python3.11/site-packages/huge.bin\",\"size\":{SIZE},"
        )),
        "{manifest}"
    );
    let o = verify.wait_with_output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
