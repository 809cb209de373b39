//! The layers of docs/architecture.md, checked on the source: every module of `src/` imports
//! only from layers below its own, and the files of one folder import each other without a
//! cycle. A new top-level module must be given its layer here and in the document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first; a module may import only from a strictly lower rank.
const LAYERS: &[(&str, u32)] = &[
    ("paths", 0),
    ("ui", 0),
    ("interrupt", 1),
    ("error", 2),
    ("target", 3),
    ("compress", 3),
    ("elf", 4),
    ("python", 5),
    ("wheel", 6),
    ("read", 7),
    ("bundle", 8),
    ("inspect", 9),
    ("app", 10),
    // The fuzz targets' entry points drive every stage, like a subcommand would.
    ("fuzzing", 11),
];

fn rank(unit: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == unit).map(|(_, r)| *r)
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
}

/// The path of `file` under `src/`, as module names: `bundle/plan.rs` → ["bundle", "plan"].
fn module_path(file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// Code without its comments, so prose that names a module is not an import.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` path the code names, including those inside `use crate::{a, b::c}`,
/// as module paths (`["a"]`, `["b", "c"]`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before_ok = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if before_ok {
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    out.push(segments(item.trim()));
                }
            } else {
                out.push(segments(after));
            }
        }
        rest = after;
    }
    out.retain(|p| !p.is_empty());
    out
}

fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in s.split("::") {
        let name: String = seg
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            break;
        }
        out.push(name);
        if !seg.chars().all(|c| c.is_alphanumeric() || c == '_') {
            break;
        }
    }
    out
}

#[test]
fn each_layer_imports_only_from_below() {
    let mut wrong = Vec::new();
    let mut unplaced = BTreeSet::new();
    for file in sources() {
        let module = module_path(&file);
        let Some(unit) = module.first() else { continue }; // lib.rs
        if unit == "main" || unit == "lib" {
            continue;
        }
        let Some(own) = rank(unit) else {
            unplaced.insert(unit.clone());
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for path in crate_paths(&code(&text)) {
            let other = &path[0];
            if other == unit {
                continue;
            }
            match rank(other) {
                Some(r) if r < own => {}
                Some(_) => wrong.push(format!(
                    "{}: imports crate::{} ({} is not below {unit})",
                    file.display(),
                    path.join("::"),
                    other
                )),
                None => {
                    unplaced.insert(other.clone());
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules with no layer (add them to LAYERS here and to docs/architecture.md): {unplaced:?}"
    );
    assert!(
        wrong.is_empty(),
        "imports from a layer not below:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_files_of_a_folder_import_each_other_without_a_cycle() {
    // folder → file → the sibling files it names.
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in sources() {
        let module = module_path(&file);
        if module.len() != 2 {
            continue;
        }
        let (folder, name) = (&module[0], &module[1]);
        let text = code(&std::fs::read_to_string(&file).unwrap());
        let mut named = BTreeSet::new();
        for path in crate_paths(&text) {
            if path.len() >= 2 && &path[0] == folder && &path[1] != name {
                named.insert(path[1].clone());
            }
        }
        // `super::x` and `use super::{x, y}` inside the folder.
        for path in crate_paths(&text.replace("super::", "crate::zzsuper::")) {
            if path.len() >= 2 && path[0] == "zzsuper" && &path[1] != name {
                named.insert(path[1].clone());
            }
        }
        graphs
            .entry(folder.clone())
            .or_default()
            .insert(name.clone(), named);
    }
    let mut cycles = Vec::new();
    for (folder, graph) in &graphs {
        // Depth-first search; a node met again while on the stack closes a cycle.
        fn visit(
            n: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            cycles: &mut Vec<String>,
            folder: &str,
        ) {
            if let Some(i) = stack.iter().position(|s| s == n) {
                cycles.push(format!("{folder}/: {} -> {n}", stack[i..].join(" -> ")));
                return;
            }
            if !done.insert(n.to_string()) {
                return;
            }
            stack.push(n.to_string());
            for m in graph.get(n).into_iter().flatten() {
                if graph.contains_key(m) {
                    visit(m, graph, stack, done, cycles, folder);
                }
            }
            stack.pop();
        }
        let mut done = BTreeSet::new();
        for n in graph.keys() {
            visit(n, graph, &mut Vec::new(), &mut done, &mut cycles, folder);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_nested_imports() {
    let found = crate_paths(&code(
        "use crate::{elf, python::venv};\nlet x = crate::bundle::plan::build(); // crate::app\n",
    ));
    assert_eq!(
        found,
        vec![
            vec!["elf".to_string()],
            vec!["python".into(), "venv".into()],
            vec!["bundle".into(), "plan".into(), "build".into()],
        ]
    );
}
