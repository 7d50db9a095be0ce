//! container-net: connect and disconnect a network namespace to a user bridge network
//! (veth pair, address, default route, hosts/resolv.conf files, one published port as
//! nftables DNAT), all inside a throwaway "host" namespace; and the connect time of the
//! 250th container on one bridge against the 1st.
//!
//! Needs root (and `nft` for the port rules); without root it prints why and measures
//! nothing. Run: `cargo bench -p berth-benches --bench net`.

use container_net::{ConnectOptions, Netns, NetworkConfig, Networks, PortMapping};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};

/// The throwaway host namespace, deleted on drop.
struct HostNs {
    ns: Netns,
    name: String,
}

impl HostNs {
    fn new() -> HostNs {
        let name = format!("berth-{}", berth_tests::unique_name("bench-net"));
        let ns = Netns::create_named(&name).expect("create host netns");
        container_net::setup_none(&ns).expect("loopback");
        HostNs { ns, name }
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        let _ = Netns::delete_named(&self.name);
    }
}

fn opts(name: &str) -> ConnectOptions {
    ConnectOptions {
        name: Some(name.to_string()),
        hostname: Some(name.to_string()),
        ports: PortMapping::parse("127.0.0.1::80").expect("port spec"),
        ..Default::default()
    }
}

fn bench_connect(c: &mut Criterion) {
    if !berth_tests::is_root() {
        eprintln!("skipped: container-net benchmarks need root (network namespaces)");
        return;
    }
    let host = HostNs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path(), host.ns.clone()).expect("open store");
    eprintln!(
        "published ports via {}",
        if nets.uses_nftables() {
            "nftables"
        } else {
            "userland proxy (no nft)"
        }
    );
    nets.create(NetworkConfig::bridge("bench").subnet("10.220.0.0/22".parse().expect("cidr")))
        .expect("create network");
    let ctr = Netns::unnamed().expect("container netns");

    let mut g = c.benchmark_group("net");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("connect_bridge_1st", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                nets.connect("bench", "ctr", &ctr, opts("ctr"))
                    .expect("connect");
                total += t.elapsed();
                nets.disconnect("bench", "ctr").expect("disconnect");
            }
            total
        })
    });
    g.bench_function("disconnect_bridge_1st", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                nets.connect("bench", "ctr", &ctr, opts("ctr"))
                    .expect("connect");
                let t = Instant::now();
                nets.disconnect("bench", "ctr").expect("disconnect");
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("connect_disconnect_bridge_1st", |b| {
        b.iter(|| {
            nets.connect("bench", "ctr", &ctr, opts("ctr"))
                .expect("connect");
            nets.disconnect("bench", "ctr").expect("disconnect");
        })
    });

    // 249 containers already on the bridge, each with a published port and a name.
    let others: Vec<Netns> = (0..249)
        .map(|i| {
            let ns = Netns::unnamed().expect("netns");
            nets.connect("bench", &format!("o{i}"), &ns, opts(&format!("o{i}")))
                .expect("connect other");
            ns
        })
        .collect();
    g.bench_function("connect_bridge_250th", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                nets.connect("bench", "ctr", &ctr, opts("ctr"))
                    .expect("connect");
                total += t.elapsed();
                nets.disconnect("bench", "ctr").expect("disconnect");
            }
            total
        })
    });
    g.bench_function("connect_disconnect_bridge_250th", |b| {
        b.iter(|| {
            nets.connect("bench", "ctr", &ctr, opts("ctr"))
                .expect("connect");
            nets.disconnect("bench", "ctr").expect("disconnect");
        })
    });
    g.finish();
    for i in 0..others.len() {
        nets.forget_container(&format!("o{i}")).expect("forget");
    }
    drop(others);
    nets.remove("bench").expect("remove network");
}

criterion_group!(benches, bench_connect);
criterion_main!(benches);
