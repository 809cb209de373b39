//! Removing debug sections in process, every byte the loader maps kept as it is. The default
//! for the base interpreter's files (pyenv builds with `-g`: 24 MiB of DWARF in CPython 3.11,
//! naming the build machine's `/tmp/python-build.*` folders), so it must not depend on target
//! binutils. The `object` crate's ELF builder also removes sections, but it rebuilds `.dynsym`,
//! `.dynstr` and the hash tables; this keeps the loaded part byte for byte and only rewrites the
//! non-loaded tail (linkers put `.comment`, `.debug_*`, `.symtab`, `.strtab` and `.shstrtab`
//! after the last segment). A file laid out otherwise is left alone. Depends on nothing else in
//! `elf`.

use goblin::container::{Container, Ctx};
use goblin::elf::section_header::{
    SHF_ALLOC, SHF_INFO_LINK, SHT_GROUP, SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA, SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
};
use goblin::elf::{Elf, ProgramHeader, SectionHeader};

/// Why a file keeps its debug sections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Kept {
    #[error("not an ELF executable or shared library that rvenv can read")]
    Unreadable,
    #[error("a segment or an allocated section lies after the debug sections")]
    Layout,
    #[error("a section or symbol refers to a debug section by its index")]
    Referenced,
}

fn is_debug(name: &str) -> bool {
    name.starts_with(".debug_") || name.starts_with(".zdebug_")
}

/// The total size of the debug sections `without_debug` would remove (0: nothing to do).
pub fn debug_size(bytes: &[u8]) -> u64 {
    let Ok(elf) = Elf::parse_header(bytes) else {
        return 0;
    };
    let Some(ctx) = context(&elf) else { return 0 };
    let Some((headers, names)) = sections(bytes, &elf, ctx) else {
        return 0;
    };
    headers
        .iter()
        .zip(&names)
        .filter(|(s, n)| removable(s, n))
        .map(|(s, _)| s.sh_size)
        .sum()
}

fn removable(s: &SectionHeader, name: &str) -> bool {
    is_debug(name) && s.sh_type != SHT_NOBITS && s.sh_flags & u64::from(SHF_ALLOC) == 0
}

fn context(header: &goblin::elf::Header) -> Option<Ctx> {
    Some(Ctx::new(
        header.container().ok()?,
        header.endianness().ok()?,
    ))
}

fn sections(
    bytes: &[u8],
    header: &goblin::elf::Header,
    ctx: Ctx,
) -> Option<(Vec<SectionHeader>, Vec<String>)> {
    let offset = usize::try_from(header.e_shoff).ok()?;
    let count = usize::from(header.e_shnum);
    if offset == 0 || count == 0 || header.e_shstrndx == 0 {
        return None;
    }
    let headers = SectionHeader::parse(bytes, offset, count, ctx).ok()?;
    let table = headers.get(usize::from(header.e_shstrndx))?;
    let start = usize::try_from(table.sh_offset).ok()?;
    let strings = bytes.get(start..start.checked_add(usize::try_from(table.sh_size).ok()?)?)?;
    let names = headers
        .iter()
        .map(|s| {
            let at = s.sh_name;
            let rest = strings.get(at..)?;
            let end = memchr::memchr(0, rest)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        })
        .collect::<Option<Vec<_>>>()?;
    Some((headers, names))
}

/// The file without its `.debug_*` sections (`.symtab` stays, as with `strip --strip-debug`),
/// or `None` when it has none.
pub fn without_debug(bytes: &[u8]) -> Result<Option<Vec<u8>>, Kept> {
    use goblin::elf::header::{ET_DYN, ET_EXEC};
    let header = Elf::parse_header(bytes).map_err(|_| Kept::Unreadable)?;
    if (header.e_type != ET_DYN && header.e_type != ET_EXEC) || header.e_phnum == 0 {
        return Err(Kept::Unreadable);
    }
    let ctx = context(&header).ok_or(Kept::Unreadable)?;
    let (headers, names) = sections(bytes, &header, ctx).ok_or(Kept::Unreadable)?;
    // Section 0 is the null section, whatever its name says.
    let gone: Vec<bool> = headers
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (s, n))| i > 0 && removable(s, n))
        .collect();
    let Some(first_gone) = gone.iter().position(|g| *g) else {
        return Ok(None);
    };
    let programs = ProgramHeader::parse(
        bytes,
        usize::try_from(header.e_phoff).map_err(|_| Kept::Unreadable)?,
        usize::from(header.e_phnum),
        ctx,
    )
    .map_err(|_| Kept::Unreadable)?;

    // The tail: every section with file bytes that nothing loads. It must start after every
    // segment and every allocated section, and before the section table.
    let has_bytes = |s: &SectionHeader| s.sh_type != SHT_NOBITS && s.sh_type != SHT_NULL;
    let tail_start = headers
        .iter()
        .filter(|s| has_bytes(s) && s.sh_flags & u64::from(SHF_ALLOC) == 0 && s.sh_size > 0)
        .map(|s| s.sh_offset)
        .min()
        .ok_or(Kept::Layout)?;
    let loaded_end = programs
        .iter()
        .map(|p| p.p_offset.saturating_add(p.p_filesz))
        .chain(
            headers
                .iter()
                .filter(|s| has_bytes(s) && s.sh_flags & u64::from(SHF_ALLOC) != 0)
                .map(|s| s.sh_offset.saturating_add(s.sh_size)),
        )
        .max()
        .unwrap_or(0)
        .max(header.e_phoff + u64::from(header.e_phnum) * u64::from(header.e_phentsize));
    if loaded_end > tail_start || header.e_shoff < tail_start {
        return Err(Kept::Layout);
    }
    let in_file = |s: &SectionHeader| {
        s.sh_offset
            .checked_add(s.sh_size)
            .is_some_and(|end| end <= bytes.len() as u64)
    };
    if headers.iter().any(|s| has_bytes(s) && !in_file(s)) {
        return Err(Kept::Unreadable);
    }
    // Every byte of the tail must belong to a section or the section table (but alignment
    // padding): data appended after them (an installer's payload, a signature) would be lost.
    let table_end = header
        .e_shoff
        .saturating_add(u64::from(header.e_shnum) * u64::from(header.e_shentsize));
    let mut pieces: Vec<(u64, u64, u64)> = headers
        .iter()
        .filter(|s| has_bytes(s) && s.sh_offset >= tail_start && s.sh_size > 0)
        .map(|s| (s.sh_offset, s.sh_offset + s.sh_size, s.sh_addralign.max(1)))
        .chain([(header.e_shoff, table_end, 8)])
        .collect();
    pieces.sort_unstable();
    let mut covered = tail_start;
    for (start, end, align) in pieces {
        // A tail section aligned beyond a page is not what a linker writes.
        if align > 4096 || start > covered.saturating_add(align.max(16)) {
            return Err(Kept::Layout);
        }
        covered = covered.max(end);
    }
    if covered < bytes.len() as u64 {
        return Err(Kept::Layout);
    }

    // New indices; a link to a removed section, a section group or an extended index table
    // would need more than renumbering.
    let mut index = Vec::with_capacity(headers.len());
    let mut next = 0u32;
    for g in &gone {
        index.push(if *g { None } else { Some(next) });
        next += u32::from(!g);
    }
    let renumber = |i: u32| -> Result<u32, Kept> {
        match index.get(i as usize) {
            Some(Some(n)) => Ok(*n),
            Some(None) => Err(Kept::Referenced),
            None => Ok(i),
        }
    };
    if headers
        .iter()
        .any(|s| s.sh_type == SHT_GROUP || s.sh_type == SHT_SYMTAB_SHNDX)
    {
        return Err(Kept::Referenced);
    }
    let is_64 = ctx.container == Container::Big;
    let little = ctx.le.is_little();
    // The fields rewritten below must be where the ELF header and section entries have them.
    let (ehsize, shentsize) = if is_64 { (64, 64) } else { (52, 40) };
    if usize::from(header.e_shentsize) != shentsize || tail_start < ehsize {
        return Err(Kept::Unreadable);
    }
    // Symbols name sections by index. The loaded .dynsym cannot change, so none of its symbols
    // may point at or past a removed section. .symtab (in the tail) is renumbered, and loses
    // the section symbols of removed sections (aarch64's ld writes one for every section), as
    // with strip; its first global symbol's index (sh_info) moves down with them.
    let (sym_size, info_at, shndx_at) = if is_64 { (24, 4, 6) } else { (16, 12, 14) };
    // (section, new table, symbols dropped, new sh_info)
    let mut symtabs: Vec<(usize, Vec<u8>, u32, u32)> = Vec::new();
    for (i, s) in headers.iter().enumerate() {
        let dynamic = s.sh_type == goblin::elf::section_header::SHT_DYNSYM;
        if s.sh_type != SHT_SYMTAB && !dynamic {
            continue;
        }
        let start = s.sh_offset as usize;
        let table = &bytes[start..start + s.sh_size as usize];
        if dynamic || s.sh_flags & u64::from(SHF_ALLOC) != 0 {
            let points_past = table.chunks_exact(sym_size).any(|sym| {
                let n = read16(&sym[shndx_at..], little);
                n != 0 && n < 0xff00 && usize::from(n) >= first_gone
            });
            if points_past {
                return Err(Kept::Referenced);
            }
            continue;
        }
        let mut kept = Vec::with_capacity(table.len());
        let mut dropped = 0u32;
        // The new index of the first global symbol: sh_info less the locals dropped.
        let mut dropped_locals = 0u32;
        for (k, sym) in table.chunks_exact(sym_size).enumerate() {
            let n = read16(&sym[shndx_at..], little);
            let mut sym = sym.to_vec();
            if n != 0 && n < 0xff00 {
                match index.get(usize::from(n)) {
                    Some(Some(m)) => write(&mut sym[shndx_at..shndx_at + 2], u64::from(*m), little),
                    // STT_SECTION (3): the symbol of a removed section goes with it.
                    Some(None) if sym[info_at] & 0xf == 3 => {
                        dropped += 1;
                        dropped_locals += u32::from((k as u64) < u64::from(s.sh_info));
                        continue;
                    }
                    Some(None) => return Err(Kept::Referenced),
                    None => {}
                }
            }
            kept.extend_from_slice(&sym);
        }
        symtabs.push((i, kept, dropped, s.sh_info - dropped_locals));
    }
    // Relocations against .symtab would name symbols by index; executables and libraries
    // relocate against .dynsym only.
    if headers.iter().any(|r| {
        (r.sh_type == SHT_REL || r.sh_type == SHT_RELA)
            && symtabs
                .iter()
                .any(|(i, _, dropped, _)| *dropped > 0 && r.sh_link as usize == *i)
    }) {
        return Err(Kept::Referenced);
    }

    // The loaded part as it is, then the kept tail sections, each at its alignment.
    let mut out = bytes[..tail_start as usize].to_vec();
    let mut offsets: Vec<u64> = headers.iter().map(|s| s.sh_offset).collect();
    let mut tail: Vec<usize> = (0..headers.len())
        .filter(|&i| {
            !gone[i]
                && has_bytes(&headers[i])
                && headers[i].sh_flags & u64::from(SHF_ALLOC) == 0
                && headers[i].sh_offset >= tail_start
        })
        .collect();
    tail.sort_by_key(|&i| headers[i].sh_offset);
    for i in tail {
        let s = &headers[i];
        let align = s.sh_addralign.max(1) as usize;
        out.resize(out.len().next_multiple_of(align), 0);
        offsets[i] = out.len() as u64;
        let start = s.sh_offset as usize;
        match symtabs.iter().find(|(t, ..)| *t == i) {
            Some((_, table, ..)) => out.extend_from_slice(table),
            None => out.extend_from_slice(&bytes[start..start + s.sh_size as usize]),
        }
    }

    // The section table, each kept entry copied and its offset, link and info renumbered.
    let entsize = usize::from(header.e_shentsize);
    out.resize(out.len().next_multiple_of(if is_64 { 8 } else { 4 }), 0);
    let shoff = out.len() as u64;
    // (offset, link, info) field positions and the width of offset fields.
    let (f_offset, f_size, f_link, f_info, word) = if is_64 {
        (24, 32, 40, 44, 8)
    } else {
        (16, 20, 24, 28, 4)
    };
    for (i, s) in headers.iter().enumerate() {
        if gone[i] {
            continue;
        }
        let raw = header.e_shoff as usize + i * entsize;
        let mut entry = bytes
            .get(raw..raw + entsize)
            .ok_or(Kept::Unreadable)?
            .to_vec();
        write(&mut entry[f_offset..f_offset + word], offsets[i], little);
        if s.sh_link != 0 {
            let link = renumber(s.sh_link)?;
            write(&mut entry[f_link..f_link + 4], u64::from(link), little);
        }
        let info_is_index = s.sh_flags & u64::from(SHF_INFO_LINK) != 0
            || ((s.sh_type == SHT_REL || s.sh_type == SHT_RELA) && s.sh_info != 0);
        if info_is_index {
            let info = renumber(s.sh_info)?;
            write(&mut entry[f_info..f_info + 4], u64::from(info), little);
        }
        if let Some((_, table, _, first_global)) = symtabs.iter().find(|(t, ..)| *t == i) {
            write(
                &mut entry[f_size..f_size + word],
                table.len() as u64,
                little,
            );
            write(
                &mut entry[f_info..f_info + 4],
                u64::from(*first_global),
                little,
            );
        }
        out.extend_from_slice(&entry);
    }
    let shstrndx = renumber(u32::from(header.e_shstrndx))? as u16;
    let (h_shoff, h_shnum, h_shstrndx) = if is_64 {
        (0x28, 0x3c, 0x3e)
    } else {
        (0x20, 0x30, 0x32)
    };
    write(&mut out[h_shoff..h_shoff + word], shoff, little);
    write(&mut out[h_shnum..h_shnum + 2], u64::from(next), little);
    write(
        &mut out[h_shstrndx..h_shstrndx + 2],
        u64::from(shstrndx),
        little,
    );
    Ok(Some(out))
}

fn read16(b: &[u8], little: bool) -> u16 {
    let pair = [b[0], b[1]];
    if little {
        u16::from_le_bytes(pair)
    } else {
        u16::from_be_bytes(pair)
    }
}

/// `value` into `field` (2, 4 or 8 bytes) in the file's byte order.
fn write(field: &mut [u8], value: u64, little: bool) {
    let n = field.len();
    let bytes = if little {
        value.to_le_bytes()
    } else {
        value.to_be_bytes()
    };
    if little {
        field.copy_from_slice(&bytes[..n]);
    } else {
        field.copy_from_slice(&bytes[8 - n..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::host_binary;

    #[test]
    fn removes_debug_sections_and_keeps_what_loads() {
        let bytes = host_binary();
        let before = debug_size(&bytes);
        assert!(before > 0, "the test binary has debug sections");
        let out = without_debug(&bytes).unwrap().expect("something to remove");
        assert!(out.len() as u64 <= bytes.len() as u64 - before + 4096);
        assert!(super::super::loads_the_same(&bytes, &out));
        assert_eq!(debug_size(&out), 0);
        let elf = Elf::parse(&out).expect("goblin reads the result");
        // (Rust's `.debug_gdb_scripts` is allocated, so it loads and stays.)
        assert!(elf.section_headers.iter().all(|s| {
            !is_debug(elf.shdr_strtab.get_at(s.sh_name).unwrap_or(""))
                || s.sh_flags & u64::from(SHF_ALLOC) != 0
        }));
        // The symbol table stays, and names the same functions at the same addresses.
        let original = Elf::parse(&bytes).unwrap();
        assert!(!elf.syms.is_empty());
        assert_eq!(elf.syms.len(), original.syms.len());
        for (a, b) in elf.syms.iter().zip(original.syms.iter()) {
            assert_eq!(
                (a.st_value, a.st_name, a.st_info),
                (b.st_value, b.st_name, b.st_info)
            );
        }
        // Nothing more to do the second time.
        assert_eq!(without_debug(&out).unwrap(), None);
    }

    #[test]
    fn a_section_after_the_tail_that_loads_keeps_the_file() {
        // Relabel the test binary's first debug section as allocated: it now lies among
        // sections that load, so the layout rule refuses.
        let mut bytes = host_binary();
        let header = Elf::parse_header(&bytes).unwrap();
        let ctx = context(&header).unwrap();
        let (_, names) = sections(&bytes, &header, ctx).unwrap();
        let i = names.iter().position(|n| n == ".debug_info").unwrap();
        let flags = header.e_shoff as usize + i * usize::from(header.e_shentsize) + 8;
        bytes[flags] |= SHF_ALLOC as u8;
        assert!(
            names.iter().any(|n| n == ".debug_line"),
            "another to remove"
        );
        assert_eq!(without_debug(&bytes), Err(Kept::Layout));
    }

    #[test]
    fn damaged_files_are_refused_or_stripped_never_a_panic() {
        let bytes = host_binary();
        let header = Elf::parse_header(&bytes).unwrap();
        let table = header.e_shoff as usize;
        let mut x: u32 = 7;
        for round in 0..60 {
            let mut damaged = bytes.clone();
            // Bytes of the section table, the ELF header's section fields, or a cut.
            for _ in 0..4 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = match round % 3 {
                    0 => table + (x as usize % (damaged.len() - table)),
                    1 => 0x28 + (x as usize % 0x18),
                    _ => x as usize % damaged.len(),
                };
                damaged[at] = (x >> 16) as u8;
            }
            if round % 5 == 0 {
                damaged.truncate(x as usize % bytes.len());
            }
            if let Ok(Some(out)) = without_debug(&damaged) {
                let _ = super::super::loads_the_same(&damaged, &out);
            }
            let _ = debug_size(&damaged);
        }
    }

    #[test]
    fn data_after_the_section_table_keeps_the_file() {
        // An installer's payload or a signature appended to a binary: no section holds it, so
        // rewriting the tail would drop it.
        let mut bytes = host_binary();
        bytes.extend_from_slice(&[0xab; 100_000]);
        assert_eq!(without_debug(&bytes), Err(Kept::Layout));
    }

    #[test]
    fn not_elf_is_unreadable() {
        assert_eq!(without_debug(b"import os\n"), Err(Kept::Unreadable));
        assert_eq!(debug_size(b"import os\n"), 0);
    }
}
