//! Fuzz image reference parsing: never panics, and what parses re-parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = container_image::Reference::parse(s) {
        let again = container_image::Reference::parse(&r.to_string()).expect("canonical form re-parses");
        assert_eq!(r, again);
    }
    let _ = container_image::image::parse_manifest_or_index(data, "fuzz");
    let _ = container_image::ImageConfig::from_json(data);
});
