//! `rvenv probe`: describes the machine it runs on (or a mounted root filesystem, `--root`) as a
//! target file, read from its own userland's binaries, never from the kernel.
//!
//! Why not `uname -m`: it names the kernel's CPU, not the userland's ABI. A Raspberry Pi OS
//! 32-bit image (armhf userland, ARMv6/v7 code) commonly runs a 64-bit kernel, where `uname -m`
//! says `aarch64`, and an x86-64 kernel runs i386 containers; a bundle must match the userland,
//! since that is whose loader and libc will load it. So the probe reads the ELF header of the
//! programs the system itself runs (`/bin/sh`, then `/usr/bin/env`, `/sbin/init`, ...): their
//! class, machine and flags are the userland's ABI, and their `PT_INTERP` names its loader. A
//! static `/bin/sh` (BusyBox) has no `PT_INTERP`; its header still gives the ABI, and the loader
//! is then the one of that ABI in the standard library directories. Paths are resolved inside
//! the root (absolute symlinks included), so a mounted SD card is read as the board sees it.

use crate::elf::{ArmAttributes, ElfFile};
use crate::target::{
    ArmProfile, ElfIdentity, Endian, FloatAbi, GlibcVersion, GlibcxxVersion, Libc, LibcKind,
    RiscvFloatAbi, RiscvProfile, Target,
};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid ELF file: {message}")]
    Elf { path: PathBuf, message: String },
    #[error("{root}: none of {tried} is an ELF program to learn the userland's ABI from")]
    NoProgram { root: PathBuf, tried: String },
    #[error(
        "{root}: no dynamic loader for {abi} (the ABI of {program}) in the library directories"
    )]
    NoLoader {
        root: PathBuf,
        program: PathBuf,
        abi: String,
    },
    #[error("{path}: the loader named by PT_INTERP of {program} is not there")]
    MissingLoader { path: PathBuf, program: PathBuf },
    #[error(
        "{root}: no libc.so.6 for {abi} beside the loader {loader} or in the library directories"
    )]
    NoLibc {
        root: PathBuf,
        loader: PathBuf,
        abi: String,
    },
    #[error("{path}: defines no GLIBC_x.y version")]
    NoGlibcVersion { path: PathBuf },
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::error::Hint for Error {}

/// Programs whose ELF header is the userland's, in order of preference.
const PROGRAMS: &[&str] = &[
    "/bin/sh",
    "/usr/bin/env",
    "/sbin/init",
    "/bin/ls",
    "/usr/bin/ls",
    "/bin/busybox",
];

/// Standard library directories (before the multiarch ones and /etc/ld.so.conf's).
const LIB_DIRS: &[&str] = &[
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
    "/lib32",
    "/usr/lib32",
];

/// What was found, for the header comment of the file.
pub struct Probe {
    pub target: Target,
    pub program: String,
    pub loader: String,
    pub libc: String,
    pub os: Option<String>,
}

/// Resolves `path` (absolute, as the board sees it) inside `root`, following symlinks with
/// absolute targets relative to `root`. Returns the board path and the host path, or `None`
/// when it does not exist or loops.
fn resolve(root: &Path, path: &str) -> Option<(String, PathBuf)> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(c);
        let host = root.join(cur.join("/"));
        let meta = host.symlink_metadata().ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            cur.pop();
            if target.is_absolute() {
                cur.clear();
            }
            for part in target.components().rev() {
                match part {
                    Component::Normal(p) => todo.push(p.to_string_lossy().into_owned()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    let board = format!("/{}", cur.join("/"));
    let host = root.join(cur.join("/"));
    host.exists().then_some((board, host))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Maps an ELF file (only its headers and the sections goblin reads are then touched: a board
/// has libraries of hundreds of MB). `None` when it cannot be read or is no ELF file.
fn map_elf(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: read-only mapping of a file nobody is expected to truncate while rvenv reads it;
    // the same assumption as `rvenv check`'s.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    crate::elf::is_elf(&map).then_some(map)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<ElfFile, Error> {
    ElfFile::parse(bytes, path).map_err(|e| Error::Elf {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The ELF identity a loader of the userland must share with its programs.
fn same_abi(a: &ElfFile, b: &ElfFile) -> bool {
    a.class == b.class
        && a.endian == b.endian
        && a.machine == b.machine
        && float_abi_bits(a) == float_abi_bits(b)
}

/// The `e_flags` bits that make two ABIs of one machine incompatible (ARM float ABI, RISC-V
/// float ABI); 0 for others.
fn float_abi_bits(e: &ElfFile) -> u32 {
    match e.machine {
        40 => e.flags & (0x200 | 0x400),
        243 => e.flags & 0x6,
        _ => 0,
    }
}

/// Debian's multiarch directory names for an ABI.
fn triplets(e: &ElfFile) -> &'static [&'static str] {
    match (e.machine, e.class) {
        (62, 64) => &["x86_64-linux-gnu"],
        (3, 32) => &["i386-linux-gnu"],
        (183, 64) => &["aarch64-linux-gnu"],
        (40, 32) if e.flags & 0x400 != 0 => &["arm-linux-gnueabihf"],
        (40, 32) => &["arm-linux-gnueabi"],
        (243, 64) => &["riscv64-linux-gnu"],
        (21, 64) => &["powerpc64le-linux-gnu", "powerpc64-linux-gnu"],
        (22, 64) => &["s390x-linux-gnu"],
        _ => &[],
    }
}

/// The library directories of the userland: the standard ones, the multiarch ones for its ABI
/// and those named in /etc/ld.so.conf (and the files it includes), as board paths.
fn library_dirs(root: &Path, abi: &ElfFile) -> Vec<String> {
    let mut dirs: Vec<String> = LIB_DIRS.iter().map(|d| d.to_string()).collect();
    for t in triplets(abi) {
        dirs.push(format!("/lib/{t}"));
        dirs.push(format!("/usr/lib/{t}"));
    }
    let mut seen = BTreeSet::new();
    ld_so_conf(root, "/etc/ld.so.conf", &mut dirs, &mut seen, 0);
    let mut unique = BTreeSet::new();
    dirs.retain(|d| unique.insert(d.clone()));
    dirs
}

/// Adds the directories of one ld.so.conf file; `include` lines take a glob with `*` in the
/// file name (as Debian's `include /etc/ld.so.conf.d/*.conf`).
fn ld_so_conf(
    root: &Path,
    file: &str,
    dirs: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > 8 || !seen.insert(file.to_string()) {
        return;
    }
    let Some((_, host)) = resolve(root, file) else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(host) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            let pattern = if pattern.starts_with('/') {
                pattern.to_string()
            } else {
                format!("/etc/{pattern}")
            };
            let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", &pattern));
            let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
            let Some((board_dir, host_dir)) = resolve(root, dir) else {
                continue;
            };
            let mut files: Vec<String> = std::fs::read_dir(host_dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| {
                    n.starts_with(prefix)
                        && n.ends_with(suffix)
                        && n.len() >= prefix.len() + suffix.len()
                        && (name.contains('*') || n == name)
                })
                .collect();
            files.sort();
            for f in files {
                ld_so_conf(root, &format!("{board_dir}/{f}"), dirs, seen, depth + 1);
            }
        } else if line.starts_with('/') {
            dirs.push(line.trim_end_matches('/').to_string());
        }
    }
}

/// The userland's first ELF program among `PROGRAMS`.
fn userland_program(root: &Path) -> Result<(String, PathBuf, ElfFile), Error> {
    for p in PROGRAMS {
        let Some((_, host)) = resolve(root, p) else {
            continue;
        };
        let bytes = read(&host)?;
        if !crate::elf::is_elf(&bytes) {
            continue;
        }
        return Ok((p.to_string(), host.clone(), parse(&host, &bytes)?));
    }
    Err(Error::NoProgram {
        root: root.to_path_buf(),
        tried: PROGRAMS.join(", "),
    })
}

fn is_loader_name(name: &str) -> bool {
    name.starts_with("ld-linux") || name.starts_with("ld64.so") || name.starts_with("ld-musl-")
}

/// Files of the library directories whose name satisfies `wanted` and whose ELF identity is
/// `abi`'s: (board path of the name, host path, parsed file).
fn find_in_dirs(
    root: &Path,
    dirs: &[String],
    abi: &ElfFile,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<(String, PathBuf, ElfFile)> {
    let mut found = Vec::new();
    for dir in dirs {
        let Some((board_dir, host_dir)) = resolve(root, dir) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&host_dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| wanted(n))
            .collect();
        names.sort();
        for name in names {
            let board = format!("{}/{name}", board_dir.trim_end_matches('/'));
            let Some((_, host)) = resolve(root, &board) else {
                continue;
            };
            let Some(bytes) = map_elf(&host) else {
                continue;
            };
            if let Ok(e) = ElfFile::parse(&bytes, &host)
                && same_abi(&e, abi)
            {
                found.push((board, host, e));
            }
        }
    }
    found
}

/// The highest `PREFIX<version>` version definition of a shared library, or an error naming it.
fn highest_definition<V: Ord>(
    path: &Path,
    bytes: &[u8],
    prefix: &str,
    parse_version: impl Fn(&str) -> Option<V>,
) -> Result<Option<V>, Error> {
    crate::elf::highest_version_definition(bytes, prefix, parse_version).map_err(|message| {
        Error::Elf {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// `Tag_CPU_arch` values whose code a CPU of architecture `v` runs (ARM IHI 0045: 6 v6,
/// 7 v6KZ, 8 v6T2, 9 v6K, 10 v7, 14 v8-A); v6KZ includes v6K, v6T2 and v6K are siblings.
fn cpu_arch_implied(v: u8) -> Vec<u8> {
    match v {
        0..=6 => (0..=v).collect(),
        7 => vec![0, 1, 2, 3, 4, 5, 6, 7, 9],
        8 => vec![0, 1, 2, 3, 4, 5, 6, 8],
        9 => vec![0, 1, 2, 3, 4, 5, 6, 9],
        10 => (0..=10).collect(),
        14 => (0..=10).chain([14]).collect(),
        _ => (0..=v).collect(),
    }
}

/// `Tag_FP_arch` values a unit of kind `v` runs: 1 VFPv1, 2 VFPv2, 3 VFPv3 (32 registers),
/// 4 VFPv3-D16, 5 VFPv4, 6 VFPv4-D16, 7 ARMv8 FP; a D16 unit does not run 32-register code.
fn fp_arch_implied(v: u8) -> Vec<u8> {
    match v {
        0..=2 => (0..=v).collect(),
        3 => vec![0, 1, 2, 3, 4],
        4 => vec![0, 1, 2, 4],
        5 => vec![0, 1, 2, 3, 4, 5, 6],
        6 => vec![0, 1, 2, 4, 6],
        _ => (0..=v).collect(),
    }
}

/// The ARM profile of the userland, from the loader's `e_flags` and `.ARM.attributes`. The
/// loader, not libc.so.6: glibc's libc records NEON and VFPv3-D32 for string functions it picks
/// at run time (IFUNC), while the loader runs on every board of the userland's baseline.
fn arm_profile(loader: &ElfFile) -> ArmProfile {
    let float_abi = if loader.flags & 0x400 != 0 {
        FloatAbi::Hard
    } else {
        FloatAbi::Soft
    };
    let attrs = loader.arm.clone().flatten().unwrap_or_default();
    let ArmAttributes {
        cpu_arch,
        fp_arch,
        simd_arch,
    } = attrs;
    ArmProfile {
        float_abi,
        cpu_arch: cpu_arch_implied(cpu_arch.unwrap_or(0)),
        fp_arch: fp_arch_implied(fp_arch.unwrap_or(0)),
        simd_arch: (0..=simd_arch.unwrap_or(0)).collect(),
    }
}

fn riscv_profile(loader: &ElfFile) -> RiscvProfile {
    let float_abi = match loader.flags & 0x6 {
        0 => RiscvFloatAbi::Soft,
        2 => RiscvFloatAbi::Single,
        4 => RiscvFloatAbi::Double,
        _ => RiscvFloatAbi::Quad,
    };
    RiscvProfile { float_abi }
}

/// `PRETTY_NAME` of /etc/os-release (or /usr/lib/os-release).
fn os_name(root: &Path) -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .filter_map(|p| resolve(root, p))
        .filter_map(|(_, host)| std::fs::read_to_string(host).ok())
        .find_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
}

/// The manylinux tags a glibc version accepts, from the catalogue's list for the architecture.
fn wheel_platforms(base: Option<&Target>, glibc: Option<GlibcVersion>) -> Vec<String> {
    let Some(base) = base else {
        return Vec::new();
    };
    let arch = base
        .wheel_platforms
        .iter()
        .find_map(|p| p.strip_prefix("linux_"))
        .map(str::to_string);
    let mut out = Vec::new();
    if let (Some(g), Some(arch)) = (glibc, &arch) {
        out.push(format!("manylinux_{}_{}_{arch}", g.0, g.1));
    }
    for p in &base.wheel_platforms {
        let needs = if let Some(rest) = p.strip_prefix("manylinux_") {
            let mut parts = rest.splitn(3, '_');
            match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => GlibcVersion::parse(&format!("{a}.{b}")),
                _ => None,
            }
        } else if p.starts_with("manylinux2014_") {
            Some(GlibcVersion(2, 17))
        } else {
            None
        };
        let fits = match (needs, glibc) {
            (Some(n), Some(g)) => n <= g,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if fits && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Probes the userland under `root` (`/` for this machine).
pub fn probe(root: &Path) -> Result<Probe, Error> {
    let (program_path, program_host, program) = userland_program(root)?;
    let dirs = library_dirs(root, &program);
    let abi_text = program.describe();

    // The loader: the program's PT_INTERP, or the one of its ABI in the library directories.
    let (loader_path, loader_host, loader) = match &program.interpreter {
        Some(interp) => {
            let (_, host) = resolve(root, interp).ok_or_else(|| Error::MissingLoader {
                path: root.join(interp.trim_start_matches('/')),
                program: program_host.clone(),
            })?;
            let bytes = read(&host)?;
            let e = parse(&host, &bytes)?;
            (interp.clone(), host, e)
        }
        None => find_in_dirs(root, &dirs, &program, &|n| is_loader_name(n))
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoLoader {
                root: root.to_path_buf(),
                program: program_host.clone(),
                abi: abi_text.clone(),
            })?,
    };
    let loader_name = loader_path.rsplit('/').next().unwrap_or("");
    let musl = loader_name.starts_with("ld-musl-");

    // libc: musl's loader is its libc; glibc's libc.so.6 sits beside the loader's real file
    // (Debian: /lib/<triplet>/), or in a library directory.
    let (libc_path, glibc) = if musl {
        (loader_path.clone(), None)
    } else {
        let mut search = Vec::new();
        if let Some(dir) = loader_host.parent().and_then(|d| d.strip_prefix(root).ok()) {
            search.push(format!("/{}", dir.display()));
        }
        search.extend(dirs.iter().cloned());
        let (path, host, _) = find_in_dirs(root, &search, &program, &|n| n == "libc.so.6")
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoLibc {
                root: root.to_path_buf(),
                loader: loader_host.clone(),
                abi: abi_text.clone(),
            })?;
        let bytes = read(&host)?;
        let glibc = highest_definition(&host, &bytes, "GLIBC_", GlibcVersion::parse)?
            .ok_or_else(|| Error::NoGlibcVersion { path: host.clone() })?;
        (path, Some(glibc))
    };

    let glibcxx = match find_in_dirs(root, &dirs, &program, &|n| n == "libstdc++.so.6")
        .into_iter()
        .next()
    {
        Some((_, host, _)) => {
            let bytes = read(&host)?;
            highest_definition(&host, &bytes, "GLIBCXX_", GlibcxxVersion::parse)?
        }
        None => None,
    };

    // System libraries: every name in the library directories that the loader would find for a
    // DT_NEEDED of that name: an ELF file of this ABI whose soname is that name (libz.so.1, not
    // the linker's libz.so nor the versioned file libz.so.1.2.13).
    let mut system_libs = BTreeSet::new();
    for (board, host, _) in find_in_dirs(root, &dirs, &program, &|n| n.contains(".so")) {
        let name = board.rsplit('/').next().unwrap_or("").to_string();
        // Loaders are named by PT_INTERP, not DT_NEEDED (and a foreign libc's, such as musl's
        // beside glibc, is no library of this userland).
        if is_loader_name(&name) {
            continue;
        }
        let Some(bytes) = map_elf(&host) else {
            continue;
        };
        match crate::elf::soname(&bytes) {
            Some(s) if s == name => {
                system_libs.insert(name);
            }
            None if !name.ends_with(".so") => {
                system_libs.insert(name);
            }
            _ => {}
        }
    }

    let base = crate::elf::detect_target(&loader);
    let arch = base.map_or_else(
        || crate::elf::machine_name(loader.machine).to_lowercase(),
        |t| t.name.clone(),
    );
    let os = os_name(root);
    let libc_text = match glibc {
        Some(g) => format!("glibc {g}"),
        None => "musl".to_string(),
    };
    let description = format!(
        "{} ({arch}, {libc_text}), probed by rvenv",
        os.clone()
            .unwrap_or_else(|| format!("the system at {}", root.display()))
    );
    let target = Target {
        name: format!("probed-{arch}"),
        description,
        aliases: Vec::new(),
        wheel_platforms: if musl {
            base.map(|b| b.wheel_platforms.clone()).unwrap_or_default()
        } else {
            wheel_platforms(base, glibc)
        },
        elf: ElfIdentity {
            class: loader.class,
            endian: loader.endian,
            machine: loader.machine,
            // ELFOSABI_NONE (System V) and ELFOSABI_GNU: what Linux loaders accept.
            osabi: vec![0, 3],
            loaders: vec![loader_path.clone()],
        },
        arm: (loader.machine == 40).then(|| arm_profile(&loader)),
        riscv: (loader.machine == 243).then(|| riscv_profile(&loader)),
        libc: Libc {
            kind: if musl {
                LibcKind::Musl
            } else {
                LibcKind::Glibc
            },
            glibc,
            glibcxx,
            system_libs: system_libs.into_iter().collect(),
        },
        distribution: None,
        cross: None,
    };
    Ok(Probe {
        target,
        program: program_path,
        loader: loader_path,
        libc: libc_path,
        os,
    })
}

impl Probe {
    /// The target file: the same keys as targets/*.toml, so `--target-file` reads it.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(&self.target).expect("a target serialises");
        format!(
            "# Written by `rvenv probe` from the userland itself: {} ({}), loader {}, libc {}.\n\
             # Use it with `rvenv bundle --target-file` / `rvenv check --target-file`.\n{body}",
            self.program,
            elf_description(&self.target),
            self.loader,
            self.libc,
        )
    }
}

/// `ELF32 ARM`, from a target's ELF identity.
fn elf_description(t: &Target) -> String {
    let endian = if t.elf.endian == Endian::Big {
        " big-endian"
    } else {
        ""
    };
    format!(
        "ELF{}{} {}",
        t.elf.class,
        endian,
        crate::elf::machine_name(t.elf.machine)
    )
}

/// `rvenv probe`: prints the target file, or writes it to `output`.
pub fn run(root: &Path, output: Option<&Path>) -> Result<(), Error> {
    let probe = probe(root)?;
    let text = probe.to_toml();
    match output {
        None => print!("{text}"),
        Some(path) => std::fs::write(path, text).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_sets_follow_the_architecture_lattice() {
        // Debian armhf's loader: v7, VFPv3-D16, no NEON.
        assert_eq!(cpu_arch_implied(10), (0..=10).collect::<Vec<u8>>());
        assert_eq!(fp_arch_implied(4), vec![0, 1, 2, 4]);
        // Raspberry Pi OS armhf: ARMv6KZ runs v6K code, not v6T2 (Thumb-2).
        assert!(cpu_arch_implied(7).contains(&9) && !cpu_arch_implied(7).contains(&8));
        assert!(
            !fp_arch_implied(6).contains(&3),
            "D16 does not run D32 code"
        );
    }

    #[test]
    fn resolve_follows_absolute_links_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/dash"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink("/bin/dash", root.join("usr/bin/sh")).unwrap();
        std::os::unix::fs::symlink("/../../loop", root.join("loop")).unwrap();
        let (board, host) = resolve(root, "/bin/sh").unwrap();
        assert_eq!(board, "/usr/bin/dash");
        assert_eq!(host, root.join("usr/bin/dash"));
        assert!(resolve(root, "/loop").is_none());
        assert!(resolve(root, "/bin/missing").is_none());
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            root.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n/opt/vc/lib # comment\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/ld.so.conf.d/a.conf"),
            "# x\n/usr/local/lib/\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/ld.so.conf.d/skip.txt"), "/nope\n").unwrap();
        let mut dirs = Vec::new();
        ld_so_conf(root, "/etc/ld.so.conf", &mut dirs, &mut BTreeSet::new(), 0);
        assert_eq!(dirs, vec!["/usr/local/lib", "/opt/vc/lib"]);
    }

    #[test]
    fn wheel_tags_stop_at_the_probed_glibc() {
        let base = crate::target::find("aarch64").unwrap();
        let tags = wheel_platforms(Some(base), Some(GlibcVersion(2, 31)));
        assert_eq!(tags[0], "manylinux_2_31_aarch64");
        assert!(!tags.contains(&"manylinux_2_36_aarch64".to_string()));
        assert!(tags.contains(&"manylinux2014_aarch64".to_string()));
    }
}
