//! Bad input: a one-line `error:` naming the path, exit 2 (1 for a failed ELF check), no
//! output file, no temporary file, the venv untouched.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `rvenv bundle VENV -o OUT extra...` and checks the common promises of a refusal.
fn refused(venv: &Path, out: &Path, extra: &[&str], code: i32, must_mention: &[&str]) -> String {
    let before = venv.exists().then(|| snapshot(venv));
    let o = bundle(venv, out, extra);
    check_refusal(&o, out, code, must_mention);
    if let Some(before) = before {
        assert_same_tree(&before, &snapshot(venv), "the venv was modified");
    }
    stderr(&o)
}

fn check_refusal(o: &Output, out: &Path, code: i32, must_mention: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit status; stderr:\n{err}");
    let first = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error: line in\n{err}"));
    for word in must_mention {
        assert!(err.contains(word), "'{word}' not in:\n{err}");
    }
    assert!(first.len() > "error: ".len() + 10, "{first}");
    assert!(!out.exists(), "{} was written", out.display());
    if let Some(dir) = out.parent().filter(|d| d.is_dir()) {
        assert!(
            temp_leftovers(dir).is_empty(),
            "temporary files left: {:?}",
            temp_leftovers(dir)
        );
    }
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let out = s.path().join("app.tar.gz");
    (s, venv, out)
}

fn site(venv: &Path) -> PathBuf {
    venv.join("lib/python3.11/site-packages")
}

#[test]
fn no_such_path() {
    let s = scratch();
    let missing = s.path().join("nope");
    let out = s.path().join("o.tar.gz");
    let err = refused(
        &missing,
        &out,
        &[],
        2,
        &["nope", "no such file or directory"],
    );
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn not_a_directory() {
    let s = scratch();
    let file = s.path().join("file");
    std::fs::write(&file, "x").unwrap();
    refused(
        &file,
        &s.path().join("o.tar.gz"),
        &[],
        2,
        &["file", "not a directory"],
    );
}

#[test]
fn no_pyvenv_cfg() {
    let (s, venv, out) = setup();
    std::fs::remove_file(venv.join("pyvenv.cfg")).unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["pyvenv.cfg", &venv.display().to_string(), "hint:"],
    );
    drop(s);
}

#[test]
fn pyvenv_cfg_without_a_usable_interpreter() {
    let (_s, venv, out) = setup();
    for n in ["python", "python3", "python3.11"] {
        std::fs::remove_file(venv.join("bin").join(n)).unwrap();
    }
    refused(
        &venv,
        &out,
        &[],
        2,
        &["no Python interpreter", "bin/python3"],
    );
}

#[test]
fn broken_interpreter_symlink() {
    let (_s, venv, out) = setup();
    std::fs::remove_file(venv.join("bin/python3")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/python3", venv.join("bin/python3")).unwrap();
    refused(&venv, &out, &[], 2, &["bin/python3", "broken"]);
}

#[test]
fn interpreter_symlink_loop() {
    let (_s, venv, out) = setup();
    for n in ["python", "python3", "python3.11"] {
        std::fs::remove_file(venv.join("bin").join(n)).unwrap();
    }
    std::os::unix::fs::symlink("python3", venv.join("bin/python3.11")).unwrap();
    std::os::unix::fs::symlink("python3.11", venv.join("bin/python3")).unwrap();
    refused(&venv, &out, &[], 2, &["bin/python3", "symlink loop"]);
}

#[test]
fn interpreter_is_not_elf() {
    let (_s, venv, out) = setup();
    for n in ["python", "python3", "python3.11"] {
        std::fs::remove_file(venv.join("bin").join(n)).unwrap();
    }
    std::fs::write(venv.join("bin/python3"), "#!/bin/sh\necho fake\n").unwrap();
    refused(&venv, &out, &[], 2, &["bin/python3", "not an ELF"]);
}

#[test]
fn base_installation_not_found() {
    let (s, venv, out) = setup();
    // A real interpreter copied where no lib/python3.12/os.py is above it (CPython searches
    // up to /, and this machine has no /lib/python3.12).
    let fake = s.path().join("fakebase/bin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::copy(pyenv_python("3.12.1"), fake.join("python3.12")).unwrap();
    for n in ["python", "python3", "python3.11"] {
        std::fs::remove_file(venv.join("bin").join(n)).unwrap();
        std::os::unix::fs::symlink(fake.join("python3.12"), venv.join("bin").join(n)).unwrap();
    }
    std::fs::write(
        venv.join("pyvenv.cfg"),
        format!(
            "home = {}\ninclude-system-site-packages = false\nversion = 3.12.1\n",
            fake.display()
        ),
    )
    .unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &[
            "base installation not found",
            "lib/python3.12/os.py",
            "fakebase",
        ],
    );
}

#[test]
fn system_site_packages_is_refused_clearly() {
    let (_s, venv, out) = setup();
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    std::fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            "include-system-site-packages = false",
            "include-system-site-packages = true",
        ),
    )
    .unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["pyvenv.cfg", "include-system-site-packages", "hint:"],
    );
}

#[test]
fn dangling_symlink_inside_the_venv() {
    let (_s, venv, out) = setup();
    std::os::unix::fs::symlink("/nonexistent/target", site(&venv).join("dangling")).unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["site-packages/dangling", "dangling symlink"],
    );
}

#[test]
fn symlink_loop_inside_the_venv() {
    let (_s, venv, out) = setup();
    std::os::unix::fs::symlink("b", site(&venv).join("a")).unwrap();
    std::os::unix::fs::symlink("a", site(&venv).join("b")).unwrap();
    refused(&venv, &out, &[], 2, &["site-packages/a", "symlink loop"]);
}

#[test]
fn symlink_leaving_the_venv() {
    let (_s, venv, out) = setup();
    std::os::unix::fs::symlink("/etc/hostname", site(&venv).join("outside")).unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["site-packages/outside", "leaves the venv", "hint:"],
    );
}

#[test]
fn unknown_target_suggests_the_nearest_names() {
    let (_s, venv, out) = setup();
    let err = refused(
        &venv,
        &out,
        &["--target", "rpios-bookwrom-aarch64"],
        2,
        &[
            "error: unknown target 'rpios-bookwrom-aarch64'; did you mean rpios-bookworm-aarch64?",
            "hint: `rvenv targets` lists every target",
        ],
    );
    // The nearest names, not the whole catalogue.
    assert!(err.lines().all(|l| l.len() < 200), "{err}");
    let err = refused(
        &venv,
        &out,
        &["--target", "sparc"],
        2,
        &["unknown target 'sparc'"],
    );
    assert!(!err.contains("x86_64"), "{err}");
}

#[test]
fn target_that_does_not_match_the_binaries_is_a_check_failure() {
    let (_s, venv, out) = setup();
    // A venv for another CPU: one error and one hint, before anything is compressed, not one
    // error per binary.
    let err = refused(
        &venv,
        &out,
        &["--target", "aarch64"],
        1,
        &[
            "its interpreter",
            "ELF64 x86-64",
            "aarch64 needs ELF64 AArch64",
            "nothing was bundled",
            "--target x86_64",
            "give a distribution preset as --target (rvenv python list shows them) or the target's interpreter with --python",
        ],
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("hint:")).count(),
        1,
        "{err}"
    );
    assert!(!err.contains("lib-dynload/"), "{err}");
    // With --no-check the per-file check still names every offender, as warnings.
    let o = bundle(&venv, &out, &["--target", "aarch64", "--no-check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("lib-dynload/"), "{err}");
    // The summary counts what it printed as warnings, not "0 warnings".
    let printed = err
        .lines()
        .filter(|l| l.starts_with("warning: ") && !l.contains("still contains the build path"))
        .count();
    let summary = err.lines().find(|l| l.starts_with("checked ")).unwrap();
    assert!(
        summary.contains(&format!(": 0 problems, {printed} warnings (")),
        "{printed} warnings printed; {summary}"
    );
    assert!(
        summary.ends_with("written anyway: --no-check)"),
        "{summary}"
    );
}

#[test]
fn a_python_for_another_cpu_is_refused_before_any_wheel_is_fetched() {
    let s = scratch();
    let req = s.path().join("requirements.txt");
    // No such wheel anywhere: the refusal must come first.
    std::fs::write(&req, "no-such-package-rvenv==1.0\n").unwrap();
    let out = s.path().join("app.tar.gz");
    let o = run(Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .args(["bundle", "--target", "aarch64", "--no-index", "--python"])
        .arg(pyenv_python("3.11.7"))
        .arg("-r")
        .arg(&req)
        .arg("-o")
        .arg(&out));
    check_refusal(
        &o,
        &out,
        1,
        &[
            "error: --python ",
            "aarch64 needs ELF64 AArch64",
            "hint: give the target's own interpreter",
        ],
    );
    assert!(!stderr(&o).contains("no-such-package"), "{}", stderr(&o));
}

#[test]
fn output_directory_missing() {
    let (s, venv, _) = setup();
    let out = s.path().join("no/such/dir/app.tar.gz");
    refused(
        &venv,
        &out,
        &[],
        2,
        &["no/such/dir", "does not exist", "hint:"],
    );
}

#[test]
#[ignore = "needs root: unshare -m mounts a read-only tmpfs over the output directory"]
fn output_directory_read_only() {
    require_unshare("unshare -m mounts a read-only tmpfs over the output directory");
    let (s, venv, _) = setup();
    let ro = s.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let out = ro.join("app.tar.gz");
    let before = snapshot(&venv);
    let script = format!(
        "mount -t tmpfs -o ro rvenv-ro '{ro}' && exec '{rvenv}' bundle '{venv}' -o '{out}'",
        ro = ro.display(),
        rvenv = RVENV,
        venv = venv.display(),
        out = out.display()
    );
    let o = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    check_refusal(
        &o,
        &out,
        2,
        &[&ro.display().to_string(), "Read-only file system"],
    );
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

#[test]
fn fifos_and_sockets_are_skipped_with_a_warning() {
    let (_s, venv, out) = setup();
    let fifo = site(&venv).join("a.fifo");
    run_ok(Command::new("mkfifo").arg(&fifo));
    let sock = site(&venv).join("a.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = bundle_ok(&venv, &out, &[]);
    assert!(
        err.contains(&format!("warning: {}: skipped", fifo.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: {}: skipped", sock.display())),
        "{err}"
    );
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&out));
    assert!(
        !listing.contains("a.fifo") && !listing.contains("a.sock"),
        "{listing}"
    );
}

#[test]
fn editable_installs_are_refused_unless_allowed() {
    let (s, venv, out) = setup();
    let project = s.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        site(&venv).join("__editable__.proj-1.0.pth"),
        format!("{}\n", project.display()),
    )
    .unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["__editable__.proj-1.0.pth", "editable", "--allow-editable"],
    );
    let err = bundle_ok(&venv, &out, &["--allow-editable"]);
    assert!(
        err.contains("warning:") && err.contains("__editable__.proj-1.0.pth"),
        "{err}"
    );
}

#[test]
fn leftover_build_paths_are_warned_about_by_file() {
    let (_s, venv, out) = setup();
    let note = site(&venv).join("config_note.txt");
    std::fs::write(&note, format!("data lives in {}/data\n", venv.display())).unwrap();
    let err = bundle_ok(&venv, &out, &[]);
    assert!(
        err.contains(
            "warning: lib/python3.11/site-packages/config_note.txt: still contains the build path"
        ),
        "{err}"
    );
}

#[test]
fn a_top_level_python_directory_in_the_venv_is_refused() {
    let (_s, venv, out) = setup();
    std::fs::create_dir(venv.join("python")).unwrap();
    refused(&venv, &out, &[], 2, &["top-level 'python'"]);
}

#[test]
fn a_venv_named_through_dot_dot_keeps_its_name() {
    let (s, venv, _) = setup();
    let inner = venv.join("lib");
    let o = Command::new(RVENV)
        .args(["bundle", ".."])
        .current_dir(&inner)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        inner.join("app-x86_64.tar.gz").is_file(),
        "named after the venv, not '..'"
    );
    drop(s);
}

/// `rvenv targets --json | head -1`: the closed pipe ends rvenv quietly (SIGPIPE), no panic.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' targets --json | head -c 1 >/dev/null; '{}' targets | head -n 1",
            env!("CARGO_BIN_EXE_rvenv"),
            env!("CARGO_BIN_EXE_rvenv")
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[derive(Debug, Clone, Copy)]
enum Special {
    /// A character device like /dev/null (mknod: root).
    Device,
    Fifo,
    LinkTo(&'static str),
}

/// Device nodes are skipped with a warning like FIFOs and sockets (a bundle never needs one,
/// and extracting one needs root); so is a symlink to any of them, which would dangle in the
/// bundle. The bundle verifies. `names`: the files made in site-packages, in order.
fn special_files_are_skipped(names: &[(&str, Special)]) {
    let (_s, venv, out) = setup();
    for (name, kind) in names {
        let p = site(&venv).join(name);
        match kind {
            Special::Device => {
                run_ok(Command::new("mknod").arg(&p).args(["c", "1", "3"]));
            }
            Special::Fifo => {
                run_ok(Command::new("mkfifo").arg(&p));
            }
            Special::LinkTo(to) => std::os::unix::fs::symlink(to, &p).unwrap(),
        }
    }
    let before = snapshot(&venv);
    let err = bundle_ok(&venv, &out, &[]);
    for (name, _) in names {
        let p = site(&venv).join(name);
        assert!(
            err.contains(&format!("warning: {}: skipped", p.display())),
            "{name}:\n{err}"
        );
    }
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&out));
    for (name, _) in names {
        assert!(!listing.contains(name), "{name} in\n{listing}");
    }
    let o = run(Command::new(RVENV).arg("verify").arg(&out));
    assert!(o.status.success(), "{}", stdout(&o));
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

#[test]
fn links_to_special_files_are_skipped_with_a_warning() {
    special_files_are_skipped(&[
        ("pipe.fifo", Special::Fifo),
        ("to-fifo", Special::LinkTo("pipe.fifo")),
    ]);
}

#[test]
#[ignore = "needs root: mknod makes a device node"]
fn device_nodes_and_links_to_special_files_are_skipped_with_a_warning() {
    require_root("mknod makes a device node");
    special_files_are_skipped(&[
        ("null-device", Special::Device),
        ("pipe.fifo", Special::Fifo),
        ("to-device", Special::LinkTo("null-device")),
        ("to-fifo", Special::LinkTo("pipe.fifo")),
    ]);
}

/// A symlink out of the venv to a device is still a symlink leaving the venv.
#[test]
fn symlink_to_a_device_outside_the_venv() {
    let (_s, venv, out) = setup();
    std::os::unix::fs::symlink("/dev/null", site(&venv).join("devnull")).unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["site-packages/devnull", "leaves the venv", "/dev/null"],
    );
}

#[test]
fn pyvenv_cfg_empty_binary_huge_or_with_a_key_twice() {
    let (_s, venv, out) = setup();
    let cfg_path = venv.join("pyvenv.cfg");
    let good = std::fs::read_to_string(&cfg_path).unwrap();
    let huge = format!("{good}{}", "# padding\n".repeat(7000));
    let twice = format!("{good}Home = /somewhere/else\n");
    let cases: [(&str, Vec<u8>, &[&str]); 6] = [
        ("empty", Vec::new(), &["pyvenv.cfg", "empty"]),
        ("blank", b"\n  \n".to_vec(), &["pyvenv.cfg", "empty"]),
        (
            "no key",
            b"just words\n".to_vec(),
            &["pyvenv.cfg", "no 'key = value' line"],
        ),
        (
            "binary",
            [good.as_bytes(), b"\0\x01\x02\xff"].concat(),
            &["pyvenv.cfg", "binary data (byte 0x00 at offset"],
        ),
        (
            "huge",
            huge.into_bytes(),
            &["pyvenv.cfg", "larger than 64 KiB"],
        ),
        (
            "key twice",
            twice.into_bytes(),
            &[
                "pyvenv.cfg",
                "the key 'home' is given twice (lines 1 and 6)",
            ],
        ),
    ];
    for (what, bytes, words) in cases {
        std::fs::write(&cfg_path, &bytes).unwrap();
        let err = refused(&venv, &out, &[], 2, words);
        assert!(err.starts_with("error: "), "{what}: {err}");
    }
    let latin1 = [good.as_bytes(), b"prompt = caf\xe9\n"].concat();
    std::fs::write(&cfg_path, latin1).unwrap();
    refused(&venv, &out, &[], 2, &["pyvenv.cfg", "not UTF-8"]);
}

#[test]
fn bin_python_is_a_directory() {
    let (_s, venv, out) = setup();
    std::fs::remove_file(venv.join("bin/python")).unwrap();
    std::fs::create_dir(venv.join("bin/python")).unwrap();
    std::fs::write(venv.join("bin/python/inside"), "x").unwrap();
    refused(
        &venv,
        &out,
        &[],
        2,
        &["bin/python: a directory where the venv's interpreter should be"],
    );
}

/// A distribution written by hand into site-packages: `METADATA` and `RECORD` as given.
fn fake_dist(venv: &Path, metadata: &[u8], record: &[u8]) -> PathBuf {
    let d = site(venv).join("fake-1.0.dist-info");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("METADATA"), metadata).unwrap();
    std::fs::write(d.join("RECORD"), record).unwrap();
    d
}

#[test]
fn malformed_record() {
    let (_s, venv, out) = setup();
    let metadata = b"Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n";
    for (record, words) in [
        (
            &b"fake.py,sha256=abc,3\nfake-1.0.dist-info/RECORD\n"[..],
            &["fake-1.0.dist-info/RECORD", "line 2 has 1 field(s)"][..],
        ),
        (
            b"fake.py,sha256=abc,3,extra\n",
            &["fake-1.0.dist-info/RECORD", "line 1 has 4 field(s)"],
        ),
        (
            b"caf\xe9.py,sha256=abc,3\n",
            &["fake-1.0.dist-info/RECORD", "not UTF-8"],
        ),
        (
            b",sha256=abc,3\n",
            &["fake-1.0.dist-info/RECORD", "line 1 has no path"],
        ),
    ] {
        fake_dist(&venv, metadata, record);
        refused(&venv, &out, &[], 2, words);
    }
    // The same distribution with a sound RECORD bundles.
    fake_dist(
        &venv,
        metadata,
        b"fake.py,sha256=abc,3\nfake-1.0.dist-info/RECORD,,\n",
    );
    bundle_ok(&venv, &out, &[]);
}

#[test]
fn malformed_metadata() {
    let (_s, venv, out) = setup();
    let record = b"fake-1.0.dist-info/RECORD,,\n";
    for (metadata, words) in [
        (
            &b"Metadata-Version: 2.1\nVersion: 1.0\n"[..],
            &["no 'Name' field"][..],
        ),
        (
            b"Metadata-Version: 2.1\nName: fake\n",
            &["no 'Version' field"],
        ),
        (
            b"Metadata-Version: 2.1\nName: fake\nVersion: 1.0 beta 2\n",
            &["Version '1.0 beta 2' is not a version"],
        ),
        (
            b"Metadata-Version: 2.1\nName: fake\nVersion:\n",
            &["Version '' is not a version"],
        ),
        (
            b"Metadata-Version: 2.1\nName: my package\nVersion: 1.0\n",
            &["Name 'my package' is not a valid project name"],
        ),
        (
            b"Metadata-Version: 2.1\nName: caf\xe9\nVersion: 1.0\n",
            &["not UTF-8"],
        ),
    ] {
        fake_dist(&venv, metadata, record);
        let err = refused(&venv, &out, &[], 2, words);
        assert!(
            err.contains("fake-1.0.dist-info/METADATA: "),
            "the file is named: {err}"
        );
    }
}

/// A wheel variant of tests/fixtures/make_wheel.py in its own folder under `dir`.
fn wheel_variant(dir: &Path, variant: &str) -> PathBuf {
    let out = dir.join(format!("wheels-{variant}"));
    std::fs::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_wheel.py");
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .arg(script)
            .arg(&out)
            .arg(variant),
    );
    out
}

/// `rvenv bundle --python <this machine's python3.11> -r requirements.txt -f WHEELS` from
/// `dir`, with TMPDIR in it (`dir/tmp`) so leftovers can be seen.
fn assemble_from(dir: &Path, wheels: &Path) -> Output {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(dir.join("requirements.txt"), "rvenv-demo==1.0\n").unwrap();
    run(Command::new(RVENV)
        .args(["bundle", "-t", "x86_64", "--python", "/usr/bin/python3.11"])
        .args([
            "-r",
            "requirements.txt",
            "--no-index",
            "-o",
            "out.tar.gz",
            "-f",
        ])
        .arg(wheels)
        .env("TMPDIR", &tmp)
        .current_dir(dir))
}

/// The wheel installer (`--python ... -r ...`): a symlink member, a member that inflates past
/// a sane ratio, and one that inflates past the size its header declares are refused before
/// (or as soon as) anything is written; exit 2, no output, nothing left in TMPDIR. Names with
/// `..`, absolute names and RECORD hash mismatches: tests/it/assemble.rs.
#[test]
fn wheels_with_a_symlink_member_or_a_zip_bomb() {
    let s = scratch();
    let d = s.path();
    for (variant, words) in [
        (
            "symlink",
            &["member 'rvenv_demo/passwd' is a symlink (zip mode 120777)"][..],
        ),
        (
            "bomb",
            &[
                "member 'rvenv_demo/zeros.bin' declares 67108864 bytes from",
                "zip bomb",
            ],
        ),
        (
            "liar",
            &[
                "member 'rvenv_demo/zeros.bin' inflates to more than the 4096 bytes its zip header declares",
                "zip bomb",
            ],
        ),
    ] {
        let wheels = wheel_variant(d, variant);
        let o = assemble_from(d, &wheels);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{variant}: {err}");
        assert!(err.starts_with("error: "), "{variant}: {err}");
        assert!(
            err.contains("rvenv_demo-1.0-py3-none-any.whl: "),
            "{variant}: {err}"
        );
        for w in words {
            assert!(err.contains(w), "{variant}: wanted {w:?} in {err}");
        }
        assert!(!d.join("out.tar.gz").exists(), "{variant}: output written");
        assert_eq!(
            std::fs::read_dir(d.join("tmp")).unwrap().count(),
            0,
            "{variant}: temporary files left"
        );
    }
    // The plain demo wheel installs from the same setup.
    let o = assemble_from(d, demo_wheel().parent().unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A wheel whose files, as declared, do not fit the free space where the venv is assembled
/// (TMPDIR on an 8 MiB tmpfs) is refused before anything of it is written.
#[test]
#[ignore = "needs root: unshare -m mounts a small tmpfs as TMPDIR"]
fn a_wheel_larger_than_the_free_space() {
    require_unshare("unshare -m mounts a small tmpfs as TMPDIR");
    let s = scratch();
    let d = s.path();
    let wheels = wheel_variant(d, "big");
    std::fs::write(d.join("requirements.txt"), "rvenv-demo==1.0\n").unwrap();
    let tmp = d.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=8m rvenv-small '{tmp}' || exit 99\n\
         cd '{d}' && TMPDIR='{tmp}' '{rvenv}' bundle -t x86_64 --python /usr/bin/python3.11 \
         -r requirements.txt --no-index -f '{wheels}' -o out.tar.gz\n\
         echo \"rc=$?\"\nls -A '{tmp}'",
        tmp = tmp.display(),
        d = d.display(),
        rvenv = RVENV,
        wheels = wheels.display()
    );
    let o = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    assert_ne!(
        o.status.code(),
        Some(99),
        "cannot mount a tmpfs here: {}",
        stderr(&o).trim()
    );
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("rc=2"), "{out}\n{}", stderr(&o));
    assert_eq!(lines.next(), None, "left in TMPDIR: {out}");
    let err = stderr(&o);
    assert!(
        err.contains("rvenv_demo-1.0-py3-none-any.whl: its files take 16.0 MiB (16778")
            && err.contains("site-packages has 8.0 MiB free"),
        "{err}"
    );
    assert!(!d.join("out.tar.gz").exists());
}

/// rvenv with no venv named, run in `dir`, with `$VIRTUAL_ENV` set to `virtual_env` or unset.
fn without_a_venv_named(dir: &Path, virtual_env: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rvenv"));
    cmd.args(args).current_dir(dir).env_remove("VIRTUAL_ENV");
    if let Some(v) = virtual_env {
        cmd.env("VIRTUAL_ENV", v);
    }
    run(&mut cmd)
}

#[test]
fn no_venv_named_says_where_it_looked_and_how_to_name_one() {
    let s = scratch();
    for command in [&["bundle"][..], &["check"], &["inspect"], &["freeze"]] {
        let o = without_a_venv_named(s.path(), None, command);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.starts_with(
                "error: no venv named: $VIRTUAL_ENV is not set and there is no ./.venv here\nhint: name the venv"
            ),
            "{command:?}: {err}"
        );
        let gone = s.path().join("gone");
        let o = without_a_venv_named(s.path(), Some(&gone), command);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.contains(&format!(
                "error: {}: $VIRTUAL_ENV names this venv, which does not exist",
                gone.display()
            )),
            "{command:?}: {err}"
        );
        assert!(std::fs::read_dir(s.path()).unwrap().next().is_none());
    }
}

#[test]
fn check_inspect_and_freeze_default_to_the_venv_bundle_uses() {
    let (s, venv, _) = setup();
    let named = run_ok(
        Command::new(env!("CARGO_BIN_EXE_rvenv"))
            .arg("freeze")
            .arg(&venv),
    );
    // ./.venv
    let project = s.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::os::unix::fs::symlink(&venv, project.join(".venv")).unwrap();
    let o = without_a_venv_named(&project, None, &["freeze"]);
    assert_eq!(stdout(&o), named, "{}", stderr(&o));
    let o = without_a_venv_named(&project, None, &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // $VIRTUAL_ENV, before ./.venv
    let elsewhere = s.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = without_a_venv_named(&elsewhere, Some(&venv), &["freeze"]);
    assert_eq!(stdout(&o), named, "{}", stderr(&o));
    let o = without_a_venv_named(&elsewhere, Some(&venv), &["inspect", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
