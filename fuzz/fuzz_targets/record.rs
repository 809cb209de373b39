//! RECORD, METADATA, direct_url.json, entry_points.txt and wheel file names, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::record, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::record(data));
