//! Named volumes: `volumes/<name>/_data` plus `volumes/<name>/meta.json`, with Docker's
//! rules (a new, empty volume mounted over image content is first filled from it) and
//! backup/restore as a tar.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, FileLock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `docker volume inspect` of one volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// Creation time.
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Host directory.
    pub mountpoint: String,
    /// Name.
    pub name: String,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub scope: String,
}

/// The volumes of an engine root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
    containers: PathBuf,
}

impl Volumes {
    /// Open `<root>/volumes`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        Ok(Volumes {
            dir,
            containers: root.join("containers"),
        })
    }

    /// Where the data of `name` lives.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Does `name` exist?
    pub fn exists(&self, name: &str) -> bool {
        self.dir.join(name).join("meta.json").exists()
    }

    fn lock(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(".lock"))
    }

    /// Create a volume (an existing one is returned as is, like Docker).
    pub fn create(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<Volume> {
        if !fsutil::valid_name(name) {
            return Err(Error::Invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        let _l = self.lock()?;
        if self.exists(name) {
            return self.inspect(name);
        }
        let data = self.data_dir(name);
        std::fs::create_dir_all(&data).ctx("create volume", &data)?;
        let v = Volume {
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            driver: "local".into(),
            labels: labels.clone(),
            mountpoint: data.to_string_lossy().into_owned(),
            name: name.into(),
            options: BTreeMap::new(),
            scope: "local".into(),
        };
        fsutil::write_json(&self.dir.join(name).join("meta.json"), &v)?;
        Ok(v)
    }

    /// One volume.
    pub fn inspect(&self, name: &str) -> Result<Volume> {
        if !self.exists(name) {
            return Err(Error::NoSuchVolume(name.into()));
        }
        fsutil::read_json(&self.dir.join(name).join("meta.json"))
    }

    /// All volumes, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).ctx("list", &self.dir)? {
            let e = e.ctx("list", &self.dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if self.exists(&name) {
                out.push(self.inspect(&name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Containers (ids) whose mounts use `name`.
    pub fn users(&self, name: &str) -> Result<Vec<String>> {
        let store = crate::state::ContainerStore::open(&self.containers)?;
        Ok(store
            .list()?
            .into_iter()
            .filter(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|r| r.id)
            .collect())
    }

    /// Remove a volume; refused while a container uses it (unless `force`).
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        if !self.exists(name) {
            if force {
                return Ok(());
            }
            return Err(Error::NoSuchVolume(name.into()));
        }
        let users = self.users(name)?;
        if !users.is_empty() {
            return Err(Error::VolumeInUse {
                name: name.into(),
                ids: users.join(", "),
            });
        }
        self.remove_unchecked(name)
    }

    /// Remove without the in-use check (for the engine's own anonymous volumes).
    pub fn remove_unchecked(&self, name: &str) -> Result<()> {
        let _l = self.lock()?;
        let d = self.dir.join(name);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove volume", &d, e)),
        }
    }

    /// Remove every volume no container uses; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for v in self.list()? {
            if self.users(&v.name)?.is_empty() {
                self.remove_unchecked(&v.name)?;
                out.push(v.name);
            }
        }
        Ok(out)
    }

    /// Docker's copy-up: if the volume was never filled and is empty, copy `content`
    /// (the image's directory at the mount point) into it.
    pub fn fill_from(&self, name: &str, content: &Path) -> Result<()> {
        let marker = self.dir.join(name).join(".filled");
        if marker.exists() {
            return Ok(());
        }
        let data = self.data_dir(name);
        let empty = std::fs::read_dir(&data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        let meta = std::fs::symlink_metadata(content);
        if empty && meta.as_ref().is_ok_and(|m| m.is_dir()) {
            copy_tree(content, &data)?;
        }
        std::fs::write(&marker, b"").ctx("mark volume filled", &marker)?;
        Ok(())
    }

    /// Write the volume's content as a tar to `out`.
    pub fn export(&self, name: &str, out: &mut dyn std::io::Write) -> Result<()> {
        let data = self.inspect(name).map(|_| self.data_dir(name))?;
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.append_dir_all(".", &data)
            .map_err(|e| Error::io("export volume", &data, e))?;
        b.finish().map_err(|e| Error::io("export volume", &data, e))
    }

    /// Replace the volume's content by a tar (created if missing). Entries that would
    /// land outside the volume are refused by the tar reader.
    pub fn import(&self, name: &str, input: &mut dyn std::io::Read) -> Result<()> {
        if !self.exists(name) {
            self.create(name, &BTreeMap::new())?;
        }
        let data = self.data_dir(name);
        for e in std::fs::read_dir(&data).ctx("list", &data)? {
            let p = e.ctx("list", &data)?.path();
            let r = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.ctx("clear volume", &p)?;
        }
        let mut a = tar::Archive::new(input);
        a.set_preserve_permissions(true);
        a.set_preserve_ownerships(true);
        a.set_overwrite(true);
        a.unpack(&data)
            .map_err(|e| Error::io("import volume", &data, e))?;
        let marker = self.dir.join(name).join(".filled");
        std::fs::write(&marker, b"").ctx("mark volume filled", &marker)?;
        Ok(())
    }
}

/// Copy a tree keeping modes, owners and symlinks (no following).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::create_dir_all(to).ctx("create", to)?;
    for e in std::fs::read_dir(from).ctx("read dir", from)? {
        let e = e.ctx("read dir", from)?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = std::fs::symlink_metadata(&src).ctx("stat", &src)?;
        if m.file_type().is_symlink() {
            let t = std::fs::read_link(&src).ctx("readlink", &src)?;
            std::os::unix::fs::symlink(&t, &dst).ctx("symlink", &dst)?;
        } else if m.is_dir() {
            copy_tree(&src, &dst)?;
        } else if m.is_file() {
            std::fs::copy(&src, &dst).ctx("copy", &src)?;
        } else {
            continue;
        }
        let _ = std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()));
        if !m.file_type().is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .ctx("chmod", &dst)?;
        }
    }
    let m = std::fs::metadata(from).ctx("stat", from)?;
    let _ = std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))
        .ctx("chmod", to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_fill_export_import() {
        let root = tempfile::tempdir().expect("tempdir");
        let v = Volumes::open(root.path()).expect("open");
        v.create("data", &BTreeMap::new()).expect("create");
        assert!(v.create("bad name", &BTreeMap::new()).is_err());
        let content = root.path().join("img");
        std::fs::create_dir_all(content.join("sub")).expect("mkdir");
        std::fs::write(content.join("sub/f"), b"hi").expect("write");
        v.fill_from("data", &content).expect("fill");
        assert_eq!(
            std::fs::read(v.data_dir("data").join("sub/f")).expect("read"),
            b"hi"
        );
        let mut tar = Vec::new();
        v.export("data", &mut tar).expect("export");
        v.import("copy", &mut tar.as_slice()).expect("import");
        assert_eq!(
            std::fs::read(v.data_dir("copy").join("sub/f")).expect("read"),
            b"hi"
        );
        assert_eq!(v.list().expect("list").len(), 2);
        assert_eq!(v.prune().expect("prune").len(), 2);
        assert!(matches!(v.inspect("data"), Err(Error::NoSuchVolume(_))));
    }
}
