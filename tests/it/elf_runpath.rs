//! The in-place RUNPATH rewrite on real binaries built here by gcc: position-independent and
//! not, with RUNPATH (new dtags) and RPATH (old).

use crate::common::*;
use std::path::{Path, PathBuf};
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

/// Removing the RUNPATH entry (not emptying it: the loader reads an empty element as the
/// current directory) leaves a binary that still runs, with no trace of the old path.
#[test]
fn removing_the_runpath_keeps_the_binary_working() {
    let s = scratch();
    for (name, flags) in [
        (
            "runpath",
            vec!["-Wl,-rpath,/writable/outside/lib", "-Wl,--enable-new-dtags"],
        ),
        (
            "rpath",
            vec![
                "-Wl,-rpath,/writable/outside/lib",
                "-Wl,--disable-new-dtags",
            ],
        ),
    ] {
        let exe = build(s.path(), name, &flags);
        let bytes = std::fs::read(&exe).unwrap();
        let strings = rvenv::elf::search_path_strings(&bytes, &exe).unwrap();
        assert_eq!(strings.len(), 1, "{strings:?}");
        let fix = vec![(strings[0].0, None)];
        let new = rvenv::elf::apply_search_path_fix(&bytes, &exe, &fix).unwrap();
        assert_eq!(new.len(), bytes.len());
        assert!(
            !new.windows(8).any(|w| w == b"writable"),
            "{name}: the old path is still in the file"
        );
        std::fs::write(&exe, &new).unwrap();
        let dynamic = run_ok(Command::new("readelf").arg("-d").arg(&exe));
        assert!(
            !dynamic.contains("RUNPATH") && !dynamic.contains("RPATH"),
            "{dynamic}"
        );
        assert_eq!(run_ok(&mut Command::new(&exe)), "hello ok\n");
        assert!(
            rvenv::elf::search_path_strings(&new, &exe)
                .unwrap()
                .is_empty()
        );
    }
}

/// A C extension whose RUNPATH names the venv's own folder (absolute) and a writable folder
/// outside it, as a wheel built outside manylinux carries: check and inspect name both, bundle
/// rewrites the first to `$ORIGIN` and removes the second, and the moved bundle imports the
/// extension with its library found through `$ORIGIN`. A tarball that keeps the outside folder
/// fails the check.
#[test]
fn runpaths_outside_the_bundle_are_reported_rewritten_and_removed() {
    let s = scratch();
    let venv = s.path().join("v");
    // pyenv's shared-libpython build: libpython and lib-dynload carry pyenv's RUNPATH too.
    run_ok(
        Command::new(pyenv_python("3.11.7"))
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    let python = venv.join("bin/python");
    let site = PathBuf::from(
        run_ok(Command::new(&python).args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ]))
        .trim(),
    );
    let include = run_ok(Command::new(&python).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['include'])",
    ]));
    let suffix = run_ok(Command::new(&python).args([
        "-c",
        "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))",
    ]));
    let pkg = site.join("leaky");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    let outside = s.path().join("outside/lib");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        s.path().join("helper.c"),
        "int helper(void) { return 42; }\n",
    )
    .unwrap();
    run_ok(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(pkg.join("libhelper.so"))
            .arg(s.path().join("helper.c")),
    );
    std::fs::write(
        s.path().join("ext.c"),
        "#include <Python.h>\nint helper(void);\n\
         static PyObject *value(PyObject *m, PyObject *a) { return PyLong_FromLong(helper()); }\n\
         static PyMethodDef methods[] = {{\"value\", value, METH_NOARGS, NULL}, {NULL}};\n\
         static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, \"_ext\", NULL, -1, methods};\n\
         PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }\n",
    )
    .unwrap();
    let ext = pkg.join(format!("_ext{}", suffix.trim()));
    run_ok(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&ext)
            .arg(s.path().join("ext.c"))
            .arg(format!("-I{}", include.trim()))
            .arg(format!("-L{}", pkg.display()))
            .arg("-lhelper")
            .arg(format!(
                "-Wl,-rpath,{}:{}",
                pkg.display(),
                outside.display()
            ))
            .arg("-Wl,--enable-new-dtags"),
    );
    let outside_s = outside.display().to_string();
    let pkg_s = pkg.display().to_string();
    let ext_rel = format!("lib/python3.11/site-packages/leaky/_ext{}", suffix.trim());

    let check = run(Command::new(RVENV).arg("check").arg(&venv));
    let err = stderr(&check);
    assert!(check.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "RUNPATH {outside_s} points outside the bundle in {ext_rel}: left out"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "RUNPATH {pkg_s} points outside the bundle in {ext_rel}: rewritten"
        )),
        "{err}"
    );
    let inspect = run_ok(Command::new(RVENV).arg("inspect").arg(&venv));
    assert!(
        inspect.contains(&outside_s) && inspect.contains(&ext_rel),
        "{inspect}"
    );

    let tarball = s.path().join("b.tar.gz");
    let err = bundle_ok(&venv, &tarball, &[]);
    // pyenv's _sysconfigdata, Makefile and python-config.py name its folder by design: one
    // line, not a warning each.
    assert!(
        err.contains("kept as built: the base's build configuration (_sysconfigdata__")
            && !err.contains("still contains the build path"),
        "{err}"
    );
    let pyenv_lib = pyenv_python("3.11.7")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("lib");
    assert!(
        err.contains(&format!(
            "RUNPATH {} points outside the bundle in python/lib/libpython3.11.so.1.0 and ",
            pyenv_lib.display()
        )),
        "{err}"
    );
    let moved = s.path().join("moved");
    extract(&tarball, &moved);
    std::fs::remove_dir_all(&venv).unwrap();
    let root = moved.join("v");
    let so = root.join(&ext_rel);
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(&so));
    assert!(dynamic.contains("Library runpath: [$ORIGIN]"), "{dynamic}");
    let bytes = std::fs::read(&so).unwrap();
    assert!(
        !bytes
            .windows(outside_s.len())
            .any(|w| w == outside_s.as_bytes()),
        "the outside folder is still named in the file"
    );
    let out = run_ok(
        Command::new(root.join("bin/python3"))
            .args(["-c", "import leaky._ext as e; print(e.value())"])
            .current_dir("/"),
    );
    assert_eq!(out.trim(), "42");
    // Every ELF file of the bundle is confined, libpython and lib-dynload included.
    let all = run_ok(Command::new("sh").arg("-c").arg(format!(
        "find '{}' -name '*.so*' -o -path '*/bin/python3*' -type f | xargs readelf -d 2>/dev/null | grep -i 'path' || true",
        root.display()
    )));
    for line in all.lines() {
        assert!(line.contains("[$ORIGIN"), "{line}");
    }

    // A tree that keeps the outside folder (an older rvenv's bundle) fails the check.
    run_ok(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(root.join("lib/python3.11/site-packages/leaky/libold.so"))
            .arg(s.path().join("helper.c"))
            .arg(format!("-Wl,-rpath,{outside_s}")),
    );
    let check = run(Command::new(RVENV).arg("check").arg(&root));
    let out = format!("{}{}", stdout(&check), stderr(&check));
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(
        out.contains("libold.so")
            && out.contains(&format!("names '{outside_s}', outside the bundle")),
        "{out}"
    );
}
