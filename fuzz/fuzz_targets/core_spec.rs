//! Fuzz config.json parsing and the spec validation of container-core: any input gives
//! a spec or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = container_core::spec::parse(data) {
        let _ = container_core::spec::validate_static(&spec);
    }
});
