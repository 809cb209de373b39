//! The target catalogue: one TOML file per target in `targets/`, compiled into the binary, plus
//! a user's own file (`--target-file`). A file may `extends = "<name>"` another target: its
//! tables are merged over the base's, key by key; `aliases` is never inherited.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Catalogue order matters: detection (`elf::detect_target`) tries the targets of a header's
/// architecture in this order, so the plain architectures come first and armv6 before armv7.
const SOURCES: &[(&str, &str)] = &[
    ("x86_64", include_str!("../../targets/x86_64.toml")),
    ("i686", include_str!("../../targets/i686.toml")),
    ("aarch64", include_str!("../../targets/aarch64.toml")),
    ("armv6", include_str!("../../targets/armv6.toml")),
    ("armv7", include_str!("../../targets/armv7.toml")),
    ("riscv64", include_str!("../../targets/riscv64.toml")),
    ("ppc64le", include_str!("../../targets/ppc64le.toml")),
    ("s390x", include_str!("../../targets/s390x.toml")),
    (
        "x86_64-musl",
        include_str!("../../targets/x86_64-musl.toml"),
    ),
    (
        "aarch64-musl",
        include_str!("../../targets/aarch64-musl.toml"),
    ),
    (
        "debian-11-aarch64",
        include_str!("../../targets/debian-11-aarch64.toml"),
    ),
    (
        "debian-11-armv7",
        include_str!("../../targets/debian-11-armv7.toml"),
    ),
    (
        "debian-11-x86_64",
        include_str!("../../targets/debian-11-x86_64.toml"),
    ),
    (
        "debian-12-aarch64",
        include_str!("../../targets/debian-12-aarch64.toml"),
    ),
    (
        "debian-12-armv7",
        include_str!("../../targets/debian-12-armv7.toml"),
    ),
    (
        "debian-12-x86_64",
        include_str!("../../targets/debian-12-x86_64.toml"),
    ),
    (
        "debian-13-aarch64",
        include_str!("../../targets/debian-13-aarch64.toml"),
    ),
    (
        "debian-13-armv7",
        include_str!("../../targets/debian-13-armv7.toml"),
    ),
    (
        "debian-13-x86_64",
        include_str!("../../targets/debian-13-x86_64.toml"),
    ),
    (
        "rpios-bookworm-aarch64",
        include_str!("../../targets/rpios-bookworm-aarch64.toml"),
    ),
    (
        "rpios-bookworm-armv6",
        include_str!("../../targets/rpios-bookworm-armv6.toml"),
    ),
    (
        "rpios-bookworm-armv7",
        include_str!("../../targets/rpios-bookworm-armv7.toml"),
    ),
    (
        "rpios-bullseye-aarch64",
        include_str!("../../targets/rpios-bullseye-aarch64.toml"),
    ),
    (
        "rpios-bullseye-armv6",
        include_str!("../../targets/rpios-bullseye-armv6.toml"),
    ),
    (
        "rpios-trixie-aarch64",
        include_str!("../../targets/rpios-trixie-aarch64.toml"),
    ),
    (
        "rpios-trixie-armv6",
        include_str!("../../targets/rpios-trixie-armv6.toml"),
    ),
    (
        "ubuntu-20.04-aarch64",
        include_str!("../../targets/ubuntu-20.04-aarch64.toml"),
    ),
    (
        "ubuntu-20.04-x86_64",
        include_str!("../../targets/ubuntu-20.04-x86_64.toml"),
    ),
    (
        "ubuntu-22.04-aarch64",
        include_str!("../../targets/ubuntu-22.04-aarch64.toml"),
    ),
    (
        "ubuntu-22.04-x86_64",
        include_str!("../../targets/ubuntu-22.04-x86_64.toml"),
    ),
    (
        "ubuntu-24.04-aarch64",
        include_str!("../../targets/ubuntu-24.04-aarch64.toml"),
    ),
    (
        "ubuntu-24.04-x86_64",
        include_str!("../../targets/ubuntu-24.04-x86_64.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Wheel platform tags, most specific first (pip's `--platform`).
    #[serde(default)]
    pub wheel_platforms: Vec<String>,
    pub elf: ElfIdentity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<ArmProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub riscv: Option<RiscvProfile>,
    pub libc: Libc,
    /// For a distribution preset: the archive its own CPython comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// How to cross-compile C extensions for this CPU on a Debian build machine (glibc targets
    /// only: the compilers named here link against glibc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross: Option<Cross>,
}

/// A Debian cross compiler for the target's CPU and the platform name `sysconfig` gives there.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Cross {
    /// The C compiler's command (`arm-linux-gnueabihf-gcc`); the C++ one is the same with `g++`.
    pub gcc: String,
    /// The Debian package that provides it (`gcc-arm-linux-gnueabihf`).
    pub package: String,
    /// `sysconfig.get_platform()` on the target (`linux-armv7l`): the built wheel's platform.
    pub platform: String,
}

/// A distribution release in a Debian-style archive (Debian, Raspbian, Ubuntu).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// `debian`, `raspbian`, `ubuntu`: names the `RVENV_<NAME>_MIRROR` variable.
    pub name: String,
    /// The suite's codename (`bookworm`).
    pub release: String,
    /// Debian's architecture name (`arm64`, `armhf`).
    pub architecture: String,
    pub component: String,
    /// The CPython versions (`3.11`) the release packages, the default first.
    pub python: Vec<String>,
    /// The archive's public default, used when nothing nearer is named.
    pub mirror: String,
    /// The keyring file its `InRelease` is signed with, on a build machine of that family.
    pub keyring: String,
    /// Whether the build machine's apt sources may name a mirror of this archive (Debian's
    /// do; an Ubuntu machine's name the x86 archive, not the ports one).
    #[serde(default)]
    pub apt_sources: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ElfIdentity {
    /// 32 or 64.
    pub class: u8,
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
    /// Accepted `EI_OSABI` values.
    pub osabi: Vec<u8>,
    /// Accepted `PT_INTERP` paths.
    pub loaders: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

/// What a 32-bit ARM board runs: the float ABI from `e_flags`, and the values of
/// `Tag_CPU_arch`, `Tag_FP_arch` and `Tag_Advanced_SIMD_arch` (`.ARM.attributes`) it accepts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArmProfile {
    pub float_abi: FloatAbi,
    pub cpu_arch: Vec<u8>,
    pub fp_arch: Vec<u8>,
    pub simd_arch: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FloatAbi {
    Soft,
    Hard,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RiscvProfile {
    pub float_abi: RiscvFloatAbi,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RiscvFloatAbi {
    Soft,
    Single,
    Double,
    Quad,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Libc {
    pub kind: LibcKind,
    /// The highest `GLIBC_x.y` symbol version allowed (glibc targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<GlibcVersion>,
    /// The highest `GLIBCXX_3.4.n` the image's libstdc++.so.6 provides (GCC 10: 3.4.28,
    /// GCC 12: 3.4.30, GCC 14: 3.4.33); unset when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibcxx: Option<GlibcxxVersion>,
    /// Libraries (sonames) a stock image of the target provides.
    pub system_libs: Vec<String>,
}

/// `3.4.30` (a `GLIBCXX_` symbol version), ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcxxVersion(pub u32, pub u32, pub u32);

impl GlibcxxVersion {
    pub fn parse(text: &str) -> Option<GlibcxxVersion> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next()??, parts.next()??);
        let patch = match parts.next() {
            None => 0,
            Some(p) => p?,
        };
        parts
            .next()
            .is_none()
            .then_some(GlibcxxVersion(major, minor, patch))
    }
}

impl std::fmt::Display for GlibcxxVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl<'de> Deserialize<'de> for GlibcxxVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        GlibcxxVersion::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not a GLIBCXX version like 3.4.30"))
        })
    }
}

impl Serialize for GlibcxxVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LibcKind {
    Glibc,
    Musl,
}

/// `2.36`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl GlibcVersion {
    /// `2.36`; a third part (`2.2.5`) is ignored, as it never decides the highest version.
    pub fn parse(text: &str) -> Option<GlibcVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(GlibcVersion(major, minor))
    }
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl<'de> Deserialize<'de> for GlibcVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        GlibcVersion::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not a glibc version like 2.36"))
        })
    }
}

impl Serialize for GlibcVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown target '{name}'{}", if .closest.is_empty() { String::new() } else { format!("; did you mean {}?", .closest.join(" or ")) })]
    Unknown { name: String, closest: Vec<String> },
    #[error("{file}: {message}")]
    BadTargetFile { file: String, message: String },
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Unknown { .. } => Some(
                "`rvenv targets` lists every target; `rvenv probe` on a board writes a target file for --target-file",
            ),
            Error::BadTargetFile { .. } => None,
        }
    }
}

/// Up to three names or aliases nearest to `wanted` (by edit distance, case-insensitive), for
/// a typo: `rpios-bookwrom-aarch64` → `rpios-bookworm-aarch64`.
fn closest(wanted: &str) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = catalogue()
        .iter()
        .flat_map(|t| std::iter::once(t.name.as_str()).chain(t.aliases.iter().map(String::as_str)))
        .map(|n| (strsim::levenshtein(&wanted, &n.to_ascii_lowercase()), n))
        .collect();
    scored.sort();
    let Some(&(best, _)) = scored.first() else {
        return Vec::new();
    };
    // A typo, not another name: within a third of the name's length.
    if best > wanted.len().max(3) / 3 {
        return Vec::new();
    }
    let mut names: Vec<String> = Vec::new();
    for (d, n) in scored {
        if d == best && names.len() < 3 && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}

fn bad(file: &str, message: impl Into<String>) -> Error {
    Error::BadTargetFile {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Parses one target file, resolving `extends` against `lookup` (the built-in sources).
fn parse_with(
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<&'static str>,
    depth: usize,
) -> Result<toml::Table, Error> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| bad(file, e.to_string()))?;
    let Some(base) = table.remove("extends") else {
        return Ok(table);
    };
    let base = base
        .as_str()
        .ok_or_else(|| bad(file, "'extends' must name a target"))?
        .to_string();
    if depth > 8 {
        return Err(bad(file, "'extends' goes more than 8 levels deep"));
    }
    let base_text =
        lookup(&base).ok_or_else(|| bad(file, format!("extends unknown target '{base}'")))?;
    let mut merged = parse_with(
        &format!("targets/{base}.toml"),
        base_text,
        lookup,
        depth + 1,
    )?;
    merged.remove("aliases");
    merge(&mut merged, table);
    Ok(merged)
}

/// Parses one target file; unknown keys are an error.
pub fn parse(file: &str, text: &str) -> Result<Target, Error> {
    let lookup = |name: &str| SOURCES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
    let table = parse_with(file, text, &lookup, 0)?;
    let mut target: Target = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| bad(file, e.to_string()))?;
    // A musl target extending a glibc one has no glibc to inherit.
    if target.libc.kind == LibcKind::Musl {
        target.libc.glibc = None;
        target.libc.glibcxx = None;
    }
    if target.libc.kind == LibcKind::Glibc && target.libc.glibc.is_none() {
        return Err(bad(file, "a glibc target needs libc.glibc"));
    }
    let generic = target
        .wheel_platforms
        .iter()
        .filter(|p| p.starts_with("linux_"))
        .count();
    if generic != 1 {
        return Err(bad(
            file,
            "wheel_platforms needs exactly one linux_<arch> tag (it names the architecture of wheels and markers)",
        ));
    }
    Ok(target)
}

/// Reads a user's target file (`--target-file`).
pub fn from_file(path: &std::path::Path) -> Result<Target, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| bad(&file, e.to_string()))?;
    parse(&file, &text)
}

/// The target to check against: chosen, or `None` to detect it from the interpreter.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub target: Option<Target>,
    /// `--glibc`: overrides the target's glibc.
    pub glibc: Option<GlibcVersion>,
}

/// The built-in catalogue, parsed once. The files are checked by a unit test, so a parse
/// failure here is a build defect.
pub fn catalogue() -> &'static [Target] {
    static CATALOGUE: OnceLock<Vec<Target>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| {
                parse(&format!("targets/{name}.toml"), text).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    })
}

impl Target {
    /// The wheel architecture (`aarch64`, `armv7l`), also PEP 508's `platform_machine`: what
    /// the target's userland reports (a 32-bit userland says `armv7l` even on a 64-bit kernel,
    /// as CPython's own tags do).
    pub fn machine_name(&self) -> &str {
        self.wheel_platforms
            .iter()
            .find_map(|p| p.strip_prefix("linux_"))
            .expect("checked when parsed")
    }

    /// Every wheel platform tag the target runs, most specific first, as pip ranks them:
    /// `manylinux_2_N` from the target's glibc (or `glibc`) down to 2_17 (2_5 on x86), each
    /// legacy alias beside its equivalent, then the `musllinux` tags listed, then `linux_<arch>`.
    /// pip does not expand `manylinux_x_y` itself, so this list is passed to it in full.
    /// The loader's file name in each accepted `PT_INTERP` (`ld-linux-armhf.so.3`): some
    /// programs name it in DT_NEEDED, and every board has it.
    pub fn loader_names(&self) -> Vec<&str> {
        self.elf
            .loaders
            .iter()
            .filter_map(|l| l.rsplit('/').next())
            .collect()
    }

    pub fn platform_tags(&self, glibc: Option<GlibcVersion>) -> Vec<String> {
        let arch = self.machine_name();
        let mut tags = Vec::new();
        let has_manylinux = self
            .wheel_platforms
            .iter()
            .any(|p| p.starts_with("manylinux"));
        if let (LibcKind::Glibc, Some(GlibcVersion(2, newest)), true) =
            (self.libc.kind, glibc.or(self.libc.glibc), has_manylinux)
        {
            let x86 = matches!(arch, "x86_64" | "i686");
            let oldest = if x86 { 5 } else { 17 };
            for minor in (oldest..=newest).rev() {
                tags.push(format!("manylinux_2_{minor}_{arch}"));
                let legacy = match minor {
                    17 => Some("manylinux2014"),
                    12 if x86 => Some("manylinux2010"),
                    5 if x86 => Some("manylinux1"),
                    _ => None,
                };
                tags.extend(legacy.map(|l| format!("{l}_{arch}")));
            }
        }
        tags.extend(
            self.wheel_platforms
                .iter()
                .filter(|p| p.starts_with("musllinux"))
                .cloned(),
        );
        tags.push(format!("linux_{arch}"));
        tags
    }

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
            closest: closest(name),
        })
}

/// The targets whose ELF identity matches a header, in catalogue order (the plain
/// architectures first; for ARM the stricter armv6 before armv7).
pub fn candidates(
    class: u8,
    endian: Endian,
    machine: u16,
) -> impl Iterator<Item = &'static Target> {
    catalogue()
        .iter()
        .filter(move |t| t.elf.class == class && t.elf.endian == endian && t.elf.machine == machine)
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
            .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
            .collect();
        on_disk.sort();
        let mut compiled: Vec<String> = SOURCES.iter().map(|(n, _)| n.to_string()).collect();
        compiled.sort();
        assert_eq!(on_disk, compiled, "targets/ and SOURCES differ");
        for ((file, _), t) in SOURCES.iter().zip(catalogue()) {
            assert_eq!(*file, t.name, "a target is named after its file");
            assert!(
                !t.elf.loaders.is_empty() && !t.libc.system_libs.is_empty(),
                "{}",
                t.name
            );
            assert_eq!(
                t.arm.is_some(),
                t.elf.machine == 40,
                "{}: [arm] exactly for ARM",
                t.name
            );
        }
        // Names and aliases are unique across the catalogue.
        let mut all: Vec<String> = catalogue()
            .iter()
            .flat_map(|t| {
                std::iter::once(t.name.to_lowercase())
                    .chain(t.aliases.iter().map(|a| a.to_lowercase()))
            })
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a name or alias is used twice");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = "name='x'\ndescription='d'\nbogus=1\n[elf]\nclass=64\nendian='little'\nmachine=62\nosabi=[0]\nloaders=[]\n[libc]\nkind='musl'\nsystem_libs=[]\n";
        let err = parse("x.toml", text).unwrap_err().to_string();
        assert!(err.contains("bogus") && err.starts_with("x.toml"), "{err}");
        let err = parse(
            "y.toml",
            "extends='aarch64'\nname='y'\ndescription='d'\n[libc]\nglibcc='2.31'\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("glibcc"), "{err}");
    }

    #[test]
    fn extends_merges_tables_and_drops_aliases() {
        let t = parse(
            "p.toml",
            "extends='armv6'\nname='p'\ndescription='d'\n[libc]\nglibc='2.31'\n",
        )
        .unwrap();
        assert_eq!(t.libc.glibc, Some(GlibcVersion(2, 31)));
        assert_eq!(t.elf.machine, 40);
        assert_eq!(t.arm.as_ref().unwrap().fp_arch, vec![0, 1, 2]);
        assert!(t.aliases.is_empty());
        let t = find("rpios-bullseye-aarch64").unwrap();
        assert_eq!(
            (t.libc.glibc, t.elf.machine),
            (Some(GlibcVersion(2, 31)), 183)
        );
        assert!(t.libc.system_libs.contains(&"libssl.so.1.1".to_string()));
    }

    #[test]
    fn aliases_find_targets() {
        assert_eq!(find("arm64").unwrap().name, "aarch64");
        assert_eq!(find("aarch64-unknown-linux-gnu").unwrap().name, "aarch64");
        assert_eq!(find("AMD64").unwrap().name, "x86_64");
        assert_eq!(find("armhf").unwrap().name, "armv7");
        // The unknown: the nearest names, not the whole catalogue (below).
        let err = find("sparc").unwrap_err().to_string();
        assert!(!err.contains("x86_64"), "{err}");
    }

    #[test]
    fn detection_by_header() {
        let first = |c, e, m| candidates(c, e, m).next().map(|t| t.name.as_str());
        assert_eq!(first(64, Endian::Little, 62), Some("x86_64"));
        assert_eq!(first(64, Endian::Little, 183), Some("aarch64"));
        assert_eq!(first(64, Endian::Big, 22), Some("s390x"));
        assert_eq!(first(64, Endian::Big, 62), None);
        let arm: Vec<&str> = candidates(32, Endian::Little, 40)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(&arm[..2], ["armv6", "armv7"], "armv6 is tried before armv7");
    }

    #[test]
    fn glibc_versions_order_numerically() {
        assert!(GlibcVersion::parse("2.9").unwrap() < GlibcVersion::parse("2.17").unwrap());
        assert!(GlibcVersion::parse("2").is_none());
        assert_eq!(GlibcVersion::parse("2.2.5"), Some(GlibcVersion(2, 2)));
        assert!(GlibcxxVersion::parse("3.4.9").unwrap() < GlibcxxVersion::parse("3.4.30").unwrap());
        assert_eq!(GlibcxxVersion::parse("3.4"), Some(GlibcxxVersion(3, 4, 0)));
        assert!(GlibcxxVersion::parse("3.4.x").is_none());
        assert_eq!(
            find("debian-11-x86_64").unwrap().libc.glibcxx,
            Some(GlibcxxVersion(3, 4, 28))
        );
        assert_eq!(find("x86_64-musl").unwrap().libc.glibcxx, None);
    }

    #[test]
    fn a_typo_gets_the_nearest_names_and_a_stranger_none() {
        let Err(e) = find("rpios-bookwrom-aarch64") else {
            panic!("found")
        };
        assert_eq!(
            e.to_string(),
            "unknown target 'rpios-bookwrom-aarch64'; did you mean rpios-bookworm-aarch64?"
        );
        let Err(e) = find("debian-12-armv8") else {
            panic!("found")
        };
        assert!(
            e.to_string().contains("did you mean debian-12-armv7?"),
            "{e}"
        );
        let Err(e) = find("windows") else {
            panic!("found")
        };
        assert_eq!(e.to_string(), "unknown target 'windows'");
    }
}
