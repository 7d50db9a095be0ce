//! container-net under pressure, in throwaway "host" namespaces: two processes allocating
//! on one network at once (acceptance 6), 200 connect/disconnect cycles leaving nothing
//! behind (acceptance 7), and bad input refused with a typed error and nothing
//! half-created (acceptance 8).

mod net_util;

use container_net::{
    ConnectOptions, Driver, Error, Netns, NetworkConfig, Networks, PortMapping, parse_subnet,
};
use net_util::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "BERTH_NET_ALLOC_CHILD";
const PER_CHILD: usize = 25;

/// The allocating side of `two_processes_never_hand_out_one_address`, run as a separate
/// process of this test binary (`--ignored --exact alloc_child`).
#[test]
#[ignore = "run as a child process by two_processes_never_hand_out_one_address"]
fn alloc_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        eprintln!("not a child run ({CHILD_ENV} unset)");
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [store, host_ns, tag, go] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let host = Netns::from_path(Path::new(host_ns)).expect("open host netns");
    let nets = Networks::open(Path::new(store), host).expect("open store");
    let start = Instant::now();
    while !Path::new(go).exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "no go signal");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut keep = Vec::new();
    for i in 0..PER_CHILD {
        let ns = Netns::unnamed().expect("container netns");
        let id = format!("{tag}-{i}");
        let att = nets
            .connect("shared", &id, &ns, ConnectOptions::default())
            .expect("connect");
        println!("ALLOC {id} {}", att.ip);
        keep.push(ns);
    }
}

#[test]
fn two_processes_never_hand_out_one_address() {
    if !ready(false) {
        return;
    }
    let host = TestNs::new("ah");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("networks");
    let nets = Networks::open(&store, host.ns.clone()).expect("open");
    nets.create(NetworkConfig::bridge("shared").subnet("10.208.0.0/24".parse().expect("cidr")))
        .expect("create");
    let go = dir.path().join("go");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = ["p1", "p2"]
        .iter()
        .map(|tag| {
            std::process::Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "alloc_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    CHILD_ENV,
                    format!(
                        "{}|/run/netns/{}|{tag}|{}",
                        store.display(),
                        host.name,
                        go.display()
                    ),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, b"go").expect("go");
    let mut printed: Vec<(String, Ipv4Addr)> = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // libtest prints "test alloc_child ... " before the first line of output.
        for line in stdout.lines() {
            if let Some(pos) = line.find("ALLOC ") {
                let mut w = line[pos + 6..].split_whitespace();
                let id = w.next().expect("id").to_string();
                let ip = w.next().expect("ip").parse().expect("ip");
                printed.push((id, ip));
            }
        }
    }
    assert_eq!(printed.len(), 2 * PER_CHILD, "{printed:?}");
    let ips: BTreeSet<Ipv4Addr> = printed.iter().map(|(_, ip)| *ip).collect();
    assert_eq!(ips.len(), printed.len(), "duplicate address: {printed:?}");
    let stored = nets.inspect("shared").expect("inspect");
    assert_eq!(stored.endpoints.len(), 2 * PER_CHILD);
    let stored_ips: BTreeSet<Ipv4Addr> = stored.endpoints.values().map(|e| e.ip).collect();
    assert_eq!(stored_ips, ips);
    for (id, _) in &printed {
        nets.forget_container(id).expect("forget");
    }
    assert!(
        nets.inspect("shared")
            .expect("inspect")
            .endpoints
            .is_empty()
    );
    nets.remove("shared").expect("remove");
    assert_eq!(link_names(&host.ns), ["lo"]);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn two_hundred_cycles_leave_nothing() {
    if !ready(true) {
        return;
    }
    let host = TestNs::new("yh");
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path(), host.ns.clone()).expect("open");
    let net = nets
        .create(NetworkConfig::bridge("cyc").subnet("10.209.0.0/24".parse().expect("cidr")))
        .expect("create");
    // A long-lived peer whose hosts file follows every cycle.
    let keeper = TestNs::new("yk");
    let kept = nets
        .connect(
            "cyc",
            "keeper",
            &keeper.ns,
            ConnectOptions {
                name: Some("keeper".into()),
                ..Default::default()
            },
        )
        .expect("keeper");
    let links = link_names(&host.ns);
    assert_eq!(links.len(), 3, "{links:?}");
    let fds = open_fds();
    let expected_ip = Ipv4Addr::new(10, 209, 0, 3);
    assert_eq!(kept.ip, Ipv4Addr::new(10, 209, 0, 2));
    let ns_prefix = format!("berth-yc-{}-", std::process::id());
    for i in 0..200 {
        let c = TestNs::new("yc");
        let id = format!("cyc-{i}");
        let att = nets
            .connect(
                "cyc",
                &id,
                &c.ns,
                ConnectOptions {
                    name: Some(id.clone()),
                    ports: PortMapping::parse("127.0.0.1::80").expect("spec"),
                    ..Default::default()
                },
            )
            .expect("connect");
        assert_eq!(att.ip, expected_ip, "cycle {i}: address not released");
        assert!(
            std::fs::read_to_string(nets.hosts_path("keeper"))
                .expect("hosts")
                .contains(&id)
        );
        if i % 2 == 0 {
            nets.disconnect("cyc", &id).expect("disconnect");
        } else {
            nets.forget_container(&id).expect("forget");
        }
        assert_eq!(link_names(&c.ns), ["lo"], "cycle {i}");
    }
    for i in (0..200).step_by(2) {
        nets.forget_container(&format!("cyc-{i}"))
            .expect("forget disconnected");
    }
    assert_eq!(link_names(&host.ns), links, "links left");
    // No published port is left in the DNAT maps.
    let rules = nets.firewall_rules().expect("rules");
    assert!(
        rules.contains("map ports_ip")
            && !rules.contains("elements")
            && !rules.contains("10.209.0.3"),
        "{rules}"
    );
    let stored = nets.inspect("cyc").expect("inspect");
    assert_eq!(
        stored.endpoints.keys().collect::<Vec<_>>(),
        ["keeper"],
        "allocations left"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("containers"))
            .expect("containers dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        ["keeper"]
    );
    let hosts = std::fs::read_to_string(nets.hosts_path("keeper")).expect("hosts");
    assert!(!hosts.contains("cyc-"), "{hosts}");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .expect("/run/netns")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&ns_prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(open_fds() <= fds + 2, "fds leaked: {fds} -> {}", open_fds());
    nets.forget_container("keeper").expect("forget keeper");
    nets.remove(&net.id).expect("remove");
    assert_eq!(link_names(&host.ns), ["lo"]);
    assert_eq!(nets.firewall_rules().expect("rules"), "");
}

#[test]
fn bad_input_is_refused_with_nothing_half_created() {
    if !ready(true) {
        return;
    }
    let host = TestNs::new("bh");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("networks");
    let nets = Networks::open(&store, host.ns.clone()).expect("open");
    let a = nets
        .create(NetworkConfig::bridge("a").subnet("10.211.0.0/16".parse().expect("cidr")))
        .expect("create a");
    let snapshot = || {
        (
            link_names(&host.ns),
            store_files(&store),
            nets.firewall_rules().expect("rules"),
            ip(&host.ns, &["-4", "-o", "addr", "show"]),
        )
    };
    let before = snapshot();
    let cidr = |s: &str| parse_subnet(s).expect("cidr");

    // Overlapping subnets.
    let err = nets
        .create(NetworkConfig::bridge("b").subnet(cidr("10.211.4.0/24")))
        .expect_err("overlap");
    assert!(
        matches!(&err, Error::SubnetOverlap { network, .. } if network == "a"),
        "{err}"
    );
    assert!(err.to_string().contains("10.211.4.0/24"), "{err}");
    // Gateway outside the subnet.
    let mut cfg = NetworkConfig::bridge("b").subnet(cidr("10.212.0.0/24"));
    cfg.gateway = Some(Ipv4Addr::new(10, 213, 0, 1));
    let err = nets.create(cfg).expect_err("gateway outside");
    assert!(
        matches!(
            &err,
            Error::Invalid {
                what: "gateway",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("10.213.0.1"), "{err}");
    // Unknown parent link.
    let err = nets
        .create(
            NetworkConfig::new("mv", Driver::Macvlan)
                .subnet(cidr("10.214.0.0/24"))
                .option("parent", "nosuch0"),
        )
        .expect_err("unknown parent");
    assert!(
        matches!(&err, Error::LinkNotFound(l) if l == "nosuch0"),
        "{err}"
    );
    // Invalid CIDRs, as text and inside a definition.
    for bad in ["10.215.0.0/33", "10.215.0.1/24", "10.215.0/24", "banana"] {
        let err = parse_subnet(bad).expect_err(bad);
        assert!(
            matches!(&err, Error::Invalid { what: "subnet", input, .. } if input == bad),
            "{err}"
        );
    }
    let err =
        NetworkConfig::from_json(br#"{"name":"j","driver":"bridge","subnet":"10.215.0.0/33"}"#)
            .expect_err("json cidr");
    assert!(
        matches!(
            &err,
            Error::Invalid {
                what: "network definition",
                ..
            }
        ),
        "{err}"
    );
    // Host bits set, range outside, unknown option, bad mode, duplicate name and VNI,
    // a bridge name that is already a link.
    assert!(matches!(
        nets.create(NetworkConfig::bridge("b").subnet("10.215.0.1/24".parse().expect("cidr"))),
        Err(Error::Invalid { what: "subnet", .. })
    ));
    let mut cfg = NetworkConfig::bridge("b").subnet(cidr("10.215.0.0/24"));
    cfg.ip_range = Some(cidr("10.216.0.0/25"));
    assert!(matches!(
        nets.create(cfg),
        Err(Error::Invalid {
            what: "ip range",
            ..
        })
    ));
    assert!(matches!(
        nets.create(NetworkConfig::bridge("b").option("colour", "blue")),
        Err(Error::Invalid {
            what: "network option",
            ..
        })
    ));
    assert!(matches!(
        nets.create(
            NetworkConfig::new("mv", Driver::Macvlan)
                .option("parent", "lo")
                .option("macvlan_mode", "sideways")
        ),
        Err(Error::Invalid {
            what: "macvlan mode",
            ..
        })
    ));
    assert!(matches!(
        nets.create(NetworkConfig::bridge("a")),
        Err(Error::NetworkExists(n)) if n == "a"
    ));
    assert!(matches!(
        nets.create(NetworkConfig::bridge("b").option("bridge_name", &a.link)),
        Err(Error::Invalid {
            what: "bridge_name",
            ..
        })
    ));
    nets.create(NetworkConfig::new("ov1", Driver::Overlay).option("vni", "77"))
        .expect("overlay");
    let with_ov = snapshot();
    assert!(matches!(
        nets.create(NetworkConfig::new("ov2", Driver::Overlay).option("vni", "77")),
        Err(Error::Invalid { what: "vni", .. })
    ));
    assert_eq!(
        snapshot(),
        with_ov,
        "something half-created by a failed create"
    );
    nets.remove("ov1").expect("remove overlay");
    assert_eq!(
        snapshot(),
        before,
        "something half-created by a failed create"
    );

    // Connect-time errors leave neither links nor allocations nor rules.
    let x = TestNs::new("bx");
    nets.connect(
        "a",
        "ctr-x",
        &x.ns,
        ConnectOptions {
            ports: PortMapping::parse("18080:80").expect("spec"),
            ..Default::default()
        },
    )
    .expect("x");
    let with_x = snapshot();
    let y = TestNs::new("by");
    let mut both = PortMapping::parse("18081:81").expect("spec");
    both.extend(PortMapping::parse("18080:80").expect("spec"));
    let err = nets
        .connect(
            "a",
            "ctr-y",
            &y.ns,
            ConnectOptions {
                ports: both,
                ..Default::default()
            },
        )
        .expect_err("port already published");
    assert!(
        matches!(&err, Error::PortInUse { port: 18080, container, .. } if container == "ctr-x"),
        "{err}"
    );
    assert!(!nets.firewall_rules().expect("rules").contains("18081"));
    let in_use = Ipv4Addr::new(10, 211, 0, 2);
    let failures: Vec<(ConnectOptions, &str)> = vec![
        (
            ConnectOptions {
                ip: Some(in_use),
                ..Default::default()
            },
            "already in use",
        ),
        (
            ConnectOptions {
                ip: Some(Ipv4Addr::new(10, 99, 0, 2)),
                ..Default::default()
            },
            "not a host address",
        ),
        (
            ConnectOptions {
                aliases: vec!["bad name".into()],
                ..Default::default()
            },
            "not a valid host name",
        ),
        (
            // The container already has a link of that name: the kernel refuses the
            // veth pair as a whole.
            ConnectOptions {
                interface: Some("lo".into()),
                ..Default::default()
            },
            "File exists",
        ),
        (
            ConnectOptions {
                ports: PortMapping::parse("127.0.0.1:18080:80").expect("spec"),
                ..Default::default()
            },
            "already published",
        ),
    ];
    for (opts, words) in failures {
        let err = nets
            .connect("a", "ctr-y", &y.ns, opts)
            .expect_err("bad connect");
        assert!(err.to_string().contains(words), "{err}");
        assert_eq!(snapshot(), with_x, "half-created after: {err}");
        assert_eq!(link_names(&y.ns), ["lo"], "after: {err}");
    }
    assert!(matches!(
        nets.connect("nosuch", "ctr-y", &y.ns, ConnectOptions::default()),
        Err(Error::NetworkNotFound(_))
    ));
    assert!(matches!(
        nets.connect("a", "../etc", &y.ns, ConnectOptions::default()),
        Err(Error::Invalid {
            what: "container id",
            ..
        })
    ));
    assert!(matches!(
        nets.connect("a", "ctr-x", &y.ns, ConnectOptions::default()),
        Err(Error::AlreadyConnected { .. })
    ));
    assert!(matches!(
        nets.disconnect("a", "ctr-y"),
        Err(Error::NotConnected { .. })
    ));
    assert_eq!(snapshot(), with_x);
    assert!(!store.join("containers").join("ctr-y").exists());
    nets.forget_container("ctr-x").expect("forget x");
    nets.remove("a").expect("remove a");
    assert_eq!(link_names(&host.ns), ["lo"]);
    assert_eq!(store_files(&store), ["containers", "lock", "names"]);
}
