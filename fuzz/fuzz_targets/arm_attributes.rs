//! The hand-written `.ARM.attributes` parser over arbitrary bytes: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rvenv::elf::parse_arm_attributes(data, true);
    let _ = rvenv::elf::parse_arm_attributes(data, false);
});
