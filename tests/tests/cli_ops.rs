//! `berth` operations on containers and images (issue 7): `cp` both ways (and a
//! container's symlinks cannot make it write or read outside its rootfs), `diff`,
//! `export`, `save`/`load`, `push`/`pull` through a real registry, `network
//! connect`/`disconnect`, `volume export`/`import`. Run as root against the real
//! binary; each test has its own engine root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A throwaway engine root with a busybox image (and optional network namespace);
/// removes its containers, networks and mounts when dropped.
struct Env {
    root: tempfile::TempDir,
    rootfs: PathBuf,
    netns: Option<String>,
    image: String,
}

impl Env {
    fn new(what: &str) -> Option<Env> {
        if !berth_tests::require_root(what) {
            return None;
        }
        berth_tests::require_tool("tar")?;
        let root = tempfile::tempdir().expect("tempdir");
        let rootfs = root.path().join("rootfs");
        if !berth_tests::busybox_rootfs(&rootfs) {
            return None;
        }
        let env = Env {
            root,
            rootfs,
            netns: None,
            image: "localhost/bb:ops".into(),
        };
        let tar = env.root.path().join("rootfs.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&env.rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success();
        assert!(ok, "tar of the rootfs");
        // `import -`: the rootfs tar on stdin
        let mut child = env
            .cmd(&["import", "-", &env.image])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&std::fs::read(&tar).expect("read tar"))
            .expect("write");
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "berth import - {}", env.image);
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("sha256:"));
        Some(env)
    }

    /// Run every later command inside a fresh network namespace.
    fn with_netns(mut self) -> Option<Env> {
        berth_tests::require_tool("ip")?;
        berth_tests::require_tool("nsenter")?;
        let name = berth_tests::unique_name("bo");
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

    fn cmd(&self, args: &[&str]) -> Command {
        let berth = berth_tests::bin("berth");
        let mut c = match &self.netns {
            // nsenter changes only the network namespace (`ip netns exec` would also
            // remount /sys, hiding the cgroup filesystems)
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

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    /// Run and expect success; stdout.
    fn ok(&self, args: &[&str]) -> String {
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
    fn fails(&self, args: &[&str]) -> String {
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

    /// `run -d` of the test image; the container's name.
    fn daemon(&self, name: &str, network: &str, cmd: &[&str]) -> String {
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

    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Poll `inspect -f format` until `pred` holds (bounded).
    fn wait_for(&self, name: &str, format: &str, pred: impl Fn(&str) -> bool) -> String {
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

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
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
        let left = berth_tests::mounts_under(self.root.path());
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind: {left:?}");
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Names in a tar (via GNU tar).
fn tar_list(tar: &Path) -> Vec<String> {
    let o = Command::new("tar")
        .arg("-tf")
        .arg(tar)
        .output()
        .expect("tar -t");
    assert!(o.status.success(), "tar -tf {}", tar.display());
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn cp_in_and_out_of_running_and_stopped_containers() {
    let Some(env) = Env::new("cp") else {
        return;
    };
    let c = env.daemon("box", "none", &["sleep", "600"]);
    // a file into an existing directory keeps its name
    let f = env.path("hello.txt");
    std::fs::write(&f, "hello from the host\n").expect("write");
    env.ok(&["cp", path_str(&f), &format!("{c}:/tmp")]);
    assert_eq!(
        env.ok(&["exec", &c, "cat", "/tmp/hello.txt"]),
        "hello from the host\n"
    );
    // ... owned by root unless -a
    assert_eq!(
        env.ok(&["exec", &c, "stat", "-c", "%u", "/tmp/hello.txt"])
            .trim(),
        "0"
    );
    // a tree to a new name
    let d = env.path("tree");
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    std::fs::write(d.join("sub/leaf"), "leaf\n").expect("write");
    std::os::unix::fs::symlink("sub/leaf", d.join("link")).expect("symlink");
    env.ok(&["cp", path_str(&d), &format!("{c}:/copied")]);
    assert_eq!(env.ok(&["exec", &c, "cat", "/copied/sub/leaf"]), "leaf\n");
    assert_eq!(
        env.ok(&["exec", &c, "readlink", "/copied/link"]).trim(),
        "sub/leaf"
    );
    // out: a file to a new host name, a directory into an existing host directory
    let out = env.path("passwd.out");
    env.ok(&["cp", &format!("{c}:/etc/passwd"), path_str(&out)]);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(env.rootfs.join("etc/passwd")).expect("read")
    );
    let outdir = env.path("outdir");
    std::fs::create_dir_all(&outdir).expect("mkdir");
    env.ok(&["cp", &format!("{c}:/copied"), path_str(&outdir)]);
    assert_eq!(
        std::fs::read_to_string(outdir.join("copied/sub/leaf")).expect("read"),
        "leaf\n"
    );
    assert_eq!(
        std::fs::read_link(outdir.join("copied/link")).expect("a symlink, not followed"),
        PathBuf::from("sub/leaf")
    );
    // `-`: a tar on stdout, and a tar from stdin
    let o = env.berth(&["cp", &format!("{c}:/copied"), "-"]);
    assert!(o.status.success());
    let t = env.path("out.tar");
    std::fs::write(&t, &o.stdout).expect("write");
    let names = tar_list(&t);
    assert!(names.contains(&"copied/sub/leaf".to_string()), "{names:?}");
    let mut child = env
        .cmd(&["cp", "-", &format!("{c}:/tmp")])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    let tar_in = Command::new("tar")
        .arg("-C")
        .arg(&d)
        .arg("-cf")
        .arg("-")
        .arg("sub")
        .output()
        .expect("tar");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&tar_in.stdout)
        .expect("write");
    assert!(child.wait().expect("wait").success());
    assert_eq!(env.ok(&["exec", &c, "cat", "/tmp/sub/leaf"]), "leaf\n");

    // stopped: copy in, copy out, and the change is there at the next start
    env.ok(&["stop", "-t", "1", &c]);
    let f2 = env.path("while-stopped");
    std::fs::write(&f2, "stopped\n").expect("write");
    env.ok(&["cp", path_str(&f2), &format!("{c}:/root/")]);
    let back = env.path("back");
    env.ok(&["cp", &format!("{c}:/tmp/hello.txt"), path_str(&back)]);
    assert_eq!(
        std::fs::read_to_string(&back).expect("read"),
        "hello from the host\n"
    );
    env.ok(&["start", &c]);
    env.wait_for(&c, "{{.State.Running}}", |s| s == "true");
    assert_eq!(
        env.ok(&["exec", &c, "cat", "/root/while-stopped"]),
        "stopped\n"
    );

    // a stopped container's volumes are reached too (not the rootfs beneath them)
    env.ok(&[
        "create",
        "--name",
        "withvol",
        "--network",
        "none",
        "-v",
        "vol1:/data",
        &env.image,
        "true",
    ]);
    env.ok(&["cp", path_str(&f2), "withvol:/data/"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vol1:/v",
        &env.image,
        "cat",
        "/v/while-stopped",
    ]);
    assert_eq!(out, "stopped\n");
    let back2 = env.path("back2");
    env.ok(&["cp", "withvol:/data/while-stopped", path_str(&back2)]);
    assert_eq!(std::fs::read_to_string(&back2).expect("read"), "stopped\n");
    assert!(
        berth_tests::mounts_under(env.root.path()).len() <= 1,
        "cp's private mounts are gone: {:?}",
        berth_tests::mounts_under(env.root.path())
    );
    env.ok(&["rm", "withvol"]);

    // bad input: exit 125 and Docker's words
    let err = env.fails(&[
        "cp",
        &format!("{c}:/no/such/file"),
        path_str(&env.path("x")),
    ]);
    assert!(
        err.contains("Could not find the file /no/such/file in container box"),
        "{err}"
    );
    assert!(!env.path("x").exists());
    let err = env.fails(&["cp", path_str(&f), "nosuch:/tmp"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let err = env.fails(&["cp", path_str(&f), &format!("{c}:/no/such/dir/x")]);
    assert!(err.contains("Could not find the file"), "{err}");
    env.ok(&["rm", "-f", &c]);
}

#[test]
fn cp_cannot_escape_through_symlinks_in_the_container() {
    let Some(env) = Env::new("cp") else {
        return;
    };
    let c = env.daemon("evil", "none", &["sleep", "600"]);
    // a host directory the container must never reach, named by an absolute symlink
    let host = env.path("host-secret");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("secret"), "host only\n").expect("write");
    let h = path_str(&host).to_string();
    env.ok(&[
        "exec",
        &c,
        "sh",
        "-c",
        &format!(
            "ln -s {h} /tmp/out && ln -s / /up && ln -s ../../../../../../.. /dots && mkdir -p {h}"
        ),
    ]);
    // copy in through the symlinks: lands in the container, never on the host
    let f = env.path("payload");
    std::fs::write(&f, "payload\n").expect("write");
    env.ok(&["cp", path_str(&f), &format!("{c}:/tmp/out/")]);
    assert!(
        !host.join("payload").exists(),
        "cp wrote through a symlink to the host"
    );
    assert_eq!(
        env.ok(&["exec", &c, "cat", &format!("{h}/payload")]),
        "payload\n"
    );
    env.ok(&["cp", path_str(&f), &format!("{c}:/up{h}/payload2")]);
    assert!(
        !host.join("payload2").exists(),
        "cp followed / out of the rootfs"
    );
    let o = env.berth(&["cp", path_str(&f), &format!("{c}:/dots{h}/payload3")]);
    assert!(
        !host.join("payload3").exists(),
        "cp followed .. out of the rootfs"
    );
    if o.status.success() {
        // it landed inside, where /dots/.. resolves: the container's root
        assert_eq!(
            env.ok(&["exec", &c, "cat", &format!("{h}/payload3")]),
            "payload\n"
        );
    }
    // copy out through the symlinks: the host's file is never read
    let err = env.fails(&[
        "cp",
        &format!("{c}:/tmp/out/secret"),
        path_str(&env.path("s1")),
    ]);
    assert!(err.contains("Could not find the file"), "{err}");
    let err = env.fails(&[
        "cp",
        &format!("{c}:/up{h}/secret"),
        path_str(&env.path("s2")),
    ]);
    assert!(err.contains("Could not find the file"), "{err}");
    assert!(!env.path("s1").exists() && !env.path("s2").exists());
    // a tar on stdin with `..` and absolute names stays inside too
    let evil_tar = env.path("evil.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(env.root.path())
        .arg("-cPf")
        .arg(&evil_tar)
        .arg(format!("{}/payload", env.root.path().display()))
        .status()
        .expect("tar");
    assert!(status.success());
    let mut child = env
        .cmd(&["cp", "-", &format!("{c}:/tmp/out")])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&std::fs::read(&evil_tar).expect("read"))
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(125), "absolute names are refused");
    assert_eq!(
        std::fs::read_dir(&host).expect("ls").count(),
        1,
        "the host directory is untouched"
    );
    // the container's symlink itself is copied out as a symlink
    let l = env.path("link-copy");
    env.ok(&["cp", &format!("{c}:/tmp/out"), path_str(&l)]);
    assert_eq!(std::fs::read_link(&l).expect("symlink"), host);
}

#[test]
fn diff_and_export_show_the_containers_changes() {
    let Some(env) = Env::new("diff") else {
        return;
    };
    env.ok(&[
        "run",
        "--name",
        "changer",
        "--network",
        "none",
        &env.image,
        "sh",
        "-c",
        "echo new > /new-file && rm /etc/group && echo extra >> /etc/passwd && mkdir -p /made/deep && rm /bin/ls",
    ]);
    let diff = env.ok(&["diff", "changer"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "A /new-file",
        "D /etc/group",
        "C /etc/passwd",
        "C /etc",
        "A /made",
        "A /made/deep",
        "C /bin",
        "D /bin/ls",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in\n{diff}");
    }
    assert!(
        !diff.contains("/bin/busybox"),
        "unchanged files are not listed:\n{diff}"
    );
    let mut sorted = lines.clone();
    sorted.sort_by_key(|l| l[2..].to_string());
    assert_eq!(lines, sorted, "sorted by path");

    let tar = env.path("export.tar");
    env.ok(&["export", "-o", path_str(&tar), "changer"]);
    let names = tar_list(&tar);
    for want in ["new-file", "bin/busybox", "etc/passwd", "made/deep"] {
        assert!(names.iter().any(|n| n == want), "{want} missing in export");
    }
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "deleted file exported"
    );
    assert!(!names.iter().any(|n| n == "bin/ls"));
    let x = env.path("x");
    std::fs::create_dir_all(&x).expect("mkdir");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&x)
        .arg("-xf")
        .arg(&tar)
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    assert!(
        std::fs::read_to_string(x.join("etc/passwd"))
            .expect("read")
            .ends_with("extra\n")
    );
    // export to stdout is the same tree; a running container exports too
    let o = env.berth(&["export", "changer"]);
    assert!(o.status.success());
    std::fs::write(env.path("export2.tar"), &o.stdout).expect("write");
    assert_eq!(tar_list(&env.path("export2.tar")), names);
    env.daemon(
        "live",
        "none",
        &["sh", "-c", "echo live > /live; sleep 600"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["diff", "live"]).contains("A /live") {
        assert!(Instant::now() < deadline, "no diff of a running container");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = env.berth(&["export", "-o", path_str(&env.path("live.tar")), "live"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tar_list(&env.path("live.tar")).contains(&"live".to_string()));
    let err = env.fails(&["diff", "nosuch"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let err = env.fails(&["export", "-o", path_str(&env.path("none.tar")), "nosuch"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    assert!(!env.path("none.tar").exists(), "no partial file");
    assert!(
        !std::fs::read_dir(env.root.path()).expect("ls").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("partial")),
        "no partial file"
    );
    // a container that never ran: cp into it prepares its layer, diff sees the file
    env.ok(&[
        "create",
        "--name",
        "fresh",
        "--network",
        "none",
        &env.image,
        "cat",
        "/in-fresh",
    ]);
    assert_eq!(env.ok(&["diff", "fresh"]), "");
    let f = env.path("in-fresh");
    std::fs::write(&f, "fresh\n").expect("write");
    env.ok(&["cp", path_str(&f), "fresh:/"]);
    assert_eq!(env.ok(&["diff", "fresh"]), "A /in-fresh\n");
    assert_eq!(env.ok(&["start", "-a", "fresh"]), "fresh\n");
}

#[test]
fn save_load_round_trip() {
    let Some(env) = Env::new("save/load") else {
        return;
    };
    let tar = env.path("saved.tar");
    env.ok(&["save", "-o", path_str(&tar), &env.image]);
    let names = tar_list(&tar);
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    env.ok(&["rmi", &env.image]);
    assert!(!env.ok(&["images"]).contains("localhost/bb"));
    let out = env.ok(&["load", "-i", path_str(&tar)]);
    assert!(out.contains("Loaded image: localhost/bb:ops"), "{out}");
    let run = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &env.image,
        "echo",
        "loaded",
    ]);
    assert_eq!(run, "loaded\n");
    // save to stdout, load from stdin
    let o = env.berth(&["image", "save", &env.image]);
    assert!(o.status.success());
    env.ok(&["rmi", &env.image]);
    let mut child = env
        .cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&o.stdout)
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Loaded image: localhost/bb:ops"));
    let err = env.fails(&[
        "save",
        "-o",
        path_str(&env.path("n.tar")),
        "localhost/nosuch:1",
    ]);
    assert!(err.contains("Unable to find image"), "{err}");
    assert!(!env.path("n.tar").exists());
    // prune -a removes images no container uses, and only those
    env.ok(&[
        "run",
        "--name",
        "maker",
        "--network",
        "none",
        &env.image,
        "touch",
        "/spare",
    ]);
    env.ok(&["commit", "maker", "localhost/bb:spare"]);
    env.ok(&["rm", "maker"]);
    env.ok(&[
        "create",
        "--name",
        "user",
        "--network",
        "none",
        &env.image,
        "true",
    ]);
    let pruned = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("untagged: localhost/bb:spare"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    let left = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(left.trim(), "localhost/bb:ops");
    env.ok(&["rm", "user"]);
}

/// A docker-registry on a free loopback port, state in a temp dir; killed by PID.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Start one; with `htpasswd`, it asks for HTTP basic auth.
    fn start(htpasswd: Option<&str>) -> Option<Registry> {
        let bin = berth_tests::require_tool("docker-registry")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cfg = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nhttp:\n  addr: 127.0.0.1:{port}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
            dir.path().join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, line).expect("write htpasswd");
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&cfg, text).expect("write config");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(reg)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_rmi_pull_run_through_a_local_registry() {
    let Some(env) = Env::new("push/pull") else {
        return;
    };
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let remote = format!("127.0.0.1:{}/berth/bb:1", reg.port);
    env.ok(&["tag", &env.image, &remote]);
    let out = env.ok(&["push", &remote]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [127.0.0.1:{}/berth/bb]",
            reg.port
        )),
        "{out}"
    );
    assert!(
        out.contains(": Pushed") && out.contains("1: digest: sha256:"),
        "{out}"
    );
    // pushing again finds every layer there
    let again = env.ok(&["push", &remote]);
    assert!(
        again.contains("Layer already exists") && !again.contains(": Pushed"),
        "{again}"
    );
    env.ok(&["rmi", &remote]);
    env.ok(&["rmi", &env.image]);
    env.ok(&["image", "prune", "-f"]);
    let out = env.ok(&["pull", &remote]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    let run = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &remote,
        "echo",
        "pulled",
    ]);
    assert_eq!(run, "pulled\n");
    // a second pull transfers nothing
    let out = env.ok(&["pull", &remote]);
    assert!(
        out.contains("Already exists") && !out.contains("Pull complete"),
        "{out}"
    );
    let missing = format!("127.0.0.1:{}/berth/nosuch:1", reg.port);
    let err = env.fails(&["pull", &missing]);
    assert!(err.contains("not found: manifest unknown"), "{err}");
    let err = env.fails(&["push", "localhost/nosuch:1"]);
    assert!(err.contains("An image does not exist locally"), "{err}");
}

#[test]
fn network_connect_and_disconnect_a_running_container() {
    let Some(env) = Env::new("network connect").and_then(Env::with_netns) else {
        return;
    };
    env.ok(&["network", "create", "backend"]);
    let srv = env.daemon("srv", "bridge", &["sleep", "600"]);
    let cli = env.daemon("cli", "backend", &["sleep", "600"]);
    let ping = |name: &str| {
        env.berth(&["exec", &cli, "ping", "-c", "1", "-W", "2", name])
            .status
            .success()
    };
    assert!(!ping("srv"), "not on the same network yet");
    env.ok(&["network", "connect", "--alias", "db", "backend", &srv]);
    let nets = env.inspect(&srv, "{{json .NetworkSettings.Networks}}");
    assert!(
        nets.contains("\"backend\"") && nets.contains("\"bridge\""),
        "{nets}"
    );
    assert!(ping("srv"), "reachable by name after connect");
    assert!(ping("db"), "reachable by alias");
    let hosts = env.ok(&["exec", &srv, "cat", "/etc/hosts"]);
    assert!(
        hosts.contains("cli"),
        "the connected container sees its peers:\n{hosts}"
    );
    let ip = env.inspect(&srv, "{{.NetworkSettings.Networks.backend.IPAddress}}");
    assert!(ip.contains('.'), "{ip}");
    let err = env.fails(&["network", "connect", "backend", &srv]);
    assert!(err.contains("already exists in network backend"), "{err}");

    env.ok(&["network", "disconnect", "backend", &srv]);
    assert!(!ping("srv"), "unreachable after disconnect");
    assert!(
        !env.inspect(&srv, "{{json .NetworkSettings.Networks}}")
            .contains("backend")
    );
    let err = env.fails(&["network", "disconnect", "backend", &srv]);
    assert!(err.contains("is not connected to network backend"), "{err}");

    // bad input
    let err = env.fails(&["network", "connect", "nosuchnet", &srv]);
    assert!(err.contains("network nosuchnet not found"), "{err}");
    let err = env.fails(&["network", "connect", "backend", "nosuchctr"]);
    assert!(err.contains("No such container: nosuchctr"), "{err}");
    let err = env.fails(&["network", "connect", "--ip", "not-an-ip", "backend", &srv]);
    assert!(err.contains("invalid IPv4 address"), "{err}");

    // a static address, kept across a restart
    env.ok(&["network", "create", "--subnet", "10.231.7.0/24", "fixed"]);
    env.ok(&["network", "connect", "--ip", "10.231.7.42", "fixed", &srv]);
    assert_eq!(
        env.inspect(&srv, "{{.NetworkSettings.Networks.fixed.IPAddress}}"),
        "10.231.7.42"
    );
    // stop, let the old run's monitor finish releasing its network and rootfs (see
    // requests-engine-rt.md: the monitor clears its pid before it releases), start
    let id = env.inspect(&srv, "{{.Id}}");
    let record = env
        .root
        .path()
        .join("containers")
        .join(&id)
        .join("config.v2.json");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("record")).expect("json");
    let monitor = rec["Berth"]["MonitorPid"].as_i64().unwrap_or(0);
    env.ok(&["stop", "-t", "1", &srv]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while monitor > 0 && Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the stopped container's monitor stays"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["start", &srv]);
    env.wait_for(&srv, "{{.State.Running}}", |s| s == "true");
    assert_eq!(
        env.inspect(&srv, "{{.NetworkSettings.Networks.fixed.IPAddress}}"),
        "10.231.7.42"
    );
    let addrs = env.ok(&["exec", &srv, "ip", "addr"]);
    assert!(addrs.contains("10.231.7.42/24"), "{addrs}");
    let none = env.daemon("isolated", "none", &["sleep", "600"]);
    let err = env.fails(&["network", "connect", "backend", &none]);
    assert!(err.contains("private (none) mode"), "{err}");
}

#[test]
fn volume_export_import_round_trip_through_stdout_and_stdin() {
    let Some(env) = Env::new("volumes") else {
        return;
    };
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "src:/data",
        &env.image,
        "sh",
        "-c",
        "mkdir -p /data/d && echo kept > /data/d/f && ln -s d/f /data/l && chmod 640 /data/d/f",
    ]);
    let o = env.berth(&["volume", "export", "src"]);
    assert!(o.status.success());
    let mut child = env
        .cmd(&["volume", "import", "dst"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&o.stdout)
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "dst:/v",
        &env.image,
        "sh",
        "-c",
        "cat /v/l; stat -c %a /v/d/f",
    ]);
    assert_eq!(out, "kept\n640\n");
    let err = env.berth(&["volume", "export", "nosuch"]);
    assert_ne!(err.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&err.stderr).contains("no such volume"));
}

#[test]
fn push_and_pull_with_credentials_from_the_docker_config() {
    let Some(env) = Env::new("registry auth") else {
        return;
    };
    let Some(htpasswd) = berth_tests::require_tool("htpasswd") else {
        return;
    };
    let o = Command::new(htpasswd)
        .args(["-Bbn", "berth", "s3cret"])
        .output()
        .expect("htpasswd");
    assert!(o.status.success());
    let Some(reg) = Registry::start(Some(&String::from_utf8_lossy(&o.stdout))) else {
        return;
    };
    let remote = format!("127.0.0.1:{}/private/bb:1", reg.port);
    env.ok(&["tag", &env.image, &remote]);
    // no credentials: refused, exit 125
    let empty = env.path("no-config");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let o = env
        .cmd(&["push", &remote])
        .env("DOCKER_CONFIG", &empty)
        .output()
        .expect("push");
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("credentials") || err.contains("401"), "{err}");
    // credentials in config.json `auths`, as `docker login` writes them
    let cfg = env.path("docker-config");
    std::fs::create_dir_all(&cfg).expect("mkdir");
    std::fs::write(
        cfg.join("config.json"),
        format!(
            "{{\"auths\": {{\"127.0.0.1:{}\": {{\"auth\": \"YmVydGg6czNjcmV0\"}}}}}}",
            reg.port
        ),
    )
    .expect("write config.json");
    let o = env
        .cmd(&["push", &remote])
        .env("DOCKER_CONFIG", &cfg)
        .output()
        .expect("push");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.ok(&["rmi", &remote]);
    let o = env
        .cmd(&["pull", "-q", &remote])
        .env("DOCKER_CONFIG", &cfg)
        .output()
        .expect("pull");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), remote);
}

/// dockerd with its state in a temp dir, in a network namespace of its own, no
/// bridge or firewall; stopped by PID.
struct Dockerd {
    child: Child,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        let dockerd = berth_tests::require_tool("dockerd")?;
        berth_tests::require_tool("docker")?;
        let unshare = berth_tests::require_tool("unshare")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("d.sock");
        let child = Command::new(unshare)
            .arg("-n")
            .arg(dockerd)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            sock,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.docker(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(d)
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .output()
            .expect("docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling the child we started, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = berth_tests::mounts_under(self._dir.path());
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

#[test]
fn docker_loads_berths_save_and_berth_loads_dockers() {
    let Some(env) = Env::new("docker-archive interop") else {
        return;
    };
    let Some(d) = Dockerd::start() else {
        return;
    };
    let tar = env.path("from-berth.tar");
    env.ok(&["save", "-o", path_str(&tar), &env.image]);
    let o = d.docker(&["load", "-i", path_str(&tar)]);
    assert!(
        o.status.success(),
        "docker load of berth's archive: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Loaded image: localhost/bb:ops"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "localhost/bb:ops",
    ]);
    assert!(o.status.success());
    // and back: docker's save of it (retagged) loads in berth and runs
    assert!(
        d.docker(&["tag", "localhost/bb:ops", "localhost/bb:docker"])
            .status
            .success()
    );
    let back = env.path("from-docker.tar");
    let o = d.docker(&["save", "-o", path_str(&back), "localhost/bb:docker"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.ok(&["load", "-i", path_str(&back)]);
    assert!(out.contains("Loaded image: localhost/bb:docker"), "{out}");
    let run = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/bb:docker",
        "echo",
        "via docker",
    ]);
    assert_eq!(run, "via docker\n");
}
