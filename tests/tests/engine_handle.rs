//! The engine's library API as a test harness uses it: `Engine::run` → a handle that waits
//! for a log line and removes the container when dropped; a second `Engine` opened on the
//! same root sees the same containers.

use container_engine::{Engine, RunOptions};
use std::time::Duration;

#[test]
fn engine_handle_waits_for_log_and_cleans_up_on_drop() {
    if !berth_tests::require_root("run containers") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let rootfs = root.path().join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return;
    }
    let engine = Engine::open(root.path().join("engine")).expect("open engine");
    let opts = RunOptions {
        rootfs: Some(rootfs.clone()),
        ..RunOptions::image("")
            .name("ready")
            .network("none")
            .env("GREETING", "hello")
            .cmd(["sh", "-c", "sleep 0.2; echo $GREETING ready; sleep 60"])
    };
    let id = {
        let handle = engine.run(opts).expect("run");
        handle
            .wait_for_log("hello ready", Duration::from_secs(10))
            .expect("log line");
        // another process (here: another Engine value on the same root) sees it running
        let other = Engine::open(root.path().join("engine")).expect("second engine");
        let rec = other.record("ready").expect("record");
        assert_eq!(rec.state.status, "running");
        assert!(rec.state.pid > 0);
        let v = other.inspect("ready").expect("inspect");
        assert_eq!(
            v["Config"]["Env"]
                .as_array()
                .map(|a| a.iter().any(|e| e == "GREETING=hello")),
            Some(true)
        );
        assert!(handle.host_port(80).is_err(), "nothing published");
        handle.id().to_string()
    };
    // dropped: stopped and removed
    assert!(engine.record(&id).is_err());
    assert!(engine.ps(true).expect("ps").is_empty());
    assert!(berth_tests::mounts_under(root.path()).is_empty());

    // a handle whose container exits early reports it instead of waiting
    let opts = RunOptions {
        rootfs: Some(rootfs),
        ..RunOptions::image("")
            .network("none")
            .cmd(["sh", "-c", "exit 7"])
    };
    let h = engine.run(opts).expect("run");
    let err = h
        .wait_for_log("never", Duration::from_secs(10))
        .expect_err("exits first");
    assert!(err.to_string().contains("exited (7)"), "{err}");
    assert_eq!(h.wait().expect("wait"), 7);
}
