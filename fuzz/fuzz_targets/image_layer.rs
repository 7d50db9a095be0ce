//! Fuzz the layer reader: any bytes applied as a layer must give Ok or a typed error,
//! never a panic, and never a file outside the target directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("berth-fuzz-layer-{}", std::process::id()));
    let target = base.join("root");
    let _ = std::fs::remove_dir_all(&base);
    if std::fs::create_dir_all(&target).is_err() {
        return;
    }
    let opts = container_image::layer::ApplyOptions {
        no_chown: true,
        ..Default::default()
    };
    let _ = container_image::layer::apply(data, &target, &opts);
    // Nothing but the target may exist beside it.
    let siblings = std::fs::read_dir(&base).map(|d| d.count()).unwrap_or(0);
    assert_eq!(siblings, 1, "layer wrote outside its target");
    let _ = std::fs::remove_dir_all(&base);
});
