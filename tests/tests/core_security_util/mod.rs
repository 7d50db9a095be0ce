#![allow(dead_code)]
//! Shared helpers of the `core_security*` tests (issue 3 acceptance).
//!
//! Every test runs the runtime binary as a separate process on a busybox bundle, with its
//! own state root, and cleans up by container id. `BERTH_SECURITY_RUNTIME=runc` (a name on
//! PATH, or a path) runs the same checks against a peer, to check the checks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Docker's default capabilities as `/proc/<pid>/status` shows them.
pub const DOCKER_CAP_EFF: &str = "00000000a80425fb";

pub fn runtime() -> Option<PathBuf> {
    if !berth_tests::require_root("run containers") {
        return None;
    }
    match std::env::var("BERTH_SECURITY_RUNTIME") {
        Ok(path) if path.contains('/') => Some(PathBuf::from(path)),
        Ok(peer) if !peer.is_empty() => berth_tests::require_tool(&peer),
        _ => Some(berth_tests::bin("berth-runtime")),
    }
}

pub fn is_peer(rt: &Path) -> bool {
    rt.file_name().is_some_and(|n| n != "berth-runtime")
}

/// Run `cmd` with a deadline; the child is killed (by pid) when it passes.
///
/// Output goes to files, not pipes: after `create` the container's init holds the
/// runtime's stdio, and a pipe would not reach EOF until the container ends.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let out = tempfile::tempfile().expect("stdout file");
    let err = tempfile::tempfile().expect("stderr file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone"))
        .stderr(err.try_clone().expect("clone"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |mut f: std::fs::File| {
        use std::io::Seek;
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).expect("seek");
        f.read_to_end(&mut v).expect("read output");
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A bundle (busybox rootfs + config.json from `<runtime> spec`) and a state root.
pub struct Bundle {
    /// The runtime binary.
    pub rt: PathBuf,
    /// The bundle directory (config.json, rootfs/).
    pub dir: tempfile::TempDir,
    /// The runtime's state root.
    pub state: tempfile::TempDir,
    /// config.json, written by `run_sh`.
    pub config: Value,
    /// The container id.
    pub id: String,
}

impl Bundle {
    pub fn new(rt: &Path) -> Option<Bundle> {
        let dir = tempfile::tempdir().expect("tempdir");
        // World-searchable, so a container root mapped to another uid can reach its rootfs.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod bundle");
        if !berth_tests::busybox_rootfs(&dir.path().join("rootfs")) {
            return None;
        }
        let out = run_bounded(
            Command::new(rt).arg("spec").current_dir(dir.path()),
            Duration::from_secs(20),
        );
        assert!(out.status.success(), "spec: {}", text(&out.stderr));
        let raw = std::fs::read(dir.path().join("config.json")).expect("config.json written");
        let mut config: Value = serde_json::from_slice(&raw).expect("config.json is JSON");
        config["process"]["terminal"] = json!(false);
        config["root"]["path"] = json!("rootfs");
        if is_peer(rt) {
            // Peers' `spec` has neither Docker's capabilities nor its seccomp profile.
            let caps = container_core::caps::docker_default_linux_capabilities();
            config["process"]["capabilities"] = serde_json::to_value(&caps).expect("caps");
            config["linux"]["seccomp"] =
                serde_json::to_value(container_core::seccomp::docker_default()).expect("seccomp");
        }
        Some(Bundle {
            rt: rt.to_path_buf(),
            dir,
            state: tempfile::tempdir().expect("state dir"),
            config,
            id: berth_tests::unique_name("sec"),
        })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.rt);
        c.arg("--root").arg(self.state.path());
        c
    }

    /// `run` the container with `sh -c script`; returns its output.
    pub fn run_sh(&mut self, script: &str) -> Output {
        self.config["process"]["args"] = json!(["sh", "-c", script]);
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("serialize"),
        )
        .expect("write config.json");
        run_bounded(
            self.cmd()
                .arg("run")
                .arg("--bundle")
                .arg(self.dir.path())
                .arg(&self.id),
            Duration::from_secs(60),
        )
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = run_bounded(
            self.cmd().args(["delete", "--force"]).arg(&self.id),
            Duration::from_secs(20),
        );
    }
}

pub fn field<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
}

/// The checks of issue 3, as one shell script run inside the container.
///
/// `ls /proc/self/fd` lists ls's own fds: 0, 1, 2 and the directory it reads (3); any
/// fd leaked into the container would show up as well.
pub const PROBE: &str = r#"
grep -E '^(CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
  if [ -e $f ]; then echo "masked $f: $(cat $f 2>/dev/null | wc -c)"; fi
done
if echo probe > /proc/sys/kernel/hostname 2>/dev/null; then echo "hostname: written"; else echo "hostname: refused"; fi
out=$(unshare -U true 2>&1)
echo "unshare: $? $out"
echo "fds: $(ls /proc/self/fd | tr '\n' ' ')"
"#;

/// `unshare_refused`: whether the profile in force blocks `unshare` (Docker's does;
/// podman's allows it, and then the answer must match what podman gets from runc).
pub fn check_probe(out: &str, expect_cap_eff: &str, expect_nnp: &str, unshare_refused: bool) {
    assert_eq!(field(out, "Seccomp"), Some("2"), "{out}");
    assert_eq!(field(out, "NoNewPrivs"), Some(expect_nnp), "{out}");
    assert_eq!(field(out, "CapEff"), Some(expect_cap_eff), "{out}");
    assert_eq!(field(out, "CapAmb"), Some("0000000000000000"), "{out}");
    // /proc/kcore and friends exist only on some kernels; each one present must read empty.
    let masked: Vec<&str> = out.lines().filter(|l| l.starts_with("masked ")).collect();
    assert!(
        !masked.is_empty(),
        "no masked path exists on this kernel: {out}"
    );
    for line in masked {
        assert!(
            line.ends_with(": 0"),
            "a masked path is readable: {line}\n{out}"
        );
    }
    assert_eq!(field(out, "hostname"), Some("refused"), "{out}");
    let unshare = field(out, "unshare").unwrap_or_default();
    assert_eq!(
        !unshare.starts_with('0') && unshare.contains("Operation not permitted"),
        unshare_refused,
        "unshare must {}fail with EPERM: {out}",
        if unshare_refused { "" } else { "not " }
    );
    assert_eq!(field(out, "fds"), Some("0 1 2 3"), "{out}");
}

/// Hash every file under `dir` (names, kinds, contents, link targets) and the mount table
/// entries at or below it.
pub fn hash_tree(dir: &Path) -> String {
    let mut entries = Vec::new();
    fn walk(p: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(p) else {
            out.push(format!("unreadable {}", p.display()));
            return;
        };
        let mut children: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        children.sort();
        for c in children {
            let Ok(meta) = std::fs::symlink_metadata(&c) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            let kind = if meta.is_dir() {
                "d".to_string()
            } else if meta.file_type().is_symlink() {
                format!("l {:?}", std::fs::read_link(&c).ok())
            } else if meta.is_file() {
                format!("f {:?}", std::fs::read(&c).ok())
            } else {
                format!("o {:o} {}", meta.mode(), meta.rdev())
            };
            out.push(format!("{} {} {}", c.display(), meta.mode(), kind));
            if meta.is_dir() {
                walk(&c, out);
            }
        }
    }
    walk(dir, &mut entries);
    for m in berth_tests::mounts_under(dir) {
        entries.push(format!("mount {}", m.display()));
    }
    entries.join("\n")
}
