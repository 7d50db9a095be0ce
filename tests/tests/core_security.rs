//! issue 3 acceptance: the security parts of the spec, checked inside real containers
//! started by `berth-runtime` from its default spec: capabilities, no_new_privs, seccomp,
//! masked and read-only paths, leaked fds, hostile rootfs symlinks, user namespaces.
//! Helpers (and how to run these against runc) are in `core_security_util`.

mod core_security_util;

use core_security_util::*;
use serde_json::json;

#[test]
fn default_spec_gets_docker_caps_seccomp_masks_and_no_leaked_fds() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    let out = b.run_sh(PROBE);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "run failed: {}\n{stdout}",
        text(&out.stderr)
    );
    check_probe(&stdout, DOCKER_CAP_EFF, "1", true);
    assert_eq!(field(&stdout, "CapBnd"), Some(DOCKER_CAP_EFF), "{stdout}");
}

#[test]
fn blocked_syscalls_fail_with_eperm_and_keyctl_mount_are_refused() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    let out = b.run_sh(
        "mount -t tmpfs none /tmp 2>&1; echo \"mount: $?\"; \
         unshare -n true 2>&1; echo \"unshare-net: $?\"; \
         cat /proc/self/status > /dev/null && echo 'normal: ok'",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert_ne!(field(&stdout, "mount"), Some("0"), "{stdout}");
    assert_ne!(field(&stdout, "unshare-net"), Some("0"), "{stdout}");
    assert!(stdout.contains("Operation not permitted"), "{stdout}");
    assert_eq!(field(&stdout, "normal"), Some("ok"), "{stdout}");
}

#[test]
fn hostile_rootfs_symlinks_do_not_touch_host_files() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    // The "host" files an attacker would like the runtime to create or overwrite.
    let host = tempfile::tempdir().expect("host dir");
    std::fs::write(host.path().join("secret"), "host data\n").expect("write secret");
    std::fs::create_dir(host.path().join("etc")).expect("mkdir");
    let source = tempfile::tempdir().expect("bind source");
    std::fs::write(source.path().join("payload"), "from the bundle\n").expect("payload");
    let before = hash_tree(host.path());

    let rootfs = b.rootfs();
    let host_abs = host.path().to_path_buf();
    // Absolute and relative links out of the rootfs.
    std::os::unix::fs::symlink(&host_abs, rootfs.join("abs")).expect("symlink abs");
    let ups = "../".repeat(rootfs.components().count() + 2);
    std::os::unix::fs::symlink(
        format!(
            "{ups}{}",
            host_abs.display().to_string().trim_start_matches('/')
        ),
        rootfs.join("rel"),
    )
    .expect("symlink rel");
    // A file link: a file bind mount onto it must not land on the host file.
    std::os::unix::fs::symlink(host_abs.join("secret"), rootfs.join("secretlink"))
        .expect("symlink file");

    let mounts = b.config["mounts"].as_array_mut().expect("mounts array");
    mounts.push(
        json!({"destination": "/abs/newdir", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev"]}),
    );
    mounts.push(json!({"destination": "/rel/etc/sub", "type": "bind",
                       "source": source.path(), "options": ["rbind", "rw"]}));
    mounts.push(json!({"destination": "/secretlink", "type": "bind",
                       "source": source.path().join("payload"), "options": ["bind", "rw"]}));

    let out = b.run_sh(
        "echo pwned > /abs/newdir/f 2>/dev/null; echo pwned > /rel/etc/sub/g 2>/dev/null; \
         echo pwned > /secretlink 2>/dev/null; echo done",
    );
    let after = hash_tree(host.path());
    assert_eq!(
        before,
        after,
        "host files changed; runtime said: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!(
        "hostile rootfs: exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    if !out.status.success() {
        // Refusing is allowed, but it must say why.
        assert!(!out.stderr.is_empty(), "failed without a message");
    }
    assert!(berth_tests::mounts_under(b.dir.path()).is_empty());
}

#[test]
fn hostile_dev_null_is_not_used_for_masking() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    let host = tempfile::tempdir().expect("host dir");
    let target = host.path().join("core_pattern");
    std::fs::write(&target, "host value\n").expect("write target");
    let before = hash_tree(host.path());
    // No tmpfs on /dev: the rootfs's own /dev is used, and its "null" points at a host file.
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    mounts.retain(|m| {
        m["destination"] != "/dev"
            && !m["destination"]
                .as_str()
                .is_some_and(|d| d.starts_with("/dev/"))
    });
    let dev = b.rootfs().join("dev");
    std::os::unix::fs::symlink(&target, dev.join("null")).expect("symlink /dev/null");
    let out =
        b.run_sh("echo pwned > /proc/kcore 2>/dev/null; cat /proc/kcore 2>/dev/null; echo done");
    assert_eq!(
        before,
        hash_tree(host.path()),
        "a host file was written through the masked path: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("host value"),
        "host file exposed: {}",
        text(&out.stdout)
    );
    eprintln!(
        "hostile rootfs: exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    if !out.status.success() {
        assert!(!out.stderr.is_empty(), "failed without a message");
    }
}

#[test]
fn user_namespace_root_is_an_unprivileged_host_uid() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    const HOST_UID: u32 = 231_072;
    let data = tempfile::tempdir().expect("data dir");
    std::os::unix::fs::chown(data.path(), Some(HOST_UID), Some(HOST_UID)).expect("chown data");
    // The mapped root cannot create directories in a rootfs owned by the host's root.
    std::fs::create_dir(b.rootfs().join("data")).expect("mkdir rootfs/data");
    let namespaces = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    if !namespaces.iter().any(|n| n["type"] == "user") {
        namespaces.push(json!({"type": "user"}));
    }
    b.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": HOST_UID, "size": 65536}]);
    b.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": HOST_UID, "size": 65536}]);
    b.config["mounts"].as_array_mut().expect("mounts").push(
        json!({"destination": "/data", "type": "bind", "source": data.path(),
                     "options": ["rbind", "rw"]}),
    );
    let out = b.run_sh("id -u; cat /proc/self/uid_map; touch /data/created && echo created");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.lines().next() == Some("0"), "root inside: {stdout}");
    assert!(stdout.contains("created"), "{stdout}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(data.path().join("created")).expect("file on the host");
    assert_eq!(meta.uid(), HOST_UID, "owned by the mapped uid on the host");
    assert_eq!(meta.gid(), HOST_UID);
}

#[test]
fn lsm_fields_are_accepted_or_refused_clearly() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    // "unconfined" asks for nothing and runs everywhere.
    b.config["process"]["apparmorProfile"] = json!("unconfined");
    let out = b.run_sh("echo ran");
    assert!(out.status.success(), "unconfined: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "ran");

    if !container_core::lsm::apparmor_enabled() {
        b.config["process"]["apparmorProfile"] = json!("berth-test-profile");
        let out = b.run_sh("echo ran");
        assert!(!out.status.success(), "a profile was silently ignored");
        let err = text(&out.stderr);
        assert!(err.contains("AppArmor is not enabled"), "{err}");
        b.config["process"]
            .as_object_mut()
            .expect("process")
            .remove("apparmorProfile");
    }
    if !container_core::lsm::selinux_enabled() {
        b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        let out = b.run_sh("echo ran");
        assert!(!out.status.success(), "a label was silently ignored");
        let err = text(&out.stderr);
        assert!(err.contains("SELinux is not enabled"), "{err}");
    }
}

#[test]
fn procfs_writes_do_not_follow_a_hostile_proc_symlink() {
    let Some(rt) = runtime() else { return };
    let Some(mut b) = Bundle::new(&rt) else {
        return;
    };
    // A fake procfs on the "host", and the rootfs's /proc pointing at it.
    let host = tempfile::tempdir().expect("host dir");
    for dir in ["sys/kernel", "self", "1"] {
        std::fs::create_dir_all(host.path().join(dir)).expect("mkdir");
    }
    for file in [
        "sys/kernel/domainname",
        "self/oom_score_adj",
        "1/oom_score_adj",
    ] {
        std::fs::write(host.path().join(file), "host\n").expect("write");
    }
    let before = hash_tree(host.path());
    let proc_dir = b.rootfs().join("proc");
    std::fs::remove_dir(&proc_dir).expect("rmdir proc");
    std::os::unix::fs::symlink(host.path(), &proc_dir).expect("symlink proc");
    b.config["linux"]["sysctl"] = json!({"kernel.domainname": "berth-test"});
    b.config["process"]["oomScoreAdj"] = json!(100);
    let out = b.run_sh("cat /proc/sys/kernel/domainname /proc/self/oom_score_adj; echo done");
    eprintln!(
        "hostile /proc: exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(before, hash_tree(host.path()), "a host file was written");
    if out.status.success() {
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("berth-test") && stdout.contains("100"),
            "{stdout}"
        );
    } else {
        assert!(!out.stderr.is_empty(), "failed without a message");
    }
    assert!(berth_tests::mounts_under(b.dir.path()).is_empty());
}
