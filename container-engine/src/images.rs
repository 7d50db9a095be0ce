//! The engine's side of images: resolve a reference in the `container-image` store and
//! give a container its copy-on-write rootfs (an overlay snapshot keyed by container id).

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::ContainerRecord;
use serde_json::Value;
use std::path::Path;

/// An image as the engine needs it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:…` (config digest).
    pub id: String,
    /// The `config` section of the image config (Env, Cmd, …).
    pub config: Value,
    /// The normalized reference it was found by.
    pub reference: String,
}

/// The image store of the engine root.
pub fn store(engine: &Engine) -> Result<container_image::Store> {
    container_image::Store::open(engine.root()).map_err(img_err)
}

/// Map an image-store error.
pub fn img_err(e: container_image::Error) -> Error {
    Error::Image(e.to_string())
}

/// Find `name` (reference, or image id / id prefix) in the store.
pub fn find(store: &container_image::Store, name: &str) -> Result<container_image::Image> {
    match store.image(name) {
        Ok(i) => Ok(i),
        Err(container_image::Error::NotFound { .. })
        | Err(container_image::Error::InvalidReference { .. }) => {
            // by id prefix
            let key = name.strip_prefix("sha256:").unwrap_or(name);
            if key.len() >= 4 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
                let names = store.names().map_err(img_err)?;
                for n in names.keys() {
                    if let Ok(img) = store.image(n)
                        && img
                            .id()
                            .to_string()
                            .trim_start_matches("sha256:")
                            .starts_with(key)
                    {
                        return Ok(img);
                    }
                }
            }
            Err(Error::NoSuchImage(name.to_string()))
        }
        Err(e) => Err(img_err(e)),
    }
}

/// Resolve an image for `create`.
pub fn resolve(engine: &Engine, name: &str) -> Result<ResolvedImage> {
    if name.is_empty() {
        return Err(Error::Invalid("no image given".into()));
    }
    let store = store(engine)?;
    let img = find(&store, name)?;
    Ok(ResolvedImage {
        id: img.id().to_string(),
        config: img
            .config
            .raw()
            .get("config")
            .cloned()
            .unwrap_or(Value::Null),
        reference: img
            .reference
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| img.id().to_string()),
    })
}

/// Prepare (once) and mount the container's rootfs snapshot at `target`.
pub fn mount_rootfs(engine: &Engine, rec: &ContainerRecord, target: &Path) -> Result<()> {
    let store = store(engine)?;
    let key = &rec.berth.snapshot;
    let snaps = store.snapshots();
    if !snaps.exists(key).map_err(img_err)? {
        let img = find(&store, &rec.berth.image_ref).or_else(|_| find(&store, &rec.image))?;
        let top = store.unpack(&img).map_err(img_err)?;
        snaps.prepare(key, top.as_ref()).map_err(img_err)?;
    }
    std::fs::create_dir_all(target).map_err(|e| Error::io("create rootfs dir", target, e))?;
    if is_mountpoint(target) {
        return Ok(());
    }
    snaps.mount(key, target).map_err(img_err)
}

/// Whether `p` is the root of a mount: one `statx` (`STATX_ATTR_MOUNT_ROOT`, Linux 5.8+),
/// so the cost does not grow with the host's mount table (one overlay per running
/// container); `/proc/self/mountinfo` only on kernels that do not report the attribute.
fn is_mountpoint(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `stx` a buffer of the right type that the
    // kernel fills on success.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            0,
            stx.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return false;
    }
    // SAFETY: statx returned 0, so the buffer is initialised.
    let stx = unsafe { stx.assume_init() };
    let attr = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & attr != 0 {
        return stx.stx_attributes & attr != 0;
    }
    let s = p.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&s))
}

/// Unmount the rootfs if mounted.
pub fn unmount_rootfs(engine: &Engine, rec: &ContainerRecord) -> Result<()> {
    if rec.berth.snapshot.is_empty() {
        return Ok(());
    }
    let target = engine.containers.dir_of(&rec.id).join("bundle/rootfs");
    while is_mountpoint(&target) {
        container_image::unmount(&target).map_err(img_err)?;
    }
    Ok(())
}

/// Remove the container's snapshot (its writable layer).
pub fn remove_snapshot(engine: &Engine, rec: &ContainerRecord) -> Result<()> {
    if rec.berth.snapshot.is_empty() {
        return Ok(());
    }
    let store = store(engine)?;
    let snaps = store.snapshots();
    if snaps.exists(&rec.berth.snapshot).map_err(img_err)? {
        snaps.remove(&rec.berth.snapshot).map_err(img_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_mountpoint;
    use std::path::Path;

    #[test]
    fn mount_roots_are_told_from_plain_directories() {
        assert!(is_mountpoint(Path::new("/")));
        assert!(is_mountpoint(Path::new("/proc")));
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_mountpoint(dir.path()));
        assert!(!is_mountpoint(&dir.path().join("missing")));
    }
}
