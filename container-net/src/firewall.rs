//! nftables rules for published ports, masquerade and isolation, in a table of berth's own.
//!
//! When networks are created or removed the whole table is rendered from the stored
//! networks and replaced in one `nft` transaction (`add table; delete table; table {…}`),
//! so the kernel never sees a half state. Published ports are elements of two DNAT maps,
//! and a container's connect/disconnect only adds or deletes its own elements through
//! nf_tables netlink ([`update_ports`]), with no `nft` process and no rule rewritten.
//! When nothing needs a rule the table is deleted. When `nft` is missing,
//! [`crate::Networks`] falls back to the userland proxy for ports.

use crate::error::{Error, Result, io};
use crate::netns::Netns;
use crate::network::{Driver, Network};
use crate::ports::PublishedPort;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Name of berth's nftables table (family `ip`).
pub const TABLE: &str = "berth";

/// Find `nft` on `PATH` or in the usual sbin directories.
pub fn find_nft() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            .iter()
            .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// Map of published ports bound to one host address: `addr . proto . port : ip . port`.
pub const PORTS_BY_ADDR: &str = "ports_ip";
/// Map of published ports bound to every host address: `proto . port : ip . port`.
pub const PORTS_ANY: &str = "ports_any";

fn element(p: &PublishedPort, ip: Ipv4Addr) -> String {
    if p.host_ip.is_unspecified() {
        format!(
            "{} . {} : {ip} . {}",
            p.protocol, p.host_port, p.container_port
        )
    } else {
        format!(
            "{} . {} . {} : {ip} . {}",
            p.host_ip, p.protocol, p.host_port, p.container_port
        )
    }
}

/// Render the table for `networks`; `None` when no rule is needed.
///
/// Published ports are elements of two maps ([`PORTS_BY_ADDR`], [`PORTS_ANY`]) looked up
/// by two fixed DNAT rules, so a container's ports come and go as map elements
/// ([`update_ports`]) without touching any rule, and the work of a connect does not grow
/// with the number of containers. Per network there are a fixed number of rules
/// (isolation, masquerade, hairpin), rewritten only when networks are created or removed.
pub fn render(networks: &[Network], with_ports: bool) -> Option<String> {
    let bridges: Vec<&Network> = networks
        .iter()
        .filter(|n| n.driver == Driver::Bridge)
        .collect();
    if bridges.is_empty() {
        return None;
    }
    let mut by_addr = Vec::new();
    let mut any = Vec::new();
    let mut post = Vec::new();
    let mut forward = Vec::new();
    for n in &bridges {
        let br = &n.link;
        let others: Vec<String> = bridges
            .iter()
            .filter(|o| o.id != n.id)
            .map(|o| format!("\"{}\"", o.link))
            .collect();
        if n.internal {
            forward.push(format!("iifname \"{br}\" oifname != \"{br}\" drop"));
            forward.push(format!("oifname \"{br}\" iifname != \"{br}\" drop"));
        } else {
            if !others.is_empty() {
                forward.push(format!(
                    "iifname \"{br}\" oifname != \"{br}\" oifname {{ {} }} drop",
                    others.join(", ")
                ));
            }
            post.push(format!(
                "ip saddr {} oifname != \"{br}\" masquerade",
                n.subnet
            ));
        }
        if with_ports {
            let mut has_ports = !n.internal;
            for ep in n.endpoints.values() {
                for p in &ep.ports {
                    has_ports = true;
                    let e = element(p, ep.ip);
                    if p.host_ip.is_unspecified() {
                        any.push(e);
                    } else {
                        by_addr.push(e);
                    }
                }
            }
            // Internal networks get these only while they publish a port (the caller
            // renders the whole table for those); the others always have them, so a
            // port comes and goes as a map element alone.
            if has_ports {
                post.push(format!("oifname \"{br}\" fib saddr type local masquerade"));
                post.push(format!(
                    "oifname \"{br}\" ip saddr {} ct status dnat masquerade",
                    n.subnet
                ));
            }
        }
    }
    let mut s = format!("add table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for r in &forward {
        s.push_str(&format!("    {r}\n"));
    }
    s.push_str("  }\n");
    if with_ports {
        for (name, key, elems) in [
            (
                PORTS_BY_ADDR,
                "ipv4_addr . inet_proto . inet_service",
                &by_addr,
            ),
            (PORTS_ANY, "inet_proto . inet_service", &any),
        ] {
            s.push_str(&format!(
                "  map {name} {{\n    type {key} : ipv4_addr . inet_service;\n"
            ));
            if !elems.is_empty() {
                s.push_str(&format!("    elements = {{ {} }}\n", elems.join(", ")));
            }
            s.push_str("  }\n");
        }
        s.push_str(&format!("  chain ports {{\n    dnat to ip daddr . meta l4proto . th dport map @{PORTS_BY_ADDR}\n    dnat to meta l4proto . th dport map @{PORTS_ANY}\n  }}\n"));
        s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
        s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");
    }
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for r in &post {
        s.push_str(&format!("    {r}\n"));
    }
    s.push_str("  }\n}\n");
    Some(s)
}

/// Add (`add`) or delete the DNAT map elements of `ports`, published for the container
/// address `ip`, in berth's table of the namespace `host`: one nf_tables netlink batch,
/// no `nft` process, no rule rewritten. Fails (and changes nothing) when the table or
/// its maps are missing; the caller then renders the whole table.
pub fn update_ports(host: &Netns, ports: &[PublishedPort], ip: Ipv4Addr, add: bool) -> Result<()> {
    let mut by_addr = Vec::new();
    let mut any = Vec::new();
    for p in ports {
        let proto = [p.protocol.number(), 0, 0, 0];
        let port = p.host_port.to_be_bytes();
        let cport = p.container_port.to_be_bytes();
        let mut data = ip.octets().to_vec();
        data.extend_from_slice(&[cport[0], cport[1], 0, 0]);
        let mut key = Vec::with_capacity(12);
        if !p.host_ip.is_unspecified() {
            key.extend_from_slice(&p.host_ip.octets());
        }
        key.extend_from_slice(&proto);
        key.extend_from_slice(&[port[0], port[1], 0, 0]);
        let e = nfnl::Elem { key, data };
        if p.host_ip.is_unspecified() {
            any.push(e);
        } else {
            by_addr.push(e);
        }
    }
    if by_addr.is_empty() && any.is_empty() {
        return Ok(());
    }
    host.run(move || nfnl::apply(TABLE, &[(PORTS_BY_ADDR, by_addr), (PORTS_ANY, any)], add))
}

/// Apply the rendered rules (or delete the table) in the namespace `host`.
pub fn apply(nft: &std::path::Path, host: &Netns, script: Option<&str>) -> Result<()> {
    let owned;
    let script = match script {
        Some(s) => s,
        None => {
            owned = format!("add table ip {TABLE}\ndelete table ip {TABLE}\n");
            &owned
        }
    };
    let mut cmd = Command::new(nft);
    cmd.args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    host.command(&mut cmd);
    let mut child = cmd.spawn().map_err(io(format!("run {}", nft.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(io("write rules to nft"))?;
    }
    let out = child.wait_with_output().map_err(io("wait for nft"))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The current ruleset of berth's table in `host`, as `nft list table` prints it
/// (empty when the table does not exist). For tests and diagnostics.
pub fn list(nft: &std::path::Path, host: &Netns) -> Result<String> {
    let mut cmd = Command::new(nft);
    cmd.args(["list", "table", "ip", TABLE])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    host.command(&mut cmd);
    let out = cmd.output().map_err(io(format!("run {}", nft.display())))?;
    Ok(if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Endpoint;
    use crate::ports::Protocol;
    use std::collections::BTreeMap;

    fn bridge(name: &str, link: &str, subnet: &str, internal: bool) -> Network {
        Network {
            id: format!("{name:0>64}"),
            name: name.into(),
            driver: Driver::Bridge,
            subnet: subnet.parse().expect("cidr"),
            gateway: None,
            ip_range: None,
            internal,
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            created: 0,
            link: link.into(),
            created_vlan: false,
            vxlan: None,
            vni: None,
            endpoints: BTreeMap::new(),
            peers: Vec::new(),
        }
    }

    fn with_port(mut n: Network, host_ip: Ipv4Addr) -> Network {
        n.endpoints.insert(
            "c".into(),
            Endpoint {
                container_id: "c".into(),
                name: None,
                hostname: None,
                aliases: Vec::new(),
                interface: "eth0".into(),
                host_link: None,
                ip: Ipv4Addr::new(10, 1, 0, 2),
                mac: "02:42:0a:01:00:02".into(),
                ports: vec![PublishedPort {
                    host_ip,
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Udp,
                }],
                netns_path: "/proc/1/ns/net".into(),
                netns_inode: 1,
                dns: Vec::new(),
                dns_search: Vec::new(),
                shared_hosts: false,
            },
        );
        n
    }

    #[test]
    fn no_bridges_no_table() {
        assert_eq!(render(&[], true), None);
    }

    #[test]
    fn ports_isolation_and_internal() {
        let nets = [
            with_port(
                bridge("a", "br-a", "10.1.0.0/24", false),
                Ipv4Addr::LOCALHOST,
            ),
            bridge("b", "br-b", "10.2.0.0/24", false),
            bridge("i", "br-i", "10.3.0.0/24", true),
        ];
        let s = render(&nets, true).expect("table");
        assert!(s.starts_with("add table ip berth\ndelete table ip berth\n"));
        assert!(s.contains("elements = { 127.0.0.1 . udp . 8080 : 10.1.0.2 . 80 }"));
        assert!(s.contains("dnat to ip daddr . meta l4proto . th dport map @ports_ip"));
        assert!(
            s.contains("iifname \"br-a\" oifname != \"br-a\" oifname { \"br-b\", \"br-i\" } drop")
        );
        assert!(s.contains("ip saddr 10.1.0.0/24 oifname != \"br-a\" masquerade"));
        assert!(s.contains("oifname \"br-i\" iifname != \"br-i\" drop"));
        assert!(
            !s.contains("ip saddr 10.3.0.0/24"),
            "internal networks are not masqueraded"
        );
        // Ports left to the userland proxy: no DNAT, isolation stays.
        let p = render(&nets, false).expect("table");
        assert!(!p.contains("dnat") && !p.contains("chain ports") && !p.contains("map "));
        assert!(p.contains("oifname { \"br-b\", \"br-i\" } drop"));
    }
}

/// nf_tables netlink: add or delete elements of the port maps without running `nft`.
///
/// A connect or disconnect changes only the elements of its own published ports, in
/// one batch (`NFNL_MSG_BATCH_BEGIN`, one `NFT_MSG_NEWSETELEM`/`NFT_MSG_DELSETELEM`
/// per map touched, `NFNL_MSG_BATCH_END`) on one `NETLINK_NETFILTER` socket: the kernel
/// applies the batch as one transaction. The encoding follows `nf_tables.h`: keys of
/// concatenated types put each field in a 4-byte aligned slot, in network byte order.
mod nfnl {
    use crate::error::{Error, Result};
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    const NFNL_MSG_BATCH_END: u16 = 0x11;
    const NFT_MSG_NEWSETELEM: u16 = 12;
    const NFT_MSG_DELSETELEM: u16 = 14;
    const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
    const NFTA_SET_ELEM_LIST_SET: u16 = 2;
    const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
    const NFTA_LIST_ELEM: u16 = 1;
    const NFTA_SET_ELEM_KEY: u16 = 1;
    const NFTA_SET_ELEM_DATA: u16 = 2;
    const NFTA_DATA_VALUE: u16 = 1;
    const NLA_F_NESTED: u16 = 1 << 15;
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const NLM_F_CREATE: u16 = 0x400;
    const NFPROTO_IPV4: u8 = 2;

    /// One element: key bytes and data bytes (both already slot-encoded).
    pub(super) struct Elem {
        pub key: Vec<u8>,
        pub data: Vec<u8>,
    }

    fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        buf.extend_from_slice(&(len as u16).to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(payload);
        buf.resize(buf.len().next_multiple_of(4), 0);
    }

    fn nested(buf: &mut Vec<u8>, kind: u16, f: impl FnOnce(&mut Vec<u8>)) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        f(buf);
        let len = (buf.len() - start) as u16;
        buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn message(
        buf: &mut Vec<u8>,
        kind: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
        f: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version, res_id (big endian)
        buf.push(family);
        buf.push(0);
        buf.extend_from_slice(&res_id.to_be_bytes());
        f(buf);
        let len = (buf.len() - start) as u32;
        buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Encode the batch that adds (`add`) or deletes elements of sets in `table` (family ip).
    pub(super) fn encode(
        table: &str,
        changes: &[(&str, Vec<Elem>)],
        add: bool,
        seq: u32,
    ) -> (Vec<u8>, Vec<u32>) {
        let mut buf = Vec::with_capacity(512);
        let mut acked = Vec::new();
        message(
            &mut buf,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        let mut s = seq;
        for (set, elems) in changes.iter().filter(|(_, e)| !e.is_empty()) {
            s += 1;
            acked.push(s);
            let (kind, flags) = if add {
                (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE)
            } else {
                (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK)
            };
            message(
                &mut buf,
                (NFNL_SUBSYS_NFTABLES << 8) | kind,
                flags,
                s,
                NFPROTO_IPV4,
                0,
                |b| {
                    attr(b, NFTA_SET_ELEM_LIST_TABLE, &cstr(table));
                    attr(b, NFTA_SET_ELEM_LIST_SET, &cstr(set));
                    nested(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                        for e in elems {
                            nested(b, NFTA_LIST_ELEM, |b| {
                                nested(b, NFTA_SET_ELEM_KEY, |b| attr(b, NFTA_DATA_VALUE, &e.key));
                                if add {
                                    nested(b, NFTA_SET_ELEM_DATA, |b| {
                                        attr(b, NFTA_DATA_VALUE, &e.data)
                                    });
                                }
                            });
                        }
                    });
                },
            );
        }
        message(
            &mut buf,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            s + 1,
            0,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        (buf, acked)
    }

    fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    /// Send the batch on a netfilter socket of the calling thread's namespace and wait
    /// for the kernel's answer to every change.
    pub(super) fn apply(table: &str, changes: &[(&str, Vec<Elem>)], add: bool) -> Result<()> {
        let op = || {
            format!(
                "{} nftables set elements",
                if add { "add" } else { "delete" }
            )
        };
        let err = |source| Error::Netlink { op: op(), source };
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(err)?;
        socket.bind_auto().map_err(err)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(err)?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() & 0x0fff_ffff)
            .unwrap_or(1);
        let (msg, mut pending) = encode(table, changes, add, seq);
        if pending.is_empty() {
            return Ok(());
        }
        socket.send(&msg, 0).map_err(err)?;
        let mut buf = Vec::with_capacity(1 << 14);
        let mut first_err = None;
        while !pending.is_empty() {
            buf.clear();
            let n = socket.recv(&mut buf, 0).map_err(err)?;
            let mut off = 0;
            while off + 16 <= n {
                let h = &buf[off..n];
                let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let kind = u16::from_ne_bytes([h[4], h[5]]);
                let rseq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
                if len < 16 || off + len > n {
                    return Err(Error::NetlinkDecode {
                        op: op(),
                        detail: format!("bad message length {len}"),
                    });
                }
                if kind == NLMSG_ERROR && len >= 20 {
                    let code = i32::from_ne_bytes([h[16], h[17], h[18], h[19]]);
                    pending.retain(|s| *s != rseq);
                    if code != 0 && first_err.is_none() {
                        first_err = Some(std::io::Error::from_raw_os_error(-code));
                    }
                    if code != 0 {
                        // A failed batch is aborted: no more answers will come.
                        pending.clear();
                    }
                }
                off += len.next_multiple_of(4);
            }
        }
        match first_err {
            Some(source) => Err(Error::Netlink { op: op(), source }),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn encodes_a_batch_with_aligned_attributes() {
            let e = Elem {
                key: vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0],
                data: vec![10, 0, 0, 2, 0, 80, 0, 0],
            };
            let (b, acked) = encode(
                "berth",
                &[("ports_any", vec![e]), ("ports_ip", vec![])],
                true,
                7,
            );
            assert_eq!(acked, vec![8]);
            // begin (20) + setelem + end (20)
            let begin_len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            assert_eq!(begin_len, 20);
            assert_eq!(u16::from_ne_bytes([b[4], b[5]]), NFNL_MSG_BATCH_BEGIN);
            let m = &b[20..];
            let len = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize;
            assert_eq!(u16::from_ne_bytes([m[4], m[5]]), (10 << 8) | 12);
            assert_eq!(m[16], NFPROTO_IPV4);
            assert_eq!(len % 4, 0);
            // table "berth\0" -> 4 + 6 = 10, padded 12; set "ports_any\0" -> 14, padded 16;
            // elements: 4 + elem(4 + key(4 + 4 + 8) + data(4 + 4 + 8)) = 40
            assert_eq!(len, 20 + 12 + 16 + 40);
            let end = &b[20 + len..];
            assert_eq!(u16::from_ne_bytes([end[4], end[5]]), NFNL_MSG_BATCH_END);
            assert_eq!(b.len(), 20 + len + 20);
        }
    }
}
