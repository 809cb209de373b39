//! ELF inspection and the target checks over arbitrary bytes: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.so");
    if let Some(rvenv::elf::Inspection::Elf(elf)) = rvenv::elf::inspect(path, data) {
        for target in rvenv::target::catalogue().iter().take(10) {
            let _ = elf.problems(target, None);
        }
    }
    let _ = rvenv::elf::runpath_slot(data, path);
});
