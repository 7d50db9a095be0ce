//! The README quickstart: on a fresh Debian/Ubuntu machine as root, with no base image,
//! no registry and no network access, berth
//!
//! 1. makes a base image from host binaries (`berth-httpd`, a small HTTP server written as
//!    an example binary, and `/bin/sh` with the libraries they need);
//! 2. builds a Dockerfile on it (RUN, COPY, EXPOSE, CMD);
//! 3. runs it detached on a user bridge network with `-p 127.0.0.1:8080:80`;
//! 4. fetches a page through the published port and prints it;
//! 5. shows `ps` and `logs`;
//! 6. removes everything it made.
//!
//! Everything lives under a temporary engine root. When `berth-httpd` was not built next
//! to this program, the demo binary serves HTTP itself when started as `berth-httpd`.

#[allow(dead_code)]
#[path = "berth-httpd.rs"]
mod httpd;

use container_engine::{Engine, RmOptions, RunOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NET: &str = "berth-demo";
const NAME: &str = "berth-demo-web";
const IMAGE: &str = "localhost/berth-demo:latest";
const BASE: &str = "localhost/berth-demo-base:latest";

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "berth-httpd")
    {
        httpd::serve_main(std::env::args().skip(1));
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("berth-demo: run me as root (containers need namespaces, mounts and cgroups)");
        std::process::exit(1);
    }
    let root = std::env::temp_dir().join(format!("berth-demo-{}", std::process::id()));
    let code = match demo(&root) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth-demo: {e}");
            1
        }
    };
    cleanup(&root);
    std::process::exit(code);
}

fn step(s: &str) {
    println!("\n==> {s}");
}

fn demo(root: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::open(root)?;
    let me = std::env::current_exe()?;
    let built = me.with_file_name("berth-httpd");
    let server = if built.is_file() { built } else { me.clone() };

    step("1. an image from host binaries: berth-httpd + /bin/sh (and their libraries)");
    let store = container_engine::images::store(&engine)?;
    let base = store.import_host_binaries(BASE, &[server.clone(), PathBuf::from("/bin/sh")])?;
    println!(
        "{BASE}  {}  ({} layer)",
        &base.id().to_string()[7..19],
        base.layers.len()
    );

    step("2. berth build -t localhost/berth-demo:latest (RUN, COPY, EXPOSE, CMD)");
    let ctx = root.join("context");
    std::fs::create_dir_all(&ctx)?;
    std::fs::copy(&server, ctx.join("berth-httpd"))?;
    std::fs::write(
        ctx.join("index.html"),
        "<h1>Hello from a berth container!</h1>\n",
    )?;
    let dockerfile = "FROM localhost/berth-demo-base:latest\n\
        RUN read h < /proc/sys/kernel/hostname && echo \"<p>built in container $h</p>\" > /built.html\n\
        COPY berth-httpd /usr/local/bin/berth-httpd\n\
        COPY index.html /www/index.html\n\
        EXPOSE 80\n\
        CMD [\"berth-httpd\", \"--port\", \"80\", \"--root\", \"/www\"]\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile)?;
    print!("{dockerfile}");
    let id = engine.build_simple(&ctx, None, Some(IMAGE), &mut |l| println!("{l}"))?;
    println!("image {}", &id[7..19]);

    step(
        "3. berth network create berth-demo; berth run -d --network berth-demo -p 127.0.0.1:8080:80",
    );
    let nets = container_engine::network::networks(&engine)?;
    let mut cfg = container_net::NetworkConfig::bridge(NET);
    cfg.options
        .insert("bridge_name".into(), "berth-demo0".into());
    nets.create(cfg)?;
    let opts = RunOptions {
        name: Some(NAME.into()),
        detach: true,
        ..RunOptions::image(IMAGE).network(NET).publish(8080, 80)
    };
    let cid = engine.run_detached(&opts)?;
    println!("{cid}");

    step("4. curl http://127.0.0.1:8080/");
    let page = fetch("127.0.0.1:8080", "/", Duration::from_secs(10))?;
    print!("{page}");

    step("5. berth ps");
    for r in engine.ps(false)? {
        let ports: Vec<String> = r
            .network_settings
            .ports
            .iter()
            .filter_map(|(p, b)| {
                b.as_ref()
                    .and_then(|b| b.first())
                    .map(|b| format!("{}:{}->{p}", b.host_ip, b.host_port))
            })
            .collect();
        println!(
            "CONTAINER ID   IMAGE                         STATUS          PORTS                    NAMES"
        );
        println!(
            "{}   {:<28}  {:<14}  {:<23}  {}",
            &r.id[..12],
            r.config.image,
            r.status_text(chrono::Utc::now()),
            ports.join(","),
            r.short_name()
        );
    }

    step("6. berth logs berth-demo-web");
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    engine.logs(NAME, &Default::default(), &mut out, &mut err)?;
    out.flush()?;

    step("7. clean up: berth rm -f, network rm, rmi");
    engine.rm(
        NAME,
        RmOptions {
            force: true,
            volumes: true,
        },
    )?;
    nets.remove(NET)?;
    store.remove(IMAGE)?;
    store.remove(BASE)?;
    println!(
        "removed container, network, images; engine root {} goes next",
        root.display()
    );
    Ok(())
}

/// GET `path` from `addr`, retrying while the server starts.
fn fetch(addr: &str, path: &str, timeout: Duration) -> Result<String, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + timeout;
    loop {
        match try_fetch(addr, path) {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn try_fetch(addr: &str, path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(format!("unexpected response: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok(body.to_string())
}

/// Remove whatever is left (also after a failure half-way).
fn cleanup(root: &Path) {
    if let Ok(engine) = Engine::open(root) {
        let _ = engine.rm(
            NAME,
            RmOptions {
                force: true,
                volumes: true,
            },
        );
        if let Ok(nets) = container_engine::network::networks(&engine) {
            let _ = nets.remove(NET);
        }
    }
    for m in mounts_under(root) {
        // SAFETY: unmount a path under our own temporary root.
        if let Ok(c) = std::ffi::CString::new(m) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _ = std::fs::remove_dir_all(root);
}

fn mounts_under(root: &Path) -> Vec<String> {
    let r = root.to_string_lossy().to_string();
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&r))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}
