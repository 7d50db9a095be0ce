//! Copy-on-write snapshots on overlayfs, in containerd's model.
//!
//! A snapshot is a directory `snapshots/<id>/fs` (plus `work` for overlayfs). An image
//! layer is unpacked by *preparing* an active snapshot on its parent's chain id,
//! applying the layer into its upper dir, and *committing* it under its own chain id;
//! a container's rootfs is an active snapshot prepared on the image's top chain id,
//! mounted as overlayfs with the committed layers as lowerdirs. Every user of a layer
//! shares the one committed snapshot.
//!
//! Metadata is one JSON file (`snapshots/db.json`) rewritten atomically under the
//! store's file lock. Snapshot ids are short numbers so that overlay option strings
//! stay short; when a deep image still exceeds the kernel's one-page limit for mount
//! data, the lowerdirs are passed one by one with the new mount API (`lowerdir+`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Writable, not yet committed.
    Active,
    /// Read-only view of a committed parent.
    View,
    /// Immutable; can be a parent.
    Committed,
}

/// Metadata of one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// Numeric id (its directory name).
    pub id: u64,
    /// Active, view or committed.
    pub kind: Kind,
    /// Key of the parent (a committed snapshot), if any.
    pub parent: Option<String>,
    /// Creation time (RFC 3339).
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Db {
    next_id: u64,
    snapshots: BTreeMap<String, Info>,
}

/// A mount to perform (what containerd calls `mount.Mount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type (`overlay`, `bind`).
    pub kind: String,
    /// Source.
    pub source: String,
    /// Options (`lowerdir=…`, `ro`, `rbind`).
    pub options: Vec<String>,
}

impl Mount {
    /// Perform `mounts` on `target` (one mount in practice).
    pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
        for m in mounts {
            m.mount(target)?;
        }
        Ok(())
    }

    /// Perform this mount on `target`.
    pub fn mount(&self, target: &Path) -> Result<()> {
        use rustix::mount::{MountFlags, MountPropagationFlags};
        let ro = self.options.iter().any(|o| o == "ro");
        if self.kind == "bind" {
            rustix::mount::mount_bind(self.source.as_str(), target).ctx("bind mount", target)?;
            if ro {
                rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")
                    .ctx("remount read-only", target)?;
            }
            let _ = MountPropagationFlags::PRIVATE;
            return Ok(());
        }
        let data: Vec<&str> = self
            .options
            .iter()
            .map(String::as_str)
            .filter(|o| *o != "ro")
            .collect();
        let data = data.join(",");
        let flags = if ro {
            MountFlags::RDONLY
        } else {
            MountFlags::empty()
        };
        if data.len() < 4000 {
            let data = std::ffi::CString::new(data)
                .map_err(|_| Error::io("mount", target, std::io::ErrorKind::InvalidInput.into()))?;
            rustix::mount::mount(
                self.source.as_str(),
                target,
                self.kind.as_str(),
                flags,
                data.as_c_str(),
            )
            .ctx("mount overlay", target)?;
            return Ok(());
        }
        self.mount_new_api(target, ro)
    }

    /// Long lowerdir lists: one `lowerdir+` per layer through fsconfig (Linux ≥ 6.8).
    fn mount_new_api(&self, target: &Path, ro: bool) -> Result<()> {
        use rustix::mount::*;
        let fs = fsopen(self.kind.as_str(), FsOpenFlags::FSOPEN_CLOEXEC).ctx("fsopen", target)?;
        for opt in &self.options {
            if opt == "ro" {
                continue;
            }
            match opt.split_once('=') {
                Some(("lowerdir", dirs)) => {
                    for d in dirs.split(':') {
                        fsconfig_set_string(&fs, "lowerdir+", d)
                            .ctx("fsconfig lowerdir+", PathBuf::from(d))?;
                    }
                }
                Some((k, v)) => fsconfig_set_string(&fs, k, v).ctx("fsconfig", target)?,
                None => fsconfig_set_flag(&fs, opt.as_str()).ctx("fsconfig", target)?,
            }
        }
        fsconfig_create(&fs).ctx("fsconfig create", target)?;
        let attrs = if ro {
            MountAttrFlags::MOUNT_ATTR_RDONLY
        } else {
            MountAttrFlags::empty()
        };
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).ctx("fsmount", target)?;
        move_mount(
            &mnt,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .ctx("move_mount", target)?;
        Ok(())
    }
}

/// Unmount `target` (lazily if busy).
pub fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
                .ctx("unmount", target)
        }
        Err(e) => Err(Error::io("unmount", target, e.into())),
    }
}

/// The snapshotter of a [`Store`].
#[derive(Debug, Clone)]
pub struct Snapshotter {
    store: Store,
    dir: PathBuf,
}

impl Snapshotter {
    /// The directory exists: [`Store::open`] made it.
    pub(crate) fn new(store: Store) -> Snapshotter {
        let dir = store.root().join("snapshots");
        Snapshotter { store, dir }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.join("db.json")
    }

    fn load(&self) -> Result<Db> {
        let p = self.db_path();
        match fs::read(&p) {
            Ok(data) => {
                serde_json::from_slice(&data).map_err(|e| Error::json(p.display().to_string(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Db {
                next_id: 1,
                ..Db::default()
            }),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    fn save(&self, db: &Db) -> Result<()> {
        let data = serde_json::to_vec_pretty(db).map_err(|e| Error::json("snapshot db", e))?;
        crate::store::write_atomic(&self.db_path(), &data)
    }

    /// Directory of snapshot `id`.
    fn id_dir(&self, id: u64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Info about `key`.
    pub fn stat(&self, key: &str) -> Result<Info> {
        self.load()?
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| not_found(key))
    }

    /// True when a snapshot `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.load()?.snapshots.contains_key(key))
    }

    /// All snapshots by key.
    pub fn list(&self) -> Result<BTreeMap<String, Info>> {
        Ok(self.load()?.snapshots)
    }

    /// Create a writable snapshot `key` on top of the committed `parent` (a chain id,
    /// or any committed key); returns the mounts that give its rootfs.
    pub fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>> {
        self.create(key, parent.map(|p| p.to_string()), Kind::Active)
    }

    /// Like [`prepare`](Self::prepare) with a parent given by key.
    pub fn prepare_on(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent.map(String::from), Kind::Active)
    }

    /// Create a read-only view of `parent`.
    pub fn view(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>> {
        self.create(key, parent.map(|p| p.to_string()), Kind::View)
    }

    fn create(&self, key: &str, parent: Option<String>, kind: Kind) -> Result<Vec<Mount>> {
        if key.is_empty() {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "empty key".into(),
            });
        }
        let _lock = self.store.lock()?;
        let mut db = self.load()?;
        if db.snapshots.contains_key(key) {
            return Err(Error::AlreadyExists {
                kind: "snapshot",
                name: key.into(),
            });
        }
        if let Some(p) = &parent {
            match db.snapshots.get(p) {
                Some(i) if i.kind == Kind::Committed => {}
                Some(_) => {
                    return Err(Error::Snapshot {
                        key: key.into(),
                        reason: format!("parent {p} is not committed"),
                    });
                }
                None => return Err(not_found(p)),
            }
        }
        let id = db.next_id.max(1);
        db.next_id = id + 1;
        let dir = self.id_dir(id);
        if dir.exists() {
            fs::remove_dir_all(&dir).ctx("remove stale snapshot", &dir)?;
        }
        fs::create_dir_all(dir.join("fs")).ctx("create snapshot", &dir)?;
        fs::create_dir_all(dir.join("work")).ctx("create snapshot", &dir)?;
        db.snapshots.insert(
            key.to_string(),
            Info {
                id,
                kind,
                parent,
                created: chrono::Utc::now().to_rfc3339(),
            },
        );
        self.save(&db)?;
        self.mounts_in(&db, key)
    }

    /// The mounts of an active or view snapshot.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let db = self.load()?;
        self.mounts_in(&db, key)
    }

    /// The fs directories of `key`'s ancestors, nearest first.
    fn lowers(&self, db: &Db, mut parent: Option<String>) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        while let Some(p) = parent {
            let info = db.snapshots.get(&p).ok_or_else(|| not_found(&p))?;
            out.push(self.id_dir(info.id).join("fs"));
            parent = info.parent.clone();
            if out.len() > 10_000 {
                return Err(Error::Snapshot {
                    key: p,
                    reason: "parent chain loops".into(),
                });
            }
        }
        Ok(out)
    }

    /// The lower directories (nearest first) of snapshot `key`, for applying a layer
    /// whose hardlinks point below it.
    pub fn lower_dirs(&self, key: &str) -> Result<Vec<PathBuf>> {
        let db = self.load()?;
        let info = db.snapshots.get(key).ok_or_else(|| not_found(key))?;
        self.lowers(&db, info.parent.clone())
    }

    fn mounts_in(&self, db: &Db, key: &str) -> Result<Vec<Mount>> {
        let info = db.snapshots.get(key).ok_or_else(|| not_found(key))?;
        let dir = self.id_dir(info.id);
        let lowers = self.lowers(db, info.parent.clone())?;
        let s = |p: &Path| p.display().to_string();
        let m = match (info.kind, lowers.len()) {
            (Kind::Committed, _) => {
                return Err(Error::Snapshot {
                    key: key.into(),
                    reason: "committed snapshots have no mounts; prepare or view on them".into(),
                });
            }
            (Kind::Active, 0) => Mount {
                kind: "bind".into(),
                source: s(&dir.join("fs")),
                options: vec!["rbind".into(), "rw".into()],
            },
            (Kind::View, 0) => Mount {
                kind: "bind".into(),
                source: s(&dir.join("fs")),
                options: vec!["rbind".into(), "ro".into()],
            },
            (Kind::View, 1) => Mount {
                kind: "bind".into(),
                source: s(&lowers[0]),
                options: vec!["rbind".into(), "ro".into()],
            },
            (Kind::View, _) => Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec!["ro".into(), format!("lowerdir={}", join_lowers(&lowers))],
            },
            (Kind::Active, _) => Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    "index=off".into(),
                    format!("workdir={}", s(&dir.join("work"))),
                    format!("upperdir={}", s(&dir.join("fs"))),
                    format!("lowerdir={}", join_lowers(&lowers)),
                ],
            },
        };
        Ok(vec![m])
    }

    /// Mount snapshot `key` on `target`.
    pub fn mount(&self, key: &str, target: &Path) -> Result<()> {
        Mount::mount_all(&self.mounts(key)?, target)
    }

    /// The writable upper directory of an active snapshot (its changes, for diff).
    pub fn upper_dir(&self, key: &str) -> Result<PathBuf> {
        let info = self.stat(key)?;
        Ok(self.id_dir(info.id).join("fs"))
    }

    /// Freeze active snapshot `key` as committed snapshot `name`.
    pub fn commit(&self, key: &str, name: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let mut db = self.load()?;
        if db.snapshots.contains_key(name) {
            return Err(Error::AlreadyExists {
                kind: "snapshot",
                name: name.into(),
            });
        }
        let mut info = db.snapshots.remove(key).ok_or_else(|| not_found(key))?;
        if info.kind != Kind::Active {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "only active snapshots can be committed".into(),
            });
        }
        info.kind = Kind::Committed;
        let work = self.id_dir(info.id).join("work");
        let _ = fs::remove_dir_all(&work);
        db.snapshots.insert(name.to_string(), info);
        self.save(&db)
    }

    /// Remove snapshot `key` (not while it has children).
    pub fn remove(&self, key: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let mut db = self.load()?;
        let info = db.snapshots.get(key).ok_or_else(|| not_found(key))?.clone();
        if let Some((child, _)) = db
            .snapshots
            .iter()
            .find(|(_, i)| i.parent.as_deref() == Some(key))
        {
            return Err(Error::InUse {
                kind: "snapshot",
                name: key.into(),
                reason: format!("parent of {child}"),
            });
        }
        db.snapshots.remove(key);
        self.save(&db)?;
        remove_dir(&self.id_dir(info.id))
    }

    /// Remove snapshots for which `keep` is false, children before parents, and
    /// directories without metadata. Returns how many were removed.
    pub(crate) fn prune(&self, keep: impl Fn(&str, &Info) -> bool) -> Result<usize> {
        let _lock = self.store.lock()?;
        let mut db = self.load()?;
        let mut removed = 0;
        loop {
            let parents: std::collections::HashSet<String> = db
                .snapshots
                .values()
                .filter_map(|i| i.parent.clone())
                .collect();
            let victims: Vec<(String, u64)> = db
                .snapshots
                .iter()
                .filter(|(k, i)| !parents.contains(*k) && !keep(k, i))
                .map(|(k, i)| (k.clone(), i.id))
                .collect();
            if victims.is_empty() {
                break;
            }
            for (k, id) in victims {
                db.snapshots.remove(&k);
                remove_dir(&self.id_dir(id))?;
                removed += 1;
            }
        }
        self.save(&db)?;
        let ids: std::collections::HashSet<String> =
            db.snapshots.values().map(|i| i.id.to_string()).collect();
        for e in fs::read_dir(&self.dir).ctx("read directory", &self.dir)? {
            let e = e.ctx("read directory", &self.dir)?;
            let n = e.file_name().to_string_lossy().into_owned();
            if n.bytes().all(|b| b.is_ascii_digit()) && !ids.contains(&n) {
                remove_dir(&e.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Directory holding every snapshot.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fs directory of a snapshot (committed ones included).
    pub fn fs_dir(&self, key: &str) -> Result<PathBuf> {
        Ok(self.id_dir(self.stat(key)?.id).join("fs"))
    }
}

fn join_lowers(lowers: &[PathBuf]) -> String {
    lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn not_found(key: &str) -> Error {
    Error::NotFound {
        kind: "snapshot",
        name: key.into(),
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove snapshot", dir, e)),
    }
}
