//! A `berth compose` test environment: its own engine root, project directory and
//! network namespace (every berth command runs inside it), cleaned up on drop with a
//! check that no mount is left behind.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One test's engine root, project directory and network namespace.
pub struct Env {
    pub root: tempfile::TempDir,
    pub project: tempfile::TempDir,
    pub netns: String,
    pub name: String,
}

impl Env {
    /// A fresh environment, or `None` when the test must skip (not root, no `ip`).
    pub fn new(what: &str) -> Option<Env> {
        if !berth_tests::require_root(what) {
            return None;
        }
        berth_tests::require_tool("ip")?;
        berth_tests::require_tool("nsenter")?;
        let root = tempfile::tempdir().expect("tempdir");
        let project = tempfile::tempdir().expect("tempdir");
        let netns = berth_tests::unique_name("bc");
        let ok = Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .expect("ip netns add")
            .success();
        assert!(ok, "ip netns add {netns}");
        let _ = Command::new("ip")
            .args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"])
            .status();
        let name = berth_tests::unique_name("p").replace('-', "");
        Some(Env {
            root,
            project,
            netns,
            name,
        })
    }

    /// `berth --root ROOT ARGS` inside the namespace, in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        // nsenter, not `ip netns exec`: that one remounts /sys, which hides the cgroup
        // mounts from the engine.
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(berth_tests::bin("berth"));
        c.arg("--root").arg(self.root.path()).args(args);
        c.current_dir(self.project.path());
        c.stdin(Stdio::null());
        c.env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES");
        c
    }

    /// Run berth and return what it did.
    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("run berth")
    }

    /// Run berth, assert success, return stdout.
    pub fn ok(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let o = self.run(args, envs);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}): {}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `berth compose -p NAME ARGS` (asserting success); stdout.
    pub fn compose(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let mut a = vec!["compose", "-p", &self.name];
        a.extend_from_slice(args);
        self.ok(&a, envs)
    }

    /// `berth compose -p NAME ARGS`, whatever the outcome.
    pub fn compose_output(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut a = vec!["compose", "-p", &self.name];
        a.extend_from_slice(args);
        self.run(&a, envs)
    }

    /// `NAME-service-N`.
    pub fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.name)
    }

    /// `berth inspect -f TEMPLATE CONTAINER`, trimmed.
    pub fn inspect(&self, container: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, container], &[])
            .trim()
            .to_string()
    }

    /// Poll `compose ps` until `container` has exited (bounded).
    pub fn wait_exited(&self, container: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ps = self.compose(&["ps"], &[]);
            if ps
                .lines()
                .any(|l| l.starts_with(container) && l.contains("exited"))
            {
                return;
            }
            assert!(Instant::now() < deadline, "{container} did not exit: {ps}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Write a file into the project directory.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.project.path().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(path, text).expect("write project file");
    }

    /// A busybox image (`local/bb:1`) from the host's busybox-static, with
    /// `/www/index.html` saying `hello-from-web`.
    pub fn busybox_image(&self) -> bool {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        if !berth_tests::busybox_rootfs(&rootfs) {
            return false;
        }
        std::fs::create_dir_all(rootfs.join("www")).expect("mkdir www");
        std::fs::write(rootfs.join("www/index.html"), "hello-from-web\n").expect("index");
        let tar: PathBuf = dir.path().join("bb.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success();
        assert!(ok, "tar");
        self.ok(
            &[
                "image",
                "import",
                tar.to_str().expect("utf-8"),
                "local/bb:1",
            ],
            &[],
        );
        true
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        self.project.path()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.run(&["compose", "-p", &self.name, "down", "-v"], &[]);
        let ids = self.run(&["ps", "-a", "-q", "--no-trunc"], &[]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", "-v", id], &[]);
        }
        let nets = self.run(&["network", "ls", "-q"], &[]);
        for n in String::from_utf8_lossy(&nets.stdout).lines() {
            let _ = self.run(&["network", "rm", n], &[]);
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
        let left = berth_tests::mounts_under(self.root.path());
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind: {left:?}");
        }
    }
}
