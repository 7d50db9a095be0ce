//! A throwaway engine root for tests of the `berth` CLI: runs the real binary with
//! `--root` set to a temp dir (optionally inside a network namespace the test owns),
//! and removes its containers, networks, namespace and mounts when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A throwaway engine root, a busybox rootfs in it, and optionally a network namespace
/// and an imported busybox image.
pub struct Env {
    /// The engine root (`--root`).
    pub root: tempfile::TempDir,
    /// A busybox root filesystem (for `--rootfs` runs and imports).
    pub rootfs: PathBuf,
    /// The network namespace every command runs in, if any.
    pub netns: Option<String>,
    /// The image [`Env::with_image`] imported (empty until then).
    pub image: String,
}

impl Env {
    /// A new root with a busybox rootfs; `None` when the test must skip (not root, no
    /// busybox), see [`crate::require`].
    pub fn new(what: &str) -> Option<Env> {
        if !crate::require_root(what) {
            return None;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let rootfs = root.path().join("rootfs");
        if !crate::busybox_rootfs(&rootfs) {
            return None;
        }
        Some(Env {
            root,
            rootfs,
            netns: None,
            image: String::new(),
        })
    }

    /// Import the busybox rootfs as the image `name` (`berth import -`, the tar on
    /// stdin) and make it [`Env::image`].
    pub fn with_image(mut self, name: &str) -> Option<Env> {
        let tar = self.rootfs_tar()?;
        let o = feed(
            self.cmd(&["import", "-", name]),
            &std::fs::read(&tar).expect("read tar"),
        );
        assert!(o.status.success(), "berth import - {name}");
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("sha256:"));
        self.image = name.to_string();
        Some(self)
    }

    /// The busybox rootfs as a tar (`ROOT/rootfs.tar`, made once with GNU tar); `None`
    /// when the test must skip (no `tar`).
    pub fn rootfs_tar(&self) -> Option<PathBuf> {
        let tar = self.root.path().join("rootfs.tar");
        if tar.is_file() {
            return Some(tar);
        }
        crate::require_tool("tar")?;
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&self.rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success();
        assert!(ok, "tar of the rootfs");
        Some(tar)
    }

    /// Run every later command inside a fresh network namespace.
    pub fn with_netns(mut self) -> Option<Env> {
        crate::require_tool("ip")?;
        crate::require_tool("nsenter")?;
        let name = crate::unique_name("bt");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add")
            .success();
        assert!(ok, "ip netns add {name}");
        let _ = Command::new("ip")
            .args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
            .status();
        self.netns = Some(name);
        Some(self)
    }

    /// `berth --root ROOT args…`, stdin null, not yet run.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let berth = crate::bin("berth");
        let mut c = match &self.netns {
            // only the network namespace: `ip netns exec` would also remount /sys,
            // hiding the cgroup file systems the runtime needs
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg(&berth);
                c
            }
            None => Command::new(&berth),
        };
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Run berth; its output.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    /// Run and expect success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}): {}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run and expect Docker's "berth failed" exit code 125; stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "berth {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// `run -d` of [`Env::image`] on `network`, waited until running; the name.
    pub fn daemon(&self, name: &str, network: &str, cmd: &[&str]) -> String {
        let mut a = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            &self.image,
        ];
        a.extend_from_slice(cmd);
        self.ok(&a);
        self.wait_for(name, "{{.State.Running}}", |s| s == "true");
        name.to_string()
    }

    /// The busybox rootfs path as a string.
    pub fn rootfs(&self) -> &str {
        self.rootfs.to_str().expect("utf-8 path")
    }

    /// `inspect -f format name`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Poll `inspect -f format` until `pred` holds (bounded: 20 s).
    pub fn wait_for(&self, name: &str, format: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.inspect(name, format);
            if pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {format}: last {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `name` under the engine root's temp dir (scratch files of the test).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// The on-disk record of container `id` (`containers/<id>/config.v2.json`).
    pub fn record_path(&self, id: &str) -> PathBuf {
        self.root
            .path()
            .join("containers")
            .join(id)
            .join("config.v2.json")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ids = self.berth(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.berth(&["rm", "-f", "-v", id]);
        }
        let nets = self.berth(&["network", "ls", "-q"]);
        for n in String::from_utf8_lossy(&nets.stdout).lines() {
            let _ = self.berth(&["network", "rm", n]);
        }
        if let Some(ns) = &self.netns {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
        let left = crate::mounts_under(self.root.path());
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind: {left:?}");
        }
    }
}

/// Run `cmd` with `input` on its stdin; its output (stdout and stderr captured).
pub fn feed(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // a child that exits early closes its stdin: not an error of the test
    let _ = child.stdin.take().expect("stdin").write_all(input);
    child.wait_with_output().expect("wait")
}

/// A path as `&str` (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
