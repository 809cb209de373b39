//! `rvenv verify` on real bundles made by the rvenv binary from a real venv of the machine's
//! Python: untouched, edited in every way the manifest can tell, broken input, and after the
//! bundle's own interpreter has run (and written bytecode).

use crate::common::*;
use serde_json::Value;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn verify(path: &Path, args: &[&str]) -> Output {
    run(Command::new(RVENV).arg("verify").arg(path).args(args))
}

fn verify_json(path: &Path, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = verify(path, &all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "verify --json {}:\n{}{}",
        path.display(),
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("verify --json prints JSON")
}

/// `lib/pythonX.Y` of a venv or bundle.
fn stdlib_name(root: &Path) -> String {
    std::fs::read_dir(root.join("lib"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("python3"))
        .expect("lib/python3.*")
}

/// A venv of the machine's Python (no pip, so it is quick) with a module of its own that has
/// never been imported (no bytecode yet), bundled by rvenv with arcroot `app` and extracted.
/// Returns (scratch, tarball, extracted bundle).
fn made_bundle() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let s = scratch();
    let venv = s.path().join("venv");
    make_bare_venv(&venv);
    let py = stdlib_name(&venv);
    std::fs::write(
        venv.join("lib")
            .join(&py)
            .join("site-packages/verifydemo.py"),
        "VALUE = 42\n",
    )
    .unwrap();
    let tarball = s.path().join("app.tar.gz");
    bundle_ok(&venv, &tarball, &["--arcroot", "app", "-q"]);
    let dest = s.path().join("opt");
    extract(&tarball, &dest);
    (s, tarball, dest.join("app"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn paths(doc: &Value, list: &str) -> Vec<String> {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} is not a list: {doc}"))
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn untouched_bundle_matches_as_directory_and_as_tarball() {
    let (_s, tarball, app) = made_bundle();
    let out = verify(&app, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("files match rvenv.json"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    let out = verify(&tarball, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let manifest = std::fs::read(app.join("rvenv.json")).unwrap();
    let manifest_sha = sha256_hex(&manifest);
    let listed = serde_json::from_slice::<Value>(&manifest).unwrap()["files"]
        .as_array()
        .unwrap()
        .len();
    for path in [&app, &tarball] {
        let doc = verify_json(path, &[], 0);
        assert_eq!(doc["format"], 1);
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["strict"], false);
        assert_eq!(doc["checked"].as_u64().unwrap() as usize, listed);
        assert!(
            listed > 100,
            "{listed} files: the standard library is in the bundle"
        );
        // bin/python, bin/python3 and bin/python3.X at least.
        assert!(doc["symlinks"].as_u64().unwrap() >= 3, "{doc}");
        assert_eq!(doc["manifest"]["sha256"], manifest_sha.as_str());
        assert_eq!(doc["manifest"]["rvenv_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["manifest"]["target"], "x86_64");
        for list in [
            "changed",
            "missing",
            "extra",
            "broken_symlinks",
            "written_since",
        ] {
            assert_eq!(doc[list], Value::Array(vec![]), "{list} in {doc}");
        }
    }
}

#[test]
fn every_difference_is_named_in_the_directory_and_in_a_tarball_of_it() {
    let (s, _tarball, app) = made_bundle();
    let py = stdlib_name(&app);
    let site = format!("lib/{py}/site-packages");
    let std = format!("python/lib/{py}");

    // Grown: another size.
    let grown = format!("{site}/verifydemo.py");
    std::fs::write(app.join(&grown), "VALUE = 43 # edited\n").unwrap();
    // One byte changed: same size, other content.
    let edited = format!("{std}/os.py");
    let mut bytes = std::fs::read(app.join(&edited)).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(app.join(&edited), &bytes).unwrap();
    // Deleted.
    let deleted = format!("{std}/json/decoder.py");
    std::fs::remove_file(app.join(&deleted)).unwrap();
    // Replaced by a symlink (to a file that is there) and by a directory.
    let linked = format!("{std}/json/encoder.py");
    std::fs::remove_file(app.join(&linked)).unwrap();
    std::os::unix::fs::symlink("__init__.py", app.join(&linked)).unwrap();
    let dir = format!("{std}/json/scanner.py");
    std::fs::remove_file(app.join(&dir)).unwrap();
    std::fs::create_dir(app.join(&dir)).unwrap();
    // Added: a module, and bytecode with no source beside it (not Python's doing).
    let added = format!("{site}/added.py");
    std::fs::write(app.join(&added), "print('not from the build')\n").unwrap();
    let ghost = format!("{site}/__pycache__/ghost.cpython-311.pyc");
    std::fs::create_dir_all(app.join(&ghost).parent().unwrap()).unwrap();
    std::fs::write(app.join(&ghost), b"\0\0\0\0").unwrap();
    // Symlinks rvenv would never store.
    std::os::unix::fs::symlink("nowhere", app.join("bin/dangling")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", app.join("bin/escape")).unwrap();
    std::os::unix::fs::symlink("../../outside", app.join("bin/up")).unwrap();

    let out = verify(&app, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    for line in [
        format!("changed  {grown}: 20 bytes, the manifest says 11"),
        format!("changed  {edited}: content differs (sha256 "),
        format!("changed  {linked}: now a symlink to __init__.py, the manifest lists a file"),
        format!("changed  {dir}: now a directory, the manifest lists a file"),
        format!("missing  {deleted} ("),
        format!("extra    {added}: a file of 28 bytes, not in the manifest"),
        format!("extra    {ghost}: a file of 4 bytes"),
        "broken   bin/dangling -> nowhere: dangles".to_string(),
        "broken   bin/escape -> /etc/passwd: leaves the bundle".to_string(),
        "broken   bin/up -> ../../outside: leaves the bundle".to_string(),
        "differs from its manifest: 4 changed, 1 missing, 2 extra, 3 broken symlink(s)".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }

    let doc = verify_json(&app, &[], 1);
    assert_eq!(doc["ok"], false);
    let mut changed = paths(&doc, "changed");
    changed.sort();
    let mut want = vec![grown.clone(), edited.clone(), linked.clone(), dir.clone()];
    want.sort();
    assert_eq!(changed, want);
    let reasons: std::collections::BTreeMap<String, String> = doc["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().into(),
                format!("{} {}", c["reason"].as_str().unwrap(), c["found"]["kind"]),
            )
        })
        .collect();
    assert_eq!(reasons[&grown], "size \"file\"");
    assert_eq!(reasons[&edited], "content \"file\"");
    assert_eq!(reasons[&linked], "kind \"symlink\"");
    assert_eq!(reasons[&dir], "kind \"directory\"");
    let edited_row = doc["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == edited.as_str())
        .unwrap();
    assert_eq!(
        edited_row["found"]["sha256"].as_str().unwrap(),
        sha256_hex(&bytes)
    );
    assert_ne!(
        edited_row["found"]["sha256"],
        edited_row["expected"]["sha256"]
    );
    assert_eq!(paths(&doc, "missing"), vec![deleted.clone()]);
    let mut extra = paths(&doc, "extra");
    extra.sort();
    assert_eq!(extra, vec![ghost.clone(), added.clone()]);
    let broken: Vec<String> = doc["broken_symlinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["path"].as_str().unwrap(),
                b["problem"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        broken,
        [
            "bin/dangling dangles",
            "bin/escape leaves the bundle",
            "bin/up leaves the bundle"
        ]
    );

    // The same tree packed again (GNU tar, its own order): its symlinks out of the bundle
    // make the tarball unsafe, refused before anything is compared (tests/it/unsafe_archives.rs
    // has every kind).
    let repacked = s.path().join("edited.tar.gz");
    let pack = || {
        run_ok(
            Command::new("tar")
                .arg("-czf")
                .arg(&repacked)
                .arg("-C")
                .arg(app.parent().unwrap())
                .arg("app"),
        )
    };
    pack();
    let out = verify(&repacked, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused member app/bin/escape: a symlink to the absolute path")
            || stderr(&out).contains("refused member app/bin/up: a symlink to ../../outside"),
        "{}",
        stderr(&out)
    );
    // Without them, the tarball reads the same as the directory, streamed.
    std::fs::remove_file(app.join("bin/escape")).unwrap();
    std::fs::remove_file(app.join("bin/up")).unwrap();
    let doc = verify_json(&app, &[], 1);
    pack();
    let from_tar = verify_json(&repacked, &[], 1);
    for key in [
        "ok",
        "checked",
        "symlinks",
        "changed",
        "missing",
        "extra",
        "broken_symlinks",
    ] {
        assert_eq!(
            from_tar[key], doc[key],
            "{key}: tarball and directory disagree"
        );
    }
}

#[test]
fn bytecode_the_bundle_writes_when_it_runs_is_reported_apart() {
    let (_s, _tarball, app) = made_bundle();
    let py = stdlib_name(&app);
    let pyc_dir = app.join(format!("lib/{py}/site-packages/__pycache__"));
    assert!(
        !pyc_dir.exists(),
        "the test module must not have bytecode yet"
    );
    run_ok(
        Command::new(app.join("bin/python3"))
            .args(["-c", "import verifydemo; assert verifydemo.VALUE == 42"])
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .env_remove("PYTHONPYCACHEPREFIX"),
    );
    let written: Vec<String> = std::fs::read_dir(&pyc_dir)
        .expect("python wrote __pycache__ for the module it imported")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let pyc = format!("lib/{py}/site-packages/__pycache__/{}", written[0]);

    // The default: still intact, the bytecode is listed apart and not counted.
    let out = verify(&app, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("written since: "), "{}", stdout(&out));
    let doc = verify_json(&app, &[], 0);
    assert!(paths(&doc, "written_since").contains(&pyc), "{doc}");
    assert_eq!(doc["extra"], Value::Array(vec![]));

    // --strict: every such file is extra.
    let out = verify(&app, &["--strict"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(&format!("extra    {pyc}: a file of")),
        "{}",
        stdout(&out)
    );
    let doc = verify_json(&app, &["--strict"], 1);
    assert!(paths(&doc, "extra").contains(&pyc), "{doc}");
    assert_eq!(doc["written_since"], Value::Array(vec![]));
    assert_eq!(doc["strict"], true);
}

/// Exit 2, nothing on stdout, one `error:` line naming `names` and a `hint:`.
fn refused(path: &Path, names: &str, words: &[&str]) {
    let out = verify(path, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}{err}", stdout(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].starts_with(&format!("error: {names}")), "{err}");
    for w in words {
        assert!(errors[0].contains(w), "{w:?} not in {err}");
    }
    assert!(err.lines().any(|l| l.starts_with("hint: ")), "{err}");
}

#[test]
fn input_that_is_not_a_bundle_exits_2_naming_it() {
    let (s, tarball, app) = made_bundle();
    let opt = app.parent().unwrap();
    // The directory the bundle was extracted into.
    refused(
        opt,
        &opt.display().to_string(),
        &["no rvenv.json", "app is one"],
    );
    // A damaged manifest.
    let copy = s.path().join("copy");
    run_ok(Command::new("cp").arg("-a").arg(&app).arg(&copy));
    std::fs::write(copy.join("rvenv.json"), "{\"files\": 3}").unwrap();
    refused(
        &copy,
        &copy.join("rvenv.json").display().to_string(),
        &["not a manifest written by rvenv"],
    );
    // No manifest at all: as a directory and as a tarball.
    std::fs::remove_file(copy.join("rvenv.json")).unwrap();
    refused(&copy, &copy.display().to_string(), &["no rvenv.json"]);
    let bare_tar = s.path().join("no-manifest.tar.gz");
    run_ok(
        Command::new("tar")
            .arg("-czf")
            .arg(&bare_tar)
            .arg("-C")
            .arg(s.path())
            .arg("copy"),
    );
    refused(
        &bare_tar,
        &bare_tar.display().to_string(),
        &["no rvenv.json"],
    );
    // A venv is not a bundle.
    refused(&s.path().join("venv"), "", &["no rvenv.json"]);
    // Two top-level directories.
    let two = s.path().join("two.tar.gz");
    run_ok(
        Command::new("tar")
            .arg("-czf")
            .arg(&two)
            .arg("-C")
            .arg(opt)
            .arg("app")
            .arg("-C")
            .arg(s.path())
            .arg("copy"),
    );
    refused(
        &two,
        &two.display().to_string(),
        &["more than one top-level directory"],
    );
    // Not an archive, gzip of something else, missing.
    let text = s.path().join("notes.txt");
    std::fs::write(&text, "x".repeat(2000)).unwrap();
    refused(
        &text,
        &text.display().to_string(),
        &["not a readable tar archive"],
    );
    let gz = s.path().join("notes.txt.gz");
    run_ok(Command::new("gzip").arg("-k").arg(&text));
    refused(
        &gz,
        &gz.display().to_string(),
        &["not a readable gzip-compressed tar"],
    );
    let none = s.path().join("absent.tar.gz");
    refused(&none, &none.display().to_string(), &["cannot be read"]);
    // The intact tarball is still fine.
    assert_eq!(verify(&tarball, &[]).status.code(), Some(0));

    let help = run_ok(Command::new(RVENV).args(["verify", "--help"]));
    assert!(
        help.contains("Exit status: 0 everything matches, 1 differences found"),
        "{help}"
    );
    assert!(
        help.contains("--strict") && help.contains("--json"),
        "{help}"
    );
}

/// The zstd and plain-tar formats are read the same way by verify and check; a changed byte in
/// a zstd bundle's file is found.
#[test]
fn zstd_and_plain_tar_bundles_are_verified_and_checked() {
    let s = scratch();
    let venv = s.path().join("app");
    make_venv(Path::new(SYSTEM_PYTHON), &venv);
    for name in ["app.tar.zst", "app.tar"] {
        let tarball = s.path().join(name);
        bundle_ok(&venv, &tarball, &[]);
        let doc = verify_json(&tarball, &[], 0);
        assert_eq!(doc["ok"], true, "{name}: {doc}");
        let out = Command::new(env!("CARGO_BIN_EXE_rvenv"))
            .arg("check")
            .arg(&tarball)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("0 problems"),
            "{name}: {}",
            stdout(&out)
        );
    }
    // Re-packed with one file changed, as zstd: verify names it.
    let tree = s.path().join("tree");
    extract(&s.path().join("app.tar.zst"), &tree);
    let init = tree.join("app/lib/python3.11/site-packages/rvenv_demo/__init__.py");
    let text = std::fs::read_to_string(&init).unwrap().replace("ok", "OK");
    std::fs::write(&init, text).unwrap();
    let changed = s.path().join("changed.tar.zst");
    run_ok(
        Command::new("tar")
            .arg("--zstd")
            .arg("-cf")
            .arg(&changed)
            .arg("-C")
            .arg(&tree)
            .arg("app"),
    );
    let doc = verify_json(&changed, &[], 1);
    assert_eq!(
        paths(&doc, "changed"),
        ["lib/python3.11/site-packages/rvenv_demo/__init__.py"],
        "{doc}"
    );
}
