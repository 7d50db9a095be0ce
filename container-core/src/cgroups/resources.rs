//! Checking `LinuxResources` before anything is written, the v1 → v2 value conversions
//! runc uses, and the small file helpers every writer shares.
//!
//! `validate` runs before a cgroup directory is created, so a bad value never leaves a
//! half-configured cgroup behind.

use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use super::{CgroupError, CgroupVersion};

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Which hierarchy version carries a controller (None: not mounted).
pub(crate) type VersionOf<'a> = &'a dyn Fn(&str) -> Option<CgroupVersion>;

/// cgroup v1 `cpu.shares` to cgroup v2 `cpu.weight` (runc's formula): shares 2..262144
/// map onto weight 1..10000; 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// cgroup v1 blkio weight (10..1000) to cgroup v2 `io.weight` (1..10000), runc's formula.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// The OCI `memory.swap` (memory + swap, v1 semantics) as cgroup v2 `memory.swap.max`
/// (swap only), runc's conversion. `None`: leave unset; `Some(-1)`: "max".
pub fn swap_to_v2(swap: i64, limit: i64) -> Result<Option<i64>> {
    if limit == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    if swap == -1 {
        return Ok(Some(-1));
    }
    if swap == 0 {
        return Ok(None);
    }
    if limit == 0 || limit == -1 {
        return Err(CgroupError::invalid(
            "linux.resources.memory.swap",
            swap,
            "a swap limit needs a memory limit",
        ));
    }
    if swap < limit {
        return Err(CgroupError::invalid(
            "linux.resources.memory.swap",
            swap,
            format!("memory+swap must be at least the memory limit ({limit})"),
        ));
    }
    Ok(Some(swap - limit))
}

/// Parse a cpuset list ("0-3,5,7-8"): every range must be ascending.
pub fn check_cpu_list(field: &str, s: &str) -> Result<()> {
    let bad = |reason: String| CgroupError::invalid(field, s, reason);
    if s.trim().is_empty() {
        return Ok(());
    }
    for part in s.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a
            .trim()
            .parse()
            .map_err(|_| bad(format!("{part:?} is not a number or a range N-M")))?;
        let b: u32 = b
            .trim()
            .parse()
            .map_err(|_| bad(format!("{part:?} is not a number or a range N-M")))?;
        if a > b {
            return Err(bad(format!("range start {a} is above its end {b}")));
        }
    }
    Ok(())
}

/// Huge page sizes the kernel offers, as cgroup file names spell them ("2MB", "1GB").
pub fn host_hugepage_sizes() -> Vec<String> {
    let mut v: Vec<(u64, String)> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let kb: u64 = n
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// 2048 kB -> "2MB", 1048576 kB -> "1GB", 64 kB -> "64KB" (the kernel's names).
pub fn page_size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// Whether these device rules restrict anything (a deny rule exists). A child cgroup
/// starts with its parent's "allow all", so allow-only rules change nothing.
pub fn devices_restrict(r: &LinuxResources) -> bool {
    r.devices().iter().flatten().any(|d| !d.allow())
}

/// Check every field for range and syntax, and that this host has the controller it
/// needs. Nothing is written.
pub(crate) fn validate(r: &LinuxResources, version_of: VersionOf) -> Result<()> {
    let need = |ctl: &str, field: &str| -> Result<CgroupVersion> {
        version_of(ctl).ok_or_else(|| {
            CgroupError::unsupported(
                field,
                format!("no {ctl} controller is mounted on this host (v1 or cgroup2)"),
            )
        })
    };
    if let Some(m) = r.memory() {
        let f = |n: &str| format!("linux.resources.memory.{n}");
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernel", m.kernel()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v
                && v < -1
            {
                return Err(CgroupError::invalid(
                    f(name),
                    v,
                    "must be -1 (unlimited), 0 (unset) or a byte count",
                ));
            }
        }
        if let Some(s) = m.swappiness()
            && s > 100
        {
            return Err(CgroupError::invalid(
                f("swappiness"),
                s,
                "valid range is 0-100",
            ));
        }
        let any = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true);
        if any {
            need("memory", &f("limit"))?;
            let (limit, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
            if swap > 0 {
                // Same rule on v1 (memsw >= limit) and v2.
                swap_to_v2(swap, limit)?;
            }
            // cgroup v2 has no swappiness and no OOM switch: v2::memory ignores them
            // with a warning, as runc does.
        }
    }
    if let Some(c) = r.cpu() {
        let f = |n: &str| format!("linux.resources.cpu.{n}");
        if let Some(s) = c.shares()
            && s != 0
            && !(2..=262144).contains(&s)
        {
            return Err(CgroupError::invalid(
                f("shares"),
                s,
                "valid range is 2-262144",
            ));
        }
        if let Some(q) = c.quota()
            && (q < -1 || (0..1000).contains(&q) && q != 0)
        {
            return Err(CgroupError::invalid(
                f("quota"),
                q,
                "must be -1 (unlimited) or at least 1000 microseconds",
            ));
        }
        if let Some(p) = c.period()
            && p != 0
            && !(1000..=1_000_000).contains(&p)
        {
            return Err(CgroupError::invalid(
                f("period"),
                p,
                "valid range is 1000-1000000 microseconds",
            ));
        }
        if let Some(rt) = c.realtime_runtime()
            && rt < -1
        {
            return Err(CgroupError::invalid(
                f("realtimeRuntime"),
                rt,
                "must be -1 or a microsecond count",
            ));
        }
        if let Some(i) = c.idle()
            && !(0..=1).contains(&i)
        {
            return Err(CgroupError::invalid(f("idle"), i, "must be 0 or 1"));
        }
        if let Some(s) = c.cpus() {
            check_cpu_list(&f("cpus"), s)?;
        }
        if let Some(s) = c.mems() {
            check_cpu_list(&f("mems"), s)?;
        }
        let cpu_set = c.shares().is_some_and(|v| v != 0)
            || c.quota().is_some_and(|v| v != 0)
            || c.period().is_some_and(|v| v != 0)
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0);
        if cpu_set {
            // cgroup v2 has no real-time bandwidth files: v2::cpu ignores them with a
            // warning, as runc does.
            need("cpu", &f("shares"))?;
        }
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            need("cpuset", &f("cpus"))?;
        }
    }
    if let Some(p) = r.pids()
        && p.limit() != 0
    {
        need("pids", "linux.resources.pids.limit")?;
    }
    if let Some(b) = r.block_io() {
        let f = |n: &str| format!("linux.resources.blockIO.{n}");
        let weight_ok = |name: String, w: Option<u16>| -> Result<()> {
            match w {
                Some(w) if w != 0 && !(10..=1000).contains(&w) => {
                    Err(CgroupError::invalid(name, w, "valid range is 10-1000"))
                }
                _ => Ok(()),
            }
        };
        weight_ok(f("weight"), b.weight())?;
        weight_ok(f("leafWeight"), b.leaf_weight())?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            weight_ok(f(&format!("weightDevice[{i}].weight")), d.weight())?;
            weight_ok(f(&format!("weightDevice[{i}].leafWeight")), d.leaf_weight())?;
            check_dev(&f(&format!("weightDevice[{i}]")), d.major(), d.minor())?;
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, d) in list.iter().flatten().enumerate() {
                check_dev(&f(&format!("{name}[{i}]")), d.major(), d.minor())?;
            }
        }
        let any = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty());
        if any {
            let v = version_of("blkio").or_else(|| version_of("io"));
            match v {
                None => {
                    return Err(CgroupError::unsupported(
                        f("weight"),
                        "no blkio (v1) or io (cgroup2) controller is mounted on this host",
                    ));
                }
                Some(CgroupVersion::V2)
                    if b.leaf_weight().is_some()
                        || b.weight_device()
                            .iter()
                            .flatten()
                            .any(|d| d.leaf_weight().is_some()) =>
                {
                    return Err(CgroupError::unsupported(
                        f("leafWeight"),
                        "cgroup v2 has no leaf weight",
                    ));
                }
                _ => {}
            }
        }
    }
    let sizes = if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        host_hugepage_sizes()
    } else {
        Vec::new()
    };
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}].pageSize");
        let ps = h.page_size();
        let digits = ps.trim_end_matches(['K', 'M', 'G', 'B']);
        if digits.is_empty()
            || !digits.bytes().all(|c| c.is_ascii_digit())
            || !["KB", "MB", "GB"].iter().any(|s| ps.ends_with(s))
        {
            return Err(CgroupError::invalid(
                field,
                ps,
                "expected a size like 2MB or 1GB",
            ));
        }
        if !sizes.iter().any(|s| s == ps) {
            return Err(CgroupError::unsupported(
                field,
                format!(
                    "the kernel offers huge page sizes [{}], not {ps}",
                    sizes.join(", ")
                ),
            ));
        }
        if h.limit() < 0 {
            return Err(CgroupError::invalid(
                format!("linux.resources.hugepageLimits[{i}].limit"),
                h.limit(),
                "must be a byte count",
            ));
        }
        need("hugetlb", &field)?;
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        if matches!(d.typ(), Some(LinuxDeviceType::U | LinuxDeviceType::P)) {
            return Err(CgroupError::invalid(
                format!("{field}.type"),
                d.typ().unwrap_or_default().as_str(),
                "device cgroup rules take a (all), c (char) or b (block)",
            ));
        }
        if let Some(a) = d.access()
            && (a.is_empty() || !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')))
        {
            return Err(CgroupError::invalid(
                format!("{field}.access"),
                a,
                "access is a non-empty combination of r, w and m",
            ));
        }
        for (n, v) in [("major", d.major()), ("minor", d.minor())] {
            if let Some(v) = v
                && v < -1
            {
                return Err(CgroupError::invalid(
                    format!("{field}.{n}"),
                    v,
                    "must be -1 (any) or a device number",
                ));
            }
        }
    }
    if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        // Numbers must fit the kernel's u32 (v1 would refuse them too, the v2 program
        // cannot compare them); compiling checks that and every other field.
        super::ebpf::DeviceFilter::compile(rules)?;
        if devices_restrict(r) && version_of("devices").is_none() {
            return Err(CgroupError::unsupported(
                "linux.resources.devices",
                "this host has neither a v1 devices controller nor a cgroup2 hierarchy for an \
                 eBPF device program, so the rules would not be enforced",
            ));
        }
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() && version_of("net_cls") != Some(CgroupVersion::V1) {
            return Err(CgroupError::unsupported(
                "linux.resources.network.classID",
                "no v1 net_cls controller is mounted on this host",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty())
            && version_of("net_prio") != Some(CgroupVersion::V1)
        {
            return Err(CgroupError::unsupported(
                "linux.resources.network.priorities",
                "no v1 net_prio controller is mounted on this host",
            ));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        need("rdma", "linux.resources.rdma")?;
    }
    for key in r.unified().iter().flatten().map(|(k, _)| k) {
        let field = format!("linux.resources.unified[{key:?}]");
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(CgroupError::invalid(
                field,
                key,
                "must be a cgroup2 file name",
            ));
        }
        if version_of("") != Some(CgroupVersion::V2) {
            return Err(CgroupError::unsupported(
                field,
                "this host has no cgroup2 hierarchy",
            ));
        }
    }
    Ok(())
}

fn check_dev(field: &str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 {
        return Err(CgroupError::invalid(
            field,
            format!("{major}:{minor}"),
            "major and minor must be device numbers",
        ));
    }
    Ok(())
}

/// Write `value` to `dir/file` in one `write(2)` (cgroup files parse one write at a time).
pub(crate) fn write(dir: &Path, file: &str, value: impl ToString) -> Result<()> {
    let path = dir.join(file);
    let value = value.to_string();
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    r.map_err(|source| {
        // kernfs refuses to create a missing file with EACCES: say what really happened.
        let source = if !path.exists() {
            std::io::Error::from_raw_os_error(libc::ENOENT)
        } else {
            source
        };
        CgroupError::Write {
            path,
            value,
            source,
        }
    })
}

/// Read `dir/file` as text.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Read a file holding one number ("max" reads as `u64::MAX`).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let s = read(dir, file)?;
    parse_u64(s.trim()).ok_or_else(|| CgroupError::Parse {
        path: dir.join(file),
        content: s,
    })
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// "-1" means unlimited in the OCI spec; v2 files spell it "max".
pub(crate) fn v2_limit(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10000);
        assert_eq!(swap_to_v2(0, -1).expect("ok"), Some(-1));
        assert_eq!(swap_to_v2(200, 100).expect("ok"), Some(100));
        assert_eq!(swap_to_v2(0, 100).expect("ok"), None);
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn cpu_lists() {
        for ok in ["", "0", "0-1", "0,2-3", " 1 "] {
            check_cpu_list("f", ok).expect(ok);
        }
        for bad in ["3-1", "a", "1-", "0,,1"] {
            let e = check_cpu_list("linux.resources.cpu.cpus", bad).expect_err(bad);
            assert!(e.to_string().contains("linux.resources.cpu.cpus"), "{e}");
        }
    }

    #[test]
    fn page_size_names() {
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1048576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources")
    }

    #[test]
    fn validation_names_the_field() {
        let v1 = |_: &str| Some(CgroupVersion::V1);
        let v2 = |_: &str| Some(CgroupVersion::V2);
        let cases = [
            (r#"{"memory": {"swappiness": 101}}"#, "memory.swappiness"),
            (r#"{"memory": {"limit": 100, "swap": 50}}"#, "memory.swap"),
            (r#"{"memory": {"limit": -5}}"#, "memory.limit"),
            (r#"{"cpu": {"shares": 1}}"#, "cpu.shares"),
            (r#"{"cpu": {"quota": 10}}"#, "cpu.quota"),
            (r#"{"cpu": {"period": 5}}"#, "cpu.period"),
            (r#"{"cpu": {"mems": "1-0"}}"#, "cpu.mems"),
            (r#"{"blockIO": {"weight": 5}}"#, "blockIO.weight"),
            (
                r#"{"blockIO": {"throttleReadBpsDevice": [{"major": -2, "minor": 0, "rate": 1}]}}"#,
                "throttleReadBpsDevice[0]",
            ),
            (
                r#"{"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}"#,
                "hugepageLimits[0].pageSize",
            ),
            (
                r#"{"devices": [{"allow": true, "type": "p"}]}"#,
                "devices[0].type",
            ),
            (
                r#"{"devices": [{"allow": true, "access": "rwx"}]}"#,
                "devices[0].access",
            ),
            (r#"{"unified": {"../x": "1"}}"#, "unified"),
        ];
        for (json, field) in cases {
            let e = validate(&res(json), &v1).expect_err(json);
            assert!(
                matches!(e, CgroupError::InvalidValue { .. }),
                "{json}: {e:?}"
            );
            assert!(e.to_string().contains(field), "{json}: {e}");
        }
        // What cgroup v2 lacks is ignored with a warning when written, as runc does.
        validate(
            &res(r#"{"memory": {"swappiness": 10, "disableOOMKiller": true},
                    "cpu": {"realtimeRuntime": 1000, "realtimePeriod": 10000}}"#),
            &v2,
        )
        .expect("v2 ignores swappiness, the OOM switch and real-time");
        // Device rules on v2 become an eBPF program.
        validate(
            &res(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#),
            &v2,
        )
        .expect("v2 devices");
        let none = |_: &str| None;
        let e = validate(
            &res(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#),
            &none,
        )
        .expect_err("no devices controller at all");
        assert!(
            matches!(&e, CgroupError::Unsupported { field, .. } if field == "linux.resources.devices"),
            "{e:?}"
        );
        let e = validate(
            &res(r#"{"devices": [{"allow": true, "type": "c", "major": 4294967296}]}"#),
            &v1,
        )
        .expect_err("major above u32");
        assert!(e.to_string().contains("devices[0].major"), "{e}");
        let e = validate(&res(r#"{"pids": {"limit": 5}}"#), &none).expect_err("no pids");
        assert!(e.to_string().contains("pids"), "{e}");
        validate(
            &res(r#"{"memory": {"limit": 1048576, "swap": 2097152}, "cpu": {"cpus": "0"}}"#),
            &v1,
        )
        .expect("valid");
    }
}
