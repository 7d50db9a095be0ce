//! cgroups: a MINIMAL stand-in written by the `core` helper so the crate builds until the
//! `cgroups` helper lands the real module (v1/v2/hybrid, resources, stats, freezer). It creates and
//! removes the container's directory in every mounted hierarchy and moves pids; resources are not applied.
#![allow(missing_docs, dead_code)]
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path} not found")]
    NotFound { path: String },
    #[error("io {0}")]
    Io(String),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Freezing,
    Frozen,
}
#[derive(Debug, Default)]
pub struct CgroupStats {}
pub struct HierarchyPath {
    pub version: CgroupVersion,
    pub controllers: Vec<String>,
    pub mount_name: String,
    pub mount_point: PathBuf,
    pub dir: PathBuf,
}
#[derive(Debug)]
pub struct Cgroup {
    path: String,
    dirs: Vec<(String, PathBuf)>,
}
pub fn path_for(p: Option<&Path>, id: &str) -> Result<String, CgroupError> {
    Ok(match p {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => format!("/berth/{id}"),
    })
}
fn hier(path: &str) -> Vec<(String, PathBuf)> {
    let mut v = vec![];
    // Pure cgroup v2: one hierarchy at /sys/fs/cgroup.
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        v.push((
            String::new(),
            Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')),
        ));
        return v;
    }
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let ft = std::fs::symlink_metadata(e.path())
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(true);
        if ft {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        v.push((name, e.path().join(path.trim_start_matches('/'))));
    }
    v
}
impl Cgroup {
    pub fn create(path: &str, r: Option<&LinuxResources>) -> Result<Cgroup, CgroupError> {
        let dirs = hier(path);
        for (n, d) in &dirs {
            std::fs::create_dir_all(d)
                .map_err(|e| CgroupError::Io(format!("{}: {e}", d.display())))?;
            if n.contains("cpuset") {
                let mut chain = vec![];
                let mut c = d.clone();
                while c != Path::new("/sys/fs/cgroup").join(n) {
                    chain.push(c.clone());
                    if !c.pop() {
                        break;
                    }
                }
                chain.reverse();
                for c in chain {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let cur = std::fs::read_to_string(c.join(f)).unwrap_or_default();
                        if cur.trim().is_empty() {
                            let pv = std::fs::read_to_string(
                                c.parent().unwrap_or(Path::new("/")).join(f),
                            )
                            .unwrap_or_default();
                            let _ = std::fs::write(c.join(f), pv.trim());
                        }
                    }
                }
            }
        }
        let cg = Cgroup {
            path: path.into(),
            dirs,
        };
        if let Some(r) = r
            && let Err(e) = cg.apply(r)
        {
            let _ = cg.delete();
            return Err(e);
        }
        Ok(cg)
    }
    pub fn open(path: &str) -> Result<Cgroup, CgroupError> {
        let dirs: Vec<_> = hier(path).into_iter().filter(|(_, d)| d.exists()).collect();
        if dirs.is_empty() {
            return Err(CgroupError::NotFound { path: path.into() });
        }
        Ok(Cgroup {
            path: path.into(),
            dirs,
        })
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, d) in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), pid.to_string())
                .map_err(|e| CgroupError::Io(format!("{}: {e}", d.display())))?;
        }
        Ok(())
    }
    fn dir_of(&self, controller: &str) -> Option<&PathBuf> {
        self.dirs
            .iter()
            .find(|(n, _)| n.split(',').any(|c| c == controller))
            .map(|(_, d)| d)
    }
    fn write(&self, controller: &str, file: &str, value: impl ToString) -> Result<(), CgroupError> {
        let Some(d) = self.dir_of(controller) else {
            return Ok(());
        };
        let p = d.join(file);
        std::fs::write(&p, value.to_string())
            .map_err(|e| CgroupError::Io(format!("write {}: {e}", p.display())))
    }
    /// v1 only: memory, pids, cpu, cpuset (the common subset podman/docker set).
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(m) = r.memory() {
            if let Some(v) = m.reservation() {
                self.write("memory", "memory.soft_limit_in_bytes", v)?;
            }
            if let Some(v) = m.limit() {
                self.write("memory", "memory.limit_in_bytes", v)?;
            }
            if let Some(v) = m.swap()
                && self
                    .dir_of("memory")
                    .is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists())
            {
                self.write("memory", "memory.memsw.limit_in_bytes", v)?;
            }
            if let Some(v) = m.swappiness()
                && v <= 100
            {
                self.write("memory", "memory.swappiness", v)?;
            }
            if m.disable_oom_killer() == Some(true) {
                self.write("memory", "memory.oom_control", 1)?;
            }
        }
        if let Some(p) = r.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            self.write("pids", "pids.max", v)?;
        }
        if let Some(c) = r.cpu() {
            if let Some(v) = c.shares()
                && v > 0
            {
                self.write("cpu", "cpu.shares", v)?;
            }
            if let Some(v) = c.period()
                && v > 0
            {
                self.write("cpu", "cpu.cfs_period_us", v)?;
            }
            if let Some(v) = c.quota()
                && v != 0
            {
                self.write("cpu", "cpu.cfs_quota_us", v)?;
            }
            if let Some(v) = c.cpus()
                && !v.is_empty()
            {
                self.write("cpuset", "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems()
                && !v.is_empty()
            {
                self.write("cpuset", "cpuset.mems", v)?;
            }
        }
        Ok(())
    }
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.write("freezer", "freezer.state", "FROZEN")?;
        for _ in 0..1000 {
            if self.freezer_state()? == FreezerState::Frozen {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(CgroupError::Io("freeze timed out".into()))
    }
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.write("freezer", "freezer.state", "THAWED")
    }
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        let Some(d) = self.dir_of("freezer") else {
            return Ok(FreezerState::Thawed);
        };
        let s = std::fs::read_to_string(d.join("freezer.state")).unwrap_or_default();
        Ok(match s.trim() {
            "FROZEN" => FreezerState::Frozen,
            "FREEZING" => FreezerState::Freezing,
            _ => FreezerState::Thawed,
        })
    }
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        Ok(CgroupStats {})
    }
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut v = vec![];
        if let Some((_, d)) = self.dirs.iter().find(|(n, _)| n == "pids") {
            for l in std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(p) = l.parse() {
                    v.push(p)
                }
            }
        }
        Ok(v)
    }
    pub fn kill_all(&self, sig: nix::sys::signal::Signal) -> Result<(), CgroupError> {
        for p in self.pids()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
        Ok(())
    }
    pub fn delete(&self) -> Result<(), CgroupError> {
        for (_, d) in &self.dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        Ok(())
    }
    pub fn exists(&self) -> bool {
        true
    }
    pub fn paths(&self) -> Vec<HierarchyPath> {
        self.dirs
            .iter()
            .map(|(n, d)| HierarchyPath {
                version: CgroupVersion::V1,
                controllers: vec![],
                mount_name: n.clone(),
                mount_point: PathBuf::new(),
                dir: d.clone(),
            })
            .collect()
    }
}
