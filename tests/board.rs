//! Bundles made on x86-64 for other CPUs run on a board: a root filesystem with the target's
//! system libraries, BusyBox as its only shell and toolset, and no Python at all, entered with
//! `chroot` while binfmt_misc hands its ARM programs to qemu-user. Nothing of the build machine
//! is visible there. Also `rvenv probe` on such roots.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

/// Asserts the run succeeded and returns its stdout.
fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn expect_line(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "no line {line:?} in:\n{out}"
    );
}

/// Debian's arm64 CPython 3.11 under qemu makes the venv; the host's pip fills it with PyPI's
/// aarch64 numpy and the demo wheel (a console script).
fn aarch64_venv(venv: &Path) {
    foreign_venv(
        "arm64",
        "python3.11",
        "qemu-aarch64-static",
        venv,
        Some("manylinux_2_17_aarch64"),
    );
    pip_prefix_demo(venv);
    assert!(venv.join("bin/rvenv-demo").is_file());
}

fn armhf_venv(venv: &Path) {
    foreign_venv("armhf", "python3.11", "qemu-arm-static", venv, None);
    pip_prefix_demo(venv);
    assert!(venv.join("bin/rvenv-demo").is_file());
}

/// What the interpreter reports on the board.
const PY_REPORT: &str = "import sys, platform, json, ssl, sqlite3, ctypes; \
print('PREFIX', sys.prefix); print('BASE', sys.base_prefix); print('EXE', sys.executable); \
print('MACHINE', platform.machine()); print('VERSION', sys.version_info[:2]); \
print('PATHS', json.dumps(sys.path))";

const NUMPY: &str = "import numpy; print('SUM', numpy.arange(10).sum()); \
print('DOT', int(numpy.dot(numpy.arange(4), numpy.arange(4)))); print('NUMPY', numpy.__file__)";

/// Extracts `tarball` into `root/opt` and runs the bundle there: `/opt/app` on the board, a
/// path unlike the build's. Returns the board's stdout (or the qemu fallback's).
fn run_bundle_on_board(root: &Path, with_numpy: bool) -> String {
    let app = "/opt/app";
    match board_mode(root) {
        BoardMode::Chroot => {
            let numpy = if with_numpy {
                format!("{app}/bin/python3 -c \"{NUMPY}\"\n")
            } else {
                String::new()
            };
            let script = format!(
                r#"set -e
cd /tmp
for f in /usr/bin/python* /usr/lib/python3* /usr/local/bin/python* /bin/python*; do
  [ -e "$f" ] && echo "A PYTHON ON THE BOARD: $f"
done
echo "SH=$(readlink /bin/sh)"
head -1 {app}/bin/rvenv-demo
{app}/bin/python3 -c "{PY_REPORT}"
{numpy}echo "FULL=$({app}/bin/rvenv-demo)"
echo "PATHLOOKUP=$(PATH={app}/bin:$PATH; rvenv-demo)"
mkdir -p /usr/local/bin
ln -sf {app}/bin/rvenv-demo /usr/local/bin/demo-link
echo "LINK=$(demo-link)"
echo "DATA=$({app}/bin/demo-data-script)"
"#
            );
            ok(run_on_board(root, &script), "the bundle on the board")
        }
        BoardMode::Qemu(qemu) => {
            let python = format!("{app}/bin/python3");
            let mut out = ok(
                run_python_qemu(root, qemu, &python, &["-c", PY_REPORT]),
                "the interpreter under qemu",
            );
            if with_numpy {
                out += &ok(
                    run_python_qemu(root, qemu, &python, &["-c", NUMPY]),
                    "numpy under qemu",
                );
            }
            // The entry point's Python part (its shell part needs the board's /bin/sh).
            let script = root.join("opt/app/bin/rvenv-demo");
            out += &format!(
                "FULL={}",
                ok(
                    run_python_qemu(root, qemu, &python, &[script.to_str().unwrap()]),
                    "the entry point under qemu"
                )
            );
            out
        }
    }
}

/// `sys.prefix` as the bundle sees it: `/opt/app` on the board, the host path under the
/// qemu fallback.
fn board_prefix(root: &Path) -> String {
    match board_mode(root) {
        BoardMode::Chroot => "/opt/app".into(),
        BoardMode::Qemu(_) => root.join("opt/app").display().to_string(),
    }
}

fn assert_ran_on_board(root: &Path, out: &str, machine: &str) {
    let prefix = board_prefix(root);
    expect_line(out, &format!("PREFIX {prefix}"));
    expect_line(out, &format!("BASE {prefix}/python"));
    expect_line(out, &format!("EXE {prefix}/bin/python3"));
    expect_line(out, &format!("MACHINE {machine}"));
    expect_line(out, "VERSION (3, 11)");
    let paths = out
        .lines()
        .find_map(|l| l.strip_prefix("PATHS "))
        .unwrap();
    let paths: Vec<String> = serde_json::from_str(paths).unwrap();
    assert!(
        paths.contains(&format!("{prefix}/lib/python3.11/site-packages")),
        "{paths:?}"
    );
    // '' is the current directory (`-c`); everything else is inside the bundle.
    for p in paths.iter().filter(|p| !p.is_empty()) {
        assert!(p.starts_with(&prefix), "sys.path leaves the bundle: {p}");
    }
    expect_line(out, &format!("FULL=rvenv-demo ok {prefix}"));
    if board_mode(root) == BoardMode::Chroot {
        // No Python of any kind on the board; BusyBox is its shell.
        assert!(!out.contains("A PYTHON ON THE BOARD"), "{out}");
        expect_line(out, "SH=/bin/busybox");
        expect_line(out, "#!/bin/sh");
        expect_line(out, &format!("PATHLOOKUP=rvenv-demo ok {prefix}"));
        expect_line(out, &format!("LINK=rvenv-demo ok {prefix}"));
        expect_line(out, &format!("DATA=data-script ok {prefix}"));
    }
}

#[test]
fn aarch64_bundle_with_numpy_runs_on_an_arm64_board_without_python() {
    let s = scratch();
    let venv = s.path().join("build/app");
    aarch64_venv(&venv);
    let tarball = s.path().join("app-aarch64.tar.gz");
    bundle_ok(&venv, &tarball, &["--target", "aarch64"]);
    let root = board_root("arm64", s.path());
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, true);
    assert_ran_on_board(&root, &out, "aarch64");
    // numpy computes, from the bundle.
    expect_line(&out, "SUM 45");
    expect_line(&out, "DOT 14");
    let prefix = board_prefix(&root);
    expect_line(
        &out,
        &format!("NUMPY {prefix}/lib/python3.11/site-packages/numpy/__init__.py"),
    );
}

#[test]
fn armv7_bundle_runs_on_an_armhf_board_without_python() {
    let s = scratch();
    let venv = s.path().join("build/app");
    armhf_venv(&venv);
    let tarball = s.path().join("app-armv7.tar.gz");
    bundle_ok(&venv, &tarball, &["--target", "armv7"]);
    let root = board_root("armhf", s.path());
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, false);
    assert_ran_on_board(&root, &out, "armv7l");
}
