//! Published ports: `-p [ip:][host:]container[/proto]` parsing and the resolved result.

use crate::error::{Result, invalid};
use std::net::{IpAddr, Ipv4Addr};

/// Transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// The IP protocol number (6 or 17).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which host port to publish on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostPort {
    /// A free port chosen at connect time.
    Random,
    /// Exactly this port.
    Fixed(u16),
    /// The first free port of this inclusive range.
    Range(u16, u16),
}

/// One requested port publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    /// Host address to listen on; `None` means every address.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port.
    pub host_port: HostPort,
    /// The port inside the container.
    pub container_port: u16,
    /// tcp or udp.
    pub protocol: Protocol,
}

/// A port publication as set up: the host port is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PublishedPort {
    /// Host address (`0.0.0.0` for every address).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
    /// tcp or udp.
    pub protocol: Protocol,
}

impl PortMapping {
    /// A mapping of container port `container` to host port `host` (0 = random), TCP, all addresses.
    pub fn tcp(host: u16, container: u16) -> PortMapping {
        PortMapping {
            host_ip: None,
            host_port: if host == 0 {
                HostPort::Random
            } else {
                HostPort::Fixed(host)
            },
            container_port: container,
            protocol: Protocol::Tcp,
        }
    }

    /// Parse Docker's `-p` syntax: `[ip:][hostPort:]containerPort[/tcp|udp]`, where both
    /// ports may be ranges (`8000-8001:80-81`); a host range with one container port picks
    /// the first free port of the range; an empty or missing host port means random.
    pub fn parse(spec: &str) -> Result<Vec<PortMapping>> {
        let bad = |reason: &str| invalid("port mapping", spec, reason);
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Protocol::Tcp),
            Some((r, "udp")) => (r, Protocol::Udp),
            Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?} (tcp or udp)"))),
            None => (spec, Protocol::Tcp),
        };
        let (ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
            let (ip, after) = stripped
                .split_once("]:")
                .ok_or_else(|| bad("unterminated [address]"))?;
            (Some(ip), after)
        } else {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.len() {
                1 => (None, rest),
                2 => (None, rest),
                3 => (Some(parts[0]), &rest[parts[0].len() + 1..]),
                _ => return Err(bad("too many ':' (IPv6 addresses go in brackets)")),
            }
        };
        let host_ip = match ip {
            None | Some("") => None,
            Some(s) => match s.parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) => Some(v4),
                Ok(IpAddr::V6(_)) => return Err(bad("IPv6 host addresses are not supported")),
                Err(_) => return Err(bad(&format!("invalid host address {s:?}"))),
            },
        };
        let (host, container) = match rest.split_once(':') {
            Some((h, c)) => (h, c),
            None => ("", rest),
        };
        let (c_lo, c_hi) =
            parse_range(container).map_err(|r| bad(&format!("container port: {r}")))?;
        let host_range = if host.is_empty() {
            None
        } else {
            Some(parse_range(host).map_err(|r| bad(&format!("host port: {r}")))?)
        };
        let mut out = Vec::new();
        let count = c_hi - c_lo;
        match host_range {
            None => {
                for p in c_lo..=c_hi {
                    out.push(PortMapping {
                        host_ip,
                        host_port: HostPort::Random,
                        container_port: p,
                        protocol,
                    });
                }
            }
            Some((h_lo, h_hi)) if h_hi - h_lo == count => {
                for i in 0..=count {
                    out.push(PortMapping {
                        host_ip,
                        host_port: HostPort::Fixed(h_lo + i),
                        container_port: c_lo + i,
                        protocol,
                    });
                }
            }
            Some((h_lo, h_hi)) if count == 0 => {
                out.push(PortMapping {
                    host_ip,
                    host_port: HostPort::Range(h_lo, h_hi),
                    container_port: c_lo,
                    protocol,
                });
            }
            Some(_) => return Err(bad("host and container port ranges differ in length")),
        }
        Ok(out)
    }
}

fn parse_range(s: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| -> std::result::Result<u16, String> {
        match p.parse::<u16>() {
            Ok(0) => Err("port 0 is not a port".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("{p:?} is not a port number (1-65535)")),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(format!("range {a}-{b} ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        match self.host_port {
            HostPort::Random => {
                if self.host_ip.is_some() {
                    write!(f, ":")?;
                }
            }
            HostPort::Fixed(p) => write!(f, "{p}:")?,
            HostPort::Range(a, b) => write!(f, "{a}-{b}:")?,
        }
        write!(f, "{}/{}", self.container_port, self.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_forms() {
        let m = PortMapping::parse("127.0.0.1:8080:80/tcp").expect("parse");
        assert_eq!(
            m,
            vec![PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: HostPort::Fixed(8080),
                container_port: 80,
                protocol: Protocol::Tcp
            }]
        );
        assert_eq!(
            PortMapping::parse("80").expect("parse")[0].host_port,
            HostPort::Random
        );
        assert_eq!(
            PortMapping::parse("127.0.0.1::53/udp").expect("parse")[0].protocol,
            Protocol::Udp
        );
        assert_eq!(
            PortMapping::parse("8000-8002:80-82").expect("parse").len(),
            3
        );
        assert_eq!(
            PortMapping::parse("9000-9010:80").expect("parse")[0].host_port,
            HostPort::Range(9000, 9010)
        );
        for bad in [
            "",
            "0",
            "80/sctp",
            "70000",
            "a:b:c:d",
            "1.2.3:80:80",
            "9-8:80",
            "1-3:1-2",
            "[::1]:80:80",
            "x:80",
        ] {
            assert!(PortMapping::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(ip in proptest::option::of(any::<[u8; 4]>()), host in 0u16..3, hp in 1u16.., cp in 1u16.., udp: bool) {
            let m = PortMapping {
                host_ip: ip.map(Ipv4Addr::from),
                host_port: match host { 0 => HostPort::Random, 1 => HostPort::Fixed(hp), _ => HostPort::Range(hp, hp.saturating_add(5)) },
                container_port: cp,
                protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
            };
            let back = PortMapping::parse(&m.to_string()).expect("reparse");
            let expect_fixed = matches!(m.host_port, HostPort::Range(a, b) if a == b);
            if expect_fixed {
                prop_assert_eq!(back[0].host_port, HostPort::Fixed(hp));
            } else {
                prop_assert_eq!(back, vec![m]);
            }
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = PortMapping::parse(&s);
        }
    }
}
