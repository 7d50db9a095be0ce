//! Resource usage read back from a cgroup, on v1 and v2.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CgroupError;
use super::resources::{parse_u64, read, read_u64};

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Everything readable from the container's cgroup. A section is `None` when its
/// controller is not mounted on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// Memory.
    pub memory: Option<MemoryStats>,
    /// CPU time and throttling.
    pub cpu: Option<CpuStats>,
    /// Process count.
    pub pids: Option<PidsStats>,
    /// Block I/O per device.
    pub blkio: Option<BlkioStats>,
    /// Huge pages per page size ("2MB" -> stats).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// Memory usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Bytes in use now (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Highest usage seen (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`; 0 when the
    /// kernel does not track it).
    pub max_usage: u64,
    /// The limit (`u64::MAX` when unlimited).
    pub limit: u64,
    /// How often the limit was hit (v1 `memory.failcnt`, v2 `max` in `memory.events`).
    pub failcnt: u64,
    /// OOM kills in the cgroup (v1 `oom_kill` in `memory.oom_control`, v2 `oom_kill` in
    /// `memory.events`).
    pub oom_kills: u64,
    /// Swap in use (v1: memsw usage minus usage; v2 `memory.swap.current`), if accounted.
    pub swap_usage: Option<u64>,
    /// `memory.stat` as key -> value.
    pub stat: BTreeMap<String, u64>,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time.
    pub usage_total: u64,
    /// Time in user mode.
    pub usage_user: u64,
    /// Time in kernel mode.
    pub usage_system: u64,
    /// Per CPU (v1 `cpuacct.usage_percpu`; empty on v2, which does not report it).
    pub per_cpu: Vec<u64>,
    /// CFS periods elapsed.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Time spent throttled.
    pub throttled_time: u64,
}

/// Process count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Processes and threads now.
    pub current: u64,
    /// The limit (None: unlimited).
    pub limit: Option<u64>,
}

/// Bytes and operations per block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    /// One entry per device.
    pub devices: Vec<BlkioDevice>,
}

/// I/O of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioDevice {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ios: u64,
    /// Write operations.
    pub write_ios: u64,
}

/// Huge page usage of one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage: u64,
    /// Highest usage (0 on v2, which does not track it).
    pub max_usage: u64,
    /// Allocations refused by the limit.
    pub failcnt: u64,
    /// The limit (`u64::MAX` when unlimited).
    pub limit: u64,
}

fn kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), parse_u64(v.trim())?))
        })
        .collect()
}

fn kv_file(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    Ok(kv(&read(dir, file)?))
}

/// v1 memory.
pub(crate) fn memory_v1(dir: &Path) -> Result<MemoryStats> {
    let usage = read_u64(dir, "memory.usage_in_bytes")?;
    let swap_usage = read_u64(dir, "memory.memsw.usage_in_bytes")
        .ok()
        .map(|sw| sw.saturating_sub(usage));
    Ok(MemoryStats {
        usage,
        max_usage: read_u64(dir, "memory.max_usage_in_bytes")?,
        limit: read_u64(dir, "memory.limit_in_bytes")?,
        failcnt: read_u64(dir, "memory.failcnt")?,
        oom_kills: kv_file(dir, "memory.oom_control")?
            .get("oom_kill")
            .copied()
            .unwrap_or(0),
        swap_usage,
        stat: kv_file(dir, "memory.stat")?,
    })
}

/// v2 memory.
pub(crate) fn memory_v2(dir: &Path) -> Result<MemoryStats> {
    let events = kv_file(dir, "memory.events")?;
    Ok(MemoryStats {
        usage: read_u64(dir, "memory.current")?,
        max_usage: read_u64(dir, "memory.peak").unwrap_or(0),
        limit: read_u64(dir, "memory.max")?,
        failcnt: events.get("max").copied().unwrap_or(0),
        oom_kills: events.get("oom_kill").copied().unwrap_or(0),
        swap_usage: read_u64(dir, "memory.swap.current").ok(),
        stat: kv_file(dir, "memory.stat")?,
    })
}

/// v1 cpu: usage from `cpuacct` (its own hierarchy or co-mounted), throttling from `cpu`.
pub(crate) fn cpu_v1(cpuacct: Option<&Path>, cpu: Option<&Path>) -> Result<CpuStats> {
    let mut s = CpuStats::default();
    if let Some(dir) = cpuacct {
        s.usage_total = read_u64(dir, "cpuacct.usage")?;
        s.per_cpu = read(dir, "cpuacct.usage_percpu")?
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // Exact nanoseconds where the kernel has them, else clock ticks.
        match (
            read_u64(dir, "cpuacct.usage_user"),
            read_u64(dir, "cpuacct.usage_sys"),
        ) {
            (Ok(u), Ok(sy)) => {
                s.usage_user = u;
                s.usage_system = sy;
            }
            _ => {
                let st = kv_file(dir, "cpuacct.stat")?;
                // SAFETY: sysconf has no preconditions.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                let ns = |t: u64| t.saturating_mul(1_000_000_000) / hz;
                s.usage_user = ns(st.get("user").copied().unwrap_or(0));
                s.usage_system = ns(st.get("system").copied().unwrap_or(0));
            }
        }
    }
    if let Some(dir) = cpu {
        let st = kv_file(dir, "cpu.stat")?;
        s.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    Ok(s)
}

/// v2 cpu (`cpu.stat` exists in every cgroup2 directory, controller or not).
pub(crate) fn cpu_v2(dir: &Path) -> Result<CpuStats> {
    let st = kv_file(dir, "cpu.stat")?;
    let us = |k: &str| st.get(k).copied().unwrap_or(0).saturating_mul(1000);
    Ok(CpuStats {
        usage_total: us("usage_usec"),
        usage_user: us("user_usec"),
        usage_system: us("system_usec"),
        per_cpu: Vec::new(),
        periods: st.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: st.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: us("throttled_usec"),
    })
}

/// pids (same files on v1 and v2).
pub(crate) fn pids(dir: &Path) -> Result<PidsStats> {
    let limit = read_u64(dir, "pids.max")?;
    Ok(PidsStats {
        current: read_u64(dir, "pids.current")?,
        limit: (limit != u64::MAX).then_some(limit),
    })
}

fn device_entry(list: &mut Vec<BlkioDevice>, dev: &str) -> Option<usize> {
    let (ma, mi) = dev.split_once(':')?;
    let (major, minor) = (ma.parse().ok()?, mi.parse().ok()?);
    if let Some(i) = list
        .iter()
        .position(|d| d.major == major && d.minor == minor)
    {
        return Some(i);
    }
    list.push(BlkioDevice {
        major,
        minor,
        ..Default::default()
    });
    Some(list.len() - 1)
}

/// v1 blkio: the scheduler's statistics (CFQ, BFQ) and the throttle layer's (which newer
/// kernels keep only for devices with a throttle rule); per device the larger count wins.
pub(crate) fn blkio_v1(dir: &Path) -> Result<BlkioStats> {
    let mut devices = Vec::new();
    for (file, bytes) in [
        ("blkio.io_service_bytes_recursive", true),
        ("blkio.io_serviced_recursive", false),
        ("blkio.bfq.io_service_bytes_recursive", true),
        ("blkio.bfq.io_serviced_recursive", false),
        ("blkio.throttle.io_service_bytes_recursive", true),
        ("blkio.throttle.io_serviced_recursive", false),
    ] {
        let Ok(text) = read(dir, file) else { continue };
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, v] = f[..] else { continue };
            let (Some(i), Ok(v)) = (device_entry(&mut devices, dev), v.parse::<u64>()) else {
                continue;
            };
            let d = &mut devices[i];
            let field = match (op, bytes) {
                ("Read", true) => &mut d.read_bytes,
                ("Write", true) => &mut d.write_bytes,
                ("Read", false) => &mut d.read_ios,
                ("Write", false) => &mut d.write_ios,
                _ => continue,
            };
            *field = (*field).max(v);
        }
    }
    Ok(BlkioStats { devices })
}

/// v2 io.stat.
pub(crate) fn io_v2(dir: &Path) -> Result<BlkioStats> {
    let mut devices = Vec::new();
    for l in read(dir, "io.stat")?.lines() {
        let mut f = l.split_whitespace();
        let Some(i) = f.next().and_then(|dev| device_entry(&mut devices, dev)) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            let d = &mut devices[i];
            match k {
                "rbytes" => d.read_bytes = v,
                "wbytes" => d.write_bytes = v,
                "rios" => d.read_ios = v,
                "wios" => d.write_ios = v,
                _ => {}
            }
        }
    }
    Ok(BlkioStats { devices })
}

/// hugetlb for the given page sizes.
pub(crate) fn hugetlb(
    dir: &Path,
    v2: bool,
    sizes: &[String],
) -> Result<BTreeMap<String, HugetlbStats>> {
    let mut out = BTreeMap::new();
    for size in sizes {
        let s = if v2 {
            let events = kv_file(dir, &format!("hugetlb.{size}.events")).unwrap_or_default();
            HugetlbStats {
                usage: read_u64(dir, &format!("hugetlb.{size}.current"))?,
                max_usage: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
                limit: read_u64(dir, &format!("hugetlb.{size}.max"))?,
            }
        } else {
            HugetlbStats {
                usage: read_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max_usage: read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
                limit: read_u64(dir, &format!("hugetlb.{size}.limit_in_bytes"))?,
            }
        };
        out.insert(size.clone(), s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        let m = kv("usage_usec 10\nuser_usec 7\nbad\nmax max\n");
        assert_eq!(m.get("usage_usec"), Some(&10));
        assert_eq!(m.get("max"), Some(&u64::MAX));
        assert_eq!(m.len(), 3);
    }
}
