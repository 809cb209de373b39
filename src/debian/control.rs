//! Debian control data (deb822): `Release`, `Packages` and apt's `.sources` files are
//! paragraphs of `Field: value` lines, continuation lines starting with a space or a tab.

/// One paragraph; field names compare case-insensitively, as in Debian policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(String, String)>,
}

impl Stanza {
    /// The value, continuation lines joined by `\n` (the first line may be empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Paragraphs separated by blank lines; `#` comment lines are skipped (apt's `.sources` files
/// have them). A line that is neither a field nor a continuation is an error naming it.
pub fn parse(text: &str) -> Result<Vec<Stanza>, String> {
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(format!("line {}: a continuation line with no field", n + 1));
            };
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {}: not a 'Field: value' line", n + 1));
        };
        current
            .fields
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    if !current.fields.is_empty() {
        stanzas.push(current);
    }
    Ok(stanzas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_continuations_and_comments() {
        let text = "Origin: Debian\nSHA256:\n aa 1 main/x\n bb 2 main/y\n\n\n# note\nPackage: p\nversion: 1\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("origin"), Some("Debian"));
        assert_eq!(s[0].get("SHA256"), Some("\naa 1 main/x\nbb 2 main/y"));
        assert_eq!(s[1].get("Version"), Some("1"));
        assert!(parse(" lone\n").is_err());
        assert!(parse("no colon here\n").is_err());
    }
}
