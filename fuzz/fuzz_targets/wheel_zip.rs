//! A wheel read from bytes as the installer checks it, writing nothing, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::wheel_zip, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::wheel_zip(data));
