//! [`Networks`]: network definitions, IPAM and container attachment, stored under one
//! directory and serialised between processes by a file lock.

use crate::error::{Error, Result, invalid, io};
use crate::firewall;
use crate::ipam;
use crate::names::{self, HostEntry};
use crate::netlink::{MacvlanMode, Netlink};
use crate::netns::{Netns, sysctl_path, write_sysctl};
use crate::network::{Driver, Endpoint, Network, NetworkConfig, OverlayPeer};
use crate::ports::{HostPort, PortMapping, Protocol, PublishedPort};
use crate::proxy::ProxySpec;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Name of the default bridge network.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// Link name of the default bridge.
pub const DEFAULT_BRIDGE_LINK: &str = "berth0";
/// Default VXLAN UDP port.
pub const VXLAN_PORT: u16 = 4789;
/// Default MTU of overlay links: a 1500-byte underlay minus the 50-byte VXLAN header.
pub const OVERLAY_MTU: u32 = 1450;

/// How published ports reach containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortBackend {
    /// nftables DNAT when `nft` is installed, else the userland proxy.
    #[default]
    Auto,
    /// Always the userland proxy ([`crate::proxy::serve`], run by the caller). Isolation
    /// and masquerade rules still go to nftables when `nft` is installed.
    Proxy,
}

/// Options of [`Networks::open_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Port backend.
    pub ports: PortBackend,
    /// File to take DNS settings from (default `/etc/resolv.conf`).
    pub host_resolv_conf: Option<PathBuf>,
    /// Share one hosts file per network: a container whose only network is a
    /// user-defined one gets its [`hosts_path`](Networks::hosts_path) hard-linked to the
    /// network's file ([`Networks::shared_hosts_path`]), so a peer joining or leaving
    /// writes one file instead of one per container. The caller must then bind-mount
    /// that file read-only, or a container could change the names its peers see.
    /// Off by default: each container has its own file, which it may write to (as in
    /// Docker), and which is rewritten as peers join and leave.
    pub shared_hosts: bool,
}

/// What [`Networks::connect`] is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Container name; peers on user-defined networks resolve it.
    pub name: Option<String>,
    /// Host name written to the container's hosts file.
    pub hostname: Option<String>,
    /// Extra names on this network.
    pub aliases: Vec<String>,
    /// A static address.
    pub ip: Option<Ipv4Addr>,
    /// A static MAC address (default: 02:42 followed by the IPv4 address, like Docker).
    pub mac: Option<[u8; 6]>,
    /// Ports to publish (bridge networks only).
    pub ports: Vec<PortMapping>,
    /// Interface name inside the container (default: the next free `ethN`).
    pub interface: Option<String>,
    /// DNS servers for resolv.conf (default: the host's non-loopback ones).
    pub dns: Vec<IpAddr>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
}

/// The result of [`Networks::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Network name.
    pub network: String,
    /// Network id.
    pub network_id: String,
    /// Container id.
    pub container_id: String,
    /// Interface name inside the container.
    pub interface: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Prefix length of the subnet.
    pub prefix_len: u8,
    /// Default gateway (none on internal and overlay networks).
    pub gateway: Option<Ipv4Addr>,
    /// Hardware address.
    pub mac: [u8; 6],
    /// Published ports with their host ports resolved.
    pub ports: Vec<PublishedPort>,
    /// Port proxies the caller must run ([`crate::proxy::serve`]) because nftables is
    /// not in use; empty with nftables.
    pub proxies: Vec<ProxySpec>,
}

/// Network definitions and attachments under one directory.
#[derive(Debug)]
pub struct Networks {
    dir: PathBuf,
    host: Netns,
    /// `nft`, for isolation and masquerade rules (and ports unless `ports_by_proxy`).
    nft: Option<PathBuf>,
    /// Published ports go through the userland proxy instead of nftables DNAT.
    ports_by_proxy: bool,
    host_resolv: PathBuf,
    shared_hosts: bool,
}

struct Lock(std::fs::File);

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: unlocking an fd we own.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Networks {
    /// Open (creating) the store at `dir`; `host` is the namespace that holds bridges and
    /// published ports (the engine's own namespace in production, a throwaway one in tests).
    pub fn open(dir: &Path, host: Netns) -> Result<Networks> {
        Self::open_with(dir, host, Options::default())
    }

    /// [`Networks::open`] with options.
    pub fn open_with(dir: &Path, host: Netns, options: Options) -> Result<Networks> {
        for sub in ["containers", "names"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(io(format!("create {}", dir.display())))?;
        }
        let nft = firewall::find_nft();
        let ports_by_proxy = nft.is_none() || options.ports == PortBackend::Proxy;
        Ok(Networks {
            dir: dir.to_path_buf(),
            host,
            nft,
            ports_by_proxy,
            host_resolv: options
                .host_resolv_conf
                .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf")),
            shared_hosts: options.shared_hosts,
        })
    }

    /// The host namespace.
    pub fn host(&self) -> &Netns {
        &self.host
    }

    /// Whether published ports use nftables (else the userland proxy).
    pub fn uses_nftables(&self) -> bool {
        !self.ports_by_proxy
    }

    /// Path of the container's generated hosts file.
    pub fn hosts_path(&self, container_id: &str) -> PathBuf {
        self.dir.join("containers").join(container_id).join("hosts")
    }

    /// Path of a network's shared hosts file: every container on the network with a
    /// name, one line each. A container whose only network is this one has its
    /// [`hosts_path`](Networks::hosts_path) hard-linked to it, so a peer joining or
    /// leaving changes one file, not one per container.
    pub fn shared_hosts_path(&self, network_id: &str) -> PathBuf {
        self.dir.join("names").join(format!("{network_id}.hosts"))
    }

    /// Path of the container's generated resolv.conf.
    pub fn resolv_conf_path(&self, container_id: &str) -> PathBuf {
        self.dir
            .join("containers")
            .join(container_id)
            .join("resolv.conf")
    }

    fn lock(&self) -> Result<Lock> {
        let path = self.dir.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("open {}", path.display())))?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(format!("lock {}", path.display()))(e));
            }
        }
    }

    fn net_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn load_all(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        let rd =
            std::fs::read_dir(&self.dir).map_err(io(format!("read {}", self.dir.display())))?;
        for entry in rd {
            let entry = entry.map_err(io(format!("read {}", self.dir.display())))?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(format!("read {}", path.display()))(e)),
            };
            let net: Network = serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            out.push(net);
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Write a network definition atomically and durably (temp file, fsync, rename).
    fn save(&self, net: &Network) -> Result<()> {
        self.write_network(net, true)
    }

    /// Write a network whose change is only its attachments: atomic (temp file, rename)
    /// but not fsync'd. Attachments describe links and rules that die with the kernel
    /// anyway, and a rename over the old file never leaves a torn one; skipping the
    /// flush keeps a connect from waiting on the disk.
    fn save_volatile(&self, net: &Network) -> Result<()> {
        self.write_network(net, false)
    }

    fn write_network(&self, net: &Network, durable: bool) -> Result<()> {
        let path = self.net_path(&net.id);
        let tmp = self.dir.join(format!(".{}.tmp", net.id));
        let data =
            serde_json::to_vec(net).map_err(|e| io("encode network")(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(io(format!("create {}", tmp.display())))?;
        f.write_all(&data)
            .map_err(io(format!("write {}", tmp.display())))?;
        if durable {
            f.sync_data()
                .map_err(io(format!("sync {}", tmp.display())))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(format!("rename to {}", path.display())))
    }

    fn find<'a>(nets: &'a mut [Network], key: &str) -> Result<&'a mut Network> {
        let idx = nets
            .iter()
            .position(|n| n.name == key)
            .or_else(|| nets.iter().position(|n| n.id == key))
            .or_else(|| {
                let m: Vec<usize> = (0..nets.len())
                    .filter(|&i| key.len() >= 6 && nets[i].id.starts_with(key))
                    .collect();
                if m.len() == 1 { Some(m[0]) } else { None }
            })
            .ok_or_else(|| Error::NetworkNotFound(key.to_string()))?;
        Ok(&mut nets[idx])
    }

    /// All networks.
    pub fn list(&self) -> Result<Vec<Network>> {
        let _l = self.lock()?;
        self.load_all()
    }

    /// One network by name, id or unique id prefix.
    pub fn inspect(&self, key: &str) -> Result<Network> {
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        Ok(Self::find(&mut nets, key)?.clone())
    }

    /// Create a network. Everything is validated before anything is created, and a
    /// failure half-way removes what was created.
    pub fn create(&self, config: NetworkConfig) -> Result<Network> {
        let _l = self.lock()?;
        self.create_locked(config, None)
    }

    fn create_locked(&self, config: NetworkConfig, link_name: Option<&str>) -> Result<Network> {
        config.validate()?;
        let nets = self.load_all()?;
        if nets.iter().any(|n| n.name == config.name) {
            return Err(Error::NetworkExists(config.name));
        }
        for key in config.options.keys() {
            if ![
                "bridge_name",
                "mtu",
                "parent",
                "macvlan_mode",
                "vni",
                "vxlan_port",
                "vtep",
            ]
            .contains(&key.as_str())
            {
                return Err(invalid("network option", key.clone(), "unknown option"));
            }
        }
        let mtu = match config.options.get("mtu") {
            Some(m) => Some(
                m.parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| {
                        invalid("mtu", m.clone(), "expected a number from 68 to 65535")
                    })?,
            ),
            None => None,
        };
        // Subnet: given (must not overlap another network) or picked.
        let subnet = match config.subnet {
            Some(s) => {
                if s.trunc() != s {
                    return Err(invalid(
                        "subnet",
                        s.to_string(),
                        format!("has host bits set (did you mean {}?)", s.trunc()),
                    ));
                }
                if s.prefix_len() > 30 {
                    return Err(invalid(
                        "subnet",
                        s.to_string(),
                        "too small (prefix longer than /30)",
                    ));
                }
                if let Some(other) = nets.iter().find(|n| ipam::overlaps(&n.subnet, &s)) {
                    return Err(Error::SubnetOverlap {
                        subnet: s.to_string(),
                        other: other.subnet.to_string(),
                        network: other.name.clone(),
                    });
                }
                s
            }
            None => {
                let mut used: Vec<Ipv4Net> = nets.iter().map(|n| n.subnet).collect();
                used.extend(self.host_routes()?);
                ipam::pick_subnet(&used)?
            }
        };
        let gateway = match (config.driver, config.gateway) {
            (Driver::Overlay, None) => None,
            (_, Some(g)) => {
                if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() {
                    return Err(invalid(
                        "gateway",
                        g.to_string(),
                        format!("is not a host address of subnet {subnet}"),
                    ));
                }
                Some(g)
            }
            (_, None) => Some(ipam::default_gateway(&subnet)?),
        };
        if let Some(r) = config.ip_range
            && (r.trunc() != r
                || !subnet.contains(&r.network())
                || !subnet.contains(&r.broadcast()))
        {
            return Err(invalid(
                "ip range",
                r.to_string(),
                format!("is not a subnet of {subnet}"),
            ));
        }
        let id = random_id()?;
        let mut net = Network {
            id: id.clone(),
            name: config.name.clone(),
            driver: config.driver,
            subnet,
            gateway,
            ip_range: config.ip_range,
            internal: config.internal,
            options: config.options.clone(),
            labels: config.labels.clone(),
            created: now_nanos(),
            link: String::new(),
            created_vlan: false,
            vxlan: None,
            vni: None,
            endpoints: BTreeMap::new(),
            peers: Vec::new(),
        };
        match config.driver {
            Driver::Bridge => {
                let name = match (link_name, config.options.get("bridge_name")) {
                    (_, Some(n)) => n.clone(),
                    (Some(n), None) => n.to_string(),
                    (None, None) => format!("br-{}", &id[..12]),
                };
                validate_link_name(&name)?;
                net.link = name;
                let (link, gw, internal) = (net.link.clone(), gateway, net.internal);
                let prefix = subnet.prefix_len();
                self.host.run(move || {
                    let mut nl = Netlink::open()?;
                    if nl.link(&link)?.is_some() {
                        return Err(invalid(
                            "bridge_name",
                            link.clone(),
                            "a link with that name already exists",
                        ));
                    }
                    nl.add_bridge(&link, mtu)?;
                    let res = (|| {
                        let idx = nl.index(&link)?;
                        if let Some(gw) = gw {
                            nl.add_address(idx, IpAddr::V4(gw), prefix)?;
                        }
                        write_sysctl(&sysctl_path(&link, "route_localnet"), "1")?;
                        if !internal {
                            write_sysctl("net/ipv4/ip_forward", "1")?;
                        }
                        nl.set_up(idx, true)
                    })();
                    if res.is_err() {
                        let _ = nl.del_link(&link);
                    }
                    res
                })?;
            }
            Driver::Macvlan => {
                let parent = config
                    .options
                    .get("parent")
                    .ok_or_else(|| {
                        invalid(
                            "macvlan network",
                            config.name.clone(),
                            "option \"parent\" (a host link) is required",
                        )
                    })?
                    .clone();
                validate_link_name(&parent)?;
                MacvlanMode::parse(
                    config
                        .options
                        .get("macvlan_mode")
                        .map(String::as_str)
                        .unwrap_or("bridge"),
                )?;
                net.link = parent.clone();
                net.created_vlan = self.host.run(move || {
                    let mut nl = Netlink::open()?;
                    if let Some(l) = nl.link(&parent)? {
                        nl.set_up(l.index, true)?;
                        return Ok(false);
                    }
                    let Some((base, vlan)) = parent.rsplit_once('.') else {
                        return Err(Error::LinkNotFound(parent.clone()));
                    };
                    let vlan: u16 = vlan
                        .parse()
                        .ok()
                        .filter(|v| (1..4095).contains(v))
                        .ok_or_else(|| Error::LinkNotFound(parent.clone()))?;
                    let base_idx = nl.index(base)?;
                    nl.add_vlan(&parent, base_idx, vlan)?;
                    let idx = nl.index(&parent)?;
                    nl.set_up(base_idx, true)?;
                    if let Err(e) = nl.set_up(idx, true) {
                        let _ = nl.del_link(&parent);
                        return Err(e);
                    }
                    Ok(true)
                })?;
            }
            Driver::Overlay => {
                let vni = match config.options.get("vni") {
                    Some(v) => v
                        .parse::<u32>()
                        .ok()
                        .filter(|v| (1..1 << 24).contains(v))
                        .ok_or_else(|| invalid("vni", v.clone(), "expected 1 to 16777215"))?,
                    None => 4096 + (fnv(net.name.as_bytes()) % 1_000_000) as u32,
                };
                if let Some(other) = nets.iter().find(|n| n.vni == Some(vni)) {
                    return Err(invalid(
                        "vni",
                        vni.to_string(),
                        format!("already used by network {:?}", other.name),
                    ));
                }
                let port =
                    match config.options.get("vxlan_port") {
                        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                            invalid("vxlan_port", p.clone(), "expected 1 to 65535")
                        })?,
                        None => VXLAN_PORT,
                    };
                let vtep = match config.options.get("vtep") {
                    Some(v) => Some(
                        v.parse::<Ipv4Addr>()
                            .map_err(|_| invalid("vtep", v.clone(), "expected an IPv4 address"))?,
                    ),
                    None => None,
                };
                net.link = format!("ov-{}", &id[..12]);
                net.vxlan = Some(format!("vx-{}", &id[..12]));
                net.vni = Some(vni);
                let (br, vx) = (net.link.clone(), format!("vx-{}", &id[..12]));
                // Room for the VXLAN header on a 1500-byte underlay, as Docker does.
                let mtu = Some(mtu.unwrap_or(OVERLAY_MTU));
                self.host.run(move || {
                    let mut nl = Netlink::open()?;
                    nl.add_bridge(&br, mtu)?;
                    let res = (|| {
                        nl.add_vxlan(&vx, vni, port, vtep, mtu)?;
                        let (b, v) = (nl.index(&br)?, nl.index(&vx)?);
                        nl.set_controller(v, b)?;
                        nl.set_up(v, true)?;
                        nl.set_up(b, true)
                    })();
                    if res.is_err() {
                        let _ = nl.del_link(&vx);
                        let _ = nl.del_link(&br);
                    }
                    res
                })?;
            }
        }
        let res = self.save(&net).and_then(|()| {
            let mut all = nets.clone();
            all.push(net.clone());
            self.apply_firewall(&all)
        });
        if let Err(e) = res {
            let _ = std::fs::remove_file(self.net_path(&net.id));
            let _ = self.delete_network_links(&net);
            return Err(e);
        }
        Ok(net)
    }

    fn host_routes(&self) -> Result<Vec<Ipv4Net>> {
        self.host.run(|| {
            let mut nl = Netlink::open()?;
            Ok(nl
                .routes_v4()?
                .into_iter()
                .filter_map(|(dst, len, _)| {
                    dst.filter(|_| len > 0)
                        .and_then(|d| Ipv4Net::new(d, len).ok())
                })
                .collect())
        })
    }

    fn delete_network_links(&self, net: &Network) -> Result<()> {
        let (driver, link, vx, vlan) = (
            net.driver,
            net.link.clone(),
            net.vxlan.clone(),
            net.created_vlan,
        );
        self.host.run(move || {
            let mut nl = Netlink::open()?;
            match driver {
                Driver::Bridge => {
                    nl.del_link(&link)?;
                }
                Driver::Overlay => {
                    if let Some(vx) = vx {
                        nl.del_link(&vx)?;
                    }
                    nl.del_link(&link)?;
                }
                Driver::Macvlan => {
                    if vlan {
                        nl.del_link(&link)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The default bridge network ("bridge" on link `berth0`), created when missing:
    /// 172.17.0.0/16 like Docker, or the next free pool subnet when that collides.
    pub fn ensure_default_bridge(&self) -> Result<Network> {
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        if let Ok(n) = Self::find(&mut nets, DEFAULT_BRIDGE) {
            return Ok(n.clone());
        }
        let mut used: Vec<Ipv4Net> = nets.iter().map(|n| n.subnet).collect();
        used.extend(self.host_routes()?);
        let mut cfg = NetworkConfig::bridge(DEFAULT_BRIDGE);
        cfg.subnet = Some(ipam::pick_subnet(&used)?);
        self.create_locked(cfg, Some(DEFAULT_BRIDGE_LINK))
    }

    /// Remove a network that has no containers attached.
    pub fn remove(&self, key: &str) -> Result<()> {
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        let net = Self::find(&mut nets, key)?.clone();
        if !net.endpoints.is_empty() {
            return Err(Error::NetworkInUse {
                name: net.name,
                count: net.endpoints.len(),
            });
        }
        self.delete_network_links(&net)?;
        let path = self.net_path(&net.id);
        std::fs::remove_file(&path).map_err(io(format!("remove {}", path.display())))?;
        let _ = std::fs::remove_file(self.shared_hosts_path(&net.id));
        nets.retain(|n| n.id != net.id);
        self.apply_firewall(&nets)
    }

    /// Remove every network without containers except the default bridge; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|n| n.endpoints.is_empty() && n.name != DEFAULT_BRIDGE)
            .map(|n| n.name)
            .collect();
        let mut removed = Vec::new();
        for name in names {
            match self.remove(&name) {
                Ok(()) => removed.push(name),
                Err(Error::NetworkInUse { .. }) | Err(Error::NetworkNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Attach the container `container_id`, whose network namespace is `netns`, to a network.
    pub fn connect(
        &self,
        network: &str,
        container_id: &str,
        netns: &Netns,
        opts: ConnectOptions,
    ) -> Result<Attachment> {
        validate_container_id(container_id)?;
        for n in opts.name.iter().chain(&opts.hostname).chain(&opts.aliases) {
            if !names::valid_name(n) {
                return Err(invalid("name", n.clone(), "not a valid host name"));
            }
        }
        if let Some(i) = &opts.interface {
            validate_link_name(i)?;
        }
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        let net = Self::find(&mut nets, network)?.clone();
        if net.endpoints.contains_key(container_id) {
            return Err(Error::AlreadyConnected {
                network: net.name,
                container: container_id.to_string(),
            });
        }
        if !opts.ports.is_empty() && net.driver != Driver::Bridge {
            return Err(invalid(
                "port mapping",
                opts.ports[0].to_string(),
                format!(
                    "ports can only be published on bridge networks, {:?} is {:?}",
                    net.name, net.driver
                ),
            ));
        }
        let interface = match &opts.interface {
            Some(i) => i.clone(),
            None => {
                let taken: BTreeSet<&str> = nets
                    .iter()
                    .filter_map(|n| n.endpoints.get(container_id))
                    .map(|e| e.interface.as_str())
                    .collect();
                (0..)
                    .map(|i| format!("eth{i}"))
                    .find(|n| !taken.contains(n.as_str()))
                    .unwrap_or_default()
            }
        };
        let mut used: BTreeSet<Ipv4Addr> = net.endpoints.values().map(|e| e.ip).collect();
        used.extend(net.gateway);
        used.extend(net.peers.iter().map(|p| p.ip));
        let ip = ipam::allocate(
            &net.name,
            &net.subnet,
            net.ip_range.as_ref(),
            &used,
            opts.ip,
        )?;
        let mac = opts.mac.unwrap_or_else(|| {
            let o = ip.octets();
            [0x02, 0x42, o[0], o[1], o[2], o[3]]
        });
        let ports = self.resolve_ports(&nets, container_id, &opts.ports)?;
        let gateway = if net.internal || net.driver == Driver::Overlay {
            None
        } else {
            net.gateway
        };
        let host_link = match net.driver {
            Driver::Bridge | Driver::Overlay => Some(format!(
                "vb{:011x}",
                fnv(format!("{}/{}", net.id, container_id).as_bytes()) & 0xfff_ffff_ffff
            )),
            Driver::Macvlan => None,
        };
        let mtu = net
            .options
            .get("mtu")
            .and_then(|m| m.parse::<u32>().ok())
            .or((net.driver == Driver::Overlay).then_some(OVERLAY_MTU));
        let netns_inode = netns.inode()?;
        // Kernel work: host side, then the container side; undone on failure.
        let ns_fd = netns.as_raw_fd();
        let prefix = net.subnet.prefix_len();
        let (driver, link, hl, iface) = (
            net.driver,
            net.link.clone(),
            host_link.clone(),
            interface.clone(),
        );
        let mode = MacvlanMode::parse(
            net.options
                .get("macvlan_mode")
                .map(String::as_str)
                .unwrap_or("bridge"),
        )?;
        self.host.run(|| {
            let mut nl = Netlink::open()?;
            match driver {
                Driver::Bridge | Driver::Overlay => {
                    let hl = hl.as_deref().unwrap_or_default();
                    let bridge = nl.index(&link)?;
                    nl.add_veth(hl, &iface, ns_fd, Some(mac), mtu)?;
                    let res = (|| {
                        let idx = nl.index(hl)?;
                        nl.set_controller(idx, bridge)?;
                        if !ports.is_empty() {
                            nl.set_hairpin(idx)?;
                        }
                        nl.set_up(idx, true)
                    })();
                    if res.is_err() {
                        let _ = nl.del_link(hl);
                    }
                    res
                }
                Driver::Macvlan => {
                    let parent = nl.index(&link)?;
                    nl.add_macvlan(&iface, parent, mode, ns_fd, Some(mac), mtu)
                }
            }
        })?;
        let configured = netns.run(|| {
            let mut nl = Netlink::open()?;
            let lo = nl.index("lo")?;
            nl.set_up(lo, true)?;
            let idx = nl.index(&interface)?;
            nl.add_address(idx, IpAddr::V4(ip), prefix)?;
            nl.set_up(idx, true)?;
            if let Some(gw) = gateway {
                let has_default = nl
                    .routes_v4()?
                    .iter()
                    .any(|(d, len, _)| d.is_none() && *len == 0);
                if !has_default {
                    nl.add_default_route(gw, idx)?;
                }
            }
            Ok(())
        });
        // The hosts file is the network's shared file (hard link) when this is the
        // container's only network and it has no file of its own yet; see `update_names`.
        let shared_hosts = self.shared_hosts
            && net.resolves_names()
            && !nets.iter().any(|n| n.endpoints.contains_key(container_id))
            && match std::fs::symlink_metadata(self.hosts_path(container_id)) {
                Err(_) => true,
                Ok(m) => std::fs::metadata(self.shared_hosts_path(&net.id))
                    .is_ok_and(|s| same_file(&s, &m)),
            };
        let endpoint = Endpoint {
            container_id: container_id.to_string(),
            name: opts.name.clone(),
            hostname: opts.hostname.clone(),
            aliases: opts.aliases.clone(),
            interface: interface.clone(),
            host_link: host_link.clone(),
            ip,
            mac: crate::mac_string(&mac),
            ports: ports.clone(),
            netns_path: netns.path().to_path_buf(),
            netns_inode,
            dns: opts.dns.clone(),
            dns_search: opts.dns_search.clone(),
            shared_hosts,
        };
        let stored = configured.and_then(|()| {
            let mut updated = net.clone();
            updated
                .endpoints
                .insert(container_id.to_string(), endpoint.clone());
            self.save_volatile(&updated)?;
            if let Some(slot) = nets.iter_mut().find(|n| n.id == updated.id) {
                *slot = updated;
            }
            if !ports.is_empty()
                && !self.ports_by_proxy
                && let Err(e) = if net.internal {
                    self.apply_firewall(&nets)
                } else {
                    self.add_port_rules(&nets, &ports, ip)
                }
            {
                self.save_volatile(&net)?;
                return Err(e);
            }
            Ok(())
        });
        if let Err(e) = stored {
            let _ = self.remove_endpoint_link(&net, &endpoint, Some(netns));
            return Err(e);
        }
        self.update_names(&mut nets, &net.id, container_id, true)?;
        let proxies = if self.ports_by_proxy {
            ports
                .iter()
                .map(|p| ProxySpec {
                    protocol: p.protocol,
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                    container_ip: ip,
                    container_port: p.container_port,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Attachment {
            network: net.name.clone(),
            network_id: net.id.clone(),
            container_id: container_id.to_string(),
            interface,
            ip,
            prefix_len: prefix,
            gateway,
            mac,
            ports,
            proxies,
        })
    }

    fn resolve_ports(
        &self,
        nets: &[Network],
        container_id: &str,
        wanted: &[PortMapping],
    ) -> Result<Vec<PublishedPort>> {
        let mut taken: Vec<(PublishedPort, String)> = nets
            .iter()
            .flat_map(|n| n.endpoints.values())
            .flat_map(|e| e.ports.iter().map(move |p| (*p, e.container_id.clone())))
            .collect();
        let clash = |taken: &[(PublishedPort, String)],
                     ip: Ipv4Addr,
                     port: u16,
                     proto: Protocol|
         -> Option<String> {
            taken
                .iter()
                .find(|(p, _)| {
                    p.host_port == port
                        && p.protocol == proto
                        && (p.host_ip == ip || p.host_ip.is_unspecified() || ip.is_unspecified())
                })
                .map(|(_, c)| c.clone())
        };
        let mut out = Vec::new();
        for m in wanted {
            let ip = m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let port = match m.host_port {
                HostPort::Fixed(p) => {
                    if let Some(c) = clash(&taken, ip, p, m.protocol) {
                        return Err(Error::PortInUse {
                            host_ip: ip.to_string(),
                            port: p,
                            protocol: m.protocol.to_string(),
                            container: c,
                        });
                    }
                    p
                }
                HostPort::Range(lo, hi) => (lo..=hi)
                    .find(|p| {
                        clash(&taken, ip, *p, m.protocol).is_none()
                            && self.port_bindable(ip, *p, m.protocol)
                    })
                    .ok_or_else(|| Error::PortInUse {
                        host_ip: ip.to_string(),
                        port: lo,
                        protocol: m.protocol.to_string(),
                        container: format!("(every port {lo}-{hi} is taken)"),
                    })?,
                HostPort::Random => {
                    let mut found = None;
                    for _ in 0..64 {
                        let p = self.free_port(ip, m.protocol)?;
                        if clash(&taken, ip, p, m.protocol).is_none() {
                            found = Some(p);
                            break;
                        }
                    }
                    found.ok_or_else(|| Error::PortInUse {
                        host_ip: ip.to_string(),
                        port: 0,
                        protocol: m.protocol.to_string(),
                        container: "(no free random port)".into(),
                    })?
                }
            };
            let p = PublishedPort {
                host_ip: ip,
                host_port: port,
                container_port: m.container_port,
                protocol: m.protocol,
            };
            taken.push((p, container_id.to_string()));
            out.push(p);
        }
        Ok(out)
    }

    fn free_port(&self, ip: Ipv4Addr, proto: Protocol) -> Result<u16> {
        self.host.run(move || {
            let addr = std::net::SocketAddr::from((ip, 0));
            let port = match proto {
                Protocol::Tcp => std::net::TcpListener::bind(addr).and_then(|l| l.local_addr()),
                Protocol::Udp => std::net::UdpSocket::bind(addr).and_then(|l| l.local_addr()),
            }
            .map_err(io(format!("pick a free {proto} port on {ip}")))?
            .port();
            Ok(port)
        })
    }

    fn port_bindable(&self, ip: Ipv4Addr, port: u16, proto: Protocol) -> bool {
        self.host
            .run(move || {
                let addr = std::net::SocketAddr::from((ip, port));
                Ok(match proto {
                    Protocol::Tcp => std::net::TcpListener::bind(addr).is_ok(),
                    Protocol::Udp => std::net::UdpSocket::bind(addr).is_ok(),
                })
            })
            .unwrap_or(false)
    }

    fn remove_endpoint_link(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: Option<&Netns>,
    ) -> Result<()> {
        match (net.driver, &ep.host_link) {
            (Driver::Bridge | Driver::Overlay, Some(hl)) => {
                let hl = hl.clone();
                self.host
                    .run(move || Netlink::open()?.del_link(&hl).map(|_| ()))
            }
            _ => {
                let ns = match netns {
                    Some(ns) => Some(ns.clone()),
                    None => Netns::from_path(&ep.netns_path)
                        .ok()
                        .filter(|ns| ns.inode().ok() == Some(ep.netns_inode)),
                };
                match ns {
                    Some(ns) => {
                        let iface = ep.interface.clone();
                        ns.run(move || Netlink::open()?.del_link(&iface).map(|_| ()))
                    }
                    // The namespace is gone, and the macvlan link died with it.
                    None => Ok(()),
                }
            }
        }
    }

    /// Detach a container from a network: its link, address, port rules and names go.
    pub fn disconnect(&self, network: &str, container_id: &str) -> Result<()> {
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        let net = Self::find(&mut nets, network)?.clone();
        let Some(ep) = net.endpoints.get(container_id).cloned() else {
            return Err(Error::NotConnected {
                network: net.name,
                container: container_id.to_string(),
            });
        };
        self.remove_endpoint_link(&net, &ep, None)?;
        let mut updated = net.clone();
        updated.endpoints.remove(container_id);
        self.save_volatile(&updated)?;
        if let Some(slot) = nets.iter_mut().find(|n| n.id == updated.id) {
            *slot = updated;
        }
        if !ep.ports.is_empty() && !self.ports_by_proxy {
            if net.internal {
                self.apply_firewall(&nets)?;
            } else {
                self.del_port_rules(&nets, &ep.ports, ep.ip)?;
            }
        }
        self.update_names(&mut nets, &net.id, container_id, false)
    }

    /// Detach a container from every network and delete its hosts and resolv.conf files.
    pub fn forget_container(&self, container_id: &str) -> Result<()> {
        validate_container_id(container_id)?;
        let joined: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|n| n.endpoints.contains_key(container_id))
            .map(|n| n.id)
            .collect();
        for id in joined {
            match self.disconnect(&id, container_id) {
                Ok(()) | Err(Error::NotConnected { .. }) | Err(Error::NetworkNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let dir = self.dir.join("containers").join(container_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", dir.display()))(e)),
        }
    }

    /// Tell an overlay network where a remote container lives (static FDB and ARP entries).
    pub fn add_overlay_peer(&self, network: &str, peer: OverlayPeer) -> Result<()> {
        self.overlay_peer(network, peer, false)
    }

    /// Forget a remote container of an overlay network.
    pub fn remove_overlay_peer(&self, network: &str, peer: OverlayPeer) -> Result<()> {
        self.overlay_peer(network, peer, true)
    }

    fn overlay_peer(&self, network: &str, peer: OverlayPeer, del: bool) -> Result<()> {
        let _l = self.lock()?;
        let mut nets = self.load_all()?;
        let net = Self::find(&mut nets, network)?;
        let Some(vx) = net.vxlan.clone().filter(|_| net.driver == Driver::Overlay) else {
            return Err(invalid(
                "overlay peer",
                network.to_string(),
                "network is not an overlay",
            ));
        };
        if !del && !net.subnet.contains(&peer.ip) {
            return Err(invalid(
                "overlay peer",
                peer.ip.to_string(),
                format!("is outside subnet {}", net.subnet),
            ));
        }
        self.host.run(|| {
            let mut nl = Netlink::open()?;
            let idx = nl.index(&vx)?;
            nl.add_fdb(idx, peer.mac, peer.vtep, del)?;
            nl.add_neighbour(idx, peer.ip, peer.mac, del)
        })?;
        net.peers.retain(|p| p.ip != peer.ip);
        if !del {
            net.peers.push(peer);
        }
        self.save(net)
    }

    fn apply_firewall(&self, nets: &[Network]) -> Result<()> {
        match &self.nft {
            Some(nft) => firewall::apply(
                nft,
                &self.host,
                firewall::render(nets, !self.ports_by_proxy).as_deref(),
            ),
            None => Ok(()),
        }
    }

    /// The nftables table as `nft list` shows it (empty when absent or without nft).
    pub fn firewall_rules(&self) -> Result<String> {
        match &self.nft {
            Some(nft) => firewall::list(nft, &self.host),
            None => Ok(String::new()),
        }
    }

    /// Publish `ports` of the container at `ip`: add its DNAT map elements over
    /// nf_tables netlink; when that fails (no table yet, or a table from an older
    /// layout) render and apply the whole table with `nft`.
    fn add_port_rules(
        &self,
        nets: &[Network],
        ports: &[PublishedPort],
        ip: Ipv4Addr,
    ) -> Result<()> {
        match firewall::update_ports(&self.host, ports, ip, true) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!("nftables element add failed ({e}), rewriting the table");
                self.apply_firewall(nets)
            }
        }
    }

    /// Withdraw `ports` of the container at `ip` (the reverse of `add_port_rules`).
    fn del_port_rules(
        &self,
        nets: &[Network],
        ports: &[PublishedPort],
        ip: Ipv4Addr,
    ) -> Result<()> {
        match firewall::update_ports(&self.host, ports, ip, false) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!("nftables element delete failed ({e}), rewriting the table");
                self.apply_firewall(nets)
            }
        }
    }

    /// Keep names current after `container_id` joined (`joined`) or left `net_id`.
    ///
    /// Work per change does not grow with the number of containers on the network:
    /// * the network's shared hosts file gets one line appended (join) or is rewritten
    ///   in place (leave: one file of one line per container);
    /// * containers whose only network this is see that file through a hard link
    ///   (`Endpoint::shared_hosts`), so nothing else is written for them;
    /// * containers on several networks have a private file, rewritten here (their
    ///   number is what the work grows with);
    /// * the container itself gets its own files (private hosts file or the hard link,
    ///   and resolv.conf).
    fn update_names(
        &self,
        nets: &mut [Network],
        net_id: &str,
        container_id: &str,
        joined: bool,
    ) -> Result<()> {
        let host_resolv = std::fs::read_to_string(&self.host_resolv).unwrap_or_default();
        let Some(ni) = nets.iter().position(|n| n.id == net_id) else {
            return Ok(());
        };
        let resolves = nets[ni].resolves_names();
        let shared = self.shared_hosts_path(net_id);
        let use_shared =
            resolves && (self.shared_hosts || nets[ni].endpoints.values().any(|e| e.shared_hosts));
        if use_shared {
            let appended = joined
                && match nets[ni].endpoints.get(container_id) {
                    Some(e) => append_line(&shared, &peer_entry(e))?,
                    None => false,
                };
            if !appended {
                let entries: Vec<HostEntry> = nets[ni].endpoints.values().map(peer_entry).collect();
                names::write_in_place(&shared, &names::render_hosts(&[], &entries))?;
            }
        }
        // The container joined a second network while its hosts file was the shared
        // file of its first: give it a private file from now on (a running container
        // keeps the file it has mounted until it restarts).
        let mine: Vec<usize> = (0..nets.len())
            .filter(|&i| nets[i].endpoints.contains_key(container_id))
            .collect();
        if joined && mine.len() > 1 {
            for &i in &mine {
                if i == ni {
                    continue;
                }
                if let Some(e) = nets[i].endpoints.get_mut(container_id)
                    && e.shared_hosts
                {
                    e.shared_hosts = false;
                    let _ = std::fs::remove_file(self.hosts_path(container_id));
                    self.save_volatile(&nets[i])?;
                }
            }
        }
        // Containers on this network with a private file (on several networks).
        if resolves {
            let private: Vec<String> = nets[ni]
                .endpoints
                .values()
                .filter(|e| !e.shared_hosts && e.container_id != container_id)
                .map(|e| e.container_id.clone())
                .collect();
            // A join adds one line to each (same inode, no re-render); a leave re-renders.
            let entry = nets[ni].endpoints.get(container_id).map(peer_entry);
            for cid in private {
                let appended = match (&entry, joined) {
                    (Some(e), true) => append_line(&self.hosts_path(&cid), e)?,
                    _ => false,
                };
                if !appended {
                    self.write_private_hosts(nets, &cid)?;
                }
            }
        }
        // The container itself.
        let dir = self.dir.join("containers").join(container_id);
        let hosts = self.hosts_path(container_id);
        if mine.is_empty() {
            // Not attached anywhere: keep a private file (it may be bind-mounted) but
            // drop the peers; a link to a network's shared file is just removed.
            let linked = std::fs::metadata(&shared)
                .ok()
                .zip(std::fs::metadata(&hosts).ok())
                .is_some_and(|(a, b)| same_file(&a, &b));
            if linked {
                std::fs::remove_file(&hosts).map_err(io(format!("remove {}", hosts.display())))?;
            } else if dir.exists() {
                names::write_in_place(&hosts, &names::render_hosts(&[], &[]))?;
            }
            return Ok(());
        }
        if !joined {
            // Still on other networks: its private file loses this network's names.
            if !mine.iter().any(|&i| {
                nets[i]
                    .endpoints
                    .get(container_id)
                    .is_some_and(|e| e.shared_hosts)
            }) {
                self.write_private_hosts(nets, container_id)?;
            }
            return Ok(());
        }
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let is_shared = nets[ni]
            .endpoints
            .get(container_id)
            .is_some_and(|e| e.shared_hosts);
        if is_shared {
            match std::fs::hard_link(&shared, &hosts) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(io(format!(
                        "link {} to {}",
                        hosts.display(),
                        shared.display()
                    ))(e));
                }
            }
        } else {
            self.write_private_hosts(nets, container_id)?;
        }
        let (dns, search) = mine
            .iter()
            .filter_map(|&i| nets[i].endpoints.get(container_id))
            .find(|e| !e.dns.is_empty() || !e.dns_search.is_empty())
            .map(|e| (e.dns.clone(), e.dns_search.clone()))
            .unwrap_or_default();
        names::write_in_place(
            &dir.join("resolv.conf"),
            &names::render_resolv_conf(&dns, &search, &host_resolv),
        )
    }

    /// Render the private hosts file of `cid`: its own entries, then its peers on every
    /// network that resolves names.
    fn write_private_hosts(&self, nets: &[Network], cid: &str) -> Result<()> {
        let mut own = Vec::new();
        let mut peers = Vec::new();
        for n in nets {
            let Some(e) = n.endpoints.get(cid) else {
                continue;
            };
            let mut names: Vec<String> = Vec::new();
            names.extend(e.hostname.clone());
            names.extend(e.name.clone().filter(|nm| Some(nm) != e.hostname.as_ref()));
            own.push(HostEntry { ip: e.ip, names });
            if n.resolves_names() {
                peers.extend(
                    n.endpoints
                        .values()
                        .filter(|p| p.container_id != cid)
                        .map(peer_entry),
                );
            }
        }
        let dir = self.dir.join("containers").join(cid);
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        names::write_in_place(&dir.join("hosts"), &names::render_hosts(&own, &peers))
    }
}

/// The line peers see for an endpoint: name, aliases, host name.
fn peer_entry(p: &Endpoint) -> HostEntry {
    let mut names: Vec<String> = Vec::new();
    names.extend(p.name.clone());
    for a in p.aliases.iter().chain(&p.hostname) {
        if !names.contains(a) {
            names.push(a.clone());
        }
    }
    HostEntry { ip: p.ip, names }
}

/// Append one entry to an existing hosts file (same inode, one write); `Ok(false)` when
/// the file does not exist yet.
fn append_line(path: &Path, entry: &HostEntry) -> Result<bool> {
    let mut f = match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(format!("open {}", path.display()))(e)),
    };
    if entry.names.is_empty() {
        return Ok(true);
    }
    f.write_all(format!("{}\t{}\n", entry.ip, entry.names.join(" ")).as_bytes())
        .map_err(io(format!("write {}", path.display())))?;
    Ok(true)
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Bring up loopback in `netns` and nothing else: Docker's `none` mode.
pub fn setup_none(netns: &Netns) -> Result<()> {
    netns.run(|| {
        let mut nl = Netlink::open()?;
        let lo = nl.index("lo")?;
        nl.set_up(lo, true)
    })
}

pub(crate) fn validate_network_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "network name",
            name,
            "use 1-64 of [a-zA-Z0-9_.-], starting with a letter or digit",
        ))
    }
}

fn validate_container_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "container id",
            id,
            "use 1-128 of [a-zA-Z0-9_.-], not starting with '.'",
        ))
    }
}

pub(crate) fn validate_link_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "link name",
            name,
            "use 1-15 printable characters without '/' or ':'",
        ))
    }
}

fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(io("getrandom")(std::io::Error::last_os_error()));
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
