//! The central promise, end to end with real interpreters: a venv made by `python -m venv` and
//! pip is bundled, extracted elsewhere, and run there. Each case runs twice: as any user, with
//! the original venv and base interpreter still in place (`sys.prefix`, entry points and
//! activate scripts must name the bundle all the same), and as root (`#[ignore]`d for that,
//! `..._with_the_originals_hidden`), where `unshare -m` hides the originals and BusyBox is the
//! only /bin/sh and toolset.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What must be hidden so that only the bundle can serve: the venv, and the base installation
/// (a pyenv prefix, or Debian's stdlib directory and interpreter file).
fn originals(python: &Path, venv: &Path) -> Vec<PathBuf> {
    let real = python.canonicalize().unwrap();
    let mut hide = vec![venv.to_path_buf()];
    let prefix = real.parent().unwrap().parent().unwrap().to_path_buf();
    if prefix == Path::new("/usr") {
        let name = real.file_name().unwrap().to_string_lossy().into_owned();
        hide.push(prefix.join("lib").join(&name));
        hide.push(real);
    } else {
        hide.push(prefix);
    }
    hide
}

fn pyc_files(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "pyc"))
        .collect()
}

/// Whether the bundle runs with the original venv and base interpreter in place, or hidden by
/// `unshare -m` (root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Originals {
    InPlace,
    Hidden,
}

/// Bundles a fresh venv of `python` living at `venv_dir`, extracts it into another directory
/// and checks everything the issue lists; with `Originals::Hidden`, with the originals hidden
/// and BusyBox as the only /bin/sh.
fn relocates(python: &Path, venv_dir: &Path, scratch: &Path, originals_are: Originals) {
    let hidden = originals_are == Originals::Hidden;
    if hidden {
        require_unshare("unshare -m hides the original venv and interpreter");
    }
    assert!(
        python.exists(),
        "{} is not installed on this machine",
        python.display()
    );
    make_venv(python, venv_dir);
    let tarball = scratch.join("app.tar.gz");
    let out = Command::new(RVENV)
        .args(["bundle", "--arcroot", "app", "-o"])
        .arg(&tarball)
        .arg(venv_dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success(), "bundle failed:\n{}", stderr(&out));

    let board = scratch.join("board/opt");
    extract(&tarball, &board);
    let b = board.join("app");
    // python/bin: the interpreter, a real file, and python3/python naming it.
    let mut real = Vec::new();
    for entry in b.join("python/bin").read_dir().unwrap() {
        let path = entry.unwrap().path();
        if path.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            assert!(
                target.components().count() == 1 && b.join("python/bin").join(&target).is_file(),
                "{}: {}",
                path.display(),
                target.display()
            );
        } else {
            real.push(path);
        }
    }
    assert_eq!(
        real.len(),
        1,
        "the interpreter is a real file in the bundle: {real:?}"
    );
    let elsewhere = scratch.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let busybox_dir = scratch.join("busybox");
    if hidden {
        std::fs::create_dir_all(&busybox_dir).unwrap();
        std::fs::copy("/bin/busybox", busybox_dir.join("busybox")).expect("busybox is installed");
        run_ok(
            Command::new(busybox_dir.join("busybox"))
                .arg("--install")
                .arg("-s")
                .arg(&busybox_dir),
        );
    }
    let pycs_before = pyc_files(&b);

    let mut script = format!(
        r#"
B='{b}'; E='{e}'
unset PYTHONDONTWRITEBYTECODE
cd /
echo "STALE=$("$B/bin/python3" -v -c 'import ssl, sqlite3, ctypes, json, rvenv_demo' 2>&1 | grep -c 'bytecode is stale')"
"$B/bin/python3" -c 'import sys, ssl, sqlite3, ctypes, rvenv_demo; print("PREFIX=" + sys.prefix); print("SQLITE=" + sqlite3.sqlite_version)'
echo "FULL=$("$B/bin/rvenv-demo")"
echo "DATA=$("$B/bin/demo-data-script")"
echo "SHELL_SCRIPT=$("$B/bin/demo-shell-script")"
ln -s "$B/bin/rvenv-demo" "$E/app"
echo "LINK=$("$E/app")"
ln -s ../board/opt/app/bin/rvenv-demo "$E/rel-app"
echo "RELLINK=$("$E/rel-app")"
echo "PATHLOOKUP=$(PATH="$E:$PATH" rel-app)"
echo "CWD=$(cd "$B/bin" && ./rvenv-demo)"
mkdir -p "$E/app/bin"
echo "CDPATH_REL=$(cd "$B/.." && CDPATH="$E" app/bin/rvenv-demo)"
OLD_PATH=$PATH
PS1='orig> '
. "$B/bin/activate"
echo "ACT_PY=$(command -v python3)"
echo "ACT_VENV=$VIRTUAL_ENV"
echo "ACT_RUN=$(python3 -c 'import sys; print(sys.prefix)')"
deactivate
echo "DEACT_PY=$(command -v python3 || echo none)"
[ "$PATH" = "$OLD_PATH" ] && echo PATH_RESTORED
[ "$PS1" = 'orig> ' ] && echo PS1_RESTORED
zsh -c '. "$1/bin/activate"; echo "ZSH_ACT_PY=$(command -v python3)"; deactivate; echo "ZSH_DEACT_PY=$(command -v python3 || echo none)"' zsh "$B"
dash -c '. "$1/bin/activate"; echo "DASH_RC=$? VENV=${{VIRTUAL_ENV:-unset}} PY=$(command -v python3)"' dash "$B" 2>&1
fish -c 'source $argv[1]/bin/activate.fish; echo "FISH_ACT_PY="(command -v python3); deactivate; echo "FISH_DEACT_PY="(command -v python3; or echo none)' "$B"
echo "CSH=$(tcsh -c "source $B/bin/activate.csh; echo \$path" 2>&1 | tr '\n' ' ')"
"#,
        b = b.display(),
        e = elsewhere.display(),
    );
    let out = if hidden {
        // BusyBox as the only /bin/sh and toolset (bind mounts in unshare's namespace).
        script += &format!(
            r#"BB='{bb}'
mount --bind "$BB" /usr/bin
[ -L /bin ] || mount --bind "$BB" /bin
echo "BB_SH=$(readlink /bin/sh)"
echo "BB_FULL=$("$B/bin/rvenv-demo")"
echo "BB_LINK=$("$E/app")"
echo "BB_RELLINK=$("$E/rel-app")"
"#,
            bb = busybox_dir.display()
        );
        run_hidden(&originals(python, venv_dir), &script)
    } else {
        run(Command::new("bash").args(["-c", &script]))
    };
    let text = stdout(&out);
    let report = format!("stdout:\n{text}\nstderr:\n{}", stderr(&out));
    let b = b.display().to_string();
    let expect = |line: &str| {
        assert!(
            text.lines().any(|l| l == line),
            "missing line '{line}'\n{report}"
        )
    };
    expect(&format!("PREFIX={b}"));
    expect("STALE=0");
    expect(&format!("FULL=rvenv-demo ok {b}"));
    expect(&format!("DATA=data-script ok {b}"));
    expect("SHELL_SCRIPT=shell-script ok");
    expect(&format!("LINK=rvenv-demo ok {b}"));
    expect(&format!("RELLINK=rvenv-demo ok {b}"));
    expect(&format!("PATHLOOKUP=rvenv-demo ok {b}"));
    expect(&format!("CWD=rvenv-demo ok {b}"));
    expect(&format!("ACT_PY={b}/bin/python3"));
    expect(&format!("ACT_VENV={b}"));
    expect(&format!("ACT_RUN={b}"));
    let value = |prefix: &str| {
        let line = text.lines().find(|l| l.starts_with(prefix));
        line.unwrap_or_else(|| panic!("no {prefix} line\n{report}"))[prefix.len()..].to_string()
    };
    expect(&format!("CDPATH_REL=rvenv-demo ok {b}"));
    assert!(!value("DEACT_PY=").starts_with(&b), "{report}");
    expect("PATH_RESTORED");
    expect("PS1_RESTORED");
    expect(&format!("ZSH_ACT_PY={b}/bin/python3"));
    assert!(!value("ZSH_DEACT_PY=").starts_with(&b), "{report}");
    // dash cannot tell a sourced file's path: activate says so and changes nothing.
    let dash = text
        .lines()
        .find(|l| l.starts_with("DASH_RC="))
        .unwrap_or_default();
    assert!(
        dash.starts_with("DASH_RC=1 VENV=unset") && !dash.contains(&format!("{b}/bin")),
        "{report}"
    );
    assert!(
        text.contains("activate: this shell cannot tell where this script is"),
        "{report}"
    );
    expect(&format!("FISH_ACT_PY={b}/bin/python3"));
    assert!(!value("FISH_DEACT_PY=").starts_with(&b), "{report}");
    // csh cannot locate a sourced file: it says so and changes nothing.
    let csh = text
        .lines()
        .find(|l| l.starts_with("CSH="))
        .unwrap_or_default();
    assert!(
        csh.contains("nothing was activated") && !csh.contains(&format!("{b}/bin")),
        "{report}"
    );
    if hidden {
        expect(&format!("BB_SH={}", busybox_dir.join("busybox").display()));
        expect(&format!("BB_FULL=rvenv-demo ok {b}"));
        expect(&format!("BB_LINK=rvenv-demo ok {b}"));
        expect(&format!("BB_RELLINK=rvenv-demo ok {b}"));
    }

    // Timestamp pycs stayed valid under SOURCE_DATE_EPOCH: running imported them, rewrote none.
    let pycs_after = pyc_files(Path::new(&b));
    let changed: Vec<_> = pycs_after
        .iter()
        .filter(|(p, v)| pycs_before.get(*p) != Some(v))
        .map(|(p, _)| p)
        .collect();
    assert!(
        changed.is_empty(),
        "pyc files rewritten or created by running the bundle: {changed:?}"
    );
}

fn case(python: &Path, originals_are: Originals) {
    let s = scratch();
    relocates(python, &s.path().join("app"), s.path(), originals_are);
}

#[test]
fn system_python() {
    case(Path::new(SYSTEM_PYTHON), Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn system_python_with_the_originals_hidden() {
    case(Path::new(SYSTEM_PYTHON), Originals::Hidden);
}

#[test]
fn pyenv_3_8() {
    case(&pyenv_python("3.8.18"), Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn pyenv_3_8_with_the_originals_hidden() {
    case(&pyenv_python("3.8.18"), Originals::Hidden);
}

#[test]
fn pyenv_3_10() {
    case(&pyenv_python("3.10.13"), Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn pyenv_3_10_with_the_originals_hidden() {
    case(&pyenv_python("3.10.13"), Originals::Hidden);
}

#[test]
fn pyenv_3_12() {
    case(&pyenv_python("3.12.1"), Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn pyenv_3_12_with_the_originals_hidden() {
    case(&pyenv_python("3.12.1"), Originals::Hidden);
}

#[test]
fn pyenv_3_13() {
    case(&pyenv_python("3.13.0"), Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn pyenv_3_13_with_the_originals_hidden() {
    case(&pyenv_python("3.13.0"), Originals::Hidden);
}

/// A venv path long enough that pip writes its `/bin/sh` trampoline instead of a shebang.
fn long_venv_path(originals_are: Originals) {
    let s = scratch();
    let deep = s
        .path()
        .join("x".repeat(60))
        .join("y".repeat(60))
        .join("app");
    std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
    let python = pyenv_python("3.11.7");
    make_venv(&python, &deep);
    let first_line = std::fs::read_to_string(deep.join("bin/rvenv-demo")).unwrap();
    assert!(
        first_line.starts_with("#!/bin/sh\n'''exec' "),
        "pip wrote: {first_line}"
    );
    std::fs::remove_dir_all(&deep).unwrap();
    relocates(&python, &deep, s.path(), originals_are);
}

#[test]
fn long_venv_path_gets_pips_trampoline_and_still_relocates() {
    long_venv_path(Originals::InPlace);
}

#[test]
#[ignore = "needs root: unshare -m hides the original venv and interpreter"]
fn long_venv_path_gets_pips_trampoline_and_still_relocates_with_the_originals_hidden() {
    long_venv_path(Originals::Hidden);
}

/// `pip install --target <site-packages>` writes console scripts into site-packages/bin with
/// the venv's interpreter in the shebang: `check` and `inspect` name them, and the bundle's
/// copy runs the bundle's interpreter from wherever it is extracted.
#[test]
fn console_scripts_pip_install_target_wrote_run_the_bundles_interpreter() {
    let s = scratch();
    let venv = s.path().join("app");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let site = venv.join("lib/python3.11/site-packages");
    run_ok(
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--no-index", "--no-deps"])
            .args(["--disable-pip-version-check", "--upgrade", "--target"])
            .arg(&site)
            .arg(demo_wheel()),
    );
    let script = site.join("bin/rvenv-demo");
    let original = std::fs::read_to_string(&script).unwrap();
    let shebang = original.lines().next().unwrap().to_string();
    assert!(
        shebang.starts_with(&format!("#!{}", venv.display())),
        "{shebang}"
    );
    let line = format!(
        "lib/python3.11/site-packages/bin: 2 console scripts that `pip install --target` wrote (demo-data-script, rvenv-demo) start with {shebang}: rewritten to run the bundle's interpreter"
    );
    let o = run(Command::new(RVENV).arg("check").arg(&venv));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("warning: {line} by `rvenv bundle`")),
        "{}",
        stderr(&o)
    );
    let inspect: serde_json::Value = serde_json::from_str(&run_ok(
        Command::new(RVENV).arg("inspect").arg("--json").arg(&venv),
    ))
    .unwrap();
    let changes = &inspect["bundle_changes"];
    assert!(
        changes["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == line.as_str()),
        "{changes}"
    );
    assert!(
        changes["rewritten"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |r| r["path"] == "lib/python3.11/site-packages/bin/rvenv-demo"
                    && r["rewrite"] == "shebang"
            ),
        "{changes}"
    );
    let tarball = s.path().join("app.tar.gz");
    let err = bundle_ok(&venv, &tarball, &[]);
    assert!(err.contains(&line), "{err}");
    let dest = s.path().join("elsewhere");
    extract(&tarball, &dest);
    let root = dest.join("app");
    let copy =
        std::fs::read_to_string(root.join("lib/python3.11/site-packages/bin/rvenv-demo")).unwrap();
    assert!(!copy.contains(&venv.display().to_string()), "{copy}");
    // The venv is still there: only the bundle's interpreter prints the bundle's prefix.
    let out = run_ok(&mut Command::new(
        root.join("lib/python3.11/site-packages/bin/rvenv-demo"),
    ));
    assert_eq!(out.trim(), format!("rvenv-demo ok {}", root.display()));
    let out = run(Command::new(RVENV).arg("verify").arg("--strict").arg(&root));
    assert!(out.status.success(), "{}", stderr(&out));
}
