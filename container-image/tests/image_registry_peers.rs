//! container-image registry client against a real distribution registry
//! (`docker-registry` on 127.0.0.1), skopeo and podman.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use container_image::diff::{DiffOptions, create_layer};
use container_image::registry::{BlobStatus, Client, Progress, PushOptions, RegistryOptions};
use container_image::{Error, ImageConfig, Store};

struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Our own child, by pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_registry(dir: &Path, htpasswd: Option<&Path>) -> Registry {
    let port = free_port();
    let auth = match htpasswd {
        Some(p) => format!(
            "auth:\n  htpasswd:\n    realm: berth\n    path: {}\n",
            p.display()
        ),
        None => String::new(),
    };
    let config = dir.join("registry.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nhttp:\n  addr: 127.0.0.1:{port}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{auth}",
            dir.join("data").display()
        ),
    )
    .expect("config");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let reg = Registry { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    reg
}

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

/// A two-layer busybox image in `store`, named `localhost/bb:1`.
fn busybox_image(store: &Store, scratch: &Path) -> container_image::Image {
    let rootfs = scratch.join("rootfs");
    assert!(berth_tests::busybox_rootfs(&rootfs));
    let l1 = create_layer(store, &rootfs, &DiffOptions::default()).expect("layer 1");
    let extra = scratch.join("extra");
    fs::create_dir_all(extra.join("etc")).expect("mkdir");
    fs::write(extra.join("etc/motd"), "pushed by berth\n").expect("motd");
    let l2 = create_layer(store, &extra, &DiffOptions::default()).expect("layer 2");
    let mut cfg = ImageConfig::default();
    cfg.set("Cmd", Some(serde_json::json!(["/bin/cat", "/etc/motd"])));
    store
        .write_image(&cfg, &[l1, l2], Some("localhost/bb:1"))
        .expect("image")
}

fn skopeo_digest(image: &str) -> String {
    let out = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{image}")));
    let v: serde_json::Value = serde_json::from_str(&out).expect("skopeo json");
    v["Digest"].as_str().expect("Digest").to_string()
}

#[tokio::test]
async fn image_registry_push_pull_vs_skopeo_podman() {
    if !berth_tests::require_root("run podman") {
        return;
    }
    let (Some(_), Some(_), Some(_)) = (
        berth_tests::require_tool("docker-registry"),
        berth_tests::require_tool("skopeo"),
        berth_tests::require_tool("podman"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let reg = start_registry(t, None);
    let host = format!("127.0.0.1:{}", reg.port);
    let store = Store::open(t.join("store")).expect("store");
    let img = busybox_image(&store, t);
    let client = Client::new(RegistryOptions::default()).expect("client");

    // berth pushes (chunked); skopeo sees the same manifest digest.
    let events: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let record = |p: &Progress| events.lock().expect("lock").push(p.clone());
    let opts = PushOptions {
        chunk_size: Some(256 * 1024),
        ..Default::default()
    };
    let remote = format!("{host}/berth/bb:1");
    let d = client
        .push(&store, "localhost/bb:1", &remote, &opts, Some(&record))
        .await
        .expect("push");
    assert_eq!(d, img.manifest_digest);
    assert_eq!(skopeo_digest(&remote), d.to_string());
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.status == BlobStatus::Done)
    );
    // again: every blob exists
    events.lock().expect("lock").clear();
    client
        .push(
            &store,
            "localhost/bb:1",
            &remote,
            &PushOptions::default(),
            Some(&record),
        )
        .await
        .expect("push again");
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .all(|e| e.status == BlobStatus::Exists)
    );
    // cross-repository mount
    events.lock().expect("lock").clear();
    let mount_opts = PushOptions {
        mount_from: Some("berth/bb".into()),
        ..Default::default()
    };
    client
        .push(
            &store,
            "localhost/bb:1",
            &format!("{host}/other/bb:1"),
            &mount_opts,
            Some(&record),
        )
        .await
        .expect("mount push");
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .all(|e| e.status == BlobStatus::Mounted),
        "{:?}",
        events.lock().expect("lock")
    );

    // podman pulls and runs it.
    let pconf = t.join("containers.conf");
    fs::write(
        &pconf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
    )
    .expect("conf");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &pconf)
            .arg("--root")
            .arg(t.join("podman/root"))
            .arg("--runroot")
            .arg(t.join("podman/run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
                "--runtime",
                "runc",
            ])
            .args(args);
        c
    };
    run(&mut podman(&["pull", "--tls-verify=false", &remote]));
    let out = run(&mut podman(&["run", "--rm", "--network", "none", &remote]));
    assert_eq!(out, "pushed by berth\n");
    let _ = podman(&["rmi", "--all", "--force"]).output();

    // skopeo pushes; berth pulls; digests match.
    let layout = t.join("layout");
    store
        .export_oci_layout(&["localhost/bb:1"], &layout)
        .expect("export");
    let skopeo_ref = format!("{host}/skopeo/bb:2");
    run(Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("docker://{skopeo_ref}")));
    let store2 = Store::open(t.join("store2")).expect("store2");
    let pulled = client.pull(&store2, &skopeo_ref, None).await.expect("pull");
    assert_eq!(
        pulled.manifest_digest.to_string(),
        skopeo_digest(&skopeo_ref)
    );
    let rootfs = t.join("pulled-rootfs");
    store2.unpack_to(&pulled, &rootfs).expect("unpack");
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/motd")).expect("motd"),
        "pushed by berth\n"
    );

    // An interrupted pull resumes: half a layer already in ingest.
    let store3 = Store::open(t.join("store3")).expect("store3");
    let layer = &img.layers[0];
    let blob = fs::read(store.content().blob_path(&layer.digest)).expect("blob");
    {
        let mut w = store3
            .content()
            .writer(&format!("pull-{}", layer.digest))
            .expect("writer");
        std::io::Write::write_all(&mut w, &blob[..blob.len() / 2]).expect("half");
        std::io::Write::flush(&mut w).expect("flush");
    }
    events.lock().expect("lock").clear();
    let again = client
        .pull(&store3, &remote, Some(&record))
        .await
        .expect("resumed pull");
    assert_eq!(again.manifest_digest, img.manifest_digest);
    let half = (blob.len() / 2) as u64;
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.digest == layer.digest && e.status == BlobStatus::Resumed(half)),
        "no resume event"
    );
    // by digest too
    let by_digest = format!("{host}/berth/bb@{}", img.manifest_digest);
    client
        .pull(&store3, &by_digest, None)
        .await
        .expect("pull by digest");
    drop(reg);
}

#[tokio::test]
async fn image_registry_basic_auth() {
    let (Some(_), Some(_)) = (
        berth_tests::require_tool("docker-registry"),
        berth_tests::require_tool("htpasswd"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let out = run(Command::new("htpasswd").args(["-Bbn", "berth", "s3cret"]));
    let htpasswd = t.join("htpasswd");
    fs::write(&htpasswd, out).expect("htpasswd");
    let reg = start_registry(t, Some(&htpasswd));
    let host = format!("127.0.0.1:{}", reg.port);
    let store = Store::open(t.join("store")).expect("store");
    let layer_dir = t.join("l");
    fs::create_dir_all(&layer_dir).expect("mkdir");
    fs::write(layer_dir.join("f"), "auth").expect("w");
    let l = create_layer(&store, &layer_dir, &DiffOptions::default()).expect("layer");
    let img = store
        .write_image(&ImageConfig::default(), &[l], Some("localhost/auth:1"))
        .expect("image");
    let remote = format!("{host}/private/img:1");

    let anon = Client::new(RegistryOptions {
        docker_config: Some(t.join("missing.json")),
        ..Default::default()
    })
    .expect("client");
    let e = anon
        .push(
            &store,
            "localhost/auth:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect_err("anonymous push");
    assert!(matches!(e, Error::Auth { .. }), "{e}");

    let cfg = t.join("config.json");
    let auth = base64_encode(b"berth:s3cret");
    fs::write(
        &cfg,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .expect("docker config");
    let client = Client::new(RegistryOptions {
        docker_config: Some(cfg),
        ..Default::default()
    })
    .expect("client");
    let d = client
        .push(
            &store,
            "localhost/auth:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect("push with basic auth");
    assert_eq!(d, img.manifest_digest);
    let store2 = Store::open(t.join("store2")).expect("store2");
    let pulled = client
        .pull(&store2, &remote, None)
        .await
        .expect("pull with basic auth");
    assert_eq!(pulled.manifest_digest, img.manifest_digest);
    drop(reg);
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
