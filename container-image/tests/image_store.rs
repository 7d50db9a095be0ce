//! container-image: store, unpack, overlay snapshots, diff, host-binary images, GC.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use container_image::diff::{DiffOptions, create_layer, create_layer_between};
use container_image::{ImageConfig, Mount, Store, unmount};

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

fn layer_from(store: &Store, f: impl FnOnce(&Path)) -> container_image::Layer {
    let dir = tempfile::tempdir().expect("tempdir");
    f(dir.path());
    create_layer(store, dir.path(), &DiffOptions::default()).expect("create layer")
}

#[test]
fn image_store_names_and_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let l = layer_from(&store, |d| fs::write(d.join("hello"), "hi").expect("write"));
    let mut cfg = ImageConfig::default();
    cfg.set(
        "Healthcheck",
        Some(serde_json::json!({"Test": ["CMD", "true"]})),
    );
    cfg.set("Shell", Some(serde_json::json!(["/bin/sh", "-c"])));
    let img = store
        .write_image(&cfg, std::slice::from_ref(&l), Some("example/app:1"))
        .expect("write image");
    let again = store.image("example/app:1").expect("lookup");
    assert_eq!(again.manifest_digest, img.manifest_digest);
    assert_eq!(again.layers, vec![l]);
    assert!(again.config.healthcheck().is_some());
    assert_eq!(again.config.shell().expect("shell"), vec!["/bin/sh", "-c"]);
    // by id and id prefix
    assert_eq!(
        store
            .image(&img.id().to_string())
            .expect("by id")
            .manifest_digest,
        img.manifest_digest
    );
    assert_eq!(
        store
            .image(&img.id().hex()[..12])
            .expect("by short id")
            .manifest_digest,
        img.manifest_digest
    );
    store.tag("example/app:1", "other:2").expect("tag");
    let list = store.list_images().expect("list");
    assert_eq!(list.len(), 2);
    // another process (a second Store) sees the same
    let store2 = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store2
            .image("docker.io/library/other:2")
            .expect("other")
            .id(),
        img.id()
    );
    store.remove("other:2").expect("remove");
    assert!(store.image("other:2").is_err());
    let hist = store.history("example/app:1").expect("history");
    assert_eq!(hist.len(), 1);
    assert_eq!(&hist[0].image, &img.id().to_string());
    // deterministic diff
    let l1 = layer_from(&store, |d| fs::write(d.join("x"), "same").expect("w"));
    let l2 = layer_from(&store, |d| fs::write(d.join("x"), "same").expect("w"));
    // mtimes differ (now) unless clamped
    let dir_a = tempfile::tempdir().expect("t");
    fs::write(dir_a.path().join("x"), "same").expect("w");
    let opts = DiffOptions {
        source_date_epoch: Some(0),
        ..Default::default()
    };
    let a = create_layer(&store, dir_a.path(), &opts).expect("a");
    let b = create_layer(&store, dir_a.path(), &opts).expect("b");
    assert_eq!(a, b);
    let _ = (l1, l2);
    // gc drops the untagged
    store.remove("example/app:1").expect("remove");
    let r = store.gc().expect("gc");
    assert!(r.blobs_removed >= 3, "{r:?}");
    assert!(store.content().list().expect("list").is_empty());
}

#[test]
fn image_unpack_overlay_whiteouts_and_diff() {
    if !berth_tests::require_root("mount overlayfs") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let l1 = layer_from(&store, |d| {
        fs::create_dir_all(d.join("etc/conf.d")).expect("mkdir");
        fs::write(d.join("etc/conf.d/a"), "a").expect("w");
        fs::write(d.join("etc/conf.d/b"), "b").expect("w");
        fs::write(d.join("etc/gone"), "x").expect("w");
        fs::create_dir_all(d.join("opt/dir")).expect("mkdir");
        fs::write(d.join("opt/dir/inner"), "i").expect("w");
        fs::write(d.join("big"), vec![1u8; 100_000]).expect("w");
    });
    // layer 2 as an overlay upper: whiteout device, opaque dir, dir replaced by file
    let up = tempfile::tempdir().expect("tempdir");
    let u = up.path();
    fs::create_dir_all(u.join("etc/conf.d")).expect("mkdir");
    nix::sys::stat::mknod(
        &u.join("etc/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .expect("whiteout");
    xattr::set(u.join("etc/conf.d"), "trusted.overlay.opaque", b"y").expect("opaque");
    fs::write(u.join("etc/conf.d/c"), "c").expect("w");
    fs::create_dir_all(u.join("opt")).expect("mkdir");
    fs::write(u.join("opt/dir"), "now a file").expect("w");
    fs::hard_link(u.join("opt/dir"), u.join("opt/link")).expect("hardlink");
    let l2 = create_layer(&store, u, &DiffOptions::default()).expect("layer 2");
    let img = store
        .write_image(&ImageConfig::default(), &[l1, l2], Some("localhost/wh:1"))
        .expect("image");
    // flat unpack
    let flat = tempfile::tempdir().expect("tempdir");
    store.unpack_to(&img, flat.path()).expect("unpack_to");
    let f = flat.path();
    assert!(!f.join("etc/gone").exists());
    assert!(!f.join("etc/conf.d/a").exists());
    assert_eq!(fs::read_to_string(f.join("etc/conf.d/c")).expect("c"), "c");
    assert_eq!(
        fs::read_to_string(f.join("opt/dir")).expect("dir"),
        "now a file"
    );
    assert_eq!(
        fs::metadata(f.join("opt/dir")).expect("m").ino(),
        fs::metadata(f.join("opt/link")).expect("m").ino()
    );
    // snapshots + overlay
    let top = store.unpack(&img).expect("unpack").expect("top chain id");
    assert_eq!(Some(top.clone()), img.chain_id());
    store.unpack(&img).expect("unpack again is a no-op");
    let snaps = store.snapshots();
    let mounts = snaps.prepare("ctr-1", Some(&top)).expect("prepare");
    let target = tempfile::tempdir().expect("tempdir");
    Mount::mount_all(&mounts, target.path()).expect("mount");
    let guard = Unmount(target.path().to_path_buf());
    let t = target.path();
    assert!(!t.join("etc/gone").exists());
    assert!(!t.join("etc/conf.d/a").exists());
    assert!(t.join("etc/conf.d/c").exists());
    assert_eq!(
        fs::read_to_string(t.join("opt/dir")).expect("dir"),
        "now a file"
    );
    assert_eq!(fs::read(t.join("big")).expect("big").len(), 100_000);
    // container writes, then commit as a new image
    fs::write(t.join("new-file"), "new").expect("write");
    fs::remove_file(t.join("big")).expect("rm");
    drop(guard);
    let upper = snaps.upper_dir("ctr-1").expect("upper");
    let l3 = create_layer(&store, &upper, &DiffOptions::default()).expect("diff");
    let mut layers = img.layers.clone();
    layers.push(l3);
    let img2 = store
        .write_image(&img.config, &layers, Some("localhost/wh:2"))
        .expect("commit image");
    let flat2 = tempfile::tempdir().expect("tempdir");
    store.unpack_to(&img2, flat2.path()).expect("unpack 2");
    assert!(!flat2.path().join("big").exists());
    assert!(flat2.path().join("new-file").exists());
    // lower/upper diff gives the same change
    let l4 = create_layer_between(&store, flat.path(), flat2.path(), &DiffOptions::default())
        .expect("between");
    let flat3 = tempfile::tempdir().expect("tempdir");
    store.unpack_to(&img, flat3.path()).expect("unpack");
    let blob = store.content().open_blob(&l4.digest).expect("blob");
    container_image::layer::apply(blob, flat3.path(), &Default::default()).expect("apply");
    assert!(!flat3.path().join("big").exists());
    assert!(flat3.path().join("new-file").exists());
    // view
    let vm = snaps.view("view-1", Some(&top)).expect("view");
    let vt = tempfile::tempdir().expect("tempdir");
    Mount::mount_all(&vm, vt.path()).expect("mount view");
    let g = Unmount(vt.path().to_path_buf());
    assert!(fs::write(vt.path().join("nope"), "x").is_err());
    drop(g);
    // commit a snapshot and build on it
    snaps.commit("ctr-1", "ctr-1-committed").expect("commit");
    snaps
        .prepare_on("ctr-2", Some("ctr-1-committed"))
        .expect("prepare on committed");
    assert!(snaps.remove("ctr-1-committed").is_err(), "has a child");
    snaps.remove("ctr-2").expect("remove");
    snaps.remove("ctr-1-committed").expect("remove");
    snaps.remove("view-1").expect("remove view");
    store.remove("localhost/wh:1").expect("rm");
    store.remove("localhost/wh:2").expect("rm");
    let r = store.gc().expect("gc");
    assert!(r.snapshots_removed >= 2, "{r:?}");
    assert!(snaps.list().expect("list").is_empty());
}

#[test]
fn image_deep_overlay_beyond_page_limit() {
    if !berth_tests::require_root("mount overlayfs") {
        return;
    }
    // Long root path + many layers: the lowerdir option exceeds one page.
    let base = tempfile::tempdir().expect("tempdir");
    let root = base
        .path()
        .join("a-rather-long-directory-name-to-make-lowerdir-paths-long-enough");
    let store = Store::open(&root).expect("open");
    let mut layers = Vec::new();
    for i in 0..60 {
        layers.push(layer_from(&store, |d| {
            fs::write(d.join(format!("f{i}")), format!("{i}")).expect("w")
        }));
    }
    let img = store
        .write_image(&ImageConfig::default(), &layers, Some("localhost/deep:1"))
        .expect("image");
    let top = store.unpack(&img).expect("unpack").expect("top");
    let mounts = store
        .snapshots()
        .prepare("deep", Some(&top))
        .expect("prepare");
    let opt_len: usize = mounts[0].options.iter().map(|o| o.len() + 1).sum();
    assert!(opt_len > 4096, "options only {opt_len} bytes");
    let target = tempfile::tempdir().expect("tempdir");
    Mount::mount_all(&mounts, target.path()).expect("mount deep");
    let _g = Unmount(target.path().to_path_buf());
    for i in 0..60 {
        assert_eq!(
            fs::read_to_string(target.path().join(format!("f{i}"))).expect("read"),
            i.to_string()
        );
    }
}

#[test]
fn image_host_binaries_run() {
    if !berth_tests::require_root("chroot into the imported image") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let img = store
        .import_host_binaries("localhost/ls:host", &["/bin/ls", "/bin/cat"])
        .expect("import");
    assert_eq!(img.config.cmd().expect("cmd"), vec!["/bin/ls"]);
    let again = store
        .import_host_binaries("localhost/ls:host2", &["/bin/ls", "/bin/cat"])
        .expect("import again");
    assert_eq!(again.manifest_digest, img.manifest_digest, "deterministic");
    let rootfs = tempfile::tempdir().expect("tempdir");
    store.unpack_to(&img, rootfs.path()).expect("unpack");
    assert_eq!(
        fs::metadata(rootfs.path().join("tmp"))
            .expect("tmp")
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    fs::write(rootfs.path().join("tmp/marker"), "ok").expect("marker");
    let out = std::process::Command::new("chroot")
        .arg(rootfs.path())
        .args(["/bin/cat", "/tmp/marker"])
        .output()
        .expect("chroot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
}
