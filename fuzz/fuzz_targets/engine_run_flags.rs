//! Fuzz the parsers of `docker run` flag values (-p, -v, --mount, --tmpfs, --ulimit,
//! --restart, --device, sizes, signals): errors, never panics.
#![no_main]

use container_engine::options as o;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = o::parse_publish(s);
        let _ = o::parse_volume(s);
        let _ = o::parse_mount(s);
        let _ = o::parse_tmpfs(s);
        let _ = o::parse_ulimit(s);
        let _ = o::parse_restart(s);
        let _ = o::parse_device(s);
        let _ = o::parse_bytes(s);
        let _ = o::parse_cpus(s);
        let _ = o::parse_signal(s);
        let _ = o::parse_env_file(s);
        let _ = container_engine::logs::parse_time(s);
    }
});
