//! container-image hot paths, each beside the peer that does the same job, measured in
//! the same run (figures go into BENCHMARKS.md as ratios):
//!
//! * apply a gzip layer of 10,000 small files (diffID verified) vs `tar -xzf` and
//!   `umoci unpack`;
//! * sha256 throughput vs `openssl dgst -sha256`;
//! * snapshot prepare + overlay mount of a 5-layer image;
//! * push and pull of that 10,000-file image to a local `docker-registry` vs `skopeo copy`.
//!
//! Needs root (ownership, overlay mounts) and the peers on PATH; a missing peer skips
//! its comparison with a message. `cargo bench -p berth-benches --bench image`.
//!
//! With `BERTH_IMAGE_APPLY=<layer> <dir>` set the binary applies one layer and exits
//! (used by `benches/image.sh` to compare whole processes with hyperfine).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use container_image::diff::{DiffOptions, create_layer};
use container_image::layer::{ApplyOptions, apply};
use container_image::registry::{Client, PushOptions, RegistryOptions};
use container_image::{Digest, ImageConfig, Layer, Mount, Store, unmount};
use criterion::{Criterion, Throughput, criterion_group};

/// 10,000 files of 0.5–6 KiB of text-like data in 100 directories (about 32 MB of tar,
/// as in PEERS.md's reference figure).
fn make_tree(dir: &Path) {
    let words: Vec<&[u8]> = [
        &b"container "[..],
        b"layer ",
        b"image ",
        b"registry ",
        b"overlay ",
        b"snapshot ",
        b"digest ",
        b"manifest\n",
        b"0123456789abcdef ",
        b"{\"key\": \"value\"} ",
    ]
    .to_vec();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for d in 0..100 {
        let sub = dir.join(format!("d{d:03}"));
        fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..100 {
            let size = 512 + (next() % 5632) as usize;
            let mut data = Vec::with_capacity(size + 32);
            while data.len() < size {
                let r = next();
                if r % 4 == 0 {
                    data.extend_from_slice(&r.to_le_bytes());
                } else {
                    data.extend_from_slice(words[(r % words.len() as u64) as usize]);
                }
            }
            data.truncate(size);
            fs::write(sub.join(format!("f{f:03}.txt")), data).expect("write");
        }
    }
}

struct Fixture {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    store: Store,
    layer: Layer,
    layout: PathBuf,
}

fn fixture(dir: Option<tempfile::TempDir>, root: &Path) -> Fixture {
    let root = root.to_path_buf();
    let tree = root.join("tree");
    make_tree(&tree);
    let store = Store::open(root.join("store")).expect("store");
    let layer = create_layer(&store, &tree, &DiffOptions::default()).expect("layer");
    fs::remove_dir_all(&tree).expect("rm tree");
    store
        .write_image(
            &ImageConfig::default(),
            std::slice::from_ref(&layer),
            Some("localhost/bench:10k"),
        )
        .expect("image");
    let layout = root.join("layout");
    store
        .export_oci_layout(&["localhost/bench:10k"], &layout)
        .expect("layout");
    Fixture {
        _dir: dir,
        root,
        store,
        layer,
        layout,
    }
}

fn have(tool: &str) -> bool {
    let ok = berth_tests::which(tool).is_some();
    if !ok {
        eprintln!("skipped: `{tool}` is not on PATH");
    }
    ok
}

fn quiet(mut c: Command) {
    let st = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    assert!(st.success(), "{c:?} failed");
}

/// Time `f(i, fresh_dir)` only; create and remove the directory outside the timing.
fn timed_in_fresh_dir(base: &Path, iters: u64, mut f: impl FnMut(u64, &Path)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let d = base.join(format!("out-{i}"));
        let start = Instant::now();
        f(i, &d);
        total += start.elapsed();
        let _ = fs::remove_dir_all(&d);
    }
    total
}

fn bench_apply(c: &mut Criterion, fx: &Fixture) {
    let blob = fx.store.content().blob_path(&fx.layer.digest);
    let work = fx.root.join("apply");
    fs::create_dir_all(&work).expect("mkdir");
    let mut g = c.benchmark_group("image_apply_10k_files_gzip");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("berth", |b| {
        b.iter_custom(|n| {
            timed_in_fresh_dir(&work, n, |_, d| {
                fs::create_dir(d).expect("mkdir");
                let f = fs::File::open(&blob).expect("blob");
                let opts = ApplyOptions {
                    expected_diff_id: Some(fx.layer.diff_id.clone()),
                    ..Default::default()
                };
                apply(std::io::BufReader::new(f), d, &opts).expect("apply");
            })
        })
    });
    if have("tar") {
        g.bench_function("gnu_tar_xzf", |b| {
            b.iter_custom(|n| {
                timed_in_fresh_dir(&work, n, |_, d| {
                    fs::create_dir(d).expect("mkdir");
                    let mut c = Command::new("tar");
                    c.arg("-C").arg(d).arg("-xzf").arg(&blob);
                    quiet(c);
                })
            })
        });
    }
    if have("umoci") {
        g.bench_function("umoci_unpack", |b| {
            b.iter_custom(|n| {
                timed_in_fresh_dir(&work, n, |_, d| {
                    let mut c = Command::new("umoci");
                    c.args(["unpack", "--image"])
                        .arg(format!("{}:10k", fx.layout.display()))
                        .arg(d);
                    quiet(c);
                })
            })
        });
    }
    g.finish();
}

fn bench_sha256(c: &mut Criterion, fx: &Fixture) {
    const LEN: usize = 256 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 + (i >> 9)) as u8).collect();
    let file = fx.root.join("sha-input");
    fs::write(&file, &data).expect("write");
    let mut g = c.benchmark_group("image_sha256_256MiB");
    g.sample_size(10)
        .throughput(Throughput::Bytes(LEN as u64))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("berth_in_memory", |b| {
        b.iter(|| {
            let mut h =
                container_image::digest::Hasher::new(container_image::digest::Algorithm::Sha256);
            h.update(&data);
            std::hint::black_box(h.finish())
        })
    });
    // The same file read the way the content store reads a blob.
    g.bench_function("berth_file", |b| {
        b.iter(|| {
            let mut f = fs::File::open(&file).expect("open");
            let mut h =
                container_image::digest::Hasher::new(container_image::digest::Algorithm::Sha256);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            std::hint::black_box(h.finish())
        })
    });
    if have("openssl") {
        g.bench_function("openssl_dgst_sha256_file", |b| {
            b.iter(|| {
                let mut c = Command::new("openssl");
                c.args(["dgst", "-sha256"]).arg(&file);
                quiet(c);
            })
        });
    }
    g.finish();
    let _ = fs::remove_file(&file);
}

fn bench_snapshot(c: &mut Criterion, fx: &Fixture) {
    let store = &fx.store;
    let mut layers = Vec::new();
    for i in 0..5 {
        let d = fx.root.join(format!("small-{i}"));
        fs::create_dir_all(d.join("etc")).expect("mkdir");
        fs::write(d.join(format!("etc/f{i}")), format!("{i}")).expect("w");
        layers.push(create_layer(store, &d, &DiffOptions::default()).expect("layer"));
    }
    let img = store
        .write_image(&ImageConfig::default(), &layers, Some("localhost/bench:5"))
        .expect("image");
    let top = store.unpack(&img).expect("unpack").expect("top");
    let snaps = store.snapshots();
    let target = fx.root.join("mnt");
    fs::create_dir_all(&target).expect("mkdir");
    let mut g = c.benchmark_group("image_snapshot_5_layers");
    g.bench_function("prepare_and_overlay_mount", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for i in 0..n {
                let key = format!("bench-{i}");
                let start = Instant::now();
                let mounts = snaps.prepare(&key, Some(&top)).expect("prepare");
                Mount::mount_all(&mounts, &target).expect("mount");
                total += start.elapsed();
                unmount(&target).expect("unmount");
                snaps.remove(&key).expect("remove");
            }
            total
        })
    });
    g.finish();
}

struct Registry(std::process::Child);
impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench_registry(c: &mut Criterion, fx: &Fixture) {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let dir = fx.root.join("registry");
    fs::create_dir_all(&dir).expect("mkdir");
    let cfg = dir.join("config.yml");
    fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            dir.join("data").display()
        ),
    )
    .expect("config");
    let _reg = Registry(
        Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("registry"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(RegistryOptions::default()).expect("client");
    let mut g = c.benchmark_group("image_registry_10k_files_14MB");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    let mut n_push = 0u64;
    g.bench_function("berth_push", |b| {
        b.iter(|| {
            n_push += 1;
            let remote = format!("{host}/berth/push{n_push}:1");
            rt.block_on(client.push(
                &fx.store,
                "localhost/bench:10k",
                &remote,
                &PushOptions::default(),
                None,
            ))
            .expect("push")
        })
    });
    let mut n_sk = 0u64;
    g.bench_function("skopeo_copy_push", |b| {
        b.iter(|| {
            n_sk += 1;
            let mut c = Command::new("skopeo");
            c.args(["copy", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:10k", fx.layout.display()))
                .arg(format!("docker://{host}/skopeo/push{n_sk}:1"));
            quiet(c);
        })
    });
    let src = format!("{host}/berth/push1:1");
    let pulls = fx.root.join("pulls");
    fs::create_dir_all(&pulls).expect("mkdir");
    g.bench_function("berth_pull", |b| {
        b.iter_custom(|n| {
            timed_in_fresh_dir(&pulls, n, |_, d| {
                let s = Store::open(d).expect("store");
                rt.block_on(client.pull(&s, &src, None)).expect("pull");
            })
        })
    });
    g.bench_function("skopeo_copy_pull", |b| {
        b.iter_custom(|n| {
            timed_in_fresh_dir(&pulls, n, |_, d| {
                let mut c = Command::new("skopeo");
                c.args(["copy", "--src-tls-verify=false"])
                    .arg(format!("docker://{src}"))
                    .arg(format!("oci:{}:1", d.display()));
                quiet(c);
            })
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    if !berth_tests::is_root() {
        eprintln!("skipped: the image benches need root (ownership, overlay mounts)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let fx = fixture(Some(dir), &root);
    bench_apply(c, &fx);
    bench_sha256(c, &fx);
    bench_snapshot(c, &fx);
    bench_registry(c, &fx);
}

/// One layer apply, for hyperfine (`BERTH_IMAGE_APPLY="<layer> <dir>"`): verifies the
/// diffID given as a third word when present.
fn apply_once(spec: &str) {
    let mut words = spec.split_whitespace();
    let (Some(layer), Some(dir)) = (words.next(), words.next()) else {
        eprintln!("BERTH_IMAGE_APPLY wants \"<layer> <dir> [diff-id]\"");
        std::process::exit(2);
    };
    let expected_diff_id = words.next().map(|d| Digest::parse(d).expect("diff id"));
    fs::create_dir_all(dir).expect("mkdir");
    let f = fs::File::open(layer).expect("open layer");
    let opts = ApplyOptions {
        expected_diff_id,
        ..Default::default()
    };
    if let Err(e) = apply(std::io::BufReader::new(f), Path::new(dir), &opts) {
        eprintln!("apply: {e}");
        std::process::exit(1);
    }
}

criterion_group!(image, benches);

/// The 10,000-file layer as files for `benches/image.sh`: `layer.tar.gz`, `diff_id`
/// and an OCI layout `layout` (tag `10k`) under `dir`.
fn make_fixture(dir: &str) {
    let dir = Path::new(dir);
    fs::create_dir_all(dir).expect("mkdir");
    let fx = fixture(None, dir);
    fs::copy(
        fx.store.content().blob_path(&fx.layer.digest),
        dir.join("layer.tar.gz"),
    )
    .expect("copy layer");
    fs::write(dir.join("diff_id"), fx.layer.diff_id.to_string()).expect("diff id");
}

/// sha256 of a file the way the content store hashes a blob, printed like sha256sum.
fn sha256_file(path: &str) {
    let mut f = fs::File::open(path).expect("open");
    let mut h = container_image::digest::Hasher::new(container_image::digest::Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    println!("{}  {path}", h.finish().hex());
}

fn main() {
    if let Ok(spec) = std::env::var("BERTH_IMAGE_APPLY") {
        apply_once(&spec);
        return;
    }
    if let Ok(dir) = std::env::var("BERTH_IMAGE_MAKE") {
        make_fixture(&dir);
        return;
    }
    if let Ok(path) = std::env::var("BERTH_IMAGE_SHA256") {
        sha256_file(&path);
        return;
    }
    image();
    Criterion::default().configure_from_args().final_summary();
}
