//! IP address management: subnet pools and address allocation (pure functions; the
//! callers hold the store lock so two processes never hand out the same address).

use crate::error::{Error, Result};
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pool() -> impl Iterator<Item = Ipv4Net> {
    let big = (17u8..=31).filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    let small = Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16)
        .ok()
        .into_iter()
        .flat_map(|n| n.subnets(20).into_iter().flatten());
    big.chain(small)
}

/// First subnet of the default pool that overlaps none of `used`.
pub fn pick_subnet(used: &[Ipv4Net]) -> Result<Ipv4Net> {
    default_pool()
        .find(|cand| !used.iter().any(|u| overlaps(cand, u)))
        .ok_or(Error::PoolsExhausted)
}

/// Whether two subnets share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The gateway Docker would choose: the first host address.
pub fn default_gateway(subnet: &Ipv4Net) -> Result<Ipv4Addr> {
    subnet.hosts().next().ok_or_else(|| Error::Ipam {
        network: subnet.to_string(),
        reason: "subnet has no host addresses".into(),
    })
}

/// Allocate an address in `subnet` (within `range` when given) that is not in `used`.
/// `requested` asks for a specific address.
pub fn allocate(
    network: &str,
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    used: &BTreeSet<Ipv4Addr>,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let err = |reason: String| Error::Ipam {
        network: network.to_string(),
        reason,
    };
    if let Some(ip) = requested {
        if !subnet.contains(&ip)
            || ip == subnet.network()
            || (subnet.prefix_len() < 31 && ip == subnet.broadcast())
        {
            return Err(err(format!(
                "address {ip} is not a host address of subnet {subnet}"
            )));
        }
        if used.contains(&ip) {
            return Err(err(format!("address {ip} is already in use")));
        }
        return Ok(ip);
    }
    let pool = range.unwrap_or(subnet);
    pool.hosts()
        .filter(|ip| subnet.contains(ip) && *ip != subnet.network() && *ip != subnet.broadcast())
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| err(format!("no free address left in {pool}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("cidr")
    }

    #[test]
    fn picks_next_free_subnet() {
        assert_eq!(pick_subnet(&[]).expect("pick"), net("172.17.0.0/16"));
        assert_eq!(
            pick_subnet(&[net("172.17.5.0/24")]).expect("pick"),
            net("172.18.0.0/16")
        );
        assert_eq!(
            pick_subnet(&[net("172.16.0.0/12")]).expect("pick"),
            net("192.168.0.0/20")
        );
    }

    #[test]
    fn allocates_lowest_free_and_respects_range() {
        let s = net("10.0.0.0/29");
        let mut used = BTreeSet::from([Ipv4Addr::new(10, 0, 0, 1)]);
        let a = allocate("n", &s, None, &used, None).expect("alloc");
        assert_eq!(a, Ipv4Addr::new(10, 0, 0, 2));
        used.insert(a);
        let r = net("10.0.0.4/30");
        assert_eq!(
            allocate("n", &s, Some(&r), &used, None).expect("alloc"),
            Ipv4Addr::new(10, 0, 0, 5)
        );
        for i in 2..=6 {
            used.insert(Ipv4Addr::new(10, 0, 0, i));
        }
        assert!(allocate("n", &s, None, &used, None).is_err());
        assert!(
            allocate("n", &s, None, &used, Some(Ipv4Addr::new(10, 0, 0, 7))).is_err(),
            "broadcast"
        );
        assert!(
            allocate("n", &s, None, &used, Some(Ipv4Addr::new(10, 0, 0, 3))).is_err(),
            "in use"
        );
        assert!(
            allocate("n", &s, None, &used, Some(Ipv4Addr::new(10, 0, 1, 3))).is_err(),
            "outside"
        );
    }

    proptest::proptest! {
        #[test]
        fn allocations_are_unique_and_inside(prefix in 24u8..=30, n in 0usize..20) {
            let s = Ipv4Net::new(Ipv4Addr::new(10, 9, 0, 0), prefix).expect("net");
            let mut used = BTreeSet::from([default_gateway(&s).expect("gw")]);
            for _ in 0..n {
                match allocate("n", &s, None, &used, None) {
                    Ok(ip) => {
                        proptest::prop_assert!(s.contains(&ip));
                        proptest::prop_assert!(used.insert(ip));
                    }
                    Err(_) => proptest::prop_assert_eq!(used.len() as u32, (1u32 << (32 - prefix)) - 2),
                }
            }
        }
    }
}
