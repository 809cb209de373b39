//! From what was gathered to the report: the entry points for a venv (given its plan), an
//! extracted bundle and a tarball, and each part of the report worked out.

use super::gather::{Gathered, gather_dir, gather_plan, gather_tarball, gather_tarball_from};
use super::model::{
    ArchRow, BundleChanges, Editable, ElfSummary, Foreign, Inspection, Leak, Malformed, Needs,
    Package, Python, Rewritten, RunpathLeak, Script, Scripts, SizeRow, Sizes, TargetInfo,
};
use super::scan::{HEAD, components, in_site_packages, read_full, run_contains};
use super::{Error, Layout, read_error};
use crate::bundle::plan;
use crate::python::{dist, rewrite, venv};
use crate::{elf, target};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What the caller knows about the environment beyond its files.
pub struct Context<'a> {
    pub path: &'a Path,
    pub kind: Layout,
    /// `--target` (and `--glibc`).
    pub choice: &'a crate::target::Choice,
}

/// `rvenv inspect` of a venv, given the plan `rvenv bundle` would follow.
pub fn of_venv(ctx: &Context, venv: &venv::Venv, plan: &plan::Plan) -> Result<Inspection, Error> {
    let gathered = gather_plan(plan)?;
    let interpreter = format!("python/bin/{}", venv.version.exe_name());
    let scripts = venv_scripts(&venv.real_root.join("bin"))?;
    let implementation = venv
        .cfg
        .get("implementation")
        .unwrap_or("CPython")
        .to_string();
    let python = Python {
        implementation,
        version: Some(venv.version.full.clone()),
    };
    let changes = BundleChanges {
        rewritten: plan
            .rewritten
            .iter()
            .map(|(p, r)| Rewritten {
                path: p.display().to_string(),
                rewrite: rewrite_name(r).into(),
            })
            .collect(),
        warnings: plan
            .warnings
            .iter()
            .cloned()
            .chain(crate::bundle::plan::site_script_line(&plan.site_scripts))
            .collect(),
        runpath_leaks: plan
            .search_paths
            .iter()
            .map(|c| RunpathLeak {
                path: c.path.display().to_string(),
                element: c.old.clone(),
                becomes: c.new.clone(),
            })
            .collect(),
    };
    let roots = [venv.root.clone(), venv.real_root.clone()];
    let inside = move |line: &Path| {
        roots.iter().any(|r| line.starts_with(r))
            || line
                .canonicalize()
                .is_ok_and(|t| roots.iter().any(|r| t.starts_with(r)))
    };
    Ok(build(
        ctx,
        gathered,
        python,
        Some((interpreter, venv.interpreter_elf.clone())),
        scripts,
        plan.build_paths.clone(),
        &inside,
        Some(changes),
    ))
}

/// `rvenv inspect` of an extracted bundle or a tarball.
pub fn of_bundle(ctx: &Context) -> Result<Inspection, Error> {
    let gathered = match ctx.kind {
        Layout::Tarball => gather_tarball(ctx.path)?,
        _ => gather_dir(ctx.path)?,
    };
    Ok(of_gathered(ctx, gathered))
}

/// `rvenv inspect` of a tarball read from a stream (`path` names it): the fuzz targets' way
/// in.
pub(crate) fn of_tarball_from<R: std::io::BufRead + 'static>(
    reader: R,
    path: &Path,
    choice: &crate::target::Choice,
) -> Result<Inspection, Error> {
    let ctx = Context {
        path,
        kind: Layout::Tarball,
        choice,
    };
    Ok(of_gathered(&ctx, gather_tarball_from(reader, path)?))
}

fn of_gathered(ctx: &Context, gathered: Gathered) -> Inspection {
    let manifest: serde_json::Value = gathered
        .kept
        .get(Path::new(crate::read::MANIFEST))
        .and_then(|m| serde_json::from_slice(m).ok())
        .unwrap_or_default();
    let cfg = gathered
        .kept
        .get(Path::new("pyvenv.cfg"))
        .map(|c| venv::PyvenvCfg::parse(String::from_utf8_lossy(c).into_owned()))
        .unwrap_or_default();
    let python = Python {
        implementation: manifest["python"]["implementation"]
            .as_str()
            .or(cfg.get("implementation"))
            .unwrap_or("CPython")
            .to_string(),
        version: manifest["python"]["version"]
            .as_str()
            .or(cfg.get("version"))
            .or(cfg.get("version_info"))
            .map(str::to_string),
    };
    let interpreter = gathered.binaries.iter().find_map(|(p, i)| match i {
        elf::Inspection::Elf(e) if p.starts_with("python/bin") => {
            Some((p.display().to_string(), (**e).clone()))
        }
        _ => None,
    });
    let scripts = classify_scripts(
        gathered
            .heads
            .iter()
            .map(|(p, h)| (p.display().to_string(), h.as_slice())),
    );
    let build_paths = bundle_build_paths(&gathered);
    // An absolute path is never inside a tarball; in an extracted bundle it may be.
    let root = ctx
        .path
        .canonicalize()
        .unwrap_or_else(|_| ctx.path.to_path_buf());
    let is_dir = ctx.kind == Layout::Bundle;
    let inside = move |line: &Path| is_dir && line.starts_with(&root);
    let mut inspection = build(
        ctx,
        gathered,
        python,
        interpreter,
        scripts,
        build_paths,
        &inside,
        None,
    );
    inspection.target.bundle_target = manifest["target"].as_str().map(str::to_string);
    inspection
}

fn rewrite_name(r: &plan::Rewrite) -> &'static str {
    use plan::Rewrite::*;
    match r {
        None => "none",
        Shebang => "shebang",
        PyvenvCfg => "pyvenv-cfg",
        Activate => "activate",
        Record => "record",
        Runpath => "runpath",
        Binary(fix) if fix.search_path.is_empty() => "home",
        Binary(_) => "runpath",
        Generated => "generated",
        PycHeader { .. } => "pyc-header",
    }
}

/// As `plan::build_paths` computes them for a venv: the venv, and the base installation (its
/// standard library when the base is a system prefix), here learnt from the bytecode and the
/// base's `_sysconfigdata`.
fn bundle_build_paths(g: &Gathered) -> Vec<String> {
    let mut paths: Vec<String> = g.compiled_venv.iter().cloned().collect();
    let stdlib = g.compiled_stdlib.clone().or_else(|| {
        g.kept.iter().find_map(|(p, text)| {
            let name = p.file_name()?.to_str()?;
            name.starts_with("_sysconfigdata")
                .then(|| sysconfig_stdlib(&String::from_utf8_lossy(text), p))?
        })
    });
    if let Some(stdlib) = stdlib {
        let prefix = stdlib
            .rfind("/lib/python")
            .map(|i| &stdlib[..i])
            .unwrap_or("");
        let system = ["", "/usr", "/usr/local"].contains(&prefix);
        paths.push(if system {
            stdlib.clone()
        } else {
            prefix.to_string()
        });
    }
    paths.sort();
    paths.dedup();
    paths
}

/// `'prefix': '/usr'` in `_sysconfigdata*.py` (at `python/lib/python3.X/`) → `/usr/lib/python3.X`.
fn sysconfig_stdlib(text: &str, path: &Path) -> Option<String> {
    let at = text.find("'prefix': '")? + "'prefix': '".len();
    let prefix = &text[at..at + text[at..].find('\'')?];
    let dir = path.parent()?.file_name()?.to_str()?;
    Some(format!("{}/lib/{dir}", prefix.trim_end_matches('/')))
}

/// The venv's own `bin/` files, classified as they are before any rewrite.
fn venv_scripts(bin: &Path) -> Result<Scripts, Error> {
    let mut heads = Vec::new();
    let entries = std::fs::read_dir(bin).map_err(read_error(bin))?;
    for entry in entries {
        let path = entry.map_err(read_error(bin))?.path();
        let meta = path.symlink_metadata().map_err(read_error(&path))?;
        if !meta.is_file() {
            continue;
        }
        let mut head = vec![0u8; HEAD];
        let mut file = std::fs::File::open(&path).map_err(read_error(&path))?;
        let n = read_full(&mut file, &mut head).map_err(read_error(&path))?;
        head.truncate(n);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        heads.push((format!("bin/{name}"), head));
    }
    heads.sort();
    Ok(classify_scripts(
        heads.iter().map(|(p, h)| (p.clone(), h.as_slice())),
    ))
}

fn classify_scripts<'a>(heads: impl Iterator<Item = (String, &'a [u8])>) -> Scripts {
    let mut forms: BTreeMap<String, u64> = rewrite::ShebangForm::ALL
        .iter()
        .map(|f| (f.name().to_string(), 0))
        .chain([("binary".to_string(), 0)])
        .collect();
    let mut files = Vec::new();
    for (path, head) in heads {
        let (form, shebang) = if elf::is_binary_magic(head) {
            ("binary", None)
        } else {
            let form = rewrite::shebang_form(head);
            let shebang = head.starts_with(b"#!").then(|| {
                let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
                String::from_utf8_lossy(line)
                    .trim_end()
                    .chars()
                    .take(200)
                    .collect()
            });
            (form.name(), shebang)
        };
        *forms.entry(form.to_string()).or_default() += 1;
        files.push(Script {
            path,
            form: form.to_string(),
            shebang,
        });
    }
    Scripts { forms, files }
}

#[allow(clippy::too_many_arguments)]
fn build(
    ctx: &Context,
    g: Gathered,
    python: Python,
    interpreter: Option<(String, elf::ElfFile)>,
    scripts: Scripts,
    build_paths: Vec<String>,
    inside: &dyn Fn(&Path) -> bool,
    bundle_changes: Option<BundleChanges>,
) -> Inspection {
    let detected = interpreter
        .as_ref()
        .and_then(|(_, e)| elf::detect_target(e));
    let target = ctx.choice.target.as_ref().or(detected);
    let glibc = ctx
        .choice
        .glibc
        .or_else(|| target.and_then(|t| t.libc.glibc));
    let target_info = TargetInfo {
        name: target.map(|t| t.name.clone()),
        detected: ctx.choice.target.is_none() && target.is_some(),
        interpreter: interpreter.as_ref().map(|(p, _)| p.clone()),
        interpreter_elf: interpreter.as_ref().map(|(_, e)| e.describe()),
        glibc: target
            .filter(|t| t.libc.kind == target::LibcKind::Glibc)
            .and(glibc)
            .map(|g| g.to_string()),
        bundle_target: None,
    };
    let (dists, packages) = packages(&g);
    let editable = editable_findings(&g, &dists, inside);
    Inspection {
        format: 1,
        path: ctx.path.display().to_string(),
        kind: ctx.kind,
        python,
        size: sizes(&g.files),
        elf: elf_summary(&g.binaries, target, glibc),
        target: target_info,
        packages,
        scripts,
        leaks: leaks(&g, &build_paths),
        build_paths,
        editable,
        bundle_changes,
    }
}

fn sizes(files: &[(PathBuf, u64)]) -> Sizes {
    let mut top: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in files {
        let name = components(path).into_iter().next().unwrap_or_default();
        let row = top.entry(name).or_default();
        row.0 += size;
        row.1 += 1;
    }
    let mut top_level: Vec<SizeRow> = top
        .into_iter()
        .map(|(name, (size, files))| SizeRow { name, size, files })
        .collect();
    top_level.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Sizes {
        total: files.iter().map(|(_, s)| s).sum(),
        files: files.len() as u64,
        top_level,
    }
}

/// The distributions whose metadata was kept, in path order. `strict`: metadata that does
/// not parse is an error (for freeze, as for the bundle's requirements.txt), else it is left
/// out. Errors name the file under `base`.
pub(super) fn kept_distributions(
    g: &Gathered,
    base: &Path,
    strict: bool,
) -> Result<Vec<dist::Distribution>, dist::Error> {
    let mut dists = Vec::new();
    for (path, bytes) in &g.kept {
        let parts = components(path);
        let Some(rest) = in_site_packages(&parts) else {
            continue;
        };
        let dist_info = match rest {
            [dir, file] if dir.ends_with(".dist-info") && file == "METADATA" => path.parent(),
            [dir, file] if dir.ends_with(".egg-info") && file == "PKG-INFO" => path.parent(),
            [file] if file.ends_with(".egg-info") => Some(path.as_path()),
            _ => None,
        };
        let Some(dist_info) = dist_info else { continue };
        let direct_url = g.kept.get(&dist_info.join("direct_url.json"));
        match dist::Distribution::from_parts(
            base.join(dist_info),
            bytes,
            direct_url.map(Vec::as_slice),
        ) {
            Ok(d) => dists.push(d),
            Err(e) if strict => return Err(e),
            Err(_) => {}
        }
    }
    dists.sort_by(|a, b| a.dist_info.cmp(&b.dist_info));
    Ok(dists)
}

/// Distributions from the kept metadata, each with the files its RECORD lists (and its own
/// metadata directory); files of site-packages no RECORD claims are grouped by their
/// top-level name.
fn packages(g: &Gathered) -> (Vec<dist::Distribution>, Vec<Package>) {
    // A damaged distribution is left to `freeze` to report; inspect shows what it can.
    let dists = kept_distributions(g, Path::new(""), false).unwrap_or_default();
    let sizes: HashMap<&Path, u64> = g.files.iter().map(|(p, s)| (p.as_path(), *s)).collect();
    let mut claimed: HashMap<&Path, usize> = HashMap::new();
    for (i, d) in dists.iter().enumerate() {
        let site = d.dist_info.parent().unwrap_or(Path::new(""));
        let record = g.kept.get(&d.dist_info.join("RECORD"));
        let listed = record.map(|r| dist::record_paths(r)).unwrap_or_default();
        for row in listed {
            if let Some(p) = crate::paths::normalize(&site.join(&row))
                && let Some((k, _)) = sizes.get_key_value(p.as_path())
            {
                claimed.entry(k).or_insert(i);
            }
        }
        for (p, _) in &g.files {
            if p.starts_with(&d.dist_info) {
                claimed.entry(p.as_path()).or_insert(i);
            }
        }
    }
    let mut rows: Vec<Package> = dists
        .iter()
        .map(|d| Package {
            name: d.name.clone(),
            version: Some(d.version.clone()),
            size: 0,
            files: 0,
            dist_info: Some(d.dist_info.display().to_string()),
            installer: g
                .kept
                .get(&d.dist_info.join("INSTALLER"))
                .map(|i| String::from_utf8_lossy(i).trim().to_string()),
            editable: d.is_editable(),
            url: d.direct_url.as_ref().map(|u| u.url.clone()),
        })
        .collect();
    let mut unclaimed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in &g.files {
        match claimed.get(path.as_path()) {
            Some(&i) => {
                rows[i].size += size;
                rows[i].files += 1;
            }
            None => {
                let parts = components(path);
                if let Some([first, ..]) = in_site_packages(&parts) {
                    let row = unclaimed.entry(first.clone()).or_default();
                    row.0 += size;
                    row.1 += 1;
                }
            }
        }
    }
    rows.extend(unclaimed.into_iter().map(|(name, (size, files))| Package {
        name,
        version: None,
        size,
        files,
        dist_info: None,
        installer: None,
        editable: false,
        url: None,
    }));
    rows.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    (dists, rows)
}

fn editable_findings(
    g: &Gathered,
    dists: &[dist::Distribution],
    inside: &dyn Fn(&Path) -> bool,
) -> Vec<Editable> {
    let mut found: Vec<dist::Finding> = dist::direct_url_findings(dists)
        .into_iter()
        .filter(|f| f.editable)
        .collect();
    for (path, bytes) in &g.kept {
        let parts = components(path);
        if let Some([name]) = in_site_packages(&parts)
            && let Ok(f) = dist::site_file_findings(path, name, || Ok(bytes.clone()), inside)
        {
            found.extend(f);
        }
    }
    found
        .into_iter()
        .map(|f| Editable {
            path: f.path.display().to_string(),
            what: f.what,
        })
        .collect()
}

fn elf_summary(
    binaries: &[(PathBuf, elf::Inspection)],
    target: Option<&target::Target>,
    glibc: Option<target::GlibcVersion>,
) -> ElfSummary {
    let mut arches: BTreeMap<String, ArchRow> = BTreeMap::new();
    let mut foreign = Vec::new();
    let mut malformed = Vec::new();
    let mut highest: Option<(target::GlibcVersion, &Path)> = None;
    let mut highest_cxx: Option<(target::GlibcxxVersion, &Path)> = None;
    let mut files = 0;
    for (path, inspection) in binaries {
        let p = path.display().to_string();
        match inspection {
            elf::Inspection::Elf(e) => {
                files += 1;
                let row = arches.entry(e.describe()).or_insert_with(|| ArchRow {
                    arch: e.describe(),
                    count: 0,
                    matches_target: target.map(|t| {
                        t.elf.class == e.class
                            && t.elf.endian == e.endian
                            && t.elf.machine == e.machine
                    }),
                    paths: Vec::new(),
                });
                row.count += 1;
                row.paths.push(p);
                if let Some((v, _)) = &e.glibc
                    && highest.is_none_or(|(h, _)| *v > h)
                {
                    highest = Some((*v, path));
                }
                if let Some(v) = e.glibcxx
                    && highest_cxx.is_none_or(|(h, _)| v > h)
                {
                    highest_cxx = Some((v, path));
                }
            }
            elf::Inspection::Malformed(message) => {
                files += 1;
                malformed.push(Malformed {
                    path: p,
                    message: message.clone(),
                });
            }
            elf::Inspection::Foreign(format) => foreign.push(Foreign {
                path: p,
                format: format.to_string(),
            }),
        }
    }
    let mut architectures: Vec<ArchRow> = arches.into_values().collect();
    architectures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.arch.cmp(&b.arch)));
    let is_glibc = target.is_some_and(|t| t.libc.kind == target::LibcKind::Glibc);
    ElfSummary {
        files,
        architectures,
        foreign,
        malformed,
        glibc: highest.map(|(v, p)| Needs {
            version: v.to_string(),
            path: p.display().to_string(),
            fits_target: match (target, glibc) {
                (Some(_), Some(g)) if is_glibc => Some(v <= g),
                (Some(_), _) if !is_glibc => Some(false),
                _ => None,
            },
        }),
        glibcxx: highest_cxx.map(|(v, p)| Needs {
            version: v.to_string(),
            path: p.display().to_string(),
            fits_target: target.and_then(|t| t.libc.glibcxx).map(|have| v <= have),
        }),
    }
}

fn leaks(g: &Gathered, build_paths: &[String]) -> Vec<Leak> {
    if build_paths.is_empty() {
        return Vec::new();
    }
    // Which build paths each distinct run holds, then each file's runs.
    let matches: Vec<u32> = g
        .runs
        .par_iter()
        .map(|run| {
            build_paths
                .iter()
                .enumerate()
                .filter(|(_, b)| run_contains(run, b.as_bytes()))
                .fold(0u32, |m, (i, _)| m | (1 << i.min(31)))
        })
        .collect();
    let mut out = Vec::new();
    for (path, ids) in &g.text_runs {
        let mask = ids.iter().fold(0, |m, &id| m | matches[id as usize]);
        // The base's build configuration names its build folder by design (plan::
        // is_build_configuration): not reported in every bundle.
        if mask != 0 && !plan::is_build_configuration(path) {
            out.push(Leak {
                path: path.display().to_string(),
                build_paths: build_paths
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (*i).min(31)) != 0)
                    .map(|(_, b)| b.clone())
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
