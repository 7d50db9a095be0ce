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
