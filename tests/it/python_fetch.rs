//! A distribution preset's own CPython, fetched from its archive (issue 16): through the mirror
//! this machine's apt sources name, as an ordinary user with an empty cache, then again with
//! the network cut off; and from a local `file://` mirror of real `.deb`s, signed here with a
//! throwaway key, for every refusal of the signed chain.

use crate::board::{assert_ran_on_board, expect_line, ok, run_bundle_on_board};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// rvenv as an ordinary user: this process's user if it is not root, else `nobody` (through
/// setpriv, with a copy of the binary it can run). `dir` must be writable by that user.
fn rvenv_as_user(dir: &Path, args: &[&str]) -> Output {
    if !is_root() {
        return run(Command::new(env!("CARGO_BIN_EXE_rvenv"))
            .args(args)
            .current_dir(dir)
            .env("SOURCE_DATE_EPOCH", "1700000000"));
    }
    let bin = dir.join("rvenv-bin");
    if !bin.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_rvenv"), &bin).unwrap();
        chmod(&bin, 0o755);
    }
    run(Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(&bin)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("XDG_CACHE_HOME"))
}

/// A world-writable scratch folder (the cache and the bundle are written by `nobody`).
fn open_scratch() -> tempfile::TempDir {
    let s = scratch();
    chmod(s.path(), 0o777);
    s
}

/// What the machine's apt state is: its configuration files and dpkg's foreign architectures.
fn apt_state() -> (std::collections::BTreeMap<PathBuf, String>, String) {
    let arches = std::process::Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_else(|_| "no dpkg".into());
    (snapshot(Path::new("/etc/apt")), arches)
}

fn requirements(dir: &Path, text: &str) -> PathBuf {
    let req = dir.join("requirements.txt");
    std::fs::write(&req, text).unwrap();
    chmod(&req, 0o644);
    req
}

/// A folder with the demo wheel and, for arm64, PyPI's aarch64 numpy; returns it and numpy's
/// version.
fn wheels(dir: &Path, with_numpy: bool) -> (PathBuf, Option<String>) {
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    chmod(&wheels, 0o755);
    let demo = demo_wheel();
    std::fs::copy(&demo, wheels.join(demo.file_name().unwrap())).unwrap();
    let mut version = None;
    if with_numpy {
        let numpy = std::fs::read_dir(fixtures().join("wheels"))
            .unwrap()
            .flatten()
            .find(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("numpy-") && n.contains("aarch64")
            })
            .unwrap();
        std::fs::copy(numpy.path(), wheels.join(numpy.file_name())).unwrap();
        version = Some(
            numpy
                .file_name()
                .to_string_lossy()
                .split('-')
                .nth(1)
                .unwrap()
                .to_string(),
        );
    }
    for e in std::fs::read_dir(&wheels).unwrap().flatten() {
        chmod(&e.path(), 0o644);
    }
    (wheels, version)
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The one-command bundle for a preset, run as an ordinary user with an empty cache through
/// the machine's own mirror; then on the board; then again with no network, from the cache.
fn preset_bundle(target: &str, arch: &str, machine: &str, with_numpy: bool) {
    let s = open_scratch();
    let (wheel_dir, numpy) = wheels(s.path(), with_numpy);
    let mut text = String::from("rvenv-demo==1.0\n");
    if let Some(v) = &numpy {
        text += &format!("numpy=={v}\n");
    }
    requirements(s.path(), &text);
    let before = apt_state();
    let args = [
        "bundle",
        "--target",
        target,
        "-r",
        "requirements.txt",
        "-f",
        wheel_dir.to_str().unwrap(),
        "--no-index",
        "--arcroot",
        "app",
        "-o",
        "app.tar.gz",
        "--python-cache",
        "cache",
    ];
    let out = rvenv_as_user(s.path(), &args);
    let err = stderr(&out);
    ok(out, "rvenv bundle -r with no --python, as an ordinary user");
    assert!(
        err.contains("3 package(s) downloaded and verified"),
        "{err}"
    );
    assert!(
        err.contains("(apt sources, /etc/apt/"),
        "not the machine's mirror: {err}"
    );
    // Debian's packages and wheels carry no bytecode: --compile is suggested.
    assert!(
        err.contains("the bundle has bytecode for only ")
            && err.contains("--compile makes them here"),
        "{err}"
    );
    assert_eq!(apt_state(), before, "the machine's apt state changed");
    let debs: Vec<_> = std::fs::read_dir(s.path().join("cache/debs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(debs.len(), 3, "{debs:?}");
    for deb in &debs {
        // Keyed by SHA256: each file's name is its own hash.
        assert_eq!(
            deb.file_stem().unwrap().to_string_lossy(),
            sha256(deb),
            "{}",
            deb.display()
        );
    }
    let first = sha256(&s.path().join("app.tar.gz"));

    let root = board_root(arch, s.path());
    let mode = BoardMode::qemu(&root);
    extract(&s.path().join("app.tar.gz"), &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, with_numpy);
    assert_ran_on_board(&root, mode, &out, machine);
    if with_numpy {
        expect_line(&out, "SUM 45");
    }

    // Again, with no network at all: everything comes from the cache, and the bundle is the same.
    std::fs::remove_file(s.path().join("app.tar.gz")).unwrap();
    let mut offline = if is_root() {
        let mut cmd = Command::new("unshare");
        cmd.arg("-n").arg(env!("CARGO_BIN_EXE_rvenv"));
        cmd
    } else {
        let mut cmd = Command::new("unshare");
        cmd.args(["-r", "-n"]).arg(env!("CARGO_BIN_EXE_rvenv"));
        cmd
    };
    let out = run(offline
        .args(args)
        .current_dir(s.path())
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    let err = stderr(&out);
    ok(out, "the same bundle with the network cut off");
    assert!(err.contains("from the cache"), "{err}");
    assert!(
        !err.lines().any(|l| l.starts_with("fetched ")),
        "downloaded something: {err}"
    );
    assert_eq!(
        sha256(&s.path().join("app.tar.gz")),
        first,
        "not the same bundle"
    );
}

#[test]
fn rpios_bookworm_aarch64_bundle_with_numpy_needs_no_python_and_runs_on_the_board() {
    preset_bundle("rpios-bookworm-aarch64", "arm64", "aarch64", true);
}

#[test]
fn debian_12_armv7_bundle_needs_no_python_and_runs_on_the_board() {
    preset_bundle("debian-12-armv7", "armhf", "armv7l", false);
}

// ---------------------------------------------------------------------------------------------
// A local mirror of real .debs, signed with a throwaway key.

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// A key made at `time` (gpg's --faked-system-time, `20200101T000000`) that expires after
    /// `expire` (`1d`, `never`).
    fn new(name: &str, time: Option<&str>, expire: &str) -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("rvenv-gpg-")
            .tempdir_in("/tmp")
            .unwrap();
        chmod(home.path(), 0o700);
        let gpg = Gpg { home };
        let mut cmd = gpg.cmd(time);
        cmd.args(["--passphrase", "", "--quick-gen-key"])
            .arg(format!("{name} <{name}@rvenv.test>"))
            .args(["rsa2048", "sign", expire]);
        run_ok(&mut cmd);
        gpg
    }

    fn cmd(&self, time: Option<&str>) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir").arg(self.home.path()).args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
        ]);
        if let Some(t) = time {
            cmd.arg(format!("--faked-system-time={t}!"));
        }
        cmd
    }

    fn fingerprint(&self, email: &str) -> String {
        let out = run_ok(self.cmd(None).args(["--with-colons", "--list-keys", email]));
        out.lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .unwrap()
    }

    fn export(&self, to: &Path) {
        let out = run(self.cmd(None).arg("--export"));
        assert!(out.status.success() && !out.stdout.is_empty());
        std::fs::write(to, out.stdout).unwrap();
    }

    fn clearsign(&self, release: &Path, inrelease: &Path, time: Option<&str>) {
        let _ = std::fs::remove_file(inrelease);
        run_ok(
            self.cmd(time)
                .args(["--digest-algo", "SHA256", "--clearsign", "-o"])
                .arg(inrelease)
                .arg(release),
        );
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

const PACKAGES: [&str; 3] = [
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
];

/// `dir/mirror`: pool/ with the fixtures' real bookworm arm64 .debs, dists/bookworm/ with a
/// Packages.xz listing `listed` of them and a Release listing it, signed by `gpg`.
struct Mirror {
    root: PathBuf,
    keyring: PathBuf,
    gpg: Gpg,
}

impl Mirror {
    fn new(dir: &Path) -> Mirror {
        let gpg = Gpg::new("archive", None, "never");
        let keyring = dir.join("archive-keyring.gpg");
        gpg.export(&keyring);
        let m = Mirror {
            root: dir.join("mirror"),
            keyring,
            gpg,
        };
        std::fs::create_dir_all(m.root.join("pool/main/p")).unwrap();
        std::fs::create_dir_all(m.index_dir()).unwrap();
        for p in PACKAGES {
            let deb = std::fs::read_dir(fixtures().join("debs"))
                .unwrap()
                .flatten()
                .find(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with(&format!("{p}_")) && n.ends_with("_arm64.deb")
                })
                .unwrap_or_else(|| panic!("no {p} arm64 .deb in the fixtures"));
            std::fs::copy(deb.path(), m.root.join("pool/main/p").join(deb.file_name())).unwrap();
        }
        m.write_index(&PACKAGES, "");
        m
    }

    fn index_dir(&self) -> PathBuf {
        self.root.join("dists/bookworm/main/binary-arm64")
    }

    fn deb(&self, package: &str) -> PathBuf {
        std::fs::read_dir(self.root.join("pool/main/p"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{package}_"))
            })
            .unwrap()
    }

    /// Packages.xz for `listed`, a Release for it (with `extra` fields), signed.
    fn write_index(&self, listed: &[&str], extra: &str) {
        let mut packages = String::new();
        for p in listed {
            let deb = self.deb(p);
            let name = deb.file_name().unwrap().to_string_lossy().into_owned();
            let version = name.split('_').nth(1).unwrap().replace("%3a", ":");
            packages += &format!(
                "Package: {p}\nVersion: {version}\nArchitecture: arm64\nFilename: pool/main/p/{name}\nSize: {}\nSHA256: {}\n\n",
                std::fs::metadata(&deb).unwrap().len(),
                sha256(&deb)
            );
        }
        let plain = self.index_dir().join("Packages");
        std::fs::write(&plain, packages).unwrap();
        let _ = std::fs::remove_file(self.index_dir().join("Packages.xz"));
        run_ok(Command::new("xz").arg("-k").arg(&plain));
        std::fs::remove_file(&plain).unwrap();
        self.write_release(extra);
    }

    fn write_release(&self, extra: &str) {
        let xz = self.index_dir().join("Packages.xz");
        let release = self.root.join("dists/bookworm/Release");
        std::fs::write(
            &release,
            format!(
                "Origin: rvenv test\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n{extra}Architectures: arm64\nComponents: main\nSHA256:\n {} {} main/binary-arm64/Packages.xz\n",
                sha256(&xz),
                std::fs::metadata(&xz).unwrap().len()
            ),
        )
        .unwrap();
        self.gpg
            .clearsign(&release, &self.root.join("dists/bookworm/InRelease"), None);
    }

    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// `rvenv python fetch` from this mirror into `cache`.
    fn fetch(&self, cache: &Path, keyring: &Path) -> Output {
        rvenv(&[
            "python".as_ref(),
            "fetch".as_ref(),
            "--target".as_ref(),
            "debian-12-aarch64".as_ref(),
            "--mirror".as_ref(),
            self.url().as_ref(),
            "--keyring".as_ref(),
            keyring.as_os_str(),
            "--python-cache".as_ref(),
            cache.as_os_str(),
        ])
    }
}

/// The error line (one, starting `error:`), the hint line, exit 2, and no file in `cache`.
fn refused(out: &Output, cache: &Path, wanted: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    for w in wanted {
        assert!(errors[0].contains(w), "{w:?} not in {:?}", errors[0]);
    }
    assert!(err.lines().any(|l| l.starts_with("hint:")), "{err}");
    assert!(stdout(out).is_empty(), "{}", stdout(out));
    // The cache folder did not exist before: not even an empty folder is left.
    let left: Vec<_> = walkdir::WalkDir::new(cache)
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_local_mirror_signed_by_its_keyring_gives_the_interpreter() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let cache = s.path().join("cache");
    let out = m.fetch(&cache, &m.keyring);
    let err = stderr(&out);
    let path = ok(out, "python fetch from a file:// mirror");
    let python = PathBuf::from(path.trim());
    assert_eq!(
        python,
        cache.join("pythons/debian-bookworm-arm64-python3.11/usr/bin/python3.11")
    );
    assert!(python.is_file());
    assert!(
        python
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("lib/python3.11/os.py")
            .is_file()
    );
    assert!(
        err.contains("3 package(s) downloaded and verified"),
        "{err}"
    );
    // Not a terminal: one line per download, no bar.
    let fetched: Vec<&str> = err.lines().filter(|l| l.starts_with("fetched ")).collect();
    assert_eq!(fetched.len(), 5, "{err}");
    assert!(fetched[0].starts_with("fetched InRelease ("), "{err}");
    assert!(
        fetched[1].starts_with("fetched main/binary-arm64/Packages.xz ("),
        "{err}"
    );
    for (line, p) in fetched[2..].iter().zip(PACKAGES) {
        assert!(line.starts_with(&format!("fetched {p}_")), "{line}");
    }
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "a bar in a pipe: {err:?}"
    );
    // -o DIR: a folder to carry to an offline machine, with the same layout as the cache.
    let carried = s.path().join("carried");
    let out = rvenv(&[
        "python".as_ref(),
        "fetch".as_ref(),
        "--target".as_ref(),
        "debian-12-aarch64".as_ref(),
        "--mirror".as_ref(),
        m.url().as_ref(),
        "--keyring".as_ref(),
        m.keyring.as_os_str(),
        "-o".as_ref(),
        carried.as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(stderr(&out).is_empty(), "-q printed: {}", stderr(&out));
    let carried_python = PathBuf::from(ok(out, "python fetch -o").trim());
    assert!(carried_python.starts_with(&carried) && carried_python.is_file());
    // Again: nothing is read from the mirror (it is gone).
    std::fs::remove_dir_all(&m.root).unwrap();
    let out = m.fetch(&cache, &m.keyring);
    let err = stderr(&out);
    assert_eq!(
        ok(out, "python fetch from the cache").trim(),
        python.to_str().unwrap()
    );
    assert!(err.contains("from the cache"), "{err}");
    // The carried folder, named by the environment, with the mirror unreachable.
    let out = run(Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .args(["python", "fetch", "--target", "debian-12-aarch64"])
        .env("RVENV_PYTHON_CACHE", &carried)
        .env("RVENV_DEBIAN_MIRROR", "http://192.0.2.1/debian"));
    assert_eq!(
        ok(out, "python fetch from the carried folder").trim(),
        carried_python.to_str().unwrap()
    );
    // The list says it is cached.
    let list = ok(
        rvenv(&[
            "python".as_ref(),
            "list".as_ref(),
            "--python-cache".as_ref(),
            cache.as_os_str(),
        ]),
        "python list",
    );
    let row = list
        .lines()
        .find(|l| l.starts_with("debian-12-aarch64 "))
        .unwrap();
    assert!(row.ends_with("3.11"), "{row}");
    let row = list
        .lines()
        .find(|l| l.starts_with("debian-12-armv7 "))
        .unwrap();
    assert!(row.ends_with('-'), "{row}");
}

#[test]
fn a_tampered_deb_is_refused_and_nothing_is_cached() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let deb = m.deb("libpython3.11-stdlib");
    let mut bytes = std::fs::read(&deb).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&deb, bytes).unwrap();
    let cache = s.path().join("cache");
    let out = m.fetch(&cache, &m.keyring);
    refused(
        &out,
        &cache,
        &["libpython3.11-stdlib_", "SHA256", "Packages.xz lists"],
    );
}

#[test]
fn a_truncated_deb_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let deb = m.deb("python3.11-minimal");
    let bytes = std::fs::read(&deb).unwrap();
    std::fs::write(&deb, &bytes[..bytes.len() - 1000]).unwrap();
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["python3.11-minimal_", "ended after"],
    );
}

#[test]
fn a_tampered_packages_index_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    // A new index (with a tampered .deb's hash in it) that the signed Release does not list.
    let deb = m.deb("python3.11-minimal");
    let mut bytes = std::fs::read(&deb).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&deb, bytes).unwrap();
    let release = std::fs::read(m.root.join("dists/bookworm/InRelease")).unwrap();
    m.write_index(&PACKAGES, "");
    std::fs::write(m.root.join("dists/bookworm/InRelease"), release).unwrap();
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["Packages.xz", "InRelease lists"],
    );
}

#[test]
fn an_inrelease_signed_by_another_key_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let other = Gpg::new("intruder", None, "never");
    other.clearsign(
        &m.root.join("dists/bookworm/Release"),
        &m.root.join("dists/bookworm/InRelease"),
        None,
    );
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["InRelease", "no signature verifies", "archive-keyring.gpg"],
    );
    // An edited InRelease (its text changed after signing) fails the same way.
    std::fs::create_dir(s.path().join("second")).unwrap();
    let m = Mirror::new(&s.path().join("second"));
    let path = m.root.join("dists/bookworm/InRelease");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Origin: rvenv test", "Origin: rvenv tset"),
    )
    .unwrap();
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["no signature verifies"],
    );
}

#[test]
fn a_missing_package_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    m.write_index(&PACKAGES[..2], "");
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["no package libpython3.11-stdlib for arm64"],
    );
}

#[test]
fn a_release_past_its_valid_until_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    m.write_release("Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC\n");
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["Valid-Until 2026-07-18 10:16:37 UTC has passed"],
    );
}

#[test]
fn a_signature_by_an_expired_key_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    // Made on 2020-01-01, expired a day later; it signed the Release that day.
    let old = Gpg::new("expired", Some("20200101T000000"), "1d");
    // A newer certification of its user ID by another key (as Debian's keys carry) does not
    // make it live longer: only its own self-signature says when it expires.
    run_ok(
        old.cmd(Some("20200101T010000"))
            .args([
                "--passphrase",
                "",
                "--quick-gen-key",
                "friend <friend@rvenv.test>",
            ])
            .args(["rsa2048", "cert", "never"]),
    );
    run_ok(
        old.cmd(Some("20200101T020000"))
            .args([
                "--passphrase",
                "",
                "-u",
                "friend@rvenv.test",
                "--quick-sign-key",
            ])
            .arg(old.fingerprint("expired@rvenv.test")),
    );
    let keyring = s.path().join("expired.gpg");
    old.export(&keyring);
    old.clearsign(
        &m.root.join("dists/bookworm/Release"),
        &m.root.join("dists/bookworm/InRelease"),
        Some("20200101T120000"),
    );
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &keyring),
        &cache,
        &["InRelease", "expired on 2020-01-02"],
    );
}

#[test]
fn no_keyring_file_and_a_bad_one_are_named() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, Path::new("/nonexistent/keyring.gpg")),
        &cache,
        &["/nonexistent/keyring.gpg: no such keyring file"],
    );
    let junk = s.path().join("junk.gpg");
    std::fs::write(&junk, "not a key\n").unwrap();
    refused(
        &m.fetch(&cache, &junk),
        &cache,
        &["junk.gpg: not an OpenPGP keyring"],
    );
}

#[test]
fn a_bundle_from_a_tampered_mirror_writes_nothing() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let deb = m.deb("libpython3.11-minimal");
    let mut bytes = std::fs::read(&deb).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&deb, bytes).unwrap();
    let (wheel_dir, _) = wheels(s.path(), false);
    let req = requirements(s.path(), "rvenv-demo==1.0\n");
    let cache = s.path().join("cache");
    let out_file = s.path().join("app.tar.gz");
    let out = rvenv(&[
        "bundle".as_ref(),
        "--target".as_ref(),
        "debian-12-aarch64".as_ref(),
        "-r".as_ref(),
        req.as_os_str(),
        "-f".as_ref(),
        wheel_dir.as_os_str(),
        "--no-index".as_ref(),
        "--mirror".as_ref(),
        m.url().as_ref(),
        "--keyring".as_ref(),
        m.keyring.as_os_str(),
        "--python-cache".as_ref(),
        cache.as_os_str(),
        "-o".as_ref(),
        out_file.as_os_str(),
    ]);
    refused(&out, &cache, &["libpython3.11-minimal_", "SHA256"]);
    assert!(!out_file.exists());
    assert!(temp_leftovers(s.path()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Decided before any download.

fn usage_error(args: &[&str], wanted: &[&str], hint: &str) {
    let s = scratch();
    let req = requirements(s.path(), "rvenv-demo==1.0\n");
    let mut full: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    if args[0] == "bundle" {
        full.extend(["-r".as_ref(), req.as_os_str(), "-o".as_ref()]);
        full.push(s.path().join("out.tar.gz").into_os_string().leak());
    }
    // An unreachable mirror and an empty cache: nothing here may get as far as the network.
    let out = run(Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .args(full)
        .env("RVENV_DEBIAN_MIRROR", "http://192.0.2.1/debian")
        .env("RVENV_PYTHON_CACHE", s.path().join("cache")));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{err}"));
    for w in wanted {
        assert!(line.contains(w), "{w:?} not in {line:?}");
    }
    let h = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(h.contains(hint), "{hint:?} not in {h:?}");
    assert!(!err.contains("fetching"), "{err}");
    assert!(!s.path().join("cache").exists());
    assert!(!s.path().join("out.tar.gz").exists());
}

#[test]
fn a_plain_architecture_names_the_presets_that_would_work() {
    usage_error(
        &["bundle", "--target", "aarch64"],
        &[
            "--target aarch64",
            "rpios-bookworm-aarch64",
            "debian-12-aarch64",
        ],
        "--python PATH",
    );
    usage_error(
        &["python", "fetch", "--target", "armv7"],
        &["--target armv7", "debian-12-armv7"],
        "--python PATH",
    );
}

#[test]
fn a_version_the_release_lacks_lists_what_it_has_and_who_has_it() {
    usage_error(
        &[
            "bundle",
            "--target",
            "debian-12-aarch64",
            "--python-version",
            "3.13",
        ],
        &[
            "--python-version 3.13",
            "has Python 3.11",
            "debian-13-aarch64",
            "rpios-trixie-aarch64",
        ],
        "pick a version",
    );
}

#[test]
fn archive_options_with_an_interpreter_given_are_refused() {
    usage_error(
        &[
            "bundle",
            "--target",
            "debian-12-aarch64",
            "--python",
            "/usr/bin/python3",
            "--mirror",
            "http://x/",
        ],
        &["--mirror", "--python"],
        "leave out one",
    );
    usage_error(
        &["bundle", "--mirror", "http://x/"],
        &["-r without --python needs a distribution preset"],
        "rvenv python list",
    );
}

#[test]
fn a_signature_by_a_revoked_key_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    // gpg writes a revocation certificate for each key it makes; imported, it revokes the key.
    let revs = m.gpg.home.path().join("openpgp-revocs.d");
    let rev = std::fs::read_dir(&revs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&rev)
        .unwrap()
        .replace(":-----BEGIN PGP", "-----BEGIN PGP");
    let armored = s.path().join("rev.asc");
    std::fs::write(&armored, text).unwrap();
    run_ok(m.gpg.cmd(None).arg("--import").arg(&armored));
    let revoked = s.path().join("revoked.gpg");
    m.gpg.export(&revoked);
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &revoked),
        &cache,
        &["InRelease", "which is revoked"],
    );
}

#[test]
fn an_expired_signature_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    // A key made on 2020-01-01 that never expires signs that day, the signature good for a day.
    let old = Gpg::new("old", Some("20200101T000000"), "never");
    let keyring = s.path().join("old.gpg");
    old.export(&keyring);
    run_ok(
        old.cmd(Some("20200101T120000"))
            .args([
                "--yes",
                "--default-sig-expire",
                "1d",
                "--digest-algo",
                "SHA256",
            ])
            .args(["--clearsign", "-o"])
            .arg(m.root.join("dists/bookworm/InRelease"))
            .arg(m.root.join("dists/bookworm/Release")),
    );
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &keyring),
        &cache,
        &["InRelease", "the signature expired on 2020-01-02"],
    );
}

/// Debian's archive keys sign with subkeys: a signing subkey bound to a certify-only primary.
fn subkey_signer(time: &str, subkey_expire: &str) -> Gpg {
    let g = Gpg::new("primary", Some(time), "never");
    let fpr = g.fingerprint("primary@rvenv.test");
    run_ok(
        g.cmd(Some(time))
            .args([
                "--passphrase",
                "",
                "--quick-add-key",
                &fpr,
                "rsa2048",
                "sign",
            ])
            .arg(subkey_expire),
    );
    g
}

#[test]
fn a_signing_subkey_verifies_and_an_expired_one_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let release = m.root.join("dists/bookworm/Release");
    let inrelease = m.root.join("dists/bookworm/InRelease");
    let cache = s.path().join("cache");

    let good = subkey_signer("20200101T000000", "never");
    let keyring = s.path().join("subkey.gpg");
    good.export(&keyring);
    good.clearsign(&release, &inrelease, None);
    ok(
        m.fetch(&cache, &keyring),
        "python fetch, InRelease signed by a subkey",
    );

    let cache = s.path().join("cache2");
    let old = subkey_signer("20200101T000000", "1d");
    let keyring = s.path().join("expired-subkey.gpg");
    old.export(&keyring);
    old.clearsign(&release, &inrelease, Some("20200101T120000"));
    refused(
        &m.fetch(&cache, &keyring),
        &cache,
        &["InRelease", "which expired on 2020-01-02"],
    );
}

#[test]
fn a_release_of_another_suite_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    let release = m.root.join("dists/bookworm/Release");
    let text = std::fs::read_to_string(&release).unwrap();
    std::fs::write(
        &release,
        text.replace("Codename: bookworm", "Codename: sid"),
    )
    .unwrap();
    m.gpg
        .clearsign(&release, &m.root.join("dists/bookworm/InRelease"), None);
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["InRelease", "the Release of suite sid, not of bookworm"],
    );
}

#[test]
fn a_sha1_signature_is_refused() {
    let s = scratch();
    let m = Mirror::new(s.path());
    run_ok(
        m.gpg
            .cmd(None)
            .args(["--yes", "--digest-algo", "SHA1", "--clearsign", "-o"])
            .arg(m.root.join("dists/bookworm/InRelease"))
            .arg(m.root.join("dists/bookworm/Release")),
    );
    let cache = s.path().join("cache");
    refused(
        &m.fetch(&cache, &m.keyring),
        &cache,
        &["InRelease", "signed with SHA1"],
    );
}
