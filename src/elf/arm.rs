//! ARM specifics: the ARM ELF ABI constants, the `.ARM.attributes` build-attributes parser
//! (ARM IHI 0045) and the names of its architecture values. A leaf: uses nothing else of `elf`.

use serde::Serialize;

/// ARM ELF ABI: section type of `.ARM.attributes`, and the `e_flags` bits that matter.
pub(super) const SHT_ARM_ATTRIBUTES: u32 = 0x7000_0003;
pub(super) const EF_ARM_EABI_MASK: u32 = 0xFF00_0000;
pub(super) const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;
pub(super) const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
pub(super) const EM_ARM: u16 = 40;

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
/// not parse this section, and the `object` crate's reader would still need this tag table,
/// reads a sub-subsection tag as one byte instead of a ULEB128 and refuses unknown ones (and
/// would be a second ELF crate). `None` when it is malformed.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
