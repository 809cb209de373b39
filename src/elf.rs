//! ELF inspection with goblin: what each binary is, what it needs, and whether it fits a target.

use crate::target::{Endian, Target};
use goblin::elf::{Elf, dynamic};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: not a valid ELF file: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{path}: its RUNPATH string shares bytes with another dynamic string, so it cannot be replaced in place"
    )]
    SharedRunpath { path: PathBuf },
}

/// Not in goblin's constants (glibc elf.h): names of filter libraries, also in .dynstr.
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;

pub const MAGIC: &[u8; 4] = b"\x7fELF";

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// What rvenv needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFile {
    pub class: u8,
    pub endian: Endian,
    pub machine: u16,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// RUNPATH entries, or RPATH ones when there is no RUNPATH (the loader's own rule).
    pub search_path: Vec<String>,
}

fn parse_goblin<'a>(bytes: &'a [u8], path: &std::path::Path) -> Result<Elf<'a>, Error> {
    Elf::parse(bytes).map_err(|e| Error::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Colon-separated path lists as written in the dynamic section.
fn split_paths(list: &[&str]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split(':'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ElfFile {
    pub fn parse(bytes: &[u8], path: &std::path::Path) -> Result<ElfFile, Error> {
        let elf = parse_goblin(bytes, path)?;
        let search_path = if elf.runpaths.is_empty() {
            split_paths(&elf.rpaths)
        } else {
            split_paths(&elf.runpaths)
        };
        Ok(ElfFile {
            class: if elf.is_64 { 64 } else { 32 },
            endian: if elf.little_endian {
                Endian::Little
            } else {
                Endian::Big
            },
            machine: elf.header.e_machine,
            interpreter: elf.interpreter.map(str::to_string),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            search_path,
        })
    }

    /// Why this file cannot run on `target`, if it cannot (class, byte order, machine).
    pub fn mismatch(&self, target: &Target) -> Option<String> {
        let want = &target.elf;
        (self.class != want.class || self.endian != want.endian || self.machine != want.machine)
            .then(|| {
                format!(
                    "ELF{} {:?}-endian e_machine {}, but target {} needs ELF{} {:?}-endian e_machine {}",
                    self.class,
                    self.endian,
                    self.machine,
                    target.name,
                    want.class,
                    want.endian,
                    want.machine
                )
            })
    }
}

/// Where a RUNPATH (or RPATH) string lives in the file, for an in-place rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringSlot {
    pub offset: usize,
    /// Bytes available, without the terminating NUL.
    pub len: usize,
    pub value: String,
}

/// Finds the RUNPATH (else RPATH) string in `.dynstr`. Refuses when another dynamic string
/// (a needed library, soname, symbol or version name) points into its bytes: linkers merge
/// string tails, and overwriting a shared tail would corrupt the other name.
pub fn runpath_slot(bytes: &[u8], path: &std::path::Path) -> Result<Option<StringSlot>, Error> {
    let elf = parse_goblin(bytes, path)?;
    let Some(dynamic) = &elf.dynamic else {
        return Ok(None);
    };
    let tag = |t: u64| dynamic.dyns.iter().find(|d| d.d_tag == t);
    let Some(entry) = tag(dynamic::DT_RUNPATH).or_else(|| tag(dynamic::DT_RPATH)) else {
        return Ok(None);
    };
    let malformed = |message: &str| Error::Malformed {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    // goblin has already turned DT_STRTAB's address into a file offset.
    let strtab = dynamic.info.strtab;
    let start = entry.d_val as usize;
    let value = elf
        .dynstrtab
        .get_at(start)
        .ok_or_else(|| malformed("RUNPATH offset is outside .dynstr"))?
        .to_string();
    let end = start + value.len();

    // Offsets of every other string in .dynstr.
    let mut others: Vec<usize> = dynamic
        .dyns
        .iter()
        .filter(|d| !std::ptr::eq(*d, entry))
        .filter(|d| {
            matches!(
                d.d_tag,
                dynamic::DT_NEEDED
                    | dynamic::DT_SONAME
                    | dynamic::DT_RPATH
                    | dynamic::DT_RUNPATH
                    | DT_AUXILIARY
                    | DT_FILTER
            )
        })
        .map(|d| d.d_val as usize)
        .collect();
    others.extend(elf.dynsyms.iter().map(|s| s.st_name));
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            others.push(need.vn_file);
            others.extend(need.iter().map(|aux| aux.vna_name));
        }
    }
    if let Some(verdef) = &elf.verdef {
        for def in verdef.iter() {
            others.extend(def.iter().map(|aux| aux.vda_name));
        }
    }
    // Shared if another string starts inside this one, or this one is the tail of another.
    let overlaps = |o: usize| {
        let other_end = o + elf.dynstrtab.get_at(o).map_or(0, str::len);
        o != start && o <= end && other_end >= start
    };
    if others.into_iter().any(overlaps) {
        return Err(Error::SharedRunpath {
            path: path.to_path_buf(),
        });
    }
    let offset = strtab + start;
    if bytes.get(offset..offset + value.len()) != Some(value.as_bytes()) {
        return Err(malformed("RUNPATH string is not where .dynstr says"));
    }
    Ok(Some(StringSlot {
        offset,
        len: value.len(),
        value,
    }))
}

/// One ELF file that will not run on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    pub path: String,
    pub problem: String,
}

/// Every ELF file of a bundle, checked against its target.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub checked: usize,
    pub offenders: Vec<Offender>,
}

impl Report {
    /// Adds one file: `path` is its name inside the bundle.
    pub fn add(&mut self, path: &str, bytes: &[u8], target: &Target) {
        self.checked += 1;
        let problem = match ElfFile::parse(bytes, std::path::Path::new(path)) {
            Ok(elf) => elf.mismatch(target),
            Err(e) => Some(e.to_string()),
        };
        if let Some(problem) = problem {
            self.offenders.push(Offender {
                path: path.to_string(),
                problem,
            });
        }
    }

    pub fn merge(&mut self, other: Report) {
        self.checked += other.checked;
        self.offenders.extend(other.offenders);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The machine's own interpreter: a real ELF file.
    fn host_binary() -> Vec<u8> {
        std::fs::read("/proc/self/exe").unwrap()
    }

    #[test]
    fn parses_the_test_binary_itself() {
        let bytes = host_binary();
        let elf = ElfFile::parse(&bytes, Path::new("self")).unwrap();
        assert_eq!(elf.class, 64);
        assert!(elf.needed.iter().any(|n| n.starts_with("libc.so")));
        let x86 = crate::target::find("x86_64").unwrap();
        let arm = crate::target::find("aarch64").unwrap();
        if cfg!(target_arch = "x86_64") {
            assert!(elf.mismatch(x86).is_none());
            assert!(elf.mismatch(arm).unwrap().contains("e_machine 62"));
        }
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let bytes = host_binary();
        for len in [4, 16, 63, 64, 200] {
            let r = ElfFile::parse(&bytes[..len], Path::new("cut"));
            assert!(r.is_err(), "len {len}");
        }
        let mut report = Report::default();
        report.add(
            "cut.so",
            &bytes[..40],
            crate::target::find("x86_64").unwrap(),
        );
        assert_eq!(report.offenders.len(), 1);
        assert!(report.offenders[0].problem.contains("cut.so"));
    }
}
