//! `berth` operations on containers and images (issue 7): `cp` both ways (and a
//! container's symlinks cannot make it write or read outside its rootfs), `diff`,
//! `export`, `save`/`load`, `push`/`pull` through a real registry, `network
//! connect`/`disconnect`, `volume export`/`import`. Run as root against the real
//! binary; each test has its own engine root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_tests::Registry;
use berth_tests::cli::{Env, feed, path_str};

/// A root with the busybox image `localhost/bb:ops`.
fn ops_env(what: &str) -> Option<Env> {
    Env::new(what)?.with_image("localhost/bb:ops")
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
    let Some(env) = ops_env("cp") else {
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
    let tar_in = Command::new("tar")
        .arg("-C")
        .arg(&d)
        .arg("-cf")
        .arg("-")
        .arg("sub")
        .output()
        .expect("tar");
    let o = feed(env.cmd(&["cp", "-", &format!("{c}:/tmp")]), &tar_in.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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
fn cp_follow_link_and_archive_mode() {
    let Some(env) = ops_env("cp -L and -a") else {
        return;
    };
    let c = env.daemon("lnk", "none", &["sleep", "600"]);
    env.ok(&[
        "exec",
        &c,
        "sh",
        "-c",
        "mkdir -p /data/dir && echo target > /data/dir/file && ln -s dir/file /data/flink \
         && ln -s /data/dir /data/dlink && ln -s flink /data/chain \
         && ln -s ../../../../../etc/passwd /data/escape",
    ]);
    // without -L a symlink is copied as a symlink
    let plain = env.path("plain");
    env.ok(&["cp", &format!("{c}:/data/flink"), path_str(&plain)]);
    let m = std::fs::symlink_metadata(&plain).expect("copied link");
    assert!(m.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&plain).expect("readlink"),
        Path::new("dir/file")
    );
    // -L: the target's content, under the given name ...
    let followed = env.path("followed");
    env.ok(&["cp", "-L", &format!("{c}:/data/flink"), path_str(&followed)]);
    let m = std::fs::symlink_metadata(&followed).expect("followed");
    assert!(m.is_file(), "{m:?}");
    assert_eq!(
        std::fs::read_to_string(&followed).expect("read"),
        "target\n"
    );
    // ... or under the link's name in a directory, through a chain of links
    let into = env.path("into");
    std::fs::create_dir_all(&into).expect("mkdir");
    env.ok(&["cp", "-L", &format!("{c}:/data/chain"), path_str(&into)]);
    assert_eq!(
        std::fs::read_to_string(into.join("chain")).expect("read chain"),
        "target\n"
    );
    // a link to a directory copies the directory
    env.ok(&[
        "cp",
        "--follow-link",
        &format!("{c}:/data/dlink"),
        path_str(&into),
    ]);
    assert!(
        std::fs::symlink_metadata(into.join("dlink"))
            .expect("dlink")
            .is_dir()
    );
    assert_eq!(
        std::fs::read_to_string(into.join("dlink/file")).expect("read"),
        "target\n"
    );
    // an absolute or climbing link resolves inside the container, never on the host
    let escaped = env.path("escaped");
    env.ok(&["cp", "-L", &format!("{c}:/data/escape"), path_str(&escaped)]);
    assert_eq!(
        std::fs::read(&escaped).expect("read"),
        std::fs::read(env.rootfs.join("etc/passwd")).expect("image passwd"),
        "the container's /etc/passwd, not the host's"
    );
    // -L to a tar on stdout: a regular file named as the link
    let o = env.berth(&["cp", "-L", &format!("{c}:/data/flink"), "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tar = env.path("flink.tar");
    std::fs::write(&tar, &o.stdout).expect("write tar");
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&tar)
        .output()
        .expect("tar -tv");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.starts_with('-') && listing.trim_end().ends_with("flink"),
        "{listing}"
    );
    // a loop of links is an error, not a hang
    env.ok(&[
        "exec",
        &c,
        "sh",
        "-c",
        "ln -s loop2 /data/loop1 && ln -s loop1 /data/loop2",
    ]);
    let err = env.fails(&[
        "cp",
        "-L",
        &format!("{c}:/data/loop1"),
        path_str(&env.path("l")),
    ]);
    assert!(err.contains("too many levels of symbolic links"), "{err}");

    // host side: -L follows a host symlink, the copy keeps the link's name
    let host_file = env.path("host-file");
    std::fs::write(&host_file, "from host\n").expect("write");
    let host_link = env.path("host-link");
    std::os::unix::fs::symlink(&host_file, &host_link).expect("symlink");
    env.ok(&["cp", path_str(&host_link), &format!("{c}:/tmp/")]);
    env.ok(&[
        "cp",
        "-L",
        path_str(&host_link),
        &format!("{c}:/tmp/followed-link"),
    ]);
    assert_eq!(
        env.ok(&[
            "exec",
            &c,
            "stat",
            "-c",
            "%F",
            "/tmp/host-link",
            "/tmp/followed-link"
        ]),
        "symbolic link\nregular file\n"
    );
    assert_eq!(
        env.ok(&["exec", &c, "cat", "/tmp/followed-link"]),
        "from host\n"
    );

    // -a keeps the host uid/gid; without it the copy belongs to root
    let owned = env.path("owned");
    std::fs::write(&owned, "mine\n").expect("write");
    std::os::unix::fs::chown(&owned, Some(1234), Some(5678)).expect("chown");
    env.ok(&["cp", "-a", path_str(&owned), &format!("{c}:/tmp/archived")]);
    env.ok(&["cp", path_str(&owned), &format!("{c}:/tmp/rooted")]);
    assert_eq!(
        env.ok(&[
            "exec",
            &c,
            "stat",
            "-c",
            "%u:%g",
            "/tmp/archived",
            "/tmp/rooted"
        ]),
        "1234:5678\n0:0\n"
    );
    env.ok(&["rm", "-f", &c]);
}

#[test]
fn cp_cannot_escape_through_symlinks_in_the_container() {
    let Some(env) = ops_env("cp") else {
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
    let o = feed(
        env.cmd(&["cp", "-", &format!("{c}:/tmp/out")]),
        &std::fs::read(&evil_tar).expect("read"),
    );
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
    let Some(env) = ops_env("diff") else {
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
    let Some(env) = ops_env("save/load") else {
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
    let o = feed(env.cmd(&["load"]), &o.stdout);
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

#[test]
fn push_rmi_pull_run_through_a_local_registry() {
    let Some(env) = ops_env("push/pull") else {
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
    let Some(env) = ops_env("network connect").and_then(Env::with_netns) else {
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
    stop_and_start(&env, &srv);
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

/// Stop `name`, let the old run's monitor finish releasing its network and rootfs
/// (the monitor clears its pid before it releases), start it again.
fn stop_and_start(env: &Env, name: &str) {
    let id = env.inspect(name, "{{.Id}}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.record_path(&id)).expect("record"))
            .expect("json");
    let monitor = rec["Berth"]["MonitorPid"].as_i64().unwrap_or(0);
    env.ok(&["stop", "-t", "1", name]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while monitor > 0 && Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the stopped container's monitor stays"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["start", name]);
    env.wait_for(name, "{{.State.Running}}", |s| s == "true");
}

#[test]
fn network_reconnect_after_leaving_the_first_network() {
    let Some(env) = ops_env("network reconnect").and_then(Env::with_netns) else {
        return;
    };
    env.ok(&["network", "create", "neta"]);
    env.ok(&["network", "create", "netb"]);
    let srv = env.daemon("srv", "neta", &["sleep", "600"]);
    env.ok(&["network", "connect", "netb", &srv]);
    let on_a = env.daemon("peera", "neta", &["sleep", "600"]);
    let on_b = env.daemon("peerb", "netb", &["sleep", "600"]);
    let ping = |from: &str, to: &str| {
        env.berth(&["exec", from, "ping", "-c", "1", "-W", "2", to])
            .status
            .success()
    };
    let networks = |name: &str| env.inspect(name, "{{json .NetworkSettings.Networks}}");
    assert!(ping(&on_a, "srv") && ping(&on_b, "srv"));

    // leave the first network: still on the second
    env.ok(&["network", "disconnect", "neta", &srv]);
    assert!(!ping(&on_a, "srv"), "unreachable on the network it left");
    assert!(ping(&on_b, "srv"), "still reachable on the other one");
    let nets = networks(&srv);
    assert!(
        !nets.contains("\"neta\"") && nets.contains("\"netb\""),
        "{nets}"
    );
    // and join it again: resolved by name both ways
    env.ok(&["network", "connect", "neta", &srv]);
    assert!(ping(&on_a, "srv"), "reachable again after reconnecting");
    assert!(ping(&srv, &on_a), "and it resolves its peers");
    assert!(ping(&on_b, "srv"));
    let nets = networks(&srv);
    assert!(
        nets.contains("\"neta\"") && nets.contains("\"netb\""),
        "{nets}"
    );
    // both networks are joined again at the next start
    stop_and_start(&env, &srv);
    assert!(ping(&on_a, "srv") && ping(&on_b, "srv"), "after a restart");

    // a container that left every network has none, and may join one again
    let solo = env.daemon("solo", "neta", &["sleep", "600"]);
    env.ok(&["network", "disconnect", "neta", &solo]);
    assert!(!ping(&on_a, "solo"));
    let nets = networks(&solo);
    assert!(!nets.contains("neta") && !nets.contains("netb"), "{nets}");
    env.ok(&["network", "connect", "netb", &solo]);
    assert!(ping(&on_b, "solo"), "reachable on the network it joined");
    assert!(ping(&solo, &on_b));
    assert!(!ping(&on_a, "solo"));
    stop_and_start(&env, &solo);
    assert!(
        ping(&on_b, "solo"),
        "the joined network is kept across a restart"
    );
    assert!(!ping(&on_a, "solo"), "the one it left is not joined again");

    // a container made with --network none still cannot join one
    let none = env.daemon("isolated", "none", &["sleep", "600"]);
    let err = env.fails(&["network", "connect", "neta", &none]);
    assert!(err.contains("private (none) mode"), "{err}");
}

#[test]
fn volume_export_import_round_trip_through_stdout_and_stdin() {
    let Some(env) = ops_env("volumes") else {
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
    let o = feed(env.cmd(&["volume", "import", "dst"]), &o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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

/// Run berth with `DOCKER_CONFIG` (and more environment) and `input` on stdin.
fn berth_with(env: &Env, args: &[&str], vars: &[(&str, &Path)], input: &str) -> Output {
    let mut c = env.cmd(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    feed(c, input.as_bytes())
}

#[test]
fn login_push_pull_logout_against_a_registry_with_basic_auth() {
    let Some(env) = ops_env("registry login") else {
        return;
    };
    let Some(line) = berth_tests::htpasswd_line("berth", "s3cret") else {
        return;
    };
    let Some(reg) = Registry::start(Some(&line)) else {
        return;
    };
    let host = reg.host();
    let remote = format!("{host}/private/bb:login");
    env.ok(&["tag", &env.image, &remote]);
    let cfg_dir = env.path("docker-cfg");
    let cfg = cfg_dir.join("config.json");
    let dc: &[(&str, &Path)] = &[("DOCKER_CONFIG", &cfg_dir)];
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    // a wrong password: docker's message, exit 1, nothing stored
    let o = berth_with(
        &env,
        &["login", "-u", "berth", "--password-stdin", &host],
        dc,
        "wrong\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
        )),
        "{}",
        text(&o)
    );
    assert!(!cfg.exists(), "a refused login stores nothing");
    // bad usage, as docker words it
    let o = berth_with(&env, &["login", "--password-stdin", &host], dc, "x\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("Must provide --username with --password-stdin"));
    let o = berth_with(&env, &["login", "-u", "berth", &host], dc, "");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("Cannot perform an interactive login from a non TTY device"));

    // before login: the push is refused
    let o = berth_with(&env, &["push", &remote], dc, "");
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));

    // login: checked against the registry, stored like docker does, mode 0600
    let o = berth_with(
        &env,
        &[
            "login",
            "-u",
            "berth",
            "--password-stdin",
            &format!("http://{host}/"),
        ],
        dc,
        "s3cret\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cfg)
        .expect("config.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "config.json holds a password");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg).expect("read config")).expect("json");
    assert_eq!(v["auths"][&host]["auth"], "YmVydGg6czNjcmV0", "{v}");
    // a second login reuses the stored credentials
    let o = berth_with(&env, &["login", &host], dc, "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Authenticating with existing credentials"));

    // push and pull with the stored credentials
    let o = berth_with(&env, &["push", &remote], dc, "");
    assert!(o.status.success(), "{}", text(&o));
    env.ok(&["rmi", &remote]);
    let o = berth_with(&env, &["pull", "-q", &remote], dc, "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), remote);
    env.ok(&["rmi", &remote]);

    // logout: the entry is gone (other settings kept), pull and push are refused
    let mut v = v;
    v["detachKeys"] = serde_json::json!("ctrl-x");
    std::fs::write(&cfg, serde_json::to_vec(&v).expect("json")).expect("write config");
    let o = berth_with(&env, &["logout", &host], dc, "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("Removing login credentials for {host}")));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg).expect("read config")).expect("json");
    assert!(v["auths"].get(&host).is_none(), "{v}");
    assert_eq!(v["detachKeys"], "ctrl-x", "other settings are kept");
    let o = berth_with(&env, &["pull", &remote], dc, "");
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("may require 'docker login'") && text(&o).contains("credentials"),
        "{}",
        text(&o)
    );
    env.ok(&["tag", &env.image, &remote]);
    let o = berth_with(&env, &["push", &remote], dc, "");
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    let o = berth_with(&env, &["logout", &host], dc, "");
    assert!(o.status.success());
    assert!(text(&o).contains(&format!("Not logged in to {host}")));

    // podman's auth file (REGISTRY_AUTH_FILE) is read too
    let auth_file = env.path("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths":{{"{host}":{{"auth":"YmVydGg6czNjcmV0"}}}}}}"#),
    )
    .expect("auth.json");
    env.ok(&["rmi", &remote]);
    let o = berth_with(
        &env,
        &["pull", "-q", &remote],
        &[
            ("DOCKER_CONFIG", &cfg_dir),
            ("REGISTRY_AUTH_FILE", &auth_file),
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
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
    let Some(env) = ops_env("docker-archive interop") else {
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
