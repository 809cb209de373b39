//! Helpers shared by the integration tests: real interpreters, real venvs made by `python -m
//! venv` and pip, the real `rvenv` binary, and a "board" where the originals are hidden.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const RVENV: &str = env!("CARGO_BIN_EXE_rvenv");

/// The machine's own CPython (Debian's, statically linked libpython).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

pub fn pyenv_python(version: &str) -> PathBuf {
    let root = std::env::var("PYENV_ROOT").unwrap_or_else(|_| "/root/.pyenv".into());
    let minor: String = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    PathBuf::from(root)
        .join("versions")
        .join(version)
        .join("bin")
        .join(format!("python{minor}"))
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory, world-readable so tests can also run rvenv as an unprivileged user.
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rvenv-test-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    chmod(dir.path(), 0o755);
    dir
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The test wheel (built once per test process with the machine's Python and zipfile).
pub fn demo_wheel() -> PathBuf {
    static WHEEL: OnceLock<PathBuf> = OnceLock::new();
    WHEEL
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("rvenv-test-wheel-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_wheel.py");
            let out = run_ok(Command::new(SYSTEM_PYTHON).arg(script).arg(&dir));
            PathBuf::from(out.trim())
        })
        .clone()
}

/// `python -m venv DIR` (with pip), then pip installs the demo wheel from a local file.
pub fn make_venv(python: &Path, dir: &Path) {
    run_ok(Command::new(python).args(["-m", "venv"]).arg(dir));
    run_ok(
        Command::new(dir.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .arg(demo_wheel()),
    );
}

/// A venv without pip: fast, for the error cases.
pub fn make_bare_venv(dir: &Path) {
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .args(["-m", "venv", "--without-pip"])
            .arg(dir),
    );
}

pub fn rvenv(args: &[&std::ffi::OsStr]) -> Output {
    run(Command::new(RVENV).args(args))
}

pub fn bundle(venv: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(RVENV);
    cmd.arg("bundle").arg(venv).arg("-o").arg(out).args(extra);
    run(&mut cmd)
}

pub fn bundle_ok(venv: &Path, out: &Path, extra: &[&str]) -> String {
    let out = bundle(venv, out, extra);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "rvenv bundle failed ({}):\n{stderr}",
        out.status
    );
    stderr
}

pub fn extract(tarball: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(dest),
    );
}

/// Path → (kind, mode, size, mtime, content hash or link target) for every file under `root`:
/// used to prove a tree was not modified.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    let mut map = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let what = if m.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(e.path()).unwrap().display())
        } else if m.is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            format!("file {:?}", sha2::Sha256::digest(&bytes).as_slice())
        } else {
            "dir".to_string()
        };
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        // Directory times change as entries are created, and not every extractor sets a
        // symlink's own time: neither is compared.
        let mtime = if m.is_dir() || m.file_type().is_symlink() {
            0
        } else {
            m.mtime()
        };
        map.insert(rel, format!("{what} mode {:o} mtime {mtime}", m.mode()));
    }
    map
}

/// Files in `dir` whose name looks like rvenv's temporary output.
pub fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("rvenv-tmp"))
        .collect()
}

pub fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout == b"0\n"
}

/// Whether `unshare -m` works here (root, not refused by the sandbox).
pub fn can_hide() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let ok = is_root()
            && run(Command::new("unshare").args(["-m", "true"])).status.success();
        if !ok {
            eprintln!(
                "\n*** SKIPPING THE HIDDEN-ORIGINALS PART: `unshare -m` is not available (needs root). \
                 The bundle runs below still see the original venv and base interpreter. ***\n"
            );
        }
        ok
    })
}

/// Runs `script` with bash where every path in `hide` is covered: directories by an empty
/// tmpfs, files by an empty file. Without `unshare -m`, runs it unhidden (said loudly).
pub fn run_hidden(hide: &[PathBuf], script: &str) -> Output {
    let mut prelude = String::from("set -e\n");
    if can_hide() {
        let empty = std::env::temp_dir().join("rvenv-test-empty-file");
        std::fs::write(&empty, b"").unwrap();
        for p in hide {
            if p.is_dir() {
                prelude.push_str(&format!("mount -t tmpfs rvenv-hidden '{}'\n", p.display()));
            } else if p.exists() {
                prelude.push_str(&format!(
                    "mount --bind '{}' '{}'\n",
                    empty.display(),
                    p.display()
                ));
            }
        }
        prelude.push_str("set +e\n");
        let full = format!("{prelude}{script}");
        run(Command::new("unshare").args(["-m", "bash", "-c", &full]))
    } else {
        run(Command::new("bash").args(["-c", script]))
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts two snapshots are equal, listing only the differences.
pub fn assert_same_tree(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>, what: &str) {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(10)
        .map(|k| format!("{}: {:?} vs {:?}", k.display(), a.get(k), b.get(k)))
        .collect();
    assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
}

/// The foreign binaries fetched by tests/fixtures/fetch.sh (Debian's arm64/armhf/riscv64
/// CPython packages unpacked into sysroots, PyPI's numpy wheels). `.ci/run` fetches them into
/// its cache; a test run without them fetches them once.
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("RVENV_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                PathBuf::from(home).join(".cache/rvenv-ci/fixtures")
            });
        // fetch.sh reuses what is there and rebuilds what is out of date: cheap to run always.
        {
            eprintln!(
                "fetching test fixtures into {} (tests/fixtures/fetch.sh)",
                dir.display()
            );
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fetch.sh");
            run_ok(Command::new("bash").arg(script).arg(&dir));
        }
        dir
    })
    .clone()
}

/// A venv for another CPU made as a user without the board would: the target's interpreter,
/// under qemu-user, runs `-m venv --without-pip`; the host's pip fills site-packages with
/// `--platform` wheels from a local folder.
pub fn foreign_venv(arch: &str, python: &str, qemu: &str, dir: &Path, platform: Option<&str>) {
    let sysroot = fixtures().join(format!("sysroot-{arch}"));
    run_ok(
        Command::new(qemu)
            .arg("-L")
            .arg(&sysroot)
            .arg(sysroot.join("usr/bin").join(python))
            .args(["-m", "venv", "--without-pip"])
            .arg(dir),
    );
    if let Some(platform) = platform {
        pip_target(
            &dir.join("lib/python3.11/site-packages"),
            platform,
            &["numpy"],
        );
    }
}

/// The host's pip installs `packages` for another platform (cp311) from the fixture wheels,
/// with `--target`, as a user without the board would.
pub fn pip_target(site: &Path, platform: &str, packages: &[&str]) {
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--disable-pip-version-check",
            ])
            .args([
                "--only-binary=:all:",
                "--platform",
                platform,
                "--python-version",
                "3.11",
            ])
            .args(["--implementation", "cp", "--abi", "cp311", "--find-links"])
            .arg(fixtures().join("wheels"))
            .arg("--target")
            .arg(site)
            .args(packages),
    );
}
