//! The verdict on one ELF file: what makes it not load on a target (architecture, OS ABI,
//! ARM float ABI and build attributes, RISC-V float ABI, loader, glibc and libstdc++ versions),
//! as `Problem`s; and which target a binary was built for. Depends on `file` and `arm`.

use super::arm::{
    EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_SOFT, EF_ARM_EABI_MASK, EM_ARM, cpu_arch_name,
    fp_arch_name, simd_arch_name,
};
use super::file::{ElfFile, machine_name};
use crate::target::{FloatAbi, GlibcVersion, LibcKind, RiscvFloatAbi, Target};
use serde::Serialize;

/// RISC-V `e_flags` float ABI field.
const EF_RISCV_FLOAT_ABI: u32 = 0x6;
const EM_RISCV: u16 = 243;

impl ElfFile {
    /// Why this file cannot load on `target`, checking the file alone (libraries are resolved
    /// over the whole tree by [`super::Report`]).
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
    /// A RUNPATH/RPATH entry that points outside the environment.
    SearchPath,
    Malformed,
    Foreign,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 11] = [
        ProblemKind::Architecture,
        ProblemKind::OsAbi,
        ProblemKind::FloatAbi,
        ProblemKind::ArmArch,
        ProblemKind::Loader,
        ProblemKind::Glibc,
        ProblemKind::Libstdcxx,
        ProblemKind::MissingLibrary,
        ProblemKind::SearchPath,
        ProblemKind::Malformed,
        ProblemKind::Foreign,
    ];

    /// The kind's name in `--json` (`arm-arch`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub(super) fn new(kind: ProblemKind, message: String, hint: Option<String>) -> Problem {
        Problem {
            kind,
            message,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::host_binary;
    use std::path::Path;

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
}
