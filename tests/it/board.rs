//! Bundles made on x86-64 for other CPUs run on a board: a root filesystem with the target's
//! system libraries, BusyBox as its only shell and toolset, and no Python at all, entered with
//! `chroot` while binfmt_misc hands its ARM programs to qemu-user. Nothing of the build machine
//! is visible there. Also `rvenv probe` on such roots.
//!
//! Each bundle runs twice: as any user, its interpreter under `qemu-*-static -L ROOT` (the
//! board's libraries, but not its /bin/sh); and as root (`#[ignore]`d for that,
//! `..._in_a_chroot`), everything in the chroot.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Asserts the run succeeded and returns its stdout.
pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

pub(crate) fn expect_line(out: &str, line: &str) {
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

/// Runs the bundle extracted in `root/opt`: `/opt/app` on the board, a path unlike the
/// build's. Returns the board's stdout (or, under qemu, the interpreter's).
pub(crate) fn run_bundle_on_board(root: &Path, mode: BoardMode, with_numpy: bool) -> String {
    let app = "/opt/app";
    match mode {
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

/// `sys.prefix` as the bundle sees it: `/opt/app` in the chroot, the host path under qemu.
fn board_prefix(root: &Path, mode: BoardMode) -> String {
    match mode {
        BoardMode::Chroot => "/opt/app".into(),
        BoardMode::Qemu(_) => root.join("opt/app").display().to_string(),
    }
}

pub(crate) fn assert_ran_on_board(root: &Path, mode: BoardMode, out: &str, machine: &str) {
    let prefix = board_prefix(root, mode);
    expect_line(out, &format!("PREFIX {prefix}"));
    expect_line(out, &format!("BASE {prefix}/python"));
    expect_line(out, &format!("EXE {prefix}/bin/python3"));
    expect_line(out, &format!("MACHINE {machine}"));
    expect_line(out, "VERSION (3, 11)");
    let paths = out.lines().find_map(|l| l.strip_prefix("PATHS ")).unwrap();
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
    if mode == BoardMode::Chroot {
        // No Python of any kind on the board; BusyBox is its shell.
        assert!(!out.contains("A PYTHON ON THE BOARD"), "{out}");
        expect_line(out, "SH=/bin/busybox");
        expect_line(out, "#!/bin/sh");
        expect_line(out, &format!("PATHLOOKUP=rvenv-demo ok {prefix}"));
        expect_line(out, &format!("LINK=rvenv-demo ok {prefix}"));
        expect_line(out, &format!("DATA=data-script ok {prefix}"));
    }
}

fn aarch64_bundle_with_numpy(on: fn(&Path) -> BoardMode) {
    let s = scratch();
    let root = board_root("arm64", s.path());
    let mode = on(&root);
    let venv = s.path().join("build/app");
    aarch64_venv(&venv);
    let tarball = s.path().join("app-aarch64.tar.gz");
    bundle_ok(&venv, &tarball, &["--target", "aarch64"]);
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, true);
    assert_ran_on_board(&root, mode, &out, "aarch64");
    // numpy computes, from the bundle.
    expect_line(&out, "SUM 45");
    expect_line(&out, "DOT 14");
    let prefix = board_prefix(&root, mode);
    expect_line(
        &out,
        &format!("NUMPY {prefix}/lib/python3.11/site-packages/numpy/__init__.py"),
    );
    if mode == BoardMode::Chroot {
        started_under_another_name_never_uses_the_boards_stdlib(&root);
    }
}

/// A board with its own CPython 3.11 standard library in /usr/lib/python3.11 (a decoy: a
/// copy of the bundle's, so it would work): the bundle's interpreter started under another
/// name, from `/` and from inside the bundle, uses its own standard library or stops at once
/// saying so; it never imports the board's.
fn started_under_another_name_never_uses_the_boards_stdlib(root: &Path) {
    let decoy = root.join("usr/lib/python3.11");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(root.join("opt/app/python/lib/python3.11"))
            .arg(&decoy),
    );
    let script = r#"for d in / /opt/app/python; do cd $d; /opt/app/bin/python3 -c "import subprocess, sys; r = subprocess.run(['name', '-c', 'import os; print(os.__file__)'], executable=sys.executable, capture_output=True, text=True); print('RC', r.returncode); print('OS', r.stdout.strip()); print('NOHOME', 'Could not find platform independent libraries' in r.stderr)"; done"#;
    let out = run_on_board(root, script);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        !text.contains("/usr/lib/python3.11"),
        "the board's stdlib was used:\n{text}"
    );
    // qemu-user through binfmt_misc (without its P flag) starts the guest with the file's path
    // as argv[0], so the name is not seen here as it is on a board: each run must use the
    // bundle's standard library or stop saying it has no home. The unresolvable name itself is
    // tested natively (reliability::started_under_another_name_*).
    let runs: Vec<&str> = text.lines().collect();
    assert_eq!(runs.len(), 6, "{text}");
    for run in runs.chunks(3) {
        assert!(
            run == [
                "RC 0",
                "OS /opt/app/python/lib/python3.11/os.py",
                "NOHOME False"
            ] || run == ["RC 1", "OS", "NOHOME True"],
            "{text}"
        );
    }
    std::fs::remove_dir_all(&decoy).unwrap();
}

#[test]
fn aarch64_bundle_with_numpy_runs_on_an_arm64_board_without_python() {
    aarch64_bundle_with_numpy(BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in the board root"]
fn aarch64_bundle_with_numpy_runs_on_an_arm64_board_without_python_in_a_chroot() {
    require_root("binfmt_misc and chroot run the bundle in the board root");
    aarch64_bundle_with_numpy(BoardMode::chroot);
}

fn armv7_bundle(on: fn(&Path) -> BoardMode) {
    let s = scratch();
    let root = board_root("armhf", s.path());
    let mode = on(&root);
    let venv = s.path().join("build/app");
    armhf_venv(&venv);
    let tarball = s.path().join("app-armv7.tar.gz");
    bundle_ok(&venv, &tarball, &["--target", "armv7"]);
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, false);
    assert_ran_on_board(&root, mode, &out, "armv7l");
}

#[test]
fn armv7_bundle_runs_on_an_armhf_board_without_python() {
    armv7_bundle(BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in the board root"]
fn armv7_bundle_runs_on_an_armhf_board_without_python_in_a_chroot() {
    require_root("binfmt_misc and chroot run the bundle in the board root");
    armv7_bundle(BoardMode::chroot);
}

/// Section 2's bundles on the same boards: assembled from the target's interpreter and pinned
/// requirements, with no venv at all.
fn assemble_for(arch: &str, target: &str, requirements: &str, dir: &Path) -> std::path::PathBuf {
    let python = fixtures().join(format!("sysroot-{arch}/usr/bin/python3.11"));
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    for w in std::fs::read_dir(fixtures().join("wheels"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(w.path(), wheels.join(w.file_name())).unwrap();
    }
    let demo = demo_wheel();
    std::fs::copy(&demo, wheels.join(demo.file_name().unwrap())).unwrap();
    let req = dir.join("requirements.txt");
    std::fs::write(&req, requirements).unwrap();
    let tarball = dir.join(format!("app-{target}.tar.gz"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .args([
            "bundle",
            "--target",
            target,
            "--arcroot",
            "app",
            "--no-index",
        ])
        .arg("--python")
        .arg(&python)
        .arg("-r")
        .arg(&req)
        .arg("-f")
        .arg(&wheels)
        .arg("-o")
        .arg(&tarball)
        .output()
        .unwrap();
    ok(out, "rvenv bundle --python -r");
    tarball
}

fn assembled_aarch64_bundle_with_numpy(on: fn(&Path) -> BoardMode) {
    let s = scratch();
    let root = board_root("arm64", s.path());
    let mode = on(&root);
    let numpy = std::fs::read_dir(fixtures().join("wheels"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("numpy-") && n.contains("aarch64"))
        .unwrap();
    let version = numpy.split('-').nth(1).unwrap();
    let tarball = assemble_for(
        "arm64",
        "aarch64",
        &format!("numpy=={version}\nrvenv-demo==1.0\n"),
        s.path(),
    );
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, true);
    assert_ran_on_board(&root, mode, &out, "aarch64");
    expect_line(&out, "SUM 45");
    expect_line(&out, "DOT 14");
}

#[test]
fn assembled_aarch64_bundle_with_numpy_runs_on_an_arm64_board() {
    assembled_aarch64_bundle_with_numpy(BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in the board root"]
fn assembled_aarch64_bundle_with_numpy_runs_on_an_arm64_board_in_a_chroot() {
    require_root("binfmt_misc and chroot run the bundle in the board root");
    assembled_aarch64_bundle_with_numpy(BoardMode::chroot);
}

fn assembled_armv7_bundle(on: fn(&Path) -> BoardMode) {
    let s = scratch();
    let root = board_root("armhf", s.path());
    let mode = on(&root);
    let tarball = assemble_for("armhf", "armv7", "rvenv-demo==1.0\n", s.path());
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, false);
    assert_ran_on_board(&root, mode, &out, "armv7l");
}

#[test]
fn assembled_armv7_bundle_runs_on_an_armhf_board() {
    assembled_armv7_bundle(BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in the board root"]
fn assembled_armv7_bundle_runs_on_an_armhf_board_in_a_chroot() {
    require_root("binfmt_misc and chroot run the bundle in the board root");
    assembled_armv7_bundle(BoardMode::chroot);
}

/// `rvenv probe --root ROOT -o FILE`, read back with the same parser as `--target-file`.
fn probe_root(root: &Path, file: &Path) -> rvenv::target::Target {
    let out = rvenv(&[
        "probe".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "-o".as_ref(),
        file.as_os_str(),
    ]);
    ok(out, "rvenv probe");
    rvenv::target::from_file(file).unwrap_or_else(|e| panic!("{e}"))
}

fn check_with(path: &Path, file: &Path) -> Output {
    rvenv(&[
        "check".as_ref(),
        path.as_os_str(),
        "--target-file".as_ref(),
        file.as_os_str(),
    ])
}

fn probe_of_an_arm64_board(on: fn(&Path) -> BoardMode) {
    let s = scratch();
    let root = board_root("arm64", s.path());
    let mode = on(&root);
    let file = s.path().join("board.toml");
    let t = probe_root(&root, &file);
    assert_eq!((t.elf.class, t.elf.machine), (64, 183), "{t:?}");
    assert_eq!(t.elf.loaders, ["/lib/ld-linux-aarch64.so.1"]);
    assert_eq!(t.libc.glibc.map(|g| g.to_string()).as_deref(), Some("2.36"));
    assert_eq!(
        t.libc.glibcxx.map(|g| g.to_string()).as_deref(),
        Some("3.4.30")
    );
    assert!(t.arm.is_none() && t.riscv.is_none());
    for lib in [
        "libc.so.6",
        "libm.so.6",
        "libz.so.1",
        "libssl.so.3",
        "libstdc++.so.6",
    ] {
        assert!(t.libc.system_libs.iter().any(|l| l == lib), "{lib}: {t:?}");
    }
    // Sonames only: not the versioned files, not the loader, no Python (there is none).
    for l in &t.libc.system_libs {
        assert!(!l.starts_with("ld-") && !l.contains("python"), "{l}");
    }
    assert!(!t.libc.system_libs.iter().any(|l| l == "libz.so.1.2.13"));
    assert_eq!(t.wheel_platforms[0], "manylinux_2_36_aarch64");

    let venv = s.path().join("build/app");
    aarch64_venv(&venv);
    let o = check_with(&venv, &file);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 problems"), "{}", stdout(&o));

    let tarball = s.path().join("app.tar.gz");
    let mut cmd = std::process::Command::new(RVENV);
    cmd.arg("bundle")
        .arg(&venv)
        .arg("--target-file")
        .arg(&file)
        .arg("-o")
        .arg(&tarball);
    ok(run(&mut cmd), "rvenv bundle --target-file");
    let manifest = {
        let dir = s.path().join("unpacked");
        extract(&tarball, &dir);
        std::fs::read_to_string(dir.join("app/rvenv.json")).unwrap()
    };
    assert!(manifest.contains("probed-aarch64"), "{manifest}");
    extract(&tarball, &root.join("opt"));
    let out = run_bundle_on_board(&root, mode, true);
    assert_ran_on_board(&root, mode, &out, "aarch64");
    expect_line(&out, "SUM 45");
}

#[test]
fn probe_of_an_arm64_board_drives_check_and_bundle_and_the_bundle_runs_there() {
    probe_of_an_arm64_board(BoardMode::qemu);
}

#[test]
#[ignore = "needs root: binfmt_misc and chroot run the bundle in the board root"]
fn probe_of_an_arm64_board_drives_check_and_bundle_and_the_bundle_runs_there_in_a_chroot() {
    require_root("binfmt_misc and chroot run the bundle in the board root");
    probe_of_an_arm64_board(BoardMode::chroot);
}

#[test]
fn probe_of_an_armhf_board_is_armv7_hard_float_on_an_x86_64_host() {
    let s = scratch();
    let root = board_root("armhf", s.path());
    let file = s.path().join("board.toml");
    let t = probe_root(&root, &file);
    assert_eq!((t.elf.class, t.elf.machine), (32, 40), "{t:?}");
    assert_eq!(t.elf.loaders, ["/lib/ld-linux-armhf.so.3"]);
    assert_eq!(t.libc.glibc.map(|g| g.to_string()).as_deref(), Some("2.36"));
    let arm = t.arm.as_ref().expect("an [arm] profile");
    assert_eq!(arm.float_abi, rvenv::target::FloatAbi::Hard);
    // Debian armhf's baseline, as the built-in armv7 target has it: ARMv7, VFPv3-D16, no NEON
    // (read from the loader: libc.so.6 records NEON for its run-time-selected functions).
    let armv7 = rvenv::target::find("armv7").unwrap().arm.clone().unwrap();
    assert_eq!(arm, &armv7, "{t:?}");
    assert!(t.name.contains("armv7"), "{}", t.name);

    // Debian's armhf CPython passes; an aarch64 venv does not (the ABI, not the kernel, decides).
    let venv = s.path().join("build/app");
    armhf_venv(&venv);
    let o = check_with(&venv, &file);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let arm64_venv = s.path().join("build/arm64");
    foreign_venv(
        "arm64",
        "python3.11",
        "qemu-aarch64-static",
        &arm64_venv,
        None,
    );
    let o = check_with(&arm64_venv, &file);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ELF64 AArch64"), "{}", stderr(&o));

    // A 32-bit userland on a 64-bit-capable system (as Raspberry Pi OS armhf on a 64-bit
    // kernel): the arm64 loader and libraries are there too, and `uname -m` would say aarch64
    // on the board (x86_64 here). /bin/sh decides: armv7.
    let arm64 = fixtures().join("sysroot-arm64");
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(arm64.join("lib/aarch64-linux-gnu"))
            .arg(arm64.join("lib/ld-linux-aarch64.so.1"))
            .arg(root.join("lib")),
    );
    let armhf_libs = t.libc.system_libs.clone();
    let t = probe_root(&root, &s.path().join("multiarch.toml"));
    assert_eq!((t.elf.class, t.elf.machine), (32, 40), "{t:?}");
    assert_eq!(t.elf.loaders, ["/lib/ld-linux-armhf.so.3"]);
    assert_eq!(t.arm.as_ref(), Some(&armv7));
    // The arm64 libraries are not the userland's: the same list as without them.
    assert_eq!(t.libc.system_libs, armhf_libs);
}

#[test]
fn probe_of_this_machine_describes_x86_64_and_prints_to_stdout() {
    let out = rvenv(&["probe".as_ref()]);
    let text = ok(out, "rvenv probe");
    assert!(text.starts_with("# Written by `rvenv probe`"), "{text}");
    let s = scratch();
    let file = s.path().join("host.toml");
    std::fs::write(&file, &text).unwrap();
    let t = rvenv::target::from_file(&file).unwrap();
    let host = std::env::consts::ARCH;
    if host == "x86_64" {
        assert_eq!((t.elf.class, t.elf.machine), (64, 62), "{t:?}");
    }
    assert!(t.libc.system_libs.iter().any(|l| l == "libc.so.6"));
    // A root that is not a system says what it tried.
    let o = rvenv(&["probe".as_ref(), "--root".as_ref(), s.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/bin/sh"), "{}", stderr(&o));
}
