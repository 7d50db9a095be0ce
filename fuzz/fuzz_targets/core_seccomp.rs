//! Fuzz the seccomp profile path: OCI `linux.seccomp` JSON -> validation -> BPF.
//!
//! Any input must give a profile or a typed error, never a panic; a profile that
//! compiles must give a program the kernel could accept (1..=4096 instructions).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = container_core::seccomp::from_json(data) else {
        return;
    };
    if let Ok(compiled) = container_core::seccomp::compile(&profile) {
        assert!(compiled.instructions() >= 1 && compiled.instructions() <= 4096);
    }
});
