//! Fuzz container-net's parsers of untrusted text: `-p` port specs, CIDR subnets,
//! network definition JSON, `--network` modes and MAC addresses. None may panic, and
//! whatever parses prints in a form that parses back to the same value.
#![no_main]

use container_net::{NetworkConfig, NetworkMode, PortMapping, parse_subnet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = NetworkConfig::from_json(data) {
        let json = serde_json::to_vec(&cfg).expect("a valid config serialises");
        let again = NetworkConfig::from_json(&json).expect("a valid config re-parses");
        assert_eq!(cfg, again);
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(maps) = PortMapping::parse(s) {
        assert!(!maps.is_empty());
        for m in maps {
            let back = PortMapping::parse(&m.to_string()).expect("printed mapping re-parses");
            assert_eq!(back.len(), 1, "{m}");
            assert_eq!(back[0].container_port, m.container_port);
            assert_eq!(back[0].protocol, m.protocol);
            assert_eq!(back[0].host_ip, m.host_ip);
        }
    }
    if let Ok(net) = parse_subnet(s) {
        assert_eq!(parse_subnet(&net.to_string()).expect("re-parse"), net);
    }
    if let Ok(mac) = container_net::parse_mac(s) {
        assert_eq!(
            container_net::parse_mac(&container_net::mac_string(&mac)).expect("re-parse"),
            mac
        );
    }
    let _ = NetworkMode::parse(s);
    let _ = container_net::Driver::parse(s);
    let _ = container_net::MacvlanMode::parse(s);
});
