//! Fuzz the `--format` Go-template parser and renderer: any input either parses or
//! errors, and rendering against an inspect-shaped document never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let doc = serde_json::json!({
            "Id": "abc", "State": {"Status": "running", "Pid": 1},
            "Config": {"Env": ["A=1"], "Labels": {"k": "v"}},
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "", "HostPort": "1"}]}}
        });
        if let Ok(t) = container_engine::template::Template::parse(src) {
            let _ = t.render(&doc);
        }
    }
});
