//! Network definitions and endpoints as stored on disk.

use crate::ports::PublishedPort;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// The kind of network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge in the host namespace; containers join through veth pairs.
    Bridge,
    /// macvlan sub-interfaces of a parent link.
    Macvlan,
    /// A VXLAN segment bridged on each host; peers are added through the API.
    Overlay,
}

impl Driver {
    /// Parse `bridge|macvlan|overlay`.
    pub fn parse(s: &str) -> crate::Result<Driver> {
        match s {
            "bridge" => Ok(Driver::Bridge),
            "macvlan" => Ok(Driver::Macvlan),
            "overlay" => Ok(Driver::Overlay),
            _ => Err(crate::error::invalid(
                "driver",
                s,
                "expected bridge, macvlan or overlay",
            )),
        }
    }
}

/// What a caller asks for when creating a network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkConfig {
    /// Unique name.
    pub name: String,
    /// Driver.
    pub driver: Driver,
    /// Subnet; picked from the default pools when `None`.
    pub subnet: Option<Ipv4Net>,
    /// Gateway; the first host address of the subnet when `None` (bridge, macvlan).
    pub gateway: Option<Ipv4Addr>,
    /// Allocate container addresses only from this part of the subnet.
    pub ip_range: Option<Ipv4Net>,
    /// No route out of the network, no traffic in from other networks.
    pub internal: bool,
    /// Driver options: `bridge_name`, `mtu`, `parent`, `macvlan_mode`, `vni`, `vxlan_port`, `vtep`.
    pub options: BTreeMap<String, String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
}

impl NetworkConfig {
    /// A bridge network named `name` with everything else defaulted.
    pub fn bridge(name: &str) -> NetworkConfig {
        Self::new(name, Driver::Bridge)
    }

    /// A network named `name` with driver `driver` and everything else defaulted.
    pub fn new(name: &str, driver: Driver) -> NetworkConfig {
        NetworkConfig {
            name: name.to_string(),
            driver,
            subnet: None,
            gateway: None,
            ip_range: None,
            internal: false,
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }

    /// Set the subnet.
    pub fn subnet(mut self, subnet: Ipv4Net) -> Self {
        self.subnet = Some(subnet);
        self
    }

    /// Set a driver option.
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options.insert(key.to_string(), value.to_string());
        self
    }
}

/// Driver options [`NetworkConfig::options`] may hold.
pub const OPTION_KEYS: [&str; 7] = [
    "bridge_name",
    "mtu",
    "parent",
    "macvlan_mode",
    "vni",
    "vxlan_port",
    "vtep",
];

/// Parse an IPv4 subnet in CIDR notation (`10.1.0.0/24`) with no host bits set.
pub fn parse_subnet(s: &str) -> crate::Result<Ipv4Net> {
    let net: Ipv4Net = s.trim().parse().map_err(|_| {
        crate::error::invalid("subnet", s, "expected IPv4 CIDR notation like 10.1.0.0/24")
    })?;
    check_subnet(net)?;
    Ok(net)
}

fn check_subnet(s: Ipv4Net) -> crate::Result<()> {
    if s.trunc() != s {
        return Err(crate::error::invalid(
            "subnet",
            s.to_string(),
            format!("has host bits set (did you mean {}?)", s.trunc()),
        ));
    }
    if s.prefix_len() > 30 {
        return Err(crate::error::invalid(
            "subnet",
            s.to_string(),
            "too small (prefix longer than /30)",
        ));
    }
    Ok(())
}

impl NetworkConfig {
    /// Read a network definition from JSON (the serde form of this struct, e.g.
    /// `{"name":"web","driver":"bridge","subnet":"10.1.0.0/24",...}`; `name` and
    /// `driver` are required) and [`validate`](NetworkConfig::validate) it.
    pub fn from_json(bytes: &[u8]) -> crate::Result<NetworkConfig> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            name: String,
            driver: Driver,
            #[serde(default)]
            subnet: Option<Ipv4Net>,
            #[serde(default)]
            gateway: Option<Ipv4Addr>,
            #[serde(default)]
            ip_range: Option<Ipv4Net>,
            #[serde(default)]
            internal: bool,
            #[serde(default)]
            options: BTreeMap<String, String>,
            #[serde(default)]
            labels: BTreeMap<String, String>,
        }
        let w: Wire = serde_json::from_slice(bytes).map_err(|e| {
            crate::error::invalid(
                "network definition",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                e.to_string(),
            )
        })?;
        let cfg = NetworkConfig {
            name: w.name,
            driver: w.driver,
            subnet: w.subnet,
            gateway: w.gateway,
            ip_range: w.ip_range,
            internal: w.internal,
            options: w.options,
            labels: w.labels,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check everything that can be checked without looking at the host or other
    /// networks: name, subnet, gateway and range inside the subnet, driver options.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::error::invalid;
        crate::networks::validate_network_name(&self.name)?;
        for key in self.options.keys() {
            if !OPTION_KEYS.contains(&key.as_str()) {
                return Err(invalid("network option", key.clone(), "unknown option"));
            }
        }
        if let Some(s) = self.subnet {
            check_subnet(s)?;
            if let Some(g) = self.gateway
                && (!s.contains(&g) || g == s.network() || g == s.broadcast())
            {
                return Err(invalid(
                    "gateway",
                    g.to_string(),
                    format!("is not a host address of subnet {s}"),
                ));
            }
            if let Some(r) = self.ip_range
                && (r.trunc() != r || !s.contains(&r.network()) || !s.contains(&r.broadcast()))
            {
                return Err(invalid(
                    "ip range",
                    r.to_string(),
                    format!("is not a subnet of {s}"),
                ));
            }
        } else if self.ip_range.is_some() {
            return Err(invalid(
                "ip range",
                self.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                "needs an explicit subnet",
            ));
        }
        if let Some(m) = self.options.get("mtu")
            && !m.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m))
        {
            return Err(invalid(
                "mtu",
                m.clone(),
                "expected a number from 68 to 65535",
            ));
        }
        if let Some(b) = self.options.get("bridge_name") {
            crate::networks::validate_link_name(b)?;
        }
        match self.driver {
            Driver::Macvlan => {
                let parent = self.options.get("parent").ok_or_else(|| {
                    invalid(
                        "macvlan network",
                        self.name.clone(),
                        "option \"parent\" (a host link) is required",
                    )
                })?;
                crate::networks::validate_link_name(parent)?;
                if let Some(m) = self.options.get("macvlan_mode") {
                    crate::MacvlanMode::parse(m)?;
                }
            }
            Driver::Overlay => {
                if let Some(v) = self.options.get("vni")
                    && !v.parse::<u32>().is_ok_and(|v| (1..1 << 24).contains(&v))
                {
                    return Err(invalid("vni", v.clone(), "expected 1 to 16777215"));
                }
                if let Some(p) = self.options.get("vxlan_port")
                    && !p.parse::<u16>().is_ok_and(|p| p != 0)
                {
                    return Err(invalid("vxlan_port", p.clone(), "expected 1 to 65535"));
                }
                if let Some(v) = self.options.get("vtep")
                    && v.parse::<Ipv4Addr>().is_err()
                {
                    return Err(invalid("vtep", v.clone(), "expected an IPv4 address"));
                }
            }
            Driver::Bridge => {}
        }
        Ok(())
    }
}

/// A container's attachment to a network, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// The container id.
    pub container_id: String,
    /// The container's name (resolvable by peers).
    pub name: Option<String>,
    /// The container's host name.
    pub hostname: Option<String>,
    /// Extra names peers resolve to this container on this network.
    pub aliases: Vec<String>,
    /// Interface name inside the container.
    pub interface: String,
    /// The host end of the veth pair (bridge and overlay).
    pub host_link: Option<String>,
    /// Address.
    pub ip: Ipv4Addr,
    /// Hardware address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Published ports.
    pub ports: Vec<PublishedPort>,
    /// Path the container's namespace was given by.
    pub netns_path: PathBuf,
    /// Inode of the container's namespace (to recognise it later).
    pub netns_inode: u64,
    /// DNS servers for resolv.conf (empty: the host's).
    pub dns: Vec<IpAddr>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// Whether the container's hosts file is this network's shared file (a hard link),
    /// true when this was its only network at connect time.
    #[serde(default)]
    pub shared_hosts: bool,
}

/// A remote container on an overlay network, reached through the VTEP of its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OverlayPeer {
    /// The container's overlay address.
    pub ip: Ipv4Addr,
    /// The container's MAC address.
    pub mac: [u8; 6],
    /// Underlay address of the host it lives on.
    pub vtep: Ipv4Addr,
}

/// A network as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Driver.
    pub driver: Driver,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// Gateway (none on overlays).
    pub gateway: Option<Ipv4Addr>,
    /// Allocation range.
    pub ip_range: Option<Ipv4Net>,
    /// Internal: no way out.
    pub internal: bool,
    /// Driver options as given.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, nanoseconds since the epoch.
    pub created: u64,
    /// Host link: the bridge (bridge, overlay) or the parent (macvlan).
    pub link: String,
    /// Whether berth created `link` as an 802.1Q sub-interface (deleted with the network).
    pub created_vlan: bool,
    /// VXLAN device (overlay).
    pub vxlan: Option<String>,
    /// VXLAN network identifier (overlay).
    pub vni: Option<u32>,
    /// Attached containers by id.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Remote peers (overlay).
    pub peers: Vec<OverlayPeer>,
}

impl Network {
    /// Whether peers resolve each other's names (user-defined networks, as in Docker).
    pub fn resolves_names(&self) -> bool {
        self.name != crate::DEFAULT_BRIDGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_definitions() {
        assert_eq!(
            parse_subnet("10.1.0.0/24").expect("ok").to_string(),
            "10.1.0.0/24"
        );
        for bad in [
            "10.1.0.0/33",
            "10.1.0.1/24",
            "10.1.0.0",
            "x/8",
            "10.0.0.0/31",
            "",
        ] {
            assert!(
                matches!(
                    parse_subnet(bad),
                    Err(crate::Error::Invalid { what: "subnet", .. })
                ),
                "{bad:?}"
            );
        }
        let ok = br#"{"name":"web","driver":"bridge","subnet":"10.1.0.0/24","gateway":"10.1.0.1"}"#;
        assert_eq!(
            NetworkConfig::from_json(ok).expect("ok").gateway,
            Some(Ipv4Addr::new(10, 1, 0, 1))
        );
        for bad in [
            &br#"{"name":"web","driver":"bridge","subnet":"10.1.0.0/24","gateway":"10.2.0.1"}"#[..],
            br#"{"name":"web","driver":"bridge","subnet":"10.1.0.0/40"}"#,
            br#"{"name":"web","driver":"macvlan"}"#,
            br#"{"name":"web","driver":"overlay","options":{"vni":"0"}}"#,
            br#"{"name":"-x","driver":"bridge"}"#,
            br#"{"name":"web","driver":"bridge","options":{"colour":"blue"}}"#,
            br#"{"name":"web","driver":"bridge","ip_range":"10.1.0.0/24"}"#,
            br#"{"name":"web"}"#,
            b"\xff",
        ] {
            assert!(
                matches!(
                    NetworkConfig::from_json(bad),
                    Err(crate::Error::Invalid { .. })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
