//! A small synchronous rtnetlink client over `netlink-sys` and `netlink-packet-route`.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, so
//! to configure another namespace open a [`Netlink`] inside [`crate::Netns::run`].

use crate::error::{Error, Result};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoMacVlan, InfoPortData, InfoPortKind,
    InfoVeth, InfoVlan, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

/// macvlan modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Sub-interfaces of one parent talk to each other directly.
    Bridge,
    /// No traffic between sub-interfaces.
    Private,
    /// Traffic between sub-interfaces goes through the external switch.
    Vepa,
    /// One sub-interface takes over the parent.
    Passthru,
}

impl MacvlanMode {
    /// Parse `bridge|private|vepa|passthru`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bridge" => Ok(Self::Bridge),
            "private" => Ok(Self::Private),
            "vepa" => Ok(Self::Vepa),
            "passthru" => Ok(Self::Passthru),
            _ => Err(crate::error::invalid(
                "macvlan mode",
                s,
                "expected bridge, private, vepa or passthru",
            )),
        }
    }
    fn kernel(self) -> MacVlanMode {
        match self {
            Self::Bridge => MacVlanMode::Bridge,
            Self::Private => MacVlanMode::Private,
            Self::Vepa => MacVlanMode::Vepa,
            Self::Passthru => MacVlanMode::Passthrough,
        }
    }
}

/// An IPv4 route: destination (`None` for default), prefix length, gateway.
pub type RouteV4 = (Option<Ipv4Addr>, u8, Option<Ipv4Addr>);

/// What [`Netlink::link`] reports about a link.
#[derive(Debug, Clone)]
pub struct LinkDesc {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Hardware address.
    pub mac: Vec<u8>,
    /// MTU.
    pub mtu: u32,
    /// Whether IFF_UP is set.
    pub up: bool,
    /// Index of the bridge it is enslaved to.
    pub controller: Option<u32>,
    /// `veth`, `bridge`, `vxlan`, `macvlan`, …
    pub kind: Option<String>,
}

/// A netlink route socket in the calling thread's network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let op = || "open socket".to_string();
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|source| Error::Netlink { op: op(), source })?;
        socket
            .bind_auto()
            .map_err(|source| Error::Netlink { op: op(), source })?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|source| Error::Netlink { op: op(), source })?;
        let _ = socket.set_ext_ack(true);
        Ok(Netlink {
            socket,
            seq: 1,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        self.seq = self.seq.wrapping_add(1);
        header.sequence_number = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        if !dump {
            header.flags |= NLM_F_ACK;
        }
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        let err = |source| Error::Netlink {
            op: op.to_string(),
            source,
        };
        self.socket.send(&out, 0).map_err(err)?;
        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            let n = self
                .socket
                .recv(&mut self.buf, 0)
                .map_err(|source| Error::Netlink {
                    op: op.to_string(),
                    source,
                })?;
            let mut offset = 0;
            while offset < n {
                let bytes = &self.buf[offset..n];
                let reply =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(|e| {
                        Error::NetlinkDecode {
                            op: op.to_string(),
                            detail: e.to_string(),
                        }
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        if e.code.is_none() {
                            return Ok(replies);
                        }
                        return Err(Error::Netlink {
                            op: op.to_string(),
                            source: e.to_io(),
                        });
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        replies.push(m);
                        if !dump {
                            // A non-dump request still ends with its ACK.
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// All links.
    pub fn links(&mut self) -> Result<Vec<LinkDesc>> {
        let msgs = self.request(
            "list links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(describe(l)),
                _ => None,
            })
            .collect())
    }

    /// The link named `name`, if any.
    pub fn link(&mut self, name: &str) -> Result<Option<LinkDesc>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            &format!("get link {name}"),
            RouteNetlinkMessage::GetLink(msg),
            0,
        ) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(describe(l)),
                _ => None,
            })),
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The index of link `name`, or [`Error::LinkNotFound`].
    pub fn index(&mut self, name: &str) -> Result<u32> {
        self.link(name)?
            .map(|l| l.index)
            .ok_or_else(|| Error::LinkNotFound(name.to_string()))
    }

    fn new_link(&mut self, op: &str, msg: LinkMessage) -> Result<()> {
        self.request(
            op,
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
    }

    /// Create a bridge.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::ForwardDelay(0)])),
        ]));
        self.new_link(&format!("create bridge {name}"), msg)
    }

    /// Create a veth pair: `host_name` here, `peer_name` in the namespace `peer_ns` (fd).
    pub fn add_veth(
        &mut self,
        host_name: &str,
        peer_name: &str,
        peer_ns: RawFd,
        peer_mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes.push(LinkAttribute::NetNsFd(peer_ns));
        if let Some(mac) = peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.new_link(&format!("create veth {host_name} <-> {peer_name}"), msg)
    }

    /// Create a macvlan on `parent` (index here), placed as `name` in namespace `ns` (fd).
    pub fn add_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        mode: MacvlanMode,
        ns: RawFd,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::NetNsFd(ns));
        if let Some(mac) = mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode.kernel())])),
        ]));
        self.new_link(&format!("create macvlan {name} on link #{parent}"), msg)
    }

    /// Create an 802.1Q sub-interface `name` of `parent` with `vlan` id.
    pub fn add_vlan(&mut self, name: &str, parent: u32, vlan: u16) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vlan),
            LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vlan)])),
        ]));
        self.new_link(&format!("create vlan {name} (id {vlan})"), msg)
    }

    /// Create a VXLAN device with static forwarding (no learning, ARP proxy on).
    pub fn add_vxlan(
        &mut self,
        name: &str,
        vni: u32,
        port: u16,
        local: Option<Ipv4Addr>,
        mtu: Option<u32>,
    ) -> Result<()> {
        let mut data = vec![
            InfoVxlan::Id(vni),
            InfoVxlan::Port(port),
            InfoVxlan::Learning(false),
            InfoVxlan::Proxy(true),
        ];
        if let Some(local) = local {
            data.push(InfoVxlan::Local(local));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.new_link(&format!("create vxlan {name} (vni {vni})"), msg)
    }

    fn set_link(&mut self, op: &str, index: u32, f: impl FnOnce(&mut LinkMessage)) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        f(&mut msg);
        self.request(op, RouteNetlinkMessage::NewLink(msg), 0)
            .map(|_| ())
    }

    /// Set a link up (or down).
    pub fn set_up(&mut self, index: u32, up: bool) -> Result<()> {
        self.set_link(&format!("set link #{index} up={up}"), index, |m| {
            if up {
                m.header.flags = LinkFlags::Up;
            }
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Enslave a link to a bridge.
    pub fn set_controller(&mut self, index: u32, bridge: u32) -> Result<()> {
        self.set_link(
            &format!("attach link #{index} to bridge #{bridge}"),
            index,
            |m| {
                m.attributes.push(LinkAttribute::Controller(bridge));
            },
        )
    }

    /// Turn hairpin mode on for a bridge port, so a container reaches itself through a published port.
    pub fn set_hairpin(&mut self, index: u32) -> Result<()> {
        self.set_link(&format!("hairpin on link #{index}"), index, |m| {
            m.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                    true,
                )])),
            ]));
        })
    }

    /// Rename a link (it must be down).
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        self.set_link(&format!("rename link #{index} to {name}"), index, |m| {
            m.attributes.push(LinkAttribute::IfName(name.to_string()));
        })
    }

    /// Set a link's MTU.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        self.set_link(&format!("set mtu of link #{index} to {mtu}"), index, |m| {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        })
    }

    /// Move a link into the namespace `ns` (fd).
    pub fn move_to_netns(&mut self, index: u32, ns: RawFd) -> Result<()> {
        self.set_link(&format!("move link #{index} to netns"), index, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(ns));
        })
    }

    /// Delete a link; `Ok(false)` when it did not exist.
    pub fn del_link(&mut self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name)? else {
            return Ok(false);
        };
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        match self.request(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        ) {
            Ok(_) => Ok(true),
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Add `addr/prefix` to link `index`.
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr);
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        if let IpAddr::V4(v4) = addr {
            let bits = u32::from(v4);
            let host_mask = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
            msg.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(
                    bits | host_mask,
                )));
        }
        self.request(
            &format!("add address {addr}/{prefix} to link #{index}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
    }

    /// Addresses on link `index`.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(IpAddr, u8)>> {
        let msgs = self.request(
            "list addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let prefix = a.header.prefix_len;
                    a.attributes.into_iter().find_map(|at| match at {
                        AddressAttribute::Address(ip) => Some((ip, prefix)),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Add a default route via `gateway` (IPv4) on link `index`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, index: u32) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.request(
            &format!("add default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
    }

    /// IPv4 routes of the main table as (destination, prefix, gateway).
    pub fn routes_v4(&mut self) -> Result<Vec<RouteV4>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request(
            "list routes",
            RouteNetlinkMessage::GetRoute(req),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN =>
                {
                    let mut dst = None;
                    let mut gw = None;
                    for a in &r.attributes {
                        match a {
                            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
                            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                            _ => {}
                        }
                    }
                    Some((dst, r.header.destination_prefix_length, gw))
                }
                _ => None,
            })
            .collect())
    }

    /// Static bridge FDB entry on a VXLAN device: frames to `mac` go to VTEP `dst`.
    pub fn add_fdb(&mut self, vxlan: u32, mac: [u8; 6], dst: Ipv4Addr, del: bool) -> Result<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = vxlan;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        self.neigh_request(
            &format!("fdb {} dst {dst}", crate::mac_string(&mac)),
            msg,
            del,
        )
    }

    /// Permanent neighbour (ARP) entry `ip -> mac` on link `index`.
    pub fn add_neighbour(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        mac: [u8; 6],
        del: bool,
    ) -> Result<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.neigh_request(
            &format!("neighbour {ip} lladdr {}", crate::mac_string(&mac)),
            msg,
            del,
        )
    }

    fn neigh_request(&mut self, op: &str, msg: NeighbourMessage, del: bool) -> Result<()> {
        if del {
            match self.request(
                &format!("delete {op}"),
                RouteNetlinkMessage::DelNeighbour(msg),
                0,
            ) {
                Err(Error::Netlink { source, .. })
                    if source.raw_os_error() == Some(libc::ENOENT) =>
                {
                    Ok(())
                }
                r => r.map(|_| ()),
            }
        } else {
            self.request(
                &format!("add {op}"),
                RouteNetlinkMessage::NewNeighbour(msg),
                NLM_F_CREATE | NLM_F_APPEND,
            )
            .map(|_| ())
        }
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn describe(l: LinkMessage) -> LinkDesc {
    let mut d = LinkDesc {
        index: l.header.index,
        name: String::new(),
        mac: Vec::new(),
        mtu: 0,
        up: l.header.flags.contains(LinkFlags::Up),
        controller: None,
        kind: None,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => d.name = n,
            LinkAttribute::Address(m) => d.mac = m,
            LinkAttribute::Mtu(m) => d.mtu = m,
            LinkAttribute::Controller(c) => d.controller = Some(c),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        d.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    d
}
