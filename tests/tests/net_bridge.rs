//! container-net bridge networks in a throwaway "host" namespace: addresses and names
//! across a user bridge, isolation between bridges, internal networks, none and
//! container: modes, hosts files kept current, list/inspect/remove/prune.

mod net_util;

use container_net::{
    ConnectOptions, Driver, Netns, NetworkConfig, NetworkMode, Networks, setup_none,
};
use net_util::*;
use std::net::SocketAddr;

fn opts(name: &str) -> ConnectOptions {
    ConnectOptions {
        name: Some(name.into()),
        hostname: Some(name.into()),
        ..Default::default()
    }
}

#[test]
fn user_bridge_addresses_names_isolation_and_internal() {
    if !ready(true) {
        return;
    }
    let host = TestNs::new("bh");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(&dir.path().join("networks"), host.ns.clone()).expect("open");
    let front = nets
        .create(NetworkConfig::bridge("front").subnet("10.201.0.0/24".parse().expect("cidr")))
        .expect("create front");
    nets.create(NetworkConfig::bridge("back").subnet("10.202.0.0/24".parse().expect("cidr")))
        .expect("create back");
    let mut internal = NetworkConfig::bridge("sealed");
    internal.internal = true;
    nets.create(internal).expect("create internal");

    let (a, b, c, d) = (
        TestNs::new("ca"),
        TestNs::new("cb"),
        TestNs::new("cc"),
        TestNs::new("cd"),
    );
    let att_a = nets
        .connect("front", "ctr-a", &a.ns, opts("alpha"))
        .expect("connect a");
    let att_b = nets
        .connect(
            "front",
            "ctr-b",
            &b.ns,
            ConnectOptions {
                aliases: vec!["db".into()],
                ..opts("beta")
            },
        )
        .expect("connect b");
    let att_c = nets
        .connect("back", "ctr-c", &c.ns, opts("gamma"))
        .expect("connect c");
    let att_d = nets
        .connect("sealed", "ctr-d", &d.ns, opts("delta"))
        .expect("connect d");
    assert_eq!(att_a.interface, "eth0");
    assert_eq!(att_a.gateway, front.gateway);
    assert_ne!(att_a.ip, att_b.ip);
    assert!(front.subnet.contains(&att_a.ip) && front.subnet.contains(&att_b.ip));
    assert_eq!(att_d.gateway, None, "internal network has no gateway route");
    assert!(
        !ip(&d.ns, &["-4", "route", "show"]).contains("default"),
        "internal: no default route"
    );
    assert!(
        ip(&a.ns, &["-4", "route", "show"]).contains("default via"),
        "bridge: default route"
    );
    assert!(
        ip(&a.ns, &["-o", "link", "show", "eth0"]).contains(&container_net::mac_string(&att_a.mac))
    );

    let www = dir.path().join("www");
    let _sa = httpd(&a.ns, &www.join("a"), 80, "from-a");
    let _sb = httpd(&b.ns, &www.join("b"), 80, "from-b");
    let _sc = httpd(&c.ns, &www.join("c"), 80, "from-c");
    let _sd = httpd(&d.ns, &www.join("d"), 80, "from-d");
    // By address, both ways.
    assert_eq!(
        http_get_eventually(&a.ns, SocketAddr::from((att_b.ip, 80))).as_deref(),
        Some("from-b")
    );
    assert_eq!(
        http_get_eventually(&b.ns, SocketAddr::from((att_a.ip, 80))).as_deref(),
        Some("from-a")
    );
    // By name and alias, both ways, through the generated hosts files.
    assert_eq!(
        wget_by_name(&a.ns, &nets.hosts_path("ctr-a"), "beta", 80).as_deref(),
        Some("from-b")
    );
    assert_eq!(
        wget_by_name(&a.ns, &nets.hosts_path("ctr-a"), "db", 80).as_deref(),
        Some("from-b")
    );
    assert_eq!(
        wget_by_name(&b.ns, &nets.hosts_path("ctr-b"), "alpha", 80).as_deref(),
        Some("from-a")
    );
    // The host reaches all of them; another bridge and the internal one cannot.
    assert_eq!(
        http_get_eventually(&host.ns, SocketAddr::from((att_c.ip, 80))).as_deref(),
        Some("from-c")
    );
    assert_eq!(
        http_get(&c.ns, SocketAddr::from((att_a.ip, 80))),
        None,
        "other bridge reached front"
    );
    assert_eq!(
        http_get(&a.ns, SocketAddr::from((att_c.ip, 80))),
        None,
        "front reached other bridge"
    );
    assert_eq!(
        http_get(&a.ns, SocketAddr::from((att_d.ip, 80))),
        None,
        "front reached internal"
    );
    assert_eq!(
        http_get(&d.ns, SocketAddr::from((att_a.ip, 80))),
        None,
        "internal reached front"
    );
    // resolv.conf exists and has a nameserver.
    let resolv = std::fs::read_to_string(nets.resolv_conf_path("ctr-a")).expect("resolv.conf");
    assert!(resolv.contains("nameserver "), "{resolv}");

    // Names stay current: b leaves, a's hosts file (same inode) drops it.
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(nets.hosts_path("ctr-a"))
        .expect("stat")
        .ino();
    nets.disconnect("front", "ctr-b").expect("disconnect b");
    let hosts_a = std::fs::read_to_string(nets.hosts_path("ctr-a")).expect("hosts");
    assert!(!hosts_a.contains("beta"), "{hosts_a}");
    assert_eq!(
        std::fs::metadata(nets.hosts_path("ctr-a"))
            .expect("stat")
            .ino(),
        inode
    );
    assert!(
        !link_names(&b.ns).contains(&"eth0".to_string()),
        "eth0 left in b"
    );
    // c joins front as a second network: eth1, and a sees it by name.
    let att_c2 = nets
        .connect("front", "ctr-c", &c.ns, opts("gamma"))
        .expect("connect c to front");
    assert_eq!(att_c2.interface, "eth1");
    assert!(
        std::fs::read_to_string(nets.hosts_path("ctr-a"))
            .expect("hosts")
            .contains("gamma")
    );
    assert_eq!(
        wget_by_name(&a.ns, &nets.hosts_path("ctr-a"), "gamma", 80).as_deref(),
        Some("from-c")
    );

    // list / inspect / remove / prune.
    assert_eq!(nets.list().expect("list").len(), 3);
    let inspected = nets.inspect("front").expect("inspect");
    assert_eq!(inspected.endpoints.len(), 2);
    assert_eq!(
        nets.inspect(&inspected.id[..12])
            .expect("by id prefix")
            .name,
        "front"
    );
    assert!(matches!(
        nets.remove("front"),
        Err(container_net::Error::NetworkInUse { .. })
    ));
    for (n, id) in [
        ("front", "ctr-a"),
        ("front", "ctr-c"),
        ("back", "ctr-c"),
        ("sealed", "ctr-d"),
    ] {
        nets.disconnect(n, id).expect("disconnect");
    }
    let mut pruned = nets.prune().expect("prune");
    pruned.sort();
    assert_eq!(pruned, ["back", "front", "sealed"]);
    assert!(nets.list().expect("list").is_empty());
    assert_eq!(link_names(&host.ns), ["lo"], "links left in host");
    assert_eq!(nets.firewall_rules().expect("rules"), "", "nft table left");
}

#[test]
fn default_bridge_none_and_container_modes() {
    if !ready(true) {
        return;
    }
    let host = TestNs::new("bh");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path(), host.ns.clone()).expect("open");
    let def = nets.ensure_default_bridge().expect("default bridge");
    assert_eq!(def.name, "bridge");
    assert_eq!(def.subnet.to_string(), "172.17.0.0/16");
    assert_eq!(def.link, "berth0");
    assert_eq!(nets.ensure_default_bridge().expect("again").id, def.id);
    assert_eq!(def.driver, Driver::Bridge);

    // A second store in the same host whose 172.17/16 is taken picks the next subnet.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let host2 = TestNs::new("bh");
    let nets2 = Networks::open(dir2.path(), host2.ns.clone()).expect("open");
    host2.ns.run(|| Ok(())).expect("ns");
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1",
    ]);
    host2.ns.command(&mut cmd);
    assert!(cmd.status().expect("ip").success());
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["addr", "add", "172.17.3.1/24", "dev", "dummy0"]);
    host2.ns.command(&mut cmd);
    assert!(cmd.status().expect("ip").success());
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["link", "set", "dummy0", "up"]);
    host2.ns.command(&mut cmd);
    assert!(cmd.status().expect("ip").success());
    assert_eq!(
        nets2
            .ensure_default_bridge()
            .expect("default 2")
            .subnet
            .to_string(),
        "172.18.0.0/16"
    );

    // none: loopback only, up.
    let none = TestNs::new("cn");
    assert_eq!(NetworkMode::parse("none").expect("mode"), NetworkMode::None);
    setup_none(&none.ns).expect("none");
    assert_eq!(link_names(&none.ns), ["lo"]);
    assert!(ip(&none.ns, &["-o", "link", "show", "lo"]).contains("UP"));
    assert!(ip(&none.ns, &["-4", "route", "show"]).trim().is_empty());
    let _srv = httpd(&none.ns, &dir.path().join("www-none"), 8080, "none-local");
    assert_eq!(
        http_get_eventually(&none.ns, SocketAddr::from(([127, 0, 0, 1], 8080))).as_deref(),
        Some("none-local")
    );

    // bridge on the default network, then container:<id> joins its namespace.
    let a = TestNs::new("ca");
    let att = nets
        .connect("bridge", "ctr-a", &a.ns, opts("alpha"))
        .expect("connect");
    assert!(def.subnet.contains(&att.ip));
    let _srv = httpd(&a.ns, &dir.path().join("www-a"), 80, "from-a");
    assert_eq!(
        NetworkMode::parse("container:ctr-a").expect("mode"),
        NetworkMode::Container("ctr-a".into())
    );
    // The joining process opens the first container's namespace by path, as the engine would.
    let joined = Netns::from_path(a.ns.path()).expect("join");
    assert_eq!(joined.inode().expect("inode"), a.ns.inode().expect("inode"));
    assert_eq!(
        http_get_eventually(&joined, SocketAddr::from(([127, 0, 0, 1], 80))).as_deref(),
        Some("from-a")
    );
    assert!(ip(&joined, &["-4", "-o", "addr", "show", "eth0"]).contains(&att.ip.to_string()));
    // On the default bridge names are not shared (as in Docker): only own entry.
    let b = TestNs::new("cb");
    nets.connect("bridge", "ctr-b", &b.ns, opts("beta"))
        .expect("connect b");
    assert!(
        !std::fs::read_to_string(nets.hosts_path("ctr-a"))
            .expect("hosts")
            .contains("beta")
    );
    assert_eq!(
        http_get_eventually(&host.ns, SocketAddr::from((att.ip, 80))).as_deref(),
        Some("from-a")
    );
    nets.forget_container("ctr-a").expect("forget a");
    nets.forget_container("ctr-b").expect("forget b");
    assert!(!nets.hosts_path("ctr-a").exists());
    nets.remove("bridge").expect("remove default");
    nets2.remove("bridge").expect("remove default 2");
    assert_eq!(link_names(&host.ns), ["lo"]);
}

#[test]
fn shared_hosts_files_follow_joins_and_leaves() {
    if !ready(true) {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &std::path::Path| std::fs::metadata(p).expect("stat").ino();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read hosts");
    let host = TestNs::new("sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open_with(
        &dir.path().join("networks"),
        host.ns.clone(),
        container_net::Options {
            shared_hosts: true,
            ..Default::default()
        },
    )
    .expect("open");
    let shr = nets
        .create(NetworkConfig::bridge("shr").subnet("10.211.0.0/24".parse().expect("cidr")))
        .expect("create shr");
    nets.create(NetworkConfig::bridge("oth").subnet("10.212.0.0/24".parse().expect("cidr")))
        .expect("create oth");
    let (a, b, c) = (TestNs::new("sa"), TestNs::new("sb"), TestNs::new("sc"));
    nets.connect("shr", "ctr-a", &a.ns, opts("alpha"))
        .expect("connect a");
    let att_b = nets
        .connect("shr", "ctr-b", &b.ns, opts("beta"))
        .expect("connect b");
    // One file for both: the network's shared file, hard-linked.
    let shared = nets.shared_hosts_path(&shr.id);
    assert_eq!(ino(&nets.hosts_path("ctr-a")), ino(&shared));
    assert_eq!(ino(&nets.hosts_path("ctr-b")), ino(&shared));
    assert!(read(&shared).contains(&format!("{}\tbeta", att_b.ip)));
    let _sb = httpd(&b.ns, &dir.path().join("www-b"), 80, "from-b");
    assert_eq!(
        wget_by_name(&a.ns, &nets.hosts_path("ctr-a"), "beta", 80).as_deref(),
        Some("from-b")
    );
    // A container already on another network gets a private file listing its peers.
    nets.connect("oth", "ctr-c", &c.ns, opts("gamma"))
        .expect("connect c oth");
    nets.connect("shr", "ctr-c", &c.ns, opts("gamma"))
        .expect("connect c shr");
    assert_ne!(ino(&nets.hosts_path("ctr-c")), ino(&shared));
    assert!(read(&nets.hosts_path("ctr-c")).contains("alpha"));
    assert!(read(&nets.hosts_path("ctr-a")).contains("gamma"));
    // b leaves: the shared file (same inode) and c's private file drop it.
    let before = ino(&nets.hosts_path("ctr-a"));
    nets.disconnect("shr", "ctr-b").expect("disconnect b");
    assert_eq!(ino(&nets.hosts_path("ctr-a")), before);
    assert!(!read(&nets.hosts_path("ctr-a")).contains("beta"));
    assert!(!read(&nets.hosts_path("ctr-c")).contains("beta"));
    assert!(
        !nets.hosts_path("ctr-b").exists(),
        "link of a gone container"
    );
    // a joins a second network: from now on a private file with both networks' peers.
    nets.connect("oth", "ctr-a", &a.ns, opts("alpha"))
        .expect("connect a oth");
    assert_ne!(ino(&nets.hosts_path("ctr-a")), ino(&shared));
    assert!(read(&nets.hosts_path("ctr-a")).contains("gamma"));
    assert!(!nets.inspect("shr").expect("inspect").endpoints["ctr-a"].shared_hosts);
    for (n, cid) in [("shr", "ctr-a"), ("oth", "ctr-a"), ("shr", "ctr-c")] {
        nets.disconnect(n, cid).expect("disconnect");
    }
    assert!(!read(&nets.hosts_path("ctr-c")).contains("alpha"));
    for cid in ["ctr-a", "ctr-b", "ctr-c"] {
        nets.forget_container(cid).expect("forget");
    }
    nets.remove("shr").expect("remove shr");
    nets.remove("oth").expect("remove oth");
    assert!(!shared.exists(), "shared hosts file left");
    assert_eq!(link_names(&host.ns), ["lo"]);
    assert_eq!(nets.firewall_rules().expect("rules"), "");
}
