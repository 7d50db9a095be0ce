//! issue 3 acceptance: podman driving `berth-runtime` (podman's own profile, capabilities
//! and masks), compared with what podman gets from runc.

mod core_security_util;

use core_security_util::*;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// podman driving the runtime: its own profile, capabilities and masks must be applied.
/// The expected values are what podman gets from runc for the same command.
#[test]
fn podman_with_runtime_applies_podmans_security_settings() {
    let Some(rt) = runtime() else { return };
    let Some(_) = berth_tests::require_tool("podman") else {
        return;
    };
    let Some(reference_rt) = berth_tests::require_tool("runc") else {
        return;
    };
    let work = tempfile::tempdir().expect("podman dir");
    let _unmount = UnmountUnder(work.path().to_path_buf());
    let rootfs = work.path().join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return;
    }
    let podman = |runtime: &Path| -> Output {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(work.path().join("storage"))
            .arg("--runroot")
            .arg(work.path().join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(runtime)
            // podman's default nofile/nproc limits exceed this host's hard limits.
            .args(["run", "--rm", "--network", "none"])
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "--rootfs",
            ])
            .arg(&rootfs)
            .args(["sh", "-c", PROBE]);
        run_bounded(&mut c, Duration::from_secs(120))
    };
    let reference = podman(&reference_rt);
    assert!(
        reference.status.success(),
        "podman+runc: {}",
        text(&reference.stderr)
    );
    let reference = text(&reference.stdout);
    let cap_eff = field(&reference, "CapEff")
        .expect("runc's CapEff")
        .to_string();
    let nnp = field(&reference, "NoNewPrivs")
        .expect("runc's NoNewPrivs")
        .to_string();

    let ours = podman(&rt);
    let stdout = text(&ours.stdout);
    assert!(
        ours.status.success(),
        "podman+runtime: {}\n{stdout}",
        text(&ours.stderr)
    );
    let refused = field(&reference, "unshare").is_some_and(|u| !u.starts_with('0'));
    check_probe(&stdout, &cap_eff, &nnp, refused);
    assert_eq!(
        field(&stdout, "CapBnd"),
        field(&reference, "CapBnd"),
        "{stdout}"
    );
}

/// podman sends `noNewPrivileges: false`: the filter must still go in.
#[test]
fn without_no_new_privileges_seccomp_still_applies() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = b.run_sh(PROBE);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    check_probe(&stdout, DOCKER_CAP_EFF, "0", true);
}

/// podman's overlay driver bind-mounts its storage directory onto itself; undo that (and
/// anything else podman left under the test's directory) when the test ends.
struct UnmountUnder(std::path::PathBuf);

impl Drop for UnmountUnder {
    fn drop(&mut self) {
        let mut mounts = berth_tests::mounts_under(&self.0);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
                // SAFETY: a valid path; MNT_DETACH only affects this mount point.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        assert!(
            std::thread::panicking() || berth_tests::mounts_under(&self.0).is_empty(),
            "mounts left under {}",
            self.0.display()
        );
    }
}
