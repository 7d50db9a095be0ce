//! Acceptance 1 of container-core: `berth-runtime spec` + a busybox rootfs, driven the
//! way runc is: `run` of /bin/true, of a command that prints, of one that exits 3, of
//! `sleep` killed by SIGTERM; create/start/state/exec/kill/delete; bad specs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
    root: PathBuf,
    rt: PathBuf,
}

fn bundle() -> Option<Bundle> {
    if !berth_tests::require_root("run containers with berth-runtime") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle");
    if !berth_tests::busybox_rootfs(&path.join("rootfs")) {
        return None;
    }
    let rt = berth_tests::bin("berth-runtime");
    let out = Command::new(&rt)
        .arg("spec")
        .current_dir(&path)
        .output()
        .expect("spec");
    assert!(out.status.success(), "spec: {out:?}");
    let root = dir.path().join("state");
    Some(Bundle {
        _dir: dir,
        path,
        root,
        rt,
    })
}

impl Bundle {
    fn set(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.path.join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec_pretty(&v).expect("ser")).expect("write");
    }

    fn args(&self, args: &[&str]) {
        self.set(|v| v["process"]["args"] = serde_json::json!(args));
    }

    fn rt(&self, args: &[&str]) -> Output {
        Command::new(&self.rt)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("berth-runtime")
    }

    /// For commands that leave a container running: its init inherits our stdio, so
    /// collecting output would wait for the container to exit.
    fn rt_detached(&self, args: &[&str]) -> std::process::ExitStatus {
        Command::new(&self.rt)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("berth-runtime")
    }

    fn run(&self, id: &str) -> Output {
        let b = self.path.to_string_lossy().into_owned();
        self.rt(&["run", "--bundle", &b, id])
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // A failed test must not leave containers running.
        for e in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = self.rt_detached(&["delete", "--force", &id]);
        }
    }
}

/// Container state directories under a runtime root (dot entries are caches).
fn containers(root: &Path) -> usize {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version_names_the_runtime() {
    let out = Command::new(berth_tests::bin("berth-runtime"))
        .arg("--version")
        .output()
        .expect("run");
    let s = text(&out.stdout);
    assert!(s.starts_with("berth-runtime version "), "{s}");
    assert!(s.contains("spec: 1."), "{s}");
}

#[test]
fn run_true_print_exit_code() {
    let Some(b) = bundle() else { return };
    b.args(&["/bin/true"]);
    let out = b.run(&berth_tests::unique_name("cli"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    b.args(&["echo", "hello", "world"]);
    let out = b.run(&berth_tests::unique_name("cli"));
    assert_eq!(text(&out.stdout), "hello world\n", "{out:?}");

    b.args(&["sh", "-c", "exit 3"]);
    let out = b.run(&berth_tests::unique_name("cli"));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(containers(&b.root), 0, "state left behind");
}

#[test]
fn sleep_killed_by_sigterm() {
    let Some(b) = bundle() else { return };
    // Without a pid namespace `sleep` is not pid 1, so SIGTERM's default action applies.
    b.set(|v| {
        v["process"]["args"] = serde_json::json!(["sleep", "60"]);
        let ns = v["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "pid");
    });
    let id = berth_tests::unique_name("cli");
    let bpath = b.path.to_string_lossy().into_owned();
    let mut child = Command::new(&b.rt)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle", &bpath, &id])
        .spawn()
        .expect("spawn run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st = b.rt(&["state", &id]);
        if st.status.success() && text(&st.stdout).contains("\"running\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never running: {st:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let k = b.rt(&["kill", &id, "TERM"]);
    assert!(k.status.success(), "{k:?}");
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(128 + 15));
}

#[test]
fn create_start_state_exec_kill_delete() {
    let Some(b) = bundle() else { return };
    b.args(&["sleep", "60"]);
    let id = berth_tests::unique_name("cli");
    let dir = tempfile::tempdir().expect("tmp");
    let pid_file = dir.path().join("pid");
    let bpath = b.path.to_string_lossy().into_owned();
    let pf = pid_file.to_string_lossy().into_owned();
    let status = b.rt_detached(&["create", "--bundle", &bpath, "--pid-file", &pf, &id]);
    assert!(status.success(), "create failed");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let st: serde_json::Value =
        serde_json::from_slice(&b.rt(&["state", &id]).stdout).expect("state json");
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["id"], id.as_str());
    assert!(b.rt_detached(&["start", &id]).success());
    let st: serde_json::Value =
        serde_json::from_slice(&b.rt(&["state", &id]).stdout).expect("state json");
    assert_eq!(st["status"], "running");
    let list = b.rt(&["list", "--format", "json"]);
    assert!(text(&list.stdout).contains(&id), "{list:?}");

    let ex = b.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo in-container; cat /proc/1/cmdline",
    ]);
    assert_eq!(
        text(&ex.stdout),
        "in-container\nsleep\u{0}60\u{0}",
        "{ex:?}"
    );
    let ex = b.rt(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(ex.status.code(), Some(5));
    let ps = b.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).expect("ps json");
    assert!(pids.contains(&pid), "{pids:?}");

    let del = b.rt(&["delete", &id]);
    assert!(
        !del.status.success(),
        "a running container is not deleted without --force"
    );
    assert!(b.rt(&["kill", &id, "SIGKILL"]).status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while text(&b.rt(&["state", &id]).stdout).contains("running") {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(b.rt(&["delete", &id]).status.success());
    let st = b.rt(&["state", &id]);
    assert!(!st.status.success());
    assert!(text(&st.stderr).contains("does not exist"), "{st:?}");
    // The init was re-parented when `create` exited; its new parent reaps it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn bad_specs_are_reported() {
    let Some(b) = bundle() else { return };
    b.args(&["no-such-binary"]);
    let out = b.run(&berth_tests::unique_name("cli"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("executable file not found in $PATH"),
        "{out:?}"
    );

    b.set(|v| {
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "nonsense"}])
    });
    let out = b.run(&berth_tests::unique_name("cli"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("config.json"), "{out:?}");

    b.set(|v| {
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "pid"}]);
        v["process"]["args"] = serde_json::json!(["true"]);
        v["root"]["path"] = serde_json::json!("missing-rootfs");
    });
    let out = b.run(&berth_tests::unique_name("cli"));
    assert!(
        text(&out.stderr).contains("no such file or directory"),
        "{out:?}"
    );
    assert_eq!(containers(&b.root), 0, "state left");
}
