//! `--slim`'s data and its import scan: the parts of a bundle most deployments on a small
//! board never use, and which modules a Python file imports. What is left out, and what an
//! import keeps, is decided in `trim`; this file holds only pure functions.

use std::collections::BTreeSet;

/// A part of the standard library `--slim` leaves out unless the app imports one of `modules`.
pub struct StdlibPart {
    pub label: &'static str,
    /// Import names that keep the part.
    pub modules: &'static [&'static str],
    /// Paths under `python/lib/pythonX.Y/`: a package folder, a module file, or a name prefix
    /// in `lib-dynload/` (ending in '.').
    pub paths: &'static [&'static str],
}

/// Parts a board never starts: pip's bootstrap wheels (`python -m venv --without-pip` still
/// works), IDLE, Tk (a board without a display has no libtk8.6 for `_tkinter` to load), and
/// 2to3 (deprecated since 3.9, gone in 3.13).
pub const STDLIB: &[StdlibPart] = &[
    StdlibPart {
        label: "ensurepip (pip's bootstrap wheels)",
        modules: &["ensurepip"],
        paths: &["ensurepip"],
    },
    StdlibPart {
        label: "idlelib (IDLE)",
        modules: &["idlelib"],
        paths: &["idlelib"],
    },
    StdlibPart {
        label: "Tk (tkinter, turtle, turtledemo, _tkinter)",
        modules: &["tkinter", "_tkinter", "turtle", "turtledemo"],
        paths: &[
            "tkinter",
            "turtle.py",
            "turtledemo",
            "lib-dynload/_tkinter.",
        ],
    },
    StdlibPart {
        label: "lib2to3",
        modules: &["lib2to3"],
        paths: &["lib2to3"],
    },
];

/// Installers and build tools in site-packages: what installs a package, not what runs one.
pub const TOOLS: &[&str] = &["pip", "setuptools", "wheel", "distribute"];

/// The top-level module names a Python file (or a `.pth` file) imports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imports {
    /// Imported where a missing module is an error.
    pub required: BTreeSet<String>,
    /// Imported only inside a `try:` whose `except` catches `ImportError` (or
    /// `ModuleNotFoundError`, `Exception`, everything): the file runs without them.
    pub optional: BTreeSet<String>,
}

/// What `text` imports: `import a.b, c as d`, `from a.b import x`, and the string given to
/// `__import__`/`import_module`. Relative imports name nothing outside their package. Lines
/// are read one by one, so an import inside a string or a comment counts too, and one the
/// indentation cannot place under a guarding `try:` is required: the scan may keep more than
/// it must, never less.
pub fn scan_imports(text: &str) -> Imports {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let code = |l: &str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    // Whether the `try:` at line `at` has an `except` that catches a failed import.
    let guards = |at: usize| {
        let t = indent(lines[at]);
        let mut i = at + 1;
        while i < lines.len() {
            let l = lines[i];
            if code(l) && indent(l) <= t {
                if indent(l) < t {
                    return false;
                }
                let clause = l.trim_start();
                if let Some(caught) = clause.strip_prefix("except") {
                    let caught = caught.trim_start();
                    if caught.starts_with(':')
                        || [
                            "ImportError",
                            "ModuleNotFoundError",
                            "Exception",
                            "BaseException",
                        ]
                        .iter()
                        .any(|e| caught.contains(e))
                    {
                        return true;
                    }
                } else if !clause.starts_with("else") && !clause.starts_with("finally") {
                    return false;
                }
            }
            i += 1;
        }
        false
    };
    let mut imports = Imports::default();
    let mut optional_seen = BTreeSet::new();
    // Open blocks: (indent, line of a `try:` that guards imports, if it is one).
    let mut blocks: Vec<(usize, bool)> = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if !code(line) {
            continue;
        }
        let d = indent(line);
        while blocks.last().is_some_and(|(i, _)| *i >= d) {
            blocks.pop();
        }
        let names = line_imports(line);
        if !names.is_empty() {
            if blocks.iter().any(|(_, guard)| *guard) {
                optional_seen.extend(names);
            } else {
                imports.required.extend(names);
            }
        }
        let t = line.trim();
        if t.ends_with(':') {
            blocks.push((d, t == "try:" && guards(at)));
        }
    }
    imports.optional = optional_seen
        .into_iter()
        .filter(|n| !imports.required.contains(n))
        .collect();
    imports
}

/// The top-level names one line imports.
fn line_imports(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    for statement in line.split(';') {
        let s = statement.trim_start();
        if let Some(rest) = s.strip_prefix("import ") {
            names.extend(rest.split(',').filter_map(top_level));
        } else if let Some(rest) = s.strip_prefix("from ")
            && rest.contains(" import")
            && let Some(name) = top_level(rest)
        {
            names.push(name);
        }
    }
    for call in ["__import__(", "import_module("] {
        let mut rest = line;
        while let Some(at) = rest.find(call) {
            rest = &rest[at + call.len()..];
            let quoted = rest.trim_start();
            if let Some(q) = quoted.chars().next().filter(|c| *c == '\'' || *c == '"')
                && let Some(end) = quoted[1..].find(q)
                && let Some(name) = top_level(&quoted[1..1 + end])
            {
                names.push(name);
            }
        }
    }
    names
}

/// `"  a.b as c"` → `a`; relative names and what is not an identifier → `None`.
fn top_level(part: &str) -> Option<String> {
    let word = part
        .trim_start()
        .split([' ', '\t', '(', ')', '\\'])
        .next()?;
    let first = word.split('.').next()?;
    let ok = !first.is_empty()
        && !first.starts_with(|c: char| c.is_ascii_digit())
        && first.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| first.to_string())
}

/// The distribution names (canonical) a METADATA file's `Requires-Dist:` lines need outside
/// an extra: `Requires-Dist: setuptools ; extra == "test"` needs it only for that extra.
pub fn required_names(metadata: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metadata.lines() {
        if line.trim().is_empty() {
            break;
        }
        let Some(value) = line
            .split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("requires-dist"))
            .map(|(_, v)| v)
        else {
            continue;
        };
        let (requirement, marker) = value.split_once(';').unwrap_or((value, ""));
        if marker.contains("extra") {
            continue;
        }
        let name: String = requirement
            .trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !name.is_empty() {
            names.insert(crate::python::dist::canonicalize_name(&name));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let found = scan_imports(text);
        assert!(found.optional.is_empty(), "{found:?}");
        found.required.into_iter().collect()
    }

    #[test]
    fn imports_under_a_try_that_catches_import_error_are_optional() {
        let text = "import os\ndef f():\n    try:\n        import pkg_resources\n        from tkinter import Tk\n    except ImportError:\n        return ()\n    import tkinter\n";
        let found = scan_imports(text);
        assert_eq!(
            found.required.into_iter().collect::<Vec<_>>(),
            ["os", "tkinter"]
        );
        assert_eq!(
            found.optional.into_iter().collect::<Vec<_>>(),
            ["pkg_resources"]
        );
        // A later except clause, a tuple, a bare except, nesting inside the try.
        let text = "try:\n    if x:\n        import a\nexcept KeyError:\n    pass\nexcept (OSError, ModuleNotFoundError) as e:\n    pass\ntry:\n    import b\nexcept:\n    pass\n";
        let found = scan_imports(text);
        assert!(found.required.is_empty(), "{found:?}");
        assert_eq!(found.optional.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        // A try that catches something else, or only finally: required.
        let text = "try:\n    import a\nexcept KeyError:\n    pass\ntry:\n    import b\nfinally:\n    pass\n";
        let found = scan_imports(text);
        assert_eq!(found.required.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        // After the try's block ends, imports are required again.
        let text = "try:\n    import a\nexcept ImportError:\n    a = None\nimport c\n";
        let found = scan_imports(text);
        assert_eq!(found.required.into_iter().collect::<Vec<_>>(), ["c"]);
        assert_eq!(found.optional.into_iter().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn imports_are_found_in_every_form() {
        assert_eq!(names("import os"), ["os"]);
        assert_eq!(names("import a.b as c, d"), ["a", "d"]);
        assert_eq!(
            names("    from pkg_resources import iter_entry_points"),
            ["pkg_resources"]
        );
        assert_eq!(
            names("from setuptools.command import build_py"),
            ["setuptools"]
        );
        assert_eq!(names("import x; import tkinter"), ["tkinter", "x"]);
        assert_eq!(
            names("m = importlib.import_module('turtle')\n__import__(\"pip._internal\")"),
            ["pip", "turtle"]
        );
        // What a .pth of setuptools runs.
        assert_eq!(
            names(
                "import os; var = 'X'; enabled = 1; enabled and __import__('_distutils_hack').add_shim(); "
            ),
            ["_distutils_hack", "os"]
        );
        assert_eq!(names("from (os import path"), Vec::<String>::new());
    }

    #[test]
    fn relative_imports_and_prose_name_nothing() {
        assert!(names("from . import tests\nfrom .pip import x").is_empty());
        assert!(names("# run pip install foo\nprint('pip')").is_empty());
        assert!(names("important = 1\nfromage = 2").is_empty());
        assert!(names("from setuptools").is_empty());
        assert!(names("import_module(name)").is_empty());
    }

    #[test]
    fn requirements_outside_extras_are_needed() {
        let metadata = "Metadata-Version: 2.1\nName: x\nRequires-Dist: setuptools>=40\nRequires-Dist: Wheel ; python_version < \"3.12\"\nRequires-Dist: pip ; extra == \"dev\"\n\nRequires-Dist: body\n";
        assert_eq!(
            required_names(metadata).into_iter().collect::<Vec<_>>(),
            ["setuptools", "wheel"]
        );
    }
}
