//! The whole environment against a target: every binary's problems, plus the loader emulation
//! that resolves each `DT_NEEDED` (RUNPATH/RPATH with `$ORIGIN`, inherited RPATH, libraries
//! already loaded, the target's system libraries), as a `Report` printed or written as JSON.
//! Depends on `check` and `file`.

use super::check::{Problem, ProblemKind};
use super::file::Inspection;
use crate::target::{GlibcVersion, LibcKind, Target};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

fn is_loader(name: &str) -> bool {
    name.starts_with("ld-linux")
        || name.starts_with("ld64.so")
        || name.starts_with("ld.so")
        || name.starts_with("ld-musl")
}

/// One file that will not load on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub path: String,
    #[serde(flatten)]
    pub problem: Problem,
}

/// Every binary of an environment, checked against a target.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub glibc: Option<String>,
    /// ELF files checked.
    pub checked: usize,
    /// How many of each kind (executable, shared library, ...).
    pub kinds: BTreeMap<String, usize>,
    pub offenders: Vec<Offender>,
    /// Problems that do not stop a bundle: an optional standard-library module (lib-dynload)
    /// whose system library the target lacks will not import there (tkinter without Tk).
    pub warnings: Vec<Offender>,
    /// Mach-O and PE files Python would never load (pip's Windows launcher templates, say).
    pub foreign_ignored: Vec<String>,
    /// Problems `--allow GLOB:KIND` accepted: printed as warnings, never a failure.
    pub allowed: Vec<Allowed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Allowed {
    pub path: String,
    #[serde(flatten)]
    pub problem: Problem,
    /// The `--allow` rule, as given.
    pub allowed_by: String,
}

/// `--allow GLOB:KIND`: the problems of one kind (`arm-arch`, `glibc`, ... as `--json` names
/// them) in the files GLOB matches (.gitignore rules against the path inside the bundle) are
/// accepted. For a library that checks the CPU at run time before it uses what its attributes
/// record (cryptography's armv7l wheel records NEON and runs without it), where the ELF
/// file alone cannot tell.
#[derive(Debug, Clone)]
pub struct Allow {
    pub text: String,
    matcher: ignore::gitignore::Gitignore,
    kind: ProblemKind,
}

impl Allow {
    /// `Err`: what is wrong with the rule, for a one-line error.
    pub fn parse(text: &str) -> Result<Allow, String> {
        let (glob, kind_name) = text
            .rsplit_once(':')
            .ok_or_else(|| "not GLOB:KIND".to_string())?;
        let kind = ProblemKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == kind_name)
            .ok_or_else(|| format!("'{kind_name}' is not a kind of problem"))?;
        if glob.is_empty() {
            return Err("the GLOB is empty".into());
        }
        let mut builder = ignore::gitignore::GitignoreBuilder::new("");
        builder.add_line(None, glob).map_err(|e| e.to_string())?;
        let matcher = builder.build().map_err(|e| e.to_string())?;
        Ok(Allow {
            text: text.to_string(),
            matcher,
            kind,
        })
    }

    fn accepts(&self, path: &str, problem: &Problem) -> bool {
        problem.kind == self.kind
            && self
                .matcher
                .matched_path_or_any_parents(path, false)
                .is_ignore()
    }
}

/// Where a needed library was found.
#[derive(Debug, Clone)]
enum Found {
    /// A system library of the target, the loader, or not knowable ($LIB, $PLATFORM).
    System,
    /// A file inside the environment.
    At(PathBuf),
}

/// Python loads these; a foreign one of them is an error, any other foreign file a note.
fn loadable_name(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".so")
        || name.contains(".so.")
        || name.ends_with(".pyd")
        || name.ends_with(".dylib")
        || name.ends_with(".dll")
}

/// `$ORIGIN/../lib` from a file in `dir` (both inside the environment) → `dir/../lib`,
/// normalised; `None` for absolute paths and for paths that leave the environment.
fn expand_origin(entry: &str, dir: &Path) -> Option<PathBuf> {
    let rest = entry
        .strip_prefix("$ORIGIN")
        .or_else(|| entry.strip_prefix("${ORIGIN}"))?;
    crate::paths::normalize(&dir.join(rest.trim_start_matches('/')))
}

impl Report {
    /// Moves the offenders an `--allow` rule accepts to `allowed`.
    pub fn allow(&mut self, rules: &[Allow]) {
        if rules.is_empty() {
            return;
        }
        let (allowed, kept): (Vec<Offender>, Vec<Offender>) = std::mem::take(&mut self.offenders)
            .into_iter()
            .partition(|o| rules.iter().any(|r| r.accepts(&o.path, &o.problem)));
        self.offenders = kept;
        for o in allowed {
            let rule = rules
                .iter()
                .find(|r| r.accepts(&o.path, &o.problem))
                .expect("partitioned by it");
            self.allowed.push(Allowed {
                path: o.path,
                problem: o.problem,
                allowed_by: rule.text.clone(),
            });
        }
    }

    /// One `error:` (or `warning:`) line per offender, with its hint; then the warnings.
    pub fn print(&self, as_errors: bool) {
        for a in &self.allowed {
            crate::ui::warning(&format!(
                "{}: {} (allowed by --allow '{}')",
                a.path, a.problem.message, a.allowed_by
            ));
        }
        for w in &self.warnings {
            crate::ui::warning(&format!(
                "{}: {} (this optional standard-library module will not import there)",
                w.path, w.problem.message
            ));
        }
        for o in &self.offenders {
            let line = format!("{}: {}", o.path, o.problem.message);
            if as_errors {
                crate::ui::error(&line, o.problem.hint.as_deref());
            } else {
                crate::ui::warning(&line);
                if let Some(h) = &o.problem.hint {
                    crate::ui::hint(h);
                }
            }
        }
    }

    /// `rvenv check --json`: the report with a format version (docs/check-json.md).
    pub fn json(&self) -> String {
        let doc = serde_json::json!({
            "format": 1,
            "target": self.target,
            "glibc": self.glibc,
            "checked": self.checked,
            "kinds": self.kinds,
            "ok": self.offenders.is_empty(),
            "offenders": self.offenders,
            "warnings": self.warnings,
            "foreign_ignored": self.foreign_ignored,
            "allowed": self.allowed,
        });
        serde_json::to_string_pretty(&doc).expect("report serialises")
    }

    /// Builds the report for `files` (path inside the environment → what it is). `present`
    /// tells every path of the environment (files and symlinks), to resolve `DT_NEEDED` through
    /// `$ORIGIN` RUNPATHs and the bundle's own `lib_dirs`.
    pub fn build(
        target: &Target,
        glibc: Option<GlibcVersion>,
        files: Vec<(PathBuf, Inspection)>,
        present: &dyn Fn(&Path) -> bool,
        lib_dirs: &[&Path],
    ) -> Report {
        let mut report = Report {
            target: target.name.clone(),
            glibc: match target.libc.kind {
                LibcKind::Glibc => glibc.or(target.libc.glibc).map(|g| g.to_string()),
                LibcKind::Musl => None,
            },
            ..Report::default()
        };
        let system: HashSet<&str> = target.libc.system_libs.iter().map(String::as_str).collect();
        // Each ELF file checked for libraries: its search path, and each needed library with
        // where it was found, if it was.
        type Resolutions = (Vec<String>, bool, Vec<(String, Option<Found>)>);
        let mut loaded: BTreeMap<PathBuf, Resolutions> = BTreeMap::new();
        for (path, inspection) in files {
            let name = path.display().to_string();
            let mut push = |problem: Problem| {
                report.offenders.push(Offender {
                    path: name.clone(),
                    problem,
                })
            };
            match inspection {
                Inspection::Malformed(message) => {
                    *report.kinds.entry("malformed".into()).or_default() += 1;
                    push(Problem::new(
                        ProblemKind::Malformed,
                        format!("malformed or truncated ELF file: {message}"),
                        None,
                    ));
                }
                Inspection::Foreign(format) => {
                    *report
                        .kinds
                        .entry(format!("foreign ({format})"))
                        .or_default() += 1;
                    if loadable_name(&path) {
                        push(Problem::new(
                            ProblemKind::Foreign,
                            format!("{format} file (a macOS or Windows build); {} loads ELF only", target.name),
                            Some("a wheel for another operating system was installed; reinstall it for Linux".into()),
                        ));
                    } else {
                        report.foreign_ignored.push(name.clone());
                    }
                }
                Inspection::Elf(elf) => {
                    report.checked += 1;
                    let kind = if elf.interpreter.is_some() {
                        "executable"
                    } else if elf.is_lib {
                        "shared library"
                    } else {
                        "other ELF"
                    };
                    *report.kinds.entry(kind.into()).or_default() += 1;
                    let problems = elf.problems(target, glibc);
                    let wrong_arch = problems.iter().any(|p| p.kind == ProblemKind::Architecture);
                    problems.into_iter().for_each(&mut push);
                    if wrong_arch {
                        continue;
                    }
                    let dir = path.parent().unwrap_or(Path::new(""));
                    // On the board, an entry outside the bundle is searched too: at best dead
                    // weight, at worst a folder anyone there can create (auditwheel's rule).
                    for e in &elf.search_strings {
                        if expand_origin(e, dir).is_none() {
                            push(Problem::new(
                                ProblemKind::SearchPath,
                                format!(
                                    "its RUNPATH/RPATH names {}, outside the bundle, where the loader would look for libraries",
                                    if e.is_empty() { "'' (the current directory)".to_string() } else { format!("'{e}'") }
                                ),
                                Some("rvenv bundle rewrites such elements to $ORIGIN paths or removes them where it can change the file in place; otherwise rebuild the library without it (auditwheel repair, patchelf --remove-rpath), or ship it as it is with --no-check".into()),
                            ));
                        }
                    }
                    // $LIB and $PLATFORM depend on the loader: rvenv cannot tell, so it does
                    // not call such a library missing.
                    let unknowable = elf.search_path.iter().any(|e| {
                        e.contains("$LIB")
                            || e.contains("${LIB}")
                            || e.contains("$PLATFORM")
                            || e.contains("${PLATFORM}")
                    });
                    let resolutions = elf
                        .needed
                        .iter()
                        .map(|needed| {
                            let found = if system.contains(needed.as_str())
                                || is_loader(needed)
                                || unknowable
                            {
                                Some(Found::System)
                            } else {
                                elf.search_path
                                    .iter()
                                    .filter_map(|e| expand_origin(e, dir))
                                    .chain(lib_dirs.iter().map(|d| d.to_path_buf()))
                                    .map(|d| d.join(needed))
                                    .find(|p| present(p))
                                    .map(Found::At)
                            };
                            (needed.clone(), found)
                        })
                        .collect();
                    loaded.insert(
                        path.clone(),
                        (elf.search_path.clone(), elf.runpath, resolutions),
                    );
                }
            }
        }
        // A library not found through the needing file's own search path is still found when an
        // object that loads this file (directly or not) has loaded a library of that name (the
        // loader matches the sonames of loaded objects first), or, for a file without RUNPATH,
        // through the DT_RPATH of the objects that load it (RPATH is inherited). Vendored
        // libraries rely on both: scipy.libs/libgfortran needs libquadmath and has neither.
        // A library found that way is loaded from there, and its own needs are then resolved
        // the same way, so this repeats until nothing more is found (libavformat, found through
        // cv2's path, needs libssl, which needs libcrypto: none of the three has a path).
        loop {
            let mut parents: HashMap<&Path, Vec<&Path>> = HashMap::new();
            for (file, (_, _, resolutions)) in &loaded {
                for (_, found) in resolutions {
                    if let Some(Found::At(child)) = found {
                        parents
                            .entry(child.as_path())
                            .or_default()
                            .push(file.as_path());
                    }
                }
            }
            let through_loaders = |file: &Path, needed: &str, inherits_rpath: bool| {
                let mut seen: HashSet<&Path> = HashSet::new();
                let mut queue: Vec<&Path> = parents.get(file).cloned().unwrap_or_default();
                while let Some(ancestor) = queue.pop() {
                    if !seen.insert(ancestor) {
                        continue;
                    }
                    let Some((search, runpath, rs)) = loaded.get(ancestor) else {
                        continue;
                    };
                    if let Some((_, Some(found))) =
                        rs.iter().find(|(n, f)| n == needed && f.is_some())
                    {
                        return Some(found.clone());
                    }
                    let dir = ancestor.parent().unwrap_or(Path::new(""));
                    if inherits_rpath && !runpath {
                        let by_rpath = search
                            .iter()
                            .filter_map(|e| expand_origin(e, dir))
                            .map(|d| d.join(needed))
                            .find(|p| present(p));
                        if let Some(p) = by_rpath {
                            return Some(Found::At(p));
                        }
                    }
                    queue.extend(parents.get(ancestor).into_iter().flatten());
                }
                None
            };
            let mut newly: Vec<(PathBuf, usize, Found)> = Vec::new();
            for (path, (_, runpath, resolutions)) in &loaded {
                for (i, (needed, found)) in resolutions.iter().enumerate() {
                    if found.is_none()
                        && let Some(f) = through_loaders(path, needed, !runpath)
                    {
                        newly.push((path.clone(), i, f));
                    }
                }
            }
            if newly.is_empty() {
                break;
            }
            for (path, i, found) in newly {
                if let Some((_, _, rs)) = loaded.get_mut(&path) {
                    rs[i].1 = Some(found);
                }
            }
        }
        for (path, (search_path, _, resolutions)) in &loaded {
            for (needed, found) in resolutions {
                if found.is_some() {
                    continue;
                }
                let dir = path.parent().unwrap_or(Path::new(""));
                let optional_stdlib = dir.file_name().is_some_and(|d| d == "lib-dynload");
                let problem = Problem::new(
                    ProblemKind::MissingLibrary,
                    format!(
                        "needs {needed}, which is neither in the environment (RUNPATH {}) nor a system library of {}",
                        if search_path.is_empty() {
                            "none".into()
                        } else {
                            search_path.join(":")
                        },
                        target.name
                    ),
                    Some(format!(
                        "install a wheel that bundles it (manylinux wheels carry theirs), or choose a target whose image provides {needed}"
                    )),
                );
                let offender = Offender {
                    path: path.display().to_string(),
                    problem,
                };
                if optional_stdlib {
                    report.warnings.push(offender);
                } else {
                    report.offenders.push(offender);
                }
            }
        }
        report
            .offenders
            .sort_by(|a, b| (&a.path, a.problem.kind).cmp(&(&b.path, b.problem.kind)));
        report.warnings.sort_by(|a, b| a.path.cmp(&b.path));
        report.foreign_ignored.sort();
        report
    }

    pub fn summary(&self) -> String {
        self.summary_with(false)
    }

    /// With `written_anyway` (`bundle --no-check`), the problems were printed as warnings and
    /// are counted as such.
    pub fn summary_with(&self, written_anyway: bool) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let (problems, warnings) = if written_anyway {
            (
                0,
                self.warnings.len() + self.offenders.len() + self.allowed.len(),
            )
        } else {
            (
                self.offenders.len(),
                self.warnings.len() + self.allowed.len(),
            )
        };
        let anyway = if written_anyway && !self.offenders.is_empty() {
            format!(
                " ({} problem{} written anyway: --no-check)",
                self.offenders.len(),
                if self.offenders.len() == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        format!(
            "checked {} ELF files for {}{} ({}): {} problem{}, {} warning{}{anyway}",
            self.checked,
            self.target,
            self.glibc
                .as_ref()
                .map_or(String::new(), |g| format!(" (glibc {g})")),
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            },
            problems,
            if problems == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_rules_name_a_glob_and_a_kind() {
        let neon = Problem::new(ProblemKind::ArmArch, "NEONv1 SIMD".into(), None);
        let glibc = Problem::new(ProblemKind::Glibc, "GLIBC_2.38".into(), None);
        let rule = Allow::parse("**/cryptography/**:arm-arch").unwrap();
        let so = "lib/python3.11/site-packages/cryptography/hazmat/bindings/_rust.abi3.so";
        assert!(rule.accepts(so, &neon));
        assert!(!rule.accepts(so, &glibc));
        assert!(!rule.accepts("lib/python3.11/site-packages/other/x.so", &neon));
        // A bare name matches in any folder; the last ':' separates the kind.
        assert!(
            Allow::parse("_rust.abi3.so:arm-arch")
                .unwrap()
                .accepts(so, &neon)
        );
        assert!(Allow::parse("a:b:glibc").is_ok());
        assert_eq!(
            Allow::parse("x.so:neon").unwrap_err(),
            "'neon' is not a kind of problem"
        );
        assert_eq!(Allow::parse("x.so").unwrap_err(), "not GLOB:KIND");
        assert_eq!(Allow::parse(":glibc").unwrap_err(), "the GLOB is empty");
        for kind in ProblemKind::ALL {
            assert!(
                Allow::parse(&format!("x:{}", kind.name())).is_ok(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn origin_expansion_stays_inside() {
        let dir = Path::new("lib/python3.11/site-packages/numpy/core");
        assert_eq!(
            expand_origin("$ORIGIN/../../numpy.libs", dir),
            Some(PathBuf::from("lib/python3.11/site-packages/numpy.libs"))
        );
        assert_eq!(expand_origin("${ORIGIN}", dir), Some(dir.to_path_buf()));
        assert_eq!(expand_origin("/usr/lib", dir), None);
        assert_eq!(expand_origin("$ORIGIN/../../../../../..", dir), None);
    }
}
