//! Writing resources into cgroup v1 controller directories (runc's file names, order and
//! special cases).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::CgroupError;
use super::resources::{read, read_u64, write};

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Memory: limit and memsw in the order that keeps `memsw >= limit` true at every step
/// (runc's `setMemoryAndSwap`), then the rest.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let has_memsw = dir.join(MEMSW).exists();
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    if swap != 0 && !has_memsw {
        return Err(CgroupError::unsupported(
            "linux.resources.memory.swap",
            "the kernel has no swap accounting (memory.memsw.limit_in_bytes is missing)",
        ));
    }
    if m.check_before_update() == Some(true) && limit > 0 {
        let usage = read_u64(dir, "memory.usage_in_bytes")?;
        if (limit as u64) < usage {
            return Err(CgroupError::invalid(
                "linux.resources.memory.limit",
                limit,
                format!("below the current usage of {usage} bytes"),
            ));
        }
    }
    if limit != 0 && swap != 0 {
        let current = read_u64(dir, LIMIT)?;
        if swap == -1 || current < swap as u64 {
            write(dir, MEMSW, swap)?;
            write(dir, LIMIT, limit)?;
        } else {
            write(dir, LIMIT, limit)?;
            write(dir, MEMSW, swap)?;
        }
    } else {
        if limit != 0 {
            write(dir, LIMIT, limit)?;
        }
        if swap != 0 {
            write(dir, MEMSW, swap)?;
        }
    }
    if let Some(v) = m.reservation()
        && v != 0
    {
        write(dir, "memory.soft_limit_in_bytes", v)?;
    }
    // Kernel memory limits are deprecated: set them where the kernel still has the file,
    // ignore them where it does not (as runc does).
    for (file, v) in [
        ("memory.kmem.limit_in_bytes", m.kernel()),
        ("memory.kmem.tcp.limit_in_bytes", m.kernel_tcp()),
    ] {
        if let Some(v) = v
            && v != 0
            && dir.join(file).exists()
        {
            match write(dir, file, v) {
                Err(CgroupError::Write { source, .. })
                    if matches!(source.raw_os_error(), Some(libc::EOPNOTSUPP)) => {}
                other => other?,
            }
        }
    }
    if let Some(v) = m.swappiness() {
        write(dir, "memory.swappiness", v)?;
    }
    match m.disable_oom_killer() {
        Some(true) => write(dir, "memory.oom_control", 1)?,
        Some(false) => {
            let cur = read(dir, "memory.oom_control")?;
            if cur.lines().any(|l| l.trim() == "oom_kill_disable 1") {
                write(dir, "memory.oom_control", 0)?;
            }
        }
        None => {}
    }
    if m.use_hierarchy() == Some(false) {
        write(dir, "memory.use_hierarchy", 0)?;
    }
    Ok(())
}

/// cpu: shares, CFS period/quota/burst, idle, real-time period/runtime.
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(v) = c.shares()
        && v != 0
    {
        write(dir, "cpu.shares", v)?;
    }
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    if let Some(p) = period {
        match write(dir, "cpu.cfs_period_us", p) {
            // A shorter period can break the parent's quota/period ratio until the quota
            // is written: write the quota first and retry.
            Err(CgroupError::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                write(dir, "cpu.cfs_quota_us", quota.unwrap_or(-1))?;
                write(dir, "cpu.cfs_period_us", p)?;
            }
            other => other?,
        }
    }
    if let Some(q) = quota {
        write(dir, "cpu.cfs_quota_us", q)?;
    }
    if let Some(b) = c.burst() {
        if !dir.join("cpu.cfs_burst_us").exists() {
            return Err(CgroupError::unsupported(
                "linux.resources.cpu.burst",
                "the kernel has no cpu.cfs_burst_us",
            ));
        }
        write(dir, "cpu.cfs_burst_us", b)?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i)?;
    }
    if let Some(p) = c.realtime_period()
        && p != 0
    {
        write(dir, "cpu.rt_period_us", p)?;
    }
    if let Some(r) = c.realtime_runtime()
        && r != 0
    {
        write(dir, "cpu.rt_runtime_us", r)?;
    }
    Ok(())
}

/// cpuset: cpus and mems.
pub(crate) fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", v)?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", v)?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy them from
/// the parent, top-down from `top` (the mount point) to `leaf`.
pub(crate) fn init_cpuset(top: &Path, leaf: &Path) -> Result<()> {
    let Ok(rel) = leaf.strip_prefix(top) else {
        return Ok(());
    };
    let mut dir = top.to_path_buf();
    for comp in rel.components() {
        let parent = dir.clone();
        dir.push(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if read(&dir, f)?.trim().is_empty() {
                let v = read(&parent, f)?;
                write(&dir, f, v.trim())?;
            }
        }
    }
    Ok(())
}

/// blkio: weights (CFQ `blkio.weight` or BFQ `blkio.bfq.weight`) and throttles.
pub(crate) fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists());
    let no_weight = |field: &str| {
        CgroupError::unsupported(
            field,
            "the kernel offers neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ)",
        )
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let f = weight_file.ok_or_else(|| no_weight("linux.resources.blockIO.weight"))?;
        write(dir, f, w)?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        if !dir.join("blkio.leaf_weight").exists() {
            return Err(CgroupError::unsupported(
                "linux.resources.blockIO.leafWeight",
                "the kernel has no blkio.leaf_weight",
            ));
        }
        write(dir, "blkio.leaf_weight", w)?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            let f = weight_file
                .ok_or_else(|| no_weight(&format!("linux.resources.blockIO.weightDevice[{i}]")))?;
            write(
                dir,
                &format!("{f}_device"),
                format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            if !dir.join("blkio.leaf_weight_device").exists() {
                return Err(CgroupError::unsupported(
                    format!("linux.resources.blockIO.weightDevice[{i}].leafWeight"),
                    "the kernel has no blkio.leaf_weight_device",
                ));
            }
            write(
                dir,
                "blkio.leaf_weight_device",
                format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    for (file, list) in [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ] {
        for d in list.iter().flatten() {
            write(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// hugetlb: `hugetlb.<size>.limit_in_bytes`, and the reservation limit where it exists.
pub(crate) fn hugetlb(dir: &Path, r: &LinuxResources) -> Result<()> {
    for h in r.hugepage_limits().iter().flatten() {
        write(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        )?;
        let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", h.page_size());
        if dir.join(&rsvd).exists() {
            write(dir, &rsvd, h.limit())?;
        }
    }
    Ok(())
}

/// devices: each rule in order to `devices.allow` or `devices.deny`.
pub(crate) fn devices(dir: &Path, r: &LinuxResources) -> Result<()> {
    for d in r.devices().iter().flatten() {
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, super::devices::rule_text(d))?;
    }
    Ok(())
}

/// net_cls / net_prio.
pub(crate) fn network(
    cls: Option<&Path>,
    prio: Option<&Path>,
    n: &oci_spec::runtime::LinuxNetwork,
) -> Result<()> {
    if let (Some(dir), Some(id)) = (cls, n.class_id()) {
        write(dir, "net_cls.classid", id)?;
    }
    if let Some(dir) = prio {
        for p in n.priorities().iter().flatten() {
            write(
                dir,
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}
