//! `rvenv freeze` against the real `pip freeze` of real venvs: the machine's Python with PyPI
//! packages, pyenv's 3.10/3.12/3.13 (three pip versions, two metadata backends), a wheel
//! installed from a local file and editable installs with and without git; then the same text
//! from the venv's bundle (tarball and extracted) and its requirements.txt.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// `pip freeze` as the venv's own pip prints it.
fn pip_freeze(venv: &Path) -> String {
    run_ok(
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "freeze"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env_remove("PIP_REQUIRE_VIRTUALENV"),
    )
}

fn rvenv_freeze(path: &Path) -> String {
    run_ok(Command::new(RVENV).arg("freeze").arg(path))
}

fn pip_install(venv: &Path, args: &[&str]) {
    run_ok(
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(args),
    );
}

/// Byte for byte, with both texts shown when they differ.
fn assert_same(ours: &str, pips: &str, what: &str) {
    assert!(
        ours == pips,
        "{what}: rvenv freeze differs from pip freeze\n--- rvenv:\n{ours}--- pip:\n{pips}---"
    );
    eprintln!(
        "{what}: identical to pip freeze ({} lines)",
        pips.lines().count()
    );
}

fn venv_with(python: &Path, dir: &Path) {
    run_ok(Command::new(python).args(["-m", "venv"]).arg(dir));
}

/// Bundles `venv`, then checks that freeze of the tarball, of the extracted bundle and the
/// bundle's requirements.txt are `expected`.
fn bundle_gives_the_same(venv: &Path, scratch: &Path, expected: &str, extra: &[&str]) {
    for name in ["b.tar.gz", "b.tar.zst"] {
        let tarball = scratch.join(name);
        bundle_ok(venv, &tarball, extra);
        assert_same(&rvenv_freeze(&tarball), expected, name);
        let out = scratch.join(format!("x-{name}"));
        extract(&tarball, &out);
        let root = out.join(venv.file_name().unwrap());
        assert_same(&rvenv_freeze(&root), expected, "extracted bundle");
        let requirements = std::fs::read_to_string(root.join("requirements.txt")).unwrap();
        assert_same(&requirements, expected, "the bundle's requirements.txt");
    }
}

#[test]
fn system_python_venv_with_pypi_packages() {
    let d = scratch();
    let venv = d.path().join("app");
    venv_with(Path::new(SYSTEM_PYTHON), &venv);
    // PyYAML (capitals in METADATA, lower-case directory), zope.interface (a dot),
    // typing_extensions and typing-inspect (pip sorts `name.lower()`: '-' before '_'),
    // MarkupSafe, markdown-it-py, C extensions, dependencies pulled in.
    pip_install(
        &venv,
        &[
            "requests",
            "pyyaml",
            "six",
            "typing_extensions",
            "typing-inspect",
            "zope.interface",
            "MarkupSafe",
            "markdown-it-py",
        ],
    );
    let pip = pip_freeze(&venv);
    assert_same(&rvenv_freeze(&venv), &pip, "Debian CPython 3.11 venv");
    assert!(pip.contains("\nPyYAML=="), "{pip}");
    let pos = |name: &str| pip.find(name).unwrap_or_else(|| panic!("{name} in {pip}"));
    assert!(pos("typing-inspect==") < pos("typing_extensions=="));
    assert!(!pip.contains("setuptools") && !pip.contains("\npip=="));
    bundle_gives_the_same(&venv, d.path(), &pip, &[]);
}

#[test]
fn pyenv_versions_hide_what_their_pip_hides() {
    let d = scratch();
    // 3.10: pip 23.0.1 with its pkg_resources backend; 3.12: pip 23.2.1; 3.13: pip 24.2.
    for (version, shows_setuptools) in [("3.10.13", false), ("3.12.1", true), ("3.13.0", true)] {
        let python = pyenv_python(version);
        if !python.exists() {
            panic!(
                "{}: pyenv CPython {version} is missing (.ci/run checks for it)",
                python.display()
            );
        }
        let venv = d.path().join(format!("v{version}"));
        venv_with(&python, &venv);
        pip_install(&venv, &["setuptools", "wheel", "six", "PyYAML"]);
        let pip = pip_freeze(&venv);
        assert_same(
            &rvenv_freeze(&venv),
            &pip,
            &format!("pyenv CPython {version}"),
        );
        assert_eq!(
            pip.contains("\nsetuptools=="),
            shows_setuptools,
            "{version}: {pip}"
        );
        assert_eq!(
            pip.contains("\nwheel=="),
            shows_setuptools,
            "{version}: {pip}"
        );
        assert!(pip.contains("six=="));
    }
}

/// A project pip can install in editable mode (setuptools, PEP 660).
fn project(dir: &Path, name: &str, version: &str) {
    std::fs::create_dir_all(dir.join("src").join(name.to_lowercase())).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"setuptools>=64\"]\nbuild-backend = \"setuptools.build_meta\"\n\
             [project]\nname = \"{name}\"\nversion = \"{version}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src")
            .join(name.to_lowercase())
            .join("__init__.py"),
        "X = 1\n",
    )
    .unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=rvenv",
                "-c",
                "user.email=rvenv@example.com",
            ])
            .args(args),
    );
}

fn git_repo(dir: &Path) {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "first"]);
}

#[test]
fn local_wheel_and_editable_installs_with_and_without_git() {
    let d = scratch();
    let projects = d.path().join("projects");
    // No version control.
    project(&projects.join("plain"), "Plain_Proj", "0.1.0-beta");
    // Git with two remotes (origin wins), refs packed.
    project(&projects.join("gitted"), "gitted-proj", "1.0");
    git_repo(&projects.join("gitted"));
    git(
        &projects.join("gitted"),
        &[
            "remote",
            "add",
            "mirror",
            "https://mirror.example.com/g.git",
        ],
    );
    git(
        &projects.join("gitted"),
        &[
            "remote",
            "add",
            "origin",
            "https://example.com/u/gitted.git",
        ],
    );
    git(&projects.join("gitted"), &["pack-refs", "--all"]);
    // Git without a remote.
    project(&projects.join("lonely"), "lonely", "2.0");
    git_repo(&projects.join("lonely"));
    // A project in a subdirectory of a repository with an scp-like remote.
    let mono = projects.join("mono");
    project(&mono.join("libs/sub"), "sub-pkg", "3.0");
    std::fs::write(mono.join("README"), "monorepo\n").unwrap();
    git_repo(&mono);
    git(
        &mono,
        &["remote", "add", "origin", "git@github.com:u/mono.git"],
    );
    // Installed, not editable, from a git URL and from a directory.
    project(&projects.join("from-git"), "from-git", "4.0");
    git_repo(&projects.join("from-git"));
    project(&projects.join("from-dir"), "from_dir", "5.0");

    for (python, what) in [
        (pyenv_python("3.13.0"), "pyenv CPython 3.13 (pip 24.2)"),
        (
            Path::new(SYSTEM_PYTHON).to_path_buf(),
            "Debian CPython 3.11 (pip 23.0.1)",
        ),
    ] {
        let venv = d.path().join(format!(
            "venv-{}",
            python.file_name().unwrap().to_string_lossy()
        ));
        venv_with(&python, &venv);
        pip_install(&venv, &["--no-deps", demo_wheel().to_str().unwrap()]);
        // The projects build with the venv's own setuptools (70.1 and later build wheels without
        // the wheel package), not one fetched per project.
        pip_install(&venv, &["setuptools>=70.1"]);
        let local = ["--no-deps", "--no-build-isolation"];
        for p in ["plain", "gitted", "lonely", "mono/libs/sub"] {
            let dir = projects.join(p);
            pip_install(
                &venv,
                &[&local[..], &["-e", dir.to_str().unwrap()]].concat(),
            );
        }
        let git_url = format!("git+file://{}", projects.join("from-git").display());
        pip_install(&venv, &[&local[..], &[git_url.as_str()]].concat());
        let dir = projects.join("from-dir");
        pip_install(&venv, &[&local[..], &[dir.to_str().unwrap()]].concat());
        let pip = pip_freeze(&venv);
        for expected in [
            "rvenv-demo @ file://",
            "# Editable install with no version control (Plain_Proj==0.1.0b0)\n-e ",
            "-e git+https://example.com/u/gitted.git@",
            "#egg=gitted_proj\n",
            "# Editable Git install with no remote (lonely==2.0)\n-e ",
            "-e git+ssh://git@github.com/u/mono.git@",
            "#egg=sub_pkg&subdirectory=libs/sub\n",
            &format!("from-git @ {git_url}@"),
            &format!(
                "from_dir @ file://{}\n",
                projects.join("from-dir").display()
            ),
        ] {
            assert!(
                pip.contains(expected),
                "{what}: pip printed no {expected:?}:\n{pip}"
            );
        }
        assert_same(&rvenv_freeze(&venv), &pip, what);
        bundle_gives_the_same(&venv, d.path(), &pip, &["--allow-editable"]);
    }
}

#[test]
fn versions_are_normalised_as_packaging_does() {
    let versions = [
        "1.0",
        "1.0.0-Beta",
        "01.02",
        "1.0-post1",
        "1.0.DEV2",
        "1!2.0",
        "1.0+Ubuntu-1",
        "1.0+abc.007",
        "v1.0",
        "1.0rc",
        "1.0c1",
        "1.0alpha1",
        "1.0-1",
        "2024.01.05",
        "1.0.0.0",
        "1.0.post",
        "1.0-dev",
        "1.0a.1",
        "not.a.version",
        "1.0+",
        "1.0-foo",
        "",
    ];
    let script = "import sys\nfrom pip._vendor.packaging.version import Version, InvalidVersion\n\
                  for v in sys.argv[1:]:\n    try: print(Version(v))\n    except InvalidVersion: print('INVALID')\n";
    let out = run_ok(
        Command::new(pyenv_python("3.13.0"))
            .args(["-c", script])
            .args(versions),
    );
    for (version, packaging) in versions.iter().zip(out.lines()) {
        let ours =
            rvenv::python::dist::normalize_version(version).unwrap_or_else(|| "INVALID".into());
        assert_eq!(ours, packaging, "version {version:?}");
    }
    assert_eq!(out.lines().count(), versions.len());
}

#[test]
fn bad_input_is_one_error_line() {
    let d = scratch();
    let plain = d.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let text = d.path().join("notes.txt");
    std::fs::write(&text, "not a tarball\n").unwrap();
    for (path, words) in [
        (d.path().join("missing"), "cannot be read"),
        (plain.clone(), "neither a venv"),
        (text.clone(), "not a readable tar archive"),
    ] {
        let out = run(Command::new(RVENV).arg("freeze").arg(&path));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(out.stdout.is_empty());
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("error: {}", path.display())) && first.contains(words),
            "{err}"
        );
    }
    // Damaged metadata names the file.
    let venv = d.path().join("venv");
    make_bare_venv(&venv);
    let info = venv.join("lib/python3.11/site-packages/broken-1.0.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: broken\n",
    )
    .unwrap();
    let out = run(Command::new(RVENV).arg("freeze").arg(&venv));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: {}: no 'Version' field",
            info.join("METADATA").display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A venv whose base interpreter was removed (a copy of the machine's CPython, then deleted),
/// and one with include-system-site-packages: `freeze` and `inspect` report the venv's own
/// packages, as pip froze them while it could, and say why; only `bundle` refuses.
#[test]
fn a_venv_whose_base_is_gone_or_shared_is_still_frozen_and_inspected() {
    let s = scratch();
    let base = s.path().join("base/bin");
    std::fs::create_dir_all(&base).unwrap();
    let real = Path::new(SYSTEM_PYTHON).canonicalize().unwrap();
    let copy = base.join(real.file_name().unwrap());
    std::fs::copy(&real, &copy).unwrap();
    let venv = s.path().join("gone");
    make_venv(&copy, &venv);
    let frozen_before = pip_freeze(&venv);
    assert!(
        frozen_before.contains("rvenv-demo @ file://"),
        "{frozen_before}"
    );
    std::fs::remove_dir_all(s.path().join("base")).unwrap();

    let o = run(Command::new(RVENV).arg("freeze").arg(&venv));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), frozen_before);
    assert!(
        stderr(&o).contains("the interpreter symlink is broken")
            && stderr(&o).contains(": listed from the metadata in its site-packages"),
        "{}",
        stderr(&o)
    );
    let o = run(Command::new(RVENV).args(["inspect", "--json"]).arg(&venv));
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["kind"], "venv");
    assert!(doc["bundle_changes"].is_null());
    assert!(
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "rvenv-demo"),
        "{doc}"
    );
    assert!(stderr(&o).contains("reported from the venv's own files"));
    let text = run_ok(Command::new(RVENV).arg("inspect").arg(&venv));
    assert!(
        text.contains("(venv, its own files only: its base cannot be used)"),
        "{text}"
    );
    // bundle still refuses, before writing anything.
    let out = s.path().join("gone.tar.gz");
    let o = bundle(&venv, &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists());

    // include-system-site-packages = true: the venv's own packages, as pip freeze --local.
    let shared = s.path().join("shared");
    run_ok(
        Command::new(SYSTEM_PYTHON)
            .args(["-m", "venv", "--system-site-packages"])
            .arg(&shared),
    );
    pip_install(
        &shared,
        &["--no-index", "--no-deps", demo_wheel().to_str().unwrap()],
    );
    let local = run_ok(
        Command::new(shared.join("bin/python"))
            .args(["-m", "pip", "freeze", "--local"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
    );
    let o = run(Command::new(RVENV).arg("freeze").arg(&shared));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), local);
    assert!(
        stderr(&o).contains("only the venv's own packages are listed"),
        "{}",
        stderr(&o)
    );
    let o = run(Command::new(RVENV).arg("inspect").arg(&shared));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bundle(&shared, &s.path().join("shared.tar.gz"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
