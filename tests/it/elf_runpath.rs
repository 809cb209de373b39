//! The in-place RUNPATH rewrite on real binaries built here by gcc: position-independent and
//! not, with RUNPATH (new dtags) and RPATH (old).

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn build(dir: &Path, name: &str, flags: &[&str]) -> std::path::PathBuf {
    let src = dir.join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"hello ok\"); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join(name);
    run_ok(
        Command::new("gcc")
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .args(flags),
    );
    exe
}

fn rewrite_and_run(exe: &Path, old: &str, tag: &str) {
    let bytes = std::fs::read(exe).unwrap();
    let slot = rvenv::elf::runpath_slot(&bytes, exe)
        .unwrap()
        .expect("a RUNPATH/RPATH");
    assert_eq!(slot.value, old);
    let new =
        rvenv::python::rewrite::replace_c_string(&bytes, slot.offset, slot.len, "$ORIGIN/../lib")
            .unwrap();
    assert_eq!(new.len(), bytes.len());
    std::fs::write(exe, &new).unwrap();
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(exe));
    assert!(
        dynamic.contains(&format!("Library {tag}: [$ORIGIN/../lib]")),
        "{dynamic}"
    );
    assert!(!dynamic.contains("build-prefix"), "{dynamic}");
    assert_eq!(run_ok(&mut Command::new(exe)), "hello ok\n");
}

#[test]
fn pie_and_non_pie_binaries_keep_working_after_the_rewrite() {
    let s = scratch();
    let old = "/very/long/build-prefix/versions/3.11.7/lib";
    let rpath = format!("-Wl,-rpath,{old}");
    for (name, pie) in [("pie", "-pie"), ("nopie", "-no-pie")] {
        let exe = build(s.path(), name, &[pie, "-Wl,--enable-new-dtags", &rpath]);
        rewrite_and_run(&exe, old, "runpath");
        let exe = build(
            s.path(),
            &format!("{name}-rpath"),
            &[pie, "-Wl,--disable-new-dtags", &rpath],
        );
        rewrite_and_run(&exe, old, "rpath");
    }
}

#[test]
fn a_binary_without_runpath_has_no_slot() {
    let s = scratch();
    let exe = build(s.path(), "plain", &[]);
    let bytes = std::fs::read(&exe).unwrap();
    assert_eq!(rvenv::elf::runpath_slot(&bytes, &exe).unwrap(), None);
}
