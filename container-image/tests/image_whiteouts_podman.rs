//! Whiteouts against podman (acceptance 4): a 3-layer image that deletes a file,
//! replaces a directory by a file and makes a directory opaque. berth's flat unpack and
//! berth's overlay-mounted snapshot must both show exactly the tree podman shows for
//! the same image (`podman image mount`, overlay storage driver).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use container_image::image::media;
use container_image::{Digest, ImageConfig, Layer, Mount, Store, unmount};

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
            }
        } else if m.is_file() {
            Node::File {
                mode,
                uid,
                gid,
                data: fs::read(e.path()).expect("read"),
            }
        } else {
            panic!("unexpected file type at {}", rel.display());
        };
        out.insert(rel, node);
    }
    out
}

/// One tar entry: (path, kind, data or link target, mode, uid).
type Spec<'a> = (&'a str, tar::EntryType, &'a str, u32, u64);

fn layer_tar(entries: &[Spec<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data, mode, uid) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(1_700_000_000);
        if *kind == tar::EntryType::Symlink {
            h.set_size(0);
            b.append_link(&mut h, path, data).expect("symlink entry");
        } else {
            let body = if *kind == tar::EntryType::Regular {
                data.as_bytes()
            } else {
                &[][..]
            };
            h.set_size(body.len() as u64);
            b.append_data(&mut h, path, body).expect("entry");
        }
    }
    b.into_inner().expect("tar")
}

fn store_layer(store: &Store, tar: &[u8]) -> Layer {
    let digest = store.content().write_blob(tar).expect("blob");
    Layer {
        digest,
        size: tar.len() as u64,
        media_type: media::OCI_LAYER.to_string(),
        diff_id: Digest::sha256(tar),
    }
}

/// Makes a podman command with this test's storage flags.
type PodmanCmd = Box<dyn Fn(&[&str]) -> Command>;

struct Cleanup {
    dir: PathBuf,
    podman: Option<PodmanCmd>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = &self.podman {
            let _ = p(&["image", "unmount", "--all", "--force"]).output();
            let _ = p(&["rmi", "--all", "--force"]).output();
        }
        let mut points = berth_tests::mounts_under(&self.dir);
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            let _ = unmount(&p);
        }
    }
}

#[test]
fn image_whiteouts_match_podman() {
    if !berth_tests::require_root("mount overlayfs and run podman") {
        return;
    }
    let Some(_) = berth_tests::require_tool("podman") else {
        return;
    };
    // podman names an `oci:` image after its path, which must be lower case.
    let tmp = tempfile::Builder::new()
        .prefix(&format!("berth-img-wh-{}", std::process::id()))
        .rand_bytes(0)
        .tempdir()
        .expect("tempdir");
    let t = tmp.path().to_path_buf();
    let proot = t.join("podman");
    let pconf = t.join("containers.conf");
    fs::write(
        &pconf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
    )
    .expect("containers.conf");
    let podman = move |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &pconf)
            .arg("--root")
            .arg(proot.join("root"))
            .arg("--runroot")
            .arg(proot.join("run"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .args(args);
        c
    };
    let mut cleanup = Cleanup {
        dir: t.clone(),
        podman: None,
    };

    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let l1 = layer_tar(&[
        ("etc", D, "", 0o755, 0),
        ("etc/keep", F, "keep\n", 0o644, 0),
        ("etc/gone", F, "gone\n", 0o600, 0),
        ("opt", D, "", 0o755, 0),
        ("opt/dir", D, "", 0o750, 1000),
        ("opt/dir/inner", F, "inner\n", 0o640, 1000),
        ("opt/dir/sub", D, "", 0o755, 1000),
        ("opt/dir/sub/deep", F, "deep\n", 0o644, 1000),
        ("var", D, "", 0o755, 0),
        ("var/cache", D, "", 0o775, 0),
        ("var/cache/a", F, "a\n", 0o644, 0),
        ("var/cache/sub", D, "", 0o755, 0),
        ("var/cache/sub/b", F, "b\n", 0o644, 0),
        ("usr", D, "", 0o755, 0),
        ("usr/keep-link", L, "../etc/keep", 0o777, 0),
        ("usr/old-link", L, "/etc/gone", 0o777, 0),
    ]);
    // Layer 2: delete a file, replace a directory (with contents) by a file.
    let l2 = layer_tar(&[
        ("etc", D, "", 0o755, 0),
        ("etc/.wh.gone", F, "", 0o644, 0),
        ("opt", D, "", 0o755, 0),
        ("opt/dir", F, "now a file\n", 0o604, 2000),
        ("usr", D, "", 0o755, 0),
        ("usr/.wh.old-link", F, "", 0o644, 0),
    ]);
    // Layer 3: make a directory opaque and give it new content; recreate what layer 2
    // deleted, as a directory this time.
    let l3 = layer_tar(&[
        ("var", D, "", 0o755, 0),
        ("var/cache", D, "", 0o700, 33),
        ("var/cache/.wh..wh..opq", F, "", 0o644, 0),
        ("var/cache/fresh", F, "fresh\n", 0o644, 33),
        ("etc", D, "", 0o755, 0),
        ("etc/gone", D, "", 0o711, 0),
        ("etc/gone/back", F, "back\n", 0o644, 0),
    ]);
    let store = Store::open(t.join("store")).expect("store");
    let layers: Vec<Layer> = [&l1, &l2, &l3]
        .iter()
        .map(|l| store_layer(&store, l))
        .collect();
    let img = store
        .write_image(&ImageConfig::default(), &layers, Some("localhost/wh:3"))
        .expect("image");

    // berth: flat unpack, and the overlay mount of a container snapshot.
    let flat = t.join("flat");
    store.unpack_to(&img, &flat).expect("unpack");
    let top = store.unpack(&img).expect("unpack snapshots").expect("top");
    let mounts = store
        .snapshots()
        .prepare("wh-ctr", Some(&top))
        .expect("prepare");
    let merged = t.join("merged");
    fs::create_dir_all(&merged).expect("mkdir");
    Mount::mount_all(&mounts, &merged).expect("mount overlay");

    // podman: the same image from berth's OCI layout.
    let layout = t.join("layout");
    store
        .export_oci_layout(&["localhost/wh:3"], &layout)
        .expect("export");
    cleanup.podman = Some(Box::new(podman.clone()));
    let oci = format!("oci:{}:3", layout.display());
    run(podman(&["pull", "-q", &oci]));
    let images = run(podman(&["images", "--format", "{{.Id}}", "--noheading"]));
    let id = images.lines().next().expect("an image in podman").trim();
    assert!(img.id().hex().starts_with(id), "{id} vs {}", img.id());
    let pmount = run(podman(&["image", "mount", id]));
    let pmount = PathBuf::from(pmount.trim());

    let want = tree(&pmount);
    // Sanity: podman saw the changes too (so an empty or wrong mount cannot pass).
    assert_eq!(
        want.get(Path::new("opt/dir")),
        Some(&Node::File {
            mode: 0o604,
            uid: 2000,
            gid: 2000,
            data: b"now a file\n".to_vec()
        })
    );
    assert!(!want.contains_key(Path::new("var/cache/a")));
    assert!(!want.contains_key(Path::new("usr/old-link")));
    assert!(want.contains_key(Path::new("etc/gone/back")));

    for (what, dir) in [("flat unpack", &flat), ("overlay mount", &merged)] {
        let got = tree(dir);
        let (gk, wk): (Vec<_>, Vec<_>) = (got.keys().collect(), want.keys().collect());
        assert_eq!(gk, wk, "{what}: paths differ from podman's");
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "{what}: {}", k.display());
        }
    }
    unmount(&merged).expect("unmount");
    drop(cleanup);
    assert!(berth_tests::mounts_under(&t).is_empty());
}
