//! The target catalogue: one TOML file per target in `targets/`, compiled into the binary.

use serde::Deserialize;
use std::sync::OnceLock;

/// Catalogue order matters: detection from an ELF header takes the first match.
const SOURCES: &[(&str, &str)] = &[
    ("x86_64.toml", include_str!("../targets/x86_64.toml")),
    ("i686.toml", include_str!("../targets/i686.toml")),
    ("aarch64.toml", include_str!("../targets/aarch64.toml")),
    ("armv7.toml", include_str!("../targets/armv7.toml")),
    ("armv6.toml", include_str!("../targets/armv6.toml")),
    ("riscv64.toml", include_str!("../targets/riscv64.toml")),
];

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub elf: ElfIdentity,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ElfIdentity {
    /// 32 or 64.
    pub class: u8,
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
    /// Accepted `PT_INTERP` paths.
    pub loaders: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown target '{name}'; known targets: {known}")]
    Unknown { name: String, known: String },
    #[error("targets/{file}: {message}")]
    BadCatalogue { file: String, message: String },
}

/// Parses one target file; unknown keys are an error.
pub fn parse(file: &str, text: &str) -> Result<Target, Error> {
    toml::from_str(text).map_err(|e| Error::BadCatalogue {
        file: file.to_string(),
        message: e.to_string(),
    })
}

/// The built-in catalogue, parsed once. The files are checked by a unit test, so a parse
/// failure here is a build defect.
pub fn catalogue() -> &'static [Target] {
    static CATALOGUE: OnceLock<Vec<Target>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(file, text)| parse(file, text).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    })
}

impl Target {
    pub fn matches_name(&self, wanted: &str) -> bool {
        self.name.eq_ignore_ascii_case(wanted)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted))
    }
}

/// Looks a target up by name or alias.
pub fn find(name: &str) -> Result<&'static Target, Error> {
    catalogue()
        .iter()
        .find(|t| t.matches_name(name))
        .ok_or_else(|| Error::Unknown {
            name: name.to_string(),
            known: catalogue()
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The first target whose ELF identity matches a header.
pub fn detect(class: u8, endian: Endian, machine: u16) -> Option<&'static Target> {
    catalogue()
        .iter()
        .find(|t| t.elf.class == class && t.elf.endian == endian && t.elf.machine == machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_targets_dir_is_compiled_in_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("targets");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut compiled: Vec<String> = SOURCES.iter().map(|(f, _)| f.to_string()).collect();
        compiled.sort();
        assert_eq!(on_disk, compiled, "targets/ and SOURCES differ");
        for (file, text) in SOURCES {
            let t = parse(file, text).unwrap();
            assert_eq!(format!("{}.toml", t.name), *file);
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = "name='x'\ndescription='d'\nbogus=1\n[elf]\nclass=64\nendian='little'\nmachine=62\nloaders=[]\n";
        let err = parse("x.toml", text).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn aliases_find_targets_and_unknown_lists_known() {
        assert_eq!(find("arm64").unwrap().name, "aarch64");
        assert_eq!(find("aarch64-unknown-linux-gnu").unwrap().name, "aarch64");
        assert_eq!(find("AMD64").unwrap().name, "x86_64");
        let err = find("sparc").unwrap_err().to_string();
        assert!(err.contains("x86_64") && err.contains("riscv64"), "{err}");
    }

    #[test]
    fn detection_by_header() {
        assert_eq!(detect(64, Endian::Little, 62).unwrap().name, "x86_64");
        assert_eq!(detect(64, Endian::Little, 183).unwrap().name, "aarch64");
        assert!(detect(64, Endian::Big, 62).is_none());
    }
}
