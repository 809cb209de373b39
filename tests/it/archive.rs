//! The tarball itself: readable by GNU tar, bsdtar and Python's tarfile alike, deterministic,
//! normalised, with a manifest and requirements that tell the truth.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A venv with pip and the demo package, plus names tar formats trip on: a path over 100 bytes,
/// a 255-byte name, a non-UTF-8 name, spaces and quotes, an empty file and directory, a
/// relative symlink and an owner-only executable.
fn odd_venv(dir: &Path) {
    make_venv(Path::new(SYSTEM_PYTHON), dir);
    let site = dir.join("lib/python3.11/site-packages/odd");
    let deep = site.join("a".repeat(50)).join("b".repeat(50));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep_module.py"), "X = 1\n").unwrap();
    std::fs::write(site.join("n".repeat(255)), "long name\n").unwrap();
    std::fs::write(
        site.join(std::ffi::OsStr::from_bytes(b"caf\xe9 \"quoted\" 'x'.txt")),
        "latin-1 name\n",
    )
    .unwrap();
    std::fs::write(site.join("empty"), "").unwrap();
    std::fs::create_dir(site.join("empty_dir")).unwrap();
    std::os::unix::fs::symlink("empty", site.join("link_to_empty")).unwrap();
    std::fs::write(site.join("owner_exec.sh"), "#!/bin/sh\necho hi\n").unwrap();
    chmod(&site.join("owner_exec.sh"), 0o700);
}

fn python_tar(script: &str, args: &[&Path]) -> String {
    let mut cmd = Command::new(pyenv_python("3.12.1"));
    cmd.arg("-c").arg(script).args(args);
    run_ok(&mut cmd)
}

#[test]
fn gnu_tar_bsdtar_and_tarfile_agree_and_everything_is_normalised() {
    let s = scratch();
    let venv = s.path().join("odd");
    odd_venv(&venv);
    let tarball = s.path().join("odd.tar.gz");
    bundle_ok(&venv, &tarball, &["--arcroot", "app"]);

    // Each reader extracts; the three trees must be identical.
    let gnu = s.path().join("gnu");
    let bsd = s.path().join("bsd");
    let py = s.path().join("py");
    extract(&tarball, &gnu);
    std::fs::create_dir_all(&bsd).unwrap();
    run_ok(
        Command::new("bsdtar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&bsd),
    );
    std::fs::create_dir_all(&py).unwrap();
    python_tar(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t: t.extractall(sys.argv[2], filter='data')",
        &[&tarball, &py],
    );
    let tree = snapshot(&gnu);
    assert_same_tree(&tree, &snapshot(&bsd), "GNU tar and bsdtar disagree");
    assert_same_tree(
        &tree,
        &snapshot(&py),
        "GNU tar and tarfile (filter='data') disagree",
    );
    let site = Path::new("app/lib/python3.11/site-packages/odd");
    for name in [
        site.join("a".repeat(50))
            .join("b".repeat(50))
            .join("deep_module.py"),
        site.join("n".repeat(255)),
        site.join(std::ffi::OsStr::from_bytes(b"caf\xe9 \"quoted\" 'x'.txt")),
        site.join("empty"),
        site.join("empty_dir"),
    ] {
        assert!(tree.contains_key(&name), "{} missing", name.display());
    }
    assert!(tree[&site.join("link_to_empty")].starts_with("link empty "));
    assert!(
        tree[&site.join("owner_exec.sh")].contains("mode 100755"),
        "owner-only exec becomes 0755"
    );

    // Member metadata as Python sees it: one root, sorted, uid/gid 0, no names, fixed modes.
    let listing = python_tar(
        "import json, os, sys, tarfile\n\
         for m in tarfile.open(sys.argv[1]):\n    \
           print(json.dumps([os.fsencode(m.name).hex(), m.type.decode(), m.mode, m.uid, m.gid, m.uname, m.gname]))",
        &[&tarball],
    );
    let mut names = Vec::new();
    for line in listing.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let owner = (&m[3], &m[4], &m[5], &m[6]);
        assert_eq!(
            owner,
            (&0.into(), &0.into(), &"".into(), &"".into()),
            "{line}"
        );
        let hex = m[0].as_str().unwrap();
        let name: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let name = PathBuf::from(std::ffi::OsStr::from_bytes(&name));
        assert!(name.starts_with("app"), "outside the root: {line}");
        let mode = m[2].as_u64().unwrap();
        let mode_ok = match m[1].as_str().unwrap() {
            "2" => mode == 0o777,
            "5" => mode == 0o755,
            _ => mode == 0o755 || mode == 0o644,
        };
        assert!(mode_ok, "mode not 0755/0644/symlink: {line}");
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are not sorted");

    // Every symlink is relative and stays inside the bundle.
    let root = gnu.join("app");
    for e in walkdir::WalkDir::new(&root) {
        let e = e.unwrap();
        if e.path_is_symlink() {
            let target = std::fs::read_link(e.path()).unwrap();
            assert!(
                target.is_relative(),
                "{} -> {}",
                e.path().display(),
                target.display()
            );
            let resolved = e.path().canonicalize().unwrap();
            assert!(
                resolved.starts_with(root.canonicalize().unwrap()),
                "{} leaves",
                e.path().display()
            );
        }
    }
}

#[test]
fn manifest_and_requirements_tell_the_truth() {
    let s = scratch();
    let venv = s.path().join("app");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    // As in a bundle extracted and bundled again: both are replaced, not described.
    std::fs::write(venv.join("rvenv.json"), "{}").unwrap();
    std::fs::write(venv.join("requirements.txt"), "stale==0\n").unwrap();
    let tarball = s.path().join("app.tar.gz");
    let err = bundle_ok(&venv, &tarball, &[]);
    assert!(err.contains("rvenv.json: replaced in the bundle"), "{err}");
    let out = s.path().join("out");
    extract(&tarball, &out);
    let root = out.join("app");

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("rvenv.json")).unwrap()).unwrap();
    assert_eq!(manifest["target"], "x86_64");
    assert_eq!(manifest["python"]["version"], "3.11.2");
    let mut listed = BTreeMap::new();
    for f in manifest["files"].as_array().unwrap() {
        listed.insert(
            PathBuf::from(f["path"].as_str().unwrap()),
            (
                f["size"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_string(),
            ),
        );
    }
    let mut on_disk = BTreeMap::new();
    for e in walkdir::WalkDir::new(&root) {
        let e = e.unwrap();
        if e.file_type().is_file() && e.file_name() != "rvenv.json" {
            use sha2::Digest;
            let bytes = std::fs::read(e.path()).unwrap();
            let hex = hex::encode(sha2::Sha256::digest(&bytes));
            on_disk.insert(
                e.path().strip_prefix(&root).unwrap().to_path_buf(),
                (bytes.len() as u64, hex),
            );
        }
    }
    assert_eq!(listed, on_disk, "the manifest does not match the files");

    let pip_freeze = run_ok(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "freeze",
        "--disable-pip-version-check",
    ]));
    assert!(pip_freeze.contains("rvenv-demo @ file://"), "{pip_freeze}");
    assert_eq!(
        std::fs::read_to_string(root.join("requirements.txt")).unwrap(),
        pip_freeze
    );

    // RECORD rows of rewritten scripts carry the new hashes (pip's own check passes).
    let record = std::fs::read_to_string(
        root.join("lib/python3.11/site-packages/rvenv_demo-1.0.dist-info/RECORD"),
    )
    .unwrap();
    let row = record
        .lines()
        .find(|l| l.starts_with("../../../bin/rvenv-demo,"))
        .unwrap();
    let script = std::fs::read(root.join("bin/rvenv-demo")).unwrap();
    use base64::Engine;
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&script));
    assert_eq!(
        row,
        format!("../../../bin/rvenv-demo,sha256={hash},{}", script.len())
    );
}

#[test]
fn same_venv_gives_identical_bytes_and_source_date_epoch_ignores_file_times() {
    let s = scratch();
    let venv = s.path().join("one/app");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let a = s.path().join("a.tar.gz");
    let b = s.path().join("b.tar.gz");
    bundle_ok(&venv, &a, &[]);
    bundle_ok(&venv, &b, &[]);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "two runs differ"
    );

    // With SOURCE_DATE_EPOCH: the venv, and the same venv built again from scratch a little
    // later (every file time differs; its .pyc files are valid for their own sources).
    let epoch = "1600000000";
    let with_epoch = |venv: &Path, out: &Path| {
        let o = Command::new(RVENV)
            .arg("bundle")
            .arg(venv)
            .arg("-o")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let c = s.path().join("c.tar.gz");
    let d = s.path().join("d.tar.gz");
    with_epoch(&venv, &c);
    let times = snapshot(&venv);
    std::fs::rename(&venv, s.path().join("one/app.first")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let rebuilt = snapshot(&venv);
    // pip keeps the wheel's own times for what it extracts; everything it writes is new.
    let cfg = Path::new("pyvenv.cfg");
    assert_ne!(
        times[cfg], rebuilt[cfg],
        "the rebuilt venv should have other file times"
    );
    with_epoch(&venv, &d);
    let bytes = std::fs::read(&c).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(&d).unwrap(),
        "a rebuild with other file times gives other bytes"
    );
    assert_eq!(
        &bytes[4..8],
        &[0, 0, 0, 0],
        "the gzip header carries a time"
    );
    let mtimes = python_tar(
        "import sys, tarfile\nprint(sorted({m.mtime for m in tarfile.open(sys.argv[1])}))",
        &[&c],
    );
    assert_eq!(mtimes.trim(), format!("[{epoch}]"));
}

#[test]
fn output_inside_the_venv_is_not_packed_into_itself() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    // Temporary files a killed run could have left, in the output's directory and in bin/.
    std::fs::create_dir(venv.join("dist")).unwrap();
    std::fs::write(venv.join("dist/.app.tar.gz.abc123.rvenv-tmp"), "partial").unwrap();
    std::fs::write(venv.join("bin/.x.tar.gz.abc123.rvenv-tmp"), "partial").unwrap();
    for out in [venv.join("app.tar.gz"), venv.join("dist/app.tar.gz")] {
        bundle_ok(&venv, &out, &[]);
        let first = std::fs::read(&out).unwrap();
        bundle_ok(&venv, &out, &[]);
        assert_eq!(
            first,
            std::fs::read(&out).unwrap(),
            "the second run differs"
        );
        let listing = run_ok(Command::new("tar").arg("-tzf").arg(&out));
        assert!(!listing.contains("app.tar.gz"), "{listing}");
        assert!(!listing.contains("rvenv-tmp"), "{listing}");
        assert!(
            listing
                .lines()
                .any(|l| l.trim_end_matches('/') == "app/dist"),
            "{listing}"
        );
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn defaults_name_the_output_after_the_venv_and_detected_target() {
    let s = scratch();
    let venv = s.path().join(".venv");
    make_bare_venv(&venv);
    let work = s.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // VENV defaults to ./.venv when VIRTUAL_ENV is unset.
    let o = Command::new(RVENV)
        .arg("bundle")
        .current_dir(s.path())
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("target: x86_64 (detected from /usr/bin/python3.11)"),
        "{}",
        stderr(&o)
    );
    // A project's .venv is named after the project folder.
    let project = s.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(s.path().join(format!("{project}-x86_64.tar.gz")).is_file());
    // Then $VIRTUAL_ENV; the output lands in the current directory.
    let o = Command::new(RVENV)
        .arg("bundle")
        .arg("--target")
        .arg("amd64")
        .current_dir(&work)
        .env("VIRTUAL_ENV", &venv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = work.join(format!("{project}-x86_64.tar.gz"));
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&out));
    assert!(
        listing
            .lines()
            .any(|l| l == format!("{project}/bin/python3")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l == format!("{project}/python/bin/python3.11")),
        "{listing}"
    );
    assert!(
        !listing.contains("python3.11/test/"),
        "stdlib tests are left out by default"
    );
    assert!(
        !listing.contains("python/lib/python3.11/site-packages"),
        "the base's site-packages is left out"
    );
    // --keep-stdlib-tests keeps them.
    let keep = s.path().join("keep.tar.gz");
    bundle_ok(&venv, &keep, &["--keep-stdlib-tests"]);
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&keep));
    assert!(
        listing.contains(&format!("{project}/python/lib/python3.11/test/")),
        "--keep-stdlib-tests"
    );
}

#[test]
fn shared_libpython_is_copied_and_runpath_points_inside() {
    let s = scratch();
    let venv = s.path().join("app");
    run_ok(
        Command::new(pyenv_python("3.11.7"))
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    let tarball = s.path().join("app.tar.gz");
    bundle_ok(&venv, &tarball, &[]);
    let out = s.path().join("out");
    extract(&tarball, &out);
    let interp = out.join("app/python/bin/python3.11");
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(&interp));
    assert!(
        dynamic.contains("Library runpath: [$ORIGIN/../lib]"),
        "{dynamic}"
    );
    assert!(!dynamic.contains(".pyenv"), "{dynamic}");
    assert!(out.join("app/python/lib/libpython3.11.so.1.0").is_file());
    // The loader resolves it inside the bundle.
    let ldd = run_ok(Command::new("ldd").arg(&interp));
    let line = ldd.lines().find(|l| l.contains("libpython3.11")).unwrap();
    assert!(
        line.contains(
            &out.join("app/python/bin/../lib/libpython3.11.so.1.0")
                .display()
                .to_string()
        ),
        "{line}"
    );
}

/// gzip, zstd and plain tar hold the same tree; the output does not depend on the number of
/// threads; the gzip stream is one member that `gzip -t`, GNU tar, bsdtar and Python's tarfile
/// read; the zstd one is read by the zstd tool, GNU tar and bsdtar.
#[test]
fn formats_levels_and_threads() {
    let s = scratch();
    let venv = s.path().join("fmt");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let out = |name: &str, extra: &[&str]| -> PathBuf {
        let p = s.path().join(name);
        bundle_ok(&venv, &p, &[&["--arcroot", "app"], extra].concat());
        p
    };
    let gz1 = out("a.tar.gz", &["-j", "1"]);
    let gz3 = out("b.tar.gz", &["-j", "3"]);
    let zst1 = out("a.tar.zst", &["-j", "1"]);
    let zst2 = out("b.tzst", &["-j", "2"]);
    let plain = out("a.tar", &[]);
    let forced = out("c.bin", &["--format", "tar.zst", "--level", "9"]);
    let fast = out("fast.tar.gz", &["--level", "1"]);
    // Level 1 keeps the test short; the block layout, and so -j's irrelevance, is the same.
    let xz1 = out("a.tar.xz", &["-j", "1", "--level", "1"]);
    let xz2 = out("b.txz", &["-j", "2", "--level", "1"]);
    assert!(
        std::fs::read(&gz1).unwrap() == std::fs::read(&gz3).unwrap(),
        "gzip depends on -j"
    );
    assert!(
        std::fs::read(&zst1).unwrap() == std::fs::read(&zst2).unwrap(),
        "zstd depends on -j"
    );
    assert!(
        std::fs::read(&xz1).unwrap() == std::fs::read(&xz2).unwrap(),
        "xz depends on -j"
    );
    assert_eq!(&std::fs::read(&xz1).unwrap()[..6], b"\xfd7zXZ\x00");
    run_ok(Command::new("xz").arg("-t").arg(&xz1));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&xz1) < size(&fast),
        "xz -1 should be smaller than gzip -1"
    );
    let verified = run(Command::new(RVENV).arg("verify").arg(&xz1));
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        size(&fast) > size(&gz1),
        "level 1 should be larger than level 6"
    );
    assert!(
        size(&forced) < size(&zst1),
        "zstd -9 should be smaller than -3"
    );
    assert_eq!(&std::fs::read(&zst1).unwrap()[..4], b"\x28\xb5\x2f\xfd");
    assert_eq!(&std::fs::read(&forced).unwrap()[..4], b"\x28\xb5\x2f\xfd");
    assert_eq!(&std::fs::read(&gz1).unwrap()[..2], b"\x1f\x8b");
    run_ok(Command::new("gzip").arg("-t").arg(&gz1));
    run_ok(Command::new("zstd").arg("-q").arg("-t").arg(&zst1));
    // Exactly one gzip member: what follows the first member's trailer is nothing.
    let members = python_tar(
        "import sys, zlib\ndata = open(sys.argv[1], 'rb').read()\nd = zlib.decompressobj(31)\nd.decompress(data)\nprint(d.eof, len(d.unused_data))",
        &[&gz1],
    );
    assert_eq!(members.trim(), "True 0");

    let reference = s.path().join("ref");
    std::fs::create_dir_all(&reference).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&plain)
            .arg("-C")
            .arg(&reference),
    );
    let want = snapshot(&reference);
    for (archive, how) in [
        (&gz1, "gnu"),
        (&gz1, "bsd"),
        (&gz1, "python"),
        (&zst1, "gnu-zstd"),
        (&zst1, "bsd"),
        (&forced, "bsd"),
        (&xz1, "gnu-xz"),
        (&xz1, "python"),
    ] {
        let dest = s.path().join(format!(
            "x-{how}-{}",
            archive.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&dest).unwrap();
        match how {
            "gnu" => run_ok(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(archive)
                    .arg("-C")
                    .arg(&dest),
            ),
            "gnu-xz" => run_ok(
                Command::new("tar")
                    .arg("-xJf")
                    .arg(archive)
                    .arg("-C")
                    .arg(&dest),
            ),
            "gnu-zstd" => run_ok(
                Command::new("tar")
                    .arg("--zstd")
                    .arg("-xf")
                    .arg(archive)
                    .arg("-C")
                    .arg(&dest),
            ),
            "bsd" => run_ok(
                Command::new("bsdtar")
                    .arg("-xf")
                    .arg(archive)
                    .arg("-C")
                    .arg(&dest),
            ),
            _ => python_tar(
                "import sys, tarfile\ntarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')",
                &[archive, &dest],
            ),
        };
        assert_same_tree(
            &want,
            &snapshot(&dest),
            &format!("{how} {}", archive.display()),
        );
    }
}

#[test]
fn format_level_and_jobs_are_checked_before_any_work() {
    let s = scratch();
    let venv = s.path().join("v");
    make_bare_venv(&venv);
    for (args, words) in [
        (
            vec!["-o", "x.tar.gz", "--format", "tar.zst"],
            "x.tar.gz: the name says tar.gz, but --format is tar.zst",
        ),
        (
            vec!["-o", "x.tar.gz", "--level", "12"],
            "--level 12: tar.gz takes 1 to 9",
        ),
        (
            vec!["-o", "x.tar.zst", "--level", "0"],
            "--level 0: tar.zst takes 1 to 19",
        ),
        (
            vec!["-o", "x.tar", "--level", "3"],
            "--level 3: tar takes 0 to 0",
        ),
        (vec!["-o", "x.tar.gz", "-j", "0"], "--jobs 0"),
        (
            vec!["-o", "x.tar.gz", "--format", "zip"],
            "invalid value 'zip'",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rvenv"))
            .arg("bundle")
            .arg(&venv)
            .args(&args)
            .current_dir(s.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
        assert!(temp_leftovers(s.path()).is_empty());
        assert!(!s.path().join("x.tar.gz").exists());
    }
}
