//! Acceptances 3 and 4 of container-core: containerd (`ctr run --runc-binary`) and
//! dockerd (`--add-runtime berth=...`) drive berth-runtime. Both daemons run from a temp
//! dir with their own sockets; dockerd runs in a throwaway network namespace without
//! iptables or a bridge. Both are stopped by pid at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemons {
    dir: tempfile::TempDir,
    containerd: Option<Child>,
    dockerd: Option<Child>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for child in [self.dockerd.take(), self.containerd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
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

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A docker-archive of a busybox rootfs, made with podman (temp storage).
fn image_archive(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    assert!(berth_tests::busybox_rootfs(&rootfs));
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(dir.join("ps"))
            .arg("--runroot")
            .arg(dir.join("pr"))
            .args(args)
            .output()
            .expect("podman");
        assert!(out.status.success(), "{out:?}");
    };
    let img = dir.join("img.tar");
    podman(&[
        "import",
        "-q",
        &tar.to_string_lossy(),
        "localhost/berth-bb:test",
    ]);
    podman(&[
        "save",
        "-q",
        "-o",
        &img.to_string_lossy(),
        "localhost/berth-bb:test",
    ]);
    podman(&["rmi", "-a", "-f"]);
    img
}

fn start_containerd(dir: &Path) -> (Child, PathBuf) {
    let sock = dir.join("containerd.sock");
    let config = dir.join("containerd.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{1}\"\n",
            dir.display(),
            sock.display()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("containerd");
    let s = sock.clone();
    wait_for("containerd", || {
        Command::new("ctr")
            .arg("-a")
            .arg(&s)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    (child, sock)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn containerd_and_dockerd_run_through_berth_runtime() {
    if !berth_tests::require_root("run containerd and dockerd") {
        return;
    }
    for tool in [
        "containerd",
        "ctr",
        "dockerd",
        "docker",
        "podman",
        "unshare",
    ] {
        if berth_tests::require_tool(tool).is_none() {
            return;
        }
    }
    let rt = berth_tests::bin("berth-runtime");
    let mut d = Daemons {
        dir: tempfile::tempdir().expect("tempdir"),
        containerd: None,
        dockerd: None,
    };
    let dir = d.dir.path().to_path_buf();
    let img = image_archive(&dir);
    let (child, sock) = start_containerd(&dir);
    d.containerd = Some(child);

    // Acceptance 3: ctr run --runc-binary.
    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .arg("-a")
            .arg(&sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr")
    };
    let out = ctr(&["image", "import", &img.to_string_lossy()]);
    assert!(out.status.success(), "{out:?}");
    let id = berth_tests::unique_name("ctr");
    let out = ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        &rt.to_string_lossy(),
        "localhost/berth-bb:test",
        &id,
        "echo",
        "hi from ctr",
    ]);
    assert_eq!(text(&out.stdout), "hi from ctr\n", "{out:?}");
    let out = ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        &rt.to_string_lossy(),
        "localhost/berth-bb:test",
        &id,
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");

    // Acceptance 4: dockerd with --add-runtime, in its own network namespace.
    let dsock = dir.join("docker.sock");
    let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
    let child = Command::new("unshare")
        .arg("-n")
        .arg("dockerd")
        .arg("--data-root")
        .arg(dir.join("docker-data"))
        .arg("--exec-root")
        .arg(dir.join("docker-exec"))
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .arg("--host")
        .arg(format!("unix://{}", dsock.display()))
        .arg("--containerd")
        .arg(&sock)
        .arg("--add-runtime")
        .arg(format!("berth={}", rt.display()))
        .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("dockerd");
    d.dockerd = Some(child);
    let host = format!("unix://{}", dsock.display());
    let docker = |args: &[&str]| {
        Command::new("docker")
            .arg("-H")
            .arg(&host)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    };
    wait_for("dockerd", || docker(&["version"]).status.success());
    let out = docker(&["load", "-q", "-i", &img.to_string_lossy()]);
    assert!(out.status.success(), "{out:?}");
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "berth",
        "localhost/berth-bb:test",
        "echo",
        "hi",
    ]);
    assert_eq!(text(&out.stdout), "hi\n", "{out:?}");
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "berth",
        "localhost/berth-bb:test",
        "sh",
        "-c",
        "exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let _ = docker(&["rmi", "-f", "localhost/berth-bb:test"]);
}
