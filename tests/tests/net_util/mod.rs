//! Helpers shared by the `net_*` tests: throwaway namespaces, busybox servers, clients.
#![allow(dead_code)]

use container_net::Netns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// May this test run? Root, busybox and (when `nft`) nftables.
pub fn ready(nft: bool) -> bool {
    if !berth_tests::require_root("create network namespaces") {
        return false;
    }
    if berth_tests::require_tool("busybox").is_none() {
        return false;
    }
    !nft || berth_tests::require_tool("nft").is_some()
}

/// A named throwaway network namespace, deleted on drop.
pub struct TestNs {
    pub ns: Netns,
    pub name: String,
}

impl TestNs {
    pub fn new(prefix: &str) -> TestNs {
        let name = format!("berth-{}", berth_tests::unique_name(prefix));
        let ns = Netns::create_named(&name).expect("create netns");
        container_net::setup_none(&ns).expect("loopback up");
        TestNs { ns, name }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Netns::delete_named(&self.name);
    }
}

/// A child process killed (by PID) and reaped on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `busybox httpd` in `ns` on `port`, serving `body` as /index.html from `dir`.
pub fn httpd(ns: &Netns, dir: &Path, port: u16, body: &str) -> Proc {
    std::fs::create_dir_all(dir).expect("www dir");
    std::fs::write(dir.join("index.html"), body).expect("index.html");
    let mut cmd = Command::new("busybox");
    cmd.args(["httpd", "-f", "-p", &format!("0.0.0.0:{port}"), "-h"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ns.command(&mut cmd);
    Proc(cmd.spawn().expect("spawn busybox httpd"))
}

/// GET / from `addr`, from inside `ns`; `None` when it cannot connect or read in 2 s.
pub fn http_get(ns: &Netns, addr: SocketAddr) -> Option<String> {
    ns.run(|| {
        let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_err() {
            return Ok(None);
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        Ok(out.split("\r\n\r\n").nth(1).map(str::to_string))
    })
    .expect("run in netns")
}

/// [`http_get`] retried for up to 5 s, for a server that is starting.
pub fn http_get_eventually(ns: &Netns, addr: SocketAddr) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Some(body) = http_get(ns, addr) {
            return Some(body);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `busybox wget http://<host>:<port>/` from inside `ns`, with `hosts` bind-mounted on
/// /etc/hosts in a private mount namespace (as the engine would bind-mount it).
pub fn wget_by_name(ns: &Netns, hosts: &Path, host: &str, port: u16) -> Option<String> {
    let script = format!(
        "mount --make-rprivate / && mount --bind {} /etc/hosts && exec busybox timeout 5 busybox wget -q -O - http://{host}:{port}/index.html",
        hosts.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script]).stdin(Stdio::null());
    ns.command(&mut cmd);
    let out = cmd.output().expect("run wget");
    if !out.status.success() {
        eprintln!(
            "wget {host}:{port}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -o link` names in `ns` (for leak checks).
pub fn link_names(ns: &Netns) -> Vec<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["-o", "link", "show"]);
    ns.command(&mut cmd);
    let out = cmd.output().expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .collect()
}

/// Output of `ip <args>` run in `ns`.
pub fn ip(ns: &Netns, args: &[&str]) -> String {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    ns.command(&mut cmd);
    let out = cmd.output().expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `ip <args>` in `ns` and require success.
pub fn ip_ok(ns: &Netns, args: &[&str]) {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    ns.command(&mut cmd);
    let out = cmd.output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A UDP echo server on a thread inside a namespace; stops on drop.
pub struct UdpEcho {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpEcho {
    /// Echo every datagram to `port` in `ns`, prefixed with `tag`.
    pub fn start(ns: &Netns, port: u16, tag: &'static str) -> UdpEcho {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, ns) = (stop.clone(), ns.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            ns.enter_this_thread().expect("enter netns");
            let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind udp echo");
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            tx.send(()).expect("ready");
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::SeqCst) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let mut reply = tag.as_bytes().to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("udp echo started");
        UdpEcho {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Send `msg` over UDP to `addr` from inside `ns` and return the reply; up to 10 tries
/// of 300 ms each.
pub fn udp_query(ns: &Netns, addr: SocketAddr, msg: &str) -> Option<String> {
    let msg = msg.to_string();
    ns.run(move || {
        let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).expect("bind udp client");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        for _ in 0..10 {
            let _ = sock.send_to(msg.as_bytes(), addr);
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                return Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
        }
        Ok(None)
    })
    .expect("run in netns")
}

/// The berth table in the namespace this process started in (the real host), as
/// `nft list table ip berth` prints it; empty when absent.
pub fn real_host_berth_table() -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .stderr(Stdio::null())
        .output()
        .expect("run nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of the store's files (network definitions, lock), sorted.
pub fn store_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
