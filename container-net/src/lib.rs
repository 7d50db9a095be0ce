//! Gives a network namespace its network, the way Docker does, with no daemon.
//!
//! `container-net` knows nothing about images or runtimes: it is handed a network
//! namespace (a path or fd, see [`Netns`]) and configures it:
//!
//! * links, addresses, routes and sysctls over rtnetlink ([`netlink`], built on
//!   `netlink-packet-route` and `netlink-sys`, with a small synchronous request loop
//!   written here because the operations are a handful of round trips each);
//! * network definitions and IPAM stored as JSON under one directory, serialised between
//!   processes by a `flock` ([`Networks`]);
//! * drivers: `bridge` (veth pair, one end on a Linux bridge, the other `eth0` in the
//!   container), `macvlan` (modes bridge/private/vepa/passthru, optional 802.1Q
//!   `parent.N` sub-interface when the kernel has 8021q) and `overlay` (a VXLAN device
//!   and a bridge per network and host, remote peers added as static FDB and ARP entries
//!   with [`Networks::add_overlay_peer`]: no key-value store, the caller moves peer lists);
//! * modes `none` ([`setup_none`]), `host` and `container:` ([`NetworkMode`]);
//! * published ports ([`PortMapping`]): nftables DNAT in a table of berth's own. The
//!   table (isolation, masquerade and two DNAT maps) is rendered whole and applied with
//!   the `nft` binary only when networks are created or removed; a container's ports are
//!   elements of the maps, added and deleted on connect/disconnect with one nf_tables
//!   netlink batch ([`firewall::update_ports`]), so a connect spawns no process and does
//!   not grow with the number of containers. When `nft` is missing (or
//!   [`PortBackend::Proxy`] is asked for) ports go through the userland [`proxy`], which
//!   the caller runs; nftables always acts in the namespace given to [`Networks::open`],
//!   never the caller's own;
//! * isolation between bridge networks and `internal` networks (nftables forward rules;
//!   internal networks get no default route);
//! * names: each container gets `hosts` and `resolv.conf` files under
//!   `<dir>/containers/<id>/`, kept current in place (same inode) as peers join and
//!   leave, so a bind mount of them stays current — no resolver process. A join appends
//!   one line to each peer's file; with [`Options::shared_hosts`] a container whose only
//!   network is a user-defined one shares the network's file (a hard link, to be mounted
//!   read-only), so a join or leave writes one file whatever the number of containers.
//!
//! * parsers for untrusted text that return a typed [`Error`] and never panic:
//!   [`PortMapping::parse`], [`parse_subnet`], [`NetworkConfig::from_json`],
//!   [`NetworkMode::parse`], [`parse_mac`].
//!
//! IPv4 only for now.
//!
//! ```no_run
//! use container_net::{ConnectOptions, NetworkConfig, Networks, Netns, PortMapping};
//! # fn main() -> container_net::Result<()> {
//! let nets = Networks::open(std::path::Path::new("/var/lib/berth/networks"), Netns::current()?)?;
//! nets.create(NetworkConfig::bridge("web"))?;
//! let ctr = Netns::from_pid(4242)?;
//! let att = nets.connect("web", "ctr1", &ctr, ConnectOptions {
//!     name: Some("api".into()),
//!     ports: PortMapping::parse("127.0.0.1::8080")?,
//!     ..Default::default()
//! })?;
//! println!("{} on {}, port {}", att.ip, att.interface, att.ports[0].host_port);
//! nets.disconnect("web", "ctr1")?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod firewall;
pub mod ipam;
pub mod mode;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod networks;
pub mod ports;
pub mod proxy;

pub use error::{Error, Result};
pub use mode::NetworkMode;
pub use netlink::MacvlanMode;
pub use netns::Netns;
pub use network::{Driver, Endpoint, Network, NetworkConfig, OverlayPeer, parse_subnet};
pub use networks::{
    Attachment, ConnectOptions, DEFAULT_BRIDGE, DEFAULT_BRIDGE_LINK, Networks, OVERLAY_MTU,
    Options, PortBackend, VXLAN_PORT, setup_none,
};
pub use ports::{HostPort, PortMapping, Protocol, PublishedPort};
pub use proxy::{Proxy, ProxySpec};

/// Format a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(error::invalid(
            "MAC address",
            s,
            "expected six hex bytes separated by ':'",
        ));
    }
    for (slot, p) in mac.iter_mut().zip(parts) {
        *slot = u8::from_str_radix(p, 16)
            .ok()
            .filter(|_| p.len() == 2)
            .ok_or_else(|| error::invalid("MAC address", s, format!("{p:?} is not a hex byte")))?;
    }
    Ok(mac)
}
