//! container-image against dockerd (acceptance 3): `docker save` archives load into
//! berth, and berth's docker-archive loads into `docker load` and runs.
//!
//! dockerd runs with its state in a temporary directory, inside a network namespace of
//! its own (so nothing it does touches the host's network), without a bridge or
//! firewall rules, and with a cgroup parent unique to this test; it is stopped by PID
//! and everything it leaves (mounts, cgroups) is removed.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use container_image::diff::{DiffOptions, create_layer};
use container_image::{Store, unmount};

/// A dockerd of this test, stopped by PID on drop.
struct Dockerd {
    child: Child,
    dir: PathBuf,
    sock: PathBuf,
    cgroup_parent: String,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let sock = dir.join("docker.sock");
        let cgroup_parent = format!("berth-img-dk-{}", std::process::id());
        let log = fs::File::create(dir.join("dockerd.log")).expect("dockerd log");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // SAFETY: unshare is async-signal-safe; the closure touches nothing else.
        unsafe {
            cmd.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().expect("start dockerd");
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
            sock,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = d
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    /// A docker CLI command against this daemon, bounded to two minutes.
    fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg("docker")
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Our own child, by PID: SIGTERM lets it stop its containerd, SIGKILL if it hangs.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let mut points = berth_tests::mounts_under(&self.dir);
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            let _ = unmount(&p);
        }
        if let Ok(ctrls) = fs::read_dir("/sys/fs/cgroup") {
            for c in ctrls.flatten() {
                let _ = fs::remove_dir(c.path().join(&self.cgroup_parent));
            }
        }
    }
}

fn run(mut cmd: Command) -> String {
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

#[test]
fn image_docker_save_and_load_vs_dockerd() {
    if !berth_tests::require_root("run dockerd") {
        return;
    }
    let (Some(_), Some(_), Some(_)) = (
        berth_tests::require_tool("dockerd"),
        berth_tests::require_tool("docker"),
        berth_tests::require_tool("tar"),
    ) else {
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("berth-img-dk-")
        .tempdir()
        .expect("tempdir");
    let t = tmp.path();
    let rootfs = t.join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return;
    }
    let rootfs_tar = t.join("rootfs.tar");
    run({
        let mut c = Command::new("tar");
        c.arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&rootfs_tar)
            .arg(".");
        c
    });
    let dk = Dockerd::start(t);

    // dockerd side: import a rootfs, then commit a container that adds a file and
    // deletes one (a second layer with a whiteout), and save it.
    run(dk.docker(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh"]"#,
        &rootfs_tar.to_string_lossy(),
        "localhost/dk-bb:1",
    ]));
    let name = format!("berth-img-{}", std::process::id());
    run(dk.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "localhost/dk-bb:1",
        "sh",
        "-c",
        "echo from dockerd > /etc/dk && rm /bin/vi",
    ]));
    run(dk.docker(&[
        "commit",
        "-c",
        r#"CMD ["/bin/cat", "/etc/dk"]"#,
        "-c",
        "ENV DK=1",
        &name,
        "localhost/dk-bb:2",
    ]));
    run(dk.docker(&["rm", &name]));
    let docker_id = run(dk.docker(&["inspect", "--format", "{{.Id}}", "localhost/dk-bb:2"]));
    let saved = t.join("docker-save.tar");
    run(dk.docker(&["save", "-o", &saved.to_string_lossy(), "localhost/dk-bb:2"]));

    // berth loads docker's archive: same image id, same names, same tree.
    let store = Store::open(t.join("store")).expect("store");
    let loaded = store.load_docker_archive(&saved).expect("load docker save");
    assert_eq!(loaded.len(), 1);
    let img = &loaded[0];
    assert_eq!(img.id().to_string(), docker_id.trim(), "image id");
    assert_eq!(img.layers.len(), 2);
    let by_name = store
        .image("localhost/dk-bb:2")
        .expect("named as docker named it");
    assert_eq!(by_name.manifest_digest, img.manifest_digest);
    assert_eq!(
        by_name.config.cmd().expect("cmd"),
        vec!["/bin/cat", "/etc/dk"]
    );
    assert!(by_name.config.env().iter().any(|e| e == "DK=1"));
    let flat = t.join("flat");
    store.unpack_to(&by_name, &flat).expect("unpack");
    assert_eq!(
        fs::read_to_string(flat.join("etc/dk")).expect("etc/dk"),
        "from dockerd\n"
    );
    assert!(
        fs::symlink_metadata(flat.join("bin/vi")).is_err(),
        "whiteout applied"
    );
    assert!(flat.join("bin/busybox").is_file());
    let history = store.history("localhost/dk-bb:2").expect("history");
    assert_eq!(history.len(), 2, "{history:?}");

    // berth's own image: docker import of a rootfs plus a layer from a directory,
    // saved as a docker-archive; docker loads it and runs it.
    let base = store
        .import_rootfs_tar(
            fs::File::open(&rootfs_tar).expect("rootfs tar"),
            "localhost/berth-dk:base",
            &[],
        )
        .expect("import rootfs");
    let extra = t.join("extra");
    fs::create_dir_all(extra.join("etc")).expect("mkdir");
    fs::write(extra.join("etc/greeting"), "made by berth\n").expect("greeting");
    let l2 = create_layer(&store, &extra, &DiffOptions::default()).expect("layer");
    let mut cfg = base.config.clone();
    cfg.set(
        "Cmd",
        Some(serde_json::json!(["/bin/cat", "/etc/greeting"])),
    );
    let mut layers = base.layers.clone();
    layers.push(l2);
    let mine = store
        .write_image(&cfg, &layers, Some("localhost/berth-dk:1"))
        .expect("image");
    let archive = t.join("berth-save.tar");
    store
        .save_docker_archive(&["localhost/berth-dk:1", "localhost/dk-bb:2"], &archive)
        .expect("save");
    run(dk.docker(&["rmi", "localhost/dk-bb:2"]));
    let out = run(dk.docker(&["load", "-i", &archive.to_string_lossy()]));
    assert!(out.contains("localhost/berth-dk:1"), "{out}");
    let id = run(dk.docker(&["inspect", "--format", "{{.Id}}", "localhost/berth-dk:1"]));
    assert_eq!(id.trim(), mine.id().to_string());
    let out = run(dk.docker(&["run", "--rm", "--network", "none", "localhost/berth-dk:1"]));
    assert_eq!(out, "made by berth\n");
    // docker's image went through berth and back unchanged, and still runs.
    let id = run(dk.docker(&["inspect", "--format", "{{.Id}}", "localhost/dk-bb:2"]));
    assert_eq!(id.trim(), docker_id.trim());
    let out = run(dk.docker(&["run", "--rm", "--network", "none", "localhost/dk-bb:2"]));
    assert_eq!(out, "from dockerd\n");
    let out = run(dk.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/dk-bb:2",
        "sh",
        "-c",
        "test ! -e /bin/vi && echo gone",
    ]));
    assert_eq!(out, "gone\n");
    drop(dk);
    assert!(
        berth_tests::mounts_under(t).is_empty(),
        "mounts left: {:?}",
        berth_tests::mounts_under(t)
    );
}
