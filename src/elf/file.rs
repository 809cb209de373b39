//! Reading one file: ELF, Mach-O or PE by its first bytes; an ELF file's header, dynamic
//! section, symbol versions and ARM attributes (`ElfFile`); and the lookups other modules make
//! on raw bytes (RUNPATH slot, version definitions, soname, whether stripping changed what
//! loads). Depends on `arm` only.

use super::Error;
use super::arm::{ArmAttributes, EM_ARM, SHT_ARM_ATTRIBUTES, parse_arm_attributes};
use crate::target::{Endian, GlibcVersion, GlibcxxVersion};
use goblin::elf::{Elf, dynamic};
use std::path::Path;

/// Not in goblin's constants (glibc elf.h): names of filter libraries, also in .dynstr.
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;

pub const MAGIC: &[u8; 4] = b"\x7fELF";

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

pub fn machine_name(machine: u16) -> String {
    match machine {
        3 => "i386".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC64".into(),
        22 => "S/390".into(),
        40 => "ARM".into(),
        62 => "x86-64".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        258 => "LoongArch".into(),
        m => format!("e_machine {m}"),
    }
}

/// What rvenv needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFile {
    pub class: u8,
    pub endian: Endian,
    pub machine: u16,
    pub osabi: u8,
    pub flags: u32,
    pub is_lib: bool,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// RUNPATH entries, or RPATH ones when there is no RUNPATH (the loader's own rule).
    pub search_path: Vec<String>,
    /// Whether `search_path` is a RUNPATH (not inherited) rather than an RPATH (inherited by
    /// the libraries this file loads).
    pub runpath: bool,
    /// Every RUNPATH and RPATH element as written, empty ones included (the loader reads an
    /// empty element as the current directory): what must not point outside the bundle.
    pub search_strings: Vec<String>,
    /// The highest `GLIBC_x.y` it needs from libraries other than the loader, with the library.
    pub glibc: Option<(GlibcVersion, String)>,
    /// The highest `GLIBCXX_3.4.n` it needs (from libstdc++.so.6).
    pub glibcxx: Option<GlibcxxVersion>,
    /// `.ARM.attributes` of an ARM file; `None` inside when the section is malformed.
    pub arm: Option<Option<ArmAttributes>>,
}

fn parse_goblin<'a>(bytes: &'a [u8], path: &Path) -> Result<Elf<'a>, Error> {
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
    pub fn parse(bytes: &[u8], path: &Path) -> Result<ElfFile, Error> {
        let elf = parse_goblin(bytes, path)?;
        let search_path = if elf.runpaths.is_empty() {
            split_paths(&elf.rpaths)
        } else {
            split_paths(&elf.runpaths)
        };
        let mut glibc: Option<(GlibcVersion, String)> = None;
        let mut glibcxx: Option<GlibcxxVersion> = None;
        if let Some(verneed) = &elf.verneed {
            for need in verneed.iter() {
                // The loader's own versions count too: ld-linux defines GLIBC_2.34/2.35 symbols
                // (rseq) that an older glibc lacks.
                let file = elf.dynstrtab.get_at(need.vn_file).unwrap_or("");
                for aux in need.iter() {
                    let cxx = elf
                        .dynstrtab
                        .get_at(aux.vna_name)
                        .and_then(|n| n.strip_prefix("GLIBCXX_"))
                        .and_then(GlibcxxVersion::parse);
                    if cxx > glibcxx {
                        glibcxx = cxx;
                    }
                    let version = match elf.dynstrtab.get_at(aux.vna_name) {
                        // DT_RELR relocations need glibc 2.36.
                        Some("GLIBC_ABI_DT_RELR") => Some(GlibcVersion(2, 36)),
                        Some(name) => name.strip_prefix("GLIBC_").and_then(GlibcVersion::parse),
                        None => None,
                    };
                    if let Some(v) = version
                        && glibc.as_ref().is_none_or(|(g, _)| v > *g)
                    {
                        glibc = Some((v, file.to_string()));
                    }
                }
            }
        }
        let arm = (elf.header.e_machine == EM_ARM).then(|| {
            match elf
                .section_headers
                .iter()
                .find(|s| s.sh_type == SHT_ARM_ATTRIBUTES)
            {
                // No section: an old toolchain; nothing to check beyond e_flags.
                None => Some(ArmAttributes::default()),
                Some(sh) => sh
                    .file_range()
                    .and_then(|range| bytes.get(range))
                    .and_then(|section| parse_arm_attributes(section, elf.little_endian)),
            }
        });
        Ok(ElfFile {
            class: if elf.is_64 { 64 } else { 32 },
            endian: if elf.little_endian {
                Endian::Little
            } else {
                Endian::Big
            },
            machine: elf.header.e_machine,
            osabi: elf.header.e_ident[7],
            flags: elf.header.e_flags,
            is_lib: elf.is_lib,
            interpreter: elf.interpreter.map(str::to_string),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            runpath: !elf.runpaths.is_empty(),
            search_strings: elf
                .runpaths
                .iter()
                .chain(&elf.rpaths)
                .flat_map(|s| s.split(':'))
                .map(str::to_string)
                .collect(),
            search_path,
            glibc,
            glibcxx,
            arm,
        })
    }

    /// `ELF64 x86-64`, `ELF32 ARM`.
    pub fn describe(&self) -> String {
        let endian = if self.endian == Endian::Big {
            " big-endian"
        } else {
            ""
        };
        format!("ELF{}{} {}", self.class, endian, machine_name(self.machine))
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
    slot_of(&elf, entry, bytes, path).map(Some)
}

/// The string of one `DT_RUNPATH`/`DT_RPATH` entry, refused when shared (see `runpath_slot`).
fn slot_of(
    elf: &Elf<'_>,
    entry: &dynamic::Dyn,
    bytes: &[u8],
    path: &Path,
) -> Result<StringSlot, Error> {
    let dynamic = elf.dynamic.as_ref().expect("the entry comes from it");
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
    Ok(StringSlot {
        offset,
        len: value.len(),
        value,
    })
}

/// The RUNPATH and RPATH strings of a file, as written (`DT_RUNPATH` first).
pub fn search_path_strings(bytes: &[u8], path: &Path) -> Result<Vec<(u64, String)>, Error> {
    let elf = parse_goblin(bytes, path)?;
    let Some(dynamic) = &elf.dynamic else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    // The first entry of each tag: the one `apply_search_path_fix` changes. (A second one of a
    // tag is left as it is and the check reports it.)
    for tag in [dynamic::DT_RUNPATH, dynamic::DT_RPATH] {
        if let Some(d) = dynamic.dyns.iter().find(|d| d.d_tag == tag) {
            let value = elf
                .dynstrtab
                .get_at(d.d_val as usize)
                .ok_or_else(|| Error::Malformed {
                    path: path.to_path_buf(),
                    message: "RUNPATH offset is outside .dynstr".into(),
                })?;
            out.push((tag, value.to_string()));
        }
    }
    Ok(out)
}

/// `search_path_strings` of a file on disk, reading only the pages the parser needs; `None`
/// for a file that is not ELF or not a valid one (the check reports those).
pub fn search_path_strings_file(disk: &Path) -> std::io::Result<Option<Vec<(u64, String)>>> {
    use std::io::Read;
    let mut file = std::fs::File::open(disk)?;
    let mut head = [0u8; 4];
    let n = file.read(&mut head)?;
    if !is_elf(&head[..n]) {
        return Ok(None);
    }
    // SAFETY: as in `inspect_file`: read-only, and only for this call.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(search_path_strings(&map, disk).ok())
}

/// New values for a file's `DT_RUNPATH` / `DT_RPATH` strings: `Some` replaces the string in
/// place (never longer than the old one), `None` removes the entry from the dynamic array.
pub type SearchPathFix = Vec<(u64, Option<String>)>;

/// The file with `fix` applied; its size and every other offset stay as they were. A removed
/// entry's string is overwritten with NUL and the entries after it move up one place, as
/// patchelf's `--remove-rpath` does: an empty string would not do, since the loader reads an
/// empty path element as the current directory.
pub fn apply_search_path_fix(
    bytes: &[u8],
    path: &Path,
    fix: &SearchPathFix,
) -> Result<Vec<u8>, Error> {
    let elf = parse_goblin(bytes, path)?;
    let malformed = |message: &str| Error::Malformed {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let Some(dynamic) = &elf.dynamic else {
        return Err(malformed("no dynamic section"));
    };
    let mut out = bytes.to_vec();
    let mut remove: Vec<usize> = Vec::new();
    for (tag, new) in fix {
        let Some((index, entry)) = dynamic
            .dyns
            .iter()
            .enumerate()
            .find(|(_, d)| d.d_tag == *tag)
        else {
            return Err(malformed("the RUNPATH to rewrite is not in the file"));
        };
        let slot = slot_of(&elf, entry, bytes, path)?;
        let value = new.as_deref().unwrap_or("");
        if value.len() > slot.len {
            return Err(Error::RunpathTooLong {
                path: path.to_path_buf(),
                new: value.to_string(),
                old: slot.value.clone(),
            });
        }
        let field = &mut out[slot.offset..slot.offset + slot.len];
        field.fill(0);
        field[..value.len()].copy_from_slice(value.as_bytes());
        if new.is_none() {
            remove.push(index);
        }
    }
    if remove.is_empty() {
        return Ok(out);
    }
    // The dynamic array as the loader reads it: PT_DYNAMIC, in the file's class and byte order.
    let ph = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == goblin::elf::program_header::PT_DYNAMIC)
        .ok_or_else(|| malformed("no PT_DYNAMIC segment"))?;
    let size = if elf.is_64 { 16 } else { 8 };
    let start = ph.p_offset as usize;
    let count = dynamic.dyns.len();
    let end = start + count * size;
    if end > out.len() || (ph.p_filesz as usize) < count * size {
        return Err(malformed("dynamic array outside the file"));
    }
    let tag_at = |b: &[u8], i: usize| -> u64 {
        let at = start + i * size;
        match (elf.is_64, elf.little_endian) {
            (true, true) => u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes")),
            (true, false) => u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes")),
            (false, true) => u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64,
            (false, false) => u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64,
        }
    };
    // goblin's list is the array in file order up to DT_NULL; check that before moving bytes.
    if (0..count).any(|i| tag_at(bytes, i) != dynamic.dyns[i].d_tag) {
        return Err(malformed("dynamic array does not match PT_DYNAMIC"));
    }
    let kept: Vec<u8> = (0..count)
        .filter(|i| !remove.contains(i))
        .flat_map(|i| bytes[start + i * size..start + (i + 1) * size].to_vec())
        .collect();
    let array = &mut out[start..end];
    array.fill(0);
    array[..kept.len()].copy_from_slice(&kept);
    Ok(out)
}

/// What a file is, recognised by its first bytes, not its name.
#[derive(Debug, Clone)]
pub enum Inspection {
    Elf(Box<ElfFile>),
    Malformed(String),
    /// A Mach-O or PE file: a macOS or Windows build.
    Foreign(&'static str),
}

/// `None` for files that are not binaries at all.
pub fn inspect(path: &Path, bytes: &[u8]) -> Option<Inspection> {
    if is_elf(bytes) {
        return Some(match ElfFile::parse(bytes, path) {
            Ok(elf) => Inspection::Elf(Box::new(elf)),
            Err(e) => Inspection::Malformed(match e {
                Error::Malformed { message, .. } => message,
                other => other.to_string(),
            }),
        });
    }
    let magic = bytes.get(..4)?;
    let be = u32::from_be_bytes(magic.try_into().ok()?);
    match be {
        0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe => {
            return Some(Inspection::Foreign("Mach-O"));
        }
        // Universal Mach-O shares its magic with Java class files; those carry a version >= 45.
        0xcafe_babe
            if bytes
                .get(4..8)
                .is_some_and(|n| u32::from_be_bytes(n.try_into().unwrap()) < 45) =>
        {
            return Some(Inspection::Foreign("Mach-O universal"));
        }
        _ => {}
    }
    if magic.starts_with(b"MZ") {
        let pe = bytes
            .get(0x3c..0x40)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)?;
        if pe.checked_add(4).and_then(|end| bytes.get(pe..end)) == Some(b"PE\0\0") {
            return Some(Inspection::Foreign("PE"));
        }
    }
    None
}

/// The highest `PREFIX<version>` version *definition* of a shared library (`GLIBC_2.36` in
/// libc.so.6, `GLIBCXX_3.4.30` in libstdc++.so.6): what it provides, not what it needs.
pub fn highest_version_definition<V: Ord>(
    bytes: &[u8],
    prefix: &str,
    parse_version: impl Fn(&str) -> Option<V>,
) -> Result<Option<V>, String> {
    let elf = goblin::elf::Elf::parse(bytes).map_err(|e| e.to_string())?;
    let mut best = None;
    if let Some(verdef) = &elf.verdef {
        for def in verdef.iter() {
            // The first auxiliary entry names the version; later ones name its parents.
            if let Some(aux) = def.iter().next()
                && let Some(v) = elf
                    .dynstrtab
                    .get_at(aux.vda_name)
                    .and_then(|n| n.strip_prefix(prefix))
                    .and_then(&parse_version)
                && best.as_ref().is_none_or(|b| v > *b)
            {
                best = Some(v);
            }
        }
    }
    Ok(best)
}

/// `DT_SONAME` of a shared library.
pub fn soname(bytes: &[u8]) -> Option<String> {
    goblin::elf::Elf::parse(bytes)
        .ok()?
        .soname
        .map(str::to_string)
}

/// ELF, Mach-O or PE by the first bytes: worth inspecting.
pub fn is_binary_magic(head: &[u8]) -> bool {
    let head = &head[..head.len().min(4)];
    head == MAGIC
        || head.starts_with(b"MZ")
        || matches!(
            head,
            [0xfe, 0xed, 0xfa, _] | [_, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe]
        )
}

/// Inspects a file on disk reading only what it needs: its first bytes decide; a binary is
/// then mapped, so goblin touches only the headers, dynamic section, version sections and
/// attributes, not the whole file.
pub fn inspect_file(disk: &Path, rel: &Path) -> std::io::Result<Option<Inspection>> {
    use std::io::Read;
    let mut file = std::fs::File::open(disk)?;
    let mut head = [0u8; 4];
    let n = file.read(&mut head)?;
    if !is_binary_magic(&head[..n]) {
        return Ok(None);
    }
    // SAFETY: the map is read-only and lives only for this call; a file truncated meanwhile
    // by another process is the one way this could fault, as with any mmap reader.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(inspect(rel, &map))
}

/// Whether `stripped` loads exactly as `original`: the same ELF header fields the loader reads
/// and program headers (file offsets aside), every loadable segment with the same bytes (but
/// the ELF header's section-table fields) at an offset congruent to its address. Removing debug
/// sections never changes these: the last check on every copy `without_debug` makes (GNU strip
/// and llvm-strip, used before it, moved or truncated segments of libraries patchelf rewrote).
pub fn loads_the_same(original: &[u8], stripped: &[u8]) -> bool {
    use goblin::elf::program_header::{PT_LOAD, ProgramHeader};
    type Loader = (u16, u16, u32, u64, u64, u16, u16);
    fn headers(bytes: &[u8]) -> Option<(Loader, Vec<ProgramHeader>)> {
        let header = goblin::elf::Elf::parse_header(bytes).ok()?;
        let ctx = goblin::container::Ctx::new(header.container().ok()?, header.endianness().ok()?);
        let phs = ProgramHeader::parse(
            bytes,
            usize::try_from(header.e_phoff).ok()?,
            usize::from(header.e_phnum),
            ctx,
        )
        .ok()?;
        let loader = (
            header.e_type,
            header.e_machine,
            header.e_flags,
            header.e_entry,
            header.e_phoff,
            header.e_phnum,
            header.e_ehsize,
        );
        Some((loader, phs))
    }
    /// A segment's bytes, from after the ELF header when it covers it (e_shoff, e_shnum and
    /// e_shstrndx change with the section table, and the loader ignores them).
    fn segment<'a>(bytes: &'a [u8], ph: &ProgramHeader, ehsize: u16) -> Option<&'a [u8]> {
        let start = usize::try_from(ph.p_offset).ok()?;
        let end = start.checked_add(usize::try_from(ph.p_filesz).ok()?)?;
        bytes.get(start.max(usize::from(ehsize)).min(end)..end)
    }
    let (Some((loader_a, a)), Some((loader_b, b))) = (headers(original), headers(stripped)) else {
        return false;
    };
    if loader_a != loader_b || a.len() != b.len() {
        return false;
    }
    let ehsize = loader_a.6;
    a.iter().zip(&b).all(|(x, y)| {
        let same = (
            x.p_type, x.p_flags, x.p_vaddr, x.p_paddr, x.p_filesz, x.p_memsz, x.p_align,
        ) == (
            y.p_type, y.p_flags, y.p_vaddr, y.p_paddr, y.p_filesz, y.p_memsz, y.p_align,
        );
        let loads = x.p_type != PT_LOAD
            || ((y.p_align <= 1 || y.p_offset.wrapping_sub(y.p_vaddr) % y.p_align == 0)
                && segment(original, x, ehsize)
                    .is_some_and(|s| Some(s) == segment(stripped, y, ehsize)));
        same && loads
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::host_binary;

    #[test]
    fn truncated_and_fake_elf_are_reported_not_panicked_on() {
        let bytes = host_binary();
        for len in [4, 16, 63, 64, 200, 4096] {
            assert!(
                matches!(
                    inspect(Path::new("cut"), &bytes[..len]),
                    Some(Inspection::Malformed(_)) | Some(Inspection::Elf(_))
                ),
                "len {len}"
            );
        }
        let mut fake = b"\x7fELF".to_vec();
        fake.extend((0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        assert!(matches!(
            inspect(Path::new("fake"), &fake),
            Some(Inspection::Malformed(_))
        ));
        assert!(inspect(Path::new("text"), b"import os\n").is_none());
    }

    #[test]
    fn foreign_formats() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert!(matches!(
            inspect(Path::new("x.pyd"), &pe),
            Some(Inspection::Foreign("PE"))
        ));
        assert!(matches!(
            inspect(Path::new("x.so"), &0xcffa_edfeu32.to_be_bytes()),
            Some(Inspection::Foreign("Mach-O"))
        ));
        let java = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
        assert!(inspect(Path::new("A.class"), &java).is_none());
    }

    #[test]
    fn section_offsets_that_overflow_are_malformed_not_a_panic() {
        // The host binary relabelled as ARM, with an .ARM.attributes header at u64::MAX.
        let mut bytes = host_binary();
        bytes[18..20].copy_from_slice(&EM_ARM.to_le_bytes());
        let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
        let shentsize = u16::from_le_bytes(bytes[0x3a..0x3c].try_into().unwrap()) as usize;
        let sh = shoff + shentsize;
        bytes[sh + 4..sh + 8].copy_from_slice(&SHT_ARM_ATTRIBUTES.to_le_bytes());
        bytes[sh + 24..sh + 32].copy_from_slice(&u64::MAX.to_le_bytes());
        bytes[sh + 32..sh + 40].copy_from_slice(&16u64.to_le_bytes());
        match inspect(Path::new("x.so"), &bytes) {
            Some(Inspection::Elf(elf)) => assert_eq!(elf.arm, Some(None)),
            Some(Inspection::Malformed(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}
