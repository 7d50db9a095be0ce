//! Acceptance 2 of container-core: podman drives berth-runtime
//! (`podman --runtime .../berth-runtime run --rm --network none --rootfs ROOTFS ...`).
//! podman's storage and run state live in a temp dir; cgroupfs manager (no systemd here).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Podman {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    rt: PathBuf,
}

fn podman() -> Option<Podman> {
    if !berth_tests::require_root("run podman") {
        return None;
    }
    berth_tests::require_tool("podman")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return None;
    }
    Some(Podman {
        rootfs,
        rt: berth_tests::bin("berth-runtime"),
        dir,
    })
}

impl Podman {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        let d = self.dir.path();
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg(&self.rt)
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            // conmon writes an `oom` file into its working directory when the
            // container is OOM-killed: keep it in the temp dir, not the checkout
            .current_dir(d)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        self.cmd()
            .args([
                "run",
                "--network",
                "none",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
            ])
            .args(opts)
            .arg("--rootfs")
            .arg(&self.rootfs)
            .args(cmd)
            .output()
            .expect("podman run")
    }

    fn simple(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("podman")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-a", "-f", "-t", "0"]).output();
        // podman's storage may leave mounts (overlay/shm) under the temp dir.
        if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut points: Vec<&str> = mi
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .filter(|p| Path::new(p).starts_with(self.dir.path()))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn echo_exit_code_read_only_and_tty() {
    let Some(p) = podman() else { return };
    let out = p.run(&["--rm"], &["echo", "hi from berth"]);
    assert_eq!(text(&out.stdout), "hi from berth\n", "{out:?}");

    let out = p.run(&["--rm"], &["sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42), "{out:?}");

    let out = p.run(
        &["--rm", "--read-only"],
        &["sh", "-c", "touch /x 2>&1; echo rc=$?"],
    );
    let s = text(&out.stdout);
    assert!(
        s.contains("Read-only file system") && s.contains("rc=1"),
        "{out:?}"
    );

    let out = p.run(&["--rm", "-t"], &["sh", "-c", "tty"]);
    assert!(text(&out.stdout).contains("/dev/pts/"), "{out:?}");
}

#[test]
fn detached_logs_exec_stop() {
    let Some(p) = podman() else { return };
    let out = p.run(
        &["-d"],
        &[
            "sh",
            "-c",
            "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let id = text(&out.stdout).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = p.simple(&["logs", &id]);
        if text(&logs.stdout).contains("started") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line: {logs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ex = p.simple(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo exec-ok; cat /proc/1/cmdline | head -c 2",
    ]);
    assert_eq!(text(&ex.stdout), "exec-ok\nsh", "{ex:?}");
    let stop = p.simple(&["stop", "-t", "5", &id]);
    assert!(stop.status.success(), "{stop:?}");
    let insp = p.simple(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(text(&insp.stdout).trim(), "exited 0", "{insp:?}");
    assert!(p.simple(&["rm", &id]).status.success());
}

#[test]
fn resource_limits() {
    let Some(p) = podman() else { return };
    // 64 MiB into a shell variable under a 32 MiB limit (no swap allowed): OOM-killed.
    let out = p.run(
        &["--rm", "--memory", "32m", "--memory-swap", "32m"],
        &[
            "sh",
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived ${#x}",
        ],
    );
    assert!(!text(&out.stdout).contains("survived"), "{out:?}");
    assert_eq!(out.status.code(), Some(137), "{out:?}");

    // A fork bomb stays under the pids limit (builtins only once forks fail).
    let v1 = Path::new("/sys/fs/cgroup/pids").is_dir();
    let pids_file = if v1 {
        "/sys/fs/cgroup/pids/pids.current"
    } else {
        "/sys/fs/cgroup/pids.current"
    };
    let bomb = format!(
        "(for i in $(seq 1 60); do sleep 3 & done) 2>/dev/null; read n < {pids_file}; echo $n"
    );
    let out = p.run(&["--rm", "--pids-limit", "20"], &["sh", "-c", &bomb]);
    let n: u32 = text(&out.stdout).trim().parse().unwrap_or(999);
    assert!(n <= 20 && n > 1, "{out:?}");

    let (cmd, want): (&[&str], &str) = if v1 {
        (
            &[
                "cat",
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
            ],
            "50000\n100000\n",
        )
    } else {
        (&["cat", "/sys/fs/cgroup/cpu.max"], "50000 100000\n")
    };
    let out = p.run(&["--rm", "--cpus", "0.5"], cmd);
    assert_eq!(text(&out.stdout), want, "{out:?}");
}
