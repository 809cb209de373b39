//! rvenv's integration tests, one test binary: one module per area (named as the files were
//! when each was a test binary of its own), and the helpers they share in `common`.
//!
//! `cargo test --test it AREA::` runs one area, e.g. `cargo test --test it bad_input::`.
//!
//! A test that needs root is `#[ignore = "needs root: WHY"]` and panics when run without it
//! (`common::require_root`, `require_unshare`, `BoardMode::chroot`): `cargo test -- --ignored
//! --list` lists them, and `cargo test -- --include-ignored` as root runs them too, as .ci/run
//! does. No test prints that it skipped something and passes.

mod common;

mod activate;
mod architecture;
mod archive;
mod assemble;
mod bad_input;
mod board;
mod check;
mod cli;
mod cross_rvenv;
mod elf_runpath;
mod elf_strip;
mod faults;
mod freeze;
mod fuzz_corpus;
mod image;
mod inspect;
mod odd_input;
mod progress;
mod python_fetch;
mod reliability;
mod relocation;
mod retarget;
mod trim;
mod unsafe_archives;
mod verify;
