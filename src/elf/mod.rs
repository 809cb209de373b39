//! ELF inspection with goblin: what each binary is, what it needs, and whether it will load on a
//! target (class, byte order, machine, OS ABI, ARM float ABI and attributes, RISC-V float ABI,
//! loader, needed libraries, glibc symbol versions). Mach-O and PE files are recognised as
//! foreign.
//!
//! The parts, each depending only on those before it:
//! - `arm`: `.ARM.attributes` parsing and the ARM architecture names (a leaf);
//! - `file`: recognising and reading one file (`ElfFile`, `inspect`, `runpath_slot`, ...);
//! - `check`: what keeps one ELF file from loading on a target (`Problem`, `detect_target`);
//! - `strip`: debug sections removed with every loaded byte kept (a leaf);
//! - `report`: the whole environment, with the loader's library resolution (`Report`).
//!
//! Everything public is re-exported here: callers name `elf::ElfFile`, `elf::Report`, ...

mod arm;
mod check;
mod file;
mod report;
mod strip;

pub use arm::{ArmAttributes, cpu_arch_name, fp_arch_name, parse_arm_attributes, simd_arch_name};
pub use check::{Problem, ProblemKind, detect_target};
pub use file::{
    ElfFile, Inspection, MAGIC, SearchPathFix, StringSlot, apply_search_path_fix,
    highest_version_definition, inspect, inspect_file, is_binary_magic, is_elf, loads_the_same,
    machine_name, runpath_slot, search_path_strings, search_path_strings_file, soname,
};
pub use report::{Allow, Allowed, Offender, Report};
pub use strip::{Kept, debug_size, without_debug};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: not a valid ELF file: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{path}: its RUNPATH string shares bytes with another dynamic string, so it cannot be replaced in place"
    )]
    SharedRunpath { path: PathBuf },
    #[error("{path}: its RUNPATH {old} cannot be rewritten in place as {new}, which is longer")]
    RunpathTooLong {
        path: PathBuf,
        old: String,
        new: String,
    },
}

impl crate::error::Hint for Error {}

/// The test binary itself: a real ELF file of this machine, with debug sections (cargo builds
/// tests with debug information). Shared by the modules' unit tests.
#[cfg(test)]
fn host_binary() -> Vec<u8> {
    std::fs::read("/proc/self/exe").unwrap()
}
