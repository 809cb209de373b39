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
    ("debian", 3),
    ("elf", 4),
    ("python", 5),
    ("wheel", 6),
    ("read", 7),
    ("cross", 7),
    ("bundle", 8),
    ("inspect", 9),
    ("image", 9),
    // The fuzz targets' entry points drive the stages directly, as a subcommand would.
    ("fuzzing", 10),
    ("app", 11),
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

/// Code without its comments, string and character literals, so that prose or a message
/// that names a module is not taken for an import.
fn code(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        {
            // r"..." or r#"..."#: ends at a quote followed by as many #.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{..}'.
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3; // 'x' (a lifetime has no closing quote)
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The module path of `crate::…` or `super::…` at the start of `rest`, seen from `module`,
/// with every path of a use tree (`{a, b::{c, d}}`, `*`, `self`, `as` aliases): `use
/// crate::{elf, python::venv}` gives `[elf]` and `[python, venv]`.
fn paths_at(rest: &str, module: &[String]) -> Vec<Vec<String>> {
    let (mut prefix, mut rest) = match rest.strip_prefix("crate::") {
        Some(r) => (Vec::new(), r),
        None => {
            // super:: from `module`: its parent, and one more for each further super::.
            let mut base = module.to_vec();
            let mut r = rest;
            while let Some(after) = r.strip_prefix("super::") {
                base.pop();
                r = after.trim_start();
            }
            (base, r)
        }
    };
    rest = rest.trim_start();
    let mut out = Vec::new();
    tree(&mut prefix, &mut rest, &mut out);
    out
}

/// One use tree at the start of `rest`, under `prefix`; `rest` advances past it.
fn tree(prefix: &mut Vec<String>, rest: &mut &str, out: &mut Vec<Vec<String>>) {
    let depth = prefix.len();
    let mut grouped = false;
    loop {
        *rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('{') {
            *rest = r;
            grouped = true;
            loop {
                *rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix('}') {
                    *rest = r;
                    break;
                }
                if let Some(r) = rest.strip_prefix(',') {
                    *rest = r;
                    continue;
                }
                if rest.is_empty() {
                    break;
                }
                let before = rest.len();
                tree(prefix, rest, out);
                if rest.len() == before {
                    *rest = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
                }
            }
            break;
        }
        if let Some(r) = rest.strip_prefix('*') {
            *rest = r;
            let mut p = prefix.clone();
            p.push("*".into());
            out.push(p);
            prefix.truncate(depth);
            return;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            break;
        }
        *rest = &rest[name.len()..];
        if name != "self" {
            prefix.push(name);
        }
        let after = rest.trim_start();
        match after.strip_prefix("::") {
            Some(r) => *rest = r,
            None => {
                // `as alias` names nothing new.
                if let Some(r) = after.strip_prefix("as ") {
                    let r = r.trim_start();
                    let alias = r
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .count();
                    *rest = &r[alias..];
                }
                break;
            }
        }
    }
    if prefix.len() > depth && !grouped {
        out.push(prefix.clone());
    }
    prefix.truncate(depth);
}

/// The inline modules of `code` (`mod tests { … }`): name and byte range of the body.
fn inline_modules(code: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("mod ") {
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let after = &code[i + 4..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(body) = after[name.len()..].trim_start().strip_prefix('{') else {
            continue; // `mod x;`: a file of its own
        };
        let start = code.len() - body.len();
        let mut depth = 1;
        let mut end = code.len();
        for (j, ch) in body.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, start..end));
    }
    out
}

/// Every module path the file at `module` names through `crate::` or `super::` (a `super::`
/// inside `mod tests { … }` starts from that inline module).
fn imports(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let inline = inline_modules(code);
    let mut out = Vec::new();
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let word_start = code[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        if word_start {
            let mut here = module.to_vec();
            here.extend(
                inline
                    .iter()
                    .filter(|(_, r)| r.contains(&i))
                    .map(|(n, _)| n.clone()),
            );
            out.extend(paths_at(&code[i..], &here));
        }
    }
    out.retain(|p| !p.is_empty());
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
        for path in imports(&code(&text), &module) {
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
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in sources() {
        let module = module_path(&file);
        let is_mod = file.file_name().is_some_and(|n| n == "mod.rs");
        if module.len() < 2 || is_mod {
            continue; // a folder's mod.rs declares its files; their imports are the edges
        }
        let (folder, name) = module.split_at(module.len() - 1);
        let text = code(&std::fs::read_to_string(&file).unwrap());
        let mut named = BTreeSet::new();
        for path in imports(&text, &module) {
            if path.len() > folder.len()
                && path.starts_with(folder)
                && path[folder.len()] != name[0]
            {
                named.insert(path[folder.len()].clone());
            }
        }
        graphs
            .entry(folder.to_vec())
            .or_default()
            .insert(name[0].clone(), named);
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
        let folder = folder.join("/");
        for n in graph.keys() {
            visit(n, graph, &mut Vec::new(), &mut done, &mut cycles, &folder);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_grouped_nested_super_and_glob_imports() {
    let at = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    let text = code(concat!(
        "use crate::{elf::{ElfFile, inspect}, python::venv, wheel};\n",
        "use super::{gather, report as r};\n",
        "use super::super::app::cli;\n",
        "let x = crate::bundle::plan::build(); // crate::app\n",
        "let s = \"crate::app\"; /* crate::app */ let c = '\"';\n",
        "use crate::*;\n",
        "mod tests { use super::*; }\n",
    ));
    let found = imports(&text, &at(&["inspect", "scan"]));
    let want: Vec<Vec<String>> = [
        "elf::ElfFile",
        "elf::inspect",
        "python::venv",
        "wheel",
        "bundle::plan::build",
        "*",
        "inspect::gather",
        "inspect::report",
        "app::cli",
        "inspect::scan::*",
    ]
    .iter()
    .map(|s| p(s))
    .collect();
    assert_eq!(found, want);
}
