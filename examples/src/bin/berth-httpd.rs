//! `berth-httpd`: a tiny static HTTP/1.0 server, the program of the README quickstart's
//! image (made from host binaries, so it must need nothing but libc).
//!
//! `berth-httpd [--port N] [--root DIR]` serves files under DIR (default `/www`) on
//! 0.0.0.0:N (default 80). `GET /` serves `index.html`. One thread per connection; paths
//! with `..` are refused.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

fn main() {
    serve_main(std::env::args().skip(1))
}

/// Parse the arguments and serve forever.
pub fn serve_main(args: impl Iterator<Item = String>) {
    let mut port: u16 = 80;
    let mut root = PathBuf::from("/www");
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" | "-p" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(port),
            "--root" | "-r" => root = args.next().map(PathBuf::from).unwrap_or(root),
            _ => {
                eprintln!("usage: berth-httpd [--port N] [--root DIR]");
                std::process::exit(2);
            }
        }
    }
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("berth-httpd: bind 0.0.0.0:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("berth-httpd: serving {} on port {port}", root.display());
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        std::thread::spawn(move || serve(stream, &root));
    }
}

fn serve(stream: TcpStream, root: &Path) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // skip the headers
    let mut h = String::new();
    while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
        h.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let (status, body) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", b"method not allowed\n".to_vec())
    } else {
        match resolve(root, path).and_then(|p| std::fs::read(p).ok()) {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found\n".to_vec()),
        }
    };
    println!("{peer} \"{} {path}\" {}", method, &status[..3]);
    let mut w = &stream;
    let _ = write!(
        w,
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method == "GET" {
        let _ = w.write_all(&body);
    }
}

fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let path = path.split('?').next().unwrap_or("/");
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut p = root.join(rel);
    if p.is_dir() {
        p = p.join("index.html");
    }
    Some(p)
}
