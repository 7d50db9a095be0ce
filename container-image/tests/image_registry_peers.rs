//! container-image registry client against a real distribution registry
//! (`docker-registry` on 127.0.0.1), skopeo and podman.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_tests::{Registry, run_ok as run};
use container_image::diff::{DiffOptions, create_layer};
use container_image::registry::{BlobStatus, Client, Progress, PushOptions, RegistryOptions};
use container_image::{Error, ImageConfig, Store};

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
    let reg = Registry::start(None).expect("docker-registry");
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
    let out = berth_tests::htpasswd_line("berth", "s3cret").expect("htpasswd");
    let reg = Registry::start(Some(&out)).expect("docker-registry");
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

fn base64url(data: &[u8]) -> String {
    base64_encode(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token server for the registry's `token` auth (the Docker token protocol): it
/// checks basic credentials and issues RS256 JWTs, signed with `openssl dgst`, that
/// grant exactly the scopes asked for. It serves one request per connection.
struct TokenServer {
    port: u16,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const ISSUER: &str = "berth-test-issuer";
const SERVICE: &str = "berth-test-registry";

impl TokenServer {
    fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let key = dir.join("token-key.pem");
        let der = fs::read(dir.join("token-cert.der")).expect("cert der");
        let x5c = base64_encode(&der);
        let want_auth = format!(
            "Basic {}",
            base64_encode(format!("{user}:{password}").as_bytes())
        );
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                requests2.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let target = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = v.trim().to_string();
                    }
                }
                let mut stream = stream;
                if auth != want_auth {
                    let _ = stream.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let mut access = Vec::new();
                for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                    if k != "scope" {
                        continue;
                    }
                    for scope in percent_decode(v).split(' ') {
                        let parts: Vec<&str> = scope.split(':').collect();
                        if let [kind, name, actions] = parts[..] {
                            access.push(serde_json::json!({
                                "type": kind,
                                "name": name,
                                "actions": actions.split(',').collect::<Vec<_>>(),
                            }));
                        }
                    }
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_secs();
                let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": ISSUER, "sub": "berth", "aud": SERVICE,
                    "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                    "jti": format!("t{}", requests2.load(Ordering::SeqCst)),
                    "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    base64url(header.to_string().as_bytes()),
                    base64url(claims.to_string().as_bytes())
                );
                let mut child = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("openssl");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(signing_input.as_bytes())
                    .expect("sign input");
                let sig = child.wait_with_output().expect("openssl sign").stdout;
                let token = format!("{signing_input}.{}", base64url(&sig));
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

#[tokio::test]
async fn image_registry_bearer_token_auth() {
    let (Some(_), Some(_)) = (
        berth_tests::require_tool("docker-registry"),
        berth_tests::require_tool("openssl"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=berth-test-token"])
        .arg("-keyout")
        .arg(t.join("token-key.pem"))
        .arg("-out")
        .arg(t.join("token-cert.pem")));
    run(Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(t.join("token-cert.pem"))
        .arg("-out")
        .arg(t.join("token-cert.der")));
    let tokens = TokenServer::start(t, "berth", "t0ken-pass");
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        t.join("token-cert.pem").display()
    );
    let reg = Registry::start_with(None, &auth, None).expect("docker-registry");
    let host = format!("127.0.0.1:{}", reg.port);
    let store = Store::open(t.join("store")).expect("store");
    let layer_dir = t.join("l");
    fs::create_dir_all(&layer_dir).expect("mkdir");
    fs::write(layer_dir.join("f"), "bearer").expect("w");
    let l = create_layer(&store, &layer_dir, &DiffOptions::default()).expect("layer");
    let img = store
        .write_image(&ImageConfig::default(), &[l], Some("localhost/tok:1"))
        .expect("image");
    let remote = format!("{host}/private/tok:1");

    // Without credentials the token server refuses, and so the registry.
    let anon = Client::new(RegistryOptions {
        docker_config: Some(t.join("missing.json")),
        ..Default::default()
    })
    .expect("client");
    let e = anon
        .push(
            &store,
            "localhost/tok:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect_err("anonymous push");
    assert!(matches!(e, Error::Auth { .. }), "{e}");
    assert!(tokens.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let client = Client::new(RegistryOptions {
        credentials: Some(("berth".into(), "t0ken-pass".into())),
        ..Default::default()
    })
    .expect("client");
    let d = client
        .push(
            &store,
            "localhost/tok:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect("push with a bearer token");
    assert_eq!(d, img.manifest_digest);
    // Cross-repository mount needs a token for two repositories.
    let events: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let record = |p: &Progress| events.lock().expect("lock").push(p.clone());
    let mount_opts = PushOptions {
        mount_from: Some("private/tok".into()),
        ..Default::default()
    };
    client
        .push(
            &store,
            "localhost/tok:1",
            &format!("{host}/other/tok:1"),
            &mount_opts,
            Some(&record),
        )
        .await
        .expect("mount push with a bearer token");
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .all(|e| e.status == BlobStatus::Mounted),
        "{:?}",
        events.lock().expect("lock")
    );
    let store2 = Store::open(t.join("store2")).expect("store2");
    let pulled = client
        .pull(&store2, &remote, None)
        .await
        .expect("pull with a bearer token");
    assert_eq!(pulled.manifest_digest, img.manifest_digest);
    // Tokens are cached per scope: pulling again asks the token server for nothing.
    let n = tokens.requests.load(std::sync::atomic::Ordering::SeqCst);
    let store3 = Store::open(t.join("store3")).expect("store3");
    client
        .pull(&store3, &remote, None)
        .await
        .expect("pull again");
    assert_eq!(tokens.requests.load(std::sync::atomic::Ordering::SeqCst), n);
    // `docker login`'s check: GET /v2/ through the token flow, with no scope
    client
        .login(&host)
        .await
        .expect("login with a bearer token");
    let wrong = Client::new(RegistryOptions {
        credentials: Some(("berth".into(), "not-the-pass".into())),
        ..Default::default()
    })
    .expect("client");
    let e = wrong.login(&host).await.expect_err("login, wrong password");
    assert!(
        matches!(&e, Error::Auth { reason, .. }
            if reason == &format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized")),
        "{e}"
    );
    drop(reg);
}

/// Registry access-log lines (combined log format) for GETs of `digest`'s blob, with
/// their status codes.
fn blob_gets(log: &str, digest: &container_image::Digest) -> Vec<u16> {
    let needle = format!("/blobs/{digest} ");
    log.lines()
        .filter(|l| l.contains("\"GET ") && l.contains(&needle))
        .filter_map(|l| {
            let after = l.split('"').nth(2)?;
            after.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn image_registry_interrupted_pull_resumes() {
    let Some(_) = berth_tests::require_tool("docker-registry") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let access = t.join("access.log");
    let reg = Registry::start_with(None, "", Some(&access)).expect("docker-registry");
    let host = format!("127.0.0.1:{}", reg.port);
    let store = Store::open(t.join("store")).expect("store");
    // A small layer, then a 32 MiB one (plain tar of incompressible data).
    let small = t.join("small");
    fs::create_dir_all(&small).expect("mkdir");
    fs::write(small.join("hello"), "hello").expect("w");
    let l1 = create_layer(&store, &small, &DiffOptions::default()).expect("layer 1");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "big", &data[..]).expect("tar");
    let big_tar = b.into_inner().expect("tar");
    let l2 = container_image::Layer {
        digest: store.content().write_blob(&big_tar).expect("blob"),
        size: big_tar.len() as u64,
        media_type: container_image::image::media::OCI_LAYER.into(),
        diff_id: container_image::Digest::sha256(&big_tar),
    };
    let img = store
        .write_image(
            &ImageConfig::default(),
            &[l1.clone(), l2.clone()],
            Some("localhost/resume:1"),
        )
        .expect("image");
    let remote = format!("{host}/berth/resume:1");
    let client = Client::new(RegistryOptions::default()).expect("client");
    client
        .push(
            &store,
            "localhost/resume:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect("push");

    // Pull, and drop the pull (as a cancelled CLI would) once the big layer is moving.
    let store2 = Store::open(t.join("store2")).expect("store2");
    let moving = tokio::sync::Notify::new();
    let on_progress = |p: &Progress| {
        if p.digest == l2.digest && p.status == BlobStatus::Transferring && p.current > (1 << 20) {
            moving.notify_one();
        }
    };
    tokio::select! {
        biased;
        _ = moving.notified() => {}
        r = client.pull(&store2, &remote, Some(&on_progress)) => {
            panic!("pull finished before it could be interrupted: {r:?}");
        }
    }
    assert!(store2.content().contains(&l1.digest), "finished blob kept");
    assert!(!store2.content().contains(&l2.digest));
    let partial = store2.content().ingest_size();
    assert!(
        partial > 0 && partial < l2.size,
        "{partial} bytes in ingest"
    );
    assert!(store2.image("localhost/resume:1").is_err());

    // The registry logs a request when its response ends: wait for the interrupted one
    // (the runtime must keep running meanwhile, so that hyper closes the connection).
    let deadline = Instant::now() + Duration::from_secs(10);
    while blob_gets(&fs::read_to_string(&access).expect("log"), &l2.digest).is_empty() {
        assert!(Instant::now() < deadline, "interrupted GET never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Pull again: the finished blobs are not fetched again, the big one resumes.
    let before = fs::read_to_string(&access).expect("access log").len();
    let events: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let record = |p: &Progress| events.lock().expect("lock").push(p.clone());
    let pulled = client
        .pull(&store2, &remote, Some(&record))
        .await
        .expect("resumed pull");
    assert_eq!(pulled.manifest_digest, img.manifest_digest);
    // The registry writes its access log line after the response; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = fs::read_to_string(&access).expect("access log")[before..].to_string();
        if !blob_gets(&log, &l2.digest).is_empty() || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(blob_gets(&log, &l1.digest), Vec::<u16>::new(), "{log}");
    assert_eq!(
        blob_gets(&log, &img.config_digest),
        Vec::<u16>::new(),
        "{log}"
    );
    assert_eq!(blob_gets(&log, &l2.digest), vec![206], "{log}");
    let ev = events.lock().expect("lock");
    assert!(
        ev.iter()
            .any(|e| e.digest == l1.digest && e.status == BlobStatus::Exists)
    );
    assert!(ev.iter().any(|e| e.digest == l2.digest
        && matches!(e.status, BlobStatus::Resumed(n) if n > 0 && n < l2.size)));
    drop(ev);
    assert_eq!(store2.content().ingest_size(), 0);
    let rootfs = t.join("rootfs");
    store2
        .unpack_to(&pulled, &rootfs)
        .expect("unpack verifies diff ids");
    assert_eq!(fs::read(rootfs.join("big")).expect("big"), data);
    drop(reg);
}
