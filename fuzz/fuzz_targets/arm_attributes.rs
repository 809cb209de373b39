//! The hand-written .ARM.attributes parser, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::arm_attributes, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::arm_attributes(data));
