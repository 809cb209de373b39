//! `rvenv inspect` end to end: a venv of the machine's Python and its bundle (tarball and
//! extracted), an aarch64 venv made from Debian's arm64 CPython with PyPI's aarch64 numpy and
//! its zstd and plain-tar bundles. Every `--json` output is validated against
//! docs/inspect.schema.json with every object closed, so no key is left undocumented.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The documented schema, with `additionalProperties: false` added to every object that lists
/// its properties: the output may hold nothing the documentation does not describe.
fn strict_schema() -> Value {
    fn close(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/inspect.schema.json");
    let mut schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    close(&mut schema);
    schema
}

fn inspect(path: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new(RVENV).arg("inspect").arg(path).args(args))
}

/// `rvenv inspect --json`, exit 0 and valid against the documented schema.
fn inspect_json(path: &Path, args: &[&str]) -> Value {
    let out = inspect(path, &[args, &["--json"]].concat());
    assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let schema = strict_schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{}: not the documented shape:\n{}",
        path.display(),
        errors.join("\n")
    );
    doc
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn package<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in {:#}", doc["packages"]))
}

fn script<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["scripts"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("no script {path} in {:#}", doc["scripts"]))
}

fn leak_paths(doc: &Value) -> Vec<String> {
    doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect()
}

/// Sums and orders that hold for any report.
fn consistent(doc: &Value) {
    let top = doc["size"]["top_level"].as_array().unwrap();
    let sum = |key: &str| top.iter().map(|r| r[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("size"), doc["size"]["total"].as_u64().unwrap());
    assert_eq!(sum("files"), doc["size"]["files"].as_u64().unwrap());
    let sizes: Vec<u64> = top.iter().map(|r| r["size"].as_u64().unwrap()).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "top level not largest first"
    );
    let packages: Vec<u64> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect();
    assert!(
        packages.windows(2).all(|w| w[0] >= w[1]),
        "packages not largest first"
    );
    let forms = doc["scripts"]["forms"].as_object().unwrap();
    let counted: u64 = forms.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(
        counted as usize,
        doc["scripts"]["files"].as_array().unwrap().len()
    );
    let arches = doc["elf"]["architectures"].as_array().unwrap();
    let elf: u64 = arches
        .iter()
        .map(|a| a["count"].as_u64().unwrap())
        .sum::<u64>()
        + doc["elf"]["malformed"].as_array().unwrap().len() as u64;
    assert_eq!(elf, doc["elf"]["files"].as_u64().unwrap());
}

/// Regular files under `root`: how many, their bytes, and how many are ELF.
fn walk(root: &Path) -> (u64, u64, u64) {
    let (mut files, mut bytes, mut elf) = (0, 0, 0);
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            files += 1;
            bytes += e.metadata().unwrap().len();
            let mut head = [0u8; 4];
            use std::io::Read;
            let n = std::fs::File::open(e.path())
                .unwrap()
                .read(&mut head)
                .unwrap();
            if n == 4 && &head == b"\x7fELF" {
                elf += 1;
            }
        }
    }
    (files, bytes, elf)
}

/// `readelf -V` of the file the report names says it needs that GLIBC version.
fn needs_glibc(file: &Path, version: &str) {
    let out = run_ok(Command::new("readelf").args(["-V", "--wide"]).arg(file));
    assert!(
        out.contains(&format!("GLIBC_{version}")),
        "{} does not name GLIBC_{version}",
        file.display()
    );
}

/// Runs `rvenv inspect` in an empty directory with an empty TMPDIR: nothing is extracted.
fn inspect_leaves_nothing(path: &Path) {
    let d = scratch();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = run(Command::new(RVENV)
        .arg("inspect")
        .arg(path)
        .current_dir(d.path())
        .env("TMPDIR", &tmp));
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<PathBuf> = walkdir::WalkDir::new(d.path())
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .filter(|p| p != &tmp)
        .collect();
    assert!(left.is_empty(), "inspect wrote {left:?}");
}

#[test]
fn host_venv_and_its_bundle() {
    let d = scratch();
    let venv = d.path().join("app");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    let site = venv.join("lib/python3.11/site-packages");
    // A file no RECORD claims that still names the venv, a decoy naming another directory
    // whose name only starts like it, and a .pth adding a directory of this machine.
    std::fs::create_dir(site.join("leaky")).unwrap();
    let leak = format!("data_dir = {}/share/app\n", venv.display());
    std::fs::write(site.join("leaky/settings.cfg"), &leak).unwrap();
    std::fs::write(
        site.join("leaky/decoy.cfg"),
        format!("other = {}2/share\n", venv.display()),
    )
    .unwrap();
    std::fs::write(site.join("_local.pth"), "/opt/elsewhere/src\n").unwrap();
    let version = run_ok(
        Command::new(SYSTEM_PYTHON)
            .args(["-c", "import platform; print(platform.python_version())"]),
    );

    let doc = inspect_json(&venv, &[]);
    consistent(&doc);
    assert_eq!(doc["kind"], "venv");
    assert_eq!(doc["python"]["implementation"], "CPython");
    assert_eq!(doc["python"]["version"], version.trim());
    assert_eq!(doc["target"]["name"], "x86_64");
    assert_eq!(doc["target"]["detected"], true);
    assert_eq!(doc["target"]["interpreter"], "python/bin/python3.11");
    assert_eq!(doc["target"]["interpreter_elf"], "ELF64 x86-64");
    let demo = package(&doc, "rvenv-demo");
    assert_eq!(demo["version"], "1.0");
    assert_eq!(demo["installer"], "pip");
    assert!(demo["url"].as_str().unwrap().starts_with("file:///"));
    assert!(demo["files"].as_u64().unwrap() >= 5, "{demo:#}");
    let leaky = package(&doc, "leaky");
    assert!(leaky["version"].is_null() && leaky["dist_info"].is_null());
    assert_eq!(
        leaky["size"].as_u64().unwrap(),
        (leak.len() + format!("other = {}2/share\n", venv.display()).len()) as u64
    );
    assert!(package(&doc, "pip")["size"].as_u64().unwrap() > 1_000_000);
    for a in doc["elf"]["architectures"].as_array().unwrap() {
        assert_eq!(a["matches_target"], true, "{a:#}");
    }
    assert_eq!(doc["elf"]["glibc"]["fits_target"], true);
    // The venv's own launchers, before bundle rewrites them.
    let demo_script = script(&doc, "bin/rvenv-demo");
    assert_eq!(demo_script["form"], "absolute");
    assert_eq!(
        demo_script["shebang"],
        format!("#!{}/bin/python", venv.display())
    );
    assert_eq!(script(&doc, "bin/activate")["form"], "no-shebang");
    assert_eq!(
        script(&doc, "bin/demo-shell-script")["form"],
        "other-interpreter"
    );
    assert!(strs(&doc["build_paths"]).contains(&venv.to_str().unwrap()));
    let leaks = leak_paths(&doc);
    assert!(
        leaks.contains(&"lib/python3.11/site-packages/leaky/settings.cfg".into()),
        "{leaks:?}"
    );
    assert!(!leaks.iter().any(|l| l.ends_with("decoy.cfg")), "{leaks:?}");
    let editable = &doc["editable"];
    assert!(
        editable.to_string().contains("_local.pth")
            && editable.to_string().contains("/opt/elsewhere/src"),
        "{editable:#}"
    );
    let rewritten = doc["bundle_changes"]["rewritten"].to_string();
    for (path, how) in [
        ("bin/rvenv-demo", "shebang"),
        ("bin/activate", "activate"),
        ("pyvenv.cfg", "pyvenv-cfg"),
    ] {
        assert!(
            rewritten.contains(&format!("{{\"path\":\"{path}\",\"rewrite\":\"{how}\"}}")),
            "{rewritten}"
        );
    }

    let venv_doc = doc;

    // The bundle: tarball (streamed) and extracted, the same report.
    let tarball = d.path().join("app.tar.gz");
    bundle_ok(&venv, &tarball, &["--allow-editable"]);
    let out = d.path().join("out");
    extract(&tarball, &out);
    let root = out.join("app");
    let from_tar = inspect_json(&tarball, &[]);
    let from_dir = inspect_json(&root, &[]);
    consistent(&from_tar);
    consistent(&from_dir);
    assert_eq!(from_tar["kind"], "tarball");
    assert_eq!(from_dir["kind"], "bundle");
    for key in [
        "python",
        "size",
        "packages",
        "elf",
        "scripts",
        "build_paths",
        "leaks",
        "editable",
    ] {
        assert_eq!(
            from_tar[key], from_dir[key],
            "{key} differs between the tarball and the directory"
        );
    }
    let doc = from_dir;
    assert!(doc["bundle_changes"].is_null());
    assert_eq!(doc["target"]["bundle_target"], "x86_64");
    assert_eq!(doc["python"]["version"], version.trim());
    let (files, bytes, elf) = walk(&root);
    // The venv was reported as `rvenv bundle` packs it: without what it leaves out by default
    // (pip's and setuptools' Windows launchers here), so the same files and ELF files, but
    // the manifest the bundle adds.
    assert_eq!(venv_doc["size"]["files"].as_u64().unwrap() + 1, files);
    assert_eq!(venv_doc["elf"]["files"], doc["elf"]["files"]);
    assert_eq!(venv_doc["elf"]["foreign"], serde_json::json!([]));
    assert_eq!(doc["size"]["files"].as_u64().unwrap(), files);
    assert_eq!(doc["size"]["total"].as_u64().unwrap(), bytes);
    assert_eq!(doc["elf"]["files"].as_u64().unwrap(), elf);
    let glibc = &doc["elf"]["glibc"];
    needs_glibc(
        &root.join(glibc["path"].as_str().unwrap()),
        glibc["version"].as_str().unwrap(),
    );
    assert_eq!(script(&doc, "bin/rvenv-demo")["form"], "relocatable");
    // The venv's path, learnt from its bytecode; the base's standard library from its own.
    let build_paths = strs(&doc["build_paths"]);
    assert!(
        build_paths.contains(&venv.to_str().unwrap()),
        "{build_paths:?}"
    );
    assert!(
        build_paths.contains(&"/usr/lib/python3.11"),
        "{build_paths:?}"
    );
    let leaks = leak_paths(&doc);
    assert!(
        leaks.contains(&"lib/python3.11/site-packages/leaky/settings.cfg".into()),
        "{leaks:?}"
    );
    assert!(!leaks.iter().any(|l| l.ends_with("decoy.cfg")), "{leaks:?}");
    assert!(doc["editable"].to_string().contains("_local.pth"));
    inspect_leaves_nothing(&tarball);
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
fn aarch64_venv_and_its_zstd_and_plain_tar_bundles() {
    let d = scratch();
    let venv = d.path().join("app");
    aarch64_venv(&venv);
    let doc = inspect_json(&venv, &[]);
    consistent(&doc);
    assert_eq!(doc["target"]["name"], "aarch64");
    assert_eq!(doc["target"]["detected"], true);
    assert_eq!(doc["target"]["interpreter_elf"], "ELF64 AArch64");
    assert_eq!(doc["python"]["version"], "3.11.2");
    let arches = doc["elf"]["architectures"].as_array().unwrap();
    assert_eq!(arches.len(), 1, "{arches:#?}");
    assert_eq!(arches[0]["arch"], "ELF64 AArch64");
    assert_eq!(arches[0]["matches_target"], true);
    assert!(arches[0]["count"].as_u64().unwrap() > 60);
    let numpy = package(&doc, "numpy");
    assert_eq!(numpy["version"], "2.2.6");
    assert!(numpy["size"].as_u64().unwrap() > 10_000_000);
    assert_eq!(
        doc["packages"][0]["name"], "numpy",
        "the largest package first"
    );
    // The glibc needed, checked against the file itself (the venv's interpreter is the
    // sysroot's).
    let glibc = &doc["elf"]["glibc"];
    assert_eq!(glibc["fits_target"], true);
    let needed_by = glibc["path"].as_str().unwrap();
    let file = if needed_by == "python/bin/python3.11" {
        std::fs::canonicalize(venv.join("bin/python3.11")).unwrap()
    } else {
        venv.join(needed_by)
    };
    needs_glibc(&file, glibc["version"].as_str().unwrap());

    // Against bullseye (glibc 2.31) the interpreter's GLIBC_2.35 does not fit; against
    // x86_64 nothing is the target's architecture.
    let bullseye = inspect_json(&venv, &["--target", "rpios-bullseye-aarch64"]);
    assert_eq!(bullseye["target"]["detected"], false);
    assert_eq!(bullseye["target"]["glibc"], "2.31");
    assert_eq!(bullseye["elf"]["glibc"]["fits_target"], false);
    let x86 = inspect_json(&venv, &["--target", "x86_64"]);
    assert_eq!(x86["elf"]["architectures"][0]["matches_target"], false);
    let text = stdout(&inspect(&venv, &["--target", "x86_64"]));
    assert!(
        text.contains("ELF64 AArch64  <- not the target's architecture"),
        "{text}"
    );

    let text = stdout(&inspect(&venv, &[]));
    for line in [
        "Python:   CPython 3.11.2",
        "Target:   aarch64 (detected from python/bin/python3.11: ELF64 AArch64)",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("numpy 2.2.6"), "{text}");

    let zst = d.path().join("app.tar.zst");
    let tar = d.path().join("app.tar");
    bundle_ok(&venv, &zst, &[]);
    bundle_ok(&venv, &tar, &[]);
    let a = inspect_json(&zst, &[]);
    let b = inspect_json(&tar, &[]);
    consistent(&a);
    for key in [
        "python",
        "target",
        "size",
        "packages",
        "elf",
        "scripts",
        "build_paths",
        "leaks",
    ] {
        assert_eq!(
            a[key], b[key],
            "{key} differs between the zstd and plain tarballs"
        );
    }
    assert_eq!(a["target"]["bundle_target"], "aarch64");
    assert_eq!(
        a["packages"], doc["packages"],
        "the bundle's packages are the venv's"
    );
    // numpy's bytecode was compiled in pip's temporary --target directory, which names
    // nothing that matters; the base's standard library comes from its _sysconfigdata.
    let build_paths = strs(&a["build_paths"]);
    assert!(
        !build_paths.iter().any(|p| p.contains("pip-target")),
        "{build_paths:?}"
    );
    assert_eq!(build_paths, ["/usr/lib/python3.11"]);
    // Debian's _sysconfigdata names /usr/lib/python3.11 by design (the base's build
    // configuration): not a leak in every bundle.
    assert!(
        !leak_paths(&a)
            .contains(&"python/lib/python3.11/_sysconfigdata__aarch64-linux-gnu.py".into()),
        "{:#}",
        a["leaks"]
    );
    inspect_leaves_nothing(&zst);
}

#[test]
fn bad_input_is_one_error_line() {
    let d = scratch();
    let plain = d.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let text = d.path().join("notes.txt");
    std::fs::write(&text, "not a tarball\n").unwrap();
    // A real bundle cut short.
    let venv = d.path().join("v");
    make_bare_venv(&venv);
    let whole = d.path().join("v.tar.gz");
    bundle_ok(&venv, &whole, &[]);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = d.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for (path, words) in [
        (d.path().join("missing"), "cannot be read"),
        (plain.clone(), "neither a venv"),
        (text.clone(), "not a readable tar archive"),
        (cut.clone(), ""),
    ] {
        let out = inspect(&path, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("error: {}", path.display())) && first.contains(words),
            "{err}"
        );
        assert!(
            err.lines().skip(1).all(|l| l.starts_with("hint: ")),
            "{err}"
        );
    }
    assert!(stderr(&inspect(&plain, &[])).contains("\nhint: give a venv's directory"));
}
