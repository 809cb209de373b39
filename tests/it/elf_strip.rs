//! The in-process debug-section removal (`elf::without_debug`) on real binaries built here with
//! `-g` by gcc and Debian's cross gcc (x86_64; aarch64; 32-bit armhf): a shared library and a
//! program linked against it lose every `.debug_*` section, keep their symbol tables and every
//! loaded byte, and still run (natively, or under qemu-user with the cross libc).
//!
//! The cross compilers and qemu-user-static are installed by .ci/run; without them this test
//! fails (it never passes silently).

use crate::common::*;
use std::path::Path;
use std::process::Command;

struct Toolchain {
    gcc: &'static str,
    /// qemu-user and the cross libc's root (`-L`), or nothing for this machine.
    qemu: Option<(&'static str, &'static str)>,
}

const TOOLCHAINS: [Toolchain; 3] = [
    Toolchain {
        gcc: "gcc",
        qemu: None,
    },
    Toolchain {
        gcc: "aarch64-linux-gnu-gcc",
        qemu: Some(("qemu-aarch64-static", "/usr/aarch64-linux-gnu")),
    },
    Toolchain {
        gcc: "arm-linux-gnueabihf-gcc",
        qemu: Some(("qemu-arm-static", "/usr/arm-linux-gnueabihf")),
    },
];

fn sections(file: &Path) -> String {
    run_ok(Command::new("readelf").arg("-SW").arg(file))
}

/// The `.symtab` and `.dynsym` symbols as readelf lists them, but section symbols (strip drops
/// those of removed sections) and each row's number.
fn symbols(file: &Path) -> Vec<String> {
    run_ok(Command::new("readelf").arg("-sW").arg(file))
        .lines()
        .filter(|l| l.contains(": ") && !l.contains(" SECTION "))
        .map(|l| l.split_once(": ").unwrap().1.to_string())
        .collect()
}

/// Strips `file` in place with rvenv's function; returns the bytes saved.
fn strip(file: &Path) -> usize {
    let before = std::fs::read(file).unwrap();
    assert!(rvenv::elf::debug_size(&before) > 0, "{}", file.display());
    let after = rvenv::elf::without_debug(&before)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .expect("debug sections to remove");
    assert!(rvenv::elf::loads_the_same(&before, &after));
    assert_eq!(rvenv::elf::without_debug(&after).unwrap(), None);
    std::fs::write(file, &after).unwrap();
    before.len() - after.len()
}

#[test]
fn debug_sections_go_and_programs_still_run_on_three_architectures() {
    let s = scratch();
    for tc in &TOOLCHAINS {
        let dir = s.path().join(tc.gcc);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("greet.c"),
            "#include <stdio.h>\nstatic int calls;\nint greet(const char *who) { calls++; return printf(\"hello %s %d\\n\", who, calls); }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.c"),
            "int greet(const char *);\nint main(void) { greet(\"board\"); greet(\"again\"); return 0; }\n",
        )
        .unwrap();
        let lib = dir.join("libgreet.so");
        let exe = dir.join("main");
        run_ok(
            Command::new(tc.gcc)
                .args(["-g", "-O1", "-shared", "-fPIC", "-o"])
                .arg(&lib)
                .arg(dir.join("greet.c")),
        );
        run_ok(
            Command::new(tc.gcc)
                .args(["-g", "-o"])
                .arg(&exe)
                .arg(dir.join("main.c"))
                .arg(format!("-L{}", dir.display()))
                .args(["-lgreet", "-Wl,-rpath,$ORIGIN"]),
        );
        let lib_symbols = symbols(&lib);
        assert!(sections(&lib).contains(".debug_info"), "{}", tc.gcc);
        for file in [&lib, &exe] {
            let saved = strip(file);
            assert!(saved > 0, "{}: {saved}", file.display());
            let after = sections(file);
            assert!(!after.contains(".debug_"), "{}: {after}", file.display());
            assert!(after.contains(".symtab"), "{}: {after}", file.display());
        }
        // The symbol table names the same functions (static `calls` included) as before.
        let now = symbols(&lib);
        assert_eq!(now, lib_symbols, "{}", tc.gcc);
        assert!(now.iter().any(|l| l.ends_with(" greet")), "{now:?}");
        assert!(now.iter().any(|l| l.ends_with(" calls")), "{now:?}");
        let out = match tc.qemu {
            None => run_ok(&mut Command::new(&exe)),
            Some((qemu, root)) => run_ok(Command::new(qemu).arg("-L").arg(root).arg(&exe)),
        };
        assert_eq!(out, "hello board 1\nhello again 2\n", "{}", tc.gcc);
    }
}

#[test]
fn an_already_stripped_file_and_a_text_file_are_left_alone() {
    let s = scratch();
    let exe = s.path().join("hello");
    std::fs::write(s.path().join("hello.c"), "int main(void) { return 0; }\n").unwrap();
    run_ok(
        Command::new("gcc")
            .args(["-s", "-o"])
            .arg(&exe)
            .arg(s.path().join("hello.c")),
    );
    let bytes = std::fs::read(&exe).unwrap();
    assert_eq!(rvenv::elf::debug_size(&bytes), 0);
    assert_eq!(rvenv::elf::without_debug(&bytes).unwrap(), None);
    assert_eq!(
        rvenv::elf::without_debug(b"#!/bin/sh\n"),
        Err(rvenv::elf::Kept::Unreadable)
    );
}
