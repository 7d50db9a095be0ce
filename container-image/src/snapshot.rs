//! Copy-on-write snapshots on overlayfs, in containerd's model.
//!
//! A snapshot is a directory `snapshots/<id>/fs` (plus `work` for overlayfs). An image
//! layer is unpacked by *preparing* an active snapshot on its parent's chain id,
//! applying the layer into its upper dir, and *committing* it under its own chain id;
//! a container's rootfs is an active snapshot prepared on the image's top chain id,
//! mounted as overlayfs with the committed layers as lowerdirs. Every user of a layer
//! shares the one committed snapshot.
//!
//! Metadata is one small JSON file per snapshot (`snapshots/meta/<key>.json`, the key
//! percent-escaped), replaced atomically under the store's file lock, so preparing or
//! removing a container's snapshot costs the same with 1 or 1000 other snapshots. Files
//! of committed snapshots (image layers) are fsynced; those of active snapshots
//! (container rootfs, whose upper dir is not synced either) are renamed into place
//! without fsync, which keeps `run --rm` off the disk's flush path: after a crash such
//! a snapshot is at worst forgotten and its directory pruned. A `db.json` of an older
//! berth is converted on first use. Snapshot ids are short numbers so that overlay option strings
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

/// The single metadata file of older versions (`snapshots/db.json`), read once to convert.
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

    fn meta_dir(&self) -> PathBuf {
        self.dir.join("meta")
    }

    fn meta_path(&self, key: &str) -> Result<PathBuf> {
        let name = escape_key(key);
        if key.is_empty() || name.len() > 200 {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "empty, or longer than 200 bytes once escaped for a file name".into(),
            });
        }
        Ok(self.meta_dir().join(format!("{name}.json")))
    }

    /// Convert an older `db.json` into per-snapshot files (once; cheap stat otherwise).
    fn migrate(&self) -> Result<()> {
        let db_path = self.dir.join("db.json");
        if !db_path.exists() {
            return Ok(());
        }
        let _lock = self.store.lock()?;
        let data = match fs::read(&db_path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", db_path, e)),
        };
        let db: Db = serde_json::from_slice(&data)
            .map_err(|e| Error::json(db_path.display().to_string(), e))?;
        for (key, info) in &db.snapshots {
            self.write_info(key, info, true)?;
        }
        self.write_next_id(db.next_id.max(1))?;
        fs::remove_file(&db_path).ctx("remove converted snapshot db", &db_path)
    }

    fn read_info(&self, key: &str) -> Result<Option<Info>> {
        let p = self.meta_path(key)?;
        match fs::read(&p) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| Error::json(p.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    fn info(&self, key: &str) -> Result<Info> {
        self.read_info(key)?.ok_or_else(|| not_found(key))
    }

    /// Write `key`'s metadata: fsynced when `durable`, else only renamed into place.
    fn write_info(&self, key: &str, info: &Info, durable: bool) -> Result<()> {
        let p = self.meta_path(key)?;
        let dir = self.meta_dir();
        fs::create_dir_all(&dir).ctx("create snapshot metadata dir", &dir)?;
        let data = serde_json::to_vec(info).map_err(|e| Error::json("snapshot metadata", e))?;
        crate::store::replace_file(&p, &data, durable)
    }

    fn delete_info(&self, key: &str) -> Result<()> {
        let p = self.meta_path(key)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", p, e)),
        }
    }

    /// Every snapshot's metadata, by key.
    fn load_all(&self) -> Result<BTreeMap<String, Info>> {
        let dir = self.meta_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(Error::io("read directory", dir, e)),
        };
        let mut out = BTreeMap::new();
        for e in entries {
            let e = e.ctx("read directory", &dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if stem.starts_with('.') {
                continue; // a temp file of an interrupted write
            }
            let Some(key) = unescape_key(stem) else {
                continue;
            };
            if let Some(info) = self.read_info(&key)? {
                out.insert(key, info);
            }
        }
        Ok(out)
    }

    fn next_id_path(&self) -> PathBuf {
        self.dir.join("next_id")
    }

    fn write_next_id(&self, id: u64) -> Result<()> {
        let p = self.next_id_path();
        fs::write(&p, id.to_string()).ctx("write", &p)
    }

    /// A fresh snapshot directory (with `fs` and `work`) and its id. Under the store lock;
    /// the `mkdir` itself makes the id unique even if the counter was lost in a crash.
    fn allocate(&self) -> Result<(u64, PathBuf)> {
        let mut id = fs::read_to_string(self.next_id_path())
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        for _ in 0..1_000_000 {
            let dir = self.id_dir(id);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    self.write_next_id(id + 1)?;
                    fs::create_dir(dir.join("fs")).ctx("create snapshot", &dir)?;
                    fs::create_dir(dir.join("work")).ctx("create snapshot", &dir)?;
                    return Ok((id, dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id += 1,
                Err(e) => return Err(Error::io("create snapshot", dir, e)),
            }
        }
        Err(Error::Snapshot {
            key: String::new(),
            reason: "no free snapshot id".into(),
        })
    }

    /// Directory of snapshot `id`.
    fn id_dir(&self, id: u64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Info about `key`.
    pub fn stat(&self, key: &str) -> Result<Info> {
        self.migrate()?;
        self.info(key)
    }

    /// True when a snapshot `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.migrate()?;
        Ok(self.read_info(key)?.is_some())
    }

    /// All snapshots by key.
    pub fn list(&self) -> Result<BTreeMap<String, Info>> {
        self.migrate()?;
        self.load_all()
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
        self.migrate()?;
        let _lock = self.store.lock()?;
        if self.read_info(key)?.is_some() {
            return Err(Error::AlreadyExists {
                kind: "snapshot",
                name: key.into(),
            });
        }
        if let Some(p) = &parent {
            match self.read_info(p)? {
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
        let (id, dir) = self.allocate()?;
        let info = Info {
            id,
            kind,
            parent,
            created: chrono::Utc::now().to_rfc3339(),
        };
        if let Err(e) = self.write_info(key, &info, kind == Kind::Committed) {
            let _ = remove_dir(&dir);
            return Err(e);
        }
        self.mounts_of(key, &info)
    }

    /// The mounts of an active or view snapshot.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.migrate()?;
        let info = self.info(key)?;
        self.mounts_of(key, &info)
    }

    /// The fs directories of `key`'s ancestors, nearest first.
    fn lowers(&self, mut parent: Option<String>) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        while let Some(p) = parent {
            let info = self.info(&p)?;
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
        self.migrate()?;
        let info = self.info(key)?;
        self.lowers(info.parent.clone())
    }

    fn mounts_of(&self, key: &str, info: &Info) -> Result<Vec<Mount>> {
        let dir = self.id_dir(info.id);
        let lowers = self.lowers(info.parent.clone())?;
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
        self.migrate()?;
        let _lock = self.store.lock()?;
        if self.read_info(name)?.is_some() {
            return Err(Error::AlreadyExists {
                kind: "snapshot",
                name: name.into(),
            });
        }
        let mut info = self.info(key)?;
        if info.kind != Kind::Active {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "only active snapshots can be committed".into(),
            });
        }
        info.kind = Kind::Committed;
        let work = self.id_dir(info.id).join("work");
        let _ = fs::remove_dir_all(&work);
        // The committed name first (durable), then the active key goes.
        self.write_info(name, &info, true)?;
        self.delete_info(key)
    }

    /// Remove snapshot `key` (not while it has children).
    pub fn remove(&self, key: &str) -> Result<()> {
        self.migrate()?;
        let _lock = self.store.lock()?;
        let info = self.info(key)?;
        // Only committed snapshots can be parents: a container's active snapshot is
        // removed without looking at any other.
        if info.kind == Kind::Committed
            && let Some((child, _)) = self
                .load_all()?
                .iter()
                .find(|(_, i)| i.parent.as_deref() == Some(key))
        {
            return Err(Error::InUse {
                kind: "snapshot",
                name: key.into(),
                reason: format!("parent of {child}"),
            });
        }
        self.delete_info(key)?;
        remove_dir(&self.id_dir(info.id))
    }

    /// Remove snapshots for which `keep` is false, children before parents, and
    /// directories without metadata. Returns how many were removed.
    pub(crate) fn prune(&self, keep: impl Fn(&str, &Info) -> bool) -> Result<usize> {
        self.migrate()?;
        let _lock = self.store.lock()?;
        let mut snapshots = self.load_all()?;
        let mut removed = 0;
        loop {
            let parents: std::collections::HashSet<String> = snapshots
                .values()
                .filter_map(|i| i.parent.clone())
                .collect();
            let victims: Vec<(String, u64)> = snapshots
                .iter()
                .filter(|(k, i)| !parents.contains(*k) && !keep(k, i))
                .map(|(k, i)| (k.clone(), i.id))
                .collect();
            if victims.is_empty() {
                break;
            }
            for (k, id) in victims {
                snapshots.remove(&k);
                self.delete_info(&k)?;
                remove_dir(&self.id_dir(id))?;
                removed += 1;
            }
        }
        let ids: std::collections::HashSet<String> =
            snapshots.values().map(|i| i.id.to_string()).collect();
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

/// A snapshot key as a file name: `[A-Za-z0-9_-]` and inner dots kept, every other
/// byte `%XX`.
fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, b) in key.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key a file name stands for; `None` when it is not one [`escape_key`] makes.
fn unescape_key(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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

#[cfg(test)]
mod tests {
    use super::{escape_key, unescape_key};
    use proptest::prelude::*;

    #[test]
    fn keys_become_plain_file_names() {
        assert_eq!(escape_key("sha256:ab.c"), "sha256%3Aab.c");
        assert_eq!(escape_key(".hidden/x"), "%2Ehidden%2Fx");
        assert_eq!(
            unescape_key("sha256%3Aab.c").as_deref(),
            Some("sha256:ab.c")
        );
        assert_eq!(unescape_key("bad%G1"), None);
        assert_eq!(unescape_key("short%4"), None);
    }

    #[test]
    fn an_older_db_json_is_converted_on_first_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::Store::open(dir.path()).expect("store");
        let snaps = store.snapshots();
        std::fs::create_dir_all(snaps.dir().join("7/fs")).expect("mkdir");
        std::fs::write(
            snaps.dir().join("db.json"),
            r#"{"next_id": 8, "snapshots": {"sha256:aa": {"id": 7, "kind": "Committed", "parent": null, "created": "2026-01-01T00:00:00Z"}}}"#,
        )
        .expect("write db.json");
        let all = snaps.list().expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all["sha256:aa"].id, 7);
        assert!(!snaps.dir().join("db.json").exists());
        let mounts = snaps
            .prepare_on("container-1", Some("sha256:aa"))
            .expect("prepare on the converted parent");
        let lower = format!("lowerdir={}", snaps.dir().join("7/fs").display());
        assert!(mounts[0].options.contains(&lower), "{mounts:?}");
        assert_eq!(snaps.stat("container-1").expect("stat").id, 8);
        // the parent is in use; the child goes first
        assert!(snaps.remove("sha256:aa").is_err());
        snaps.remove("container-1").expect("remove child");
        snaps.remove("sha256:aa").expect("remove parent");
        assert!(snaps.list().expect("list").is_empty());
    }

    proptest! {
        #[test]
        fn escaping_round_trips_and_stays_a_single_name(key in "\\PC{1,40}") {
            let name = escape_key(&key);
            prop_assert!(!name.contains('/') && !name.starts_with('.'));
            prop_assert_eq!(unescape_key(&name), Some(key));
        }
    }
}
