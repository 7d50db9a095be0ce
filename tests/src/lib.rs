//! Helpers shared by berth's end-to-end and privileged tests.
//!
//! berth's tests do real kernel work (mounts, cgroups, namespaces, nftables) and drive
//! real peer tools (podman, crun, skopeo, …). This crate gives every test the same
//! answers to the same questions:
//!
//! * may this test run here? ([`require_root`], [`require_tool`], [`require`]): CI sets
//!   `BERTH_REQUIRE_PRIVILEGED=1`, and then a missing privilege, kernel feature or tool
//!   fails the test instead of skipping it;
//! * where are the workspace's binaries? ([`bin`]);
//! * a busybox root filesystem to run things in ([`busybox_rootfs`]);
//! * a name no other test process uses ([`unique_name`]);
//! * a local `docker-registry`, with or without auth ([`Registry`], [`htpasswd_line`]).
//!
//! ```
//! # fn main() {
//! if !berth_tests::require_root("mounts a tmpfs") {
//!     return; // skipped, with the reason printed
//! }
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod cli;

/// Name of the environment variable that turns a skip into a failure.
pub const REQUIRE_PRIVILEGED_ENV: &str = "BERTH_REQUIRE_PRIVILEGED";

/// True when `BERTH_REQUIRE_PRIVILEGED` is set to `1` (as CI does).
pub fn privileged_required() -> bool {
    std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1")
}

/// Decide whether a test whose precondition is `ok` may run.
///
/// Returns `true` when it may. When it may not, the test is skipped with `why` printed,
/// unless `BERTH_REQUIRE_PRIVILEGED=1`, in which case this panics so the test fails.
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if privileged_required() {
        panic!("{REQUIRE_PRIVILEGED_ENV}=1 but this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
    false
}

/// True when running as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Require root for a test that does `what`; see [`require`].
pub fn require_root(what: &str) -> bool {
    require(is_root(), &format!("needs root to {what}"))
}

/// Find `tool` on `PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Require the peer tool `tool` on `PATH`; see [`require`]. Returns its path.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let found = which(tool);
    if require(found.is_some(), &format!("needs `{tool}` on PATH")) {
        found
    } else {
        None
    }
}

/// The directory cargo puts this workspace's binaries in (`target/<profile>`).
///
/// Test executables live in `target/<profile>/deps`; the binaries one level up.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    let deps = exe.parent().expect("test binary has a parent directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Absolute path of the workspace binary `name` (e.g. `berth-runtime`).
///
/// # Panics
/// When the binary was not built; build it with `cargo build --workspace --bins`,
/// which the README's test command does before `cargo test`.
pub fn bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        is_executable(&path),
        "{} is missing: run `cargo build --workspace --bins` before the tests",
        path.display()
    );
    path
}

/// A name unique to this process and call, safe for cgroups, links, containers:
/// `<prefix>-<pid>-<n>`, at most 15 bytes when `prefix` is at most 4 bytes.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Make a busybox root filesystem in `dir`: `bin/busybox` from the host's
/// `busybox-static`, a symlink per applet, `etc/passwd`, `etc/group`, and empty
/// `proc`, `sys`, `dev`, `tmp`. Returns `false` (or fails under
/// `BERTH_REQUIRE_PRIVILEGED=1`) when busybox is not installed.
pub fn busybox_rootfs(dir: &Path) -> bool {
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable(p))
    else {
        return require(false, "needs busybox-static (/bin/busybox)");
    };
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create rootfs directory");
    }
    std::fs::copy(&busybox, dir.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).expect("applet symlink");
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod tmp");
    true
}

/// Mount points currently visible to this process (from `/proc/self/mountinfo`).
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .collect()
}

/// Mount points at or below `dir`; a leak check after a test asserts this is empty.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    mount_points()
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// Run `cmd`, assert it succeeded (its stdout and stderr in the message otherwise), and
/// return its stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `docker-registry` (distribution) on a free 127.0.0.1 port, its storage and config
/// in a temp dir of its own; killed by PID when dropped.
pub struct Registry {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start one asking nothing (`htpasswd` `None`) or HTTP basic auth against the
    /// htpasswd file content `htpasswd` (see [`htpasswd_line`]). `None` when the test
    /// must skip (no `docker-registry`); see [`require`].
    pub fn start(htpasswd: Option<&str>) -> Option<Registry> {
        Registry::start_with(htpasswd, "", None)
    }

    /// Start one with an `auth:` YAML section of its own (`auth_yaml`, may be empty;
    /// `htpasswd` wins when given) and, with `access_log`, its request log (one line per
    /// request) written to that file.
    pub fn start_with(
        htpasswd: Option<&str>,
        auth_yaml: &str,
        access_log: Option<&Path>,
    ) -> Option<Registry> {
        Registry::start_inner(htpasswd, auth_yaml, access_log, None)
    }

    /// Start one serving HTTPS with the PEM certificate `cert` and its key `key`, asking
    /// nothing.
    pub fn start_tls(cert: &Path, key: &Path) -> Option<Registry> {
        Registry::start_inner(None, "", None, Some((cert, key)))
    }

    fn start_inner(
        htpasswd: Option<&str>,
        auth_yaml: &str,
        access_log: Option<&Path>,
        tls: Option<(&Path, &Path)>,
    ) -> Option<Registry> {
        let bin = require_tool("docker-registry")?;
        let dir = tempfile::tempdir().expect("registry tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let auth = match htpasswd {
            Some(line) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, line).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    file.display()
                )
            }
            None => auth_yaml.to_string(),
        };
        let (level, accesslog) = match access_log {
            Some(_) => ("info", ""),
            None => ("error", "  accesslog:\n    disabled: true\n"),
        };
        let tls = match tls {
            Some((cert, key)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ),
            None => String::new(),
        };
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: {level}\n{accesslog}http:\n  addr: 127.0.0.1:{port}\n{tls}storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .expect("write registry config");
        let out = match access_log {
            Some(p) => std::process::Stdio::from(std::fs::File::create(p).expect("access log")),
            None => std::process::Stdio::null(),
        };
        let child = std::process::Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(reg)
    }

    /// `127.0.0.1:<port>`, as image references and `auths` keys spell it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's own temp dir (config, htpasswd, storage under `data/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // our own child, by pid
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An htpasswd line (bcrypt) for `user`/`password`, from `htpasswd -Bbn`; `None` when
/// the test must skip (no `htpasswd`, from apache2-utils).
pub fn htpasswd_line(user: &str, password: &str) -> Option<String> {
    let bin = require_tool("htpasswd")?;
    let out = std::process::Command::new(bin)
        .args(["-Bbn", user, password])
        .output()
        .expect("run htpasswd");
    assert!(out.status.success(), "htpasswd -Bbn failed");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_fit_a_link_name() {
        let a = unique_name("br");
        let b = unique_name("br");
        assert_ne!(a, b);
        assert!(a.starts_with("br-"));
    }

    #[test]
    fn which_finds_sh() {
        assert!(which("sh").is_some());
        assert!(which("no-such-tool-berth").is_none());
    }

    #[test]
    fn busybox_rootfs_has_applets() {
        let dir = tempfile::tempdir().expect("tempdir");
        if busybox_rootfs(dir.path()) {
            assert!(dir.path().join("bin/sh").exists());
            assert!(dir.path().join("etc/passwd").is_file());
        }
    }
}
