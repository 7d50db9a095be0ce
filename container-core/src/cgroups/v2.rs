//! Writing resources into a cgroup2 directory (runc's file names and conversions), and
//! enabling controllers in `cgroup.subtree_control` along a cgroup's path.
//!
//! Every function takes the directory it writes to, so the logic works on any cgroup2
//! tree: the host's, a second cgroup2 mount, or a plain directory standing in for one.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::CgroupError;
use super::resources::{
    blkio_weight_to_io, read, read_u64, shares_to_weight, swap_to_v2, v2_limit, write,
};

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Enable `controllers` in `cgroup.subtree_control` of every directory from `top` (the
/// mount point) down to the parent of `leaf`, skipping the ones already enabled. A
/// controller the kernel refuses is an error only if the spec needs it (`needed`).
pub(crate) fn enable_controllers(
    top: &Path,
    leaf: &Path,
    controllers: &[String],
    needed: &dyn Fn(&str) -> bool,
) -> Result<()> {
    if controllers.is_empty() {
        return Ok(());
    }
    let Ok(rel) = leaf.strip_prefix(top) else {
        return Ok(());
    };
    let comps: Vec<_> = rel.components().collect();
    let mut dirs = vec![top.to_path_buf()];
    for c in &comps[..comps.len().saturating_sub(1)] {
        let next = dirs[dirs.len() - 1].join(c);
        dirs.push(next);
    }
    for dir in dirs {
        let enabled =
            std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<&String> = controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
        if write(&dir, "cgroup.subtree_control", all.join(" ")).is_ok() {
            continue;
        }
        // One write is all-or-nothing: find the refused controller one by one.
        for c in missing {
            if let Err(e) = write(&dir, "cgroup.subtree_control", format!("+{c}"))
                && needed(c)
            {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// memory.max, memory.swap.max (converted from memory+swap), memory.low.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = swap_to_v2(m.swap().unwrap_or(0), limit)?;
    if m.check_before_update() == Some(true) && limit > 0 {
        let usage = read_u64(dir, "memory.current")?;
        if (limit as u64) < usage {
            return Err(CgroupError::invalid(
                "linux.resources.memory.limit",
                limit,
                format!("below the current usage of {usage} bytes"),
            ));
        }
    }
    if let Some(s) = swap {
        write(dir, "memory.swap.max", v2_limit(s))?;
    }
    if limit != 0 {
        write(dir, "memory.max", v2_limit(limit))?;
    }
    if let Some(r) = m.reservation()
        && r != 0
    {
        write(dir, "memory.low", v2_limit(r))?;
    }
    // Kernel memory has no separate limit on v2 (it is part of memory.max): ignored, as
    // runc does. So are swappiness (v2 has only the global vm.swappiness) and the OOM
    // switch (v2 cannot disable the OOM killer): runc's fs2 skips them too (crun refuses
    // them); say so.
    if let Some(s) = m.swappiness() {
        tracing::warn!(
            field = "linux.resources.memory.swappiness",
            value = s,
            dir = %dir.display(),
            "cgroup v2 has no per-cgroup swappiness; ignored"
        );
    }
    if m.disable_oom_killer() == Some(true) {
        tracing::warn!(
            field = "linux.resources.memory.disableOOMKiller",
            dir = %dir.display(),
            "cgroup v2 cannot disable the OOM killer; ignored"
        );
    }
    Ok(())
}

/// cpu.weight (from shares), cpu.max (quota and period), cpu.max.burst, cpu.idle.
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares()
        && s != 0
    {
        write(dir, "cpu.weight", shares_to_weight(s))?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        let quota_text = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            None => {
                // Keep the current quota when only the period changes.
                let cur = read(dir, "cpu.max").unwrap_or_default();
                cur.split_whitespace().next().unwrap_or("max").to_string()
            }
        };
        let v = match period {
            Some(p) => format!("{quota_text} {p}"),
            None => quota_text,
        };
        write(dir, "cpu.max", v)?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", b)?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i)?;
    }
    // cgroup v2 has no real-time bandwidth control (cpu.rt_*): runc's fs2 skips the
    // fields (crun refuses them); say so.
    for (name, v) in [
        ("realtimeRuntime", c.realtime_runtime()),
        ("realtimePeriod", c.realtime_period().map(|p| p as i64)),
    ] {
        if let Some(v) = v.filter(|v| *v != 0) {
            tracing::warn!(
                field = format!("linux.resources.cpu.{name}"),
                value = v,
                dir = %dir.display(),
                "cgroup v2 has no real-time CPU bandwidth control; ignored"
            );
        }
    }
    Ok(())
}

/// cpuset.cpus and cpuset.mems.
pub(crate) fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    super::v1::cpuset(dir, c)
}

/// pids.max: a positive limit, or "max" for a negative one; 0 leaves it unset (runc).
pub(crate) fn pids(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    write(dir, "pids.max", v2_limit(limit))
}

/// io.weight / io.bfq.weight and io.max.
pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // BFQ takes the v1 range as is; io.weight takes the converted one.
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            write(dir, "io.bfq.weight", w)?;
        } else {
            write(
                dir,
                "io.weight",
                format!("default {}", blkio_weight_to_io(w)),
            )?;
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            if bfq {
                write(
                    dir,
                    "io.bfq.weight",
                    format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            } else {
                write(
                    dir,
                    "io.weight",
                    format!("{}:{} {}", d.major(), d.minor(), blkio_weight_to_io(w)),
                )?;
            }
        }
    }
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            write(
                dir,
                "io.max",
                format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// hugetlb.<size>.max, and hugetlb.<size>.rsvd.max where the kernel has it.
pub(crate) fn hugetlb(dir: &Path, r: &LinuxResources) -> Result<()> {
    for h in r.hugepage_limits().iter().flatten() {
        write(dir, &format!("hugetlb.{}.max", h.page_size()), h.limit())?;
        let rsvd = format!("hugetlb.{}.rsvd.max", h.page_size());
        if dir.join(&rsvd).exists() {
            write(dir, &rsvd, h.limit())?;
        }
    }
    Ok(())
}

/// rdma.max (same syntax on v1 and v2).
pub(crate) fn rdma(dir: &Path, r: &LinuxResources) -> Result<()> {
    for (dev, l) in r.rdma().iter().flatten() {
        let mut v = dev.clone();
        if let Some(h) = l.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        write(dir, "rdma.max", v)?;
    }
    Ok(())
}

/// `linux.resources.unified`: file name -> value, written as given.
pub(crate) fn unified(dir: &Path, r: &LinuxResources) -> Result<()> {
    let mut keys: Vec<(&String, &String)> = r.unified().iter().flatten().collect();
    keys.sort();
    for (k, v) in keys {
        write(dir, k, v)?;
    }
    Ok(())
}
