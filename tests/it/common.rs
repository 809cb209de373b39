//! Helpers shared by the integration tests: real interpreters, real venvs made by `python -m
//! venv` and pip, the real `rvenv` binary, and a "board" where the originals are hidden.

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
            // In the shared scratch folder, removed when the test binary exits.
            let dir = shared_scratch().join("demo-wheel");
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

/// GNU tar, which tells gzip, zstd and plain tar apart by their first bytes.
pub fn extract(tarball: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
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

/// For the tests marked `#[ignore = "needs root: ..."]`: panics unless this process is root, so
/// that such a test, once asked for (`cargo test -- --include-ignored`), runs or fails; it never
/// passes without having run.
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}) and is #[ignore]d for that: run it as root, as .ci/run \
         does with `cargo test --locked -- --include-ignored`"
    );
}

/// `require_root`, and `unshare -m` must work here (a sandbox may refuse it even to root).
pub fn require_unshare(why: &str) {
    require_root(why);
    static REFUSED: OnceLock<Option<String>> = OnceLock::new();
    let refused = REFUSED.get_or_init(|| {
        let out = run(Command::new("unshare").args(["-m", "true"]));
        (!out.status.success()).then(|| format!("{}: {}", out.status, stderr(&out).trim()))
    });
    if let Some(refused) = refused {
        panic!("this test needs `unshare -m` ({why}), which is refused here ({refused})");
    }
}

/// Runs `script` with bash in a mount namespace of its own (`unshare -m`) where every path in
/// `hide` is covered: directories by an empty tmpfs, files by an empty file. Needs root: panics
/// where `unshare -m` is refused (the tests that call it are `#[ignore]`d for that).
pub fn run_hidden(hide: &[PathBuf], script: &str) -> Output {
    require_unshare("unshare -m hides the original venv and interpreter");
    let mut prelude = String::from("set -e\n");
    let empty = shared_scratch().join("empty-file");
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

/// The host's pip installs the demo wheel (pure Python, a console script) into a venv of another
/// CPU with `--prefix`, as a user without the board would: the entry point's shebang names the
/// host's Python, which rvenv rewrites. pyenv's CPython 3.11 runs pip: Debian's own puts a
/// `--prefix` install under `local/` (its posix_local scheme).
pub fn pip_prefix_demo(venv: &Path) {
    run_ok(
        Command::new(pyenv_python("3.11.7"))
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--disable-pip-version-check",
                "--prefix",
            ])
            .arg(venv)
            .arg(demo_wheel()),
    );
}

/// A root filesystem like a board's without Python: the target's system libraries from the
/// fixtures sysroot (`arch` is "arm64" or "armhf"; its python3* files removed), with Debian's
/// static BusyBox as the only shell and toolset (`/bin/sh`, `/bin/busybox` and a symlink per
/// applet), `/tmp`, `/dev`, `/proc` and `/root`. Returns `dir/board-<arch>`.
pub fn board_root(arch: &str, dir: &Path) -> PathBuf {
    let fixtures = fixtures();
    let root = dir.join(format!("board-{arch}"));
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(fixtures.join(format!("sysroot-{arch}")))
            .arg(&root),
    );
    let _ = std::fs::remove_file(root.join(".complete"));
    for sub in ["usr/bin", "usr/lib", "etc"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("python3")
            {
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p).unwrap();
                } else {
                    std::fs::remove_file(&p).unwrap();
                }
            }
        }
    }
    for d in [
        "bin", "sbin", "usr/sbin", "tmp", "dev", "proc", "root", "opt",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    chmod(&root.join("tmp"), 0o1777);
    // A board has /dev/null; a device node needs root (without it, redirections create a file).
    if is_root() {
        let _ = run(Command::new("mknod")
            .args(["-m", "666"])
            .arg(root.join("dev/null"))
            .args(["c", "1", "3"]));
    }
    let busybox = root.join("bin/busybox");
    std::fs::copy(
        fixtures.join(format!("busybox-{arch}/bin/busybox")),
        &busybox,
    )
    .unwrap();
    chmod(&busybox, 0o755);
    // The applet list from the board's BusyBox itself (static, so qemu runs it without a root).
    let list = run_ok(
        Command::new(board_qemu(&root))
            .arg(&busybox)
            .arg("--list-full"),
    );
    for applet in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let link = root.join(applet);
        if link.symlink_metadata().is_err() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink("/bin/busybox", &link).unwrap();
        }
    }
    assert!(root.join("bin/sh").is_symlink(), "BusyBox has no sh applet");
    for p in [
        root.join("usr/bin/python3.11"),
        root.join("usr/lib/python3.11"),
    ] {
        assert!(
            p.symlink_metadata().is_err(),
            "{} is still there",
            p.display()
        );
    }
    root
}

/// The qemu-user binary for the architecture of a board root (from its BusyBox's ELF header).
pub fn board_qemu(root: &Path) -> &'static str {
    let mut header = [0u8; 20];
    use std::io::Read;
    std::fs::File::open(root.join("bin/busybox"))
        .unwrap()
        .read_exact(&mut header)
        .unwrap();
    match u16::from_le_bytes([header[18], header[19]]) {
        183 => "qemu-aarch64-static",
        40 => "qemu-arm-static",
        m => panic!("no qemu for e_machine {m}"),
    }
}

/// How foreign programs run in a board root on this machine: chosen by each test,
/// `BoardMode::qemu(root)` (any user) or `BoardMode::chroot(root)` (root; those tests are
/// `#[ignore]`d for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardMode {
    /// binfmt_misc hands foreign ELF files to qemu-user (registered with the F flag, so the
    /// emulator is opened now and works inside the chroot); `chroot ROOT /bin/sh` runs the
    /// board's BusyBox, and its programs run as on the board.
    Chroot,
    /// Only `qemu-*-static -L ROOT ROOT/...` runs the interpreter: no shell of the board.
    Qemu(&'static str),
}

impl BoardMode {
    /// The interpreter under `qemu-*-static -L ROOT`: needs no privilege, and runs neither the
    /// board's /bin/sh nor the entry points' shell part.
    pub fn qemu(root: &Path) -> BoardMode {
        BoardMode::Qemu(board_qemu(root))
    }

    /// `chroot ROOT` with qemu-user registered in binfmt_misc, checked once per emulator by
    /// running the board's /bin/sh. Needs root: panics, saying why, where it is refused.
    pub fn chroot(root: &Path) -> BoardMode {
        use std::sync::Mutex;
        static CHECKED: OnceLock<Mutex<BTreeMap<&'static str, Result<(), String>>>> =
            OnceLock::new();
        require_root("binfmt_misc and chroot run the board's programs");
        let qemu = board_qemu(root);
        let mut checked = CHECKED.get_or_init(Default::default).lock().unwrap();
        let result = checked.entry(qemu).or_insert_with(|| {
            ensure_binfmt(qemu)?;
            let out =
                run(Command::new(chroot_bin())
                    .arg(root)
                    .args(["/bin/sh", "-c", "echo board-ok"]));
            if stdout(&out).trim() == "board-ok" {
                Ok(())
            } else {
                Err(format!(
                    "chroot {} /bin/sh failed ({}): {}",
                    root.display(),
                    out.status,
                    stderr(&out).trim()
                ))
            }
        });
        let result = result.clone();
        drop(checked); // A panic below must not poison the lock for the other tests.
        if let Err(why) = result {
            panic!("the board's programs cannot run in a chroot through {qemu} here: {why}");
        }
        BoardMode::Chroot
    }
}

/// The binfmt_misc line for a qemu-user emulator: magic and mask from Debian's
/// /usr/lib/binfmt.d/qemu-<name>.conf, the static emulator as interpreter, flag F.
fn binfmt_line(qemu: &str) -> Result<(String, String), String> {
    let name = qemu
        .strip_prefix("qemu-")
        .and_then(|n| n.strip_suffix("-static"))
        .unwrap();
    let conf_path = format!("/usr/lib/binfmt.d/qemu-{name}.conf");
    let conf = std::fs::read_to_string(&conf_path).map_err(|e| format!("{conf_path}: {e}"))?;
    // :name:type:offset:magic:mask:interpreter:flags
    let fields: Vec<&str> = conf.trim().split(':').collect();
    if fields.len() != 8 || fields[2] != "M" {
        return Err(format!("{conf_path}: unexpected format"));
    }
    let ours = format!("rvenv-qemu-{name}");
    let line = format!(
        ":{ours}:M:{}:{}:{}:/usr/bin/{qemu}:F",
        fields[3], fields[4], fields[5]
    );
    Ok((ours, line))
}

/// The magic of a binfmt_misc line (`\x7f\x45...`) as the hex that the entry's status file shows.
fn binfmt_hex(escaped: &str) -> String {
    escaped.replace("\\x", "").to_lowercase()
}

/// Registers `qemu` with binfmt_misc (flag F) under a name of our own, unless an enabled entry
/// with the same magic and the F flag is already there. Idempotent; tolerates a parallel
/// registration of the same name (EEXIST). Mounts binfmt_misc first if it is not.
fn ensure_binfmt(qemu: &str) -> Result<(), String> {
    let dir = Path::new("/proc/sys/fs/binfmt_misc");
    if !dir.join("register").exists() {
        let out = run(Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(dir));
        if !out.status.success() && !dir.join("register").exists() {
            return Err(format!(
                "mount -t binfmt_misc refused: {}",
                stderr(&out).trim()
            ));
        }
    }
    let (ours, line) = binfmt_line(qemu)?;
    let fields: Vec<&str> = line.split(':').collect();
    let magic = binfmt_hex(fields[4]);
    let equivalent = |text: &str| {
        text.lines().next() == Some("enabled")
            && text.lines().any(|l| l == format!("magic {magic}"))
            && text
                .lines()
                .any(|l| l.strip_prefix("flags: ").is_some_and(|f| f.contains('F')))
    };
    let existing = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| !matches!(e.file_name().to_str(), Some("register" | "status")))
        .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| equivalent(&t)));
    if existing {
        return Ok(());
    }
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("register"))
        .and_then(|mut f| f.write_all(line.as_bytes()));
    match written {
        Ok(()) => Ok(()),
        // Registered meanwhile by a parallel test.
        Err(_) if dir.join(&ours).exists() => Ok(()),
        Err(e) => Err(format!("writing {}/register: {e}", dir.display())),
    }
}

/// The host's chroot by full path (the board environment's PATH does not name the host's).
fn chroot_bin() -> &'static str {
    ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("chroot")
}

/// Runs `script` with the board's BusyBox `/bin/sh` inside `chroot root`, with a board's clean
/// environment (nothing sourced, PATH the system directories). Panics, as `BoardMode::chroot`
/// does, where that cannot run.
pub fn run_on_board(root: &Path, script: &str) -> Output {
    BoardMode::chroot(root);
    run(Command::new(chroot_bin())
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LC_ALL", "C")
        .arg(root)
        .args(["/bin/sh", "-c", script]))
}

/// The fallback: the board's interpreter `python` (a path inside the root) under qemu-user
/// with the root as its library prefix.
pub fn run_python_qemu(root: &Path, qemu: &str, python: &str, args: &[&str]) -> Output {
    run(Command::new(qemu)
        .arg("-L")
        .arg(root)
        .arg(root.join(python.trim_start_matches('/')))
        .args(args))
}

static SHARED: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_shared() {
    if let Some(dir) = SHARED.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A scratch directory for what tests share (a venv or bundle made once behind a OnceLock; each
/// area in a subdirectory named after it), removed when the test binary exits (statics are
/// never dropped).
pub fn shared_scratch() -> &'static Path {
    SHARED.get_or_init(|| {
        let dir = scratch().keep();
        // SAFETY: registers a plain function; it only reads a OnceLock and removes files.
        unsafe {
            libc::atexit(remove_shared);
        }
        dir
    })
}

/// The preset CPythons and build sysroots the tests fetch, kept with the fixtures so a run
/// reads the archive once.
pub fn preset_cache() -> PathBuf {
    fixtures().join("python-cache")
}

/// rvenv in `dir` with that cache, a build cache of the test's own (so builds really run),
/// and a fixed SOURCE_DATE_EPOCH.
pub fn rvenv_cached(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(RVENV)
        .args(args)
        .current_dir(dir)
        .env("RVENV_PYTHON_CACHE", preset_cache())
        .env("RVENV_BUILD_CACHE", dir.join("builds"))
        .env("SOURCE_DATE_EPOCH", "1700000000"))
}
