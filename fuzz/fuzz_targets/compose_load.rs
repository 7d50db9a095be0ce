//! Fuzz the compose loader (decode, interpolate, merge, validate, normalize, plan): no panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env: container_compose::interpolate::Env = [
        ("A".to_string(), "1".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]
    .into();
    let _ = container_compose::interpolate::interpolate_str(text, &env);
    if let Ok(p) =
        container_compose::load_str(text, std::path::Path::new("/nonexistent/berth-fuzz"), &env)
    {
        let _ = container_compose::to_yaml(&p);
        let _ = container_compose::Plan::new(&p, &Default::default());
    }
});
