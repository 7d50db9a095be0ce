//! Published ports (acceptance 2), in a throwaway "host" namespace: nftables DNAT on the
//! host's 127.0.0.1 and bridge-facing address, from a peer container (hairpin), fixed,
//! range and random host ports, UDP, rules gone after disconnect and the table gone with
//! the last network; the same through the userland proxy.

mod net_util;

use container_net::{
    ConnectOptions, Error, HostPort, NetworkConfig, Networks, Options, PortBackend, PortMapping,
    Protocol, Proxy,
};
use net_util::*;
use std::net::{Ipv4Addr, SocketAddr};

fn ports(specs: &[&str]) -> Vec<PortMapping> {
    specs
        .iter()
        .flat_map(|s| PortMapping::parse(s).expect("port spec"))
        .collect()
}

#[test]
fn published_ports_through_nftables() {
    if !ready(true) {
        return;
    }
    let host = TestNs::new("ph");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(&dir.path().join("networks"), host.ns.clone()).expect("open");
    assert!(nets.uses_nftables());
    let net = nets
        .create(NetworkConfig::bridge("pub").subnet("10.203.0.0/24".parse().expect("cidr")))
        .expect("create");
    let gw = net.gateway.expect("gateway");

    // The first port of the range is held by a host process: the next one is picked.
    let holder = host
        .ns
        .run(|| Ok(std::net::TcpListener::bind(("0.0.0.0", 18100)).expect("hold 18100")))
        .expect("in host");
    let a = TestNs::new("pa");
    let att = nets
        .connect(
            "pub",
            "ctr-a",
            &a.ns,
            ConnectOptions {
                name: Some("a".into()),
                ports: ports(&[
                    "18080:80",
                    "18100-18110:81",
                    "127.0.0.1::82",
                    "18053:53/udp",
                ]),
                ..Default::default()
            },
        )
        .expect("connect with ports");
    drop(holder);
    assert!(att.proxies.is_empty(), "nftables in use: no proxies");
    let by_cport = |cp: u16, proto: Protocol| {
        att.ports
            .iter()
            .find(|p| p.container_port == cp && p.protocol == proto)
            .copied()
            .expect("published port")
    };
    assert_eq!(by_cport(80, Protocol::Tcp).host_port, 18080);
    assert_eq!(
        by_cport(81, Protocol::Tcp).host_port,
        18101,
        "first free port of the range"
    );
    let random = by_cport(82, Protocol::Tcp);
    assert_ne!(random.host_port, 0);
    assert_eq!(random.host_ip, Ipv4Addr::LOCALHOST);
    assert_eq!(by_cport(53, Protocol::Udp).host_port, 18053);

    let www = dir.path().join("www");
    let _s80 = httpd(&a.ns, &www.join("80"), 80, "port-80");
    let _s81 = httpd(&a.ns, &www.join("81"), 81, "port-81");
    let _s82 = httpd(&a.ns, &www.join("82"), 82, "port-82");
    let _udp = UdpEcho::start(&a.ns, 53, "echo:");

    let lo = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
    let bridge = |p: u16| SocketAddr::from((gw, p));
    // Host's 127.0.0.1 and the host's bridge-facing address.
    assert_eq!(
        http_get_eventually(&host.ns, lo(18080)).as_deref(),
        Some("port-80")
    );
    assert_eq!(
        http_get(&host.ns, bridge(18080)).as_deref(),
        Some("port-80")
    );
    assert_eq!(
        http_get_eventually(&host.ns, lo(18101)).as_deref(),
        Some("port-81")
    );
    assert_eq!(
        http_get_eventually(&host.ns, lo(random.host_port)).as_deref(),
        Some("port-82")
    );
    assert_eq!(
        http_get(&host.ns, bridge(random.host_port)),
        None,
        "a port published on 127.0.0.1 only answered on the bridge address"
    );
    assert_eq!(
        udp_query(&host.ns, lo(18053), "ping").as_deref(),
        Some("echo:ping")
    );
    assert_eq!(
        udp_query(&host.ns, bridge(18053), "pong").as_deref(),
        Some("echo:pong")
    );
    // Another container on the bridge, and the container itself (hairpin), reach it
    // through the host's address.
    let b = TestNs::new("pb");
    nets.connect("pub", "ctr-b", &b.ns, ConnectOptions::default())
        .expect("connect b");
    assert_eq!(http_get(&b.ns, bridge(18080)).as_deref(), Some("port-80"));
    assert_eq!(http_get(&a.ns, bridge(18080)).as_deref(), Some("port-80"));

    // A port already published is refused, and b keeps only what it had.
    let c = TestNs::new("pc");
    let err = nets
        .connect(
            "pub",
            "ctr-c",
            &c.ns,
            ConnectOptions {
                ports: ports(&["18080:8080"]),
                ..Default::default()
            },
        )
        .expect_err("port in use");
    assert!(
        matches!(&err, Error::PortInUse { port: 18080, container, .. } if container == "ctr-a"),
        "{err}"
    );
    assert_eq!(link_names(&c.ns), ["lo"]);
    assert!(
        !nets
            .inspect("pub")
            .expect("inspect")
            .endpoints
            .contains_key("ctr-c")
    );

    // The rules live in the throwaway host namespace, never in the real one.
    let rules = nets.firewall_rules().expect("rules");
    // Ports are elements of the DNAT maps: `addr . proto . port : ip . port`.
    assert!(
        rules.contains("tcp . 18080 : 10.203.0.") && rules.contains("dnat"),
        "{rules}"
    );
    assert!(rules.contains("udp . 18053 : 10.203.0."), "{rules}");
    assert!(
        !real_host_berth_table().contains("10.203.0."),
        "rules leaked into the real host namespace"
    );

    // Disconnect: the port rules vanish and the ports stop answering.
    nets.disconnect("pub", "ctr-a").expect("disconnect a");
    let rules = nets.firewall_rules().expect("rules");
    assert!(
        !rules.contains("18080") && !rules.contains("18053") && !rules.contains("elements"),
        "{rules}"
    );
    assert_eq!(http_get(&host.ns, lo(18080)), None);
    assert_eq!(udp_query(&host.ns, lo(18053), "late"), None);
    // The freed port can be published again.
    let again = nets
        .connect(
            "pub",
            "ctr-c",
            &c.ns,
            ConnectOptions {
                ports: ports(&["18080:80"]),
                ..Default::default()
            },
        )
        .expect("port free again");
    assert_eq!(again.ports[0].host_port, 18080);
    nets.disconnect("pub", "ctr-c").expect("disconnect c");
    nets.disconnect("pub", "ctr-b").expect("disconnect b");
    // The table goes with the last network.
    nets.remove("pub").expect("remove");
    assert_eq!(
        nets.firewall_rules().expect("rules"),
        "",
        "table left behind"
    );
    assert_eq!(link_names(&host.ns), ["lo"]);
}

#[test]
fn published_ports_through_userland_proxy() {
    if !ready(false) {
        return;
    }
    let host = TestNs::new("qh");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open_with(
        dir.path(),
        host.ns.clone(),
        Options {
            ports: PortBackend::Proxy,
            ..Default::default()
        },
    )
    .expect("open");
    assert!(!nets.uses_nftables());
    let net = nets
        .create(NetworkConfig::bridge("prox").subnet("10.206.0.0/24".parse().expect("cidr")))
        .expect("create");
    let gw = net.gateway.expect("gateway");
    let a = TestNs::new("qa");
    let att = nets
        .connect(
            "prox",
            "ctr-a",
            &a.ns,
            ConnectOptions {
                ports: ports(&["18080:80", ":82", "18053:53/udp"]),
                ..Default::default()
            },
        )
        .expect("connect");
    assert_eq!(att.proxies.len(), 3);
    let random = att
        .ports
        .iter()
        .find(|p| p.container_port == 82)
        .expect("port 82");
    assert!(matches!(
        PortMapping::parse(":82").expect("spec")[0].host_port,
        HostPort::Random
    ));
    assert!(
        !nets.firewall_rules().expect("rules").contains("dnat"),
        "proxy mode must not install DNAT rules"
    );
    let www = dir.path().join("www");
    let _s80 = httpd(&a.ns, &www.join("80"), 80, "proxied-80");
    let _s82 = httpd(&a.ns, &www.join("82"), 82, "proxied-82");
    let _udp = UdpEcho::start(&a.ns, 53, "echo:");
    let lo = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));

    // Before the proxy runs nothing answers on the host.
    assert_eq!(http_get(&host.ns, lo(18080)), None);
    let proxy = Proxy::start(&att.proxies, &host.ns).expect("start proxy");
    assert_eq!(
        http_get_eventually(&host.ns, lo(18080)).as_deref(),
        Some("proxied-80")
    );
    assert_eq!(
        http_get(&host.ns, SocketAddr::from((gw, 18080))).as_deref(),
        Some("proxied-80")
    );
    assert_eq!(
        http_get(&host.ns, lo(random.host_port)).as_deref(),
        Some("proxied-82")
    );
    assert_eq!(
        udp_query(&host.ns, lo(18053), "ping").as_deref(),
        Some("echo:ping")
    );
    // A second proxy for the same port cannot bind: typed error, the first keeps working.
    assert!(matches!(
        Proxy::start(&att.proxies[..1], &host.ns),
        Err(Error::Io { .. })
    ));
    drop(proxy);
    assert_eq!(http_get(&host.ns, lo(18080)), None, "proxy still answering");
    nets.disconnect("prox", "ctr-a").expect("disconnect");
    assert!(nets.inspect("prox").expect("inspect").endpoints.is_empty());
    nets.remove("prox").expect("remove");
    assert_eq!(nets.firewall_rules().expect("rules"), "");
    assert_eq!(link_names(&host.ns), ["lo"]);
}
