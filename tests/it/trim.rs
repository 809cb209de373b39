//! Making bundles smaller: `--exclude`, `--strip-tests`, `--no-pycache`, `--compile` and
//! `--strip-debug` on real venvs (pyenv's CPython 3.11 with PyPI's numpy, Debian's arm64 and
//! riscv64 CPython under qemu-user). Each test checks the option's bytes-saved line against the
//! archive itself, what the archive holds, that the bundle still runs, and that the venv is
//! byte for byte what it was.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PY311: &str = "3.11.7";

/// The size line's format, as the options print it.
fn human(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < 3 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", ["KiB", "MiB", "GiB", "TiB"][unit])
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one stderr line of an option (`--exclude: ...`).
fn info_line(stderr: &str, option: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{option}: ")))
        .collect();
    assert_eq!(lines.len(), 1, "one {option} line expected in:\n{stderr}");
    lines[0].to_string()
}

/// pyenv's CPython 3.11 (a shared libpython built with debug info) in a venv with pip and the
/// demo wheel; with `numpy`, PyPI's x86_64 numpy from the fixtures as well.
fn host_venv(dir: &Path, numpy: bool) -> PathBuf {
    let python = pyenv_python(PY311);
    assert!(python.exists(), "{} is not installed", python.display());
    let venv = dir.join("app");
    make_venv(&python, &venv);
    if numpy {
        run_ok(
            Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "-q", "--no-index"])
                .args(["--disable-pip-version-check", "--find-links"])
                .arg(fixtures().join("wheels"))
                .arg("numpy"),
        );
    }
    venv
}

fn rvenv_bundle(venv: &Path, out: &Path, args: &[&str]) -> Output {
    run(Command::new(RVENV)
        .arg("bundle")
        .arg(venv)
        .args(["--arcroot", "app", "-o"])
        .arg(out)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000"))
}

fn bundle_with(venv: &Path, out: &Path, args: &[&str]) -> String {
    let out = rvenv_bundle(venv, out, args);
    assert!(
        out.status.success(),
        "rvenv bundle {args:?} failed ({}):\n{}",
        out.status,
        stderr(&out)
    );
    stderr(&out)
}

/// Every file and symlink of a bundle (path inside `app/` → size), and its directories;
/// extracted into `dest`. The manifest, whose size follows the file list, is left out.
struct Contents {
    root: PathBuf,
    files: BTreeMap<PathBuf, u64>,
    dirs: Vec<PathBuf>,
}

impl Contents {
    fn of(tarball: &Path, dest: &Path) -> Contents {
        extract(tarball, dest);
        let root = dest.join("app");
        let mut files = BTreeMap::new();
        let mut dirs = Vec::new();
        for e in walkdir::WalkDir::new(&root).min_depth(1) {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(&root).unwrap().to_path_buf();
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                dirs.push(rel);
            } else if rel != Path::new("rvenv.json") {
                let size = if meta.is_file() { meta.len() } else { 0 };
                files.insert(rel, size);
            }
        }
        Contents { root, files, dirs }
    }

    /// Files of `self` missing from `other`, and their bytes.
    fn minus(&self, other: &Contents) -> (usize, u64) {
        self.files
            .iter()
            .filter(|(p, _)| !other.files.contains_key(*p))
            .fold((0, 0), |(n, b), (_, s)| (n + 1, b + s))
    }

    fn total(&self) -> u64 {
        self.files.values().sum()
    }

    fn has(&self, path: &str) -> bool {
        self.files.contains_key(Path::new(path)) || self.dirs.iter().any(|d| d == Path::new(path))
    }
}

/// `rvenv verify` of an extracted bundle, strictly: bytecode written since counts.
fn verify_strict(root: &Path) {
    let out = run(Command::new(RVENV).arg("verify").arg("--strict").arg(root));
    assert!(
        out.status.success(),
        "rvenv verify --strict {} failed:\n{}{}",
        root.display(),
        stdout(&out),
        stderr(&out)
    );
}

fn check_ok(tarball: &Path, target: &str) -> String {
    let out = run(Command::new(RVENV)
        .args(["check", "--target", target])
        .arg(tarball));
    assert!(
        out.status.success(),
        "rvenv check {} failed:\n{}{}",
        tarball.display(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// ELF section names, by the host's binutils (readelf reads every architecture's headers).
fn sections(file: &Path) -> String {
    run_ok(Command::new("readelf").arg("-SW").arg(file))
}

#[test]
fn exclude_leaves_out_what_the_globs_match() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let before = snapshot(&venv);
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "plain", &[]),
        &s.path().join("p"),
    );
    let tarball = s.path().join("small.tar.gz");
    let err = bundle_with(
        &venv,
        &tarball,
        &[
            // A bare name: in any directory (pip's and its vendored packages' `-m` entries).
            "--exclude",
            "__main__.py",
            // Anchored at the bundle's root, a directory with everything in it.
            "--exclude",
            "lib/python3.11/site-packages/pip/_vendor/rich/",
            "--exclude",
            "python/lib/python3.11/idlelib/",
            // Matches nothing: said so.
            "--exclude",
            "no-such-file.txt",
        ],
    );
    let small = Contents::of(&tarball, &s.path().join("s"));
    let (files, bytes) = plain.minus(&small);
    assert!(files > 100, "{files}");
    assert_eq!(
        info_line(&err, "--exclude"),
        format!("--exclude: {files} files, {} left out", human(bytes))
    );
    assert_eq!(
        plain.total() - small.total(),
        bytes,
        "nothing else changed size"
    );
    assert!(
        err.contains("warning: --exclude 'no-such-file.txt': left nothing out"),
        "{err}"
    );
    let markers: Vec<_> = plain
        .files
        .keys()
        .filter(|p| p.file_name().is_some_and(|x| x == "__main__.py"))
        .collect();
    assert!(markers.len() > 3, "pip's vendored packages: {markers:?}");
    assert!(
        small
            .files
            .keys()
            .all(|p| p.file_name().is_none_or(|x| x != "__main__.py"))
    );
    for gone in [
        "lib/python3.11/site-packages/pip/_vendor/rich",
        "python/lib/python3.11/idlelib",
    ] {
        assert!(plain.has(gone) && !small.has(gone), "{gone}");
        assert!(
            small.files.keys().all(|p| !p.starts_with(gone)),
            "{gone} left something"
        );
    }
    // The rest is there, and the bundle works and matches its manifest.
    assert!(small.has("lib/python3.11/site-packages/pip/_vendor/distlib/__init__.py"));
    assert!(small.has("python/lib/python3.11/os.py"));
    let out = run_ok(
        Command::new(small.root.join("bin/python3"))
            .args(["-c", "import pip._vendor.distlib, json; print('ok')"]),
    );
    assert_eq!(out.trim(), "ok");
    assert_eq!(
        run_ok(&mut Command::new(small.root.join("bin/rvenv-demo"))).trim(),
        format!("rvenv-demo ok {}", small.root.display())
    );
    verify_strict(&small.root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// Bundles `venv` into `dir/NAME.tar.gz` with `args`.
fn bundle_ok_in(venv: &Path, dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let tarball = dir.join(format!("{name}.tar.gz"));
    bundle_with(venv, &tarball, args);
    tarball
}

#[test]
fn exclude_refuses_what_the_bundle_needs_and_bad_patterns() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let before = snapshot(&venv);
    let out_dir = s.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let tarball = out_dir.join("app.tar.gz");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--exclude", "python/"],
            "error: --exclude 'python/': would leave out python/bin/python3.11, which the bundle needs to run",
        ),
        (
            &["--exclude", "pyvenv.cfg"],
            "error: --exclude 'pyvenv.cfg': would leave out pyvenv.cfg, which the bundle needs to run",
        ),
        (
            &["--exclude", "rvenv.json"],
            "error: --exclude 'rvenv.json': would leave out rvenv.json, which the bundle needs to run",
        ),
        (
            &["--exclude", "*.txt", "--exclude", "bin/python*"],
            "error: --exclude 'bin/python*': would leave out bin/python3.11, which the bundle needs to run",
        ),
        (
            &["--exclude", "encodings/"],
            "error: --exclude 'encodings/': would leave out python/lib/python3.11/encodings/__init__.py, which the bundle needs to run",
        ),
        (
            &["--exclude", "os.py"],
            "error: --exclude 'os.py': would leave out python/lib/python3.11/os.py, which the bundle needs to run",
        ),
        (
            &["--exclude", "lib/[ab"],
            "error: --exclude 'lib/[ab': unclosed character class; missing ']'",
        ),
        (
            &["--exclude", ""],
            "error: --exclude '': an empty pattern matches nothing",
        ),
        (
            &["--compile", "--no-pycache"],
            "error: the argument '--compile' cannot be used with '--no-pycache'",
        ),
    ];
    for (args, expected) in cases {
        let out = rvenv_bundle(&venv, &tarball, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{err}");
        let first = err.lines().find(|l| !l.starts_with("target: "));
        assert_eq!(first, Some(*expected), "{args:?}:\n{err}");
        if expected.contains("would leave out") {
            assert!(
                err.lines()
                    .any(|l| l.starts_with("hint: narrow the pattern")),
                "{err}"
            );
        }
        assert!(
            std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{args:?} left something in {}",
            out_dir.display()
        );
    }
    // A pattern that leaves the needed files alone is fine.
    let err = bundle_with(
        &venv,
        &tarball,
        &["--exclude", "python/lib/python3.11/email/"],
    );
    assert!(
        info_line(&err, "--exclude").starts_with("--exclude: "),
        "{err}"
    );
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

#[test]
fn strip_tests_leaves_out_package_tests_and_numpy_still_works() {
    let s = scratch();
    let venv = host_venv(s.path(), true);
    let before = snapshot(&venv);
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "plain", &[]),
        &s.path().join("p"),
    );
    let tarball = s.path().join("small.tar.gz");
    let err = bundle_with(&venv, &tarball, &["--strip-tests"]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let (files, bytes) = plain.minus(&small);
    let site = Path::new("lib/python3.11/site-packages");
    let test_dirs = |c: &Contents| -> Vec<PathBuf> {
        c.dirs
            .iter()
            .filter(|d| d.starts_with(site))
            .filter(|d| d.file_name().is_some_and(|n| n == "tests" || n == "test"))
            .cloned()
            .collect()
    };
    let removed: Vec<PathBuf> = test_dirs(&plain)
        .into_iter()
        .filter(|d| !small.dirs.contains(d))
        .collect();
    assert!(
        removed.len() >= 10,
        "numpy has many test folders: {removed:?}"
    );
    // numpy.testing imports numpy._core.tests._natype: that folder stays, and says why.
    assert_eq!(
        info_line(&err, "--strip-tests"),
        format!(
            "--strip-tests: {files} files in {}, {} left out; kept 1 that other modules import: \
             numpy/_core/tests (imported by numpy/testing/_private/utils.py)",
            plural(removed.len(), "test folder", "test folders"),
            human(bytes)
        )
    );
    assert_eq!(plain.total() - small.total(), bytes);
    assert_eq!(
        test_dirs(&small),
        vec![site.join("numpy/_core/tests")],
        "only the imported test folder is left"
    );
    // Only files under the removed folders went; testing and the stdlib's tests stay.
    for gone in plain.files.keys().filter(|p| !small.files.contains_key(*p)) {
        assert!(
            removed.iter().any(|d| gone.starts_with(d)),
            "{}",
            gone.display()
        );
    }
    assert!(small.has("lib/python3.11/site-packages/numpy/testing/__init__.py"));
    assert!(small.has("python/lib/python3.11/unittest/test/__init__.py"));
    let out = run_ok(Command::new(small.root.join("bin/python3")).args([
        "-c",
        "import numpy, numpy.testing as t; t.assert_allclose(numpy.linalg.inv(numpy.eye(3) * 2), \
         numpy.eye(3) / 2); print(numpy.arange(10).sum())",
    ]));
    assert_eq!(out.trim(), "45");
    verify_strict(&small.root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

#[test]
fn no_pycache_leaves_out_every_cached_pyc() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    // Bytecode in the venv too (pyenv's stdlib has its own).
    run_ok(Command::new(venv.join("bin/python")).args(["-c", "import pip._internal.cli.main"]));
    let before = snapshot(&venv);
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "plain", &[]),
        &s.path().join("p"),
    );
    let tarball = s.path().join("small.tar.gz");
    let err = bundle_with(&venv, &tarball, &["--no-pycache"]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let pycs: Vec<&PathBuf> = plain
        .files
        .keys()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("__pycache__")))
        .collect();
    assert!(pycs.len() > 1000, "{}", pycs.len());
    assert!(
        pycs.iter()
            .any(|p| p.starts_with("lib/python3.11/site-packages/pip"))
    );
    let (files, bytes) = plain.minus(&small);
    assert_eq!(files, pycs.len(), "exactly the cached pycs went");
    assert_eq!(
        info_line(&err, "--no-pycache"),
        format!("--no-pycache: {files} files, {} left out", human(bytes))
    );
    assert_eq!(plain.total() - small.total(), bytes);
    // No __pycache__ directory is left, not even empty.
    assert!(
        small.dirs.iter().all(|d| !d.ends_with("__pycache__")),
        "an empty __pycache__ is left"
    );
    assert_eq!(
        run_ok(&mut Command::new(small.root.join("bin/rvenv-demo"))).trim(),
        format!("rvenv-demo ok {}", small.root.display())
    );
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// Flags word of a pyc (PEP 552): 0 timestamp, 0b01 unchecked hash, 0b11 checked hash.
fn pyc_flags(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    u32::from_le_bytes(bytes[4..8].try_into().unwrap())
}

#[test]
fn compile_writes_unchecked_hash_pycs_the_board_never_rewrites() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let before = snapshot(&venv);
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "plain", &[]),
        &s.path().join("p"),
    );
    let tarball = s.path().join("compiled.tar.gz");
    let err = bundle_with(&venv, &tarball, &["--compile", "-j", "2"]);
    // The same bytes again, whatever the number of threads.
    let again = s.path().join("again.tar.gz");
    bundle_with(&venv, &again, &["--compile", "-j", "1"]);
    assert!(
        std::fs::read(&tarball).unwrap() == std::fs::read(&again).unwrap(),
        "--compile is not deterministic"
    );
    let compiled = Contents::of(&tarball, &s.path().join("c"));
    let interpreter = pyenv_python(PY311);
    let line = info_line(&err, "--compile");
    let prefix = format!(
        "--compile: {{}} files compiled by {} (unchecked-hash pycs), ",
        interpreter.display()
    );
    let (head, _) = prefix.split_once("{}").unwrap();
    assert!(line.starts_with(head), "{line}");
    let count: usize = line[head.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every .py under lib/ and python/lib/ has its pyc, unchecked-hash; the few that Python
    // cannot compile (lib2to3's Python 2 test data) are named.
    let sources: Vec<&PathBuf> = compiled
        .files
        .keys()
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .filter(|p| p.starts_with("lib") || p.starts_with("python/lib"))
        .collect();
    let mut missing = Vec::new();
    for py in &sources {
        let pyc = py.parent().unwrap().join("__pycache__").join(format!(
            "{}.cpython-311.pyc",
            py.file_stem().unwrap().to_str().unwrap()
        ));
        match compiled.files.get(&pyc) {
            Some(_) => assert_eq!(
                pyc_flags(&compiled.root.join(&pyc)),
                0b01,
                "{}",
                pyc.display()
            ),
            None => missing.push(py.to_string_lossy().into_owned()),
        }
    }
    assert_eq!(count, sources.len() - missing.len(), "{line}");
    assert!(
        missing.iter().all(|m| m.contains("lib2to3/tests/data/")),
        "{missing:?}"
    );
    if !missing.is_empty() {
        assert!(
            line.ends_with(&format!(", {} not compiled", missing.len())),
            "{line}"
        );
        assert!(err.contains("warning: --compile: "), "{err}");
    }
    // Bytes: what the new pycs add beyond the ones they replace.
    let pyc_bytes = |c: &Contents| -> u64 {
        c.files
            .iter()
            .filter(|(p, _)| p.to_string_lossy().ends_with(".cpython-311.pyc"))
            .map(|(_, s)| s)
            .sum()
    };
    let added = pyc_bytes(&compiled) - pyc_bytes(&plain);
    assert!(
        line.contains(&format!(", {} added", human(added))),
        "{line}"
    );
    assert_eq!(
        compiled.total() - plain.total(),
        added,
        "only the pycs changed"
    );
    // On "the board": file times unlike the build's, bytecode writing on, and `-v` to see
    // what is imported from where. Nothing is recompiled, nothing written.
    let root = &compiled.root;
    run_ok(
        Command::new("find")
            .arg(root)
            .args(["-name", "*.py", "-exec", "touch", "{}", "+"]),
    );
    let out = run(Command::new(root.join("bin/python3"))
        .args([
            "-v",
            "-c",
            "import json, email.mime.text, pip._internal.cli.main; print('ok')",
        ])
        .env_remove("PYTHONDONTWRITEBYTECODE"));
    assert!(out.status.success(), "{}", stderr(&out));
    // importlib says "X.pyc matches X.py" and "code object from 'X.pyc'" when it uses
    // bytecode; "code object from X.py" (unquoted) when it compiles, and "wrote" when it writes.
    let log = stderr(&out);
    let json_pyc = root.join("python/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc");
    assert!(
        log.contains(&format!("# code object from '{}'", json_pyc.display())),
        "{log}"
    );
    for bad in ["# code object from /", "# wrote ", "bytecode is stale"] {
        assert!(
            !log.lines().any(|l| l.starts_with(bad) || l.contains(bad)),
            "{bad}:\n{log}"
        );
    }
    verify_strict(root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// A shared library for aarch64 built here with debug information by Debian's cross compiler,
/// loaded through ctypes by a package with a test folder of its own.
fn debug_library_package(site: &Path, scratch: &Path, gcc: &str) -> u64 {
    let pkg = site.join("trimdemo");
    std::fs::create_dir_all(pkg.join("tests")).unwrap();
    let source = scratch.join("trimdemo.c");
    std::fs::write(
        &source,
        "int trimdemo_add(int a, int b) { return a + b; }\n\
         static int table[64] = {1, 2, 3};\n\
         int trimdemo_table(int i) { return table[i & 63]; }\n",
    )
    .unwrap();
    let lib = pkg.join("libtrimdemo.so");
    run_ok(
        Command::new(gcc)
            .args(["-g", "-O1", "-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&source),
    );
    assert!(
        sections(&lib).contains(".debug_info"),
        "built without debug info"
    );
    std::fs::write(
        pkg.join("__init__.py"),
        "import ctypes, os\n\
         lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), 'libtrimdemo.so'))\n\
         def add(a, b):\n    return lib.trimdemo_add(a, b)\n",
    )
    .unwrap();
    std::fs::write(pkg.join("tests/__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("tests/test_add.py"),
        "from trimdemo import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    )
    .unwrap();
    std::fs::metadata(&lib).unwrap().len()
}

const BOARD_CHECK: &str = "import numpy, numpy.testing, trimdemo; \
print('SUM', numpy.arange(10).sum()); print('DOT', int(numpy.dot(numpy.arange(4), numpy.arange(4)))); \
print('ADD', trimdemo.add(2, 40))";

/// An arm64 venv as a user without the board makes it (numpy from PyPI's aarch64 wheel) with
/// `debug_library_package` in it; returns the library's size.
fn aarch64_venv_with_a_debug_library(venv: &Path, scratch: &Path) -> u64 {
    foreign_venv(
        "arm64",
        "python3.11",
        "qemu-aarch64-static",
        venv,
        Some("manylinux_2_17_aarch64"),
    );
    debug_library_package(
        &venv.join("lib/python3.11/site-packages"),
        scratch,
        "aarch64-linux-gnu-gcc",
    )
}

const STRIP_AARCH64: [&str; 4] = ["--target", "aarch64", "--strip-debug", "--strip-tests"];

/// Extracts `tarball` on an arm64 board root without Python and runs numpy and the stripped
/// library there (`mode`: under qemu-user, or in a chroot).
fn runs_numpy_on_an_arm64_board(tarball: &Path, scratch: &Path, mode: fn(&Path) -> BoardMode) {
    let root = board_root("arm64", scratch);
    extract(tarball, &root.join("opt"));
    let out = match mode(&root) {
        BoardMode::Chroot => run_on_board(
            &root,
            &format!("cd /tmp && /opt/app/bin/python3 -c \"{BOARD_CHECK}\""),
        ),
        BoardMode::Qemu(qemu) => {
            run_python_qemu(&root, qemu, "/opt/app/bin/python3", &["-c", BOARD_CHECK])
        }
    };
    assert!(
        out.status.success(),
        "on the board:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    for line in ["SUM 45", "DOT 14", "ADD 42"] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

#[test]
fn strip_debug_aarch64_bundle_is_smaller_passes_check_and_runs_numpy_on_the_board() {
    let s = scratch();
    let venv = s.path().join("build/app");
    let lib_size = aarch64_venv_with_a_debug_library(&venv, s.path());
    let site = venv.join("lib/python3.11/site-packages");
    let before = snapshot(&venv);
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "plain", &["--target", "aarch64"]),
        &s.path().join("p"),
    );
    let tarball = s.path().join("app-aarch64.tar.gz");
    let err = bundle_with(&venv, &tarball, &STRIP_AARCH64);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let line = info_line(&err, "--strip-debug");
    // Debian's binaries and numpy's extension modules come stripped already.
    let elf_count = plain
        .files
        .keys()
        .filter(|p| is_elf(&plain.root.join(p)))
        .count();
    let changed: Vec<&PathBuf> = small
        .files
        .iter()
        .filter(|(p, size)| plain.files.get(*p) != Some(size))
        .map(|(p, _)| p)
        .collect();
    let stripped: Vec<&&PathBuf> = changed
        .iter()
        .filter(|p| is_elf(&small.root.join(p)))
        .collect();
    let lib = Path::new("lib/python3.11/site-packages/trimdemo/libtrimdemo.so");
    assert!(stripped.iter().any(|p| p.as_path() == lib), "{changed:?}");
    let saved: u64 = stripped
        .iter()
        .map(|p| plain.files[p.as_path()] - small.files[p.as_path()])
        .sum();
    assert_eq!(
        line,
        format!(
            "--strip-debug: {} of {elf_count} ELF files stripped, {} saved",
            stripped.len(),
            human(saved)
        ),
    );
    assert!(small.files[lib] < lib_size);
    assert!(!sections(&small.root.join(lib)).contains(".debug_info"));
    // Tests of the package went too (with numpy's), and the stripped ELF files pass the check.
    assert!(!small.has("lib/python3.11/site-packages/trimdemo/tests"));
    info_line(&err, "--strip-tests");
    check_ok(&tarball, "aarch64");
    // The source's own library is untouched.
    assert!(sections(&site.join("trimdemo/libtrimdemo.so")).contains(".debug_info"));
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");

    // On an arm64 board without Python, under qemu-user (in a chroot: the test below).
    runs_numpy_on_an_arm64_board(&tarball, s.path(), BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in an arm64 board root"]
fn strip_debug_aarch64_bundle_runs_numpy_in_a_chroot_on_the_board() {
    require_root("binfmt_misc and chroot run the bundle in an arm64 board root");
    let s = scratch();
    let venv = s.path().join("build/app");
    aarch64_venv_with_a_debug_library(&venv, s.path());
    let tarball = s.path().join("app-aarch64.tar.gz");
    bundle_with(&venv, &tarball, &STRIP_AARCH64);
    runs_numpy_on_an_arm64_board(&tarball, s.path(), BoardMode::chroot);
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    !path.is_symlink()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        && &head == b"\x7fELF"
}

/// The bundle's interpreter imports numpy, ssl and sqlite3 and reports its prefix.
const HOST_CHECK: &str = "import sys, numpy, numpy.testing, ssl, sqlite3; \
print('SUM', numpy.arange(10).sum(), sys.prefix)";

#[test]
fn strip_debug_host_bundle_keeps_libpython_working() {
    let s = scratch();
    let venv = host_venv(s.path(), true);
    let before = snapshot(&venv);
    let tarball = s.path().join("small.tar.gz");
    let err = bundle_with(&venv, &tarball, &["--strip-debug"]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let line = info_line(&err, "--strip-debug");
    // The interpreter's own debug sections are left out by default, so --strip-debug's line
    // counts what it strips beyond them (numpy's libraries); --keep-debug keeps them all.
    let default = Contents::of(
        &bundle_ok_in(&venv, s.path(), "default", &[]),
        &s.path().join("p"),
    );
    let plain = Contents::of(
        &bundle_ok_in(&venv, s.path(), "debug", &["--keep-debug"]),
        &s.path().join("d"),
    );
    assert!(
        plain.total() - small.total() > 10 << 20,
        "pyenv's libpython alone has ~16 MiB of debug info"
    );
    // numpy's wheel ships its libraries without debug sections: nothing more to save.
    let saved = default.total() - small.total();
    assert!(
        line.ends_with(&format!(" stripped, {} saved", human(saved))),
        "{line}"
    );
    let libpython = Path::new("python/lib/libpython3.11.so.1.0");
    assert!(small.files[libpython] < plain.files[libpython] / 2);
    let report = sections(&small.root.join(libpython));
    assert!(!report.contains(".debug_info"), "{report}");
    // Symbols stay: the interpreter's exports for extension modules, and .symtab for tools.
    assert!(
        report.contains(".dynsym") && report.contains(".symtab"),
        "{report}"
    );
    assert!(
        sections(
            &pyenv_python(PY311)
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("lib/libpython3.11.so.1.0")
        )
        .contains(".debug_info")
    );
    check_ok(&tarball, "x86_64");
    // Runs from elsewhere, numpy included (with the venv and pyenv's 3.11 hidden: the test
    // below).
    let out = run(Command::new(small.root.join("bin/python3")).args(["-c", HOST_CHECK]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("SUM 45 {}", small.root.display())
    );
    verify_strict(&small.root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// Every ELF file of the base interpreter in an extracted bundle, by path.
fn interpreter_elf_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root.join("python"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .filter(|e| std::fs::read(e.path()).unwrap().starts_with(b"\x7fELF"))
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn interpreter_debug_sections_are_left_out_by_default_and_kept_on_request() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let before = snapshot(&venv);
    let tarball = s.path().join("default.tar.gz");
    let err = bundle_with(&venv, &tarball, &[]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let kept = Contents::of(
        &bundle_ok_in(&venv, s.path(), "debug", &["--keep-debug"]),
        &s.path().join("d"),
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("left out the interpreter's debug sections"))
        .unwrap_or_else(|| panic!("no debug line in:\n{err}"));
    // The line's count and size are the archive's: every other file is the same size.
    let shrunk: Vec<&PathBuf> = kept
        .files
        .keys()
        .filter(|p| small.files[*p] != kept.files[*p])
        .collect();
    assert!(shrunk.iter().all(|p| p.starts_with("python")), "{shrunk:?}");
    let saved = kept.total() - small.total();
    assert!(
        saved > 16 << 20,
        "pyenv's 3.11 has ~24 MiB of DWARF: {saved}"
    );
    assert!(
        line.starts_with("left out the interpreter's debug sections (libpython3.11.so.1.0, "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            ": {}, {} (--keep-debug keeps them)",
            plural(shrunk.len(), "file", "files"),
            human(saved)
        )),
        "{line}"
    );
    assert!(!err.contains("--strip-debug"), "{err}");
    // No debug section in any of the interpreter's ELF files; the symbol tables stay.
    let files = interpreter_elf_files(&small.root);
    assert!(files.len() > 50, "{files:?}");
    for file in &files {
        let report = sections(file);
        assert!(!report.contains(".debug_"), "{}: {report}", file.display());
        assert!(report.contains(".dynsym"), "{}", file.display());
    }
    // libpython no longer names the folder it was built in; with --keep-debug it does (a few
    // lib-dynload modules name it in their assert messages, which load and so stay).
    let build_folder = b"/tmp/python-build.";
    let libpython = Path::new("python/lib/libpython3.11.so.1.0");
    assert!(sections(&small.root.join(libpython)).contains(".symtab"));
    let without = std::fs::read(small.root.join(libpython)).unwrap();
    assert!(memchr::memmem::find(&without, build_folder).is_none());
    let with_debug = std::fs::read(kept.root.join(libpython)).unwrap();
    assert!(sections(&kept.root.join(libpython)).contains(".debug_info"));
    assert!(memchr::memmem::find(&with_debug, build_folder).is_some());
    // What the loader maps is the same in both, home pinning and RUNPATH included.
    assert!(rvenv::elf::loads_the_same(&with_debug, &without));
    check_ok(&tarball, "x86_64");
    let out = run(Command::new(small.root.join("bin/python3")).args([
        "-c",
        "import sys, ssl, sqlite3, ctypes, decimal; print(sys.prefix, decimal.Decimal(1) / 8)",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("{} 0.125", small.root.display())
    );
    verify_strict(&small.root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

#[test]
fn keep_debug_and_strip_debug_together_are_a_usage_error() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let out = rvenv_bundle(
        &venv,
        &s.path().join("x.tar.gz"),
        &["--keep-debug", "--strip-debug"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--keep-debug"), "{}", stderr(&out));
    assert!(!s.path().join("x.tar.gz").exists());
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn strip_debug_host_bundle_keeps_libpython_working_with_the_originals_hidden() {
    require_unshare("unshare -m hides the original venv and interpreter");
    let s = scratch();
    let venv = host_venv(s.path(), true);
    let tarball = s.path().join("small.tar.gz");
    bundle_with(&venv, &tarball, &["--strip-debug"]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let libpython = Path::new("python/lib/libpython3.11.so.1.0");
    assert!(!sections(&small.root.join(libpython)).contains(".debug_info"));
    // Runs from elsewhere with the venv and pyenv's 3.11 hidden, numpy included.
    let pyenv_prefix = pyenv_python(PY311)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let out = run_hidden(
        &[venv.clone(), pyenv_prefix],
        &format!("'{}/bin/python3' -c \"{HOST_CHECK}\"", small.root.display()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("SUM 45 {}", small.root.display())
    );
}

/// --strip-debug runs no program: with an empty PATH (no strip, no binutils) a package's
/// library built with -g loses its debug sections and still loads from the bundle.
#[test]
fn strip_debug_needs_no_strip_program() {
    let s = scratch();
    let venv = s.path().join("app");
    make_venv(&pyenv_python(PY311), &venv);
    let site = venv.join("lib/python3.11/site-packages");
    let lib_size = debug_library_package(&site, s.path(), "gcc");
    let before = snapshot(&venv);
    let empty_path = s.path().join("empty-bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let tarball = s.path().join("app.tar.gz");
    let out = run(Command::new(RVENV)
        .arg("bundle")
        .arg(&venv)
        .args(["--arcroot", "app", "-o"])
        .arg(&tarball)
        .arg("--strip-debug")
        .env("PATH", &empty_path));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let small = Contents::of(&tarball, &s.path().join("s"));
    let lib = Path::new("lib/python3.11/site-packages/trimdemo/libtrimdemo.so");
    let saved = lib_size - small.files[lib];
    assert!(saved > 0);
    // The interpreter's own sections went by default; the library is the one file left.
    let line = info_line(&err, "--strip-debug");
    assert!(line.starts_with("--strip-debug: 1 of "), "{line}");
    assert!(
        line.ends_with(&format!(" ELF files stripped, {} saved", human(saved))),
        "{line}"
    );
    assert!(
        err.contains("left out the interpreter's debug sections"),
        "{err}"
    );
    let report = sections(&small.root.join(lib));
    assert!(
        !report.contains(".debug_") && report.contains(".symtab"),
        "{report}"
    );
    let out = run(Command::new(small.root.join("bin/python3"))
        .args(["-c", "import trimdemo; print(trimdemo.add(2, 40))"]));
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
    assert!(sections(&site.join("trimdemo/libtrimdemo.so")).contains(".debug_info"));
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// A venv of Debian's riscv64 CPython 3.13 (under qemu) at `venv`.
fn riscv64_venv(venv: &Path) {
    let sysroot = fixtures().join("sysroot-riscv64");
    run_ok(
        Command::new("qemu-riscv64-static")
            .arg("-L")
            .arg(&sysroot)
            .arg(sysroot.join("usr/bin/python3.13"))
            .args(["-m", "venv", "--without-pip"])
            .arg(venv),
    );
}

/// Debian's riscv64 CPython 3.13 under qemu: the triple's strip, and pyenv's 3.13 compiles.
#[test]
fn riscv64_bundle_is_stripped_and_compiled_with_tools_for_its_architecture() {
    let s = scratch();
    let sysroot = fixtures().join("sysroot-riscv64");
    let venv = s.path().join("app");
    riscv64_venv(&venv);
    let before = snapshot(&venv);
    let tarball = s.path().join("app-riscv64.tar.gz");
    let err = bundle_with(
        &venv,
        &tarball,
        &["--target", "riscv64", "--strip-debug", "--compile"],
    );
    // Debian's riscv64 binaries come stripped: nothing to do, and no riscv64 strip needed.
    let line = info_line(&err, "--strip-debug");
    assert!(
        line.starts_with("--strip-debug: 0 of ")
            && line.ends_with(" ELF files stripped, 0 B saved"),
        "{line}"
    );
    let line = info_line(&err, "--compile");
    assert!(
        line.contains(&format!("compiled by {}", pyenv_python("3.13.0").display())),
        "{line}"
    );
    check_ok(&tarball, "riscv64");
    let c = Contents::of(&tarball, &s.path().join("c"));
    assert_eq!(
        pyc_flags(
            &c.root
                .join("python/lib/python3.13/json/__pycache__/__init__.cpython-313.pyc")
        ),
        0b01
    );
    // The bundle's interpreter runs under qemu and writes nothing.
    let out = run_ok(
        Command::new("qemu-riscv64-static")
            .arg("-L")
            .arg(&sysroot)
            .arg(c.root.join("bin/python3"))
            .args(["-c", "import json, platform; print(platform.machine())"]),
    );
    assert_eq!(out.trim(), "riscv64");
    verify_strict(&c.root);
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}

/// Without any CPython 3.13 here (PATH and PYENV_ROOT empty), --compile for riscv64 says so.
/// The machine must have no system python3.13, which rvenv would find by its path.
#[test]
fn riscv64_compile_without_any_cpython_3_13_here_is_an_error_with_a_hint() {
    let system = ["/usr/bin/python3.13", "/usr/local/bin/python3.13"];
    let found: Vec<&str> = system
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(
        found.is_empty(),
        "this test needs a machine without a system CPython 3.13 (Debian 12's is 3.11), but \
         {found:?} is here: rvenv finds it by its path, so --compile would not fail"
    );
    let s = scratch();
    let venv = s.path().join("app");
    riscv64_venv(&venv);
    let empty = s.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(Command::new(RVENV)
        .arg("bundle")
        .arg(&venv)
        .args(["--target", "riscv64", "--compile", "-o"])
        .arg(s.path().join("never.tar.gz"))
        .env("PATH", &empty)
        .env("PYENV_ROOT", &empty));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.lines().any(|l| l
            .starts_with("error: --compile: no CPython 3.13 runs on this machine (tried ")
            && l.contains("(for RISC-V)")),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("hint: install CPython")),
        "{err}"
    );
    assert!(!s.path().join("never.tar.gz").exists());
}

#[test]
fn the_static_libpython_is_left_out_by_default_and_keep_brings_it_back() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let archive = "python/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a";
    let original = pyenv_python(PY311)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a");
    let size = std::fs::metadata(&original).unwrap().len();
    let plain = s.path().join("plain.tar.gz");
    let err = bundle_with(&venv, &plain, &[]);
    let line = err
        .lines()
        .find(|l| l.starts_with("left out what only a build uses"))
        .unwrap_or_else(|| panic!("no line for the build-only files in:\n{err}"));
    assert!(line.contains("libpython3.11.a"), "{line}");
    let object = std::fs::metadata(original.with_file_name("python.o"))
        .unwrap()
        .len();
    assert!(
        line.ends_with(&format!(
            ": 2 files, {} (--keep GLOB brings it back)",
            human(size + object)
        )),
        "{line}"
    );
    let plain = Contents::of(&plain, &s.path().join("plain"));
    assert!(!plain.has(archive));
    // What a build reads stays: the Makefile sysconfig and python3-config name.
    assert!(plain.has("python/lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile"));
    verify_strict(&plain.root);
    let out = run(Command::new(plain.root.join("bin/python3")).args([
        "-c",
        "import sysconfig, ssl, json; print(sysconfig.get_config_var('LIBPL'))",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));

    let kept = s.path().join("kept.tar.gz");
    let err = bundle_with(&venv, &kept, &["--keep", "libpython*.a"]);
    let kept = Contents::of(&kept, &s.path().join("kept"));
    assert_eq!(kept.files.get(Path::new(archive)), Some(&size));
    // python.o is still left out: --keep brings back only what it names.
    let line = err
        .lines()
        .find(|l| l.starts_with("left out what only a build uses"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("python.o") && !line.contains("libpython3.11.a"),
        "{line}"
    );
    let bad = rvenv_bundle(&venv, &s.path().join("x.tar.gz"), &["--keep", "#x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with("error: --keep '#x': "),
        "{}",
        stderr(&bad)
    );
}

/// Files of `plain` missing from `small` whose path `part` accepts, and their bytes.
fn gone_where(plain: &Contents, small: &Contents, part: impl Fn(&str) -> bool) -> (usize, u64) {
    plain
        .files
        .iter()
        .filter(|(p, _)| !small.files.contains_key(*p) && part(&p.to_string_lossy()))
        .fold((0, 0), |(n, b), (_, s)| (n + 1, b + s))
}

#[test]
fn slim_leaves_out_what_the_app_does_not_import_and_the_app_still_runs() {
    let s = scratch();
    let venv = host_venv(s.path(), false);
    let site = venv.join("lib/python3.11/site-packages");
    // An app that needs pkg_resources (so setuptools) and uses tkinter only where it is.
    std::fs::write(
        site.join("slimapp.py"),
        "import json\nimport pkg_resources\ntry:\n    import tkinter\nexcept ImportError:\n    \
         tkinter = None\n\n\ndef main():\n    print(json.dumps([pkg_resources.__name__, tkinter is None]))\n",
    )
    .unwrap();
    let before = snapshot(&venv);
    let plain_tarball = bundle_ok_in(&venv, s.path(), "plain", &[]);
    let plain_err = bundle_with(&venv, &s.path().join("again.tar.gz"), &[]);
    let plain = Contents::of(&plain_tarball, &s.path().join("p"));
    // By default: pip's and setuptools' Windows launchers are not shipped.
    assert!(
        plain_err.contains("left out Windows programs a Linux target never runs (cli-32.exe"),
        "{plain_err}"
    );
    assert!(
        !plain
            .files
            .keys()
            .any(|p| p.extension().is_some_and(|x| x == "exe")),
        "no .exe in a default bundle"
    );

    let tarball = s.path().join("slim.tar.gz");
    let err = bundle_with(&venv, &tarball, &["--slim"]);
    let small = Contents::of(&tarball, &s.path().join("s"));
    let stdlib = "python/lib/python3.11/";
    let sp = "lib/python3.11/site-packages/";
    // Each part on its own line, with what the archives show went.
    // Each part's label and its paths under the standard library.
    let parts: [(&str, &[&str]); 4] = [
        ("ensurepip (pip's bootstrap wheels)", &["ensurepip/"]),
        ("idlelib (IDLE)", &["idlelib/"]),
        ("lib2to3", &["lib2to3/"]),
        (
            "Tk (tkinter, turtle, turtledemo, _tkinter)",
            &[
                "tkinter/",
                "turtledemo/",
                "turtle.py",
                "__pycache__/turtle.",
                "lib-dynload/_tkinter.",
            ],
        ),
    ];
    for (label, paths) in parts {
        let (files, bytes) = gone_where(&plain, &small, |p| {
            paths.iter().any(|x| p.starts_with(&format!("{stdlib}{x}")))
        });
        assert!(files > 0, "{label}");
        let expected = format!(
            "--slim: left out {label}: {}, {}",
            plural(files, "file", "files"),
            human(bytes)
        );
        assert!(
            err.lines().any(|l| l.starts_with(&expected)),
            "{expected}\nnot in:\n{err}"
        );
    }
    assert!(
        err.contains("; slimapp.py imports tkinter only under try/except ImportError"),
        "{err}"
    );
    // (--strip-tests, first, takes pip's vendored colorama/tests.)
    let (files, bytes) = gone_where(&plain, &small, |p| {
        !p.contains("/tests/") && p.starts_with(&format!("{sp}pip/"))
            || p.starts_with(&format!("{sp}pip-"))
            || p.starts_with("bin/pip")
    });
    assert!(small.files.keys().all(|p| !p.starts_with("bin/pip")));
    let pip_line = err
        .lines()
        .find(|l| l.starts_with("--slim: left out pip "))
        .unwrap_or_else(|| panic!("no pip line in:\n{err}"));
    assert!(
        pip_line.contains(&format!(
            ": {}, {} ",
            plural(files, "file", "files"),
            human(bytes)
        )),
        "{pip_line}: {files} files, {bytes} bytes gone"
    );
    // setuptools stays, and says why.
    assert!(
        err.lines()
            .any(|l| l.starts_with("--slim: kept setuptools ")
                && l.ends_with(": slimapp.py imports pkg_resources")),
        "{err}"
    );
    assert!(small.has(&format!("{sp}pkg_resources/__init__.py")));
    // The standard library's package tests; --strip-tests and --strip-debug come with --slim.
    assert!(!small.has(&format!("{stdlib}ctypes/test")));
    assert!(!small.has(&format!("{stdlib}unittest/test")));
    assert!(
        err.lines()
            .any(|l| l.starts_with("--slim: the standard library's package tests: ")),
        "{err}"
    );
    assert!(info_line(&err, "--strip-tests").starts_with("--strip-tests: "));
    assert!(info_line(&err, "--strip-debug").contains("ELF files stripped"));
    // Nothing else went: every file missing is in a part or a test folder, or was stripped.
    for gone in plain.files.keys().filter(|p| !small.files.contains_key(*p)) {
        let p = gone.to_string_lossy();
        let known = [
            "ensurepip/",
            "idlelib/",
            "lib2to3/",
            "tkinter/",
            "turtledemo/",
            "turtle.py",
            "__pycache__/turtle.",
            "lib-dynload/_tkinter.",
            "ctypes/test/",
            "unittest/test/",
            "distutils/tests/",
        ]
        .iter()
        .any(|x| p.starts_with(&format!("{stdlib}{x}")))
            || p.contains("/tests/")
            || p.starts_with(&format!("{sp}pip"))
            || p.starts_with("bin/pip");
        assert!(known, "{p} left out by --slim");
    }
    verify_strict(&small.root);
    let python = small.root.join("bin/python3");
    let out = run_ok(Command::new(&python).args(["-c", "import slimapp; slimapp.main()"]));
    assert_eq!(out.trim(), r#"["pkg_resources", true]"#);
    for gone in ["pip", "idlelib", "ensurepip", "lib2to3"] {
        let o = run(Command::new(&python).args(["-c", &format!("import {gone}")]));
        assert!(!o.status.success(), "{gone} imports from the slim bundle");
    }
    run_ok(Command::new(&python).args(["-c", "import unittest, ctypes, sqlite3, ssl, json"]));

    // --keep brings a part back, and says so.
    let kept = s.path().join("kept.tar.gz");
    let err = bundle_with(&venv, &kept, &["--slim", "--keep", "idlelib/"]);
    assert!(
        err.lines()
            .any(|l| l
                == "--slim: kept idlelib (IDLE): --keep matches python/lib/python3.11/idlelib"),
        "{err}"
    );
    let kept = Contents::of(&kept, &s.path().join("k"));
    assert!(kept.has(&format!("{stdlib}idlelib/__init__.py")));
    assert_same_tree(&before, &snapshot(&venv), "the venv after bundling");
}
