//! rvenv itself on the board: built for aarch64 and armv7 (rustup's targets with Debian's cross
//! linkers, .cargo/config.toml), then run under qemu-user with Debian bookworm's arm64/armhf
//! libc from the fixtures: `--version`, `check` and `verify` of real bundles.
//!
//! The cross toolchain is installed by .ci/run; without it this test fails (it never passes
//! silently).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

struct Board {
    triple: &'static str,
    linker: &'static str,
    qemu: &'static str,
    sysroot: &'static str,
    machine: u16,
    is_64: bool,
    loader: &'static str,
}

const BOARDS: [Board; 2] = [
    Board {
        triple: "aarch64-unknown-linux-gnu",
        linker: "aarch64-linux-gnu-gcc",
        qemu: "qemu-aarch64-static",
        sysroot: "sysroot-arm64",
        machine: goblin::elf::header::EM_AARCH64,
        is_64: true,
        loader: "/lib/ld-linux-aarch64.so.1",
    },
    Board {
        triple: "armv7-unknown-linux-gnueabihf",
        linker: "arm-linux-gnueabihf-gcc",
        qemu: "qemu-arm-static",
        sysroot: "sysroot-armhf",
        machine: goblin::elf::header::EM_ARM,
        is_64: false,
        loader: "/lib/ld-linux-armhf.so.3",
    },
];

const SETUP: &str = "run .ci/run, which installs gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf and \
qemu-user-static and runs `rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf`";

fn works(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// Everything the cross build and the qemu runs need; a missing piece fails the test loudly.
fn require_toolchain() {
    let mut missing = Vec::new();
    for b in &BOARDS {
        let libdir = Command::new(rustc())
            .args(["--print", "target-libdir", "--target", b.triple])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let has_std = libdir
            .and_then(|d| std::fs::read_dir(d).ok())
            .is_some_and(|mut entries| {
                entries.any(|e| {
                    e.map(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
                        .unwrap_or(false)
                })
            });
        if !has_std {
            missing.push(format!("the Rust standard library for {}", b.triple));
        }
        if !works(Command::new(b.linker).arg("--version")) {
            missing.push(format!("the linker {}", b.linker));
        }
        if !works(Command::new(b.qemu).arg("--version")) {
            missing.push(b.qemu.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "\n*** CROSS TOOLCHAIN MISSING: {}. To build rvenv for the board, {SETUP}. ***\n",
        missing.join(", ")
    );
}

/// `cargo build --target T --bin rvenv` for both boards, in a target directory of its own: a
/// cargo nested in `cargo test` must not wait on the build lock the outer one holds.
///
/// Dependencies at opt-level 1 without debug info: measured on this 2-core machine, a cold
/// build of both targets took 4.8 CPU-minutes instead of 7.7 with the dev profile's opt-level 3
/// and debug info, and `verify` of a 157 MB bundle under qemu took 10% longer.
fn cross_build() -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp.parent().unwrap_or(tmp).join("cross");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--locked", "--bin", "rvenv"])
        .args(["--config", "profile.dev.debug=false"])
        .args(["--config", "profile.dev.package.\"*\".opt-level=1"]);
    for b in &BOARDS {
        cmd.args(["--target", b.triple]);
    }
    let start = Instant::now();
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}); if the toolchain is missing, {SETUP}:\n{}",
        out.status,
        stderr(&out)
    );
    eprintln!(
        "cross build of rvenv for {} took {:.1} s",
        BOARDS.map(|b| b.triple).join(" and "),
        start.elapsed().as_secs_f64()
    );
    BOARDS
        .iter()
        .map(|b| target_dir.join(b.triple).join("debug/rvenv"))
        .collect()
}

fn assert_elf(exe: &Path, b: &Board) {
    let bytes = std::fs::read(exe).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    assert_eq!(
        elf.header.e_machine,
        b.machine,
        "{}: machine",
        exe.display()
    );
    assert_eq!(elf.is_64, b.is_64, "{}: class", exe.display());
    assert!(elf.little_endian, "{}", exe.display());
    assert_eq!(elf.interpreter, Some(b.loader), "{}: loader", exe.display());
    if b.machine == goblin::elf::header::EM_ARM {
        // EF_ARM_ABI_FLOAT_HARD: armhf, as Raspberry Pi OS and Debian armhf run.
        assert_ne!(
            elf.header.e_flags & 0x400,
            0,
            "{}: not hard-float",
            exe.display()
        );
    }
}

/// The board's rvenv under qemu-user, with the board's libc from the sysroot.
fn on_board(b: &Board, exe: &Path, args: &[&std::ffi::OsStr]) -> Output {
    run(Command::new(b.qemu)
        .arg("-L")
        .arg(fixtures().join(b.sysroot))
        .arg(exe)
        .args(args))
}

fn expect(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}:\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

#[test]
fn rvenv_built_for_aarch64_and_armv7_checks_and_verifies_bundles_under_qemu() {
    require_toolchain();
    let exes = cross_build();
    for (b, exe) in BOARDS.iter().zip(&exes) {
        assert_elf(exe, b);
    }

    // Bundles made by this machine's rvenv: a venv for aarch64 (Debian's arm64 CPython under
    // qemu makes it, numpy's aarch64 wheel in it) and a venv of this machine's x86-64 Python.
    let s = scratch();
    let arm_venv = s.path().join("arm");
    foreign_venv(
        "arm64",
        "python3.11",
        "qemu-aarch64-static",
        &arm_venv,
        Some("manylinux_2_17_aarch64"),
    );
    let arm_tar = s.path().join("arm.tar.gz");
    bundle_ok(
        &arm_venv,
        &arm_tar,
        &["--target", "aarch64", "--arcroot", "app", "-q"],
    );
    let x86_venv = s.path().join("x86");
    make_bare_venv(&x86_venv);
    let x86_tar = s.path().join("x86.tar.gz");
    bundle_ok(&x86_venv, &x86_tar, &["--target", "x86_64", "-q"]);
    let extracted = s.path().join("opt");
    extract(&arm_tar, &extracted);
    let app = extracted.join("app");

    for (b, exe) in BOARDS.iter().zip(&exes) {
        let start = Instant::now();
        let out = on_board(b, exe, &["--version".as_ref()]);
        let version = expect(&out, 0, &format!("{} rvenv --version", b.triple));
        assert_eq!(
            version.trim(),
            format!("rvenv {}", env!("CARGO_PKG_VERSION"))
        );

        let out = on_board(b, exe, &["check".as_ref(), arm_tar.as_os_str()]);
        let text = expect(
            &out,
            0,
            &format!("{}: rvenv check of the aarch64 bundle", b.triple),
        );
        assert!(text.contains("0 problems"), "{text}");
        assert!(
            stderr(&out).contains("target: aarch64 (detected from"),
            "{}",
            stderr(&out)
        );

        let args = [
            "check".as_ref(),
            x86_tar.as_os_str(),
            "--target".as_ref(),
            "aarch64".as_ref(),
        ];
        let out = on_board(b, exe, &args);
        expect(
            &out,
            1,
            &format!("{}: rvenv check of the x86-64 bundle", b.triple),
        );
        let err = stderr(&out);
        assert!(
            err.contains("error: python/bin/python3.11: ") && err.contains("ELF64 x86-64"),
            "{err}"
        );

        // verify: the extracted bundle (hashed in parallel) and the tarball (streamed).
        let out = on_board(b, exe, &["verify".as_ref(), app.as_os_str()]);
        let text = expect(
            &out,
            0,
            &format!("{}: rvenv verify of the bundle", b.triple),
        );
        assert!(text.contains("files match rvenv.json (rvenv "), "{text}");
        let out = on_board(
            b,
            exe,
            &["verify".as_ref(), arm_tar.as_os_str(), "--json".as_ref()],
        );
        let doc: serde_json::Value =
            serde_json::from_str(&expect(&out, 0, "verify --json of the tarball")).unwrap();
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["manifest"]["target"], "aarch64");
        eprintln!(
            "{}: --version, two checks and two verifies under {} took {:.1} s",
            b.triple,
            b.qemu,
            start.elapsed().as_secs_f64()
        );
    }

    // An edited bundle: both boards' rvenv name the file and exit 1.
    let edited = "lib/python3.11/site-packages/numpy/version.py";
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(app.join(edited))
        .unwrap();
    std::io::Write::write_all(&mut f, b"# edited on the board\n").unwrap();
    drop(f);
    for (b, exe) in BOARDS.iter().zip(&exes) {
        let out = on_board(b, exe, &["verify".as_ref(), app.as_os_str()]);
        let text = expect(
            &out,
            1,
            &format!("{}: rvenv verify of the edited bundle", b.triple),
        );
        assert!(text.contains(&format!("changed  {edited}: ")), "{text}");
        assert!(
            text.contains("differs from its manifest: 1 changed"),
            "{text}"
        );
    }
}
