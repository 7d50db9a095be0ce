//! cgroups: the container's directory in every hierarchy of the host, its resource
//! limits, statistics, freezer, and removal.
//!
//! Works on cgroup v1, pure cgroup v2 and the **hybrid** layout (v1 controllers plus a
//! cgroup2 mount such as `/sys/fs/cgroup/unified`, which may itself carry controllers no
//! v1 hierarchy took, e.g. hugetlb). Each controller is written where the host has it
//! ([`Layout::controller`]); the host layout is read once per process ([`Layout::host`]).
//!
//! * [`Cgroup::create`] validates every `LinuxResources` field first (a bad value is a
//!   [`CgroupError::InvalidValue`] naming the field, and nothing is created), then makes
//!   the directory in each hierarchy and writes the limits. Any failure removes what was
//!   made.
//! * [`Cgroup::apply`] writes limits (create and `update`), [`Cgroup::stats`] reads usage
//!   back, [`Cgroup::freeze`]/[`Cgroup::thaw`] use the v1 freezer or `cgroup.freeze`,
//!   [`Cgroup::kill_all`] uses `cgroup.kill` when it can, [`Cgroup::delete`] waits for the
//!   cgroup to empty and removes every hierarchy's directory.
//! * [`Cgroup::attach`] gives a forked child what it needs to join the cgroup itself,
//!   without the kernel's global migration lock (see the `attach` module).
//!
//! Device rules: v1 `devices.allow`/`devices.deny` where a v1 devices hierarchy exists
//! (legacy and hybrid hosts); otherwise an eBPF device program attached to the cgroup2
//! directory ([`ebpf`]), which replaces the previous program on update. A non-empty rule
//! list on v2 is an allowlist: what it does not allow is denied (as with runc and crun).
//!
//! ```no_run
//! use container_core::cgroups::Cgroup;
//! let res: oci_spec::runtime::LinuxResources =
//!     serde_json::from_str(r#"{"memory": {"limit": 67108864}, "pids": {"limit": 64}}"#)?;
//! let cg = Cgroup::create("/berth-example/job", Some(&res))?;
//! cg.add_pid(std::process::id() as i32)?;
//! println!("{:?}", cg.stats()?.memory.map(|m| m.usage));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attach;
pub mod devices;
pub mod ebpf;
mod error;
mod layout;
pub mod resources;
mod stats;
mod v1;
pub mod v2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

pub use attach::Attach;
pub use error::CgroupError;
pub use layout::{CgroupVersion, Hierarchy, Layout, Mode};
pub use stats::{
    BlkioDevice, BlkioStats, CgroupStats, CpuStats, HugetlbStats, MemoryStats, PidsStats,
};

use resources::{read, write};

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// The parent of the cgroups of containers without `linux.cgroupsPath` (`/berth/<id>`).
/// [`Cgroup::delete`] removes it once its last container is gone; [`Cgroup::create`]
/// recreates it, tolerating a concurrent removal.
pub const DEFAULT_PARENT: &str = "berth";

/// How many times [`Cgroup::create`] repeats `mkdir` when a concurrent delete removed the
/// empty parent between its `mkdir` of the parent and of the leaf.
const CREATE_RETRIES: u32 = 100;

/// How long [`Cgroup::delete`] retries `rmdir` of a cgroup that still has processes.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::freeze`] waits for the freezer to report frozen.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Freezer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Freezing has been asked for and is not complete.
    Freezing,
    /// Every process is frozen.
    Frozen,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyPath {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// The hierarchy's controllers.
    pub controllers: Vec<String>,
    /// The hierarchy's name under the cgroup mount root (`memory`, `unified`), "" for the
    /// single cgroup2 hierarchy of a pure v2 host.
    pub mount_name: String,
    /// The hierarchy's mount point.
    pub mount_point: PathBuf,
    /// The container's directory in it.
    pub dir: PathBuf,
}

/// A container's cgroup: one directory per hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    layout: Layout,
    nodes: Vec<HierarchyPath>,
}

/// The cgroup path for a container: the spec's `linux.cgroupsPath`, or `/berth/<id>`.
/// Refuses `..` components, the root itself, and systemd's `slice:prefix:name` syntax
/// (berth drives cgroupfs directly).
pub fn path_for(p: Option<&Path>, id: &str) -> Result<String> {
    let field = "linux.cgroupsPath";
    let Some(p) = p.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(format!("/{DEFAULT_PARENT}/{id}"));
    };
    let s = p.to_string_lossy();
    if !s.starts_with('/') && s.split(':').count() == 3 {
        return Err(CgroupError::unsupported(
            field,
            format!("{s:?} is systemd slice syntax; berth manages cgroupfs directly"),
        ));
    }
    let mut out = String::new();
    for c in s.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            return Err(CgroupError::invalid(field, &s, "must not contain \"..\""));
        }
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        return Err(CgroupError::invalid(
            field,
            &s,
            "must name a cgroup below the root",
        ));
    }
    Ok(out)
}

fn rel(path: &str) -> Result<&str> {
    let r = path.trim_start_matches('/');
    if r.is_empty() || r.split('/').any(|c| c == "..") {
        return Err(CgroupError::invalid(
            "cgroup path",
            path,
            "must name a cgroup below the root, without \"..\"",
        ));
    }
    Ok(r)
}

fn version_in(layout: &Layout, controller: &str) -> Option<CgroupVersion> {
    if controller.is_empty() {
        return layout.unified().map(|_| CgroupVersion::V2);
    }
    if controller == "devices" {
        // No cgroup2 "devices" controller file exists: any cgroup2 hierarchy takes
        // device programs, unless a v1 devices hierarchy holds the controller.
        return layout
            .controller("devices")
            .map(|h| h.version)
            .or_else(|| layout.unified().map(|_| CgroupVersion::V2));
    }
    layout.controller(controller).map(|h| h.version)
}

/// The controllers a resources block needs (for enabling them on cgroup2).
fn needed_controllers(r: Option<&LinuxResources>) -> Vec<&'static str> {
    let Some(r) = r else { return Vec::new() };
    let mut v = Vec::new();
    if r.memory().is_some() {
        v.push("memory");
    }
    if let Some(c) = r.cpu() {
        v.push("cpu");
        if c.cpus().is_some() || c.mems().is_some() {
            v.push("cpuset");
        }
    }
    if r.pids().is_some() {
        v.push("pids");
    }
    if r.block_io().is_some() {
        v.push("io");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        v.push("hugetlb");
    }
    if r.rdma().is_some() {
        v.push("rdma");
    }
    v
}

impl Cgroup {
    /// Create the cgroup at `path` (e.g. `/berth/<id>`) in every hierarchy of this host
    /// and apply `resources`. Nothing is left behind on failure.
    pub fn create(path: &str, resources: Option<&LinuxResources>) -> Result<Cgroup> {
        Cgroup::create_in(Layout::host()?, path, resources)
    }

    /// [`Cgroup::create`] in the hierarchies of `layout`.
    pub fn create_in(
        layout: &Layout,
        path: &str,
        resources: Option<&LinuxResources>,
    ) -> Result<Cgroup> {
        let r = rel(path)?;
        if let Some(res) = resources {
            resources::validate(res, &|c| version_in(layout, c))?;
        }
        let mut cg = Cgroup {
            path: path.to_string(),
            layout: layout.clone(),
            nodes: Vec::with_capacity(layout.hierarchies().len()),
        };
        let needed = needed_controllers(resources);
        let v2_controllers = layout.v2_controllers();
        for h in layout.hierarchies() {
            let dir = h.mount_point.join(r);
            if let Err(source) = create_dir_racing_delete(&dir) {
                let _ = cg.delete();
                return Err(CgroupError::Dir {
                    op: "create",
                    path: dir,
                    source,
                });
            }
            cg.nodes.push(HierarchyPath {
                version: h.version,
                controllers: h.controllers.clone(),
                mount_name: h.name.clone(),
                mount_point: h.mount_point.clone(),
                dir: dir.clone(),
            });
            let prepared = match h.version {
                CgroupVersion::V1 if h.has("cpuset") => v1::init_cpuset(&h.mount_point, &dir),
                CgroupVersion::V2 => {
                    v2::enable_controllers(&h.mount_point, &dir, &v2_controllers, &|c| {
                        needed.contains(&c)
                    })
                }
                CgroupVersion::V1 => Ok(()),
            };
            if let Err(e) = prepared {
                let _ = cg.delete();
                return Err(e);
            }
        }
        if let Some(res) = resources
            && let Err(e) = cg.write_resources(res)
        {
            let _ = cg.delete();
            return Err(e);
        }
        Ok(cg)
    }

    /// Open an existing cgroup (the hierarchies where its directory exists).
    pub fn open(path: &str) -> Result<Cgroup> {
        Cgroup::open_in(Layout::host()?, path)
    }

    /// [`Cgroup::open`] in the hierarchies of `layout`.
    pub fn open_in(layout: &Layout, path: &str) -> Result<Cgroup> {
        let r = rel(path)?;
        let nodes: Vec<HierarchyPath> = layout
            .hierarchies()
            .iter()
            .map(|h| HierarchyPath {
                version: h.version,
                controllers: h.controllers.clone(),
                mount_name: h.name.clone(),
                mount_point: h.mount_point.clone(),
                dir: h.mount_point.join(r),
            })
            .filter(|n| n.dir.is_dir())
            .collect();
        if nodes.is_empty() {
            return Err(CgroupError::NotFound {
                path: path.to_string(),
            });
        }
        Ok(Cgroup {
            path: path.to_string(),
            layout: layout.clone(),
            nodes,
        })
    }

    /// The cgroup path (e.g. `/berth/<id>`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The container's directory in each hierarchy.
    pub fn paths(&self) -> Vec<HierarchyPath> {
        self.nodes.clone()
    }

    /// Whether any of the cgroup's directories still exists.
    pub fn exists(&self) -> bool {
        self.nodes.iter().any(|n| n.dir.is_dir())
    }

    /// The directory and version that carry `controller` (e.g. `memory`, `io`).
    pub fn controller_dir(&self, controller: &str) -> Option<(CgroupVersion, &Path)> {
        let h = self.layout.controller(controller)?;
        self.nodes
            .iter()
            .find(|n| n.mount_point == h.mount_point)
            .map(|n| (n.version, n.dir.as_path()))
    }

    /// The cgroup2 directory, if the host has a cgroup2 hierarchy.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.nodes
            .iter()
            .find(|n| n.version == CgroupVersion::V2)
            .map(|n| n.dir.as_path())
    }

    /// Move process `pid` (all its threads) into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for n in &self.nodes {
            write(&n.dir, "cgroup.procs", pid)?;
        }
        Ok(())
    }

    /// Handles for a forked, single-threaded child to join this cgroup itself
    /// (`clone3(CLONE_INTO_CGROUP)` for cgroup2, `0` to each v1 `tasks` file), which
    /// avoids the global lock that writing another process's pid takes.
    pub fn attach(&self) -> Result<Attach> {
        Attach::open(&self.nodes)
    }

    /// Apply resource limits (at create, and for `update`: only the fields given change).
    /// Every field is validated before the first write.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::validate(r, &|c| version_in(&self.layout, c))?;
        self.write_resources(r)
    }

    fn write_resources(&self, r: &LinuxResources) -> Result<()> {
        use CgroupVersion::{V1, V2};
        if let Some(m) = r.memory() {
            match self.controller_dir("memory") {
                Some((V1, d)) => v1::memory(d, m)?,
                Some((V2, d)) => v2::memory(d, m)?,
                None => {}
            }
        }
        if let Some(c) = r.cpu() {
            match self.controller_dir("cpu") {
                Some((V1, d)) => v1::cpu(d, c)?,
                Some((V2, d)) => v2::cpu(d, c)?,
                None => {}
            }
            match self.controller_dir("cpuset") {
                Some((V1, d)) => v1::cpuset(d, c)?,
                Some((V2, d)) => v2::cpuset(d, c)?,
                None => {}
            }
        }
        if let Some(p) = r.pids()
            && let Some((_, d)) = self.controller_dir("pids")
        {
            v2::pids(d, p.limit())?;
        }
        if let Some(b) = r.block_io() {
            if let Some((V1, d)) = self.controller_dir("blkio") {
                v1::blkio(d, b)?;
            } else if let Some((V2, d)) = self.controller_dir("io") {
                v2::io(d, b)?;
            }
        }
        match self.controller_dir("hugetlb") {
            Some((V1, d)) => v1::hugetlb(d, r)?,
            Some((V2, d)) => v2::hugetlb(d, r)?,
            None => {}
        }
        match self.controller_dir("devices") {
            Some((V1, d)) => v1::devices(d, r)?,
            _ => {
                if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty())
                    && let Some(d) = self.unified_dir()
                {
                    ebpf::apply(d, rules)?;
                }
            }
        }
        if let Some(n) = r.network() {
            let cls = self.controller_dir("net_cls").map(|(_, d)| d);
            let prio = self.controller_dir("net_prio").map(|(_, d)| d);
            v1::network(cls, prio, n)?;
        }
        if let Some((_, d)) = self.controller_dir("rdma") {
            v2::rdma(d, r)?;
        }
        if let Some(d) = self.unified_dir() {
            v2::unified(d, r)?;
        }
        Ok(())
    }

    /// Resource usage. Sections whose controller the host lacks are `None`.
    pub fn stats(&self) -> Result<CgroupStats> {
        use CgroupVersion::{V1, V2};
        let mut s = CgroupStats {
            memory: match self.controller_dir("memory") {
                Some((V1, d)) => Some(stats::memory_v1(d)?),
                Some((V2, d)) => Some(stats::memory_v2(d)?),
                None => None,
            },
            ..Default::default()
        };
        let cpuacct = self.controller_dir("cpuacct").map(|(_, d)| d);
        let cpu = self.controller_dir("cpu");
        s.cpu = match (cpuacct, cpu) {
            (None, Some((V2, d))) => Some(stats::cpu_v2(d)?),
            (acct, cpu) if acct.is_some() || cpu.is_some() => {
                Some(stats::cpu_v1(acct, cpu.map(|(_, d)| d))?)
            }
            _ => match self.unified_dir() {
                Some(d) => Some(stats::cpu_v2(d)?),
                None => None,
            },
        };
        s.pids = match self.controller_dir("pids") {
            Some((_, d)) => Some(stats::pids(d)?),
            None => None,
        };
        s.blkio = match (self.controller_dir("blkio"), self.controller_dir("io")) {
            (Some((V1, d)), _) => Some(stats::blkio_v1(d)?),
            (_, Some((V2, d))) => Some(stats::io_v2(d)?),
            _ => None,
        };
        if let Some((v, d)) = self.controller_dir("hugetlb") {
            s.hugetlb = stats::hugetlb(d, v == V2, &resources::host_hugepage_sizes())?;
        }
        Ok(s)
    }

    /// Freeze every process (v1 freezer, else cgroup2 `cgroup.freeze`) and wait until the
    /// kernel reports them frozen.
    pub fn freeze(&self) -> Result<()> {
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        if let Some((CgroupVersion::V1, d)) = self.controller_dir("freezer") {
            let mut i = 0u32;
            loop {
                // A v1 cgroup can stay in FREEZING when a task is mid-fork: thaw now and
                // then and try again (runc does the same).
                if i % 50 == 49 {
                    write(d, "freezer.state", "THAWED")?;
                    std::thread::sleep(Duration::from_millis(10));
                }
                write(d, "freezer.state", "FROZEN")?;
                let state = read(d, "freezer.state")?;
                if state.trim() == "FROZEN" {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    let _ = write(d, "freezer.state", "THAWED");
                    return Err(CgroupError::FreezeTimeout {
                        path: d.join("freezer.state"),
                        state: state.trim().to_string(),
                    });
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let d = self.v2_freezer()?;
        write(d, "cgroup.freeze", 1)?;
        loop {
            if v2_frozen(d)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = write(d, "cgroup.freeze", 0);
                return Err(CgroupError::FreezeTimeout {
                    path: d.join("cgroup.events"),
                    state: "frozen 0".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Thaw every process.
    pub fn thaw(&self) -> Result<()> {
        if let Some((CgroupVersion::V1, d)) = self.controller_dir("freezer") {
            return write(d, "freezer.state", "THAWED");
        }
        write(self.v2_freezer()?, "cgroup.freeze", 0)
    }

    /// The freezer state.
    pub fn freezer_state(&self) -> Result<FreezerState> {
        if let Some((CgroupVersion::V1, d)) = self.controller_dir("freezer") {
            let s = read(d, "freezer.state")?;
            return Ok(match s.trim() {
                "FROZEN" => FreezerState::Frozen,
                "FREEZING" => FreezerState::Freezing,
                _ => FreezerState::Thawed,
            });
        }
        let Ok(d) = self.v2_freezer() else {
            return Ok(FreezerState::Thawed);
        };
        let wanted = read(d, "cgroup.freeze")?.trim() == "1";
        Ok(match (wanted, v2_frozen(d)?) {
            (_, true) => FreezerState::Frozen,
            (true, false) => FreezerState::Freezing,
            (false, false) => FreezerState::Thawed,
        })
    }

    fn v2_freezer(&self) -> Result<&Path> {
        self.unified_dir()
            .filter(|d| d.join("cgroup.freeze").exists())
            .ok_or_else(|| {
                CgroupError::unsupported(
                    "freezer",
                    "no v1 freezer hierarchy and no cgroup2 cgroup.freeze on this host",
                )
            })
    }

    /// Host pids of every process in the cgroup, including its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = self
            .unified_dir()
            .or_else(|| self.controller_dir("pids").map(|(_, d)| d))
            .or_else(|| self.controller_dir("freezer").map(|(_, d)| d))
            .or_else(|| self.nodes.first().map(|n| n.dir.as_path()));
        let mut out = Vec::new();
        if let Some(d) = dir {
            collect_pids(d, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Send `signal` to every process in the cgroup. SIGKILL uses cgroup2's `cgroup.kill`
    /// when the kernel has it (no process can escape by forking); otherwise the cgroup is
    /// frozen while the signal goes out, where a freezer exists.
    pub fn kill_all(&self, signal: Signal) -> Result<()> {
        if signal == Signal::SIGKILL
            && let Some(d) = self.unified_dir()
            && d.join("cgroup.kill").exists()
        {
            return write(d, "cgroup.kill", 1);
        }
        let frozen = signal == Signal::SIGKILL
            && self.freezer_state().ok() == Some(FreezerState::Thawed)
            && self.freeze().is_ok();
        let mut result = Ok(());
        for pid in self.pids()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(errno) => {
                    if result.is_ok() {
                        result = Err(CgroupError::Kill { pid, signal, errno });
                    }
                }
            }
        }
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Remove the cgroup's directory (and any sub-cgroups the container made) in every
    /// hierarchy, retrying `rmdir` while the kernel reports it busy, for up to
    /// [`DELETE_TIMEOUT`]. The processes must be gone (or going): kill them first. For a
    /// cgroup under the default parent (`/berth/<id>`), the parent is removed too where
    /// it is left empty.
    pub fn delete(&self) -> Result<()> {
        let deadline = Instant::now() + DELETE_TIMEOUT;
        let mut first_err = None;
        for n in &self.nodes {
            if let Err(e) = remove_tree(&n.dir, deadline)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        if first_err.is_none() {
            self.remove_empty_default_parent();
        }
        first_err.map_or(Ok(()), Err)
    }

    /// For `/berth/<id>`: remove `/berth` in every hierarchy where it is now empty. The
    /// kernel refuses to remove a cgroup that has children or processes (`EBUSY`), so a
    /// container created meanwhile keeps it; a create that loses the race against this
    /// `rmdir` repeats its `mkdir` ([`create_dir_racing_delete`]).
    fn remove_empty_default_parent(&self) {
        let mut comps = self.path.trim_start_matches('/').split('/');
        if comps.next() != Some(DEFAULT_PARENT) || comps.next().is_none() || comps.next().is_some()
        {
            return;
        }
        for h in self.layout.hierarchies() {
            let parent = h.mount_point.join(DEFAULT_PARENT);
            match std::fs::remove_dir(&parent) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EBUSY | libc::ENOTEMPTY | libc::ENOENT)
                    ) => {}
                Err(e) => tracing::debug!(
                    dir = %parent.display(),
                    error = %e,
                    "cannot remove the empty default cgroup parent"
                ),
            }
        }
    }
}

/// `mkdir -p dir`, repeated when a concurrent [`Cgroup::delete`] removed an empty parent
/// between the `mkdir` of the parent and of the child (`ENOENT`).
fn create_dir_racing_delete(dir: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::create_dir_all(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < CREATE_RETRIES => {
                tries += 1;
            }
            other => return other,
        }
    }
}

fn v2_frozen(d: &Path) -> Result<bool> {
    Ok(read(d, "cgroup.events")?
        .lines()
        .any(|l| l.trim() == "frozen 1"))
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    match read(dir, "cgroup.procs") {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(CgroupError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&e.path(), out)?;
        }
    }
    Ok(())
}

fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    let start = Instant::now();
    // Sub-cgroups first (a container may create its own).
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&e.path(), deadline)?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut sleep = Duration::from_micros(200);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(sleep);
                sleep = (sleep * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let mut pids = Vec::new();
                let _ = collect_pids(dir, &mut pids);
                return Err(CgroupError::Busy {
                    path: dir.to_path_buf(),
                    waited_ms: start.elapsed().as_millis() as u64,
                    pids,
                });
            }
            Err(source) => {
                return Err(CgroupError::Dir {
                    op: "remove",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths() {
        assert_eq!(path_for(None, "x").expect("default"), "/berth/x");
        assert_eq!(
            path_for(Some(Path::new("a//b/./c")), "x").expect("relative"),
            "/a/b/c"
        );
        for bad in ["/a/../b", "/", "machine.slice:libpod:abc"] {
            let e = path_for(Some(Path::new(bad)), "x").expect_err(bad);
            assert!(e.to_string().contains("linux.cgroupsPath"), "{e}");
        }
    }
}
