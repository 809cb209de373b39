//! `rvenv check` and the bundle's check, with real foreign binaries: Debian's arm64, armhf and
//! riscv64 CPython, PyPI's numpy wheels, a musl binary built with musl-gcc.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check(path: &Path, args: &[&str]) -> Output {
    run(Command::new(RVENV).arg("check").arg(path).args(args))
}

fn passes(path: &Path, args: &[&str]) -> String {
    let o = check(path, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "check {args:?} should pass:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Fails with exit 1 and an `error:` line naming `path_inside` and every word of `words`.
fn fails(path: &Path, args: &[&str], path_inside: &str, words: &[&str]) -> String {
    let o = check(path, args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "check {args:?} should fail:\n{}\n{err}",
        stdout(&o)
    );
    let line = err
        .lines()
        .find(|l| {
            l.starts_with(&format!("error: {path_inside}")) && words.iter().all(|w| l.contains(w))
        })
        .unwrap_or_else(|| panic!("no error line for {path_inside} with {words:?} in:\n{err}"));
    line.to_string()
}

fn aarch64_venv(dir: &Path) {
    foreign_venv(
        "arm64",
        "python3.11",
        "qemu-aarch64-static",
        dir,
        Some("manylinux_2_17_aarch64"),
    );
}

#[test]
fn aarch64_venv_passes_aarch64_and_fails_other_cpus_naming_the_interpreter() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let out = passes(&venv, &["--target", "aarch64"]);
    assert!(out.contains("0 problems"), "{out}");
    // numpy's extension modules need numpy.libs/ through $ORIGIN/../../numpy.libs: resolved.
    assert!(
        venv.join("lib/python3.11/site-packages/numpy.libs")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );
    fails(
        &venv,
        &["--target", "x86_64"],
        "python/bin/python3.11",
        &["ELF64 AArch64", "x86_64 needs ELF64 x86-64"],
    );
    fails(
        &venv,
        &["--target", "armv7"],
        "python/bin/python3.11",
        &["ELF64 AArch64", "armv7 needs ELF32 ARM"],
    );
    // Detected when no target is given.
    let o = check(&venv, &[]);
    assert!(
        stderr(&o).contains("target: aarch64 (detected from"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bookworm_interpreter_needs_a_newer_glibc_than_bullseye() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let line = fails(
        &venv,
        &["--target", "rpios-bullseye-aarch64"],
        "python/bin/python3.11",
        &["needs GLIBC_2.3", "glibc 2.31"],
    );
    assert!(
        line.contains("GLIBC_2.34") || line.contains("GLIBC_2.35"),
        "{line}"
    );
    passes(&venv, &["--target", "rpios-bookworm-aarch64"]);
    // --glibc overrides the target's.
    fails(
        &venv,
        &["--target", "aarch64", "--glibc", "2.31"],
        "python/bin/python3.11",
        &["GLIBC_2.3"],
    );
}

#[test]
fn planted_x86_module_truncated_and_fake_elf_are_named() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::copy(
        "/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
        site.join("_speedups.cpython-311-aarch64-linux-gnu.so"),
    )
    .unwrap();
    let numpy_so = walkdir::WalkDir::new(site.join("numpy"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.to_string_lossy().ends_with(".so"))
        .unwrap();
    let bytes = std::fs::read(&numpy_so).unwrap();
    std::fs::write(site.join("truncated.so"), &bytes[..100]).unwrap();
    let mut fake = b"\x7fELF".to_vec();
    fake.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
    std::fs::write(site.join("random.dat"), fake).unwrap();
    let prefix = "lib/python3.11/site-packages/";
    fails(
        &venv,
        &["--target", "aarch64"],
        &format!("{prefix}_speedups"),
        &["ELF64 x86-64 binary", "aarch64 needs ELF64 AArch64"],
    );
    fails(
        &venv,
        &["--target", "aarch64"],
        &format!("{prefix}truncated.so"),
        &["malformed or truncated"],
    );
    fails(
        &venv,
        &["--target", "aarch64"],
        &format!("{prefix}random.dat"),
        &["malformed or truncated"],
    );
}

#[test]
fn numpy_libs_resolve_inside_and_a_deleted_one_is_missing() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let libs = venv.join("lib/python3.11/site-packages/numpy.libs");
    let victim = libs
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("openblas"))
        .expect("numpy bundles OpenBLAS");
    std::fs::remove_file(&victim).unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    fails(
        &venv,
        &["--target", "aarch64"],
        "lib/python3.11/site-packages/numpy/",
        &[&format!("needs {name}"), "$ORIGIN/../../numpy.libs"],
    );
}

#[test]
fn debian_armhf_interpreter_is_armv7_code() {
    let s = scratch();
    let venv = s.path().join("app");
    foreign_venv("armhf", "python3.11", "qemu-arm-static", &venv, None);
    passes(&venv, &["--target", "armv7"]);
    // Detected as armv7, not armv6 (the stricter ARM target is tried first and refused).
    let o = check(&venv, &[]);
    assert!(
        stderr(&o).contains("target: armv7 (detected from"),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
    let line = fails(
        &venv,
        &["--target", "armv6"],
        "python/bin/python3.11",
        &["ARMv7 code", "armv6 runs up to", "Illegal instruction"],
    );
    assert!(line.contains("ARMv7"), "{line}");
    let o = check(&venv, &["--target", "armv6"]);
    assert!(
        stderr(&o).contains("VFPv3-D16 floating point"),
        "{}",
        stderr(&o)
    );
    fails(
        &venv,
        &["--target", "rpios-bookworm-armv6"],
        "python/bin/python3.11",
        &["ARMv7 code"],
    );
}

#[test]
fn riscv64_interpreter_from_trixie() {
    let s = scratch();
    let venv = s.path().join("app");
    foreign_venv("riscv64", "python3.13", "qemu-riscv64-static", &venv, None);
    passes(&venv, &["--target", "riscv64"]);
    fails(
        &venv,
        &["--target", "aarch64"],
        "python/bin/python3.13",
        &["RISC-V"],
    );
    fails(
        &venv,
        &["--target", "debian-13-aarch64"],
        "python/bin/python3.13",
        &["RISC-V"],
    );
}

#[test]
fn musl_and_glibc_loaders_are_told_apart() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let tool = venv.join("lib/python3.11/site-packages/tool");
    std::fs::create_dir_all(&tool).unwrap();
    let src = s.path().join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    )
    .unwrap();
    run_ok(
        Command::new("musl-gcc")
            .arg(&src)
            .arg("-o")
            .arg(tool.join("hello-musl")),
    );
    fails(
        &venv,
        &["--target", "x86_64"],
        "lib/python3.11/site-packages/tool/hello-musl",
        &[
            "loader /lib/ld-musl-x86_64.so.1",
            "/lib64/ld-linux-x86-64.so.2",
        ],
    );
    let o = check(&venv, &["--target", "x86_64"]);
    assert!(
        stderr(&o).contains("this is a musl (Alpine) binary"),
        "{}",
        stderr(&o)
    );
    // The reverse: the glibc interpreter against a musl target.
    std::fs::remove_file(tool.join("hello-musl")).unwrap();
    let line = fails(
        &venv,
        &["--target", "x86_64-musl"],
        "python/bin/python3.11",
        &["loader /lib64/ld-linux-x86-64.so.2"],
    );
    assert!(line.contains("ld-musl-x86_64.so.1"), "{line}");
    fails(
        &venv,
        &["--target", "x86_64-musl"],
        "python/bin/python3.11",
        &["needs glibc"],
    );
}

#[test]
fn tarball_and_extracted_bundle_are_checked_as_they_are() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let tarball = s.path().join("app-aarch64.tar.gz");
    // Bundling a venv for another CPU works on this machine and runs the same check.
    bundle_ok(&venv, &tarball, &["--target", "aarch64"]);
    let o = bundle(&venv, &s.path().join("x86.tar.gz"), &["--target", "x86_64"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!s.path().join("x86.tar.gz").exists());
    let o = bundle(
        &venv,
        &s.path().join("forced.tar.gz"),
        &["--target", "x86_64", "--no-check"],
    );
    assert!(
        o.status.success() && stderr(&o).contains("warning: python/bin/python3.11"),
        "{}",
        stderr(&o)
    );

    passes(&tarball, &[]); // target detected from python/bin inside the tarball
    fails(
        &tarball,
        &["--target", "armv7"],
        "python/bin/python3.11",
        &["AArch64"],
    );
    let out = s.path().join("out");
    extract(&tarball, &out);
    passes(&out.join("app"), &["--target", "aarch64"]);
    let libs = out.join("app/lib/python3.11/site-packages/numpy.libs");
    // Each library replaced by a link that dangles or leaves the tree: not "found".
    for (i, e) in libs.read_dir().unwrap().enumerate() {
        let path = e.unwrap().path();
        std::fs::remove_file(&path).unwrap();
        let target = if i % 2 == 0 {
            "missing.so"
        } else {
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        };
        std::os::unix::fs::symlink(target, &path).unwrap();
    }
    fails(
        &out.join("app"),
        &["--target", "aarch64"],
        "lib/python3.11/site-packages/numpy/",
        &["numpy.libs"],
    );
}

#[test]
fn json_report_has_the_documented_shape() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    std::fs::copy(
        "/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
        venv.join("lib/python3.11/site-packages/bad.so"),
    )
    .unwrap();
    let o = check(&venv, &["--target", "aarch64", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["target"], "aarch64");
    assert_eq!(doc["glibc"], "2.36");
    assert_eq!(doc["ok"], false);
    assert!(doc["checked"].as_u64().unwrap() > 60);
    assert!(doc["kinds"]["shared library"].as_u64().unwrap() > 60);
    let offenders = doc["offenders"].as_array().unwrap();
    assert_eq!(offenders.len(), 1, "{doc:#}");
    let o = &offenders[0];
    assert_eq!(o["path"], "lib/python3.11/site-packages/bad.so");
    assert_eq!(o["kind"], "architecture");
    assert!(o["message"].as_str().unwrap().contains("x86-64") && o["hint"].is_string());
    assert!(doc["warnings"].is_array() && doc["foreign_ignored"].is_array());
}

#[test]
fn targets_lists_the_whole_catalogue() {
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets"))
        .unwrap()
        .count();
    let out = run_ok(Command::new(RVENV).arg("targets"));
    assert_eq!(out.lines().count(), files, "{out}");
    for name in [
        "x86_64",
        "i686",
        "aarch64",
        "armv7",
        "armv6",
        "riscv64",
        "ppc64le",
        "s390x",
        "x86_64-musl",
        "aarch64-musl",
        "rpios-bullseye-armv6",
        "rpios-trixie-aarch64",
        "debian-11-x86_64",
        "debian-13-armv7",
        "ubuntu-20.04-x86_64",
        "ubuntu-24.04-aarch64",
    ] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(Command::new(RVENV).args(["targets", "--json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), files);
    let armv6 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "armv6")
        .unwrap();
    assert_eq!(armv6["arm"]["fp_arch"], serde_json::json!([0, 1, 2]));
}

#[test]
fn a_target_file_of_ones_own() {
    let s = scratch();
    let venv = s.path().join("app");
    aarch64_venv(&venv);
    let file = s.path().join("board.toml");
    std::fs::write(&file, "extends = \"aarch64\"\nname = \"my-board\"\ndescription = \"our board\"\n[libc]\nglibc = \"2.28\"\n").unwrap();
    fails(
        &venv,
        &["--target-file", file.to_str().unwrap()],
        "python/bin/python3.11",
        &["my-board has glibc 2.28"],
    );
    std::fs::write(&file, "name = \"x\"\nbogus = 1\n").unwrap();
    let o = check(&venv, &["--target-file", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(&format!("error: {}", file.display()))
            && stderr(&o).contains("bogus"),
        "{}",
        stderr(&o)
    );
    let _: PathBuf = file;
}

#[test]
fn x86_64_numpy_passes_x86_64_and_is_named_on_aarch64() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    pip_target(
        &venv.join("lib/python3.11/site-packages"),
        "manylinux_2_17_x86_64",
        &["numpy"],
    );
    passes(&venv, &["--target", "x86_64"]);
    fails(
        &venv,
        &["--target", "aarch64"],
        "lib/python3.11/site-packages/numpy/",
        &["ELF64 x86-64 binary"],
    );
    let o = check(&venv, &["--target", "aarch64"]);
    assert!(stderr(&o).contains("hint: this binary is for x86_64; for aarch64 install its aarch64 build (pip --platform manylinux_2_36_aarch64)"), "{}", stderr(&o));
}

/// scipy's vendored libgfortran has no RUNPATH: it finds libquadmath through the DT_RPATH of
/// the modules that load it, which the loader inherits. Found; and when deleted, missing.
#[test]
fn inherited_rpath_of_vendored_libraries() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let site = venv.join("lib/python3.11/site-packages");
    pip_target(&site, "manylinux_2_17_x86_64", &["numpy", "scipy"]);
    passes(&venv, &["--target", "x86_64"]);
    let libs = site.join("scipy.libs");
    let quadmath: Vec<PathBuf> = libs
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("libquadmath"))
        .collect();
    assert!(!quadmath.is_empty());
    for q in &quadmath {
        std::fs::remove_file(q).unwrap();
    }
    fails(
        &venv,
        &["--target", "x86_64"],
        "lib/python3.11/site-packages/scipy.libs/libgfortran",
        &["needs libquadmath"],
    );
}

/// A C++ module built here (GCC 12) needs GLIBCXX_3.4.2x; a target whose libstdc++ is older is
/// told so, naming the version. Debian 12's own passes.
#[test]
fn cxx_runtime_versions_are_checked() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let src = s.path().join("m.cpp");
    std::fs::write(&src, "#include <string>\n#include <iostream>\nextern \"C\" int f(const char* s) { std::string t(s); std::cout << t << std::endl; return (int)t.size(); }\n").unwrap();
    let module = venv.join("lib/python3.11/site-packages/m.cpython-311-x86_64-linux-gnu.so");
    run_ok(
        Command::new("g++")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&module)
            .arg(&src),
    );
    let versions = run_ok(Command::new("readelf").arg("-V").arg(&module));
    assert!(versions.contains("GLIBCXX_3.4.2"), "{versions}");
    passes(&venv, &["--target", "debian-12-x86_64"]);
    let file = s.path().join("old.toml");
    std::fs::write(&file, "extends = \"x86_64\"\nname = \"old-cxx\"\ndescription = \"GCC 4.9 era\"\n[libc]\nglibcxx = \"3.4.20\"\n").unwrap();
    let line = fails(
        &venv,
        &["--target-file", file.to_str().unwrap()],
        "lib/python3.11/site-packages/m.cpython",
        &["needs GLIBCXX_3.4.2", "old-cxx has GLIBCXX up to 3.4.20"],
    );
    assert!(!line.contains("GLIBCXX_3.4.20"), "{line}");
}

/// Pillow's vendored libraries load each other with no search path of their own: the loader
/// finds libbrotlidec through what loaded libfreetype, and libbrotlicommon through that in
/// turn. A chain of such finds passes; a deleted link in it is named.
#[test]
fn chains_of_vendored_libraries_found_through_their_loaders() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let site = venv.join("lib/python3.11/site-packages");
    pip_target(&site, "manylinux_2_28_x86_64", &["pillow==12.0.0"]);
    passes(&venv, &["--target", "x86_64"]);
    let common: Vec<PathBuf> = site
        .join("pillow.libs")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("libbrotlicommon"))
        .collect();
    assert_eq!(common.len(), 1, "{common:?}");
    std::fs::remove_file(&common[0]).unwrap();
    fails(
        &venv,
        &["--target", "x86_64"],
        "lib/python3.11/site-packages/pillow.libs/libbrotlidec",
        &["needs libbrotlicommon"],
    );
}

/// PyPI's cryptography armv7l wheel records VFPv3 and NEON (it picks NEON code at run time):
/// refused for Debian's armv7 baseline, accepted file by file with --allow, which still
/// prints each problem, names the rule and checks everything else. A bad rule exits 2.
#[test]
fn allow_accepts_one_kind_of_problem_in_the_files_it_names() {
    let s = scratch();
    let venv = s.path().join("app");
    foreign_venv("armhf", "python3.11", "qemu-arm-static", &venv, None);
    let wheels = s.path().join("wheels");
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .args([
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .args(["--disable-pip-version-check", "--implementation", "cp"])
            .args(["--python-version", "3.11", "--abi", "abi3"])
            .args(["--platform", "manylinux_2_31_armv7l", "-d"])
            .arg(&wheels)
            .arg("cryptography==50.0.2"),
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("armv7l.whl"))
        .expect("cryptography's armv7l wheel");
    let site = venv.join("lib/python3.11/site-packages");
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&site),
    );
    let so = "lib/python3.11/site-packages/cryptography/hazmat/bindings/_rust.abi3.so";
    fails(
        &venv,
        &["--target", "debian-12-armv7"],
        so,
        &["NEONv1 SIMD", "Illegal instruction"],
    );
    let rule = "**/cryptography/**:arm-arch";
    let o = check(&venv, &["--target", "debian-12-armv7", "--allow", rule]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "warning: {so}: NEONv1 SIMD; debian-12-armv7 runs up to no NEON (it dies with \"Illegal instruction\") (allowed by --allow '{rule}')"
        )),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(": 0 problems, 2 warnings"),
        "{}",
        stdout(&o)
    );
    let o = check(
        &venv,
        &["--target", "debian-12-armv7", "--allow", rule, "--json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["allowed"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["allowed"][0]["allowed_by"], rule);
    assert_eq!(doc["allowed"][0]["kind"], "arm-arch");
    // Another kind, or other files, are not accepted by it.
    fails(
        &venv,
        &[
            "--target",
            "debian-12-armv7",
            "--allow",
            "**/cryptography/**:glibc",
        ],
        so,
        &["NEONv1 SIMD"],
    );
    // Everything else is still checked: the armhf interpreter against armv6.
    fails(
        &venv,
        &["--target", "armv6", "--allow", rule],
        "python/bin/python3.11",
        &["ARMv7 code"],
    );
    // bundle takes the same rule and writes the tarball; a bad rule is refused first.
    let out = s.path().join("app.tar.gz");
    let b = bundle(
        &venv,
        &out,
        &["--target", "debian-12-armv7", "--allow", rule],
    );
    assert!(b.status.success(), "{}", stderr(&b));
    assert!(stderr(&b).contains("(allowed by --allow"), "{}", stderr(&b));
    passes(&out, &["--target", "debian-12-armv7", "--allow", rule]);
    let bad = s.path().join("bad.tar.gz");
    let b = bundle(
        &venv,
        &bad,
        &["--target", "debian-12-armv7", "--allow", "x:neon"],
    );
    assert_eq!(b.status.code(), Some(2));
    assert!(
        stderr(&b).contains("error: --allow 'x:neon': 'neon' is not a kind of problem"),
        "{}",
        stderr(&b)
    );
    assert!(!bad.exists());
}
