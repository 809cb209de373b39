//! rvenv's integration tests, one test binary: one module per area (named as the files were
//! when each was a test binary of its own), and the helpers they share in `common`.
//!
//! `cargo test --test it AREA::` runs one area, e.g. `cargo test --test it bad_input::`.

mod common;

mod archive;
mod assemble;
mod bad_input;
mod board;
mod check;
mod cli;
mod cross_rvenv;
mod elf_runpath;
mod faults;
mod freeze;
mod fuzz_corpus;
mod inspect;
mod odd_input;
mod progress;
mod relocation;
mod trim;
mod unsafe_archives;
mod verify;
