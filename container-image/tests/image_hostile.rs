//! Hostile layers are rejected with a clear error and nothing is written outside the
//! target; a store survives `kill -9` during an import or an unpack, and GC removes
//! the partial data.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use container_image::layer::{ApplyOptions, apply};
use container_image::{Digest, Error, Store};

fn header(kind: tar::EntryType, path: &[u8], link: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, link: &str, data: &[u8]) {
    let h = header(kind, path.as_bytes(), link.as_bytes(), data.len() as u64);
    b.append(&h, data).expect("append");
}

fn tar_of(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().expect("tar")
}

struct Arena {
    _dir: tempfile::TempDir,
    target: PathBuf,
    outside: PathBuf,
    parent: PathBuf,
}

fn arena() -> Arena {
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = dir.path().to_path_buf();
    let target = parent.join("target");
    let outside = parent.join("outside");
    fs::create_dir_all(&target).expect("mkdir");
    fs::create_dir_all(&outside).expect("mkdir");
    Arena {
        _dir: dir,
        target,
        outside,
        parent,
    }
}

impl Arena {
    fn assert_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.parent)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(fs::read_dir(&self.outside).expect("ls").count(), 0);
    }
}

fn reject(layer: &[u8], want: &str) {
    let a = arena();
    let e = apply(layer, &a.target, &ApplyOptions::default())
        .expect_err("hostile layer must be rejected");
    assert!(
        e.to_string().contains(want),
        "error {e:?} should mention {want:?}"
    );
    a.assert_untouched();
}

#[test]
fn image_hostile_layers_rejected() {
    reject(
        &tar_of(|b| entry(b, tar::EntryType::Regular, "../escape", "", b"x")),
        "..",
    );
    reject(
        &tar_of(|b| entry(b, tar::EntryType::Regular, "a/../../escape", "", b"x")),
        "..",
    );
    reject(
        &tar_of(|b| entry(b, tar::EntryType::Regular, "/abs", "", b"x")),
        "absolute",
    );
    reject(
        &tar_of(|b| entry(b, tar::EntryType::Link, "shadow", "/etc/shadow", b"")),
        "absolute",
    );
    reject(
        &tar_of(|b| {
            entry(
                b,
                tar::EntryType::Link,
                "shadow",
                "../../../../etc/shadow",
                b"",
            )
        }),
        "..",
    );
    reject(
        &tar_of(|b| {
            entry(b, tar::EntryType::Symlink, "etc", "/etc", b"");
            entry(b, tar::EntryType::Link, "shadow", "etc/shadow", b"");
        }),
        "hardlink",
    );
    reject(
        &tar_of(|b| {
            entry(b, tar::EntryType::Symlink, "host", "/", b"");
            entry(b, tar::EntryType::Link, "shadow", "host/etc/shadow", b"");
        }),
        "not in this layer",
    );
    reject(
        &tar_of(|b| {
            entry(b, tar::EntryType::Symlink, "a", "b", b"");
            entry(b, tar::EntryType::Symlink, "b", "a", b"");
            entry(b, tar::EntryType::Regular, "a/x", "", b"x");
        }),
        "symbolic links",
    );
    // A 10 GB claim with no data behind it.
    let mut big = Vec::new();
    big.extend_from_slice(header(tar::EntryType::Regular, b"huge", b"", 10 << 30).as_bytes());
    big.extend_from_slice(&[0u8; 4096]);
    reject(&big, "truncated");
    let mut sparse = Vec::new();
    sparse
        .extend_from_slice(header(tar::EntryType::GNUSparse, b"sparse", b"", 10 << 30).as_bytes());
    sparse.extend_from_slice(&[0u8; 1024]);
    let a = arena();
    assert!(apply(&sparse[..], &a.target, &ApplyOptions::default()).is_err());
    a.assert_untouched();
    // Truncated gzip.
    let plain = tar_of(|b| entry(b, tar::EntryType::Regular, "f", "", &[7u8; 100_000]));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).expect("gz");
    let gz = gz.finish().expect("gz");
    let a = arena();
    let e = apply(&gz[..gz.len() - 20], &a.target, &ApplyOptions::default())
        .expect_err("truncated gzip");
    assert!(matches!(e, Error::InvalidLayer { .. }), "{e}");
    a.assert_untouched();
    // Digest mismatch.
    let a = arena();
    let opts = ApplyOptions {
        expected_diff_id: Some(Digest::sha256(b"something else")),
        ..Default::default()
    };
    let e = apply(&gz[..], &a.target, &opts).expect_err("digest mismatch");
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    a.assert_untouched();
}

#[test]
fn image_hostile_symlink_writes_stay_inside() {
    let a = arena();
    let o = a.outside.display().to_string();
    // An absolute symlink to the outside directory's path, then a write through it:
    // resolved inside the root, where that path does not exist.
    let t = tar_of(|b| {
        entry(b, tar::EntryType::Symlink, "link", &o, b"");
        entry(b, tar::EntryType::Regular, "link/pwned", "", b"x");
    });
    let e = apply(&t[..], &a.target, &ApplyOptions::default()).expect_err("through symlink");
    assert!(e.to_string().contains("symlink"), "{e}");
    a.assert_untouched();
    // A relative symlink climbing above the root lands on the root itself.
    let t = tar_of(|b| {
        entry(b, tar::EntryType::Directory, "etc/", "", b"");
        entry(b, tar::EntryType::Symlink, "up", "../../../../../..", b"");
        entry(b, tar::EntryType::Regular, "up/etc/written", "", b"x");
    });
    apply(&t[..], &a.target, &ApplyOptions::default()).expect("confined");
    assert!(a.target.join("etc/written").exists());
    a.assert_untouched();
}

/// Child side of the kill -9 tests (runs only when the parent sets the variable).
#[test]
fn image_kill_child() {
    let Ok(mode) = std::env::var("BERTH_IMAGE_KILL_CHILD") else {
        return;
    };
    let (what, root) = mode.split_once(':').expect("mode:root");
    let store = Store::open(root).expect("child store");
    match what {
        "import" => {
            let _ = store.import_rootfs_tar(std::io::stdin(), "localhost/killed:1", &[]);
        }
        "unpack" => {
            let img = store.image("localhost/victim:1").expect("victim");
            let _ = store.unpack(&img);
        }
        _ => {}
    }
    // Never reached in the real test: the parent kills us first.
    std::thread::sleep(Duration::from_secs(60));
}

fn spawn_child(mode: &str, root: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "image_kill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "BERTH_IMAGE_KILL_CHILD",
            format!("{mode}:{}", root.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill9(child: &mut std::process::Child) {
    // Our own child, by pid.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let _ = child.wait();
}

#[test]
fn image_kill9_during_import_then_gc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    Store::open(&root).expect("create");
    let mut child = spawn_child("import", &root);
    let mut stdin = child.stdin.take().expect("stdin");
    // Half a rootfs tar: a 8 MiB file header and 4 MiB of its data.
    let h = header(tar::EntryType::Regular, b"big", b"", 8 << 20);
    stdin.write_all(h.as_bytes()).expect("header");
    stdin.write_all(&noise(4 << 20)).expect("data");
    stdin.flush().expect("flush");
    let store = Store::open(&root).expect("open while importing");
    wait_for("ingest data", || store.content().ingest_size() > (1 << 20));
    kill9(&mut child);
    drop(stdin);
    let store = Store::open(&root).expect("store opens after kill -9");
    assert!(store.image("localhost/killed:1").is_err());
    let du = store.disk_usage().expect("du");
    assert!(du.ingest_bytes > 0);
    let r = store.gc().expect("gc");
    assert!(r.ingest_freed > 0, "{r:?}");
    assert_eq!(store.content().ingest_size(), 0);
    assert!(store.content().list().expect("blobs").is_empty());
}

#[test]
fn image_kill9_during_unpack_then_gc() {
    if !berth_tests::require_root("apply layers with owners") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let store = Store::open(&root).expect("create");
    let src = dir.path().join("src");
    fs::create_dir_all(&src).expect("mkdir");
    for i in 0..8 {
        fs::write(src.join(format!("f{i}")), noise(1 << 20)).expect("w");
    }
    let layer = container_image::diff::create_layer(
        &store,
        &src,
        &container_image::diff::DiffOptions {
            compression: container_image::layer::Compression::None,
            ..Default::default()
        },
    )
    .expect("layer");
    let img = store
        .write_image(
            &container_image::ImageConfig::default(),
            std::slice::from_ref(&layer),
            Some("localhost/victim:1"),
        )
        .expect("image");
    // Feed the blob through a FIFO so the child stops half-way through the apply.
    let blob_path = store.content().blob_path(&layer.digest);
    let saved = dir.path().join("blob");
    fs::rename(&blob_path, &saved).expect("move blob");
    nix::unistd::mkfifo(&blob_path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .expect("mkfifo");
    let mut child = spawn_child("unpack", &root);
    let data = fs::read(&saved).expect("blob data");
    let mut fifo = fs::OpenOptions::new()
        .write(true)
        .open(&blob_path)
        .expect("open fifo");
    fifo.write_all(&data[..data.len() / 2])
        .expect("half the layer");
    wait_for("extract snapshot", || {
        store
            .snapshots()
            .list()
            .map(|l| l.keys().any(|k| k.starts_with("extract-")))
            .unwrap_or(false)
    });
    kill9(&mut child);
    drop(fifo);
    fs::remove_file(&blob_path).expect("rm fifo");
    fs::rename(&saved, &blob_path).expect("restore blob");

    let store = Store::open(&root).expect("store opens after kill -9");
    let before = store.snapshots().list().expect("list");
    assert!(before.keys().any(|k| k.starts_with("extract-")));
    let r = store.gc().expect("gc");
    assert!(r.snapshots_removed >= 1, "{r:?}");
    assert!(store.snapshots().list().expect("list").is_empty());
    let snap_dirs = fs::read_dir(store.snapshots().dir())
        .expect("ls")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                // snapshot directories are numbered; `meta/` holds their metadata
                e.path().is_dir()
                    && e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
            })
        })
        .count();
    assert_eq!(snap_dirs, 0, "snapshot directories left");
    let meta = store.snapshots().dir().join("meta");
    let metas = fs::read_dir(&meta).map(|d| d.count()).unwrap_or(0);
    assert_eq!(metas, 0, "snapshot metadata left in {}", meta.display());
    // The image is intact and unpacks now.
    let top = store.unpack(&img).expect("unpack").expect("top");
    assert!(store.snapshots().exists(&top.to_string()).expect("exists"));
}
