//! Acceptance 7 of issue 7, through the library API: 1000 `run --rm` cycles of an image
//! leave no process, mount, cgroup, snapshot, runtime state or record behind.
//!
//! Library cycles (create, start with a monitor, wait, auto-remove) rather than CLI ones
//! so the whole thousand fits in CI's time; `cli_berth::cli_many_run_rm_cycles_*` does
//! the same through the `berth` binary, and with a bridge network and published ports.

use container_engine::{AttachFds, Engine, RunOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CYCLES: usize = 1000;

/// Entries of `dir` not starting with a dot.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Pids of processes whose root directory is under `dir` (a container's processes).
fn processes_rooted_under(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(e.path().join("root")).is_ok_and(|r| r.starts_with(dir)) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn engine_thousand_run_rm_cycles_leave_nothing_behind() {
    if !berth_tests::require_root("run containers") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return;
    }
    let tar = tmp.path().join("rootfs.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    let root = tmp.path().join("engine");
    let engine = Engine::open(&root).expect("open engine");
    let store = container_engine::images::store(&engine).expect("store");
    store
        .import_rootfs_tar(
            std::fs::File::open(&tar).expect("open tar"),
            "localhost/cycle:1",
            &[],
        )
        .expect("import");
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let attach = AttachFds {
        stdin: None,
        stdout: null.as_raw_fd(),
        stderr: null.as_raw_fd(),
    };
    let mut opts = RunOptions::image("localhost/cycle:1")
        .network("none")
        .cmd(["true"]);
    opts.rm = true;
    // a first run unpacks the image's layer snapshot, which stays with the image
    let warm = engine
        .run_attached(&opts, attach, |_, _| {})
        .expect("first run");
    assert_eq!(warm.exit_code, 0);
    let snapshots_before = entries(&root.join("snapshots"));
    let started = Instant::now();
    let mut ids = Vec::with_capacity(CYCLES);
    for i in 0..CYCLES {
        let r = engine
            .run_attached(&opts, attach, |_, _| {})
            .unwrap_or_else(|e| panic!("cycle {i}: {e}"));
        assert_eq!(r.exit_code, 0, "cycle {i}");
        ids.push(r.id);
    }
    let took = started.elapsed();
    eprintln!(
        "{CYCLES} library run --rm cycles in {:.1} s ({:.1} ms each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / CYCLES as f64
    );
    // records, runtime state, snapshots, mounts
    assert!(engine.ps(true).expect("ps").is_empty());
    assert_eq!(entries(&root.join("containers")), Vec::<String>::new());
    assert_eq!(entries(engine.runtime_root()), Vec::<String>::new());
    assert_eq!(entries(&root.join("snapshots")), snapshots_before);
    assert_eq!(berth_tests::mounts_under(tmp.path()), Vec::<PathBuf>::new());
    // cgroups in every hierarchy, processes
    let hierarchies: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    for id in &ids {
        for h in &hierarchies {
            let d = h.join("berth").join(id);
            assert!(!d.exists(), "cgroup left: {}", d.display());
        }
        let d = PathBuf::from("/sys/fs/cgroup/berth").join(id);
        assert!(!d.exists(), "cgroup left: {}", d.display());
    }
    assert_eq!(processes_rooted_under(tmp.path()), Vec::<i32>::new());
    // no monitor is left: each is a grandchild re-parented away, so look for ours by the
    // state root they keep open
    let root_s = root.to_string_lossy().into_owned();
    let mut monitors = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() != "berth-monitor" {
            continue;
        }
        let fds = std::fs::read_dir(e.path().join("fd"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|f| std::fs::read_link(f.path()).ok())
                    .any(|t| t.to_string_lossy().starts_with(&root_s))
            })
            .unwrap_or(false);
        if fds {
            monitors.push(e.file_name());
        }
    }
    assert!(monitors.is_empty(), "monitors left: {monitors:?}");
}
