//! Mount entries of the spec, parsed into kernel flags before the fork.

use std::path::PathBuf;

use nix::mount::MsFlags;

/// What kind of mount an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountKind {
    /// A bind mount of a host path (`type: bind` or a `bind`/`rbind` option).
    Bind {
        /// Recursive (`rbind`).
        recursive: bool,
    },
    /// The `cgroup` pseudo type: the container's cgroup directories.
    Cgroup,
    /// Any file system type the kernel mounts (`proc`, `tmpfs`, `sysfs`, ...).
    Fs(String),
}

/// One parsed `mounts[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct MountSpec {
    /// Destination, absolute inside the container.
    pub destination: PathBuf,
    /// Source (host path for binds).
    pub source: Option<PathBuf>,
    pub kind: MountKind,
    /// Flags for the mount call.
    pub flags: MsFlags,
    /// Propagation flags applied after mounting.
    pub propagation: MsFlags,
    /// File-system specific options (`mode=755,size=65536k`).
    pub data: String,
}

impl MountSpec {
    /// Parse an OCI mount entry; the error says which option is wrong.
    pub(crate) fn from_oci(m: &oci_spec::runtime::Mount) -> Result<Self, String> {
        let mut flags = MsFlags::empty();
        let mut propagation = MsFlags::empty();
        let mut data = Vec::new();
        let mut bind = None;
        for opt in m.options().iter().flatten() {
            let (set, clear) = match opt.as_str() {
                "bind" => {
                    bind.get_or_insert(false);
                    continue;
                }
                "rbind" => {
                    bind = Some(true);
                    continue;
                }
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "private" => {
                    propagation |= MsFlags::MS_PRIVATE;
                    continue;
                }
                "rprivate" => {
                    propagation |= MsFlags::MS_PRIVATE | MsFlags::MS_REC;
                    continue;
                }
                "shared" => {
                    propagation |= MsFlags::MS_SHARED;
                    continue;
                }
                "rshared" => {
                    propagation |= MsFlags::MS_SHARED | MsFlags::MS_REC;
                    continue;
                }
                "slave" => {
                    propagation |= MsFlags::MS_SLAVE;
                    continue;
                }
                "rslave" => {
                    propagation |= MsFlags::MS_SLAVE | MsFlags::MS_REC;
                    continue;
                }
                "unbindable" => {
                    propagation |= MsFlags::MS_UNBINDABLE;
                    continue;
                }
                "runbindable" => {
                    propagation |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC;
                    continue;
                }
                // Accepted and meaningless here (runc/crun extensions).
                "tmpcopyup" | "defaults" | "idmap" | "ridmap" | "copy-symlink" | "notmpcopyup" => {
                    continue;
                }
                other => {
                    if other.is_empty() || other.contains('\0') {
                        return Err(format!("bad option {other:?}"));
                    }
                    data.push(other.to_string());
                    continue;
                }
            };
            flags |= set;
            flags &= !clear;
        }
        let typ = m.typ().as_deref().unwrap_or("");
        let kind = if typ == "bind" || bind.is_some() {
            MountKind::Bind {
                recursive: bind.unwrap_or(false),
            }
        } else if typ == "cgroup" || typ == "cgroup2" {
            MountKind::Cgroup
        } else if typ.is_empty() {
            return Err("no type and no bind option".into());
        } else {
            MountKind::Fs(typ.to_string())
        };
        if let MountKind::Bind { .. } = kind {
            match m.source() {
                Some(s) if s.is_absolute() => {}
                Some(s) => return Err(format!("bind source {} is not absolute", s.display())),
                None => return Err("bind mount without a source".into()),
            }
            if !data.is_empty() {
                tracing::debug!(options = ?data, "ignoring data options of a bind mount");
                data.clear();
            }
        }
        Ok(MountSpec {
            destination: m.destination().clone(),
            source: m.source().clone(),
            kind,
            flags,
            propagation,
            data: data.join(","),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    #[test]
    fn parses_flags() {
        let m = MountBuilder::default()
            .destination("/data")
            .typ("bind")
            .source("/tmp")
            .options(vec![
                "rbind".to_string(),
                "ro".into(),
                "nosuid".into(),
                "rslave".into(),
            ])
            .build()
            .expect("mount");
        let s = MountSpec::from_oci(&m).expect("parse");
        assert_eq!(s.kind, MountKind::Bind { recursive: true });
        assert!(s.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(s.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    }

    #[test]
    fn tmpfs_data() {
        let m = MountBuilder::default()
            .destination("/dev")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".to_string(),
                "mode=755".into(),
                "size=65536k".into(),
            ])
            .build()
            .expect("mount");
        let s = MountSpec::from_oci(&m).expect("parse");
        assert_eq!(s.data, "mode=755,size=65536k");
        assert_eq!(s.kind, MountKind::Fs("tmpfs".into()));
    }

    #[test]
    fn relative_bind_source_is_an_error() {
        let m = MountBuilder::default()
            .destination("/x")
            .typ("bind")
            .source("rel")
            .build()
            .expect("mount");
        assert!(MountSpec::from_oci(&m).is_err());
    }
}
