//! pyvenv.cfg as discovery reads it and as the bundle rewrites it, over arbitrary bytes: never a panic (the body is rvenv::fuzzing::pyvenv_cfg, which
//! tests/it/fuzz_corpus.rs replays the corpus through on stable Rust).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rvenv::fuzzing::pyvenv_cfg(data));
