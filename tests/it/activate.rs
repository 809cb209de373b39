//! Activate scripts of venvs made by the creators users meet (CPython's venv, virtualenv 20 and
//! 21, uv plain and `--relocatable`, Poetry), from PyPI (tests/fixtures/fetch.sh): every script
//! rvenv ships parses in bash, zsh and fish, and, sourced from the extracted bundle while the
//! original venv still exists, names the bundle and puts its bin/ first, silently.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(venv: &str, name: &str) -> PathBuf {
    fixtures().join(venv).join("bin").join(name)
}

/// Each creator's venv of the machine's CPython, without pip (the scripts are what matters).
fn make(creator: &str, dir: &Path, scratch: &Path) -> PathBuf {
    let py = SYSTEM_PYTHON;
    match creator {
        "venv" => {
            run_ok(
                Command::new(py)
                    .args(["-m", "venv", "--without-pip"])
                    .arg(dir),
            );
        }
        "virtualenv-20" | "virtualenv-20-copies" | "virtualenv-21" | "virtualenv-21-copies" => {
            let venv = if creator.starts_with("virtualenv-20") {
                "creators-20"
            } else {
                "creators-new"
            };
            let mut cmd = Command::new(tool(venv, "virtualenv"));
            cmd.args(["-q", "--no-pip", "--no-setuptools", "--no-wheel", "-p", py]);
            if creator.ends_with("copies") {
                cmd.arg("--copies");
            }
            cmd.arg(dir)
                .env("VIRTUALENV_OVERRIDE_APP_DATA", scratch.join("appdata"));
            run_ok(&mut cmd);
        }
        "uv" | "uv-relocatable" => {
            let mut cmd = Command::new(tool("creators-new", "uv"));
            cmd.args(["venv", "-q", "-p", py])
                .env("UV_CACHE_DIR", scratch.join("uv-cache"))
                .env("UV_PYTHON_DOWNLOADS", "never");
            if creator == "uv-relocatable" {
                cmd.arg("--relocatable");
            }
            run_ok(cmd.arg(dir));
        }
        "poetry" => {
            let poetry = tool("creators-new", "poetry");
            let env = |c: &mut Command| {
                c.env("POETRY_CONFIG_DIR", scratch.join("poetry-config"))
                    .env("POETRY_CACHE_DIR", scratch.join("poetry-cache"))
                    .env("POETRY_DATA_DIR", scratch.join("poetry-data"));
            };
            let mut c = Command::new(&poetry);
            env(&mut c);
            run_ok(c.args(["new", "-q"]).arg(dir));
            for args in [
                &["config", "virtualenvs.in-project", "true", "--local"][..],
                &["env", "use", "-q", py][..],
            ] {
                let mut c = Command::new(&poetry);
                env(&mut c);
                run_ok(c.args(args).current_dir(dir));
            }
            return dir.join(".venv");
        }
        other => panic!("unknown creator {other}"),
    }
    dir.to_path_buf()
}

#[test]
fn activate_scripts_of_every_creator_parse_and_activate_the_bundle() {
    let s = scratch();
    let mut failures = Vec::new();
    for creator in [
        "venv",
        "virtualenv-20",
        "virtualenv-20-copies",
        "virtualenv-21",
        "virtualenv-21-copies",
        "uv",
        "uv-relocatable",
        "poetry",
    ] {
        let venv = make(creator, &s.path().join(creator), s.path());
        let tarball = s.path().join(format!("{creator}.tar.gz"));
        let out = bundle(&venv, &tarball, &["-q", "--arcroot", "app"]);
        assert!(out.status.success(), "{creator}: {}", stderr(&out));
        let dest = s.path().join(format!("x-{creator}"));
        extract(&tarball, &dest);
        let root = dest.join("app");
        let b = root.display().to_string();
        assert!(
            root.join("bin/activate").is_file(),
            "{creator}: no bin/activate"
        );
        // virtualenv 21 --copies puts a copy of libpython in the venv's lib/; the bundle's
        // interpreter is python/bin's, which never loads it.
        if creator == "virtualenv-21-copies" {
            assert!(venv.join("lib/libpython3.11.so.1.0").exists(), "{creator}");
            assert!(!root.join("lib/libpython3.11.so.1.0").exists(), "{creator}");
        }
        // The original venv still exists: a script that tests or keeps its path would pick it.
        assert!(venv.is_dir());
        let checks: [(&str, Vec<&str>, String); 3] = [
            (
                "bash",
                vec!["bash", "-c"],
                format!(
                    ". '{b}/bin/activate' && echo \"V=$VIRTUAL_ENV\" && echo \"P=${{PATH%%:*}}\" && command -v python3"
                ),
            ),
            (
                "zsh",
                vec!["zsh", "-c"],
                format!(
                    ". '{b}/bin/activate' && echo \"V=$VIRTUAL_ENV\" && echo \"P=${{PATH%%:*}}\" && command -v python3"
                ),
            ),
            (
                "fish",
                vec!["fish", "-c"],
                format!(
                    "source '{b}/bin/activate.fish'; and echo \"V=$VIRTUAL_ENV\"; and echo \"P=$PATH[1]\"; and command -v python3"
                ),
            ),
        ];
        for (shell, argv, script) in checks {
            let file = root.join(if shell == "fish" {
                "bin/activate.fish"
            } else {
                "bin/activate"
            });
            if shell == "fish" && !file.exists() {
                continue;
            }
            let syntax = match shell {
                "fish" => run(Command::new("fish").arg("--no-execute").arg(&file)),
                _ => run(Command::new(shell).arg("-n").arg(&file)),
            };
            if !syntax.status.success() {
                failures.push(format!(
                    "{creator}/{shell}: does not parse: {}",
                    stderr(&syntax)
                ));
                continue;
            }
            let out = run(Command::new(argv[0])
                .args(&argv[1..])
                .arg(&script)
                .current_dir("/"));
            let text = stdout(&out);
            let expected = format!("V={b}\nP={b}/bin\n{b}/bin/python3\n");
            if !out.status.success() || text != expected || !stderr(&out).is_empty() {
                failures.push(format!(
                    "{creator}/{shell}: exit {}, stdout {text:?}, stderr {:?}",
                    out.status,
                    stderr(&out)
                ));
            }
        }
        // What rvenv ships names neither the original venv nor this machine's folders.
        for entry in std::fs::read_dir(root.join("bin")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("activate") || name.starts_with("deactivate") {
                let bytes = std::fs::read(&path).unwrap();
                let orig = venv.display().to_string();
                if bytes.windows(orig.len()).any(|w| w == orig.as_bytes()) {
                    failures.push(format!("{creator}: bin/{name} names {orig}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
