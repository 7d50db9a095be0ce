//! Which cgroup hierarchies this host has: legacy (v1 only), hybrid (v1 controllers plus a
//! cgroup2 mount, usually at `/sys/fs/cgroup/unified`) or unified (pure v2).
//!
//! The layout is read from `/proc/self/mountinfo` once per process and cached
//! ([`Layout::host`]): creating a container must not re-parse mountinfo.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::CgroupError;

/// A cgroup hierarchy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupVersion {
    /// Legacy cgroup v1: one hierarchy per controller (or co-mounted group).
    V1,
    /// The unified cgroup2 hierarchy.
    V2,
}

/// How the host's hierarchies are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 mount (which may hold the controllers no v1
    /// hierarchy took, e.g. hugetlb).
    Hybrid,
    /// Only the cgroup2 hierarchy.
    Unified,
}

/// Controllers berth knows for v1 mounts (mount options that are not controllers, like
/// `rw` or `xattr`, are skipped).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// The controllers it carries: for v1 the mount's controllers (and `name=X` for named
    /// hierarchies), for v2 the contents of the root's `cgroup.controllers`.
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Its name under the cgroup mount root (`memory`, `unified`, `cpu,cpuacct`), or ""
    /// when it is the only (v2) hierarchy mounted at the root itself.
    pub name: String,
}

impl Hierarchy {
    /// Whether this hierarchy carries `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The host's cgroup hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    hierarchies: Vec<Hierarchy>,
}

static HOST: OnceLock<Result<Layout, String>> = OnceLock::new();

impl Layout {
    /// The layout of this host, read once from `/proc/self/mountinfo` and cached.
    pub fn host() -> Result<&'static Layout, CgroupError> {
        HOST.get_or_init(|| {
            let text = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
            Layout::from_mountinfo(&text).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| CgroupError::Layout {
            reason: reason.clone(),
        })
    }

    /// Parse mountinfo text. The controllers of a cgroup2 mount are read from its
    /// `cgroup.controllers` file.
    pub fn from_mountinfo(text: &str) -> Result<Layout, CgroupError> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut seen_dev: Vec<String> = Vec::new();
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                continue;
            }
            let (dev, mount_point, fstype, superopts) = (pre[2], pre[4], post[0], post[2]);
            let version = match fstype {
                "cgroup" => CgroupVersion::V1,
                "cgroup2" => CgroupVersion::V2,
                _ => continue,
            };
            // The same hierarchy bind-mounted twice counts once.
            if seen_dev.iter().any(|d| d == dev) {
                continue;
            }
            seen_dev.push(dev.to_string());
            let mount_point = PathBuf::from(unescape(mount_point));
            let controllers: Vec<String> = match version {
                CgroupVersion::V1 => superopts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect(),
                CgroupVersion::V2 => read_controllers(&mount_point),
            };
            // Like runc: a v1 hierarchy counts if it carries a controller, or is systemd's
            // named one; other named hierarchies (a tool's or a test's private
            // `name=x` mount) are not the container's to join.
            if version == CgroupVersion::V1
                && !controllers
                    .iter()
                    .any(|c| !c.starts_with("name=") || c == "name=systemd")
            {
                continue;
            }
            hierarchies.push(Hierarchy {
                version,
                controllers,
                name: String::new(),
                mount_point,
            });
        }
        Layout::new(hierarchies)
    }

    /// A layout of one cgroup2 hierarchy mounted at `mount_point` (its controllers read
    /// from `cgroup.controllers` there). Lets a caller use a cgroup2 mount other than the
    /// host's default, or a directory standing in for one in tests.
    pub fn v2_at(mount_point: &Path) -> Result<Layout, CgroupError> {
        if !mount_point.is_dir() {
            return Err(CgroupError::Layout {
                reason: format!("{} is not a directory", mount_point.display()),
            });
        }
        Layout::new(vec![Hierarchy {
            version: CgroupVersion::V2,
            controllers: read_controllers(mount_point),
            mount_point: mount_point.to_path_buf(),
            name: String::new(),
        }])
    }

    /// A layout from explicit hierarchies (names are derived from the mount points).
    pub fn new(mut hierarchies: Vec<Hierarchy>) -> Result<Layout, CgroupError> {
        if hierarchies.is_empty() {
            return Err(CgroupError::Layout {
                reason: "no cgroup or cgroup2 filesystem is mounted".into(),
            });
        }
        let single = hierarchies.len() == 1;
        for h in &mut hierarchies {
            h.name = if single && h.version == CgroupVersion::V2 {
                String::new()
            } else {
                h.mount_point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| h.controllers.join(","))
            };
        }
        Ok(Layout { hierarchies })
    }

    /// Every hierarchy, in mount order.
    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// Legacy, hybrid or unified.
    pub fn mode(&self) -> Mode {
        let v1 = self
            .hierarchies
            .iter()
            .any(|h| h.version == CgroupVersion::V1);
        match (v1, self.unified().is_some()) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::Legacy,
            _ => Mode::Unified,
        }
    }

    /// The cgroup2 hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == CgroupVersion::V2)
    }

    /// The hierarchy that carries `controller`: a v1 hierarchy if one has it (v1 takes a
    /// controller away from cgroup2), else the cgroup2 one if its root offers it.
    pub fn controller(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == CgroupVersion::V1 && h.has(controller))
            .or_else(|| self.unified().filter(|h| h.has(controller)))
    }

    /// The controllers the cgroup2 hierarchy offers that no v1 hierarchy took: the ones
    /// to enable in `cgroup.subtree_control` along a container's path.
    pub fn v2_controllers(&self) -> Vec<String> {
        let Some(u) = self.unified() else {
            return Vec::new();
        };
        u.controllers
            .iter()
            .filter(|c| {
                !self
                    .hierarchies
                    .iter()
                    .any(|h| h.version == CgroupVersion::V1 && h.has(c))
            })
            .cloned()
            .collect()
    }
}

fn read_controllers(mount_point: &Path) -> Vec<String> {
    std::fs::read_to_string(mount_point.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /nonexistent-berth/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:32 / /mnt/again\\040here rw,relatime - cgroup cgroup rw,memory
100 31 0:90 / /tmp/.tmpX/h rw,relatime - cgroup cgroup rw,name=berth-test
";

    #[test]
    fn hybrid_mountinfo_is_understood() {
        let l = Layout::from_mountinfo(HYBRID).expect("layout");
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(l.hierarchies().len(), 5, "{l:?}");
        let names: Vec<&str> = l.hierarchies().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(
            l.controller("memory").map(|h| h.version),
            Some(CgroupVersion::V1)
        );
        assert_eq!(l.hierarchies()[3].controllers, ["name=systemd"]);
        assert!(l.controller("hugetlb").is_none());
    }

    #[test]
    fn pure_v2_and_legacy() {
        let l = Layout::from_mountinfo(
            "30 23 0:26 / /nonexistent-berth-cg rw - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .expect("layout");
        assert_eq!(l.mode(), Mode::Unified);
        assert_eq!(l.hierarchies()[0].name, "");
        let l = Layout::from_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        )
        .expect("layout");
        assert_eq!(l.mode(), Mode::Legacy);
        assert_eq!(l.hierarchies()[0].controllers, ["cpu", "cpuacct"]);
        assert!(Layout::from_mountinfo("").is_err());
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain\\"), "/plain\\");
    }
}
