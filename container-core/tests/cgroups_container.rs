//! cgroups through the container lifecycle, as root: the init (which joins its cgroup
//! itself, see `cgroups::Attach`) and exec'd processes sit in the container's directory
//! of every hierarchy, limits apply inside, `update`, `stats`, pause/resume and
//! `kill_all` go through the cgroup, and delete removes every hierarchy's directory
//! (the cgroup2 one included). An invalid value fails create and leaves nothing.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use container_core::cgroups::{CgroupError, CgroupVersion, Layout};
use container_core::{Container, CreateOptions, Error, ExecOptions, Status, spec};
use oci_spec::runtime::{LinuxResources, Spec};

struct Env {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    root: PathBuf,
    parent: String,
}

impl Drop for Env {
    fn drop(&mut self) {
        // After a failed assertion: force-delete what the test created, then the parent.
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if let Ok(c) = Container::load(&id, &self.root) {
                    let _ = c.delete(true);
                }
            }
        }
        if let Ok(l) = Layout::host() {
            for h in l.hierarchies() {
                let _ =
                    std::fs::remove_dir(h.mount_point.join(self.parent.trim_start_matches('/')));
            }
        }
    }
}

fn env() -> Option<Env> {
    if !berth_tests::require_root("create containers") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    if !berth_tests::busybox_rootfs(&bundle.join("rootfs")) {
        return None;
    }
    let root = dir.path().join("state");
    Some(Env {
        _dir: dir,
        bundle,
        root,
        parent: format!("/{}", berth_tests::unique_name("berth-ctr")),
    })
}

fn spec_with(args: &[&str], cgroups_path: &str, resources: &str) -> Spec {
    let mut s = spec::default_spec();
    s.process_mut()
        .as_mut()
        .expect("process")
        .set_args(Some(args.iter().map(|a| a.to_string()).collect()));
    let linux = s.linux_mut().as_mut().expect("linux");
    linux.set_seccomp(None);
    linux.set_cgroups_path(Some(PathBuf::from(cgroups_path)));
    let mut r: LinuxResources = serde_json::from_str(resources).expect("resources");
    // Keep the default spec's device rules.
    r.set_devices(linux.resources().as_ref().and_then(|d| d.devices().clone()));
    linux.set_resources(Some(r));
    s
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut s)
        .expect("read pipe");
    s
}

/// The cgroup path of `pid` in each hierarchy of this mount namespace's layout, from
/// /proc/<pid>/cgroup (hierarchies mounted only elsewhere are not the container's).
fn proc_cgroups(pid: i32) -> Vec<String> {
    let layout = Layout::host().expect("layout");
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .expect("read /proc/pid/cgroup")
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            let mut ctl: Vec<&str> = ctl.split(',').filter(|c| !c.is_empty()).collect();
            ctl.sort_unstable();
            layout
                .hierarchies()
                .iter()
                .any(|h| {
                    let mut hc: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
                    hc.sort_unstable();
                    hc == ctl || (ctl.is_empty() && h.version == CgroupVersion::V2)
                })
                .then(|| path.to_string())
        })
        .collect()
}

fn leaf_dirs(path: &str) -> Vec<PathBuf> {
    Layout::host()
        .expect("layout")
        .hierarchies()
        .iter()
        .map(|h| h.mount_point.join(path.trim_start_matches('/')))
        .collect()
}

#[test]
fn the_container_lives_in_its_cgroup_everywhere_and_leaves_nothing() {
    let Some(e) = env() else { return };
    let id = berth_tests::unique_name("cg");
    let path = format!("{}/{id}", e.parent);
    let s = spec_with(
        &["sleep", "60"],
        &path,
        r#"{"memory": {"limit": 33554432}, "pids": {"limit": 20}}"#,
    );
    let mut c =
        Container::create(&id, &e.bundle, &s, &e.root, CreateOptions::default()).expect("create");
    let pid = c.pid();
    // Before start: the init already joined every hierarchy (v1 and the cgroup2 one).
    let lines = proc_cgroups(pid);
    let layout = Layout::host().expect("layout");
    assert!(lines.len() >= layout.hierarchies().len(), "{lines:?}");
    for l in &lines {
        assert_eq!(l, &path, "init cgroups: {lines:?}");
    }
    for d in leaf_dirs(&path) {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    c.start().expect("start");

    // Limits apply inside: the container sees its own limit through its cgroup mount.
    let (r, w) = nix::unistd::pipe().expect("pipe");
    let mut p = s.process().clone().expect("process");
    p.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
            .into(),
    ]));
    let mut x = c.exec(&p, ExecOptions::default().stdout(w)).expect("exec");
    assert_eq!(x.wait().expect("wait exec"), 0);
    let out = read_all(r);
    let out: Vec<&str> = out.lines().collect();
    let (limit, cgroups) = out.split_last().expect("output");
    assert_eq!(*limit, "33554432");
    // In the container's cgroup namespace, its own cgroup is the root: every hierarchy.
    assert!(cgroups.len() >= layout.hierarchies().len(), "{cgroups:?}");
    assert!(cgroups.iter().all(|l| l.ends_with(":/")), "{cgroups:?}");

    let st = c.stats().expect("stats");
    assert_eq!(st.memory.expect("memory").limit, 33554432);
    let pids = st.pids.expect("pids");
    assert_eq!((pids.current, pids.limit), (1, Some(20)));
    assert_eq!(c.pids().expect("pids"), vec![pid]);

    c.update(&serde_json::from_str(r#"{"pids": {"limit": 5}}"#).expect("res"))
        .expect("update");
    assert_eq!(c.stats().expect("stats").pids.expect("pids").limit, Some(5));
    let e2 = c
        .update(&serde_json::from_str(r#"{"cpu": {"mems": "9-2"}}"#).expect("res"))
        .expect_err("bad update");
    assert!(
        matches!(&e2, Error::Cgroup(CgroupError::InvalidValue { field, .. }) if field == "linux.resources.cpu.mems"),
        "{e2:?}"
    );

    c.pause().expect("pause");
    assert_eq!(c.state().expect("state").status, Status::Paused);
    c.resume().expect("resume");
    assert_eq!(c.state().expect("state").status, Status::Running);

    c.kill_all(nix::sys::signal::Signal::SIGKILL)
        .expect("kill all");
    assert_eq!(c.wait().expect("wait"), 128 + 9);
    c.delete(false).expect("delete");
    for d in leaf_dirs(&path) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn an_invalid_cgroup_value_fails_create_and_leaves_nothing() {
    let Some(e) = env() else { return };
    for (json, field) in [
        (r#"{"cpu": {"cpus": "3-1"}}"#, "linux.resources.cpu.cpus"),
        (
            r#"{"memory": {"limit": 1000, "swap": 10}}"#,
            "linux.resources.memory.swap",
        ),
        (
            r#"{"blockIO": {"weight": 2000}}"#,
            "linux.resources.blockIO.weight",
        ),
    ] {
        let id = berth_tests::unique_name("cgbad");
        let path = format!("{}/{id}", e.parent);
        let s = spec_with(&["true"], &path, json);
        let err = Container::create(&id, &e.bundle, &s, &e.root, CreateOptions::default())
            .expect_err(json);
        // spec::validate checks some fields (cpu lists) itself; the rest reach cgroups.
        let named = match &err {
            Error::Cgroup(CgroupError::InvalidValue { field: f, .. }) => f == field,
            Error::Spec { field: f, .. } => f == field,
            _ => false,
        };
        assert!(named, "{json}: {err:?}");
        assert!(err.to_string().contains(field), "{err}");
        assert!(!e.root.join(&id).exists(), "state left for {json}");
        for d in leaf_dirs(&path) {
            assert!(!d.exists(), "{} left behind for {json}", d.display());
        }
    }
    // A value the kernel refuses after the directories exist: also nothing left.
    let id = berth_tests::unique_name("cgbad");
    let path = format!("{}/{id}", e.parent);
    let s = spec_with(&["true"], &path, r#"{"cpu": {"cpus": "0-4095"}}"#);
    let err = Container::create(&id, &e.bundle, &s, &e.root, CreateOptions::default())
        .expect_err("cpus the host lacks");
    assert!(err.to_string().contains("cpuset.cpus"), "{err}");
    for d in leaf_dirs(&path) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(!Path::new(&e.root).join(&id).exists());
}
