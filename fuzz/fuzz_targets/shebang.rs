//! The shebang rewriter: launcher parsing, classification, the relocatable rewrite, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::shebang, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::shebang(data));
