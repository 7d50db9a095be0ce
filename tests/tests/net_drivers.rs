//! macvlan (acceptance 3) and VXLAN overlay (acceptance 4) networks, in throwaway "host"
//! namespaces: containers reach a peer at the far end of the parent link and each other;
//! private/vepa/passthru modes; an 802.1Q `parent.N` sub-interface; two hosts joined by
//! a veth underlay carry an overlay, and a different VNI stays apart.

mod net_util;

use container_net::{
    ConnectOptions, Driver, Error, NetworkConfig, Networks, OVERLAY_MTU, OverlayPeer,
};
use net_util::*;
use std::net::{Ipv4Addr, SocketAddr};

/// A veth pair `parent` (in `host`) <-> `peer_if` (in `peer`, or in `host` when `None`).
fn veth(host: &TestNs, parent: &str, peer_if: &str, peer: Option<&TestNs>) {
    match peer {
        Some(p) => ip_ok(
            &host.ns,
            &[
                "link", "add", parent, "type", "veth", "peer", "name", peer_if, "netns", &p.name,
            ],
        ),
        None => ip_ok(
            &host.ns,
            &[
                "link", "add", parent, "type", "veth", "peer", "name", peer_if,
            ],
        ),
    }
    let target = peer.map_or(&host.ns, |p| &p.ns);
    ip_ok(target, &["link", "set", peer_if, "up"]);
}

fn macvlan_net(name: &str, parent: &str, subnet: &str, mode: Option<&str>) -> NetworkConfig {
    let mut cfg = NetworkConfig::new(name, Driver::Macvlan)
        .subnet(subnet.parse().expect("cidr"))
        .option("parent", parent);
    if let Some(m) = mode {
        cfg = cfg.option("macvlan_mode", m);
    }
    cfg
}

#[test]
fn macvlan_bridge_mode_reaches_parent_peer_and_each_other() {
    if !ready(false) {
        return;
    }
    let host = TestNs::new("mh");
    let peer = TestNs::new("mp");
    veth(&host, "mvp0", "up0", Some(&peer));
    ip_ok(&peer.ns, &["addr", "add", "10.204.0.254/24", "dev", "up0"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path(), host.ns.clone()).expect("open");
    let mut cfg = macvlan_net("mvl", "mvp0", "10.204.0.0/24", None);
    cfg.gateway = Some(Ipv4Addr::new(10, 204, 0, 254));
    let net = nets.create(cfg).expect("create macvlan");
    assert_eq!(net.link, "mvp0");
    assert!(!net.created_vlan);

    let (a, b) = (TestNs::new("ma"), TestNs::new("mb"));
    let att_a = nets
        .connect("mvl", "ctr-a", &a.ns, ConnectOptions::default())
        .expect("connect a");
    let att_b = nets
        .connect("mvl", "ctr-b", &b.ns, ConnectOptions::default())
        .expect("connect b");
    assert_ne!(att_a.ip, att_b.ip);
    assert_eq!(att_a.gateway, Some(Ipv4Addr::new(10, 204, 0, 254)));
    let details = ip(&a.ns, &["-d", "link", "show", "eth0"]);
    assert!(details.contains("macvlan mode bridge"), "{details}");
    assert!(ip(&a.ns, &["-4", "route", "show"]).contains("default via 10.204.0.254"));
    // Nothing of the container's is left in the host namespace: the macvlan lives in it.
    assert_eq!(link_names(&host.ns), ["lo", "mvp0"]);

    let www = dir.path().join("www");
    let _sp = httpd(&peer.ns, &www.join("p"), 80, "from-peer");
    let _sa = httpd(&a.ns, &www.join("a"), 80, "from-a");
    let _sb = httpd(&b.ns, &www.join("b"), 80, "from-b");
    let peer_addr = SocketAddr::from(([10, 204, 0, 254], 80));
    assert_eq!(
        http_get_eventually(&a.ns, peer_addr).as_deref(),
        Some("from-peer")
    );
    assert_eq!(http_get(&b.ns, peer_addr).as_deref(), Some("from-peer"));
    assert_eq!(
        http_get_eventually(&peer.ns, SocketAddr::from((att_a.ip, 80))).as_deref(),
        Some("from-a")
    );
    assert_eq!(
        http_get_eventually(&a.ns, SocketAddr::from((att_b.ip, 80))).as_deref(),
        Some("from-b")
    );
    assert_eq!(
        http_get_eventually(&b.ns, SocketAddr::from((att_a.ip, 80))).as_deref(),
        Some("from-a")
    );

    nets.disconnect("mvl", "ctr-a").expect("disconnect a");
    assert_eq!(link_names(&a.ns), ["lo"]);
    nets.forget_container("ctr-b").expect("forget b");
    assert_eq!(link_names(&b.ns), ["lo"]);
    nets.remove("mvl").expect("remove");
    // The parent was the caller's: it stays.
    assert_eq!(link_names(&host.ns), ["lo", "mvp0"]);
}

#[test]
fn macvlan_private_vepa_passthru_and_vlan_parent() {
    if !ready(false) {
        return;
    }
    let host = TestNs::new("mh");
    let peer = TestNs::new("mp");
    veth(&host, "mvp1", "up1", Some(&peer));
    ip_ok(&peer.ns, &["addr", "add", "10.207.1.254/24", "dev", "up1"]);
    veth(&host, "mvp2", "mvq2", None);
    veth(&host, "mvp3", "mvq3", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("networks");
    let nets = Networks::open(&store, host.ns.clone()).expect("open");
    nets.create(macvlan_net(
        "priv",
        "mvp1",
        "10.207.1.0/24",
        Some("private"),
    ))
    .expect("private");
    nets.create(macvlan_net("vepa", "mvp2", "10.207.2.0/24", Some("vepa")))
        .expect("vepa");
    nets.create(macvlan_net(
        "pass",
        "mvp3",
        "10.207.3.0/24",
        Some("passthru"),
    ))
    .expect("passthru");

    // private: each reaches the outside through the parent, never each other.
    let (c, d) = (TestNs::new("mc"), TestNs::new("md"));
    let att_c = nets
        .connect("priv", "ctr-c", &c.ns, ConnectOptions::default())
        .expect("c");
    let att_d = nets
        .connect("priv", "ctr-d", &d.ns, ConnectOptions::default())
        .expect("d");
    assert!(ip(&c.ns, &["-d", "link", "show", "eth0"]).contains("macvlan mode private"));
    let www = dir.path().join("www");
    let _sp = httpd(&peer.ns, &www.join("p"), 80, "from-peer");
    let _sc = httpd(&c.ns, &www.join("c"), 80, "from-c");
    let _sd = httpd(&d.ns, &www.join("d"), 80, "from-d");
    assert_eq!(
        http_get_eventually(&c.ns, SocketAddr::from(([10, 207, 1, 254], 80))).as_deref(),
        Some("from-peer")
    );
    assert_eq!(
        http_get_eventually(&peer.ns, SocketAddr::from((att_d.ip, 80))).as_deref(),
        Some("from-d")
    );
    assert_eq!(
        http_get(&c.ns, SocketAddr::from((att_d.ip, 80))),
        None,
        "private macvlans talked to each other"
    );
    let _ = att_c;

    // vepa and passthru: created in their mode; passthru takes the parent alone.
    let (e, f, g) = (TestNs::new("me"), TestNs::new("mf"), TestNs::new("mg"));
    nets.connect("vepa", "ctr-e", &e.ns, ConnectOptions::default())
        .expect("vepa connect");
    assert!(ip(&e.ns, &["-d", "link", "show", "eth0"]).contains("macvlan mode vepa"));
    nets.connect("pass", "ctr-f", &f.ns, ConnectOptions::default())
        .expect("passthru connect");
    assert!(ip(&f.ns, &["-d", "link", "show", "eth0"]).contains("macvlan mode passthru"));
    let err = nets
        .connect("pass", "ctr-g", &g.ns, ConnectOptions::default())
        .expect_err("a second passthru macvlan on one parent");
    assert!(matches!(err, Error::Netlink { .. }), "{err}");
    assert_eq!(link_names(&g.ns), ["lo"]);
    assert!(
        !nets
            .inspect("pass")
            .expect("inspect")
            .endpoints
            .contains_key("ctr-g")
    );

    // 802.1Q: parent "mvp2.50" is created on mvp2 and removed with the network. This
    // kernel may lack 8021q: then the create fails with the kernel's answer and leaves
    // neither a link nor a definition behind.
    let before = store_files(&store);
    match nets.create(macvlan_net("tagged", "mvp2.50", "10.207.50.0/24", None)) {
        Ok(net) => {
            assert!(net.created_vlan);
            assert!(link_names(&host.ns).contains(&"mvp2.50".to_string()));
            let h = TestNs::new("mh2");
            nets.connect("tagged", "ctr-h", &h.ns, ConnectOptions::default())
                .expect("connect on vlan");
            assert!(ip(&host.ns, &["-d", "link", "show", "mvp2.50"]).contains("vlan"));
            nets.disconnect("tagged", "ctr-h").expect("disconnect");
            nets.remove("tagged").expect("remove tagged");
            assert!(!link_names(&host.ns).contains(&"mvp2.50".to_string()));
        }
        Err(e) => {
            eprintln!("kernel without 802.1Q: {e}");
            assert!(
                matches!(&e, Error::Netlink { op, .. } if op.contains("vlan mvp2.50")),
                "{e}"
            );
            assert!(!link_names(&host.ns).contains(&"mvp2.50".to_string()));
            assert_eq!(store_files(&store), before);
        }
    }
    // A vlan sub-interface of a link that does not exist: unknown parent.
    assert!(matches!(
        nets.create(macvlan_net("ghost", "nosuch0.7", "10.207.60.0/24", None)),
        Err(Error::LinkNotFound(l)) if l == "nosuch0"
    ));

    for (n, cid) in [
        ("priv", "ctr-c"),
        ("priv", "ctr-d"),
        ("vepa", "ctr-e"),
        ("pass", "ctr-f"),
    ] {
        nets.disconnect(n, cid).expect("disconnect");
    }
    for ns in [&c, &d, &e, &f] {
        assert_eq!(link_names(&ns.ns), ["lo"]);
    }
    assert_eq!(nets.prune().expect("prune").len(), 3);
    assert_eq!(store_files(&store), ["containers", "lock", "names"]);
}

/// Two "hosts" joined by a veth underlay (10.250.0.1 <-> 10.250.0.2).
fn two_hosts() -> (TestNs, TestNs) {
    let (h1, h2) = (TestNs::new("oh1"), TestNs::new("oh2"));
    veth(&h1, "ul0", "ul0", Some(&h2));
    ip_ok(&h1.ns, &["addr", "add", "10.250.0.1/24", "dev", "ul0"]);
    ip_ok(&h1.ns, &["link", "set", "ul0", "up"]);
    ip_ok(&h2.ns, &["addr", "add", "10.250.0.2/24", "dev", "ul0"]);
    (h1, h2)
}

fn overlay(name: &str, vni: u32, vtep: &str, range: &str) -> NetworkConfig {
    let mut cfg = NetworkConfig::new(name, Driver::Overlay)
        .subnet("10.210.0.0/24".parse().expect("cidr"))
        .option("vni", &vni.to_string())
        .option("vtep", vtep);
    cfg.ip_range = Some(range.parse().expect("range"));
    cfg
}

fn peer_of(att: &container_net::Attachment, vtep: [u8; 4]) -> OverlayPeer {
    OverlayPeer {
        ip: att.ip,
        mac: att.mac,
        vtep: Ipv4Addr::from(vtep),
    }
}

#[test]
fn overlay_across_two_hosts_and_vni_isolation() {
    if !ready(false) {
        return;
    }
    let (h1, h2) = two_hosts();
    let (d1, d2, d3) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    // Each host has its own store; the caller moves peer lists between them.
    let s1 = Networks::open(d1.path(), h1.ns.clone()).expect("open 1");
    let s2 = Networks::open(d2.path(), h2.ns.clone()).expect("open 2");
    let n1 = s1
        .create(overlay("ov", 100, "10.250.0.1", "10.210.0.0/26"))
        .expect("overlay on h1");
    s2.create(overlay("ov", 100, "10.250.0.2", "10.210.0.64/26"))
        .expect("overlay on h2");
    assert_eq!(n1.vni, Some(100));
    assert_eq!(n1.gateway, None);
    let vx = n1.vxlan.clone().expect("vxlan link");
    let vx_details = ip(&h1.ns, &["-d", "link", "show", &vx]);
    assert!(
        vx_details.contains("vxlan id 100") && vx_details.contains("local 10.250.0.1"),
        "{vx_details}"
    );
    assert!(
        vx_details.contains(&format!("mtu {OVERLAY_MTU}")),
        "{vx_details}"
    );

    let (a, b) = (TestNs::new("oa"), TestNs::new("ob"));
    let att_a = s1
        .connect("ov", "ctr-a", &a.ns, ConnectOptions::default())
        .expect("a on h1");
    let att_b = s2
        .connect("ov", "ctr-b", &b.ns, ConnectOptions::default())
        .expect("b on h2");
    assert_ne!(att_a.ip, att_b.ip);
    assert!(ip(&a.ns, &["link", "show", "eth0"]).contains(&format!("mtu {OVERLAY_MTU}")));
    s1.add_overlay_peer("ov", peer_of(&att_b, [10, 250, 0, 2]))
        .expect("peer b on h1");
    s2.add_overlay_peer("ov", peer_of(&att_a, [10, 250, 0, 1]))
        .expect("peer a on h2");
    assert_eq!(s1.inspect("ov").expect("inspect").peers.len(), 1);

    // A body bigger than one frame, so MTU trouble would show.
    let big = "overlay-".repeat(20_000);
    let www = dir_of(&d1, "www");
    let _sa = httpd(&a.ns, &www.join("a"), 80, &big);
    let _sb = httpd(&b.ns, &www.join("b"), 80, "from-b");
    assert_eq!(
        http_get_eventually(&a.ns, SocketAddr::from((att_b.ip, 80))).as_deref(),
        Some("from-b")
    );
    assert_eq!(
        http_get_eventually(&b.ns, SocketAddr::from((att_a.ip, 80))).as_deref(),
        Some(big.as_str())
    );

    // A container on VNI 200 with an address in the same subnet, on h2. Each side even
    // has an FDB entry pointing at the other's host: frames arrive with the wrong VNI.
    let s3 = Networks::open(d3.path(), h2.ns.clone()).expect("open 3");
    s3.create(overlay("other", 200, "10.250.0.2", "10.210.0.128/26"))
        .expect("vni 200");
    let c = TestNs::new("oc");
    let att_c = s3
        .connect("other", "ctr-c", &c.ns, ConnectOptions::default())
        .expect("c on vni 200");
    s3.add_overlay_peer("other", peer_of(&att_a, [10, 250, 0, 1]))
        .expect("peer a on vni 200");
    s1.add_overlay_peer("ov", peer_of(&att_c, [10, 250, 0, 2]))
        .expect("peer c on vni 100");
    let _sc = httpd(&c.ns, &www.join("c"), 80, "from-c");
    assert_eq!(
        http_get(&a.ns, SocketAddr::from((att_c.ip, 80))),
        None,
        "VNI 100 reached VNI 200"
    );
    assert_eq!(
        http_get(&c.ns, SocketAddr::from((att_a.ip, 80))),
        None,
        "VNI 200 reached VNI 100"
    );
    // Still fine on the right VNI.
    assert_eq!(
        http_get(&a.ns, SocketAddr::from((att_b.ip, 80))).as_deref(),
        Some("from-b")
    );

    // Peers outside the subnet are refused; removing a peer cuts the path.
    assert!(matches!(
        s1.add_overlay_peer(
            "ov",
            OverlayPeer {
                ip: Ipv4Addr::new(10, 99, 0, 1),
                mac: [2, 0, 0, 0, 0, 1],
                vtep: Ipv4Addr::new(10, 250, 0, 2)
            }
        ),
        Err(Error::Invalid { .. })
    ));
    s1.remove_overlay_peer("ov", peer_of(&att_b, [10, 250, 0, 2]))
        .expect("remove peer");
    assert_eq!(http_get(&a.ns, SocketAddr::from((att_b.ip, 80))), None);

    for (s, n, cid) in [
        (&s1, "ov", "ctr-a"),
        (&s2, "ov", "ctr-b"),
        (&s3, "other", "ctr-c"),
    ] {
        s.disconnect(n, cid).expect("disconnect");
        s.remove(n).expect("remove");
    }
    assert_eq!(link_names(&h1.ns), ["lo", "ul0"]);
    assert_eq!(link_names(&h2.ns), ["lo", "ul0"]);
}

fn dir_of(d: &tempfile::TempDir, sub: &str) -> std::path::PathBuf {
    d.path().join(sub)
}
