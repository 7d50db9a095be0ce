//! `/etc/hosts` and `/etc/resolv.conf` for containers, regenerated as peers come and go.
//!
//! There is no resolver daemon: each container gets its own hosts file listing the
//! containers (names and aliases) it shares a user-defined network with. The files are
//! rewritten in place (same inode) so a bind mount of them sees every update.

use crate::error::{Result, io};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// One line of a hosts file: an address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// The address.
    pub ip: Ipv4Addr,
    /// Names, first is canonical.
    pub names: Vec<String>,
}

/// Render a hosts file: localhost lines, then the container's own entries, then peers.
pub fn render_hosts(own: &[HostEntry], peers: &[HostEntry]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in own.iter().chain(peers) {
        if e.names.is_empty() {
            continue;
        }
        s.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    s
}

/// Render resolv.conf from explicit servers, or else from the host's file with
/// loopback servers dropped (they are unreachable from a container), falling back to
/// Docker's public defaults when nothing is left.
pub fn render_resolv_conf(servers: &[IpAddr], search: &[String], host_resolv: &str) -> String {
    let mut out = String::new();
    let mut host_servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>)
                    && !ip.is_loopback()
                {
                    host_servers.push(ip);
                }
            }
            Some("search") | Some("domain") => host_search.extend(words.map(str::to_string)),
            Some("options") => host_options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    let servers: Vec<IpAddr> = if !servers.is_empty() {
        servers.to_vec()
    } else if !host_servers.is_empty() {
        host_servers
    } else {
        vec![
            IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
            IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
        ]
    };
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !host_options.is_empty() {
        out.push_str(&format!("options {}\n", host_options.join(" ")));
    }
    out
}

/// Write `content` to `path` in place (truncate and write the same inode), so bind
/// mounts of the file see it. Skips the write when the content is unchanged.
pub(crate) fn write_in_place(path: &Path, content: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io(format!("open {}", path.display())))?;
    f.write_all(content.as_bytes())
        .map_err(io(format!("write {}", path.display())))
}

/// Whether `name` is usable as a host name or alias (RFC 1123 labels, dots allowed).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_own_then_peers() {
        let own = [HostEntry {
            ip: Ipv4Addr::new(10, 0, 0, 2),
            names: vec!["web".into()],
        }];
        let peers = [HostEntry {
            ip: Ipv4Addr::new(10, 0, 0, 3),
            names: vec!["db".into(), "database".into()],
        }];
        let h = render_hosts(&own, &peers);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.2\tweb\n10.0.0.3\tdb database\n"));
    }

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n";
        let r = render_resolv_conf(&[], &[], host);
        assert_eq!(
            r,
            "search corp.example\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        let r = render_resolv_conf(
            &["1.1.1.1".parse().expect("ip")],
            &["a.b".into()],
            "nameserver 9.9.9.9\n",
        );
        assert_eq!(r, "search a.b\nnameserver 1.1.1.1\n");
        assert_eq!(
            render_resolv_conf(&[], &[], "nameserver 9.9.9.9\n"),
            "nameserver 9.9.9.9\n"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1.svc"));
        assert!(!valid_name("bad name"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
    }
}
