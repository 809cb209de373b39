//! ELF inspection and the target checks, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::elf_inspect, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::elf_inspect(data));
