//! `ADD <url>`: downloaded from a small HTTP server on 127.0.0.1 run by the test;
//! Docker's rules on names, modes, times, archives (not extracted) and `--checksum`.

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// An HTTP/1.0-style server on 127.0.0.1 serving `files` (with a fixed Last-Modified),
/// for at most 120 s; stopped on drop.
struct Server {
    port: u16,
    files: Files,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LAST_MODIFIED_UNIX: i64 = 784_111_777;

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let files: Files = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (files.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::SeqCst) && Instant::now() < end {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                // Queries are ignored: git's smart-protocol probe then gets the plain
                // `info/refs` and falls back to the dumb protocol.
                let path = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_string();
                let body = f.lock().expect("files").get(&path).cloned();
                let resp = match body {
                    Some(b) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = conn.write_all(&resp);
            }
        });
        Server {
            port,
            files,
            stop,
            thread: Some(thread),
        }
    }

    fn put(&self, path: &str, body: &[u8]) {
        self.files
            .lock()
            .expect("files")
            .insert(path.to_string(), body.to_vec());
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[test]
fn add_from_http() {
    let Some(env) = common::env() else { return };
    let server = Server::start();
    // A gzip tar: ADD extracts local archives, never remote ones.
    let tar_dir = env.dir.path().join("tarsrc");
    std::fs::create_dir_all(&tar_dir).expect("mkdir");
    std::fs::write(tar_dir.join("inner"), "x").expect("write");
    let tgz = env.dir.path().join("data.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(&tar_dir)
        .arg("-czf")
        .arg(&tgz)
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    let tgz_bytes = std::fs::read(&tgz).expect("read");
    server.put("/files/data.tar.gz", &tgz_bytes);
    server.put("/plain.txt", b"plain v1\n");
    let ctx = env.context("ctx", &[]);
    let df = format!(
        "FROM localhost/busybox:test\n\
         ADD {} /dl/\n\
         ADD --checksum={} --chmod=644 --chown=65534:65534 {} /named.txt\n",
        server.url("/files/data.tar.gz"),
        sha256(b"plain v1\n"),
        server.url("/plain.txt"),
    );
    std::fs::write(ctx.join("Dockerfile"), &df).expect("write");
    let mut opts = env.options(&ctx, "localhost/addurl:1");
    opts.source_date_epoch = Some(2_000_000_000);
    let (r, _) = env.build(&opts);
    let out = r.expect("build");
    let root = env.unpack(&out.image, "addurl");
    let f = root.join("dl/data.tar.gz");
    assert_eq!(std::fs::read(&f).expect("not extracted"), tgz_bytes);
    assert!(
        !root.join("dl/inner").exists(),
        "remote archives stay archives"
    );
    let m = std::fs::metadata(&f).expect("stat");
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o600,
        "Docker's mode for URLs"
    );
    assert_eq!((m.uid(), m.gid()), (0, 0));
    assert_eq!(m.mtime(), LAST_MODIFIED_UNIX, "mtime from Last-Modified");
    let n = root.join("named.txt");
    assert_eq!(std::fs::read_to_string(&n).expect("named"), "plain v1\n");
    let m = std::fs::metadata(&n).expect("stat");
    assert_eq!(m.permissions().mode() & 0o7777, 0o644);
    assert_eq!((m.uid(), m.gid()), (65534, 65534));

    // Unchanged remote content: every step from the cache.
    let (r, _) = env.build(&opts);
    let again = r.expect("rebuild");
    assert_eq!(again.cached_steps, again.steps);
    assert_eq!(again.image.manifest_digest, out.image.manifest_digest);

    // Changed content: the checksum no longer matches; an error naming the line, and
    // the store keeps no new image.
    server.put("/plain.txt", b"plain v2\n");
    let images = env.builder.store().list_images().expect("list").len();
    let (r, _) = env.build(&opts);
    let e = r.expect_err("checksum mismatch");
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(
        env.builder.store().list_images().expect("list").len(),
        images
    );

    // A missing file and a URL without a file name for a directory destination.
    for (src, dest, words) in [
        (server.url("/missing"), "/x", "404"),
        (server.url("/"), "/dir/", "file name"),
    ] {
        std::fs::write(
            ctx.join("Dockerfile.bad"),
            format!("FROM localhost/busybox:test\nADD {src} {dest}\n"),
        )
        .expect("write");
        let mut o = env.options(&ctx, "localhost/addurl:bad");
        o.dockerfile = Some(ctx.join("Dockerfile.bad"));
        let (r, _) = env.build(&o);
        let e = r.expect_err(&src);
        assert_eq!(e.line(), Some(2), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
    let tmp = env.builder.store().root().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|n| n.to_string_lossy().contains("download")),
        "downloads removed: {left:?}"
    );
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn add_git_repository() {
    let Some(env) = common::env() else { return };
    if berth_tests::require_tool("git").is_none() {
        return;
    }
    // A repository with a tag v1 (a.txt = v1) and main one commit later (a.txt = v2),
    // served as a bare repository over git's dumb HTTP protocol.
    let work = env.dir.path().join("work");
    std::fs::create_dir_all(work.join("sub")).expect("mkdir");
    git(&work, &["-c", "init.defaultBranch=main", "init", "-q"]);
    std::fs::write(work.join("a.txt"), "v1\n").expect("write");
    std::fs::write(work.join("sub/b.txt"), "in sub\n").expect("write");
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("a.txt"), "v2\n").expect("write");
    git(&work, &["commit", "-q", "-am", "two"]);
    let bare = env.dir.path().join("repo.git");
    let ok = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&work)
        .arg(&bare)
        .status()
        .expect("git clone")
        .success();
    assert!(ok);
    git(&bare, &["update-server-info"]);
    let server = Server::start();
    for e in walkdir::WalkDir::new(&bare) {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(&bare).expect("rel");
            server.put(
                &format!("/repo.git/{}", rel.display()),
                &std::fs::read(e.path()).expect("read"),
            );
        }
    }
    let repo = server.url("/repo.git");
    let ctx = env.context("ctx", &[]);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM localhost/busybox:test\n\
             ADD {repo}#v1 /src/\n\
             ADD --keep-git-dir {repo} /full\n\
             ADD --chown=65534:65534 {repo}#main:sub /onlysub\n"
        ),
    )
    .expect("write");
    let (r, _) = env.build(&env.options(&ctx, "localhost/addgit:1"));
    let out = r.expect("build");
    let root = env.unpack(&out.image, "addgit");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(read("src/a.txt"), "v1\n", "the tag's tree");
    assert_eq!(read("src/sub/b.txt"), "in sub\n");
    assert!(!root.join("src/.git").exists(), ".git dropped by default");
    assert_eq!(read("full/a.txt"), "v2\n", "the default branch");
    assert!(root.join("full/.git/HEAD").is_file(), "--keep-git-dir");
    assert_eq!(read("onlysub/b.txt"), "in sub\n");
    assert!(
        !root.join("onlysub/a.txt").exists(),
        "only the subdirectory"
    );
    let m = std::fs::metadata(root.join("onlysub/b.txt")).expect("stat");
    assert_eq!((m.uid(), m.gid()), (65534, 65534), "--chown");

    // Unchanged repository: all cached.
    let (r, _) = env.build(&env.options(&ctx, "localhost/addgit:1"));
    let again = r.expect("rebuild");
    assert_eq!(again.cached_steps, again.steps);

    std::fs::write(
        ctx.join("Dockerfile.bad"),
        format!("FROM localhost/busybox:test\nADD {repo}#nosuchref /x\n"),
    )
    .expect("write");
    let mut o = env.options(&ctx, "localhost/addgit:bad");
    o.dockerfile = Some(ctx.join("Dockerfile.bad"));
    let (r, _) = env.build(&o);
    let e = r.expect_err("bad ref");
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.to_string().contains("nosuchref"), "{e}");
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}
