//! Bad input: a one-line `error:` naming the path, exit 2 (1 for a failed ELF check), no
//! output file, no temporary file, the venv untouched.

mod common;
use common::*;
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
fn unknown_target_lists_the_known_ones() {
    let (_s, venv, out) = setup();
    refused(
        &venv,
        &out,
        &["--target", "sparc"],
        2,
        &["sparc", "x86_64", "aarch64", "armv7", "riscv64"],
    );
}

#[test]
fn target_that_does_not_match_the_binaries_is_a_check_failure() {
    let (_s, venv, out) = setup();
    let err = refused(
        &venv,
        &out,
        &["--target", "aarch64"],
        1,
        &[
            "python/bin/python3.11",
            "ELF64 x86-64",
            "aarch64",
            "was not written",
        ],
    );
    assert!(
        err.contains("lib-dynload/"),
        "every offender is named:\n{err}"
    );
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
fn output_directory_read_only() {
    let (s, venv, _) = setup();
    let ro = s.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let out = ro.join("app.tar.gz");
    if !can_hide() {
        eprintln!(
            "*** SKIPPED output_directory_read_only: needs `unshare -m` (root) for a read-only mount ***"
        );
        return;
    }
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
fn unreadable_file() {
    if !is_root() {
        eprintln!("*** SKIPPED unreadable_file: needs root to switch to an unprivileged user ***");
        return;
    }
    let (s, venv, out) = setup();
    let secret = site(&venv).join("secret.py");
    std::fs::write(&secret, "X = 1\n").unwrap();
    chmod(&secret, 0o600);
    let before = snapshot(&venv);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    chmod(&outdir, 0o777);
    let out = outdir.join(out.file_name().unwrap());
    let o = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            RVENV,
            "bundle",
        ])
        .arg(&venv)
        .arg("-o")
        .arg(&out));
    check_refusal(
        &o,
        &out,
        2,
        &["site-packages/secret.py", "Permission denied"],
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
fn interrupt_leaves_nothing_behind() {
    let (s, venv, out) = setup();
    // Enough incompressible data that the write takes a while.
    let big = site(&venv).join("blobs");
    std::fs::create_dir(&big).unwrap();
    for i in 0..40 {
        run_ok(
            Command::new("head")
                .args(["-c", "8000000", "/dev/urandom"])
                .stdout(std::fs::File::create(big.join(format!("{i}.bin"))).unwrap()),
        );
    }
    let before = snapshot(&venv);
    for signal in ["INT", "TERM"] {
        let mut child = Command::new(RVENV)
            .arg("bundle")
            .arg(&venv)
            .arg("-o")
            .arg(&out)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while temp_leftovers(s.path()).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no temporary file appeared"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before it could be interrupted"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        run_ok(
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string()),
        );
        let o = child.wait_with_output().unwrap();
        check_refusal(&o, &out, 130, &["interrupted"]);
    }
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
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
