//! The checked tar reader (plain, and through gzip), then verify, check and inspect, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::tar_reader, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::tar_reader(data));
