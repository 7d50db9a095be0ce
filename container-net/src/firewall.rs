//! nftables rules for published ports, masquerade and isolation, in a table of berth's own.
//!
//! The whole table is rendered from the stored networks and replaced in one `nft`
//! transaction (`add table; delete table; table {…}`), so the kernel never sees a half
//! state, and a crash leaves either the old or the new rule set. When nothing needs a
//! rule the table is deleted. nftables is driven through the `nft` binary; when it is
//! missing, [`crate::Networks`] falls back to the userland proxy for ports.

use crate::error::{Error, Result, io};
use crate::netns::Netns;
use crate::network::{Driver, Network};
use std::io::Write;
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

/// Render the table for `networks`; `None` when no rule is needed.
pub fn render(networks: &[Network], with_ports: bool) -> Option<String> {
    let bridges: Vec<&Network> = networks
        .iter()
        .filter(|n| n.driver == Driver::Bridge)
        .collect();
    if bridges.is_empty() {
        return None;
    }
    let mut ports = Vec::new();
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
        let mut has_ports = false;
        if with_ports {
            for ep in n.endpoints.values() {
                for p in &ep.ports {
                    has_ports = true;
                    let daddr = if p.host_ip.is_unspecified() {
                        String::new()
                    } else {
                        format!("ip daddr {} ", p.host_ip)
                    };
                    ports.push(format!(
                        "{daddr}{proto} dport {hp} dnat to {ip}:{cp}",
                        proto = p.protocol,
                        hp = p.host_port,
                        ip = ep.ip,
                        cp = p.container_port
                    ));
                }
            }
        }
        if has_ports {
            post.push(format!("oifname \"{br}\" fib saddr type local masquerade"));
            post.push(format!(
                "oifname \"{br}\" ip saddr {} ct status dnat masquerade",
                n.subnet
            ));
        }
    }
    let mut s = format!("add table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for r in &forward {
        s.push_str(&format!("    {r}\n"));
    }
    s.push_str("  }\n");
    if !ports.is_empty() {
        s.push_str("  chain ports {\n");
        for r in &ports {
            s.push_str(&format!("    {r}\n"));
        }
        s.push_str("  }\n");
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
    use crate::ports::{Protocol, PublishedPort};
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

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
        assert!(s.contains("ip daddr 127.0.0.1 udp dport 8080 dnat to 10.1.0.2:80"));
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
        assert!(!p.contains("dnat") && !p.contains("chain ports"));
        assert!(p.contains("oifname { \"br-b\", \"br-i\" } drop"));
    }
}
