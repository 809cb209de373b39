//! Reading archives safely: `rvenv verify`, `check`, `inspect` and `freeze` on tarballs with
//! members rvenv never writes (absolute and `..` names, symlinks and hard links out of the
//! tree, members written through a symlink, devices, FIFOs, a name stored twice with other
//! content). Each is a real bundle made by `rvenv bundle` with the unsafe members inserted by
//! Python's tarfile (tests/fixtures/unsafe_tar.py), as plain tar, gzip and zstd. Each must be
//! refused with exit 2 and one error line naming the member; nothing may be created anywhere,
//! in particular where a naive extractor would have written (the canary directory).

use crate::common::*;
use std::path::Path;
use std::process::Command;

const FORMATS: [&str; 3] = ["tar", "tar.gz", "tar.zst"];
const COMMANDS: [&str; 4] = ["verify", "check", "inspect", "freeze"];

/// Path → kind, size, mode and modification time of everything under `root`: what would show
/// a file created, replaced or written to (without hashing the many large tarballs).
fn tree_listing(root: &Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            let what = format!(
                "{:?} {} {:o} {}.{}",
                m.file_type(),
                m.len(),
                m.mode(),
                m.mtime(),
                m.mtime_nsec()
            );
            (e.path().to_path_buf(), what)
        })
        .collect()
}

fn rvenv_in(dir: &Path, command: &str, archive: &Path) -> std::process::Output {
    run(Command::new(RVENV)
        .current_dir(dir)
        .arg(command)
        .arg(archive))
}

#[test]
fn unsafe_members_are_refused_and_nothing_is_written() {
    let s = scratch();
    let venv = s.path().join("app");
    // With pip, so `rvenv freeze` has packages to list.
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let base = s.path().join("app.tar");
    // Smaller without bytecode and the standard library's tests: each kind is written three
    // times, and some are read to the end by all four commands.
    let small = ["-q", "--no-pycache", "--strip-tests"];
    bundle_ok(&venv, &base, &small);
    let evil = s.path().join("evil");
    let canary = s.path().join("canary");
    let work = s.path().join("work");
    for d in [&evil, &canary, &work] {
        std::fs::create_dir(d).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unsafe_tar.py");
    let listing = run_ok(
        Command::new(SYSTEM_PYTHON)
            .arg(script)
            .arg(&base)
            .arg(&evil)
            .arg(&canary),
    );
    let cases: Vec<(String, String, String)> = listing
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t').map(str::to_string);
            (f.next().unwrap(), f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    // Every kind the issue names is among them.
    let kinds: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    for kind in [
        "absolute-name",
        "dotdot-name",
        "symlink-absolute",
        "symlink-leaves",
        "symlink-through-symlink",
        "under-symlink",
        "hardlink-absolute",
        "hardlink-outside",
        "hardlink-other-tree",
        "hardlink-later",
        "char-device",
        "block-device",
        "fifo",
        "duplicate-different",
        "duplicate-type",
        "duplicate-identical",
    ] {
        assert!(kinds.contains(&kind), "{kind} not made: {kinds:?}");
    }

    let before = tree_listing(s.path());
    for (kind, member, words) in &cases {
        for format in FORMATS {
            let archive = evil.join(format!("{kind}.{format}"));
            for command in COMMANDS {
                let out = rvenv_in(&work, command, &archive);
                let err = stderr(&out);
                let what = format!("{command} {}", archive.display());
                if kind == "duplicate-identical" {
                    // The same bytes twice under one name: what `tar -x` leaves is the bundle.
                    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
                    continue;
                }
                assert_eq!(out.status.code(), Some(2), "{what}: {err}");
                assert!(out.stdout.is_empty(), "{what}: {}", stdout(&out));
                let mut lines = err.lines();
                let first = lines.next().unwrap_or("");
                let want = format!("error: {}: refused member {member}: ", archive.display());
                assert!(
                    first.starts_with(&want) && first.contains(words.as_str()),
                    "{what}: want {want:?} and {words:?}, got:\n{err}"
                );
                let rest: Vec<&str> = lines.collect();
                assert!(
                    !rest.is_empty() && rest.iter().all(|l| l.starts_with("hint: ")),
                    "{what}: one error line, then its hint:\n{err}"
                );
            }
        }
    }
    // Nothing was written: not in the canary directory a naive extractor would have written
    // into, not where rvenv ran, not beside the archives.
    assert_same_tree(
        &before,
        &tree_listing(s.path()),
        "the scratch directory changed",
    );
    assert_eq!(std::fs::read_dir(&canary).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);

    // The bundle itself, in each format, still passes all four.
    for format in FORMATS {
        let good = s.path().join(format!("good.{format}"));
        bundle_ok(&venv, &good, &small);
        for command in COMMANDS {
            let out = rvenv_in(&work, command, &good);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{command} {format}: {}",
                stderr(&out)
            );
        }
    }
}

/// A compressed tarball can hold a huge member in a small file: a manifest of 300 MiB (300
/// KiB as gzip) is refused by its size, not read into memory.
#[test]
fn a_huge_manifest_is_refused_unread() {
    let s = scratch();
    let bomb = s.path().join("bomb.tar.gz");
    let script = r#"
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k; return k
with tarfile.open(sys.argv[1], "w:gz", compresslevel=1) as t:
    d = tarfile.TarInfo("app"); d.type = tarfile.DIRTYPE; t.addfile(d)
    m = tarfile.TarInfo("app/rvenv.json"); m.size = 300 << 20
    t.addfile(m, io.BufferedReader(Zeros(m.size)))
"#;
    run_ok(Command::new(SYSTEM_PYTHON).args(["-c", script]).arg(&bomb));
    assert!(std::fs::metadata(&bomb).unwrap().len() < 4 << 20);
    // Its peak memory, as its parent sees it (the only child of this Python).
    let measure = "import resource, subprocess, sys\n\
        code = subprocess.run(sys.argv[1:]).returncode\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
        sys.exit(code)\n";
    let out = run(Command::new(SYSTEM_PYTHON)
        .args(["-c", measure, RVENV, "verify"])
        .arg(&bomb));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}: not a manifest written by rvenv: 314572800 bytes, more than any manifest",
            bomb.join("app/rvenv.json").display()
        )),
        "{err}"
    );
    let rss: u64 = stdout(&out).trim().parse().expect("the peak in KiB");
    assert!(rss < 100 << 10, "verify used {rss} KiB");
}
