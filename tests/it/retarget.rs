//! `rvenv bundle VENV --target PRESET` on the x86-64 venv a user has (issue 17): the same
//! distributions re-created for the board (pure ones copied, compiled ones re-fetched from
//! PyPI or cross-built from their sdists with Debian's cross gcc), run on the emulated board
//! root (BusyBox, no Python). Then each refusal: a version the release lacks, no cross
//! compiler, a failing build, an editable install, a build backend rvenv cannot cross-build.

use crate::board::{expect_line, ok};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A venv of pyenv's CPython `version` with `packages` from PyPI, as a user makes one.
fn host_venv(version: &str, dir: &Path, packages: &[&str]) -> PathBuf {
    let venv = dir.join(".venv");
    run_ok(
        Command::new(pyenv_python(version))
            .args(["-m", "venv"])
            .arg(&venv),
    );
    if !packages.is_empty() {
        run_ok(
            Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(packages),
        );
    }
    venv
}

fn freeze(path: &Path) -> String {
    ok(
        rvenv(&["freeze".as_ref(), path.as_os_str()]),
        "rvenv freeze",
    )
}

const APP: &str = "import sys, flask, requests, click, markupsafe, psutil, charset_normalizer
print('MACHINE', __import__('platform').machine())
print('SPEEDUPS', markupsafe._speedups.__file__.rsplit('/', 1)[-1])
print('CPUS', psutil.cpu_count() >= 1)
print('MEMORY', psutil.virtual_memory().total > 0)
print('PSUTIL', psutil.__file__.startswith(sys.prefix))
print('FLASK', flask.Flask('app').name)
";

#[test]
fn an_x86_64_flask_venv_with_psutil_is_retargeted_to_armv7_and_runs_on_the_board() {
    let s = scratch();
    let venv = host_venv(
        "3.11.7",
        s.path(),
        &["flask==3.1.3", "requests", "psutil==5.9.8"],
    );
    let out = rvenv_cached(
        s.path(),
        &[
            "bundle",
            ".venv",
            "--target",
            "debian-12-armv7",
            "--arcroot",
            "app",
            "-o",
            "app.tar.gz",
        ],
    );
    let err = stderr(&out);
    ok(out, "rvenv bundle of an x86-64 venv for debian-12-armv7");
    assert!(
        err.contains("a venv for x86_64; re-creating it for debian-12-armv7"),
        "{err}"
    );
    // PyPI has no armv7 wheel of psutil 5.9.8: built here, with Debian's cross gcc.
    assert!(
        err.lines().any(|l| l.starts_with("psutil 5.9.8: built from source for debian-12-armv7 (psutil-5.9.8-cp311-abi3-linux_armv7l.whl)")),
        "{err}"
    );
    // MarkupSafe has one: fetched, not built.
    assert!(
        err.lines().any(|l| l.starts_with("markupsafe 3.0.4")
            && l.contains(": the wheel for debian-12-armv7 (")
            && l.contains("armv7l")),
        "{err}"
    );
    assert!(err.contains("retargeted "), "{err}");
    assert!(err.contains("copied as they are"), "{err}");

    // The same distributions at the same versions.
    assert_eq!(freeze(&s.path().join("app.tar.gz")), freeze(&venv));

    let root = board_root("armhf", s.path());
    extract(&s.path().join("app.tar.gz"), &root.join("opt"));
    let qemu = board_qemu(&root);
    let python = "/opt/app/bin/python3";
    let out = ok(
        run_python_qemu(&root, qemu, python, &["-c", APP]),
        "the app under qemu",
    );
    expect_line(&out, "MACHINE armv7l");
    expect_line(
        &out,
        "SPEEDUPS _speedups.cpython-311-arm-linux-gnueabihf.so",
    );
    expect_line(&out, "CPUS True");
    expect_line(&out, "MEMORY True");
    expect_line(&out, "PSUTIL True");
    expect_line(&out, "FLASK app");
    // A console script of a copied distribution: its shebang was the venv's python.
    let flask = root.join("opt/app/bin/flask");
    let out = ok(
        run_python_qemu(&root, qemu, python, &[flask.to_str().unwrap(), "--version"]),
        "bin/flask under qemu",
    );
    assert!(out.contains("Flask 3.1.3"), "{out}");
    if is_root() {
        let out = ok(
            run_on_board(&root, "/opt/app/bin/flask --version"),
            "bin/flask on the board",
        );
        assert!(out.contains("Flask 3.1.3"), "{out}");
    }

    // Again: the build comes from the cache.
    std::fs::remove_file(s.path().join("app.tar.gz")).unwrap();
    let out = rvenv_cached(
        s.path(),
        &[
            "bundle",
            ".venv",
            "--target",
            "debian-12-armv7",
            "-o",
            "app.tar.gz",
        ],
    );
    let err = stderr(&out);
    ok(out, "the same bundle again");
    assert!(
        err.contains("psutil 5.9.8: built from source for debian-12-armv7 (an earlier build: "),
        "{err}"
    );
}

#[test]
fn an_x86_64_numpy_venv_is_retargeted_to_rpios_aarch64_and_numpy_computes_on_the_board() {
    let s = scratch();
    let venv = host_venv("3.11.7", s.path(), &["numpy==1.26.4"]);
    let out = rvenv_cached(
        s.path(),
        &[
            "bundle",
            ".venv",
            "--target",
            "rpios-bookworm-aarch64",
            "--arcroot",
            "app",
            "-o",
            "app.tar.gz",
        ],
    );
    let err = stderr(&out);
    ok(
        out,
        "rvenv bundle of an x86-64 numpy venv for rpios-bookworm-aarch64",
    );
    assert!(
        err.lines().any(|l| l.starts_with("numpy 1.26.4: the wheel for rpios-bookworm-aarch64 (numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64")),
        "{err}"
    );
    assert_eq!(freeze(&s.path().join("app.tar.gz")), freeze(&venv));
    let root = board_root("arm64", s.path());
    extract(&s.path().join("app.tar.gz"), &root.join("opt"));
    let out = ok(
        run_python_qemu(
            &root,
            board_qemu(&root),
            "/opt/app/bin/python3",
            &[
                "-c",
                "import numpy, platform; print('MACHINE', platform.machine()); print('SUM', numpy.arange(10).sum()); print('DOT', int(numpy.dot(numpy.arange(4), numpy.arange(4))))",
            ],
        ),
        "numpy under qemu",
    );
    expect_line(&out, "MACHINE aarch64");
    expect_line(&out, "SUM 45");
    expect_line(&out, "DOT 14");
}

/// Exit 2, one `error:` line (plus the lines a build log tail adds), one `hint:`, and no
/// bundle written.
fn refused(out: Output, dir: &Path, wanted: &[&str], hint: &str) -> String {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: "), "{err}");
    for w in wanted {
        assert!(err.contains(w), "no {w:?} in:\n{err}");
    }
    let hints: Vec<&str> = err.lines().filter(|l| l.starts_with("hint: ")).collect();
    assert_eq!(hints.len(), 1, "{err}");
    assert!(hints[0].contains(hint), "{err}");
    assert!(!dir.join("app.tar.gz").exists(), "a bundle was written");
    err
}

#[test]
fn a_venv_whose_version_the_release_lacks_names_the_presets_that_have_it() {
    let s = scratch();
    host_venv("3.13.0", s.path(), &[]);
    let out = rvenv_cached(
        s.path(),
        &[
            "bundle",
            ".venv",
            "--target",
            "debian-12-armv7",
            "-o",
            "app.tar.gz",
        ],
    );
    let err = refused(
        out,
        s.path(),
        &[".venv: a Python 3.13 venv: debian-12-armv7 (bookworm) has Python 3.11"],
        "pick a version the release has",
    );
    assert!(err.contains("presets with 3.13: debian-13-armv7"), "{err}");
}

/// `dir/app.tar.gz` extracted into an armhf board root in `dir`, and `code` run there by its
/// interpreter under qemu; the root and what it printed.
fn on_armhf_board(dir: &Path, code: &str) -> (PathBuf, String) {
    let root = board_root("armhf", dir);
    extract(&dir.join("app.tar.gz"), &root.join("opt"));
    let out = ok(
        run_python_qemu(
            &root,
            board_qemu(&root),
            "/opt/app/bin/python3",
            &["-c", code],
        ),
        "the extension under qemu",
    );
    (root, out)
}

/// A tiny setuptools project with one C extension, as an sdist in `dir`.
fn c_sdist(dir: &Path, name: &str, c_source: &str, pyproject: &str) -> PathBuf {
    c_sdist_linking(dir, name, c_source, pyproject, &[])
}

fn c_sdist_linking(
    dir: &Path,
    name: &str,
    c_source: &str,
    pyproject: &str,
    libraries: &[&str],
) -> PathBuf {
    let src = dir.join(format!("{name}-1.0"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("pyproject.toml"), pyproject).unwrap();
    std::fs::write(
        src.join("setup.py"),
        format!(
            "from setuptools import setup, Extension\nsetup(name='{name}', version='1.0', ext_modules=[Extension('{name}', ['{name}.c'], libraries={libraries:?})])\n"
        ),
    )
    .unwrap();
    std::fs::write(src.join(format!("{name}.c")), c_source).unwrap();
    std::fs::write(
        src.join("PKG-INFO"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
    )
    .unwrap();
    let links = dir.join("links");
    std::fs::create_dir_all(&links).unwrap();
    // With --no-index, the build tools come from the folder too (as offline).
    run_ok(
        Command::new(pyenv_python("3.11.7"))
            .args(["-m", "pip", "download", "-q", "--disable-pip-version-check"])
            .args(["--only-binary=:all:", "-d"])
            .arg(&links)
            .args(["setuptools", "wheel"]),
    );
    let sdist = links.join(format!("{name}-1.0.tar.gz"));
    run_ok(
        Command::new("tar")
            .arg("-czf")
            .arg(&sdist)
            .arg("-C")
            .arg(dir)
            .arg(format!("{name}-1.0")),
    );
    sdist
}

const SETUPTOOLS: &str =
    "[build-system]\nrequires = ['setuptools']\nbuild-backend = 'setuptools.build_meta'\n";

/// The Debian armhf CPython of the fixtures, given as --python (its tree has no include/, so
/// the headers come from the preset's libpython3.11-dev).
fn armhf_python() -> PathBuf {
    fixtures().join("sysroot-armhf/usr/bin/python3.11")
}

#[test]
fn a_c_extension_from_a_local_sdist_is_cross_built_and_a_broken_one_shows_its_log() {
    let s = scratch();
    let good = "#include <Python.h>\nstatic PyObject *answer(PyObject *s, PyObject *a) { return PyLong_FromLong(sizeof(void *) * 10 + 2); }\nstatic PyMethodDef m[] = {{\"answer\", answer, METH_NOARGS, 0}, {0}};\nstatic struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"hello\", 0, -1, m};\nPyMODINIT_FUNC PyInit_hello(void) { return PyModule_Create(&d); }\n";
    c_sdist(s.path(), "hello", good, SETUPTOOLS);
    std::fs::write(s.path().join("requirements.txt"), "hello==1.0\n").unwrap();
    let python = armhf_python();
    let args = [
        "bundle",
        "--target",
        "debian-12-armv7",
        "--python",
        python.to_str().unwrap(),
        "-r",
        "requirements.txt",
        "-f",
        "links",
        "--no-index",
        "--arcroot",
        "app",
        "-o",
        "app.tar.gz",
    ];
    let out = rvenv_cached(s.path(), &args);
    let err = stderr(&out);
    ok(out, "a bundle with a C extension built from a local sdist");
    assert!(
        err.contains("hello 1.0: built from source for debian-12-armv7 (hello-1.0-cp311-cp311-linux_armv7l.whl)"),
        "{err}"
    );
    let (root, out) = on_armhf_board(s.path(), "import hello; print('ANSWER', hello.answer())");
    // 32-bit pointers: built for the board, against its pyconfig.h.
    expect_line(&out, "ANSWER 42");
    // No path of the build machine in the extension.
    let so = walkdir::WalkDir::new(root.join("opt/app/lib"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("hello."))
        .unwrap();
    let bytes = std::fs::read(so.path()).unwrap();
    for path in [
        "rvenv-build-".to_string(),
        preset_cache().display().to_string(),
    ] {
        assert!(
            memchr::memmem::find(&bytes, path.as_bytes()).is_none(),
            "{path} is in {}",
            so.path().display()
        );
    }

    // A source that does not compile: the error names the pin, shows the compiler's words,
    // and says where the whole log is; nothing is written.
    std::fs::remove_file(s.path().join("app.tar.gz")).unwrap();
    std::fs::remove_dir_all(s.path().join("links")).unwrap();
    c_sdist(
        s.path(),
        "hello",
        "#error this board is not supported\n",
        SETUPTOOLS,
    );
    std::fs::remove_dir_all(s.path().join("builds")).unwrap();
    let err = refused(
        rvenv_cached(s.path(), &args),
        s.path(),
        &[
            "error: hello==1.0: building from source for debian-12-armv7 failed",
            "this board is not supported",
            "the whole log: ",
        ],
        "--sysroot-package",
    );
    let log = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("the whole log: "))
        .unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("arm-linux-gnueabihf-gcc"), "{text}");

    // A meson-python project is refused as one, with the wheel-index alternative.
    std::fs::remove_dir_all(s.path().join("links")).unwrap();
    c_sdist(
        s.path(),
        "hello",
        good,
        "[build-system]\nrequires = ['meson-python']\nbuild-backend = 'mesonpy'\n",
    );
    refused(
        rvenv_cached(s.path(), &args),
        s.path(),
        &["hello==1.0: its build backend is meson-python"],
        "piwheels.org",
    );

    // --no-build: wheels only, and the error says a build was possible.
    refused(
        rvenv_cached(s.path(), &[&args[..], &["--no-build"]].concat()),
        s.path(),
        &["no wheel for the target for 1 requirement(s): hello==1.0"],
        "leave out --no-build",
    );
}

#[test]
fn no_cross_compiler_is_an_error_naming_the_debian_package() {
    let s = scratch();
    c_sdist(s.path(), "hello", "int x;\n", SETUPTOOLS);
    std::fs::write(s.path().join("requirements.txt"), "hello==1.0\n").unwrap();
    let python = armhf_python();
    // A PATH with the machine's tools but no cross compiler.
    let bin = s.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["python3", "tar"] {
        std::os::unix::fs::symlink(which::which(tool).unwrap(), bin.join(tool)).unwrap();
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .args([
            "bundle",
            "--target",
            "debian-12-armv7",
            "--python",
            python.to_str().unwrap(),
            "-r",
            "requirements.txt",
            "-f",
            "links",
            "--no-index",
            "-o",
            "app.tar.gz",
        ])
        .current_dir(s.path())
        .env("PATH", &bin)
        .env("RVENV_PYTHON_CACHE", preset_cache())
        .env("RVENV_BUILD_CACHE", s.path().join("builds")));
    refused(
        out,
        s.path(),
        &[
            "hello==1.0: no wheel for debian-12-armv7; building its sdist needs the cross compiler arm-linux-gnueabihf-gcc, which is not on PATH",
        ],
        "apt-get install gcc-arm-linux-gnueabihf",
    );
    assert!(!s.path().join("builds").exists());
}

#[test]
fn an_editable_install_cannot_be_retargeted() {
    let s = scratch();
    let venv = host_venv("3.11.7", s.path(), &[]);
    let project = s.path().join("proj");
    std::fs::create_dir_all(project.join("proj")).unwrap();
    std::fs::write(project.join("proj/__init__.py"), "").unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname='proj'\nversion='0.1'\n[build-system]\nrequires=['setuptools>=64']\nbuild-backend='setuptools.build_meta'\n",
    )
    .unwrap();
    run_ok(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-e",
            ])
            .arg(&project),
    );
    refused(
        rvenv_cached(
            s.path(),
            &[
                "bundle",
                ".venv",
                "--target",
                "debian-12-armv7",
                "-o",
                "app.tar.gz",
            ],
        ),
        s.path(),
        &["1 editable install(s) cannot be retargeted", "proj 0.1"],
        "without -e",
    );
}

#[test]
fn a_c_extension_that_links_a_library_builds_with_its_sysroot_package() {
    let s = scratch();
    let source = "#include <Python.h>\n#include <ffi.h>\nstatic PyObject *answer(PyObject *s, PyObject *a) { return PyLong_FromLong(ffi_type_sint32.size * 10 + 2); }\nstatic PyMethodDef m[] = {{\"answer\", answer, METH_NOARGS, 0}, {0}};\nstatic struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"withffi\", 0, -1, m};\nPyMODINIT_FUNC PyInit_withffi(void) { return PyModule_Create(&d); }\n";
    c_sdist_linking(s.path(), "withffi", source, SETUPTOOLS, &["ffi"]);
    std::fs::write(s.path().join("requirements.txt"), "withffi==1.0\n").unwrap();
    let args = [
        "bundle",
        "--target",
        "debian-12-armv7",
        "-r",
        "requirements.txt",
        "-f",
        "links",
        "--no-index",
        "--arcroot",
        "app",
        "-o",
        "app.tar.gz",
    ];
    // Without the library's -dev package, the build fails, and the hint says what to add.
    let err = refused(
        rvenv_cached(s.path(), &args),
        s.path(),
        &[
            "withffi==1.0: building from source for debian-12-armv7 failed",
            "ffi.h",
        ],
        "--sysroot-package",
    );
    assert!(err.contains("the whole log: "), "{err}");
    // With it: libffi-dev (and libffi8, where its .so link points) from the archive.
    let out = rvenv_cached(
        s.path(),
        &[&args[..], &["--sysroot-package", "libffi-dev"]].concat(),
    );
    let err = stderr(&out);
    ok(out, "the bundle with --sysroot-package libffi-dev");
    assert!(
        err.contains("withffi 1.0: built from source for debian-12-armv7"),
        "{err}"
    );
    let (_, out) = on_armhf_board(
        s.path(),
        "import withffi; print('ANSWER', withffi.answer())",
    );
    expect_line(&out, "ANSWER 42");
}
