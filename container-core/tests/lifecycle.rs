//! The library lifecycle, as root: create/start/wait/delete, stdio capture, exit codes,
//! exec, bad specs, and a 500-cycle leak check.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use container_core::{ChildErrorKind, Container, CreateOptions, Error, ExecOptions, Status, spec};
use oci_spec::runtime::Spec;

struct Env {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    root: PathBuf,
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
    })
}

fn spec_with(args: &[&str], seccomp: bool) -> Spec {
    let mut s = spec::default_spec();
    s.process_mut()
        .as_mut()
        .expect("process")
        .set_args(Some(args.iter().map(|a| a.to_string()).collect()));
    if !seccomp {
        s.linux_mut().as_mut().expect("linux").set_seccomp(None);
    }
    s
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().expect("pipe")
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut s)
        .expect("read pipe");
    s
}

/// Run to completion; (exit code, stdout).
fn run(e: &Env, id: &str, spec: &Spec) -> (i32, String) {
    let (r, w) = pipe();
    let mut c = Container::create(
        id,
        &e.bundle,
        spec,
        &e.root,
        CreateOptions::default().stdout(w),
    )
    .expect("create");
    assert_eq!(c.state().expect("state").status, Status::Created);
    c.start().expect("start");
    let code = c.wait().expect("wait");
    c.delete(false).expect("delete");
    (code, read_all(r))
}

fn cgroup_dir(id: &str) -> PathBuf {
    // pids exists on v1 and hybrid; on pure v2 the unified dir.
    let v1 = Path::new("/sys/fs/cgroup/pids/berth").join(id);
    if Path::new("/sys/fs/cgroup/pids").exists() {
        v1
    } else {
        Path::new("/sys/fs/cgroup/berth").join(id)
    }
}

#[test]
fn output_and_exit_codes() {
    let Some(e) = env() else { return };
    let id = berth_tests::unique_name("lc");
    assert_eq!(
        run(&e, &id, &spec_with(&["echo", "hello from berth"], true)),
        (0, "hello from berth\n".into())
    );
    let id = berth_tests::unique_name("lc");
    assert_eq!(
        run(&e, &id, &spec_with(&["sh", "-c", "exit 3"], false)).0,
        3
    );
    let id = berth_tests::unique_name("lc");
    let (code, out) = run(
        &e,
        &id,
        &spec_with(&["sh", "-c", "hostname; echo $$; pwd"], false),
    );
    assert_eq!(code, 0);
    assert_eq!(out, "berth\n1\n/\n");
    assert!(!cgroup_dir(&id).exists(), "cgroup removed");
    assert!(!e.root.join(&id).exists(), "state removed");
}

#[test]
fn state_kill_and_exec() {
    let Some(e) = env() else { return };
    let id = berth_tests::unique_name("lc");
    let mut c = Container::create(
        &id,
        &e.bundle,
        &spec_with(&["sleep", "60"], false),
        &e.root,
        CreateOptions::default(),
    )
    .expect("create");
    c.start().expect("start");
    let other = Container::load(&id, &e.root).expect("load from another handle");
    assert_eq!(other.state().expect("state").status, Status::Running);
    assert_eq!(other.pid(), c.pid());

    let (r, w) = pipe();
    let mut p = spec_with(
        &[
            "sh",
            "-c",
            "echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '",
        ],
        false,
    )
    .process()
    .clone()
    .expect("process");
    p.set_cwd("/tmp".into());
    let mut x = c.exec(&p, ExecOptions::default().stdout(w)).expect("exec");
    assert_eq!(x.wait().expect("wait exec"), 0);
    assert_eq!(read_all(r), "exec-ok\nsleep 60 ");

    // pid 1 of a pid namespace ignores SIGTERM without a handler; SIGKILL always works.
    c.kill(nix::sys::signal::Signal::SIGKILL).expect("kill");
    assert_eq!(c.wait().expect("wait"), 128 + 9);
    assert_eq!(c.state().expect("state").status, Status::Stopped);
    c.delete(false).expect("delete");
    assert!(matches!(
        Container::load(&id, &e.root),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn force_delete_of_a_running_container() {
    let Some(e) = env() else { return };
    let id = berth_tests::unique_name("lc");
    let mut c = Container::create(
        &id,
        &e.bundle,
        &spec_with(&["sleep", "60"], false),
        &e.root,
        CreateOptions::default(),
    )
    .expect("create");
    c.start().expect("start");
    let pid = c.pid();
    let err = Container::load(&id, &e.root)
        .expect("load")
        .delete(false)
        .expect_err("running");
    assert!(err.to_string().contains("running"), "{err}");
    c.delete(true).expect("force delete");
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(!cgroup_dir(&id).exists());
}

fn assert_nothing_left(e: &Env, id: &str) {
    assert!(!e.root.join(id).exists(), "state dir of {id} left behind");
    assert!(!cgroup_dir(id).exists(), "cgroup of {id} left behind");
}

#[test]
fn bad_specs_fail_clearly_and_leave_nothing() {
    let Some(e) = env() else { return };
    let create = |id: &str, s: &Spec, bundle: &Path| {
        Container::create(id, bundle, s, &e.root, CreateOptions::default())
    };

    let id = berth_tests::unique_name("bad");
    let err = create(&id, &spec_with(&["true"], false), &e.bundle.join("missing"))
        .expect_err("missing rootfs");
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
    assert_nothing_left(&e, &id);

    let json = serde_json::to_string(&spec_with(&["true"], false))
        .expect("json")
        .replace("\"uts\"", "\"bogus\"");
    let err = spec::parse(json.as_bytes()).expect_err("unknown namespace");
    assert!(
        err.to_string().contains("bogus") || err.to_string().contains("variant"),
        "{err}"
    );

    let id = berth_tests::unique_name("bad");
    let mut s = spec_with(&["true"], false);
    let res: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"cpu": {"cpus": "3-1"}}"#).expect("resources");
    s.linux_mut()
        .as_mut()
        .expect("linux")
        .set_resources(Some(res));
    let err = create(&id, &s, &e.bundle).expect_err("invalid cgroup value");
    assert!(err.to_string().contains("cpus"), "{err}");
    assert_nothing_left(&e, &id);

    let id = berth_tests::unique_name("bad");
    let err = create(&id, &spec_with(&["no-such-program"], false), &e.bundle)
        .expect_err("missing binary");
    match &err {
        Error::Child(c) => assert_eq!(c.kind, ChildErrorKind::ExecutableNotFound),
        other => panic!("unexpected {other}"),
    }
    assert!(
        err.to_string()
            .contains("executable file not found in $PATH"),
        "{err}"
    );
    assert_nothing_left(&e, &id);

    let id = berth_tests::unique_name("bad");
    let err =
        create(&id, &spec_with(&["/bin/missing"], false), &e.bundle).expect_err("missing path");
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
    assert_nothing_left(&e, &id);

    let id = berth_tests::unique_name("bad");
    let mut s = spec_with(&["true"], false);
    let m: oci_spec::runtime::Mount = serde_json::from_str(
        r#"{"destination": "/data", "type": "bind", "source": "/nonexistent-berth-src", "options": ["rbind"]}"#,
    )
    .expect("mount");
    s.mounts_mut().as_mut().expect("mounts").push(m);
    let err = create(&id, &s, &e.bundle).expect_err("missing bind source");
    assert!(err.to_string().contains("/nonexistent-berth-src"), "{err}");
    assert_nothing_left(&e, &id);
}

/// Mounts of this mount namespace under `dir` (other tests of the machine mount
/// elsewhere, so only our own tree is checked).
fn mounts_under(dir: &Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .count()
}

fn child_count() -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..])
            && after.split_whitespace().nth(1) == Some(me.as_str())
        {
            n += 1;
        }
    }
    n
}

#[test]
fn five_hundred_cycles_leave_nothing_behind() {
    let Some(e) = env() else { return };
    let s = spec_with(&["true"], false);
    let base = e.bundle.parent().expect("temp dir").to_path_buf();
    assert_eq!(mounts_under(&base), 0);
    for i in 0..500 {
        let id = format!("{}-{i}", berth_tests::unique_name("cy"));
        let mut c = Container::create(&id, &e.bundle, &s, &e.root, CreateOptions::default())
            .expect("create");
        c.start().expect("start");
        assert_eq!(c.wait().expect("wait"), 0);
        c.delete(false).expect("delete");
        assert_nothing_left(&e, &id);
    }
    assert_eq!(mounts_under(&base), 0, "mounts leaked");
    let left: Vec<_> = std::fs::read_dir(&e.root)
        .expect("root")
        .flatten()
        .filter(|d| !d.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "state left: {left:?}");
    // Other tests of this binary run in parallel threads; none of ours may remain.
    assert!(child_count() <= 8, "processes leaked");
}

#[test]
fn hooks_run_at_their_points_with_the_state() {
    let Some(e) = env() else { return };
    let out = e.bundle.parent().expect("dir").join("hooks");
    std::fs::create_dir_all(&out).expect("mkdir");
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}.json", out.display())],
            "env": ["PATH=/usr/bin:/bin"]
        })
    };
    let hooks: oci_spec::runtime::Hooks = serde_json::from_value(serde_json::json!({
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo started > /tmp/started"]}]
    }))
    .expect("hooks");
    let mut s = spec_with(&["true"], false);
    s.set_hooks(Some(hooks));
    let id = berth_tests::unique_name("hk");
    let mut c =
        Container::create(&id, &e.bundle, &s, &e.root, CreateOptions::default()).expect("create");
    let created: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("createRuntime.json")).expect("createRuntime ran"),
    )
    .expect("state json");
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["pid"], c.pid());
    assert!(!out.join("poststart.json").exists());
    c.start().expect("start");
    assert!(out.join("poststart.json").exists());
    assert_eq!(c.wait().expect("wait"), 0);
    assert_eq!(
        std::fs::read_to_string(e.bundle.join("rootfs/tmp/started"))
            .expect("startContainer ran in the container"),
        "started\n"
    );
    c.delete(false).expect("delete");
    let stopped: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("poststop.json")).expect("poststop ran"))
            .expect("json");
    assert_eq!(stopped["status"], "stopped");
}

#[test]
fn pause_and_resume() {
    let Some(e) = env() else { return };
    let id = berth_tests::unique_name("pz");
    let mut c = Container::create(
        &id,
        &e.bundle,
        &spec_with(&["sleep", "60"], false),
        &e.root,
        CreateOptions::default(),
    )
    .expect("create");
    c.start().expect("start");
    c.pause().expect("pause");
    assert_eq!(c.status(), Status::Paused);
    c.resume().expect("resume");
    assert_eq!(c.status(), Status::Running);
    assert!(c.pids().expect("pids").contains(&c.pid()));
    c.delete(true).expect("delete");
}
