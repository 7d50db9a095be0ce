//! Userland TCP/UDP port proxy, the fallback for published ports when nftables is not
//! available (like Docker's `docker-proxy`).
//!
//! The proxy must outlive the process that connected a detached container, so it is a
//! plain blocking function, [`serve`], that whatever watches the container (the engine's
//! per-container monitor process) runs until told to stop. [`Proxy::start`] runs it on
//! a thread for callers that live as long as the container.

use crate::error::{Result, io};
use crate::netns::Netns;
use crate::ports::Protocol;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often loops look at the stop flag.
const TICK: Duration = Duration::from_millis(100);
/// A UDP flow without traffic for this long is dropped.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// One port to forward: host address and port to the container's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxySpec {
    /// tcp or udp.
    pub protocol: Protocol,
    /// Host address to listen on (`0.0.0.0` for all).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Container address.
    pub container_ip: Ipv4Addr,
    /// Container port.
    pub container_port: u16,
}

enum Listener {
    Tcp(TcpListener, SocketAddr),
    Udp(Arc<UdpSocket>, SocketAddr),
}

fn bind_all(specs: &[ProxySpec]) -> Result<Vec<Listener>> {
    specs
        .iter()
        .map(|s| {
            let addr = SocketAddr::from((s.host_ip, s.host_port));
            let target = SocketAddr::from((s.container_ip, s.container_port));
            Ok(match s.protocol {
                Protocol::Tcp => {
                    let l = TcpListener::bind(addr)
                        .map_err(io(format!("proxy: listen on {addr}/tcp")))?;
                    l.set_nonblocking(true)
                        .map_err(io("proxy: nonblocking listener"))?;
                    Listener::Tcp(l, target)
                }
                Protocol::Udp => {
                    let u = UdpSocket::bind(addr).map_err(io(format!("proxy: bind {addr}/udp")))?;
                    u.set_read_timeout(Some(TICK))
                        .map_err(io("proxy: udp timeout"))?;
                    Listener::Udp(Arc::new(u), target)
                }
            })
        })
        .collect()
}

fn run(listeners: Vec<Listener>, stop: &AtomicBool) {
    std::thread::scope(|s| {
        for l in listeners {
            match l {
                Listener::Tcp(l, target) => {
                    s.spawn(move || tcp_loop(l, target, stop));
                }
                Listener::Udp(u, target) => {
                    s.spawn(move || udp_loop(u, target, stop));
                }
            }
        }
    });
}

/// Forward every spec from namespace `host` until `stop` is set. Blocks. Fails at once
/// when a port cannot be bound.
pub fn serve(specs: &[ProxySpec], host: &Netns, stop: &AtomicBool) -> Result<()> {
    host.run(|| {
        let listeners = bind_all(specs)?;
        run(listeners, stop);
        Ok(())
    })
}

/// A proxy running on a background thread; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Bind every spec in `host` and start forwarding on a background thread.
    pub fn start(specs: &[ProxySpec], host: &Netns) -> Result<Proxy> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (specs, host, flag) = (specs.to_vec(), host.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let listeners = host.enter_this_thread().and_then(|()| bind_all(&specs));
            match listeners {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    run(l, &flag);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        match rx.recv() {
            Ok(Ok(())) => Ok(Proxy {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(io("proxy thread")(std::io::Error::other("exited early"))),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tcp_loop(l: TcpListener, target: SocketAddr, stop: &AtomicBool) {
    std::thread::scope(|s| {
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((client, _)) => {
                    s.spawn(move || {
                        let _ = client.set_nonblocking(false);
                        if let Ok(upstream) =
                            TcpStream::connect_timeout(&target, Duration::from_secs(5))
                        {
                            pipe(client, upstream, stop);
                        }
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5).min(TICK))
                }
                Err(_) => std::thread::sleep(TICK),
            }
        }
    });
}

fn pipe(a: TcpStream, b: TcpStream, stop: &AtomicBool) {
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        let _ = from.set_read_timeout(Some(TICK));
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    };
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    std::thread::scope(|s| {
        s.spawn(|| copy(a, b2));
        copy(b, a2);
    });
}

fn udp_loop(l: Arc<UdpSocket>, target: SocketAddr, stop: &AtomicBool) {
    let mut flows: HashMap<SocketAddr, (Arc<UdpSocket>, Arc<std::sync::Mutex<Instant>>)> =
        HashMap::new();
    std::thread::scope(|s| {
        let mut buf = [0u8; 65536];
        while !stop.load(Ordering::SeqCst) {
            flows.retain(|_, (_, seen)| {
                seen.lock().map(|t| t.elapsed() < UDP_IDLE).unwrap_or(false)
            });
            let (n, client) = match l.recv_from(&mut buf) {
                Ok(v) => v,
                Err(_) => continue,
            };
            let flow = match flows.get(&client) {
                Some(f) => f.clone(),
                None => {
                    let Ok(up) = UdpSocket::bind(("0.0.0.0", 0)) else {
                        continue;
                    };
                    if up.connect(target).is_err() || up.set_read_timeout(Some(TICK)).is_err() {
                        continue;
                    }
                    let f = (
                        Arc::new(up),
                        Arc::new(std::sync::Mutex::new(Instant::now())),
                    );
                    flows.insert(client, f.clone());
                    let (up, seen, back) = (f.0.clone(), f.1.clone(), l.clone());
                    s.spawn(move || {
                        let mut buf = [0u8; 65536];
                        while !stop.load(Ordering::SeqCst)
                            && seen.lock().map(|t| t.elapsed() < UDP_IDLE).unwrap_or(false)
                        {
                            if let Ok(n) = up.recv(&mut buf) {
                                if let Ok(mut t) = seen.lock() {
                                    *t = Instant::now();
                                }
                                let _ = back.send_to(&buf[..n], client);
                            }
                        }
                    });
                    f
                }
            };
            if let Ok(mut t) = flow.1.lock() {
                *t = Instant::now();
            }
            let _ = flow.0.send(&buf[..n]);
        }
    });
}
