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
