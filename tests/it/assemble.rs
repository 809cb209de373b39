//! `rvenv bundle --python PYTHON -r REQUIREMENTS`: bundles assembled from a target interpreter
//! (Debian's arm64 and armhf CPython 3.11) and real wheels, installed by rvenv itself, compared
//! with what pip installs, run under qemu-user; and every way the inputs can be wrong.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn numpy_wheel(arch: &str) -> PathBuf {
    std::fs::read_dir(fixtures().join("wheels"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("numpy-") && n.contains(arch)
        })
        .unwrap_or_else(|| panic!("no numpy {arch} wheel in the fixtures"))
}

fn wheel_version(wheel: &Path) -> String {
    let name = wheel.file_name().unwrap().to_string_lossy();
    name.split('-').nth(1).unwrap().to_string()
}

fn sysroot_python(arch: &str) -> PathBuf {
    fixtures().join(format!("sysroot-{arch}/usr/bin/python3.11"))
}

/// `rvenv bundle --python ... -r ...` with TMPDIR inside `dir`, so leftovers can be seen.
fn assemble(dir: &Path, args: &[&str]) -> std::process::Output {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    Command::new(env!("CARGO_BIN_EXE_rvenv"))
        .arg("bundle")
        .args(args)
        .env("TMPDIR", &tmp)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn sha256_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes))
}

/// RECORD rows (path → (hash, size)), paths as written.
fn record(path: &Path) -> BTreeMap<String, (String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.rsplitn(3, ',');
            let size = f.next().unwrap().to_string();
            let hash = f.next().unwrap().to_string();
            (f.next().unwrap().to_string(), (hash, size))
        })
        .collect()
}

/// Every RECORD row with a hash matches the file it names, relative to `site`.
fn assert_record_true(site: &Path, dist_info: &str) {
    for (path, (hash, size)) in record(&site.join(dist_info).join("RECORD")) {
        if hash.is_empty() {
            assert!(path.ends_with("RECORD"), "{path} has no hash");
            continue;
        }
        let bytes = std::fs::read(site.join(&path))
            .unwrap_or_else(|e| panic!("{dist_info}: RECORD names {path}: {e}"));
        assert_eq!(hash, format!("sha256={}", sha256_b64(&bytes)), "{path}");
        assert_eq!(size, bytes.len().to_string(), "{path}");
    }
}

fn e_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{}", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn aarch64_numpy_assembled_installs_as_pip_does_and_runs_under_qemu() {
    let dir = scratch();
    let d = dir.path();
    let wheels = d.join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    let numpy = numpy_wheel("aarch64");
    let version = wheel_version(&numpy);
    for w in [numpy.clone(), numpy_wheel("x86_64"), demo_wheel()] {
        std::fs::copy(&w, wheels.join(w.file_name().unwrap())).unwrap();
    }
    let project = d.join("myapp");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("requirements.txt"),
        format!(
            "# pip freeze\nnumpy=={version}\nrvenv-demo==1.0\ncolorama==0.4.6 ; sys_platform == 'win32'\nuvloop==0.19.0; platform_machine == 'x86_64'\n"
        ),
    )
    .unwrap();
    let python = sysroot_python("arm64");
    let out = assemble(
        d,
        &[
            "--target",
            "aarch64",
            "--python",
            python.to_str().unwrap(),
            "-r",
            "myapp/requirements.txt",
            "-f",
            wheels.to_str().unwrap(),
            "--no-index",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("colorama==0.4.6: markers leave it out for aarch64"),
        "{err}"
    );
    assert!(
        err.contains("uvloop==0.19.0: markers leave it out"),
        "{err}"
    );
    assert!(
        err.contains("installed 2 wheel(s) (0 fetched) for Python 3.11."),
        "{err}"
    );
    // The default name is the project directory's; nothing is left in TMPDIR.
    let tarball = d.join("myapp-aarch64.tar.gz");
    assert!(tarball.is_file());
    assert_eq!(std::fs::read_dir(d.join("tmp")).unwrap().count(), 0);

    let x = d.join("x");
    extract(&tarball, &x);
    let root = x.join("myapp");
    let site = root.join("lib/python3.11/site-packages");
    // The aarch64 wheel was taken, never the x86-64 one in the same folder.
    let so = walkdir::WalkDir::new(site.join("numpy"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".so"))
        .expect("numpy has extension modules");
    assert_eq!(e_machine(so.path()), 183, "{}", so.path().display());
    assert_eq!(
        std::fs::read_to_string(site.join(format!("numpy-{version}.dist-info/INSTALLER"))).unwrap(),
        "rvenv\n"
    );
    let freeze = std::fs::read_to_string(root.join("requirements.txt")).unwrap();
    assert_eq!(freeze, format!("numpy=={version}\nrvenv-demo==1.0\n"));
    assert_record_true(&site, &format!("numpy-{version}.dist-info"));
    assert_record_true(&site, "rvenv_demo-1.0.dist-info");
    for script in ["rvenv-demo", "demo-data-script", "f2py"] {
        let text = std::fs::read_to_string(root.join("bin").join(script)).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{script}: {text}");
        assert!(
            !text.contains(d.to_str().unwrap()),
            "{script} names the build machine"
        );
    }
    let activate = std::fs::read_to_string(root.join("bin/activate")).unwrap();
    assert!(activate.contains("_rvenv_root"), "{activate}");
    assert!(activate.contains("(myapp) "), "{activate}");

    // The same wheels installed by pip: the same files, byte for byte, and the same RECORD
    // rows (scripts aside: pip writes its own launchers, and --target puts them elsewhere).
    let reference = d.join("pip-target");
    run_ok(
        Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--no-index", "--no-deps"])
            .args([
                "--disable-pip-version-check",
                "--no-compile",
                "--only-binary=:all:",
            ])
            .args([
                "--platform",
                "manylinux2014_aarch64",
                "--python-version",
                "3.11",
            ])
            .args(["--implementation", "cp", "--abi", "cp311", "--target"])
            .arg(&reference)
            .arg(&numpy)
            .arg(demo_wheel()),
    );
    let listing = |top: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        walkdir::WalkDir::new(top)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(top).unwrap().to_path_buf(),
                    e.path().to_path_buf(),
                )
            })
            .filter(|(rel, _)| {
                let s = rel.to_string_lossy();
                // The bundle's own .pth (sys._base_executable, docs/reliability.md) is not pip's.
                !s.starts_with("bin/")
                    && s != "_rvenv_base_executable.pth"
                    && !s.contains("__pycache__")
                    && !["INSTALLER", "REQUESTED", "RECORD", "direct_url.json"]
                        .iter()
                        .any(|n| s.ends_with(&format!(".dist-info/{n}")))
            })
            .map(|(rel, p)| (rel, std::fs::read(p).unwrap()))
            .collect()
    };
    let ours = listing(&site);
    let pips = listing(&reference);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        pips.keys().collect::<Vec<_>>(),
        "installed file sets differ"
    );
    for (path, bytes) in &ours {
        assert!(
            bytes == &pips[path],
            "{} differs from pip's",
            path.display()
        );
    }
    let dist = format!("numpy-{version}.dist-info");
    let rows = |r: BTreeMap<String, (String, String)>| -> BTreeMap<String, (String, String)> {
        r.into_iter()
            .filter(|(p, _)| {
                !p.contains("bin/")
                    && !p.contains("__pycache__")
                    && !["INSTALLER", "REQUESTED", "RECORD", "direct_url.json"]
                        .iter()
                        .any(|n| p.ends_with(&format!(".dist-info/{n}")))
            })
            .collect()
    };
    let our_rows = rows(record(&site.join(&dist).join("RECORD")));
    assert!(our_rows.len() > 500, "{} rows", our_rows.len());
    assert_eq!(
        our_rows,
        rows(record(&reference.join(&dist).join("RECORD")))
    );

    // On the board: its libraries, no Python; the bundle's own interpreter computes with numpy.
    let board = board_root("arm64", d);
    let out = run(Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&board)
        .arg(root.join("bin/python3"))
        .args(["-c", "import numpy, sys; print(int(numpy.arange(10).sum()), numpy.linalg.inv(numpy.eye(2)*2)[0][0], sys.prefix)"]));
    assert_eq!(
        stdout(&out).trim(),
        format!("45 0.5 {}", root.display()),
        "{}",
        stderr(&out)
    );
    let out = run(Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&board)
        .arg(root.join("python/bin/python3.11"))
        .args(["-c", "import sys; print(sys.prefix)"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn armv7_pure_python_assembled_runs_under_qemu() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("requirements.txt"), "rvenv-demo==1.0\n").unwrap();
    let python = sysroot_python("armhf");
    let wheels = demo_wheel().parent().unwrap().to_path_buf();
    let out = assemble(
        d,
        &[
            "-t",
            "armv7",
            "--python",
            python.to_str().unwrap(),
            "-r",
            "requirements.txt",
            "--find-links",
            wheels.to_str().unwrap(),
            "--no-index",
            "--arcroot",
            "demo",
            "-o",
            "demo.tar.gz",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let x = d.join("x");
    extract(&d.join("demo.tar.gz"), &x);
    let root = x.join("demo");
    assert_eq!(e_machine(&root.join("python/bin/python3.11")), 40);
    let board = board_root("armhf", d);
    let out = run(Command::new("qemu-arm-static")
        .arg("-L")
        .arg(&board)
        .arg(root.join("bin/python3"))
        .arg(root.join("bin/rvenv-demo")));
    assert_eq!(
        stdout(&out).trim(),
        format!("rvenv-demo ok {}", root.display()),
        "{}",
        stderr(&out)
    );
}

/// Each case: exit 2, the words in the error, no output file, nothing left in TMPDIR.
#[test]
fn bad_requirements_and_wheels_are_refused_and_leave_nothing() {
    let dir = scratch();
    let d = dir.path();
    let python = sysroot_python("arm64");
    let python_before = std::fs::read(&python).unwrap();
    let x86_only = d.join("x86");
    std::fs::create_dir(&x86_only).unwrap();
    let x86 = numpy_wheel("x86_64");
    std::fs::copy(&x86, x86_only.join(x86.file_name().unwrap())).unwrap();
    let version = wheel_version(&x86);

    let variant = |name: &str| -> PathBuf {
        let out = d.join(format!("wheels-{name}"));
        std::fs::create_dir_all(&out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_wheel.py");
        run_ok(Command::new("python3").arg(script).arg(&out).arg(name));
        out
    };
    let demo_sha = {
        use sha2::Digest;
        let bytes = std::fs::read(demo_wheel()).unwrap();
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let demo_dir = demo_wheel().parent().unwrap().to_path_buf();
    let cases: Vec<(&str, String, PathBuf, Vec<String>)> = vec![
        (
            "unpinned",
            "numpy>=1.0\n".into(),
            demo_dir.clone(),
            vec![
                "requirements.txt:1: 'numpy' is not pinned with ==".into(),
                "hint: run `pip freeze --all`".into(),
            ],
        ),
        (
            "foreign wheel only",
            format!("numpy=={version}\n"),
            x86_only.clone(),
            vec![
                format!("no wheel for the target for 1 requirement(s): numpy=={version}"),
                "cp311-cp311-manylinux_2_36_aarch64".into(),
                format!(
                    "{} does not fit the target",
                    x86.file_name().unwrap().to_string_lossy()
                ),
                "hint: put a wheel built for the target".into(),
            ],
        ),
        (
            "hash mismatch",
            format!("rvenv-demo==1.0 --hash=sha256:{}\n", "0".repeat(64)),
            demo_dir.clone(),
            vec![format!(
                "its sha256 {demo_sha} is not among the --hash pins"
            )],
        ),
        (
            "tampered",
            "rvenv-demo==1.0\n".into(),
            variant("tampered"),
            vec!["'rvenv_demo/__init__.py' does not match RECORD (sha256 is".into()],
        ),
        (
            "unrecorded",
            "rvenv-demo==1.0\n".into(),
            variant("unrecorded"),
            vec!["'rvenv_demo/__init__.py' is not listed in RECORD".into()],
        ),
        (
            "traversal",
            "rvenv-demo==1.0\n".into(),
            variant("traversal"),
            vec!["member '../escaped.py' would be written outside the install".into()],
        ),
        (
            "absolute",
            "rvenv-demo==1.0\n".into(),
            variant("absolute"),
            vec!["member '/tmp/rvenv-absolute.py' would be written outside".into()],
        ),
        (
            "interpreter",
            "rvenv-demo==1.0\n".into(),
            variant("interpreter"),
            vec![
                "would replace".into(),
                "bin/python3, the environment's own interpreter link".into(),
            ],
        ),
        (
            "a --find-links folder in the file that is not there",
            "rvenv-demo==1.0\n--find-links ./nowhere\n".into(),
            demo_dir.clone(),
            vec![
                "requirements.txt:2: --find-links ".into(),
                "nowhere: no such folder".into(),
                "hint: create the folder or fix the path".into(),
            ],
        ),
        (
            "a --find-links URL in the file",
            "-f https://example.invalid/wheels\nrvenv-demo==1.0\n".into(),
            demo_dir.clone(),
            vec!["requirements.txt:1: --find-links https://example.invalid/wheels: a URL".into()],
        ),
        (
            "requires",
            "rvenv-demo==1.0\n".into(),
            variant("requires"),
            vec![
                "does not satisfy 1 requirement(s) of its packages".into(),
                "rvenv-demo==1.0 needs six>=1.16, which is not pinned".into(),
                "`pip freeze --all`".into(),
                "--no-deps-check".into(),
            ],
        ),
    ];
    for (what, requirements, wheels, words) in cases {
        let req = d.join("requirements.txt");
        std::fs::write(&req, requirements).unwrap();
        let out = assemble(
            d,
            &[
                "-t",
                "aarch64",
                "--python",
                python.to_str().unwrap(),
                "-r",
                "requirements.txt",
                "-f",
                wheels.to_str().unwrap(),
                "--no-index",
                "-o",
                "out.tar.gz",
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.starts_with("error: "), "{what}: {err}");
        for w in &words {
            assert!(err.contains(w.as_str()), "{what}: wanted {w:?} in {err}");
        }
        assert!(
            !err.contains("pywin32") && !err.contains("extra-only"),
            "{what}: {err}"
        );
        assert!(!d.join("out.tar.gz").exists(), "{what}: output left behind");
        assert_eq!(
            std::fs::read_dir(d.join("tmp")).unwrap().count(),
            0,
            "{what}: temporary files left behind"
        );
    }
    assert!(!d.join("escaped.py").exists() && !Path::new("/tmp/rvenv-absolute.py").exists());
    assert!(
        std::fs::read(&python).unwrap() == python_before,
        "the target interpreter was written to"
    );

    // The same inputs made right pass: the pinned hash, and --no-deps-check.
    std::fs::write(
        d.join("requirements.txt"),
        format!("rvenv-demo==1.0 --hash=sha256:{demo_sha}\n"),
    )
    .unwrap();
    let ok = [
        "-t",
        "aarch64",
        "--python",
        python.to_str().unwrap(),
        "-r",
        "requirements.txt",
        "--no-index",
    ];
    let out = assemble(
        d,
        &[
            &ok[..],
            &["-f", demo_dir.to_str().unwrap(), "-o", "a.tar.gz"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(d.join("requirements.txt"), "rvenv-demo==1.0\n").unwrap();
    let requires = d.join("wheels-requires");
    let out = assemble(
        d,
        &[
            &ok[..],
            &[
                "-f",
                requires.to_str().unwrap(),
                "--no-deps-check",
                "-o",
                "b.tar.gz",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn usage_errors_and_a_python_that_is_not_one() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("requirements.txt"), "six==1.16.0\n").unwrap();
    let python = sysroot_python("arm64");
    for (args, words) in [
        // --python without -r is for a venv for another CPU: here there is none.
        (
            vec!["--python", python.to_str().unwrap()],
            "no venv named: $VIRTUAL_ENV is not set and there is no ./.venv here",
        ),
        // Without --python, -r needs a preset to fetch the interpreter for.
        (
            vec!["-r", "requirements.txt"],
            "-r without --python needs a distribution preset as --target",
        ),
        (
            vec![
                "somevenv",
                "--python",
                python.to_str().unwrap(),
                "-r",
                "requirements.txt",
            ],
            "cannot be used with",
        ),
        (vec!["-f", "wheels"], "no venv named"),
    ] {
        let out = assemble(d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
    }
    let script = d.join("python3.11");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    for (python, words) in [
        (
            script.clone(),
            format!("{}: not an ELF executable", script.display()),
        ),
        (
            d.join("nope/python3"),
            format!("{}: no such file", d.join("nope/python3").display()),
        ),
    ] {
        let out = assemble(
            d,
            &[
                "--python",
                python.to_str().unwrap(),
                "-r",
                "requirements.txt",
                "--no-index",
            ],
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(&words), "{}", stderr(&out));
    }
    let out = assemble(
        d,
        &[
            "--python",
            python.to_str().unwrap(),
            "-r",
            "missing.txt",
            "--no-index",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.txt: No such file"),
        "{}",
        stderr(&out)
    );
}

/// Without --no-index, missing wheels come from PyPI through the host's pip, with the target's
/// tags spelled out: an aarch64 extension module and a pure wheel.
#[test]
fn missing_wheels_are_fetched_with_pip_for_the_target() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(
        d.join("requirements.txt"),
        "MarkupSafe==2.1.5\nsix==1.16.0\nidna==3.7\npackaging==24.0\nattrs==23.2.0\n",
    )
    .unwrap();
    let python = sysroot_python("arm64");
    let out = assemble(
        d,
        &[
            "-t",
            "aarch64",
            "--python",
            python.to_str().unwrap(),
            "-r",
            "requirements.txt",
            "-o",
            "m.tar.gz",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("installed 5 wheel(s) (5 fetched)"),
        "{}",
        stderr(&out)
    );
    // pip is asked four pins at a time, and each round is reported.
    assert!(
        stderr(&out).contains("asked pip for 4 of 5 wheels"),
        "{}",
        stderr(&out)
    );
    let x = d.join("x");
    extract(&d.join("m.tar.gz"), &x);
    let site = x
        .join(d.file_name().unwrap())
        .join("lib/python3.11/site-packages");
    let speedups = std::fs::read_dir(site.join("markupsafe"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".so"))
        .expect("MarkupSafe's aarch64 wheel has _speedups");
    assert_eq!(e_machine(&speedups.path()), 183);
    assert!(site.join("six.py").is_file());
    let board = board_root("arm64", d);
    let root = x.join(d.file_name().unwrap());
    let out = run(Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&board)
        .arg(root.join("bin/python3"))
        .args([
            "-c",
            "import markupsafe, markupsafe._speedups, six; print(markupsafe.escape('<a>'))",
        ]));
    assert_eq!(stdout(&out).trim(), "&lt;a&gt;", "{}", stderr(&out));
}

/// With --no-build, a pin without a wheel for the target is refused, and the error says, pin
/// by pin, whether the index has its sdist (PyPI: docopt 0.6.2 is an sdist only; pywin32 has
/// Windows wheels and no sdist). Nothing is written.
#[test]
fn no_build_says_whether_the_index_has_the_sdist() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("requirements.txt"), "docopt==0.6.2\npywin32==306\n").unwrap();
    let python = sysroot_python("arm64");
    let out = assemble(
        d,
        &[
            "-t",
            "aarch64",
            "--python",
            python.to_str().unwrap(),
            "-r",
            "requirements.txt",
            "--no-build",
            "-o",
            "m.tar.gz",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no wheel for the target for 2 requirement(s): docopt==0.6.2, pywin32==306"),
        "{err}"
    );
    assert!(
        err.contains(
            "docopt==0.6.2: the index has its sdist, which rvenv can cross-build without --no-build"
        ),
        "{err}"
    );
    assert!(
        err.contains("pywin32==306: the index has no sdist of it either"),
        "{err}"
    );
    assert!(!d.join("m.tar.gz").exists());
}
