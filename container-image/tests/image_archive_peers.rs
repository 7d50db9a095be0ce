//! container-image archives against the peers: buildah builds, skopeo converts and
//! inspects, umoci unpacks; berth imports, exports, unpacks, and the trees must match.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use container_image::{Mount, Store, unmount};

fn run(cmd: &mut Command) -> String {
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

/// Unmounts anything left under a directory, then removes it.
struct Scratch(tempfile::TempDir);
impl Drop for Scratch {
    fn drop(&mut self) {
        let root = self.0.path().to_string_lossy().into_owned();
        if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
            let mut points: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|p| p.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = unmount(Path::new(p));
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        data: Vec<u8>,
    },
    Link {
        target: PathBuf,
        uid: u32,
        gid: u32,
    },
    Other {
        mode: u32,
        rdev: u64,
    },
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(root).expect("rel").to_path_buf();
        let m = e.path().symlink_metadata().expect("lstat");
        let (mode, uid, gid) = (m.mode() & 0o7777, m.uid(), m.gid());
        let node = if m.is_dir() {
            Node::Dir { mode, uid, gid }
        } else if m.file_type().is_symlink() {
            Node::Link {
                target: fs::read_link(e.path()).expect("readlink"),
                uid,
                gid,
            }
        } else if m.is_file() {
            Node::File {
                mode,
                uid,
                gid,
                data: fs::read(e.path()).expect("read"),
            }
        } else {
            Node::Other {
                mode,
                rdev: m.rdev(),
            }
        };
        out.insert(rel, node);
    }
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    let keys_a: Vec<_> = ta.keys().collect();
    let keys_b: Vec<_> = tb.keys().collect();
    assert_eq!(keys_a, keys_b, "{} vs {}", a.display(), b.display());
    for (k, v) in &ta {
        assert_eq!(Some(v), tb.get(k), "{}", k.display());
    }
}

#[test]
fn image_archives_vs_buildah_skopeo_umoci() {
    if !berth_tests::require_root("run buildah/umoci as root") {
        return;
    }
    let (Some(_), Some(_), Some(_)) = (
        berth_tests::require_tool("buildah"),
        berth_tests::require_tool("skopeo"),
        berth_tests::require_tool("umoci"),
    ) else {
        return;
    };
    let scratch = Scratch(tempfile::tempdir().expect("tempdir"));
    let t = scratch.0.path();
    // 1. buildah builds a 3-layer image: a busybox rootfs, then changes with owners,
    //    modes, a symlink, a deleted file, a dir replaced by a file, an opaque dir.
    let ctx = t.join("ctx");
    fs::create_dir_all(&ctx).expect("mkdir");
    assert!(berth_tests::busybox_rootfs(&ctx.join("rootfs")));
    fs::create_dir_all(ctx.join("rootfs/etc/conf.d")).expect("mkdir");
    fs::write(ctx.join("rootfs/etc/conf.d/old"), "old").expect("w");
    fs::create_dir_all(ctx.join("rootfs/opt/dir")).expect("mkdir");
    fs::write(ctx.join("rootfs/opt/dir/x"), "x").expect("w");
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\n\
         RUN [\"/bin/sh\", \"-c\", \"mkdir -p /srv/app && echo hi > /srv/app/f && chown -R 1000:1000 /srv/app && chmod 0750 /srv/app && ln -s /srv/app/f /srv/link && rm /etc/group && rm -r /opt/dir && echo file > /opt/dir\"]\n\
         RUN [\"/bin/sh\", \"-c\", \"rm -rf /etc/conf.d && mkdir /etc/conf.d && echo new > /etc/conf.d/new\"]\n",
    )
    .expect("Dockerfile");
    let broot = t.join("buildah");
    let buildah = |args: &[&str]| {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(broot.join("root"))
            .arg("--runroot")
            .arg(broot.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        c
    };
    run(buildah(&[
        "bud",
        "--layers",
        "--isolation",
        "chroot",
        "-t",
        "localhost/peer:1",
    ])
    .arg(&ctx));
    let layout = t.join("oci");
    run(buildah(&["push", "localhost/peer:1"]).arg(format!("oci:{}:v1", layout.display())));
    let darchive = t.join("peer-docker.tar");
    run(Command::new("skopeo")
        .args(["copy"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!(
            "docker-archive:{}:localhost/peer:docker",
            darchive.display()
        )));
    run(&mut buildah(&["rmi", "--all", "--force"]));

    let store = Store::open(t.join("store")).expect("store");
    // 2. berth imports both.
    let from_oci = store
        .import_oci_layout(&layout, Some("localhost/peer"))
        .expect("import oci");
    assert_eq!(from_oci.len(), 1);
    let img = store.image("localhost/peer:v1").expect("by tag");
    assert_eq!(img.layers.len(), 3);
    let from_docker = store
        .load_docker_archive(&darchive)
        .expect("load docker-archive");
    assert_eq!(from_docker.len(), 1);
    assert_eq!(
        from_docker[0].diff_ids(),
        img.diff_ids(),
        "same layers either way"
    );
    store
        .image("localhost/peer:docker")
        .expect("docker-archive name");

    // 3. berth's unpack equals umoci's unpack of the peer layout.
    let ours = t.join("ours");
    store.unpack_to(&img, &ours).expect("unpack");
    let umoci_peer = t.join("umoci-peer");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(&umoci_peer));
    assert_same_tree(&ours, &umoci_peer.join("rootfs"));
    assert!(!ours.join("etc/group").exists());
    assert!(!ours.join("etc/conf.d/old").exists());
    assert_eq!(
        fs::read_to_string(ours.join("opt/dir")).expect("file"),
        "file\n"
    );
    let ours_docker = t.join("ours-docker");
    store
        .unpack_to(&from_docker[0], &ours_docker)
        .expect("unpack docker");
    assert_same_tree(&ours, &ours_docker);

    // 4. the overlay rootfs shows the same tree (whiteouts and opaque dirs in overlay form).
    let top = store.unpack(&img).expect("snapshots").expect("top");
    let mounts = store.snapshots().view("cmp", Some(&top)).expect("view");
    let mnt = t.join("mnt");
    fs::create_dir_all(&mnt).expect("mkdir");
    Mount::mount_all(&mounts, &mnt).expect("mount");
    let same = std::panic::catch_unwind(|| assert_same_tree(&ours, &mnt));
    unmount(&mnt).expect("unmount");
    same.expect("overlay tree equals flat tree");

    // 5. berth's exports are read by skopeo and umoci.
    let exported = t.join("export");
    store
        .export_oci_layout(&["localhost/peer:v1"], &exported)
        .expect("export oci");
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:v1", exported.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(
        v["Layers"].as_array().map(|a| a.len()),
        Some(3),
        "{inspect}"
    );
    let umoci_ours = t.join("umoci-ours");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", exported.display()))
        .arg(&umoci_ours));
    assert_same_tree(&ours, &umoci_ours.join("rootfs"));

    let saved = t.join("berth-docker.tar");
    store
        .save_docker_archive(&["localhost/peer:v1"], &saved)
        .expect("save");
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", saved.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(
        v["Layers"].as_array().map(|a| a.len()),
        Some(3),
        "{inspect}"
    );
    // skopeo converts berth's docker-archive back to OCI; the image id survives.
    let back = t.join("back");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", saved.display()))
        .arg(format!("oci:{}:b", back.display())));
    let store2 = Store::open(t.join("store2")).expect("store2");
    let b = store2
        .import_oci_layout(&back, Some("localhost/back"))
        .expect("import back");
    assert_eq!(b[0].config_digest, img.config_digest);

    // 6. OCI archive round trip and docker import of a rootfs tar.
    let oci_tar = t.join("berth-oci.tar");
    store
        .export_oci_archive(&["localhost/peer:v1"], &oci_tar)
        .expect("export tar");
    let again = store2
        .import_oci_archive(&oci_tar, None)
        .expect("import tar");
    assert_eq!(again[0].manifest_digest, img.manifest_digest);
    let rootfs_tar = t.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&ours)
        .arg("-cf")
        .arg(&rootfs_tar)
        .arg("."));
    let imported = store
        .import_rootfs_tar(
            fs::File::open(&rootfs_tar).expect("open"),
            "localhost/imported:1",
            &[("Cmd", serde_json::json!(["/bin/sh"]))],
        )
        .expect("import rootfs");
    assert_eq!(imported.config.cmd().expect("cmd"), vec!["/bin/sh"]);
    let ours_imported = t.join("ours-imported");
    store
        .unpack_to(&imported, &ours_imported)
        .expect("unpack imported");
    assert_same_tree(&ours, &ours_imported);
    drop(scratch);
}
