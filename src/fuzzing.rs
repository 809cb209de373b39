//! Entry points for the fuzz targets (`fuzz/`) and for `tests/it/fuzz_corpus.rs`, which replays
//! every committed corpus input through them on stable Rust. Each takes arbitrary bytes and
//! must never panic; where an input is accepted, it also asserts what the accepting code
//! promises (a panic here is a finding, as a crash is). Not a public API.

use crate::bundle::archive;
use crate::python::{dist, rewrite, venv};
use crate::read::{tarread, verify};
use crate::{elf, inspect, wheel};
use std::io::Cursor;
use std::path::{Component, Path};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets, by the name of their fuzz target and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("elf_inspect", elf_inspect),
    ("arm_attributes", arm_attributes),
    ("shebang", shebang),
    ("pyvenv_cfg", pyvenv_cfg),
    ("record", record),
    ("wheel_zip", wheel_zip),
    ("tar_reader", tar_reader),
];

/// ELF inspection and the target checks.
pub fn elf_inspect(data: &[u8]) {
    let path = Path::new("fuzz.so");
    if let Some(elf::Inspection::Elf(elf)) = elf::inspect(path, data) {
        for target in crate::target::catalogue().iter().take(10) {
            let _ = elf.problems(target, None);
        }
        let _ = elf.describe();
        let _ = elf::detect_target(&elf);
    }
    let _ = elf::runpath_slot(data, path);
}

/// The hand-written `.ARM.attributes` parser, both byte orders.
pub fn arm_attributes(data: &[u8]) {
    let _ = elf::parse_arm_attributes(data, true);
    let _ = elf::parse_arm_attributes(data, false);
}

/// The shebang rewriter: launcher parsing, classification and the relocatable rewrite.
pub fn shebang(data: &[u8]) {
    let launcher = rewrite::parse_launcher(data);
    if let Some(l) = &launcher {
        assert!(l.body_start <= data.len(), "body past the end: {l:?}");
        assert!(rewrite::is_python_name(&l.python), "{l:?}");
    }
    let form = rewrite::shebang_form(data);
    let _ = form.name();
    match rewrite::relocatable_script(data, "python3.11") {
        Ok(Some(out)) => {
            let l = launcher.expect("rewritten, so it was a launcher");
            assert!(out.ends_with(&data[l.body_start..]), "the body is kept");
            assert_eq!(
                rewrite::shebang_form(&out),
                rewrite::ShebangForm::Relocatable,
                "the rewrite is relocatable"
            );
            // A script already rewritten (a relocatable venv's) is left as it is.
            assert_eq!(
                rewrite::relocatable_script(&out, "python3.11"),
                Ok(Some(out.clone())),
                "rewriting twice changes it"
            );
        }
        Ok(None) => assert!(launcher.is_none()),
        Err(_) => {}
    }
}

/// `pyvenv.cfg` as `Venv::discover` reads it (UTF-8, keys, the version) and as the bundle
/// rewrites it.
pub fn pyvenv_cfg(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = venv::PyvenvCfg::parse(text.to_string());
    for key in [
        "home",
        "include-system-site-packages",
        "version",
        "executable",
    ] {
        let _ = cfg.get(key);
    }
    let version = cfg
        .get("version")
        .or_else(|| cfg.get("version_info"))
        .and_then(venv::PythonVersion::parse);
    let full = version.map_or_else(|| "3.11.2".to_string(), |v| v.full.clone());
    let out = rewrite::pyvenv_cfg(text, &full);
    let again = venv::PyvenvCfg::parse(out);
    for key in ["home", "executable", "command", "base-prefix"] {
        assert_eq!(again.get(key), None, "{key} is a build path: kept");
    }
    assert_eq!(again.get("include-system-site-packages"), Some("false"));
    assert!(again.get("version").is_some());
}

/// The text a wheel and an installed distribution carry: RECORD, METADATA, direct_url.json,
/// entry_points.txt and wheel file names.
pub fn record(data: &[u8]) {
    let _ = dist::record_paths(data);
    let text = String::from_utf8_lossy(data);
    let dist_info = Path::new("site-packages/fuzz-1.0.dist-info");
    if let Ok(d) = dist::Distribution::from_parts(dist_info.into(), data, None) {
        let _ = d.canonical_name();
        let _ = dist::freeze(std::slice::from_ref(&d), 11);
    }
    if let Ok(d) =
        dist::Distribution::from_parts(dist_info.into(), b"Name: fuzz\nVersion: 1.0\n", Some(data))
    {
        // An editable install is looked up on disk; only its path is computed here.
        match &d.direct_url {
            Some(u) if d.is_editable() => {
                let _ = dist::url_to_path(&u.url);
            }
            _ => {
                let _ = dist::freeze(std::slice::from_ref(&d), 11);
            }
        }
    }
    let _ = dist::normalize_version(&text);
    let _ = dist::canonicalize_name(&text);
    if let Some(name) = wheel::WheelName::parse(&text) {
        let tags = wheel::Tags::new(
            3,
            11,
            &["manylinux_2_17_aarch64".into(), "linux_aarch64".into()],
        );
        let _ = tags.rank(&name);
    }
    if let Ok(scripts) = wheel::entry_points(&text) {
        for (name, module, attr) in scripts {
            assert!(!name.is_empty() && !name.contains('/'), "{name:?}");
            let script = wheel::entry_point_script("/venv/bin/python", &module, &attr);
            assert!(rewrite::parse_launcher(script.as_bytes()).is_some());
        }
    }
}

/// A wheel read from bytes: its member names, RECORD and metadata checked as the installer
/// checks them before writing, then every member read against RECORD.
pub fn wheel_zip(data: &[u8]) {
    // The name the wheel's own .dist-info gives, so the checks after that one are reached.
    let named = zip::ZipArchive::new(Cursor::new(data)).ok().and_then(|z| {
        z.file_names().filter_map(Result::ok).find_map(|n| {
            let (dist_info, _) = n.split_once(".dist-info/")?;
            dist_info
                .rsplit_once('-')?
                .0
                .parse::<pep508_rs::PackageName>()
                .ok()
        })
    });
    let name = named.unwrap_or_else(|| "fuzz".parse().expect("a valid name"));
    let _ = wheel::check_from(
        Cursor::new(data),
        Path::new("fuzz-1.0-py3-none-any.whl"),
        &name,
    );
}

/// The checked tar reader over the bytes as they are (gzip, zstd or plain tar, told by the
/// first bytes), then verify, check and inspect on them; and the reader alone over the bytes
/// as the content of a gzip stream (stored blocks: what is fuzzed is the reader behind the
/// decoder, not deflate, and compressing on every run would halve the rate).
pub fn tar_reader(data: &[u8]) {
    readers_agree(data.to_vec(), Path::new("fuzz.tar"));
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(data).expect("writes to memory");
    let gz = gz.finish().expect("writes to memory");
    let _ = checked_members(gz, Path::new("fuzz.tar.gz"));
}

/// What the reader passes on is safe, whatever the input.
fn checked_members(bytes: Vec<u8>, path: &Path) -> Result<tarread::Archive, tarread::Error> {
    tarread::read_from(Cursor::new(bytes), path, |m, content| {
        let plain = |p: &Path| {
            !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
        };
        assert!(plain(&m.path), "{m:?}");
        match &m.kind {
            tarread::Kind::Symlink(t) => {
                assert!(crate::paths::lexical_target(&m.path, t).is_some(), "{m:?}");
            }
            tarread::Kind::HardLink(t) => assert!(plain(t), "{m:?}"),
            _ => {}
        }
        let mut head = [0u8; 16];
        let _ = std::io::Read::read(content, &mut head)?;
        content.sha256()?;
        Ok(())
    })
}

/// Verify, check and inspect read the same stream through the reader; check accepts exactly
/// what the reader accepts.
fn readers_agree(bytes: Vec<u8>, path: &Path) {
    let read = checked_members(bytes.clone(), path);
    let checked = crate::read::contents::read_tarball_from(Cursor::new(bytes.clone()), path);
    assert_eq!(
        read.is_ok(),
        checked.is_ok(),
        "check and the reader disagree: {read:?} / {checked:?}"
    );
    if let Ok(contents) = checked {
        let target = &crate::target::catalogue()[0];
        let lib_dirs = [Path::new(archive::BUNDLE_LIB_DIR)];
        let report = elf::Report::build(
            target,
            None,
            contents.binaries,
            &|p| contents.present.contains(p),
            &lib_dirs,
        );
        let _ = report.summary();
    }
    if let Ok(v) = verify::verify_tarball_from(Cursor::new(bytes.clone()), path, false) {
        let _ = v.render();
        let _ = v.json();
    }
    let choice = crate::target::Choice {
        target: None,
        glibc: None,
    };
    if let Ok(i) = inspect::of_tarball_from(Cursor::new(bytes), path, &choice) {
        let _ = i.render();
        let _ = i.json();
    }
}
