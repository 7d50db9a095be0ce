//! issue 3 acceptance, CVE-2019-5736: the runtime's binary cannot be written through
//! `/proc/<pid>/exe` by the container.

mod core_security_util;

use core_security_util::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn sha_file(p: &Path) -> Vec<u8> {
    std::fs::read(p).expect("read binary")
}

#[test]
fn runtime_exe_cannot_be_opened_for_writing_through_proc() {
    let Some(rt) = runtime() else { return };
    // Work on a copy of the runtime, so a failure cannot damage the built binary.
    let copy_dir = tempfile::tempdir().expect("copy dir");
    let copy = copy_dir.path().join(rt.file_name().expect("name"));
    std::fs::copy(&rt, &copy).expect("copy runtime");
    let Some(mut b) = Bundle::new(&copy) else {
        return;
    };
    let before = sha_file(&copy);
    b.config["process"]["args"] = json!(["sleep", "30"]);
    std::fs::write(
        b.dir.path().join("config.json"),
        serde_json::to_vec_pretty(&b.config).expect("serialize"),
    )
    .expect("write config");
    let out = run_bounded(
        b.cmd()
            .arg("create")
            .arg("--bundle")
            .arg(b.dir.path())
            .arg(&b.id),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let state = run_bounded(b.cmd().arg("state").arg(&b.id), Duration::from_secs(10));
    let state: Value = serde_json::from_slice(&state.stdout).expect("state JSON");
    let pid = state["pid"].as_i64().expect("pid");
    // While created, the init still runs the runtime's code. Keep a path fd on its exe, as
    // the CVE-2019-5736 exploit does, then let it exec the container's process.
    let exe = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(format!("/proc/{pid}/exe"))
    };
    let out = run_bounded(b.cmd().arg("start").arg(&b.id), Duration::from_secs(30));
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|l| !l.ends_with("busybox"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(exe) = exe {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let reopened = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{}", exe.as_raw_fd()));
        if let Ok(mut f) = reopened {
            let wrote = f.write_all(b"#pwned");
            assert!(
                wrote.is_err(),
                "the runtime binary was writable through /proc/{pid}/exe"
            );
        }
    }
    assert_eq!(before, sha_file(&copy), "the runtime binary changed");
}
