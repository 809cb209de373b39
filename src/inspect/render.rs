//! Rendering the report: as text for a person, or as JSON.

use super::Layout;
use super::model::Inspection;

/// At most `n` items, then how many more.
fn some<T>(items: &[T], n: usize, show: impl Fn(&T) -> String) -> Vec<String> {
    let mut out: Vec<String> = items.iter().take(n).map(show).collect();
    if items.len() > n {
        out.push(format!(
            "... and {} more (--json lists all)",
            items.len() - n
        ));
    }
    out
}

impl Inspection {
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("inspection serialises")
    }

    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let w = &mut s;
        let kind = match self.kind {
            Layout::Venv if self.bundle_changes.is_some() => {
                "venv, as `rvenv bundle` would pack it"
            }
            Layout::Venv => "venv, its own files only: its base cannot be used",
            Layout::Bundle => "extracted bundle",
            Layout::Tarball => "bundle tarball",
        };
        let _ = writeln!(w, "{} ({kind})", self.path);
        let _ = writeln!(
            w,
            "Python:   {} {}",
            self.python.implementation,
            self.python
                .version
                .as_deref()
                .unwrap_or("(version unknown)")
        );
        let t = &self.target;
        let target = match (&t.name, &t.interpreter_elf) {
            (Some(name), Some(elf)) if t.detected => format!(
                "{name} (detected from {}: {elf})",
                t.interpreter.as_deref().unwrap_or("?")
            ),
            (Some(name), _) => format!("{name} (--target)"),
            (None, Some(elf)) => format!("unknown: no known target runs the interpreter ({elf})"),
            (None, None) => "unknown: no interpreter found".into(),
        };
        let _ = writeln!(w, "Target:   {target}");
        if let Some(b) = &t.bundle_target {
            let _ = writeln!(w, "Bundled:  for {b} (rvenv.json)");
        }
        let _ = writeln!(
            w,
            "\nSize: {} in {} files",
            crate::ui::human(self.size.total),
            self.size.files
        );
        for row in &self.size.top_level {
            let _ = writeln!(
                w,
                "  {:>10}  {:<20} {} files",
                crate::ui::human(row.size),
                row.name,
                row.files
            );
        }
        let versioned = self.packages.iter().filter(|p| p.version.is_some()).count();
        let _ = writeln!(w, "\nPackages ({versioned}), largest first:");
        if self.packages.is_empty() {
            let _ = writeln!(w, "  none");
        }
        for line in some(&self.packages, 25, |p| {
            let mut line = format!("  {:>10}  {}", crate::ui::human(p.size), p.name);
            match &p.version {
                Some(v) => line.push_str(&format!(" {v}")),
                None => line.push_str(" (no RECORD claims these files)"),
            }
            if p.editable {
                line.push_str(" [editable]");
            } else if let Some(u) = &p.url {
                line.push_str(&format!(" [{u}]"));
            }
            line
        }) {
            let _ = writeln!(w, "{line}");
        }
        let e = &self.elf;
        let _ = writeln!(w, "\nELF files: {}", e.files);
        for a in &e.architectures {
            let mark = match a.matches_target {
                Some(false) => "  <- not the target's architecture",
                _ => "",
            };
            let _ = writeln!(w, "  {:>6}  {}{mark}", a.count, a.arch);
            if a.matches_target == Some(false) {
                for line in some(&a.paths, 10, |p| format!("          {p}")) {
                    let _ = writeln!(w, "{line}");
                }
            }
        }
        for line in some(&e.foreign, 3, |f| {
            format!("  foreign ({}): {}", f.format, f.path)
        }) {
            let _ = writeln!(w, "{line}");
        }
        for m in &e.malformed {
            let _ = writeln!(w, "  malformed: {}: {}", m.path, m.message);
        }
        let fits = |f: Option<bool>| match f {
            Some(true) => " (the target has it)",
            Some(false) => " (NEWER than the target's: run `rvenv check`)",
            None => "",
        };
        match &e.glibc {
            Some(g) => {
                let _ = writeln!(
                    w,
                    "Highest glibc needed: GLIBC_{} by {}{}",
                    g.version,
                    g.path,
                    fits(g.fits_target)
                );
            }
            None => {
                let _ = writeln!(w, "Highest glibc needed: none");
            }
        }
        if let Some(g) = &e.glibcxx {
            let _ = writeln!(
                w,
                "Highest libstdc++ needed: GLIBCXX_{} by {}{}",
                g.version,
                g.path,
                fits(g.fits_target)
            );
        }
        let counts: Vec<String> = self
            .scripts
            .forms
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{n} {f}"))
            .collect();
        let _ = writeln!(
            w,
            "\nScripts in bin/: {}{}",
            self.scripts.files.len(),
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            }
        );
        for sc in &self.scripts.files {
            let detail = sc.shebang.as_deref().unwrap_or("");
            let _ = writeln!(w, "  {:<18} {:<28} {detail}", sc.form, sc.path);
        }
        let _ = writeln!(
            w,
            "\nBuild paths looked for: {}",
            if self.build_paths.is_empty() {
                "none known (no compiled bytecode or _sysconfigdata to learn them from)".into()
            } else {
                self.build_paths.join(", ")
            }
        );
        if self.leaks.is_empty() {
            let _ = writeln!(w, "Leaks: none");
        } else {
            let _ = writeln!(
                w,
                "Leaks ({} text files still name them):",
                self.leaks.len()
            );
            for line in some(&self.leaks, 20, |l| {
                format!("  {}: {}", l.path, l.build_paths.join(", "))
            }) {
                let _ = writeln!(w, "{line}");
            }
        }
        if self.editable.is_empty() {
            let _ = writeln!(w, "Editable installs: none");
        } else {
            let _ = writeln!(w, "Editable installs ({}):", self.editable.len());
            for f in &self.editable {
                let _ = writeln!(w, "  {}: {}", f.path, f.what);
            }
        }
        if let Some(c) = &self.bundle_changes {
            let _ = writeln!(
                w,
                "\n`rvenv bundle` would rewrite {} files:",
                c.rewritten.len()
            );
            for line in some(&c.rewritten, 30, |r| {
                format!("  {:<11} {}", r.rewrite, r.path)
            }) {
                let _ = writeln!(w, "{line}");
            }
            for warning in &c.warnings {
                let _ = writeln!(w, "  warning: {warning}");
            }
            // One line per element, as `bundle` and `check` print them; --json lists every file.
            let mut groups: std::collections::BTreeMap<(&str, bool), Vec<&str>> =
                std::collections::BTreeMap::new();
            for l in &c.runpath_leaks {
                groups
                    .entry((l.element.as_str(), l.becomes.is_some()))
                    .or_default()
                    .push(&l.path);
            }
            for ((element, rewritten), files) in groups {
                let _ = writeln!(
                    w,
                    "  warning: RUNPATH {} names a folder outside the bundle in {} file{}: {}{}",
                    if element.is_empty() { "''" } else { element },
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    if rewritten {
                        "rewritten to $ORIGIN"
                    } else {
                        "removed"
                    },
                    files
                        .iter()
                        .take(3)
                        .map(|f| format!("\n    {f}"))
                        .collect::<String>()
                        + if files.len() > 3 { "\n    ..." } else { "" }
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_human() {
        assert_eq!(crate::ui::human(1023), "1023 B");
        assert_eq!(crate::ui::human(1536), "1.5 KiB");
        assert_eq!(crate::ui::human(5 << 30), "5.0 GiB");
    }
}
