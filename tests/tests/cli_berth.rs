//! Acceptance scenarios of the `berth` CLI (issue 7), run against the real binary as root:
//! each test gets its own engine root, and tests that use bridge networks or published
//! ports run every command inside a network namespace the test creates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_tests::cli::{Env, feed};

/// The on-disk record of container `id`.
fn record(env: &Env, id: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.record_path(id)).expect("record")).expect("json")
}

fn count_containers(env: &Env) -> usize {
    env.ok(&["ps", "-a", "-q"]).lines().count()
}

#[test]
fn cli_run_output_exit_code_stdin_rm_cidfile() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let o = env.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "exit code of the container");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"));
    assert_eq!(count_containers(&env), 0, "--rm removed it");

    let o = feed(
        env.cmd(&[
            "run",
            "-i",
            "--rm",
            "--network",
            "none",
            "--rootfs",
            env.rootfs(),
            "sh",
            "-c",
            "read x; echo got:$x",
        ]),
        b"hello\n",
    );
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "got:hello\n");

    let cid = env.root.path().join("cid");
    let id = env.ok(&[
        "run",
        "-d",
        "--cidfile",
        cid.to_str().expect("utf-8"),
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sleep",
        "60",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).expect("cidfile"), id.trim());
    // a cidfile that exists is refused before anything is made
    let o = env.berth(&[
        "run",
        "-d",
        "--cidfile",
        cid.to_str().expect("utf-8"),
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(count_containers(&env), 1);
    env.ok(&["rm", "-f", id.trim()]);
}

#[test]
fn cli_detached_survives_and_another_process_controls_it() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    // the berth process has exited; later processes find the container
    env.wait_for("ticker", "{{.State.Status}}", |s| s == "running");
    let ps = env.ok(&["ps"]);
    assert!(ps.contains("ticker") && ps.contains("Up "), "{ps}");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["logs", "ticker"]).contains("started") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = env.berth(&["exec", "ticker", "sh", "-c", "echo in-$HOSTNAME; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("in-"));
    let fmt = env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(fmt.trim(), "ticker running");
    env.ok(&["stop", "-t", "5", "ticker"]);
    assert_eq!(
        env.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    assert!(env.ok(&["logs", "ticker"]).contains("bye"));
    env.ok(&["start", "ticker"]);
    env.wait_for("ticker", "{{.State.Running}}", |s| s == "true");
    let o = env.berth(&["rm", "ticker"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a running container is not removed without -f"
    );
    env.ok(&["rm", "-f", "ticker"]);
    assert_eq!(count_containers(&env), 0);
}

#[test]
fn cli_bad_input_is_rejected_with_125_and_nothing_half_created() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let o = env.berth(&["run", "--rm", "localhost/no-such-image:1", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Unable to find image"));
    let o = env.berth(&[
        "run",
        "--rm",
        "-m",
        "lots",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid size"));
    let o = env.berth(&[
        "run",
        "--rm",
        "--restart",
        "sometimes",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    let o = env.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "/no/such/binary",
    ]);
    assert_eq!(o.status.code(), Some(127));
    env.ok(&[
        "create",
        "--name",
        "taken",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    let o = env.berth(&[
        "run",
        "--name",
        "taken",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is already in use"));
    env.ok(&["volume", "create", "busy"]);
    env.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "busy:/data",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "true",
    ]);
    let o = env.berth(&["volume", "rm", "busy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("volume is in use"));
    assert_eq!(
        count_containers(&env),
        2,
        "only the two created containers exist"
    );
    let o = env.berth(&["stop", "nosuch"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such container: nosuch"));
}

#[test]
fn cli_restart_policies() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    env.wait_for("flaky", "{{.State.Status}} {{.RestartCount}}", |s| {
        s == "exited 2"
    });
    // two restarts, then it stays down
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.inspect(
            "flaky",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
        ),
        "exited 2 1"
    );
    assert_eq!(env.ok(&["logs", "flaky"]).matches("run").count(), 3);

    env.ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sleep",
        "600",
    ]);
    let pid = env.wait_for("always", "{{.State.Pid}}", |p| p != "0");
    let pid: i32 = pid.parse().expect("pid");
    // SAFETY: kill a process of the container this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    env.wait_for("always", "{{.State.Status}} {{.State.Pid}}", |s| {
        s.starts_with("running ") && s != format!("running {pid}")
    });
    assert_eq!(env.inspect("always", "{{.RestartCount}}"), "1");

    env.ok(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sleep",
        "600",
    ]);
    env.ok(&["stop", "-t", "1", "unless"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.inspect("unless", "{{.State.Status}}"), "exited");

    // kill every monitor (and the containers) as a reboot would; restore brings back `always`
    let id = env.inspect("always", "{{.Id}}");
    let rec = record(&env, &id);
    let monitor = rec["Berth"]["MonitorPid"].as_i64().expect("monitor pid") as i32;
    let cpid = rec["State"]["Pid"].as_i64().expect("pid") as i32;
    // SAFETY: processes this test's containers run in.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
        libc::kill(cpid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let restored = env.ok(&["system", "restore"]);
    assert_eq!(
        restored.trim(),
        id,
        "only the `always` container comes back"
    );
    env.wait_for("always", "{{.State.Status}}", |s| s == "running");
    assert_eq!(env.inspect("unless", "{{.State.Status}}"), "exited");
}

#[test]
fn cli_volumes_binds_tmpfs_export_import() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        env.ok(&a)
    };
    let rootfs = env.rootfs().to_string();
    run(&[
        "-v",
        "data:/data",
        "--rootfs",
        &rootfs,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = run(&["-v", "data:/data", "--rootfs", &rootfs, "cat", "/data/f"]);
    assert_eq!(out, "kept\n", "named volume outlives its container");
    // image content is copied into a new volume
    std::fs::create_dir_all(env.rootfs.join("etc/app")).expect("mkdir");
    std::fs::write(env.rootfs.join("etc/app/conf"), "from-image\n").expect("write");
    let out = run(&[
        "-v",
        "fresh:/etc/app",
        "--rootfs",
        &rootfs,
        "cat",
        "/etc/app/conf",
    ]);
    assert_eq!(out, "from-image\n");
    let host = env.root.path().join("bind");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("h"), "host-file\n").expect("write");
    let spec = format!("{}:/mnt:ro", host.display());
    let out = run(&[
        "-v",
        &spec,
        "--tmpfs",
        "/scratch:size=1m",
        "--rootfs",
        &rootfs,
        "sh",
        "-c",
        "cat /mnt/h; grep -c ' /scratch tmpfs' /proc/mounts; touch /mnt/x 2>/dev/null && echo rw || echo ro",
    ]);
    assert_eq!(out, "host-file\n1\nro\n");
    let tar = env.root.path().join("data.tar");
    env.ok(&[
        "volume",
        "export",
        "data",
        "-o",
        tar.to_str().expect("utf-8"),
    ]);
    env.ok(&[
        "volume",
        "import",
        "copy",
        "-i",
        tar.to_str().expect("utf-8"),
    ]);
    let out = run(&["-v", "copy:/c", "--rootfs", &rootfs, "cat", "/c/f"]);
    assert_eq!(out, "kept\n", "export + import round trip");
    let ls = env.ok(&["volume", "ls", "-q"]);
    assert_eq!(
        ls.lines().collect::<Vec<_>>(),
        vec!["copy", "data", "fresh"]
    );
    env.ok(&["volume", "prune", "-f"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn cli_resource_flags_reach_the_cgroup() {
    let Some(env) = Env::new("set cgroup limits") else {
        return;
    };
    let rootfs = env.rootfs().to_string();
    let o = env.berth(&[
        "run",
        "--name",
        "oom",
        "-m",
        "32m",
        "--memory-swap",
        "32m",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(
        o.status.code(),
        Some(137),
        "64 MiB under -m 32m is OOM-killed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        env.inspect("oom", "{{.State.OOMKilled}} {{.HostConfig.Memory}}"),
        format!("true {}", 32 << 20)
    );
    let bomb = env.ok(&[
        "run",
        "-d",
        "--pids-limit",
        "10",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "sleep",
        "60",
    ]);
    let bomb = bomb.trim();
    env.ok(&[
        "exec",
        "-d",
        bomb,
        "sh",
        "-c",
        "while true; do sleep 5 & done",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let pids_dir = PathBuf::from(format!("/sys/fs/cgroup/pids/berth/{bomb}"));
    let max = std::fs::read_to_string(pids_dir.join("pids.max")).expect("pids.max");
    assert_eq!(max.trim(), "10");
    let current: u64 = std::fs::read_to_string(pids_dir.join("pids.current"))
        .expect("pids.current")
        .trim()
        .parse()
        .expect("number");
    assert!(
        current <= 10,
        "pids-limit 10 holds a fork bomb, saw {current}"
    );
    assert_eq!(env.inspect(bomb, "{{.State.Running}}"), "true");
    env.ok(&["rm", "-f", bomb]);
    let id = env.ok(&[
        "run",
        "-d",
        "--cpus",
        "0.5",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "sleep",
        "60",
    ]);
    let id = id.trim();
    assert_eq!(env.inspect(id, "{{.HostConfig.NanoCpus}}"), "500000000");
    let v1 = PathBuf::from(format!(
        "/sys/fs/cgroup/cpu,cpuacct/berth/{id}/cpu.cfs_quota_us"
    ));
    let v1b = PathBuf::from(format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.cfs_quota_us"));
    let v2 = PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/cpu.max"));
    let quota = [v1, v1b, v2]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .expect("cpu quota file");
    assert!(quota.starts_with("50000"), "quota {quota}");
    let stats = env.ok(&["stats", "--no-stream", id]);
    assert!(
        stats
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(&id[..12])),
        "{stats}"
    );
    env.ok(&["rm", "-f", id]);
}

/// HTTP GET from inside the test's network namespace (a thread that joined it).
fn http_get(env: &Env, url: &str) -> Option<String> {
    let ns = format!("/run/netns/{}", env.netns.as_ref()?);
    let addr = url.strip_prefix("http://")?.split('/').next()?.to_string();
    std::thread::spawn(move || -> Option<String> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&ns).ok()?;
        // SAFETY: setns of this thread only, on a namespace fd we hold.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        let mut s =
            std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2))
                .ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        let (head, body) = resp.split_once("\r\n\r\n")?;
        head.contains(" 200 ").then(|| body.to_string())
    })
    .join()
    .ok()
    .flatten()
}

#[test]
fn cli_published_port_on_user_bridge_logs_exec_stop_start() {
    let Some(env) = Env::new("run containers with networks") else {
        return;
    };
    let Some(env) = env.with_netns() else { return };
    let rootfs = env.rootfs().to_string();
    std::fs::create_dir_all(env.rootfs.join("www")).expect("mkdir");
    std::fs::write(
        env.rootfs.join("www/index.html"),
        "hello through the port\n",
    )
    .expect("write");
    env.ok(&["network", "create", "web-net"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "web-net",
        "-p",
        "127.0.0.1:18080:80",
        "--rootfs",
        &rootfs,
        "httpd",
        "-f",
        "-v",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    assert_eq!(env.ok(&["port", "web"]).trim(), "80/tcp -> 127.0.0.1:18080");
    let ip = env.inspect("web", "{{.NetworkSettings.Networks}}");
    assert!(ip.contains("web-net"), "{ip}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        if let Some(p) = http_get(&env, "http://127.0.0.1:18080/") {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no answer through the published port"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(page, "hello through the port\n");
    // a second container cannot take the same host port
    let o = env.berth(&[
        "run",
        "-d",
        "--name",
        "web2",
        "--network",
        "web-net",
        "-p",
        "127.0.0.1:18080:80",
        "--rootfs",
        &rootfs,
        "sleep",
        "30",
    ]);
    assert_eq!(
        o.status.code(),
        Some(125),
        "port conflict: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        env.berth(&["inspect", "web2"]).status.code() == Some(1),
        "nothing half-created"
    );
    let o = env.berth(&[
        "exec",
        "web",
        "sh",
        "-c",
        "ip addr show eth0 | grep -c 'inet '",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1");
    env.ok(&["stop", "-t", "2", "web"]);
    assert!(http_get(&env, "http://127.0.0.1:18080/").is_none());
    env.ok(&["start", "web"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(&env, "http://127.0.0.1:18080/").is_none() {
        assert!(Instant::now() < deadline, "no answer after start");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.ok(&["rm", "-f", "web"]);
    env.ok(&["network", "rm", "web-net"]);
    let links = Command::new("ip")
        .args([
            "netns",
            "exec",
            env.netns.as_deref().expect("ns"),
            "ip",
            "-o",
            "link",
        ])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout).to_string();
    assert_eq!(links.lines().count(), 1, "only lo is left: {links}");
}

#[test]
fn cli_commit_and_history() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    // an image from the busybox rootfs (docker import)
    let Some(tar) = env.rootfs_tar() else {
        return;
    };
    env.ok(&[
        "image",
        "import",
        tar.to_str().expect("utf-8"),
        "localhost/bb:test",
    ]);
    env.ok(&[
        "run",
        "--name",
        "changer",
        "--network",
        "none",
        "localhost/bb:test",
        "sh",
        "-c",
        "echo changed > /new-file",
    ]);
    env.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/new-file\"]",
        "-m",
        "add a file",
        "changer",
        "localhost/bb:changed",
    ]);
    let out = env.ok(&["run", "--rm", "--network", "none", "localhost/bb:changed"]);
    assert_eq!(
        out, "changed\n",
        "the new layer holds the change and CMD applies"
    );
    let hist = env.ok(&["history", "localhost/bb:changed"]);
    let first = hist.lines().nth(1).expect("a history row");
    assert!(
        first.contains("sh -c echo changed") && first.contains("add a file"),
        "{hist}"
    );
    assert_eq!(hist.lines().count(), 3, "{hist}");
    env.ok(&["rm", "changer"]);
}

#[test]
fn cli_many_run_rm_cycles_leave_nothing_behind() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let rootfs = env.rootfs().to_string();
    let mut ids = Vec::new();
    for i in 0..150 {
        let id = if i % 2 == 0 {
            let o = env.berth(&[
                "run",
                "--rm",
                "--network",
                "none",
                "--rootfs",
                &rootfs,
                "true",
            ]);
            assert!(
                o.status.success(),
                "cycle {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        } else {
            let id = env.ok(&[
                "create",
                "--rm",
                "--network",
                "none",
                "--rootfs",
                &rootfs,
                "true",
            ]);
            let o = env.berth(&["start", "-a", id.trim()]);
            assert!(
                o.status.success(),
                "cycle {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(id.trim().to_string())
        };
        ids.extend(id);
    }
    assert_eq!(count_containers(&env), 0);
    let left: Vec<_> = std::fs::read_dir(env.root.path().join("containers"))
        .expect("containers dir")
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "state left: {left:?}");
    assert!(berth_tests::mounts_under(env.root.path()).is_empty());
    for id in &ids {
        for ctl in ["memory", "pids", "cpu", "freezer", "unified"] {
            let d = PathBuf::from(format!("/sys/fs/cgroup/{ctl}/berth/{id}"));
            assert!(!d.exists(), "cgroup left: {}", d.display());
        }
        assert!(!Path::new(&format!("/run/netns/berth-{}", &id[..32])).exists());
    }
    let monitors = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("cmdline"))
                .is_ok_and(|c| c.contains(env.root.path().to_str().unwrap_or("?")))
        })
        .count();
    assert_eq!(monitors, 0, "no monitor or container process left");
}

#[test]
fn cli_init_reaps_and_forwards_signals() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let rootfs = env.rootfs().to_string();
    // with --init the command is not pid 1; pid 1 reaps the orphaned zombie
    let out = env.ok(&["run", "--rm", "--init", "--network", "none", "--rootfs", &rootfs, "sh", "-c",
        "(sleep 0.1 &) ; sleep 0.5; echo pid=$$; grep -c ' Z ' /proc/[0-9]*/stat 2>/dev/null | grep -v ':0' | wc -l"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("pid=2"));
    assert_eq!(
        lines.next().map(str::trim),
        Some("0"),
        "no zombie left: {out}"
    );
    // SIGTERM from `stop` reaches the command through the init
    env.ok(&[
        "run",
        "-d",
        "--name",
        "inited",
        "--init",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "sh",
        "-c",
        "trap 'exit 5' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    env.wait_for("inited", "{{.State.Status}}", |s| s == "running");
    // stop only once the trap is set (bounded wait on the log line)
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.ok(&["logs", "inited"]).contains("ready") {
        assert!(
            Instant::now() < deadline,
            "the container never printed ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ok(&["stop", "-t", "5", "inited"]);
    assert_eq!(env.inspect("inited", "{{.State.ExitCode}}"), "5");
}

/// `CapEff`, `Seccomp` and `NoNewPrivs` of a container's process, and whether
/// `/proc/keys` is masked, as a `run` with `flags` sees them.
fn security_view(env: &Env, flags: &[&str]) -> (String, String, String, String) {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[
        "--rootfs",
        env.rootfs(),
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; [ -c /proc/keys ] && echo masked || echo open",
    ]);
    let out = env.ok(&a);
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {k} in {out}"))
    };
    (
        field("CapEff:"),
        field("Seccomp:"),
        field("NoNewPrivs:"),
        out.lines().last().unwrap_or_default().to_string(),
    )
}

#[test]
fn cli_default_security_is_dockers_and_flags_change_it() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    // Docker's 14 capabilities, its seccomp filter, masked paths, no no_new_privs
    let (caps, seccomp, nnp, kcore) = security_view(&env, &[]);
    assert_eq!(caps, "00000000a80425fb");
    assert_eq!(seccomp, "2");
    assert_eq!(nnp, "0");
    assert_eq!(kcore, "masked");
    let (caps, seccomp, _, _) = security_view(&env, &["--cap-add", "NET_ADMIN"]);
    assert_eq!(caps, "00000000a80435fb", "CAP_NET_ADMIN is bit 12");
    assert_eq!(seccomp, "2");
    let (caps, _, _, _) = security_view(&env, &["--cap-drop", "chown"]);
    assert_eq!(caps, "00000000a80425fa", "CAP_CHOWN is bit 0");
    let (caps, _, _, _) = security_view(&env, &["--cap-drop", "ALL", "--cap-add", "KILL"]);
    assert_eq!(caps, "0000000000000020");
    let (caps, seccomp, _, kcore) = security_view(&env, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(caps, "00000000a80425fb");
    assert_eq!(seccomp, "0");
    assert_eq!(kcore, "masked");
    let (_, _, nnp, _) = security_view(&env, &["--security-opt", "no-new-privileges"]);
    assert_eq!(nnp, "1");
    // --privileged: every capability this (root) test process has, no filter, no masks
    let mine = std::fs::read_to_string("/proc/self/status").expect("status");
    let my_caps = mine
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff")
        .trim()
        .to_string();
    let (caps, seccomp, _, kcore) = security_view(&env, &["--privileged"]);
    assert_eq!(caps, my_caps);
    assert_eq!(seccomp, "0");
    assert_eq!(kcore, "open");
    // a profile file: mkdir refused, the rest allowed
    let prof = env.root.path().join("no-mkdir.json");
    std::fs::write(
        &prof,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .expect("write profile");
    let opt = format!("seccomp={}", prof.display());
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &opt,
        "--rootfs",
        env.rootfs(),
        "sh",
        "-c",
        "mkdir /tmp/d 2>/dev/null && echo made || echo refused; grep Seccomp: /proc/self/status",
    ]);
    assert_eq!(out, "refused\nSeccomp:\t2\n");
    // bad values are refused before anything is made
    for bad in [
        vec!["--cap-add", "NOT_A_CAP"],
        vec!["--security-opt", "seccomp=/no/such/profile.json"],
        vec!["--security-opt", "bogus=1"],
    ] {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(&bad);
        a.extend_from_slice(&["--rootfs", env.rootfs(), "true"]);
        assert_eq!(env.berth(&a).status.code(), Some(125), "{bad:?}");
    }
    assert_eq!(count_containers(&env), 0);
}

/// A pty pair for the test: (master, slave), the slave sized `rows`x`cols`.
fn pty(rows: u16, cols: u16) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two fds we then own.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty");
    // SAFETY: fresh fds.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(m),
            std::os::fd::OwnedFd::from_raw_fd(s),
        )
    }
}

/// berth with the pty slave as its controlling terminal and stdio.
fn spawn_on_pty(env: &Env, slave: &std::os::fd::OwnedFd, args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut c = env.cmd(args);
    c.stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave.try_clone().expect("dup"));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    c.spawn().expect("spawn berth on a pty")
}

/// Read from the pty master until `needle` shows up (bounded); everything read.
fn read_until(master: &std::os::fd::OwnedFd, seen: &mut String, needle: &str) {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} on the terminal: {seen:?}"
        );
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one fd we own.
        if unsafe { libc::poll(&mut p, 1, 200) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: read into a local buffer.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
    }
}

fn type_in(master: &std::os::fd::OwnedFd, text: &str) {
    use std::os::fd::AsRawFd;
    // SAFETY: write a local buffer to the pty master.
    let n = unsafe { libc::write(master.as_raw_fd(), text.as_ptr().cast(), text.len()) };
    assert_eq!(n, text.len() as isize);
}

fn set_size(master: &std::os::fd::OwnedFd, rows: u16, cols: u16) {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: ioctl with a valid winsize on our pty master (the kernel sends SIGWINCH to
    // the slave's foreground process group: berth).
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

#[test]
fn cli_run_and_exec_with_a_terminal() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    let (master, slave) = pty(30, 100);
    let mut child = spawn_on_pty(
        &env,
        &slave,
        &[
            "run",
            "-it",
            "--rm",
            "--name",
            "term",
            "--network",
            "none",
            "--rootfs",
            env.rootfs(),
            "sh",
        ],
    );
    drop(slave);
    let mut seen = String::new();
    type_in(&master, "tty; stty size; echo T=$TERM\n");
    read_until(&master, &mut seen, "30 100");
    read_until(&master, &mut seen, "T=xterm");
    assert!(seen.contains("/dev/pts/"), "a pty inside: {seen:?}");
    // the client's terminal is resized: the container's follows
    set_size(&master, 40, 120);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        type_in(&master, "stty size\n");
        let mark = seen.len();
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) && !seen[mark..].contains("40 120") {
            let mut more = String::new();
            read_until_short(&master, &mut more);
            seen.push_str(&more);
        }
        if seen[mark..].contains("40 120") {
            break;
        }
        assert!(Instant::now() < deadline, "size not forwarded: {seen:?}");
    }
    // exec -it into the running container, on a second terminal
    let (m2, s2) = pty(25, 90);
    let mut ex = spawn_on_pty(
        &env,
        &s2,
        &["exec", "-it", "term", "sh", "-c", "tty; stty size; exit 6"],
    );
    drop(s2);
    let mut seen2 = String::new();
    read_until(&m2, &mut seen2, "25 90");
    assert!(seen2.contains("/dev/pts/"), "{seen2:?}");
    assert_eq!(ex.wait().expect("exec").code(), Some(6));
    // ^C typed at the terminal reaches the container's shell, which survives it
    type_in(&master, "sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    type_in(&master, "\x03");
    type_in(&master, "echo after-$((40+2))\n");
    read_until(&master, &mut seen, "after-42");
    type_in(&master, "exit 3\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "berth did not exit: {seen:?}");
        let mut more = String::new();
        read_until_short(&master, &mut more);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3), "{seen:?}");
    assert_eq!(count_containers(&env), 0);
}

/// Read whatever the master has within 100 ms.
fn read_until_short(master: &std::os::fd::OwnedFd, seen: &mut String) {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: master.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one fd we own.
    if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
        return;
    }
    let mut buf = [0u8; 4096];
    // SAFETY: read into a local buffer.
    let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n > 0 {
        seen.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
    }
}

#[test]
fn cli_healthcheck_states_in_inspect_and_ps() {
    let Some(env) = Env::new("run containers") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sleep",
        "60",
    ]);
    // right after start: starting, and ps says so
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}"])
            .contains("(health: starting)")
    );
    env.wait_for("hc", "{{.State.Health.Status}}", |s| s == "unhealthy");
    let streak: u32 = env
        .inspect("hc", "{{.State.Health.FailingStreak}}")
        .parse()
        .expect("number");
    assert!(streak >= 2, "{streak}");
    let health = env.ok(&["inspect", "-f", "{{json .State.Health}}", "hc"]);
    let health: serde_json::Value = serde_json::from_str(&health).expect("json");
    let log = health["Log"].as_array().expect("Log");
    assert!(!log.is_empty() && log.len() <= 5);
    assert_eq!(log[0]["ExitCode"], 1);
    assert!(log[0]["Start"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(env.ok(&["ps"]).contains("(unhealthy)"));
    // the condition is fixed: healthy, streak reset, output kept
    env.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    env.wait_for("hc", "{{.State.Health.Status}}", |s| s == "healthy");
    assert_eq!(env.inspect("hc", "{{.State.Health.FailingStreak}}"), "0");
    assert!(env.ok(&["ps"]).contains("(healthy)"));
    let health = env.ok(&["inspect", "-f", "{{json .State.Health}}", "hc"]);
    let health: serde_json::Value = serde_json::from_str(&health).expect("json");
    let last = health["Log"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .expect("a probe");
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    // a probe that hangs is killed at its timeout
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 10",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "--network",
        "none",
        "--rootfs",
        env.rootfs(),
        "sleep",
        "60",
    ]);
    env.wait_for("slow", "{{.State.Health.Status}}", |s| s == "unhealthy");
    let health = env.ok(&["inspect", "-f", "{{json .State.Health}}", "slow"]);
    let health: serde_json::Value = serde_json::from_str(&health).expect("json");
    assert_eq!(health["Log"][0]["ExitCode"], -1);
    assert!(
        health["Log"][0]["Output"]
            .as_str()
            .is_some_and(|o| o.contains("exceeded timeout")),
        "{health}"
    );
    // a stopped container keeps its last health; no probe process is left behind
    env.ok(&["rm", "-f", "hc", "slow"]);
    assert_eq!(count_containers(&env), 0);
}

#[test]
fn cli_image_healthcheck_runs_and_run_flags_override_it() {
    let Some(env) = Env::new("run containers").and_then(|e| e.with_image("localhost/bb:hc")) else {
        return;
    };
    let ctx = env.path("hc-ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/bb:hc\n\
         HEALTHCHECK --interval=200ms --timeout=5s --retries=2 CMD test -f /tmp/ok\n\
         CMD [\"sleep\", \"60\"]\n",
    )
    .expect("Dockerfile");
    env.ok(&[
        "build",
        "-q",
        "-t",
        "localhost/hc:1",
        ctx.to_str().expect("utf-8"),
    ]);
    let hc = env.inspect("localhost/hc:1", "{{json .Config.Healthcheck}}");
    let hc: serde_json::Value = serde_json::from_str(&hc).expect("json");
    assert_eq!(
        hc["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /tmp/ok"])
    );
    assert_eq!(hc["Interval"], 200_000_000);

    let run = |name: &str, extra: &[&str]| {
        let mut a = vec!["run", "-d", "--name", name, "--network", "none"];
        a.extend_from_slice(extra);
        a.push("localhost/hc:1");
        env.ok(&a);
    };
    // the image's check: starting, then healthy once it passes ...
    run("good", &[]);
    let first = env.inspect("good", "{{.State.Health.Status}}");
    assert!(
        first == "starting" || first == "unhealthy",
        "a new container's health: {first}"
    );
    env.ok(&["exec", "good", "touch", "/tmp/ok"]);
    env.wait_for("good", "{{.State.Health.Status}}", |s| s == "healthy");
    // ... and unhealthy when it keeps failing
    run("bad", &[]);
    env.wait_for("bad", "{{.State.Health.Status}}", |s| s == "unhealthy");
    let streak: u32 = env
        .inspect("bad", "{{.State.Health.FailingStreak}}")
        .parse()
        .expect("number");
    assert!(streak >= 2, "{streak}");
    // --health-cmd replaces the image's test
    run(
        "overridden",
        &["--health-cmd", "true", "--health-interval", "200ms"],
    );
    assert_eq!(
        env.inspect("overridden", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","true"]"#
    );
    env.wait_for("overridden", "{{.State.Health.Status}}", |s| s == "healthy");
    // --no-healthcheck disables it: no health state at all
    run("unchecked", &["--no-healthcheck"]);
    assert_eq!(
        env.inspect("unchecked", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(env.inspect("unchecked", "{{json .State.Health}}"), "null");
    assert!(
        !env.ok(&["ps", "--filter", "name=unchecked"])
            .contains("health"),
        "no health in ps"
    );
    env.ok(&["rm", "-f", "good", "bad", "overridden", "unchecked"]);
}

#[test]
fn cli_privileged_gives_host_devices_in_subdirectories_of_dev() {
    let Some(env) = Env::new("run a privileged container") else {
        return;
    };
    if !berth_tests::require(
        Path::new("/dev/net/tun").exists(),
        "needs the host's /dev/net/tun (tun module)",
    ) {
        return;
    }
    let rootfs = env.rootfs().to_string();
    let run = |privileged: bool| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        if privileged {
            a.push("--privileged");
        }
        a.extend_from_slice(&[
            "--rootfs",
            &rootfs,
            "sh",
            "-c",
            // a tun device that is allowed opens, then refuses a read with EBADFD
            "if test -c /dev/net/tun; then echo present; else echo absent; fi; \
             cat /dev/net/tun 2>&1; true",
        ]);
        let o = env.berth(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let with = run(true);
    assert!(with.starts_with("present\n"), "{with}");
    assert!(
        with.contains("File descriptor in bad state") && !with.contains("not permitted"),
        "--privileged allows the device in the cgroup too: {with}"
    );
    let without = run(false);
    assert!(without.starts_with("absent\n"), "{without}");
}
