//! ELF inspection with goblin: what each binary is, what it needs, and whether it will load on a
//! target (class, byte order, machine, OS ABI, ARM float ABI and attributes, RISC-V float ABI,
//! loader, needed libraries, glibc symbol versions). Mach-O and PE files are recognised as
//! foreign.

use crate::target::{
    Endian, FloatAbi, GlibcVersion, GlibcxxVersion, LibcKind, RiscvFloatAbi, Target,
};
use goblin::elf::{Elf, dynamic};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: not a valid ELF file: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{path}: its RUNPATH string shares bytes with another dynamic string, so it cannot be replaced in place"
    )]
    SharedRunpath { path: PathBuf },
}

impl crate::error::Hint for Error {}

/// Not in goblin's constants (glibc elf.h): names of filter libraries, also in .dynstr.
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;
/// ARM ELF ABI: section type of `.ARM.attributes`, and the `e_flags` bits that matter.
const SHT_ARM_ATTRIBUTES: u32 = 0x7000_0003;
const EF_ARM_EABI_MASK: u32 = 0xFF00_0000;
const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;
const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
/// RISC-V `e_flags` float ABI field.
const EF_RISCV_FLOAT_ABI: u32 = 0x6;
const EM_ARM: u16 = 40;
const EM_RISCV: u16 = 243;

pub const MAGIC: &[u8; 4] = b"\x7fELF";

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// `Tag_CPU_arch`, `Tag_FP_arch` and `Tag_Advanced_SIMD_arch` of `.ARM.attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArmAttributes {
    pub cpu_arch: Option<u8>,
    pub fp_arch: Option<u8>,
    pub simd_arch: Option<u8>,
}

fn uleb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn skip_cstr(bytes: &[u8], at: &mut usize) -> Option<()> {
    let len = memchr::memchr(0, bytes.get(*at..)?)?;
    *at += len + 1;
    Some(())
}

/// Parses `.ARM.attributes` (ARM IHI 0045, "Build attributes"): `'A'`, then vendor subsections
/// (u32 length, NUL-terminated vendor name); in "aeabi", sub-subsections (ULEB128 tag, u32
/// length) whose tag 1 (the whole file) holds ULEB128 tag/value pairs. Tags 4 and 5, and odd
/// tags from 33 on, carry a string; tag 32 a ULEB128 and a string. Written by hand: goblin does
/// not parse this section and no maintained crate does. `None` when it is malformed.
pub fn parse_arm_attributes(section: &[u8], little_endian: bool) -> Option<ArmAttributes> {
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = section.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize)
    };
    if section.first() != Some(&b'A') {
        return None;
    }
    let mut attrs = ArmAttributes::default();
    let mut at = 1;
    while at < section.len() {
        let len = u32_at(at)?;
        let end = at
            .checked_add(len)
            .filter(|&e| e <= section.len() && len >= 5)?;
        let mut p = at + 4;
        let vendor_len = memchr::memchr(0, section.get(p..end)?)?;
        let vendor = &section[p..p + vendor_len];
        p += vendor_len + 1;
        if vendor == b"aeabi" {
            while p < end {
                let start = p;
                let tag = uleb128(section, &mut p)?;
                let sub_len = u32_at(p)?;
                // The length counts from the first byte of the tag.
                let sub_end = start
                    .checked_add(sub_len)
                    .filter(|&e| e <= end && sub_len >= 5)?;
                p += 4;
                if tag == 1 {
                    // Reads stay inside this sub-subsection.
                    let sub = &section[..sub_end];
                    while p < sub_end {
                        let tag = uleb128(sub, &mut p)?;
                        match tag {
                            4 | 5 => skip_cstr(sub, &mut p)?,
                            32 => {
                                uleb128(sub, &mut p)?;
                                skip_cstr(sub, &mut p)?;
                            }
                            t if t > 32 && t % 2 == 1 => skip_cstr(sub, &mut p)?,
                            t => {
                                let value = uleb128(sub, &mut p)?;
                                let value = u8::try_from(value).ok();
                                match t {
                                    6 => attrs.cpu_arch = value,
                                    10 => attrs.fp_arch = value,
                                    12 => attrs.simd_arch = value,
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                p = sub_end;
            }
        }
        at = end;
    }
    Some(attrs)
}

pub fn cpu_arch_name(v: u8) -> String {
    const NAMES: [&str; 23] = [
        "pre-v4",
        "v4",
        "v4T",
        "v5T",
        "v5TE",
        "v5TEJ",
        "v6",
        "v6KZ",
        "v6T2",
        "v6K",
        "v7",
        "v6-M",
        "v6S-M",
        "v7E-M",
        "v8-A",
        "v8-R",
        "v8-M.baseline",
        "v8-M.mainline",
        "v8.1-A",
        "v8.2-A",
        "v8.3-A",
        "v8.1-M.mainline",
        "v9-A",
    ];
    NAMES
        .get(v as usize)
        .map_or(format!("arch {v}"), |n| format!("ARM{n}"))
}

pub fn fp_arch_name(v: u8) -> String {
    const NAMES: [&str; 9] = [
        "no FP",
        "VFPv1",
        "VFPv2",
        "VFPv3",
        "VFPv3-D16",
        "VFPv4",
        "VFPv4-D16",
        "FP-ARMv8",
        "FPv8-D16",
    ];
    NAMES
        .get(v as usize)
        .map_or(format!("FP arch {v}"), |n| n.to_string())
}

pub fn simd_arch_name(v: u8) -> String {
    const NAMES: [&str; 5] = [
        "no NEON",
        "NEONv1",
        "NEONv1 with FMA",
        "NEON for ARMv8",
        "NEON for ARMv8.1",
    ];
    NAMES
        .get(v as usize)
        .map_or(format!("SIMD arch {v}"), |n| n.to_string())
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

fn is_loader(name: &str) -> bool {
    name.starts_with("ld-linux")
        || name.starts_with("ld64.so")
        || name.starts_with("ld.so")
        || name.starts_with("ld-musl")
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

    /// Why this file cannot load on `target`, checking the file alone (libraries are resolved
    /// over the whole tree by [`Checker`]).
    pub fn problems(&self, target: &Target, glibc: Option<GlibcVersion>) -> Vec<Problem> {
        let want = &target.elf;
        let mut out = Vec::new();
        if self.class != want.class || self.endian != want.endian || self.machine != want.machine {
            let built_for = detect_target(self);
            let hint = match built_for {
                Some(t) => format!(
                    "this binary is for {}; for {} install its {} build (pip --platform {})",
                    t.name,
                    target.name,
                    target.name,
                    target.wheel_platforms.first().map_or("...", String::as_str)
                ),
                None => format!("no known target runs {}", self.describe()),
            };
            out.push(Problem::new(
                ProblemKind::Architecture,
                format!(
                    "{} binary; {} needs ELF{} {}",
                    self.describe(),
                    target.name,
                    want.class,
                    machine_name(want.machine)
                ),
                Some(hint),
            ));
            return out; // nothing else means anything for another architecture
        }
        if !want.osabi.contains(&self.osabi) {
            out.push(Problem::new(
                ProblemKind::OsAbi,
                format!(
                    "EI_OSABI {}; {} accepts {:?}",
                    self.osabi, target.name, want.osabi
                ),
                None,
            ));
        }
        if self.machine == EM_ARM {
            self.arm_problems(target, &mut out);
        }
        if self.machine == EM_RISCV
            && let Some(riscv) = &target.riscv
        {
            let abi = match self.flags & EF_RISCV_FLOAT_ABI {
                0 => RiscvFloatAbi::Soft,
                2 => RiscvFloatAbi::Single,
                4 => RiscvFloatAbi::Double,
                _ => RiscvFloatAbi::Quad,
            };
            if abi != riscv.float_abi {
                out.push(Problem::new(
                    ProblemKind::FloatAbi,
                    format!(
                        "{abi:?}-float ABI; {} needs {:?}-float",
                        target.name, riscv.float_abi
                    ),
                    None,
                ));
            }
        }
        if let Some(interp) = &self.interpreter
            && !want.loaders.contains(interp)
        {
            let musl = interp.contains("ld-musl");
            let hint = match (musl, target.libc.kind) {
                (true, LibcKind::Glibc) => {
                    Some("this is a musl (Alpine) binary; use the glibc (manylinux) build".into())
                }
                (false, LibcKind::Musl) => {
                    Some("this is a glibc binary; use the musl (musllinux) build".into())
                }
                _ => None,
            };
            out.push(Problem::new(
                ProblemKind::Loader,
                format!(
                    "loader {interp}; {} has {}",
                    target.name,
                    want.loaders.join(" or ")
                ),
                hint,
            ));
        }
        if let Some((needed, library)) = &self.glibc {
            match (target.libc.kind, glibc.or(target.libc.glibc)) {
                (LibcKind::Musl, _) => out.push(Problem::new(
                    ProblemKind::Glibc,
                    format!("needs glibc (GLIBC_{needed} from {library}); {} uses musl", target.name),
                    Some("use the musl (musllinux) build".into()),
                )),
                (LibcKind::Glibc, Some(have)) if *needed > have => out.push(Problem::new(
                    ProblemKind::Glibc,
                    format!("needs GLIBC_{needed} (from {library}); {} has glibc {have}", target.name),
                    Some(format!(
                        "use a build for glibc {have} or older (a manylinux_{}_{} wheel or older), or a target with a newer glibc",
                        have.0, have.1
                    )),
                )),
                _ => {}
            }
        }
        if let (Some(needed), Some(have)) = (self.glibcxx, target.libc.glibcxx)
            && needed > have
        {
            out.push(Problem::new(
                ProblemKind::Libstdcxx,
                format!(
                    "needs GLIBCXX_{needed} (from libstdc++.so.6); {} has GLIBCXX up to {have}",
                    target.name
                ),
                Some("a C++ extension built with a newer GCC: use a manylinux wheel, or a target with a newer libstdc++".into()),
            ));
        }
        out
    }

    fn arm_problems(&self, target: &Target, out: &mut Vec<Problem>) {
        let Some(profile) = &target.arm else { return };
        let eabi = (self.flags & EF_ARM_EABI_MASK) >> 24;
        if eabi != 5 {
            out.push(Problem::new(
                ProblemKind::FloatAbi,
                format!("ARM EABI version {eabi}; {} needs EABI5", target.name),
                None,
            ));
        }
        let float = if self.flags & EF_ARM_ABI_FLOAT_HARD != 0 {
            Some(FloatAbi::Hard)
        } else if self.flags & EF_ARM_ABI_FLOAT_SOFT != 0 {
            Some(FloatAbi::Soft)
        } else {
            None
        };
        if let Some(float) = float
            && float != profile.float_abi
        {
            out.push(Problem::new(
                ProblemKind::FloatAbi,
                format!(
                    "{float:?}-float ABI; {} is {:?}-float",
                    target.name, profile.float_abi
                ),
                Some("armel (soft-float) and armhf (hard-float) binaries do not mix".into()),
            ));
        }
        let Some(attrs) = self.arm.clone().unwrap_or_default() else {
            out.push(Problem::new(
                ProblemKind::Malformed,
                "malformed .ARM.attributes section: which ARM architecture it needs cannot be told"
                    .into(),
                None,
            ));
            return;
        };
        let checks = [
            (
                attrs.cpu_arch,
                &profile.cpu_arch,
                cpu_arch_name as fn(u8) -> String,
                "code",
            ),
            (
                attrs.fp_arch,
                &profile.fp_arch,
                fp_arch_name,
                "floating point",
            ),
            (attrs.simd_arch, &profile.simd_arch, simd_arch_name, "SIMD"),
        ];
        for (value, allowed, name, what) in checks {
            if let Some(v) = value
                && !allowed.contains(&v)
            {
                let best = allowed.iter().max().map_or("none".into(), |m| name(*m));
                let other = crate::target::catalogue().iter().find(|t| {
                    t.arm.as_ref().is_some_and(|a| {
                        a.cpu_arch.contains(&attrs.cpu_arch.unwrap_or(0))
                            && a.fp_arch.contains(&attrs.fp_arch.unwrap_or(0))
                            && a.simd_arch.contains(&attrs.simd_arch.unwrap_or(0))
                    })
                });
                out.push(Problem::new(
                    ProblemKind::ArmArch,
                    format!("{} {what}; {} runs up to {best} (it dies with \"Illegal instruction\")", name(v), target.name),
                    other.map(|t| format!("this build runs on {}; for {} use a build for it (on a Pi Zero / Pi 1, piwheels' armv6l wheels)", t.name, target.name)),
                ));
            }
        }
    }
}

/// The target a binary was built for: the first catalogue target of its architecture whose
/// ARM and float checks it passes, so a Pi Zero build is armv6 and Debian's armhf build armv7.
pub fn detect_target(elf: &ElfFile) -> Option<&'static Target> {
    let mut candidates = crate::target::candidates(elf.class, elf.endian, elf.machine).peekable();
    let first = *candidates.peek()?;
    let fits = |t: &&Target| {
        !elf.problems(t, None)
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::ArmArch | ProblemKind::FloatAbi))
    };
    Some(candidates.find(fits).unwrap_or(first))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    Architecture,
    OsAbi,
    FloatAbi,
    ArmArch,
    Loader,
    Glibc,
    Libstdcxx,
    MissingLibrary,
    Malformed,
    Foreign,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    fn new(kind: ProblemKind, message: String, hint: Option<String>) -> Problem {
        Problem {
            kind,
            message,
            hint,
        }
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
/// sections never changes these; on libraries patchelf rewrote (auditwheel's vendored ones),
/// GNU strip and llvm-strip both move or truncate segments.
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
    /// One `error:` (or `warning:`) line per offender, with its hint; then the warnings.
    pub fn print(&self, as_errors: bool) {
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
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        format!(
            "checked {} ELF files for {}{} ({}): {} problem{}, {} warning{}",
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
            self.offenders.len(),
            if self.offenders.len() == 1 { "" } else { "s" },
            self.warnings.len(),
            if self.warnings.len() == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary itself: a real ELF file of the host.
    fn host_binary() -> Vec<u8> {
        std::fs::read("/proc/self/exe").unwrap()
    }

    #[test]
    fn parses_the_test_binary_itself() {
        let bytes = host_binary();
        let elf = ElfFile::parse(&bytes, Path::new("self")).unwrap();
        assert_eq!(elf.class, 64);
        assert!(elf.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(elf.glibc.is_some());
        let x86 = crate::target::find("x86_64").unwrap();
        let arm = crate::target::find("aarch64").unwrap();
        if cfg!(target_arch = "x86_64") {
            assert!(
                elf.problems(x86, None).is_empty(),
                "{:?}",
                elf.problems(x86, None)
            );
            let p = elf.problems(arm, None);
            assert_eq!(p[0].kind, ProblemKind::Architecture);
            assert!(
                p[0].message.contains("x86-64") && p[0].hint.as_ref().unwrap().contains("x86_64")
            );
            let old = elf.problems(x86, Some(GlibcVersion(2, 2)));
            assert_eq!(old[0].kind, ProblemKind::Glibc, "{old:?}");
        }
    }

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
    fn arm_attributes_section() {
        // 'A', vendor subsection "aeabi", file tag with CPU_name "7-A", CPU_arch v7 (10),
        // FP_arch VFPv3-D16 (4), SIMD none (0): as readelf -A shows for Debian's armhf python3.11.
        let mut file = vec![1u8, 0, 0, 0, 0];
        file.extend([5]);
        file.extend(b"7-A\0");
        file.extend([6, 10, 7, b'A', 10, 4, 12, 0, 34, 1]);
        let len = file.len() as u32;
        file[1..5].copy_from_slice(&len.to_le_bytes());
        let mut sub: Vec<u8> = Vec::new();
        sub.extend(b"aeabi\0");
        sub.extend(&file);
        let mut section = vec![b'A'];
        section.extend(((sub.len() + 4) as u32).to_le_bytes());
        section.extend(sub);
        let a = parse_arm_attributes(&section, true).unwrap();
        assert_eq!(
            (a.cpu_arch, a.fp_arch, a.simd_arch),
            (Some(10), Some(4), Some(0))
        );
        for cut in 1..section.len() {
            let _ = parse_arm_attributes(&section[..cut], true); // never panics
        }
        assert!(parse_arm_attributes(b"B", true).is_none());
    }

    fn attributes(tag_bytes: &[u8], attrs: &[u8], little: bool) -> Vec<u8> {
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut file = tag_bytes.to_vec();
        file.extend(u32b((tag_bytes.len() + 4 + attrs.len()) as u32));
        file.extend(attrs);
        let mut sub = b"aeabi\0".to_vec();
        sub.extend(&file);
        let mut section = vec![b'A'];
        section.extend(u32b((sub.len() + 4) as u32));
        section.extend(sub);
        section
    }

    #[test]
    fn arm_attributes_multi_byte_tag_big_endian_and_strings() {
        // Tag 1 written as a two-byte ULEB128, tag 32 (ULEB + string), an odd tag above 32.
        let attrs = [32, 1, b'x', 0, 67, b'2', b'.', b'0', 0, 6, 10, 10, 5];
        let le = attributes(&[0x81, 0x00], &attrs, true);
        let a = parse_arm_attributes(&le, true).unwrap();
        assert_eq!((a.cpu_arch, a.fp_arch), (Some(10), Some(5)));
        let be = attributes(&[1], &attrs, false);
        assert_eq!(parse_arm_attributes(&be, false).unwrap().cpu_arch, Some(10));
        // A value may not be read from past the end of its sub-subsection.
        let mut cut = attributes(&[1], &[6], true);
        cut.extend([10]);
        assert!(parse_arm_attributes(&cut, true).is_none());
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
